/// Builds a `Graph` in code: inputs, constants, ops (output types inferred by
/// the op's shape function), outputs. Tests and the demo use it; importers may too.
///
///     let b = GraphBuilder(name: "tiny")
///     let x = b.input("x", .f32, [1, 4])
///     let w = b.constant("w", [Float](repeating: 0.5, count: 8), dims: [2, 4])
///     let y = try b.add(.fullyConnected(.relu), [x, w], name: "fc")
///     b.output(y)
///     let graph = try b.build()
public final class GraphBuilder {
    public private(set) var values: [Value] = []
    public private(set) var nodes: [Node] = []
    private var inputs: [ValueID] = []
    private var outputs: [ValueID] = []
    public let name: String

    public init(name: String) { self.name = name }

    @discardableResult
    public func input(_ name: String, _ dtype: DType, _ shape: Shape, quant: QuantParams? = nil) -> ValueID {
        values.append(Value(name: name, dtype: dtype, shape: shape, quant: quant))
        inputs.append(values.count - 1)
        return values.count - 1
    }

    /// A constant of any bitwise-copyable element type; `dtype` says how its bytes are read.
    public func constant<T: BitwiseCopyable>(_ name: String, _ elements: [T], dtype: DType, dims: [Int], quant: QuantParams? = nil) -> ValueID {
        values.append(Value(name: name, dtype: dtype, shape: Shape(dims), quant: quant, constant: ConstantData(copying: elements)))
        return values.count - 1
    }

    public func constant(_ name: String, _ floats: [Float], dims: [Int]) -> ValueID {
        constant(name, floats, dtype: .f32, dims: dims)
    }

    /// Adds a node; the output's dtype and shape come from the op's shape function
    /// (`outputDType` overrides the dtype, e.g. an int8 conv that outputs int8).
    public func add(_ op: Op, _ inputs: [ValueID?], name: String? = nil,
                    outputDType: DType? = nil, outputQuant: QuantParams? = nil) throws -> ValueID {
        let nodeName = name ?? "\(op.kind)_\(nodes.count)"
        var symbols: [String: Int] = [:]
        for input in inputs {
            guard let id = input else { continue }
            guard id >= 0, id < values.count else {
                throw EmberError.invalidGraph(node: nodeName, reason: "input #\(id) does not exist")
            }
            for case let .symbolic(name, bound) in values[id].shape.dims { symbols[name] = bound }
        }
        func infos(_ bindings: [String: Int]) throws -> [TensorInfo?] {
            try inputs.map { input in try input.map { TensorInfo(values[$0].dtype, try values[$0].shape.resolved(bindings)) } }
        }
        let info = try op.outputInfo(inputs: try infos([:]), node: nodeName, outputDType: outputDType)
        // An output dim is symbolic when it follows one of the inputs' symbolic dims: it is that dim's
        // bound at the bounds and its probe size when only that dim is at its probe.
        var dims = info.dims.map { Dim.fixed($0) }
        for (name, bound) in symbols.sorted(by: { $0.key < $1.key }) where bound > 1 {
            let probe = Dim.probeSize(upperBound: bound)
            // An op that does not hold at the probe (a reshape to fixed dims) keeps fixed dims: the
            // graph then validates at its bounds only.
            guard let probed = try? op.outputInfo(inputs: try infos([name: probe]), node: nodeName, outputDType: outputDType),
                  probed.dims.count == dims.count else { continue }
            for axis in dims.indices where probed.dims[axis] != info.dims[axis] && info.dims[axis] == bound && probed.dims[axis] == probe {
                dims[axis] = .symbolic(name: name, upperBound: bound)
            }
        }
        let shape = Shape(dims)
        values.append(Value(name: nodeName, dtype: info.dtype, shape: shape, quant: outputQuant))
        nodes.append(Node(name: nodeName, op: op, inputs: inputs, output: values.count - 1))
        return values.count - 1
    }

    /// Marks a value as a graph output, optionally renaming it.
    public func output(_ id: ValueID, name: String? = nil) {
        if let name, id >= 0, id < values.count { values[id].name = name }
        outputs.append(id)
    }

    /// Renames a value (e.g. to give an output a stable name).
    public func rename(_ id: ValueID, to name: String) {
        if id >= 0, id < values.count { values[id].name = name }
    }

    /// The graph, validated.
    public func build() throws -> Graph {
        let g = Graph(name: name, values: values, nodes: nodes, inputs: inputs, outputs: outputs)
        _ = try g.validate()
        return g
    }
}
