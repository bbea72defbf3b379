import Testing
import EmberRuntime
import EmberKernels
import Ember

/// The int8 transposed convolution on each SIMD path (one GEMM per input row, products added into int32
/// sums, then requantized) gives the reference kernel's bytes: random geometries — kernels 1–5, strides
/// 1–3 (taps overlapping or not), crops, outputs past the full size (bias-only rows), odd channel counts,
/// batches of 2, per-channel and per-tensor weights, relu, and saturating zero points.
@Suite struct TransposeConvTests {
    static func graph(_ rng: inout SplitMix64, trial: Int) throws -> Graph {
        let batch = rng.int(1...2), inH = rng.int(1...6), inW = rng.int(1...9)
        let inC = [1, 3, 4, 7, 16, 33, 64][rng.int(0...6)], outC = [1, 2, 5, 8, 16, 17, 32][rng.int(0...6)]
        let kh = rng.int(1...5), kw = rng.int(1...5), sh = rng.int(1...3), sw = rng.int(1...3)
        func side(_ input: Int, _ kernel: Int, _ stride: Int) -> (out: Int, pad: Int) {
            let full = (input - 1) * stride + kernel, pad = rng.int(0...(kernel - 1))
            return (rng.int(max(1, full - pad - kernel + 1)...(full - pad + stride - 1)), pad)
        }
        let (outH, padTop) = side(inH, kh, sh), (outW, padLeft) = side(inW, kw, sw)
        let b = GraphBuilder(name: "transpose-conv-\(trial)")
        let x = b.input("x", .i8, [batch, inH, inW, inC], quant: QuantParams(scale: 0.05, zeroPoint: Int32(rng.int(-128...127))))
        let perChannel = trial % 2 == 0
        let scales = (0..<outC).map { _ in Float.random(in: 0.002...0.05, using: &rng) }
        let wq = perChannel ? QuantParams(scales: scales, zeroPoints: [Int32](repeating: 0, count: outC), axis: 0)
                            : QuantParams(scale: scales[0], zeroPoint: 0)
        let w = b.constant("w", rng.int8s(outC * kh * kw * inC), dtype: .i8, dims: [outC, kh, kw, inC], quant: wq)
        let bias = b.constant("b", (0..<outC).map { _ in Int32(rng.int(-5000...5000)) }, dtype: .i32, dims: [outC])
        let attributes = TransposeConv2DAttributes(outputHeight: outH, outputWidth: outW, strideH: sh, strideW: sw,
                                                   padTop: padTop, padLeft: padLeft, activation: trial % 3 == 0 ? .relu : .none)
        // A small output scale on some trials, so that many outputs saturate.
        let outScale: Float = trial % 4 == 1 ? 0.005 : 0.2
        let y = try b.add(.transposeConv2D(attributes), [x, w, bias], name: "up", outputDType: .i8,
                          outputQuant: QuantParams(scale: outScale, zeroPoint: Int32(rng.int(-20...20))))
        b.output(y, name: "y")
        return try b.build()
    }

    func run(_ g: Graph, isa: KernelISA, feeds: [String: Tensor]) throws -> (bytes: [UInt8], kernels: [String]) {
        let e = try Executor(graph: g, options: ExecutorOptions(isa: isa))
        for (i, slot) in e.inputs.enumerated() {
            guard let t = feeds[slot.name] else { continue }
            t.bytes.withUnsafeBytes { e.inputBuffer(i).copyMemory(from: $0) }
        }
        e.run()
        return (Array(e.outputBuffer(0)), e.implementations)
    }

    @Test func int8TransposedConvolutionIsByteExactOnEveryPath() throws {
        let paths = KernelISA.supported.filter { $0 != .scalar }
        for path in KernelISA.allCases where path != .scalar && !paths.contains(path) {
            print("SKIP: no \(path) kernels on this CPU; its transposed convolution was not tested here")
        }
        var rng = SplitMix64(seed: 91)
        for trial in 0..<120 {
            let g = try Self.graph(&rng, trial: trial)
            let feeds = TestModels.input(for: g, seed: UInt64(trial))
            let expected = try run(g, isa: .scalar, feeds: feeds)
            #expect(expected.kernels.contains("transpose_conv2d_s8_ref"))
            for path in paths {
                let got = try run(g, isa: path, feeds: feeds)
                #expect(got.kernels.contains("transpose_conv2d_s8_\(path.rawValue)"), "\(path): \(got.kernels)")
                let differing = zip(got.bytes, expected.bytes).filter { $0 != $1 }.count
                #expect(differing == 0, "\(path) trial \(trial): \(differing) of \(expected.bytes.count) bytes differ")
            }
        }
    }
}
