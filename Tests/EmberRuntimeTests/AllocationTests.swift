import Testing
import CAllocationCounter
import EmberRuntime
import EmberKernels
import EmberImport
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

    /// Allocations during `runs` inferences after one warm-up run, and the implementations bound.
    func allocations(of graph: Graph, isa: KernelISA? = nil, threads: Int = 1, runs: Int = 50) throws
        -> (count: Int64, implementations: [String]) {
        let e = try Executor(graph: graph, options: ExecutorOptions(isa: isa, threads: threads))
        let feeds = TestModels.input(for: graph, seed: 3)
        for (i, slot) in e.inputs.enumerated() {
            guard let t = feeds[slot.name] else { continue }
            t.bytes.withUnsafeBytes { e.inputBuffer(i).copyMemory(from: $0) }
        }
        e.run() // warm-up
        ember_alloc_counter_start()
        for _ in 0..<runs { e.run() }
        return (ember_alloc_counter_stop(), e.implementations)
    }

    /// The committed int8 and float MLPerf Tiny fixtures, the test graphs and the
    /// kernel zoo: each runs without a single allocation, and between them every
    /// kernel implementation the executor can bind has been counted.
    /// The graphs that between them bind every kernel implementation.
    static func everyKernelGraphs() throws -> [(String, Graph)] {
        var graphs: [(String, Graph)] = [("smallCNN", try TestModels.smallCNN()), ("quantizedMLP", try Int8Models.quantizedMLP())]
        for name in ["kws_int8", "resnet8_float"] {
            let bytes = try readFile(Corpus.fixtures + "/" + name + "/model.tflite", .model)
            graphs.append((name, try bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: name) }))
        }
        return graphs + (try KernelZoo.all().map { ($0.name, $0) })
    }

    @Test func everyKernelImplementationRunsWithoutAllocating() throws {
        let graphs = try Self.everyKernelGraphs()
        var exercised = Set<KernelImplementation>()
        // Every kernel path this CPU has; the others' implementations cannot run here.
        for isa in KernelISA.supported {
            for (name, g) in graphs {
                let (count, implementations) = try allocations(of: g, isa: isa)
                #expect(count == 0, "\(name) on \(isa): \(count) allocations in 50 runs")
                // The same with a worker pool: split nodes hand their parts to the workers.
                let (pooled, _) = try allocations(of: g, isa: isa, threads: 2)
                #expect(pooled == 0, "\(name) on \(isa), 2 threads: \(pooled) allocations in 50 runs")
                for i in implementations {
                    let parsed = KernelImplementation.parse(i)
                    #expect(!parsed.isEmpty, "\(name): '\(i)' is not a KernelImplementation")
                    exercised.formUnion(parsed)
                }
            }
        }
        let absent = KernelImplementation.allCases.filter { !$0.isa.isSupported }
        if !absent.isEmpty { print("SKIP: no \(Set(absent.map(\.isa.rawValue)).sorted()) on this CPU: \(absent.map(\.rawValue)) not run") }
        let missing = KernelImplementation.allCases.filter { $0.isa.isSupported && !exercised.contains($0) }
        #expect(missing.isEmpty, "not exercised by an allocation-counted run: \(missing.map(\.rawValue))")
    }

    /// Prepared kernels are read-only after prepare, so executors may share them: for every kernel
    /// implementation, an executor bound to another's kernels, run on other inputs in between,
    /// leaves the first one's outputs as an executor sharing nothing computes them.
    @Test func everyKernelImplementationCanBeSharedByExecutors() throws {
        func outputs(_ e: Executor) -> [[UInt8]] { e.outputs.indices.map { Array(e.outputBuffer($0)) } }
        func load(_ e: Executor, _ feeds: [String: Tensor]) {
            for (i, slot) in e.inputs.enumerated() {
                guard let t = feeds[slot.name] else { continue }
                t.bytes.withUnsafeBytes { e.inputBuffer(i).copyMemory(from: $0) }
            }
        }
        for isa in KernelISA.supported {
            for (name, g) in try Self.everyKernelGraphs() {
                let options = ExecutorOptions(isa: isa, threads: 2)
                let first = try Executor(graph: g, options: options)
                let second = try Executor(sharing: first.kernels, options: options)
                let alone = try Executor(graph: g, options: options)
                let x = TestModels.input(for: g, seed: 3), y = TestModels.input(for: g, seed: 4)
                load(alone, x)
                alone.run()
                let expected = outputs(alone)
                load(first, x)
                load(second, y)
                first.run()
                second.run()
                #expect(outputs(first) == expected, "\(name) on \(isa): a shared executor's run changed another's outputs")
                load(alone, y)
                alone.run()
                #expect(outputs(second) == outputs(alone), "\(name) on \(isa): the sharing executor's own outputs")
            }
        }
    }
}
