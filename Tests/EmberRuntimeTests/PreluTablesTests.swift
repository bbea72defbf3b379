import Testing
import Ember
import CEmberKernels
import EmberKernels

/// int8 PRELU with constant per-channel slopes runs as per-channel tables made by the reference at
/// prepare (`prelu_s8_tables`): every input code of every channel gives the reference's byte.
@Suite struct PreluTablesTests {
    @Test(arguments: [7, 1])
    func perChannelTablesGiveTheReferenceBytes(slopeCount: Int) throws {
        var rng = SplitMix64(seed: UInt64(90 + slopeCount))
        let channels = 7
        let qx = QuantParams(scale: 0.03, zeroPoint: 5), qa = QuantParams(scale: 0.011, zeroPoint: -4)
        let qo = QuantParams(scale: 0.05, zeroPoint: -7)
        let b = GraphBuilder(name: "prelu-tables")
        let x = b.input("x", .i8, [1, 6, 37, channels], quant: qx)
        let slopes = rng.int8s(slopeCount)
        let alpha = b.constant("alpha", slopes, dtype: .i8, dims: slopeCount == 1 ? [1] : [1, 1, slopeCount], quant: qa)
        b.output(try b.add(.prelu, [x, alpha], name: "prelu", outputQuant: qo), name: "y")
        let g = try b.build()
        // Every code in every channel (the input holds all 256 at least once per channel), and extremes.
        var codes = (0..<(6 * 37 * channels)).map { Int8(truncatingIfNeeded: $0 / channels) }
        codes[0] = -128; codes[1] = 127
        for isa in KernelISA.supported {
            let e = try Executor(graph: g, options: ExecutorOptions(isa: isa))
            #expect(e.implementations.contains("prelu_s8_tables"), "\(isa): \(e.implementations)")
            codes.withUnsafeBytes { e.inputBuffer(0).copyMemory(from: $0) }
            e.run()
            // The reference over the same broadcast.
            var p = ember_prelu_s8_params()
            p.input_offset = -qx.zeroPoint; p.alpha_offset = -qa.zeroPoint; p.output_offset = qo.zeroPoint
            (p.multiplier_1, p.shift_1) = quantizeMultiplier(Double(qx.scale) / Double(qo.scale))
            (p.multiplier_2, p.shift_2) = quantizeMultiplier(Double(qx.scale) * Double(qa.scale) / Double(qo.scale))
            var bc = ember_broadcast()
            bc.rank = 2
            withUnsafeMutableBytes(of: &bc.shape) { $0.bindMemory(to: Int32.self)[0] = Int32(codes.count / channels)
                                                     $0.bindMemory(to: Int32.self)[1] = Int32(channels) }
            withUnsafeMutableBytes(of: &bc.a_strides) { $0.bindMemory(to: Int64.self)[0] = Int64(channels)
                                                         $0.bindMemory(to: Int64.self)[1] = 1 }
            withUnsafeMutableBytes(of: &bc.b_strides) { $0.bindMemory(to: Int64.self)[0] = 0
                                                         $0.bindMemory(to: Int64.self)[1] = slopeCount == 1 ? 0 : 1 }
            var expected = [Int8](repeating: 0, count: codes.count)
            ember_prelu_s8_ref(&bc, codes, slopes, &p, &expected)
            #expect(Array(e.outputBuffer(0).bindMemory(to: Int8.self)) == expected, "\(isa)")
        }
    }
}
