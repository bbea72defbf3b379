import Testing
import CEmberKernels
@testable import EmberKernels

/// Random geometries: odd sizes, strides, dilation, padding, groups (incl. depthwise).
func randomGeometry(_ rng: inout SplitMix64) -> ember_conv_geometry {
    var g = ember_conv_geometry()
    let groups = [1, 1, 2, 3, 0][rng.int(0...4)] // 0 → depthwise
    let inC = groups == 0 ? rng.int(1...6) : groups * rng.int(1...3)
    let gr = groups == 0 ? inC : groups
    g.batch = Int32(rng.int(1...2)); g.in_h = Int32(rng.int(1...9)); g.in_w = Int32(rng.int(1...9)); g.in_c = Int32(inC)
    g.groups = Int32(gr)
    g.out_c = Int32(gr * rng.int(1...3))
    g.kernel_h = Int32(rng.int(1...3)); g.kernel_w = Int32(rng.int(1...3))
    g.stride_h = Int32(rng.int(1...2)); g.stride_w = Int32(rng.int(1...3))
    g.dilation_h = Int32(rng.int(1...2)); g.dilation_w = Int32(rng.int(1...2))
    g.pad_top = Int32(rng.int(0...1)); g.pad_left = Int32(rng.int(0...2))
    let spanH = (Int(g.kernel_h) - 1) * Int(g.dilation_h) + 1, spanW = (Int(g.kernel_w) - 1) * Int(g.dilation_w) + 1
    g.out_h = Int32(max(1, (Int(g.in_h) + 2 * Int(g.pad_top) - spanH) / Int(g.stride_h) + 1))
    g.out_w = Int32(max(1, (Int(g.in_w) + 2 * Int(g.pad_left) - spanW) / Int(g.stride_w) + 1))
    return g
}

/// Naive convolution over any accumulator: calls `tap(outIndex, inIndex, filterIndex)` for each valid tap.
func forEachTap(_ g: ember_conv_geometry, _ tap: (Int, Int, Int) -> Void) {
    let icPerGroup = Int(g.in_c / g.groups), ocPerGroup = Int(g.out_c / g.groups)
    for n in 0..<Int(g.batch) { for oy in 0..<Int(g.out_h) { for ox in 0..<Int(g.out_w) { for oc in 0..<Int(g.out_c) {
        let out = ((n * Int(g.out_h) + oy) * Int(g.out_w) + ox) * Int(g.out_c) + oc
        let group = oc / ocPerGroup
        for ky in 0..<Int(g.kernel_h) { for kx in 0..<Int(g.kernel_w) {
            let iy = oy * Int(g.stride_h) - Int(g.pad_top) + ky * Int(g.dilation_h)
            let ix = ox * Int(g.stride_w) - Int(g.pad_left) + kx * Int(g.dilation_w)
            guard iy >= 0, iy < Int(g.in_h), ix >= 0, ix < Int(g.in_w) else { continue }
            for ic in 0..<icPerGroup {
                let input = ((n * Int(g.in_h) + iy) * Int(g.in_w) + ix) * Int(g.in_c) + group * icPerGroup + ic
                let filter = ((oc * Int(g.kernel_h) + ky) * Int(g.kernel_w) + kx) * icPerGroup + ic
                tap(out, input, filter)
            }
        } }
    } } } }
}

@Suite struct ConvolutionTests {
    @Test func f32MatchesNaiveLoops() {
        var rng = SplitMix64(seed: 10)
        for _ in 0..<300 {
            var g = randomGeometry(&rng)
            let inCount = Int(g.batch * g.in_h * g.in_w * g.in_c)
            let fCount = Int(g.out_c * g.kernel_h * g.kernel_w * (g.in_c / g.groups))
            let outCount = Int(g.batch * g.out_h * g.out_w * g.out_c)
            let x = rng.floats(inCount), f = rng.floats(fCount), bias = rng.floats(Int(g.out_c))
            var expected = (0..<outCount).map { bias[$0 % Int(g.out_c)] }
            forEachTap(g) { o, i, k in expected[o] += x[i] * f[k] }
            expected = expected.map { min(max($0, -0.5), 0.75) }
            var out = [Float](repeating: .nan, count: outCount)
            ember_conv2d_f32_ref(&g, x, f, bias, -0.5, 0.75, &out)
            for (a, b) in zip(out, expected) { #expect(abs(a - b) <= 1e-5) }
        }
    }

    @Test func int8MatchesTFLiteFormula() {
        var rng = SplitMix64(seed: 11)
        for _ in 0..<300 {
            var g = randomGeometry(&rng)
            let inCount = Int(g.batch * g.in_h * g.in_w * g.in_c)
            let fCount = Int(g.out_c * g.kernel_h * g.kernel_w * (g.in_c / g.groups))
            let outCount = Int(g.batch * g.out_h * g.out_w * g.out_c)
            let x = rng.int8s(inCount), f = rng.int8s(fCount)
            let bias = (0..<Int(g.out_c)).map { _ in Int32(rng.int(-3000...3000)) }
            let mult = (0..<Int(g.out_c)).map { _ in Int32(rng.int((1 << 30)...(Int(Int32.max)))) }
            let shift = (0..<Int(g.out_c)).map { _ in Int32(rng.int(-12...(-6))) }
            let inZP = Int32(rng.int(-128...127)), outZP = Int32(rng.int(-128...127))
            let lo = Int32(rng.int(-128...(-50))), hi = Int32(rng.int(50...127))
            var acc = (0..<outCount).map { bias[$0 % Int(g.out_c)] }
            forEachTap(g) { o, i, k in acc[o] += (Int32(x[i]) - inZP) * Int32(f[k]) }
            let expected = acc.enumerated().map { o, a -> Int8 in
                let c = o % Int(g.out_c)
                return Int8(min(max(mbqm(a, mult[c], shift[c]) + outZP, lo), hi))
            }
            var out = [Int8](repeating: 99, count: outCount)
            mult.withUnsafeBufferPointer { m in shift.withUnsafeBufferPointer { s in
                var q = ember_requant(input_offset: -inZP, output_offset: outZP, multiplier: m.baseAddress, shift: s.baseAddress, act_min: lo, act_max: hi, scale: nil)
                ember_conv2d_s8_ref(&g, x, f, bias, &q, &out)
            } }
            #expect(out == expected)
        }
    }

    @Test func hybridMatchesDynamicQuantizationFormula() {
        var rng = SplitMix64(seed: 14)
        for trial in 0..<200 {
            var g = randomGeometry(&rng)
            let perBatch = Int(g.in_h * g.in_w * g.in_c)
            let inCount = Int(g.batch) * perBatch
            let fCount = Int(g.out_c * g.kernel_h * g.kernel_w * (g.in_c / g.groups))
            let outCount = Int(g.batch * g.out_h * g.out_w * g.out_c)
            var x = rng.floats(inCount, 4)
            if trial % 10 == 0 { x = [Float](repeating: 0, count: inCount) } // zero range → scale 1, all zeros
            let f = rng.int8s(fCount), bias = rng.floats(Int(g.out_c))
            let filterScale = Float.random(in: 0.001...0.1, using: &rng)
            // Twin: quantize each batch symmetrically, integer conv, rescale.
            var q = [Int8](repeating: 0, count: inCount), scales = [Float](repeating: 1, count: Int(g.batch))
            for n in 0..<Int(g.batch) {
                let slice = x[(n * perBatch)..<((n + 1) * perBatch)]
                let range = slice.map { abs($0) }.max() ?? 0
                guard range > 0 else { continue }
                scales[n] = range / 127
                for i in slice.indices { q[i] = Int8(max(-127, min(127, (x[i] * (127 / range)).rounded(.toNearestOrAwayFromZero)))) }
            }
            var acc = [Int32](repeating: 0, count: outCount)
            forEachTap(g) { o, i, k in acc[o] += Int32(q[i]) * Int32(f[k]) }
            let perOut = Int(g.out_h * g.out_w * g.out_c)
            let expected = acc.enumerated().map { o, a in Float(a) * (scales[o / perOut] * filterScale) + bias[o % Int(g.out_c)] }
            var out = [Float](repeating: .nan, count: outCount), scratch = [Int8](repeating: 0, count: inCount)
            ember_conv2d_hybrid_ref(&g, x, f, filterScale, bias, -.infinity, .infinity, &scratch, &out)
            #expect(out == expected)
            #expect(scratch == q)
        }
    }

    @Test func fullyConnectedInt8AndFloat() {
        var rng = SplitMix64(seed: 12)
        for _ in 0..<200 {
            let rows = rng.int(1...4), inF = rng.int(1...40), outF = rng.int(1...17)
            let x = rng.int8s(rows * inF), w = rng.int8s(outF * inF)
            let bias = (0..<outF).map { _ in Int32(rng.int(-1000...1000)) }
            let mult = (0..<outF).map { _ in Int32(rng.int((1 << 30)...(Int(Int32.max)))) }
            let shift = (0..<outF).map { _ in Int32(rng.int(-10...(-5))) }
            let inZP = Int32(rng.int(-128...127)), outZP = Int32(rng.int(-128...127))
            var expected: [Int8] = []
            for r in 0..<rows { for o in 0..<outF {
                var a = bias[o]
                for i in 0..<inF { a += (Int32(x[r * inF + i]) - inZP) * Int32(w[o * inF + i]) }
                expected.append(Int8(min(max(mbqmSingle(a, mult[o], shift[o]) + outZP, -128), 127)))
            } }
            var out = [Int8](repeating: 0, count: rows * outF)
            mult.withUnsafeBufferPointer { m in shift.withUnsafeBufferPointer { s in
                var q = ember_requant(input_offset: -inZP, output_offset: outZP, multiplier: m.baseAddress, shift: s.baseAddress, act_min: -128, act_max: 127, scale: nil)
                ember_fully_connected_s8_ref(Int64(rows), Int32(inF), Int32(outF), x, w, bias, &q, &out)
            } }
            #expect(out == expected)

            let xf = rng.floats(rows * inF), wf = rng.floats(outF * inF)
            var outf = [Float](repeating: 0, count: rows * outF)
            ember_fully_connected_f32_ref(Int64(rows), Int32(inF), Int32(outF), xf, wf, nil, -.infinity, .infinity, &outf)
            for r in 0..<rows { for o in 0..<outF {
                let e = (0..<inF).reduce(Float(0)) { $0 + xf[r * inF + $1] * wf[o * inF + $1] }
                #expect(abs(outf[r * outF + o] - e) <= 1e-4)
            } }
        }
    }

    @Test func int4BlockWeightsDequantizeInsideTheDotProduct() {
        var rng = SplitMix64(seed: 13)
        for _ in 0..<50 {
            let rows = rng.int(1...3), blocks = rng.int(1...3), outF = rng.int(1...5)
            let inF = blocks * 32
            var packed: [UInt8] = []
            var dense = [Float](repeating: 0, count: outF * inF)
            for o in 0..<outF { for blk in 0..<blocks {
                let scale = Float16(Float.random(in: 0.01...0.2, using: &rng))
                withUnsafeBytes(of: scale.bitPattern.littleEndian) { packed.append(contentsOf: $0) }
                var q = [Int](repeating: 0, count: 32)
                for j in 0..<32 { q[j] = rng.int(-8...7); dense[o * inF + blk * 32 + j] = Float(scale) * Float(q[j]) }
                for j in 0..<16 { packed.append(UInt8(q[2 * j] & 0xF) | UInt8(q[2 * j + 1] & 0xF) << 4) }
            } }
            let x = rng.floats(rows * inF)
            var out = [Float](repeating: 0, count: rows * outF), ref = out
            ember_fully_connected_f32_q4b32_ref(Int64(rows), Int32(inF), Int32(outF), x, packed, nil, -.infinity, .infinity, &out)
            ember_fully_connected_f32_ref(Int64(rows), Int32(inF), Int32(outF), x, dense, nil, -.infinity, .infinity, &ref)
            for (a, b) in zip(out, ref) { #expect(abs(a - b) <= 1e-4) }
        }
    }
}
