import EmberCore
import EmberRuntime

/// One graph-to-graph rewrite the packer runs on a float model before it builds
/// rungs. Every pass keeps the graph's inputs, outputs (names included) and
/// results — up to float rounding — and returns how many rewrites it made.
public struct GraphPass: Sendable {
    /// The name `--passes` lists and `--no-NAME` turns off.
    public let name: String
    public let summary: String
    public let apply: @Sendable (Graph) throws -> (graph: Graph, rewrites: Int)
}

public enum GraphPasses {
    /// Every pass, in the order they run.
    public static let all: [GraphPass] = [
        GraphPass(name: "fold-constants", summary: "evaluate nodes whose inputs are all constants once, at pack time", apply: foldConstants),
        GraphPass(name: "remove-no-ops", summary: "drop reshapes to the same shape, identity transposes, zero pads, full slices, one-input concats", apply: removeNoOps),
        GraphPass(name: "fold-batchnorm", summary: "fold a per-channel constant Mul/Add/Sub (BatchNorm as imported) into the conv or FC before it", apply: foldBatchNorm),
        GraphPass(name: "fuse-activations", summary: "fuse a Relu or Relu6 into the conv, FC, add or pool that feeds only it", apply: fuseActivations),
        GraphPass(name: "fuse-swish", summary: "fuse x · sigmoid(x) (SiLU, swish: a Logistic and a Mul) into one silu op", apply: fuseSwish),
        GraphPass(name: "remove-dead-nodes", summary: "drop nodes and constants no graph output depends on", apply: removeDeadNodes),
    ]

    /// Runs every pass not in `skipping`, in order; `log` hears each pass's rewrite count.
    public static func run(_ graph: Graph, skipping: Set<String> = [], log: ((String, Int) -> Void)? = nil) throws -> Graph {
        var g = graph
        for pass in all where !skipping.contains(pass.name) {
            let (next, n) = try pass.apply(g)
            _ = try next.validate()
            g = next
            log?(pass.name, n)
        }
        return g
    }

    // MARK: - The passes

    /// Nodes whose inputs are all constants run once on the real kernels and
    /// become constants. Dequantize is left alone (it exists to keep weights
    /// small), and so are nodes that produce a graph output.
    static func foldConstants(_ graph: Graph) throws -> (graph: Graph, rewrites: Int) {
        var g = graph
        var folded = 0
        var removed = Set<Int>()
        for (i, node) in g.nodes.enumerated() {
            let ins = node.inputs.compactMap { $0 }
            // A value with a bounded dim has no one size to fold to.
            guard !ins.isEmpty, ins.allSatisfy({ g.values[$0].constant != nil }),
                  !g.outputs.contains(node.output), g.values[node.output].shape.isStatic else { continue }
            if case .dequantize = node.op { continue }
            // A one-node graph over the constants, run on the real kernels.
            var values = ins.map { g.values[$0] }
            values.append(g.values[node.output])
            var remap: [ValueID: ValueID] = [:]
            for (k, id) in ins.enumerated() { remap[id] = k }
            let single = Node(name: node.name, op: node.op, inputs: node.inputs.map { $0.flatMap { remap[$0] } }, output: ins.count)
            let sub = Graph(name: node.name, values: values, nodes: [single], inputs: [], outputs: [ins.count])
            let executor = try Executor(graph: sub)
            executor.run()
            g.values[node.output].constant = ConstantData(buffer: ConstantBuffer(copying: executor.outputBuffer(0)), offset: 0, count: executor.outputBuffer(0).count)
            removed.insert(i)
            folded += 1
        }
        g.nodes = g.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return (g.droppingUnreferencedValues(), folded)
    }

    /// Reshapes to the same dims, identity transposes, pads of zero, slices that
    /// keep everything and one-input concats pass their input through.
    static func removeNoOps(_ graph: Graph) throws -> (graph: Graph, rewrites: Int) {
        var g = graph
        let types = try g.validate().types
        var removed = 0
        var i = 0
        while i < g.nodes.count {
            let node = g.nodes[i]
            guard let x = node.inputs.first ?? nil else { i += 1; continue }
            // Declared shapes too: [N<=4x8] and [4x8] are the same at the bound only.
            let sameType = types[x] == types[node.output] && g.values[x].quant == g.values[node.output].quant
                && g.values[x].shape == g.values[node.output].shape
            let isNoOp: Bool
            switch node.op {
            case .reshape: isNoOp = sameType
            case let .transpose(perm): isNoOp = sameType && perm == Array(perm.indices)
            case let .pad(before, after): isNoOp = sameType && (before + after).allSatisfy { $0 == 0 }
            case let .slice(_, _, strides): isNoOp = sameType && strides.allSatisfy { $0 == 1 }
            case .concat: isNoOp = sameType && node.inputs.count == 1
            default: isNoOp = false
            }
            if isNoOp, g.bypass(nodeAt: i, with: x) { removed += 1 } else { i += 1 }
        }
        return (g.droppingUnreferencedValues(), removed)
    }

    /// BatchNorm reaches the IR as a per-channel constant Mul and/or Add (or
    /// Sub) after a conv or FC; both fold into its weights and bias:
    /// (W·x + b)·s = (s·W)·x + s·b and (W·x + b) + t = W·x + (b + t).
    static func foldBatchNorm(_ graph: Graph) throws -> (graph: Graph, rewrites: Int) {
        try rewriteUntilNoneApplies(graph) { g, i, consumers, types in
            let node = g.nodes[i]
            guard let (weightsID, biasID, activation) = g.floatWeightedLayer(node), activation == .none,
                  consumers[node.output, default: []].count == 1, let next = consumers[node.output]?.first,
                  !g.outputs.contains(node.output) else { return false }
            let channels = types[weightsID].dims[0]
            let follower = g.nodes[next]
            let (kind, act): (Character, Activation)
            switch follower.op {
            case let .mul(a): (kind, act) = ("*", a)
            case let .add(a): (kind, act) = ("+", a)
            case let .sub(a): (kind, act) = ("-", a)
            default: return false
            }
            // The other operand: a constant broadcast along the last (channel) axis only.
            guard follower.inputs.count == 2, let other = (follower.inputs[0] == node.output ? follower.inputs[1] : follower.inputs[0]),
                  kind != "-" || follower.inputs[0] == node.output,
                  g.values[other].dtype == .f32, let c = g.values[other].constant,
                  types[other].dims.dropLast().allSatisfy({ $0 == 1 }), types[other].dims.count <= types[node.output].dims.count,
                  types[other].elementCount == channels || types[other].elementCount == 1,
                  // A follower that broadcasts to a larger shape than the layer's cannot go.
                  types[follower.output] == types[node.output] else { return false }
            let k = Array(c.bytes.bindMemory(to: Float.self))
            func perChannel(_ o: Int) -> Float { k.count == 1 ? k[0] : k[o] }
            var bias = biasID.flatMap { g.values[$0].constant }.map { Array($0.bytes.bindMemory(to: Float.self)) } ?? [Float](repeating: 0, count: channels)
            if kind == "*" {
                guard let wc = g.values[weightsID].constant else { return false }
                var w = Array(wc.bytes.bindMemory(to: Float.self))
                let per = w.count / channels
                for o in 0..<channels { for j in 0..<per { w[o * per + j] *= perChannel(o) } }
                for o in 0..<channels { bias[o] *= perChannel(o) }
                // New constants: the old ones may be shared with another layer.
                g.values.append(Value(name: g.values[weightsID].name + "/bn", dtype: .f32, shape: g.values[weightsID].shape, constant: ConstantData(copying: w)))
                g.nodes[i].inputs[1] = g.values.count - 1
            } else {
                for o in 0..<channels { bias[o] += kind == "+" ? perChannel(o) : -perChannel(o) }
            }
            g.values.append(Value(name: (biasID.map { g.values[$0].name } ?? node.name + "/bias") + "/bn", dtype: .f32, shape: Shape([channels]), constant: ConstantData(copying: bias)))
            if g.nodes[i].inputs.count < 3 { g.nodes[i].inputs.append(nil) }
            g.nodes[i].inputs[2] = g.values.count - 1
            g.nodes[i].op = g.nodes[i].op.withActivation(act)
            // The layer's output now holds what the follower wrote: it takes that value's name (a QDQ
            // model's ranges are stated by name, and the pre-fold range would be wrong for it).
            g.values[node.output].name = g.values[follower.output].name
            guard g.bypass(nodeAt: next, with: node.output) else { throw EmberError.invalidGraph(node: follower.name, reason: "cannot fold into \(node.name)") }
            return true
        }
    }

    /// A Relu or Relu6 whose input comes from a node with a fused-activation
    /// slot set to none (and read by nothing else) becomes that slot.
    static func fuseActivations(_ graph: Graph) throws -> (graph: Graph, rewrites: Int) {
        try rewriteUntilNoneApplies(graph) { g, i, consumers, _ in
            let act: Activation
            switch g.nodes[i].op { case .relu: act = .relu; case .relu6: act = .relu6; default: return false }
            guard let x = g.nodes[i].inputs.first ?? nil, let p = g.nodes.firstIndex(where: { $0.output == x }),
                  g.values[x].dtype == .f32, g.nodes[p].op.fusedActivation == Activation.none,
                  consumers[x, default: []].count == 1, !g.outputs.contains(x) else { return false }
            g.nodes[p].op = g.nodes[p].op.withActivation(act)
            let name = g.values[x].name
            g.values[x].name = g.values[g.nodes[i].output].name  // x now holds the activation's output
            guard g.bypass(nodeAt: i, with: x) else {
                g.nodes[p].op = g.nodes[p].op.withActivation(.none); g.values[x].name = name; return false
            }
            return true
        }
    }

    /// A Mul of x and sigmoid(x) (the sigmoid read by nothing else) becomes one silu of x: one pass over
    /// the tensor instead of two, with the same bits (the kernels round the sigmoid, then multiply).
    static func fuseSwish(_ graph: Graph) throws -> (graph: Graph, rewrites: Int) {
        try rewriteUntilNoneApplies(graph) { g, i, consumers, types in
            guard case .mul(.none) = g.nodes[i].op, g.nodes[i].inputs.count == 2,
                  let a = g.nodes[i].inputs[0], let b = g.nodes[i].inputs[1] else { return false }
            for (x, s) in [(a, b), (b, a)] {
                guard let p = g.nodes.firstIndex(where: { $0.output == s }), case .sigmoid = g.nodes[p].op,
                      g.nodes[p].inputs.first == x, types[s].dtype == .f32, types[x].dims == types[g.nodes[i].output].dims,
                      consumers[s, default: []].count == 1, !g.outputs.contains(s) else { continue }
                g.nodes[i].op = .unary(.silu)
                g.nodes[i].inputs = [x]
                return true
            }
            return false
        }
    }

    /// Tries `rewrite` at each node in order; after the first that applies
    /// (it returns true, having changed the graph) starts over on the new
    /// graph, until it applies nowhere. A rewrite that returns false must
    /// leave the graph as it was. Returns the graph and the rewrite count.
    static func rewriteUntilNoneApplies(_ graph: Graph,
                                        _ rewrite: (inout Graph, Int, [ValueID: [Int]], [TensorInfo]) throws -> Bool) throws -> (graph: Graph, rewrites: Int) {
        var g = graph, count = 0
        search: while true {
            let consumers = g.consumers(), types = try g.validate().types
            for i in g.nodes.indices where try rewrite(&g, i, consumers, types) {
                g = g.droppingUnreferencedValues()
                count += 1
                continue search
            }
            return (g, count)
        }
    }

    /// Nodes whose outputs no graph output depends on, and constants no node reads.
    static func removeDeadNodes(_ graph: Graph) throws -> (graph: Graph, rewrites: Int) {
        var g = graph
        var live = Set(g.outputs)
        var keep = [Bool](repeating: false, count: g.nodes.count)
        for i in g.nodes.indices.reversed() where live.contains(g.nodes[i].output) {
            keep[i] = true
            for x in g.nodes[i].inputs { if let x { live.insert(x) } }
        }
        let nodesBefore = g.nodes.count, constantsBefore = g.values.filter { $0.constant != nil }.count
        g.nodes = g.nodes.indices.filter { keep[$0] }.map { g.nodes[$0] }
        g = g.droppingUnreferencedValues()
        return (g, nodesBefore - g.nodes.count + constantsBefore - g.values.filter { $0.constant != nil }.count)
    }
}

extension Op {
    /// The same op with its fused activation replaced (ops without one unchanged).
    func withActivation(_ act: Activation) -> Op {
        switch self {
        case var .conv2D(a): a.activation = act; return .conv2D(a)
        case .fullyConnected: return .fullyConnected(act)
        case .add: return .add(act)
        case .sub: return .sub(act)
        case .mul: return .mul(act)
        case .div: return .div(act)
        case var .averagePool2D(a): a.activation = act; return .averagePool2D(a)
        case var .maxPool2D(a): a.activation = act; return .maxPool2D(a)
        case var .transposeConv2D(a): a.activation = act; return .transposeConv2D(a)
        case .fullyConnectedAsymmetricInputs: return .fullyConnectedAsymmetricInputs(act)
        default: return self
        }
    }
}

extension Graph {
    /// For each value, the indices of the nodes that read it.
    func consumers() -> [ValueID: [Int]] {
        var c: [ValueID: [Int]] = [:]
        for (i, n) in nodes.enumerated() { for x in Set(n.inputs.compactMap { $0 }) { c[x, default: []].append(i) } }
        return c
    }

    /// A conv or FC with f32 constant weights: (weights, bias if any, fused activation).
    func floatWeightedLayer(_ node: Node) -> (weights: ValueID, bias: ValueID?, activation: Activation)? {
        switch node.op {
        case .conv2D, .fullyConnected: break
        default: return nil
        }
        guard node.inputs.count >= 2, let w = node.inputs[1], values[w].dtype == .f32, values[w].constant != nil,
              values[node.output].dtype == .f32 else { return nil }
        let b = node.inputs.count > 2 ? node.inputs[2] : nil
        if let b, values[b].dtype != .f32 || values[b].constant == nil { return nil }
        return (w, b, node.op.fusedActivation ?? .none)
    }

    /// Removes node `index`, making its readers (and the graph outputs) use
    /// `replacement` instead. A replaced graph output keeps its name, so the
    /// replacement must be a node's output that is not itself an input or
    /// output of the graph; false (and nothing changed) otherwise.
    mutating func bypass(nodeAt index: Int, with replacement: ValueID) -> Bool {
        let old = nodes[index].output
        if outputs.contains(old) {
            guard values[replacement].constant == nil, !inputs.contains(replacement), !outputs.contains(replacement) else { return false }
            values[replacement].name = values[old].name
            outputs = outputs.map { $0 == old ? replacement : $0 }
        }
        nodes.remove(at: index)
        for n in nodes.indices { nodes[n].inputs = nodes[n].inputs.map { $0 == old ? replacement : $0 } }
        return true
    }

    /// The graph without values nothing refers to, ids renumbered.
    func droppingUnreferencedValues() -> Graph {
        var referenced = [Bool](repeating: false, count: values.count)
        for id in inputs + outputs { referenced[id] = true }
        for n in nodes {
            referenced[n.output] = true
            for x in n.inputs { if let x { referenced[x] = true } }
        }
        var newID = [ValueID](repeating: -1, count: values.count)
        var kept: [Value] = []
        for (i, v) in values.enumerated() where referenced[i] { newID[i] = kept.count; kept.append(v) }
        let nodes = nodes.map { Node(name: $0.name, op: $0.op, inputs: $0.inputs.map { $0.map { newID[$0] } }, output: newID[$0.output]) }
        return Graph(name: name, values: kept, nodes: nodes, inputs: inputs.map { newID[$0] }, outputs: outputs.map { newID[$0] })
    }
}
