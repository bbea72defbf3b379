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
        case dequantize = 6, fullyConnected = 9, logistic = 14, maxPool2D = 17, mul = 18
        case relu = 19, relu6 = 21, reshape = 22, softmax = 25, tanh = 28, pad = 34
        case transpose = 39, mean = 40, sub = 41, div = 42, squeeze = 43, stridedSlice = 45
        case padV2 = 60, expandDims = 70, leakyRelu = 98, quantize = 114, hardSwish = 117
        case batchMatMul = 126
        case resizeBilinear = 23, split = 49, maximum = 55, minimum = 57, slice = 65
        case resizeNearestNeighbor = 97, splitV = 102, prelu = 54, densify = 124
    }

    /// Names of other builtin codes, for the "unsupported" report.
    static let otherNames: [Int: String] = [
        5: "DEPTH_TO_SPACE", 7: "EMBEDDING_LOOKUP", 8: "FLOOR", 11: "L2_NORMALIZATION", 12: "L2_POOL_2D",
        13: "LOCAL_RESPONSE_NORMALIZATION", 16: "LSTM", 20: "RELU_N1_TO_1", 24: "RNN",
        26: "SPACE_TO_DEPTH", 32: "CUSTOM", 36: "GATHER", 37: "BATCH_TO_SPACE_ND", 38: "SPACE_TO_BATCH_ND",
        44: "UNIDIRECTIONAL_SEQUENCE_LSTM", 47: "EXP", 50: "LOG_SOFTMAX", 53: "CAST",
        56: "ARG_MAX", 59: "NEG", 67: "TRANSPOSE_CONV", 69: "TILE",
        74: "SUM", 75: "SQRT", 76: "RSQRT", 77: "SHAPE", 78: "POW", 82: "REDUCE_MAX", 83: "PACK", 88: "UNPACK",
        92: "SQUARE", 99: "SQUARED_DIFFERENCE", 100: "MIRROR_PAD", 101: "ABS",
        111: "ELU", 150: "GELU",
    ]

    static func opName(_ code: Int) -> String {
        if let b = Builtin(rawValue: code) { return "\(b)" }
        return otherNames[code] ?? "BUILTIN_\(code)"
    }

    /// `limits` bound what the model may ask for (tensor elements, values, nodes);
    /// the graph is validated against them, as the package reader will.
    public static func importModel(_ bytes: UnsafeRawBufferPointer, name: String, limits: LoadLimits = LoadLimits()) throws -> Graph {
        var importer = try Importer(FlatBuffer(bytes, format: "TFLite"), name: name, limits: limits)
        return try importer.run()
    }
}

private struct TensorRecord {
    var name: String
    var dtype: DType
    var dims: [Int]
    var quant: QuantParams?
    var data: UnsafeRawBufferPointer?
}

private struct Importer {
    let fb: FlatBuffer
    let name: String
    let limits: LoadLimits
    var tensors: [TensorRecord] = []
    var subgraph: FBTable
    var opcodes: [Int] = []
    // IR being built.
    var values: [Value] = []
    var nodes: [Node] = []
    var valueOfTensor: [Int: ValueID] = [:]
    /// Bytes made at import (densified sparse constants) that tensor records point into.
    var ownedConstants: [ConstantData] = []

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
        guard subgraphs.count == 1 else {
            // Control flow (WHILE, IF, CALL_ONCE) lives in the other subgraphs; packing only the first would be wrong.
            throw EmberError.unsupported(node: name, reason: "the model has \(subgraphs.count) subgraphs; only single-subgraph models are supported (no control flow ops)")
        }
        subgraph = try subgraphs.table(0)
        let buffers = try model.vector(4, elementSize: 4)
        guard let ts = try subgraph.vector(0, elementSize: 4) else { throw fb.fail(subgraph.position, "subgraph has no tensors") }
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

    mutating func run() throws -> Graph {
        guard let ops = try subgraph.vector(3, elementSize: 4) else { throw fb.fail(subgraph.position, "subgraph has no operators") }
        // First pass: every unsupported op, counted, in one error.
        var unsupported: [String: Int] = [:]
        var codes: [Int] = []
        for i in 0..<ops.count {
            let op = try ops.table(i)
            let index = Int(try op.int(0, UInt32.self))
            guard index < opcodes.count else { throw fb.fail(op.position, "operator \(i) uses opcode \(index) of \(opcodes.count)") }
            codes.append(opcodes[index])
            if TFLiteImporter.Builtin(rawValue: opcodes[index]) == nil {
                unsupported[TFLiteImporter.opName(opcodes[index]), default: 0] += 1
            }
        }
        if !unsupported.isEmpty {
            let list = unsupported.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
            throw EmberError.unsupported(node: name, reason: "TFLite ops not supported yet: \(list)")
        }

        for i in 0..<ops.count {
            let op = try ops.table(i)
            let inputs = try op.ints(1, Int32.self) ?? []
            let outputs = try op.ints(2, Int32.self) ?? []
            guard let code = TFLiteImporter.Builtin(rawValue: codes[i]) else { continue }
            if code == .split || code == .splitV {
                try convertSplit(code, options: try op.table(4), inputs: inputs, outputs: outputs)
                continue
            }
            guard outputs.count == 1 else { throw EmberError.unsupported(node: "operator \(i)", reason: "\(code) with \(outputs.count) outputs") }
            let out = outputs[0]
            let nodeName = try tensor(out, "operator \(i) output").name
            try convert(code, options: try op.table(4), inputs: inputs, output: out, node: nodeName)
        }

        let graphInputs = try (subgraph.ints(1, Int32.self) ?? []).map { try value($0) }
        let graphOutputs = try (subgraph.ints(2, Int32.self) ?? []).map { try value($0) }
        // Drop values nothing uses (e.g. shape tensors read as parameters).
        let g = Graph(name: name, values: values, nodes: nodes, inputs: graphInputs, outputs: graphOutputs)
        _ = try g.validate(limits: limits)
        return g
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

    mutating func emit(_ op: Op, _ inputs: [ValueID?], output: Int, node: String) throws {
        nodes.append(Node(name: node, op: op, inputs: inputs, output: try value(output)))
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
            if x.dtype == .f32 && w.dtype == .i8 {
                throw EmberError.unsupported(node: node, reason: "DEPTHWISE_CONV_2D with int8 weights on float activations (hybrid) is not supported yet")
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
            if x.dtype == .f32 && w.dtype == .i8 {
                // Dynamic-range ("hybrid") FC: supported with symmetric input quantization and one weight scale.
                if try o?.bool(3) ?? false {
                    throw EmberError.unsupported(node: node, reason: "hybrid FULLY_CONNECTED with asymmetric_quantize_inputs (symmetric is supported)")
                }
                if let q = w.quant, !q.isPerTensor {
                    throw EmberError.unsupported(node: node, reason: "hybrid FULLY_CONNECTED with per-channel weight scales (one scale is supported)")
                }
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
            if outT.dims == [total / k, n] {
                try emit(.fullyConnected(act), [xv, try value(input(1)), try optionalValue(2)], output: output, node: node)
            } else {
                let tmp = newValue("\(node)/fc", outT.dtype, [total / k, n], outT.quant)
                nodes.append(Node(name: "\(node)/fc", op: .fullyConnected(act), inputs: [xv, try value(input(1)), try optionalValue(2)], output: tmp))
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
            if let data = x.data {
                // Fold DEQUANTIZE of a constant (float16 or int8 weights) into an f32 constant.
                let n = elementCount(x.dims) ?? 0
                var floats = [Float](repeating: 0, count: n)
                switch x.dtype {
                case .f16:
                    for k in 0..<n { floats[k] = Float(Float16(bitPattern: UInt16(data[2 * k]) | UInt16(data[2 * k + 1]) << 8)) }
                case .i8:
                    guard let q = x.quant else { throw EmberError.invalidGraph(node: node, reason: "int8 constant without quantization") }
                    let inner = q.axis.map { a in x.dims[(a + 1)...].reduce(1, *) } ?? 1
                    for k in 0..<n {
                        let c = q.isPerTensor ? 0 : (k / inner) % q.scales.count
                        floats[k] = q.scales[c] * Float(Int32(Int8(bitPattern: data[k])) - q.zeroPoints[c])
                    }
                default: throw EmberError.unsupported(node: node, reason: "DEQUANTIZE of a \(x.dtype) constant")
                }
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
            guard x.dtype == .f32 else {
                throw EmberError.unsupported(node: node, reason: "PRELU on \(x.dtype) tensors (float PRELU is supported)")
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
        }
    }
}

extension Comparable {
    func clamped(to r: ClosedRange<Self>) -> Self { min(max(self, r.lowerBound), r.upperBound) }
}
