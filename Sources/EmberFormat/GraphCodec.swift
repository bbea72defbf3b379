import EmberCore

/// The tensor sections a graph's constants may live in: the (raw) size of every
/// one, and the bytes of those already at hand (raw sections borrowed from the file).
public struct TensorSections {
    public var sizes: [UInt32: Int]
    public var loaded: [UInt32: ConstantBuffer]
    public init(sizes: [UInt32: Int], loaded: [UInt32: ConstantBuffer]) { self.sizes = sizes; self.loaded = loaded }
}

/// GRPH section payload: a graph's values, nodes, inputs and outputs. Constant
/// data lives in a TENS section; a constant records (tensor section id, offset,
/// length). Layout in docs/FORMAT.md. Attribute integers are bounded to Int32
/// and dims to 0...Int32.max so that no later arithmetic on them can overflow.
public enum GraphCodec {
    static let maxRank = GraphLimits.maxRank

    /// Encodes `graph`; constants are appended (64-byte aligned) to `tensors`,
    /// which is stored as TENS section `tensorSection`.
    public static func encode(_ graph: Graph, tensorSection: UInt32, tensors: inout ByteWriter) -> [UInt8] {
        var w = ByteWriter()
        w.string(graph.name)
        w.u32(UInt32(graph.values.count))
        for v in graph.values {
            w.string(v.name)
            w.u8(v.dtype.rawValue)
            w.u8((v.quant != nil ? 1 : 0) | (v.constant != nil ? 2 : 0) | (v.quant?.requantization == .float ? 4 : 0))
            w.u8(UInt8(v.shape.rank))
            for d in v.shape.dims {
                switch d {
                case let .fixed(n): w.u8(0); w.i64(Int64(n))
                case let .symbolic(name, bound): w.u8(1); w.i64(Int64(bound)); w.string(name)
                }
            }
            if let q = v.quant {
                w.i32(Int32(q.axis ?? -1))
                w.u32(UInt32(q.scales.count))
                for s in q.scales { w.f32(s) }
                for z in q.zeroPoints { w.i32(z) }
            }
            if let c = v.constant {
                tensors.align(FormatV1.sectionAlignment)
                let offset = tensors.count
                tensors.raw(c.bytes)
                w.u32(tensorSection)
                w.u64(UInt64(offset))
                w.u64(UInt64(c.count))
            }
        }
        w.u32(UInt32(graph.nodes.count))
        for n in graph.nodes {
            w.string(n.name)
            w.u16(n.op.kind.rawValue)
            encodeAttributes(n.op, &w)
            w.u32(UInt32(n.inputs.count))
            for i in n.inputs { w.i32(Int32(i ?? -1)) }
            w.i32(Int32(n.output))
        }
        w.u32(UInt32(graph.inputs.count)); for i in graph.inputs { w.i32(Int32(i)) }
        w.u32(UInt32(graph.outputs.count)); for o in graph.outputs { w.i32(Int32(o)) }
        return w.bytes
    }

    /// Decodes a graph. A constant in a tensor section that `tensors` holds
    /// bytes for borrows them; one in a section it only knows the size of is
    /// deferred (`ConstantData(deferredIn:)`). Either way its range is checked
    /// against the section and must be 64-byte aligned. Does not validate the
    /// graph's semantics (callers run `Graph.validate`).
    public static func decode(_ r: inout ByteReader, tensors: TensorSections, limits: LoadLimits = LoadLimits()) throws -> Graph {
        let name = try r.string("graph name")
        let countAt = r.position
        let valueCount = try r.count("value", minBytes: 7)
        guard valueCount <= limits.maxValues else {
            throw r.error("graph has \(formatCount(valueCount)) values, limit \(formatCount(limits.maxValues))", at: countAt)
        }
        var values: [Value] = []
        values.reserveCapacity(valueCount)
        for _ in 0..<valueCount {
            let at = r.position
            let vname = try r.string("value name")
            let dtypeByte = try r.u8()
            guard let dtype = DType(rawValue: dtypeByte) else { throw r.error("value '\(vname)' has unknown dtype \(dtypeByte)", at: r.position - 1) }
            let flags = try r.u8()
            guard flags & ~7 == 0, flags & 5 != 4 else {
                throw r.error("value '\(vname)' has unknown flags \(flags)", at: r.position - 1)
            }
            let rank = Int(try r.u8())
            guard rank <= maxRank else { throw r.error("value '\(vname)' has rank \(rank) (max \(maxRank))", at: r.position - 1) }
            var dims: [Dim] = []
            for _ in 0..<rank {
                let kind = try r.u8()
                let n = try r.int("dim of '\(vname)'", in: 0...Int(Int32.max))
                switch kind {
                case 0: dims.append(.fixed(n))
                case 1: dims.append(.symbolic(name: try r.string("symbolic dim name"), upperBound: n))
                default: throw r.error("value '\(vname)' has unknown dim kind \(kind)", at: r.position - 9)
                }
            }
            var quant: QuantParams? = nil
            if flags & 1 != 0 {
                let axis = Int(try r.i32())
                let n = try r.count("quantization scale", minBytes: 8)
                guard n >= 1 else { throw r.error("value '\(vname)' has quantization with no scales") }
                var scales: [Float] = [], zps: [Int32] = []
                scales.reserveCapacity(n); zps.reserveCapacity(n)
                for _ in 0..<n { scales.append(try r.f32()) }
                for _ in 0..<n { zps.append(try r.i32()) }
                if axis < 0 {
                    guard n == 1 else { throw r.error("per-tensor quantization of '\(vname)' has \(n) scales") }
                    quant = QuantParams(scale: scales[0], zeroPoint: zps[0])
                } else {
                    quant = QuantParams(scales: scales, zeroPoints: zps, axis: axis)
                }
                if flags & 4 != 0 { quant?.requantization = .float }
            }
            var constant: ConstantData? = nil
            if flags & 2 != 0 {
                let sectionID = try r.u32()
                let offset = try r.length("constant offset", limit: Int.max / 2)
                let length = try r.length("constant length", limit: Int.max / 2)
                guard let size = tensors.sizes[sectionID] else {
                    throw r.error("constant '\(vname)' refers to TENS#\(sectionID), which the package does not have", at: at)
                }
                guard offset <= size, length <= size - offset else {
                    throw r.error("constant '\(vname)' (\(length) bytes at \(offset)) lies outside TENS#\(sectionID) (\(size) bytes)", at: at)
                }
                guard offset % FormatV1.sectionAlignment == 0 else {
                    throw r.error("constant '\(vname)' at offset \(offset) of TENS#\(sectionID) is not \(FormatV1.sectionAlignment)-byte aligned", at: at)
                }
                if let buffer = tensors.loaded[sectionID] {
                    constant = ConstantData(buffer: buffer, offset: offset, count: length)
                } else {
                    constant = ConstantData(deferredIn: sectionID, offset: offset, count: length)
                }
            }
            values.append(Value(name: vname, dtype: dtype, shape: Shape(dims), quant: quant, constant: constant))
        }

        func valueRef(_ what: String, optional: Bool = false) throws -> ValueID? {
            let at = r.position
            let v = Int(try r.i32())
            if optional && v == -1 { return nil }
            guard v >= 0, v < values.count else { throw r.error("\(what) refers to value #\(v) of \(values.count)", at: at) }
            return v
        }

        let nodeCountAt = r.position
        let nodeCount = try r.count("node", minBytes: 14)
        guard nodeCount <= limits.maxNodes else {
            throw r.error("graph has \(formatCount(nodeCount)) nodes, limit \(formatCount(limits.maxNodes))", at: nodeCountAt)
        }
        var nodes: [Node] = []
        nodes.reserveCapacity(nodeCount)
        for _ in 0..<nodeCount {
            let nname = try r.string("node name")
            let at = r.position
            let code = try r.u16()
            guard let kind = OpKind(rawValue: code) else { throw r.error("node '\(nname)' has unknown op code \(code)", at: at) }
            let op = try decodeAttributes(kind, &r, node: nname)
            let inputCount = try r.count("node input", minBytes: 4)
            var inputs: [ValueID?] = []
            for _ in 0..<inputCount { inputs.append(try valueRef("input of node '\(nname)'", optional: true)) }
            guard let output = try valueRef("output of node '\(nname)'") else { throw r.error("node '\(nname)' has no output") }
            nodes.append(Node(name: nname, op: op, inputs: inputs, output: output))
        }
        var inputs: [ValueID] = [], outputs: [ValueID] = []
        for _ in 0..<(try r.count("graph input", minBytes: 4)) { if let v = try valueRef("graph input") { inputs.append(v) } }
        for _ in 0..<(try r.count("graph output", minBytes: 4)) { if let v = try valueRef("graph output") { outputs.append(v) } }
        guard r.remaining == 0 else { throw r.error("\(r.remaining) unexpected bytes after the graph") }
        return Graph(name: name, values: values, nodes: nodes, inputs: inputs, outputs: outputs)
    }

    // MARK: attributes

    /// Writes the op's attribute record field by field, as its `OpSchema` lays it out.
    private static func encodeAttributes(_ op: Op, _ w: inout ByteWriter) {
        for value in op.schema.attributeValues(op) {
            switch value {
            case let .int(v): w.i64(Int64(v))
            case let .ints(a): w.u32(UInt32(a.count)); for v in a { w.i64(Int64(v)) }
            case let .float(v): w.f32(v)
            case let .bool(v): w.u8(v ? 1 : 0)
            case let .byte(v): w.u8(v)
            case let .activation(a): w.u8(a.rawValue)
            case let .dtype(d): w.u8(d.rawValue)
            case let .padding(p):
                switch p {
                case .same: w.u8(0)
                case .valid: w.u8(1)
                case let .explicit(t, l, b, r): w.u8(2); for v in [t, l, b, r] { w.i64(Int64(v)) }
                }
            }
        }
    }

    /// Reads the attribute record of a `kind` node, checking every field's range.
    private static func decodeAttributes(_ kind: OpKind, _ r: inout ByteReader, node: String) throws -> Op {
        let small = Int(Int32.min)...Int(Int32.max)
        let schema = kind.schema
        let start = r.position
        var values: [AttributeValue] = []
        for field in schema.attributes {
            let at = r.position
            switch field {
            case .int: values.append(.int(try r.int("attribute of node '\(node)'", in: small)))
            case .positive: values.append(.int(try r.int("attribute of node '\(node)'", in: 1...Int(Int32.max))))
            case .nonNegative: values.append(.int(try r.int("attribute of node '\(node)'", in: 0...Int(Int32.max))))
            case .ints:
                let n = try r.count("attribute list of node '\(node)'", minBytes: 8)
                guard n <= GraphLimits.maxAttributeCount else { throw r.error("attribute list of node '\(node)' has \(n) entries", at: at) }
                values.append(.ints(try (0..<n).map { _ in try r.int("attribute of node '\(node)'", in: small) }))
            case .float: values.append(.float(try r.f32()))
            case .bool: values.append(.bool(try r.u8() != 0))
            case let .flags(mask):
                let b = try r.u8()
                guard b & ~mask == 0 else { throw r.error("node '\(node)' has unknown \(kind) flags \(b)", at: at) }
                values.append(.byte(b))
            case let .function(count):
                let b = try r.u8()
                guard Int(b) < count else { throw r.error("node '\(node)' has unknown \(kind) function \(b)", at: at) }
                values.append(.byte(b))
            case .activation:
                let b = try r.u8()
                guard let a = Activation(rawValue: b) else { throw r.error("node '\(node)' has unknown activation \(b)", at: at) }
                values.append(.activation(a))
            case .dtype:
                let b = try r.u8()
                guard let d = DType(rawValue: b) else { throw r.error("node '\(node)' has unknown dtype \(b)", at: at) }
                values.append(.dtype(d))
            case .padding:
                let b = try r.u8()
                switch b {
                case 0: values.append(.padding(.same))
                case 1: values.append(.padding(.valid))
                case 2:
                    let v = try (0..<4).map { _ in try r.int("padding of node '\(node)'", in: 0...Int(Int32.max)) }
                    values.append(.padding(.explicit(top: v[0], left: v[1], bottom: v[2], right: v[3])))
                default: throw r.error("node '\(node)' has unknown padding \(b)", at: at)
                }
            }
        }
        do {
            return try schema.makeOp(values)
        } catch let e as AttributeError {
            throw r.error("node '\(node)' (\(kind)): \(e.reason)", at: start)
        }
    }
}
