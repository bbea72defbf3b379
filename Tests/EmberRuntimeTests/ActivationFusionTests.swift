import Testing
import EmberRuntime
import EmberKernels
import Ember

/// f32 activations applied in the store of the conv, depthwise conv or FC that feeds them
/// (ActivationFusion) give the bytes of the graph run node by node, on every kernel path and thread
/// count; an activation whose input is read elsewhere or is a graph output, or whose producer's kernel
/// cannot apply it (Winograd), runs as its own node.
@Suite struct ActivationFusionTests {
    static func graph() throws -> Graph {
        let b = GraphBuilder(name: "fusion")
        let x = b.input("x", .f32, [2, 12, 13, 8])
        let constant = randomConstants(b, seed: 31)
        // Pointwise (its rows in 64-row chunks) → SiLU; depthwise 5×5 → hard-swish; a 3×3 stride-2
        // conv with relu6 → sigmoid; a 3×3 stride-1 conv (Winograd) → tanh, not fused.
        let pw = try b.add(.conv2D(Conv2DAttributes()), [x, constant("pw", [24, 1, 1, 8]), constant("pwb", [24])], name: "expand")
        let silu = try b.add(.unary(.silu), [pw], name: "silu")
        let dw = try b.add(.conv2D(Conv2DAttributes(padding: .same, groups: 24)),
                           [silu, constant("dw", [24, 5, 5, 1]), constant("dwb", [24])], name: "depthwise")
        let hs = try b.add(.hardSwish, [dw], name: "hswish")
        let s2 = try b.add(.conv2D(Conv2DAttributes(strideH: 2, strideW: 2, padding: .same, activation: .relu6)),
                           [hs, constant("s2", [16, 3, 3, 24]), constant("s2b", [16])], name: "strided")
        let sig = try b.add(.sigmoid, [s2], name: "sigmoid")
        let wino = try b.add(.conv2D(Conv2DAttributes(padding: .same)), [sig, constant("w3", [16, 3, 3, 16]), nil],
                             name: "winograd")
        let th = try b.add(.tanh, [wino], name: "tanh")
        // An FC → leaky relu, and a conv whose output is also a graph output (its activation stays a node).
        let flat = try b.add(.reshape([2, 6 * 7 * 16]), [th], name: "flat")
        let fc = try b.add(.fullyConnected(.none), [flat, constant("fc", [10, 6 * 7 * 16]), constant("fcb", [10])], name: "fc")
        b.output(try b.add(.leakyRelu(alpha: 0.1), [fc], name: "leaky"), name: "y")
        let side = try b.add(.conv2D(Conv2DAttributes()), [x, constant("side", [8, 1, 1, 8]), nil], name: "side")
        b.output(side, name: "side")
        b.output(try b.add(.relu, [side], name: "side-relu"), name: "side_relu")
        return try b.build()
    }

    func run(_ g: Graph, _ options: ExecutorOptions, threads: Int = 1) throws -> (outputs: [[UInt8]], kernels: [String]) {
        try runOnce(g, options, seed: 23, threads: threads)
    }

    @Test func fusedActivationsGiveTheUnfusedBytes() throws {
        let g = try Self.graph()
        for isa in KernelISA.supported {
            var plain = ExecutorOptions(isa: isa)
            plain.foldLookups = false
            let unfused = try run(g, plain)
            let fusedOn = isa != .scalar
            for (threads, inPlace) in [(1, true), (2, true), (1, false)] {
                var options = ExecutorOptions(isa: isa, threads: threads)
                options.inPlace = inPlace
                let fused = try run(g, options, threads: threads)
                let differing = zip(fused.outputs, unfused.outputs).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
                #expect(differing.isEmpty, "\(isa), \(threads) threads, in place \(inPlace): outputs \(differing) differ")
                for node in ["silu", "hswish", "sigmoid", "leaky"] {
                    #expect((kernel(of: node, in: g, fused.kernels) == "applied_by_producer") == fusedOn,
                            "\(isa): \(node) ran \(kernel(of: node, in: g, fused.kernels))")
                }
                // Winograd does not apply it; side's output is read twice (a graph output).
                let tanh = kernel(of: "tanh", in: g, fused.kernels)
                #expect(tanh.hasPrefix("unary_f32"), "\(isa): tanh ran \(tanh)")
                #expect(kernel(of: "side-relu", in: g, fused.kernels).hasPrefix("unary_f32"))
            }
            // A graph output read by an activation that is the last node keeps its own bytes: the
            // activation must not run in place over it (it did, before the executor checked for outputs).
            let side = unfused.outputs[1].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let sideRelu = unfused.outputs[2].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            #expect(side.contains { $0 < 0 } && sideRelu == side.map { max($0, 0) }, "\(isa): side output overwritten")
            // Keeping every value (ember run --dump-all) keeps each activation a node of its own.
            var dump = ExecutorOptions(isa: isa)
            dump.keepEveryValue = true
            let kept = try run(g, dump)
            let keptSame = kept.outputs == unfused.outputs
            #expect(keptSame, "\(isa): keeping every value")
            #expect(!kept.kernels.contains("applied_by_producer"))
        }
    }
}
