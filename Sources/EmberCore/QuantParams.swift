/// Affine quantization: real = scale * (q - zeroPoint). Per tensor (one scale)
/// or per axis (one scale and zero point per index along `axis`).
public struct QuantParams: Hashable, Sendable, CustomStringConvertible {
    public var scales: [Float]
    public var zeroPoints: [Int32]
    /// nil for per-tensor parameters.
    public var axis: Int?
    /// How an int8 op requantizes its result into a value with these parameters.
    public var requantization: Requantization = .fixedPoint

    /// TFLite's fixed-point arithmetic (LiteRT's reference kernels: a Q31 multiplier, gemmlowp's
    /// double rounding), or ONNX Runtime's: the int32 result times a float scale, rounded to
    /// nearest even (MLAS QLinearConv; ONNX QuantizeLinear after float Dequantize/op). QDQ models
    /// folded into int8 ops take the second, so that they give ORT's codes (docs/DESIGN_NOTES.md).
    public enum Requantization: UInt8, Hashable, Sendable {
        case fixedPoint = 0, float = 1
    }

    public init(scale: Float, zeroPoint: Int32) {
        scales = [scale]
        zeroPoints = [zeroPoint]
        axis = nil
    }

    public init(scales: [Float], zeroPoints: [Int32], axis: Int) {
        self.scales = scales
        self.zeroPoints = zeroPoints
        self.axis = axis
    }

    public var isPerTensor: Bool { axis == nil }
    /// The per-tensor scale (the first one for per-axis parameters).
    public var scale: Float { scales.first ?? 1 }
    public var zeroPoint: Int32 { zeroPoints.first ?? 0 }

    /// Checks counts, finiteness and positivity; `dims` are the tensor's dims.
    public func validate(dims: [Int], dtype: DType) -> String? {
        guard !scales.isEmpty, scales.count == zeroPoints.count else {
            return "quantization needs as many zero points as scales (got \(scales.count) and \(zeroPoints.count))"
        }
        for s in scales where !(s.isFinite && s > 0) {
            return "quantization scale \(s) is not a positive finite number"
        }
        if let axis {
            guard axis >= 0, axis < dims.count else { return "quantization axis \(axis) is outside rank \(dims.count)" }
            guard scales.count == dims[axis] else {
                return "per-axis quantization has \(scales.count) scales for dim \(axis) of size \(dims[axis])"
            }
        } else if scales.count != 1 {
            return "per-tensor quantization has \(scales.count) scales"
        }
        let range: ClosedRange<Int32> = dtype == .u8 ? 0...255 : (dtype == .i8 ? -128...127 : Int32.min...Int32.max)
        for z in zeroPoints where !range.contains(z) {
            return "zero point \(z) is outside the range of \(dtype)"
        }
        return nil
    }

    public var description: String {
        let mode = requantization == .float ? " float-requant" : ""
        if let axis { return "per-axis(\(axis)) \(scales.count) scales\(mode)" }
        return "scale=\(scale) zp=\(zeroPoint)\(mode)"
    }
}
