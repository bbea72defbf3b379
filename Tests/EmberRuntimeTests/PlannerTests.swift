import Testing
import EmberRuntime
import Ember

@Suite struct GreedyPlannerTests {
    @Test func reusesMemoryOfDeadBuffers() {
        // A chain a→b→c→d: at most two buffers are alive at once.
        let reqs = (0..<4).map { BufferRequirement(size: 1000, firstUse: $0, lastUse: $0 + 1, label: "t\($0)") }
        let plan = GreedyPlanner.plan(reqs)
        #expect(plan.overlaps().isEmpty)
        #expect(plan.arenaSize == 2 * 1024) // two 1000-byte buffers, each rounded up to 64
        #expect(plan.render().contains("arena 2048 bytes"))
    }

    @Test func largestFirstFillsGaps() {
        let reqs = [
            BufferRequirement(size: 4096, firstUse: 0, lastUse: 1, label: "big0"),
            BufferRequirement(size: 4096, firstUse: 2, lastUse: 3, label: "big1"),
            BufferRequirement(size: 64, firstUse: 0, lastUse: 3, label: "small"),
        ]
        let plan = GreedyPlanner.plan(reqs)
        #expect(plan.offsets[0] == 0 && plan.offsets[1] == 0 && plan.offsets[2] == 4096)
        #expect(plan.arenaSize == 4096 + 64)
    }

    /// The invariant over many random buffer sets: nothing alive at the same
    /// time shares a byte, everything is aligned and inside the arena, and the
    /// arena is never smaller than the largest set of simultaneously live bytes.
    @Test func randomPlansNeverOverlap() {
        var rng = SplitMix64(seed: 99)
        for trial in 0..<500 {
            let n = Int(rng.next() % 40) + 1
            let steps = Int(rng.next() % 30) + 1
            let reqs = (0..<n).map { i -> BufferRequirement in
                let a = Int(rng.next() % UInt64(steps)), b = Int(rng.next() % UInt64(steps))
                return BufferRequirement(size: Int(rng.next() % 5000), firstUse: min(a, b), lastUse: max(a, b), label: "b\(i)")
            }
            let plan = GreedyPlanner.plan(reqs)
            #expect(plan.overlaps().isEmpty, "trial \(trial)")
            #expect(plan.isWithinArena, "trial \(trial)")
            let peak = (0..<steps).map { s in reqs.filter { $0.firstUse <= s && s <= $0.lastUse }.reduce(0) { $0 + $1.size } }.max() ?? 0
            #expect(plan.arenaSize >= peak)
        }
    }

    /// The same invariant on real executors over random graphs (chains with
    /// branches, residual adds, reshapes and in-place activations).
    @Test func randomGraphsPlanWithoutOverlap() throws {
        var rng = SplitMix64(seed: 7)
        for trial in 0..<150 {
            let b = GraphBuilder(name: "random\(trial)")
            let width = Int(rng.next() % 16) + 1
            var live = [b.input("x", .f32, [1, width])]
            let steps = Int(rng.next() % 12) + 1
            for s in 0..<steps {
                let pick = live[Int(rng.next() % UInt64(live.count))]
                let choice = rng.next() % 6, other = live[Int(rng.next() % UInt64(live.count))]
                do {
                    switch choice {
                    case 0: live.append(try b.add(.relu, [pick], name: "relu\(s)"))
                    case 1: live.append(try b.add(.add(.none), [pick, other], name: "add\(s)"))
                    case 2: live.append(try b.add(.reshape([width, 1]), [pick], name: "reshape\(s)"))
                    case 3:
                        let w = b.constant("w\(s)", rng.floats(width * width, scale: 1), dims: [width, width])
                        live.append(try b.add(.fullyConnected(.none), [pick, w, nil], name: "fc\(s)"))
                    case 4:
                        // A run of rows or columns: contiguous when the other dim is 1, so placed in `pick`.
                        let dims = b.values[pick].shape.upperBoundDims, axis = dims[0] == 1 ? 1 : 0
                        let lo = Int(rng.next() % UInt64(dims[axis])), hi = lo + 1 + Int(rng.next() % UInt64(dims[axis] - lo))
                        var begin = [0, 0], end = dims
                        begin[axis] = lo; end[axis] = hi
                        live.append(try b.add(.slice(begin: begin, end: end, strides: [1, 1]), [pick], name: "slice\(s)"))
                    default: live.append(try b.add(.sigmoid, [pick], name: "sig\(s)"))
                    }
                } catch {
                    continue // this random step does not fit the shapes (e.g. fc after a reshape)
                }
                if live.count > 3 && rng.next() % 2 == 0 { live.removeFirst() }
            }
            b.output(live[live.count - 1], name: "y")
            let g = try b.build()
            for inPlace in [false, true] {
                let e = try Executor(graph: g, options: ExecutorOptions(inPlace: inPlace))
                #expect(e.plan.overlaps().isEmpty, "trial \(trial)")
                #expect(e.plan.isWithinArena)
            }
            // In-place and out-of-place give the same numbers.
            let feeds = TestModels.input(for: g, seed: UInt64(trial))
            let p = TestModels.package(g)
            let a = try Session(package: p, options: ExecutorOptions(inPlace: true)).run(feeds)
            let c = try Session(package: p, options: ExecutorOptions(inPlace: false)).run(feeds)
            #expect(a == c, "trial \(trial)")
        }
    }

    /// A recurrent step's gates: slices of whole rows are placed inside the value they slice (no
    /// copy, kernel "view"), each gate's activation writes over its own slice only when nothing reads
    /// the sliced value later, and a column slice (strided) still copies. Same numbers as out of place,
    /// the input intact.
    @Test func contiguousSlicesAreViewsOfTheirInput() throws {
        let b = GraphBuilder(name: "gates")
        let x = b.input("x", .f32, [1, 4, 16])
        let w = b.constant("w", (0..<(64 * 64)).map { Float(($0 * 37) % 101) / 500 - 0.1 }, dims: [64, 64])
        let pre = try b.add(.fullyConnected(.none), [try b.add(.reshape([1, 64]), [x], name: "flat"), w, nil], name: "pre")
        let gates = try (0..<4).map { k in
            try b.add(.slice(begin: [0, 16 * k], end: [1, 16 * (k + 1)], strides: [1, 1]), [pre], name: "gate\(k)")
        }
        let i = try b.add(.sigmoid, [gates[0]], name: "i"), f = try b.add(.sigmoid, [gates[1]], name: "f")
        let c = try b.add(.tanh, [gates[2]], name: "c"), o = try b.add(.sigmoid, [gates[3]], name: "o")
        let h = try b.add(.mul(.none), [try b.add(.add(.none), [try b.add(.mul(.none), [i, c], name: "ic"), f], name: "cell"), o],
                          name: "h")
        let row = try b.add(.slice(begin: [0, 2, 0], end: [1, 3, 16], strides: [1, 1, 1]), [x], name: "row")
        let column = try b.add(.slice(begin: [0, 0, 3], end: [1, 4, 4], strides: [1, 1, 1]), [x], name: "column")
        b.output(h, name: "h")
        b.output(try b.add(.add(.none), [row, try b.add(.reshape([1, 1, 16]), [h], name: "h3")], name: "sum"), name: "sum")
        b.output(column, name: "column")
        let g = try b.build()
        let views = try Executor(graph: g, options: ExecutorOptions(inPlace: true))
        let copies = try Executor(graph: g, options: ExecutorOptions(inPlace: false))
        let kernel = Dictionary(uniqueKeysWithValues: zip(g.nodes.map(\.name), views.implementations))
        #expect((0..<4).allSatisfy { kernel["gate\($0)"] == "view" } && kernel["row"] == "view", "\(kernel)")
        #expect(kernel["column"] == "slice_ref")
        #expect(!copies.implementations.contains("view"))
        #expect(views.arenaBytes < copies.arenaBytes, "\(views.arenaBytes) vs \(copies.arenaBytes)")
        let p = TestModels.package(g)
        let feeds = TestModels.input(for: g, seed: 5)
        let a = try Session(package: p, options: ExecutorOptions(inPlace: true))
        #expect(try a.run(feeds) == Session(package: p, options: ExecutorOptions(inPlace: false)).run(feeds))
        #expect(try a.run(feeds) == Session(package: p, options: ExecutorOptions(inPlace: false)).run(feeds), "a second run")
        #expect(Array(a.inputBuffer(0)) == feeds["x"]?.bytes)
    }

    /// x → fc → relu → sigmoid → add(·, x): planned out of place, the step that
    /// runs relu holds x, the fc output and the relu output (3 × 4 KiB); in place,
    /// relu, sigmoid and the add write over their input, so two buffers serve the
    /// whole graph. The graph input itself is never written over.
    @Test func inPlaceShrinksTheArena() throws {
        let b = GraphBuilder(name: "residual")
        let x = b.input("x", .f32, [1, 1024])
        let w = b.constant("w", [Float](repeating: 0.001, count: 1024 * 1024), dims: [1024, 1024])
        let h = try b.add(.fullyConnected(.none), [x, w, nil], name: "fc")
        let r = try b.add(.relu, [h], name: "relu")
        let s = try b.add(.sigmoid, [r], name: "sigmoid")
        let y = try b.add(.add(.none), [s, x], name: "residual")
        b.output(y, name: "y")
        let g = try b.build()
        let inPlace = try Executor(graph: g, options: ExecutorOptions(inPlace: true))
        let separate = try Executor(graph: g, options: ExecutorOptions(inPlace: false))
        #expect(separate.arenaBytes == 4096 * 3)
        #expect(inPlace.arenaBytes == 4096 * 2)
        #expect(inPlace.plan.requirements.count == 2 && separate.plan.requirements.count == 5)
        #expect(inPlace.arenaBytes < separate.arenaBytes)
        // Same numbers either way, and the input is intact after the run.
        let p = TestModels.package(g)
        let feeds = TestModels.input(for: g, seed: 4)
        let a = try Session(package: p, options: ExecutorOptions(inPlace: true))
        #expect(try a.run(feeds) == Session(package: p, options: ExecutorOptions(inPlace: false)).run(feeds))
        #expect(Array(a.inputBuffer(0)) == feeds["x"]?.bytes)
    }

    /// x is read by the first node only; the buffers after it are the same size, so a planner that
    /// ended x's life there would put one over it. Inputs written once must serve every run.
    @Test func theGraphInputOutlivesItsLastReaderSoRunsCanRepeat() throws {
        let b = GraphBuilder(name: "chain")
        var v = b.input("x", .f32, [1, 256])
        for layer in 0..<3 {
            let w = b.constant("w\(layer)", (0..<(256 * 256)).map { Float(($0 * 7 + layer) % 13) / 400 - 0.015 }, dims: [256, 256])
            v = try b.add(.fullyConnected(.relu), [v, w, nil], name: "fc\(layer)")
        }
        b.output(v, name: "y")
        let g = try b.build()
        let p = TestModels.package(g)
        let feeds = TestModels.input(for: g, seed: 8)
        let s = try Session(package: p)
        let first = try s.run(feeds)
        #expect(Array(s.inputBuffer(0)) == feeds["x"]?.bytes)
        s.run() // on the input buffer as the first run left it
        #expect(s.outputTensors() == first)
        #expect(s.executor.plan.requirements.count >= 3 && s.arenaBytes == 3 * 1024)
        // Without preserveInputs, fc1's output goes over x: one buffer less, and x is gone after a run.
        var compact = ExecutorOptions()
        compact.preserveInputs = false
        let c = try Session(package: p, options: compact)
        #expect(try c.run(feeds) == first && c.arenaBytes == 2 * 1024)
        #expect(Array(c.inputBuffer(0)) != feeds["x"]?.bytes)
    }
}
