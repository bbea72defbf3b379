import EmberCore
import EmberKernels

/// Runs a pointwise f32 convolution inside the depthwise convolution that reads its output — the
/// expansion → depthwise pair of every MobileNetV2/V3 and EfficientNet block. The depthwise kernel
/// reads its taps through a window of input rows; here it computes each row from the pointwise layer's
/// input as the row enters the window (the GEMM and the activation its producer applied, as that
/// layer's kernel runs them), so the expanded activation — 112×112×96 floats, 4.8 MB, in
/// EfficientNet-B0's first block — is never written to memory and read back, and needs no arena.
///
/// The bytes are the unfused graph's: the same kernels on the same rows. Each row is computed once (at
/// a split between threads, by both parts).
///
/// Each row is one pass of the pointwise layer's weights, so a pair whose weights do not stay in the
/// cache (over `maxWeightBytes`) runs unfused: its layer then multiplies all its rows in one pass, and
/// the activation it stores is small beside the weights it would stream again per row. EfficientNet-B0's
/// 192 → 1152 layers on 3 × 3 pixels (884 KB of weights) took 140 µs a block fused, 128 unfused.
enum PointwiseExpansion {
    /// Half of a 1 MB L2 (Zen 4; many ARM cores have 512 KB–1 MB): each row's pass reads them from there.
    static let maxWeightBytes = 512 * 1024

    struct Pair {
        var pointwise: Int
        /// The f32 activation between them, applied by the pointwise layer (ActivationFusion), if any.
        var activation: Int?
        var depthwise: Int
    }

    /// The candidate pairs of `graph`: an f32 depthwise convolution whose input is read by nothing else
    /// and made by a 1×1 convolution, directly or through an activation `activations` fuses into it.
    /// Whether the kernels take them is decided at prepare (`PreparedKernel.pointwiseGEMM`,
    /// `consumesExpansion`).
    static func plan(_ graph: Graph, types: [TensorInfo], activations: [ActivationFusion.Fusion]) -> [Pair] {
        let (producer, uses) = graph.producersAndUses()
        let fusedActivation = Dictionary(activations.map { ($0.consumer, $0.producer) }, uniquingKeysWith: { a, _ in a })
        func isPointwise(_ node: Node) -> Bool {
            guard case let .conv2D(a) = node.op, let w = node.inputs.count > 1 ? node.inputs[1] : nil else { return false }
            let dims = types[w].dims
            return a.groups == 1 && a.strideH == 1 && a.strideW == 1 && dims.count == 4 && dims[1] == 1 && dims[2] == 1
                && types[node.output].dtype == .f32 && types[w].byteCount <= maxWeightBytes
        }
        var pairs: [Pair] = []
        for (d, node) in graph.nodes.enumerated() {
            guard case let .conv2D(a) = node.op, let x = node.inputs.first ?? nil, types[x].dtype == .f32,
                  types[x].dims.count == 4, a.groups > 1, a.groups == types[x].dims[3],
                  types[node.output].dims.last == a.groups, uses[x] == 1, let px = producer[x] else { continue }
            if isPointwise(graph.nodes[px]) {
                pairs.append(Pair(pointwise: px, activation: nil, depthwise: d))
            } else if let p = fusedActivation[px], isPointwise(graph.nodes[p]) {
                pairs.append(Pair(pointwise: p, activation: px, depthwise: d))
            }
        }
        return pairs
    }
}
