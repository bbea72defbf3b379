/// One op, one place: everything Ember knows about an op kind except its kernel
/// (EmberKernels) and its importer mappings — like ggml's type-traits table.
/// The codec, the shape checker, the cost model, the memory planner, the
/// quantizer and the pruning pass all read these declarations; adding an op means
/// a case in `Op`, a code in `OpKind`, a declaration in `OpKind.schema`, a kernel
/// and an importer mapping.
public struct OpSchema: Sendable {
    /// The name the CLI prints and docs/FORMAT.md lists.
    public let name: String
    /// Required and optional input counts (concat: any number beyond the first).
    public let arity: (required: Int, optional: Int)
    /// The attribute record as the format stores it, field by field.
    public let attributes: [AttributeField]
    public let traits: OpTraits
    /// How the int8 quantizer treats the op.
    public let quantization: QuantizationRule
    let encode: @Sendable (Op) -> [AttributeValue]
    let decode: @Sendable (AttributeReader) throws -> Op
    let shape: @Sendable (Op, ShapeCheck) throws -> TensorInfo
    let macs: @Sendable (Op, [TensorInfo?], TensorInfo) -> Int

    init(_ name: String, arity: (Int, Int) = (1, 0), attributes: [AttributeField] = [], traits: OpTraits = [],
         quantization: QuantizationRule = .float,
         encode: @escaping @Sendable (Op) -> [AttributeValue] = { _ in [] },
         decode: @escaping @Sendable (AttributeReader) throws -> Op,
         shape: @escaping @Sendable (Op, ShapeCheck) throws -> TensorInfo,
         macs: @escaping @Sendable (Op, [TensorInfo?], TensorInfo) -> Int = { _, _, out in out.elementCount }) {
        self.name = name; self.arity = arity; self.attributes = attributes; self.traits = traits
        self.quantization = quantization; self.encode = encode; self.decode = decode; self.shape = shape
        self.macs = macs
    }

    /// The op's attributes, in `attributes` order.
    public func attributeValues(_ op: Op) -> [AttributeValue] { encode(op) }

    /// The op from attributes decoded by `attributes`; throws `AttributeError` when they do not make one.
    public func makeOp(_ values: [AttributeValue]) throws -> Op { try decode(AttributeReader(values)) }
}

/// Facts the passes and the planner ask about an op.
public struct OpTraits: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Output element i depends on input element i only (same shape): it may share its first input's buffer.
    public static let elementwise = OpTraits(rawValue: 1)
    /// One input whose channels (last axis) map one to one onto the output's, each independently of
    /// the others: channel pruning may pass through it.
    public static let channelwise = OpTraits(rawValue: 2)
}

/// How the int8 quantizer (EmberPack) rewrites a float op.
public enum QuantizationRule: Sendable, Equatable {
    /// Conv / FC: int8 per-channel weights, int32 bias, int8 activations.
    case weighted
    /// int8 inputs, int8 output with its own calibrated range.
    case calibratedOutput
    /// int8 output with a fixed range (TFLite's rule for sigmoid, softmax, tanh).
    case fixedOutput(scale: Float, zeroPoint: Int32)
    /// int8 first input; the output keeps its parameters (data movement, max pool).
    case inputRange
    /// Every input and the output share one set of parameters, the variable input's (TFLite's
    /// MAXIMUM / MINIMUM): constant operands are quantized with them.
    case sharedRange
    /// Stays float (an island between dequantize and quantize).
    case float

    public var isFixedOutput: Bool {
        if case .fixedOutput = self { return true }
        return false
    }

    /// Whether the quantizer needs a calibrated range for the op's output (not when the output's
    /// parameters are fixed or taken from an input).
    public var needsOutputRange: Bool {
        switch self {
        case .fixedOutput, .sharedRange: return false
        default: return true
        }
    }
}

/// One attribute field of the format's attribute record (docs/FORMAT.md).
public enum AttributeField: Sendable, Equatable {
    /// i64 within Int32's range.
    case int
    /// i64 in 1...Int32.max.
    case positive
    /// i64 in 0...Int32.max.
    case nonNegative
    /// u32 count (≤ GraphLimits.maxAttributeCount), then that many i64s within Int32's range.
    case ints
    case float
    /// u8; any non-zero byte is true.
    case bool
    /// u8 whose bits outside `mask` must be clear.
    case flags(mask: UInt8)
    /// u8 raw value of a function enum, below `count`.
    case function(count: Int)
    case padding
    case activation
    case dtype
}

/// A decoded attribute.
public enum AttributeValue: Hashable, Sendable {
    case int(Int), ints([Int]), float(Float), bool(Bool), byte(UInt8), padding(Padding), activation(Activation), dtype(DType)
}

/// Attributes that do not make the op they were decoded for.
public struct AttributeError: Error, Sendable {
    public let reason: String
}

/// Typed, checked access to decoded attribute values in field order.
public struct AttributeReader {
    let values: [AttributeValue]
    init(_ values: [AttributeValue]) { self.values = values }
    func value(_ i: Int) throws -> AttributeValue {
        guard i < values.count else { throw AttributeError(reason: "attribute \(i) is missing") }
        return values[i]
    }
    func int(_ i: Int) throws -> Int {
        guard case let .int(v) = try value(i) else { throw AttributeError(reason: "attribute \(i) is not an integer") }
        return v
    }
    func ints(_ i: Int) throws -> [Int] {
        guard case let .ints(v) = try value(i) else { throw AttributeError(reason: "attribute \(i) is not a list") }
        return v
    }
    func float(_ i: Int) throws -> Float {
        guard case let .float(v) = try value(i) else { throw AttributeError(reason: "attribute \(i) is not a float") }
        return v
    }
    func bool(_ i: Int) throws -> Bool {
        guard case let .bool(v) = try value(i) else { throw AttributeError(reason: "attribute \(i) is not a bool") }
        return v
    }
    func byte(_ i: Int) throws -> UInt8 {
        guard case let .byte(v) = try value(i) else { throw AttributeError(reason: "attribute \(i) is not a byte") }
        return v
    }
    func function<F: RawRepresentable>(_ i: Int, _ type: F.Type) throws -> F where F.RawValue == UInt8 {
        let b = try byte(i)
        guard let f = F(rawValue: b) else { throw AttributeError(reason: "unknown \(F.self) \(b)") }
        return f
    }
    func padding(_ i: Int) throws -> Padding {
        guard case let .padding(v) = try value(i) else { throw AttributeError(reason: "attribute \(i) is not a padding") }
        return v
    }
    func activation(_ i: Int) throws -> Activation {
        guard case let .activation(v) = try value(i) else { throw AttributeError(reason: "attribute \(i) is not an activation") }
        return v
    }
    func dtype(_ i: Int) throws -> DType {
        guard case let .dtype(v) = try value(i) else { throw AttributeError(reason: "attribute \(i) is not a dtype") }
        return v
    }
}

// MARK: - the declarations

private let poolFields: [AttributeField] = [.positive, .positive, .positive, .positive, .padding, .activation]
private func poolValues(_ p: Pool2DAttributes) -> [AttributeValue] {
    [.int(p.kernelH), .int(p.kernelW), .int(p.strideH), .int(p.strideW), .padding(p.padding), .activation(p.activation)]
}
private func pool(_ a: AttributeReader) throws -> Pool2DAttributes {
    Pool2DAttributes(kernelH: try a.int(0), kernelW: try a.int(1), strideH: try a.int(2), strideW: try a.int(3),
                     padding: try a.padding(4), activation: try a.activation(5))
}
/// Cost of an op that moves bytes and computes nothing.
private let noMACs: @Sendable (Op, [TensorInfo?], TensorInfo) -> Int = { _, _, _ in 0 }
/// The activation-only ops (`relu` … `gelu`): elementwise, channelwise, int8 through a table.
private func activationSchema(_ name: String, _ op: Op, quantization: QuantizationRule = .calibratedOutput) -> OpSchema {
    OpSchema(name, traits: [.elementwise, .channelwise], quantization: quantization,
             decode: { _ in op }, shape: { _, s in try s.numeric(); return s.x })
}
/// Broadcasting two-input arithmetic with a fused activation (add, sub, mul, div).
private func arithmeticSchema(_ name: String, quantization: QuantizationRule,
                              _ make: @escaping @Sendable (Activation) -> Op) -> OpSchema {
    OpSchema(name, arity: (2, 0), attributes: [.activation], traits: .elementwise, quantization: quantization,
             encode: { op in [.activation(op.fusedActivation ?? .none)] },
             decode: { a in make(try a.activation(0)) }, shape: { op, s in try s.broadcastArithmetic(op) })
}

extension OpKind {
    /// The declaration of this op kind.
    public var schema: OpSchema { OpSchema.table[Int(rawValue) - 1] }
}

extension OpSchema {
    /// Every declaration, indexed by op code - 1 (codes are dense from 1).
    static let table: [OpSchema] = OpKind.allCases.map(\.declaration)
}

extension OpKind {
    fileprivate var declaration: OpSchema {
        switch self {
        case .conv2D:
            return OpSchema("Conv2D", arity: (2, 1),
                            attributes: [.positive, .positive, .positive, .positive, .positive, .padding, .activation],
                            quantization: .weighted,
                            encode: { op in
                                guard case let .conv2D(a) = op else { return [] }
                                return [.int(a.strideH), .int(a.strideW), .int(a.dilationH), .int(a.dilationW),
                                        .int(a.groups), .padding(a.padding), .activation(a.activation)]
                            },
                            decode: { a in
                                .conv2D(Conv2DAttributes(strideH: try a.int(0), strideW: try a.int(1),
                                                         dilationH: try a.int(2), dilationW: try a.int(3),
                                                         padding: try a.padding(5), groups: try a.int(4),
                                                         activation: try a.activation(6)))
                            },
                            shape: { op, s in try s.conv2D(op) },
                            macs: { _, ins, out in
                                guard let w = ins[1], w.dims.count == 4 else { return 0 }
                                return saturatingMultiply(out.elementCount, w.dims[1], w.dims[2], w.dims[3])
                            })
        case .fullyConnected:
            return OpSchema("FullyConnected", arity: (2, 1), attributes: [.activation], quantization: .weighted,
                            encode: { op in [.activation(op.fusedActivation ?? .none)] },
                            decode: { a in .fullyConnected(try a.activation(0)) },
                            shape: { _, s in try s.fullyConnected() },
                            macs: { _, ins, out in
                                guard let w = ins[1], w.dims.count == 2 else { return 0 }
                                return saturatingMultiply(out.elementCount, w.dims[1])
                            })
        case .matMul:
            return OpSchema("MatMul", arity: (2, 0), decode: { _ in .matMul }, shape: { _, s in try s.matMul() },
                            macs: { _, ins, out in saturatingMultiply(out.elementCount, ins[0]?.dims.last ?? 0) })
        case .add: return arithmeticSchema("Add", quantization: .calibratedOutput) { .add($0) }
        case .sub: return arithmeticSchema("Sub", quantization: .calibratedOutput) { .sub($0) }
        case .mul: return arithmeticSchema("Mul", quantization: .calibratedOutput) { .mul($0) }
        case .div: return arithmeticSchema("Div", quantization: .float) { .div($0) }
        case .relu: return activationSchema("Relu", .relu)
        case .relu6: return activationSchema("Relu6", .relu6)
        case .leakyRelu:
            return OpSchema("LeakyRelu", attributes: [.float], traits: [.elementwise, .channelwise],
                            quantization: .calibratedOutput,
                            encode: { op in
                                guard case let .leakyRelu(alpha) = op else { return [] }
                                return [.float(alpha)]
                            },
                            decode: { a in .leakyRelu(alpha: try a.float(0)) },
                            shape: { _, s in try s.numeric(); return s.x })
        case .sigmoid: return activationSchema("Sigmoid", .sigmoid, quantization: .fixedOutput(scale: 1.0 / 256, zeroPoint: -128))
        case .tanh: return activationSchema("Tanh", .tanh, quantization: .fixedOutput(scale: 1.0 / 128, zeroPoint: 0))
        case .hardSwish: return activationSchema("HardSwish", .hardSwish)
        case .gelu: return activationSchema("Gelu", .gelu)
        case .softmax:
            return OpSchema("Softmax", attributes: [.int, .float],
                            quantization: .fixedOutput(scale: 1.0 / 256, zeroPoint: -128),
                            encode: { op in
                                guard case let .softmax(axis, beta) = op else { return [] }
                                return [.int(axis), .float(beta)]
                            },
                            decode: { a in .softmax(axis: try a.int(0), beta: try a.float(1)) },
                            shape: { op, s in
                                guard case let .softmax(axis, beta) = op else { throw s.fail("not a softmax") }
                                try s.numeric()
                                guard beta.isFinite, beta > 0 else { throw s.fail("beta \(beta) must be positive") }
                                _ = try s.axis(axis, rank: s.x.dims.count)
                                return s.x
                            },
                            macs: { _, _, out in saturatingMultiply(out.elementCount, 3) })
        case .averagePool2D, .maxPool2D:
            let average = self == .averagePool2D
            return OpSchema(average ? "AveragePool2D" : "MaxPool2D", attributes: poolFields, traits: .channelwise,
                            quantization: .inputRange,
                            encode: { op in op.poolAttributes.map(poolValues) ?? [] },
                            decode: { a in average ? .averagePool2D(try pool(a)) : .maxPool2D(try pool(a)) },
                            shape: { op, s in try s.pool(op) },
                            macs: { op, _, out in
                                guard let p = op.poolAttributes else { return 0 }
                                return saturatingMultiply(out.elementCount, p.kernelH, p.kernelW)
                            })
        case .mean:
            return OpSchema("Mean", attributes: [.ints, .bool], quantization: .calibratedOutput,
                            encode: { op in
                                guard case let .mean(axes, keep) = op else { return [] }
                                return [.ints(axes), .bool(keep)]
                            },
                            decode: { a in .mean(axes: try a.ints(0), keepDims: try a.bool(1)) },
                            shape: { op, s in
                                guard case let .mean(axes, keep) = op else { throw s.fail("not a mean") }
                                try s.numeric()
                                return try s.reduced(axes: axes, keepDims: keep)
                            },
                            macs: { _, ins, _ in ins[0]?.elementCount ?? 0 })
        case .globalAveragePool:
            return OpSchema("GlobalAveragePool", traits: .channelwise, quantization: .calibratedOutput,
                            decode: { _ in .globalAveragePool },
                            shape: { _, s in
                                try s.numeric()
                                try s.rank(s.x, 4, "input")
                                return TensorInfo(s.x.dtype, [s.x.dims[0], 1, 1, s.x.dims[3]])
                            },
                            macs: { _, ins, _ in ins[0]?.elementCount ?? 0 })
        case .reshape:
            return OpSchema("Reshape", attributes: [.ints], quantization: .inputRange,
                            encode: { op in
                                guard case let .reshape(dims) = op else { return [] }
                                return [.ints(dims)]
                            },
                            decode: { a in .reshape(try a.ints(0)) },
                            shape: { op, s in try s.reshape(op) }, macs: noMACs)
        case .transpose:
            return OpSchema("Transpose", attributes: [.ints], quantization: .inputRange,
                            encode: { op in
                                guard case let .transpose(perm) = op else { return [] }
                                return [.ints(perm)]
                            },
                            decode: { a in .transpose(perm: try a.ints(0)) },
                            shape: { op, s in
                                guard case let .transpose(perm) = op else { throw s.fail("not a transpose") }
                                let x = s.x
                                guard perm.count == x.dims.count, Set(perm) == Set(0..<x.dims.count) else {
                                    throw s.fail("perm \(perm) is not a permutation of 0..<\(x.dims.count)")
                                }
                                return TensorInfo(x.dtype, perm.map { x.dims[$0] })
                            }, macs: noMACs)
        case .concat:
            return OpSchema("Concat", arity: (1, Int.max - 1), attributes: [.int],
                            encode: { op in
                                guard case let .concat(axis) = op else { return [] }
                                return [.int(axis)]
                            },
                            decode: { a in .concat(axis: try a.int(0)) },
                            shape: { op, s in try s.concat(op) }, macs: noMACs)
        case .pad:
            return OpSchema("Pad", attributes: [.ints, .ints], quantization: .inputRange,
                            encode: { op in
                                guard case let .pad(before, after) = op else { return [] }
                                return [.ints(before), .ints(after)]
                            },
                            decode: { a in .pad(before: try a.ints(0), after: try a.ints(1)) },
                            shape: { op, s in
                                guard case let .pad(before, after) = op else { throw s.fail("not a pad") }
                                return try s.padded(before: before, after: after)
                            }, macs: noMACs)
        case .slice:
            return OpSchema("Slice", arity: (1, 1), attributes: [.ints, .ints, .ints], quantization: .inputRange,
                            encode: { op in
                                guard case let .slice(b, e, st) = op else { return [] }
                                return [.ints(b), .ints(e), .ints(st)]
                            },
                            decode: { a in .slice(begin: try a.ints(0), end: try a.ints(1), strides: try a.ints(2)) },
                            shape: { op, s in try s.slice(op) }, macs: noMACs)
        case .layerNorm:
            return OpSchema("LayerNorm", arity: (1, 2), attributes: [.int, .float],
                            encode: { op in
                                guard case let .layerNorm(axis, eps) = op else { return [] }
                                return [.int(axis), .float(eps)]
                            },
                            decode: { a in .layerNorm(axis: try a.int(0), epsilon: try a.float(1)) },
                            shape: { op, s in try s.layerNorm(op) },
                            macs: { _, _, out in saturatingMultiply(out.elementCount, 3) })
        case .quantize:
            return OpSchema("Quantize", attributes: [.dtype],
                            encode: { op in
                                guard case let .quantize(d) = op else { return [] }
                                return [.dtype(d)]
                            },
                            decode: { a in .quantize(try a.dtype(0)) },
                            shape: { op, s in
                                guard case let .quantize(to) = op else { throw s.fail("not a quantize") }
                                guard to.isQuantized8 else { throw s.fail("target dtype must be i8 or u8, got \(to)") }
                                guard s.x.dtype == .f32 || s.x.dtype.isQuantized8 else {
                                    throw s.fail("input must be f32, i8 or u8, got \(s.x.dtype)")
                                }
                                return TensorInfo(to, s.x.dims)
                            })
        case .dequantize:
            return OpSchema("Dequantize", decode: { _ in .dequantize }, shape: { _, s in
                guard s.x.dtype.isQuantized8 || s.x.dtype == .f16 else {
                    throw s.fail("input must be i8, u8 or f16, got \(s.x.dtype)")
                }
                return TensorInfo(.f32, s.x.dims)
            })
        case .maximum, .minimum:
            let op: Op = self == .maximum ? .maximum : .minimum
            return OpSchema(self == .maximum ? "Maximum" : "Minimum", arity: (2, 0), traits: .elementwise,
                            quantization: .sharedRange, decode: { _ in op },
                            shape: { op, s in try s.broadcastArithmetic(op) })
        case .prelu:
            return OpSchema("PRelu", arity: (2, 0), traits: .elementwise, decode: { _ in .prelu },
                            shape: { _, s in try s.broadcastNumeric() })
        case .resize:
            return OpSchema("Resize", attributes: [.positive, .positive, .flags(mask: 7)],
                            encode: { op in
                                guard case let .resize(r) = op else { return [] }
                                let flags = (r.bilinear ? 1 : 0) | (r.alignCorners ? 2 : 0) | (r.halfPixelCenters ? 4 : 0)
                                return [.int(r.height), .int(r.width), .byte(UInt8(flags))]
                            },
                            decode: { a in
                                let f = try a.byte(2)
                                return .resize(ResizeAttributes(height: try a.int(0), width: try a.int(1), bilinear: f & 1 != 0,
                                                                alignCorners: f & 2 != 0, halfPixelCenters: f & 4 != 0))
                            },
                            shape: { op, s in
                                guard case let .resize(r) = op else { throw s.fail("not a resize") }
                                try s.numeric()
                                try s.rank(s.x, 4, "input")
                                guard s.x.dims[1] >= 1, s.x.dims[2] >= 1 else { throw s.fail("input \(formatDims(s.x.dims)) is empty") }
                                return TensorInfo(s.x.dtype, [s.x.dims[0], r.height, r.width, s.x.dims[3]])
                            },
                            macs: { op, _, out in
                                guard case let .resize(r) = op, r.bilinear else { return 0 }
                                return saturatingMultiply(out.elementCount, 4)
                            })
        case .unary:
            return OpSchema("Unary", attributes: [.function(count: UnaryFunction.allCases.count)],
                            traits: [.elementwise, .channelwise],
                            encode: { op in
                                guard case let .unary(f) = op else { return [] }
                                return [.byte(f.rawValue)]
                            },
                            decode: { a in .unary(try a.function(0, UnaryFunction.self)) },
                            shape: { _, s in try s.numeric(); return s.x })
        case .binary:
            return OpSchema("Binary", arity: (2, 0), attributes: [.function(count: BinaryFunction.allCases.count)],
                            traits: .elementwise,
                            encode: { op in
                                guard case let .binary(f) = op else { return [] }
                                return [.byte(f.rawValue)]
                            },
                            decode: { a in .binary(try a.function(0, BinaryFunction.self)) },
                            shape: { _, s in try s.broadcast(allowed: [.f32, .i32, .i64, .i8]) })
        case .compare:
            return OpSchema("Compare", arity: (2, 0), attributes: [.function(count: Comparison.allCases.count)],
                            encode: { op in
                                guard case let .compare(f) = op else { return [] }
                                return [.byte(f.rawValue)]
                            },
                            decode: { a in .compare(try a.function(0, Comparison.self)) },
                            shape: { _, s in
                                let t = try s.broadcast(allowed: [.f32, .i32, .i64, .i8, .u8, .bool, .i16, .u16, .u32, .u64])
                                return TensorInfo(.bool, t.dims)
                            })
        case .logical:
            return OpSchema("Logical", arity: (1, 1), attributes: [.function(count: LogicalFunction.allCases.count)],
                            traits: .elementwise,
                            encode: { op in
                                guard case let .logical(f) = op else { return [] }
                                return [.byte(f.rawValue)]
                            },
                            decode: { a in .logical(try a.function(0, LogicalFunction.self)) },
                            shape: { op, s in
                                guard case let .logical(f) = op else { throw s.fail("not a logical op") }
                                let binary = f != .not
                                guard s.inputs.count == (binary ? 2 : 1), s.inputs.allSatisfy({ $0 != nil }) else {
                                    throw s.fail("\(f) takes \(binary ? 2 : 1) inputs, got \(s.inputs.count)")
                                }
                                return binary ? try s.broadcast(allowed: [.bool]) : try s.dtype(s.x, in: [.bool])
                            })
        case .reduce:
            return OpSchema("Reduce", attributes: [.function(count: Reduction.allCases.count), .ints, .bool],
                            encode: { op in
                                guard case let .reduce(f, axes, keep) = op else { return [] }
                                return [.byte(f.rawValue), .ints(axes), .bool(keep)]
                            },
                            decode: { a in
                                .reduce(try a.function(0, Reduction.self), axes: try a.ints(1), keepDims: try a.bool(2))
                            },
                            shape: { op, s in
                                guard case let .reduce(_, axes, keep) = op else { throw s.fail("not a reduction") }
                                _ = try s.dtype(s.x, in: [.f32, .i32, .i64])
                                return try s.reduced(axes: axes, keepDims: keep)
                            },
                            macs: { _, ins, _ in ins[0]?.elementCount ?? 0 })
        case .argReduce:
            return OpSchema("ArgReduce", attributes: [.bool, .int, .dtype],
                            encode: { op in
                                guard case let .argReduce(largest, axis, out) = op else { return [] }
                                return [.bool(largest), .int(axis), .dtype(out)]
                            },
                            decode: { a in .argReduce(largest: try a.bool(0), axis: try a.int(1), output: try a.dtype(2)) },
                            shape: { op, s in
                                guard case let .argReduce(_, axis, out) = op else { throw s.fail("not an arg reduction") }
                                _ = try s.dtype(s.x, in: [.f32, .i8, .u8, .i32, .i64])
                                guard out == .i32 || out == .i64 else { throw s.fail("output dtype must be i32 or i64, got \(out)") }
                                let r = try s.reduced(axes: [axis], keepDims: false)
                                return TensorInfo(out, r.dims)
                            },
                            macs: { _, ins, _ in ins[0]?.elementCount ?? 0 })
        case .select:
            return OpSchema("Select", arity: (3, 0), decode: { _ in .select }, shape: { _, s in
                let c = try s.dtype(try s.input(0), in: [.bool])
                let x = try s.input(1), y = try s.input(2)
                guard x.dtype == y.dtype else { throw s.fail("x and y dtypes differ: \(x.dtype) and \(y.dtype)") }
                guard let xy = broadcastDims(x.dims, y.dims), let dims = broadcastDims(c.dims, xy) else {
                    throw s.fail("shapes \(formatDims(c.dims)), \(formatDims(x.dims)), \(formatDims(y.dims)) do not broadcast")
                }
                return TensorInfo(x.dtype, dims)
            })
        case .cast:
            return OpSchema("Cast", attributes: [.dtype], traits: .elementwise,
                            encode: { op in
                                guard case let .cast(d) = op else { return [] }
                                return [.dtype(d)]
                            },
                            decode: { a in .cast(try a.dtype(0)) },
                            shape: { op, s in
                                guard case let .cast(to) = op else { throw s.fail("not a cast") }
                                let plain: Set<DType> = [.f32, .i32, .i64, .bool, .u8, .i8, .i16, .u16, .u32, .u64]
                                // float16 converts to and from float32 only (model inputs and outputs in half precision).
                                if s.x.dtype == .f16 || to == .f16 {
                                    guard (s.x.dtype == .f16 && to == .f32) || (s.x.dtype == .f32 && to == .f16) else {
                                        throw s.fail("float16 casts to and from float32 only, not \(s.x.dtype) to \(to)")
                                    }
                                    return TensorInfo(to, s.x.dims)
                                }
                                _ = try s.dtype(s.x, in: plain)
                                guard plain.contains(to) else { throw s.fail("cannot cast to \(to)") }
                                return TensorInfo(to, s.x.dims)
                            })
        case .gather:
            return OpSchema("Gather", arity: (2, 0), attributes: [.int], quantization: .inputRange,
                            encode: { op in
                                guard case let .gather(axis) = op else { return [] }
                                return [.int(axis)]
                            },
                            decode: { a in .gather(axis: try a.int(0)) },
                            shape: { op, s in
                                guard case let .gather(axis) = op else { throw s.fail("not a gather") }
                                let x = s.x, idx = try s.dtype(try s.input(1), in: [.i32, .i64])
                                let a = try s.axis(axis, rank: x.dims.count)
                                let dims = Array(x.dims[..<a]) + idx.dims + Array(x.dims[(a + 1)...])
                                guard dims.count <= GraphLimits.maxRank else { throw s.fail("output rank \(dims.count) is too high") }
                                return TensorInfo(x.dtype, dims)
                            }, macs: noMACs)
        case .tile:
            return OpSchema("Tile", attributes: [.ints], quantization: .inputRange,
                            encode: { op in
                                guard case let .tile(m) = op else { return [] }
                                return [.ints(m)]
                            },
                            decode: { a in .tile(multiples: try a.ints(0)) },
                            shape: { op, s in
                                guard case let .tile(m) = op else { throw s.fail("not a tile") }
                                guard m.count == s.x.dims.count else {
                                    throw s.fail("needs \(s.x.dims.count) multiples, got \(m.count)")
                                }
                                var dims = s.x.dims
                                for i in dims.indices {
                                    guard m[i] >= 0, let d = checkedMultiply(dims[i], m[i]) else {
                                        throw s.fail("multiple \(m[i]) on axis \(i) is negative or overflows")
                                    }
                                    dims[i] = d
                                }
                                return TensorInfo(s.x.dtype, dims)
                            }, macs: noMACs)
        case .transposeConv2D:
            return OpSchema("TransposeConv2D", arity: (2, 1),
                            attributes: [.positive, .positive, .positive, .positive, .nonNegative, .nonNegative, .activation],
                            encode: { op in
                                guard case let .transposeConv2D(a) = op else { return [] }
                                return [.int(a.outputHeight), .int(a.outputWidth), .int(a.strideH), .int(a.strideW),
                                        .int(a.padTop), .int(a.padLeft), .activation(a.activation)]
                            },
                            decode: { a in
                                .transposeConv2D(TransposeConv2DAttributes(
                                    outputHeight: try a.int(0), outputWidth: try a.int(1), strideH: try a.int(2),
                                    strideW: try a.int(3), padTop: try a.int(4), padLeft: try a.int(5),
                                    activation: try a.activation(6)))
                            },
                            shape: { op, s in try s.transposeConv2D(op) },
                            macs: { _, ins, _ in
                                guard let x = ins[0], let w = ins[1], w.dims.count == 4 else { return 0 }
                                return saturatingMultiply(x.elementCount, w.dims[0], w.dims[1], w.dims[2])
                            })
        case .fullyConnectedAsymmetricInputs:
            return OpSchema("FullyConnectedAsymmetricInputs", arity: (2, 1), attributes: [.activation],
                            encode: { op in [.activation(op.fusedActivation ?? .none)] },
                            decode: { a in .fullyConnectedAsymmetricInputs(try a.activation(0)) },
                            shape: { _, s in
                                try s.dtype(s.x, in: [.f32])
                                try s.dtype(try s.input(1), in: [.i8])
                                return try s.fullyConnected()
                            },
                            macs: { _, ins, out in
                                guard let w = ins[1], w.dims.count == 2 else { return 0 }
                                return saturatingMultiply(out.elementCount, w.dims[1])
                            })
        case .cumSum:
            return OpSchema("CumSum", attributes: [.int, .bool, .bool],
                            encode: { op in
                                guard case let .cumSum(axis, exclusive, reverse) = op else { return [] }
                                return [.int(axis), .bool(exclusive), .bool(reverse)]
                            },
                            decode: { a in .cumSum(axis: try a.int(0), exclusive: try a.bool(1), reverse: try a.bool(2)) },
                            shape: { op, s in
                                guard case let .cumSum(axis, _, _) = op else { throw s.fail("not a cumulative sum") }
                                try s.dtype(s.x, in: [.f32, .i32, .i64])
                                _ = try s.axis(axis, rank: s.x.dims.count)
                                return s.x
                            })
        case .topK:
            return OpSchema("TopK", attributes: [.positive, .int, .bool, .bool],
                            encode: { op in
                                guard case let .topK(k, axis, largest, indices) = op else { return [] }
                                return [.int(k), .int(axis), .bool(largest), .bool(indices)]
                            },
                            decode: { a in .topK(k: try a.int(0), axis: try a.int(1), largest: try a.bool(2), indices: try a.bool(3)) },
                            shape: { op, s in
                                guard case let .topK(k, axis, _, indices) = op else { throw s.fail("not a top-k") }
                                try s.dtype(s.x, in: [.f32, .i32, .i64, .i16, .u16, .u32, .u64])
                                let a = try s.axis(axis, rank: s.x.dims.count)
                                guard k <= s.x.dims[a] else { throw s.fail("k \(k) is more than the axis' \(s.x.dims[a]) elements") }
                                var dims = s.x.dims
                                dims[a] = k
                                return TensorInfo(indices ? .i64 : s.x.dtype, dims)
                            },
                            macs: { op, ins, _ in
                                guard case let .topK(k, _, _, _) = op else { return 0 }
                                return saturatingMultiply(ins[0]?.elementCount ?? 0, k)
                            })
        case .mirrorPad:
            return OpSchema("MirrorPad", attributes: [.ints, .ints, .bool], quantization: .inputRange,
                            encode: { op in
                                guard case let .mirrorPad(b, a, reflect) = op else { return [] }
                                return [.ints(b), .ints(a), .bool(reflect)]
                            },
                            decode: { a in .mirrorPad(before: try a.ints(0), after: try a.ints(1), reflect: try a.bool(2)) },
                            shape: { op, s in
                                guard case let .mirrorPad(before, after, reflect) = op else { throw s.fail("not a mirror pad") }
                                for i in s.x.dims.indices where i < before.count && i < after.count {
                                    let limit = reflect ? s.x.dims[i] - 1 : s.x.dims[i]
                                    guard before[i] <= limit, after[i] <= limit else {
                                        throw s.fail("pads \(before[i]), \(after[i]) on axis \(i) exceed \(limit) (\(reflect ? "reflect" : "symmetric") of \(s.x.dims[i]))")
                                    }
                                }
                                return try s.padded(before: before, after: after)
                            }, macs: noMACs)
        }
    }
}

extension Op {
    /// The window of an average or max pool.
    public var poolAttributes: Pool2DAttributes? {
        switch self {
        case let .averagePool2D(p), let .maxPool2D(p): return p
        default: return nil
        }
    }

    /// The activation fused into the op, for ops that carry one.
    public var fusedActivation: Activation? {
        switch self {
        case let .conv2D(a): return a.activation
        case let .fullyConnected(a), let .add(a), let .sub(a), let .mul(a), let .div(a): return a
        case let .fullyConnectedAsymmetricInputs(a): return a
        case let .averagePool2D(a), let .maxPool2D(a): return a.activation
        case let .transposeConv2D(a): return a.activation
        default: return nil
        }
    }
}

/// Multiplies non-negative counts, saturating at Int.max.
func saturatingMultiply(_ a: Int, _ b: Int, _ c: Int, _ rest: Int...) -> Int {
    rest.reduce(saturatingMultiply(saturatingMultiply(a, b), c)) { saturatingMultiply($0, $1) }
}
