import Testing
import CAllocationCounter
import EmberRuntime
import Ember

/// Run-time binding of bounded dims: an executor prepared at the bounds re-plans for other sizes in
/// the arena it has, gives the same numbers as a graph built at that size, and runs without
/// allocating; the session re-plans only when the feeds' shape changes.
@Suite(.serialized) struct ShapeBindingTests {
    /// conv → relu → reshape (copying the batch dim) → fully-connected → softmax, with the batch
    /// symbolic up to `bound` (or fixed at `batch`).
    static func classifier(batch: Dim) throws -> Graph {
        var rng = SplitMix64(seed: 11)
        let b = GraphBuilder(name: "bounded")
        let x = b.input("x", .f32, Shape([batch, .fixed(6), .fixed(6), .fixed(3)]))
        let w = b.constant("w", rng.floats(4 * 3 * 3 * 3, scale: 0.5), dims: [4, 3, 3, 3])
        let c = try b.add(.conv2D(Conv2DAttributes(padding: .valid, activation: .relu)), [x, w], name: "conv")
        let flat = try b.add(.reshape([Op.reshapeCopiesInputDim(0), 64]), [c], name: "flatten")
        let fw = b.constant("fw", rng.floats(5 * 64, scale: 0.2), dims: [5, 64])
        let fc = try b.add(.fullyConnected(.none), [flat, fw], name: "fc")
        b.output(try b.add(.softmax(axis: -1, beta: 1), [fc], name: "probabilities"))
        return try b.build()
    }

    static func image(_ rows: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return rng.floats(rows * 108)
    }

    @Test func theBuilderKeepsABoundedDimThroughEveryOpThatFollowsIt() throws {
        let g = try Self.classifier(batch: .symbolic(name: "N", upperBound: 5))
        let out = g.values[g.outputs[0]].shape
        #expect(out == Shape([.symbolic(name: "N", upperBound: 5), .fixed(5)]), "\(out)")
        try g.validateAtBoundedSizes()
        #expect(try g.bindings(forInputDims: [[3, 6, 6, 3]]) == ["N": 3])
        #expect(throws: EmberError.self) { try g.bindings(forInputDims: [[6, 6, 6, 3]]) }
        #expect(throws: EmberError.self) { try g.bindings(forInputDims: [[2, 6, 6, 4]]) }
        #expect(throws: EmberError.self) { try g.bindings(forInputDims: [[2, 6, 6]]) }
    }

    @Test func aReboundExecutorMatchesAGraphBuiltAtThatSizeInTheArenaOfTheBounds() throws {
        let g = try Self.classifier(batch: .symbolic(name: "N", upperBound: 5))
        for isa in KernelISA.supported {
            let atBounds = try Executor(graph: g, options: ExecutorOptions(isa: isa))
            #expect(atBounds.bindings == ["N": 5] && atBounds.inputs[0].info.dims == [5, 6, 6, 3])
            for rows in [1, 3, 5, 2] {
                let e = try atBounds.rebound(to: ["N": rows])
                #expect(e.inputs[0].info.dims == [rows, 6, 6, 3] && e.outputs[0].info.dims == [rows, 5])
                #expect(e.arenaCapacity == atBounds.arenaCapacity && e.arenaBytes <= atBounds.arenaBytes)
                let fixed = try Executor(graph: try Self.classifier(batch: .fixed(rows)), options: ExecutorOptions(isa: isa))
                let x = Self.image(rows, seed: UInt64(rows))
                for exec in [e, fixed] { x.withUnsafeBytes { exec.inputBuffer(0).copyMemory(from: $0) } }
                e.run(); fixed.run()
                #expect(Array(e.outputBuffer(0)) == Array(fixed.outputBuffer(0)), "\(isa), N=\(rows)")
                ember_alloc_counter_start()
                for _ in 0..<20 { e.run() }
                #expect(ember_alloc_counter_stop() == 0, "\(isa), N=\(rows): the rebound executor allocates")
            }
            #expect(throws: EmberError.self) { try atBounds.rebound(to: ["N": 6]) }
        }
    }

    @Test func aSessionReplansOnlyWhenTheShapeOfItsFeedsChanges() throws {
        let g = try Self.classifier(batch: .symbolic(name: "N", upperBound: 4))
        let record = VariantRecord(name: "fp32")
        let package = EmberPackage(contents: PackageContents(metadata: PackageMetadata(), variants: [record], graphs: [g]))
        let session = try Session(package: package)
        let arena = session.arenaBytes
        for rows in [2, 4, 1] {
            let result = try session.run(["x": Tensor(Self.image(rows, seed: 7), dims: [rows, 6, 6, 3])])
            #expect(result["probabilities"]?.dims == [rows, 5] && session.arenaBytes == arena)
            let sums = (0..<rows).map { r in (result["probabilities"]?.floats[(r * 5)..<(r * 5 + 5)].reduce(0, +)) ?? 0 }
            #expect(sums.allSatisfy { abs($0 - 1) < 1e-5 }, "N=\(rows): \(sums)")
            let executor = session.executor, same = [[rows, 6, 6, 3]]
            ember_alloc_counter_start()
            try session.reshape(inputDims: same)
            session.run()
            #expect(ember_alloc_counter_stop() == 0, "N=\(rows): reshaping to the same dims allocates")
            #expect(session.executor === executor)
        }
        #expect {
            try session.run(["x": Tensor(Self.image(5, seed: 7), dims: [5, 6, 6, 3])])
        } throws: { "\($0)".contains("dim 0 (N) must be 1…4, got 5") }
    }
}
