import Testing
import Ember

/// Sessions of one variant share its prepared kernels (packed weights): the weights are held and
/// charged once, each session keeps its own arena, and runs on one never disturb another's.
@Suite struct SharedKernelsTests {
    /// Two conv branches (each large enough to run split across threads) → concat → fc: a concat
    /// binds a table of its input addresses, which must be each session's own.
    static func branchyCNN() throws -> Graph {
        var rng = SplitMix64(seed: 5)
        let b = GraphBuilder(name: "branchy")
        let x = b.input("image", .f32, [1, 16, 16, 8])
        let w1 = b.constant("w1", rng.floats(16 * 3 * 3 * 8, scale: 0.3), dims: [16, 3, 3, 8])
        let c1 = try b.add(.conv2D(Conv2DAttributes(padding: .same, activation: .relu)), [x, w1, nil], name: "conv3x3")
        let w2 = b.constant("w2", rng.floats(16 * 8, scale: 0.3), dims: [16, 1, 1, 8])
        let c2 = try b.add(.conv2D(Conv2DAttributes(padding: .same)), [x, w2, nil], name: "conv1x1")
        let cat = try b.add(.concat(axis: 3), [c1, c2], name: "concat")
        let pool = try b.add(.averagePool2D(Pool2DAttributes(kernelH: 16, kernelW: 16, strideH: 16, strideW: 16)), [cat],
                             name: "pool")
        let flat = try b.add(.reshape([1, 32]), [pool], name: "flat")
        let fw = b.constant("fc_w", rng.floats(10 * 32, scale: 0.2), dims: [10, 32])
        b.output(try b.add(.fullyConnected(.none), [flat, fw, nil], name: "logits"))
        return try b.build()
    }

    @Test(arguments: [1, 2])
    func sessionsOfOneVariantHoldItsWeightsOnceAndRunIndependently(threads: Int) throws {
        let g = try Self.branchyCNN()
        let p = TestModels.package(g)
        let first = try Session(package: p, threads: threads)
        let afterFirst = p.account.used
        let second = try Session(package: p, threads: threads)
        let secondCharge = p.account.used - afterFirst
        #expect(first.executor.kernels === second.executor.kernels)
        #expect(first.executor.kernels.bytes > 0)
        // The second session is charged its arena and binding records, not the weights again.
        #expect(secondCharge == second.executor.arenaCapacity + second.executor.preparedBytes - second.executor.kernels.bytes,
                "second session charged \(secondCharge) bytes")
        #expect(secondCharge < afterFirst)
        if threads > 1 { #expect(second.executor.splitNodeCount > 0, "the convs run split, binding parts per executor") }

        // Each against a session that shares nothing (its own account), on inputs of its own,
        // with the runs interleaved: a run of one never changes the other's outputs.
        let alone = try Session(package: p, limits: LoadLimits(), threads: threads)
        #expect(alone.executor.kernels !== first.executor.kernels)
        let x = TestModels.input(for: g, seed: 1), y = TestModels.input(for: g, seed: 2)
        let expectedX = try alone.run(x), expectedY = try alone.run(y)
        #expect(expectedX != expectedY)
        try first.load(x)
        try second.load(y)
        first.run()
        second.run()
        #expect(first.outputTensors() == expectedX)
        #expect(second.outputTensors() == expectedY)
        second.run()
        #expect(first.outputTensors() == expectedX, "another session's run left this one's outputs alone")
    }

    @Test func sharedKernelsGoWhenTheirLastSessionDoes() throws {
        let p = TestModels.package(try Self.branchyCNN())
        weak var kernels: PreparedKernels?
        do {
            let s = try Session(package: p)
            kernels = s.executor.kernels
            #expect(kernels != nil)
        }
        #expect(kernels == nil, "the package holds prepared kernels only weakly")
        #expect(p.account.used == 0, "everything charged was released")
        let again = try Session(package: p)
        #expect(again.executor.kernels.bytes > 0)
    }

    @Test func kernelsOfOtherSizesOrAnotherPathAreNotShared() throws {
        let g = try Self.branchyCNN()
        let first = try Executor(graph: g)
        var scalar = ExecutorOptions()
        scalar.isa = .scalar
        if first.isa != .scalar {
            #expect(throws: EmberError.self) { try Executor(sharing: first.kernels, options: scalar) }
        }
        let shared = try Executor(sharing: first.kernels, options: ExecutorOptions(isa: first.isa))
        #expect(shared.kernels === first.kernels && shared.implementations == first.implementations)
    }
}
