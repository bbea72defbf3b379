// EmberImport — model importers into Ember's IR (TFLite now; ONNX later).
// Linked into the CLI and the packer only, never into the runtime library.
import EmberCore

/// Imports a TFLite flatbuffer (schema v3) into a `Graph`: float32 models,
/// float16-stored weights (DEQUANTIZE of constants folded at import) and fully
/// int8-quantized models, per-tensor and per-channel. Tensor names are kept.
/// The file is untrusted: every offset is checked (FlatBuffers.swift) and an
/// unsupported op or type is an error that lists every one with its count.
public enum TFLiteImporter {
    /// TFLite builtin operator codes (schema.fbs `BuiltinOperator`) this importer maps.
    enum Builtin: Int {
        case add = 0, averagePool2D = 1, concatenation = 2, conv2D = 3, depthwiseConv2D = 4
        case depthToSpace = 5, dequantize = 6, floor = 8, fullyConnected = 9, l2Normalization = 11
        case logistic = 14, maxPool2D = 17, mul = 18
        case relu = 19, reluN1To1 = 20, relu6 = 21, reshape = 22, resizeBilinear = 23, softmax = 25
        case spaceToDepth = 26, tanh = 28, pad = 34, gather = 36, batchToSpaceND = 37, spaceToBatchND = 38
        case transpose = 39, mean = 40, sub = 41, div = 42, squeeze = 43, unidirectionalSequenceLSTM = 44
        case stridedSlice = 45, exp = 47
        case split = 49, logSoftmax = 50, cast = 53, prelu = 54, maximum = 55, argMax = 56, minimum = 57
        case less = 58, neg = 59, padV2 = 60, greater = 61, greaterEqual = 62, lessEqual = 63, select = 64
        case slice = 65, sin = 66, transposeConv = 67, tile = 69, expandDims = 70, equal = 71, notEqual = 72
        case log = 73, sum = 74, sqrt = 75, rsqrt = 76, shape = 77, pow = 78, argMin = 79, reduceProd = 81
        case reduceMax = 82, pack = 83, logicalOr = 84, logicalAnd = 86, logicalNot = 87, unpack = 88
        case reduceMin = 89, floorDiv = 90, square = 92, floorMod = 95
        case resizeNearestNeighbor = 97, leakyRelu = 98, squaredDifference = 99, mirrorPad = 100, abs = 101
        case splitV = 102, ceil = 104, gatherND = 107, cos = 108, elu = 111, quantize = 114, round = 116, hardSwish = 117
        case `while` = 119, selectV2 = 123, densify = 124, batchMatMul = 126, broadcastTo = 130, gelu = 150
    }

    /// schema.fbs `BuiltinOperator` names, indexed by code (0 ADD … 151 DYNAMIC_UPDATE_SLICE).
    static let builtinNames: [String] = [
        "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE", "EMBEDDING_LOOKUP",
        "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION",
        "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR",
        "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL",
        "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE",
        "MEAN", "SUB", "DIV", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP",
        "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM",
        "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL",
        "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL",
        "NOT_EQUAL", "LOG", "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN",
        "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT",
        "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD",
        "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS", "SPLIT_V", "UNIQUE",
        "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK", "ELU",
        "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH", "IF", "WHILE",
        "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL", "PLACEHOLDER_FOR_GREATER_OP_CODES",
        "CUMSUM", "CALL_ONCE", "BROADCAST_TO", "RFFT2D", "CONV_3D", "IMAG", "REAL", "COMPLEX_ABS",
        "HASHTABLE", "HASHTABLE_FIND", "HASHTABLE_IMPORT", "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE", "READ_VARIABLE",
        "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL", "BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE",
    ]

    /// The TFLite name of builtin `code` ("CONV_2D"), or BUILTIN_n for a code this table does not know.
    public static func opName(_ code: Int) -> String {
        code >= 0 && code < builtinNames.count ? builtinNames[code] : "BUILTIN_\(code)"
    }

    /// The builtin codes this importer maps (each onto one op or a short lowering), in code order.
    public static var supportedBuiltins: [Int] { (0..<max(builtinNames.count, 256)).filter { Builtin(rawValue: $0) != nil } }

    /// `limits` bound what the model may ask for (tensor elements, values, nodes);
    /// the graph is validated against them, as the package reader will.
    public static func importModel(_ bytes: UnsafeRawBufferPointer, name: String, limits: LoadLimits = LoadLimits()) throws -> Graph {
        var importer = try Importer(FlatBuffer(bytes, format: "TFLite"), name: name, limits: limits)
        return try importer.run()
    }
}

struct TensorRecord {
    var name: String
    var dtype: DType
    var dims: [Int]
    var quant: QuantParams?
    var data: UnsafeRawBufferPointer?
}

struct Importer {
    let fb: FlatBuffer
    let name: String
    let limits: LoadLimits
    var tensors: [TensorRecord] = []
    var subgraph: FBTable
    var subgraphTables: [FBTable] = []
    var buffers: FBVector? = nil
    var opcodes: [Int] = []
    /// Inlined WHILE iterations so far (their tensor names get a unique suffix).
    var inlinedBodies = 0
    /// The tensor records of the subgraphs inlined so far, by table position.
    var loadedSubgraphs: [Int: [TensorRecord]] = [:]
    // IR being built.
    var values: [Value] = []
    var nodes: [Node] = []
    var valueOfTensor: [Int: ValueID] = [:]
    /// Bytes made at import (densified sparse constants) that tensor records point into.
    var ownedConstants: [ConstantData] = []
    /// Tensors read only as conv / FC weights or biases (see `run`).
    var halfWeights: Set<Int> = []

    init(_ fb: FlatBuffer, name: String, limits: LoadLimits) throws {
        self.fb = fb
        self.name = name
        self.limits = limits
        guard fb.bytes.count >= 8 else { throw fb.fail(0, "file is \(fb.bytes.count) bytes, too short for a flatbuffer") }
        if let id = fb.identifier, id != "TFL3" {
            throw fb.fail(4, "file identifier is '\(id)', expected 'TFL3' (not a TFLite model?)")
        }
        let model = try fb.root()
        let version = try model.int(0, UInt32.self)
        guard version == 3 else { throw fb.fail(model.position, "schema version \(version); only version 3 is supported") }
        guard let codes = try model.vector(1, elementSize: 4) else { throw fb.fail(model.position, "model has no operator codes") }
        for i in 0..<codes.count {
            let t = try codes.table(i)
            let deprecated = Int(try t.int(0, Int8.self))
            let code = Int(try t.int(3, Int32.self))
            opcodes.append(max(deprecated, code))
        }
        guard let subgraphs = try model.vector(2, elementSize: 4), subgraphs.count >= 1 else {
            throw fb.fail(model.position, "model has no subgraph")
        }
        subgraphTables = try (0..<subgraphs.count).map { try subgraphs.table($0) }
        subgraph = subgraphTables[0]
        buffers = try model.vector(4, elementSize: 4)
        tensors = try loadTensors(subgraph)
    }

    /// The tensor records of subgraph `sg` (sparse constants densified, every size checked).
    mutating func loadTensors(_ sg: FBTable) throws -> [TensorRecord] {
        var tensors: [TensorRecord] = []
        guard let ts = try sg.vector(0, elementSize: 4) else { throw fb.fail(sg.position, "subgraph has no tensors") }
        try LoadLimits.check("model '\(name)'", needs: ts.count, limit: limits.maxValues, unit: "tensors")
        for i in 0..<ts.count {
            let t = try ts.table(i)
            let tname = try t.string(3) ?? "tensor\(i)"
            let typeCode = Int(try t.int(1, Int8.self))
            let dtype: DType
            switch typeCode {
            case 0: dtype = .f32
            case 1: dtype = .f16
            case 2: dtype = .i32
            case 3: dtype = .u8
            case 4: dtype = .i64
            case 6: dtype = .bool
            case 9: dtype = .i8
            default:
                throw EmberError.unsupported(node: "tensor '\(tname)'", reason: "TFLite tensor type \(typeCode) (supported: float32, float16, int8, uint8, int32, int64, bool)")
            }
            guard tname.utf8.count <= GraphLimits.maxNameBytes else {
                throw fb.fail(t.position, "tensor \(i)'s name is \(tname.utf8.count) bytes; the limit is \(GraphLimits.maxNameBytes)")
            }
            let dims = try t.ints(0, Int32.self) ?? []
            guard dims.count <= GraphLimits.maxRank else {
                throw EmberError.unsupported(node: "tensor '\(tname)'", reason: "rank \(dims.count) (at most \(GraphLimits.maxRank))")
            }
            for d in dims where d < 0 { throw fb.fail(t.position, "tensor '\(tname)' has negative dim \(d)") }
            guard let elements = elementCount(dims) else { throw fb.fail(t.position, "tensor '\(tname)' \(formatDims(dims)) has too many elements") }
            try LoadLimits.check("tensor '\(tname)' \(formatDims(dims))", needs: elements, limit: min(limits.maxTensorElements, Int(Int32.max)),
                                 unit: "elements")
            var quant: QuantParams? = nil
            if let q = try t.table(4), let scales = try q.floats(2), !scales.isEmpty {
                let zps = try q.ints(3, Int64.self) ?? [Int](repeating: 0, count: scales.count)
                guard zps.count == scales.count else { throw fb.fail(q.position, "tensor '\(tname)' has \(scales.count) scales and \(zps.count) zero points") }
                guard zps.allSatisfy({ $0 >= Int(Int32.min) && $0 <= Int(Int32.max) }) else { throw fb.fail(q.position, "tensor '\(tname)' has an absurd zero point") }
                if scales.count == 1 {
                    quant = QuantParams(scale: scales[0], zeroPoint: Int32(zps[0]))
                } else {
                    let axis = Int(try q.int(6, Int32.self))
                    // quantized_dimension indexes dims: checked here, before anything uses it.
                    guard axis >= 0, axis < dims.count, dims[axis] == scales.count else {
                        throw fb.fail(q.position, "tensor '\(tname)' \(formatDims(dims)) has \(scales.count) scales along quantized_dimension \(axis)")
                    }
                    quant = QuantParams(scales: scales, zeroPoints: zps.map { Int32($0) }, axis: axis)
                }
            }
            var data: UnsafeRawBufferPointer? = nil
            let bufferIndex = Int(try t.int(2, UInt32.self))
            if bufferIndex > 0, let buffers {
                guard bufferIndex < buffers.count else { throw fb.fail(t.position, "tensor '\(tname)' refers to buffer \(bufferIndex) of \(buffers.count)") }
                let b = try buffers.table(bufferIndex)
                if let v = try b.vector(0, elementSize: 1), v.count > 0 {
                    data = v.bytes
                } else {
                    let offset = Int(truncatingIfNeeded: try b.int(1, UInt64.self)), size = Int(truncatingIfNeeded: try b.int(2, UInt64.self))
                    if offset > 1 && size > 0 {
                        try fb.check(offset, size, "buffer \(bufferIndex) of tensor '\(tname)'")
                        data = UnsafeRawBufferPointer(rebasing: fb.bytes[offset..<(offset + size)])
                    }
                }
            }
            if let sparsity = try t.table(6) {
                // A sparse constant (pruned weights): densified here, so every op sees an ordinary constant.
                let fb = self.fb, position = t.position
                let fail = { (why: String) in fb.fail(position, "sparse tensor '\(tname)' \(formatDims(dims)): \(why)") }
                let layout = try SparseLayout(sparsity, dims: dims, fail: fail)
                guard let elementSize = dtype.byteCount(dims: [1]) else { throw fail("\(dtype) elements") }
                let dense = try layout.densify(data ?? UnsafeRawBufferPointer(start: nil, count: 0), elementSize: elementSize,
                                               dims: dims, fail: fail)
                ownedConstants.append(ConstantData(copying: dense))
                data = ownedConstants[ownedConstants.count - 1].bytes
            }
            if let d = data {
                guard let need = dtype.byteCount(dims: dims), need == d.count else {
                    throw fb.fail(t.position, "tensor '\(tname)' \(dtype)\(formatDims(dims)) has \(d.count) bytes of data")
                }
            }
            tensors.append(TensorRecord(name: tname, dtype: dtype, dims: dims, quant: quant, data: data))
        }
        return tensors
    }

    // MARK: helpers

    func tensor(_ i: Int, _ what: String) throws -> TensorRecord {
        guard i >= 0, i < tensors.count else { throw fb.fail(subgraph.position, "\(what) refers to tensor \(i) of \(tensors.count)") }
        return tensors[i]
    }

    /// The IR value for a TFLite tensor (created on first use).
    mutating func value(_ i: Int) throws -> ValueID {
        if let v = valueOfTensor[i] { return v }
        let t = try tensor(i, "an operator")
        let constant = t.data.map { ConstantData(copying: Array($0)) }
        values.append(Value(name: t.name, dtype: t.dtype, shape: Shape(t.dims), quant: t.quant, constant: constant))
        valueOfTensor[i] = values.count - 1
        return values.count - 1
    }

    /// A new intermediate value (for nodes the importer inserts).
    mutating func newValue(_ name: String, _ dtype: DType, _ dims: [Int], _ quant: QuantParams?) -> ValueID {
        values.append(Value(name: name, dtype: dtype, shape: Shape(dims), quant: quant))
        return values.count - 1
    }

    mutating func constant(_ name: String, _ dtype: DType, _ dims: [Int], _ quant: QuantParams?, _ bytes: [UInt8]) -> ValueID {
        values.append(Value(name: name, dtype: dtype, shape: Shape(dims), quant: quant, constant: ConstantData(copying: bytes)))
        return values.count - 1
    }

    /// Integer contents of a constant parameter tensor (shapes, axes, paddings).
    func ints(_ i: Int, _ what: String, node: String) throws -> [Int] {
        let t = try tensor(i, what)
        guard let d = t.data else { throw EmberError.unsupported(node: node, reason: "\(what) must be a constant tensor") }
        switch t.dtype {
        case .i32: return (0..<(d.count / 4)).map { k in Int(Int32(bitPattern: UInt32(d[4 * k]) | UInt32(d[4 * k + 1]) << 8 | UInt32(d[4 * k + 2]) << 16 | UInt32(d[4 * k + 3]) << 24)) }
        case .i64:
            return (0..<(d.count / 8)).map { k in
                var v: UInt64 = 0
                for b in 0..<8 { v |= UInt64(d[8 * k + b]) << (8 * UInt64(b)) }
                return Int(clamping: Int64(bitPattern: v)).clamped(to: Int(Int32.min)...Int(Int32.max))
            }
        default: throw EmberError.unsupported(node: node, reason: "\(what) of type \(t.dtype)")
        }
    }

    func activation(_ code: Int8, node: String) throws -> Activation {
        switch code {
        case 0: return .none
        case 1: return .relu
        case 2: return .reluN1To1
        case 3: return .relu6
        default: throw EmberError.unsupported(node: node, reason: "fused activation \(code) (TANH/SIGN_BIT)")
        }
    }

    func padding(_ code: Int8, node: String) throws -> Padding {
        switch code {
        case 0: return .same
        case 1: return .valid
        default: throw EmberError.unsupported(node: node, reason: "padding \(code)")
        }
    }

    // MARK: conversion

    /// The builtin codes of a subgraph's operators.
    func operatorCodes(_ sg: FBTable) throws -> [Int] {
        guard let ops = try sg.vector(3, elementSize: 4) else { return [] }
        return try (0..<ops.count).map { i in
            let op = try ops.table(i)
            let index = Int(try op.int(0, UInt32.self))
            guard index < opcodes.count else { throw fb.fail(op.position, "operator \(i) uses opcode \(index) of \(opcodes.count)") }
            return opcodes[index]
        }
    }

    mutating func run() throws -> Graph {
        guard try subgraph.vector(3, elementSize: 4) != nil else { throw fb.fail(subgraph.position, "subgraph has no operators") }
        // First pass: every unsupported op of every subgraph, counted, in one error.
        let allCodes = try subgraphTables.map { try operatorCodes($0) }
        var unsupported: [String: Int] = [:]
        for code in allCodes.joined() where TFLiteImporter.Builtin(rawValue: code) == nil {
            unsupported[TFLiteImporter.opName(code), default: 0] += 1
        }
        if !unsupported.isEmpty {
            let list = unsupported.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
            throw EmberError.unsupported(node: name, reason: "TFLite ops not supported yet: \(list)")
        }
        if subgraphTables.count > 1 && !allCodes[0].contains(TFLiteImporter.Builtin.while.rawValue) {
            // Other subgraphs reached by other means (IF, CALL_ONCE): packing only the first would be wrong.
            throw EmberError.unsupported(node: name, reason: "the model has \(subgraphTables.count) subgraphs; only single-subgraph models and WHILE loops with a trip count known at import are supported")
        }
        let codes = allCodes[0]
        guard let ops = try subgraph.vector(3, elementSize: 4) else { throw fb.fail(subgraph.position, "subgraph has no operators") }

        // Tensors read only as the weights or bias of a conv, depthwise, FC or transposed conv: a float16
        // constant behind DEQUANTIZE stays float16 there (the kernels read halves), so the model keeps
        // half the weight bytes, in the package and after load.
        var weightSlots: [Int: Bool] = [:]
        for i in 0..<ops.count {
            let inputs = try ops.table(i).ints(1, Int32.self) ?? []
            let code = TFLiteImporter.Builtin(rawValue: codes[i])
            for (slot, t) in inputs.enumerated() where t >= 0 {
                let weight: Bool
                switch code {
                case .conv2D?, .depthwiseConv2D?, .fullyConnected?: weight = slot == 1 || slot == 2
                case .transposeConv?: weight = slot == 1 || slot == 3
                default: weight = false
                }
                weightSlots[t] = (weightSlots[t] ?? true) && weight
            }
        }
        for o in try subgraph.ints(2, Int32.self) ?? [] { weightSlots[o] = false }
        halfWeights = Set(weightSlots.filter(\.value).keys)

        try convertOperators(subgraph)

        let graphInputs = try (subgraph.ints(1, Int32.self) ?? []).map { try value($0) }
        let graphOutputs = try (subgraph.ints(2, Int32.self) ?? []).map { try value($0) }
        // Drop values nothing uses (e.g. shape tensors read as parameters).
        let g = Graph(name: name, values: values, nodes: nodes, inputs: graphInputs, outputs: graphOutputs)
        _ = try g.validate(limits: limits)
        return g
    }

    /// Converts the operators of `sg` (whose tensors are `self.tensors`) in order.
    mutating func convertOperators(_ sg: FBTable) throws {
        guard let ops = try sg.vector(3, elementSize: 4) else { return }
        let codes = try operatorCodes(sg)
        for i in 0..<ops.count {
            let op = try ops.table(i)
            let inputs = try op.ints(1, Int32.self) ?? []
            let outputs = try op.ints(2, Int32.self) ?? []
            guard let code = TFLiteImporter.Builtin(rawValue: codes[i]) else { continue }
            if code == .split || code == .splitV {
                try convertSplit(code, options: try op.table(4), inputs: inputs, outputs: outputs)
                continue
            }
            if code == .unpack {
                try convertUnpack(options: try op.table(4), inputs: inputs, outputs: outputs)
                continue
            }
            if code == .while {
                try convertWhile(options: try op.table(4), inputs: inputs, outputs: outputs)
                continue
            }
            guard outputs.count == 1 else { throw EmberError.unsupported(node: "operator \(i)", reason: "\(code) with \(outputs.count) outputs") }
            let out = outputs[0]
            let nodeName = try tensor(out, "operator \(i) output").name
            if try foldIntegers(code, inputs: inputs, output: out) { continue }
            try convert(code, options: try op.table(4), inputs: inputs, output: out, node: nodeName)
        }
    }

    /// The most iterations of one WHILE that are unrolled.
    static let maxWhileIterations = 4096

    /// WHILE with a trip count that import-time folding can decide (loop counters of constants, as the
    /// TFLite converter writes for Keras RNNs): the condition subgraph is evaluated before each
    /// iteration and the body is inlined, its tensors renamed per iteration, until it is false.
    mutating func convertWhile(options o: FBTable?, inputs: [Int], outputs: [Int]) throws {
        let node = try outputs.first.map { try tensor($0, "WHILE output").name } ?? "while"
        let condIndex = Int(try o?.int(0, Int32.self) ?? -1), bodyIndex = Int(try o?.int(1, Int32.self) ?? -1)
        guard condIndex > 0, condIndex < subgraphTables.count, bodyIndex > 0, bodyIndex < subgraphTables.count,
              condIndex != bodyIndex, inputs.count == outputs.count else {
            throw EmberError.invalidGraph(node: node, reason: "WHILE refers to subgraphs \(condIndex) and \(bodyIndex) of \(subgraphTables.count) with \(inputs.count) inputs and \(outputs.count) outputs")
        }
        // Carried state: each tensor's record (constants keep their data) and its value, if it has one.
        var carried = try inputs.map { i -> (TensorRecord, ValueID?) in
            let t = try tensor(i, "WHILE input")
            return (t, t.data == nil ? try value(i) : valueOfTensor[i])
        }
        var iterations = 0
        while true {
            let test = try inline(subgraphTables[condIndex], carried: carried, label: "\(node)/cond\(iterations)")
            guard test.count == 1, let data = test[0].0.data, data.count >= 1, test[0].0.dtype == .bool else {
                throw EmberError.unsupported(node: node, reason: "WHILE whose condition is not known at import (only loops with a fixed trip count are unrolled)")
            }
            if data[0] == 0 { break }
            iterations += 1
            guard iterations <= Self.maxWhileIterations else {
                throw EmberError.limitExceeded(what: "WHILE '\(node)' iterations", needs: iterations, limit: Self.maxWhileIterations, unit: "iterations", hint: "")
            }
            carried = try inline(subgraphTables[bodyIndex], carried: carried, label: "\(node)/\(iterations - 1)")
            try LoadLimits.check("model '\(name)' after unrolling \(iterations) iterations of WHILE '\(node)'", needs: nodes.count,
                                 limit: limits.maxNodes, unit: "nodes")
            guard carried.count == outputs.count else {
                throw EmberError.invalidGraph(node: node, reason: "the WHILE body gives \(carried.count) values for \(outputs.count) outputs")
            }
        }
        let graphOutputs = Set(try subgraph.ints(2, Int32.self) ?? [])
        for (k, out) in outputs.enumerated() {
            let (record, v) = carried[k]
            let want = try tensor(out, "WHILE output")
            tensors[out] = TensorRecord(name: want.name, dtype: record.dtype, dims: record.dims, quant: record.quant, data: record.data)
            valueOfTensor[out] = nil
            guard let v else { continue }
            if graphOutputs.contains(out) {
                // A graph output keeps its own name: an identity reshape names the loop's last value.
                try emit(.reshape(record.dims), [v], output: out, node: want.name)
            } else {
                valueOfTensor[out] = v
            }
        }
    }

    /// Converts subgraph `sg` with its inputs bound to `carried`; returns its outputs the same way.
    mutating func inline(_ sg: FBTable, carried: [(TensorRecord, ValueID?)], label: String) throws -> [(TensorRecord, ValueID?)] {
        inlinedBodies += 1
        try LoadLimits.check("inlined subgraphs", needs: inlinedBodies, limit: 2 * Self.maxWhileIterations, unit: "subgraphs")
        let saved = (tensors, valueOfTensor, halfWeights, subgraph)
        defer { (tensors, valueOfTensor, halfWeights, subgraph) = saved }
        // Each subgraph is read (and its sparse constants densified) once; every inlining renames its tensors.
        if loadedSubgraphs[sg.position] == nil { loadedSubgraphs[sg.position] = try loadTensors(sg) }
        tensors = (loadedSubgraphs[sg.position] ?? []).map { t in
            TensorRecord(name: t.name + "@" + label, dtype: t.dtype, dims: t.dims, quant: t.quant, data: t.data)
        }
        valueOfTensor = [:]
        halfWeights = []
        subgraph = sg
        let ins = try sg.ints(1, Int32.self) ?? [], outs = try sg.ints(2, Int32.self) ?? []
        guard ins.count == carried.count else {
            throw EmberError.invalidGraph(node: label, reason: "subgraph takes \(ins.count) inputs, the loop carries \(carried.count)")
        }
        for (k, i) in ins.enumerated() {
            let t = try tensor(i, "subgraph input")
            let (record, v) = carried[k]
            guard record.dtype == t.dtype, elementCount(record.dims) == elementCount(t.dims) else {
                throw EmberError.invalidGraph(node: t.name, reason: "loop value \(record.dtype)\(formatDims(record.dims)) does not fit \(t.dtype)\(formatDims(t.dims))")
            }
            tensors[i] = TensorRecord(name: t.name, dtype: t.dtype, dims: t.dims, quant: record.quant, data: record.data)
            if let v { valueOfTensor[i] = v }
        }
        try convertOperators(sg)
        return try outs.map { o in (try tensor(o, "subgraph output"), valueOfTensor[o]) }
    }

    /// Integer arithmetic on constants (shape and loop-counter math) computed at import: the output
    /// becomes a constant. Only small int32/bool tensors; false when the op is not one of these.
    mutating func foldIntegers(_ code: TFLiteImporter.Builtin, inputs: [Int], output: Int) throws -> Bool {
        switch code {
        case .add, .sub, .mul, .less, .lessEqual, .greater, .greaterEqual, .equal, .notEqual, .reshape, .concatenation: break
        default: return false
        }
        let out = try tensor(output, "output")
        guard out.dtype == .i32 || out.dtype == .bool, let n = elementCount(out.dims), n <= 64 else { return false }
        var operands: [[Int32]] = []
        for (k, i) in inputs.enumerated() where i >= 0 {
            let t = try tensor(i, "input")
            guard let d = t.data, t.dtype == .i32, d.count == (elementCount(t.dims) ?? -1) * 4 else { return false }
            if code == .reshape && k == 1 { break }
            operands.append(try ints(i, "input", node: out.name).map { Int32(truncatingIfNeeded: $0) })
        }
        guard !operands.isEmpty else { return false }
        var result: [Int32]
        switch code {
        case .reshape: result = operands[0]
        case .concatenation:
            let dims = try inputs.map { try tensor($0, "input").dims }
            guard dims.allSatisfy({ $0.count <= 1 }) else { return false } // vectors only
            result = Array(operands.joined())
        default:
            guard operands.count == 2 else { return false }
            let a = operands[0], b = operands[1]
            guard a.count == n || a.count == 1, b.count == n || b.count == 1 else { return false }
            result = (0..<n).map { k in
                let x = a[a.count == 1 ? 0 : k], y = b[b.count == 1 ? 0 : k]
                switch code {
                case .add: return x &+ y
                case .sub: return x &- y
                case .mul: return x &* y
                case .less: return x < y ? 1 : 0
                case .lessEqual: return x <= y ? 1 : 0
                case .greater: return x > y ? 1 : 0
                case .greaterEqual: return x >= y ? 1 : 0
                case .equal: return x == y ? 1 : 0
                default: return x != y ? 1 : 0
                }
            }
        }
        guard result.count == n else { return false }
        let bytes: [UInt8] = out.dtype == .bool ? result.map { $0 != 0 ? 1 : 0 }
            : result.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        let c = ConstantData(copying: bytes)
        ownedConstants.append(c)
        tensors[output] = TensorRecord(name: out.name, dtype: out.dtype, dims: out.dims, quant: nil, data: c.bytes)
        valueOfTensor[output] = nil
        return true
    }

    /// SPLIT (axis, x) and SPLIT_V (x, sizes, axis) become one Slice per output.
    mutating func convertSplit(_ code: TFLiteImporter.Builtin, options: FBTable?, inputs: [Int], outputs: [Int]) throws {
        let node = try outputs.first.map { try tensor($0, "SPLIT output").name } ?? "split"
        guard inputs.count >= 2, !outputs.isEmpty else { throw EmberError.invalidGraph(node: node, reason: "\(code) needs an input, an axis and outputs") }
        let xIndex = code == .split ? inputs[1] : inputs[0]
        let axisIndex = code == .split ? inputs[0] : (inputs.count > 2 ? inputs[2] : -1)
        let x = try tensor(xIndex, "SPLIT input")
        guard let axisValue = try ints(axisIndex, "SPLIT axis", node: node).first else { throw EmberError.invalidGraph(node: node, reason: "empty axis") }
        let axis = axisValue < 0 ? axisValue + x.dims.count : axisValue
        guard axis >= 0, axis < x.dims.count else { throw EmberError.invalidGraph(node: node, reason: "axis \(axisValue) outside rank \(x.dims.count)") }
        var start = 0
        for out in outputs {
            let o = try tensor(out, "SPLIT output")
            guard o.dims.count == x.dims.count else { throw EmberError.invalidGraph(node: o.name, reason: "SPLIT output rank differs from its input") }
            var begin = [Int](repeating: 0, count: x.dims.count), end = x.dims
            begin[axis] = start
            end[axis] = start + o.dims[axis]
            start += o.dims[axis]
            try emit(.slice(begin: begin, end: end, strides: [Int](repeating: 1, count: x.dims.count)), [try value(xIndex)], output: out, node: o.name)
        }
        guard start == x.dims[axis] else { throw EmberError.invalidGraph(node: node, reason: "SPLIT outputs cover \(start) of \(x.dims[axis])") }
    }

    /// UNPACK: one Slice and Reshape (dropping the axis) per output.
    mutating func convertUnpack(options: FBTable?, inputs: [Int], outputs: [Int]) throws {
        let node = try outputs.first.map { try tensor($0, "UNPACK output").name } ?? "unpack"
        guard let xi = inputs.first, !outputs.isEmpty else { throw EmberError.invalidGraph(node: node, reason: "UNPACK needs an input and outputs") }
        let x = try tensor(xi, "UNPACK input")
        let axisValue = Int(try options?.int(1, Int32.self) ?? 0)
        let axis = axisValue < 0 ? axisValue + x.dims.count : axisValue
        guard axis >= 0, axis < x.dims.count, x.dims[axis] == outputs.count else {
            throw EmberError.invalidGraph(node: node, reason: "UNPACK of \(formatDims(x.dims)) along axis \(axisValue) into \(outputs.count) outputs")
        }
        for (k, out) in outputs.enumerated() {
            let o = try tensor(out, "UNPACK output")
            var begin = [Int](repeating: 0, count: x.dims.count), end = x.dims
            begin[axis] = k; end[axis] = k + 1
            var sliced = x.dims; sliced[axis] = 1
            let tmp = newValue("\(o.name)/slice", x.dtype, sliced, x.quant)
            nodes.append(Node(name: "\(o.name)/slice", op: .slice(begin: begin, end: end, strides: [Int](repeating: 1, count: x.dims.count)),
                              inputs: [try value(xi)], output: tmp))
            try emit(.reshape(o.dims), [tmp], output: out, node: o.name)
        }
    }

    /// An intermediate node of a lowering: a new value `name` of `dtype`/`dims`, computed by `op`.
    mutating func lower(_ op: Op, _ inputs: [ValueID?], _ name: String, _ dtype: DType, _ dims: [Int], quant: QuantParams? = nil) -> ValueID {
        let v = newValue(name, dtype, dims, quant)
        nodes.append(Node(name: name, op: op, inputs: inputs, output: v))
        return v
    }

    /// A scalar f32 constant.
    mutating func scalar(_ name: String, _ v: Float) -> ValueID {
        constant(name, .f32, [1], nil, withUnsafeBytes(of: v) { Array($0) })
    }

    mutating func emit(_ op: Op, _ inputs: [ValueID?], output: Int, node: String) throws {
        let out = try value(output)
        if inlinedBodies > 0 && subgraph.position != subgraphTables[0].position {
            // Inside a loop body the converter's declared shapes are placeholders (they change from
            // iteration to iteration): the output takes the shape the op gives.
            let infos = inputs.map { $0.map { TensorInfo(values[$0].dtype, values[$0].shape.upperBoundDims) } }
            let info = try op.outputInfo(inputs: infos, node: node, outputDType: values[out].dtype)
            values[out].shape = Shape(info.dims)
            let t = tensors[output]
            tensors[output] = TensorRecord(name: t.name, dtype: t.dtype, dims: info.dims, quant: t.quant, data: t.data)
        }
        nodes.append(Node(name: node, op: op, inputs: inputs, output: out))
    }

    mutating func convert(_ code: TFLiteImporter.Builtin, options: FBTable?, inputs: [Int], output: Int, node: String) throws {
        func input(_ k: Int) throws -> Int {
            guard k < inputs.count, inputs[k] >= 0 else { throw EmberError.invalidGraph(node: node, reason: "\(code) is missing input \(k)") }
            return inputs[k]
        }
        func optionalValue(_ k: Int) throws -> ValueID? {
            guard k < inputs.count, inputs[k] >= 0 else { return nil }
            return try value(inputs[k])
        }
        let outT = try tensor(output, "output")
        let o = options
        switch code {
        case .conv2D:
            // f32 input with int8 weights is a dynamic-range ("hybrid") conv; the kernel handles it.
            let attrs = Conv2DAttributes(
                strideH: Int(try o?.int(2, Int32.self, default: 1) ?? 1), strideW: Int(try o?.int(1, Int32.self, default: 1) ?? 1),
                dilationH: Int(try o?.int(5, Int32.self, default: 1) ?? 1), dilationW: Int(try o?.int(4, Int32.self, default: 1) ?? 1),
                padding: try padding(try o?.int(0, Int8.self) ?? 0, node: node), groups: 1,
                activation: try activation(try o?.int(3, Int8.self) ?? 0, node: node))
            try emit(.conv2D(attrs), [try value(input(0)), try value(input(1)), try optionalValue(2)], output: output, node: node)

        case .depthwiseConv2D:
            let x = try tensor(try input(0), "input")
            let wIndex = try input(1)
            let w = try tensor(wIndex, "filter")
            guard w.dims.count == 4, w.dims[0] == 1, x.dims.count == 4, let data = w.data else {
                throw EmberError.unsupported(node: node, reason: "DEPTHWISE_CONV_2D needs a constant [1,KH,KW,C*M] filter")
            }
            // TFLite [1,KH,KW,C*M] → Ember grouped conv [C*M,KH,KW,1], groups = C.
            let kh = w.dims[1], kw = w.dims[2], oc = w.dims[3]
            let es = w.dtype.traits.bytesPerBlock
            var bytes = [UInt8](repeating: 0, count: data.count)
            for y in 0..<kh { for xx in 0..<kw { for c in 0..<oc {
                let src = ((y * kw + xx) * oc + c) * es, dst = ((c * kh + y) * kw + xx) * es
                for b in 0..<es { bytes[dst + b] = data[src + b] }
            } } }
            var q = w.quant
            if let wq = q, !wq.isPerTensor { q = QuantParams(scales: wq.scales, zeroPoints: wq.zeroPoints, axis: 0) }
            let filter = constant(w.name, w.dtype, [oc, kh, kw, 1], q, bytes)
            let attrs = Conv2DAttributes(
                strideH: Int(try o?.int(2, Int32.self, default: 1) ?? 1), strideW: Int(try o?.int(1, Int32.self, default: 1) ?? 1),
                dilationH: Int(try o?.int(6, Int32.self, default: 1) ?? 1), dilationW: Int(try o?.int(5, Int32.self, default: 1) ?? 1),
                padding: try padding(try o?.int(0, Int8.self) ?? 0, node: node), groups: x.dims[3],
                activation: try activation(try o?.int(4, Int8.self) ?? 0, node: node))
            try emit(.conv2D(attrs), [try value(input(0)), filter, try optionalValue(2)], output: output, node: node)

        case .fullyConnected:
            guard (try o?.int(1, Int8.self) ?? 0) == 0 else { throw EmberError.unsupported(node: node, reason: "shuffled FULLY_CONNECTED weights") }
            let xi = try input(0)
            let x = try tensor(xi, "input"), w = try tensor(try input(1), "weights")
            let asymmetricFlag = try o?.bool(3) ?? false
            let asymmetricInputs = x.dtype == .f32 && w.dtype == .i8 && asymmetricFlag
            // Dynamic-range ("hybrid") FC: symmetric or asymmetric input rows, one or per-channel weight scales.
            if x.dtype == .f32 && w.dtype == .i8, let q = w.quant, !q.isPerTensor, q.axis != 0 {
                throw EmberError.unsupported(node: node, reason: "hybrid FULLY_CONNECTED with weight scales along axis \(q.axis ?? -1)")
            }
            guard w.dims.count == 2, w.dims[1] > 0 else { throw EmberError.invalidGraph(node: node, reason: "weights must be [N,K]") }
            let k = w.dims[1], n = w.dims[0]
            var xv = try value(xi)
            let total = elementCount(x.dims) ?? 0
            guard total % k == 0 else { throw EmberError.invalidGraph(node: node, reason: "input \(formatDims(x.dims)) is not a multiple of \(k) features") }
            if x.dims.last != k || x.dims.count != 2 {
                let flat = newValue("\(node)/flatten", x.dtype, [total / k, k], x.quant)
                nodes.append(Node(name: "\(node)/flatten", op: .reshape([total / k, k]), inputs: [xv], output: flat))
                xv = flat
            }
            let act = try activation(try o?.int(0, Int8.self) ?? 0, node: node)
            let fc: Op = asymmetricInputs ? .fullyConnectedAsymmetricInputs(act) : .fullyConnected(act)
            if outT.dims == [total / k, n] {
                try emit(fc, [xv, try value(input(1)), try optionalValue(2)], output: output, node: node)
            } else {
                let tmp = newValue("\(node)/fc", outT.dtype, [total / k, n], outT.quant)
                nodes.append(Node(name: "\(node)/fc", op: fc, inputs: [xv, try value(input(1)), try optionalValue(2)], output: tmp))
                try emit(.reshape(outT.dims), [tmp], output: output, node: node)
            }

        case .averagePool2D, .maxPool2D:
            let p = Pool2DAttributes(
                kernelH: Int(try o?.int(4, Int32.self) ?? 1), kernelW: Int(try o?.int(3, Int32.self) ?? 1),
                strideH: Int(try o?.int(2, Int32.self) ?? 1), strideW: Int(try o?.int(1, Int32.self) ?? 1),
                padding: try padding(try o?.int(0, Int8.self) ?? 0, node: node),
                activation: try activation(try o?.int(5, Int8.self) ?? 0, node: node))
            try emit(code == .averagePool2D ? .averagePool2D(p) : .maxPool2D(p), [try value(input(0))], output: output, node: node)

        case .reshape, .squeeze, .expandDims:
            try emit(.reshape(outT.dims), [try value(input(0))], output: output, node: node)

        case .softmax:
            try emit(.softmax(axis: -1, beta: try o?.float(0, default: 1) ?? 1), [try value(input(0))], output: output, node: node)

        case .add, .sub, .mul, .div:
            let act = try activation(try o?.int(0, Int8.self) ?? 0, node: node)
            let op: Op = code == .add ? .add(act) : code == .sub ? .sub(act) : code == .mul ? .mul(act) : .div(act)
            try emit(op, [try value(input(0)), try value(input(1))], output: output, node: node)

        case .mean:
            let axes = try ints(try input(1), "MEAN axes", node: node)
            try emit(.mean(axes: axes, keepDims: try o?.bool(0) ?? false), [try value(input(0))], output: output, node: node)

        case .concatenation:
            guard (try o?.int(1, Int8.self) ?? 0) == 0 else { throw EmberError.unsupported(node: node, reason: "CONCATENATION with a fused activation") }
            try emit(.concat(axis: Int(try o?.int(0, Int32.self) ?? 0)), try inputs.map { try value($0) }, output: output, node: node)

        case .pad, .padV2:
            let x = try tensor(try input(0), "input")
            let pads = try ints(try input(1), "paddings", node: node)
            guard pads.count == 2 * x.dims.count else { throw EmberError.invalidGraph(node: node, reason: "paddings must be [\(x.dims.count),2]") }
            if code == .padV2, inputs.count > 2, let v = try tensor(try input(2), "pad value").data, v.allSatisfy({ $0 == 0 }) == false {
                // The constant must encode real zero for our Pad.
                let t = try tensor(try input(2), "pad value")
                let isZero = t.dtype.isQuantized8 ? Int32(Int8(bitPattern: v[0])) == (t.quant?.zeroPoint ?? 0) : false
                if !isZero { throw EmberError.unsupported(node: node, reason: "PADV2 with a non-zero pad value") }
            }
            try emit(.pad(before: stride(from: 0, to: pads.count, by: 2).map { pads[$0] },
                          after: stride(from: 1, to: pads.count, by: 2).map { pads[$0] }),
                     [try value(input(0))], output: output, node: node)

        case .transpose:
            try emit(.transpose(perm: try ints(try input(1), "perm", node: node)), [try value(input(0))], output: output, node: node)

        case .stridedSlice:
            let x = try tensor(try input(0), "input")
            var begin = try ints(try input(1), "begin", node: node)
            var end = try ints(try input(2), "end", node: node)
            let strides = try ints(try input(3), "strides", node: node)
            let r = x.dims.count
            guard begin.count == r, end.count == r, strides.count == r else { throw EmberError.unsupported(node: node, reason: "STRIDED_SLICE with partial begin/end") }
            let beginMask = Int(try o?.int(0, Int32.self) ?? 0), endMask = Int(try o?.int(1, Int32.self) ?? 0)
            let ellipsis = try o?.int(2, Int32.self) ?? 0, newAxis = try o?.int(3, Int32.self) ?? 0
            let shrink = Int(try o?.int(4, Int32.self) ?? 0)
            guard ellipsis == 0, newAxis == 0 else { throw EmberError.unsupported(node: node, reason: "STRIDED_SLICE with ellipsis or new-axis masks") }
            for d in 0..<r {
                if beginMask & (1 << d) != 0 { begin[d] = strides[d] > 0 ? 0 : Int(Int32.max) }
                if endMask & (1 << d) != 0 { end[d] = strides[d] > 0 ? Int(Int32.max) : Int(Int32.min) }
                if shrink & (1 << d) != 0 { end[d] = begin[d] == -1 ? Int(Int32.max) : begin[d] + 1 }
            }
            var sliced = [Int]()
            for d in 0..<r {
                guard let s = sliceAxis(dim: x.dims[d], begin: begin[d], end: end[d], stride: strides[d]) else { throw EmberError.invalidGraph(node: node, reason: "stride 0") }
                sliced.append(s.count)
            }
            if sliced == outT.dims {
                try emit(.slice(begin: begin, end: end, strides: strides), [try value(input(0))], output: output, node: node)
            } else {
                let tmp = newValue("\(node)/slice", x.dtype, sliced, x.quant)
                nodes.append(Node(name: "\(node)/slice", op: .slice(begin: begin, end: end, strides: strides), inputs: [try value(input(0))], output: tmp))
                try emit(.reshape(outT.dims), [tmp], output: output, node: node)
            }

        case .logistic: try emit(.sigmoid, [try value(input(0))], output: output, node: node)
        case .tanh: try emit(.tanh, [try value(input(0))], output: output, node: node)
        case .relu: try emit(.relu, [try value(input(0))], output: output, node: node)
        case .relu6: try emit(.relu6, [try value(input(0))], output: output, node: node)
        case .hardSwish: try emit(.hardSwish, [try value(input(0))], output: output, node: node)
        case .leakyRelu: try emit(.leakyRelu(alpha: try o?.float(0, default: 0.2) ?? 0.2), [try value(input(0))], output: output, node: node)

        case .quantize:
            try emit(.quantize(outT.dtype), [try value(input(0))], output: output, node: node)

        case .dequantize:
            let xi = try input(0)
            let x = try tensor(xi, "input")
            if let data = x.data, x.dtype == .f16, halfWeights.contains(output) {
                // float16 weights stay halves: the layer reading them widens them in registers.
                let halves = ConstantData(copying: Array(data))
                values.append(Value(name: outT.name, dtype: .f16, shape: Shape(outT.dims), quant: nil, constant: halves))
                valueOfTensor[output] = values.count - 1
                tensors[output] = TensorRecord(name: outT.name, dtype: .f16, dims: outT.dims, quant: nil, data: halves.bytes)
            } else if x.data != nil {
                // Fold DEQUANTIZE of a constant (float16 or int8 weights) into an f32 constant.
                guard x.dtype == .f16 || x.dtype == .i8 else {
                    throw EmberError.unsupported(node: node, reason: "DEQUANTIZE of a \(x.dtype) constant")
                }
                let floats = try constantFloats(xi, "input", node: node)
                let folded = ConstantData(copying: floats.withUnsafeBytes { Array($0) })
                values.append(Value(name: outT.name, dtype: .f32, shape: Shape(outT.dims), quant: nil, constant: folded))
                valueOfTensor[output] = values.count - 1
                // Later operators that read a constant at import (a depthwise filter, a shape) see the folded one.
                tensors[output] = TensorRecord(name: outT.name, dtype: .f32, dims: outT.dims, quant: nil, data: folded.bytes)
            } else {
                try emit(.dequantize, [try value(xi)], output: output, node: node)
            }

        case .maximum, .minimum:
            try emit(code == .maximum ? .maximum : .minimum, [try value(input(0)), try value(input(1))], output: output, node: node)

        case .densify:
            // Its input was densified when the tensors were read: the output is that constant.
            let xi = try input(0)
            guard try tensor(xi, "input").data != nil else {
                throw EmberError.unsupported(node: node, reason: "DENSIFY of a tensor that is not a sparse constant")
            }
            valueOfTensor[output] = try value(xi)
            tensors[output] = try tensor(xi, "input")

        case .prelu:
            // x ≥ 0 ? x : alpha·x, alpha broadcast (typically one slope per channel, [1,1,C]).
            let x = try tensor(try input(0), "input")
            guard x.dtype == .f32 || x.dtype == .i8 else {
                throw EmberError.unsupported(node: node, reason: "PRELU on \(x.dtype) tensors (float and int8 are supported)")
            }
            try emit(.prelu, [try value(input(0)), try value(input(1))], output: output, node: node)

        case .resizeBilinear, .resizeNearestNeighbor:
            guard outT.dims.count == 4 else { throw EmberError.invalidGraph(node: node, reason: "\(code) output must be NHWC") }
            let bilinear = code == .resizeBilinear
            let attrs = ResizeAttributes(height: outT.dims[1], width: outT.dims[2], bilinear: bilinear,
                                         alignCorners: try o?.bool(bilinear ? 2 : 0) ?? false,
                                         halfPixelCenters: try o?.bool(bilinear ? 3 : 1) ?? false)
            try emit(.resize(attrs), [try value(input(0))], output: output, node: node)

        case .slice:
            let x = try tensor(try input(0), "input")
            let begin = try ints(try input(1), "begin", node: node), size = try ints(try input(2), "size", node: node)
            guard begin.count == x.dims.count, size.count == x.dims.count else { throw EmberError.invalidGraph(node: node, reason: "SLICE begin/size must have rank \(x.dims.count)") }
            let end = zip(begin, size).map { b, n in n < 0 ? Int(Int32.max) : b + n }
            try emit(.slice(begin: begin, end: end, strides: [Int](repeating: 1, count: begin.count)), [try value(input(0))], output: output, node: node)

        case .split, .splitV:
            throw EmberError.invalidGraph(node: node, reason: "SPLIT is converted elsewhere")

        case .batchMatMul:
            let adjX = try o?.bool(0) ?? false, adjY = try o?.bool(1) ?? false
            func transposed(_ k: Int) throws -> ValueID {
                let t = try tensor(try input(k), "input")
                var v = try value(try input(k))
                if (k == 0 ? adjX : adjY) {
                    let r = t.dims.count
                    guard r >= 2 else { throw EmberError.invalidGraph(node: node, reason: "BATCH_MATMUL input rank < 2") }
                    var perm = Array(0..<r); perm.swapAt(r - 1, r - 2)
                    let dims = perm.map { t.dims[$0] }
                    let tv = newValue("\(node)/adj\(k)", t.dtype, dims, t.quant)
                    nodes.append(Node(name: "\(node)/adj\(k)", op: .transpose(perm: perm), inputs: [v], output: tv))
                    v = tv
                }
                return v
            }
            try emit(.matMul, [try transposed(0), try transposed(1)], output: output, node: node)

        case .abs, .neg, .sqrt, .rsqrt, .exp, .log, .floor, .ceil, .round, .square, .elu, .sin, .cos, .reluN1To1:
            let f: UnaryFunction
            switch code {
            case .abs: f = .abs
            case .neg: f = .neg
            case .sqrt: f = .sqrt
            case .rsqrt: f = .rsqrt
            case .exp: f = .exp
            case .log: f = .log
            case .floor: f = .floor
            case .ceil: f = .ceil
            case .round: f = .round
            case .square: f = .square
            case .elu: f = .elu
            case .sin: f = .sin
            case .cos: f = .cos
            default: f = .reluN1To1
            }
            try emit(.unary(f), [try value(input(0))], output: output, node: node)

        case .gelu:
            let approximate = try o?.bool(0) ?? false
            try emit(approximate ? .unary(.geluTanh) : .gelu, [try value(input(0))], output: output, node: node)

        case .pow, .squaredDifference, .floorDiv, .floorMod:
            let f: BinaryFunction = code == .pow ? .pow : code == .squaredDifference ? .squaredDifference
                : code == .floorDiv ? .floorDiv : .floorMod
            try emit(.binary(f), [try value(input(0)), try value(input(1))], output: output, node: node)

        case .less, .lessEqual, .greater, .greaterEqual, .equal, .notEqual:
            let f: Comparison = code == .less ? .less : code == .lessEqual ? .lessEqual : code == .greater ? .greater
                : code == .greaterEqual ? .greaterEqual : code == .equal ? .equal : .notEqual
            try emit(.compare(f), [try value(input(0)), try value(input(1))], output: output, node: node)

        case .logicalAnd, .logicalOr:
            try emit(.logical(code == .logicalAnd ? .and : .or), [try value(input(0)), try value(input(1))], output: output, node: node)
        case .logicalNot:
            try emit(.logical(.not), [try value(input(0))], output: output, node: node)

        case .sum, .reduceMax, .reduceMin, .reduceProd:
            let axes = try ints(try input(1), "\(code) axes", node: node)
            let f: Reduction = code == .sum ? .sum : code == .reduceMax ? .max : code == .reduceMin ? .min : .prod
            let x = try tensor(try input(0), "input")
            if x.dtype.isQuantized8 {
                throw EmberError.unsupported(node: node, reason: "\(code) on \(x.dtype) tensors (float, int32 and int64 are supported)")
            }
            try emit(.reduce(f, axes: axes, keepDims: try o?.bool(0) ?? false), [try value(input(0))], output: output, node: node)

        case .argMax, .argMin:
            guard let axis = try ints(try input(1), "\(code) axis", node: node).first else {
                throw EmberError.invalidGraph(node: node, reason: "\(code) has an empty axis tensor")
            }
            guard outT.dtype == .i32 || outT.dtype == .i64 else {
                throw EmberError.unsupported(node: node, reason: "\(code) with \(outT.dtype) output (i32 or i64)")
            }
            try emit(.argReduce(largest: code == .argMax, axis: axis, output: outT.dtype), [try value(input(0))], output: output, node: node)

        case .select, .selectV2:
            var cond = try value(input(0))
            let c = try tensor(try input(0), "condition"), x = try tensor(try input(1), "x")
            if code == .select, c.dims.count == 1, x.dims.count > 1, c.dims[0] == x.dims[0] {
                // SELECT (v1) with a rank-1 condition picks whole rows: broadcast it over the rest.
                let dims = [c.dims[0]] + [Int](repeating: 1, count: x.dims.count - 1)
                cond = lower(.reshape(dims), [cond], "\(node)/condition", .bool, dims)
            }
            try emit(.select, [cond, try value(input(1)), try value(input(2))], output: output, node: node)

        case .cast:
            try emit(.cast(outT.dtype), [try value(input(0))], output: output, node: node)

        case .gather:
            guard (try o?.int(1, Int32.self) ?? 0) == 0 else {
                throw EmberError.unsupported(node: node, reason: "GATHER with batch_dims (0 is supported)")
            }
            let axis = Int(try o?.int(0, Int32.self) ?? 0)
            try emit(.gather(axis: axis), [try value(input(0)), try value(input(1))], output: output, node: node)

        case .tile:
            try emit(.tile(multiples: try ints(try input(1), "TILE multiples", node: node)), [try value(input(0))],
                     output: output, node: node)

        case .broadcastTo:
            // A reshape to the output's rank, then a tile by the ratio of the dims.
            let x = try tensor(try input(0), "input")
            guard x.dims.count <= outT.dims.count else { throw EmberError.invalidGraph(node: node, reason: "BROADCAST_TO to a lower rank") }
            let aligned = [Int](repeating: 1, count: outT.dims.count - x.dims.count) + x.dims
            var multiples: [Int] = []
            for (d, t) in zip(aligned, outT.dims) {
                guard d == t || d == 1 else { throw EmberError.invalidGraph(node: node, reason: "\(formatDims(x.dims)) does not broadcast to \(formatDims(outT.dims))") }
                multiples.append(d == t ? 1 : t)
            }
            var v = try value(input(0))
            if aligned != x.dims { v = lower(.reshape(aligned), [v], "\(node)/reshape", x.dtype, aligned, quant: x.quant) }
            try emit(.tile(multiples: multiples), [v], output: output, node: node)

        case .mirrorPad:
            let x = try tensor(try input(0), "input")
            let pads = try ints(try input(1), "paddings", node: node)
            guard pads.count == 2 * x.dims.count else { throw EmberError.invalidGraph(node: node, reason: "paddings must be [\(x.dims.count),2]") }
            let reflect = (try o?.int(0, Int8.self) ?? 0) == 0
            try emit(.mirrorPad(before: stride(from: 0, to: pads.count, by: 2).map { pads[$0] },
                                after: stride(from: 1, to: pads.count, by: 2).map { pads[$0] }, reflect: reflect),
                     [try value(input(0))], output: output, node: node)

        case .transposeConv:
            // inputs: output_shape, weights [O,KH,KW,C], input, bias (optional).
            let w = try tensor(try input(1), "weights"), x = try tensor(try input(2), "input")
            guard w.dims.count == 4, x.dims.count == 4, outT.dims.count == 4 else {
                throw EmberError.invalidGraph(node: node, reason: "TRANSPOSE_CONV needs NHWC input and output and a [O,KH,KW,C] filter")
            }
            let strideH = Int(try o?.int(2, Int32.self, default: 1) ?? 1), strideW = Int(try o?.int(1, Int32.self, default: 1) ?? 1)
            guard strideH >= 1, strideW >= 1 else { throw EmberError.invalidGraph(node: node, reason: "TRANSPOSE_CONV stride must be >= 1") }
            let same = try padding(try o?.int(0, Int8.self) ?? 0, node: node) == .same
            // TFLite's padding: that of the forward conv from the output size back to the input (ComputePaddingHeightWidth).
            func pad(_ out: Int, _ kernel: Int, _ stride: Int) -> Int {
                let forward = same ? (out + stride - 1) / stride : (out - kernel + stride) / stride
                return max(0, (forward - 1) * stride + kernel - out) / 2
            }
            let attrs = TransposeConv2DAttributes(outputHeight: outT.dims[1], outputWidth: outT.dims[2], strideH: strideH, strideW: strideW,
                                                  padTop: pad(outT.dims[1], w.dims[1], strideH), padLeft: pad(outT.dims[2], w.dims[2], strideW),
                                                  activation: try activation(try o?.int(3, Int8.self) ?? 0, node: node))
            try emit(.transposeConv2D(attrs), [try value(input(2)), try value(input(1)), try optionalValue(3)], output: output, node: node)

        case .depthToSpace, .spaceToDepth:
            // Both are a reshape to rank 6, a transpose of the two middle axes, and a reshape back.
            let x = try tensor(try input(0), "input")
            let bs = Int(try o?.int(0, Int32.self) ?? 0)
            guard x.dims.count == 4, bs >= 1 else { throw EmberError.invalidGraph(node: node, reason: "\(code) needs NHWC input and block_size >= 1") }
            let n = x.dims[0], h = x.dims[1], w = x.dims[2], c = x.dims[3]
            let split: [Int]
            if code == .depthToSpace {
                guard c % (bs * bs) == 0 else { throw EmberError.invalidGraph(node: node, reason: "channels \(c) not divisible by \(bs * bs)") }
                split = [n, h, w, bs, bs, c / (bs * bs)]
            } else {
                guard h % bs == 0, w % bs == 0 else { throw EmberError.invalidGraph(node: node, reason: "\(h)x\(w) not divisible by \(bs)") }
                split = [n, h / bs, bs, w / bs, bs, c]
            }
            let perm = [0, 1, 3, 2, 4, 5]
            let r = lower(.reshape(split), [try value(input(0))], "\(node)/split", x.dtype, split, quant: x.quant)
            let t = lower(.transpose(perm: perm), [r], "\(node)/transpose", x.dtype, perm.map { split[$0] }, quant: x.quant)
            try emit(.reshape(outT.dims), [t], output: output, node: node)

        case .spaceToBatchND, .batchToSpaceND:
            try spaceBatchLowering(code, inputs: inputs, node: node, output: output, outT: outT)

        case .gatherND:
            try gatherNDLowering(inputs: inputs, node: node, output: output, outT: outT)

        case .pack:
            // Each input gains a size-1 axis, then they are concatenated along it.
            let axisValue = Int(try o?.int(1, Int32.self) ?? 0)
            let rank = outT.dims.count
            let axis = axisValue < 0 ? axisValue + rank : axisValue
            guard axis >= 0, axis < rank else { throw EmberError.invalidGraph(node: node, reason: "PACK axis \(axisValue) outside rank \(rank)") }
            let parts = try inputs.enumerated().map { k, i -> ValueID in
                let t = try tensor(i, "PACK input")
                var dims = t.dims; dims.insert(1, at: min(axis, dims.count))
                return lower(.reshape(dims), [try value(i)], "\(node)/\(k)", t.dtype, dims, quant: t.quant)
            }
            try emit(.concat(axis: axis), parts, output: output, node: node)

        case .shape:
            // Shapes are static here: SHAPE is a constant.
            let x = try tensor(try input(0), "input")
            let bytes: [UInt8]
            if outT.dtype == .i64 {
                bytes = x.dims.flatMap { d in withUnsafeBytes(of: Int64(d).littleEndian) { Array($0) } }
            } else {
                bytes = x.dims.flatMap { d in withUnsafeBytes(of: Int32(d).littleEndian) { Array($0) } }
            }
            let v = constant(outT.name, outT.dtype == .i64 ? .i64 : .i32, [x.dims.count], nil, bytes)
            valueOfTensor[output] = v
            tensors[output] = TensorRecord(name: outT.name, dtype: outT.dtype == .i64 ? .i64 : .i32, dims: [x.dims.count],
                                           quant: nil, data: values[v].constant?.bytes)

        case .l2Normalization:
            // x / sqrt(max(sum(x²), 1e-6)) over the last axis (TFLite's epsilon), in float.
            let x = try tensor(try input(0), "input")
            guard x.dtype == .f32 else { throw EmberError.unsupported(node: node, reason: "L2_NORMALIZATION on \(x.dtype) (float is supported)") }
            guard (try o?.int(0, Int8.self) ?? 0) == 0 else {
                throw EmberError.unsupported(node: node, reason: "L2_NORMALIZATION with a fused activation")
            }
            let xv = try value(input(0)), r = x.dims.count
            var kept = x.dims; kept[r - 1] = 1
            let sq = lower(.unary(.square), [xv], "\(node)/square", .f32, x.dims)
            let sum = lower(.reduce(.sum, axes: [r - 1], keepDims: true), [sq], "\(node)/sum", .f32, kept)
            let floorV = lower(.maximum, [sum, scalar("\(node)/epsilon", 1e-6)], "\(node)/max", .f32, kept)
            let inv = lower(.unary(.rsqrt), [floorV], "\(node)/rsqrt", .f32, kept)
            try emit(.mul(.none), [xv, inv], output: output, node: node)

        case .logSoftmax:
            // x - max - log(sum(exp(x - max))) over the last axis, in float.
            let x = try tensor(try input(0), "input")
            guard x.dtype == .f32 else { throw EmberError.unsupported(node: node, reason: "LOG_SOFTMAX on \(x.dtype) (float is supported)") }
            let xv = try value(input(0)), r = x.dims.count
            var kept = x.dims; kept[r - 1] = 1
            let mx = lower(.reduce(.max, axes: [r - 1], keepDims: true), [xv], "\(node)/max", .f32, kept)
            let shifted = lower(.sub(.none), [xv, mx], "\(node)/shifted", .f32, x.dims)
            let e = lower(.unary(.exp), [shifted], "\(node)/exp", .f32, x.dims)
            let sum = lower(.reduce(.sum, axes: [r - 1], keepDims: true), [e], "\(node)/sum", .f32, kept)
            let lg = lower(.unary(.log), [sum], "\(node)/log", .f32, kept)
            try emit(.sub(.none), [shifted, lg], output: output, node: node)

        case .unpack:
            throw EmberError.invalidGraph(node: node, reason: "UNPACK is converted elsewhere")

        case .unidirectionalSequenceLSTM:
            try convertLSTM(options: o, inputs: inputs, output: output, node: node)

        case .while:
            throw EmberError.invalidGraph(node: node, reason: "WHILE is converted elsewhere")
        }
    }
}

extension Comparable {
    func clamped(to r: ClosedRange<Self>) -> Self { min(max(self, r.lowerBound), r.upperBound) }
}
