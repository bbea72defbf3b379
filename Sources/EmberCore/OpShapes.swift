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
        func fail(_ reason: String) -> EmberError { .invalidGraph(node: node, reason: "\(kind): \(reason)") }
        let (required, optional) = arity
        guard inputs.count >= required, inputs.count <= required + optional else {
            throw fail("takes \(required)\(optional > 0 ? "–\(required + optional)" : "") inputs, got \(inputs.count)")
        }
        var req: [TensorInfo] = []
        for i in 0..<required {
            guard let t = inputs[i] else { throw fail("input \(i) is required") }
            req.append(t)
        }
        let x = req[0]
        let isFloat = x.dtype == .f32
        let isQ8 = x.dtype.isQuantized8

        func requireRank(_ t: TensorInfo, _ r: Int, _ what: String) throws {
            guard t.dims.count == r else { throw fail("\(what) must have rank \(r), got \(formatDims(t.dims))") }
        }
        func requireNumeric() throws {
            guard isFloat || isQ8 else { throw fail("input dtype \(x.dtype) is not supported (f32, i8 or u8)") }
        }
        func axisIndex(_ a: Int, rank: Int) throws -> Int {
            let r = a < 0 ? a + rank : a
            guard r >= 0, r < rank else { throw fail("axis \(a) is outside rank \(rank)") }
            return r
        }

        switch self {
        case let .conv2D(a):
            try requireNumeric()
            let w = req[1]
            try requireRank(x, 4, "input")
            try requireRank(w, 4, "filter")
            guard a.groups >= 1, x.dims[3] % a.groups == 0, w.dims[0] % a.groups == 0 else {
                throw fail("groups \(a.groups) must divide input channels \(x.dims[3]) and output channels \(w.dims[0])")
            }
            guard w.dims[3] * a.groups == x.dims[3] else {
                throw fail("filter \(formatDims(w.dims)) expects \(w.dims[3] * a.groups) input channels, input has \(x.dims[3])")
            }
            if inputs.count > 2, let b = inputs[2] {
                guard b.dims == [w.dims[0]] else { throw fail("bias must be [\(w.dims[0])], got \(formatDims(b.dims))") }
            }
            guard let h = windowGeometry(input: x.dims[1], kernel: w.dims[1], stride: a.strideH, dilation: a.dilationH, padding: a.padding, vertical: true),
                  let ww = windowGeometry(input: x.dims[2], kernel: w.dims[2], stride: a.strideW, dilation: a.dilationW, padding: a.padding, vertical: false) else {
                throw fail("window \(w.dims[1])x\(w.dims[2]) (stride \(a.strideH)x\(a.strideW), dilation \(a.dilationH)x\(a.dilationW), \(a.padding)) does not fit input \(formatDims(x.dims))")
            }
            return TensorInfo(outputDType ?? x.dtype, [x.dims[0], h.output, ww.output, w.dims[0]])

        case .fullyConnected:
            try requireNumeric()
            let w = req[1]
            guard x.dims.count >= 1 else { throw fail("input must have rank >= 1") }
            try requireRank(w, 2, "weights")
            guard x.dims[x.dims.count - 1] == w.dims[1] else {
                throw fail("input \(formatDims(x.dims)) has \(x.dims.last ?? 0) features, weights \(formatDims(w.dims)) expect \(w.dims[1])")
            }
            if inputs.count > 2, let b = inputs[2] {
                guard b.dims == [w.dims[0]] else { throw fail("bias must be [\(w.dims[0])], got \(formatDims(b.dims))") }
            }
            return TensorInfo(outputDType ?? x.dtype, Array(x.dims.dropLast()) + [w.dims[0]])

        case .matMul:
            try requireNumeric()
            let b = req[1]
            guard x.dims.count >= 2, b.dims.count >= 2 else { throw fail("both inputs need rank >= 2") }
            let m = x.dims[x.dims.count - 2], k = x.dims[x.dims.count - 1]
            let k2 = b.dims[b.dims.count - 2], n = b.dims[b.dims.count - 1]
            guard k == k2 else { throw fail("inner dims differ: \(formatDims(x.dims)) × \(formatDims(b.dims))") }
            guard let batch = broadcastDims(Array(x.dims.dropLast(2)), Array(b.dims.dropLast(2))) else {
                throw fail("batch dims of \(formatDims(x.dims)) and \(formatDims(b.dims)) do not broadcast")
            }
            return TensorInfo(outputDType ?? x.dtype, batch + [m, n])

        case .add, .sub, .mul, .div, .maximum, .minimum, .prelu:
            try requireNumeric()
            let b = req[1]
            guard b.dtype == x.dtype else { throw fail("input dtypes differ: \(x.dtype) and \(b.dtype)") }
            guard let dims = broadcastDims(x.dims, b.dims) else {
                throw fail("shapes \(formatDims(x.dims)) and \(formatDims(b.dims)) do not broadcast")
            }
            return TensorInfo(x.dtype, dims)

        case .relu, .relu6, .leakyRelu, .sigmoid, .tanh, .hardSwish, .gelu:
            try requireNumeric()
            return x

        case let .softmax(axis, beta):
            try requireNumeric()
            guard beta.isFinite, beta > 0 else { throw fail("beta \(beta) must be positive") }
            _ = try axisIndex(axis, rank: x.dims.count)
            return x

        case let .averagePool2D(p), let .maxPool2D(p):
            try requireNumeric()
            try requireRank(x, 4, "input")
            guard let h = windowGeometry(input: x.dims[1], kernel: p.kernelH, stride: p.strideH, dilation: 1, padding: p.padding, vertical: true),
                  let w = windowGeometry(input: x.dims[2], kernel: p.kernelW, stride: p.strideW, dilation: 1, padding: p.padding, vertical: false) else {
                throw fail("window \(p.kernelH)x\(p.kernelW) does not fit input \(formatDims(x.dims))")
            }
            return TensorInfo(x.dtype, [x.dims[0], h.output, w.output, x.dims[3]])

        case let .mean(axes, keepDims):
            try requireNumeric()
            guard !axes.isEmpty else { throw fail("needs at least one axis") }
            var reduced = Set<Int>()
            for a in axes {
                let r = try axisIndex(a, rank: x.dims.count)
                guard reduced.insert(r).inserted else { throw fail("axis \(a) is listed twice") }
            }
            var dims: [Int] = []
            for (i, d) in x.dims.enumerated() {
                if reduced.contains(i) { if keepDims { dims.append(1) } } else { dims.append(d) }
            }
            return TensorInfo(x.dtype, dims)

        case .globalAveragePool:
            try requireNumeric()
            try requireRank(x, 4, "input")
            return TensorInfo(x.dtype, [x.dims[0], 1, 1, x.dims[3]])

        case let .reshape(newDims):
            var inferred: Int? = nil
            var known = 1
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

        case let .transpose(perm):
            guard perm.count == x.dims.count, Set(perm) == Set(0..<x.dims.count) else {
                throw fail("perm \(perm) is not a permutation of 0..<\(x.dims.count)")
            }
            return TensorInfo(x.dtype, perm.map { x.dims[$0] })

        case let .concat(axis):
            let all = try inputs.enumerated().map { i, t -> TensorInfo in
                guard let t else { throw fail("input \(i) is missing") }
                return t
            }
            let a = try axisIndex(axis, rank: x.dims.count)
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

        case let .pad(before, after):
            guard before.count == x.dims.count, after.count == x.dims.count else {
                throw fail("needs \(x.dims.count) pads before and after, got \(before.count) and \(after.count)")
            }
            var dims = x.dims
            for i in 0..<dims.count {
                guard before[i] >= 0, after[i] >= 0, let s = checkedAdd(dims[i], before[i]).flatMap({ checkedAdd($0, after[i]) }) else {
                    throw fail("pads must be >= 0 (got \(before[i]), \(after[i]) on axis \(i))")
                }
                dims[i] = s
            }
            return TensorInfo(x.dtype, dims)

        case let .slice(begin, end, strides):
            let r = x.dims.count
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

        case let .layerNorm(axis, epsilon):
            try requireNumeric()
            guard epsilon.isFinite, epsilon >= 0 else { throw fail("epsilon \(epsilon) must be >= 0") }
            let a = try axisIndex(axis, rank: x.dims.count)
            let normDims = Array(x.dims[a...])
            for i in 1..<inputs.count {
                if let p = inputs[i] {
                    guard p.dims == normDims || (elementCount(p.dims) == elementCount(normDims) && p.dims.count == 1) else {
                        throw fail("\(i == 1 ? "gamma" : "beta") must be \(formatDims(normDims)), got \(formatDims(p.dims))")
                    }
                }
            }
            return x

        case let .quantize(to):
            guard to.isQuantized8 else { throw fail("target dtype must be i8 or u8, got \(to)") }
            guard x.dtype == .f32 || x.dtype.isQuantized8 else { throw fail("input must be f32, i8 or u8, got \(x.dtype)") }
            return TensorInfo(to, x.dims)

        case .dequantize:
            guard x.dtype.isQuantized8 || x.dtype == .f16 else { throw fail("input must be i8, u8 or f16, got \(x.dtype)") }
            return TensorInfo(.f32, x.dims)

        case let .resize(r):
            try requireNumeric()
            try requireRank(x, 4, "input")
            guard r.height >= 1, r.width >= 1 else { throw fail("output size \(r.height)x\(r.width) must be positive") }
            guard x.dims[1] >= 1, x.dims[2] >= 1 else { throw fail("input \(formatDims(x.dims)) is empty") }
            return TensorInfo(x.dtype, [x.dims[0], r.height, r.width, x.dims[3]])
        }
    }

    /// MACs and bytes of one execution, from concrete input and output types.
    public func cost(inputs: [TensorInfo?], output: TensorInfo) -> OpCost {
        let read = inputs.reduce(0) { saturatingAdd($0, $1?.byteCount ?? 0) }
        let written = output.byteCount
        let outElems = output.elementCount
        var macs = 0
        switch self {
        case .conv2D:
            if let w = inputs[1], w.dims.count == 4 { macs = saturatingMultiply(saturatingMultiply(saturatingMultiply(outElems, w.dims[1]), w.dims[2]), w.dims[3]) }
        case .fullyConnected:
            if let w = inputs[1], w.dims.count == 2 { macs = saturatingMultiply(outElems, w.dims[1]) }
        case .matMul:
            if let a = inputs[0], let k = a.dims.last { macs = saturatingMultiply(outElems, k) }
        case let .averagePool2D(p), let .maxPool2D(p):
            macs = saturatingMultiply(saturatingMultiply(outElems, p.kernelH), p.kernelW)
        case .add, .sub, .mul, .div, .maximum, .minimum, .prelu, .relu, .relu6, .leakyRelu, .sigmoid, .tanh, .hardSwish, .gelu,
             .quantize, .dequantize:
            macs = outElems
        case let .resize(r):
            macs = saturatingMultiply(outElems, (r.bilinear ? 4 : 0))
        case .softmax, .layerNorm:
            macs = saturatingMultiply(outElems, 3)
        case .mean, .globalAveragePool:
            macs = inputs[0]?.elementCount ?? 0
        case .reshape, .transpose, .concat, .pad, .slice:
            macs = 0
        }
        return OpCost(macs: macs, bytesRead: read, bytesWritten: written)
    }
}
