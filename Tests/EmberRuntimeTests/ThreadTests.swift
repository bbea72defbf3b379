import Testing
#if canImport(Glibc)
import Glibc
#endif
import CEmberKernels
import CEmberSys
import EmberRuntime
import EmberKernels
import EmberImport
import Ember

/// The worker pool and the split kernels: every part runs once, slices recompose the whole
/// convolution exactly, and an inference gives the same bytes on 1, 2 or 3 threads.
@Suite struct ThreadTests {
    @Test func thePoolRunsEveryIndexExactlyOnceOnAnyThreadCount() throws {
        let pool = try #require(ember_pool_create(2))   // 3 threads with the caller
        defer { ember_pool_destroy(pool) }
        #expect(ember_pool_threads(pool) == 3)
        // Raw memory, not a Swift array: tasks on different threads write different elements at once.
        let hits = UnsafeMutablePointer<Int32>.allocate(capacity: 64)
        defer { hits.deallocate() }
        let task: @convention(c) (UnsafeMutableRawPointer?, Int32) -> Void = { context, i in
            context?.assumingMemoryBound(to: Int32.self)[Int(i)] += 1
        }
        for round in 0..<200 {
            let count = [1, 2, 3, 5, 7, 64][round % 6], threads = Int32(1 + round % 4)
            // Every 25th job finds the workers asleep (past their ~50 µs of spinning): the caller claims
            // whatever parts they have not woken up for, and each part still runs once.
            if round % 25 == 0 { usleep(2_000) }
            hits.initialize(repeating: 0, count: 64)
            ember_pool_run(pool, task, UnsafeMutableRawPointer(hits), Int32(count), threads)
            let seen = Array(UnsafeBufferPointer(start: hits, count: 64))
            #expect(seen.prefix(count).allSatisfy { $0 == 1 }, "round \(round): \(count) tasks on \(threads) threads")
            #expect(seen.dropFirst(count).allSatisfy { $0 == 0 })
        }
    }

    /// Convolving each slice (with its input and output offsets) gives the whole convolution's bits.
    @Test func convolutionSlicesRecomposeTheWholeOutput() {
        var rng = SplitMix64(seed: 71)
        for trial in 0..<300 {
            var g = ember_conv_geometry()
            g.batch = Int32(trial % 5 == 0 ? rng.int(2...4) : 1)
            g.in_h = Int32(rng.int(1...13)); g.in_w = Int32(rng.int(1...7)); g.in_c = Int32(rng.int(1...5))
            g.out_c = Int32(rng.int(1...6)); g.groups = 1
            let pointwise = trial % 4 == 0
            g.kernel_h = pointwise ? 1 : Int32(rng.int(1...3)); g.kernel_w = pointwise ? 1 : Int32(rng.int(1...3))
            g.stride_h = pointwise ? 1 : Int32(rng.int(1...2)); g.stride_w = pointwise ? 1 : Int32(rng.int(1...2))
            g.dilation_h = pointwise ? 1 : Int32(rng.int(1...2)); g.dilation_w = 1
            g.pad_top = pointwise ? 0 : Int32(rng.int(0...1)); g.pad_left = pointwise ? 0 : Int32(rng.int(0...1))
            let spanH = (Int(g.kernel_h) - 1) * Int(g.dilation_h) + 1, spanW = Int(g.kernel_w)
            g.out_h = Int32(max(1, (Int(g.in_h) + 2 * Int(g.pad_top) - spanH) / Int(g.stride_h) + 1))
            g.out_w = Int32(max(1, (Int(g.in_w) + 2 * Int(g.pad_left) - spanW) / Int(g.stride_w) + 1))
            let inCount = Int(g.batch * g.in_h * g.in_w * g.in_c), outCount = Int(g.batch * g.out_h * g.out_w * g.out_c)
            let x = rng.floats(inCount), f = rng.floats(Int(g.out_c * g.kernel_h * g.kernel_w * g.in_c)), bias = rng.floats(Int(g.out_c))
            var whole = [Float](repeating: 0, count: outCount), pieced = [Float](repeating: .nan, count: outCount)
            ember_conv2d_f32_ref(&g, x, f, bias, -.infinity, .infinity, &whole)
            let parts = rng.int(2...4)
            let rowMultiple = trial % 3 == 0 ? 2 : 1   // Winograd's slices start at even rows
            let slices = convSlices(g, parts: parts, rowMultiple: rowMultiple)
            #expect(slices.count <= parts && !slices.isEmpty)
            if g.batch == 1 {
                let outRow = Int(g.out_w * g.out_c)
                #expect(slices.allSatisfy { $0.output / outRow % rowMultiple == 0 && $0.geometry.out_h > 0 },
                        "trial \(trial): slices start at multiples of \(rowMultiple) rows")
            }
            x.withUnsafeBufferPointer { xp in pieced.withUnsafeMutableBufferPointer { op in
                for var s in slices {
                    ember_conv2d_f32_ref(&s.geometry, xp.baseAddress! + s.input, f, bias, -.infinity, .infinity,
                                         op.baseAddress! + s.output)
                }
            } }
            #expect(pieced.map(\.bitPattern) == whole.map(\.bitPattern), "trial \(trial): \(g), \(parts) parts")
            if pointwise && g.batch == 1 {
                #expect(slices.allSatisfy { $0.geometry.in_h == $0.geometry.out_h && $0.geometry.pad_top == 0 },
                        "a pointwise slice stays pointwise")
            }
        }
    }

    /// Bytes of every output after one run with `inputs`.
    func outputs(_ e: Executor, _ feeds: [String: Tensor], threads: Int) -> [[UInt8]] {
        for (i, slot) in e.inputs.enumerated() {
            guard let t = feeds[slot.name] else { continue }
            t.bytes.withUnsafeBytes { e.inputBuffer(i).copyMemory(from: $0) }
        }
        e.run(threads: threads)
        return e.outputs.indices.map { Array(e.outputBuffer($0)) }
    }

    @Test func anInferenceGivesTheSameBytesOnOneTwoAndThreeThreads() throws {
        var graphs: [(String, Graph)] = [("smallCNN", try TestModels.smallCNN())]
        for name in ["kws_int8", "resnet8_float"] {
            let bytes = try readFile(Corpus.fixtures + "/" + name + "/model.tflite", .model)
            graphs.append((name, try bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: name) }))
        }
        for isa in KernelISA.supported {
            for (name, g) in graphs {
                let feeds = TestModels.input(for: g, seed: 5)
                let single = try Executor(graph: g, options: ExecutorOptions(isa: isa))
                let expected = outputs(single, feeds, threads: 1)
                let pooled = try Executor(graph: g, options: ExecutorOptions(isa: isa, threads: 3))
                #expect(pooled.threads == 3)
                if isa != .scalar && name != "smallCNN" {
                    #expect(pooled.splitNodeCount > 0, "\(name) on \(isa): no node was split")
                }
                for t in [3, 2, 1, 3] {
                    #expect(outputs(pooled, feeds, threads: t) == expected, "\(name) on \(isa), \(t) threads")
                }
            }
        }
    }

    /// int8 ADD and MUL large enough to split (same shape: one long row split by columns; a per-channel
    /// operand: rows split), on every path: 1, 2 and 3 threads give the same bytes.
    @Test func splitInt8AddAndMulGiveTheSameBytes() throws {
        let q = QuantParams(scale: 0.05, zeroPoint: -3)
        let b = GraphBuilder(name: "elementwise")
        let x = b.input("x", .i8, [1, 37, 41, 13], quant: q), y = b.input("y", .i8, [1, 37, 41, 13], quant: q)
        let gate = b.input("gate", .i8, [1, 1, 1, 13], quant: QuantParams(scale: 1.0 / 256, zeroPoint: -128))
        let sum = try b.add(.add(.relu), [x, y], name: "add", outputQuant: QuantParams(scale: 0.07, zeroPoint: -20))
        let scaled = try b.add(.mul(.none), [sum, gate], name: "mul", outputQuant: QuantParams(scale: 0.03, zeroPoint: 5))
        let product = try b.add(.mul(.none), [scaled, x], name: "mul2", outputQuant: QuantParams(scale: 0.2, zeroPoint: 0))
        b.output(product, name: "out")
        try expectSameBitsOnAnyThreadCount(try b.build(), seed: 9, splitNodes: 3)
    }

    /// On every SIMD path: `g` prepared for 3 threads splits `splitNodes` nodes, its outputs vary (not a
    /// clamp's constant, so equal bytes say something) and are the same bytes on 3, 2 and 1 threads as
    /// an executor prepared for one thread gives.
    func expectSameBitsOnAnyThreadCount(_ g: Graph, seed: UInt64, splitNodes: Int) throws {
        let feeds = TestModels.input(for: g, seed: seed)
        for isa in KernelISA.supported where isa != .scalar {
            let expected = outputs(try Executor(graph: g, options: ExecutorOptions(isa: isa)), feeds, threads: 1)
            let pooled = try Executor(graph: g, options: ExecutorOptions(isa: isa, threads: 3))
            #expect(pooled.splitNodeCount == splitNodes, "\(isa): \(pooled.splitNodeCount) of \(splitNodes) nodes split")
            #expect(expected.allSatisfy { Set($0).count > 20 }, "\(isa): \(expected.map { Set($0).count }) distinct bytes")
            for t in [3, 2, 1] {
                let same = outputs(pooled, feeds, threads: t) == expected  // (not the arrays: thousands of bytes)
                #expect(same, "\(isa), \(t) threads: the bytes differ from one thread's")
            }
        }
    }

    /// One-row fully connected layers (GEMVs) with weights past the split threshold run split by output
    /// panels — f32, IEEE-half, dynamic-range, int8 and INT4 weights, a width that is not a whole number of
    /// panels, a fused activation — and give the same bits on 1, 2 and 3 threads; a small one and a
    /// two-row one do not split.
    @Test func splitGEMVsGiveTheSameBits() throws {
        var rng = SplitMix64(seed: 23)
        let b = GraphBuilder(name: "gemv")
        let x = b.input("x", .f32, [1, 301])
        let wide = b.constant("w1", rng.floats(517 * 301, scale: 0.1), dims: [517, 301])
        let h = try b.add(.fullyConnected(.relu), [x, wide, b.constant("b1", rng.floats(517), dims: [517])], name: "fc1")
        let halves = rng.floats(203 * 517, scale: 0.1).map { Float16($0).bitPattern }
        let half = b.constant("w2", halves, dtype: .f16, dims: [203, 517])
        let y2 = try b.add(.fullyConnected(.relu6), [h, half, nil], name: "fc2-f16")
        let y = try b.add(.tanh, [y2], name: "tanh")  // fused into fc2 as its post-activation
        let small = b.constant("w3", rng.floats(7 * 203), dims: [7, 203])
        let z = try b.add(.fullyConnected(.none), [y, small, nil], name: "fc3-small")
        let pair = b.input("pair", .f32, [2, 301])
        let twoRows = try b.add(.fullyConnected(.none), [pair, wide, nil], name: "fc4-two-rows")
        // Dynamic-range (int8 weights, f32 activations) and int8 GEMVs: per-channel constants and the
        // f32 bias go with their panels.
        let w8 = b.constant("w8", rng.int8s(517 * 301), dtype: .i8, dims: [517, 301],
                            quant: QuantParams(scale: 0.01, zeroPoint: 0))
        let hybrid = try b.add(.fullyConnected(.none), [x, w8, b.constant("b8", rng.floats(517), dims: [517])],
                               name: "fc5-hybrid")
        let xq = try b.add(.quantize(.i8), [x], name: "quantize", outputQuant: QuantParams(scale: 0.01, zeroPoint: 3))
        let wq = b.constant("wq", rng.int8s(517 * 301), dtype: .i8, dims: [517, 301],
                            quant: QuantParams(scales: (0..<517).map { _ in Float.random(in: 0.001...0.01, using: &rng) },
                                               zeroPoints: [Int32](repeating: 0, count: 517), axis: 0))
        let bq = b.constant("bq", (0..<517).map { _ in Int32.random(in: -5000...5000, using: &rng) }, dtype: .i32, dims: [517])
        let int8 = try b.add(.fullyConnected(.relu), [xq, wq, bq], name: "fc6-int8",
                             outputQuant: QuantParams(scale: 0.05, zeroPoint: -128))
        // INT4 block-32 weights (weight-only): 901 outputs, so the last part's group of 4 is partial.
        var blocks: [UInt8] = []
        for _ in 0..<(901 * 10) { blocks += [0x00, 0x2C] + (0..<16).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        let head = b.input("x320", .f32, [1, 320])
        let int4 = try b.add(.fullyConnected(.none), [head, b.constant("w4", blocks, dtype: .int4Block32, dims: [901, 320]),
                                                      b.constant("b4", rng.floats(901), dims: [901])], name: "fc7-int4")
        b.output(z, name: "z")
        b.output(twoRows, name: "rows")
        b.output(int4, name: "int4")
        b.output(hybrid, name: "hybrid")
        b.output(int8, name: "int8")
        try expectSameBitsOnAnyThreadCount(try b.build(), seed: 3, splitNodes: 5)  // fc1, fc2, fc5, fc6, fc7
    }

    @Test func aThreadCountOutsideTheRangeIsRefused() throws {
        let g = try TestModels.smallCNN()
        for bad in [0, -1, Executor.maxThreads + 1] {
            #expect(throws: EmberError.self) { try Executor(graph: g, options: ExecutorOptions(threads: bad)) }
        }
    }
}
