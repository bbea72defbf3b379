import CEmberKernels
import EmberCore

/// TFLite's QuantizeMultiplier: real ≈ multiplier · 2^(shift − 31).
public func quantizeMultiplier(_ real: Double) -> (multiplier: Int32, shift: Int32) {
    var m: Int32 = 0, s: Int32 = 0
    ember_quantize_multiplier(real, &m, &s)
    return (m, s)
}

/// The multiplier of LiteRT's int8 MEAN (reference_ops::QuantizedMeanOrSum): the multiplier of
/// scale_in / scale_out, shifted left by ⌊log2 n⌋ (at most 32, and no further than the shift allows)
/// and divided by the count n in integers. It is not the multiplier of scale_in / (scale_out · n):
/// the truncating divide makes the two differ by a code on a few percent of outputs when n is not
/// a power of two, and LiteRT's outputs are the ones this reproduces.
public func meanMultiplier(inputScale: Float, outputScale: Float, count n: Int) -> (multiplier: Int32, shift: Int32) {
    let (m, s) = quantizeMultiplier(Double(inputScale) / Double(outputScale))
    guard n > 0 else { return (m, s) }
    let shift = max(0, min(63 - UInt64(n).leadingZeroBitCount, 32, 31 + Int(s)))
    let divided = (Int64(m) << Int64(shift)) / Int64(n)  // < 2^31: 2^shift ≤ n
    return (Int32(truncatingIfNeeded: divided), s - Int32(shift))
}

/// TFLite's two-input int8 recipe that rescales both inputs to twice the larger input scale after a left
/// shift: ADD/SUB (reference integer_ops::Add, shift 20, output multiplier 2·max / (2^20 · s_out)) and
/// SQUARED_DIFFERENCE (squared_difference.cc, shift 7, the difference squared, (2·max)² / (2^14 · s_out)).
func twoInputS8Params(_ qa: QuantParams, _ qb: QuantParams, _ qo: QuantParams, squaredDifference: Bool = false,
                      range: (Int32, Int32) = (-128, 127)) -> ember_add_s8_params {
    var p = ember_add_s8_params()
    p.a_offset = -qa.zeroPoint; p.b_offset = -qb.zeroPoint; p.output_offset = qo.zeroPoint
    p.left_shift = squaredDifference ? 7 : 20
    let twiceMax = Double(2 * max(qa.scale, qb.scale))
    (p.a_multiplier, p.a_shift) = quantizeMultiplier(Double(qa.scale) / twiceMax)
    (p.b_multiplier, p.b_shift) = quantizeMultiplier(Double(qb.scale) / twiceMax)
    let outputReal = squaredDifference ? twiceMax * twiceMax / Double(Float(1 << 14) * qo.scale)
                                       : twiceMax / Double(Float(1 << 20) * qo.scale)
    (p.output_multiplier, p.output_shift) = quantizeMultiplier(outputReal)
    (p.act_min, p.act_max) = range
    if qo.requantization == .float, !squaredDifference {
        p.float_mode = 1
        p.a_scale = qa.scale; p.b_scale = qb.scale; p.output_scale = qo.scale
    }
    return p
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
