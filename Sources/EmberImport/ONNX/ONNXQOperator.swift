import EmberCore
import SwiftProtobuf

/// ONNX's QOperator form (QLinearConv, QLinearMatMul, MatMulInteger, ConvInteger, and ORT's
/// com.microsoft QLinearAdd / QLinearMul / QLinearSigmoid / QLinearSoftmax / QLinearLeakyRelu /
/// QLinearGlobalAveragePool / QLinearConcat) rewritten into the QDQ form it stands for —
/// DequantizeLinear of every quantized input, the float op, QuantizeLinear of the output — and
/// converted by the same handlers. The packer then folds those pairs into Ember's int8 ops, as it
/// does for a QDQ model; the *Integer ops dequantize with scale 1 and cast the exact product to int32.
extension NodeContext {
    /// A node of the rewrite, named after this node's output.
    func rewriteNode(_ op: String, _ inputs: [String], _ output: String, copying attributes: [String] = [],
                     extra: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        n.output = [output]
        n.name = "\(name)/\(op)"
        n.attribute = node.attribute.filter { attributes.contains($0.name) } + extra
        return n
    }

    func intAttribute(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name; a.type = .int; a.i = Int64(value)
        return a
    }

    /// A name for an intermediate of the rewrite.
    func rewriteName(_ suffix: String) throws -> String { "\(try output())/qop/\(suffix)" }

    /// DequantizeLinear of input `k` with scale input `scale` and zero point input `zeroPoint`
    /// (per-axis along `axis` when the scale has several values).
    func dequantizeNode(_ k: Int, scale: Int, zeroPoint: Int, axis: Int? = nil, _ suffix: String) throws -> (Onnx_NodeProto, String) {
        let out = try rewriteName(suffix)
        let zp = has(zeroPoint) ? [node.input[zeroPoint]] : []
        return (rewriteNode("DequantizeLinear", [node.input[k], node.input[scale]] + zp, out,
                            extra: axis.map { [intAttribute("axis", $0)] } ?? []), out)
    }

    /// Runs the rewrite: `constants` become initializers, then `nodes` convert in order.
    func convertRewrite(_ nodes: [Onnx_NodeProto], constants: [String: HostTensor] = [:]) throws {
        for (k, v) in constants { c.constants[k] = v }
        try c.convert(nodes)
    }

    /// QLinearConv and QLinearMatMul: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp (, int32 bias).
    func qlinearWeighted(conv: Bool) throws {
        let (x, xq) = try dequantizeNode(0, scale: 1, zeroPoint: 2, "x")
        // Per-channel weight scales: the conv filter's output channels (axis 0), the matrix's columns (last axis).
        let wRank = try constant(3)?.dims.count ?? rank(input(3))
        let (w, wq) = try dequantizeNode(3, scale: 4, zeroPoint: 5, axis: conv ? 0 : wRank - 1, "w")
        var nodes = [x, w]
        var constants: [String: HostTensor] = [:]
        var floatInputs = [xq, wq]
        if conv, has(8) {
            // The int32 bias has scale x_scale · w_scale (per channel) and zero point 0.
            guard let xs = constant(1)?.floats, xs.count == 1, let ws = constant(4)?.floats else {
                throw unsupported("a bias with scales that are not constants")
            }
            let biasScale = try rewriteName("bias_scale")
            constants[biasScale] = .floats(ws.map { $0 * xs[0] }, dims: ws.count == 1 ? [] : [ws.count])
            let bq = try rewriteName("bias")
            nodes.append(rewriteNode("DequantizeLinear", [node.input[8], biasScale], bq, extra: [intAttribute("axis", 0)]))
            floatInputs.append(bq)
        }
        let yf = try rewriteName("y")
        nodes.append(rewriteNode(conv ? "Conv" : "MatMul", floatInputs, yf,
                                 copying: conv ? ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"] : []))
        nodes.append(rewriteNode("QuantizeLinear", [yf, node.input[6]] + (has(7) ? [node.input[7]] : []), try output()))
        try convertRewrite(nodes, constants: constants)
    }

    /// MatMulInteger and ConvInteger: (a − a_zp) ⊗ (b − b_zp) in int32, computed in float (exact
    /// while the sums stay below 2^24) and cast.
    func integerProduct(conv: Bool) throws {
        let one = try rewriteName("one")
        var nodes: [Onnx_NodeProto] = []
        /// `axis`: where a zero point per element lies (b's: one per output channel of a conv, per column of a matmul).
        func operand(_ k: Int, zeroPoint: Int, axis: Int, _ suffix: String) throws -> String {
            let out = try rewriteName(suffix)
            nodes.append(rewriteNode("DequantizeLinear", [node.input[k], one] + (has(zeroPoint) ? [node.input[zeroPoint]] : []), out,
                                     extra: [intAttribute("axis", axis)]))
            return out
        }
        let a = try operand(0, zeroPoint: 2, axis: 1, "a"), b = try operand(1, zeroPoint: 3, axis: conv ? 0 : -1, "b")
        let product = try rewriteName("product")
        nodes.append(rewriteNode(conv ? "Conv" : "MatMul", [a, b], product,
                                 copying: conv ? ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"] : []))
        nodes.append(rewriteNode("Cast", [product], try output(), extra: [intAttribute("to", 6)]))
        try convertRewrite(nodes, constants: [one: .floats([1], dims: [])])
    }

    /// An elementwise com.microsoft QLinear op: each (x, scale, zp) triple dequantized, `floatOp` on
    /// the floats, the result quantized with the output scale and zero point at `outputScale`.
    func qlinearElementwise(_ floatOp: String, triples: [Int], outputScale: Int, attributes: [String] = []) throws {
        var nodes: [Onnx_NodeProto] = [], floats: [String] = []
        for (k, first) in triples.enumerated() {
            let (n, out) = try dequantizeNode(first, scale: first + 1, zeroPoint: first + 2, "in\(k)")
            nodes.append(n); floats.append(out)
        }
        let yf = try rewriteName("y")
        nodes.append(rewriteNode(floatOp, floats, yf, copying: attributes))
        nodes.append(rewriteNode("QuantizeLinear", [yf, node.input[outputScale]] + (has(outputScale + 1) ? [node.input[outputScale + 1]] : []),
                                 try output()))
        try convertRewrite(nodes)
    }
}

extension ONNXImporter {
    /// QOperator ops of the default domain.
    static let qoperatorHandlers: [String: ONNXHandler] = [
        "QLinearConv": { n in try n.qlinearWeighted(conv: true) },
        "QLinearMatMul": { n in try n.qlinearWeighted(conv: false) },
        "MatMulInteger": { n in try n.integerProduct(conv: false) },
        "ConvInteger": { n in try n.integerProduct(conv: true) },
    ]

    /// ORT's com.microsoft QLinear ops.
    static let microsoftQOperatorHandlers: [String: ONNXHandler] = [
        "QLinearAdd": { n in try n.qlinearElementwise("Add", triples: [0, 3], outputScale: 6) },
        "QLinearMul": { n in try n.qlinearElementwise("Mul", triples: [0, 3], outputScale: 6) },
        "QLinearSigmoid": { n in try n.qlinearElementwise("Sigmoid", triples: [0], outputScale: 3) },
        // `opset` says which Softmax it stands for; before 13 the axis flattens, the same for the last axis.
        "QLinearSoftmax": { n in
            let axis = try n.a.int("axis", -1)
            guard try n.a.int("opset", 13) >= 13 || axis == -1 || axis == (try n.rank(n.input(0))) - 1 else {
                throw n.unsupported("opset < 13 Softmax over axis \(axis)")
            }
            try n.qlinearElementwise("Softmax", triples: [0], outputScale: 3, attributes: ["axis"])
        },
        "QLinearLeakyRelu": { n in try n.qlinearElementwise("LeakyRelu", triples: [0], outputScale: 3, attributes: ["alpha"]) },
        "QLinearGlobalAveragePool": { n in
            guard try n.a.int("channels_last", 0) == 0 else { throw n.unsupported("channels_last=1") }
            try n.qlinearElementwise("GlobalAveragePool", triples: [0], outputScale: 3)
        },
        // Y_scale, Y_zp, then one (X, scale, zp) triple per input.
        "QLinearConcat": { n in
            let count = (n.node.input.count - 2) / 3
            guard count >= 1, n.node.input.count == 2 + 3 * count else { throw n.fail("inputs must be Y_scale, Y_zp and triples") }
            var nodes: [Onnx_NodeProto] = [], floats: [String] = []
            for k in 0..<count {
                let (dq, out) = try n.dequantizeNode(2 + 3 * k, scale: 3 + 3 * k, zeroPoint: 4 + 3 * k, "in\(k)")
                nodes.append(dq); floats.append(out)
            }
            let yf = try n.rewriteName("y")
            nodes.append(n.rewriteNode("Concat", floats, yf, copying: ["axis"]))
            nodes.append(n.rewriteNode("QuantizeLinear", [yf, n.node.input[0], n.node.input[1]], try n.output()))
            try n.convertRewrite(nodes)
        },
    ]
}
