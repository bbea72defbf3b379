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

/// The closed op set. Every op has exactly one output. Images are NHWC; conv
/// filters are [out_channels, kh, kw, in_channels / groups]; fully-connected
/// weights are [out_features, in_features].
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
    /// New dims; at most one -1, inferred from the element count.
    case reshape([Int])
    case transpose(perm: [Int])
    case concat(axis: Int)
    /// Constant padding with the value that represents real zero.
    case pad(before: [Int], after: [Int])
    /// Strided slice with ONNX semantics for negative and out-of-range indices.
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

    /// The op's name as the CLI prints it and the format stores it.
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
        }
    }

    /// Required and optional input counts (concat: required is the minimum, any number allowed).
    public var arity: (required: Int, optional: Int) {
        switch self {
        case .conv2D, .fullyConnected: return (2, 1)
        case .matMul, .add, .sub, .mul, .div, .maximum, .minimum, .prelu: return (2, 0)
        case .layerNorm: return (1, 2)
        case .concat: return (1, Int.max - 1)
        default: return (1, 0)
        }
    }

    /// Ops whose output element i depends only on input element i (same shape), so the
    /// planner may let the output reuse its first input's buffer.
    public var isElementwiseInPlaceCandidate: Bool {
        switch self {
        case .add, .sub, .mul, .div, .maximum, .minimum, .prelu, .relu, .relu6, .leakyRelu, .sigmoid, .tanh, .hardSwish, .gelu:
            return true
        default: return false
        }
    }
}

/// Stable op codes (part of the `.ember` format: never renumber) and names.
public enum OpKind: UInt16, Sendable, CaseIterable, CustomStringConvertible {
    case conv2D = 1, fullyConnected, matMul, add, sub, mul, div, relu, relu6, leakyRelu,
         sigmoid, tanh, hardSwish, gelu, softmax, averagePool2D, maxPool2D, mean,
         globalAveragePool, reshape, transpose, concat, pad, slice, layerNorm, quantize, dequantize,
         maximum, minimum, resize, prelu

    public var description: String {
        switch self {
        case .conv2D: return "Conv2D"
        case .fullyConnected: return "FullyConnected"
        case .matMul: return "MatMul"
        case .add: return "Add"
        case .sub: return "Sub"
        case .mul: return "Mul"
        case .div: return "Div"
        case .relu: return "Relu"
        case .relu6: return "Relu6"
        case .leakyRelu: return "LeakyRelu"
        case .sigmoid: return "Sigmoid"
        case .tanh: return "Tanh"
        case .hardSwish: return "HardSwish"
        case .gelu: return "Gelu"
        case .softmax: return "Softmax"
        case .averagePool2D: return "AveragePool2D"
        case .maxPool2D: return "MaxPool2D"
        case .mean: return "Mean"
        case .globalAveragePool: return "GlobalAveragePool"
        case .reshape: return "Reshape"
        case .transpose: return "Transpose"
        case .concat: return "Concat"
        case .pad: return "Pad"
        case .slice: return "Slice"
        case .layerNorm: return "LayerNorm"
        case .quantize: return "Quantize"
        case .dequantize: return "Dequantize"
        case .maximum: return "Maximum"
        case .minimum: return "Minimum"
        case .resize: return "Resize"
        case .prelu: return "PRelu"
        }
    }
}
