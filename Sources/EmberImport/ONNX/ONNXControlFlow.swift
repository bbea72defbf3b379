import EmberCore

// ONNX control flow folded into the static graph.

extension NodeContext {
    /// If: a constant condition inlines the branch it picks. A data-dependent one inlines both
    /// branches and selects each output (both run on every inference: right for the small branches
    /// exporters write, not a substitute for skipping a large one). The branches may reuse each
    /// other's value names, so each is converted with the names the other defined forgotten.
    func ifNode() throws {
        guard let thenBranch = a.graph("then_branch"), let elseBranch = a.graph("else_branch") else {
            throw fail("needs then_branch and else_branch")
        }
        for g in [thenBranch, elseBranch] where g.output.count != node.output.count {
            throw fail("a branch has \(g.output.count) outputs, the node \(node.output.count)")
        }
        /// A branch's outputs: constants where they folded, else values.
        func inline(_ g: Onnx_GraphProto) throws -> [(constant: HostTensor?, value: Tracked?)] {
            let env = c.env, constants = c.constants
            defer { c.env = env; c.constants = constants }
            for t in g.initializer { c.constants[t.name] = try t.host(external: c.external, limits: c.limits) }
            try c.convert(g.node)
            return try g.output.map { o in
                if let k = c.constants[o.name] { return (k, nil) }
                guard let v = c.env[o.name] else { throw fail("branch output '\(o.name)' is not produced") }
                return (nil, v)
            }
        }
        if let condition = constant(0) {
            guard let v = condition.ints, v.count == 1 else { throw fail("the condition must be one bool") }
            for (k, out) in try inline(v[0] != 0 ? thenBranch : elseBranch).enumerated() where usesOutput(k) {
                if let h = out.constant { try defineConstant(h, output: k) } else if let t = out.value { try define(t, output: k) }
            }
            return
        }
        let condition = try input(0)
        guard dtype(condition) == .bool, c.dims(condition.id).reduce(1, *) == 1 else { throw fail("the condition must be one bool") }
        let flag = try reshaped(condition, [], "condition")
        let thenOut = try inline(thenBranch), elseOut = try inline(elseBranch)
        for k in 0..<node.output.count where usesOutput(k) {
            func value(_ o: (constant: HostTensor?, value: Tracked?), _ what: String) throws -> Tracked {
                if let t = o.value { return t }
                guard let h = o.constant else { throw fail("branch output \(k) is missing") }
                return Tracked(id: c.constant(h, name: "\(try output(k))/\(what)"), perm: Array(0..<h.dims.count))
            }
            let t = try value(thenOut[k], "then"), e = try value(elseOut[k], "else")
            guard onnxDims(t) == onnxDims(e), dtype(t) == dtype(e) else {
                throw unsupported("branches whose output \(k) differs in shape or type (\(formatDims(onnxDims(t))) vs "
                                  + "\(formatDims(onnxDims(e)))): needs a run-time If")
            }
            try define(try broadcast(.select, [Tracked(id: flag, perm: []), t, e], k == 0 ? "" : "out\(k)"), output: k)
        }
    }
}
