import Testing
import CEmberKernels
@testable import EmberKernels
#if canImport(Glibc)
import Glibc
#endif

func makeBroadcast(_ a: [Int], _ b: [Int], _ out: [Int]) -> ember_broadcast {
    var bc = ember_broadcast()
    bc.rank = Int32(out.count)
    fillTuple(&bc.shape, out.map { Int32($0) })
    fillTuple(&bc.a_strides, broadcastStrides(a, to: out).map { Int64($0) })
    fillTuple(&bc.b_strides, broadcastStrides(b, to: out).map { Int64($0) })
    return bc
}

/// Flat index into a (broadcast) input of the output element `i`.
func sourceIndex(_ i: Int, _ dims: [Int], _ out: [Int]) -> Int {
    let strides = broadcastStrides(dims, to: out)
    var rem = i, idx = 0
    for d in stride(from: out.count - 1, through: 0, by: -1) { idx += (rem % out[d]) * strides[d]; rem /= out[d] }
    return idx
}

func randomBroadcastPair(_ rng: inout SplitMix64) -> ([Int], [Int], [Int]) {
    let rank = rng.int(0...4)
    let out = (0..<rank).map { _ in rng.int(1...5) }
    let a = out.map { rng.int(0...3) == 0 ? 1 : $0 }
    let b = Array(out.map { rng.int(0...2) == 0 ? 1 : $0 }.dropFirst(rng.int(0...rank)))
    return (a, b, out)
}

@Suite struct ElementwiseTests {
    @Test func binaryFloatBroadcasts() {
        var rng = SplitMix64(seed: 20)
        for _ in 0..<300 {
            let (ad, bd, od) = randomBroadcastPair(&rng)
            let a = rng.floats(ad.reduce(1, *)), b = rng.floats(bd.reduce(1, *)).map { $0 + 3 }
            let n = od.reduce(1, *)
            let cases: [(ember_binary_op, (Float, Float) -> Float)] = [
                (EMBER_BINARY_ADD, { $0 + $1 }), (EMBER_BINARY_SUB, { $0 - $1 }),
                (EMBER_BINARY_MUL, { $0 * $1 }), (EMBER_BINARY_DIV, { $0 / $1 }),
                (EMBER_BINARY_MAX, { max($0, $1) }), (EMBER_BINARY_MIN, { min($0, $1) }),
            ]
            for (op, f) in cases {
                var bc = makeBroadcast(ad, bd, od)
                var out = [Float](repeating: 0, count: n)
                ember_binary_f32_ref(op, &bc, a, b, -.infinity, .infinity, &out)
                for i in 0..<n { #expect(out[i] == f(a[sourceIndex(i, ad, od)], b[sourceIndex(i, bd, od)])) }
            }
        }
    }

    @Test func addAndMulInt8MatchTFLiteFormulas() {
        var rng = SplitMix64(seed: 21)
        for _ in 0..<300 {
            let (ad, bd, od) = randomBroadcastPair(&rng)
            let a = rng.int8s(ad.reduce(1, *)), b = rng.int8s(bd.reduce(1, *)), n = od.reduce(1, *)
            var p = ember_add_s8_params()
            p.a_offset = Int32(rng.int(-127...128)); p.b_offset = Int32(rng.int(-127...128)); p.output_offset = Int32(rng.int(-128...127))
            p.left_shift = 20
            p.a_multiplier = Int32(rng.int((1 << 30)...Int(Int32.max))); p.a_shift = Int32(rng.int(-3...0))
            p.b_multiplier = Int32(rng.int((1 << 30)...Int(Int32.max))); p.b_shift = Int32(rng.int(-3...0))
            p.output_multiplier = Int32(rng.int((1 << 30)...Int(Int32.max))); p.output_shift = Int32(rng.int(-22...(-17)))
            p.act_min = -100; p.act_max = 120
            let sub = Int32(rng.int(0...1))
            var bc = makeBroadcast(ad, bd, od)
            var out = [Int8](repeating: 0, count: n)
            ember_add_s8_ref(&bc, a, b, &p, sub, &out)
            for i in 0..<n {
                let sa = mbqm((Int32(a[sourceIndex(i, ad, od)]) + p.a_offset) << 20, p.a_multiplier, p.a_shift)
                let sb = mbqm((Int32(b[sourceIndex(i, bd, od)]) + p.b_offset) << 20, p.b_multiplier, p.b_shift)
                let raw = mbqm(sub == 1 ? sa - sb : sa + sb, p.output_multiplier, p.output_shift) + p.output_offset
                #expect(out[i] == Int8(min(max(raw, -100), 120)))
            }

            var m = ember_mul_s8_params()
            m.a_offset = p.a_offset; m.b_offset = p.b_offset; m.output_offset = p.output_offset
            m.output_multiplier = p.output_multiplier; m.output_shift = Int32(rng.int(-14...(-7))); m.act_min = -128; m.act_max = 127
            ember_mul_s8_ref(&bc, a, b, &m, &out)
            for i in 0..<n {
                let prod = (Int32(a[sourceIndex(i, ad, od)]) + m.a_offset) * (Int32(b[sourceIndex(i, bd, od)]) + m.b_offset)
                #expect(out[i] == Int8(min(max(mbqm(prod, m.output_multiplier, m.output_shift) + m.output_offset, -128), 127)))
            }

            // ONNX Runtime's form (float_mode): Q/DQ around a float ADD, SUB or MUL — the dequantized codes
            // combined in float, divided by the output scale, rounded to nearest even.
            let (sa, sb, so) = (Float.random(in: 0.001...0.1, using: &rng), Float.random(in: 0.001...0.1, using: &rng),
                                Float.random(in: 0.001...0.1, using: &rng))
            p.float_mode = 1; p.a_scale = sa; p.b_scale = sb; p.output_scale = so
            m.float_mode = 1; m.a_scale = sa; m.b_scale = sb; m.output_scale = so
            var sums = [Int8](repeating: 0, count: n), products = [Int8](repeating: 0, count: n)
            ember_add_s8_ref(&bc, a, b, &p, sub, &sums)
            ember_mul_s8_ref(&bc, a, b, &m, &products)
            for i in 0..<n {
                let x = Float(Int32(a[sourceIndex(i, ad, od)]) + p.a_offset) * sa
                let y = Float(Int32(b[sourceIndex(i, bd, od)]) + p.b_offset) * sb
                func onnx(_ v: Float, _ lo: Int32, _ hi: Int32) -> Int8 {
                    Int8(min(max(Int32((v / so).rounded(.toNearestOrEven)) + p.output_offset, lo), hi))
                }
                #expect(sums[i] == onnx(sub == 1 ? x - y : x + y, -100, 120))
                #expect(products[i] == onnx(x * y, -128, 127))
            }
        }
    }

    @Test func minMaxInt8OnRawCodes() {
        var rng = SplitMix64(seed: 24)
        for _ in 0..<100 {
            let (ad, bd, od) = randomBroadcastPair(&rng)
            let a = rng.int8s(ad.reduce(1, *)), b = rng.int8s(bd.reduce(1, *)), n = od.reduce(1, *)
            var bc = makeBroadcast(ad, bd, od)
            var mx = [Int8](repeating: 0, count: n), mn = mx
            ember_minmax_s8_ref(&bc, a, b, 1, &mx)
            ember_minmax_s8_ref(&bc, a, b, 0, &mn)
            for i in 0..<n {
                let x = a[sourceIndex(i, ad, od)], y = b[sourceIndex(i, bd, od)]
                #expect(mx[i] == max(x, y) && mn[i] == min(x, y))
            }
        }
    }

    /// Swift twins of TFLite's reference resize index arithmetic.
    @Test func resizeMatchesTFLiteFormulas() {
        var rng = SplitMix64(seed: 25)
        for _ in 0..<200 {
            let inH = rng.int(1...6), inW = rng.int(1...6), c = rng.int(1...3), outH = rng.int(1...9), outW = rng.int(1...9)
            let align = rng.int(0...1) == 1, half = !align && rng.int(0...1) == 1
            func scale(_ i: Int, _ o: Int) -> Float { (align && o > 1) ? Float(i - 1) / Float(o - 1) : Float(i) / Float(o) }
            let sh = scale(inH, outH), sw = scale(inW, outW)
            func nearest(_ o: Int, _ i: Int, _ s: Float) -> Int {
                let v = (Float(o) + (half ? 0.5 : 0)) * s
                var r = align ? Int(v.rounded(.toNearestOrAwayFromZero)) : Int(v.rounded(.down))
                r = min(r, i - 1)
                return half ? max(r, 0) : r
            }
            let x = rng.floats(inH * inW * c)
            var near = [Float](repeating: 0, count: outH * outW * c), bil = near
            ember_resize_nearest_ref(4, 1, Int32(inH), Int32(inW), Int32(c), Int32(outH), Int32(outW), align ? 1 : 0, half ? 1 : 0, x, &near)
            ember_resize_bilinear_f32_ref(1, Int32(inH), Int32(inW), Int32(c), Int32(outH), Int32(outW), align ? 1 : 0, half ? 1 : 0, x, &bil)
            for oy in 0..<outH { for ox in 0..<outW { for ch in 0..<c {
                let o = (oy * outW + ox) * c + ch
                #expect(near[o] == x[(nearest(oy, inH, sh) * inW + nearest(ox, inW, sw)) * c + ch])
                let fy = half ? (Float(oy) + 0.5) * sh - 0.5 : Float(oy) * sh
                let fx = half ? (Float(ox) + 0.5) * sw - 0.5 : Float(ox) * sw
                let y0 = max(Int(fy.rounded(.down)), 0), y1 = min(Int(fy.rounded(.up)), inH - 1)
                let x0 = max(Int(fx.rounded(.down)), 0), x1 = min(Int(fx.rounded(.up)), inW - 1)
                let dy = fy - Float(y0), dx = fx - Float(x0)
                func at(_ y: Int, _ xx: Int) -> Float { x[(y * inW + xx) * c + ch] }
                let e = at(y0, x0) * (1 - dy) * (1 - dx) + at(y1, x0) * dy * (1 - dx) + at(y0, x1) * (1 - dy) * dx + at(y1, x1) * dy * dx
                #expect(abs(bil[o] - e) <= 1e-6)
            } } }
        }
    }

    @Test func unaryFloatFunctions() {
        let x: [Float] = [-10, -3, -1.5, -0.5, 0, 0.5, 1.5, 3, 7, 10]
        func run(_ op: ember_unary_op, _ alpha: Float = 0) -> [Float] {
            var out = x
            ember_unary_f32_ref(op, alpha, Int64(x.count), x, &out)
            return out
        }
        #expect(run(EMBER_UNARY_RELU) == x.map { max($0, 0) })
        #expect(run(EMBER_UNARY_RELU6) == x.map { min(max($0, 0), 6) })
        #expect(run(EMBER_UNARY_RELU_N1_TO_1) == x.map { min(max($0, -1), 1) })
        #expect(run(EMBER_UNARY_LEAKY_RELU, 0.1) == x.map { $0 >= 0 ? $0 : 0.1 * $0 })
        for (a, v) in zip(run(EMBER_UNARY_SIGMOID), x) { #expect(abs(a - 1 / (1 + expf(-v))) < 1e-6) }
        for (a, v) in zip(run(EMBER_UNARY_TANH), x) { #expect(abs(a - tanhf(v)) < 1e-6) }
        for (a, v) in zip(run(EMBER_UNARY_HARD_SWISH), x) { #expect(abs(a - v * min(max(v + 3, 0), 6) / 6) < 1e-6) }
        for (a, v) in zip(run(EMBER_UNARY_GELU), x) { #expect(abs(a - 0.5 * v * (1 + erff(v / 2.0.squareRoot().f))) < 1e-5) }
        // In place.
        var y = x
        y.withUnsafeMutableBufferPointer { ember_unary_f32_ref(EMBER_UNARY_RELU, 0, 10, $0.baseAddress, $0.baseAddress) }
        #expect(y == x.map { max($0, 0) })
    }

    @Test func softmaxAndLayerNorm() {
        var rng = SplitMix64(seed: 22)
        for _ in 0..<100 {
            let outer = rng.int(1...3), size = rng.int(1...7), inner = rng.int(1...3)
            let x = rng.floats(outer * size * inner, 50)
            var out = [Float](repeating: 0, count: x.count)
            ember_softmax_f32_ref(Int64(outer), Int32(size), Int64(inner), 0.7, x, &out)
            for o in 0..<outer { for i in 0..<inner {
                let idx = (0..<size).map { (o * size + $0) * inner + i }
                let m = idx.map { x[$0] }.max()!
                let e = idx.map { expf(0.7 * (x[$0] - m)) }, s = e.reduce(0, +)
                for (k, j) in idx.enumerated() { #expect(abs(out[j] - e[k] / s) < 1e-6) }
            } }
            let cols = rng.int(1...9), rows = rng.int(1...4)
            let y = rng.floats(rows * cols, 3), gamma = rng.floats(cols), beta = rng.floats(cols)
            var ln = [Float](repeating: 0, count: y.count)
            ember_layer_norm_f32_ref(Int64(rows), Int32(cols), 1e-5, y, gamma, beta, &ln)
            for r in 0..<rows {
                let row = Array(y[(r * cols)..<((r + 1) * cols)])
                let mean = row.reduce(0, +) / Float(cols)
                let v = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(cols)
                for c in 0..<cols { #expect(abs(ln[r * cols + c] - ((row[c] - mean) / (v + 1e-5).squareRoot() * gamma[c] + beta[c])) < 1e-4) }
            }
        }
    }

    @Test func quantizeDequantizeAndEdgeValues() {
        let x: [Float] = [0, 0.5, -0.5, 1.5, 2.5, -2.5, 1000, -1000, .infinity, -.infinity, .nan, 1e30]
        var q = [Int8](repeating: 0, count: x.count)
        ember_quantize_f32_s8_ref(Int64(x.count), x, 1, 3, &q)
        #expect(Array(q.prefix(8)) == [3, 4, 2, 5, 6, 0, 127, -128]) // half away from zero, then + zp, clamp
        #expect(q[8] == 127 && q[9] == -128 && q[11] == 127)
        var u = [UInt8](repeating: 0, count: 3)
        ember_quantize_f32_u8_ref(3, [-1, 0.4, 300], 0.5, 10, &u)
        #expect(u == [8, 11, 255])
        var f = [Float](repeating: 0, count: 3)
        ember_dequantize_s8_f32_ref(3, [-128, 0, 127], 0.5, -1, &f)
        #expect(f == [-63.5, 0.5, 64])
        var r = [Int8](repeating: 0, count: 4)
        let (m, s) = quantizeMultiplier(0.5)
        ember_requantize_s8_ref(4, [-128, -1, 1, 127], 0, m, s, 0, -128, 127, &r)
        // gemmlowp's doubling high multiply rounds ties up: -0.5 → 0, 0.5 → 1, 63.5 → 64 (as TFLite).
        #expect(r == [-64, 0, 1, 64])
    }

    @Test func halfPrecisionRoundTripsEveryValue() {
        let all = (0...UInt16.max).map { $0 }
        var f = [Float](repeating: 0, count: all.count)
        ember_f16_to_f32(Int64(all.count), all, &f)
        for (h, v) in zip(all, f) {
            let expected = Float(Float16(bitPattern: h))
            #expect(v.bitPattern == expected.bitPattern || (v.isNaN && expected.isNaN))
        }
        var back = [UInt16](repeating: 0, count: all.count)
        ember_f32_to_f16(Int64(f.count), f, &back)
        for (h, b) in zip(all, back) where !Float16(bitPattern: h).isNaN { #expect(h == b) }
        var rng = SplitMix64(seed: 23)
        let randomFloats = (0..<20_000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        ember_f32_to_f16(Int64(randomFloats.count), randomFloats, &back)
        for (x, h) in zip(randomFloats, back.prefix(randomFloats.count)) where !x.isNaN {
            #expect(Float16(x).bitPattern == h) // Swift's conversion rounds to nearest even too
        }
    }
}

extension Double { var f: Float { Float(self) } }
