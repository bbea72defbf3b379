import Testing
import CEmberKernels
@testable import EmberKernels

/// The optimized ISAs this CPU can run (EMBER_ISA_*), and (printed) the ones it cannot.
let availableISAs: [Int32] = {
    let optimized = KernelISA.allCases.filter { $0 != .scalar }
    for path in optimized where path.cISA == nil || !path.isSupported {
        print("SKIP: this CPU or build has no \(path) kernels; they were not tested here")
    }
    return optimized.filter(\.isSupported).compactMap(\.cISA)
}()

func isaName(_ isa: Int32) -> String { KernelISA.allCases.first { $0.cISA == isa }?.rawValue ?? "isa \(isa)" }

/// The kernel table of an ISA in availableISAs.
func kernels(_ isa: Int32) -> ember_kernel_table {
    guard let table = ember_kernel_table_for(isa) else { fatalError("no kernel table for \(isaName(isa))") }
    return table.pointee
}

@Test func packingGeometryFollowsTheVectorWidth() {
    #expect(ember_isa_lanes(Int32(EMBER_ISA_AVX512)) == 16 && ember_isa_lanes(Int32(EMBER_ISA_AVX2)) == 8)
    #expect(ember_n_padded(Int32(EMBER_ISA_AVX512), 17) == 32 && ember_n_padded(Int32(EMBER_ISA_AVX2), 17) == 24)
    #expect(ember_qs8_k_padded(Int32(EMBER_ISA_AVX512), 27) == 28 && ember_qs8_k_padded(Int32(EMBER_ISA_AVX2), 27) == 28)
    #expect(ember_qs8_packed_bytes(Int32(EMBER_ISA_AVX512), 27, 17) == 28 * 32)
    #expect(ember_qs8_packed_bytes(Int32(EMBER_ISA_AVX2), 27, 17) == 28 * 24 * 2)
}

/// The x86 int8 convolutions read each tap row (or, dilated, each tap) as a run padded to a quad (AVX-512)
/// or a pair (AVX2); NEON, and pointwise layers, one run of k.
@Test func convolutionWeightRunsFollowTheKernel() {
    var g = ember_conv_geometry(batch: 1, in_h: 9, in_w: 9, in_c: 3, out_h: 9, out_w: 9, out_c: 8, kernel_h: 3, kernel_w: 3,
                                stride_h: 1, stride_w: 1, dilation_h: 1, dilation_w: 1, pad_top: 1, pad_left: 1, groups: 1)
    let avx512 = Int32(EMBER_ISA_AVX512), avx2 = Int32(EMBER_ISA_AVX2)
    var r = ember_conv_k_runs(avx512, &g)
    #expect(r.runs == 3 && r.length == 9 && ember_qs8_k_padded_runs(avx512, r) == 36)
    #expect(ember_qs8_packed_bytes_runs(avx512, r, 8) == 36 * 16)
    r = ember_conv_k_runs(avx2, &g)  // int16 pairs: each tap row padded to an even length
    #expect(r.runs == 3 && r.length == 9 && ember_qs8_k_padded_runs(avx2, r) == 30)
    r = ember_conv_k_runs(Int32(EMBER_ISA_NEON), &g)  // NEON gathers patches: one run
    #expect(r.runs == 1 && r.length == 27 && ember_qs8_k_padded_runs(Int32(EMBER_ISA_NEON), r) == 28)
    g.dilation_w = 2
    r = ember_conv_k_runs(avx512, &g)
    #expect(r.runs == 9 && r.length == 3 && ember_qs8_k_padded_runs(avx512, r) == 36)
    g = ember_conv_geometry(batch: 1, in_h: 5, in_w: 5, in_c: 7, out_h: 5, out_w: 5, out_c: 8, kernel_h: 1, kernel_w: 1,
                            stride_h: 1, stride_w: 1, dilation_h: 1, dilation_w: 1, pad_top: 0, pad_left: 0, groups: 1)
    r = ember_conv_k_runs(avx512, &g)
    #expect(r.runs == 1 && r.length == 7 && ember_qs8_k_padded_runs(avx512, r) == 8)
    #expect(ember_conv_scratch_bytes(avx512, &g, 1) == ember_gemm_scratch_bytes(avx512, 7, 1))
}

/// The roofline probes count the work they do — iterations × accumulator chains × MACs per instruction
/// (their timing is `ember bench --profile`'s, never asserted here) — and the read probe sums every word.
@Test func rooflineProbesCountTheirWork() {
    let perIteration: [Int32: (int8: Int64, f32: Int64)] = [
        Int32(EMBER_ISA_SCALAR): (8, 8), Int32(EMBER_ISA_AVX512): (8 * 64, 8 * 16), Int32(EMBER_ISA_AVX2): (6 * 16, 8 * 8),
        Int32(EMBER_ISA_NEON): (8 * 4, 8 * 4), Int32(EMBER_ISA_NEON_DOTPROD): (8 * 16, 8 * 4),
    ]
    for isa in [Int32(EMBER_ISA_SCALAR)] + availableISAs {
        guard let expected = perIteration[isa] else { Issue.record("no expected counts for \(isaName(isa))"); continue }
        #expect(ember_probe_mac(isa, 1, 10) == 10 * expected.int8, "\(isaName(isa))")
        #expect(ember_probe_mac(isa, 0, 10) == 10 * expected.f32, "\(isaName(isa))")
        #expect(ember_probe_mac(isa, 1, 0) == 0)
    }
    // Every path's read probe sums every word, whole vectors and the tail (1000 words: 31 blocks of 256
    // bytes and 8 words after them on AVX-512), wrapping.
    let words: [UInt64] = (0..<1000).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }
    for isa in [Int32(EMBER_ISA_SCALAR)] + availableISAs {
        let sum = words.withUnsafeBytes { ember_probe_read(isa, $0.baseAddress, Int64($0.count)) }
        #expect(sum == words.reduce(0, &+), "\(isaName(isa))")
        #expect(words.withUnsafeBytes { ember_probe_read(isa, $0.baseAddress, 24) } == words[0] &+ words[1] &+ words[2])
    }
}

/// Random requantization parameters, some of them saturating (large multipliers, left shifts): mostly the
/// right shifts of real layers (5–12), and every kind of edge — left shifts, no shift, right shifts of 1–3
/// (where the rounding nudge is largest relative to the result) and of 13–31. Without `leftShifts` no
/// channel has one, as in most real layers (the SIMD requantization then skips that step).
func randomRequant(_ rng: inout SplitMix64, channels: Int, leftShifts: Bool = true) -> (mult: [Int32], shift: [Int32]) {
    let mult = (0..<channels).map { _ in Int32(rng.int((1 << 30)...Int(Int32.max))) }
    let shift = (0..<channels).map { _ -> Int32 in
        switch rng.int(0...19) {
        case 0, 1: return leftShifts ? Int32(rng.int(1...4)) : 0
        case 2: return 0
        case 3, 4: return Int32(rng.int(-3...(-1)))
        case 5: return Int32(rng.int(-31...(-13)))
        default: return Int32(rng.int(-12...(-5)))
        }
    }
    return (mult, shift)
}

/// An int8 activation range: the full one (no activation), a ReLU's (the output zero point up), a ReLU6's
/// or any narrower one. The SIMD stores saturate to int8 and clamp only to a narrower range.
func randomActivationRange(_ rng: inout SplitMix64, trial: Int, outputZeroPoint: Int32) -> (lo: Int32, hi: Int32) {
    switch trial % 4 {
    case 0: return (-128, 127)
    case 1: return (outputZeroPoint, 127)
    case 2: return (outputZeroPoint, min(127, outputZeroPoint + Int32(rng.int(20...120))))
    default: return (Int32(rng.int(-128...(-10))), Int32(rng.int(10...127)))
    }
}

/// Per-channel float requantization scales (ONNX Runtime's form) for every other trial, else nil: the
/// ratios real layers have (≈ 1e-4 … 5e-2) and a few large ones that saturate.
func randomFloatRequant(_ rng: inout SplitMix64, channels: Int, trial: Int) -> [Float]? {
    guard trial % 2 == 1 else { return nil }
    return (0..<channels).map { _ in rng.int(0...15) == 0 ? Float.random(in: 0.5...3, using: &rng)
                                                         : Float.random(in: 0.0001...0.05, using: &rng) }
}

/// Packed int8 GEMM weights for `isa`, kept alive with the struct that points at them.
final class PackedQS8 {
    var weights: [UInt8]
    var bias: [Int32], mult: [Int32], shift: [Int32]
    /// Float requantization scales padded to n_padded (nil: fixed point).
    var scales: [Float]?
    var gemm = ember_qs8_gemm()

    /// `runs`: how a convolution's kernel reads k (ember_conv_k_runs); nil, one run (fully connected).
    init(isa: Int32, k: Int, n: Int, w: [Int8], bias b: [Int32]?, mult m: [Int32], shift s: [Int32], zeroPoint: Int32,
         outputOffset: Int32, actMin: Int32, actMax: Int32, singleRounding: Bool, runs: ember_k_runs? = nil,
         floatScales: [Float]? = nil) {
        let np = Int(ember_n_padded(isa, Int32(n))), runs = runs ?? ember_k_runs(runs: 1, length: Int32(k))
        scales = floatScales.map { $0 + [Float](repeating: 0, count: np - $0.count) }
        weights = [UInt8](repeating: 0, count: Int(ember_qs8_packed_bytes_runs(isa, runs, Int32(n))))
        bias = [Int32](repeating: 0, count: np); mult = bias; shift = bias
        weights.withUnsafeMutableBytes { pw in
            if runs.runs == 1 {  // a fully connected layer's packing
                ember_qs8_pack(isa, Int32(k), Int32(n), w, b, m, s, zeroPoint, pw.baseAddress, &bias, &mult, &shift)
            } else {
                ember_qs8_pack_runs(isa, runs, Int32(n), w, b, m, s, zeroPoint, pw.baseAddress, &bias, &mult, &shift)
            }
        }
        gemm.k = Int32(k); gemm.k_padded = ember_qs8_k_padded_runs(isa, runs); gemm.n = Int32(n); gemm.n_padded = Int32(np)
        gemm.input_zero_point = zeroPoint; gemm.output_offset = outputOffset; gemm.act_min = actMin; gemm.act_max = actMax
        gemm.single_rounding = singleRounding ? 1 : 0
    }

    /// Runs `body` with the struct's pointers bound.
    func with<R>(_ body: (UnsafePointer<ember_qs8_gemm>) -> R) -> R {
        weights.withUnsafeBytes { pw in bias.withUnsafeBufferPointer { b in mult.withUnsafeBufferPointer { m in shift.withUnsafeBufferPointer { s in
            withOptionalPointer(scales) { f in
                var g = gemm
                g.weights = pw.baseAddress; g.bias = b.baseAddress; g.multiplier = m.baseAddress; g.shift = s.baseAddress
                g.requant_scale = f
                return body(&g)
            }
        } } } }
    }
}

/// A kernel's scratch of `bytes`, followed by guard bytes that `intact` checks were not written.
/// A random bilinear-resize case for the int8 and f32 resize tests: batch 1–2, input 1–9 × 1–9, 1–40 channels,
/// output 1–20 × 1–20 (up- and downsampling), and the mode trial % 3: 0 neither, 1 align corners, 2 half-pixel
/// centres.
func resizeCase(_ rng: inout SplitMix64, trial: Int)
    -> (batch: Int, inH: Int, inW: Int, channels: Int, outH: Int, outW: Int, mode: Int, align: Int32, halfPixel: Int32) {
    let batch = rng.int(1...2), inH = rng.int(1...9), inW = rng.int(1...9), channels = rng.int(1...40)
    let outH = rng.int(1...20), outW = rng.int(1...20)
    let mode = trial % 3
    return (batch, inH, inW, channels, outH, outW, mode, mode == 1 ? 1 : 0, mode == 2 ? 1 : 0)
}

struct GuardedScratch {
    static let guardBytes = 64, pattern: UInt8 = 0xA5
    var bytes: [UInt8]
    let size: Int
    init(_ size: Int) {
        self.size = size
        bytes = [UInt8](repeating: Self.pattern, count: size + Self.guardBytes)
    }
    var intact: Bool { bytes[size...].allSatisfy { $0 == Self.pattern } }
}

/// Runs `body` with the array's base address, or nil without an array.
func withOptionalPointer<T, R>(_ array: [T]?, _ body: (UnsafePointer<T>?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// Every fifth, seventh and eleventh trial of a depthwise test, a larger kernel in a larger image (5×5, 7×6,
/// and 9×9 — past the 64 taps the kernels keep their weights in registers or on the stack for), so the
/// bounds-tested blocks run kernels with many taps and rows of only interior or only border pixels.
func enlargeDepthwiseKernel(_ g: inout ember_conv_geometry, trial: Int, _ rng: inout SplitMix64) {
    guard trial % 5 == 0 || trial % 7 == 0 || trial % 11 == 0 else { return }
    (g.kernel_h, g.kernel_w) = trial % 5 == 0 ? (5, 5) : trial % 7 == 0 ? (7, 6) : (9, 9)
    g.in_h = Int32(rng.int(9...16)); g.in_w = Int32(rng.int(9...16))
    let spanH = (Int(g.kernel_h) - 1) * Int(g.dilation_h) + 1, spanW = (Int(g.kernel_w) - 1) * Int(g.dilation_w) + 1
    g.out_h = Int32(max(1, (Int(g.in_h) + 2 * Int(g.pad_top) - spanH) / Int(g.stride_h) + 1))
    g.out_w = Int32(max(1, (Int(g.in_w) + 2 * Int(g.pad_left) - spanW) / Int(g.stride_w) + 1))
}

/// A transposed convolution's geometry: strides 1–3, padding below the kernel, kernels up to 4×4, 1–20
/// input and 1–19 output channels, batches of 2, the output as large as the taps reach.
func transposeConvGeometry(_ rng: inout SplitMix64) -> ember_conv_geometry {
    var g = ember_conv_geometry()
    g.batch = Int32(rng.int(1...2)); g.in_h = Int32(rng.int(1...5)); g.in_w = Int32(rng.int(1...7))
    g.in_c = Int32(rng.int(1...20)); g.out_c = Int32(rng.int(1...19))
    g.kernel_h = Int32(rng.int(1...4)); g.kernel_w = Int32(rng.int(1...4))
    g.stride_h = Int32(rng.int(1...3)); g.stride_w = Int32(rng.int(1...3)); g.dilation_h = 1; g.dilation_w = 1; g.groups = 1
    g.pad_top = Int32(rng.int(0...Int(g.kernel_h - 1))); g.pad_left = Int32(rng.int(0...Int(g.kernel_w - 1)))
    g.out_h = (g.in_h - 1) * g.stride_h + g.kernel_h - g.pad_top
    g.out_w = (g.in_w - 1) * g.stride_w + g.kernel_w - g.pad_left
    return g
}

/// A depthwise geometry of 1–70 channels (up to 4 vectors per channel block on both ISAs, plus a tail
/// block); one trial in four is an 8-channel 3×3 layer on an image up to 17 wide (AVX-512 runs those
/// two pixels per vector, a row's last pixel alone when the interior is odd), stride 1 or 2; another in
/// four a 1-D layer over H (kernels 2–15 high) on an image one pixel wide, 1–140 channels.
func depthwiseGeometry(_ rng: inout SplitMix64, trial: Int) -> ember_conv_geometry {
    var g = randomGeometry(&rng)
    var c = rng.int(1...70)
    if trial % 4 == 1 {
        c = 8
        g.kernel_h = 3; g.kernel_w = 3; g.dilation_h = 1; g.dilation_w = 1
        g.stride_h = Int32(rng.int(1...2)); g.stride_w = Int32(rng.int(1...2))
        g.in_h = Int32(rng.int(3...9)); g.in_w = Int32(rng.int(3...17))
        g.out_h = Int32(max(1, (Int(g.in_h) + 2 * Int(g.pad_top) - 3) / Int(g.stride_h) + 1))
        g.out_w = Int32(max(1, (Int(g.in_w) + 2 * Int(g.pad_left) - 3) / Int(g.stride_w) + 1))
    }
    if trial % 4 == 3 {  // a 1-D layer over H on an image one pixel wide (AVX-512 runs it transposed)
        c = rng.int(1...140)
        g.in_w = 1; g.kernel_w = 1; g.pad_left = 0; g.stride_w = 1; g.dilation_w = 1; g.out_w = 1
        g.kernel_h = Int32(rng.int(2...15)); g.in_h = Int32(rng.int(10...30)); g.pad_top = Int32(rng.int(0...2))
        let spanH = (Int(g.kernel_h) - 1) * Int(g.dilation_h) + 1
        g.out_h = Int32(max(1, (Int(g.in_h) + 2 * Int(g.pad_top) - spanH) / Int(g.stride_h) + 1))
    }
    g.in_c = Int32(c); g.out_c = Int32(c); g.groups = Int32(c)
    if trial % 4 != 3 { enlargeDepthwiseKernel(&g, trial: trial, &rng) }
    return g
}

@Suite struct SIMDKernelTests {
    /// groups == 1 geometries, odd sizes, every stride, dilation and padding kind, batch 1–2. One trial in
    /// four is pointwise; another is wider and taller (up to 40 × 12, kernels up to 5 × 5), so output rows
    /// span several tiles and windows of input rows are reused from one output row to the next.
    func denseGeometry(_ rng: inout SplitMix64, trial: Int) -> ember_conv_geometry {
        var g = randomGeometry(&rng)
        g.groups = 1
        g.in_c = Int32(rng.int(1...19)); g.out_c = Int32(rng.int(1...72))  // up to 9 AVX2 panels: every tile width
        if trial % 4 == 1 {  // pointwise: the input rows are the patches
            g.kernel_h = 1; g.kernel_w = 1; g.stride_h = 1; g.stride_w = 1; g.pad_top = 0; g.pad_left = 0
            g.out_h = g.in_h; g.out_w = g.in_w
        }
        if trial % 4 == 3 {
            g.kernel_h = Int32(rng.int(1...5)); g.kernel_w = Int32(rng.int(1...5))
            g.in_h = Int32(rng.int(5...12)); g.in_w = Int32(rng.int(10...40))
            g.pad_top = Int32(rng.int(0...2))
            let spanH = (Int(g.kernel_h) - 1) * Int(g.dilation_h) + 1, spanW = (Int(g.kernel_w) - 1) * Int(g.dilation_w) + 1
            g.out_h = Int32(max(1, (Int(g.in_h) + 2 * Int(g.pad_top) - spanH) / Int(g.stride_h) + 1))
            g.out_w = Int32(max(1, (Int(g.in_w) + 2 * Int(g.pad_left) - spanW) / Int(g.stride_w) + 1))
        }
        return g
    }

    @Test func int8ConvolutionIsByteExactOnEveryISA() {
        for isa in availableISAs {
            var rng = SplitMix64(seed: 60)
            for trial in 0..<300 {
                var g = denseGeometry(&rng, trial: trial)
                let k = Int(g.kernel_h * g.kernel_w * g.in_c), n = Int(g.out_c)
                let inCount = Int(g.batch * g.in_h * g.in_w * g.in_c), outCount = Int(g.batch * g.out_h * g.out_w * g.out_c)
                // Saturation every few trials: inputs and weights at their extremes.
                let x = trial % 5 == 0 ? [Int8](repeating: trial % 10 == 0 ? 127 : -128, count: inCount) : rng.int8s(inCount)
                let f = trial % 5 == 0 ? [Int8](repeating: -127, count: n * k) : rng.int8s(n * k)
                let bias = trial % 3 == 0 ? nil : (0..<n).map { _ in Int32(rng.int(-5000...5000)) }
                let (mult, shift) = randomRequant(&rng, channels: n, leftShifts: trial % 3 != 0)
                let scales = randomFloatRequant(&rng, channels: n, trial: trial)  // ONNX's float requantization
                let zp = Int32(rng.int(-128...127)), outZP = Int32(rng.int(-128...127))
                let (lo, hi) = randomActivationRange(&rng, trial: trial, outputZeroPoint: outZP)
                var expected = [Int8](repeating: 0, count: outCount), got = [Int8](repeating: 99, count: outCount)
                mult.withUnsafeBufferPointer { m in shift.withUnsafeBufferPointer { s in withOptionalPointer(scales) { f32 in
                    var q = ember_requant(input_offset: -zp, output_offset: outZP, multiplier: m.baseAddress, shift: s.baseAddress,
                                          act_min: lo, act_max: hi, scale: f32)
                    ember_conv2d_s8_ref(&g, x, f, bias, &q, &expected)
                } } }
                let packed = PackedQS8(isa: isa, k: k, n: n, w: f, bias: bias, mult: mult, shift: shift, zeroPoint: zp,
                                       outputOffset: outZP, actMin: lo, actMax: hi, singleRounding: false,
                                       runs: ember_conv_k_runs(isa, &g), floatScales: scales)
                var scratch = GuardedScratch(Int(ember_conv_scratch_bytes(isa, &g, 1)))
                packed.with { w in
                    kernels(isa).conv2d_s8(&g, x, w, &scratch.bytes, &got)
                }
                let wrong = zip(got, expected).filter { $0 != $1 }.count
                #expect(wrong == 0, "\(isaName(isa)) trial \(trial): \(wrong) of \(outCount) bytes differ: \(g)")
                #expect(scratch.intact, "\(isaName(isa)) trial \(trial) wrote past its scratch: \(g)")
            }
        }
    }

    /// Dynamic-range conv: the SIMD quantization (round half away from zero, ties included) and the
    /// float output stage give the reference's bits, with and without bias, batch 1–2, all-zero batches.
    @Test func hybridConvolutionIsBitExactOnEveryISA() {
        for isa in availableISAs {
            var rng = SplitMix64(seed: 65)
            for trial in 0..<300 {
                var g = denseGeometry(&rng, trial: trial)
                let k = Int(g.kernel_h * g.kernel_w * g.in_c), n = Int(g.out_c)
                let perBatch = Int(g.in_h * g.in_w * g.in_c)
                let inCount = Int(g.batch) * perBatch, outCount = Int(g.batch * g.out_h * g.out_w * g.out_c)
                var x = rng.floats(inCount, scale: Float(rng.int(1...1000)) / 100)
                switch trial % 6 {
                case 0: for i in 0..<min(perBatch, inCount) { x[i] = 0 }   // an all-zero first batch: scale 1
                case 1:   // max |x| = 127 makes 127/range = 1, so every x = m + 0.5 is an exact tie
                    x = (0..<inCount).map { _ in Float(rng.int(-127...126)) + 0.5 }
                    x[0] = 127
                default: break
                }
                let f = trial % 7 == 0 ? [Int8](repeating: -127, count: n * k) : rng.int8s(n * k)
                let bias: [Float]? = trial % 3 == 0 ? nil : rng.floats(n, scale: 3)
                let filterScale = Float(rng.int(1...500)) / 10000
                let (lo, hi): (Float, Float) = trial % 4 == 0 ? (0, 6) : (-.infinity, .infinity)
                var expected = [Float](repeating: 0, count: outCount), got = [Float](repeating: .nan, count: outCount)
                var refScratch = [Int8](repeating: 0, count: inCount)
                ember_conv2d_hybrid_ref(&g, x, f, filterScale, bias, lo, hi, &refScratch, &expected)
                let (packed, paddedBias) = hybridGEMM(isa: isa, k: k, n: n, weights: f, filterScale: filterScale, range: (lo, hi),
                                                      bias: bias, singleRounding: false, runs: ember_conv_k_runs(isa, &g))
                var scratch = GuardedScratch(Int(ember_hybrid_conv_scratch_bytes(isa, &g)))
                var split = [Float](repeating: .nan, count: outCount)
                let parts = 2 + trial % 2
                packed.with { w in
                    var hybrid = w.pointee
                    withOptionalPointer(paddedBias) { pb in
                        hybrid.float_bias = pb
                        kernels(isa).conv2d_hybrid(&g, x, &hybrid, &scratch.bytes, &got)
                        // The same layer split as the thread pool splits it: each part quantizes whole images.
                        for slice in convSlices(g, parts: parts) {
                            var part = slice.geometry
                            let (first, offset) = g.batch != 1 ? (slice.input, 0) : (0, Int64(slice.input))
                            x.withUnsafeBufferPointer { xs in split.withUnsafeMutableBufferPointer { out in
                                ember_conv2d_hybrid_part(isa, &part, Int64(perBatch), offset, xs.baseAddress! + first, &hybrid,
                                                         &scratch.bytes, out.baseAddress! + slice.output)
                            } }
                        }
                    }
                }
                #expect(scratch.intact, "\(isaName(isa)) trial \(trial) wrote past its scratch: \(g)")
                #expect(zip(split, got).allSatisfy { $0.bitPattern == $1.bitPattern },
                        "\(isaName(isa)) trial \(trial): \(parts) parts differ from the whole, \(g)")
                let differing = zip(got, expected).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(differing == 0, "\(isaName(isa)) trial \(trial): \(differing) of \(outCount) outputs differ, \(g)")
            }
        }
    }

    /// Int8 weights packed for `isa` with the float output stage of the dynamic-range kernels, and the
    /// bias padded to the packed width (nil stays nil).
    func hybridGEMM(isa: Int32, k: Int, n: Int, weights: [Int8], filterScale: Float, range: (Float, Float), bias: [Float]?,
                    singleRounding: Bool, runs: ember_k_runs? = nil) -> (PackedQS8, [Float]?) {
        let packed = PackedQS8(isa: isa, k: k, n: n, w: weights, bias: nil, mult: [Int32](repeating: 0, count: n),
                               shift: [Int32](repeating: 0, count: n), zeroPoint: 0, outputOffset: 0,
                               actMin: -128, actMax: 127, singleRounding: singleRounding, runs: runs)
        packed.gemm.float_output = 1; packed.gemm.filter_scale = filterScale
        packed.gemm.float_min = range.0; packed.gemm.float_max = range.1
        let np = Int(ember_n_padded(isa, Int32(n)))
        return (packed, bias.map { b in (0..<np).map { $0 < n ? b[$0] : 0 } })
    }

    /// Dynamic-range FC: each row quantized on its own; the reference's bits, zero rows included.
    @Test func hybridFullyConnectedIsBitExactOnEveryISA() {
        for isa in availableISAs {
            var rng = SplitMix64(seed: 67)
            for trial in 0..<300 {
                let rows = rng.int(1...9), k = rng.int(1...97), n = rng.int(1...72)
                var x = rng.floats(rows * k, scale: Float(rng.int(1...1000)) / 100)
                if trial % 5 == 0 { for i in 0..<k { x[i] = 0 } }   // an all-zero first row
                let w = trial % 7 == 0 ? [Int8](repeating: -127, count: n * k) : rng.int8s(n * k)
                let bias: [Float]? = trial % 3 == 0 ? nil : rng.floats(n, scale: 3)
                let filterScale = Float(rng.int(1...500)) / 10000
                let (lo, hi): (Float, Float) = trial % 4 == 0 ? (0, 6) : (-.infinity, .infinity)
                var expected = [Float](repeating: 0, count: rows * n), got = [Float](repeating: .nan, count: rows * n)
                var refScratch = [Int8](repeating: 0, count: k)
                ember_fully_connected_hybrid_ref(Int64(rows), Int32(k), Int32(n), x, w, filterScale, bias, lo, hi, &refScratch, &expected)
                let (packed, paddedBias) = hybridGEMM(isa: isa, k: k, n: n, weights: w, filterScale: filterScale, range: (lo, hi),
                                                      bias: bias, singleRounding: true)
                var scratch = [UInt8](repeating: 0, count: Int(ember_hybrid_scratch_bytes(isa, Int64(k), Int32(k))))
                packed.with { p in
                    var hybrid = p.pointee
                    withOptionalPointer(paddedBias) { pb in
                        hybrid.float_bias = pb
                        kernels(isa).fully_connected_hybrid(Int64(rows), x, &hybrid, &scratch, &got)
                    }
                }
                let differing = zip(got, expected).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(differing == 0, "\(isaName(isa)) trial \(trial): \(differing) of \(rows * n) differ, rows \(rows) k \(k) n \(n)")
            }
        }
    }

    @Test func int8FullyConnectedIsByteExactOnEveryISA() {
        for isa in availableISAs {
            var rng = SplitMix64(seed: 61)
            for trial in 0..<300 {
                let rows = rng.int(1...9), k = rng.int(1...97), n = rng.int(1...72)
                let x = trial % 7 == 0 ? [Int8](repeating: -128, count: rows * k) : rng.int8s(rows * k)
                let w = trial % 7 == 0 ? [Int8](repeating: 127, count: n * k) : rng.int8s(n * k)
                let bias = (0..<n).map { _ in Int32(rng.int(-30000...30000)) }
                let (mult, shift) = randomRequant(&rng, channels: n)
                let scales = randomFloatRequant(&rng, channels: n, trial: trial)
                let zp = Int32(rng.int(-128...127)), outZP = Int32(rng.int(-128...127))
                var expected = [Int8](repeating: 0, count: rows * n), got = [Int8](repeating: 99, count: rows * n)
                mult.withUnsafeBufferPointer { m in shift.withUnsafeBufferPointer { s in withOptionalPointer(scales) { f32 in
                    var q = ember_requant(input_offset: -zp, output_offset: outZP, multiplier: m.baseAddress, shift: s.baseAddress,
                                          act_min: -128, act_max: 127, scale: f32)
                    ember_fully_connected_s8_ref(Int64(rows), Int32(k), Int32(n), x, w, bias, &q, &expected)
                } } }
                let packed = PackedQS8(isa: isa, k: k, n: n, w: w, bias: bias, mult: mult, shift: shift, zeroPoint: zp,
                                       outputOffset: outZP, actMin: -128, actMax: 127, singleRounding: true, floatScales: scales)
                var scratch = [UInt8](repeating: 0, count: Int(ember_gemm_scratch_bytes(isa, Int32(k), 1)))
                packed.with { p in
                    kernels(isa).fully_connected_s8(Int64(rows), x, p, &scratch, &got)
                }
                #expect(got == expected, "\(isaName(isa)) trial \(trial): rows \(rows) k \(k) n \(n)")
            }
        }
    }

    @Test func int8DepthwiseIsByteExactOnEveryISA() {
        for isa in availableISAs {
            var rng = SplitMix64(seed: 62)
            for trial in 0..<300 {
                var g = depthwiseGeometry(&rng, trial: trial)
                let c = Int(g.in_c)
                let taps = Int(g.kernel_h * g.kernel_w)
                let inCount = Int(g.batch * g.in_h * g.in_w) * c, outCount = Int(g.batch * g.out_h * g.out_w) * c
                let x = trial % 6 == 0 ? [Int8](repeating: 127, count: inCount) : rng.int8s(inCount)
                let f = rng.int8s(c * taps), bias = (0..<c).map { _ in Int32(rng.int(-3000...3000)) }
                let (mult, shift) = randomRequant(&rng, channels: c, leftShifts: trial % 3 != 0)
                let scales = randomFloatRequant(&rng, channels: c, trial: trial)
                let zp = Int32(rng.int(-128...127)), outZP = Int32(rng.int(-128...127))
                let (lo, hi) = randomActivationRange(&rng, trial: trial, outputZeroPoint: outZP)
                var expected = [Int8](repeating: 0, count: outCount), got = [Int8](repeating: 99, count: outCount)
                mult.withUnsafeBufferPointer { m in shift.withUnsafeBufferPointer { s in withOptionalPointer(scales) { f32 in
                    var q = ember_requant(input_offset: -zp, output_offset: outZP, multiplier: m.baseAddress, shift: s.baseAddress,
                                          act_min: lo, act_max: hi, scale: f32)
                    ember_conv2d_s8_ref(&g, x, f, bias, &q, &expected)
                } } }
                let cp = Int(ember_n_padded(isa, Int32(c)))
                let paddedScales = scales.map { $0 + [Float](repeating: 0, count: cp - c) }
                var scratch = GuardedScratch(Int(ember_dwconv_scratch_bytes(isa, &g, 1)))
                // Int32s hold the packed bytes, so that they are aligned for the ISAs that read int32 weights.
                let weightBytes = Int(ember_dw_s8_weight_bytes(isa, &g))
                // The packed kernel shape (a PACK blob's parameters): the kernel's own, or taps × 1 where quads
                // run along a row; the weight bytes follow from it.
                var packedH: Int32 = 0, packedW: Int32 = 0
                ember_dw_s8_packed_kernel(isa, &g, &packedH, &packedW)
                #expect(Int(packedH * packedW) == taps && (packedW == g.kernel_w || packedW == 1))
                let perSlot = Int(ember_dw_s8_slot_taps(isa))
                #expect(weightBytes == (perSlot > 0 ? cp * ((Int(packedH) + perSlot - 1) / perSlot) * Int(packedW) * 4
                                                    : cp * taps * 4), "weight bytes of a \(packedH)×\(packedW) packed kernel")
                var pw = [Int32](repeating: 0, count: (weightBytes + 3) / 4), pb = [Int32](repeating: 0, count: cp), pm = pb, ps = pb
                ember_dw_pack_s8(isa, &g, f, bias, mult, shift, zp, &pw, &pb, &pm, &ps)
                let slots = ember_dw_s8_slot_taps(isa) > 0
                pw.withUnsafeBufferPointer { w in pb.withUnsafeBufferPointer { b in pm.withUnsafeBufferPointer { m in ps.withUnsafeBufferPointer { s in
                    withOptionalPointer(paddedScales) { f32 in
                        let raw = UnsafeRawPointer(w.baseAddress)
                        var d = ember_qs8_dw(c_padded: Int32(cp), weights: slots ? nil : w.baseAddress, bias: b.baseAddress,
                                             multiplier: m.baseAddress, shift: s.baseAddress, input_zero_point: zp,
                                             output_offset: outZP, act_min: lo, act_max: hi, requant_scale: f32,
                                             slots: slots ? raw : nil)
                        kernels(isa).dwconv2d_s8(&g, x, &d, &scratch.bytes, &got)
                    }
                } } } }
                #expect(got == expected, "\(isaName(isa)) trial \(trial): \(g)")
                #expect(scratch.intact, "\(isaName(isa)) trial \(trial) wrote past its scratch: \(g)")
            }
        }
    }

    @Test func int8AddAndSubAreByteExactOnEveryISA() {
        for isa in availableISAs {
            var rng = SplitMix64(seed: 64)
            var tries = 0, plans = 0, exceptions = 0
            for trial in 0..<300 {
                let n = rng.int(1...300)
                let a = trial % 9 == 0 ? [Int8](repeating: -128, count: n) : rng.int8s(n)
                let b = trial % 9 == 0 ? [Int8](repeating: 127, count: n) : rng.int8s(n)
                var p = ember_add_s8_params()
                p.a_offset = Int32(rng.int(-127...128)); p.b_offset = Int32(rng.int(-127...128)); p.output_offset = Int32(rng.int(-128...127))
                // TFLite's left shift (20) and input multipliers (≤ 0.5) mostly: the 32-bit operand identity.
                // Every fourth trial another shift (7 for SQUARED_DIFFERENCE, the identity's edges 14, 15, 22,
                // 23) and multipliers up to 4 (a positive MBQM shift that adds to it), so both the identity
                // and the 64-bit form run at and past their boundaries.
                let edge = trial % 4 == 3
                p.left_shift = edge ? [7, 14, 15, 16, 22, 23][rng.int(0...5)] : 20
                let inputRange = edge ? 0.01...4.0 : 0.01...0.5
                (p.a_multiplier, p.a_shift) = quantizeMultiplier(Double.random(in: inputRange, using: &rng))
                (p.b_multiplier, p.b_shift) = quantizeMultiplier(Double.random(in: inputRange, using: &rng))
                (p.output_multiplier, p.output_shift) = quantizeMultiplier(Double.random(in: 1e-6...1e-4, using: &rng))
                (p.act_min, p.act_max) = randomActivationRange(&rng, trial: trial / 2, outputZeroPoint: p.output_offset)
                if trial % 3 == 1 {  // ONNX Runtime's float form instead
                    p.float_mode = 1
                    p.a_scale = Float.random(in: 0.001...0.2, using: &rng); p.b_scale = Float.random(in: 0.001...0.2, using: &rng)
                    p.output_scale = Float.random(in: 0.001...0.2, using: &rng)
                }
                // Same shape (one row), and the last `cols` of b as a per-channel vector over n / cols rows.
                let cols = [n, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 16, 20].filter { n % $0 == 0 }.randomElement(using: &rng) ?? n
                let rows = n / cols, perChannel = trial % 2 == 1
                let bv = perChannel ? Array(b.prefix(cols)) : b
                for subtract: Int32 in [0, 1, 2, 3] where subtract < 3 || p.float_mode == 0 {
                    var expected = [Int8](repeating: 0, count: n), got = [Int8](repeating: 99, count: n)
                    if subtract == 3 {  // SQUARED_DIFFERENCE's (a − b)² (fixed point only)
                        var bc = makeBroadcast([rows, cols], perChannel ? [cols] : [rows, cols], [rows, cols])
                        ember_squared_difference_s8_ref(&bc, a, bv, &p, &expected)
                    } else if subtract == 2 {
                        // b − a: the reference's SUB with the operands (and their parameters) the other way round.
                        var q = p
                        swap(&q.a_offset, &q.b_offset); swap(&q.a_multiplier, &q.b_multiplier); swap(&q.a_shift, &q.b_shift)
                        swap(&q.a_scale, &q.b_scale)
                        var bc = makeBroadcast(perChannel ? [cols] : [rows, cols], [rows, cols], [rows, cols])
                        ember_add_s8_ref(&bc, bv, a, &q, 1, &expected)
                    } else {
                        var bc = makeBroadcast([rows, cols], perChannel ? [cols] : [rows, cols], [rows, cols])
                        ember_add_s8_ref(&bc, a, bv, &p, subtract, &expected)
                    }
                    kernels(isa).add_s8(Int64(rows), Int64(cols), a, bv, perChannel ? 0 : Int64(cols), &p, subtract, &got)
                    #expect(got == expected, "\(isaName(isa)) trial \(trial) \(rows)x\(cols) per-channel \(perChannel) subtract \(subtract)")
                    // The same in the linear form (ember_add_s8_linear_plan) where it is set, every third trial.
                    guard subtract < 3, p.float_mode == 0, trial % 3 == 0 else { continue }
                    var l = p
                    tries += 1
                    guard ember_add_s8_linear_plan(isa, &l, subtract) == 1 else { continue }
                    plans += 1
                    exceptions += Int(l.lin_exceptions)
                    got = [Int8](repeating: 99, count: n)
                    kernels(isa).add_s8(Int64(rows), Int64(cols), a, bv, perChannel ? 0 : Int64(cols), &l, subtract, &got)
                    #expect(got == expected, "\(isaName(isa)) trial \(trial) linear form, subtract \(subtract)")
                }
            }
            // The form holds for nearly every layer, some with exceptions (a plan re-runs the kernel with them, so
            // an exception the kernel mishandles shows as a layer left exact, not as wrong bytes).
            print("\(isaName(isa)): int8 ADD/SUB linear form set for \(plans) of \(tries) layers, \(exceptions) exceptions")
            #expect(plans * 10 >= tries * 9 && exceptions > 0, "\(isaName(isa)): \(plans) of \(tries), \(exceptions) exceptions")
        }
    }

    /// The linear form is never set for SQUARED_DIFFERENCE (mode 3) or ONNX Runtime's float form, and a set
    /// form with its exceptions removed no longer gives the reference's bytes where it had exceptions.
    @Test func int8AddLinearFormKeepsItsExceptions() {
        for isa in availableISAs {
            var rng = SplitMix64(seed: 66)
            var withExceptions = 0
            for _ in 0..<200 {
                var p = ember_add_s8_params()
                p.a_offset = Int32(rng.int(-127...128)); p.b_offset = Int32(rng.int(-127...128)); p.output_offset = Int32(rng.int(-128...127))
                p.left_shift = 20
                (p.a_multiplier, p.a_shift) = quantizeMultiplier(Double.random(in: 0.01...0.5, using: &rng))
                (p.b_multiplier, p.b_shift) = quantizeMultiplier(Double.random(in: 0.01...0.5, using: &rng))
                (p.output_multiplier, p.output_shift) = quantizeMultiplier(Double.random(in: 1e-6...1e-4, using: &rng))
                p.act_min = -128; p.act_max = 127
                var three = p, float = p
                float.float_mode = 1; float.a_scale = 0.1; float.b_scale = 0.1; float.output_scale = 0.1
                #expect(ember_add_s8_linear_plan(isa, &three, 3) == 0 && three.linear == 0)
                #expect(ember_add_s8_linear_plan(isa, &float, 0) == 0 && float.linear == 0)
                guard ember_add_s8_linear_plan(isa, &p, 0) == 1, p.lin_exceptions > 0 else { continue }
                withExceptions += 1
                // Every pair once: a's rows constant, b's one row repeated.
                let a = (0..<65536).map { Int8(truncatingIfNeeded: ($0 >> 8) - 128) }, row = (0..<256).map { Int8(truncatingIfNeeded: $0 - 128) }
                var exact = [Int8](repeating: 0, count: 65536), with = exact, without = exact
                var bc = makeBroadcast([256, 256], [256], [256, 256])
                ember_add_s8_ref(&bc, a, row, &p, 0, &exact)
                kernels(isa).add_s8(256, 256, a, row, 0, &p, 0, &with)
                var bare = p
                bare.lin_exceptions = 0
                kernels(isa).add_s8(256, 256, a, row, 0, &bare, 0, &without)
                #expect(with == exact, "\(isaName(isa)): the form with its exceptions")
                #expect(zip(without, exact).filter { $0 != $1 }.count == Int(p.lin_exceptions), "\(isaName(isa))")
            }
            #expect(withExceptions > 0, "\(isaName(isa)): no layer needed an exception")
        }
    }

    /// int8 MUL rows (same shape, and one per-channel vector for every row) against the reference.
    @Test func int8MulIsByteExactOnEveryISA() {
        for isa in availableISAs {
            var rng = SplitMix64(seed: 65)
            for trial in 0..<300 {
                let rows = rng.int(1...5), cols = rng.int(1...70), perChannel = trial % 2 == 1
                let n = rows * cols
                let a = trial % 9 == 0 ? [Int8](repeating: -128, count: n) : rng.int8s(n)
                let b = trial % 9 == 0 ? [Int8](repeating: -128, count: perChannel ? cols : n) : rng.int8s(perChannel ? cols : n)
                var p = ember_mul_s8_params()
                p.a_offset = Int32(rng.int(-127...128)); p.b_offset = Int32(rng.int(-127...128)); p.output_offset = Int32(rng.int(-128...127))
                (p.output_multiplier, p.output_shift) = quantizeMultiplier(Double.random(in: 1e-5...0.05, using: &rng))
                (p.act_min, p.act_max) = randomActivationRange(&rng, trial: trial / 2, outputZeroPoint: p.output_offset)
                if trial % 3 == 1 {  // ONNX Runtime's float form instead
                    p.float_mode = 1
                    p.a_scale = Float.random(in: 0.001...0.2, using: &rng); p.b_scale = Float.random(in: 0.001...0.2, using: &rng)
                    p.output_scale = Float.random(in: 0.0001...0.05, using: &rng)
                }
                var bc = makeBroadcast([rows, cols], perChannel ? [cols] : [rows, cols], [rows, cols])
                var expected = [Int8](repeating: 0, count: n), got = [Int8](repeating: 99, count: n)
                ember_mul_s8_ref(&bc, a, b, &p, &expected)
                kernels(isa).mul_s8(Int64(rows), Int64(cols), a, b, perChannel ? 0 : Int64(cols), &p, &got)
                #expect(got == expected, "\(isaName(isa)) trial \(trial) \(rows)x\(cols) per-channel \(perChannel)")
            }
        }
    }

    /// The table lookup of the int8 activations (sigmoid, tanh, hard-swish tables) against the reference:
    /// random tables, every code (-128 and 127 included) at every position of a vector, odd lengths.
    @Test func int8LookupMatchesTheReferenceOnEveryISA() {
        var rng = SplitMix64(seed: 68)
        for trial in 0..<200 {
            let table = rng.int8s(256)
            let x = trial < 4 ? (0..<256).map { Int8(truncatingIfNeeded: $0 + trial) } : rng.int8s(rng.int(1...300))
            var expected = [Int8](repeating: 0, count: x.count)
            ember_lookup_s8(Int64(x.count), x, table, &expected)
            for isa in availableISAs {
                guard let lookup = kernels(isa).lookup_s8 else {
                    print("SKIP: \(isaName(isa)) has no lookup kernel (the reference serves it)")
                    continue
                }
                // One code past the end, which a store wider than the count would overwrite.
                var got = [Int8](repeating: 99, count: x.count + 1)
                lookup(Int64(x.count), x, table, &got)
                #expect(Array(got.prefix(x.count)) == expected, "\(isaName(isa)) trial \(trial), \(x.count) codes")
                #expect(got[x.count] == 99, "\(isaName(isa)) trial \(trial) wrote past the end")
            }
        }
    }

    /// The f32 transposed convolution on each ISA's GEMM against the reference: strides 1–3, padding,
    /// kernels up to 4×4, 1–20 input and 1–19 output channels, batches of 2, with and without a bias and
    /// a clamp. It sums each tap's dot product, the reference each product in turn: within 1e-5 of Σ|x·w|.
    @Test func f32TransposedConvolutionDriverMatchesTheReference() {
        var rng = SplitMix64(seed: 76)
        for trial in 0..<60 {
            var g = transposeConvGeometry(&rng)
            let inC = Int(g.in_c), outC = Int(g.out_c), taps = Int(g.kernel_h * g.kernel_w), columns = taps * outC
            let x = rng.floats(Int(g.batch * g.in_h * g.in_w) * inC), filter = rng.floats(columns * inC)
            let bias: [Float]? = trial % 3 == 0 ? nil : rng.floats(outC)
            let (lo, hi): (Float, Float) = trial % 2 == 0 ? (-1, 1.5) : (-.infinity, .infinity)
            let outCount = Int(g.batch * g.out_h * g.out_w) * outC
            var expected = [Float](repeating: 0, count: outCount), magnitude = expected
            withOptionalPointer(bias) { b in ember_transpose_conv2d_f32_ref(&g, x, filter, b, lo, hi, &expected) }
            ember_transpose_conv2d_f32_ref(&g, x.map(abs), filter.map(abs), nil, -.infinity, .infinity, &magnitude)
            var reordered = [Float](repeating: 0, count: columns * inC)
            for oc in 0..<outC { for tap in 0..<taps { for i in 0..<inC {
                reordered[(tap * outC + oc) * inC + i] = filter[(oc * taps + tap) * inC + i]
            } } }
            for isa in availableISAs {
                let np = Int(ember_n_padded(isa, Int32(columns)))
                var packed = [Float](repeating: 0, count: np * inC), zeros = [Float](repeating: 0, count: np)
                ember_f32_pack(isa, Int32(inC), Int32(columns), reordered, nil, &packed, &zeros)
                var got = [Float](repeating: .nan, count: outCount)
                packed.withUnsafeBufferPointer { w in zeros.withUnsafeBufferPointer { z in
                    var gemm = ember_f32_gemm(k: Int32(inC), n: Int32(columns), n_padded: Int32(np), weights: w.baseAddress,
                                              bias: z.baseAddress, act_min: -.infinity, act_max: .infinity, weights_f16: nil,
                                              post_unary: 0, post_alpha: 0)
                    var scratch = [UInt8](repeating: 0, count: Int(ember_transpose_conv2d_f32_scratch_bytes(&g, &gemm)))
                    withOptionalPointer(bias) { b in ember_transpose_conv2d_f32(isa, &g, x, &gemm, b, lo, hi, &scratch, &got) }
                } }
                let wrong = (0..<outCount).filter { abs(got[$0] - expected[$0]) > 1e-5 * (magnitude[$0] + 1) }.count
                #expect(wrong == 0, "\(isaName(isa)) trial \(trial): \(wrong) of \(outCount) off: \(g)")
            }
        }
    }

    /// The int8 transposed convolution's C driver (the executor-level test covers the preparer): the filter
    /// repacked as a GEMM of columns (tap, oc), int32 sums, and the reference's bytes — overlapping and
    /// disjoint taps, crops, batches of 2, per-channel multipliers, a clamp.
    @Test func int8TransposedConvolutionDriverMatchesTheReference() {
        var rng = SplitMix64(seed: 70)
        for trial in 0..<60 {
            var g = transposeConvGeometry(&rng)
            let inC = Int(g.in_c), outC = Int(g.out_c), taps = Int(g.kernel_h * g.kernel_w), columns = taps * outC
            let x = rng.int8s(Int(g.batch * g.in_h * g.in_w) * inC), filter = rng.int8s(columns * inC)
            let bias = (0..<outC).map { _ in Int32(rng.int(-3000...3000)) }
            let multipliers = (0..<outC).map { _ in quantizeMultiplier(Double.random(in: 0.0005...0.01, using: &rng)) }
            var m = multipliers.map(\.0), s = multipliers.map(\.1)
            let outCount = Int(g.batch * g.out_h * g.out_w) * outC
            var expected = [Int8](repeating: 0, count: outCount), sums = [Int32](repeating: 0, count: outCount)
            let zp = Int32(rng.int(-128...127))
            m.withUnsafeMutableBufferPointer { mp in s.withUnsafeMutableBufferPointer { sp in
                var rq = ember_requant(input_offset: -zp, output_offset: Int32(rng.int(-10...10)), multiplier: mp.baseAddress,
                                       shift: sp.baseAddress, act_min: trial % 3 == 0 ? 0 : -128, act_max: 127, scale: nil)
                ember_transpose_conv2d_s8_ref(&g, x, filter, bias, &rq, &sums, &expected)
                var reordered = [Int8](repeating: 0, count: columns * inC)
                for oc in 0..<outC { for tap in 0..<taps { for i in 0..<inC {
                    reordered[(tap * outC + oc) * inC + i] = filter[(oc * taps + tap) * inC + i]
                } } }
                for isa in availableISAs where kernels(isa).requantize_s32 != nil {
                    let np = Int(ember_n_padded(isa, Int32(columns)))
                    var packed = [UInt8](repeating: 0, count: Int(ember_qs8_packed_bytes(isa, g.in_c, Int32(columns))))
                    var pb = [Int32](repeating: 0, count: np), pm = pb, ps = pb
                    let zeros = [Int32](repeating: 0, count: columns)
                    ember_qs8_pack_runs(isa, ember_k_runs(runs: 1, length: g.in_c), Int32(columns), reordered, nil, zeros, zeros, zp,
                                        &packed, &pb, &pm, &ps)
                    var got = [Int8](repeating: 99, count: outCount)
                    packed.withUnsafeBytes { w in pb.withUnsafeBufferPointer { b in pm.withUnsafeBufferPointer { mm in
                        ps.withUnsafeBufferPointer { ss in
                            var gemm = ember_qs8_gemm()
                            gemm.k = g.in_c; gemm.k_padded = ember_qs8_k_padded(isa, g.in_c); gemm.n = Int32(columns)
                            gemm.n_padded = Int32(np); gemm.weights = w.baseAddress; gemm.bias = b.baseAddress
                            gemm.multiplier = mm.baseAddress; gemm.shift = ss.baseAddress; gemm.input_zero_point = zp
                            gemm.int32_output = 1
                            var scratch = [UInt8](repeating: 0, count: Int(ember_transpose_conv2d_s8_scratch_bytes(isa, &g, &gemm)))
                            ember_transpose_conv2d_s8(isa, &g, x, &gemm, bias, &rq, &scratch, &got)
                        }
                    } } }
                    #expect(got == expected, "\(isaName(isa)) trial \(trial): \(g)")
                }
            } }
        }
    }

    /// The f32 unary kernels against the reference over random values, signed zeros, infinities, NaN,
    /// denormals and e^x's overflow and underflow edges: the piecewise-linear ops, hard-swish, abs, neg
    /// and square, sqrt, rsqrt, reciprocal, floor, ceil and round bit for bit (any NaN for a NaN), e^x, ln x and
    /// erf x within 2 ulp where an ISA has them, sigmoid and tanh within 4 ulp (or 1e-38 near 0), silu 5,
    /// tanh also over a dense sweep across its two formulas' seam at |x| = 0.625; the ops they do
    /// not handle are refused.
    @Test func f32UnaryKernelsMatchTheReferenceOnEveryISA() {
        let exact: [ember_unary_op] = [EMBER_UNARY_RELU, EMBER_UNARY_RELU6, EMBER_UNARY_RELU_N1_TO_1, EMBER_UNARY_LEAKY_RELU,
                                       EMBER_UNARY_HARD_SWISH, EMBER_UNARY_ABS, EMBER_UNARY_NEG, EMBER_UNARY_SQUARE,
                                       EMBER_UNARY_SQRT, EMBER_UNARY_RSQRT, EMBER_UNARY_RECIPROCAL, EMBER_UNARY_FLOOR,
                                       EMBER_UNARY_CEIL, EMBER_UNARY_ROUND]
        // Each ISA's transcendental ops: e^x, ln x and erf x within 2 ulp where an ISA has them.
        let approximate: [ember_unary_op] = [EMBER_UNARY_EXP, EMBER_UNARY_LOG, EMBER_UNARY_ERF]
        // GELU, 0.5·x·(1 + erf(x/√2)): erf's 2 ulp near −1 are all that is left of 1 + erf for x ≪ 0,
        // as in the reference's own 1 + erff, so it is held to 2^−21·max(1, |x|) absolutely.
        let gelu = EMBER_UNARY_GELU
        let specials: [Float] = [.infinity, -.infinity, .nan, 0, -0.0, 1e-40, -1e-40, 88.5, -88.5, 88.73, -88.73, 89, -89,
                                 103.9, -103.9, 104, -104, 1e30, -1e30, -3, 3, 6, -6, 1, -1]
        var rng = SplitMix64(seed: 71)
        for trial in 0..<120 {
            var x = rng.floats(rng.int(1...100), scale: trial % 2 == 0 ? 8 : 30)
            for i in x.indices where rng.int(0...5) == 0 { x[i] = specials[rng.int(0...(specials.count - 1))] }
            if trial == 0 { x = (-12_000...12_000).map { Float($0) / 1000 } + [0.625, -0.625, 0.62499994, -0.62499994] }
            let n = x.count
            // ln x of positive values too (half the trials' values are negative), down to denormals.
            let positive = x.map { $0.isNaN ? $0 : abs($0) * (trial % 3 == 0 ? 1e-39 : 1) }
            for op in exact + approximate + [gelu, EMBER_UNARY_SIGMOID, EMBER_UNARY_TANH, EMBER_UNARY_SILU] {
                let alpha = Float.random(in: 0.01...0.3, using: &rng)
                let x = op == EMBER_UNARY_LOG && trial % 2 == 1 ? positive : x
                var expected = [Float](repeating: 0, count: n)
                ember_unary_f32_ref(op, alpha, Int64(n), x, &expected)
                for isa in availableISAs {
                    guard let unary = kernels(isa).unary_f32 else { continue }
                    var got = [Float](repeating: 7, count: n + 1)
                    if (approximate.contains(op) || op == gelu) && unary(op, alpha, 0, nil, nil) == 0 { continue }
                    #expect(unary(op, alpha, Int64(n), x, &got) == 1)
                    #expect(got[n] == 7, "\(isaName(isa)) op \(op.rawValue) wrote past the end")
                    for i in 0..<n {
                        let (g, e) = (got[i], expected[i])
                        let ok: Bool
                        if g.isNaN || e.isNaN { ok = g.isNaN && e.isNaN }
                        else if op == gelu {
                            ok = g == e || abs(g - e) <= max(1, abs(x[i])) * 0x1p-21
                        } else if approximate.contains(op) {
                            ok = g == e || abs(Int64(g.bitPattern) - Int64(e.bitPattern)) <= 2
                        } else if op == EMBER_UNARY_SIGMOID || op == EMBER_UNARY_TANH {
                            ok = abs(Int64(g.bitPattern) - Int64(e.bitPattern)) <= 4 || abs(g - e) <= 1e-38
                        } else if op == EMBER_UNARY_SILU {  // x times a sigmoid within 4 ulp: one more rounding
                            ok = abs(Int64(g.bitPattern) - Int64(e.bitPattern)) <= 5 || abs(g - e) <= 1e-38
                        } else { ok = g.bitPattern == e.bitPattern }
                        #expect(ok, "\(isaName(isa)) op \(op.rawValue) x \(x[i]): \(g) vs \(e)")
                    }
                }
            }
        }
        for isa in availableISAs {
            guard let unary = kernels(isa).unary_f32 else { continue }
            #expect(unary(EMBER_UNARY_SIN, 0, 0, nil, nil) == 0, "\(isaName(isa)): sin is the reference's")
            #expect(unary(EMBER_UNARY_SIGMOID, 0, 0, nil, nil) == 1)
        }
    }

    /// f32 → int8 quantization against the reference byte for byte: odd counts, scales and zero points
    /// (some outside the int8 range), exact ties x.5 (rounded away from zero), values past the codes'
    /// range, ±inf, NaN (the zero point), ±0 and denormals.
    @Test func f32ToInt8QuantizeIsByteExactOnEveryISA() {
        var rng = SplitMix64(seed: 73)
        let specials: [Float] = [.infinity, -.infinity, .nan, 0, -0.0, 1e-40, -1e-40, 1e30, -1e30]
        for trial in 0..<200 {
            let n = rng.int(1...90)
            let scale = trial % 7 == 0 ? 1 : Float.random(in: 0.001...2, using: &rng)
            let zeroPoint = Int32(rng.int(-140...140))
            var x = rng.floats(n, scale: 200 * scale)
            for i in x.indices {
                switch rng.int(0...7) {
                case 0: x[i] = specials[rng.int(0...(specials.count - 1))]
                case 1: x[i] = (Float(rng.int(-300...300)) + 0.5) * scale  // a tie after the division, mostly
                default: break
                }
            }
            // Both roundings: TFLite's half away from zero and ONNX's ties to even (the trial's ties differ).
            var expected = [Int8](repeating: 0, count: n), expectedEven = [Int8](repeating: 0, count: n)
            ember_quantize_f32_s8_ref(Int64(n), x, scale, zeroPoint, &expected)
            ember_quantize_f32_s8_even_ref(Int64(n), x, scale, zeroPoint, &expectedEven)
            for isa in availableISAs {
                guard let quantize = kernels(isa).quantize_f32_s8 else { continue }
                for (halfEven, want) in [(Int32(0), expected), (1, expectedEven)] {
                    var got = [Int8](repeating: 77, count: n + 1)
                    quantize(Int64(n), x, scale, zeroPoint, halfEven, &got)
                    #expect(Array(got.prefix(n)) == want, "\(isaName(isa)) trial \(trial) scale \(scale) zp \(zeroPoint) even \(halfEven)")
                    #expect(got[n] == 77, "\(isaName(isa)) trial \(trial) wrote past the end")
                }
            }
        }
    }

    /// The f32 matmul (attention's QKᵀ and ·V, batch matmuls) against the reference bit for bit: odd
    /// m, k and n across the row and column tiles' edges, infinities and NaN among the inputs.
    /// int8 MatMul through each ISA's f32 matmul against the reference, byte for byte: odd sizes, k up to the
    /// exactness bound (258), and operands at ±255 after their offsets (every product at its largest).
    @Test func int8MatmulThroughF32IsByteExactOnEveryISA() {
        for isa in availableISAs {
            var rng = SplitMix64(seed: 79)
            for trial in 0..<120 {
                let m = rng.int(1...13), n = rng.int(1...37)
                let k = trial % 10 == 0 ? Int(EMBER_MATMUL_S8_F32_MAX_K) : rng.int(1...Int(EMBER_MATMUL_S8_F32_MAX_K))
                let extreme = trial % 5 == 0
                var p = ember_matmul_s8_params()
                p.a_offset = extreme ? 128 : Int32(rng.int(-127...128)); p.b_offset = extreme ? -127 : Int32(rng.int(-127...128))
                p.output_offset = Int32(rng.int(-128...127))
                (p.output_multiplier, p.output_shift) = quantizeMultiplier(Double.random(in: 1e-7...1e-3, using: &rng))
                // Extremes: a + 128 = 255 and b − 127 = −255 everywhere, the sum at −255²·k.
                let a = extreme ? [Int8](repeating: 127, count: m * k) : rng.int8s(m * k)
                let b = extreme ? [Int8](repeating: -128, count: k * n) : rng.int8s(k * n)
                var expected = [Int8](repeating: 0, count: m * n), got = [Int8](repeating: 99, count: m * n)
                ember_matmul_s8_ref(Int32(m), Int32(k), Int32(n), a, b, &p, &expected)
                var scratch = GuardedScratch(Int(ember_matmul_s8_via_f32_scratch_bytes(Int32(m), Int32(k), Int32(n))))
                ember_matmul_s8_via_f32(isa, Int32(m), Int32(k), Int32(n), a, b, &p, &scratch.bytes, &got)
                #expect(scratch.intact, "\(isaName(isa)) trial \(trial) wrote past its scratch")
                #expect(got == expected, "\(isaName(isa)) trial \(trial): \(m)x\(k)x\(n) extreme \(extreme)")
            }
        }
    }

    @Test func f32MatmulIsBitExactOnEveryISA() {
        var rng = SplitMix64(seed: 72)
        for trial in 0..<150 {
            let m = rng.int(1...11), k = rng.int(1...40), n = rng.int(1...70)
            var a = rng.floats(m * k, scale: 3), b = rng.floats(k * n, scale: 3)
            if trial % 10 == 0 { a[rng.int(0...(a.count - 1))] = [.infinity, -.infinity, .nan][trial % 3] }
            var expected = [Float](repeating: 0, count: m * n)
            ember_matmul_f32_ref(Int32(m), Int32(k), Int32(n), a, b, &expected)
            for isa in availableISAs {
                guard let matmul = kernels(isa).matmul_f32 else { continue }
                var got = [Float](repeating: 7, count: m * n + 1)
                matmul(Int32(m), Int32(k), Int32(n), a, b, &got)
                let differing = zip(got, expected).filter { $0.bitPattern != $1.bitPattern && !($0.isNaN && $1.isNaN) }.count
                #expect(differing == 0, "\(isaName(isa)) trial \(trial) \(m)×\(k)×\(n): \(differing) differ")
                #expect(got[m * n] == 7, "\(isaName(isa)) trial \(trial) wrote past the end")
            }
        }
    }

    /// Max and average pooling against the reference bit for bit: windows 1–4 with strides 1–3 and padding
    /// (clipped windows), global windows, 1 to 100 channels, batches of 2, activation clamps; f32 with
    /// infinities and NaN taps; int8 averages of every sign (the rounding division's ties).
    @Test func poolingMatchesTheReferenceOnEveryISA() {
        var rng = SplitMix64(seed: 73)
        for trial in 0..<150 {
            var g = ember_pool_geometry()
            g.batch = Int32(rng.int(1...2)); g.in_h = Int32(rng.int(1...9)); g.in_w = Int32(rng.int(1...9))
            g.channels = Int32(rng.int(1...100))
            g.kernel_h = Int32(rng.int(1...4)); g.kernel_w = Int32(rng.int(1...4))
            g.stride_h = Int32(rng.int(1...3)); g.stride_w = Int32(rng.int(1...3))
            g.pad_top = Int32(rng.int(0...Int(g.kernel_h - 1))); g.pad_left = Int32(rng.int(0...Int(g.kernel_w - 1)))
            if trial % 7 == 0 {  // a global window
                g.kernel_h = g.in_h; g.kernel_w = g.in_w; g.pad_top = 0; g.pad_left = 0
            }
            // At least one output; windows wholly in the padding are allowed (the reference gives −128 / −inf).
            g.out_h = max(1, (g.in_h + 2 * g.pad_top - g.kernel_h) / g.stride_h + 1)
            g.out_w = max(1, (g.in_w + 2 * g.pad_left - g.kernel_w) / g.stride_w + 1)
            let count = Int(g.batch * g.in_h * g.in_w * g.channels), outCount = Int(g.batch * g.out_h * g.out_w * g.channels)
            let xs = rng.int8s(count)
            var xf = rng.floats(count, scale: 5)
            for i in xf.indices where rng.int(0...30) == 0 { xf[i] = [Float.infinity, -.infinity, .nan][rng.int(0...2)] }
            let (lo8, hi8) = trial % 3 == 0 ? (Int32(rng.int(-128...0)), Int32(rng.int(0...127))) : (-128, 127)
            let (lo, hi): (Float, Float) = trial % 3 == 0 ? (0, 6) : (-.infinity, .infinity)
            var expected = [Int8](repeating: 0, count: outCount), expectedF = [Float](repeating: 0, count: outCount)
            ember_max_pool_s8_ref(&g, xs, lo8, hi8, &expected)
            ember_max_pool_f32_ref(&g, xf, lo, hi, &expectedF)
            var expectedAvg = expected, expectedAvgF = expectedF
            ember_avg_pool_s8_ref(&g, xs, lo8, hi8, &expectedAvg)
            ember_avg_pool_f32_ref(&g, xf, lo, hi, &expectedAvgF)
            func same(_ a: [Float], _ b: [Float]) -> Bool {
                zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
            }
            for isa in availableISAs {
                let table = kernels(isa)
                var got = [Int8](repeating: 99, count: outCount), gotF = [Float](repeating: 7, count: outCount)
                if let s8 = table.max_pool_s8, let f32 = table.max_pool_f32 {
                    s8(&g, xs, lo8, hi8, &got)
                    f32(&g, xf, lo, hi, &gotF)
                    #expect(got == expected, "\(isaName(isa)) trial \(trial): \(g)")
                    #expect(same(gotF, expectedF), "\(isaName(isa)) trial \(trial) f32: \(g)")
                }
                if let s8 = table.avg_pool_s8, let f32 = table.avg_pool_f32 {
                    s8(&g, xs, lo8, hi8, &got)
                    f32(&g, xf, lo, hi, &gotF)
                    #expect(got == expectedAvg, "\(isaName(isa)) trial \(trial) average: \(g)")
                    #expect(same(gotF, expectedAvgF), "\(isaName(isa)) trial \(trial) f32 average: \(g)")
                }
            }
        }
    }

    /// The int8 softmax against the reference byte for byte: 1 to 80 classes (past the lane kernel's 64),
    /// row counts off the 16-row groups, input scales and betas across TFLite's range, uniform rows,
    /// all-extreme rows and one dominant class.
    @Test func int8SoftmaxIsByteExactOnEveryISA() {
        var rng = SplitMix64(seed: 74)
        for trial in 0..<200 {
            // Mostly a few classes; the lanes kernels' deepest rows (up to 64); deeper ones (the reference).
            let depth = trial % 10 == 0 ? rng.int(65...80) : trial % 10 == 1 ? rng.int(13...64) : rng.int(1...12)
            let rows = rng.int(1...70), count = rows * depth
            var x = rng.int8s(count)
            switch trial % 7 {
            case 0: x = [Int8](repeating: Int8(rng.int(-128...127)), count: count)
            case 1: x = (0..<count).map { $0 % 2 == 0 ? -128 : 127 }
            case 2: for r in 0..<rows { x[r * depth + rng.int(0...(depth - 1))] = 127 }
            default: break
            }
            // PreprocessSoftmaxScaling as the preparer does it (5 integer bits).
            let scale = Double.random(in: 0.01...0.5, using: &rng), beta = Double.random(in: 0.5...2, using: &rng)
            let (m, shift) = quantizeMultiplier(min(beta * scale * Double(1 << 26), Double(Int32.max)))
            guard shift >= 0, shift <= 30 else { continue }
            let diffMin = -Int32((31.0 * Double(1 << 26) / Double(1 << Int(shift))).rounded(.down))
            var table = [Int32](repeating: 0, count: 256)
            ember_softmax_s8_exp_table(m, shift, diffMin, &table)
            var expected = [Int8](repeating: 0, count: count)
            ember_softmax_s8_ref(Int64(rows), Int32(depth), table, x, &expected)
            for isa in availableISAs {
                guard let softmax = kernels(isa).softmax_s8 else { continue }
                var got = [Int8](repeating: 99, count: count)
                softmax(Int64(rows), Int32(depth), table, x, &got)
                #expect(got == expected, "\(isaName(isa)) trial \(trial): \(rows) rows of \(depth)")
            }
        }
    }

    /// The int8 bilinear resize against the reference: up- and downsampling (odd factors among them),
    /// align-corners and half-pixel centres, 1 to 40 channels, batches of 2, extreme codes.
    @Test func int8BilinearResizeMatchesTheReferenceOnEveryISA() {
        var rng = SplitMix64(seed: 69)
        for trial in 0..<200 {
            let (batch, inH, inW, channels, outH, outW, mode, align, halfPixel) = resizeCase(&rng, trial: trial)
            let count = batch * inH * inW * channels, outCount = batch * outH * outW * channels
            let x: [Int8] = trial % 8 == 0 ? (0..<count).map { $0 % 2 == 0 ? -128 : 127 } : rng.int8s(count)
            var expected = [Int8](repeating: 0, count: outCount)
            ember_resize_bilinear_s8_ref(Int32(batch), Int32(inH), Int32(inW), Int32(channels), Int32(outH), Int32(outW),
                                         align, halfPixel, x, &expected)
            for isa in availableISAs {
                guard let resize = kernels(isa).resize_bilinear_s8 else {
                    print("SKIP: \(isaName(isa)) has no bilinear resize kernel (the reference serves it)")
                    continue
                }
                var got = [Int8](repeating: 99, count: outCount)
                resize(Int32(batch), Int32(inH), Int32(inW), Int32(channels), Int32(outH), Int32(outW), align, halfPixel, x, &got)
                #expect(got == expected, "\(isaName(isa)) trial \(trial): \(batch)×\(inH)×\(inW)×\(channels) → \(outH)×\(outW), mode \(mode)")
            }
        }
    }

    /// The f32 bilinear resize against the reference bit for bit: up- and downsampling, align-corners and
    /// half-pixel centres, 1 to 40 channels (every tail), batches of 2.
    @Test func f32BilinearResizeMatchesTheReferenceOnEveryISA() {
        var rng = SplitMix64(seed: 70)
        for trial in 0..<200 {
            let (batch, inH, inW, channels, outH, outW, mode, align, halfPixel) = resizeCase(&rng, trial: trial)
            let x = rng.floats(batch * inH * inW * channels, scale: 10), outCount = batch * outH * outW * channels
            var expected = [Float](repeating: 0, count: outCount)
            ember_resize_bilinear_f32_ref(Int32(batch), Int32(inH), Int32(inW), Int32(channels), Int32(outH), Int32(outW),
                                          align, halfPixel, x, &expected)
            // The axis values the kernels share with the reference: two sources inside the input, the second
            // at most one past the first, and the corners mapped to the corners when aligned.
            for o in 0..<outH {
                var fraction: Float = 0, lo: Int32 = 0, hi: Int32 = 0
                ember_resize_bilinear_f32_axis(Int32(o), Int32(inH), Int32(outH), align, halfPixel, &fraction, &lo, &hi)
                #expect(0 <= lo && lo <= hi && hi <= lo + 1 && hi < Int32(inH), "trial \(trial): row \(o) reads \(lo), \(hi)")
                if align == 1 && outH > 1 && (o == 0 || o == outH - 1) {
                    #expect(lo == (o == 0 ? 0 : Int32(inH - 1)) && fraction == 0, "trial \(trial): corner row \(o)")
                }
            }
            for isa in availableISAs {
                guard let resize = kernels(isa).resize_bilinear_f32 else { continue }
                var got = [Float](repeating: .nan, count: outCount)
                resize(Int32(batch), Int32(inH), Int32(inW), Int32(channels), Int32(outH), Int32(outW), align, halfPixel, x, &got)
                let wrong = zip(got, expected).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(wrong == 0, "\(isaName(isa)) trial \(trial): \(wrong) differ, \(batch)×\(inH)×\(inW)×\(channels) → \(outH)×\(outW)")
            }
        }
    }

    /// The mean over the middle axes of NHWC-like inputs ([outer][h][w][inner], H and W reduced: a global
    /// average pool) against the reference: int8 bytes with random zero points and multipliers (all-min and
    /// all-max inputs among them), f32 bits with signed zeros, infinities, overflow and NaN.
    @Test func meanOverMiddleAxesMatchesTheReferenceOnEveryISA() {
        var rng = SplitMix64(seed: 67)
        for trial in 0..<200 {
            // Every tenth a large pool (up to 120×120), where the sum and the divided multiplier's shift grow.
            let big = trial % 10 == 0
            let dims = [rng.int(1...3), rng.int(1...(big ? 120 : 9)), rng.int(1...(big ? 120 : 9)), rng.int(4...(big ? 20 : 150))]
            let count = dims.reduce(1, *), outCount = dims[0] * dims[3], reduced = dims[1] * dims[2]
            var r = ember_reduce()
            r.rank = 4
            fillTuple(&r.shape, dims.map { Int32($0) })
            r.axis_mask = 0b0110
            let xs: [Int8] = trial % 7 == 0 ? [Int8](repeating: trial % 2 == 0 ? -128 : 127, count: count) : rng.int8s(count)
            let zi = Int32(rng.int(-128...127)), zo = Int32(rng.int(-128...127))
            let (m, s) = meanMultiplier(inputScale: Float.random(in: 0.001...0.5, using: &rng),
                                        outputScale: Float.random(in: big ? 0.001...50 : 0.001...0.5, using: &rng),
                                        count: reduced)
            var expected = [Int8](repeating: 0, count: outCount), scratch = [Int32](repeating: 0, count: outCount)
            ember_mean_s8_ref(&r, xs, zi, m, s, zo, &scratch, &expected)
            // ONNX Runtime's QLinearGlobalAveragePool form: the sum times a float scale.
            let floatScale = Float.random(in: 0.0001...0.2, using: &rng) / Float(reduced)
            var expectedFloat = [Int8](repeating: 0, count: outCount)
            ember_mean_s8_float_ref(&r, xs, zi, floatScale, zo, &scratch, &expectedFloat)
            var xf = rng.floats(count, scale: 8)
            let specials: [Float] = [.infinity, -.infinity, .nan, -0.0, 0, 3e38]
            for i in xf.indices where rng.int(0...40) == 0 { xf[i] = specials[rng.int(0...(specials.count - 1))] }
            var expectedF = [Float](repeating: 0, count: outCount)
            ember_mean_f32_ref(&r, xf, &expectedF)
            let (o, red, n) = (Int64(dims[0]), Int64(reduced), Int64(dims[3]))
            for isa in availableISAs {
                let table = kernels(isa)
                guard let meanS8 = table.mean_s8, let meanF32 = table.mean_f32 else {
                    print("SKIP: \(isaName(isa)) has no mean kernels (the reference serves it)")
                    continue
                }
                var got = [Int8](repeating: 99, count: outCount), gotF = [Float](repeating: 7, count: outCount)
                var gotFloat = got
                meanS8(o, red, n, xs, zi, m, s, 0, zo, &got)
                meanS8(o, red, n, xs, zi, m, s, floatScale, zo, &gotFloat)
                meanF32(o, red, n, xf, &gotF)
                #expect(got == expected, "\(isaName(isa)) trial \(trial) \(dims) zp \(zi)→\(zo)")
                #expect(gotFloat == expectedFloat, "\(isaName(isa)) trial \(trial) \(dims) float scale \(floatScale)")
                // Any NaN for a NaN: which NaN a sum of NaN and ±inf keeps follows the operand order the C
                // compiler picked for the reference's commutative `+=`, which the language leaves open.
                let differing = zip(gotF, expectedF).filter { $0.bitPattern != $1.bitPattern && !($0.isNaN && $1.isNaN) }.count
                #expect(differing == 0, "\(isaName(isa)) trial \(trial) \(dims): \(differing) of \(outCount) differ")
            }
        }
    }

    /// f32 ADD/SUB/MUL/DIV/MAX/MIN/PRELU over random broadcasts (scalars, per-channel, lower rank, same shape),
    /// with infinities, NaN and signed zeros: the SIMD rows give the reference's bits, and collapsing
    /// the broadcast's dimensions changes nothing.
    @Test func f32BinaryOpsAreBitExactOnEveryISAAndUnderCollapsedBroadcasts() {
        let ops: [ember_binary_op] = [EMBER_BINARY_ADD, EMBER_BINARY_SUB, EMBER_BINARY_MUL, EMBER_BINARY_DIV,
                                      EMBER_BINARY_MAX, EMBER_BINARY_MIN, EMBER_BINARY_PRELU, EMBER_BINARY_SQUARED_DIFFERENCE]
        let specials: [Float] = [.infinity, -.infinity, .nan, 0, -0, 1e-40]
        var rng = SplitMix64(seed: 66)
        for trial in 0..<400 {
            let rank = rng.int(1...4)
            let out = (0..<rank).map { d in d == rank - 1 ? rng.int(1...40) : rng.int(1...5) }
            func operand() -> [Int] {
                let dims = out.map { rng.int(0...2) == 0 ? 1 : $0 }
                return Array(dims.dropFirst(rng.int(0...(rank - 1))))
            }
            let aDims = trial % 5 == 0 ? [] : operand(), bDims = operand()
            func values(_ dims: [Int]) -> [Float] {
                var v = rng.floats(dims.reduce(1, *), scale: 4)
                for i in v.indices where rng.int(0...15) == 0 { v[i] = specials[rng.int(0...(specials.count - 1))] }
                return v
            }
            let a = values(aDims), b = values(bDims), count = out.reduce(1, *)
            let op = ops[trial % ops.count]
            let (lo, hi): (Float, Float) = trial % 3 == 0 ? (0, 6) : (-.infinity, .infinity)
            var plain = makeBroadcast(aDims, bDims, out)
            let (shape, aS, bS) = collapsedBroadcast(out, broadcastStrides(aDims, to: out), broadcastStrides(bDims, to: out))
            var collapsed = ember_broadcast()
            collapsed.rank = Int32(shape.count)
            fillTuple(&collapsed.shape, shape.map { Int32($0) })
            fillTuple(&collapsed.a_strides, aS.map { Int64($0) }); fillTuple(&collapsed.b_strides, bS.map { Int64($0) })
            var expected = [Float](repeating: 0, count: count), viaCollapsed = expected
            ember_binary_f32_ref(op, &plain, a, b, lo, hi, &expected)
            ember_binary_f32_ref(op, &collapsed, a, b, lo, hi, &viaCollapsed)
            let context = "trial \(trial): op \(op.rawValue) a \(aDims) b \(bDims) out \(out) collapsed \(shape)"
            #expect(viaCollapsed.map(\.bitPattern) == expected.map(\.bitPattern), "reference, \(context)")
            for isa in availableISAs {
                for bc in [plain, collapsed] {
                    var bc = bc, got = [Float](repeating: 7, count: count)
                    kernels(isa).binary_f32(op, &bc, a, b, lo, hi, &got)
                    let differing = zip(got, expected).filter { $0.bitPattern != $1.bitPattern }.count
                    #expect(differing == 0, "\(isaName(isa)) \(context): \(differing) of \(count) differ")
                }
            }
        }
    }

    /// Weights as IEEE halves (an fp16 rung's) and the f32 values they stand for.
    func halves(_ w: [Float]) -> (halves: [UInt16], values: [Float]) {
        var h = [UInt16](repeating: 0, count: w.count), v = [Float](repeating: 0, count: w.count)
        ember_f32_to_f16(Int64(w.count), w, &h)
        ember_f16_to_f32(Int64(w.count), h, &v)
        return (h, v)
    }

    /// f32 kernels with f32 weights, and with fp16 weights kept as halves and widened in registers
    /// (checked against the reference on the halves' values).
    @Test func f32ConvolutionFullyConnectedAndDepthwiseMatchTheReference() {
        for isa in availableISAs { for useHalves in [false, true] {
            var rng = SplitMix64(seed: 63)
            for trial in 0..<200 {
                // Dense convolution (pointwise in place every fourth trial).
                var g = denseGeometry(&rng, trial: trial)
                if trial % 4 == 0 { g.kernel_h = 1; g.kernel_w = 1; g.stride_h = 1; g.stride_w = 1; g.pad_top = 0; g.pad_left = 0; g.out_h = g.in_h; g.out_w = g.in_w }
                let k = Int(g.kernel_h * g.kernel_w * g.in_c), n = Int(g.out_c)
                let x = rng.floats(Int(g.batch * g.in_h * g.in_w * g.in_c)), bias = rng.floats(n)
                let (fHalves, f) = halves(rng.floats(n * k))
                let outCount = Int(g.batch * g.out_h * g.out_w * g.out_c)
                var expected = [Float](repeating: 0, count: outCount), got = [Float](repeating: .nan, count: outCount)
                ember_conv2d_f32_ref(&g, x, f, bias, -2, 2.5, &expected)
                let np = Int(ember_n_padded(isa, Int32(n)))
                var pw = [Float](repeating: 0, count: np * k), pb = [Float](repeating: 0, count: np)
                var ph = [UInt16](repeating: 0, count: np * k)
                ember_f32_pack(isa, Int32(k), Int32(n), f, bias, &pw, &pb)
                ember_f16_pack(isa, Int32(k), Int32(n), fHalves, &ph)
                var scratch = [Float](repeating: 0, count: Int(ember_conv_scratch_bytes(isa, &g, 0)) / 4)
                pw.withUnsafeBufferPointer { w in pb.withUnsafeBufferPointer { b in ph.withUnsafeBufferPointer { h in
                    var gemm = ember_f32_gemm(k: Int32(k), n: Int32(n), n_padded: Int32(np), weights: useHalves ? nil : w.baseAddress,
                                              bias: b.baseAddress, act_min: -2, act_max: 2.5, weights_f16: useHalves ? h.baseAddress : nil, post_unary: 0, post_alpha: 0)
                    kernels(isa).conv2d_f32(&g, x, &gemm, &scratch, &got)
                    // The same weights as a fully connected layer over 1–16 rows: every tile height, the tall
                    // single-pass tiles (5–7 and 9–14 rows) among them.
                    let rows = rng.int(1...16), fx = rng.floats(rows * k)
                    var fe = [Float](repeating: 0, count: rows * n), fg = [Float](repeating: .nan, count: rows * n)
                    ember_fully_connected_f32_ref(Int64(rows), Int32(k), Int32(n), fx, f, bias, -2, 2.5, &fe)
                    kernels(isa).fully_connected_f32(Int64(rows), fx, &gemm, &fg)
                    for (a, e) in zip(fg, fe) { #expect(abs(a - e) <= 1e-4 * Float(k), "\(isaName(isa)) fc trial \(trial)") }
                } } }
                for (a, e) in zip(got, expected) { #expect(abs(a - e) <= 1e-4 * Float(k), "\(isaName(isa)) conv trial \(trial): \(g)") }

                // Depthwise.
                var d = depthwiseGeometry(&rng, trial: trial)
                let c = Int(d.in_c)
                let taps = Int(d.kernel_h * d.kernel_w)
                let dx = rng.floats(Int(d.batch * d.in_h * d.in_w) * c), db = rng.floats(c)
                let (dfHalves, df) = halves(rng.floats(c * taps))
                let dOut = Int(d.batch * d.out_h * d.out_w) * c
                var de = [Float](repeating: 0, count: dOut), dg = [Float](repeating: .nan, count: dOut)
                ember_conv2d_f32_ref(&d, dx, df, db, -.infinity, .infinity, &de)
                let cp = Int(ember_n_padded(isa, Int32(c)))
                var dpw = [Float](repeating: 0, count: taps * cp), dpb = [Float](repeating: 0, count: cp)
                var dph = [UInt16](repeating: 0, count: taps * cp)
                var dScratch = GuardedScratch(Int(ember_dwconv_scratch_bytes(isa, &d, 0)))
                ember_dw_pack_f32(isa, Int32(taps), Int32(c), df, db, &dpw, &dpb)
                ember_dw_pack_f16(isa, Int32(taps), Int32(c), dfHalves, &dph)
                dpw.withUnsafeBufferPointer { w in dpb.withUnsafeBufferPointer { b in dph.withUnsafeBufferPointer { h in
                    var dw = ember_f32_dw(c_padded: Int32(cp), weights: useHalves ? nil : w.baseAddress, bias: b.baseAddress,
                                          act_min: -.infinity, act_max: .infinity, weights_f16: useHalves ? h.baseAddress : nil,
                                          post_unary: 0, post_alpha: 0, expand: nil)
                    kernels(isa).dwconv2d_f32(&d, dx, &dw, &dScratch.bytes, &dg)
                } } }
                #expect(dScratch.intact, "\(isaName(isa)) dw trial \(trial) wrote past its scratch: \(d)")
                for (a, e) in zip(dg, de) { #expect(abs(a - e) <= 1e-5 * Float(taps), "\(isaName(isa)) dw trial \(trial): \(d)") }
            }
        } }
    }
    /// Softmax over the last axis and layer normalization against the reference on every ISA that has them:
    /// 1–300 values per row (every tail), 1–5 rows, beta 0.5–2, values up to ±40 (softmax) and offset
    /// rows (layer norm: a large mean), with and without gamma and beta. Their sums are added in lanes:
    /// within 1e-5 of the reference, relatively (softmax also absolutely, for outputs near 0).
    @Test func f32SoftmaxAndLayerNormMatchTheReference() {
        var rng = SplitMix64(seed: 73)
        for trial in 0..<200 {
            let rows = rng.int(1...5), size = trial < 64 ? trial + 1 : rng.int(1...300)
            let x = rng.floats(rows * size, scale: trial % 2 == 0 ? 4 : 40).map { $0 + (trial % 3 == 0 ? 100 : 0) }
            let beta = Float.random(in: 0.5...2, using: &rng)
            let gamma = trial % 4 == 0 ? nil : rng.floats(size), shift = trial % 5 == 0 ? nil : rng.floats(size)
            var se = [Float](repeating: 0, count: x.count), le = se
            ember_softmax_f32_ref(Int64(rows), Int32(size), 1, beta, x, &se)
            withOptionalPointer(gamma) { g in withOptionalPointer(shift) { b in
                ember_layer_norm_f32_ref(Int64(rows), Int32(size), 1e-5, x, g, b, &le)
            } }
            for isa in availableISAs {
                var sg = [Float](repeating: .nan, count: x.count + 1), lg = sg
                sg[x.count] = 7; lg[x.count] = 7
                if let softmax = kernels(isa).softmax_f32 {
                    softmax(Int64(rows), Int32(size), beta, x, &sg)
                    let bad = zip(sg, se).filter { abs($0 - $1) > 1e-5 * abs($1) + 1e-7 }.count
                    #expect(bad == 0 && sg[x.count] == 7, "\(isaName(isa)) softmax trial \(trial): \(bad) of \(x.count) off")
                }
                if let norm = kernels(isa).layer_norm_f32 {
                    withOptionalPointer(gamma) { g in withOptionalPointer(shift) { b in
                        norm(Int64(rows), Int32(size), 1e-5, x, g, b, &lg)
                    } }
                    let bad = zip(lg, le).filter { abs($0 - $1) > 1e-5 * max(abs($1), 1e-3) }.count
                    #expect(bad == 0 && lg[x.count] == 7, "\(isaName(isa)) layer norm trial \(trial): \(bad) of \(x.count) off")
                }
            }
        }
    }

    /// A depthwise layer that computes its input rows from a pointwise layer's input (ember_f32_dw.expand,
    /// the x86 kernels) gives the bytes of that pointwise layer run whole (with a fused SiLU on odd
    /// trials, or its clamp) and then the depthwise layer: every depthwise geometry of the test above,
    /// 1–20 pointwise inputs, and the layer cut into row slices as threads cut it.
    @Test func expandedDepthwiseGivesThePointwiseThenDepthwiseBytes() {
        for isa in availableISAs where isa == EMBER_ISA_AVX512 || isa == EMBER_ISA_AVX2 {
            var rng = SplitMix64(seed: 67)
            for trial in 0..<200 {
                var d = depthwiseGeometry(&rng, trial: trial)
                let c = Int(d.in_c), k = rng.int(1...20), taps = Int(d.kernel_h * d.kernel_w)
                let pixels = Int(d.batch * d.in_h * d.in_w)
                let x = rng.floats(pixels * k), pwf = rng.floats(c * k), pwb = rng.floats(c)
                let df = rng.floats(c * taps), db = rng.floats(c)
                let np = Int(ember_n_padded(isa, Int32(c)))
                var ppw = [Float](repeating: 0, count: np * k), ppb = [Float](repeating: 0, count: np)
                ember_f32_pack(isa, Int32(k), Int32(c), pwf, pwb, &ppw, &ppb)
                var dpw = [Float](repeating: 0, count: taps * np), dpb = [Float](repeating: 0, count: np)
                ember_dw_pack_f32(isa, Int32(taps), Int32(c), df, db, &dpw, &dpb)
                var p = ember_conv_geometry(batch: d.batch, in_h: d.in_h, in_w: d.in_w, in_c: Int32(k), out_h: d.in_h, out_w: d.in_w,
                                            out_c: Int32(c), kernel_h: 1, kernel_w: 1, stride_h: 1, stride_w: 1, dilation_h: 1,
                                            dilation_w: 1, pad_top: 0, pad_left: 0, groups: 1)
                let post = trial % 2 == 1 ? Int32(EMBER_UNARY_SILU.rawValue) + 1 : 0
                let outCount = Int(d.batch * d.out_h * d.out_w) * c
                var expanded = [Float](repeating: .nan, count: pixels * c)
                var expected = [Float](repeating: .nan, count: outCount), got = [Float](repeating: .nan, count: outCount)
                var scratch = GuardedScratch(Int(ember_dwconv_scratch_bytes(isa, &d, 0)))
                var pScratch = [UInt8](repeating: 0, count: Int(ember_conv_scratch_bytes(isa, &p, 0)) + 64)
                ppw.withUnsafeBufferPointer { pw in ppb.withUnsafeBufferPointer { pb in
                dpw.withUnsafeBufferPointer { w in dpb.withUnsafeBufferPointer { b in
                    var gemm = ember_f32_gemm(k: Int32(k), n: Int32(c), n_padded: Int32(np), weights: pw.baseAddress, bias: pb.baseAddress,
                                              act_min: -1.5, act_max: 3, weights_f16: nil, post_unary: post, post_alpha: 0)
                    kernels(isa).conv2d_f32(&p, x, &gemm, &pScratch, &expanded)
                    var dw = ember_f32_dw(c_padded: Int32(np), weights: w.baseAddress, bias: b.baseAddress, act_min: -.infinity,
                                          act_max: .infinity, weights_f16: nil, post_unary: 0, post_alpha: 0, expand: nil)
                    kernels(isa).dwconv2d_f32(&d, expanded, &dw, &scratch.bytes, &expected)
                    withUnsafePointer(to: gemm) { g in
                        dw.expand = g
                        // Whole, then in row slices (batch 1) as the executor's threads run it.
                        kernels(isa).dwconv2d_f32(&d, x, &dw, &scratch.bytes, &got)
                        let whole = got
                        got = [Float](repeating: .nan, count: outCount)
                        for slice in convSlices(d, parts: 3) {
                            var sg = slice.geometry
                            got.withUnsafeMutableBufferPointer { out in
                                kernels(isa).dwconv2d_f32(&sg, x.withUnsafeBufferPointer { $0.baseAddress! } + slice.input / c * k,
                                                          &dw, &scratch.bytes, out.baseAddress! + slice.output)
                            }
                        }
                        let wrong = zip(whole, expected).filter { $0.0 != $0.1 }.count
                        #expect(wrong == 0, "\(isaName(isa)) trial \(trial): whole: \(wrong) of \(outCount) differ: \(d)")
                    }
                } } } }
                let wrong = zip(got, expected).filter { $0.0 != $0.1 }.count
                #expect(wrong == 0, "\(isaName(isa)) trial \(trial): sliced: \(wrong) of \(outCount) differ: \(d)")
                #expect(scratch.intact, "\(isaName(isa)) trial \(trial) wrote past its scratch: \(d)")
            }
        }
    }

    /// Winograd F(2×2, 3×3) against the direct reference: odd channel counts (partial vectors), images
    /// down to 1×1, padding 0–2 on each side (asymmetric: the bottom and right by the output's size),
    /// batch 1–3, a clamp, and the layer run whole and cut into row slices as threads run it (at even
    /// rows, as the executor cuts it, and at any row). Cut at even rows, the bits are the unsplit
    /// layer's. The error allowed is relative to Σ|x·w| + |bias| for each
    /// output (the transforms add a few ulp of it; a wrong tap or tile would be off by O(1) of it), and
    /// the kernel must stay inside its scratch.
    @Test func winogradConvolutionMatchesTheDirectReference() {
        for isa in availableISAs {
            var rng = SplitMix64(seed: 64)
            var worst: Float = 0
            for trial in 0..<160 {
                var g = ember_conv_geometry()
                g.batch = Int32(rng.int(1...3)); g.in_c = Int32(rng.int(1...40)); g.out_c = Int32(rng.int(1...40))
                g.in_h = Int32(rng.int(1...14)); g.in_w = Int32(rng.int(1...14))
                g.kernel_h = 3; g.kernel_w = 3; g.stride_h = 1; g.stride_w = 1; g.dilation_h = 1; g.dilation_w = 1; g.groups = 1
                g.pad_top = Int32(rng.int(0...2)); g.pad_left = Int32(rng.int(0...2))
                g.out_h = g.in_h + g.pad_top + Int32(rng.int(0...2)) - 2
                g.out_w = g.in_w + g.pad_left + Int32(rng.int(0...2)) - 2
                guard g.out_h >= 1, g.out_w >= 1 else { continue }
                let inC = Int(g.in_c), n = Int(g.out_c), k = 9 * inC
                let x = rng.floats(Int(g.batch * g.in_h * g.in_w) * inC), f = rng.floats(n * k), bias = rng.floats(n)
                let outCount = Int(g.batch * g.out_h * g.out_w) * n
                let (lo, hi): (Float, Float) = trial % 3 == 0 ? (-2, 2.5) : (-.infinity, .infinity)
                var expected = [Float](repeating: 0, count: outCount), magnitude = expected
                ember_conv2d_f32_ref(&g, x, f, bias, lo, hi, &expected)
                ember_conv2d_f32_ref(&g, x.map(abs), f.map(abs), bias.map(abs), 0, .infinity, &magnitude)
                let np = Int(ember_n_padded(isa, g.out_c))
                var packed = [Float](repeating: .nan, count: Int(ember_winograd_f32_packed_floats(isa, g.in_c, g.out_c)))
                var pb = [Float](repeating: .nan, count: np)
                let zeros = [Float](repeating: 0, count: np)
                var w = ember_winograd_f32()
                ember_winograd_f32_pack(isa, g.in_c, g.out_c, f, bias, &packed, &pb)
                ember_winograd_f32_describe(isa, g.in_c, g.out_c, packed, pb, zeros, lo, hi, &w)
                let parts = trial % 2 == 0 ? 1 : rng.int(2...3)
                var got = [Float](repeating: .nan, count: outCount)
                var scratch = GuardedScratch(Int(ember_winograd_scratch_bytes(isa, &g)))
                // Blocks of 32 tiles at most (fewer only in a smaller layer), the scratch exactly theirs.
                let tiles = Int(g.batch) * Int((g.out_h + 1) / 2) * Int((g.out_w + 1) / 2)
                let block = Int(ember_winograd_tile_block(isa, &g))
                #expect(block == min(32, tiles), "\(isaName(isa)) trial \(trial): block \(block) of \(tiles) tiles")
                let perTile = Int(ember_n_padded(isa, g.in_c)) + np, pad = Int(EMBER_WINOGRAD_POINT_PAD)
                #expect(scratch.size == 64 * (block * perTile + 2 * pad))
                // Odd row multiples too: a part starting at an odd row still computes its rows right.
                for slice in convSlices(g, parts: parts, rowMultiple: trial % 4 == 1 ? 1 : 2) {
                    var part = slice.geometry
                    x.withUnsafeBufferPointer { xp in got.withUnsafeMutableBufferPointer { out in
                        kernels(isa).conv2d_winograd_f32(&part, xp.baseAddress! + slice.input, &w, &scratch.bytes,
                                                         out.baseAddress! + slice.output)
                    } }
                    #expect(scratch.intact, "\(isaName(isa)) trial \(trial) wrote past its scratch: \(part)")
                }
                if parts > 1 && trial % 4 != 1 {
                    var whole = [Float](repeating: .nan, count: outCount)
                    kernels(isa).conv2d_winograd_f32(&g, x, &w, &scratch.bytes, &whole)
                    #expect(whole.map(\.bitPattern) == got.map(\.bitPattern), "\(isaName(isa)) trial \(trial): split ≠ whole")
                }
                for i in 0..<outCount {
                    let error = abs(got[i] - expected[i]) / (magnitude[i] + 1e-30)
                    worst = max(worst, error.isNaN ? .infinity : error)
                    if !(error <= 1e-5) {
                        Issue.record("\(isaName(isa)) trial \(trial) (\(parts) parts) output \(i): \(got[i]) for \(expected[i]): \(g)")
                        break
                    }
                }
            }
            print("winograd \(isaName(isa)): worst error \(worst) of Σ|x·w|")
        }
    }
    /// The INT4 block-32 fully connected kernels against the reference: 1–5 rows, 1–9 blocks, 1–37 outputs
    /// (the 4-at-a-time loop and its tail), every byte value of the nibbles, scales from tiny to large
    /// halves, bias or none, a clamp. The error allowed is 1e-5 of Σ|x·w·scale| + |bias| per output
    /// (summation order; a wrong nibble, sign or block would be off by O(1) of it).
    @Test func int4FullyConnectedMatchesTheReference() {
        for isa in availableISAs {
            var rng = SplitMix64(seed: 65)
            var worst: Float = 0
            for trial in 0..<150 {
                let rows = rng.int(1...5), blocks = rng.int(1...9), outF = rng.int(1...37), inF = 32 * blocks
                let x = rng.floats(rows * inF, 2)
                let scales = rng.floats(outF * blocks, trial % 5 == 0 ? 40 : 0.05)
                var halves = [UInt16](repeating: 0, count: scales.count)
                ember_f32_to_f16(Int64(scales.count), scales, &halves)
                var weights = [UInt8](repeating: 0, count: outF * blocks * 18)
                for o in 0..<outF { for b in 0..<blocks {
                    let at = (o * blocks + b) * 18, h = halves[o * blocks + b]
                    weights[at] = UInt8(h & 0xFF); weights[at + 1] = UInt8(h >> 8)
                    for j in 0..<16 { weights[at + 2 + j] = UInt8(truncatingIfNeeded: rng.next()) }
                } }
                let bias: [Float]? = trial % 3 == 0 ? nil : rng.floats(outF)
                let (lo, hi): (Float, Float) = trial % 4 == 0 ? (-1, 1.5) : (-.infinity, .infinity)
                var expected = [Float](repeating: 0, count: rows * outF), got = [Float](repeating: .nan, count: rows * outF)
                var scratch = GuardedScratch(inF * 4)
                withOptionalPointer(bias) { bp in
                    ember_fully_connected_f32_q4b32_ref(Int64(rows), Int32(inF), Int32(outF), x, weights, bp, lo, hi, &expected)
                    kernels(isa).fully_connected_q4b32(Int64(rows), Int32(inF), Int32(outF), x, weights, bp, lo, hi,
                                                       &scratch.bytes, &got)
                }
                #expect(scratch.intact, "\(isaName(isa)) trial \(trial) wrote past its scratch")
                var scale = [Float](repeating: 0, count: halves.count)
                ember_f16_to_f32(Int64(halves.count), halves, &scale)
                for r in 0..<rows { for o in 0..<outF {
                    var magnitude = abs(bias?[o] ?? 0)
                    for b in 0..<blocks {
                        let at = (o * blocks + b) * 18
                        for j in 0..<16 {
                            let byte = Int(weights[at + 2 + j])
                            let low = (byte & 0xF) ^ 8 - 8, high = (byte >> 4) ^ 8 - 8
                            magnitude += abs(scale[o * blocks + b]) * (abs(x[r * inF + 32 * b + 2 * j] * Float(low))
                                                                        + abs(x[r * inF + 32 * b + 2 * j + 1] * Float(high)))
                        }
                    }
                    let i = r * outF + o, error = abs(got[i] - expected[i]) / (magnitude + 1e-30)
                    worst = max(worst, error.isNaN ? .infinity : error)
                    if !(error <= 1e-5) {
                        Issue.record("\(isaName(isa)) trial \(trial) row \(r) output \(o): \(got[i]) for \(expected[i])")
                    }
                } }
            }
            print("int4 fc \(isaName(isa)): worst error \(worst) of Σ|x·w·scale|")
        }
    }
    /// f32 convolutions with more than 1 MiB of packed weights (the weight-stationary path: patches
    /// gathered, each pair of panels over every pixel): odd sizes, stride 1 and 2, batch 1–2, padding,
    /// run whole and in thread slices — among them a layer whose patches pass 1 MiB (window path) but
    /// whose slices' do not, in the whole layer's scratch. Against the reference, within 1e-5 of
    /// Σ|x·w| + |bias| per output, and inside the scratch.
    @Test func f32ConvolutionWithLargeWeightsMatchesTheReference() {
        for isa in availableISAs {
            var rng = SplitMix64(seed: 66)
            for trial in 0..<6 {
                var g = ember_conv_geometry()
                g.batch = Int32(trial % 2 + 1); g.in_c = Int32(rng.int(64...70)); g.out_c = Int32(rng.int(480...500))
                g.kernel_h = 3; g.kernel_w = 3; g.stride_h = Int32(trial % 3 == 2 ? 2 : 1); g.stride_w = g.stride_h
                g.dilation_h = 1; g.dilation_w = 1; g.groups = 1; g.pad_top = 1; g.pad_left = 1
                // Trial 5: 16 × 20 outputs of k = 9·in_c floats — past 1 MiB of patches whole, not in halves.
                g.in_h = Int32(trial == 5 ? 16 : rng.int(3...9)); g.in_w = Int32(trial == 5 ? 20 : rng.int(3...9))
                g.out_h = (g.in_h - 1) / g.stride_h + 1; g.out_w = (g.in_w - 1) / g.stride_w + 1
                let k = 9 * Int(g.in_c), n = Int(g.out_c)
                let x = rng.floats(Int(g.batch * g.in_h * g.in_w * g.in_c)), f = rng.floats(n * k), bias = rng.floats(n)
                let outCount = Int(g.batch * g.out_h * g.out_w) * n
                var expected = [Float](repeating: 0, count: outCount), magnitude = expected
                ember_conv2d_f32_ref(&g, x, f, bias, -3, 3, &expected)
                ember_conv2d_f32_ref(&g, x.map(abs), f.map(abs), bias.map(abs), 0, .infinity, &magnitude)
                let np = Int(ember_n_padded(isa, Int32(n)))
                var pw = [Float](repeating: 0, count: np * k), pb = [Float](repeating: 0, count: np)
                ember_f32_pack(isa, Int32(k), Int32(n), f, bias, &pw, &pb)
                var scratch = GuardedScratch(Int(ember_conv_scratch_bytes(isa, &g, 0)))
                var got = [Float](repeating: .nan, count: outCount)
                pw.withUnsafeBufferPointer { wp in pb.withUnsafeBufferPointer { bp in
                    var gemm = ember_f32_gemm(k: Int32(k), n: Int32(n), n_padded: Int32(np), weights: wp.baseAddress,
                                              bias: bp.baseAddress, act_min: -3, act_max: 3, weights_f16: nil,
                                              post_unary: 0, post_alpha: 0)
                    for slice in convSlices(g, parts: trial % 2 == 0 ? 1 : 2) {
                        var part = slice.geometry
                        x.withUnsafeBufferPointer { xp in got.withUnsafeMutableBufferPointer { op in
                            kernels(isa).conv2d_f32(&part, xp.baseAddress! + slice.input, &gemm, &scratch.bytes,
                                                    op.baseAddress! + slice.output)
                        } }
                    }
                    // With a fused SiLU: the bits of the same convolution, then the unary kernel.
                    var fused = [Float](repeating: .nan, count: outCount), then = got
                    gemm.post_unary = Int32(EMBER_UNARY_SILU.rawValue) + 1
                    kernels(isa).conv2d_f32(&g, x, &gemm, &scratch.bytes, &fused)
                    _ = kernels(isa).unary_f32(EMBER_UNARY_SILU, 0, Int64(outCount), then, &then)
                    #expect(fused.map(\.bitPattern) == then.map(\.bitPattern), "\(isaName(isa)) trial \(trial): fused SiLU")
                } }
                #expect(scratch.intact, "\(isaName(isa)) trial \(trial) wrote past its scratch: \(g)")
                let bad = (0..<outCount).filter { !(abs(got[$0] - expected[$0]) <= 1e-5 * magnitude[$0]) }.count
                #expect(bad == 0, "\(isaName(isa)) trial \(trial): \(bad) of \(outCount) differ: \(g)")
            }
        }
    }
}
