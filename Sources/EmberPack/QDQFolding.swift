import EmberCore
import EmberRuntime
#if canImport(Glibc)
import Glibc
#endif

/// QDQ models (ONNX's QuantizeLinear → DequantizeLinear pairs around float ops, as
/// onnxruntime.quantization writes them) into Ember's int8 ops: each pair is a statement of the
/// int8 parameters of the value between them, so the pairs are removed and their parameters (exactly
/// as stated) become the calibration `Quantizer.int8` quantizes the float graph with. The weights,
/// already dequantized at import, are quantized again per output channel (max |w| / 127, the scale
/// ORT's symmetric per-channel weights have: the same codes). The int8 ops then requantize as ONNX
/// Runtime does (`QuantParams.Requantization.float`: float scales, ties to even), and the passes do
/// not fold across a pair, so conv, depthwise, FC, add, mul, global average pool and table
/// activations give ORT's codes; average pool, resize, concat with differing scales, softmax and
/// int8 matmul keep TFLite's integer arithmetic (a quantum at ties).
public enum QDQFolding {
    /// One QuantizeLinear → DequantizeLinear pair around a float value.
    struct Pair {
        var dequantize: Int, quantize: Int
        /// The float value quantized, and the pair's parameters as int8 ones (a u8 pair's zero point
        /// less 128, the same scale: the same reals).
        var source: ValueID
        var params: QuantParams
    }

    /// The reals the int8 codes of `p` span: the range a pair states for its value.
    static func range(_ p: QuantParams) -> (min: Float, max: Float) {
        (Float(-128 - p.zeroPoint) * p.scale, Float(127 - p.zeroPoint) * p.scale)
    }

    /// Every Q/DQ pair of `graph`, in node order.
    static func pairs(_ graph: Graph) -> [Pair] {
        var producer: [ValueID: Int] = [:]
        for (k, n) in graph.nodes.enumerated() { producer[n.output] = k }
        return graph.nodes.indices.compactMap { k in
            let n = graph.nodes[k]
            guard case .dequantize = n.op, let x = n.inputs.first ?? nil, let qi = producer[x],
                  case let .quantize(dtype) = graph.nodes[qi].op, let source = graph.nodes[qi].inputs.first ?? nil,
                  graph.values[source].dtype == .f32, let q = graph.values[x].quant else { return nil }
            guard q.isPerTensor else { return nil }
            return Pair(dequantize: k, quantize: qi, source: source,
                        params: QuantParams(scale: q.scale, zeroPoint: q.zeroPoint - (dtype == .u8 ? 128 : 0)))
        }
    }

    /// How many Q/DQ pairs `graph` has (0: not a QDQ model).
    public static func pairCount(_ graph: Graph) -> Int { pairs(graph).count }

    /// The float graph without its Q/DQ pairs and the parameters they stated, by value name (the passes
    /// that run next renumber values, not names). The int8 graph takes them exactly (a scale recomputed
    /// from a range in float can be an ulp off, which moves codes at rounding ties); `range` gives the
    /// reals they span.
    public static func strip(_ graph: Graph) throws -> (graph: Graph, stated: [String: QuantParams]) {
        let graph = try hoistingDataMovement(graph)
        var stated = [QuantParams?](repeating: nil, count: graph.values.count)
        var replacement: [ValueID: ValueID] = [:]
        var dead = Set<Int>()
        let found = pairs(graph)
        for pair in found {
            // Back-to-back pairs (Q → DQ → Q → DQ) resolve to the first float value.
            let root = replacement[pair.source] ?? pair.source
            if stated[root] == nil { stated[root] = pair.params }
            replacement[graph.nodes[pair.dequantize].output] = root
            dead.insert(pair.dequantize)
            dead.insert(pair.quantize)
        }
        var g = graph
        // A quantize whose int8 value something other than its dequantize reads stays.
        let quantizeOf = Dictionary(found.map { (graph.nodes[$0.quantize].output, $0.quantize) }) { a, _ in a }
        for (k, n) in graph.nodes.enumerated() where !dead.contains(k) {
            for x in n.inputs.compactMap({ $0 }) { if let q = quantizeOf[x] { dead.remove(q) } }
        }
        g.nodes = graph.nodes.enumerated().filter { !dead.contains($0.offset) }.map { _, n in
            var n = n
            n.inputs = n.inputs.map { $0.map { replacement[$0] ?? $0 } }
            return n
        }
        var renamed: [String: String] = [:]
        for (k, o) in g.outputs.enumerated() {
            guard let r = replacement[o] else { continue }
            if g.outputs.contains(r) || g.inputs.contains(r) {
                throw EmberError.unsupported(node: graph.values[o].name, reason: "an output that is another output or an input")
            }
            g.values[r].name = graph.values[o].name
            g.outputs[k] = r
            renamed[graph.values[o].name] = graph.values[r].name
        }
        g = g.droppingUnreferencedValues()
        _ = try g.validate()
        var byName: [String: QuantParams] = [:]
        for (id, p) in stated.enumerated() { if let p { byName[graph.values[id].name] = p } }
        for (new, old) in renamed { byName[new] = byName[old] }
        return (g, byName)
    }

    /// Data movement on quantized values (ORT's QOperator form runs MaxPool, Reshape, Transpose on
    /// the int8 codes: Q → MaxPool → DQ) moved before the quantize, where it reads the float value:
    /// Q(move(x)) = move(Q(x)) for these ops (quantizing is monotonic and elementwise), so the pair
    /// becomes an ordinary Q → DQ around the moved float value.
    static func hoistingDataMovement(_ graph: Graph) throws -> Graph {
        var g = graph
        // The node that writes each value (kept current as nodes are moved and added).
        var producer: [ValueID: Node] = [:]
        for m in g.nodes { producer[m.output] = m }
        var k = 0
        while k < g.nodes.count {
            let n = g.nodes[k]
            guard n.op.schema.quantization == .inputRange, let x = n.inputs.first ?? nil, g.values[x].dtype.isQuantized8,
                  n.inputs.dropFirst().allSatisfy({ $0 == nil || !g.values[$0!].dtype.isQuantized8 }),
                  let q = producer[x], case let .quantize(dtype) = q.op, let source = q.inputs.first ?? nil,
                  g.values[source].dtype == .f32, !g.outputs.contains(n.output) else { k += 1; continue }
            // The moved op now reads and writes floats; a new quantize after it gives its consumers the codes.
            let out = n.output
            var floatValue = g.values[out]
            floatValue.name += "/float"
            floatValue.dtype = .f32
            floatValue.quant = nil
            g.values.append(floatValue)
            let floatID = g.values.count - 1
            g.nodes[k].inputs[0] = source
            g.nodes[k].output = floatID
            let requantize = Node(name: n.name + "/quantize", op: .quantize(dtype), inputs: [floatID], output: out)
            g.nodes.insert(requantize, at: k + 1)
            producer[floatID] = g.nodes[k]
            producer[out] = requantize
            k += 2
        }
        _ = try g.validate()
        return g
    }

    /// The QDQ model as an int8 graph, and how far its outputs are from the Q/DQ float graph's on a
    /// probe input drawn (fixed seed) inside the input's quantized range: the worst output's largest
    /// difference in that output's quanta (nil when an input is not float, so no probe is drawn).
    /// `optimize` (the packer's passes) runs on the float graph once the pairs are gone, so a conv
    /// and the relu the pairs kept apart fuse.
    public static func int8(_ graph: Graph, optimize: (Graph) throws -> Graph = { $0 },
                            limits: LoadLimits = LoadLimits()) throws -> (graph: Graph, probeQuanta: Double?) {
        let (stripped, stated) = try strip(graph)
        // ORT rounds at the pairs and nowhere else, and the int8 graph requantizes as ORT does: a value
        // a pair quantizes keeps its own node (no pass fuses across it: fold-batchnorm would fold a
        // lowered HardSigmoid's x·α + β into a squeeze-excite conv and drop that rounding), and a
        // chain of elementwise ops between two pairs without one of its own runs as a float island
        // (no invented intermediate rounding), as in the Q/DQ graph.
        let folded = try int8Graph(stripped, stated: stated,
                                   optimize: { try keepingRounding(at: Set(stated.keys), $0, optimize) })
        let types = try graph.validate().types
        var state: UInt64 = 0x5EED_0DD5
        var inputs: [[UInt8]] = []
        for id in graph.inputs {
            guard types[id].dtype == .f32 else { return (folded, nil) }
            let r = stated[graph.values[id].name].map(range) ?? (min: -1, max: 1)
            // Normal around the range's middle with a sixth of its width as sd, clamped to the range:
            // inside what calibration saw, as real inputs are (uniform noise over the whole range
            // drives softmax outputs past their calibrated range, where any two quantizations differ).
            func uniform() -> Float {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return (Float(state >> 40) + 0.5) / Float(1 << 24)
            }
            let mid = (r.min + r.max) / 2, sd = (r.max - r.min) / 6
            let xs = (0..<types[id].elementCount).map { _ -> Float in
                let g = (-2 * logf(uniform())).squareRoot() * cosf(2 * Float.pi * uniform())
                return min(max(mid + sd * g, r.min), r.max)
            }
            inputs.append(xs.withUnsafeBytes { Array($0) })
        }
        let want = try floatOutputs(graph, samples: [Sample(inputs: inputs)], limits: limits)[0]
        let got = try floatOutputs(folded, samples: [Sample(inputs: inputs)], limits: limits)[0]
        var worst = 0.0
        for (k, id) in graph.outputs.enumerated() {
            let r = stated[graph.values[id].name].map(range)
            let quantum = r.map { Double($0.max - $0.min) / 255 } ?? Double(want[k].map(abs).max() ?? 1) / 127
            let diff = zip(want[k], got[k]).map { Double(abs($0 - $1)) }.max() ?? 0
            worst = max(worst, quantum > 0 ? diff / quantum : diff)
        }
        return (folded, worst)
    }

    /// `optimize` with the values named in `rounded` kept as they are: graph outputs while the passes run,
    /// so that no pass fuses across them (fold-batchnorm, fuse-activations, fuse-swish).
    static func keepingRounding(at rounded: Set<String>, _ graph: Graph, _ optimize: (Graph) throws -> Graph) throws -> Graph {
        var g = graph
        let kept = graph.values.indices.filter { id in
            graph.values[id].constant == nil && rounded.contains(graph.values[id].name) && !graph.outputs.contains(id)
                && !graph.inputs.contains(id)
        }
        g.outputs += kept
        var optimized = try optimize(g)
        guard optimized.outputs.count == g.outputs.count else {
            throw EmberError.invalidGraph(node: graph.name, reason: "the passes changed the number of graph outputs")
        }
        optimized.outputs = Array(optimized.outputs.prefix(graph.outputs.count))  // the graph's own, in order
        return optimized
    }

    /// The stripped float graph after `optimize`, quantized with the parameters the pairs stated.
    static func int8Graph(_ stripped: Graph, stated: [String: QuantParams],
                          optimize: (Graph) throws -> Graph) throws -> Graph {
        let float = try optimize(stripped)
        var exact = float.values.map { stated[$0.name] }
        var byID = exact.map { $0.map(range) }
        // Values the importer added between pairs (layout transposes, reshapes) move data only:
        // they carry their input's range, as the quantizer's same-scale rule has it.
        for n in float.nodes where byID[n.output] == nil && n.op.schema.quantization == .inputRange {
            if let x = n.inputs.first ?? nil { byID[n.output] = byID[x]; exact[n.output] = exact[x] }
        }
        // Float constants an int8 op reads (an Add's operand) take their own extremes.
        for (id, v) in float.values.enumerated() where byID[id] == nil && v.dtype == .f32 {
            guard let c = v.constant, let xs = floatsOf(v, c), let lo = xs.min(), let hi = xs.max() else { continue }
            byID[id] = (lo, hi)
        }
        var calibration = Calibration(ranges: byID, sampleCount: 0)
        calibration.stated = exact
        return try Quantizer.int8(float, calibration: calibration, requantization: .float)
    }
}
