// The ONNX importer: a ModelProto (decoded by swift-protobuf from the generated onnx.pb.swift)
// into Ember's IR. ONNX images are NCHW, Ember's kernels are NHWC: each imported value carries
// the permutation its Ember layout applies to its ONNX dims, ops that care about layout
// (conv, pooling, resize) take channels-last inputs, ops that do not (elementwise, reductions,
// concat, slice, transpose) work in whatever layout their input has — so a conv net keeps
// channels-last from its first conv to its last and transposes only where the graph itself
// reshapes. Every op's conversion is one entry of `ONNXImporter.handlers` (ONNXOps.swift).
import EmberCore
import SwiftProtobuf

public enum ONNXImporter {
    /// Default-domain opsets this importer reads (each op as of the latest version it knows,
    /// with the older attribute-vs-input forms where they differ).
    public static let supportedOpsets = 7...28

    /// What the user fixes about a model's dynamic dims (`ember pack --dim`, `--shape`).
    public struct Options: Sendable {
        /// A named dim (`dim_param`) → its size.
        public var dims: [String: Int] = [:]
        /// An input's full dims (overrides its declared shape; for unnamed dynamic dims).
        public var shapes: [String: [Int]] = [:]
        /// Inputs fixed to a value at import (`ember pack --freeze`): axes, shapes or pads that a model
        /// takes as inputs but that Ember's static graphs need to know.
        public var frozen: [String: (dtype: DType, dims: [Int], bytes: [UInt8])] = [:]
        /// Named dims that stay dynamic up to a bound (`--dim NAME<=N`): name → bound.
        public var bounds: [String: Int] = [:]
        /// Dims of `shapes` entries that stay dynamic up to the size given there (`--shape x=1x<=128`):
        /// input → its bounded axes. Such a dim is named "INPUT.AXIS" in the graph.
        public var boundedAxes: [String: Set<Int>] = [:]
        public init(dims: [String: Int] = [:], shapes: [String: [Int]] = [:]) { self.dims = dims; self.shapes = shapes }

        /// Every bounded dim, named dims first.
        var symbolicBounds: [SymbolicDims.Bound] {
            var out = bounds.sorted { $0.key < $1.key }.map { SymbolicDims.Bound(name: $0.key, upperBound: $0.value) }
            for (input, axes) in boundedAxes.sorted(by: { $0.key < $1.key }) {
                for axis in axes.sorted() where axis < (shapes[input]?.count ?? 0) {
                    out.append(SymbolicDims.Bound(name: "\(input).\(axis)", upperBound: shapes[input]?[axis] ?? 1))
                }
            }
            return out
        }

        /// These options with every bounded dim fixed to `sizes[name]`.
        func fixing(_ sizes: [String: Int]) -> Options {
            var o = self
            o.bounds = [:]
            o.boundedAxes = [:]
            for (name, bound) in bounds { o.dims[name] = sizes[name] ?? bound }
            for (input, axes) in boundedAxes {
                for axis in axes where axis < (o.shapes[input]?.count ?? 0) {
                    if let size = sizes["\(input).\(axis)"] { o.shapes[input]?[axis] = size }
                }
            }
            return o
        }
    }

    /// The op types (default domain) this importer converts, sorted.
    public static var supportedOps: [String] { handlers.keys.sorted() }

    /// The `com.microsoft` op types this importer converts, sorted.
    public static var supportedMicrosoftOps: [String] { microsoftHandlers.keys.sorted() }

    /// The converter of a node's op in its domain (default or com.microsoft), nil when there is none.
    static func handler(for node: Onnx_NodeProto) -> ONNXHandler? {
        switch node.domain {
        case "", "ai.onnx": return handlers[node.opType]
        case "com.microsoft": return microsoftHandlers[node.opType]
        default: return nil
        }
    }

    /// Imports a serialized ModelProto. `directory` is the model's folder, where external data
    /// files are looked up (nil for a model without external data). The bytes are untrusted.
    public static func importModel(_ bytes: UnsafeRawBufferPointer, name: String, directory: String? = nil,
                                   options: Options = Options(), limits: LoadLimits = LoadLimits()) throws -> Graph {
        let model: Onnx_ModelProto = try decode(bytes, what: "model")
        let bounds = options.symbolicBounds
        for name in options.bounds.keys where options.dims[name] != nil {
            throw EmberError.invalidArgument("--dim \(name) is given both a size and a bound")
        }
        guard !bounds.isEmpty else {
            return try ONNXConverter(model: model, name: name, directory: directory, options: options, limits: limits).run()
        }
        if let b = bounds.first(where: { $0.upperBound < 1 }) {
            throw EmberError.invalidArgument("--dim \(b.name)<=\(b.upperBound): a bound must be at least 1")
        }
        return try SymbolicDims.graph(name: name, bounds: bounds) { sizes in
            try ONNXConverter(model: model, name: name, directory: directory, options: options.fixing(sizes), limits: limits).run()
        }
    }

    /// A serialized TensorProto (the `input_0.pb` files of ONNX test cases): name, dtype, dims, bytes.
    public static func decodeTensor(_ bytes: [UInt8], limits: LoadLimits = LoadLimits()) throws -> (name: String, dtype: DType, dims: [Int], bytes: [UInt8]) {
        let proto: Onnx_TensorProto = try bytes.withUnsafeBytes { try decode($0, what: "tensor") }
        let t = try proto.host(external: ExternalDataReader(directory: nil, limits: limits), limits: limits)
        return (proto.name, t.dtype, t.dims, t.bytes)
    }

    /// Nesting deeper than this (graphs in attributes in graphs…) is refused.
    static let maxMessageDepth = 64

    static func decode<M: SwiftProtobuf.Message>(_ bytes: UnsafeRawBufferPointer, what: String) throws -> M {
        var options = BinaryDecodingOptions()
        options.messageDepthLimit = maxMessageDepth
        do {
            return try M(serializedBytes: Array(bytes), options: options)
        } catch {
            throw EmberError.malformedModel(format: "ONNX", offset: 0, reason: "the \(what) protobuf does not decode (\(error))")
        }
    }
}

/// An imported value: the Ember value and its layout — Ember dim j holds ONNX dim `perm[j]`
/// (the identity for values in ONNX's own layout).
struct Tracked {
    var id: ValueID
    var perm: [Int]
}

/// The permutation that puts ONNX's channel axis (1) last: [0, 2, 3, …, 1].
func channelsLast(rank: Int) -> [Int] { rank < 3 ? Array(0..<rank) : [0] + Array(2..<rank) + [1] }

final class ONNXConverter {
    let model: Onnx_ModelProto
    let name: String
    let options: ONNXImporter.Options
    let limits: LoadLimits
    let external: ExternalDataReader
    /// The default-domain opset.
    let opset: Int

    var values: [Value] = []
    var nodes: [Node] = []
    /// ONNX value name → its Ember value (made on first use for constants).
    var env: [String: Tracked] = [:]
    /// Values known at import (initializers, Constant nodes, folded shape math), by ONNX name.
    var constants: [String: HostTensor] = [:]
    /// Layout conversions made so far: "\(value) \(perm)" → the converted value.
    var converted: [String: ValueID] = [:]
    private var graphInputs: [ValueID] = []

    init(model: Onnx_ModelProto, name: String, directory: String?, options: ONNXImporter.Options, limits: LoadLimits) throws {
        self.model = model; self.name = name; self.options = options; self.limits = limits
        external = ExternalDataReader(directory: directory, limits: limits)
        var defaultOpset: Int?
        for o in model.opsetImport {
            switch o.domain {
            case "", "ai.onnx": defaultOpset = Int(clamping: o.version)
            case "com.microsoft", "ai.onnx.ml": break // checked per node
            default: break
            }
        }
        guard model.hasGraph else { throw EmberError.malformedModel(format: "ONNX", offset: 0, reason: "the model has no graph") }
        let version = defaultOpset ?? (model.opsetImport.isEmpty ? 1 : 0)
        guard ONNXImporter.supportedOpsets.contains(version) else {
            throw EmberError.unsupported(node: name, reason: "default-domain opset \(version) (supported: \(ONNXImporter.supportedOpsets.lowerBound)–\(ONNXImporter.supportedOpsets.upperBound))")
        }
        opset = version
    }

    func run() throws -> Graph {
        let graph = model.graph
        try LoadLimits.check("model '\(name)'", needs: graph.node.count, limit: limits.maxNodes, unit: "nodes")
        try LoadLimits.check("model '\(name)'", needs: graph.initializer.count + graph.input.count, limit: limits.maxValues, unit: "values")
        try checkSupported(graph)
        for t in graph.initializer {
            constants[t.name] = try t.host(external: external, limits: limits)
        }
        guard graph.sparseInitializer.isEmpty else {
            throw EmberError.unsupported(node: name, reason: "sparse initializers")
        }
        try declareInputs(graph)
        try convert(graph.node)
        var outputs: [ValueID] = []
        for o in graph.output {
            guard env[o.name] != nil || constants[o.name] != nil else {
                throw EmberError.invalidGraph(node: o.name, reason: "graph output is not produced by any node")
            }
            var id = try onnxLayout(o.name)
            // A graph output is a node's own output: an input, a constant or a value already
            // given out gets an identity node.
            let declared = o.type.tensorType.elemType
            if declared == 10, values[id].dtype == .f32 {
                id = try add(.cast(.f16), [id], name: o.name) // a float16 output, computed in float32
            } else if declared == 2 || declared == 3, values[id].dtype == .i32 {
                id = try add(.cast(declared == 2 ? .u8 : .i8), [id], name: o.name) // plain 8-bit integers, computed in int32
            } else if values[id].constant != nil || graphInputs.contains(id) || outputs.contains(id) {
                id = try add(.reshape(dims(id)), [id], name: o.name)
            }
            values[id].name = o.name
            outputs.append(id)
        }
        let g = Graph(name: name, values: values, nodes: nodes, inputs: graphInputs, outputs: outputs)
        _ = try g.validate(limits: limits)
        return g
    }

    /// True for a name the model's graph outputs.
    func isGraphOutput(_ name: String) -> Bool { model.graph.output.contains { $0.name == name } }

    /// Converts nodes in order (a graph's, or an inlined If branch's).
    func convert(_ graphNodes: [Onnx_NodeProto]) throws {
        for (k, n) in graphNodes.enumerated() {
            let nodeName = n.name.isEmpty ? (n.output.first.map { "\(n.opType) \($0)" } ?? "\(n.opType) #\(k)") : n.name
            guard let handler = ONNXImporter.handler(for: n) else { continue } // listed by checkSupported
            var context = NodeContext(converter: self, node: n, attributes: ONNXAttributes(n, node: nodeName), name: nodeName)
            try handler(&context)
            try LoadLimits.check("model '\(name)'", needs: nodes.count, limit: limits.maxNodes, unit: "nodes")
        }
    }

    /// Every node's op must have a converter, in subgraphs too: all the missing ones are listed at once, with counts.
    func checkSupported(_ graph: Onnx_GraphProto) throws {
        var missing: [String: Int] = [:]
        func scan(_ g: Onnx_GraphProto) {
            for n in g.node {
                if ONNXImporter.handler(for: n) == nil {
                    missing[n.domain.isEmpty || n.domain == "ai.onnx" ? n.opType : "\(n.domain).\(n.opType)", default: 0] += 1
                }
                for a in n.attribute {
                    if a.hasG { scan(a.g) }
                    for sub in a.graphs { scan(sub) }
                }
            }
        }
        scan(graph)
        guard missing.isEmpty else {
            let list = missing.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
            throw EmberError.unsupported(node: name, reason: "ONNX ops not supported yet: \(list)")
        }
    }

    /// Graph inputs that are not initializers, with every dynamic dim fixed by the options;
    /// the dims nothing fixes are listed together with the flag that fixes them.
    func declareInputs(_ graph: Onnx_GraphProto) throws {
        var unresolved: [String] = []
        var declared: [(String, DType, [Int])] = []
        try checkOptionNames(graph)
        for input in graph.input where constants[input.name] == nil {
            if let f = options.frozen[input.name] {
                if let dtype = ONNXDataType.dtype(input.type.tensorType.elemType), dtype != f.dtype {
                    throw EmberError.invalidArgument("frozen input '\(input.name)' is \(f.dtype), the model declares \(dtype)")
                }
                let h = HostTensor(dtype: f.dtype, dims: f.dims, bytes: f.bytes)
                guard let n = elementCount(f.dims), n * f.dtype.traits.bytesPerBlock == f.bytes.count else {
                    throw EmberError.invalidArgument("frozen input '\(input.name)': \(f.bytes.count) bytes for \(f.dtype)\(formatDims(f.dims))")
                }
                constants[input.name] = h
                continue
            }
            let type = input.type.tensorType
            guard case .tensorType? = input.type.value else {
                throw EmberError.unsupported(node: "input '\(input.name)'", reason: "non-tensor inputs (sequence, map, optional)")
            }
            guard let dtype = ONNXDataType.dtype(type.elemType) else {
                throw EmberError.unsupported(node: "input '\(input.name)'", reason: "\(ONNXDataType.name(type.elemType)) inputs (supported: float, float16, int8, uint8, int32, int64, bool)")
            }
            var dims: [Int] = []
            if let fixed = options.shapes[input.name] {
                if type.hasShape, type.shape.dim.count != fixed.count {
                    throw EmberError.invalidArgument("--shape \(input.name): \(fixed.count) dims given, the input has \(type.shape.dim.count)")
                }
                dims = fixed
            } else {
                guard type.hasShape else {
                    unresolved.append("input '\(input.name)' has no shape (--shape \(input.name)=DIMS)")
                    continue
                }
                for (k, d) in type.shape.dim.enumerated() {
                    switch d.value {
                    case .dimValue(let v)? where v >= 0 && v <= Int64(Int32.max): dims.append(Int(v))
                    case .dimParam(let p)?:
                        if let v = options.dims[p] { dims.append(v) } else {
                            unresolved.append("'\(p)' (input '\(input.name)' dim \(k); --dim \(p)=SIZE or --dim \(p)<=BOUND)")
                        }
                    default: unresolved.append("input '\(input.name)' dim \(k) (--shape \(input.name)=DIMS)")
                    }
                }
            }
            guard dims.count <= GraphLimits.maxRank, let n = elementCount(dims) else {
                throw EmberError.invalidGraph(node: "input '\(input.name)'", reason: "dims \(dims)")
            }
            try LoadLimits.check("input '\(input.name)'", needs: n, limit: limits.maxTensorElements, unit: "elements")
            declared.append((input.name, dtype, dims))
        }
        guard unresolved.isEmpty else {
            throw EmberError.unsupported(node: name, reason: "dynamic dims without a size: " + unresolved.joined(separator: ", "))
        }
        for (n, dtype, dims) in declared {
            values.append(Value(name: n, dtype: dtype, shape: Shape(dims)))
            graphInputs.append(values.count - 1)
            var id = values.count - 1
            // A float16 input is widened once; the graph computes in float32.
            if dtype == .f16 { id = try add(.cast(.f32), [id], name: "\(n)/float") }
            // int8 / uint8 that no quantization op reads are plain integers: computed as int32.
            if dtype.isQuantized8, !readsQuantized(n, in: graph) { id = try add(.cast(.i32), [id], name: "\(n)/int32") }
            env[n] = Tracked(id: id, perm: Array(0..<dims.count))
        }
    }

    /// True when a quantization op (DequantizeLinear, a QLinear op, MatMulInteger, ConvInteger) reads `name`.
    func readsQuantized(_ name: String, in graph: Onnx_GraphProto) -> Bool {
        graph.node.contains { n in
            n.input.contains(name) && (n.opType == "DequantizeLinear" || n.opType.hasPrefix("QLinear") || n.opType.hasSuffix("Integer"))
        }
    }

    /// A `--shape`/`--freeze` for an input the graph lacks, or a `--dim` no input uses, is a typo: say so.
    func checkOptionNames(_ graph: Onnx_GraphProto) throws {
        let inputs = graph.input.map(\.name).filter { constants[$0] == nil }
        for (flag, names) in [("--shape", Array(options.shapes.keys)), ("--freeze", Array(options.frozen.keys))] {
            for n in names.sorted() where !inputs.contains(n) {
                throw EmberError.invalidArgument("\(flag) \(n): the model has no input '\(n)' (its inputs: \(inputs.joined(separator: ", ")))")
            }
        }
        var params: [String] = []
        for input in graph.input { for d in input.type.tensorType.shape.dim { if case .dimParam(let p)? = d.value { params.append(p) } } }
        for n in Set(options.dims.keys).union(options.bounds.keys).sorted() where !params.contains(n) {
            let known = Array(Set(params)).sorted()
            throw EmberError.invalidArgument("--dim \(n): no input has a dim named '\(n)'"
                                             + (known.isEmpty ? " (the inputs have no named dims)" : " (named dims: \(known.joined(separator: ", ")))"))
        }
    }

    // MARK: values

    func dims(_ id: ValueID) -> [Int] { values[id].shape.upperBoundDims }

    /// The ONNX dims of an imported value.
    func onnxDims(_ t: Tracked) -> [Int] {
        let d = dims(t.id)
        var out = d
        for (j, p) in t.perm.enumerated() where p < out.count { out[p] = d[j] }
        return out
    }

    /// The value an ONNX name stands for (constants become Ember constants on first use).
    func tracked(_ name: String, node: String) throws -> Tracked {
        if let t = env[name] { return t }
        guard let h = constants[name] else {
            throw EmberError.invalidGraph(node: node, reason: "input '\(name)' is not a graph input, an initializer or any node's output")
        }
        let t = Tracked(id: constant(h, name: name), perm: Array(0..<h.dims.count))
        env[name] = t
        return t
    }

    /// An Ember constant holding `h` (float16 widened to float32, plain 8-bit integers to int32: the
    /// quantized ones are read by the quantization ops at import, never made Ember constants).
    func constant(_ h: HostTensor, name: String) -> ValueID {
        var h = h
        if h.dtype == .f16, let f = h.floats { h = HostTensor.floats(f, dims: h.dims) }
        if h.dtype.isQuantized8, let i = h.ints { h = HostTensor.integers(i, dtype: .i32, dims: h.dims) }
        values.append(Value(name: name, dtype: h.dtype, shape: Shape(h.dims), constant: ConstantData(copying: h.bytes)))
        return values.count - 1
    }

    /// The ONNX-layout value of `name`.
    func onnxLayout(_ name: String) throws -> ValueID {
        let t = try tracked(name, node: name)
        return try inLayout(t, Array(0..<t.perm.count), name: name)
    }

    /// `t` in layout `perm` (a transpose, a reshape when only size-1 dims move, or a constant
    /// permuted at import).
    func inLayout(_ t: Tracked, _ perm: [Int], name: String) throws -> ValueID {
        guard t.perm != perm else { return t.id }
        let key = "\(t.id) \(perm)"
        if let v = converted[key] { return v }
        // Output Ember dim j is ONNX dim perm[j], which sits at Ember dim q[j] of t.
        var q: [Int] = []
        for p in perm {
            guard let j = t.perm.firstIndex(of: p) else {
                throw EmberError.invalidGraph(node: name, reason: "layout \(perm) does not fit rank \(t.perm.count)")
            }
            q.append(j)
        }
        let d = dims(t.id)
        let outDims = q.map { d[$0] }
        let v: ValueID
        if let c = values[t.id].constant {
            let size = values[t.id].dtype.traits.bytesPerBlock
            let bytes = permuteBytes(Array(c.bytes), dims: d, elementSize: size, perm: q)
            values.append(Value(name: values[t.id].name + "/" + perm.map(String.init).joined(), dtype: values[t.id].dtype,
                                shape: Shape(outDims), quant: values[t.id].quant, constant: ConstantData(copying: bytes)))
            v = values.count - 1
        } else if movesOnlyUnitDims(d, q) {
            v = try add(.reshape(outDims), [t.id], name: "\(name)/layout")
        } else {
            v = try add(.transpose(perm: q), [t.id], name: "\(name)/layout")
        }
        converted[key] = v
        return v
    }

    /// `id` with new dims: a constant shares its bytes, anything else gets a reshape node.
    func reshapeValue(_ id: ValueID, _ newDims: [Int], name: String) throws -> ValueID {
        if dims(id) == newDims { return id }
        if let data = values[id].constant {
            values.append(Value(name: name, dtype: values[id].dtype, shape: Shape(newDims), quant: values[id].quant, constant: data))
            return values.count - 1
        }
        return try add(.reshape(newDims), [id], name: name)
    }

    /// Appends a node; its output type comes from the op's shape function.
    @discardableResult
    func add(_ op: Op, _ inputs: [ValueID?], name: String, outputDType: DType? = nil, quant: QuantParams? = nil) throws -> ValueID {
        let infos = inputs.map { $0.map { TensorInfo(values[$0].dtype, dims($0)) } }
        let info = try op.outputInfo(inputs: infos, node: name, outputDType: outputDType)
        // Data movement of 8-bit values (layout transposes, reshapes) keeps the input's parameters.
        var q = quant
        if q == nil, info.dtype.isQuantized8, op.schema.quantization == .inputRange, let first = inputs.first ?? nil {
            q = values[first].quant
        }
        values.append(Value(name: name, dtype: info.dtype, shape: Shape(info.dims), quant: q))
        nodes.append(Node(name: name, op: op, inputs: inputs, output: values.count - 1))
        return values.count - 1
    }
}

/// True when transposing `dims` by `perm` keeps the order of the dims larger than 1 (a reshape).
func movesOnlyUnitDims(_ dims: [Int], _ perm: [Int]) -> Bool {
    let moved = perm.filter { dims[$0] != 1 }
    return moved == moved.sorted()
}

/// Row-major `bytes` of `dims` transposed so output dim j is input dim perm[j].
func permuteBytes(_ bytes: [UInt8], dims: [Int], elementSize: Int, perm: [Int]) -> [UInt8] {
    let rank = dims.count
    guard rank > 1, perm != Array(0..<rank) else { return bytes }
    var inStrides = [Int](repeating: 1, count: rank)
    for k in stride(from: rank - 2, through: 0, by: -1) { inStrides[k] = inStrides[k + 1] * dims[k + 1] }
    var out = [UInt8](repeating: 0, count: bytes.count)
    forEachSourceIndex(perm.map { dims[$0] }, strides: perm.map { inStrides[$0] }) { o, src in
        for b in 0..<elementSize { out[o * elementSize + b] = bytes[src * elementSize + b] }
    }
    return out
}

/// Walks every element of `outDims` in row-major order and hands `body` its flat index and the
/// flat source index Σ index[k]·strides[k] (a transpose or a broadcast, by the strides given).
func forEachSourceIndex(_ outDims: [Int], strides: [Int], _ body: (_ output: Int, _ source: Int) -> Void) {
    let rank = outDims.count
    var index = [Int](repeating: 0, count: rank)
    for o in 0..<outDims.reduce(1, *) {
        var src = 0
        for k in 0..<rank { src += index[k] * strides[k] }
        body(o, src)
        var k = rank - 1
        while k >= 0 {
            index[k] += 1
            if index[k] < outDims[k] { break }
            index[k] = 0
            k -= 1
        }
    }
}
