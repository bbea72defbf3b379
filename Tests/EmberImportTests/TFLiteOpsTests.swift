import Testing
import Ember
import EmberImport
#if canImport(Glibc)
import Glibc
#endif

/// TFLite builtins mapped onto the op set (directly or lowered), each run on every kernel path
/// and checked against the op's definition computed here.
@Suite struct TFLiteOpsTests {
    static func bytes<T>(_ v: [T]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

    /// Imports `m` and runs it on every supported path; returns each path's outputs.
    static func run(_ m: TFLiteModel, _ feeds: [String: Tensor]) throws -> [(KernelISA, [String: Tensor])] {
        let g = try m.bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: "ops") }
        return try KernelISA.supported.map { isa in
            let s = try Session(package: EmberPackage(contents: PackageContents(metadata: PackageMetadata(),
                variants: [VariantRecord(name: "v")], graphs: [g])), options: ExecutorOptions(isa: isa))
            return (isa, try s.run(feeds))
        }
    }
    static func floats(_ t: Tensor?) -> [Float] { t?.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } ?? [] }
    static func int32s(_ t: Tensor?) -> [Int32] { t?.bytes.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) } ?? [] }

    /// x [1,2,2,3] → TRANSPOSE_CONV(output [1,4,4,2], SAME, stride 2) → y; z [1,2,2,8] → DEPTH_TO_SPACE(2) → d.
    @Test func transposeConvAndDepthToSpace() throws {
        var rng = SplitMix64(seed: 91)
        let w = rng.floats(2 * 3 * 3 * 3), bias: [Float] = [0.5, -0.25], x = rng.floats(12), z = rng.floats(32)
        var m = TFLiteModel()
        m.builtinCodes = [67, 5]   // TRANSPOSE_CONV, DEPTH_TO_SPACE
        m.buffers += [Self.bytes([Int32(1), 4, 4, 2]), Self.bytes(w), Self.bytes(bias)]
        m.tensors = [
            .init(name: "x", shape: [1, 2, 2, 3]), .init(name: "shape", shape: [4], type: 2, buffer: 1),
            .init(name: "w", shape: [2, 3, 3, 3], buffer: 2), .init(name: "bias", shape: [2], buffer: 3),
            .init(name: "y", shape: [1, 4, 4, 2]), .init(name: "z", shape: [1, 2, 2, 8]), .init(name: "d", shape: [1, 4, 4, 2]),
        ]
        m.operators = [.init(opcode: 0, inputs: [1, 2, 0, 3], outputs: [4], options: [(0, .i8(0)), (1, .i32(2)), (2, .i32(2))]),
                       .init(opcode: 1, inputs: [5], outputs: [6], options: [(0, .i32(2))])]
        m.inputs = [0, 5]; m.outputs = [4, 6]
        for (isa, out) in try Self.run(m, ["x": Tensor(x, dims: [1, 2, 2, 3]), "z": Tensor(z, dims: [1, 2, 2, 8])]) {
            let y = Self.floats(out["y"]), d = Self.floats(out["d"])
            // SAME with output 4 = 2·stride: the forward conv's padding is ((2-1)·2 + 3 - 4) / 2 = 0.
            for oy in 0..<4 { for ox in 0..<4 { for o in 0..<2 {
                var acc = bias[o]
                for ky in 0..<3 { for kx in 0..<3 {
                    let ty = oy - ky, tx = ox - kx
                    guard ty >= 0, tx >= 0, ty % 2 == 0, tx % 2 == 0, ty / 2 < 2, tx / 2 < 2 else { continue }
                    for c in 0..<3 { acc += x[((ty / 2) * 2 + tx / 2) * 3 + c] * w[((o * 3 + ky) * 3 + kx) * 3 + c] }
                } }
                #expect(abs(y[(oy * 4 + ox) * 2 + o] - acc) < 1e-5, "\(isa) transpose conv (\(oy),\(ox),\(o))")
            } } }
            // out[h·2+i][w·2+j][c] = in[h][w][(i·2+j)·2+c]
            for h in 0..<2 { for ww in 0..<2 { for i in 0..<2 { for j in 0..<2 { for c in 0..<2 {
                #expect(d[((h * 2 + i) * 4 + ww * 2 + j) * 2 + c] == z[(h * 2 + ww) * 8 + (i * 2 + j) * 2 + c], "\(isa) depth to space")
            } } } } }
        }
    }

    /// SPACE_TO_BATCH_ND with paddings, then BATCH_TO_SPACE_ND with the same crops: against the
    /// definition element by element, and the round trip gives the input back. Bad crops are errors.
    @Test func spaceToBatchAndBackWithPaddingsAndCrops() throws {
        var rng = SplitMix64(seed: 17)
        let x = rng.floats(1 * 4 * 3 * 2)
        func model(crops: [Int32]) -> TFLiteModel {
            var m = TFLiteModel()
            m.builtinCodes = [38, 37]   // SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND
            m.buffers += [Self.bytes([Int32(2), 2]), Self.bytes([Int32(0), 2, 1, 0]), Self.bytes(crops)]
            m.tensors = [
                .init(name: "x", shape: [1, 4, 3, 2]), .init(name: "block", shape: [2], type: 2, buffer: 1),
                .init(name: "pads", shape: [2, 2], type: 2, buffer: 2), .init(name: "crops", shape: [2, 2], type: 2, buffer: 3),
                .init(name: "s", shape: [4, 3, 2, 2]), .init(name: "y", shape: [1, 4, 3, 2]),
            ]
            m.operators = [.init(opcode: 0, inputs: [0, 1, 2], outputs: [4]), .init(opcode: 1, inputs: [4, 1, 3], outputs: [5])]
            m.inputs = [0]; m.outputs = [4, 5]
            return m
        }
        for (isa, out) in try Self.run(model(crops: [0, 2, 1, 0]), ["x": Tensor(x, dims: [1, 4, 3, 2])]) {
            let s = Self.floats(out["s"])
            // Padded to 6x4 (2 rows after, 1 column before); batch b = i·2 + j holds padded[h·2+i][w·2+j].
            for i in 0..<2 { for j in 0..<2 { for h in 0..<3 { for w in 0..<2 { for c in 0..<2 {
                let py = h * 2 + i, px = w * 2 + j - 1
                let want: Float = py < 4 && px >= 0 && px < 3 ? x[(py * 3 + px) * 2 + c] : 0
                #expect(s[((((i * 2 + j) * 3 + h) * 2 + w) * 2) + c] == want, "\(isa) space to batch")
            } } } } }
            #expect(Self.floats(out["y"]) == x, "\(isa): cropping what was padded gives the input back")
        }
        var bad = model(crops: [0, 2, 4, 1])  // 5 columns cropped from 4
        bad.tensors[5] = .init(name: "y", shape: [1, 4, 0, 2])
        #expect {
            _ = try bad.bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: "b") }
        } throws: { ($0 as? EmberError)?.description.contains("crops 4 + 1 exceed") == true }
    }

    /// GATHER_ND with int64 index pairs into [2, 3, 2]: each pair picks params[i][j][:]; a pair whose row
    /// number falls outside the 6 rows reads zeros.
    @Test func gatherNDPicksRowsByIndexTuples() throws {
        let params = (0..<12).map { Float($0) + 0.5 }
        var m = TFLiteModel()
        m.builtinCodes = [107]   // GATHER_ND
        m.buffers += [Self.bytes([Int64(1), 2, 0, 0, 0, 1, 5, 0])]
        m.tensors = [.init(name: "p", shape: [2, 3, 2]), .init(name: "i", shape: [4, 2], type: 4, buffer: 1),
                     .init(name: "y", shape: [4, 2])]
        m.operators = [.init(opcode: 0, inputs: [0, 1], outputs: [2])]
        m.inputs = [0]; m.outputs = [2]
        for (isa, out) in try Self.run(m, ["p": Tensor(params, dims: [2, 3, 2])]) {
            #expect(Self.floats(out["y"]) == [10.5, 11.5, 0.5, 1.5, 2.5, 3.5, 0, 0], "\(isa)")
        }
        m.tensors[1] = .init(name: "i", shape: [2, 4], type: 4, buffer: 1)
        #expect {
            _ = try m.bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: "g") }
        } throws: { ($0 as? EmberError)?.description.contains("last dim of 1…3") == true }
    }

    /// ids → GATHER(table) → e → LOG_SOFTMAX, L2_NORMALIZATION, RSQRT(SUM(SQUARED_DIFFERENCE(e, m), keep)).
    @Test func embeddingLookupAndNormalizations() throws {
        var rng = SplitMix64(seed: 92)
        let table = rng.floats(20, 2), mean = rng.floats(4)
        var m = TFLiteModel()
        m.builtinCodes = [36, 50, 11, 99, 74, 76]   // GATHER, LOG_SOFTMAX, L2_NORMALIZATION, SQUARED_DIFFERENCE, SUM, RSQRT
        m.buffers += [Self.bytes(table), Self.bytes(mean), Self.bytes([Int32(1)])]
        m.tensors = [
            .init(name: "ids", shape: [3], type: 2), .init(name: "table", shape: [5, 4], buffer: 1), .init(name: "e", shape: [3, 4]),
            .init(name: "ls", shape: [3, 4]), .init(name: "l2", shape: [3, 4]), .init(name: "mean", shape: [4], buffer: 2),
            .init(name: "sd", shape: [3, 4]), .init(name: "axes", shape: [1], type: 2, buffer: 3), .init(name: "sum", shape: [3, 1]),
            .init(name: "r", shape: [3, 1]),
        ]
        m.operators = [.init(opcode: 0, inputs: [1, 0], outputs: [2], options: [(0, .i32(0))]),
                       .init(opcode: 1, inputs: [2], outputs: [3]), .init(opcode: 2, inputs: [2], outputs: [4]),
                       .init(opcode: 3, inputs: [2, 5], outputs: [6]),
                       .init(opcode: 4, inputs: [6, 7], outputs: [8], options: [(0, .bool(true))]),
                       .init(opcode: 5, inputs: [8], outputs: [9])]
        m.inputs = [0]; m.outputs = [3, 4, 9]
        let ids: [Int32] = [4, 0, 2]
        for (isa, out) in try Self.run(m, ["ids": Tensor(dtype: .i32, dims: [3], bytes: Self.bytes(ids))]) {
            let ls = Self.floats(out["ls"]), l2 = Self.floats(out["l2"]), r = Self.floats(out["r"])
            for (row, id) in ids.enumerated() {
                let e = (0..<4).map { table[Int(id) * 4 + $0] }
                let mx = e.max() ?? 0
                let lse = log(e.reduce(0) { $0 + exp($1 - mx) })
                let norm = max(e.reduce(0) { $0 + $1 * $1 }, 1e-6).squareRoot()
                let ss = (0..<4).reduce(Float(0)) { $0 + (e[$1] - mean[$1]) * (e[$1] - mean[$1]) }
                for k in 0..<4 {
                    #expect(abs(ls[row * 4 + k] - (e[k] - mx - lse)) < 1e-5, "\(isa) log softmax")
                    #expect(abs(l2[row * 4 + k] - e[k] / norm) < 1e-5, "\(isa) l2 normalization")
                }
                #expect(abs(r[row] - 1 / ss.squareRoot()) < 1e-4 * abs(r[row]), "\(isa) rsqrt(sum)")
            }
        }
    }

    /// PACK/UNPACK (two outputs), GREATER → SELECT_V2 → CAST and ARG_MAX, MIRROR_PAD, TILE.
    @Test func packUnpackSelectCastArgMaxMirrorPadTile() throws {
        var rng = SplitMix64(seed: 93)
        let a = rng.floats(6, 3), b = rng.floats(6, 3)
        var m = TFLiteModel()
        m.builtinCodes = [83, 88, 61, 123, 53, 56, 100, 69]   // PACK UNPACK GREATER SELECT_V2 CAST ARG_MAX MIRROR_PAD TILE
        m.buffers += [Self.bytes([Int32(1)]), Self.bytes([Int32(0), 0, 1, 1]), Self.bytes([Int32(2), 1])]
        m.tensors = [
            .init(name: "a", shape: [2, 3]), .init(name: "b", shape: [2, 3]), .init(name: "p", shape: [2, 2, 3]),
            .init(name: "u0", shape: [2, 3]), .init(name: "u1", shape: [2, 3]), .init(name: "g", shape: [2, 3], type: 6),
            .init(name: "mx", shape: [2, 3]), .init(name: "ci", shape: [2, 3], type: 2),
            .init(name: "axis", shape: [1], type: 2, buffer: 1), .init(name: "am", shape: [2], type: 2),
            .init(name: "pads", shape: [2, 2], type: 2, buffer: 2), .init(name: "mp", shape: [2, 5]),
            .init(name: "mult", shape: [2], type: 2, buffer: 3), .init(name: "t", shape: [4, 3]),
        ]
        m.operators = [.init(opcode: 0, inputs: [0, 1], outputs: [2], options: [(0, .i32(2)), (1, .i32(0))]),
                       .init(opcode: 1, inputs: [2], outputs: [3, 4], options: [(0, .i32(2)), (1, .i32(0))]),
                       .init(opcode: 2, inputs: [3, 4], outputs: [5]), .init(opcode: 3, inputs: [5, 3, 4], outputs: [6]),
                       .init(opcode: 4, inputs: [6], outputs: [7]),
                       .init(opcode: 5, inputs: [6, 8], outputs: [9], options: [(0, .i8(2))]),
                       .init(opcode: 6, inputs: [0, 10], outputs: [11], options: [(0, .i8(0))]),
                       .init(opcode: 7, inputs: [0, 12], outputs: [13])]
        m.inputs = [0, 1]; m.outputs = [7, 9, 11, 13]
        for (isa, out) in try Self.run(m, ["a": Tensor(a, dims: [2, 3]), "b": Tensor(b, dims: [2, 3])]) {
            let mx = zip(a, b).map { max($0, $1) }
            #expect(Self.int32s(out["ci"]) == mx.map { Int32($0) }, "\(isa): cast truncates toward zero")
            let argmax: [Int32] = (0..<2).map { (r: Int) -> Int32 in Int32((0..<3).max { mx[r * 3 + $0] < mx[r * 3 + $1] } ?? 0) }
            #expect(Self.int32s(out["am"]) == argmax, "\(isa) arg max")
            // REFLECT by one: [x1, x0, x1, x2, x1] per row.
            let reflected: [Float] = (0..<2).flatMap { (r: Int) -> [Float] in [1, 0, 1, 2, 1].map { (k: Int) in a[r * 3 + k] } }
            #expect(Self.floats(out["mp"]) == reflected, "\(isa) mirror pad")
            #expect(Self.floats(out["t"]) == a + a, "\(isa) tile")
        }
    }

    /// Float-only lowerings refuse int8 with a message that names the op, and an unsupported
    /// option is an error, not a silently different model.
    @Test func unsupportedVariantsAreClearErrors() throws {
        var m = TFLiteModel()
        m.builtinCodes = [36]   // GATHER with batch_dims 1
        m.tensors = [.init(name: "p", shape: [2, 3]), .init(name: "i", shape: [2, 1], type: 2), .init(name: "y", shape: [2, 1])]
        m.operators = [.init(opcode: 0, inputs: [0, 1], outputs: [2], options: [(0, .i32(1)), (1, .i32(1))])]
        m.inputs = [0, 1]; m.outputs = [2]
        #expect {
            _ = try m.bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: "g") }
        } throws: { ($0 as? EmberError)?.description.contains("batch_dims") == true }
        var l = TFLiteModel()
        l.builtinCodes = [50]   // LOG_SOFTMAX on int8
        l.tensors = [.init(name: "x", shape: [1, 4], type: 9, scales: [0.1], zeroPoints: [0]),
                     .init(name: "y", shape: [1, 4], type: 9, scales: [0.0625], zeroPoints: [127])]
        l.operators = [.init(opcode: 0, inputs: [0], outputs: [1])]
        l.inputs = [0]; l.outputs = [1]
        #expect {
            _ = try l.bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: "l") }
        } throws: { ($0 as? EmberError)?.description.contains("LOG_SOFTMAX") == true || ($0 as? EmberError)?.description.contains("logSoftmax") == true }
    }
}

@Suite struct TFLiteDocumentationTests {
    /// docs/TFLITE.md marks ✓ exactly the builtins the importer maps, under their schema names.
    @Test func theBuiltinTableMatchesTheImporter() throws {
        let root = String(#filePath.dropLast("Tests/EmberImportTests/TFLiteOpsTests.swift".count))
        let doc = try readTextFile(root + "docs/TFLITE.md", .config("TFLite document"))
        var marked: [Int] = []
        var rows = 0
        for line in textLines(doc) where line.hasPrefix("| ") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.filter { $0 != " " } }
            guard cells.count >= 4, let code = Int(cells[1]) else { continue }
            rows += 1
            #expect(cells[2] == TFLiteImporter.opName(code), "row \(code) names \(cells[2])")
            if cells[3] == "✓" { marked.append(code) }
        }
        #expect(rows == 152, "one row per builtin code 0…151")
        #expect(marked == TFLiteImporter.supportedBuiltins)
    }
}

@Suite struct TFLiteLSTMTests {
    /// x [2,3,3] → UNIDIRECTIONAL_SEQUENCE_LSTM (2 cells, batch-major, tanh, cell clip 0.8) → y [2,3,2],
    /// against the gate equations of lstm_eval.cc evaluated here step by step.
    @Test func aSequenceLSTMUnrollsToItsGateEquations() throws {
        var rng = SplitMix64(seed: 94)
        let (batch, steps, nIn, nCell) = (2, 3, 3, 2)
        var m = TFLiteModel()
        m.builtinCodes = [44]
        var tensors: [TFLiteModel.Tensor] = [.init(name: "x", shape: [Int32(batch), Int32(steps), Int32(nIn)])]
        var inputs = [Int32](repeating: -1, count: 24)
        inputs[0] = 0
        var w: [[Float]] = [], r: [[Float]] = [], b: [[Float]] = []
        func add(_ name: String, _ values: [Float], _ shape: [Int32]) -> Int32 {
            m.buffers.append(TFLiteOpsTests.bytes(values))
            tensors.append(.init(name: name, shape: shape, buffer: UInt32(m.buffers.count - 1)))
            return Int32(tensors.count - 1)
        }
        for g in 0..<4 {   // i, f, c, o
            w.append(rng.floats(nCell * nIn)); r.append(rng.floats(nCell * nCell)); b.append(rng.floats(nCell))
            inputs[1 + g] = add("w\(g)", w[g], [Int32(nCell), Int32(nIn)])
            inputs[5 + g] = add("r\(g)", r[g], [Int32(nCell), Int32(nCell)])
            inputs[12 + g] = add("b\(g)", b[g], [Int32(nCell)])
        }
        tensors.append(.init(name: "h0", shape: [Int32(batch), Int32(nCell)])); inputs[18] = Int32(tensors.count - 1)
        tensors.append(.init(name: "c0", shape: [Int32(batch), Int32(nCell)])); inputs[19] = Int32(tensors.count - 1)
        tensors.append(.init(name: "y", shape: [Int32(batch), Int32(steps), Int32(nCell)]))
        m.tensors = tensors
        m.operators = [.init(opcode: 0, inputs: inputs, outputs: [Int32(tensors.count - 1)],
                             options: [(0, .i8(4)), (1, .f32(0.8)), (3, .bool(false))])]
        m.inputs = [0]; m.outputs = [Int32(tensors.count - 1)]
        let x = rng.floats(batch * steps * nIn, 2)
        func sigmoid(_ v: Float) -> Float { 1 / (1 + exp(-v)) }
        for (isa, out) in try TFLiteOpsTests.run(m, ["x": Tensor(x, dims: [batch, steps, nIn])]) {
            let y = TFLiteOpsTests.floats(out["y"])
            for n in 0..<batch {
                var h = [Float](repeating: 0, count: nCell), c = h
                for t in 0..<steps {
                    let xt = (0..<nIn).map { x[(n * steps + t) * nIn + $0] }
                    func pre(_ g: Int, _ k: Int) -> Float {
                        b[g][k] + (0..<nIn).reduce(0) { $0 + w[g][k * nIn + $1] * xt[$1] } + (0..<nCell).reduce(0) { $0 + r[g][k * nCell + $1] * h[$1] }
                    }
                    let gates = (0..<nCell).map { k in (sigmoid(pre(0, k)), sigmoid(pre(1, k)), tanh(pre(2, k)), sigmoid(pre(3, k))) }
                    for k in 0..<nCell { c[k] = min(max(gates[k].1 * c[k] + gates[k].0 * gates[k].2, -0.8), 0.8) }
                    h = (0..<nCell).map { gates[$0].3 * tanh(c[$0]) }
                    for k in 0..<nCell {
                        #expect(abs(y[(n * steps + t) * nCell + k] - h[k]) < 1e-5, "\(isa) batch \(n) step \(t) cell \(k)")
                    }
                }
            }
        }
    }
}

@Suite struct TFLiteWhileTests {
    static func i32(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    /// x f32[2] → WHILE (i = 0; i < limit; i += 1) { x *= 2 } → x: the loop is unrolled at import.
    /// `conditionOnX` makes the condition depend on x (unknown at import).
    static func doubling(limit: Int32, conditionOnX: Bool = false) -> TFLiteModel {
        var m = TFLiteModel()
        m.builtinCodes = [119, 58, 0, 18]   // WHILE, LESS, ADD, MUL
        m.buffers += [i32(0), i32(limit), i32(1), TFLiteOpsTests.bytes([Float(2), 2])]
        m.tensors = [.init(name: "x", shape: [2]), .init(name: "i0", shape: [], type: 2, buffer: 1),
                     .init(name: "i_out", shape: [], type: 2), .init(name: "y", shape: [2])]
        m.operators = [.init(opcode: 0, inputs: [1, 0], outputs: [2, 3], options: [(0, .i32(1)), (1, .i32(2))])]
        m.inputs = [0]; m.outputs = [3]
        var cond = TFLiteModel()
        if conditionOnX {
            cond.tensors = [.init(name: "ci", shape: [], type: 2), .init(name: "cx", shape: [2]), .init(name: "ctwo", shape: [2], buffer: 4),
                            .init(name: "go", shape: [2], type: 6)]
            cond.operators = [.init(opcode: 1, inputs: [1, 2], outputs: [3])]
        } else {
            cond.tensors = [.init(name: "ci", shape: [], type: 2), .init(name: "cx", shape: [2]), .init(name: "limit", shape: [], type: 2, buffer: 2),
                            .init(name: "go", shape: [], type: 6)]
            cond.operators = [.init(opcode: 1, inputs: [0, 2], outputs: [3])]
        }
        cond.inputs = [0, 1]; cond.outputs = [3]
        var body = TFLiteModel()
        body.tensors = [.init(name: "bi", shape: [], type: 2), .init(name: "bx", shape: [2]), .init(name: "one", shape: [], type: 2, buffer: 3),
                        .init(name: "next", shape: [], type: 2), .init(name: "two", shape: [2], buffer: 4), .init(name: "doubled", shape: [2])]
        body.operators = [.init(opcode: 2, inputs: [0, 2], outputs: [3]), .init(opcode: 3, inputs: [1, 4], outputs: [5])]
        body.inputs = [0, 1]; body.outputs = [3, 5]
        m.otherSubgraphs = [cond, body]
        return m
    }

    @Test func aWhileWithACountedConditionUnrolls() throws {
        for limit: Int32 in [0, 1, 3] {
            let out = try TFLiteOpsTests.run(Self.doubling(limit: limit), ["x": Tensor([Float(1.5), -2], dims: [2])])
            for (isa, o) in out {
                let factor = Float(1 << Int(limit))
                #expect(TFLiteOpsTests.floats(o["y"]) == [1.5 * factor, -2 * factor], "\(isa) limit \(limit)")
            }
        }
    }

    @Test func loopsThatCannotBeUnrolledAreClearErrors() {
        #expect(importError(Self.doubling(limit: 3, conditionOnX: true).bytes).contains("WHILE whose condition is not known at import"))
        #expect(importError(Self.doubling(limit: 1_000_000).bytes).contains("limit"))
        var bad = Self.doubling(limit: 2)
        bad.operators[0].options = [(0, .i32(7)), (1, .i32(2))]
        #expect(importError(bad.bytes).contains("WHILE refers to subgraphs 7 and 2 of 3"))
    }
}
