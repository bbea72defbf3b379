import Testing
import CEmberKernels
@testable import EmberKernels

// Independent Swift twins of gemmlowp/TFLite fixed-point arithmetic.
func srdhm(_ a: Int32, _ b: Int32) -> Int32 {
    if a == b && a == Int32.min { return Int32.max }
    let ab = Int64(a) * Int64(b)
    let nudge: Int64 = ab >= 0 ? (1 << 30) : (1 - (1 << 30))
    return Int32(truncatingIfNeeded: (ab + nudge) / (Int64(1) << 31))
}

func rdbp(_ x: Int32, _ e: Int32) -> Int32 {
    let mask = Int32(truncatingIfNeeded: (Int64(1) << Int64(e)) - 1)
    let remainder = x & mask
    let threshold = (mask >> 1) + (x < 0 ? 1 : 0)
    return (x >> e) + (remainder > threshold ? 1 : 0)
}

func mbqm(_ x: Int32, _ m: Int32, _ shift: Int32) -> Int32 {
    let left = max(shift, 0), right = max(-shift, 0)
    return rdbp(srdhm(x &* (Int32(1) << left), m), right)
}

/// TFLite's single-rounding MultiplyByQuantizedMultiplier (what LiteRT's int8 FC uses).
func mbqmSingle(_ x: Int32, _ m: Int32, _ shift: Int32) -> Int32 {
    let total = Int64(31 - shift)
    return Int32((Int64(x) * Int64(m) + (Int64(1) << (total - 1))) >> total)
}

@Suite struct FixedPointTests {
    @Test func knownValues() {
        #expect(ember_saturating_rounding_doubling_high_mul(Int32.min, Int32.min) == Int32.max)
        #expect(ember_saturating_rounding_doubling_high_mul(1 << 30, 1 << 30) == 1 << 29)
        #expect(ember_rounding_divide_by_pot(5, 1) == 3)   // 2.5 → 3 (away from zero)
        #expect(ember_rounding_divide_by_pot(-5, 1) == -3)
        #expect(ember_rounding_divide_by_pot(-4, 1) == -2)
        #expect(ember_rounding_divide_by_pot(7, 0) == 7)
        let (m, s) = quantizeMultiplier(0.5)
        #expect(m == 1 << 30 && s == 0)
        let (m2, s2) = quantizeMultiplier(3.0)
        #expect(m2 == 1 << 30 + (1 << 29) && s2 == 2)
        #expect(quantizeMultiplier(0).multiplier == 0)
        // The two roundings differ at negative ties: -6 × 0.25 = -1.5.
        let quarter = quantizeMultiplier(0.25)
        #expect(ember_multiply_by_quantized_multiplier(-6, quarter.multiplier, quarter.shift) == -2)
        #expect(ember_multiply_by_quantized_multiplier_single_rounding(-6, quarter.multiplier, quarter.shift) == -1)
    }

    @Test func quantizeMultiplierRepresentsTheRealNumber() {
        var rng = SplitMix64(seed: 1)
        for _ in 0..<10_000 {
            let real = Double.random(in: 1e-6...100, using: &rng)
            let (m, s) = quantizeMultiplier(real)
            #expect(m >= 1 << 30)
            let back = Double(m) * pow2(Int(s) - 31)
            #expect(abs(back - real) <= real * 1e-9)
        }
    }

    @Test func multiplyByQuantizedMultiplierMatchesTheSwiftTwin() {
        var rng = SplitMix64(seed: 2)
        for i in 0..<100_000 {
            let x = Int32(truncatingIfNeeded: rng.next() >> UInt64(rng.next() % 40))
            let m = Int32(truncatingIfNeeded: (rng.next() % (1 << 30)) + (1 << 30))
            let shift = Int32(Int(rng.next() % 32) - 31 + (i % 2 == 0 ? Int(rng.next() % 4) : 0))
            let safeX = shift > 0 ? x >> shift : x // keep x << shift in range, as real models do
            #expect(ember_multiply_by_quantized_multiplier(safeX, m, shift) == mbqm(safeX, m, shift))
            #expect(ember_multiply_by_quantized_multiplier_single_rounding(safeX, m, shift) == mbqmSingle(safeX, m, shift))
        }
    }
}

func pow2(_ e: Int) -> Double {
    var v = 1.0
    if e >= 0 { for _ in 0..<e { v *= 2 } } else { for _ in 0..<(-e) { v /= 2 } }
    return v
}

