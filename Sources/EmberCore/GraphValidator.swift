/// The result of validating a graph: the concrete type of every value.
public struct ValidatedGraph: Sendable {
    public let graph: Graph
    /// Concrete type of each value (symbolic dims bound), indexed by `ValueID`.
    public let types: [TensorInfo]
    /// For each value, the node index that produces it (nil for inputs and constants).
    public let producer: [Int?]

    /// MACs and bytes of one inference.
    public var totalCost: OpCost {
        graph.nodes.reduce(OpCost()) { sum, node in
            sum + node.op.cost(inputs: node.inputs.map { $0.map { types[$0] } }, output: types[node.output])
        }
    }
}

extension Graph {
    /// Checks the graph and computes every value's concrete type. Symbolic dims
    /// take their value from `bindings`, else their upper bound.
    ///
    /// Rules: ids in range; graph inputs, constants and node outputs are distinct
    /// and each value has exactly one definition; nodes only read values defined
    /// before them (topological order); every value is defined and used or an
    /// output (no dangling values); constants hold exactly the bytes their type
    /// needs; 8-bit values carry valid quantization; each node's inferred output
    /// type equals the declared one. Errors name the node or value.
    public func validate(bindings: [String: Int] = [:], limits: LoadLimits = LoadLimits()) throws -> ValidatedGraph {
        let count = values.count
        func valueName(_ id: ValueID) -> String { id >= 0 && id < count ? "value '\(values[id].name)'" : "value #\(id)" }
        guard !nodes.isEmpty || !outputs.isEmpty else { throw EmberError.invalidGraph(node: name, reason: "graph has no nodes and no outputs") }
        try LoadLimits.check("graph '\(name.prefix(64))'", needs: count, limit: limits.maxValues, unit: "values")
        try LoadLimits.check("graph '\(name.prefix(64))'", needs: nodes.count, limit: limits.maxNodes, unit: "nodes")
        func checkName(_ n: String, _ what: String) throws {
            guard n.utf8.count <= GraphLimits.maxNameBytes else {
                throw EmberError.invalidGraph(node: "\(what) '\(n.prefix(40))…'",
                                              reason: "name is \(n.utf8.count) bytes; the limit is \(GraphLimits.maxNameBytes)")
            }
        }
        try checkName(name, "graph")
        for n in nodes { try checkName(n.name, "node") }
        let maxElements = min(limits.maxTensorElements, Int(Int32.max))

        var types: [TensorInfo] = []
        types.reserveCapacity(count)
        for v in values {
            try checkName(v.name, "value")
            guard v.shape.rank <= GraphLimits.maxRank else {
                throw EmberError.invalidGraph(node: "value '\(v.name)'", reason: "rank \(v.shape.rank) is above the limit of \(GraphLimits.maxRank)")
            }
            for case let .symbolic(dimName, _) in v.shape.dims { try checkName(dimName, "symbolic dim") }
            let dims: [Int]
            do { dims = try v.shape.resolved(bindings) } catch {
                throw EmberError.invalidGraph(node: "value '\(v.name)'", reason: "\(error)")
            }
            guard v.dtype.byteCount(dims: dims) != nil, let elements = elementCount(dims) else {
                throw EmberError.invalidGraph(node: "value '\(v.name)'", reason: "shape \(v.shape) of \(v.dtype) is too large or not a whole number of blocks")
            }
            try LoadLimits.check("value '\(v.name)' \(v.shape)", needs: elements, limit: maxElements, unit: "elements")
            if v.dtype.isBlockEncoded && v.constant == nil {
                throw EmberError.invalidGraph(node: "value '\(v.name)'", reason: "\(v.dtype) is only allowed for constants")
            }
            types.append(TensorInfo(v.dtype, dims))
        }

        // Definitions.
        enum Def { case none, input, constant, node(Int) }
        var def = [Def](repeating: .none, count: count)
        for (i, v) in values.enumerated() where v.constant != nil {
            guard v.shape.isStatic else { throw EmberError.invalidGraph(node: "value '\(v.name)'", reason: "a constant needs a static shape") }
            let expected = types[i].byteCount
            guard let c = v.constant, c.count == expected else {
                throw EmberError.invalidGraph(node: "value '\(v.name)'", reason: "constant holds \(v.constant?.count ?? 0) bytes, \(types[i]) needs \(expected)")
            }
            def[i] = .constant
        }
        var inputNames = Set<String>()
        for id in inputs {
            guard id >= 0, id < count else { throw EmberError.invalidGraph(node: name, reason: "graph input #\(id) does not exist") }
            guard case .none = def[id] else { throw EmberError.invalidGraph(node: valueName(id), reason: "graph input is also a constant or listed twice") }
            guard inputNames.insert(values[id].name).inserted, !values[id].name.isEmpty else {
                throw EmberError.invalidGraph(node: valueName(id), reason: "graph input names must be unique and non-empty")
            }
            def[id] = .input
        }

        var used = [Bool](repeating: false, count: count)
        var producer = [Int?](repeating: nil, count: count)
        for (ni, node) in nodes.enumerated() {
            let nodeName = "node '\(node.name)' (#\(ni) \(node.op.kind))"
            var infos: [TensorInfo?] = []
            for input in node.inputs {
                guard let id = input else { infos.append(nil); continue }
                guard id >= 0, id < count else { throw EmberError.invalidGraph(node: nodeName, reason: "reads value #\(id), which does not exist") }
                if case .none = def[id] {
                    throw EmberError.invalidGraph(node: nodeName, reason: "reads \(valueName(id)) before it is defined (nodes must be in topological order)")
                }
                used[id] = true
                infos.append(types[id])
            }
            let out = node.output
            guard out >= 0, out < count else { throw EmberError.invalidGraph(node: nodeName, reason: "writes value #\(out), which does not exist") }
            guard case .none = def[out] else { throw EmberError.invalidGraph(node: nodeName, reason: "writes \(valueName(out)), which is already defined") }
            def[out] = .node(ni)
            producer[out] = ni
            let inferred = try node.op.outputInfo(inputs: infos, node: nodeName, outputDType: types[out].dtype)
            guard inferred == types[out] else {
                throw EmberError.invalidGraph(node: nodeName, reason: "output \(valueName(out)) is declared \(types[out]) but the op gives \(inferred)")
            }
        }

        var outputNames = Set<String>()
        for id in outputs {
            guard id >= 0, id < count else { throw EmberError.invalidGraph(node: name, reason: "graph output #\(id) does not exist") }
            if case .none = def[id] { throw EmberError.invalidGraph(node: valueName(id), reason: "graph output is never produced") }
            guard outputNames.insert(values[id].name).inserted, !values[id].name.isEmpty else {
                throw EmberError.invalidGraph(node: valueName(id), reason: "graph output names must be unique and non-empty")
            }
            used[id] = true
        }

        for (i, v) in values.enumerated() {
            if case .none = def[i] {
                throw EmberError.invalidGraph(node: valueName(i), reason: "dangling value: not an input, a constant or any node's output")
            }
            if v.dtype.isQuantized8 {
                guard let q = v.quant else {
                    // Raw 8-bit integers (an ONNX int8 tensor that is not quantized) only convert: a graph
                    // input or a cast's output that casts read or that is a graph output.
                    let rawAllowed = v.constant == nil && (inputs.contains(i) || producer[i].map { nodes[$0].op.kind == .cast } == true)
                        && consumers(of: i).allSatisfy { nodes[$0].op.kind == .cast }
                    guard rawAllowed else {
                        throw EmberError.invalidGraph(node: valueName(i), reason: "\(v.dtype) value needs quantization parameters "
                                                      + "(unquantized 8-bit integers may only be cast)")
                    }
                    continue
                }
                if let problem = q.validate(dims: types[i].dims, dtype: v.dtype) {
                    throw EmberError.invalidGraph(node: valueName(i), reason: problem)
                }
            }
        }
        return ValidatedGraph(graph: self, types: types, producer: producer)
    }

    /// The nodes that read value `id`.
    func consumers(of id: ValueID) -> [Int] {
        nodes.indices.filter { nodes[$0].inputs.contains(id) }
    }
}
