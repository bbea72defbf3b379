// One entry per ONNX op type: how a node of that type becomes Ember ops. The shared moves
// (layout alignment of elementwise inputs, axis mapping, import-time folding of shape math)
// live in NodeContext and ONNXConverter; an entry only says what is particular to its op.
import EmberCore

typealias ONNXHandler = @Sendable (inout NodeContext) throws -> Void

/// One node being converted: its inputs, attributes and outputs, with the converter's helpers.
struct NodeContext {
    let converter: ONNXConverter
    let node: Onnx_NodeProto
    let attributes: ONNXAttributes
    let name: String

    var c: ONNXConverter { converter }
    var opset: Int { converter.opset }
    var a: ONNXAttributes { attributes }

    // MARK: inputs

    func has(_ k: Int) -> Bool { k < node.input.count && !node.input[k].isEmpty }

    func input(_ k: Int) throws -> Tracked {
        guard has(k) else { throw fail("input \(k) is required") }
        return try c.tracked(node.input[k], node: name)
    }

    func optionalInput(_ k: Int) throws -> Tracked? { has(k) ? try input(k) : nil }

    /// Input k when its value is known at import (initializer, Constant, folded).
    func constant(_ k: Int) -> HostTensor? { has(k) ? c.constants[node.input[k]] : nil }

    /// Input k as integers; it must be known at import. nil when the input is absent.
    func ints(_ k: Int, _ what: String) throws -> [Int]? {
        guard has(k) else { return nil }
        guard let h = constant(k) else { throw needed(k, what) }
        guard let v = h.ints else { throw fail("\(what) must be integers, got \(h.dtype)") }
        return v
    }

    func floatScalar(_ k: Int, _ what: String) throws -> Float? {
        guard has(k) else { return nil }
        guard let h = constant(k) else { throw needed(k, what) }
        guard let v = h.floats, v.count == 1 else { throw fail("\(what) must be a scalar") }
        return v[0]
    }

    /// The error for a parameter input that is computed at run time; it names the input, which
    /// `ember pack --freeze NAME=FILE` can fix when it is a graph input.
    func needed(_ k: Int, _ what: String) -> EmberError {
        unsupported("\(what) (input '\(node.input[k])') must be known at import")
    }

    func onnxDims(_ t: Tracked) -> [Int] { c.onnxDims(t) }
    func dtype(_ t: Tracked) -> DType { c.values[t.id].dtype }
    func rank(_ t: Tracked) -> Int { t.perm.count }
    func isConstant(_ t: Tracked) -> Bool { c.values[t.id].constant != nil }

    /// `t` in ONNX's own layout.
    func onnx(_ t: Tracked) throws -> ValueID { try c.inLayout(t, Array(0..<t.perm.count), name: name) }

    /// Axis `axis` of ONNX (negative counts from the end) checked against `rank`.
    func axis(_ axis: Int, rank: Int) throws -> Int {
        let r = axis < 0 ? axis + rank : axis
        guard r >= 0, r < max(rank, 1) else { throw fail("axis \(axis) outside rank \(rank)") }
        return r
    }

    /// Where ONNX axis `axis` of `t` sits in its Ember layout.
    func emberAxis(_ t: Tracked, _ axis: Int) throws -> Int {
        let r = try self.axis(axis, rank: rank(t))
        return t.perm.firstIndex(of: r) ?? r
    }

    // MARK: outputs

    var outputCount: Int { node.output.count }

    func output(_ k: Int = 0) throws -> String {
        guard k < node.output.count, !node.output[k].isEmpty else { throw fail("output \(k) is missing") }
        return node.output[k]
    }

    func usesOutput(_ k: Int) -> Bool { k < node.output.count && !node.output[k].isEmpty }

    /// Binds output k to an Ember value in layout `perm` (ONNX's own when nil).
    func define(_ id: ValueID, perm: [Int]? = nil, output k: Int = 0) throws {
        let n = try output(k)
        c.env[n] = Tracked(id: id, perm: perm ?? Array(0..<c.dims(id).count))
    }

    func define(_ t: Tracked, output k: Int = 0) throws { try define(t.id, perm: t.perm, output: k) }

    /// Output k is known at import.
    func defineConstant(_ h: HostTensor, output k: Int = 0) throws {
        try LoadLimits.check("constant '\(try output(k))'", needs: h.elementCount, limit: c.limits.maxTensorElements, unit: "elements")
        c.constants[try output(k)] = h
    }

    /// Adds a node named after output 0 (plus `suffix` for a lowering's intermediate steps).
    func add(_ op: Op, _ inputs: [ValueID?], _ suffix: String = "", dtype: DType? = nil, quant: QuantParams? = nil) throws -> ValueID {
        let base = node.output.first.flatMap { $0.isEmpty ? nil : $0 } ?? name
        return try c.add(op, inputs, name: suffix.isEmpty ? base : "\(base)/\(suffix)", outputDType: dtype, quant: quant)
    }

    /// A scalar constant of `dtype` (float or integer) for lowerings.
    func scalar(_ v: Float, _ dtype: DType = .f32, _ suffix: String) -> ValueID {
        let h = dtype == .f32 ? HostTensor.floats([v], dims: []) : HostTensor.integers([Int(v)], dtype: dtype, dims: [])
        return c.constant(h, name: "\(node.output.first ?? name)/\(suffix)")
    }

    /// A float scalar constant as an operand of `broadcast`.
    func scalarTracked(_ v: Float, _ suffix: String) -> Tracked { Tracked(id: scalar(v, .f32, suffix), perm: []) }

    /// `t` with new ONNX dims (a constant is reshaped at import).
    func reshaped(_ t: Tracked, _ dims: [Int], _ suffix: String) throws -> ValueID {
        try c.reshapeValue(try onnx(t), dims, name: "\(node.output.first ?? name)/\(suffix)")
    }

    func fail(_ reason: String) -> EmberError { .invalidGraph(node: name, reason: "\(node.opType): \(reason)") }
    func unsupported(_ reason: String) -> EmberError { .unsupported(node: name, reason: "\(node.opType): \(reason)") }

    // MARK: shared conversions

    /// A one-input op that keeps its input's layout.
    func unary(_ op: Op, _ x: Tracked? = nil) throws -> Tracked {
        let x = try x ?? input(0)
        return Tracked(id: try add(op, [x.id]), perm: x.perm)
    }

    /// An op with numpy broadcasting over `inputs`: lower-rank inputs get leading 1s, every input
    /// takes the layout of the first full-rank non-constant input not in ONNX layout.
    func broadcast(_ op: Op, _ inputs: [Tracked], _ suffix: String = "", dtype: DType? = nil) throws -> Tracked {
        let r = inputs.map { $0.perm.count }.max() ?? 0
        let identity = Array(0..<r)
        let lead = inputs.first { $0.perm.count == r && $0.perm != identity && !isConstant($0) }
        let perm = lead?.perm ?? identity
        var ids: [ValueID] = []
        for (k, t) in inputs.enumerated() {
            if perm == identity || (elementCount(c.dims(t.id)) == 1 && c.dims(t.id).count <= r) {
                ids.append(try onnx(t)) // numpy broadcasting handles lower ranks
                continue
            }
            var full = t
            if t.perm.count < r {
                let d = onnxDims(t)
                full = Tracked(id: try reshaped(t, [Int](repeating: 1, count: r - d.count) + d, "rank\(k)"), perm: identity)
            }
            ids.append(try c.inLayout(full, perm, name: name))
        }
        return Tracked(id: try add(op, ids, suffix, dtype: dtype), perm: perm)
    }

    /// Inputs brought to one layout (the first non-constant's), for concat and friends.
    func aligned(_ inputs: [Tracked]) throws -> ([ValueID], [Int]) {
        let lead = inputs.first { !isConstant($0) } ?? inputs[0]
        return (try inputs.map { try c.inLayout($0, lead.perm, name: name) }, lead.perm)
    }

    /// The layout left after reducing Ember dims `removed` of a value in layout `perm`.
    func reducedPerm(_ perm: [Int], removing removed: Set<Int>) -> [Int] {
        let gone = removed.map { perm[$0] }
        return perm.enumerated().filter { !removed.contains($0.offset) }.map { _, p in p - gone.filter { $0 < p }.count }
    }

    /// The spatial geometry attributes of conv and pooling nodes over `spatial` axes.
    func windowAttributes(spatial: Int, kernel: [Int]) throws -> (strides: [Int], dilations: [Int], pads: [Int], autoPad: String) {
        let strides = try a.ints("strides") ?? [Int](repeating: 1, count: spatial)
        let dilations = try a.ints("dilations") ?? [Int](repeating: 1, count: spatial)
        let pads = try a.ints("pads") ?? [Int](repeating: 0, count: 2 * spatial)
        let autoPad = try a.string("auto_pad", "NOTSET")
        guard strides.count == spatial, dilations.count == spatial, pads.count == 2 * spatial, kernel.count == spatial,
              strides.allSatisfy({ $0 >= 1 }), dilations.allSatisfy({ $0 >= 1 }), pads.allSatisfy({ $0 >= 0 }),
              kernel.allSatisfy({ $0 >= 1 }) else {
            throw fail("strides \(strides), dilations \(dilations), pads \(pads), kernel \(kernel) do not fit \(spatial) spatial axes")
        }
        return (strides, dilations, pads, autoPad)
    }

    /// Ember padding for 2-D windows from ONNX auto_pad / pads (top, left, bottom, right).
    func padding(autoPad: String, pads: [Int], input: [Int], kernel: [Int], strides: [Int], dilations: [Int]) throws -> Padding {
        switch autoPad {
        case "NOTSET":
            if pads.allSatisfy({ $0 == 0 }) { return .valid }
            return .explicit(top: pads[0], left: pads[1], bottom: pads[2], right: pads[3])
        case "VALID": return .valid
        case "SAME_UPPER": return .same
        case "SAME_LOWER":
            var p = [0, 0, 0, 0]
            for i in 0..<2 {
                let out = (input[i] + strides[i] - 1) / strides[i]
                let total = max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - input[i], 0)
                p[i] = total - total / 2; p[i + 2] = total / 2
            }
            return .explicit(top: p[0], left: p[1], bottom: p[2], right: p[3])
        default: throw fail("auto_pad '\(autoPad)'")
        }
    }

    /// A channels-last spatial value of rank 4 for a 1-D or 2-D window op: 1-D inputs
    /// [N, C, L] (channels-last [N, L, C]) become [N, 1, L, C] by a reshape.
    func spatialInput(_ x: Tracked) throws -> (ValueID, oneD: Bool) {
        let r = rank(x)
        guard r == 3 || r == 4 else { throw unsupported("\(r - 2)-D windows (1-D and 2-D are supported)") }
        let v = try c.inLayout(x, channelsLast(rank: r), name: name)
        guard r == 3 else { return (v, false) }
        let d = c.dims(v)
        return (try add(.reshape([d[0], 1, d[1], d[2]]), [v], "as2d"), true)
    }

    /// Defines output 0 from a rank-4 channels-last result, undoing `spatialInput`'s 1-D reshape.
    func defineSpatial(_ v: ValueID, oneD: Bool) throws {
        if oneD {
            let d = c.dims(v)
            try define(try add(.reshape([d[0], d[2], d[3]]), [v], "as1d"), perm: channelsLast(rank: 3))
        } else {
            try define(v, perm: channelsLast(rank: 4))
        }
    }
}

extension ONNXImporter {
    /// Every ONNX op this importer converts, by op type.
    static let handlers: [String: ONNXHandler] = {
        var h: [String: ONNXHandler] = [:]
        let unaryFunctions: [(String, UnaryFunction)] = [
            ("Abs", .abs), ("Neg", .neg), ("Sqrt", .sqrt), ("Exp", .exp), ("Log", .log), ("Floor", .floor), ("Ceil", .ceil),
            ("Round", .round), ("Sin", .sin), ("Cos", .cos), ("Sign", .sign), ("Erf", .erf), ("Reciprocal", .reciprocal),
            ("Softplus", .softplus),
        ]
        for (type, f) in unaryFunctions {
            h[type] = { n in
                if let k = n.constant(0), let v = k.ints, k.dtype != .bool, f == .neg || f == .abs || f == .sign {
                    // Shape math (Neg of an axis count in exported LayerNorm functions).
                    let r = v.map { f == .neg ? -$0 : f == .abs ? abs($0) : $0.signum() }
                    return try n.defineConstant(.integers(r, dtype: k.dtype, dims: k.dims))
                }
                try n.define(try n.unary(.unary(f)))
            }
        }
        h["Relu"] = { n in try n.define(try n.unary(.relu)) }
        h["Sigmoid"] = { n in try n.define(try n.unary(.sigmoid)) }
        h["Tanh"] = { n in try n.define(try n.unary(.tanh)) }
        h["HardSwish"] = { n in try n.define(try n.unary(.hardSwish)) }
        h["LeakyRelu"] = { n in try n.define(try n.unary(.leakyRelu(alpha: try n.a.float("alpha", 0.01)))) }
        h["Gelu"] = { n in
            let approximate = try n.a.string("approximate", "none")
            guard approximate == "none" || approximate == "tanh" else { throw n.fail("approximate '\(approximate)'") }
            try n.define(try n.unary(approximate == "tanh" ? .unary(.geluTanh) : .gelu))
        }
        h["Elu"] = { n in try n.define(try n.elu(alpha: try n.a.float("alpha", 1), scale: 1)) }
        h["Selu"] = { n in
            try n.define(try n.elu(alpha: try n.a.float("alpha", 1.67326319217681884765625),
                                   scale: try n.a.float("gamma", 1.05070102214813232421875)))
        }
        h["Celu"] = { n in try n.define(try n.celu(alpha: try n.a.float("alpha", 1))) }
        h["HardSigmoid"] = { n in
            try n.define(try n.hardSigmoid(try n.input(0), alpha: try n.a.float("alpha", 0.2), beta: try n.a.float("beta", 0.5)))
        }
        h["Softsign"] = { n in
            let x = try n.input(0)
            let absX = try n.unary(.unary(.abs), x)
            let denominator = try n.broadcast(.add(.none), [absX, Tracked(id: n.scalar(1, .f32, "one"), perm: [])], "denominator")
            try n.define(try n.broadcast(.div(.none), [x, denominator]))
        }
        h["Mish"] = { n in
            let x = try n.input(0)
            let sp = try n.unary(.unary(.softplus), x)
            let t = Tracked(id: try n.add(.tanh, [sp.id], "tanh"), perm: sp.perm)
            try n.define(try n.broadcast(.mul(.none), [x, t]))
        }
        h["ThresholdedRelu"] = { n in
            let x = try n.input(0)
            let alpha = Tracked(id: n.scalar(try n.a.float("alpha", 1), .f32, "alpha"), perm: [])
            let zero = Tracked(id: n.scalar(0, .f32, "zero"), perm: [])
            let above = try n.broadcast(.compare(.greater), [x, alpha], "above")
            try n.define(try n.broadcast(.select, [above, x, zero]))
        }
        h["Clip"] = { n in
            let x = try n.input(0)
            var lo: Float? = nil, hi: Float? = nil
            if n.opset < 11 {
                lo = try n.a.float("min", -Float.greatestFiniteMagnitude); hi = try n.a.float("max", Float.greatestFiniteMagnitude)
            } else {
                lo = try n.floatScalar(1, "min"); hi = try n.floatScalar(2, "max")
            }
            let dt = n.dtype(x)
            if dt == .f32, lo == 0, hi == 6 { return try n.define(try n.unary(.relu6, x)) }
            if dt == .f32, lo == 0, hi == nil { return try n.define(try n.unary(.relu, x)) }
            var v = x
            if let lo { v = try n.broadcast(.maximum, [v, Tracked(id: n.scalar(lo, dt, "min"), perm: [])], hi == nil ? "" : "max") }
            if let hi { v = try n.broadcast(.minimum, [v, Tracked(id: n.scalar(hi, dt, "max"), perm: [])]) }
            try n.define(v)
        }

        // Elementwise with broadcasting.
        let binaries: [(String, Op)] = [
            ("Add", .add(.none)), ("Sub", .sub(.none)), ("Mul", .mul(.none)), ("Div", .div(.none)),
            ("Equal", .compare(.equal)), ("Less", .compare(.less)), ("LessOrEqual", .compare(.lessEqual)),
            ("Greater", .compare(.greater)), ("GreaterOrEqual", .compare(.greaterEqual)),
            ("And", .logical(.and)), ("Or", .logical(.or)), ("Xor", .logical(.xor)), ("PRelu", .prelu),
        ]
        for (type, op) in binaries {
            h[type] = { n in
                if try n.foldIntegers() { return }
                try n.define(try n.broadcast(op, [try n.input(0), try n.input(1)]))
            }
        }
        h["Pow"] = { n in
            let x = try n.input(0)
            var y = try n.input(1)
            if n.dtype(x) == .i32 || n.dtype(x) == .i64 {
                // Integer bases: the exponent in the base's type (an integral float exponent truncates exactly).
                if n.dtype(y) != n.dtype(x) { y = try n.unary(.cast(n.dtype(x)), y) }
                return try n.define(try n.broadcast(.binary(.pow), [x, y]))
            }
            guard n.dtype(x) == .f32 else { throw n.unsupported("\(n.dtype(x)) bases (float and integer are supported)") }
            if n.dtype(y) != .f32 {
                // ONNX lets the exponent have its own type; Ember's pow takes two floats.
                if let k = n.constant(1) {
                    y = Tracked(id: n.c.constant(try n.convert(k, to: .f32), name: "\(try n.output())/exponent"), perm: Array(0..<k.dims.count))
                } else {
                    y = try n.unary(.cast(.f32), y)
                }
            }
            try n.define(try n.broadcast(.binary(.pow), [x, y]))
        }
        h["Trilu"] = { n in try n.trilu() }
        h["LSTM"] = { n in try n.recurrent(gates: 4) }
        h["GRU"] = { n in try n.recurrent(gates: 3) }
        h["If"] = { n in try n.ifNode() }
        h["Mod"] = { n in
            guard try n.a.int("fmod", 0) == 0 else { throw n.unsupported("fmod=1 (C fmod semantics)") }
            if try n.foldIntegers() { return }
            try n.define(try n.broadcast(.binary(.floorMod), [try n.input(0), try n.input(1)]))
        }
        h["Not"] = { n in try n.define(try n.unary(.logical(.not))) }
        h["Where"] = { n in
            if try n.foldIntegers() { return }
            try n.define(try n.broadcast(.select, [try n.input(0), try n.input(1), try n.input(2)]))
        }
        for (type, op) in [("Max", Op.maximum), ("Min", .minimum), ("Sum", .add(.none)), ("Mean", .add(.none))] {
            h[type] = { n in
                guard !n.node.input.isEmpty else { throw n.fail("needs at least one input") }
                var v = try n.input(0)
                for k in 1..<max(n.node.input.count, 1) {
                    let last = k == n.node.input.count - 1 && type != "Mean"
                    v = try n.broadcast(op, [v, try n.input(k)], last ? "" : "step\(k)")
                }
                if type == "Mean" {
                    let inverse = Tracked(id: n.scalar(1 / Float(n.node.input.count), .f32, "inverse_count"), perm: [])
                    v = try n.broadcast(.mul(.none), [v, inverse])
                }
                try n.define(v) // a single Max/Min/Sum input is the result itself
            }
        }

        h["Identity"] = { n in
            if let k = n.constant(0) { return try n.defineConstant(k) }
            try n.define(try n.input(0))
        }
        h["Dropout"] = { n in
            // Inference: the output is the input and the mask keeps every element.
            if n.has(2), n.constant(2)?.ints?.first != 0 { throw n.unsupported("training_mode (a random mask)") }
            if n.usesOutput(1) {
                let d = n.onnxDims(try n.input(0))
                try LoadLimits.check("Dropout mask", needs: d.reduce(1, *), limit: n.c.limits.maxTensorElements, unit: "elements")
                try n.defineConstant(.integers([Int](repeating: 1, count: d.reduce(1, *)), dtype: .bool, dims: d), output: 1)
            }
            if let k = n.constant(0) { return try n.defineConstant(k) }
            try n.define(try n.input(0))
        }
        h["Cast"] = { n in try n.cast(to: try n.a.int("to", 0)) }
        h["CastLike"] = { n in
            let target = try n.input(1)
            try n.cast(to: Int(ONNXDataType.code(n.dtype(target))))
        }

        // Values known at import.
        h["Constant"] = { n in try n.defineConstant(try n.constantAttribute()) }
        h["Shape"] = { n in
            let d = n.onnxDims(try n.input(0))
            let r = d.count
            var start = try n.a.int("start", 0), end = try n.a.int("end", r)
            start = (start < 0 ? start + r : start).clamped(to: 0...r)
            end = (end < 0 ? end + r : end).clamped(to: 0...r)
            let slice = start < end ? Array(d[start..<end]) : []
            try n.defineConstant(.int64s(slice, dims: [slice.count]))
        }
        h["Size"] = { n in try n.defineConstant(.int64s([n.onnxDims(try n.input(0)).reduce(1, *)], dims: [])) }
        h["ConstantOfShape"] = { n in
            guard let dims = try n.ints(0, "shape"), dims.allSatisfy({ $0 >= 0 }), dims.count <= GraphLimits.maxRank,
                  let count = elementCount(dims) else { throw n.fail("shape must be non-negative and known at import") }
            try LoadLimits.check("ConstantOfShape '\(n.name)'", needs: count, limit: n.c.limits.maxTensorElements, unit: "elements")
            var fill = HostTensor.floats([0], dims: [1])
            if let t = n.a.tensor("value") { fill = try t.host(external: n.c.external, limits: n.c.limits) }
            guard fill.elementCount == 1 else { throw n.fail("value must hold one element") }
            let bytes = [UInt8]((0..<count).map { _ in fill.bytes }.joined())
            try n.defineConstant(HostTensor(dtype: fill.dtype, dims: dims, bytes: bytes))
        }
        h["Range"] = { n in
            guard let s = n.constant(0), let l = n.constant(1), let d = n.constant(2) else {
                throw n.needed(n.constant(0) == nil ? 0 : n.constant(1) == nil ? 1 : 2, "start, limit and delta")
            }
            if s.dtype == .f32 {
                guard let a = s.floats?.first, let b = l.floats?.first, let step = d.floats?.first, step != 0 else { throw n.fail("scalars") }
                let count = max(Int(((b - a) / step).rounded(.up)), 0)
                try LoadLimits.check("Range '\(n.name)'", needs: count, limit: n.c.limits.maxTensorElements, unit: "elements")
                try n.defineConstant(.floats((0..<count).map { a + Float($0) * step }, dims: [count]))
            } else {
                guard let a = s.ints?.first, let b = l.ints?.first, let step = d.ints?.first, step != 0 else { throw n.fail("scalars") }
                let count = max((b - a + step + (step > 0 ? -1 : 1)) / step, 0)
                try LoadLimits.check("Range '\(n.name)'", needs: count, limit: n.c.limits.maxTensorElements, unit: "elements")
                try n.defineConstant(.integers((0..<count).map { a + $0 * step }, dtype: s.dtype, dims: [count]))
            }
        }

        // Shapes and layout.
        h["Reshape"] = { n in
            let x = try n.input(0)
            guard let shape = try n.ints(1, "shape") ?? (try n.a.ints("shape")) else { throw n.fail("needs a shape") }
            let dims = try n.reshapeDims(n.onnxDims(x), shape, allowZero: try n.a.int("allowzero", 0) != 0)
            try n.reshape(x, to: dims)
        }
        h["Flatten"] = { n in
            let x = try n.input(0)
            let d = n.onnxDims(x)
            let axis = try n.a.int("axis", 1)
            let k = axis < 0 ? axis + d.count : axis
            guard k >= 0, k <= d.count else { throw n.fail("axis \(axis) outside rank \(d.count)") }
            try n.reshape(x, to: [d[..<k].reduce(1, *), d[k...].reduce(1, *)])
        }
        h["Squeeze"] = { n in
            let x = try n.input(0)
            let d = n.onnxDims(x)
            let axes = try (n.ints(1, "axes") ?? n.a.ints("axes"))?.map { try n.axis($0, rank: d.count) }
            let drop = Set(axes ?? d.indices.filter { d[$0] == 1 })
            guard drop.allSatisfy({ d[$0] == 1 }) else { throw n.fail("squeezes a dim that is not 1 in \(formatDims(d))") }
            try n.reshape(x, to: d.indices.filter { !drop.contains($0) }.map { d[$0] })
        }
        h["Unsqueeze"] = { n in
            let x = try n.input(0)
            let d = n.onnxDims(x)
            guard let raw = try n.ints(1, "axes") ?? n.a.ints("axes") else { throw n.fail("needs axes") }
            let r = d.count + raw.count
            let axes = Set(try raw.map { try n.axis($0, rank: r) })
            guard axes.count == raw.count else { throw n.fail("repeated axes \(raw)") }
            var out: [Int] = [], k = 0
            for i in 0..<r { if axes.contains(i) { out.append(1) } else { out.append(d[k]); k += 1 } }
            try n.reshape(x, to: out)
        }
        h["Transpose"] = { n in
            let x = try n.input(0)
            let r = n.rank(x)
            let p = try n.a.ints("perm") ?? Array((0..<r).reversed())
            guard p.count == r, Set(p) == Set(0..<r) else { throw n.fail("perm \(p) for rank \(r)") }
            if let k = n.constant(0) {
                let bytes = permuteBytes(k.bytes, dims: k.dims, elementSize: k.dtype.traits.bytesPerBlock, perm: p)
                return try n.defineConstant(HostTensor(dtype: k.dtype, dims: p.map { k.dims[$0] }, bytes: bytes))
            }
            // Free: only the layout record changes (Ember dim j now holds output ONNX dim p⁻¹(perm[j])).
            try n.define(x.id, perm: x.perm.map { q in p.firstIndex(of: q) ?? q })
        }
        h["Expand"] = { n in
            let x = try n.input(0)
            guard let shape = try n.ints(1, "shape") else { throw n.fail("needs a shape") }
            let d = n.onnxDims(x)
            guard let out = broadcastDims(d, shape) else { throw n.fail("\(formatDims(d)) does not broadcast to \(shape)") }
            try n.tile(x, to: out)
        }
        h["Tile"] = { n in
            let x = try n.input(0)
            guard let repeats = try n.ints(1, "repeats"), repeats.count == n.rank(x), repeats.allSatisfy({ $0 >= 0 }) else {
                throw n.fail("needs one non-negative repeat per dim")
            }
            try n.define(try n.add(.tile(multiples: repeats), [try n.onnx(x)]))
        }
        h["Concat"] = { n in
            if try n.foldIntegers() { return }
            let inputs = try (0..<n.node.input.count).filter { n.has($0) }.map { try n.input($0) }
            guard let first = inputs.first else { throw n.fail("needs inputs") }
            let (ids, perm) = try n.aligned(inputs)
            let axis = try n.emberAxis(Tracked(id: first.id, perm: perm), try n.a.int("axis", 0))
            try n.define(try n.add(.concat(axis: axis), ids), perm: perm)
        }
        h["Split"] = { n in try n.split() }
        h["Slice"] = { n in try n.slice() }
        h["Gather"] = { n in
            if try n.foldIntegers() { return }
            let x = try n.input(0)
            let axis = try n.axis(try n.a.int("axis", 0), rank: n.rank(x))
            // Positions 0..<n (torch.arange(seq) into an embedding table) are the first n rows: a
            // slice, which a bounded seq can size at run time where a constant index list can not.
            if let k = n.constant(1), k.dims.count == 1, let ids = k.ints, !ids.isEmpty, ids == Array(0..<ids.count),
               ids.count <= n.c.onnxDims(x)[axis] {
                var end = [Int](repeating: Int(Int32.max), count: n.rank(x))
                end[axis] = ids.count
                let zeros = [Int](repeating: 0, count: end.count), ones = [Int](repeating: 1, count: end.count)
                return try n.define(try n.add(.slice(begin: zeros, end: end, strides: ones), [try n.onnx(x)]))
            }
            let indices = try n.input(1)
            try n.define(try n.add(.gather(axis: axis), [try n.onnx(x), try n.onnx(indices)]))
        }
        h["Pad"] = { n in try n.pad() }
        h["DepthToSpace"] = { n in try n.depthToSpace(toSpace: true) }
        h["SpaceToDepth"] = { n in try n.depthToSpace(toSpace: false) }

        // Reductions.
        for type in ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                     "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"] {
            h[type] = { n in try n.reduce(type) }
        }
        for (type, largest) in [("ArgMax", true), ("ArgMin", false)] {
            h[type] = { n in
                let x = try n.input(0)
                let axis = try n.emberAxis(x, try n.a.int("axis", 0))
                let keep = try n.a.int("keepdims", 1) != 0
                let v: ValueID
                if try n.a.int("select_last_index", 0) != 0 {
                    // The last of equal elements is the first of the reversed axis: size − 1 − that index.
                    let r = n.c.dims(x.id).count
                    var begin = [Int](repeating: 0, count: r), end = [Int](repeating: Int(Int32.max), count: r)
                    var strides = [Int](repeating: 1, count: r)
                    (begin[axis], end[axis], strides[axis]) = (Int(Int32.max), Int(Int32.min), -1)
                    let reversed = try n.add(.slice(begin: begin, end: end, strides: strides), [x.id], "reversed")
                    let first = try n.add(.argReduce(largest: largest, axis: axis, output: .i64), [reversed], "reversed_index")
                    let last = n.scalar(Float(n.c.dims(x.id)[axis] - 1), .i64, "last")
                    v = try n.add(.sub(.none), [last, first], keep ? "index" : "")
                } else {
                    v = try n.add(.argReduce(largest: largest, axis: axis, output: .i64), [x.id], keep ? "index" : "")
                }
                if keep {
                    var d = n.c.dims(v); d.insert(1, at: axis)
                    try n.define(try n.add(.reshape(d), [v]), perm: x.perm)
                } else {
                    try n.define(v, perm: n.reducedPerm(x.perm, removing: [axis]))
                }
            }
        }
        h["GlobalAveragePool"] = { n in try n.globalPool(max: false) }
        h["GlobalMaxPool"] = { n in try n.globalPool(max: true) }
        h["Softmax"] = { n in try n.softmax(log: false) }
        h["LogSoftmax"] = { n in try n.softmax(log: true) }

        // Normalization.
        h["BatchNormalization"] = { n in try n.batchNorm() }
        h["LayerNormalization"] = { n in try n.layerNorm() }
        h["InstanceNormalization"] = { n in try n.instanceNorm() }

        // Linear algebra and windows.
        h["MatMul"] = { n in try n.matMul() }
        h["Einsum"] = { n in try n.einsum() }
        h["Loop"] = { n in try n.loopNode() }
        // Values and indices: the same selection twice, one Ember op per output.
        h["TopK"] = { n in
            let x = try n.input(0)
            let given: Int? = n.opset >= 10 ? try n.ints(1, "k")?.first : try n.a.int("k", 0)
            guard let k = given, k >= 1 else {
                throw n.needed(1, "k")
            }
            let axis = try n.emberAxis(x, try n.a.int("axis", -1))
            let largest = try n.a.int("largest", 1) != 0
            for (output, indices) in [(0, false), (1, true)] where n.usesOutput(output) {
                let v = try n.c.add(.topK(k: k, axis: axis, largest: largest, indices: indices), [x.id], name: try n.output(output))
                try n.define(v, perm: x.perm, output: output)
            }
        }
        h["Scan"] = { n in try n.scanNode() }
        for (type, handler) in ONNXImporter.qoperatorHandlers { h[type] = handler }
        // ORT registers its RMS norm in the default domain (its optimizer writes it there).
        h["SimplifiedLayerNormalization"] = ONNXImporter.microsoftHandlers["SimplifiedLayerNormalization"]
        h["CumSum"] = { n in
            let x = try n.input(0)
            guard let axisValue = try n.ints(1, "axis")?.first else { throw n.needed(1, "axis") }
            let axis = try n.emberAxis(x, axisValue)
            let op = Op.cumSum(axis: axis, exclusive: try n.a.int("exclusive", 0) != 0, reverse: try n.a.int("reverse", 0) != 0)
            try n.define(try n.add(op, [x.id]), perm: x.perm)
        }
        h["Gemm"] = { n in try n.gemm() }
        h["Conv"] = { n in try n.conv() }
        h["ConvTranspose"] = { n in try n.convTranspose() }
        h["MaxPool"] = { n in try n.pool(max: true) }
        h["AveragePool"] = { n in try n.pool(max: false) }
        h["Resize"] = { n in try n.resize() }
        h["Upsample"] = { n in try n.resize() }

        // Quantization (standalone per-tensor QuantizeLinear / DequantizeLinear).
        h["QuantizeLinear"] = { n in try n.quantizeLinear() }
        h["DequantizeLinear"] = { n in try n.dequantizeLinear() }
        return h
    }()
}
