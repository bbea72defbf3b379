// The ONNX conversions longer than a line or two: windows (conv, pooling, resize), linear algebra,
// reductions, slicing and padding, normalization, quantization, and import-time folding.
import EmberCore

extension NodeContext {
    // MARK: activations spelled with other ops

    /// scale · (relu(x) + alpha · min(elu(x), 0)) — ONNX Elu and Selu.
    func elu(alpha: Float, scale: Float) throws -> Tracked {
        let x = try input(0)
        let e = try unary(.unary(.elu), x)
        if alpha == 1 && scale == 1 { return e }
        let sum = try reluPlusScaledNegative(x, e, alpha: alpha, last: scale == 1)
        return scale == 1 ? sum : try broadcast(.mul(.none), [sum, Tracked(id: scalar(scale, .f32, "scale"), perm: [])])
    }

    /// relu(x) + alpha · min(elu(x / alpha), 0).
    func celu(alpha: Float) throws -> Tracked {
        let x = try input(0)
        guard alpha != 1 else { return try unary(.unary(.elu), x) }
        let inverse = Tracked(id: scalar(1 / alpha, .f32, "inverse_alpha"), perm: [])
        let xs = try broadcast(.mul(.none), [x, inverse], "scaled")
        let e = Tracked(id: try add(.unary(.elu), [xs.id], "elu"), perm: xs.perm)
        return try reluPlusScaledNegative(x, e, alpha: alpha, last: true)
    }

    /// relu(x) + alpha · min(e, 0): the tail Elu, Selu and Celu share (`last` names it after the node).
    func reluPlusScaledNegative(_ x: Tracked, _ e: Tracked, alpha: Float, last: Bool) throws -> Tracked {
        let negative = try broadcast(.minimum, [e, Tracked(id: scalar(0, .f32, "zero"), perm: [])], "negative")
        let scaled = try broadcast(.mul(.none), [negative, Tracked(id: scalar(alpha, .f32, "alpha"), perm: [])], "alpha_negative")
        let positive = Tracked(id: try add(.relu, [x.id], "positive"), perm: x.perm)
        return try broadcast(.add(.none), [positive, scaled], last ? "" : "sum")
    }

    /// min(max(alpha · x + beta, 0), 1).
    func hardSigmoid(_ x: Tracked, alpha: Float, beta: Float) throws -> Tracked {
        let ax = try broadcast(.mul(.none), [x, Tracked(id: scalar(alpha, .f32, "alpha"), perm: [])], "scaled")
        let shifted = try broadcast(.add(.none), [ax, Tracked(id: scalar(beta, .f32, "beta"), perm: [])], "shifted")
        let low = try broadcast(.maximum, [shifted, Tracked(id: scalar(0, .f32, "zero"), perm: [])], "low")
        return try broadcast(.minimum, [low, Tracked(id: scalar(1, .f32, "one"), perm: [])])
    }

    // MARK: types and constants

    func cast(to code: Int) throws {
        guard let target = ONNXDataType.dtype(Int32(clamping: code)) else {
            throw unsupported("cast to \(ONNXDataType.name(Int32(clamping: code)))")
        }
        let x = try input(0)
        if target == .f16 {
            // Values stay float32 inside the graph; a cast to float16 rounds them to half precision
            // (and a graph output declared float16 is converted on the way out).
            guard dtype(x) == .f32 else { throw unsupported("cast of \(dtype(x)) to float16") }
            if let k = constant(0), let f = k.floats {
                return try defineConstant(.floats(f.map { Float(Float16($0)) }, dims: k.dims))
            }
            let half = try add(.cast(.f16), [x.id], "half")
            return try define(try add(.cast(.f32), [half]), perm: x.perm)
        }
        if let k = constant(0) { return try defineConstant(try convert(k, to: target)) }
        if dtype(x) == target { return try define(x) }
        if target.isQuantized8 {
            // Plain 8-bit integers live as int32: the cast wraps (or saturates, from float) to 8 bits and widens back.
            return try define(try unary(.cast(.i32), try unary(.cast(target), x)))
        }
        try define(try unary(.cast(target), x))
    }

    /// An import-time conversion with CAST's rules (float → integer truncates toward zero).
    func convert(_ h: HostTensor, to target: DType) throws -> HostTensor {
        if h.dtype == target { return h }
        if target == .f32 {
            guard let f = h.floats else { throw unsupported("cast of \(h.dtype)") }
            return .floats(f, dims: h.dims)
        }
        if let i = h.ints { return .integers(target == .bool ? i.map { $0 != 0 ? 1 : 0 } : i, dtype: target, dims: h.dims) }
        guard let f = h.floats else { throw unsupported("cast of \(h.dtype)") }
        if target == .bool { return .integers(f.map { $0 != 0 ? 1 : 0 }, dtype: .bool, dims: h.dims) }
        guard f.allSatisfy({ $0.isFinite && abs($0) < 9.2e18 }) else { throw fail("a value does not fit \(target)") }
        return .integers(f.map { Int($0.rounded(.towardZero)) }, dtype: target, dims: h.dims)
    }

    /// The tensor a Constant node holds.
    func constantAttribute() throws -> HostTensor {
        if let t = a.tensor("value") { return try t.host(external: c.external, limits: c.limits) }
        if a.has("value_float") { return .floats([try a.float("value_float", 0)], dims: []) }
        if let f = try a.floats("value_floats") { return .floats(f, dims: [f.count]) }
        if a.has("value_int") { return .int64s([try a.int("value_int", 0)], dims: []) }
        if let i = try a.ints("value_ints") { return .int64s(i, dims: [i.count]) }
        throw unsupported("a Constant without a tensor, float or int value (sparse and string constants)")
    }

    // MARK: shapes

    /// ONNX Reshape's target dims (0 copies the input's dim unless allowzero, one -1 is inferred).
    func reshapeDims(_ input: [Int], _ shape: [Int], allowZero: Bool) throws -> [Int] {
        var out: [Int] = [], inferred: Int? = nil
        for (k, s) in shape.enumerated() {
            if s == 0 && !allowZero {
                guard k < input.count else { throw fail("shape \(shape) copies dim \(k) of \(formatDims(input))") }
                out.append(input[k])
            } else if s == -1 {
                guard inferred == nil else { throw fail("shape \(shape) has two -1") }
                inferred = k; out.append(1)
            } else {
                guard s >= 0 else { throw fail("shape \(shape)") }
                out.append(s)
            }
        }
        guard let total = elementCount(input), let known = elementCount(out) else { throw fail("shape \(shape) overflows") }
        if let k = inferred {
            guard known > 0, total % known == 0 else { throw fail("cannot reshape \(formatDims(input)) to \(shape)") }
            out[k] = total / known
        }
        guard elementCount(out) == total, out.count <= GraphLimits.maxRank else {
            throw fail("cannot reshape \(formatDims(input)) (\(total) elements) to \(shape)")
        }
        return out
    }

    /// Output 0 is `x` with ONNX dims `dims` (a constant is reshaped at import).
    func reshape(_ x: Tracked, to dims: [Int]) throws {
        if let k = constant(0) { return try defineConstant(HostTensor(dtype: k.dtype, dims: dims, bytes: k.bytes)) }
        try define(try add(.reshape(dims), [try onnx(x)]))
    }

    /// Output 0 is `x` broadcast to `out` (Expand): a reshape to the output's rank and a tile.
    func tile(_ x: Tracked, to out: [Int]) throws {
        let d = onnxDims(x)
        if d == out { return try define(x) }
        let aligned = [Int](repeating: 1, count: out.count - d.count) + d
        let multiples = zip(aligned, out).map { $0 == $1 ? 1 : $1 }
        if let k = constant(0), let n = elementCount(out), n <= 1 << 20 {
            let size = k.dtype.traits.bytesPerBlock
            let map = broadcastIndices(out, aligned)
            var bytes = [UInt8](repeating: 0, count: n * size)
            for (o, i) in map.enumerated() { for b in 0..<size { bytes[o * size + b] = k.bytes[i * size + b] } }
            return try defineConstant(HostTensor(dtype: k.dtype, dims: out, bytes: bytes))
        }
        let v = try reshaped(x, aligned, "rank")
        try define(try add(.tile(multiples: multiples), [v]))
    }

    func split() throws {
        let x = try input(0)
        let d = onnxDims(x), r = d.count
        let axisO = try axis(try a.int("axis", 0), rank: r)
        var sizes: [Int]
        if let s = try ints(1, "split") ?? a.ints("split") {
            sizes = s
        } else {
            let parts = opset >= 18 ? try a.int("num_outputs", outputCount) : outputCount
            guard parts >= 1 else { throw fail("num_outputs \(parts)") }
            let chunk = (d[axisO] + parts - 1) / parts
            sizes = (0..<parts).map { k in max(min(chunk, d[axisO] - k * chunk), 0) }
        }
        guard sizes.count == outputCount, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == d[axisO] else {
            throw fail("split \(sizes) of dim \(d[axisO]) into \(outputCount) outputs")
        }
        let e = try emberAxis(x, axisO)
        let ember = c.dims(x.id)
        var start = 0
        for (k, size) in sizes.enumerated() {
            defer { start += size }
            guard usesOutput(k) else { continue }
            var begin = [Int](repeating: 0, count: r), end = ember
            begin[e] = start; end[e] = start + size
            let v = try c.add(.slice(begin: begin, end: end, strides: [Int](repeating: 1, count: r)), [x.id], name: try output(k))
            try define(v, perm: x.perm, output: k)
        }
    }

    func slice() throws {
        let x = try input(0)
        let r = rank(x)
        let starts: [Int], ends: [Int], axesO: [Int]?, steps: [Int]?
        if opset >= 10 {
            guard let s = try ints(1, "starts"), let e = try ints(2, "ends") else { throw fail("needs starts and ends") }
            starts = s; ends = e; axesO = try ints(3, "axes"); steps = try ints(4, "steps")
        } else {
            guard let s = try a.ints("starts"), let e = try a.ints("ends") else { throw fail("needs starts and ends") }
            starts = s; ends = e; axesO = try a.ints("axes"); steps = nil
        }
        let axes = axesO ?? Array(0..<starts.count)
        let strides = steps ?? [Int](repeating: 1, count: starts.count)
        guard ends.count == starts.count, axes.count == starts.count, strides.count == starts.count else {
            throw fail("starts \(starts), ends \(ends), axes \(axes), steps \(strides) differ in length")
        }
        let limit = Int(Int32.min)...Int(Int32.max)
        if let k = constant(0), k.dims.count == 1, let values = k.ints, axes.count == 1 {
            // Shape arithmetic: a 1-D constant sliced at import.
            guard let s = sliceAxis(dim: values.count, begin: starts[0].clamped(to: limit), end: ends[0].clamped(to: limit),
                                    stride: strides[0]) else { throw fail("step 0") }
            let picked = (0..<s.count).map { values[s.start + $0 * strides[0]] }
            return try defineConstant(.integers(picked, dtype: k.dtype, dims: [picked.count]))
        }
        var begin = [Int](repeating: 0, count: r), end = [Int](repeating: Int(Int32.max), count: r)
        var stride = [Int](repeating: 1, count: r)
        var seen = Set<Int>()
        for i in 0..<axes.count {
            let e = try emberAxis(x, axes[i])
            guard seen.insert(e).inserted else { throw fail("axis \(axes[i]) listed twice") }
            guard strides[i] != 0 else { throw fail("step 0") }
            begin[e] = starts[i].clamped(to: limit); end[e] = ends[i].clamped(to: limit); stride[e] = strides[i].clamped(to: limit)
        }
        try define(try add(.slice(begin: begin, end: end, strides: stride), [x.id]), perm: x.perm)
    }

    func pad() throws {
        let x = try input(0)
        let r = rank(x)
        let mode = try a.string("mode", "constant")
        let pads: [Int]
        let value: Float
        if opset >= 11 {
            guard let p = try ints(1, "pads") else { throw fail("needs pads") }
            pads = p
            value = try floatScalar(2, "constant_value") ?? 0
        } else {
            guard let p = try a.ints("pads") else { throw fail("needs pads") }
            pads = p
            value = try a.float("value", 0)
        }
        let axes = try (opset >= 18 ? ints(3, "axes") : nil) ?? Array(0..<r)
        guard pads.count == 2 * axes.count else { throw fail("\(pads.count) pads for \(axes.count) axes") }
        guard pads.allSatisfy({ $0 >= 0 }) else { throw unsupported("negative pads (cropping)") }
        var before = [Int](repeating: 0, count: r), after = before
        for (i, ax) in axes.enumerated() {
            let e = try emberAxis(x, ax)
            before[e] = pads[i]; after[e] = pads[i + axes.count]
        }
        let v: ValueID
        switch mode {
        case "constant":
            let padded = try add(.pad(before: before, after: after), [x.id], value == 0 ? "" : "zeros")
            if value == 0 { v = padded; break }
            guard dtype(x) == .f32 else { throw unsupported("a non-zero constant_value on \(dtype(x))") }
            // Zero padding plus a constant that is `value` outside the input and 0 inside: exact.
            v = try add(.add(.none), [padded, try paddingFill(value, inner: c.dims(x.id), before: before, padded: padded, "pad_value")])
        case "reflect":
            v = try add(.mirrorPad(before: before, after: after, reflect: true), [x.id])
        case "wrap":
            // Each padded axis: its last `before` and first `after` slices, concatenated around it.
            var cur = x.id
            for axis in 0..<r where before[axis] > 0 || after[axis] > 0 {
                let d = c.dims(cur)
                guard before[axis] <= d[axis], after[axis] <= d[axis] else { throw unsupported("wrap padding wider than the axis") }
                func part(_ from: Int, _ to: Int, _ suffix: String) throws -> ValueID {
                    var begin = [Int](repeating: 0, count: r), end = d
                    begin[axis] = from; end[axis] = to
                    return try add(.slice(begin: begin, end: end, strides: [Int](repeating: 1, count: r)), [cur], suffix)
                }
                var parts: [ValueID] = []
                if before[axis] > 0 { parts.append(try part(d[axis] - before[axis], d[axis], "wrap\(axis)_before")) }
                parts.append(cur)
                if after[axis] > 0 { parts.append(try part(0, after[axis], "wrap\(axis)_after")) }
                cur = try add(.concat(axis: axis), parts, "wrap\(axis)")
            }
            v = cur
        case "edge":
            // Each padded axis: its first and last slice repeated, concatenated around it.
            var cur = x.id
            for axis in 0..<r where before[axis] > 0 || after[axis] > 0 {
                let d = c.dims(cur)
                func edgeSlice(_ at: Int, _ suffix: String) throws -> ValueID {
                    var begin = [Int](repeating: 0, count: r), end = d
                    begin[axis] = at; end[axis] = at + 1
                    return try add(.slice(begin: begin, end: end, strides: [Int](repeating: 1, count: r)), [cur], suffix)
                }
                guard d[axis] >= 1 else { throw unsupported("edge padding of an empty axis") }
                let first = try edgeSlice(0, "edge\(axis)_first"), last = try edgeSlice(d[axis] - 1, "edge\(axis)_last")
                let parts = [ValueID](repeating: first, count: before[axis]) + [cur] + [ValueID](repeating: last, count: after[axis])
                cur = try add(.concat(axis: axis), parts, "edge\(axis)")
            }
            v = cur
        default:
            throw unsupported("mode '\(mode)' (constant, reflect, edge and wrap are supported)")
        }
        try define(v, perm: x.perm)
    }

    func depthToSpace(toSpace: Bool) throws {
        let x = try input(0)
        guard rank(x) == 4 else { throw fail("needs a 4-D input") }
        let bs = try a.int("blocksize", 0)
        guard bs >= 1 else { throw fail("blocksize \(bs)") }
        let v = try c.inLayout(x, channelsLast(rank: 4), name: name)
        let d = c.dims(v)
        let n = d[0], h = d[1], w = d[2], ch = d[3]
        let split: [Int], perm: [Int], out: [Int]
        if toSpace {
            guard ch % (bs * bs) == 0 else { throw fail("channels \(ch) not divisible by \(bs * bs)") }
            let crd = try a.string("mode", "DCR") == "CRD"
            split = crd ? [n, h, w, ch / (bs * bs), bs, bs] : [n, h, w, bs, bs, ch / (bs * bs)]
            perm = crd ? [0, 1, 4, 2, 5, 3] : [0, 1, 3, 2, 4, 5]
            out = [n, h * bs, w * bs, ch / (bs * bs)]
        } else {
            guard h % bs == 0, w % bs == 0 else { throw fail("\(h)x\(w) not divisible by \(bs)") }
            split = [n, h / bs, bs, w / bs, bs, ch]
            // DCR: channel (i·bs + j)·C + c; CRD (opset 28 mode): c·bs² + i·bs + j.
            perm = try a.string("mode", "DCR") == "CRD" ? [0, 1, 3, 5, 2, 4] : [0, 1, 3, 2, 4, 5]
            out = [n, h / bs, w / bs, bs * bs * ch]
        }
        let r6 = try add(.reshape(split), [v], "split")
        let t = try add(.transpose(perm: perm), [r6], "transpose")
        try define(try add(.reshape(out), [t]), perm: channelsLast(rank: 4))
    }

    // MARK: reductions and softmax

    func reduce(_ type: String) throws {
        let x = try input(0)
        let r = rank(x)
        let keep = try a.int("keepdims", 1) != 0
        let fromInput = opset >= 18 || (type == "ReduceSum" && opset >= 13)
        var axesO = fromInput ? try ints(1, "axes") : try a.ints("axes")
        if axesO?.isEmpty ?? true {
            if try a.int("noop_with_empty_axes", 0) != 0 { return try define(x) }
            axesO = Array(0..<r)
        }
        let axes = Array(Set(try (axesO ?? []).map { try emberAxis(x, $0) })).sorted()
        guard !axes.isEmpty else { return try define(x) }
        if dtype(x) == .bool, ["ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd"].contains(type) {
            // any (max, sum): some element is true; all (min, prod): no element is false — empty sets give
            // false and true, the identities ONNX's reference uses.
            let any = type == "ReduceMax" || type == "ReduceSum"
            let counted = any ? x.id : try add(.logical(.not), [x.id], "false")
            let ints = try add(.cast(.i32), [counted], "as_int")
            let reduced = try add(.reduce(.sum, axes: axes, keepDims: keep), [ints], "count")
            let v = try add(.compare(any ? .notEqual : .equal), [reduced, scalar(0, .i32, "zero")])
            return try define(v, perm: keep ? x.perm : reducedPerm(x.perm, removing: Set(axes)))
        }
        func sum(_ v: ValueID, _ suffix: String) throws -> ValueID { try add(.reduce(.sum, axes: axes, keepDims: keep), [v], suffix) }
        let v: ValueID
        switch type {
        case "ReduceMean": v = try add(.mean(axes: axes, keepDims: keep), [x.id])
        case "ReduceSum": v = try sum(x.id, "")
        case "ReduceMax": v = try add(.reduce(.max, axes: axes, keepDims: keep), [x.id])
        case "ReduceMin": v = try add(.reduce(.min, axes: axes, keepDims: keep), [x.id])
        case "ReduceProd": v = try add(.reduce(.prod, axes: axes, keepDims: keep), [x.id])
        case "ReduceL1": v = try sum(try add(.unary(.abs), [x.id], "abs"), "")
        case "ReduceL2": v = try add(.unary(.sqrt), [try sum(try add(.unary(.square), [x.id], "square"), "sum")])
        case "ReduceSumSquare": v = try sum(try add(.unary(.square), [x.id], "square"), "")
        case "ReduceLogSum": v = try add(.unary(.log), [try sum(x.id, "sum")])
        default: v = try add(.unary(.log), [try sum(try add(.unary(.exp), [x.id], "exp"), "sum")]) // ReduceLogSumExp
        }
        try define(v, perm: keep ? x.perm : reducedPerm(x.perm, removing: Set(axes)))
    }

    /// LayerNorm of `x` (ONNX layout) over axes `axis...` with a scale and bias that broadcast to them.
    func layerNormalized(_ x: Tracked, scale: Tracked?, bias: Tracked?, axis: Int, epsilon: Float) throws -> ValueID {
        let normDims = Array(onnxDims(x)[axis...])
        func fit(_ t: Tracked?, _ what: String) throws -> ValueID? {
            guard let t else { return nil }
            let d = onnxDims(t)
            guard let full = broadcastDims(d, normDims), full == normDims else {
                throw fail("\(what) \(formatDims(d)) does not fit \(formatDims(normDims))")
            }
            if d == normDims { return try onnx(t) }
            let aligned = [Int](repeating: 1, count: normDims.count - d.count) + d
            return try add(.tile(multiples: zip(aligned, normDims).map { $1 / $0 }), [try reshaped(t, aligned, "\(what)_rank")], what)
        }
        return try add(.layerNorm(axis: axis, epsilon: epsilon), [try onnx(x), try fit(scale, "scale"), try fit(bias, "bias")])
    }

    func globalPool(max: Bool) throws {
        let x = try input(0)
        guard rank(x) >= 3 else { throw fail("needs N, C and spatial dims") }
        let axes = try (2..<rank(x)).map { try emberAxis(x, $0) }
        let op: Op = max ? .reduce(.max, axes: axes, keepDims: true) : .mean(axes: axes, keepDims: true)
        try define(try add(op, [x.id]), perm: x.perm)
    }

    func softmax(log: Bool) throws {
        var x = try input(0)
        let r = rank(x)
        var axisO = try axis(try a.int("axis", opset >= 13 ? -1 : 1), rank: r)
        var restore: [Int]? = nil
        if opset < 13 && axisO != r - 1 {
            // Before opset 13 the input is viewed as 2-D [outer, inner] around the axis.
            let d = onnxDims(x)
            x = Tracked(id: try reshaped(x, [d[..<axisO].reduce(1, *), d[axisO...].reduce(1, *)], "as2d"), perm: [0, 1])
            restore = d; axisO = 1
        }
        let e = try emberAxis(x, axisO)
        var v: ValueID
        if log {
            let mx = try add(.reduce(.max, axes: [e], keepDims: true), [x.id], "max")
            let shifted = try add(.sub(.none), [x.id, mx], "shifted")
            let ex = try add(.unary(.exp), [shifted], "exp")
            let s = try add(.reduce(.sum, axes: [e], keepDims: true), [ex], "sum")
            v = try add(.sub(.none), [shifted, try add(.unary(.log), [s], "log")], restore == nil ? "" : "flat")
        } else {
            v = try add(.softmax(axis: e, beta: 1), [x.id], restore == nil ? "" : "flat")
        }
        if let restore { v = try add(.reshape(restore), [v]); return try define(v) }
        try define(v, perm: x.perm)
    }

    // MARK: normalization

    func batchNorm() throws {
        guard try a.int("training_mode", 0) == 0, !usesOutput(1) else { throw unsupported("training mode") }
        let x = try input(0)
        let r = rank(x)
        guard r >= 2 else { throw fail("needs N and C dims") }
        let channels = onnxDims(x)[1]
        guard let scale = constant(1)?.floats, let bias = constant(2)?.floats, let mean = constant(3)?.floats,
              let variance = constant(4)?.floats else {
            // Run-time parameters: (x − mean) · scale / sqrt(var + epsilon) + bias, each broadcast per channel.
            let perChannel = [channels] + [Int](repeating: 1, count: r - 2)
            func param(_ k: Int, _ what: String) throws -> ValueID { try reshaped(try input(k), perChannel, what) }
            let eps = try a.float("epsilon", 1e-5), xv = try onnx(x)
            let centered = try add(.sub(.none), [xv, try param(3, "mean_c")], "centered")
            let inverse = try add(.unary(.rsqrt), [try add(.add(.none), [try param(4, "var_c"), scalar(eps, .f32, "epsilon")], "var_eps")],
                                  "inverse_std")
            let scaled = try add(.mul(.none), [try add(.mul(.none), [centered, inverse], "normalized"), try param(1, "scale_c")], "scaled")
            return try define(try add(.add(.none), [scaled, try param(2, "bias_c")]))
        }
        guard [scale, bias, mean, variance].allSatisfy({ $0.count == channels }) else {
            throw fail("scale, bias, mean and var need \(channels) values each")
        }
        let eps = try a.float("epsilon", 1e-5)
        let s = (0..<channels).map { scale[$0] / (variance[$0] + eps).squareRoot() }
        let b = (0..<channels).map { bias[$0] - mean[$0] * s[$0] }
        let dims = [channels] + [Int](repeating: 1, count: r - 2)
        let out = try output()
        let sv = Tracked(id: c.constant(.floats(s, dims: dims), name: "\(out)/scale"), perm: Array(0..<(r - 1)))
        let bv = Tracked(id: c.constant(.floats(b, dims: dims), name: "\(out)/shift"), perm: Array(0..<(r - 1)))
        let scaled = try broadcast(.mul(.none), [x, sv], "scaled")
        try define(try broadcast(.add(.none), [scaled, bv]))
    }

    /// InstanceNormalization: each (sample, channel) normalized over its spatial axes, then scaled
    /// and shifted per channel.
    func instanceNorm() throws {
        let x = try input(0)
        let r = rank(x)
        guard r >= 3 else { throw fail("needs N, C and spatial dims") }
        let channels = onnxDims(x)[1], eps = try a.float("epsilon", 1e-5)
        let xv = try onnx(x), axes = Array(2..<r)
        let mean = try add(.mean(axes: axes, keepDims: true), [xv], "mean")
        let centered = try add(.sub(.none), [xv, mean], "centered")
        let variance = try add(.mean(axes: axes, keepDims: true), [try add(.unary(.square), [centered], "square")], "variance")
        let inverse = try add(.unary(.rsqrt), [try add(.add(.none), [variance, scalar(eps, .f32, "epsilon")], "variance_eps")], "inverse_std")
        let normalized = try add(.mul(.none), [centered, inverse], "normalized")
        let perChannel = [channels] + [Int](repeating: 1, count: r - 2)
        let scale = try reshaped(try input(1), perChannel, "scale_c"), bias = try reshaped(try input(2), perChannel, "bias_c")
        try define(try add(.add(.none), [try add(.mul(.none), [normalized, scale], "scaled"), bias]))
    }

    func layerNorm() throws {
        let x = try input(0)
        let r = rank(x)
        let axis = try self.axis(try a.int("axis", -1), rank: r)
        let eps = try a.float("epsilon", 1e-5)
        let xv = try onnx(x)
        try define(try layerNormalized(x, scale: try input(1), bias: try optionalInput(2), axis: axis, epsilon: eps))
        guard usesOutput(1) || usesOutput(2) else { return }
        // The statistics outputs: mean and 1 / sqrt(variance + epsilon) over the normalized axes, kept as 1s.
        let axes = Array(axis..<r)
        let m = try c.add(.mean(axes: axes, keepDims: true), [xv], name: usesOutput(1) ? try output(1) : "\(try output())/mean")
        if usesOutput(1) { try define(m, output: 1) }
        if usesOutput(2) {
            let deviation = try add(.sub(.none), [xv, m], "deviation")
            let variance = try add(.mean(axes: axes, keepDims: true), [try add(.unary(.square), [deviation], "square")], "variance")
            let shifted = try add(.add(.none), [variance, scalar(eps, .f32, "epsilon")], "variance_eps")
            try define(try c.add(.unary(.rsqrt), [shifted], name: try output(2)), output: 2)
        }
    }

    /// Trilu: the upper (or lower) triangle of the last two dims from diagonal k, zeros elsewhere.
    func trilu() throws {
        let x = try input(0)
        let d = onnxDims(x)
        guard d.count >= 2 else { throw fail("needs a matrix") }
        let k = try ints(1, "k")?.first ?? 0
        let upper = try a.int("upper", 1) != 0
        let rows = d[d.count - 2], cols = d[d.count - 1]
        var keep: [Int] = []
        keep.reserveCapacity(rows * cols)
        for i in 0..<rows { for j in 0..<cols { keep.append(upper ? (j - i >= k ? 1 : 0) : (j - i <= k ? 1 : 0)) } }
        let mask = Tracked(id: c.constant(.integers(keep, dtype: .bool, dims: [rows, cols]), name: "\(try output())/mask"), perm: [0, 1])
        let zero = Tracked(id: c.constant(.integers([0], dtype: dtype(x), dims: []), name: "\(try output())/zero"), perm: [])
        let zeroValue = dtype(x) == .f32 ? Tracked(id: scalar(0, .f32, "zero_f"), perm: []) : zero
        try define(try broadcast(.select, [mask, x, zeroValue]))
    }

    // MARK: linear algebra

    /// A constant float matrix as FC weights [N, K] (`transposed` when it is stored [K, N]), times `scale`.
    func weights(_ h: HostTensor, transposed: Bool, scale: Float, _ suffix: String) throws -> ValueID {
        guard h.dims.count == 2, var f = h.floats else { throw fail("weights must be a float matrix") }
        if scale != 1 { f = f.map { $0 * scale } }
        var bytes = HostTensor.floats(f, dims: h.dims).bytes
        var dims = h.dims
        if transposed {
            bytes = permuteBytes(bytes, dims: dims, elementSize: 4, perm: [1, 0])
            dims = [dims[1], dims[0]]
        }
        return c.constant(HostTensor(dtype: .f32, dims: dims, bytes: bytes), name: "\(try output())/\(suffix)")
    }

    func matMul() throws {
        let A = try input(0), B = try input(1)
        let da = onnxDims(A), db = onnxDims(B)
        if let w = constant(1), w.dtype == .f32 || w.dtype == .f16, db.count == 2, da.count >= 2, dtype(A) == .f32 {
            // A constant right-hand matrix: fully-connected (weights [N, K]), the fast path.
            let wv = try weights(w, transposed: true, scale: 1, "weights")
            return try define(try add(.fullyConnected(.none), [try onnx(A), wv, nil]))
        }
        var ia = try onnx(A), ib = try onnx(B)
        if da.count == 1 { ia = try reshaped(A, [1, da[0]], "a2d") }
        if db.count == 1 { ib = try reshaped(B, [db[0], 1], "b2d") }
        let squeeze = da.count == 1 || db.count == 1
        var v = try add(.matMul, [ia, ib], squeeze ? "matmul" : "")
        if squeeze {
            var d = c.dims(v)
            if db.count == 1 { d.removeLast() }
            if da.count == 1 { d.remove(at: d.count - (db.count == 1 ? 1 : 2)) }
            v = try add(.reshape(d), [v])
        }
        try define(v)
    }

    func gemm() throws {
        let A = try input(0), B = try input(1)
        let alpha = try a.float("alpha", 1), beta = try a.float("beta", 1)
        let transA = try a.int("transA", 0) != 0, transB = try a.int("transB", 0) != 0
        var ia = try onnx(A)
        guard c.dims(ia).count == 2, rank(B) == 2 else { throw fail("A and B must be matrices") }
        if transA { ia = try add(.transpose(perm: [1, 0]), [ia], "a_t") }
        let cIn = try optionalInput(2)
        if let w = constant(1), w.dtype == .f32 || w.dtype == .f16, dtype(A) == .f32 {
            let wv = try weights(w, transposed: !transB, scale: alpha, "weights")
            let n = c.dims(wv)[0]
            var bias: ValueID? = nil, later: Tracked? = nil
            if let cIn {
                if let ch = constant(2), let f = ch.floats, f.count == n || f.count == 1,
                   ch.dims.count <= 1 || (ch.dims.count == 2 && ch.dims[0] == 1) {
                    bias = c.constant(.floats(f.count == n ? f.map { $0 * beta } : [Float](repeating: f[0] * beta, count: n), dims: [n]),
                                      name: "\(try output())/bias")
                } else {
                    later = cIn
                }
            }
            var v = Tracked(id: try add(.fullyConnected(.none), [ia, wv, bias], later == nil ? "" : "fc"), perm: [0, 1])
            if let later {
                let scaledC = beta == 1 ? later : try broadcast(.mul(.none), [later, Tracked(id: scalar(beta, .f32, "beta"), perm: [])], "beta_c")
                v = try broadcast(.add(.none), [v, scaledC])
            }
            return try define(v)
        }
        var ib = try onnx(B)
        if transB { ib = try add(.transpose(perm: [1, 0]), [ib], "b_t") }
        var v = Tracked(id: try add(.matMul, [ia, ib], "matmul"), perm: [0, 1])
        if alpha != 1 { v = try broadcast(.mul(.none), [v, Tracked(id: scalar(alpha, .f32, "alpha"), perm: [])], "alpha") }
        if let cIn {
            let scaledC = beta == 1 ? cIn : try broadcast(.mul(.none), [cIn, Tracked(id: scalar(beta, .f32, "beta"), perm: [])], "beta_c")
            v = try broadcast(.add(.none), [v, scaledC], "sum")
        }
        try define(v)
    }

    // MARK: windows

    /// 2-D geometry (top/left/bottom/right pads) of a 1-D or 2-D window.
    func geometry2D(_ v: [Int], oneD: Bool, fill: Int) -> [Int] { oneD ? [fill] + v : v }

    func conv() throws {
        let x = try input(0), w = try input(1)
        let b = try optionalInput(2)
        let dw = onnxDims(w)
        guard rank(x) == rank(w), dw.count >= 3 else { throw fail("input and filter ranks differ") }
        let spatial = dw.count - 2
        let kernel = try a.ints("kernel_shape") ?? Array(dw[2...])
        let g = try windowAttributes(spatial: spatial, kernel: kernel)
        let group = try a.int("group", 1)
        guard group >= 1 else { throw fail("group \(group)") }
        let (xin, oneD) = try spatialInput(x)
        var filter = try c.inLayout(w, channelsLast(rank: dw.count), name: name) // [M, k…, C/g]
        if oneD {
            let f = c.dims(filter)
            filter = try c.reshapeValue(filter, [f[0], 1, f[1], f[2]], name: "\(try output())/filter2d")
        }
        let k2 = geometry2D(kernel, oneD: oneD, fill: 1), s2 = geometry2D(g.strides, oneD: oneD, fill: 1)
        let d2 = geometry2D(g.dilations, oneD: oneD, fill: 1)
        let p2 = oneD ? [0, g.pads[0], 0, g.pads[1]] : g.pads
        let inDims = c.dims(xin)
        var input = xin
        var padding = try self.padding(autoPad: g.autoPad, pads: p2, input: [inDims[1], inDims[2]], kernel: k2, strides: s2, dilations: d2)
        if case let .explicit(t, l, bt, r) = padding,
           windowGeometry(input: inDims[1], kernel: k2[0], stride: s2[0], dilation: d2[0], padding: padding, vertical: true) == nil
            || windowGeometry(input: inDims[2], kernel: k2[1], stride: s2[1], dilation: d2[1], padding: padding, vertical: false) == nil {
            // Pads as wide as the window: a separate zero pad.
            input = try add(.pad(before: [0, t, l, 0], after: [0, bt, r, 0]), [xin], "pad")
            padding = .valid
        }
        let attrs = Conv2DAttributes(strideH: s2[0], strideW: s2[1], dilationH: d2[0], dilationW: d2[1],
                                     padding: padding, groups: group, activation: .none)
        let bias = try b.map { try onnx($0) }
        try defineSpatial(try add(.conv2D(attrs), [input, filter, bias], oneD ? "conv" : ""), oneD: oneD)
    }

    func convTranspose() throws {
        let x = try input(0), w = try input(1)
        let b = try optionalInput(2)
        var dw = onnxDims(w)
        guard rank(x) == 4, dw.count == 4 else { throw unsupported("\(rank(x) - 2)-D ConvTranspose (2-D is supported)") }
        let groups = try a.int("group", 1)
        var kernel = try a.ints("kernel_shape") ?? Array(dw[2...])
        let g = try windowAttributes(spatial: 2, kernel: kernel)
        guard groups >= 1, dw[0] % groups == 0, onnxDims(x)[1] == dw[0] else { throw fail("group \(groups) for filter \(formatDims(dw))") }
        // A dilated filter is the filter with dilation − 1 zeros between its taps (made at import).
        var filterValue = w
        if g.dilations != [1, 1] {
            guard let k = constant(1), let f = k.floats else { throw unsupported("dilated ConvTranspose with a run-time filter") }
            let (dh, dwl) = (g.dilations[0], g.dilations[1])
            let kh = (dw[2] - 1) * dh + 1, kw = (dw[3] - 1) * dwl + 1
            var dilated = [Float](repeating: 0, count: dw[0] * dw[1] * kh * kw)
            for io in 0..<(dw[0] * dw[1]) {
                for i in 0..<dw[2] {
                    for j in 0..<dw[3] { dilated[(io * kh + i * dh) * kw + j * dwl] = f[(io * dw[2] + i) * dw[3] + j] }
                }
            }
            dw = [dw[0], dw[1], kh, kw]
            kernel = [kh, kw]
            filterValue = Tracked(id: c.constant(.floats(dilated, dims: dw), name: "\(try output())/dilated_filter"), perm: [0, 1, 2, 3])
        }
        let outputPadding = try a.ints("output_padding") ?? [0, 0]
        guard outputPadding.count == 2 else { throw fail("output_padding \(outputPadding)") }
        let xin = try c.inLayout(x, channelsLast(rank: 4), name: name)
        let filter = try c.inLayout(filterValue, [1, 2, 3, 0], name: name) // [O/group, KH, KW, I]
        let inDims = c.dims(xin)
        var out = [0, 0], begin = [0, 0]
        let shape = try a.ints("output_shape")
        for i in 0..<2 {
            let full = (inDims[1 + i] - 1) * g.strides[i] + kernel[i]
            if let shape, shape.count >= 2 {
                let o = shape[shape.count - 2 + i]
                let total = max(full + outputPadding[i] - o, 0) // a larger output grows at the end (ORT)
                begin[i] = g.autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                out[i] = o
            } else if g.autoPad == "SAME_UPPER" || g.autoPad == "SAME_LOWER" {
                let o = inDims[1 + i] * g.strides[i]
                let total = full + outputPadding[i] - o
                begin[i] = g.autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                out[i] = o
            } else {
                begin[i] = g.pads[i]
                out[i] = full + outputPadding[i] - g.pads[i] - g.pads[i + 2]
            }
        }
        let attrs = TransposeConv2DAttributes(outputHeight: out[0], outputWidth: out[1], strideH: g.strides[0], strideW: g.strides[1],
                                              padTop: begin[0], padLeft: begin[1])
        let bias = try b.map { try onnx($0) }
        guard groups > 1 else {
            return try define(try add(.transposeConv2D(attrs), [xin, filter, bias]), perm: channelsLast(rank: 4))
        }
        // Groups: each group's input channels through its slice of the filter, the outputs concatenated.
        let inPer = dw[0] / groups, outPer = dw[1]
        let fd = c.dims(filter), xd = c.dims(xin)
        var parts: [ValueID] = []
        for k in 0..<groups {
            let xs = try add(.slice(begin: [0, 0, 0, k * inPer], end: [xd[0], xd[1], xd[2], (k + 1) * inPer], strides: [1, 1, 1, 1]),
                             [xin], "group\(k)_in")
            let fs = try add(.slice(begin: [0, 0, 0, k * inPer], end: [fd[0], fd[1], fd[2], (k + 1) * inPer], strides: [1, 1, 1, 1]),
                             [filter], "group\(k)_filter")
            let bs = try bias.map { try add(.slice(begin: [k * outPer], end: [(k + 1) * outPer], strides: [1]), [$0], "group\(k)_bias") }
            parts.append(try add(.transposeConv2D(attrs), [xs, fs, bs], "group\(k)"))
        }
        try define(try add(.concat(axis: 3), parts), perm: channelsLast(rank: 4))
    }

    /// A constant of `padded`'s dims that is `value` in the padding and 0 where the `inner` input sits
    /// (`before` cells in front of it on each axis): added to a zero-padded value, it pads with `value`.
    func paddingFill(_ value: Float, inner: [Int], before: [Int], padded: ValueID, _ suffix: String) throws -> ValueID {
        let outer = c.dims(padded)
        var fill = [Float](repeating: value, count: outer.reduce(1, *))
        for o in 0..<inner.reduce(1, *) {
            var rest = o, offset = 0, scale = 1
            for k in stride(from: inner.count - 1, through: 0, by: -1) {
                offset += (rest % inner[k] + before[k]) * scale
                rest /= inner[k]; scale *= outer[k]
            }
            fill[offset] = 0
        }
        return c.constant(.floats(fill, dims: outer), name: "\(try output())/\(suffix)")
    }

    func pool(max isMax: Bool) throws {
        let x = try input(0)
        guard !usesOutput(1) else { throw unsupported("the Indices output") }
        guard let kernel = try a.ints("kernel_shape") else { throw fail("needs kernel_shape") }
        let g = try windowAttributes(spatial: rank(x) - 2, kernel: kernel)
        guard g.dilations.allSatisfy({ $0 == 1 }), rank(x) <= 4 else {
            return try poolByTaps(max: isMax, kernel: kernel, strides: g.strides, dilations: g.dilations, pads: g.pads, autoPad: g.autoPad)
        }
        let ceil = try a.int("ceil_mode", 0) != 0
        let countPads = try !isMax && a.int("count_include_pad", 0) != 0
        let (xin, oneD) = try spatialInput(x)
        let k2 = geometry2D(kernel, oneD: oneD, fill: 1), s2 = geometry2D(g.strides, oneD: oneD, fill: 1)
        var p2 = oneD ? [0, g.pads[0], 0, g.pads[1]] : g.pads
        let inDims = c.dims(xin)
        var input = xin
        var padding = try self.padding(autoPad: g.autoPad, pads: p2, input: [inDims[1], inDims[2]], kernel: k2, strides: s2,
                                       dilations: [1, 1])
        var size = [inDims[1], inDims[2]]
        // A ceil-mode window must start inside the input or its leading padding.
        var startLimit = [inDims[1] + p2[0], inDims[2] + p2[1]]
        if countPads, case let .explicit(t, l, b, r) = padding {
            // Padding that counts toward the average: zeros, then windows over the padded input.
            input = try add(.pad(before: [0, t, l, 0], after: [0, b, r, 0]), [xin], "pad")
            size = [inDims[1] + t + b, inDims[2] + l + r]
            startLimit = [inDims[1] + t, inDims[2] + l]
            p2 = [0, 0, 0, 0]
            padding = .valid
        } else if countPads, padding == .same {
            throw unsupported("count_include_pad with auto_pad SAME")
        }
        if ceil {
            guard g.autoPad == "NOTSET" || g.autoPad == "VALID" else { throw unsupported("ceil_mode with auto_pad \(g.autoPad)") }
            for i in 0..<2 {
                let span = size[i] + p2[i] + p2[i + 2] - k2[i]
                guard span >= 0 else { throw fail("window larger than the padded input") }
                var out = (span + s2[i] - 1) / s2[i] + 1
                if (out - 1) * s2[i] >= startLimit[i] { out -= 1 }
                p2[i + 2] += max((out - 1) * s2[i] + k2[i] - (size[i] + p2[i] + p2[i + 2]), 0)
            }
            padding = p2.allSatisfy({ $0 == 0 }) ? .valid : .explicit(top: p2[0], left: p2[1], bottom: p2[2], right: p2[3])
        }
        if case .explicit = padding,
           windowGeometry(input: size[0], kernel: k2[0], stride: s2[0], dilation: 1, padding: padding, vertical: true) == nil
            || windowGeometry(input: size[1], kernel: k2[1], stride: s2[1], dilation: 1, padding: padding, vertical: false) == nil {
            throw unsupported("pads as wide as the window")
        }
        let attrs = Pool2DAttributes(kernelH: k2[0], kernelW: k2[1], strideH: s2[0], strideW: s2[1], padding: padding)
        try defineSpatial(try add(isMax ? .maxPool2D(attrs) : .averagePool2D(attrs), [input], oneD ? "pool" : ""), oneD: oneD)
    }

    /// The output dims and per-axis scales of a Resize / Upsample of `d` (any rank), from its scales
    /// or sizes input and `axes` / `keep_aspect_ratio_policy`, as the ONNX reference computes them.
    func resizeTarget(_ d: [Int]) throws -> (out: [Int], scales: [Double]) {
        let r = d.count
        let axes = try (a.ints("axes") ?? Array(0..<r)).map { try axis($0, rank: r) }
        let policy = try a.string("keep_aspect_ratio_policy", "stretch")
        /// Values given for `axes` spread over all dims (`fill` for the others).
        func full<T>(_ v: [T], _ fill: (Int) -> T) throws -> [T] {
            guard v.count == axes.count else { throw fail("\(v.count) values for \(axes.count) axes") }
            return (0..<r).map { i in axes.firstIndex(of: i).map { v[$0] } ?? fill(i) }
        }
        let scalesInput = node.opType == "Upsample" || opset < 11 ? 1 : 2
        var scales: [Float]? = nil
        if node.opType == "Upsample" && opset < 9 {
            scales = try a.floats("scales")
        } else if has(scalesInput), let s = constant(scalesInput)?.floats, !s.isEmpty {
            scales = try full(s) { _ in 1 }
        }
        if opset >= 11, let given = try ints(3, "sizes") {
            var sizes = try full(given) { d[$0] }
            guard sizes.allSatisfy({ $0 >= 1 }) else { throw fail("sizes \(sizes)") }
            var ratios = (0..<r).map { Double(sizes[$0]) / Double(d[$0]) }
            if policy != "stretch" {
                // One scale for every listed axis: the largest that fits (not_larger) or the smallest that covers.
                let listed = axes.map { ratios[$0] }
                let s = policy == "not_larger" ? listed.min() ?? 1 : listed.max() ?? 1
                for i in axes { sizes[i] = Int(Double(d[i]) * s + 0.5); ratios[i] = s }
            }
            return (sizes, ratios)
        }
        guard let scales else { throw needed(has(3) ? 3 : scalesInput, "scales or sizes") }
        guard scales.count == r, scales.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw fail("scales \(scales)") }
        let out = zip(d, scales).map { Int((Float($0) * $1).rounded(.down)) }
        guard out.allSatisfy({ $0 >= 1 }) else { throw fail("scales \(scales) give \(formatDims(out))") }
        return (out, scales.map { Double($0) })
    }

    func resize() throws {
        let x = try input(0)
        let d = onnxDims(x)
        let mode = try a.string("mode", "nearest")
        guard ["nearest", "linear", "bilinear", "cubic"].contains(mode) else { throw unsupported("mode '\(mode)'") }
        let transform = try a.string("coordinate_transformation_mode", opset >= 11 ? "half_pixel" : "asymmetric")
        let nearestMode = try a.string("nearest_mode", "round_prefer_floor")
        let (out, axisScales) = try resizeTarget(d)
        // What Ember's (TFLite's) resize kernel cannot sample the ONNX way goes through the separable form.
        guard d.count == 4, mode != "cubic", try a.int("antialias", 0) == 0, try a.int("exclude_outside", 0) == 0,
              ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"].contains(transform),
              ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"].contains(nearestMode),
              out[0] == d[0], out[1] == d[1] else {
            return try resizeSeparable(x, out: out, scales: axisScales)
        }
        let scales: [Float]? = axisScales.map { Float($0) }
        // Ember's resize follows TFLite; the flags that reproduce ONNX's sampling on every output index are chosen here.
        let bilinear = mode != "nearest"
        func onnxCoordinate(_ o: Int, _ axis: Int) throws -> Double {
            let inSize = Double(d[axis]), outSize = Double(out[axis])
            let scale = scales.map { Double($0[axis]) } ?? outSize / inSize
            let x = Double(o)
            switch transform {
            case "half_pixel": return (x + 0.5) / scale - 0.5
            case "pytorch_half_pixel": return outSize > 1 ? (x + 0.5) / scale - 0.5 : 0
            // The reference divides by scale × input size, which is not the output size when the scale does not divide evenly.
            case "align_corners": return scale * inSize == 1 ? 0 : x * (inSize - 1) / (scale * inSize - 1)
            case "asymmetric": return x / scale
            default: throw unsupported("coordinate_transformation_mode '\(transform)'")
            }
        }
        func onnxIndex(_ coord: Double, _ inSize: Int) throws -> Int {
            let f = coord.rounded(.down)
            let i: Double
            switch nearestMode {
            case "round_prefer_floor": i = coord - f == 0.5 ? f : coord.rounded()
            case "round_prefer_ceil": i = coord - f == 0.5 ? f + 1 : coord.rounded()
            case "floor": i = f
            case "ceil": i = coord.rounded(.up)
            default: throw unsupported("nearest_mode '\(nearestMode)'")
            }
            return Int(i).clamped(to: 0...(inSize - 1))
        }
        func emberSample(_ o: Int, _ axis: Int, align: Bool, half: Bool) -> Double {
            let inSize = Double(d[axis]), outSize = Double(out[axis])
            let scale = align && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize
            let x = Double(o)
            if bilinear { return half ? (x + 0.5) * scale - 0.5 : x * scale }
            let v = align ? (x * scale).rounded(.toNearestOrAwayFromZero) : (half ? (x + 0.5) * scale : x * scale).rounded(.down)
            return Double(Int(v).clamped(to: 0...(d[axis] - 1)))
        }
        var chosen: (Bool, Bool)? = nil
        for (align, half) in [(false, false), (false, true), (true, false)] where chosen == nil {
            var same = true
            for axis in 2..<4 where same {
                for o in 0..<out[axis] {
                    let onnx = try onnxCoordinate(o, axis)
                    let ember = emberSample(o, axis, align: align, half: half)
                    if bilinear {
                        let clampedONNX = min(max(onnx, 0), Double(d[axis] - 1)), clampedEmber = min(max(ember, 0), Double(d[axis] - 1))
                        if abs(clampedONNX - clampedEmber) > 1e-5 * max(1, abs(clampedONNX)) { same = false; break }
                    } else if Double(try onnxIndex(onnx, d[axis])) != ember {
                        same = false; break
                    }
                }
            }
            if same { chosen = (align, half) }
        }
        guard let (align, half) = chosen else { return try resizeSeparable(x, out: out, scales: axisScales) }
        let attrs = ResizeAttributes(height: out[2], width: out[3], bilinear: bilinear, alignCorners: align, halfPixelCenters: half)
        let v = try c.inLayout(x, channelsLast(rank: 4), name: name)
        try define(try add(.resize(attrs), [v]), perm: channelsLast(rank: 4))
    }

    // MARK: quantization

    /// Per-tensor scale and zero point of a QuantizeLinear / DequantizeLinear node.
    func quantization() throws -> (QuantParams, DType) {
        guard has(1), let scale = constant(1)?.floats else { throw needed(1, "the scale") }
        guard scale.count == 1 else { throw unsupported("per-axis quantization (\(scale.count) scales)") }
        let zp = constant(2)
        let dtype = zp?.dtype ?? .u8
        guard [.u8, .i8, .u16, .i16].contains(dtype) else {
            throw unsupported("\(dtype) quantization (int8, uint8, int16 and uint16 are supported)")
        }
        guard let z = zp?.ints?.first ?? (has(2) ? nil : 0) else { throw needed(2, "the zero point") }
        // ONNX rounds as ORT does: QuantizeLinear to nearest even, int8 ops folded from Q/DQ pairs
        // with float scales (QuantParams.Requantization).
        var q = QuantParams(scale: scale[0], zeroPoint: Int32(z))
        q.requantization = .float
        return (q, dtype)
    }

    func quantizeLinear() throws {
        let (q, dtype) = try quantization()
        if let k = constant(0), let v = k.floats {
            // A constant quantized at import (ONNX rounds half to even, then saturates).
            let (lo, hi) = codeRange(dtype)
            let codes = v.map { x -> Int in
                let r = (x / q.scale).rounded(.toNearestOrEven)
                return r.isNaN ? Int(q.zeroPoint) : min(max(Int(max(min(r, 1e6), -1e6)) + Int(q.zeroPoint), lo), hi)
            }
            return try defineConstant(.integers(codes, dtype: dtype, dims: k.dims))
        }
        let x = try input(0)
        guard self.dtype(x) == .f32 else { throw unsupported("quantizing \(self.dtype(x))") }
        if dtype == .i16 || dtype == .u16 {
            // 16-bit codes are plain integers in Ember: round-half-even(x / scale) + zp, saturated, in f32
            // (exact for every 16-bit code), then cast.
            let (lo, hi) = codeRange(dtype)
            let scaled = try broadcast(.div(.none), [x, scalarTracked(q.scale, "scale")], "scaled")
            let rounded = try unary(.unary(.round), scaled)
            var v = try broadcast(.add(.none), [rounded, scalarTracked(Float(q.zeroPoint), "zero_point")], "shifted")
            v = try broadcast(.maximum, [v, scalarTracked(Float(lo), "lowest")], "lo")
            v = try broadcast(.minimum, [v, scalarTracked(Float(hi), "highest")], "hi")
            return try define(try add(.cast(dtype), [v.id], dtype: dtype), perm: v.perm)
        }
        // uint8 codes inside the graph become int8 codes 128 lower with the zero point 128 lower: the
        // same real values, and every int8 kernel applies (ORT runs MaxPool and friends on uint8).
        if dtype == .u8, !c.isGraphOutput(try output()) {
            var shifted = q
            shifted.zeroPoints = [q.zeroPoint - 128]
            return try define(try add(.quantize(.i8), [x.id], dtype: .i8, quant: shifted), perm: x.perm)
        }
        try define(try add(.quantize(dtype), [x.id], dtype: dtype, quant: q), perm: x.perm)
    }

    func dequantizeLinear() throws {
        if let k = constant(0), let v = k.ints, let s = constant(1), let scale = s.floats, !has(2) || constant(2) != nil {
            return try defineConstant(.floats(try dequantized(v, dims: k.dims, scale: s, scales: scale), dims: k.dims))
        }
        let x = try input(0) // after the constant case, so a folded weight leaves no integer constant behind
        if (constant(1)?.elementCount ?? 1) > 1 || (constant(2)?.elementCount ?? 1) > 1 {
            return try dequantizeInFloat(x)
        }
        var (q, zeroPointType) = try quantization()
        if zeroPointType == .i16 || zeroPointType == .u16 { return try dequantizeInFloat(x) }
        if zeroPointType == .u8, dtype(x) == .i8 { // a uint8 value kept as int8 (quantizeLinear)
            q.zeroPoints = [q.zeroPoint - 128]
        }
        if let existing = c.values[x.id].quant {
            guard existing.scales == q.scales, existing.zeroPoints == q.zeroPoints, existing.axis == q.axis else {
                throw unsupported("a scale or zero point that differs from the input's")
            }
        } else {
            c.values[x.id].quant = q
        }
        try define(try add(.dequantize, [x.id]), perm: x.perm)
    }

    /// DequantizeLinear of a run-time tensor as (x − zp) · scale in f32 (exact up to the product, as ONNX
    /// defines it): for 16-bit codes, and for a scale or zero point per index of `axis` (the constants
    /// then shaped to broadcast along the axis).
    func dequantizeInFloat(_ x: Tracked) throws {
        guard try a.int("block_size", 0) <= 0 else { throw unsupported("blocked quantization of a run-time tensor") }
        guard let s = constant(1), let scales = s.floats else { throw needed(1, "the scale") }
        var zeroPoints = [0]
        if has(2) {
            guard let z = constant(2)?.ints else { throw needed(2, "the zero point") }
            zeroPoints = z
        }
        var shape: [Int] = []  // one scale and one zero point: scalars
        if scales.count > 1 || zeroPoints.count > 1 {
            let dims = onnxDims(x), axis = try self.axis(try a.int("axis", 1), rank: dims.count), n = dims[axis]
            for (what, count) in [("scales", scales.count), ("zero points", zeroPoints.count)] where count != 1 && count != n {
                throw fail("\(count) \(what) for axis \(axis) of \(n)")
            }
            shape = [n] + [Int](repeating: 1, count: dims.count - axis - 1)
        }
        func perAxis(_ v: [Float], _ suffix: String) -> Tracked {
            let full = v.count == 1 ? [Float](repeating: v[0], count: shape.first ?? 1) : v
            return Tracked(id: c.constant(.floats(full, dims: shape), name: "\(node.output.first ?? name)/\(suffix)"),
                           perm: Array(0..<shape.count))
        }
        let wide = try unary(.cast(.f32), x)
        let centred = try broadcast(.sub(.none), [wide, perAxis(zeroPoints.map { Float($0) }, "zero_points")], "centred")
        try define(try broadcast(.mul(.none), [centred, perAxis(scales, "scales")]))
    }

    /// The codes a quantized type holds.
    func codeRange(_ dtype: DType) -> (Int, Int) {
        switch dtype {
        case .u8: return (0, 255)
        case .i16: return (-32768, 32767)
        case .u16: return (0, 65535)
        default: return (-128, 127)
        }
    }

    /// Constant integers dequantized at import (QDQ weights and int32 biases): one scale, one per `axis`
    /// index, or one per `block_size` run along `axis` (opset 21's blocked form); zero points alike.
    func dequantized(_ v: [Int], dims: [Int], scale s: HostTensor, scales: [Float]) throws -> [Float] {
        let zeroPoints = constant(2)?.ints ?? [0]
        // One scale with a zero point per index (ConvInteger's weights) is that scale on every index.
        let scales = scales.count == 1 && zeroPoints.count > 1 ? [Float](repeating: scales[0], count: zeroPoints.count) : scales
        guard zeroPoints.count == scales.count || zeroPoints.count == 1 else {
            throw fail("\(zeroPoints.count) zero points for \(scales.count) scales")
        }
        func z(_ k: Int) -> Int { zeroPoints.count == 1 ? zeroPoints[0] : zeroPoints[k] }
        guard scales.count > 1 else { return v.map { Float($0 - z(0)) * scales[0] } }
        let axis = try self.axis(try a.int("axis", 1), rank: dims.count)
        let n = dims[axis], inner = dims[(axis + 1)...].reduce(1, *), block = try a.int("block_size", 0)
        var scaleIndex: (Int) -> Int
        if block <= 0 {
            guard scales.count == n else { throw fail("\(scales.count) scales for axis \(axis) of \(n)") }
            scaleIndex = { ($0 / inner) % n }
        } else {
            var want = dims
            want[axis] = (n + block - 1) / block
            guard s.dims == want else { throw fail("blocked scales \(s.dims) for \(dims) in blocks of \(block) (want \(want))") }
            let blocks = want[axis]
            scaleIndex = { i in ((i / (n * inner)) * blocks + (i / inner) % n / block) * inner + i % inner }
        }
        return v.indices.map { i in
            let k = scaleIndex(i)
            return Float(v[i] - z(k)) * scales[k]
        }
    }

    // MARK: folding

    /// Integer shape math on constants (Add, Mul, Equal, Where, Concat, Gather… of small int64/int32/bool
    /// tensors, as exporters write for Reshape targets) computed at import. False when this node is not that.
    func foldIntegers() throws -> Bool {
        var hs: [HostTensor] = []
        for k in 0..<node.input.count where has(k) {
            guard let h = constant(k), [.i64, .i32, .bool].contains(h.dtype), h.elementCount <= 1 << 16 else { return false }
            hs.append(h)
        }
        guard !hs.isEmpty else { return false }
        let values = hs.map { $0.ints ?? [] }
        switch node.opType {
        case "Concat":
            let axis = try self.axis(try a.int("axis", 0), rank: hs[0].dims.count)
            var dims = hs[0].dims
            guard hs.allSatisfy({ $0.dims.count == dims.count && $0.dtype == hs[0].dtype }) else { throw fail("inputs differ in rank or type") }
            dims[axis] = hs.map { $0.dims[axis] }.reduce(0, +)
            let outer = dims[..<axis].reduce(1, *)
            var out: [Int] = []
            for o in 0..<outer {
                for (h, v) in zip(hs, values) {
                    let chunk = h.dims[axis...].reduce(1, *)
                    out += v[(o * chunk)..<((o + 1) * chunk)]
                }
            }
            try defineConstant(.integers(out, dtype: hs[0].dtype, dims: dims))
        case "Gather":
            guard hs.count == 2 else { return false }
            let p = hs[0], axis = try self.axis(try a.int("axis", 0), rank: p.dims.count)
            let outer = p.dims[..<axis].reduce(1, *), inner = p.dims[(axis + 1)...].reduce(1, *), n = p.dims[axis]
            var out: [Int] = []
            for o in 0..<outer {
                for i in values[1] {
                    let k = i < 0 ? i + n : i
                    guard k >= 0, k < n else { throw fail("index \(i) outside dim \(n)") }
                    out += values[0][((o * n + k) * inner)..<((o * n + k + 1) * inner)]
                }
            }
            try defineConstant(.integers(out, dtype: p.dtype, dims: Array(p.dims[..<axis]) + hs[1].dims + Array(p.dims[(axis + 1)...])))
        default:
            guard hs.count >= 2 else { return false }
            var dims = hs[0].dims
            for h in hs.dropFirst() {
                guard let b = broadcastDims(dims, h.dims) else { throw fail("shapes do not broadcast") }
                dims = b
            }
            let maps = hs.map { broadcastIndices(dims, $0.dims) }
            let count = dims.reduce(1, *)
            var out: [Int] = []
            out.reserveCapacity(count)
            var dtype = hs[0].dtype
            for o in 0..<count {
                let x = values[0][maps[0][o]], y = values[1][maps[1][o]]
                switch node.opType {
                case "Add": out.append(x &+ y)
                case "Sub": out.append(x &- y)
                case "Mul": out.append(x &* y)
                case "Div":
                    guard y != 0 else { throw fail("integer division by zero") }
                    out.append(x / y)
                case "Mod": // fmod=0: the result takes the divisor's sign, as Python's %
                    guard y != 0 else { throw fail("integer modulo by zero") }
                    let r = x % y
                    out.append(r != 0 && (r < 0) != (y < 0) ? r + y : r)
                case "Equal": out.append(x == y ? 1 : 0); dtype = .bool
                case "Less": out.append(x < y ? 1 : 0); dtype = .bool
                case "LessOrEqual": out.append(x <= y ? 1 : 0); dtype = .bool
                case "Greater": out.append(x > y ? 1 : 0); dtype = .bool
                case "GreaterOrEqual": out.append(x >= y ? 1 : 0); dtype = .bool
                case "And": out.append(x != 0 && y != 0 ? 1 : 0); dtype = .bool
                case "Or": out.append(x != 0 || y != 0 ? 1 : 0); dtype = .bool
                case "Xor": out.append((x != 0) != (y != 0) ? 1 : 0); dtype = .bool
                case "Where":
                    guard hs.count == 3 else { return false }
                    out.append(x != 0 ? y : values[2][maps[2][o]]); dtype = hs[1].dtype
                default: return false
                }
            }
            try defineConstant(.integers(out, dtype: dtype, dims: dims))
        }
        return true
    }
}

/// For each element of `out` (row-major), the index of the element of a tensor of `dims` that numpy
/// broadcasting reads for it.
func broadcastIndices(_ out: [Int], _ dims: [Int]) -> [Int] {
    let r = out.count
    let aligned = [Int](repeating: 1, count: r - dims.count) + dims
    var strides = [Int](repeating: 0, count: r)
    var s = 1
    for k in stride(from: r - 1, through: 0, by: -1) {
        strides[k] = aligned[k] == 1 ? 0 : s
        s *= aligned[k]
    }
    var result = [Int](repeating: 0, count: out.reduce(1, *))
    forEachSourceIndex(out, strides: strides) { o, src in result[o] = src }
    return result
}
