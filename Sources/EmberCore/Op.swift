/// Activation fused into the op that produces a value (TFLite's fused activations).
public enum Activation: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0, relu = 1, relu6 = 2, reluN1To1 = 3

    /// The clamp range in real numbers.
    public var range: (min: Float, max: Float) {
        switch self {
        case .none: return (-Float.infinity, Float.infinity)
        case .relu: return (0, Float.infinity)
        case .relu6: return (0, 6)
        case .reluN1To1: return (-1, 1)
        }
    }

    public var description: String {
        switch self {
        case .none: return "none"
        case .relu: return "relu"
        case .relu6: return "relu6"
        case .reluN1To1: return "relu_n1_to_1"
        }
    }
}

/// Spatial padding of 2-D windows (conv, pooling).
public enum Padding: Hashable, Sendable, CustomStringConvertible {
    /// TFLite/TensorFlow SAME: output = ceil(input / stride), extra padding at the end.
    case same
    /// No padding: only windows that fit.
    case valid
    case explicit(top: Int, left: Int, bottom: Int, right: Int)

    public var description: String {
        switch self {
        case .same: return "same"
        case .valid: return "valid"
        case let .explicit(t, l, b, r): return "explicit(\(t),\(l),\(b),\(r))"
        }
    }
}

/// Output size and leading padding of one spatial axis of a window op, or nil
/// when the window does not fit.
public func windowGeometry(input: Int, kernel: Int, stride: Int, dilation: Int,
                           padding: Padding, vertical: Bool) -> (output: Int, padBefore: Int)? {
    guard input >= 0, kernel >= 1, stride >= 1, dilation >= 1,
          let span = checkedMultiply(kernel - 1, dilation).flatMap({ checkedAdd($0, 1) }) else { return nil }
    switch padding {
    case .same:
        let out = (input + stride - 1) / stride
        let needed = (out - 1) * stride + span - input
        return (out, max(needed, 0) / 2)
    case .valid:
        guard input >= span else { return nil }
        return ((input - span) / stride + 1, 0)
    case let .explicit(top, left, bottom, right):
        let (before, after) = vertical ? (top, bottom) : (left, right)
        guard before >= 0, after >= 0, before < span, after < span else { return nil }
        let padded = input + before + after
        guard padded >= span else { return nil }
        return ((padded - span) / stride + 1, before)
    }
}

public struct Conv2DAttributes: Hashable, Sendable {
    public var strideH: Int, strideW: Int
    public var dilationH: Int, dilationW: Int
    public var padding: Padding
    /// 1 for a plain convolution; the input channel count for depthwise.
    public var groups: Int
    public var activation: Activation

    public init(strideH: Int = 1, strideW: Int = 1, dilationH: Int = 1, dilationW: Int = 1,
                padding: Padding = .valid, groups: Int = 1, activation: Activation = .none) {
        self.strideH = strideH; self.strideW = strideW
        self.dilationH = dilationH; self.dilationW = dilationW
        self.padding = padding; self.groups = groups; self.activation = activation
    }
}

/// TFLite RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR parameters.
public struct ResizeAttributes: Hashable, Sendable {
    public var height: Int, width: Int
    /// Bilinear interpolation, else nearest neighbour.
    public var bilinear: Bool
    public var alignCorners: Bool
    public var halfPixelCenters: Bool

    public init(height: Int, width: Int, bilinear: Bool, alignCorners: Bool = false, halfPixelCenters: Bool = false) {
        self.height = height; self.width = width; self.bilinear = bilinear
        self.alignCorners = alignCorners; self.halfPixelCenters = halfPixelCenters
    }
}

public struct Pool2DAttributes: Hashable, Sendable {
    public var kernelH: Int, kernelW: Int
    public var strideH: Int, strideW: Int
    public var padding: Padding
    public var activation: Activation

    public init(kernelH: Int, kernelW: Int, strideH: Int, strideW: Int,
                padding: Padding = .valid, activation: Activation = .none) {
        self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW
        self.padding = padding; self.activation = activation
    }
}

/// TFLite TRANSPOSE_CONV / ONNX ConvTranspose parameters (NHWC, filter [O,KH,KW,I]).
/// The output size is an attribute (TFLite gives it as a constant input):
/// out = (in - 1) * stride + dilated kernel - padding, cropped by `padTop`/`padLeft`.
public struct TransposeConv2DAttributes: Hashable, Sendable {
    public var outputHeight: Int, outputWidth: Int
    public var strideH: Int, strideW: Int
    /// Rows / columns of the full (uncropped) output dropped at the top / left.
    public var padTop: Int, padLeft: Int
    public var activation: Activation

    public init(outputHeight: Int, outputWidth: Int, strideH: Int = 1, strideW: Int = 1,
                padTop: Int = 0, padLeft: Int = 0, activation: Activation = .none) {
        self.outputHeight = outputHeight; self.outputWidth = outputWidth
        self.strideH = strideH; self.strideW = strideW
        self.padTop = padTop; self.padLeft = padLeft; self.activation = activation
    }
}

/// One-input elementwise math of the `unary` op. Raw values are part of the
/// format (the op's attribute byte): never renumber.
public enum UnaryFunction: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case abs = 0, neg, sqrt, rsqrt, exp, log, floor, ceil, round, square, elu, sin, cos, sign, erf,
         reciprocal, softplus, reluN1To1, geluTanh, silu

    public var description: String {
        switch self {
        case .abs: return "abs"
        case .neg: return "neg"
        case .sqrt: return "sqrt"
        case .rsqrt: return "rsqrt"
        case .exp: return "exp"
        case .log: return "log"
        case .floor: return "floor"
        case .ceil: return "ceil"
        case .round: return "round"
        case .square: return "square"
        case .elu: return "elu"
        case .sin: return "sin"
        case .cos: return "cos"
        case .sign: return "sign"
        case .erf: return "erf"
        case .reciprocal: return "reciprocal"
        case .softplus: return "softplus"
        case .reluN1To1: return "relu_n1_to_1"
        case .geluTanh: return "gelu_tanh"
        case .silu: return "silu"
        }
    }
}

/// Two-input elementwise math of the `binary` op (numpy broadcasting, same dtype).
public enum BinaryFunction: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case pow = 0, squaredDifference, floorDiv, floorMod
    public var description: String {
        switch self {
        case .pow: return "pow"
        case .squaredDifference: return "squared_difference"
        case .floorDiv: return "floor_div"
        case .floorMod: return "floor_mod"
        }
    }
}

/// Elementwise comparisons (numpy broadcasting) producing bool.
public enum Comparison: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case less = 0, lessEqual, greater, greaterEqual, equal, notEqual
    public var description: String {
        switch self {
        case .less: return "less"
        case .lessEqual: return "less_equal"
        case .greater: return "greater"
        case .greaterEqual: return "greater_equal"
        case .equal: return "equal"
        case .notEqual: return "not_equal"
        }
    }
}

/// Elementwise logic on bool tensors; `not` takes one input, the rest two.
public enum LogicalFunction: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case and = 0, or, xor, not
    public var description: String {
        switch self {
        case .and: return "and"
        case .or: return "or"
        case .xor: return "xor"
        case .not: return "not"
        }
    }
}

/// Reductions over a set of axes (`mean` has its own op, with an int8 kernel).
public enum Reduction: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case sum = 0, max, min, prod
    public var description: String {
        switch self {
        case .sum: return "sum"
        case .max: return "max"
        case .min: return "min"
        case .prod: return "prod"
        }
    }
}

/// The closed op set. Every op has exactly one output. Images are NHWC; conv
/// filters are [out_channels, kh, kw, in_channels / groups]; fully-connected
/// weights are [out_features, in_features]. What Ember knows about each op —
/// name, format code, inputs, attributes, shape rule, cost, quantization — is
/// declared once, in its `OpSchema` (OpSchema.swift).
public enum Op: Hashable, Sendable {
    /// inputs: x [N,H,W,C], filter [O,KH,KW,C/groups], bias [O] (optional).
    case conv2D(Conv2DAttributes)
    /// inputs: x [..., K], weights [N, K], bias [N] (optional) → [..., N].
    case fullyConnected(Activation)
    /// inputs: a [..., M, K], b [..., K, N] with broadcast batch dims → [..., M, N].
    case matMul
    case add(Activation), sub(Activation), mul(Activation), div(Activation)
    case relu, relu6
    case leakyRelu(alpha: Float)
    case sigmoid, tanh, hardSwish, gelu
    case softmax(axis: Int, beta: Float)
    case averagePool2D(Pool2DAttributes)
    case maxPool2D(Pool2DAttributes)
    case mean(axes: [Int], keepDims: Bool)
    /// [N,H,W,C] → [N,1,1,C].
    case globalAveragePool
    /// New dims; at most one -1, inferred from the element count; `Op.reshapeCopiesInputDim(k)`
    /// (-2 - k) takes input dim k, so one reshape serves every size of a bounded dim.
    case reshape([Int])
    case transpose(perm: [Int])
    case concat(axis: Int)
    /// Constant padding with the value that represents real zero.
    case pad(before: [Int], after: [Int])
    /// Strided slice with ONNX semantics for negative and out-of-range indices. inputs: x and an
    /// optional size reference: with it, an end `Op.sliceEndAtReferenceDim(j)` is the reference's
    /// dim j (`pos[:seq]` with seq a bounded dim of another value; the reference's data is not read).
    case slice(begin: [Int], end: [Int], strides: [Int])
    /// inputs: x, gamma (optional), beta (optional); normalizes over dims axis..<rank.
    case layerNorm(axis: Int, epsilon: Float)
    /// f32 → i8 or u8 (the output's quantization parameters say how).
    case quantize(DType)
    /// i8, u8 or f16 → f32.
    case dequantize
    /// Elementwise maximum / minimum with numpy broadcasting.
    case maximum, minimum
    /// inputs: x, alpha (numpy broadcasting, e.g. one slope per channel): x ≥ 0 ? x : alpha·x.
    case prelu
    /// Spatial resize of NHWC images to `height` × `width` (TFLite semantics).
    case resize(ResizeAttributes)
    /// One-input elementwise math (f32; int8 through a 256-entry table).
    case unary(UnaryFunction)
    /// Two-input elementwise math with numpy broadcasting.
    case binary(BinaryFunction)
    /// inputs: a, b (same dtype, numpy broadcasting) → bool.
    case compare(Comparison)
    /// bool inputs → bool.
    case logical(LogicalFunction)
    /// Sum / max / min / product over `axes`.
    case reduce(Reduction, axes: [Int], keepDims: Bool)
    /// Index of the largest (or smallest) element along `axis`, first on ties; the axis is removed.
    case argReduce(largest: Bool, axis: Int, output: DType)
    /// inputs: condition (bool), x, y (numpy broadcasting of all three) → condition ? x : y.
    case select
    /// Elementwise conversion to `DType` (float → integer truncates toward zero, as TFLite's CAST).
    case cast(DType)
    /// inputs: params, indices (i32/i64) → params.dims[..<axis] + indices.dims + params.dims[(axis+1)...].
    /// An index outside the axis (after adding the axis size to a negative one) reads zeros.
    case gather(axis: Int)
    /// Repeats the input `multiples[d]` times along each dim d.
    case tile(multiples: [Int])
    /// inputs: x [N,H,W,C], filter [O,KH,KW,C], bias [O] (optional).
    case transposeConv2D(TransposeConv2DAttributes)
    /// Padding by mirroring the edge: REFLECT (edge not repeated) or SYMMETRIC (edge repeated).
    case mirrorPad(before: [Int], after: [Int], reflect: Bool)
    /// Dynamic-range FC whose f32 input rows are quantized asymmetrically at run time (LiteRT's
    /// asymmetric_quantize_inputs); inputs: x f32 [..., K], weights i8 [N, K] (one scale), bias? f32.
    case fullyConnectedAsymmetricInputs(Activation)
    /// Running sum along `axis` (f32, i32, i64 wrapping): `exclusive` leaves out the element itself,
    /// `reverse` sums from the end.
    case cumSum(axis: Int, exclusive: Bool, reverse: Bool)
    /// The `k` largest (or smallest) elements along `axis`, best first, the lower index first on ties:
    /// their values (f32, i32, i64) or, with `indices`, their positions as i64 (ONNX TopK's two outputs).
    case topK(k: Int, axis: Int, largest: Bool, indices: Bool)

    /// The op's code and name.
    public var kind: OpKind {
        switch self {
        case .conv2D: return .conv2D
        case .fullyConnected: return .fullyConnected
        case .matMul: return .matMul
        case .add: return .add
        case .sub: return .sub
        case .mul: return .mul
        case .div: return .div
        case .relu: return .relu
        case .relu6: return .relu6
        case .leakyRelu: return .leakyRelu
        case .sigmoid: return .sigmoid
        case .tanh: return .tanh
        case .hardSwish: return .hardSwish
        case .gelu: return .gelu
        case .softmax: return .softmax
        case .averagePool2D: return .averagePool2D
        case .maxPool2D: return .maxPool2D
        case .mean: return .mean
        case .globalAveragePool: return .globalAveragePool
        case .reshape: return .reshape
        case .transpose: return .transpose
        case .concat: return .concat
        case .pad: return .pad
        case .slice: return .slice
        case .layerNorm: return .layerNorm
        case .quantize: return .quantize
        case .dequantize: return .dequantize
        case .maximum: return .maximum
        case .minimum: return .minimum
        case .resize: return .resize
        case .prelu: return .prelu
        case .unary: return .unary
        case .binary: return .binary
        case .compare: return .compare
        case .logical: return .logical
        case .reduce: return .reduce
        case .argReduce: return .argReduce
        case .select: return .select
        case .cast: return .cast
        case .gather: return .gather
        case .tile: return .tile
        case .transposeConv2D: return .transposeConv2D
        case .mirrorPad: return .mirrorPad
        case .fullyConnectedAsymmetricInputs: return .fullyConnectedAsymmetricInputs
        case .cumSum: return .cumSum
        case .topK: return .topK
        }
    }

    /// The slice end that is dim `axis` of the slice's size reference (input 1).
    public static func sliceEndAtReferenceDim(_ axis: Int) -> Int { Int(Int32.min) + 1 + axis }

    /// Slice ends with the reference-dim entries resolved against `reference` (the slice's input 1).
    public static func resolvedSliceEnds(_ end: [Int], reference: TensorInfo?) -> [Int]? {
        guard let reference else { return end }
        var out = end
        for (i, e) in end.enumerated() where e >= sliceEndAtReferenceDim(0) && e < sliceEndAtReferenceDim(GraphLimits.maxRank) {
            let axis = e - sliceEndAtReferenceDim(0)
            guard axis < reference.dims.count else { return nil }
            out[i] = reference.dims[axis]
        }
        return out
    }

    /// The reshape target entry that copies input dim `axis`.
    public static func reshapeCopiesInputDim(_ axis: Int) -> Int { -2 - axis }

    /// The op's declaration.
    public var schema: OpSchema { kind.schema }

    /// Required and optional input counts (concat: required is the minimum, any number allowed).
    public var arity: (required: Int, optional: Int) { schema.arity }

    /// Ops whose output element i depends only on input element i (same shape), so the
    /// planner may let the output reuse its first input's buffer.
    public var isElementwiseInPlaceCandidate: Bool { schema.traits.contains(.elementwise) }

    /// The op's name as the CLI prints it, with its function for the function families
    /// ("Unary(rsqrt)").
    public var displayName: String {
        switch self {
        case let .unary(f): return "Unary(\(f))"
        case let .binary(f): return "Binary(\(f))"
        case let .compare(f): return "Compare(\(f))"
        case let .logical(f): return "Logical(\(f))"
        case let .reduce(f, _, _): return "Reduce(\(f))"
        case let .argReduce(largest, _, _): return largest ? "ArgMax" : "ArgMin"
        default: return kind.description
        }
    }
}

/// Stable op codes (part of the `.ember` format: never renumber). Names and
/// every other fact about an op live in its `OpSchema`.
public enum OpKind: UInt16, Sendable, CaseIterable, CustomStringConvertible {
    case conv2D = 1, fullyConnected, matMul, add, sub, mul, div, relu, relu6, leakyRelu,
         sigmoid, tanh, hardSwish, gelu, softmax, averagePool2D, maxPool2D, mean,
         globalAveragePool, reshape, transpose, concat, pad, slice, layerNorm, quantize, dequantize,
         maximum, minimum, resize, prelu,
         unary, binary, compare, logical, reduce, argReduce, select, cast, gather, tile,
         transposeConv2D, mirrorPad, fullyConnectedAsymmetricInputs, cumSum, topK

    public var description: String { schema.name }
}
