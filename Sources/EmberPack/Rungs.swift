import EmberCore

/// How one rung of the ladder is made from a float model: a storage
/// precision, optionally after pruning. Written as `--ladder` spells it:
/// `fp32`, `fp16`, `int8`, `int4`, plus `-pruneNN` (magnitude pruning to NN %
/// sparsity), `-2:4` (two of every four weights kept) and `-chNN` (NN % of the
/// output channels removed), e.g. `int8-prune50`, `int8-2:4`, `fp32-ch25`.
public struct RungRecipe: Sendable, Equatable, CustomStringConvertible {
    public enum Precision: String, Sendable, CaseIterable {
        /// The float model as it is.
        case fp32
        /// Conv and FC weights and biases stored as f16 (widened once at prepare).
        case fp16
        /// Post-training int8, the TFLite scheme (`Quantizer.int8`); needs calibration.
        case int8
        /// Weight-only INT4 in blocks of 32 with an f16 scale, for FC, 1×1 conv and
        /// constant-MatMul layers whose input width is a multiple of 32; other layers stay f32.
        case int4
    }

    public var precision: Precision
    /// Magnitude pruning: the share of each layer's weights set to zero (0 < s < 1).
    public var sparsity: Double?
    /// 2:4 structured pruning.
    public var twoOfFour = false
    /// Channel pruning: the share of each prunable layer's output channels removed.
    public var channelFraction: Double?

    public init(precision: Precision, sparsity: Double? = nil, twoOfFour: Bool = false, channelFraction: Double? = nil) {
        self.precision = precision; self.sparsity = sparsity; self.twoOfFour = twoOfFour; self.channelFraction = channelFraction
    }

    public var needsCalibration: Bool { precision == .int8 }

    public var description: String {
        var s = precision.rawValue
        if let c = channelFraction { s += "-ch\(Int((c * 100).rounded()))" }
        if let p = sparsity { s += "-prune\(Int((p * 100).rounded()))" }
        if twoOfFour { s += "-2:4" }
        return s
    }

    /// Parses a rung name; the error says which part is wrong and what is allowed.
    public static func parse(_ text: String) throws -> RungRecipe {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        let allowed = "a precision (\(Precision.allCases.map(\.rawValue).joined(separator: ", "))) then optionally -pruneNN, -2:4, -chNN"
        guard let first = parts.first, let precision = Precision(rawValue: first) else {
            throw EmberError.invalidArgument("rung '\(text)': expected \(allowed)")
        }
        var r = RungRecipe(precision: precision)
        func percent(_ part: String, _ prefix: String, _ range: ClosedRange<Int>) throws -> Double {
            guard let n = Int(part.dropFirst(prefix.count)), range.contains(n) else {
                throw EmberError.invalidArgument("rung '\(text)': '\(part)' needs a percentage in \(range.lowerBound)...\(range.upperBound)")
            }
            return Double(n) / 100
        }
        for part in parts.dropFirst() {
            if part.hasPrefix("prune"), r.sparsity == nil, !r.twoOfFour {
                r.sparsity = try percent(part, "prune", 1...99)
            } else if part == "2:4", r.sparsity == nil, !r.twoOfFour {
                r.twoOfFour = true
            } else if part.hasPrefix("ch"), r.channelFraction == nil {
                r.channelFraction = try percent(part, "ch", 1...90)
            } else {
                throw EmberError.invalidArgument("rung '\(text)': '\(part)' is not allowed here; expected \(allowed), each once (prune and 2:4 exclude each other)")
            }
        }
        return r
    }

    /// The float graph this rung quantizes: `graph` after channel pruning, then
    /// weight pruning. Precision is applied by the caller (int8 needs calibration
    /// of this graph); `applyStorage` does fp16 and int4.
    public func prunedFloatGraph(_ graph: Graph) throws -> Graph {
        guard channelFraction != nil || sparsity != nil || twoOfFour else { return graph }
        var g = try WeightStorage.floatWeights(graph)
        if let c = channelFraction { g = try Pruning.channels(g, fraction: c) }
        if let s = sparsity { g = try Pruning.magnitude(g, sparsity: s) }
        if twoOfFour { g = try Pruning.twoOfFour(g) }
        return g
    }

    /// fp16 or int4 storage of a float graph (fp32 and int8 return it unchanged).
    public func applyStorage(_ graph: Graph) throws -> Graph {
        switch precision {
        case .fp16: return try WeightStorage.fp16(graph)
        case .int4: return try WeightStorage.int4(graph)
        case .fp32, .int8: return graph
        }
    }
}

/// Storage-only rewrites of float weights.
public enum WeightStorage {
    /// Hybrid layers (float activations, int8 weights with quantization
    /// parameters, as some float .tflite files ship) get their weights as f32,
    /// so pruning and int4 can work on them.
    public static func floatWeights(_ graph: Graph) throws -> Graph {
        var g = graph
        for i in g.nodes.indices {
            let n = g.nodes[i]
            switch n.op { case .conv2D, .fullyConnected: break; default: continue }
            guard n.inputs.count > 1, let w = n.inputs[1], g.values[w].dtype == .i8, g.values[n.output].dtype == .f32,
                  let c = g.values[w].constant, let floats = floatsOf(g.values[w], c) else { continue }
            g.values.append(Value(name: g.values[w].name + "/f32", dtype: .f32, shape: g.values[w].shape, constant: ConstantData(copying: floats)))
            g.nodes[i].inputs[1] = g.values.count - 1
        }
        let out = g.droppingUnreferencedValues()
        _ = try out.validate()
        return out
    }

    /// f16 constants (float16 weights kept as imported) as f32: the graph every rung starts from,
    /// so that pruning, quantization and int4 see floats. Lossless; the fp16 rung halves them again.
    public static func widenedHalves(_ graph: Graph) throws -> Graph {
        var g = graph
        var widened: [ValueID: ValueID] = [:]
        for i in g.nodes.indices {
            for (slot, input) in g.nodes[i].inputs.enumerated() {
                guard let v = input, g.values[v].dtype == .f16, let c = g.values[v].constant,
                      let floats = floatsOf(g.values[v], c) else { continue }
                if widened[v] == nil {
                    g.values.append(Value(name: g.values[v].name + "/f32", dtype: .f32, shape: g.values[v].shape,
                                          constant: ConstantData(copying: floats)))
                    widened[v] = g.values.count - 1
                }
                g.nodes[i].inputs[slot] = widened[v]
            }
        }
        let out = g.droppingUnreferencedValues()
        _ = try out.validate()
        return out
    }

    /// Conv and FC weights and biases as f16: the package halves, and so do the weights held
    /// after load on the SIMD paths (their packed copies stay halves, widened in registers; the
    /// scalar reference kernels widen once at prepare). The arena does not change.
    public static func fp16(_ graph: Graph) throws -> Graph {
        var g = graph
        for i in g.nodes.indices {
            guard let (w, b, _) = g.floatWeightedLayer(g.nodes[i]) else { continue }
            g.nodes[i].inputs[1] = g.appendingHalfCopy(of: w)
            if let b { g.nodes[i].inputs[2] = g.appendingHalfCopy(of: b) }
        }
        let out = g.droppingUnreferencedValues()
        _ = try out.validate()
        return out
    }

    /// INT4 block-32 weights for FC layers, 1×1 stride-1 convs (rewritten as FC
    /// over the channel axis) and MatMuls by a constant 2-D matrix (rewritten as
    /// FC with the matrix transposed) whose input width is a multiple of 32.
    public static func int4(_ graph: Graph) throws -> Graph {
        var g = graph
        let types = try g.validate().types
        for i in g.nodes.indices {
            // f32 weights, or hybrid int8 ones (float activations) taken as their float values.
            let n = g.nodes[i]
            guard n.inputs.count > 1, let w = n.inputs[1], let data = g.values[w].constant, g.values[n.output].dtype == .f32,
                  g.values[w].dtype == .f32 || g.values[w].dtype == .i8, let weights = floatsOf(g.values[w], data) else { continue }
            let act = n.op.fusedActivation ?? .none
            let dims = types[w].dims
            // Weights as [out_features, in_features] rows.
            var rows: [Float] = weights
            switch g.nodes[i].op {
            case .fullyConnected: break
            case let .conv2D(a):
                guard dims.count == 4, dims[1] == 1, dims[2] == 1, a.groups == 1, a.strideH == 1, a.strideW == 1 else { continue }
                switch a.padding { case .explicit: continue; default: break }
            case .matMul:
                // x [..., M, K] × constant [K, N] is an FC with weights [N, K].
                guard dims.count == 2 else { continue }
                let (k, n) = (dims[0], dims[1])
                rows = (0..<(n * k)).map { weights[($0 % k) * n + $0 / k] }
            default: continue
            }
            let isMatMul = g.nodes[i].op == .matMul
            let outF = isMatMul ? dims[1] : dims[0], inF = isMatMul ? dims[0] : dims.dropFirst().reduce(1, *)
            guard inF % 32 == 0 else { continue }
            let packed = packInt4Block32(rows, rows: outF, columns: inF)
            g.values.append(Value(name: g.values[w].name + "/int4", dtype: .int4Block32, shape: Shape([outF, inF]), constant: ConstantData(copying: packed)))
            g.nodes[i].inputs[1] = g.values.count - 1
            g.nodes[i].op = .fullyConnected(act)
        }
        let out = g.droppingUnreferencedValues()
        _ = try out.validate()
        return out
    }

    /// Rows of `columns` floats as symmetric int4 blocks of 32: per block an f16
    /// scale max|w|/7, then 16 bytes, weight 2j in the low nibble of byte j.
    public static func packInt4Block32(_ w: [Float], rows: Int, columns: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(rows * columns / 32 * 18)
        for r in 0..<rows {
            for b in stride(from: 0, to: columns, by: 32) {
                let block = w[(r * columns + b)..<(r * columns + b + 32)]
                let amax = block.reduce(Float(0)) { max($0, abs($1)) }
                let scale = Float16(amax / 7)
                let s = Float(scale)
                let bits = scale.bitPattern
                out.append(UInt8(bits & 0xFF)); out.append(UInt8(bits >> 8))
                func q(_ x: Float) -> UInt8 {
                    let v = s > 0 ? Int(max(-8, min(7, (x / s).rounded()))) : 0
                    return UInt8(v & 0x0F)
                }
                let xs = Array(block)
                for j in 0..<16 { out.append(q(xs[2 * j]) | (q(xs[2 * j + 1]) << 4)) }
            }
        }
        return out
    }
}

/// Weight and channel pruning of float conv and FC layers. There is no
/// fine-tuning afterwards: the report shows what pruning alone costs.
public enum Pruning {
    /// Sets the smallest-magnitude `sparsity` share of each conv and FC layer's
    /// weights to zero. Depthwise convs are left alone (few weights, each one matters).
    public static func magnitude(_ graph: Graph, sparsity: Double) throws -> Graph {
        try rewriteWeights(graph) { w, _ in
            let k = Int((Double(w.count) * sparsity).rounded(.down))
            guard k > 0 else { return w }
            // The k-th smallest magnitude is the threshold; ties broken by index so the result is deterministic.
            let order = w.indices.sorted { (abs(w[$0]), $0) < (abs(w[$1]), $1) }
            var out = w
            for i in order.prefix(k) { out[i] = 0 }
            return out
        }
    }

    /// Keeps the two largest-magnitude weights of every four consecutive ones
    /// along a layer's input axis (layers whose input width is not a multiple of 4 are left alone).
    public static func twoOfFour(_ graph: Graph) throws -> Graph {
        try rewriteWeights(graph) { w, dims in
            guard let inner = dims.last, inner % 4 == 0 else { return w }
            var out = w
            for g in stride(from: 0, to: w.count, by: 4) {
                let order = (g..<(g + 4)).sorted { (abs(w[$0]), $0) < (abs(w[$1]), $1) }
                out[order[0]] = 0; out[order[1]] = 0
            }
            return out
        }
    }

    /// Applies `transform` to the f32 weights of every non-depthwise conv and FC layer.
    static func rewriteWeights(_ graph: Graph, _ transform: ([Float], [Int]) -> [Float]) throws -> Graph {
        var g = graph
        let types = try g.validate().types
        for i in g.nodes.indices {
            guard let (w, _, _) = g.floatWeightedLayer(g.nodes[i]), let data = g.values[w].constant else { continue }
            if case let .conv2D(a) = g.nodes[i].op, a.groups > 1 { continue }
            let pruned = transform(Array(data.bytes.bindMemory(to: Float.self)), types[w].dims)
            g.values.append(Value(name: g.values[w].name + "/pruned", dtype: .f32, shape: g.values[w].shape, constant: ConstantData(copying: pruned)))
            g.nodes[i].inputs[1] = g.values.count - 1
        }
        let out = g.droppingUnreferencedValues()
        _ = try out.validate()
        return out
    }

    /// Removes the `fraction` of output channels with the smallest L1 weight
    /// norm from every conv (groups 1) or FC layer whose output can shrink: its
    /// channels flow only through channel-wise ops (activations, pooling, pad,
    /// depthwise conv, reshapes that keep the last axis) into convs or FCs that
    /// read them as input channels. Those readers lose the matching input
    /// channels, and shapes are inferred again along the way. A layer whose
    /// channels reach a graph output, an add, a concat or anything else keeps them.
    public static func channels(_ graph: Graph, fraction: Double) throws -> Graph {
        var g = graph
        let layerIndices = g.nodes.indices
        for i in layerIndices {
            guard let (w, b, _) = g.floatWeightedLayer(g.nodes[i]), let wc = g.values[w].constant else { continue }
            if case let .conv2D(a) = g.nodes[i].op, a.groups > 1 { continue }
            let types = try g.validate().types
            let outC = types[w].dims[0]
            let remove = Int((Double(outC) * fraction).rounded(.down))
            guard remove > 0, remove < outC, let path = channelPath(g, from: g.nodes[i].output, types: types) else { continue }
            // Which channels go: the smallest L1 norms, ties by index.
            let weights = Array(wc.bytes.bindMemory(to: Float.self))
            let per = weights.count / outC
            let norms = (0..<outC).map { o in weights[(o * per)..<((o + 1) * per)].reduce(Float(0)) { $0 + abs($1) } }
            let dropped = Set((0..<outC).sorted { (norms[$0], $0) < (norms[$1], $1) }.prefix(remove))
            let kept = (0..<outC).filter { !dropped.contains($0) }

            g.nodes[i].inputs[1] = g.appendingRows(of: w, keeping: kept, axisLength: outC, suffix: "/ch")
            if let b { g.nodes[i].inputs[2] = g.appendingRows(of: b, keeping: kept, axisLength: outC, suffix: "/ch") }
            for p in path.passThrough {
                switch g.nodes[p].op {
                case var .conv2D(a): // depthwise: its filter rows and bias follow the channels
                    a.groups = kept.count
                    g.nodes[p].op = .conv2D(a)
                    for k in 1..<g.nodes[p].inputs.count { if let v = g.nodes[p].inputs[k] { g.nodes[p].inputs[k] = g.appendingRows(of: v, keeping: kept, axisLength: outC, suffix: "/ch") } }
                case var .reshape(dims):
                    dims[dims.count - 1] = kept.count
                    g.nodes[p].op = .reshape(dims)
                default: break
                }
            }
            for r in path.readers {
                guard let rw = g.nodes[r].inputs[1] else { continue }
                g.nodes[r].inputs[1] = g.appendingColumns(of: rw, keeping: kept, columnsLength: outC, suffix: "/ch")
            }
            g.reinferShapes()
            g = g.droppingUnreferencedValues()
            _ = try g.validate()
        }
        return g
    }

    /// The nodes a layer's output channels flow through (pass-through ops) and
    /// the layers that read them as input channels; nil if any use blocks pruning.
    static func channelPath(_ g: Graph, from start: ValueID, types: [TensorInfo]) -> (passThrough: [Int], readers: [Int])? {
        let consumers = g.consumers()
        var passThrough: [Int] = [], readers: [Int] = []
        var frontier = [start]
        let channels = types[start].dims.last ?? 0
        while let v = frontier.popLast() {
            if g.outputs.contains(v) { return nil }
            for c in consumers[v, default: []] {
                let n = g.nodes[c]
                guard n.inputs.first == v, n.inputs.dropFirst().allSatisfy({ $0 != v }) else { return nil }
                switch n.op {
                case let .pad(before, after), let .mirrorPad(before, after, _):
                    guard (before.last ?? 0) == 0, (after.last ?? 0) == 0 else { return nil }
                    passThrough.append(c); frontier.append(n.output)
                case let .mean(axes, _):
                    let rank = types[v].dims.count
                    guard !axes.contains(rank - 1), !axes.contains(-1) else { return nil }
                    passThrough.append(c); frontier.append(n.output)
                case let .reshape(dims):
                    guard dims.last == channels, types[n.output].dims.last == channels else { return nil }
                    passThrough.append(c); frontier.append(n.output)
                case let .conv2D(a):
                    if a.groups == 1 {
                        guard g.floatWeightedLayer(n) != nil else { return nil }
                        readers.append(c)
                    } else {
                        // Depthwise with one filter per channel: passes channels through.
                        guard a.groups == channels, let w = n.inputs[1], types[w].dims[0] == channels,
                              g.floatWeightedLayer(n) != nil else { return nil }
                        passThrough.append(c); frontier.append(n.output)
                    }
                case .fullyConnected:
                    guard g.floatWeightedLayer(n) != nil, let w = n.inputs[1], types[w].dims.last == channels else { return nil }
                    readers.append(c)
                case _ where n.op.schema.traits.contains(.channelwise):
                    passThrough.append(c); frontier.append(n.output)
                default:
                    return nil
                }
            }
        }
        return readers.isEmpty ? nil : (passThrough, readers)
    }
}

extension Graph {
    /// Appends an f16 copy of f32 constant `source` and returns its id.
    mutating func appendingHalfCopy(of id: ValueID) -> ValueID {
        let floats = values[id].constant.map { Array($0.bytes.bindMemory(to: Float.self)) } ?? []
        let halves = floats.map { Float16($0).bitPattern }
        values.append(Value(name: values[id].name + "/f16", dtype: .f16, shape: values[id].shape, constant: ConstantData(copying: halves)))
        return values.count - 1
    }

    /// Appends a copy of f32 constant `id` keeping only the listed indices along axis 0.
    mutating func appendingRows(of id: ValueID, keeping kept: [Int], axisLength: Int, suffix: String) -> ValueID {
        let xs = values[id].constant.map { Array($0.bytes.bindMemory(to: Float.self)) } ?? []
        let per = xs.count / Swift.max(axisLength, 1)
        let out = kept.flatMap { xs[($0 * per)..<(($0 + 1) * per)] }
        var dims = values[id].shape.upperBoundDims
        dims[0] = kept.count
        values.append(Value(name: values[id].name + suffix, dtype: .f32, shape: Shape(dims), constant: ConstantData(copying: out)))
        return values.count - 1
    }

    /// Appends a copy of f32 constant `id` keeping only the listed indices along its last axis.
    mutating func appendingColumns(of id: ValueID, keeping kept: [Int], columnsLength: Int, suffix: String) -> ValueID {
        let xs = values[id].constant.map { Array($0.bytes.bindMemory(to: Float.self)) } ?? []
        var out: [Float] = []
        out.reserveCapacity(xs.count / Swift.max(columnsLength, 1) * kept.count)
        for row in stride(from: 0, to: xs.count, by: Swift.max(columnsLength, 1)) { for k in kept { out.append(xs[row + k]) } }
        var dims = values[id].shape.upperBoundDims
        dims[dims.count - 1] = kept.count
        values.append(Value(name: values[id].name + suffix, dtype: .f32, shape: Shape(dims), constant: ConstantData(copying: out)))
        return values.count - 1
    }

    /// Recomputes every node output's shape from its inputs, in order, after a
    /// rewrite changed some dims. Dims that did not change keep their symbolic names.
    mutating func reinferShapes() {
        for n in nodes {
            let infos = n.inputs.map { $0.map { TensorInfo(values[$0].dtype, values[$0].shape.upperBoundDims) } }
            guard let info = try? n.op.outputInfo(inputs: infos, node: n.name, outputDType: values[n.output].dtype),
                  info.dims != values[n.output].shape.upperBoundDims else { continue }
            values[n.output].shape = Shape(info.dims)
        }
    }
}
