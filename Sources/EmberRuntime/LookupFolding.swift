import EmberCore
import EmberKernels

/// Folds an int8 elementwise pair f(x, g(x)) — a binary node reading an int8 value x and x itself or a
/// one-input elementwise node of x — into a single 256-entry table of
/// x. EfficientNet's swish, x · sigmoid(x), is LOGISTIC then MUL in TFLite: two passes over the tensor
/// and an exact 64-bit requantization per element become one table lookup.
///
/// The table is what the nodes' own reference kernels give on the 256 codes (run once, at prepare), so
/// the folded node's bytes are the unfolded graph's: every int8 kernel is byte-exact with its reference,
/// and an elementwise node's output element depends only on its inputs' elements at the same place.
/// A producer g whose output nothing else reads (and that is no graph output) then runs nothing.
enum LookupFolding {
    struct Fold {
        /// The binary node that becomes a lookup.
        var consumer: Int
        /// Which of its inputs holds x.
        var input: Int
        var table: [Int8]
        /// Producers of its operands that nothing else reads: they run nothing.
        var folded: [Int]
    }

    /// The folds of `graph` (`keepProducers`: leave every producer running, for a caller that reads
    /// intermediate values).
    static func plan(_ graph: Graph, types: [TensorInfo], keepProducers: Bool) -> [Fold] {
        let (producer, uses) = graph.producersAndUses()
        func isInt8Activation(_ id: ValueID) -> Bool {
            types[id].dtype == .i8 && graph.values[id].constant == nil && graph.values[id].quant?.isPerTensor == true
        }
        /// The node making `value` when it is a one-input elementwise int8 node of the same shape.
        func unaryProducer(_ value: ValueID) -> (node: Int, input: ValueID)? {
            guard let p = producer[value] else { return nil }
            let node = graph.nodes[p]
            guard node.op.isElementwiseInPlaceCandidate, node.inputs.count == 1, let x = node.inputs[0],
                  isInt8Activation(x), types[x].dims == types[value].dims else { return nil }
            return (p, x)
        }

        var folds: [Fold] = []
        for (i, node) in graph.nodes.enumerated() {
            guard node.op.isElementwiseInPlaceCandidate, node.inputs.count == 2, let a = node.inputs[0], let b = node.inputs[1],
                  isInt8Activation(a), isInt8Activation(b), types[node.output].dtype == .i8,
                  graph.values[node.output].quant?.isPerTensor == true,
                  types[a].dims == types[node.output].dims, types[b].dims == types[node.output].dims else { continue }
            let viaA = unaryProducer(a), viaB = unaryProducer(b)
            // x is one of the node's inputs (the lookup reads it there); the other is x or g(x).
            guard let xPosition = [a, b].indices.first(where: { k in
                let x = [a, b][k]
                return (a == x || viaA?.input == x) && (b == x || viaB?.input == x)
            }) else { continue }
            let x = [a, b][xPosition]
            let producers = [a == x ? nil : viaA?.node, b == x ? nil : viaB?.node]  // nil: the operand is x
            // A node whose kernel cannot run on the 256 codes alone stays as it is.
            guard let table = try? tabulate(graph, consumer: i, producers: producers) else { continue }
            var folded: [Int] = []
            if !keepProducers {
                for p in Set(producers.compactMap { $0 }) {
                    let out = graph.nodes[p].output
                    if uses[out] == node.inputs.filter({ $0 == out }).count { folded.append(p) }
                }
            }
            folds.append(Fold(consumer: i, input: xPosition, table: table, folded: folded.sorted()))
        }
        return folds
    }

    /// The consumer's output for each of the 256 codes of x, from the nodes' reference kernels.
    private static func tabulate(_ graph: Graph, consumer: Int, producers: [Int?]) throws -> [Int8] {
        let storage = PreparedStorage(subject: "the lookup of node '\(graph.nodes[consumer].name)'")
        let codes = (0..<256).map { Int8(truncatingIfNeeded: $0 - 128) }
        let row = TensorInfo(.i8, [256])
        func run(_ index: Int, _ operands: [[Int8]]) throws -> [Int8] {
            let node = graph.nodes[index]
            let context = KernelContext(nodeName: node.name, op: node.op, inputs: operands.map { _ in row },
                                        inputQuant: node.inputs.map { $0.flatMap { graph.values[$0].quant } },
                                        inputConstants: operands.map { _ in nil }, output: row,
                                        outputQuant: graph.values[node.output].quant, isa: .scalar)
            let kernel = try Kernels.prepare(context, storage: storage)
            let inputs = try operands.map { values -> UnsafeRawPointer in
                let p = try storage.allocate(Int8.self, count: 256)
                for i in 0..<256 { p[i] = values[i] }
                return UnsafeRawPointer(p)
            }
            let out = try storage.allocate(Int8.self, count: 256)
            let scratch = kernel.scratchBytes > 0 ? UnsafeMutableRawPointer(try storage.allocate(UInt8.self, count: kernel.scratchBytes))
                                                  : nil
            try kernel.bind(KernelBuffers(inputs: inputs, output: UnsafeMutableRawPointer(out), scratch: scratch, storage: storage))()
            return (0..<256).map { out[$0] }
        }
        let operands = try producers.map { p in try p.map { try run($0, [codes]) } ?? codes }
        return try run(consumer, operands)
    }
}

extension Graph {
    /// Per value: the node that makes it (nil for inputs and constants) and how many times it is read —
    /// as a node input or as a graph output (each counts once).
    func producersAndUses() -> (producer: [Int?], uses: [Int]) {
        var producer = [Int?](repeating: nil, count: values.count)
        var uses = [Int](repeating: 0, count: values.count)
        for (i, node) in nodes.enumerated() {
            producer[node.output] = i
            for case let id? in node.inputs { uses[id] += 1 }
        }
        for id in outputs { uses[id] += 1 }
        return (producer, uses)
    }
}
