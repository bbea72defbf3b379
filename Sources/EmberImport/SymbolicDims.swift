import EmberCore

/// Bounded dynamic dims (`ember pack --dim seq<=128`) by differential import: the importer
/// folds shape math to numbers, so the model is imported once with every bounded dim at its
/// bound and once more per dim at a probe size. Whatever is the same in all imports is fixed;
/// a dim that is the bound in the first and the probe in another is that symbolic dim. Reshape
/// targets and slice ends that follow a dim become -1 and ends relative to the axis, so one
/// graph serves every size. Anything else that moves with a dim (a constant mask of seq × seq,
/// a dim of seq + 1, a graph whose structure changes) is an error naming the value, because
/// Ember binds plain dims only.
public enum SymbolicDims {
    /// A bounded dim: its name, its upper bound, and the probe size used to find what follows it.
    public struct Bound: Sendable, Equatable {
        public var name: String
        public var upperBound: Int
        public init(name: String, upperBound: Int) { self.name = name; self.upperBound = upperBound }

        /// A size well inside 1…bound that is unlikely to coincide with anything else in the model.
        public var probe: Int { Dim.probeSize(upperBound: upperBound) }
    }

    /// The graph with `bounds` symbolic: `importAt(sizes)` imports the model with each bounded
    /// dim at the given size. The result is validated at several sizes of every dim.
    public static func graph(name modelName: String, bounds: [Bound], importAt: ([String: Int]) throws -> Graph) throws -> Graph {
        let atBounds = Dictionary(uniqueKeysWithValues: bounds.map { ($0.name, $0.upperBound) })
        let base: Graph
        do { base = try importAt(atBounds) } catch let error as EmberError {
            // A model whose exporter baked a size into it fails here (as ONNX Runtime would at that size).
            guard case .invalidGraph = error else { throw error }
            let sizes = bounds.map { "\($0.name)=\($0.upperBound)" }.joined(separator: ", ")
            throw EmberError.unsupported(node: modelName, reason: "at the bounds (\(sizes)) the model does not hold: \(error) "
                                         + "— was it exported with a fixed size? Fix the dims with --dim NAME=N")
        }
        var result = base
        var probes: [(bound: Bound, graph: Graph)] = []
        for b in bounds where b.upperBound > 1 {
            var sizes = atBounds
            sizes[b.name] = b.probe
            let probed: Graph
            do { probed = try importAt(sizes) } catch {
                throw EmberError.unsupported(node: base.name, reason: "with \(b.name)=\(b.probe) (inside --dim \(b.name)<=\(b.upperBound)) "
                                             + "the model does not import: \(error)")
            }
            try sameStructure(base, probed, dim: b)
            probes.append((b, probed))
        }
        for id in base.values.indices {
            result.values[id].shape = try symbolicShape(of: id, base: base, probes: probes)
        }
        for (i, node) in base.nodes.enumerated() {
            (result.nodes[i].op, result.nodes[i].inputs) = try symbolicOp(node, at: i, base: base, result: result, probes: probes)
        }
        try result.validateAtBoundedSizes()
        return result
    }

    /// Same values, nodes, wiring, dtypes and constants: only sizes may differ.
    static func sameStructure(_ a: Graph, _ b: Graph, dim: Bound) throws {
        func differ(_ what: String) -> EmberError {
            .unsupported(node: a.name, reason: "the graph changes with \(dim.name) (\(what) at \(dim.name)=\(dim.upperBound) and "
                         + "\(dim.name)=\(dim.probe)); fix it with --dim \(dim.name)=N")
        }
        guard a.values.count == b.values.count, a.nodes.count == b.nodes.count,
              a.inputs == b.inputs, a.outputs == b.outputs else { throw differ("a different number of values or nodes") }
        for (na, nb) in zip(a.nodes, b.nodes) {
            guard na.op.kind == nb.op.kind, na.inputs == nb.inputs, na.output == nb.output else {
                throw differ("node '\(na.name)' differs")
            }
        }
        // Constants no node reads (shape math the importer made on the way) may differ freely.
        var read = Set(a.outputs)
        for n in a.nodes { for case let id? in n.inputs { read.insert(id) } }
        for (id, (va, vb)) in zip(a.values, b.values).enumerated() where va.constant == nil || read.contains(id) {
            guard va.dtype == vb.dtype, va.shape.rank == vb.shape.rank, va.quant == vb.quant,
                  (va.constant == nil) == (vb.constant == nil) else { throw differ("value '\(va.name)' differs") }
            if let ca = va.constant, let cb = vb.constant, !ca.bytes.elementsEqual(cb.bytes) {
                throw EmberError.unsupported(node: "value '\(va.name)'", reason: "a constant computed from \(dim.name) at import "
                                             + "(\(va.shape) at \(dim.name)=\(dim.upperBound), \(vb.shape) at \(dim.probe)); "
                                             + "Ember can not recompute it at run time: fix it with --dim \(dim.name)=N")
            }
        }
    }

    static func symbolicShape(of id: ValueID, base: Graph, probes: [(bound: Bound, graph: Graph)]) throws -> Shape {
        let dims = base.values[id].shape.upperBoundDims
        var out: [Dim] = dims.map { .fixed($0) }
        for (axis, size) in dims.enumerated() {
            let moved = probes.filter { $0.graph.values[id].shape.upperBoundDims[axis] != size }
            guard let first = moved.first else { continue }
            let probeSize = first.graph.values[id].shape.upperBoundDims[axis]
            guard moved.count == 1, size == first.bound.upperBound, probeSize == first.bound.probe else {
                let names = moved.map(\.bound.name).joined(separator: " and ")
                throw EmberError.unsupported(node: "value '\(base.values[id].name)'",
                    reason: "dim \(axis) depends on \(names) but is not equal to it (\(size) at the bound, \(probeSize) at "
                        + "\(first.bound.name)=\(first.bound.probe)); Ember binds plain dims only: fix it with --dim \(first.bound.name)=N")
            }
            out[axis] = .symbolic(name: first.bound.name, upperBound: first.bound.upperBound)
        }
        return Shape(out)
    }

    /// The node's op with the attributes that follow a dim rewritten to hold for every size (and
    /// its inputs: a slice to the size of a bounded dim gets a size reference). `result` holds the
    /// symbolic shapes.
    static func symbolicOp(_ node: Node, at index: Int, base: Graph, result: Graph,
                           probes: [(bound: Bound, graph: Graph)]) throws -> (Op, [ValueID?]) {
        var op = node.op
        var inputs = node.inputs
        for p in probes where p.graph.nodes[index].op != node.op {
            let other = p.graph.nodes[index].op
            func unsupported(_ what: String) -> EmberError {
                .unsupported(node: "node '\(node.name)' (\(node.op.kind))",
                             reason: "\(what) follows \(p.bound.name) in a way Ember can not bind at run time; fix it with --dim \(p.bound.name)=N")
            }
            switch (node.op, other) {
            case let (.reshape(a), .reshape(b)) where a.count == b.count:
                // A target dim equal to the bounded dim at both sizes copies the input dim that is it,
                // or else is inferred (-1) from the element count.
                guard let input = node.inputs.first ?? nil else { throw unsupported("the target shape") }
                let inputShape = try symbolicShape(of: input, base: base, probes: probes)
                var target = a
                for k in a.indices where a[k] != b[k] {
                    guard a[k] == p.bound.upperBound, b[k] == p.bound.probe else { throw unsupported("the target shape") }
                    if let axis = inputShape.dims.firstIndex(of: .symbolic(name: p.bound.name, upperBound: p.bound.upperBound)) {
                        target[k] = Op.reshapeCopiesInputDim(axis)
                    } else if !target.contains(-1), case let .reshape(current) = op, !current.contains(-1) {
                        target[k] = -1
                    } else {
                        throw unsupported("the target shape")
                    }
                }
                guard case let .reshape(current) = op else { throw unsupported("the target shape") }
                // Merge with what earlier bounded dims rewrote.
                op = .reshape(current.indices.map { k in a[k] != b[k] ? target[k] : current[k] })
            case let (.slice(beginA, endA, strides), .slice(beginB, endB, stridesB))
                where strides == stridesB && beginA.count == beginB.count && endA.count == endB.count:
                guard let input = node.inputs.first ?? nil else { throw unsupported("the slice") }
                let dimA = base.values[input].shape.upperBoundDims, dimB = p.graph.values[input].shape.upperBoundDims
                // Indices that move with the axis size are the same distance from its end at both sizes;
                // an end that is the bounded dim itself (pos[:seq]) is a dim of a size reference.
                let symbol = Dim.symbolic(name: p.bound.name, upperBound: p.bound.upperBound)
                func relative(_ a: [Int], _ b: [Int], isEnd: Bool) throws -> [Int] {
                    try a.indices.map { k in
                        guard a[k] != b[k] else { return a[k] }
                        guard k < dimA.count, k < dimB.count else { throw unsupported("the slice bounds") }
                        let fromEnd = a[k] - dimA[k]
                        if a[k] - dimA[k] == b[k] - dimB[k], fromEnd < 0 || (fromEnd == 0 && isEnd && strides[k] > 0) {
                            return fromEnd < 0 ? fromEnd : Int(Int32.max)
                        }
                        guard isEnd, strides[k] > 0, a[k] == p.bound.upperBound, b[k] == p.bound.probe else {
                            throw unsupported("the slice bounds")
                        }
                        let reference = inputs.count > 1 ? inputs[1] : result.inputs.first { result.values[$0].shape.dims.contains(symbol) }
                        guard let reference, let axis = result.values[reference].shape.dims.firstIndex(of: symbol) else {
                            throw unsupported("the slice end")
                        }
                        inputs = [input, reference]
                        return Op.sliceEndAtReferenceDim(axis)
                    }
                }
                guard case let .slice(currentBegin, currentEnd, _) = op else { throw unsupported("the slice") }
                let begin = try relative(beginA, beginB, isEnd: false), end = try relative(endA, endB, isEnd: true)
                // Merge with what earlier bounded dims rewrote.
                op = .slice(begin: begin.indices.map { beginA[$0] != beginB[$0] ? begin[$0] : currentBegin[$0] },
                            end: end.indices.map { endA[$0] != endB[$0] ? end[$0] : currentEnd[$0] }, strides: strides)
            default:
                throw unsupported("an attribute")
            }
        }
        return (op, inputs)
    }
}
