import Testing
import EmberRuntime
import EmberKernels
import Ember

/// int8 elementwise pairs f(x, g(x)) folded into one table of x give the bytes of the graph run node by
/// node, on every kernel path; a producer still read elsewhere keeps running, one read only by the
/// folded node runs nothing.
@Suite struct LookupFoldingTests {
    static let xq = QuantParams(scale: 0.07, zeroPoint: -9)

    /// x · sigmoid(x) (swish, as TFLite's LOGISTIC + MUL), sigmoid(x) · x, x + tanh(x) with tanh also an
    /// output, x · x, and a mul of two different values (not foldable).
    static func graph() throws -> Graph {
        let b = GraphBuilder(name: "folding")
        let x = b.input("x", .i8, [2, 5, 7, 3], quant: xq)
        let other = b.input("other", .i8, [2, 5, 7, 3], quant: QuantParams(scale: 0.03, zeroPoint: 4))
        let sig = try b.add(.sigmoid, [x], name: "sigmoid", outputQuant: QuantParams(scale: 1.0 / 256, zeroPoint: -128))
        let swish = try b.add(.mul(.none), [x, sig], name: "swish", outputQuant: QuantParams(scale: 0.05, zeroPoint: -2))
        b.output(swish, name: "swish")
        let sig2 = try b.add(.sigmoid, [swish], name: "sigmoid2", outputQuant: QuantParams(scale: 1.0 / 256, zeroPoint: -128))
        let swapped = try b.add(.mul(.relu), [sig2, swish], name: "swapped", outputQuant: QuantParams(scale: 0.02, zeroPoint: -100))
        b.output(swapped, name: "swapped")
        let th = try b.add(.tanh, [x], name: "tanh", outputQuant: QuantParams(scale: 1.0 / 128, zeroPoint: 0))
        b.output(th, name: "tanh")
        let sum = try b.add(.add(.none), [x, th], name: "x+tanh", outputQuant: QuantParams(scale: 0.08, zeroPoint: 3))
        b.output(sum, name: "sum")
        let square = try b.add(.mul(.none), [x, x], name: "square", outputQuant: QuantParams(scale: 0.1, zeroPoint: -128))
        b.output(square, name: "square")
        let mixed = try b.add(.mul(.none), [x, other], name: "mixed", outputQuant: QuantParams(scale: 0.01, zeroPoint: 0))
        b.output(mixed, name: "mixed")
        return try b.build()
    }

    func run(_ g: Graph, _ options: ExecutorOptions) throws -> (outputs: [[UInt8]], kernels: [String]) {
        try runOnce(g, options, seed: 17)
    }

    @Test func foldedPairsGiveTheUnfoldedBytesOnEveryPath() throws {
        let g = try Self.graph()
        for isa in KernelISA.supported {
            var plain = ExecutorOptions(isa: isa)
            plain.foldLookups = false
            let unfolded = try run(g, plain), folded = try run(g, ExecutorOptions(isa: isa))
            #expect(folded.outputs == unfolded.outputs, "\(isa)")
            for node in ["swish", "swapped", "x+tanh", "square"] {
                let ran = kernel(of: node, in: g, folded.kernels)
                #expect(ran.hasPrefix("lookup_s8"), "\(isa): \(node) is \(ran)")
            }
            #expect(kernel(of: "mixed", in: g, folded.kernels).hasPrefix("mul_s8"),
                    "\(isa): two different values are not one function")
            // sigmoid and sigmoid2 are read only by the folded nodes; tanh is also a graph output.
            #expect(kernel(of: "sigmoid", in: g, folded.kernels) == "folded_into_consumer")
            #expect(kernel(of: "sigmoid2", in: g, folded.kernels) == "folded_into_consumer")
            #expect(kernel(of: "tanh", in: g, folded.kernels).hasPrefix("lookup_s8"))
            #expect(kernel(of: "swish", in: g, unfolded.kernels).hasPrefix("mul_s8"))
        }
    }

    /// An executor that keeps every value (per-layer inspection) still computes the producers.
    @Test func keepingEveryValueKeepsTheProducersRunning() throws {
        let g = try Self.graph()
        var options = ExecutorOptions(keepEveryValue: true)
        options.isa = .scalar
        let (_, kernels) = try run(g, options)
        #expect(!kernels.contains("folded_into_consumer"))
        #expect(kernels[g.nodes.firstIndex { $0.name == "swish" } ?? 0] == "lookup_s8")
    }
}

/// The kernel that ran node `node` of `g`, from an executor's implementations in node order ("?" when
/// there is no such node).
func kernel(of node: String, in g: Graph, _ kernels: [String]) -> String {
    g.nodes.firstIndex { $0.name == node }.map { kernels[$0] } ?? "?"
}

/// A maker of constants added to `b`: `dims` values within ±scale from a generator seeded `seed`.
func randomConstants(_ b: GraphBuilder, seed: UInt64, scale: Float = 0.4) -> (String, [Int]) -> ValueID {
    var rng = SplitMix64(seed: seed)
    return { name, dims in b.constant(name, rng.floats(dims.reduce(1, *), scale), dims: dims) }
}

/// One inference of `g` on TestModels' inputs of `seed`: every output's bytes and the kernel of each node.
func runOnce(_ g: Graph, _ options: ExecutorOptions, seed: UInt64, threads: Int = 1) throws
    -> (outputs: [[UInt8]], kernels: [String]) {
    let e = try Executor(graph: g, options: options)
    let feeds = TestModels.input(for: g, seed: seed)
    for (i, slot) in e.inputs.enumerated() {
        guard let t = feeds[slot.name] else { continue }
        t.bytes.withUnsafeBytes { e.inputBuffer(i).copyMemory(from: $0) }
    }
    e.run(threads: threads)
    return (e.outputs.indices.map { Array(e.outputBuffer($0)) }, e.implementations)
}
