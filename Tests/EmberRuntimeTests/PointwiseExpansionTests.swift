import Testing
import EmberRuntime
import EmberKernels
import Ember

/// A pointwise f32 convolution run inside the depthwise convolution that reads its output
/// (PointwiseExpansion) gives the bytes of the graph run node by node, on every kernel path and thread
/// count, with and without an activation between them, at strides 1 and 2, dilated and batched; its
/// output then takes no arena. A pointwise output read elsewhere is stored as before.
@Suite struct PointwiseExpansionTests {
    static func graph() throws -> Graph {
        let b = GraphBuilder(name: "expansion")
        let x = b.input("x", .f32, [2, 11, 13, 8])
        let constant = randomConstants(b, seed: 41)
        // expand → SiLU → 3×3 depthwise (stride 1).
        let e1 = try b.add(.conv2D(Conv2DAttributes()), [x, constant("e1", [24, 1, 1, 8]), constant("e1b", [24])], name: "expand1")
        let silu = try b.add(.unary(.silu), [e1], name: "silu")
        let d1 = try b.add(.conv2D(Conv2DAttributes(padding: .same, groups: 24)),
                           [silu, constant("d1", [24, 3, 3, 1]), constant("d1b", [24])], name: "depthwise1")
        // expand with its own relu6 → 5×5 depthwise, stride 2.
        let e2 = try b.add(.conv2D(Conv2DAttributes(activation: .relu6)), [d1, constant("e2", [40, 1, 1, 24]), constant("e2b", [40])],
                           name: "expand2")
        let d2 = try b.add(.conv2D(Conv2DAttributes(strideH: 2, strideW: 2, padding: .same, groups: 40)),
                           [e2, constant("d2", [40, 5, 5, 1]), constant("d2b", [40])], name: "depthwise2")
        // expand → 3×3 depthwise, dilation 2.
        let e3 = try b.add(.conv2D(Conv2DAttributes()), [d2, constant("e3", [17, 1, 1, 40]), nil], name: "expand3")
        let d3 = try b.add(.conv2D(Conv2DAttributes(dilationH: 2, dilationW: 2, padding: .same, groups: 17)),
                           [e3, constant("d3", [17, 3, 3, 1]), constant("d3b", [17])], name: "depthwise3")
        b.output(d3, name: "y")
        // An expansion also read by an add: stored, its depthwise reads it.
        let e4 = try b.add(.conv2D(Conv2DAttributes()), [x, constant("e4", [8, 1, 1, 8]), nil], name: "expand4")
        let d4 = try b.add(.conv2D(Conv2DAttributes(padding: .same, groups: 8)), [e4, constant("d4", [8, 3, 3, 1]), nil],
                           name: "depthwise4")
        b.output(try b.add(.add(.none), [d4, e4], name: "sum"), name: "z")
        return try b.build()
    }

    @Test func expandedDepthwiseGivesTheUnexpandedBytes() throws {
        let g = try Self.graph()
        for isa in KernelISA.supported {
            var plain = ExecutorOptions(isa: isa)
            plain.foldLookups = false
            let unexpanded = try runOnce(g, plain, seed: 29)
            let plainArena = try Executor(graph: g, options: plain).arenaBytes
            let expands = isa == .avx512 || isa == .avx2
            for threads in [1, 2] {
                let options = ExecutorOptions(isa: isa, threads: threads)
                let expanded = try runOnce(g, options, seed: 29, threads: threads)
                let differing = zip(expanded.outputs, unexpanded.outputs).enumerated()
                    .filter { $0.element.0 != $0.element.1 }
                #expect(differing.isEmpty, "\(isa), \(threads) threads: outputs \(differing.map(\.offset)) differ")
                for node in ["expand1", "expand2", "expand3"] {
                    #expect((kernel(of: node, in: g, expanded.kernels) == "folded_into_consumer") == expands,
                            "\(isa): \(node) ran \(kernel(of: node, in: g, expanded.kernels))")
                }
                let expand4 = kernel(of: "expand4", in: g, expanded.kernels)
                #expect(expand4.hasPrefix("conv2d_f32"), "\(isa): expand4 ran \(expand4)")
                let arena = try Executor(graph: g, options: options).arenaBytes
                // expand1's 2×11×13×24 floats (27 KB) among others are never stored.
                #expect(expands ? arena < plainArena : arena <= plainArena,
                        "\(isa): arena \(arena) vs \(plainArena) bytes")
            }
        }
    }
}
