import EmberCore
import CEmberKernels
import EmberKernels

/// Applies an f32 activation node in the store of the convolution, depthwise convolution or fully
/// connected layer that feeds it: the producer's optimized kernel runs the ISA's own unary kernel over
/// each stretch of output it has just written (an output row, or 64 rows of a pointwise layer) while
/// it is still in cache, and the activation node becomes a view of its input. EfficientNet's SiLU
/// after every expansion and depthwise layer was a separate pass over the whole activation.
///
/// The activated bytes are the unfused graph's: the same unary kernel on the same values, only sooner.
/// A producer whose kernel cannot apply it (the reference path, Winograd, hybrid, int8) leaves the node
/// to run as before (`PreparedKernel.appliesPostUnary`).
enum ActivationFusion {
    struct Fusion {
        var producer: Int
        var consumer: Int
        var op: ember_unary_op
        var alpha: Float
    }

    /// The producer/activation pairs of `graph`: an f32 activation the ISA's unary kernel implements,
    /// reading the only use of a conv or FC output of its own type that is no graph output.
    static func plan(_ graph: Graph, types: [TensorInfo], isa: KernelISA) -> [Fusion] {
        guard isa != .scalar else { return [] }
        let (producer, uses) = graph.producersAndUses()
        var fusions: [Fusion] = []
        for (j, node) in graph.nodes.enumerated() {
            guard let activation = Kernels.activation(of: node.op), let input = node.inputs.first ?? nil,
                  node.inputs.count == 1, let p = producer[input], uses[input] == 1,
                  types[input].dtype == .f32, types[input] == types[node.output],
                  Kernels.canApplyAfterStore(activation.op, isa: isa) else { continue }
            switch graph.nodes[p].op {
            case .conv2D, .fullyConnected: break
            default: continue
            }
            fusions.append(Fusion(producer: p, consumer: j, op: activation.op, alpha: activation.alpha))
        }
        return fusions
    }
}
