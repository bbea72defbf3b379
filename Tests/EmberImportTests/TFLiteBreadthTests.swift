import Testing
import Ember
import EmberImport

/// Published float models store weights as float16 behind DEQUANTIZE and use PRELU; both import.
@Suite struct TFLiteBreadthTests {
    static func bytes(_ v: [Float]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }
    static func halves(_ v: [Float]) -> [UInt8] { v.flatMap { f -> [UInt8] in let h = Float16(f).bitPattern; return [UInt8(h & 0xFF), UInt8(h >> 8)] } }

    /// x [1,5,4,3] → DEPTHWISE_CONV_2D(filter = DEQUANTIZE(f16 [1,3,3,3]), bias) → PRELU(alpha [1,1,3]) → y.
    @Test func aDepthwiseFilterBehindDequantizeAndPreluImportAndMatchTheirDefinition() throws {
        var rng = SplitMix64(seed: 81)
        let (h, w, c) = (5, 4, 3)
        let filter = rng.floats(9 * c), bias = rng.floats(c), alpha = [Float(0.25), -0.5, 1.5]
        var m = TFLiteModel()
        m.builtinCodes = [6, 4, 54]   // DEQUANTIZE, DEPTHWISE_CONV_2D, PRELU
        m.buffers += [Self.halves(filter), Self.bytes(bias), Self.bytes(alpha)]
        m.tensors = [
            .init(name: "x", shape: [1, Int32(h), Int32(w), Int32(c)]),
            .init(name: "w16", shape: [1, 3, 3, Int32(c)], type: 1, buffer: 1),
            .init(name: "w", shape: [1, 3, 3, Int32(c)]),
            .init(name: "bias", shape: [Int32(c)], buffer: 2),
            .init(name: "dw", shape: [1, Int32(h), Int32(w), Int32(c)]),
            .init(name: "alpha", shape: [1, 1, Int32(c)], buffer: 3),
            .init(name: "y", shape: [1, Int32(h), Int32(w), Int32(c)]),
        ]
        m.operators = [.init(opcode: 0, inputs: [1], outputs: [2]), .init(opcode: 1, inputs: [0, 2, 3], outputs: [4]),
                       .init(opcode: 2, inputs: [4, 5], outputs: [6])]
        m.inputs = [0]; m.outputs = [6]
        let g = try m.bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: "breadth") }
        #expect(g.nodes.map(\.op.kind) == [.conv2D, .prelu], "DEQUANTIZE of the constant is folded away")
        let x = rng.floats(h * w * c, 2)
        for isa in KernelISA.supported {
            let s = try Session(package: EmberPackage(contents: PackageContents(metadata: PackageMetadata(),
                variants: [VariantRecord(name: "v")], graphs: [g])), options: ExecutorOptions(isa: isa))
            let out = try s.run(["x": Tensor(x, dims: [1, h, w, c])])
            let y = try #require(out["y"]).bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            // SAME 3×3 depthwise with the halves' values, then x ≥ 0 ? x : alpha·x.
            let wv = filter.map { Float(Float16($0)) }
            var worst: Float = 0
            for oy in 0..<h { for ox in 0..<w { for ch in 0..<c {
                var acc = bias[ch]
                for ky in 0..<3 { for kx in 0..<3 {
                    let iy = oy + ky - 1, ix = ox + kx - 1
                    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                    acc += x[(iy * w + ix) * c + ch] * wv[(ky * 3 + kx) * c + ch]
                } }
                let expected = acc >= 0 ? acc : alpha[ch] * acc
                worst = max(worst, abs(y[(oy * w + ox) * c + ch] - expected))
            } } }
            #expect(worst < 1e-5, "\(isa): largest difference \(worst)")
        }
    }

    @Test func int8PreluIsAClearErrorNotAMalformedModel() {
        var m = TFLiteModel()
        m.builtinCodes = [54]
        m.buffers.append([1, 2, 3])
        m.tensors = [.init(name: "x", shape: [1, 3], type: 9, scales: [0.1], zeroPoints: [0]),
                     .init(name: "a", shape: [3], type: 9, buffer: 1, scales: [0.1], zeroPoints: [0]),
                     .init(name: "y", shape: [1, 3], type: 9, scales: [0.1], zeroPoints: [0])]
        m.operators = [.init(opcode: 0, inputs: [0, 1], outputs: [2])]
        m.inputs = [0]; m.outputs = [2]
        #expect(importError(m.bytes).contains("PRELU on i8 tensors (float PRELU is supported)"))
    }
}
