import EmberCore
import EmberPack
import Testing

/// QDQ graphs (ONNX QuantizeLinear → DequantizeLinear pairs, as onnxruntime.quantization writes
/// them) folded into int8 ops.
@Suite struct QDQFoldingTests {
    /// A Q/DQ pair stating `range` for `v`.
    func pair(_ b: GraphBuilder, _ v: ValueID, _ range: (Float, Float), _ name: String) throws -> ValueID {
        let p = Quantizer.activationParams(min: range.0, max: range.1)
        return try onnxPair(b, v, scale: p.scale, zeroPoint: p.zeroPoint, name)
    }

    /// A Q/DQ pair with ONNX's parameters (as the importer states them) around `v`.
    func onnxPair(_ b: GraphBuilder, _ v: ValueID, scale: Float, zeroPoint: Int32, _ name: String) throws -> ValueID {
        var p = QuantParams(scale: scale, zeroPoint: zeroPoint)
        p.requantization = .float
        let q = try b.add(.quantize(.i8), [v], name: name + "_q", outputQuant: p)
        return try b.add(.dequantize, [q], name: name + "_dq")
    }

    /// A residual block with power-of-two scales, where the Q/DQ graph's float arithmetic is exact and
    /// rounding ties are common: the folded int8 ops (conv, add) requantize as ORT does — float scale,
    /// ties to even — and give the Q/DQ graph's outputs exactly, ties included. (TFLite's fixed-point
    /// requantization rounds those ties away from zero, twice: 1 quantum off on the probe.)
    @Test func foldedInt8OpsRoundAsTheQDQGraphDoes() throws {
        var rng = SplitMix64(seed: 11)
        let b = GraphBuilder(name: "residual")
        let x = try onnxPair(b, b.input("x", .f32, [1, 5, 5, 8]), scale: 1.0 / 32, zeroPoint: 0, "x")
        // Weights k/64 with |k| ≤ 127 and 127 in every channel (so re-quantizing per channel keeps 1/64),
        // bias a multiple of s_x·s_w = 1/2048.
        var w = (0..<64).map { _ in Float(rng.int(-127...127)) / 64 }
        for o in 0..<8 { w[o * 8 + o] = o % 2 == 0 ? 127.0 / 64 : -127.0 / 64 }
        let bias = (0..<8).map { _ in Float(rng.int(-4000...4000)) / 2048 }
        let conv = try b.add(.conv2D(Conv2DAttributes(padding: .same)),
                             [x, b.constant("w", w, dims: [8, 1, 1, 8]), b.constant("b", bias, dims: [8])], name: "conv")
        let c = try onnxPair(b, conv, scale: 1.0 / 8, zeroPoint: 0, "conv")
        let sum = try onnxPair(b, try b.add(.add(.none), [c, x], name: "residual"), scale: 1.0 / 4, zeroPoint: -3, "sum")
        b.output(sum)
        let qdq = try b.build()
        let (folded, quanta) = try QDQFolding.int8(qdq, optimize: { try GraphPasses.run($0) })
        #expect(quanta == 0)
        let ops = folded.nodes.map { "\($0.op)" }
        #expect(ops.contains { $0.hasPrefix("conv2D") } && ops.contains { $0.hasPrefix("add") } && !ops.contains { $0.hasPrefix("mul") }, "\(ops)")
        // Inputs on the code grid and halfway between codes (ties for the input's own quantize).
        let samples = (0..<16).map { k -> Sample in
            let xs = (0..<200).map { _ in (Float(rng.int(-120...120)) + (k % 2 == 0 ? 0 : 0.5)) / 32 }
            return Sample(inputs: [xs.withUnsafeBytes { Array($0) }])
        }
        let want = try floatOutputs(qdq, samples: samples), got = try floatOutputs(folded, samples: samples)
        for k in samples.indices {
            let differing = zip(want[k][0], got[k][0]).filter { $0 != $1 }.count
            #expect(differing == 0, "sample \(k): \(differing) of \(want[k][0].count) outputs differ from the Q/DQ graph's")
        }
    }

    /// MobileNetV3's squeeze-excite gate as ORT quantizes it: conv → Q/DQ → HardSigmoid (lowered to
    /// x·α + β clamped to [0, 1], no pairs inside) → Q/DQ → Mul with the features. ORT rounds at the
    /// conv's pair and again after the clamp, so the folded graph does the same: the affine part is not
    /// folded into the conv across the pair (before, fold-batchnorm did, and the conv took a range
    /// computed for x·α + β: 32 quanta off on mobilenet_v3_small, then 2), and the clamp chain between the
    /// pairs, which has no pair of its own, runs in float as in the Q/DQ graph. The probe then gives
    /// exactly the Q/DQ graph's outputs.
    @Test func aHardSigmoidGateRoundsWhereTheQDQGraphRounds() throws {
        var rng = SplitMix64(seed: 7)
        let b = GraphBuilder(name: "se-gate")
        let x = try pair(b, b.input("x", .f32, [1, 6, 6, 8]), (-3, 3), "x")
        // Weights and bias on ORT's grids (per-channel int8 weights, int32 bias at s_x·s_w), as a QDQ model has them.
        var w = rng.floats(8 * 8, scale: 0.5), bias = rng.floats(8, scale: 0.2)
        let sx = Quantizer.activationParams(min: -3, max: 3).scale
        for o in 0..<8 {
            let sw = w[(o * 8)..<(o * 8 + 8)].map(abs).max()! / 127
            for i in 0..<8 { w[o * 8 + i] = (w[o * 8 + i] / sw).rounded() * sw }
            bias[o] = (bias[o] / (sx * sw)).rounded() * (sx * sw)
        }
        // The conv's output bound for inputs in ±3: its measured range, as calibration would state it.
        var bound: Float = 0
        for o in 0..<8 {
            var sum: Float = abs(bias[o])
            for i in 0..<8 { sum += 3 * abs(w[o * 8 + i]) }
            bound = max(bound, sum)
        }
        let conv = try b.add(.conv2D(Conv2DAttributes(padding: .valid)),
                             [x, b.constant("w", w, dims: [8, 1, 1, 8]), b.constant("b", bias, dims: [8])], name: "fc2")
        let gateIn = try pair(b, conv, (-bound, bound) as (Float, Float), "fc2")
        let scaled = try b.add(.mul(.none), [gateIn, b.constant("alpha", [1 / 6], dims: [1])], name: "hs/scaled")
        let shifted = try b.add(.add(.none), [scaled, b.constant("beta", [0.5], dims: [1])], name: "hs/shifted")
        let low = try b.add(.maximum, [shifted, b.constant("zero", [0], dims: [1])], name: "hs/low")
        let gate = try pair(b, try b.add(.minimum, [low, b.constant("one", [1], dims: [1])], name: "hs"), (Float(0), Float(1)), "hs")
        let y = try pair(b, try b.add(.mul(.none), [x, gate], name: "scaled_features"), (-3, 3), "y")
        b.output(y)
        let (folded, quanta) = try QDQFolding.int8(try b.build(), optimize: { try GraphPasses.run($0) })
        #expect(try #require(quanta) == 0, "folded outputs \(quanta ?? -1) quanta from the Q/DQ graph's on the probe input")
        let validated = try folded.validate()
        func dtype(_ name: String) -> DType? { folded.nodes.first { $0.name == name }.map { validated.types[$0.output].dtype } }
        // The conv and the gating Mul are int8 ops; the affine part stayed out of the conv.
        #expect(dtype("fc2") == .i8 && dtype("scaled_features") == .i8)
        #expect(dtype("hs/scaled") == .f32 && dtype("hs/shifted") == .f32, "\(folded.nodes.map { "\($0.name) \($0.op)" })")
    }
}
