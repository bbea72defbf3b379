import Ember

enum Int8Models {
    /// quantize → FC(int8, relu) → add → softmax (int8 fallback) → mean → dequantize: touches
    /// integer kernels, lookup tables and the float fallback.
    static func quantizedMLP() throws -> Graph {
        var rng = SplitMix64(seed: 5)
        let b = GraphBuilder(name: "q-mlp")
        let x = b.input("x", .f32, [2, 16])
        let q = QuantParams(scale: 2.0 / 255, zeroPoint: 0)
        let xq = try b.add(.quantize(.i8), [x], name: "quantize", outputQuant: q)
        let w = b.constant("w", (0..<(8 * 16)).map { _ in Int8.random(in: -127...127, using: &rng) }, dtype: .i8, dims: [8, 16],
                           quant: QuantParams(scales: (0..<8).map { _ in Float.random(in: 0.001...0.01, using: &rng) }, zeroPoints: [Int32](repeating: 0, count: 8), axis: 0))
        let bias = b.constant("bias", (0..<8).map { _ in Int32.random(in: -500...500, using: &rng) }, dtype: .i32, dims: [8])
        let hq = QuantParams(scale: 0.02, zeroPoint: -128)
        let h = try b.add(.fullyConnected(.relu), [xq, w, bias], name: "fc", outputQuant: hq)
        let h2 = try b.add(.add(.none), [h, h], name: "double", outputQuant: QuantParams(scale: 0.04, zeroPoint: -128))
        let s = try b.add(.softmax(axis: -1, beta: 1), [h2], name: "softmax", outputQuant: QuantParams(scale: 1.0 / 256, zeroPoint: -128))
        let m = try b.add(.mean(axes: [0], keepDims: false), [s], name: "mean", outputQuant: QuantParams(scale: 1.0 / 256, zeroPoint: -128))
        let y = try b.add(.dequantize, [m], name: "y")
        b.output(y)
        return try b.build()
    }
}
