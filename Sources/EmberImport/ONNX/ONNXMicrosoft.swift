import EmberCore

/// The `com.microsoft` contrib ops that ONNX Runtime's own exporters and transformer optimizer
/// write (ORT's ContribOperators.md), lowered to Ember's op set. Anything else in that domain is
/// listed as unsupported with the rest.
extension ONNXImporter {
    static let microsoftHandlers: [String: ONNXHandler] = {
        var h: [String: ONNXHandler] = [:]
        h["Gelu"] = { n in try n.define(try n.unary(.gelu)) }
        h["BiasGelu"] = { n in
            try n.define(try n.unary(.gelu, try n.broadcast(.add(.none), [try n.input(0), try n.input(1)], "biased")))
        }
        // The tanh approximation, with an optional bias added first.
        h["FastGelu"] = { n in
            var x = try n.input(0)
            if let bias = try n.optionalInput(1) { x = try n.broadcast(.add(.none), [x, bias], "biased") }
            try n.define(try n.unary(.unary(.geluTanh), x))
        }
        // x · sigmoid(alpha · x).
        h["QuickGelu"] = { n in
            let x = try n.input(0)
            let alpha = try n.a.float("alpha", 1.702)
            let scaled = try n.broadcast(.mul(.none), [x, Tracked(id: n.scalar(alpha, .f32, "alpha"), perm: [])], "scaled")
            try n.define(try n.broadcast(.mul(.none), [x, try n.unary(.sigmoid, scaled)]))
        }
        // alpha · op(A) · op(B), op a transpose of the last two dims when asked.
        h["FusedMatMul"] = { n in
            guard try n.a.int("transBatchA", 0) == 0, try n.a.int("transBatchB", 0) == 0 else {
                throw n.unsupported("transBatchA / transBatchB")
            }
            func operand(_ k: Int, transposed: Bool) throws -> ValueID {
                let t = try n.input(k)
                let v = try n.onnx(t)
                let r = n.rank(t)
                guard transposed else { return v }
                guard r >= 2 else { throw n.fail("a transposed operand needs rank 2 or more") }
                return try n.add(.transpose(perm: Array(0..<(r - 2)) + [r - 1, r - 2]), [v], k == 0 ? "a_t" : "b_t")
            }
            let a = try operand(0, transposed: try n.a.int("transA", 0) != 0)
            let b = try operand(1, transposed: try n.a.int("transB", 0) != 0)
            let alpha = try n.a.float("alpha", 1)
            let product = try n.add(.matMul, [a, b], alpha == 1 ? "" : "product")
            guard alpha != 1 else { return try n.define(product) }
            try n.define(try n.add(.mul(.none), [product, n.scalar(alpha, .f32, "alpha")]))
        }
        h["LayerNormalization"] = { n in try n.layerNorm() }
        h["SkipLayerNormalization"] = { n in try n.skipNormalization(simplified: false) }
        h["SimplifiedLayerNormalization"] = { n in
            let x = try n.input(0)
            let axis = try n.axis(try n.a.int("axis", -1), rank: n.rank(x))
            try n.define(try n.rmsNormalized(x, scale: try n.input(1), axis: axis, epsilon: try n.a.float("epsilon", 1e-5)))
        }
        h["SkipSimplifiedLayerNormalization"] = { n in try n.skipNormalization(simplified: true) }
        for (type, handler) in ONNXImporter.microsoftQOperatorHandlers { h[type] = handler }
        return h
    }()
}

extension NodeContext {
    /// (Simplified)SkipLayerNormalization: norm(input + skip + bias) with gamma (and beta), over the
    /// last axis; output 3, when used, is the sum itself. The mean and inverse-deviation outputs
    /// (1 and 2, for training) are refused when a node reads them.
    func skipNormalization(simplified: Bool) throws {
        guard !usesOutput(1), !usesOutput(2) else { throw unsupported("the mean and inverse standard deviation outputs") }
        let x = try input(0)
        var sum = try broadcast(.add(.none), [x, try input(1)], "skip_sum")
        let biasIndex = simplified ? 3 : 4
        if let bias = try optionalInput(biasIndex) { sum = try broadcast(.add(.none), [sum, bias], "bias_sum") }
        let eps = try a.float("epsilon", 1e-12)
        let axis = rank(x) - 1
        let normed = simplified
            ? try rmsNormalized(sum, scale: try input(2), axis: axis, epsilon: eps)
            : try layerNormalized(sum, scale: try input(2), bias: try optionalInput(3), axis: axis, epsilon: eps)
        try define(normed)
        if usesOutput(3) { try define(try onnx(sum), output: 3) }
    }

    /// RMS normalization (SimplifiedLayerNormalization): x / sqrt(mean(x²) + epsilon) · scale over `axis...`.
    func rmsNormalized(_ x: Tracked, scale: Tracked, axis: Int, epsilon: Float) throws -> ValueID {
        let xv = try onnx(x)
        let axes = Array(axis..<rank(x))
        let meanSquare = try add(.mean(axes: axes, keepDims: true), [try add(.unary(.square), [xv], "square")], "mean_square")
        let shifted = try add(.add(.none), [meanSquare, scalar(epsilon, .f32, "epsilon")], "mean_square_eps")
        let normalized = try add(.mul(.none), [xv, try add(.unary(.rsqrt), [shifted], "inverse_rms")], "normalized")
        return try add(.mul(.none), [normalized, try onnx(scale)])
    }
}
