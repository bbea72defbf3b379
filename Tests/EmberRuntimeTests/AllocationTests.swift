import Testing
import CAllocationCounter
import EmberRuntime
import Ember

/// Zero heap allocations per inference after prepare, counted by an
/// interposed malloc (Tests/Support/CAllocationCounter), as swift-nio's
/// allocation-counter tests do.
@Suite(.serialized) struct ZeroAllocationTests {
    @Test func counterSeesAllocations() {
        #expect(ember_alloc_counter_is_active() == 1)
        ember_alloc_counter_start()
        let array = [Int](repeating: 1, count: Int.random(in: 100...200))
        let n = ember_alloc_counter_stop()
        #expect(array.count >= 100)
        #expect(n >= 1) // the counter really counts: a test of zero is meaningful
    }

    func allocations(of graph: Graph, runs: Int = 50) throws -> Int64 {
        let e = try Executor(graph: graph)
        let feeds = TestModels.input(for: graph, seed: 3)
        for (i, slot) in e.inputs.enumerated() {
            guard let t = feeds[slot.name] else { continue }
            t.bytes.withUnsafeBytes { e.inputBuffer(i).copyMemory(from: $0) }
        }
        e.run() // warm-up
        ember_alloc_counter_start()
        for _ in 0..<runs { e.run() }
        return ember_alloc_counter_stop()
    }

    @Test func floatCNNRunAllocatesNothing() throws {
        #expect(try allocations(of: TestModels.smallCNN()) == 0)
    }

    @Test func int8GraphRunAllocatesNothing() throws {
        #expect(try allocations(of: Int8Models.quantizedMLP()) == 0)
    }
}
