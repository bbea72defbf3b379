import Testing
import Ember
@testable import EmberPack

/// Random float samples for every input of `graph`.
func randomSamples(_ graph: Graph, count: Int, seed: UInt64) throws -> [Sample] {
    var rng = SplitMix64(seed: seed)
    let types = try graph.validate().types
    return (0..<count).map { _ in
        Sample(inputs: graph.inputs.map { id in rng.floats(types[id].elementCount, scale: 1).withUnsafeBytes { Array($0) } })
    }
}

/// Outputs of `a` and `b` on the same random samples, as one SQNR figure (∞ when identical).
func agreementDb(_ a: Graph, _ b: Graph, seed: UInt64 = 7) throws -> Double {
    let samples = try randomSamples(a, count: 3, seed: seed)
    return QualityReport.compare(name: "", reference: try floatOutputs(a, samples: samples), candidate: try floatOutputs(b, samples: samples)).quality
}

func floats(_ g: Graph, _ id: ValueID) -> [Float] { g.values[id].constant.map { Array($0.bytes.bindMemory(to: Float.self)) } ?? [] }

func opKinds(_ g: Graph) -> [OpKind] { g.nodes.map(\.op.kind) }

@Suite struct GraphPassTests {
    func pass(_ name: String) throws -> GraphPass {
        guard let p = GraphPasses.all.first(where: { $0.name == name }) else { throw EmberError.invalidArgument("no pass \(name)") }
        return p
    }

    @Test func foldConstantsEvaluatesConstantSubgraphsOnce() throws {
        let b = GraphBuilder(name: "fold")
        let x = b.input("x", .f32, [1, 4])
        let c1 = b.constant("c1", [Float](arrayLiteral: 1, 2, 3, 4), dims: [1, 4])
        let c2 = b.constant("c2", [Float](arrayLiteral: 0.5, 0.5, 2, 2), dims: [1, 4])
        let k = try b.add(.mul(.none), [c1, c2], name: "k")
        b.output(try b.add(.add(.none), [x, k], name: "y"))
        let g = try b.build()
        let (folded, n) = try pass("fold-constants").apply(g)
        #expect(n == 1 && opKinds(folded) == [.add])
        let kid = try #require(folded.nodes[0].inputs[1])
        #expect(floats(folded, kid) == [0.5, 1, 6, 8])
        #expect(try agreementDb(g, folded) == .infinity)
    }

    @Test func removeNoOpsKeepsTheOutputName() throws {
        let b = GraphBuilder(name: "noops")
        let x = b.input("x", .f32, [1, 2, 2, 3])
        let r = try b.add(.relu, [x], name: "relu")
        let t = try b.add(.transpose(perm: [0, 1, 2, 3]), [r], name: "identity-transpose")
        let p = try b.add(.pad(before: [0, 0, 0, 0], after: [0, 0, 0, 0]), [t], name: "zero-pad")
        let s = try b.add(.reshape([1, 2, 2, 3]), [p], name: "same-reshape")
        b.output(s, name: "out")
        let g = try b.build()
        let (clean, n) = try pass("remove-no-ops").apply(g)
        #expect(n == 3 && opKinds(clean) == [.relu])
        #expect(clean.values[clean.outputs[0]].name == "out")
        #expect(try agreementDb(g, clean) == .infinity)
        // A real reshape stays.
        let b2 = GraphBuilder(name: "real")
        let x2 = b2.input("x", .f32, [1, 6])
        b2.output(try b2.add(.reshape([2, 3]), [x2], name: "r"))
        #expect(try pass("remove-no-ops").apply(try b2.build()).rewrites == 0)
    }

    @Test func batchNormFoldsIntoTheConvBeforeIt() throws {
        var rng = SplitMix64(seed: 3)
        let b = GraphBuilder(name: "bn")
        let x = b.input("x", .f32, [1, 5, 5, 3])
        let w = b.constant("w", rng.floats(4 * 3 * 3 * 3, 0.5), dims: [4, 3, 3, 3])
        let bias = b.constant("b", rng.floats(4, 0.1), dims: [4])
        let conv = try b.add(.conv2D(Conv2DAttributes(padding: .same)), [x, w, bias], name: "conv")
        let scale = b.constant("bn/scale", rng.floats(4, 2), dims: [4])
        let shift = b.constant("bn/shift", rng.floats(4, 1), dims: [1, 1, 1, 4])
        let m = try b.add(.mul(.none), [conv, scale], name: "bn/mul")
        b.output(try b.add(.add(.relu), [m, shift], name: "bn/add"), name: "y")
        let g = try b.build()
        let (folded, n) = try pass("fold-batchnorm").apply(g)
        #expect(n == 2 && opKinds(folded) == [.conv2D])
        if case let .conv2D(a) = folded.nodes[0].op { #expect(a.activation == .relu) } else { Issue.record("not a conv") }
        #expect(folded.values[folded.outputs[0]].name == "y")
        #expect(try agreementDb(g, folded) > 100)
        // A Mul that is not per-channel (it broadcasts over H) stays.
        let b2 = GraphBuilder(name: "not-bn")
        let x2 = b2.input("x", .f32, [1, 5, 5, 3])
        let c2 = try b2.add(.conv2D(Conv2DAttributes(padding: .same)), [x2, b2.constant("w", rng.floats(4 * 9 * 3, 0.5), dims: [4, 3, 3, 3]), nil], name: "conv")
        b2.output(try b2.add(.mul(.none), [c2, b2.constant("s", rng.floats(20, 1), dims: [1, 5, 1, 4])], name: "m"))
        #expect(try pass("fold-batchnorm").apply(try b2.build()).rewrites == 0)
    }

    @Test func activationsFuseOnlyWhenTheProducerHasNoOtherReader() throws {
        var rng = SplitMix64(seed: 4)
        let b = GraphBuilder(name: "fuse")
        let x = b.input("x", .f32, [1, 8])
        let fc = try b.add(.fullyConnected(.none), [x, b.constant("w", rng.floats(32, 1), dims: [4, 8]), nil], name: "fc")
        let r = try b.add(.relu6, [fc], name: "relu6")
        let fc2 = try b.add(.fullyConnected(.none), [r, b.constant("w2", rng.floats(16, 1), dims: [4, 4]), nil], name: "fc2")
        let r2 = try b.add(.relu, [fc2], name: "relu")
        let sum = try b.add(.add(.none), [r2, fc2], name: "sum") // fc2 has two readers: relu stays
        b.output(sum, name: "y")
        let g = try b.build()
        let (fused, n) = try pass("fuse-activations").apply(g)
        #expect(n == 1 && opKinds(fused) == [.fullyConnected, .fullyConnected, .relu, .add])
        #expect(fused.nodes[0].op == .fullyConnected(.relu6))
        #expect(try agreementDb(g, fused) == .infinity)
    }

    /// SiLU as exporters write it (Sigmoid then Mul, either operand order) becomes one silu with the same
    /// bits; a sigmoid something else reads, or a Mul of another value by it, stays as it is.
    @Test func swishFusesIntoOneSiluWithTheSameBits() throws {
        let b = GraphBuilder(name: "swish")
        let x = b.input("x", .f32, [2, 37]), z = b.input("z", .f32, [2, 37])
        let swish = try b.add(.mul(.none), [try b.add(.sigmoid, [x], name: "gate"), x], name: "swish")
        let shared = try b.add(.sigmoid, [swish], name: "shared-gate")
        let kept = try b.add(.mul(.none), [swish, shared], name: "kept")
        let other = try b.add(.mul(.none), [z, try b.add(.sigmoid, [x], name: "gate-of-x")], name: "other")
        b.output(try b.add(.add(.none), [kept, shared], name: "y"), name: "y")
        b.output(other, name: "o")
        let g = try b.build()
        let (fused, n) = try pass("fuse-swish").apply(g)
        #expect(n == 1, "\(fused.nodes.map(\.name))")
        #expect(fused.nodes.first { $0.name == "swish" }?.op == .unary(.silu))
        let clean = try pass("remove-dead-nodes").apply(fused).graph
        #expect(!clean.nodes.contains { $0.name == "gate" })
        #expect(clean.nodes.filter { $0.op == .sigmoid }.count == 2)  // shared-gate and gate-of-x stay
        #expect(try agreementDb(g, clean) == .infinity)
    }

    @Test func deadNodesAndTheirConstantsGo() throws {
        let b = GraphBuilder(name: "dead")
        let x = b.input("x", .f32, [1, 4])
        let unused = try b.add(.mul(.none), [x, b.constant("k", [Float](repeating: 2, count: 4), dims: [1, 4])], name: "unused")
        _ = try b.add(.relu, [unused], name: "unused-too")
        b.output(try b.add(.relu6, [x], name: "y"))
        let g = try b.build()
        let (clean, n) = try pass("remove-dead-nodes").apply(g)
        #expect(n == 3 && opKinds(clean) == [.relu6] && clean.values.count == 2)
    }

    @Test func passesCanBeSkippedAndKeepCorpusModelsExact() throws {
        let b = GraphBuilder(name: "skip")
        let x = b.input("x", .f32, [1, 4])
        b.output(try b.add(.relu, [try b.add(.add(.none), [x, x], name: "a")], name: "r"))
        let g = try b.build()
        #expect(opKinds(try GraphPasses.run(g)) == [.add])
        #expect(opKinds(try GraphPasses.run(g, skipping: ["fuse-activations"])) == [.add, .relu])

        // The corpus models are fused by their converter already: the passes must leave their outputs alone.
        for dir in [Corpus.fixtures + "/resnet8_float"] + Corpus.sharedModels.filter { !$0.contains("int8") }.map({ Corpus.shared + "/" + $0 }) {
            let model = try Corpus.graph(dir)
            let optimized = try GraphPasses.run(model)
            #expect(optimized.nodes.count <= model.nodes.count)
            #expect(try agreementDb(model, optimized) > 100, "\(dir)")
        }
    }
}

/// A graph on which every pass has work: a constant subexpression, a no-op
/// reshape, a batch norm after a conv, a ReLU to fuse and a dead branch.
func graphEveryPassRewrites() throws -> Graph {
    var rng = SplitMix64(seed: 11)
    let b = GraphBuilder(name: "every-pass")
    let x = b.input("x", .f32, [1, 6, 6, 3])
    let w = b.constant("w", rng.floats(8 * 3 * 3 * 3, 0.5), dims: [8, 3, 3, 3])
    let conv = try b.add(.conv2D(Conv2DAttributes(padding: .same)), [x, w, b.constant("b", rng.floats(8, 0.1), dims: [8])], name: "conv")
    let half = b.constant("half", [Float](repeating: 0.5, count: 8), dims: [8])
    let scale = try b.add(.mul(.none), [half, b.constant("gamma", rng.floats(8, 2), dims: [8])], name: "bn/scale") // folds to a constant
    let m = try b.add(.mul(.none), [conv, scale], name: "bn/mul")
    let a = try b.add(.add(.none), [m, b.constant("beta", rng.floats(8, 1), dims: [8])], name: "bn/add")
    let r = try b.add(.relu, [a], name: "relu")
    let reshaped = try b.add(.reshape([1, 6, 6, 8]), [r], name: "same-shape")
    let same = try b.add(.mul(.none), [reshaped, try b.add(.sigmoid, [reshaped], name: "swish-gate")], name: "swish")
    _ = try b.add(.sigmoid, [same], name: "dead-branch")
    let pool = try b.add(.averagePool2D(Pool2DAttributes(kernelH: 6, kernelW: 6, strideH: 1, strideW: 1)), [same], name: "pool")
    let flat = try b.add(.reshape([1, 8]), [pool], name: "flatten")
    b.output(try b.add(.fullyConnected(.none), [flat, b.constant("fc", rng.floats(40, 0.5), dims: [5, 8]), nil], name: "logits"), name: "y")
    return try b.build()
}

@Suite struct PackerDeterminismTests {
    /// With every pass rewriting, passes + int8 quantization + bias correction
    /// twice give the same package bytes.
    @Test func passesAndQuantizationGiveTheSameBytesTwice() throws {
        var logs: [[String: Int]] = []
        var packages: [[UInt8]] = []
        for _ in 0..<2 {
            var log: [String: Int] = [:]
            let g = try GraphPasses.run(try graphEveryPassRewrites()) { log[$0] = $1 }
            let samples = try randomSamples(g, count: 4, seed: 3)
            let calibration = try Calibration.run(g, samples: samples, method: .mse)
            let q = try Quantizer.correctBias(reference: g, quantized: try Quantizer.int8(g, calibration: calibration), samples: samples)
            let contents = PackageContents(metadata: PackageMetadata([("name", "d")]), variants: [VariantRecord(name: "fp32"), VariantRecord(name: "int8")], graphs: [g, q])
            packages.append(try PackageWriter.serialize(contents, options: WriteOptions(compressTensors: true, compressGraphs: true)))
            logs.append(log)
        }
        for pass in GraphPasses.all.map(\.name) { #expect((logs[0][pass] ?? 0) > 0, "\(pass) made no rewrite: \(logs[0])") }
        #expect(logs[0] == logs[1])
        #expect(packages[0] == packages[1])
    }
}

@Suite struct RungTests {
    @Test func rungNamesParseAndErrorsSayWhatIsAllowed() throws {
        #expect(try RungRecipe.parse("int8-prune50") == RungRecipe(precision: .int8, sparsity: 0.5))
        #expect(try RungRecipe.parse("int8-2:4").twoOfFour)
        #expect(try RungRecipe.parse("fp32-ch25-prune30") == RungRecipe(precision: .fp32, sparsity: 0.3, channelFraction: 0.25))
        for good in ["fp32", "fp16", "int8", "int4", "int8-prune50", "int8-2:4", "fp16-ch10"] { #expect(try RungRecipe.parse(good).description == good) }
        for bad in ["int3", "int8-prune", "int8-prune100", "int8-prune50-2:4", "int8-2:4-2:4", "int8-ch95", "", "int8-", "-int8"] {
            #expect(throws: EmberError.self, "\(bad)") { try RungRecipe.parse(bad) }
        }
    }

    @Test func magnitudePruningReachesTheSparsityAndDropsTheSmallest() throws {
        let g = try TestModels.smallCNN()
        let pruned = try Pruning.magnitude(g, sparsity: 0.5)
        for (before, after) in zip(g.nodes, pruned.nodes) {
            guard before.inputs.count > 1, let w0 = before.inputs[1], let w1 = after.inputs[1], g.values[w0].constant != nil else { continue }
            let a = floats(g, w0), p = floats(pruned, w1)
            let zeros = p.filter { $0 == 0 }.count
            if case let .conv2D(attrs) = before.op, attrs.groups > 1 { #expect(a == p); continue } // depthwise kept
            #expect(zeros == a.count / 2, "\(before.name)")
            // Every kept weight is at least as large as every dropped one.
            let keptMin = zip(a, p).filter { $0.1 != 0 }.map { abs($0.0) }.min() ?? Float(0)
            let droppedMax = zip(a, p).filter { $0.1 == 0 }.map { abs($0.0) }.max() ?? Float(0)
            #expect(keptMin >= droppedMax)
        }
    }

    @Test func twoOfFourKeepsTheTwoLargestOfEveryFour() throws {
        let g = try TestModels.smallCNN()
        let pruned = try Pruning.twoOfFour(g)
        let fc = try #require(g.nodes.firstIndex { $0.name == "fc" })
        let a = floats(g, try #require(g.nodes[fc].inputs[1])), p = floats(pruned, try #require(pruned.nodes[fc].inputs[1]))
        for k in stride(from: 0, to: a.count, by: 4) {
            let group = Array(p[k..<(k + 4)])
            #expect(group.filter { $0 == 0 }.count == 2)
            let keptMin = (k..<(k + 4)).filter { p[$0] != 0 }.map { abs(a[$0]) }.min() ?? 0
            let droppedMax = (k..<(k + 4)).filter { p[$0] == 0 }.map { abs(a[$0]) }.max() ?? 0
            #expect(keptMin >= droppedMax)
        }
        // conv1 reads 3 channels (not a multiple of 4): left alone.
        #expect(floats(g, try #require(g.nodes[0].inputs[1])) == floats(pruned, try #require(pruned.nodes[0].inputs[1])))
    }

    /// A chain conv → relu → maxpool → depthwise → mean → reshape → FC whose
    /// first conv has four dead output channels (zero weights and bias): pruning
    /// them must leave the outputs unchanged, so every shape and every reader's
    /// slice was propagated right.
    @Test func channelPruningPropagatesShapesThroughTheGraph() throws {
        var rng = SplitMix64(seed: 9)
        let channels = 16, dead: Set<Int> = [1, 6, 7, 12]
        var w1 = rng.floats(channels * 3 * 3 * 2, 0.5), b1 = rng.floats(channels, 0.1)
        for c in dead { for j in 0..<18 { w1[c * 18 + j] = 0 }; b1[c] = 0 }
        var bdw = rng.floats(channels, 0.1)
        for c in dead { bdw[c] = 0 }
        let b = GraphBuilder(name: "chain")
        let x = b.input("x", .f32, [1, 6, 6, 2])
        let c1 = try b.add(.conv2D(Conv2DAttributes(padding: .same)), [x, b.constant("w1", w1, dims: [channels, 3, 3, 2]), b.constant("b1", b1, dims: [channels])], name: "conv1")
        let r = try b.add(.relu, [c1], name: "relu")
        let p = try b.add(.maxPool2D(Pool2DAttributes(kernelH: 2, kernelW: 2, strideH: 2, strideW: 2)), [r], name: "pool")
        let dw = try b.add(.conv2D(Conv2DAttributes(padding: .same, groups: channels, activation: .relu)),
                           [p, b.constant("wdw", rng.floats(channels * 9, 0.5), dims: [channels, 3, 3, 1]), b.constant("bdw", bdw, dims: [channels])], name: "dw")
        let m = try b.add(.mean(axes: [1, 2], keepDims: true), [dw], name: "mean")
        let flat = try b.add(.reshape([1, channels]), [m], name: "flatten")
        b.output(try b.add(.fullyConnected(.none), [flat, b.constant("wfc", rng.floats(5 * channels, 0.5), dims: [5, channels]), nil], name: "fc"), name: "y")
        let g = try b.build()

        let pruned = try Pruning.channels(g, fraction: 0.25)
        let types = try pruned.validate().types
        #expect(types[try #require(pruned.nodes[0].inputs[1])].dims == [12, 3, 3, 2])
        #expect(types[try #require(pruned.nodes[3].inputs[1])].dims == [12, 3, 3, 1])
        #expect(types[try #require(pruned.nodes[6].inputs[1])].dims == [5, 12])
        #expect(pruned.nodes[5].op == .reshape([1, 12]))
        #expect(try agreementDb(g, pruned) > 120)
        // The last layer feeds a graph output, so it keeps its channels; so does
        // a conv whose channels reach an add (smallCNN's conv1).
        #expect(types[pruned.outputs[0]].dims == [1, 5])
        let cnn = try TestModels.smallCNN()
        let prunedCNN = try Pruning.channels(cnn, fraction: 0.5)
        #expect(try prunedCNN.validate().types[try #require(prunedCNN.nodes[0].inputs[1])].dims[0] == 8)
    }

    @Test func fp16HalvesTheWeightsAndStaysClose() throws {
        let g = try TestModels.smallCNN()
        let half = try WeightStorage.fp16(g)
        #expect(half.weightBytes * 2 == g.weightBytes)
        #expect(try agreementDb(g, half) > 50)
    }

    /// A graph with float16 weights as imported is widened (losslessly) before the rungs are built,
    /// and the fp16 rung of the widened graph gives back exactly the imported halves.
    @Test func importedHalvesAreWidenedLosslesslyForTheLadder() throws {
        let half = try WeightStorage.fp16(try TestModels.smallCNN())
        let wide = try WeightStorage.widenedHalves(half)
        #expect(!wide.values.contains { $0.dtype == .f16 && $0.constant != nil })
        #expect(wide.weightBytes == 2 * half.weightBytes)
        #expect(try agreementDb(half, wide) > 100, "widening f16 to f32 changes no value")
        let again = try WeightStorage.fp16(wide)
        let bytes = { (g: Graph) in g.values.filter { $0.dtype == .f16 }.compactMap { $0.constant.map { Array($0.bytes) } } }
        #expect(bytes(again) == bytes(half))
    }

    /// After load, an fp16 rung holds half the weight bytes of the fp32 rung: its weights stay
    /// halves in the mapped package and in the kernels' packed copies (widened in registers), so
    /// mapped constant bytes + `preparedBytes` halve too. On every SIMD path this CPU has.
    @Test func anFp16RungHoldsHalfTheWeightBytesOfTheFp32RungAfterLoad() throws {
        let g = try Corpus.graph(Corpus.fixtures + "/resnet8_float")
        let half = try WeightStorage.fp16(g)
        let paths = KernelISA.supported.filter { $0 != .scalar }
        if paths.isEmpty { print("SKIP: no SIMD path on this CPU; the scalar kernels widen fp16 weights at prepare") }
        for isa in paths {
            func resident(_ graph: Graph) throws -> (total: Int, prepared: Int) {
                let e = try Executor(graph: graph, options: ExecutorOptions(isa: isa))
                return (graph.weightBytes + e.preparedBytes, e.preparedBytes)
            }
            let (full, fullPrepared) = try resident(g), (halved, halvedPrepared) = try resident(half)
            print("resident weight bytes on \(isa): fp32 \(full) (prepared \(fullPrepared)), fp16 \(halved) (prepared \(halvedPrepared))")
            // Packed weights are padded to whole panels, and biases stay f32: a little over half.
            #expect(Double(halved) <= 0.53 * Double(full), "\(isa): fp16 \(halved) bytes vs fp32 \(full)")
            #expect(Double(halvedPrepared) <= 0.55 * Double(fullPrepared), "\(isa): prepared \(halvedPrepared) vs \(fullPrepared)")
        }
    }

    /// The int4 rung computes exactly what the float model computes with its
    /// weights replaced by their int4 round trip (decoded here independently).
    @Test func int4RungMatchesItsDequantizedWeights() throws {
        var rng = SplitMix64(seed: 11)
        let b = GraphBuilder(name: "q4")
        let x = b.input("x", .f32, [1, 4, 4, 32])
        let w1 = rng.floats(64 * 32, 0.3)
        let conv = try b.add(.conv2D(Conv2DAttributes(padding: .same, activation: .relu)), [x, b.constant("w1", w1, dims: [64, 1, 1, 32]), b.constant("b1", rng.floats(64, 0.1), dims: [64])], name: "pointwise")
        let pooled = try b.add(.mean(axes: [1, 2], keepDims: false), [conv], name: "mean")
        let fc = try b.add(.fullyConnected(.none), [pooled, b.constant("w2", rng.floats(8 * 64, 0.3), dims: [8, 64]), nil], name: "fc")
        let wide = try b.add(.reshape([1, 1, 8]), [fc], name: "row")
        // A MatMul by a constant [K, N] matrix, K = 32: becomes an FC over its transpose.
        let k32 = try b.add(.concat(axis: 2), [wide, wide, wide, wide], name: "k32")
        b.output(try b.add(.matMul, [k32, b.constant("w3", rng.floats(32 * 6, 0.3), dims: [32, 6])], name: "mm"))
        let g = try b.build()
        let q4 = try WeightStorage.int4(g)
        #expect(opKinds(q4).filter { $0 == .fullyConnected }.count == 3) // the 1x1 conv and the MatMul became FCs
        #expect(q4.values.filter { $0.dtype == .int4Block32 }.count == 3)

        func roundTrip(_ w: [Float], columns: Int) -> [Float] {
            let packed = WeightStorage.packInt4Block32(w, rows: w.count / columns, columns: columns)
            var out: [Float] = []
            for block in stride(from: 0, to: packed.count, by: 18) {
                let scale = Float(Float16(bitPattern: UInt16(packed[block]) | UInt16(packed[block + 1]) << 8))
                for j in 0..<16 {
                    let byte = packed[block + 2 + j]
                    out.append(Float(Int8(bitPattern: byte << 4) >> 4) * scale)
                    out.append(Float(Int8(bitPattern: byte) >> 4) * scale)
                }
            }
            return out
        }
        var reference = g
        for n in reference.nodes { if let wid = n.inputs.count > 1 ? n.inputs[1] : nil, let c = reference.values[wid].constant, reference.values[wid].dtype == .f32 {
            let dims = reference.values[wid].shape.upperBoundDims
            let w = Array(c.bytes.bindMemory(to: Float.self))
            if n.op == .matMul { // [K, N]: round-trip the rows of its transpose, then transpose back
                let (k, cols) = (dims[0], dims[1])
                let t = roundTrip((0..<(k * cols)).map { w[($0 % k) * cols + $0 / k] }, columns: k)
                reference.values[wid].constant = ConstantData(copying: (0..<(k * cols)).map { t[($0 % cols) * k + $0 / cols] })
            } else {
                reference.values[wid].constant = ConstantData(copying: roundTrip(w, columns: dims.last ?? 1))
            }
        } }
        #expect(try agreementDb(reference, q4) > 100)
        let lost = try agreementDb(g, q4)
        #expect(lost > 10 && lost < 40) // int4 loses real signal, and the report says so
    }

    @Test func mseClippingNarrowsARangeWithAnOutlier() {
        var rng = SplitMix64(seed: 5)
        var xs = rng.floats(10_000, 1)
        xs.append(50)
        let r = Calibration.mseOptimalRange(xs, min: -1, max: 50)
        #expect(r.max < 50 && r.max > 1)
        // Without outliers the full range is already best.
        let tight = Calibration.mseOptimalRange(rng.floats(10_000, 1), min: -1, max: 1)
        #expect(tight.max > 0.9)
    }

    /// Done-when: a zstd-compressed pruned rung is smaller than the unpruned one.
    @Test func compressedPrunedRungIsSmallerThanTheDenseOne() throws {
        let g = try Corpus.graph(Corpus.fixtures + "/resnet8_float")
        func storedTensorBytes(_ graph: Graph) throws -> Int {
            let bytes = try PackageWriter.serialize(PackageContents(metadata: PackageMetadata(), variants: [VariantRecord(name: "r")], graphs: [graph]),
                                                    options: WriteOptions(compressTensors: true, compressGraphs: true))
            return try bytes.withUnsafeBytes { try ContainerReader.read($0, owner: nil).sections.first { $0.kind == .tensors }?.storedLength ?? 0 }
        }
        let dense = try storedTensorBytes(g)
        let pruned = try storedTensorBytes(try Pruning.magnitude(g, sparsity: 0.5))
        let twoFour = try storedTensorBytes(try Pruning.twoOfFour(g))
        #expect(Double(pruned) < 0.7 * Double(dense), "\(pruned) vs \(dense)")
        #expect(Double(twoFour) < 0.7 * Double(dense), "\(twoFour) vs \(dense)")
    }
}
