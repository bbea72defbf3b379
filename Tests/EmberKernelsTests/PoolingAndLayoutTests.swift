import Testing
import CEmberKernels
@testable import EmberKernels

@Suite struct PoolingTests {
    @Test func int8AveragePoolRoundsHalfAwayFromZero() {
        // One 2x2 window per channel: sums 2 → 1 (0.5 up), -2 → -1, -6 → -2 (-1.5 → -2), 5 → 1.
        var g = ember_pool_geometry(batch: 1, in_h: 2, in_w: 2, channels: 4, out_h: 1, out_w: 1, kernel_h: 2, kernel_w: 2,
                                    stride_h: 2, stride_w: 2, pad_top: 0, pad_left: 0)
        let x: [Int8] = [1, -1, -1, 2, 1, -1, -2, 1, 0, 0, -2, 1, 0, 0, -1, 1]
        var out = [Int8](repeating: 0, count: 4)
        ember_avg_pool_s8_ref(&g, x, -128, 127, &out)
        #expect(out == [1, -1, -2, 1])
    }

    @Test func poolingMatchesNaiveWithPadding() {
        var rng = SplitMix64(seed: 30)
        for _ in 0..<200 {
            let inH = rng.int(1...7), inW = rng.int(1...7), c = rng.int(1...4), kh = rng.int(1...3), kw = rng.int(1...3)
            let sh = rng.int(1...2), sw = rng.int(1...2), pt = rng.int(0...(kh - 1)), pl = rng.int(0...(kw - 1))
            let outH = max(1, (inH + pt - kh) / sh + 1), outW = max(1, (inW + pl - kw) / sw + 1)
            var g = ember_pool_geometry(batch: 1, in_h: Int32(inH), in_w: Int32(inW), channels: Int32(c), out_h: Int32(outH), out_w: Int32(outW),
                                        kernel_h: Int32(kh), kernel_w: Int32(kw), stride_h: Int32(sh), stride_w: Int32(sw), pad_top: Int32(pt), pad_left: Int32(pl))
            let x = rng.floats(inH * inW * c), xq = rng.int8s(inH * inW * c)
            var avg = [Float](repeating: 0, count: outH * outW * c), mx = avg
            var avgQ = [Int8](repeating: 0, count: outH * outW * c), mxQ = avgQ
            ember_avg_pool_f32_ref(&g, x, -.infinity, .infinity, &avg)
            ember_max_pool_f32_ref(&g, x, -.infinity, .infinity, &mx)
            ember_avg_pool_s8_ref(&g, xq, -128, 127, &avgQ)
            ember_max_pool_s8_ref(&g, xq, -128, 127, &mxQ)
            for oy in 0..<outH { for ox in 0..<outW { for ch in 0..<c {
                var vals: [Int] = []
                for ky in 0..<kh { for kx in 0..<kw {
                    let iy = oy * sh - pt + ky, ix = ox * sw - pl + kx
                    if iy >= 0 && iy < inH && ix >= 0 && ix < inW { vals.append((iy * inW + ix) * c + ch) }
                } }
                let o = (oy * outW + ox) * c + ch
                guard !vals.isEmpty else { continue }
                #expect(abs(avg[o] - vals.map { x[$0] }.reduce(0, +) / Float(vals.count)) < 1e-5)
                #expect(mx[o] == vals.map { x[$0] }.max())
                #expect(mxQ[o] == vals.map { xq[$0] }.max())
                let sum = vals.map { Int(xq[$0]) }.reduce(0, +), n = vals.count
                #expect(Int(avgQ[o]) == (sum > 0 ? (sum + n / 2) / n : (sum - n / 2) / n))
            } } }
        }
    }

    @Test func meanOverAnyAxes() {
        var rng = SplitMix64(seed: 31)
        for _ in 0..<100 {
            let dims = (0..<rng.int(1...4)).map { _ in rng.int(1...4) }
            let mask = UInt32(rng.int(1...((1 << dims.count) - 1)))
            var r = ember_reduce()
            r.rank = Int32(dims.count); r.axis_mask = mask
            fillTuple(&r.shape, dims.map { Int32($0) })
            let x = rng.floats(dims.reduce(1, *))
            let outDims = dims.enumerated().map { mask & (1 << UInt32($0.offset)) != 0 ? 1 : $0.element }
            var expected = [Float](repeating: 0, count: outDims.reduce(1, *))
            let count = Float(dims.reduce(1, *) / outDims.reduce(1, *))
            for i in 0..<x.count {
                var rem = i, o = 0, mul = 1
                var idx = [Int](repeating: 0, count: dims.count)
                for d in stride(from: dims.count - 1, through: 0, by: -1) { idx[d] = rem % dims[d]; rem /= dims[d] }
                for d in stride(from: dims.count - 1, through: 0, by: -1) { o += (mask & (1 << UInt32(d)) != 0 ? 0 : idx[d]) * mul; mul *= outDims[d] }
                expected[o] += x[i] / count
            }
            var out = [Float](repeating: 0, count: expected.count)
            ember_mean_f32_ref(&r, x, &out)
            for (a, b) in zip(out, expected) { #expect(abs(a - b) < 1e-5) }
        }
    }
}

@Suite struct LayoutTests {
    @Test func transposePadSliceConcat() {
        // Transpose [2,3] → [3,2].
        let x: [Int32] = [1, 2, 3, 4, 5, 6]
        var t = [Int32](repeating: 0, count: 6)
        ember_transpose_ref(4, 2, [2, 3], [1, 0], x, &t)
        #expect(t == [1, 4, 2, 5, 3, 6])
        // Pad [2,3] by (1,0) before and (0,1) after with 9.
        var p = [Int32](repeating: 0, count: 12)
        var nine: Int32 = 9
        ember_pad_ref(4, 2, [2, 3], [1, 0], [3, 4], &nine, x, &p)
        #expect(p == [9, 9, 9, 9, 1, 2, 3, 9, 4, 5, 6, 9])
        // Slice rows reversed, every second column.
        var s = [Int32](repeating: 0, count: 4)
        ember_slice_ref(4, 2, [2, 3], [1, 0], [-1, 2], [2, 2], x, &s)
        #expect(s == [4, 6, 1, 3])
        // Concat [2,1] and [2,2] on axis 1.
        let a: [Int8] = [1, 2], b: [Int8] = [3, 4, 5, 6]
        var c = [Int8](repeating: 0, count: 6)
        a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in
            let ptrs: [UnsafeRawPointer?] = [pa.baseAddress, pb.baseAddress]
            ember_concat_ref(2, ptrs, [1, 2], 2, &c)
        } }
        #expect(c == [1, 3, 4, 2, 5, 6])
    }

    /// Against an independent Swift twin (output index → input index by the
    /// permutation), not a round trip, which a kernel that only copies would pass.
    @Test func randomTransposesMatchTheirDefinition() {
        var rng = SplitMix64(seed: 32)
        for _ in 0..<200 {
            let rank = rng.int(1...6)
            let dims = (0..<rank).map { _ in rng.int(1...4) }
            var perm = Array(0..<rank).shuffled(using: &rng)
            if rank > 1 && perm == Array(0..<rank) { perm.swapAt(0, rank - 1) }
            let x = rng.floats(dims.reduce(1, *))
            var y = [Float](repeating: .nan, count: x.count)
            ember_transpose_ref(4, Int32(rank), dims.map { Int32($0) }, perm.map { Int32($0) }, x, &y)
            #expect(y == transposeTwin(x, dims: dims, perm: perm), "dims \(dims) perm \(perm)")
        }
        // Every "one axis moved to the end" (NCHW → NHWC and its kin: the kernel's scatter path), with
        // axes kept in place after it too, at sizes past a vector.
        for rank in 2...5 {
            for moved in 0..<(rank - 1) {
                for kept in 0..<(rank - moved - 1) {
                    let dims = (0..<rank).map { _ in rng.int(1...9) }
                    let front = Array(0..<(rank - kept))
                    let perm = front.filter { $0 != moved } + [moved] + Array((rank - kept)..<rank)
                    let x = rng.floats(dims.reduce(1, *))
                    var y = [Float](repeating: .nan, count: x.count)
                    ember_transpose_ref(4, Int32(rank), dims.map { Int32($0) }, perm.map { Int32($0) }, x, &y)
                    #expect(y == transposeTwin(x, dims: dims, perm: perm), "dims \(dims) perm \(perm)")
                }
            }
        }
    }
}

/// out[o] = x[c] where c[perm[i]] = o[i], by explicit coordinates.
func transposeTwin(_ x: [Float], dims: [Int], perm: [Int]) -> [Float] {
    let outDims = perm.map { dims[$0] }
    var out = [Float](repeating: 0, count: x.count)
    for flat in 0..<x.count {
        var o = [Int](repeating: 0, count: dims.count), rest = flat
        for i in stride(from: dims.count - 1, through: 0, by: -1) { o[i] = rest % outDims[i]; rest /= outDims[i] }
        var c = [Int](repeating: 0, count: dims.count)
        for i in 0..<dims.count { c[perm[i]] = o[i] }
        var src = 0
        for i in 0..<dims.count { src = src * dims[i] + c[i] }
        out[flat] = x[src]
    }
    return out
}
