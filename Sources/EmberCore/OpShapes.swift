/// A concrete tensor type: element type and dims (symbolic dims already resolved).
public struct TensorInfo: Hashable, Sendable, CustomStringConvertible {
    public var dtype: DType
    public var dims: [Int]
    public init(_ dtype: DType, _ dims: [Int]) { self.dtype = dtype; self.dims = dims }
    public var elementCount: Int { EmberCore.elementCount(dims) ?? 0 }
    public var byteCount: Int { dtype.byteCount(dims: dims) ?? 0 }
    public var description: String { "\(dtype)\(formatDims(dims))" }
}

/// What one execution of an op costs: multiply-accumulates and bytes moved.
public struct OpCost: Hashable, Sendable {
    public var macs: Int
    public var bytesRead: Int
    public var bytesWritten: Int
    public init(macs: Int = 0, bytesRead: Int = 0, bytesWritten: Int = 0) {
        self.macs = macs; self.bytesRead = bytesRead; self.bytesWritten = bytesWritten
    }
    public static func + (a: OpCost, b: OpCost) -> OpCost {
        OpCost(macs: saturatingAdd(a.macs, b.macs), bytesRead: saturatingAdd(a.bytesRead, b.bytesRead),
               bytesWritten: saturatingAdd(a.bytesWritten, b.bytesWritten))
    }
}

/// Numpy broadcasting of two shapes, or nil when they do not broadcast.
public func broadcastDims(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
    }
    return out
}

/// Resolved bounds of a strided slice on one axis (ONNX Slice rules): the
/// first index and the number of elements taken.
public func sliceAxis(dim: Int, begin: Int, end: Int, stride: Int) -> (start: Int, count: Int)? {
    guard stride != 0, dim >= 0 else { return nil }
    var b = begin < 0 ? begin &+ dim : begin
    var e = end < 0 ? end &+ dim : end
    if stride > 0 {
        b = min(max(b, 0), dim)
        e = min(max(e, 0), dim)
        return (b, e > b ? (e - b + stride - 1) / stride : 0)
    } else {
        b = min(max(b, -1), dim - 1)
        e = min(max(e, -1), dim - 1)
        let s = -stride
        return (b, b > e ? (b - e + s - 1) / s : 0)
    }
}

extension Op {
    /// Output type from input types; throws `invalidGraph` naming `node`.
    /// `inputs[i]` is nil for an absent optional input.
    public func outputInfo(inputs: [TensorInfo?], node: String, outputDType: DType? = nil) throws -> TensorInfo {
        let schema = self.schema
        let check = ShapeCheck(kind: kind, node: node, inputs: inputs, required: [], outputDType: outputDType)
        let (required, optional) = schema.arity
        guard inputs.count >= required, inputs.count <= required + optional else {
            throw check.fail("takes \(required)\(optional > 0 ? "–\(required + optional)" : "") inputs, got \(inputs.count)")
        }
        var req: [TensorInfo] = []
        for i in 0..<required {
            guard let t = inputs[i] else { throw check.fail("input \(i) is required") }
            req.append(t)
        }
        return try schema.shape(self, ShapeCheck(kind: kind, node: node, inputs: inputs, required: req, outputDType: outputDType))
    }

    /// MACs and bytes of one execution, from concrete input and output types.
    public func cost(inputs: [TensorInfo?], output: TensorInfo) -> OpCost {
        let read = inputs.reduce(0) { saturatingAdd($0, $1?.byteCount ?? 0) }
        return OpCost(macs: schema.macs(self, inputs, output), bytesRead: read, bytesWritten: output.byteCount)
    }
}

/// The input types of one node under shape inference, with the checks the
/// declarations in OpSchema.swift share. Errors name the node and the op.
public struct ShapeCheck {
    let kind: OpKind
    let node: String
    /// All inputs (nil: an absent optional one).
    public let inputs: [TensorInfo?]
    /// The required inputs (never absent).
    public let required: [TensorInfo]
    /// The dtype the producer asked for (quantized ops may change it).
    public let outputDType: DType?

    /// The first input (every op has at least one required input).
    public var x: TensorInfo { required.first ?? TensorInfo(.f32, []) }

    public func fail(_ reason: String) -> EmberError { .invalidGraph(node: node, reason: "\(kind): \(reason)") }

    public func rank(_ t: TensorInfo, _ r: Int, _ what: String) throws {
        guard t.dims.count == r else { throw fail("\(what) must have rank \(r), got \(formatDims(t.dims))") }
    }
    /// The first input is f32, i8 or u8.
    public func numeric() throws {
        guard x.dtype == .f32 || x.dtype.isQuantized8 else {
            throw fail("input dtype \(x.dtype) is not supported (f32, i8 or u8)")
        }
    }
    @discardableResult
    public func dtype(_ t: TensorInfo, in allowed: Set<DType>) throws -> TensorInfo {
        guard allowed.contains(t.dtype) else {
            throw fail("dtype \(t.dtype) is not supported (\(allowed.map(\.description).sorted().joined(separator: ", ")))")
        }
        return t
    }
    public func axis(_ a: Int, rank: Int) throws -> Int {
        let r = a < 0 ? a + rank : a
        guard r >= 0, r < rank else { throw fail("axis \(a) is outside rank \(rank)") }
        return r
    }
    public func optional(_ i: Int) -> TensorInfo? { i < inputs.count ? inputs[i] : nil }
    /// Input `i`, which must be present.
    public func input(_ i: Int) throws -> TensorInfo {
        guard let t = optional(i) else { throw fail("input \(i) is required") }
        return t
    }

    /// Two same-dtype inputs of `allowed` types broadcast together.
    public func broadcast(allowed: Set<DType>) throws -> TensorInfo {
        let a = try dtype(try input(0), in: allowed), b = try input(1)
        guard b.dtype == a.dtype else { throw fail("input dtypes differ: \(a.dtype) and \(b.dtype)") }
        guard let dims = broadcastDims(a.dims, b.dims) else {
            throw fail("shapes \(formatDims(a.dims)) and \(formatDims(b.dims)) do not broadcast")
        }
        return TensorInfo(a.dtype, dims)
    }
    func broadcastNumeric() throws -> TensorInfo {
        try numeric()
        return try broadcast(allowed: [.f32, .i8, .u8])
    }

    /// Broadcasting arithmetic: f32, 8-bit quantized, or i32 / i64 (wrapping) without a fused activation.
    func broadcastArithmetic(_ op: Op) throws -> TensorInfo {
        if x.dtype.isPlainInteger {
            guard (op.fusedActivation ?? Activation.none) == Activation.none else { throw fail("a fused activation on \(x.dtype)") }
            return try broadcast(allowed: [x.dtype])
        }
        return try broadcastNumeric()
    }

    /// The first input with `axes` reduced (kept as 1 with `keepDims`).
    public func reduced(axes: [Int], keepDims: Bool) throws -> TensorInfo {
        guard !axes.isEmpty else { throw fail("needs at least one axis") }
        var reduced = Set<Int>()
        for a in axes {
            let r = try axis(a, rank: x.dims.count)
            guard reduced.insert(r).inserted else { throw fail("axis \(a) is listed twice") }
        }
        var dims: [Int] = []
        for (i, d) in x.dims.enumerated() {
            if reduced.contains(i) { if keepDims { dims.append(1) } } else { dims.append(d) }
        }
        return TensorInfo(x.dtype, dims)
    }

    /// The first input grown by non-negative pads on every axis.
    public func padded(before: [Int], after: [Int]) throws -> TensorInfo {
        guard before.count == x.dims.count, after.count == x.dims.count else {
            throw fail("needs \(x.dims.count) pads before and after, got \(before.count) and \(after.count)")
        }
        var dims = x.dims
        for i in 0..<dims.count {
            guard before[i] >= 0, after[i] >= 0,
                  let s = checkedAdd(dims[i], before[i]).flatMap({ checkedAdd($0, after[i]) }) else {
                throw fail("pads must be >= 0 (got \(before[i]), \(after[i]) on axis \(i))")
            }
            dims[i] = s
        }
        return TensorInfo(x.dtype, dims)
    }

    func bias(_ channels: Int) throws {
        if let b = optional(2) {
            guard b.dims == [channels] else { throw fail("bias must be [\(channels)], got \(formatDims(b.dims))") }
        }
    }

    func conv2D(_ op: Op) throws -> TensorInfo {
        guard case let .conv2D(a) = op else { throw fail("not a convolution") }
        try numeric()
        let w = try input(1)
        try rank(x, 4, "input")
        try rank(w, 4, "filter")
        guard a.groups >= 1, x.dims[3] % a.groups == 0, w.dims[0] % a.groups == 0 else {
            throw fail("groups \(a.groups) must divide input channels \(x.dims[3]) and output channels \(w.dims[0])")
        }
        guard w.dims[3] * a.groups == x.dims[3] else {
            throw fail("filter \(formatDims(w.dims)) expects \(w.dims[3] * a.groups) input channels, input has \(x.dims[3])")
        }
        try bias(w.dims[0])
        guard let h = windowGeometry(input: x.dims[1], kernel: w.dims[1], stride: a.strideH, dilation: a.dilationH,
                                     padding: a.padding, vertical: true),
              let ww = windowGeometry(input: x.dims[2], kernel: w.dims[2], stride: a.strideW, dilation: a.dilationW,
                                      padding: a.padding, vertical: false) else {
            throw fail("window \(w.dims[1])x\(w.dims[2]) (stride \(a.strideH)x\(a.strideW), dilation \(a.dilationH)x\(a.dilationW), "
                       + "\(a.padding)) does not fit input \(formatDims(x.dims))")
        }
        return TensorInfo(outputDType ?? x.dtype, [x.dims[0], h.output, ww.output, w.dims[0]])
    }

    /// Each output pixel (oy, ox) gathers input pixel iy where oy + padTop = iy * stride + ky:
    /// the full output is (in - 1) * stride + kernel, of which [padTop, padTop + outputHeight) is kept.
    func transposeConv2D(_ op: Op) throws -> TensorInfo {
        guard case let .transposeConv2D(a) = op else { throw fail("not a transposed convolution") }
        try numeric()
        let w = try input(1)
        try rank(x, 4, "input")
        try rank(w, 4, "filter")
        guard w.dims[3] == x.dims[3] else {
            throw fail("filter \(formatDims(w.dims)) expects \(w.dims[3]) input channels, input has \(x.dims[3])")
        }
        try bias(w.dims[0])
        for (input, kernel, stride, pad, out, axis) in [(x.dims[1], w.dims[1], a.strideH, a.padTop, a.outputHeight, "height"),
                                                        (x.dims[2], w.dims[2], a.strideW, a.padLeft, a.outputWidth, "width")] {
            // Rows past the full output (TensorFlow's VALID with kernel < stride) hold only the bias.
            guard input >= 1, let full = checkedMultiply(input - 1, stride).flatMap({ checkedAdd($0, kernel) }),
                  pad < kernel, out >= 1, out - (full - pad) < stride, full - pad - out < kernel else {
                throw fail("output \(axis) \(out) (stride \(stride), crop \(pad)) does not fit input \(input) and kernel \(kernel)")
            }
        }
        return TensorInfo(outputDType ?? x.dtype, [x.dims[0], a.outputHeight, a.outputWidth, w.dims[0]])
    }

    func fullyConnected() throws -> TensorInfo {
        try numeric()
        let w = try input(1)
        guard x.dims.count >= 1 else { throw fail("input must have rank >= 1") }
        try rank(w, 2, "weights")
        guard x.dims[x.dims.count - 1] == w.dims[1] else {
            throw fail("input \(formatDims(x.dims)) has \(x.dims.last ?? 0) features, weights \(formatDims(w.dims)) expect \(w.dims[1])")
        }
        try bias(w.dims[0])
        return TensorInfo(outputDType ?? x.dtype, Array(x.dims.dropLast()) + [w.dims[0]])
    }

    func matMul() throws -> TensorInfo {
        try numeric()
        let b = try input(1)
        guard x.dims.count >= 2, b.dims.count >= 2 else { throw fail("both inputs need rank >= 2") }
        let m = x.dims[x.dims.count - 2], k = x.dims[x.dims.count - 1]
        let k2 = b.dims[b.dims.count - 2], n = b.dims[b.dims.count - 1]
        guard k == k2 else { throw fail("inner dims differ: \(formatDims(x.dims)) × \(formatDims(b.dims))") }
        guard let batch = broadcastDims(Array(x.dims.dropLast(2)), Array(b.dims.dropLast(2))) else {
            throw fail("batch dims of \(formatDims(x.dims)) and \(formatDims(b.dims)) do not broadcast")
        }
        return TensorInfo(outputDType ?? x.dtype, batch + [m, n])
    }

    func pool(_ op: Op) throws -> TensorInfo {
        guard let p = op.poolAttributes else { throw fail("not a pool") }
        try numeric()
        try rank(x, 4, "input")
        guard let h = windowGeometry(input: x.dims[1], kernel: p.kernelH, stride: p.strideH, dilation: 1,
                                     padding: p.padding, vertical: true),
              let w = windowGeometry(input: x.dims[2], kernel: p.kernelW, stride: p.strideW, dilation: 1,
                                     padding: p.padding, vertical: false) else {
            throw fail("window \(p.kernelH)x\(p.kernelW) does not fit input \(formatDims(x.dims))")
        }
        return TensorInfo(x.dtype, [x.dims[0], h.output, w.output, x.dims[3]])
    }

    func reshape(_ op: Op) throws -> TensorInfo {
        guard case let .reshape(target) = op else { throw fail("not a reshape") }
        var inferred: Int? = nil
        var known = 1
        var newDims = target
        for (i, d) in target.enumerated() where d <= Op.reshapeCopiesInputDim(0) {
            let axis = Op.reshapeCopiesInputDim(0) - d
            guard axis < x.dims.count else { throw fail("dim \(d) copies input dim \(axis) of \(formatDims(x.dims))") }
            newDims[i] = x.dims[axis]
        }
        for (i, d) in newDims.enumerated() {
            if d == -1 {
                guard inferred == nil else { throw fail("more than one -1 in \(newDims)") }
                inferred = i
            } else {
                guard d >= 0, let k = checkedMultiply(known, d) else { throw fail("bad dim \(d) in \(newDims)") }
                known = k
            }
        }
        var dims = newDims
        let total = x.elementCount
        if let i = inferred {
            guard known > 0, total % known == 0 else { throw fail("cannot infer -1: \(total) elements into \(newDims)") }
            dims[i] = total / known
        }
        guard elementCount(dims) == total else {
            throw fail("\(formatDims(x.dims)) has \(total) elements, \(formatDims(dims)) has \(elementCount(dims) ?? -1)")
        }
        return TensorInfo(x.dtype, dims)
    }

    func concat(_ op: Op) throws -> TensorInfo {
        guard case let .concat(axis) = op else { throw fail("not a concat") }
        let all = try inputs.enumerated().map { i, t -> TensorInfo in
            guard let t else { throw fail("input \(i) is missing") }
            return t
        }
        let a = try self.axis(axis, rank: x.dims.count)
        var dims = x.dims
        for t in all.dropFirst() {
            guard t.dtype == x.dtype, t.dims.count == x.dims.count else {
                throw fail("inputs differ in dtype or rank: \(x) and \(t)")
            }
            for i in 0..<dims.count where i != a && t.dims[i] != x.dims[i] {
                throw fail("inputs \(formatDims(x.dims)) and \(formatDims(t.dims)) differ outside axis \(a)")
            }
            guard let s = checkedAdd(dims[a], t.dims[a]) else { throw fail("axis size overflows") }
            dims[a] = s
        }
        return TensorInfo(x.dtype, dims)
    }

    func slice(_ op: Op) throws -> TensorInfo {
        guard case let .slice(begin, ends, strides) = op else { throw fail("not a slice") }
        let r = x.dims.count
        guard let end = Op.resolvedSliceEnds(ends, reference: inputs.count > 1 ? inputs[1] : nil) else {
            throw fail("an end refers to a dim the size reference does not have")
        }
        guard begin.count == r, end.count == r, strides.count == r else {
            throw fail("begin, end and strides need \(r) entries each")
        }
        var dims: [Int] = []
        for i in 0..<r {
            guard let s = sliceAxis(dim: x.dims[i], begin: begin[i], end: end[i], stride: strides[i]) else {
                throw fail("stride 0 on axis \(i)")
            }
            dims.append(s.count)
        }
        return TensorInfo(x.dtype, dims)
    }

    func layerNorm(_ op: Op) throws -> TensorInfo {
        guard case let .layerNorm(axis, epsilon) = op else { throw fail("not a layer norm") }
        try numeric()
        guard epsilon.isFinite, epsilon >= 0 else { throw fail("epsilon \(epsilon) must be >= 0") }
        let a = try self.axis(axis, rank: x.dims.count)
        let normDims = Array(x.dims[a...])
        for i in 1..<inputs.count {
            if let p = inputs[i] {
                guard p.dims == normDims || (elementCount(p.dims) == elementCount(normDims) && p.dims.count == 1) else {
                    throw fail("\(i == 1 ? "gamma" : "beta") must be \(formatDims(normDims)), got \(formatDims(p.dims))")
                }
            }
        }
        return x
    }
}
