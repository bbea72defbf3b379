import EmberCore
import EmberRuntime

/// Post-training int8 quantization in the TFLite scheme, so the spine's int8
/// kernels run the result unchanged: per-tensor asymmetric int8 activations
/// (ranges from `Calibration`, widened to hold 0), per-channel symmetric int8
/// conv and fully-connected weights (axis 0), int32 bias at scale s_in·s_w. Softmax and logistic outputs take TFLite's
/// fixed 1/256 scale (tanh 1/128); pooling, reshape, transpose, pad and slice
/// keep their input's parameters (TFLite's same-scale rule). Any other op runs
/// as a float island between dequantize and quantize nodes, so every float
/// graph quantizes. The rung keeps the float signature: graph inputs stay f32
/// (a quantize node follows), outputs are dequantized back to f32 under their
/// original names.
public enum Quantizer {
    /// `requantization` .float (a QDQ model folded: QDQFolding) makes every int8 activation requantize
    /// as ONNX Runtime does (`QuantParams.Requantization`); the default is TFLite's fixed point.
    public static func int8(_ graph: Graph, calibration: Calibration, name: String? = nil,
                            requantization: QuantParams.Requantization = .fixedPoint) throws -> Graph {
        let v = try graph.validate()
        let b = GraphBuilder(name: name ?? graph.name + "-int8")
        var floatID = [ValueID?](repeating: nil, count: graph.values.count)
        var int8ID = [ValueID?](repeating: nil, count: graph.values.count)

        func quant(_ id: ValueID) throws -> QuantParams {
            guard let r = calibration.ranges[id] else {
                throw EmberError.invalidGraph(node: graph.values[id].name, reason: "no calibrated range for this value")
            }
            var p = calibration.statedParams(id) ?? activationParams(min: r.min, max: r.max)
            p.requantization = requantization
            return p
        }
        /// The value as f32 in the new graph (dequantizing an int8 one once).
        func asFloat(_ id: ValueID) throws -> ValueID {
            if let f = floatID[id] { return f }
            if let c = graph.values[id].constant, let floats = floatsOf(graph.values[id], c) {
                let f = b.constant(graph.values[id].name, floats, dims: v.types[id].dims)
                floatID[id] = f
                return f
            }
            guard let q = int8ID[id] else { throw EmberError.invalidGraph(node: graph.values[id].name, reason: "used before it is defined") }
            let f = try b.add(.dequantize, [q], name: graph.values[id].name + "/dequantized")
            floatID[id] = f
            return f
        }
        /// The value as int8 in the new graph (quantizing a float one once).
        func asInt8(_ id: ValueID) throws -> ValueID {
            if let q = int8ID[id] { return q }
            // A float constant is quantized now (TFLite's affine rounding), not by a node every run.
            if let c = graph.values[id].constant, let floats = floatsOf(graph.values[id], c) {
                let p = try quant(id)
                let codes = floats.map { x -> Int8 in
                    let q = (x / p.scale).rounded() + Float(p.zeroPoint)
                    return q.isNaN ? Int8(clamping: p.zeroPoint) : Int8(max(-128, min(127, q)))
                }
                let q = b.constant(graph.values[id].name + "/quantized", codes, dtype: .i8, dims: v.types[id].dims, quant: p)
                int8ID[id] = q
                return q
            }
            let f = try asFloat(id)
            let q = try b.add(.quantize(.i8), [f], name: graph.values[id].name + "/quantized", outputQuant: try quant(id))
            int8ID[id] = q
            return q
        }

        for id in graph.inputs { floatID[id] = b.input(graph.values[id].name, graph.values[id].dtype, graph.values[id].shape) }

        for node in graph.nodes {
            let out = node.output
            let isFloatOut = v.types[out].dtype == .f32
            let inputsFloat = node.inputs.allSatisfy { $0.map { v.types[$0].dtype == .f32 || graph.values[$0].constant != nil } ?? true }
            guard isFloatOut && inputsFloat else {
                // Already integer (e.g. shape arithmetic): copy it as it is.
                let ins = try node.inputs.map { try $0.map { try asFloat($0) } }
                floatID[out] = try b.add(node.op, ins, name: node.name, outputDType: v.types[out].dtype)
                continue
            }
            var op = node.op
            let constantWeights = node.inputs.count > 1 && node.inputs[1].map { id in graph.values[id].constant.flatMap { floatsOf(graph.values[id], $0) } != nil } == true
            if case .conv2D = op, !constantWeights { op = .matMul } // float island below
            if case .fullyConnected = op, !constantWeights { op = .matMul }
            // The op's declaration says how it quantizes (conv and FC without constant weights
            // became float matmuls above).
            var rule = op.schema.quantization
            // A value nothing measured (a QDQ model's range statements skip some) stays float.
            let unmeasuredInput = node.inputs.contains { id in
                id.map { graph.values[$0].constant == nil && int8ID[$0] == nil && calibration.ranges[$0] == nil } ?? false
            }
            if rule != .float && (unmeasuredInput || (calibration.ranges[out] == nil && rule.needsOutputRange)) { rule = .float }
            // A shared-range op stays float unless its variable inputs are int8 already, all with
            // the same parameters.
            let variableInputs = node.inputs.compactMap { $0 }.filter { graph.values[$0].constant == nil }
            if rule == .sharedRange {
                let params = variableInputs.map { int8ID[$0].flatMap { b.values[$0].quant } }
                if variableInputs.isEmpty || params.contains(where: { $0 == nil || $0 != params[0] }) { rule = .float }
            }
            switch rule {
            case .weighted:
                guard let wid = node.inputs[1], let wc = graph.values[wid].constant, let weights = floatsOf(graph.values[wid], wc) else {
                    throw EmberError.invalidGraph(node: node.name, reason: "weights are not a constant")
                }
                // Per output channel (axis 0) for conv and FC alike: a per-tensor FC
                // scale cost ad01 13 dB (BENCHMARKS.md).
                let dims = v.types[wid].dims
                let channels = dims[0], per = weights.count / max(channels, 1)
                var scales = [Float](repeating: 1, count: channels)
                for c in scales.indices {
                    let slice = weights[(c * per)..<((c + 1) * per)]
                    let m = slice.reduce(Float(0)) { max($0, abs($1)) }
                    scales[c] = m > 0 ? m / 127 : 1
                }
                var qw = [Int8](repeating: 0, count: weights.count)
                for i in weights.indices {
                    let s = scales[i / max(per, 1)]
                    qw[i] = Int8(max(-127, min(127, (weights[i] / s).rounded())))
                }
                let wq = QuantParams(scales: scales, zeroPoints: [Int32](repeating: 0, count: channels), axis: 0)
                let x = try asInt8(node.inputs[0] ?? -1)
                // The scale the input was given (a same-range op's output keeps its input's, whatever
                // range was measured for it).
                let inScale = try quant(node.inputs[0] ?? -1).scale
                let w = b.constant(graph.values[wid].name, qw, dtype: .i8, dims: dims, quant: wq)
                var bias: ValueID?
                if node.inputs.count > 2, let bid = node.inputs[2] {
                    guard let bc = graph.values[bid].constant, let bf = floatsOf(graph.values[bid], bc) else {
                        throw EmberError.unsupported(node: node.name, reason: "a non-constant bias cannot be quantized")
                    }
                    let q = bf.indices.map { i -> Int32 in
                        let channelScale = scales[min(i, scales.count - 1)]
                        // ORT states the bias at the float product s_in·s_w: divide by exactly that.
                        let s = requantization == .float ? Double(inScale * channelScale) : Double(inScale) * Double(channelScale)
                        return Int32(max(-2_147_483_647, min(2_147_483_647, (Double(bf[i]) / s).rounded())))
                    }
                    bias = b.constant(graph.values[bid].name, q, dtype: .i32, dims: v.types[bid].dims)
                }
                int8ID[out] = try b.add(node.op, [x, w, bias], name: node.name, outputDType: .i8, outputQuant: try quant(out))

            case .calibratedOutput:
                let ins = try node.inputs.map { try $0.map { try asInt8($0) } }
                int8ID[out] = try b.add(node.op, ins, name: node.name, outputDType: .i8, outputQuant: try quant(out))

            case let .fixedOutput(scale, zeroPoint):
                // TFLite fixes these outputs' parameters; a QDQ model states its own, which ORT uses.
                var fixed = QuantParams(scale: scale, zeroPoint: zeroPoint)
                if requantization == .float, calibration.ranges[out] != nil { fixed = try quant(out) }
                fixed.requantization = requantization
                int8ID[out] = try b.add(node.op, [try asInt8(node.inputs[0] ?? -1)], name: node.name, outputDType: .i8, outputQuant: fixed)

            case .inputRange:
                let x = try asInt8(node.inputs[0] ?? -1)
                let ins = try [x] + node.inputs.dropFirst().map { try $0.map { try asFloat($0) } }
                int8ID[out] = try b.add(node.op, ins, name: node.name, outputDType: .i8, outputQuant: b.values[x].quant)

            case .sharedRange:
                guard let first = variableInputs.first, let shared = b.values[try asInt8(first)].quant else {
                    throw EmberError.invalidGraph(node: node.name, reason: "no variable int8 input")
                }
                let ins = try node.inputs.map { id -> ValueID? in
                    guard let id else { return nil }
                    guard let c = graph.values[id].constant, let floats = floatsOf(graph.values[id], c) else { return try asInt8(id) }
                    let codes = floats.map { Int8(max(-128, min(127, ($0 / shared.scale).rounded() + Float(shared.zeroPoint)))) }
                    return b.constant(graph.values[id].name, codes, dtype: .i8, dims: v.types[id].dims, quant: shared)
                }
                int8ID[out] = try b.add(node.op, ins, name: node.name, outputDType: .i8, outputQuant: shared)

            case .float:
                let ins = try node.inputs.map { try $0.map { try asFloat($0) } }
                floatID[out] = try b.add(node.op, ins, name: node.name)
            }
        }
        for id in graph.outputs {
            var f = try asFloat(id)
            if requantization == .float, int8ID[id] == nil, calibration.statedParams(id) != nil {
                // A float island's result that the Q/DQ graph rounds at its output pair: round it the same way.
                f = try b.add(.dequantize, [try asInt8(id)], name: graph.values[id].name + "/rounded")
            }
            b.output(f, name: graph.values[id].name)
            if let q = int8ID[id], q != f { b.rename(q, to: graph.values[id].name + "/int8") }
        }
        return try b.build()
    }

    /// Asymmetric int8 parameters for [min, max], widened to contain 0 (so zero is exact).
    public static func activationParams(min lo: Float, max hi: Float) -> QuantParams {
        let lo = Swift.min(lo, 0), hi = Swift.max(hi, 0)
        let scale = hi > lo ? (hi - lo) / 255 : 1
        let zp = Int32(Swift.max(-128, Swift.min(127, (-128 - lo / scale).rounded())))
        return QuantParams(scale: scale, zeroPoint: zp)
    }
}

/// A constant's elements as floats: f32 as they are, f16 widened, int8 with quantization
/// (hybrid weights) dequantized per tensor or per axis 0, i32 as numbers; nil otherwise.
func floatsOf(_ value: Value, _ c: ConstantData) -> [Float]? {
    switch value.dtype {
    case .f32: return Array(c.bytes.bindMemory(to: Float.self))
    case .i32: return c.bytes.bindMemory(to: Int32.self).map { Float($0) }
    case .f16: return c.bytes.bindMemory(to: UInt16.self).map { Float(Float16(bitPattern: $0)) }
    case .i8:
        guard let q = value.quant else { return nil }
        let xs = Array(c.bytes.bindMemory(to: Int8.self))
        let per = q.isPerTensor ? xs.count : xs.count / max(q.scales.count, 1)
        return xs.indices.map { i in
            let k = q.isPerTensor ? 0 : min(i / max(per, 1), q.scales.count - 1)
            return q.scales[k] * Float(Int32(xs[i]) - q.zeroPoints[k])
        }
    default: return nil
    }
}

extension Quantizer {
    /// Empirical bias correction (as in Nagel et al. 2019, "Data-Free
    /// Quantization", §4.2, with measured rather than analytic means): layer by
    /// layer, in order, the mean error each output channel of a quantized conv
    /// or fully-connected node makes against the float node of the same name on
    /// `samples` is folded back into its int32 bias. Positions where the float
    /// output is clipped by a fused ReLU are left out (the error there is not
    /// the layer's). Later layers are measured after earlier ones are corrected.
    /// `referenceOutputs`: `floatOutputs(reference, samples:)` when the caller has it already.
    /// `progress` hears (layers done, layers) as each layer is corrected.
    public static func correctBias(reference: Graph, quantized: Graph, samples: [Sample], referenceOutputs: [[[Float]]]? = nil,
                                   limits: LoadLimits = LoadLimits(), progress: ((Int, Int) -> Void)? = nil) throws -> Graph {
        let corrected = try correctBiasLayerByLayer(reference: reference, quantized: quantized, samples: samples, limits: limits, progress: progress)
        // Kept only where it helps the outputs: with few samples the measured
        // means can be noise (on kws_float32 it costs 20 dB).
        let ref = try referenceOutputs ?? floatOutputs(reference, samples: samples, limits: limits)
        let before = QualityReport.compare(name: "", reference: ref, candidate: try floatOutputs(quantized, samples: samples, limits: limits)).quality
        let after = QualityReport.compare(name: "", reference: ref, candidate: try floatOutputs(corrected, samples: samples, limits: limits)).quality
        return after > before ? corrected : quantized
    }

    static func correctBiasLayerByLayer(reference: Graph, quantized: Graph, samples: [Sample], limits: LoadLimits,
                                        progress: ((Int, Int) -> Void)?) throws -> Graph {
        var g = quantized
        var floatByName: [String: ValueID] = [:]
        for n in reference.nodes { floatByName[n.name] = n.output }
        let floatExec = try Executor(graph: reference, options: ExecutorOptions(bindings: try Sample.bindings(of: samples, for: reference),
                                                                                keepEveryValue: true, limits: limits, label: "graph '\(reference.name)'"))
        var floatRuns: [[ValueID: [Float]]] = []
        for (k, s) in samples.enumerated() {
            try Calibration.load(s, into: floatExec, sampleIndex: k)
            floatExec.run()
            var m: [ValueID: [Float]] = [:]
            for (_, id) in floatByName { if let b = floatExec.valueBuffer(id), floatExec.validated.types[id].dtype == .f32 { m[id] = Array(b.bindMemory(to: Float.self)) } }
            floatRuns.append(m)
        }
        func isWeighted(_ op: Op) -> Bool { switch op { case .conv2D, .fullyConnected: return true; default: return false } }
        let layers = quantized.nodes.filter { isWeighted($0.op) }.count
        var layersDone = 0
        for node in quantized.nodes where isWeighted(node.op) {
            layersDone += 1
            progress?(layersDone, layers)
            guard node.inputs.count > 2, let bid = node.inputs[2], let wid = node.inputs[1], let xid = node.inputs[0],
                  let wq = g.values[wid].quant, let xq = g.values[xid].quant, let oq = g.values[node.output].quant,
                  let fid = floatByName[node.name], let bc = g.values[bid].constant, g.values[bid].dtype == .i32 else { continue }
            let exec = try Executor(graph: g, options: ExecutorOptions(bindings: try Sample.bindings(of: samples, for: g),
                                                                       keepEveryValue: true, limits: limits, label: "graph '\(g.name)'"))
            let channels = exec.validated.types[node.output].dims.last ?? 1
            var sum = [Double](repeating: 0, count: channels), count = [Int](repeating: 0, count: channels)
            for (k, s) in samples.enumerated() {
                try Calibration.load(s, into: exec, sampleIndex: k)
                exec.run()
                guard let out = exec.valueBuffer(node.output), let ref = floatRuns[k][fid], ref.count == out.count else { continue }
                let q = out.bindMemory(to: Int8.self)
                for i in 0..<ref.count where ref[i] > 0 || !hasReLU(node.op) {
                    let c = i % channels
                    sum[c] += Double(oq.scale * Float(Int32(q[i]) - oq.zeroPoint) - ref[i]); count[c] += 1
                }
            }
            var bias = Array(bc.bytes.bindMemory(to: Int32.self))
            guard bias.count == channels else { continue }
            for c in 0..<channels where count[c] > 0 {
                let s = Double(xq.scale) * Double(wq.isPerTensor ? wq.scale : wq.scales[min(c, wq.scales.count - 1)])
                let shift = (sum[c] / Double(count[c]) / s).rounded()
                bias[c] = Int32(max(-2_147_483_647, min(2_147_483_647, Double(bias[c]) - shift)))
            }
            g.values[bid].constant = ConstantData(copying: bias)
        }
        return g
    }

    static func hasReLU(_ op: Op) -> Bool {
        switch op {
        case let .conv2D(a): return a.activation != .none
        case let .fullyConnected(a): return a != .none
        default: return false
        }
    }
}
