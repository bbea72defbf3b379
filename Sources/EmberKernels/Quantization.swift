import CEmberKernels
import EmberCore

/// TFLite's QuantizeMultiplier: real ≈ multiplier · 2^(shift − 31).
public func quantizeMultiplier(_ real: Double) -> (multiplier: Int32, shift: Int32) {
    var m: Int32 = 0, s: Int32 = 0
    ember_quantize_multiplier(real, &m, &s)
    return (m, s)
}

/// TFLite's round-half-away-from-zero quantization of one real number.
@inlinable
func quantizeValue(_ x: Float, scale: Float, zeroPoint: Int32) -> Int32 {
    let q = (x / scale).rounded(.toNearestOrAwayFromZero)
    if !(q.isFinite) { return q > 0 ? Int32.max / 2 : (q < 0 ? Int32.min / 2 : zeroPoint) }
    let clamped = max(min(q, 1e9), -1e9)
    return Int32(clamped) + zeroPoint
}

/// The quantized clamp range of a fused activation (TFLite
/// CalculateActivationRangeQuantized), for int8 outputs.
func activationRangeInt8(_ a: Activation, _ q: QuantParams) -> (Int32, Int32) {
    let qmin: Int32 = -128, qmax: Int32 = 127
    let s = q.scale, z = q.zeroPoint
    switch a {
    case .none: return (qmin, qmax)
    case .relu: return (max(qmin, quantizeValue(0, scale: s, zeroPoint: z)), qmax)
    case .relu6: return (max(qmin, quantizeValue(0, scale: s, zeroPoint: z)), min(qmax, quantizeValue(6, scale: s, zeroPoint: z)))
    case .reluN1To1: return (max(qmin, quantizeValue(-1, scale: s, zeroPoint: z)), min(qmax, quantizeValue(1, scale: s, zeroPoint: z)))
    }
}

/// Fills a C fixed-size array (imported as a tuple) from a Swift array.
@inlinable
func fillTuple<Tuple, T>(_ tuple: inout Tuple, _ values: [T]) {
    withUnsafeMutableBytes(of: &tuple) { raw in
        let p = raw.bindMemory(to: T.self)
        for (i, v) in values.prefix(p.count).enumerated() { p[i] = v }
    }
}
