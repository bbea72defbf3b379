import EmberCore
import EmberPack
import Testing

/// QDQ graphs (ONNX QuantizeLinear → DequantizeLinear pairs, as onnxruntime.quantization writes
/// them) folded into int8 ops.
@Suite struct QDQFoldingTests {
    /// A Q/DQ pair stating `range` for `v`.
    func pair(_ b: GraphBuilder, _ v: ValueID, _ range: (Float, Float), _ name: String) throws -> ValueID {
        let q = try b.add(.quantize(.i8), [v], name: name + "_q", outputQuant: Quantizer.activationParams(min: range.0, max: range.1))
        return try b.add(.dequantize, [q], name: name + "_dq")
    }

    /// MobileNetV3's squeeze-excite gate as ORT quantizes it: conv → Q/DQ → HardSigmoid (lowered to
    /// x·α + β clamped to [0, 1], no pairs inside) → Q/DQ → Mul with the features. The affine part
    /// folds into the conv (fold-batchnorm), so the conv's output must take the range of what it now
    /// computes, and the clamps keep their input's parameters: before, the conv kept the range of
    /// its old output (32 quanta off on mobilenet_v3_small) and the clamps stayed float.
    @Test func aHardSigmoidGateFoldsIntoInt8OpsWithinAQuantum() throws {
        var rng = SplitMix64(seed: 7)
        let b = GraphBuilder(name: "se-gate")
        let x = try pair(b, b.input("x", .f32, [1, 6, 6, 8]), (-3, 3), "x")
        let w = rng.floats(8 * 8, scale: 0.5), bias = rng.floats(8, scale: 0.2)
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
        let probe = try #require(quanta)
        #expect(probe <= 1.5, "folded outputs \(probe) quanta from the Q/DQ graph's on the probe input")
        // Only the input's quantize and the output's dequantize are left: no float islands.
        let ops = folded.nodes.map { "\($0.op)" }
        #expect(ops.filter { $0.hasPrefix("quantize") }.count == 1 && ops.filter { $0 == "dequantize" }.count == 1, "\(ops)")
        let validated = try folded.validate()
        for n in folded.nodes where !"\(n.op)".hasPrefix("dequantize") {
            #expect(validated.types[n.output].dtype == .i8, "\(n.name) (\(n.op)) stayed \(validated.types[n.output].dtype)")
        }
    }
}
