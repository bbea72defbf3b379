import Testing
import CEmberKernels
@testable import EmberKernels
import EmberCore
#if canImport(Glibc)
import Glibc
#endif

// Randomized tests of the C kernels the other suites check only on fixed
// examples, each against an independent Swift twin: odd sizes, batches > 1,
// saturating and extreme values.

/// Flat index → coordinates, row-major.
func coordinates(_ flat: Int, _ dims: [Int]) -> [Int] {
    var c = [Int](repeating: 0, count: dims.count), rest = flat
    for d in stride(from: dims.count - 1, through: 0, by: -1) { c[d] = rest % dims[d]; rest /= dims[d] }
    return c
}

func flatIndex(_ c: [Int], _ dims: [Int]) -> Int { zip(c, dims).reduce(0) { $0 * $1.1 + $1.0 } }

/// TFLite's float → int8 rule: round half away from zero, add the zero point, clamp; NaN → zero point.
func quantizeTwin(_ x: Float, _ scale: Float, _ zp: Int32, _ lo: Int32, _ hi: Int32) -> Int32 {
    let q = (x / scale).rounded(.toNearestOrAwayFromZero)
    if q.isNaN { return min(max(zp, lo), hi) }
    let shifted = Double(q) + Double(zp)
    return Int32(min(max(shifted, Double(lo)), Double(hi)))
}

@Suite struct KernelTwinTests {
    @Test func matmulMatchesTheTripleLoop() {
        var rng = SplitMix64(seed: 40)
        for _ in 0..<200 {
            let m = rng.int(1...9), k = rng.int(1...17), n = rng.int(1...11)
            let a = rng.floats(m * k, 2), b = rng.floats(k * n, 2)
            var out = [Float](repeating: .nan, count: m * n)
            ember_matmul_f32_ref(Int32(m), Int32(k), Int32(n), a, b, &out)
            for i in 0..<m { for j in 0..<n {
                let e = (0..<k).reduce(Float(0)) { $0 + a[i * k + $1] * b[$1 * n + j] }
                #expect(abs(out[i * n + j] - e) <= 1e-4 * Float(k))
            } }
        }
    }

    @Test func lookupIndexesTheTableByCode() {
        var rng = SplitMix64(seed: 41)
        for _ in 0..<50 {
            let table = rng.int8s(256), x = rng.int8s(rng.int(1...700)) + [-128, 127, 0]
            var out = [Int8](repeating: 0, count: x.count)
            ember_lookup_s8(Int64(x.count), x, table, &out)
            #expect(out == x.map { table[Int($0) + 128] })
        }
    }

    @Test func meanS8RequantizesTheSumOfEachReducedGroup() {
        var rng = SplitMix64(seed: 42)
        for trial in 0..<200 {
            let dims = (0..<rng.int(1...4)).map { _ in rng.int(1...5) }
            let mask = UInt32(rng.int(1...((1 << dims.count) - 1)))
            var r = ember_reduce()
            r.rank = Int32(dims.count); r.axis_mask = mask
            fillTuple(&r.shape, dims.map { Int32($0) })
            // Every fourth trial saturates: all codes at one extreme.
            let n = dims.reduce(1, *)
            let x: [Int8] = trial % 4 == 0 ? [Int8](repeating: trial % 8 == 0 ? 127 : -128, count: n) : rng.int8s(n)
            let outDims = dims.enumerated().map { mask & (1 << UInt32($0.offset)) != 0 ? 1 : $0.element }
            let reduced = n / outDims.reduce(1, *)
            let zi = Int32(rng.int(-128...127)), zo = Int32(rng.int(-128...127))
            let (m, s) = quantizeMultiplier(Double(Float.random(in: 0.2...3, using: &rng)) / Double(reduced))
            var sums = [Int32](repeating: 0, count: outDims.reduce(1, *))
            for i in 0..<n {
                var c = coordinates(i, dims)
                for d in 0..<dims.count where mask & (1 << UInt32(d)) != 0 { c[d] = 0 }
                sums[flatIndex(c, outDims)] += Int32(x[i]) - zi
            }
            let expected = sums.map { Int8(min(max(mbqm($0, m, s) + zo, -128), 127)) }
            var scratch = [Int32](repeating: 0, count: sums.count), out = [Int8](repeating: 0, count: sums.count)
            ember_mean_s8_ref(&r, x, zi, m, s, zo, &scratch, &out)
            #expect(out == expected, "dims \(dims) mask \(mask)")
        }
    }

    @Test func quantizeDequantizeRequantizeOnRandomAndExtremeValues() {
        var rng = SplitMix64(seed: 43)
        let extremes: [Float] = [0, -0, 0.5, -0.5, 1.5, -1.5, 1e30, -1e30, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        for _ in 0..<100 {
            let x = rng.floats(rng.int(1...300), 40) + extremes
            let scale = Float.random(in: 0.01...2, using: &rng)
            let zs = Int32(rng.int(-128...127)), zu = Int32(rng.int(0...255))
            var s8 = [Int8](repeating: 0, count: x.count), u8 = [UInt8](repeating: 0, count: x.count)
            ember_quantize_f32_s8_ref(Int64(x.count), x, scale, zs, &s8)
            ember_quantize_f32_u8_ref(Int64(x.count), x, scale, zu, &u8)
            #expect(s8.map(Int32.init) == x.map { quantizeTwin($0, scale, zs, -128, 127) })
            #expect(u8.map(Int32.init) == x.map { quantizeTwin($0, scale, zu, 0, 255) })

            var fs = [Float](repeating: 0, count: x.count), fu = fs
            ember_dequantize_s8_f32_ref(Int64(x.count), s8, scale, zs, &fs)
            ember_dequantize_u8_f32_ref(Int64(x.count), u8, scale, zu, &fu)
            #expect(fs == s8.map { scale * Float(Int32($0) - zs) })
            #expect(fu == u8.map { scale * Float(Int32($0) - zu) })

            let (m, s) = quantizeMultiplier(Double(Float.random(in: 0.001...40, using: &rng)))
            let lo = Int32(rng.int(-128...0)), hi = Int32(rng.int(0...127))
            var rq = [Int8](repeating: 0, count: x.count)
            ember_requantize_s8_ref(Int64(x.count), s8, zs, m, s, zu - 128, lo, hi, &rq)
            #expect(rq == s8.map { Int8(min(max(mbqm(Int32($0) - zs, m, s) + zu - 128, lo), hi)) })
        }
    }

    @Test func padSliceConcatMatchTheirDefinitions() {
        var rng = SplitMix64(seed: 44)
        for _ in 0..<200 {
            let rank = rng.int(1...5)
            let dims = (0..<rank).map { _ in rng.int(1...4) }
            let x = (0..<dims.reduce(1, *)).map { Int16($0) }
            // Pad with -1; a negative pad crops (ONNX Pad allows it), leaving at least one element.
            let before = dims.map { d in rng.int(max(-1, 1 - d)...2) }
            let after = (0..<rank).map { i in rng.int(max(-1, 1 - dims[i] - before[i])...2) }
            let padded = (0..<rank).map { dims[$0] + before[$0] + after[$0] }
            var p = [Int16](repeating: 0, count: padded.reduce(1, *))
            var fill: Int16 = -1
            ember_pad_ref(2, Int32(rank), dims.map { Int32($0) }, before.map { Int32($0) }, padded.map { Int32($0) }, &fill, x, &p)
            for i in 0..<p.count {
                let c = coordinates(i, padded).enumerated().map { $0.element - before[$0.offset] }
                let inside = c.enumerated().allSatisfy { $0.element >= 0 && $0.element < dims[$0.offset] }
                #expect(p[i] == (inside ? x[flatIndex(c, dims)] : -1))
            }
            // Strided slice, either direction.
            var begin: [Int] = [], stride: [Int] = [], outDims: [Int] = []
            for d in dims {
                let s = rng.int(1...2) * (rng.int(0...3) == 0 ? -1 : 1)
                let b = s > 0 ? rng.int(0...(d - 1)) : rng.int(0...(d - 1))
                let count = s > 0 ? (d - b + s - 1) / s : (b + 1 + (-s) - 1) / (-s)
                begin.append(b); stride.append(s); outDims.append(rng.int(1...count))
            }
            var sl = [Int16](repeating: 0, count: outDims.reduce(1, *))
            ember_slice_ref(2, Int32(rank), dims.map { Int32($0) }, begin.map { Int32($0) }, stride.map { Int32($0) }, outDims.map { Int32($0) }, x, &sl)
            for i in 0..<sl.count {
                let c = coordinates(i, outDims).enumerated().map { begin[$0.offset] + $0.element * stride[$0.offset] }
                #expect(sl[i] == x[flatIndex(c, dims)])
            }
            // Concat of 1-4 tensors along a random axis.
            let axis = rng.int(0...(rank - 1))
            let parts = (0..<rng.int(1...4)).map { _ -> [Int] in var d = dims; d[axis] = rng.int(0...3); return d }
            let datas = parts.enumerated().map { k, d in (0..<d.reduce(1, *)).map { Int16(k * 1000 + $0) } }
            var outD = dims; outD[axis] = parts.map { $0[axis] }.reduce(0, +)
            var cat = [Int16](repeating: 0, count: outD.reduce(1, *))
            let outer = dims[..<axis].reduce(1, *), inner = dims[(axis + 1)...].reduce(1, *)
            let chunks = parts.map { Int64($0[axis] * inner * 2) }
            let buffers = datas.map { d in d.withUnsafeBytes { ConstantBuffer(copying: $0) } }
            let pointers: [UnsafeRawPointer?] = buffers.map { $0.bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 64) }
            ember_concat_ref(Int32(parts.count), pointers, chunks, Int64(outer), &cat)
            for i in 0..<cat.count {
                var c = coordinates(i, outD)
                var k = 0
                while c[axis] >= parts[k][axis] { c[axis] -= parts[k][axis]; k += 1 }
                #expect(cat[i] == datas[k][flatIndex(c, parts[k])])
            }
        }
    }

    @Test func unaryFunctionsOnRandomInputsAndInPlace() {
        var rng = SplitMix64(seed: 45)
        let cases: [(ember_unary_op, Float, (Float) -> Float)] = [
            (EMBER_UNARY_RELU, 0, { max($0, 0) }), (EMBER_UNARY_RELU6, 0, { min(max($0, 0), 6) }),
            (EMBER_UNARY_RELU_N1_TO_1, 0, { min(max($0, -1), 1) }), (EMBER_UNARY_LEAKY_RELU, 0.3, { $0 >= 0 ? $0 : 0.3 * $0 }),
            (EMBER_UNARY_SIGMOID, 0, { 1 / (1 + expf(-$0)) }), (EMBER_UNARY_TANH, 0, { tanhf($0) }),
            (EMBER_UNARY_SILU, 0, { $0 / (1 + expf(-$0)) }),
            (EMBER_UNARY_HARD_SWISH, 0, { $0 * min(max($0 + 3, 0), 6) / 6 }), (EMBER_UNARY_GELU, 0, { 0.5 * $0 * (1 + erff($0 / Float(2).squareRoot())) }),
        ]
        for _ in 0..<30 {
            let x = rng.floats(rng.int(1...500), 12) + [-100, 100, 0]
            for (op, alpha, f) in cases {
                var out = x
                out.withUnsafeMutableBufferPointer { ember_unary_f32_ref(op, alpha, Int64(x.count), $0.baseAddress, $0.baseAddress) }
                for (a, v) in zip(out, x) { #expect(abs(a - f(v)) <= 1e-5 * max(1, abs(f(v))), "op \(op.rawValue) at \(v)") }
            }
        }
    }

    @Test func convS8SaturatesAtTheActivationBounds() {
        var rng = SplitMix64(seed: 46)
        for trial in 0..<50 {
            var g = randomGeometry(&rng)
            let inCount = Int(g.batch * g.in_h * g.in_w * g.in_c)
            let fCount = Int(g.out_c * g.kernel_h * g.kernel_w * (g.in_c / g.groups))
            let outCount = Int(g.batch * g.out_h * g.out_w * g.out_c)
            // All taps of one sign: every output a tap reaches overflows the activation range.
            let x = [Int8](repeating: trial % 2 == 0 ? 127 : -128, count: inCount)
            let f = [Int8](repeating: (trial / 2) % 2 == 0 ? 127 : -127, count: fCount)
            let mult = [Int32](repeating: Int32.max, count: Int(g.out_c)), shift = [Int32](repeating: 8, count: Int(g.out_c))
            var expected = [Int32](repeating: 0, count: outCount)
            forEachTap(g) { o, i, k in expected[o] += (Int32(x[i]) + 3) * Int32(f[k]) }
            let want = expected.map { Int8(min(max(mbqm($0, Int32.max, 8) - 5, -100), 90)) }
            var out = [Int8](repeating: 0, count: outCount)
            mult.withUnsafeBufferPointer { m in shift.withUnsafeBufferPointer { s in
                var q = ember_requant(input_offset: 3, output_offset: -5, multiplier: m.baseAddress, shift: s.baseAddress, act_min: -100, act_max: 90, scale: nil)
                ember_conv2d_s8_ref(&g, x, f, nil, &q, &out)
            } }
            #expect(out == want)
            var taps = [Int](repeating: 0, count: outCount)
            forEachTap(g) { o, _, _ in taps[o] += 1 }
            for (o, v) in out.enumerated() where taps[o] > 0 { #expect(v == 90 || v == -100) }
        }
    }

    /// TFLite's QuantizeMultiplier: frexp, round the mantissa to Q31, renormalize 2^31, flush below 2^-31
    /// (and, Ember's own rule, saturate above 2^30 instead of overflowing).
    @Test func quantizeMultiplierMatchesTFLitesDefinition() {
        var rng = SplitMix64(seed: 47)
        let specials: [Double] = [0, 1, 0.5, 0.25, 1e-12, 1e-9, 3e-10, 2, 1 - 1e-12, 1e300, .infinity, .nan, -0.5]
        for real in specials + (0..<5000).map({ _ in Double(bitPattern: 0x3C00_0000_0000_0000 | (rng.next() >> 4)) }) {
            var m: Int32 = 0, s: Int32 = 0
            ember_quantize_multiplier(real, &m, &s)
            var em: Int64 = 0, es = 0
            if real != 0, real.isFinite {
                let exponent = Int(real.exponent) + 1
                let mantissa = real.significand / 2 * (real < 0 ? -1 : 1)
                em = Int64((mantissa * 0x1p31).rounded(.toNearestOrAwayFromZero)); es = exponent
                if em == 1 << 31 { em /= 2; es += 1 }
                if es < -31 { em = 0; es = 0 }
                if es > 30 { em = Int64(Int32.max); es = 30 } // Ember saturates where TFLite would overflow
            }
            #expect(Int64(m) == em && Int(s) == es, "\(real): \(m), \(s) vs \(em), \(es)")
        }
    }

    /// ember_prelu_s8_tables against ember_prelu_s8_ref: tables of every code per channel made by the reference
    /// (as prepare makes them), then random rows looked up; one table for all channels, or one each.
    @Test func preluTablesMatchTheReference() {
        var rng = SplitMix64(seed: 81)
        for trial in 0..<40 {
            let channels = rng.int(1...19), tableCount = trial % 3 == 0 ? 1 : channels, rows = rng.int(1...9)
            let slopes = rng.int8s(tableCount)
            var p = ember_prelu_s8_params()
            p.input_offset = Int32(rng.int(-127...128)); p.alpha_offset = Int32(rng.int(-127...128))
            p.output_offset = Int32(rng.int(-128...127))
            (p.multiplier_1, p.shift_1) = quantizeMultiplier(Double.random(in: 0.05...3, using: &rng))
            (p.multiplier_2, p.shift_2) = quantizeMultiplier(Double.random(in: 0.0005...0.05, using: &rng))
            var tables = [Int8](repeating: 0, count: 256 * tableCount)
            for t in 0..<tableCount {
                var code = (0..<256).map { Int8(truncatingIfNeeded: $0 - 128) }
                var bc = makeBroadcast([256], [1], [256])
                var out = [Int8](repeating: 0, count: 256)
                ember_prelu_s8_ref(&bc, &code, [slopes[t]], &p, &out)
                for v in 0..<256 { tables[t * 256 + v] = out[v] }
            }
            let x = rng.int8s(rows * channels)
            var bc = makeBroadcast([rows, channels], tableCount == 1 ? [1] : [channels], [rows, channels])
            var expected = [Int8](repeating: 0, count: x.count), got = [Int8](repeating: 99, count: x.count)
            ember_prelu_s8_ref(&bc, x, slopes, &p, &expected)
            ember_prelu_s8_tables(Int64(rows), Int32(channels), Int32(tableCount), x, tables, &got)
            #expect(got == expected, "trial \(trial): \(rows)x\(channels), \(tableCount) tables")
        }
    }

    /// ember_prelu_s8_pair_table against ember_prelu_s8_ref: the table of every (slope, code) pair made by the
    /// reference (as prepare makes it), then random inputs and slopes of the same shape looked up.
    @Test func preluPairTableMatchesTheReference() {
        var rng = SplitMix64(seed: 82)
        for trial in 0..<20 {
            var p = ember_prelu_s8_params()
            p.input_offset = Int32(rng.int(-127...128)); p.alpha_offset = Int32(rng.int(-127...128))
            p.output_offset = Int32(rng.int(-128...127))
            (p.multiplier_1, p.shift_1) = quantizeMultiplier(Double.random(in: 0.05...3, using: &rng))
            (p.multiplier_2, p.shift_2) = quantizeMultiplier(Double.random(in: 0.0005...0.05, using: &rng))
            let codes = (0..<256).map { Int8(truncatingIfNeeded: $0 - 128) }
            var grid = makeBroadcast([256], [256, 1], [256, 256])
            var table = [Int8](repeating: 0, count: 65_536)
            ember_prelu_s8_ref(&grid, codes, codes, &p, &table)
            let n = rng.int(1...500)
            let x = trial == 0 ? [Int8](repeating: -128, count: n) : rng.int8s(n)
            let alpha = trial == 0 ? [Int8](repeating: 127, count: n) : rng.int8s(n)
            var bc = makeBroadcast([n], [n], [n])
            var expected = [Int8](repeating: 0, count: n), got = [Int8](repeating: 99, count: n)
            ember_prelu_s8_ref(&bc, x, alpha, &p, &expected)
            ember_prelu_s8_pair_table(Int64(n), x, alpha, table, &got)
            #expect(got == expected, "trial \(trial)")
        }
    }

    /// ember_crc32_prefix (PCLMULQDQ folding, or ARMv8 CRC32) against the bit-at-a-time CRC-32 register over the
    /// prefix it says it consumed, at odd offsets and lengths; without the instructions it consumes nothing.
    @Test func crc32PrefixMatchesTheBitwiseDefinition() {
        var rng = SplitMix64(seed: 77)
        let data = (0..<5000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let fast = ember_cpu_features() & UInt32(EMBER_CPU_PCLMUL | EMBER_CPU_CRC32) != 0
        if !fast { print("SKIP: no CRC instructions on this CPU (ember_crc32_prefix consumes nothing)") }
        for trial in 0..<120 {
            let start = trial % 11, length = trial < 20 ? trial * 5 : rng.int(64...4900)
            var consumed: Int64 = -1
            let got = data.withUnsafeBufferPointer { ember_crc32_prefix(0xFFFF_FFFF, $0.baseAddress! + start, Int64(length), &consumed) }
            #expect(consumed >= 0 && Int(consumed) <= length && (consumed > 0) == (fast && length >= 64), "length \(length)")
            var want: UInt32 = 0xFFFF_FFFF
            for b in data[start..<(start + Int(max(consumed, 0)))] {
                want ^= UInt32(b)
                for _ in 0..<8 { want = (want & 1) != 0 ? 0xEDB8_8320 ^ (want >> 1) : want >> 1 }
            }
            #expect(got == want, "offset \(start) length \(length) consumed \(consumed)")
        }
    }

    /// Every kernel the C header declares is called by at least one test in this target.
    @Test func everyDeclaredKernelIsCalledByATest() throws {
        let dir = String(#filePath.dropLast("KernelTwinTests.swift".count))
        let header = try readTextFile(dir + "../../Sources/CEmberKernels/include/ember_kernels.h", .config("kernel header"))
        let declared = textLines(header).compactMap { (line: Substring) -> String? in
            guard !line.hasPrefix(" "), !line.hasPrefix("//"), !line.hasPrefix("#"), let open = line.firstIndex(of: "(") else { return nil }
            let head = line[..<open]
            guard let space = head.lastIndex(where: { $0 == " " || $0 == "*" }) else { return nil }
            let name = String(head[head.index(after: space)...])
            return name.hasPrefix("ember_") ? name : nil
        }
        #expect(declared.count >= 35)
        var sources = ""
        for file in ["ConvolutionTests.swift", "ElementwiseTests.swift", "FixedPointTests.swift", "PoolingAndLayoutTests.swift", "KernelTwinTests.swift",
                     "SIMDKernelTests.swift", "BreadthKernelTests.swift"] {
            sources += try readTextFile(dir + file, .config("test source"))
        }
        let untested = declared.filter { name in name != "ember_cpu_features" && !sources.contains(name + "(") }
        #expect(untested.isEmpty, "declared in ember_kernels.h but called by no kernel test: \(untested)")
    }
}

/// ONNX Runtime's requantization helpers against Swift's own float arithmetic: acc · scale (and v / scale)
/// rounded to nearest even — exact ties included, where TFLite's rounding would go away from zero — and
/// clamped so that no out-of-range float is converted.
@Suite struct FloatRequantizationTests {
    @Test func floatRequantizationRoundsTiesToEvenAsORTDoes() {
        var rng = SplitMix64(seed: 91)
        func expected(_ v: Float) -> Int32 { Int32(max(min(v, 1_073_741_824), -1_073_741_824).rounded(.toNearestOrEven)) }
        for trial in 0..<20_000 {
            let scale = trial % 4 == 0 ? 0.5 : Float.random(in: 1e-5...2, using: &rng)
            let acc = Int32(rng.int(-3_000_000...3_000_000))
            #expect(ember_requantize_float(acc, scale) == expected(Float(acc) * scale), "acc \(acc) scale \(scale)")
            let v = trial % 3 == 0 ? (Float(rng.int(-300...300)) + 0.5) * scale : Float.random(in: -500...500, using: &rng)
            #expect(ember_quantize_float(v, scale) == expected(v / scale), "v \(v) scale \(scale)")
        }
        // Ties: 2.5 → 2 and −2.5 → −2 (TFLite: 3 and −3); saturation and NaN.
        #expect(ember_requantize_float(5, 0.5) == 2 && ember_requantize_float(-5, 0.5) == -2)
        #expect(ember_quantize_float(7.5, 1) == 8 && ember_quantize_float(6.5, 1) == 6)
        #expect(ember_requantize_float(Int32.max, 1000) == 1_073_741_824 && ember_quantize_float(.nan, 1) == 0)
        #expect(ember_quantize_float(-.infinity, 1) == -1_073_741_824)
    }
}
