import Testing
import Ember
import EmberImport
import EmberKernels
import CEmberKernels

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
        let filterID = try #require(g.nodes[0].inputs[1])
        #expect(g.values[filterID].dtype == .f16, "float16 weights stay halves")
        #expect(g.values[filterID].constant?.count == 9 * c * 2)
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

    /// x f32 [2,6] → FULLY_CONNECTED(int8 weights [3,6], scale 0.05; f32 bias) → y: the dynamic-range FC.
    @Test func aHybridFullyConnectedImportsAndQuantizesEachRowSymmetrically() throws {
        var rng = SplitMix64(seed: 82)
        let w = rng.int8s(18), bias: [Float] = [0.5, -1, 2]
        var m = TFLiteModel()
        m.builtinCodes = [9]
        m.buffers += [w.map { UInt8(bitPattern: $0) }, Self.bytes(bias)]
        m.tensors = [.init(name: "x", shape: [2, 6]), .init(name: "w", shape: [3, 6], type: 9, buffer: 1, scales: [0.05], zeroPoints: [0]),
                     .init(name: "b", shape: [3], buffer: 2), .init(name: "y", shape: [2, 3])]
        m.operators = [.init(opcode: 0, inputs: [0, 1, 2], outputs: [3])]
        m.inputs = [0]; m.outputs = [3]
        let g = try m.bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: "hybrid-fc") }
        let x: [Float] = [0.3, -1.2, 2.5, 0, 0.7, -0.05, 0, 0, 0, 0, 0, 0]   // the second row is all zeros
        for isa in KernelISA.supported {
            let s = try Session(package: EmberPackage(contents: PackageContents(metadata: PackageMetadata(),
                variants: [VariantRecord(name: "v")], graphs: [g])), options: ExecutorOptions(isa: isa))
            let y = try #require(try s.run(["x": Tensor(x, dims: [2, 6])])["y"]).bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            // Row 0 quantized with scale 2.5/127; row 1 (zeros) gives the bias.
            let scale: Float = 2.5 / 127, q = x.prefix(6).map { Int32(($0 / scale).rounded(.toNearestOrAwayFromZero)) }
            for o in 0..<3 {
                let acc = (0..<6).reduce(Int32(0)) { $0 + q[$1] * Int32(w[o * 6 + $1]) }
                let expected = Float(acc) * (scale * 0.05) + bias[o]
                #expect(abs(y[o] - expected) < 1e-5, "\(isa) output \(o): \(y[o]) vs \(expected)")
                #expect(y[3 + o] == bias[o], "\(isa): a zero row gives the bias")
            }
        }
    }

    /// int8 PRELU imports and computes TFLite's two-multiplier requantization (reference_ops::Prelu):
    /// x − zp ≥ 0 scaled by s_x/s_y, else (x − zp)(α − zp_α) scaled by s_x·s_α/s_y.
    @Test func int8PreluFollowsTFLitesRequantization() throws {
        var m = TFLiteModel()
        m.builtinCodes = [54]
        let alpha: [Int8] = [40, -90, 127]
        m.buffers.append(alpha.map { UInt8(bitPattern: $0) })
        m.tensors = [.init(name: "x", shape: [2, 3], type: 9, scales: [0.1], zeroPoints: [5]),
                     .init(name: "a", shape: [3], type: 9, buffer: 1, scales: [0.01], zeroPoints: [-3]),
                     .init(name: "y", shape: [2, 3], type: 9, scales: [0.07], zeroPoints: [-10])]
        m.operators = [.init(opcode: 0, inputs: [0, 1], outputs: [2])]
        m.inputs = [0]; m.outputs = [2]
        let g = try m.bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: "prelu8") }
        let x: [Int8] = [-128, -1, 5, 6, 127, -40]
        let s = try Session(package: EmberPackage(contents: PackageContents(metadata: PackageMetadata(), variants: [VariantRecord(name: "v")], graphs: [g])))
        let y = try #require(try s.run(["x": Tensor(dtype: .i8, dims: [2, 3], bytes: x.map { UInt8(bitPattern: $0) })])["y"]).int8s
        let (m1, s1) = quantizeMultiplier(0.1 / 0.07), (m2, s2) = quantizeMultiplier(0.1 * 0.01 / 0.07)
        for i in 0..<6 {
            let v = Int32(x[i]) - 5
            let o = v >= 0 ? ember_multiply_by_quantized_multiplier(v, m1, s1)
                           : ember_multiply_by_quantized_multiplier(v * (Int32(alpha[i % 3]) + 3), m2, s2)
            #expect(y[i] == Int8(max(-128, min(127, o - 10))), "element \(i)")
        }
    }
}

/// Sparse constants (TFLite SparsityParameters) behind DENSIFY: densified at import.
@Suite struct TFLiteSparseTests {
    /// One DimensionMetadata: dense of `size`, or CSR with segments and indices (vector type 1 int32, 3 uint8).
    static func level(dense size: Int32) -> FBObject { .table([(0, .i8(0)), (1, .i32(size))]) }
    static func level(segments: [Int32], indices: [Int32], uint8: Bool = false) -> FBObject {
        func vector(_ v: [Int32]) -> FBObject { .table([(0, .object(uint8 ? .bytes(v.map { UInt8($0) }) : .int32s(v)))]) }
        return .table([(0, .i8(1)), (2, .u8(uint8 ? 3 : 1)), (3, .object(vector(segments))), (4, .u8(uint8 ? 3 : 1)),
                       (5, .object(vector(indices)))])
    }
    static func sparsity(order: [Int32], blockMap: [Int32] = [], levels: [FBObject]) -> FBObject {
        .table([(0, .object(.int32s(order))), (1, .object(.int32s(blockMap))), (2, .object(.tables(levels)))])
    }

    /// x [1,K] → FULLY_CONNECTED(x, DENSIFY(w)) → y [1,N], w sparse with `sparsity` and `values`.
    static func model(n: Int32, k: Int32, values: [Float], sparsity: FBObject) -> [UInt8] {
        var m = TFLiteModel()
        m.builtinCodes = [124, 9]   // DENSIFY, FULLY_CONNECTED
        m.buffers.append(TFLiteBreadthTests.bytes(values))
        m.tensors = [.init(name: "x", shape: [1, k]), .init(name: "w_sparse", shape: [n, k], buffer: 1, sparsity: sparsity),
                     .init(name: "w", shape: [n, k]), .init(name: "y", shape: [1, n])]
        m.operators = [.init(opcode: 0, inputs: [1], outputs: [2]), .init(opcode: 1, inputs: [0, 2, -1], outputs: [3])]
        m.inputs = [0]; m.outputs = [3]
        return m.bytes
    }

    func run(_ bytes: [UInt8], x: [Float]) throws -> [Float] {
        let g = try bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: "sparse") }
        let s = try Session(package: EmberPackage(contents: PackageContents(metadata: PackageMetadata(),
                                                                            variants: [VariantRecord(name: "v")], graphs: [g])))
        let out = try s.run(["x": Tensor(x, dims: [1, x.count])])
        return try #require(out["y"]).bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    @Test func aCSRMatrixDensifiesToItsRows() throws {
        // [[0, 1.5, 0, 0, -2], [0, 0, 0, 0, 0], [3, 0, 0.5, 0, 0]]
        let sp = Self.sparsity(order: [0, 1], levels: [Self.level(dense: 3), Self.level(segments: [0, 2, 2, 4], indices: [1, 4, 0, 2])])
        let x: [Float] = [1, 2, 3, 4, 5]
        let y = try run(Self.model(n: 3, k: 5, values: [1.5, -2, 3, 0.5], sparsity: sp), x: x)
        let expected: [Float] = [-7, 0, 4.5]   // 1.5·2 − 2·5, 0, 3·1 + 0.5·3
        #expect(y == expected)
    }

    @Test func aBlockSparseMatrixDensifiesBlockByBlock() throws {
        // [4,4] in 1×2 blocks along dim 1: row 0 block 0 = [1,2]; row 1 block 1 = [3,4]; row 3 both = [5,6,7,8].
        let sp = Self.sparsity(order: [0, 1, 2], blockMap: [1],
                               levels: [Self.level(dense: 4), Self.level(segments: [0, 1, 2, 2, 4], indices: [0, 1, 0, 1], uint8: true),
                                        Self.level(dense: 2)])
        let x: [Float] = [1, 10, 100, 1000]
        let y = try run(Self.model(n: 4, k: 4, values: [1, 2, 3, 4, 5, 6, 7, 8], sparsity: sp), x: x)
        let expected: [Float] = [21, 4300, 0, 8765]   // 1 + 2·10, 3·100 + 4·1000, 0, 5 + 60 + 700 + 8000
        #expect(y == expected)
    }

    @Test func brokenSparseIndexListsAreErrorsNamingTheTensor() {
        let cases: [(FBObject, [Float], String)] = [
            (Self.sparsity(order: [0, 1], levels: [Self.level(dense: 3), Self.level(segments: [0, 2, 9, 4], indices: [1, 4, 0, 2])]),
             [1, 2, 3, 4], "segments are not a non-decreasing list"),
            (Self.sparsity(order: [0, 1], levels: [Self.level(dense: 3), Self.level(segments: [0, 2, 2, 4], indices: [1, 7, 0, 2])]),
             [1, 2, 3, 4], "index outside 0..<5"),
            (Self.sparsity(order: [0, 1], levels: [Self.level(dense: 3), Self.level(segments: [0, 2, 2, 4], indices: [1, 4, 0, 2])]),
             [1, 2, 3], "the index lists name more elements than its 3 values"),
            (Self.sparsity(order: [0, 1], levels: [Self.level(dense: 3), Self.level(segments: [0, 2], indices: [1, 4])]),
             [1, 2], "has no segment for position 1"),
            (Self.sparsity(order: [1, 1], levels: [Self.level(dense: 3), Self.level(dense: 5)]), [1], "not a permutation"),
            (Self.sparsity(order: [0, 1], levels: [Self.level(dense: 4), Self.level(dense: 5)]), [1], "dense level 0 has size 4, expected 3"),
        ]
        for (sp, values, message) in cases {
            let e = importError(Self.model(n: 3, k: 5, values: values, sparsity: sp))
            #expect(e.contains("sparse tensor 'w_sparse' [3x5]") && e.contains(message), "\(e)")
        }
    }

    /// A float16 constant behind DEQUANTIZE that an elementwise op reads is folded to f32 (only conv,
    /// FC and transposed-conv weights and biases keep halves).
    @Test func aFloat16ConstantReadByAnAddIsWidened() throws {
        var m = TFLiteModel()
        m.builtinCodes = [6, 0]   // DEQUANTIZE, ADD
        m.buffers += [TFLiteBreadthTests.halves([1, 2, 3, 4])]
        m.tensors = [.init(name: "x", shape: [4]), .init(name: "c16", shape: [4], type: 1, buffer: 1), .init(name: "c", shape: [4]),
                     .init(name: "y", shape: [4])]
        m.operators = [.init(opcode: 0, inputs: [1], outputs: [2]), .init(opcode: 1, inputs: [0, 2], outputs: [3])]
        m.inputs = [0]; m.outputs = [3]
        let g = try m.bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: "add16") }
        let c = try #require(g.nodes[0].inputs[1])
        #expect(g.values[c].dtype == .f32)
        let s = try Session(package: EmberPackage(contents: PackageContents(metadata: PackageMetadata(), variants: [VariantRecord(name: "v")], graphs: [g])))
        let y = try #require(try s.run(["x": Tensor([Float](repeating: 0.5, count: 4), dims: [4])])["y"])
        #expect(y.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } == [1.5, 2.5, 3.5, 4.5])
    }
}
