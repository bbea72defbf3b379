// Shared by test targets (symlinked): writes small TFLite flatbuffers (schema v3)
// field by field, so tests can make the odd files a hostile user would — two
// subgraphs, a bad quantized_dimension, rank 20, a 10 MB name — that no
// converter produces.

/// A flatbuffer object: a table (fields by slot), a string, or a vector.
indirect enum FBObject {
    case table([(slot: Int, field: FBField)])
    case string(String)
    case int32s([Int32])
    case int64s([Int64])
    case floats([Float])
    case bytes([UInt8])
    case tables([FBObject])
}

enum FBField {
    case i8(Int8), u8(UInt8), i32(Int32), u32(UInt32), u64(UInt64), f32(Float), bool(Bool)
    case object(FBObject)
}

/// Lays objects out front to back: a parent's offset fields are patched once
/// its children (which follow it, as uoffsets must point forward) are written.
struct FlatBufferWriter {
    private(set) var bytes: [UInt8] = []

    static func file(root: FBObject, identifier: String = "TFL3") -> [UInt8] {
        var w = FlatBufferWriter()
        w.bytes = [UInt8](repeating: 0, count: 8)
        for (i, c) in identifier.utf8.prefix(4).enumerated() { w.bytes[4 + i] = c }
        let at = w.write(root)
        w.patch(0, UInt32(at))
        return w.bytes
    }

    mutating func align(_ n: Int) { while bytes.count % n != 0 { bytes.append(0) } }
    mutating func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func patch(_ at: Int, _ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { for i in 0..<4 { bytes[at + i] = $0[i] } } }

    /// Writes `o`; returns the position its referrers point at.
    mutating func write(_ o: FBObject) -> Int {
        switch o {
        case let .string(s):
            align(4); let at = bytes.count
            put(UInt32(s.utf8.count)); bytes.append(contentsOf: s.utf8); bytes.append(0)
            return at
        case let .int32s(v):
            align(4); let at = bytes.count
            put(UInt32(v.count)); for x in v { put(x) }
            return at
        case let .int64s(v):
            while (bytes.count + 4) % 8 != 0 { bytes.append(0) }
            let at = bytes.count
            put(UInt32(v.count)); for x in v { put(x) }
            return at
        case let .floats(v):
            align(4); let at = bytes.count
            put(UInt32(v.count)); for x in v { put(x.bitPattern) }
            return at
        case let .bytes(v):
            while (bytes.count + 4) % 16 != 0 { bytes.append(0) }
            let at = bytes.count
            put(UInt32(v.count)); bytes.append(contentsOf: v)
            return at
        case let .tables(items):
            align(4); let at = bytes.count
            put(UInt32(items.count))
            let slots = bytes.count
            for _ in items { put(UInt32(0)) }
            for (i, item) in items.enumerated() {
                let target = write(item)
                patch(slots + 4 * i, UInt32(target - (slots + 4 * i)))
            }
            return at
        case let .table(fields):
            // vtable first, then the table (soffset = table − vtable, positive).
            let maxSlot = (fields.map(\.slot).max() ?? -1) + 1
            align(4)
            let vtable = bytes.count
            put(UInt16(4 + 2 * maxSlot)); put(UInt16(0))
            for _ in 0..<maxSlot { put(UInt16(0)) }
            align(8)
            let table = bytes.count
            put(Int32(table - vtable))
            var pending: [(at: Int, object: FBObject)] = []
            for (slot, field) in fields {
                let size: Int
                switch field {
                case .i8, .u8, .bool: size = 1
                case .i32, .u32, .f32, .object: size = 4
                case .u64: size = 8
                }
                align(size)
                let offset = bytes.count - table
                switch field {
                case let .i8(v): put(v)
                case let .u8(v): put(v)
                case let .bool(v): put(UInt8(v ? 1 : 0))
                case let .i32(v): put(v)
                case let .u32(v): put(v)
                case let .f32(v): put(v.bitPattern)
                case let .u64(v): put(v)
                case let .object(o): pending.append((bytes.count, o)); put(UInt32(0))
                }
                withUnsafeBytes(of: UInt16(offset).littleEndian) { bytes[vtable + 4 + 2 * slot] = $0[0]; bytes[vtable + 5 + 2 * slot] = $0[1] }
            }
            let size = bytes.count - table
            withUnsafeBytes(of: UInt16(size).littleEndian) { bytes[vtable + 2] = $0[0]; bytes[vtable + 3] = $0[1] }
            for (at, object) in pending {
                let target = write(object)
                patch(at, UInt32(target - at))
            }
            return table
        }
    }
}

/// A TFLite model: tensors, operators (builtin codes), buffers, one or more subgraphs.
struct TFLiteModel {
    struct Tensor {
        var name: String
        var shape: [Int32]
        var type: Int8 = 0          // 0 float32, 9 int8, 1 float16
        var buffer: UInt32 = 0      // 0: no data
        var scales: [Float]? = nil
        var zeroPoints: [Int64]? = nil
        var quantizedDimension: Int32? = nil
        /// A SparsityParameters table (slot 6), for sparse constants.
        var sparsity: FBObject? = nil
    }
    struct Operator {
        var opcode: UInt32; var inputs: [Int32]; var outputs: [Int32]
        /// The builtin options table (slot 4), field by field.
        var options: [(slot: Int, field: FBField)]? = nil
    }

    var builtinCodes: [Int32] = []
    var tensors: [Tensor] = []
    var operators: [Operator] = []
    var inputs: [Int32] = []
    var outputs: [Int32] = []
    /// Buffer 0 is the empty buffer, as converters write it.
    var buffers: [[UInt8]] = [[]]
    var extraSubgraphs = 0
    /// Further subgraphs (WHILE conditions and bodies), after the main one; their tensors' buffer
    /// indices refer to this model's `buffers`.
    var otherSubgraphs: [TFLiteModel] = []

    func subgraph() -> FBObject {
        let ts: [FBObject] = tensors.map { t in
            var fields: [(slot: Int, field: FBField)] = [(0, .object(.int32s(t.shape))), (1, .i8(t.type)), (2, .u32(t.buffer)), (3, .object(.string(t.name)))]
            if let s = t.scales {
                var q: [(slot: Int, field: FBField)] = [(2, .object(.floats(s))), (3, .object(.int64s(t.zeroPoints ?? s.map { _ in 0 })))]
                if let d = t.quantizedDimension { q.append((6, .i32(d))) }
                fields.append((4, .object(.table(q))))
            }
            if let s = t.sparsity { fields.append((6, .object(s))) }
            return .table(fields)
        }
        let ops: [FBObject] = operators.map { op in
            var fields: [(slot: Int, field: FBField)] = [(0, .u32(op.opcode)), (1, .object(.int32s(op.inputs))), (2, .object(.int32s(op.outputs)))]
            if let o = op.options { fields.append((4, .object(.table(o)))) }
            return .table(fields)
        }
        return .table([(0, .object(.tables(ts))), (1, .object(.int32s(inputs))), (2, .object(.int32s(outputs))), (3, .object(.tables(ops)))])
    }

    var bytes: [UInt8] {
        let codes: [FBObject] = builtinCodes.map { .table([(0, .i8(Int8(clamping: $0))), (3, .i32($0))]) }
        let subgraphs = [FBObject](repeating: subgraph(), count: 1 + extraSubgraphs) + otherSubgraphs.map { $0.subgraph() }
        let bufs: [FBObject] = buffers.map { $0.isEmpty ? .table([]) : .table([(0, .object(.bytes($0)))]) }
        return FlatBufferWriter.file(root: .table([(0, .u32(3)), (1, .object(.tables(codes))), (2, .object(.tables(subgraphs))),
                                                   (4, .object(.tables(bufs)))]))
    }

    /// x [shape] → RELU → y: the smallest model that imports.
    static func relu(shape: [Int32] = [1, 4], inputName: String = "x") -> TFLiteModel {
        var m = TFLiteModel()
        m.builtinCodes = [19] // RELU
        m.tensors = [Tensor(name: inputName, shape: shape), Tensor(name: "y", shape: shape)]
        m.operators = [Operator(opcode: 0, inputs: [0], outputs: [1])]
        m.inputs = [0]; m.outputs = [1]
        return m
    }
}
