import Testing
import CEmberKernels
import EmberCore
@testable import EmberKernels
#if canImport(Glibc)
import Glibc
#endif

/// Randomized tests of the function-family and indexing reference kernels against
/// oracles written here, element by element, from the ops' definitions.
@Suite struct BreadthKernelTests {
    /// Row-major index of `idx` in `dims`.
    static func flat(_ idx: [Int], _ dims: [Int]) -> Int { zip(idx, dims).reduce(0) { $0 * $1.1 + $1.0 } }
    /// The multi-index of flat position `i` in `dims`.
    static func unflat(_ i: Int, _ dims: [Int]) -> [Int] {
        var rem = i, idx = [Int](repeating: 0, count: dims.count)
        for d in stride(from: dims.count - 1, through: 0, by: -1) { idx[d] = rem % dims[d]; rem /= dims[d] }
        return idx
    }
    static func randomDims(_ rng: inout SplitMix64, rank: ClosedRange<Int> = 1...4, size: ClosedRange<Int> = 1...5) -> [Int] {
        (0..<rng.int(rank)).map { _ in rng.int(size) }
    }
    /// Random dims, one of their axes, and the [outer][size][inner] split around it.
    static func randomAxis(_ rng: inout SplitMix64, rank: ClosedRange<Int>, size: ClosedRange<Int>)
        -> (dims: [Int], axis: Int, outer: Int, size: Int, inner: Int) {
        let dims = randomDims(&rng, rank: rank, size: size)
        let axis = rng.int(0...(dims.count - 1))
        return (dims, axis, dims[..<axis].reduce(1, *), dims[axis], dims[(axis + 1)...].reduce(1, *))
    }

    /// Each unary function from its definition (a switch, so a new function without an oracle does not compile).
    static func oracle(_ f: UnaryFunction) -> (Float) -> Float {
        switch f {
        case .abs: return { Swift.abs($0) }
        case .neg: return { -$0 }
        case .sqrt: return { $0.squareRoot() }
        case .rsqrt: return { 1 / $0.squareRoot() }
        case .exp: return { expf($0) }
        case .log: return { logf($0) }
        case .floor: return { $0.rounded(.down) }
        case .ceil: return { $0.rounded(.up) }
        case .round: return { $0.rounded(.toNearestOrEven) }
        case .square: return { $0 * $0 }
        case .elu: return { $0 < 0 ? expm1f($0) : $0 }
        case .sin: return { sinf($0) }
        case .cos: return { cosf($0) }
        case .sign: return { $0 > 0 ? 1 : ($0 < 0 ? -1 : $0) }
        case .erf: return { erff($0) }
        case .reciprocal: return { 1 / $0 }
        case .reluN1To1: return { Swift.min(Swift.max($0, -1), 1) }
        case .softplus: return { x in x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x)) }
        case .geluTanh:
            return { x in
                let inner: Float = 0.7978845608028654 * (x + 0.044715 * x * x * x)
                return 0.5 * x * (1 + tanhf(inner))
            }
        case .silu: return { x in x * (1 / (1 + expf(-x))) }  // the sigmoid rounded, then the product
        }
    }

    @Test func unaryFunctionsMatchTheirDefinitions() {
        var rng = SplitMix64(seed: 51)
        let x = rng.floats(301, 4) + [0, -0.0, 0.5, 1.5, 2.5, -2.5, 88, -88, .infinity, -.infinity]
        for f in UnaryFunction.allCases {
            let oracle = Self.oracle(f)
            var out = [Float](repeating: 7, count: x.count)
            ember_unary_f32_ref(f.cOp, 0, Int64(x.count), x, &out)
            for i in x.indices {
                let want = oracle(x[i])
                #expect(out[i] == want || (out[i].isNaN && want.isNaN), "\(f)(\(x[i])) = \(out[i]), want \(want)")
            }
        }
        // Rounding ties go to even, as TFLite ROUND and ONNX Round do.
        var r = [Float](repeating: 0, count: 4)
        ember_unary_f32_ref(EMBER_UNARY_ROUND, 0, 4, [0.5, 1.5, 2.5, -0.5], &r)
        #expect(r == [0, 2, 2, -0])
        // Softplus does not overflow where exp does.
        var sp = [Float](repeating: 0, count: 1)
        ember_unary_f32_ref(EMBER_UNARY_SOFTPLUS, 0, 1, [100], &sp)
        #expect(sp[0] == 100)
    }

    @Test func binaryFunctionsBroadcast() {
        var rng = SplitMix64(seed: 52)
        let cases: [(BinaryFunction, (Float, Float) -> Float)] = [
            (.pow, { powf($0, $1) }), (.squaredDifference, { ($0 - $1) * ($0 - $1) }),
            (.floorDiv, { ($0 / $1).rounded(.down) }),
            (.floorMod, { x, y in
                var r = fmodf(x, y)
                if r != 0 && ((y < 0) != (r < 0)) { r += y }
                return r
            }),
        ]
        for _ in 0..<150 {
            let (ad, bd, od) = randomBroadcastPair(&rng)
            let a = rng.floats(ad.reduce(1, *), 3), b = rng.floats(bd.reduce(1, *), 3).map { $0 == 0 ? 1 : $0 }
            for (f, oracle) in cases {
                var bc = makeBroadcast(ad, bd, od)
                var out = [Float](repeating: 0, count: od.reduce(1, *))
                ember_binary_f32_ref(f.cOp, &bc, a, b, -.infinity, .infinity, &out)
                for i in out.indices {
                    let want = oracle(a[sourceIndex(i, ad, od)], b[sourceIndex(i, bd, od)])
                    #expect(out[i] == want || (out[i].isNaN && want.isNaN))
                }
            }
        }
        // floor_mod takes the divisor's sign (TFLite, Python): -7 mod 3 = 2, 7 mod -3 = -2.
        var bc = makeBroadcast([2], [2], [2])
        var out = [Float](repeating: 0, count: 2)
        ember_binary_f32_ref(EMBER_BINARY_FLOOR_MOD, &bc, [-7, 7], [3, -3], -.infinity, .infinity, &out)
        #expect(out == [2, -2])
    }

    /// Integer arithmetic of every plain integer type (i16, u16, i32, u32, i64, u64) from its definitions
    /// (two's complement, wrapping), with broadcasting and the values that trap in C: a zero divisor
    /// (0 here) and MIN / -1 (wraps).
    @Test func integerArithmeticWrapsAndNeverTraps() {
        var rng = SplitMix64(seed: 57)
        func oracle<T: FixedWidthInteger>(_ op: ember_binary_op, _ x: T, _ y: T) -> T {
            let minusOne = T(truncatingIfNeeded: -1)
            switch op {
            case EMBER_BINARY_ADD: return x &+ y
            case EMBER_BINARY_SUB: return x &- y
            case EMBER_BINARY_MUL: return x &* y
            case EMBER_BINARY_MAX: return Swift.max(x, y)
            case EMBER_BINARY_MIN: return Swift.min(x, y)
            case EMBER_BINARY_SQUARED_DIFFERENCE: let d = x &- y; return d &* d
            case EMBER_BINARY_POW:
                if T.isSigned && y < 0 { return x == 1 ? 1 : x == minusOne ? (y % 2 != 0 ? minusOne : 1) : 0 }
                var r: T = 1
                for _ in 0..<Int(y) { r = r &* x }
                return r
            default:
                guard y != 0 else { return 0 }
                if T.isSigned && x == T.min && y == minusOne { return op == EMBER_BINARY_FLOOR_MOD ? 0 : T.min }
                let (q, m) = (x / y, x % y)
                let adjust = m != 0 && ((m < 0) != (y < 0))
                if op == EMBER_BINARY_FLOOR_DIV { return adjust ? q - 1 : q }
                if op == EMBER_BINARY_FLOOR_MOD { return adjust ? m + y : m }
                return q
            }
        }
        let ops = [EMBER_BINARY_ADD, EMBER_BINARY_SUB, EMBER_BINARY_MUL, EMBER_BINARY_DIV, EMBER_BINARY_MAX, EMBER_BINARY_MIN,
                   EMBER_BINARY_POW, EMBER_BINARY_SQUARED_DIFFERENCE, EMBER_BINARY_FLOOR_DIV, EMBER_BINARY_FLOOR_MOD]
        func check<T: FixedWidthInteger>(_ type: T.Type, _ dtype: ember_dtype) {
            let specials: [T] = [0, 1, T(truncatingIfNeeded: -1), T.min, T.max, 7, T(truncatingIfNeeded: -7), 3]
            for trial in 0..<60 {
                let (ad, bd, od) = randomBroadcastPair(&rng)
                func values(_ n: Int) -> [T] {
                    (0..<n).map { _ in
                        rng.int(0...3) == 0 ? specials[rng.int(0...(specials.count - 1))] : T(truncatingIfNeeded: rng.int(-1000...1000))
                    }
                }
                let a = values(ad.reduce(1, *)), b = values(bd.reduce(1, *))
                for op in ops {
                    // Small exponents keep the oracle's loop short; the kernel squares.
                    let bb = op == EMBER_BINARY_POW ? b.map { $0 % 9 } : b
                    var bc = makeBroadcast(ad, bd, od)
                    var out = [T](repeating: 0, count: od.reduce(1, *))
                    ember_binary_int_ref(op, dtype, &bc, a, bb, &out)
                    let want = out.indices.map { oracle(op, a[sourceIndex($0, ad, od)], bb[sourceIndex($0, bd, od)]) }
                    #expect(out == want, "\(T.self) op \(op.rawValue) trial \(trial)")
                }
            }
        }
        check(Int32.self, EMBER_DTYPE_I32)
        check(Int64.self, EMBER_DTYPE_I64)
        check(Int16.self, EMBER_DTYPE_I16)
        check(UInt16.self, EMBER_DTYPE_U16)
        check(UInt32.self, EMBER_DTYPE_U32)
        check(UInt64.self, EMBER_DTYPE_U64)
    }

    @Test func cumulativeSumsRunForwardBackwardAndExclusive() {
        var rng = SplitMix64(seed: 58)
        for trial in 0..<80 {
            let (dims, axis, outer, size, inner) = Self.randomAxis(&rng, rank: 1...4, size: 1...6)
            let exclusive = rng.int(0...1) == 1, reverse = rng.int(0...1) == 1
            let ints = (0..<dims.reduce(1, *)).map { _ in rng.int(0...4) == 0 ? Int64.max - 3 : Int64(rng.int(-50...50)) }
            /// The flat positions element `at`'s running sum covers.
            func summed(_ at: Int) -> [Int] {
                let (o, j, i) = (at / (size * inner), (at / inner) % size, at % inner)
                let range = reverse ? (exclusive ? (j + 1)..<size : j..<size) : (exclusive ? 0..<j : 0..<(j + 1))
                return range.map { (o * size + $0) * inner + i }
            }
            func want(_ at: Int) -> Int64 { summed(at).reduce(Int64(0)) { $0 &+ ints[$1] } }
            var out = [Int64](repeating: 0, count: ints.count)
            ember_cumsum_ref(EMBER_DTYPE_I64, Int64(outer), Int32(size), Int64(inner), exclusive ? 1 : 0, reverse ? 1 : 0, ints, &out)
            #expect(out == ints.indices.map(want), "trial \(trial): \(dims) axis \(axis)")
            let floats = ints.map { Float($0 % 100) }
            var fout = [Float](repeating: 0, count: floats.count)
            ember_cumsum_ref(EMBER_DTYPE_F32, Int64(outer), Int32(size), Int64(inner), exclusive ? 1 : 0, reverse ? 1 : 0, floats, &fout)
            let fwant = ints.indices.map { at in summed(at).reduce(Float(0)) { $0 + floats[$1] } }
            #expect(fout == fwant, "trial \(trial) f32")
        }
    }

    /// Top-k against a stable sort of each row: best first, the lower index first on ties (values drawn
    /// from a few levels so ties are common), values and indices alike.
    @Test func topKIsAStableSortsPrefix() {
        var rng = SplitMix64(seed: 59)
        for trial in 0..<80 {
            let (dims, _, outer, size, inner) = Self.randomAxis(&rng, rank: 1...3, size: 1...7)
            let k = rng.int(1...size), largest = rng.int(0...1) == 1
            let x = (0..<dims.reduce(1, *)).map { _ in Float(rng.int(-3...3)) }
            var values = [Float](repeating: 0, count: outer * k * inner), indices = [Int64](repeating: 0, count: outer * k * inner)
            var taken = [UInt8](repeating: 0, count: size)
            ember_topk_ref(EMBER_DTYPE_F32, Int64(outer), Int32(size), Int64(inner), Int32(k), largest ? 1 : 0, 0, x, &taken, &values)
            ember_topk_ref(EMBER_DTYPE_F32, Int64(outer), Int32(size), Int64(inner), Int32(k), largest ? 1 : 0, 1, x, &taken, &indices)
            for o in 0..<outer {
                for i in 0..<inner {
                    let row = (0..<size).map { x[(o * size + $0) * inner + i] }
                    let order = row.indices.sorted { a, b in row[a] != row[b] ? (largest ? row[a] > row[b] : row[a] < row[b]) : a < b }
                    for r in 0..<k {
                        let at = (o * k + r) * inner + i
                        #expect(indices[at] == Int64(order[r]) && values[at] == row[order[r]], "trial \(trial) row \(o),\(i) rank \(r)")
                    }
                }
            }
        }
    }

    @Test func comparisonsAndLogicOnEveryType() {
        var rng = SplitMix64(seed: 53)
        let oracles: [(Comparison, (Double, Double) -> Bool)] = [
            (.less, { $0 < $1 }), (.lessEqual, { $0 <= $1 }), (.greater, { $0 > $1 }),
            (.greaterEqual, { $0 >= $1 }), (.equal, { $0 == $1 }), (.notEqual, { $0 != $1 }),
        ]
        for _ in 0..<100 {
            let (ad, bd, od) = randomBroadcastPair(&rng)
            let na = ad.reduce(1, *), nb = bd.reduce(1, *), n = od.reduce(1, *)
            // Small integer values so that equality happens often.
            let av = (0..<na).map { _ in rng.int(-3...3) }, bv = (0..<nb).map { _ in rng.int(-3...3) }
            for (f, oracle) in oracles {
                func check(_ dtype: ember_dtype, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer) {
                    var bc = makeBroadcast(ad, bd, od)
                    var out = [UInt8](repeating: 9, count: n)
                    ember_compare_ref(ember_compare_op(rawValue: UInt32(f.rawValue)), dtype, &bc, a, b, &out)
                    for i in 0..<n {
                        let want = oracle(Double(av[sourceIndex(i, ad, od)]), Double(bv[sourceIndex(i, bd, od)]))
                        #expect(out[i] == (want ? 1 : 0), "\(f) on \(dtype)")
                    }
                }
                check(EMBER_DTYPE_F32, av.map { Float($0) }, bv.map { Float($0) })
                check(EMBER_DTYPE_I32, av.map { Int32($0) }, bv.map { Int32($0) })
                check(EMBER_DTYPE_I64, av.map { Int64($0) }, bv.map { Int64($0) })
                check(EMBER_DTYPE_I8, av.map { Int8($0) }, bv.map { Int8($0) })
                check(EMBER_DTYPE_I16, av.map { Int16($0) }, bv.map { Int16($0) })
                // Unsigned: the same values lifted by half the type's range (an order a signed view would break).
                check(EMBER_DTYPE_U64, av.map { UInt64($0 + 3) &+ (1 << 63) }, bv.map { UInt64($0 + 3) &+ (1 << 63) })
                check(EMBER_DTYPE_U32, av.map { UInt32($0 + 3) &+ (1 << 31) }, bv.map { UInt32($0 + 3) &+ (1 << 31) })
                check(EMBER_DTYPE_U16, av.map { UInt16($0 + 3) &+ (1 << 15) }, bv.map { UInt16($0 + 3) &+ (1 << 15) })
            }
            let la = av.map { UInt8($0 > 0 ? 1 : 0) }, lb = bv.map { UInt8($0 > 0 ? 2 : 0) } // any non-zero byte is true
            for (op, oracle) in [(EMBER_LOGICAL_AND, { (x: Bool, y: Bool) in x && y }), (EMBER_LOGICAL_OR, { $0 || $1 }),
                                 (EMBER_LOGICAL_XOR, { $0 != $1 })] {
                var bc = makeBroadcast(ad, bd, od)
                var out = [UInt8](repeating: 9, count: n)
                ember_logical_ref(op, &bc, la, lb, &out)
                for i in 0..<n {
                    #expect(out[i] == (oracle(la[sourceIndex(i, ad, od)] != 0, lb[sourceIndex(i, bd, od)] != 0) ? 1 : 0))
                }
            }
            var not = [UInt8](repeating: 9, count: na)
            ember_logical_not_ref(Int64(na), la, &not)
            #expect(not == la.map { $0 == 0 ? 1 : 0 })
        }
    }

    @Test func reductionsOverRandomAxes() {
        var rng = SplitMix64(seed: 54)
        for _ in 0..<200 {
            let dims = Self.randomDims(&rng)
            let axes = dims.indices.filter { _ in rng.int(0...1) == 0 }
            let n = dims.reduce(1, *)
            let outDims = dims.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
            let x = rng.floats(n, 2), xi = (0..<n).map { _ in Int32(rng.int(-4...4)) }
            var r = ember_reduce()
            r.rank = Int32(dims.count)
            fillTuple(&r.shape, dims.map { Int32($0) })
            for a in axes { r.axis_mask |= 1 << UInt32(a) }
            for f in Reduction.allCases {
                var want = [Float](repeating: f == .sum ? 0 : f == .prod ? 1 : f == .max ? -.infinity : .infinity, count: outDims.reduce(1, *))
                var wantI = [Int32](repeating: f == .sum ? 0 : f == .prod ? 1 : f == .max ? .min : .max, count: want.count)
                for i in 0..<n { // in input order, as the kernel and TFLite fold
                    let o = Self.flat(Self.unflat(i, dims).enumerated().map { axes.contains($0.offset) ? 0 : $0.element }, outDims)
                    switch f {
                    case .sum: want[o] += x[i]; wantI[o] &+= xi[i]
                    case .prod: want[o] *= x[i]; wantI[o] &*= xi[i]
                    case .max: want[o] = Swift.max(want[o], x[i]); wantI[o] = Swift.max(wantI[o], xi[i])
                    case .min: want[o] = Swift.min(want[o], x[i]); wantI[o] = Swift.min(wantI[o], xi[i])
                    }
                }
                var out = [Float](repeating: 0, count: want.count), outI = [Int32](repeating: 0, count: want.count)
                let op = ember_reduce_op(rawValue: UInt32(f.rawValue))
                withUnsafePointer(to: &r) { rp in
                    ember_reduce_ref(rp, op, EMBER_DTYPE_F32, x, &out)
                    ember_reduce_ref(rp, op, EMBER_DTYPE_I32, xi, &outI)
                }
                #expect(out == want, "\(f) over \(axes) of \(dims)")
                #expect(outI == wantI, "int32 \(f) over \(axes) of \(dims)")
            }
        }
    }

    @Test func argMaxAndArgMinTakeTheFirstOnTies() {
        var rng = SplitMix64(seed: 55)
        for _ in 0..<200 {
            let dims = Self.randomDims(&rng)
            let axis = rng.int(0...(dims.count - 1))
            let outer = dims[..<axis].reduce(1, *), size = dims[axis], inner = dims[(axis + 1)...].reduce(1, *)
            let x = (0..<dims.reduce(1, *)).map { _ in Int8(rng.int(-3...3)) } // ties are common
            for largest in [true, false] {
                var out32 = [Int32](repeating: -1, count: outer * inner), out64 = [Int64](repeating: -1, count: outer * inner)
                let xf = x.map { Float($0) }
                ember_arg_reduce_ref(EMBER_DTYPE_F32, Int64(outer), Int32(size), Int64(inner), largest ? 1 : 0, xf, 0, &out32)
                ember_arg_reduce_ref(EMBER_DTYPE_I8, Int64(outer), Int32(size), Int64(inner), largest ? 1 : 0, x, 1, &out64)
                for o in 0..<outer { for j in 0..<inner {
                    var best = 0
                    for k in 1..<max(size, 1) {
                        let v = x[(o * size + k) * inner + j], b = x[(o * size + best) * inner + j]
                        if largest ? v > b : v < b { best = k }
                    }
                    #expect(out32[o * inner + j] == Int32(best) && out64[o * inner + j] == Int64(best))
                } }
            }
        }
        // NaN is never chosen over a number.
        var out = [Int32](repeating: -1, count: 1)
        ember_arg_reduce_ref(EMBER_DTYPE_F32, 1, 3, 1, 1, [Float.nan, 2, 1], 0, &out)
        #expect(out == [1])
    }

    @Test func castTruncatesAndSaturates() {
        let x: [Float] = [1.9, -1.9, 3e9, -3e9, .nan, 0, 200.5, -129.7]
        /// `x` cast from f32 to `to`, read back as `T`.
        func cast<T: FixedWidthInteger>(_ to: ember_dtype, _: T.Type) -> [T] {
            var out = [T](repeating: 7, count: x.count)
            ember_cast_ref(EMBER_DTYPE_F32, to, Int64(x.count), x, &out)
            return out
        }
        #expect(cast(EMBER_DTYPE_I32, Int32.self) == [1, -1, Int32.max, Int32.min, 0, 0, 200, -129])
        #expect(cast(EMBER_DTYPE_I8, Int8.self) == [1, -1, 127, -128, 0, 0, 127, -128])
        #expect(cast(EMBER_DTYPE_U8, UInt8.self) == [1, 0, 255, 0, 0, 0, 200, 0])
        #expect(cast(EMBER_DTYPE_BOOL, UInt8.self) == [1, 1, 1, 1, 1, 0, 1, 1])
        // The 16-bit and unsigned types saturate at their ranges too.
        #expect(cast(EMBER_DTYPE_I16, Int16.self) == [1, -1, Int16.max, Int16.min, 0, 0, 200, -129])
        #expect(cast(EMBER_DTYPE_U16, UInt16.self) == [1, 0, UInt16.max, 0, 0, 0, 200, 0])
        #expect(cast(EMBER_DTYPE_U32, UInt32.self) == [1, 0, 3_000_000_000, 0, 0, 0, 200, 0])
        #expect(cast(EMBER_DTYPE_U64, UInt64.self) == [1, 0, 3_000_000_000, 0, 0, 0, 200, 0])
        var rng = SplitMix64(seed: 56)
        let ints = (0..<257).map { _ in Int64(rng.int(-100_000...100_000)) }
        var f = [Float](repeating: 0, count: ints.count), back = [Int32](repeating: 0, count: ints.count)
        ember_cast_ref(EMBER_DTYPE_I64, EMBER_DTYPE_F32, Int64(ints.count), ints, &f)
        ember_cast_ref(EMBER_DTYPE_I64, EMBER_DTYPE_I32, Int64(ints.count), ints, &back)
        #expect(f == ints.map { Float($0) })
        #expect(back == ints.map { Int32($0) })
        // Integers wrap as static_cast does; u64 above 2^63 converts to f32 once, not through int64.
        let big: [UInt64] = [UInt64.max, 1 << 63, 70_000, 5]
        var bigF = [Float](repeating: 0, count: 4), bigI16 = [Int16](repeating: 0, count: 4)
        ember_cast_ref(EMBER_DTYPE_U64, EMBER_DTYPE_F32, 4, big, &bigF)
        ember_cast_ref(EMBER_DTYPE_U64, EMBER_DTYPE_I16, 4, big, &bigI16)
        #expect(bigF == big.map { Float($0) })
        #expect(bigI16 == big.map { Int16(truncatingIfNeeded: $0) })
    }

    @Test func selectBroadcastsThreeOperands() {
        var rng = SplitMix64(seed: 57)
        for _ in 0..<200 {
            let (xd, cd, od) = randomBroadcastPair(&rng)
            let yd = Array(od.map { rng.int(0...2) == 0 ? 1 : $0 }.dropFirst(rng.int(0...od.count)))
            let cond = (0..<cd.reduce(1, *)).map { _ in UInt8(rng.int(0...1)) }
            let x = rng.floats(xd.reduce(1, *)), y = rng.floats(yd.reduce(1, *))
            var bc = ember_broadcast3()
            bc.rank = Int32(max(od.count, 1))
            fillTuple(&bc.shape, od.isEmpty ? [Int32(1)] : od.map { Int32($0) })
            let s = [cd, xd, yd].map { d in od.isEmpty ? [Int64(0)] : broadcastStrides(d, to: od).map { Int64($0) } }
            fillTuple(&bc.strides.0, s[0]); fillTuple(&bc.strides.1, s[1]); fillTuple(&bc.strides.2, s[2])
            var out = [Float](repeating: 0, count: od.reduce(1, *))
            ember_select_ref(4, &bc, cond, x, y, &out)
            for i in out.indices {
                let want = cond[sourceIndex(i, cd, od)] != 0 ? x[sourceIndex(i, xd, od)] : y[sourceIndex(i, yd, od)]
                #expect(out[i] == want)
            }
        }
    }

    @Test func gatherReadsRowsAndZerosOutOfRangeIndices() {
        var rng = SplitMix64(seed: 58)
        for _ in 0..<200 {
            let dims = Self.randomDims(&rng)
            let axis = rng.int(0...(dims.count - 1))
            let outer = dims[..<axis].reduce(1, *), size = dims[axis], inner = dims[(axis + 1)...].reduce(1, *)
            let params = rng.floats(dims.reduce(1, *))
            let idx = (0..<rng.int(1...6)).map { _ in rng.int(-size - 1...size) } // some out of range
            var out32 = [Float](repeating: 9, count: outer * idx.count * inner), out64 = out32
            ember_gather_ref(4, Int64(outer), Int32(size), Int64(inner), idx.map { Int32($0) }, 0, Int64(idx.count), params, &out32)
            ember_gather_ref(4, Int64(outer), Int32(size), Int64(inner), idx.map { Int64($0) }, 1, Int64(idx.count), params, &out64)
            for o in 0..<outer { for (j, k0) in idx.enumerated() { for i in 0..<inner {
                let k = k0 < 0 ? k0 + size : k0
                let want: Float = k >= 0 && k < size ? params[(o * size + k) * inner + i] : 0
                #expect(out32[(o * idx.count + j) * inner + i] == want)
                #expect(out64[(o * idx.count + j) * inner + i] == want)
            } } }
        }
    }

    @Test func tileAndMirrorPadIndexTheirSources() {
        var rng = SplitMix64(seed: 59)
        for _ in 0..<200 {
            let dims = Self.randomDims(&rng)
            let x = (0..<dims.reduce(1, *)).map { Int16($0) }
            let multiples = dims.map { _ in rng.int(0...3) }
            let tiled = zip(dims, multiples).map { $0 * $1 }
            var out = [Int16](repeating: -1, count: tiled.reduce(1, *))
            ember_tile_ref(2, Int32(dims.count), dims.map { Int32($0) }, tiled.map { Int32($0) }, x, &out)
            for i in out.indices {
                #expect(out[i] == x[Self.flat(zip(Self.unflat(i, tiled), dims).map { $0 % $1 }, dims)])
            }
            for reflect in [true, false] {
                let limit = dims.map { reflect ? $0 - 1 : $0 }
                let before = limit.map { rng.int(0...$0) }, after = limit.map { rng.int(0...$0) }
                let padded = (0..<dims.count).map { dims[$0] + before[$0] + after[$0] }
                var p = [Int16](repeating: -1, count: padded.reduce(1, *))
                ember_mirror_pad_ref(2, Int32(dims.count), dims.map { Int32($0) }, before.map { Int32($0) },
                                     padded.map { Int32($0) }, reflect ? 1 : 0, x, &p)
                for i in p.indices {
                    let src = Self.unflat(i, padded).enumerated().map { d, o -> Int in
                        let k = o - before[d], n = dims[d]
                        if k < 0 { return reflect ? -k : -k - 1 }
                        if k >= n { return reflect ? 2 * n - 2 - k : 2 * n - 1 - k }
                        return k
                    }
                    #expect(p[i] == x[Self.flat(src, dims)], "\(reflect ? "reflect" : "symmetric") \(dims) +\(before)/\(after)")
                }
            }
        }
    }

    /// The transposed convolution as a gather: output (oy, ox) sums every tap whose input pixel lands on it.
    @Test func transposeConvolutionMatchesItsGatherForm() {
        var rng = SplitMix64(seed: 60)
        for trial in 0..<60 {
            var g = ember_conv_geometry()
            g.batch = Int32(rng.int(1...2)); g.in_h = Int32(rng.int(1...4)); g.in_w = Int32(rng.int(1...4))
            g.in_c = Int32(rng.int(1...5)); g.out_c = Int32(rng.int(1...5))
            g.kernel_h = Int32(rng.int(1...4)); g.kernel_w = Int32(rng.int(1...4))
            g.stride_h = Int32(rng.int(1...3)); g.stride_w = Int32(rng.int(1...3))
            g.pad_top = Int32(rng.int(0...Int(g.kernel_h - 1))); g.pad_left = Int32(rng.int(0...Int(g.kernel_w - 1)))
            g.out_h = max(1, (g.in_h - 1) * g.stride_h + g.kernel_h - g.pad_top - Int32(rng.int(0...1)))
            g.out_w = max(1, (g.in_w - 1) * g.stride_w + g.kernel_w - g.pad_left)
            g.dilation_h = 1; g.dilation_w = 1; g.groups = 1
            let (n, ih, iw, ic, oh, ow, oc) = (Int(g.batch), Int(g.in_h), Int(g.in_w), Int(g.in_c), Int(g.out_h), Int(g.out_w), Int(g.out_c))
            let (kh, kw, sh, sw, pt, pl) = (Int(g.kernel_h), Int(g.kernel_w), Int(g.stride_h), Int(g.stride_w), Int(g.pad_top), Int(g.pad_left))
            let xq = rng.int8s(n * ih * iw * ic), wq = rng.int8s(oc * kh * kw * ic)
            let bias = (0..<oc).map { _ in Int32(rng.int(-500...500)) }
            let x = xq.map { Float($0) / 16 }, w = wq.map { Float($0) / 16 }, bf = bias.map { Float($0) / 256 }
            func gathered(_ b: Int, _ oy: Int, _ ox: Int, _ o: Int, _ term: (Int, Int) -> Double) -> Double {
                var acc = 0.0
                for ky in 0..<kh { for kx in 0..<kw {
                    let ty = oy + pt - ky, tx = ox + pl - kx
                    guard ty >= 0, tx >= 0, ty % sh == 0, tx % sw == 0, ty / sh < ih, tx / sw < iw else { continue }
                    for c in 0..<ic { acc += term(((b * ih + ty / sh) * iw + tx / sw) * ic + c, ((o * kh + ky) * kw + kx) * ic + c) }
                } }
                return acc
            }
            var out = [Float](repeating: 0, count: n * oh * ow * oc)
            ember_transpose_conv2d_f32_ref(&g, x, w, bf, -.infinity, .infinity, &out)
            // int8 with per-channel requantization.
            let mults = (0..<oc).map { _ in Int32(rng.int(1 << 30...Int(Int32.max))) }, shifts = (0..<oc).map { _ in Int32(rng.int(-9 ... -4)) }
            let inOffset = Int32(rng.int(-20...20)), outOffset = Int32(rng.int(-10...10))
            var q8 = [Int8](repeating: 0, count: out.count), scratch = [Int32](repeating: 0, count: out.count)
            mults.withUnsafeBufferPointer { mp in shifts.withUnsafeBufferPointer { sp in
                var rq = ember_requant(input_offset: inOffset, output_offset: outOffset, multiplier: mp.baseAddress,
                                       shift: sp.baseAddress, act_min: -128, act_max: 127, scale: nil)
                ember_transpose_conv2d_s8_ref(&g, xq, wq, bias, &rq, &scratch, &q8)
            } }
            for b in 0..<n { for oy in 0..<oh { for ox in 0..<ow { for o in 0..<oc {
                let at = ((b * oh + oy) * ow + ox) * oc + o
                let want = gathered(b, oy, ox, o) { Double(x[$0]) * Double(w[$1]) } + Double(bf[o])
                #expect(Swift.abs(Double(out[at]) - want) <= 1e-4 * Swift.max(1, Swift.abs(want)), "trial \(trial)")
                let acc = Int32(gathered(b, oy, ox, o) { Double((Int32(xq[$0]) + inOffset) * Int32(wq[$1])) }) + bias[o]
                let v = ember_multiply_by_quantized_multiplier(acc, mults[o], shifts[o]) + outOffset
                #expect(q8[at] == Int8(Swift.min(127, Swift.max(-128, v))), "int8 trial \(trial)")
            } } } }
        }
    }
}

/// The int8 softmax and bilinear resize in TFLite's integer arithmetic.
@Suite struct Int8SoftmaxAndResizeTests {
    /// PreprocessSoftmaxScaling / CalculateInputRadius for beta 1 and an input scale.
    static func params(_ scale: Float) -> (Int32, Int32, Int32) {
        let (m, s) = quantizeMultiplier(min(Double(scale) * Double(1 << 26), Double(Int32.max)))
        return (m, s, -Int32((31.0 * Double(1 << 26) / Double(1 << Int(s))).rounded(.down)))
    }

    @Test func softmaxIsWithinOneCodeOfTheRealSoftmaxAndExactOnUniformRows() {
        var rng = SplitMix64(seed: 61)
        for trial in 0..<300 {
            let depth = rng.int(1...40), rows = rng.int(1...3)
            let scale = Float.random(in: 0.01...0.4, using: &rng)
            let x = rng.int8s(depth * rows)
            let (m, s, diffMin) = Self.params(scale)
            var out = [Int8](repeating: 0, count: x.count), table = [Int32](repeating: 0, count: 256)
            ember_softmax_s8_exp_table(m, s, diffMin, &table)
            ember_softmax_s8_ref(Int64(rows), Int32(depth), table, x, &out)
            for r in 0..<rows {
                let row = x[(r * depth)..<((r + 1) * depth)].map { Float($0) * scale }
                let mx = row.max() ?? 0
                let e = row.map { exp($0 - mx) }, sum = e.reduce(0, +)
                for c in 0..<depth {
                    let want = min(127, Int((e[c] / sum * 256).rounded()) - 128)
                    #expect(abs(Int(out[r * depth + c]) - want) <= 1, "trial \(trial): \(out[r * depth + c]) vs \(want)")
                }
            }
        }
        // Equal inputs: each of n gets 1/n exactly when n is a power of two (256/n − 128).
        for n in [1, 2, 4, 8, 16] {
            let (m, s, d) = Self.params(0.1)
            var out = [Int8](repeating: 0, count: n), table = [Int32](repeating: 0, count: 256)
            ember_softmax_s8_exp_table(m, s, d, &table)
            ember_softmax_s8_ref(1, Int32(n), table, [Int8](repeating: 17, count: n), &out)
            #expect(out == [Int8](repeating: Int8(min(127, 256 / n - 128)), count: n), "uniform row of \(n)")
        }
    }

    @Test func bilinearResizeIsExactOnTheIdentityAndWithinOneCodeOfTheFloatResize() {
        var rng = SplitMix64(seed: 62)
        for _ in 0..<200 {
            let (n, ih, iw, c) = (rng.int(1...2), rng.int(1...6), rng.int(1...6), rng.int(1...3))
            let (oh, ow) = (rng.int(1...12), rng.int(1...12))
            let ac: Int32 = rng.int(0...1) == 0 ? 1 : 0
            let hp: Int32 = ac == 1 ? 0 : Int32(rng.int(0...1))
            let x = rng.int8s(n * ih * iw * c)
            var q = [Int8](repeating: 0, count: n * oh * ow * c), f = [Float](repeating: 0, count: q.count)
            ember_resize_bilinear_s8_ref(Int32(n), Int32(ih), Int32(iw), Int32(c), Int32(oh), Int32(ow), ac, hp, x, &q)
            ember_resize_bilinear_f32_ref(Int32(n), Int32(ih), Int32(iw), Int32(c), Int32(oh), Int32(ow), ac, hp, x.map { Float($0) }, &f)
            for i in q.indices { #expect(abs(Float(q[i]) - f[i]) <= 1.5, "\(ih)x\(iw) → \(oh)x\(ow) ac \(ac) hp \(hp)") }
            var same = [Int8](repeating: 0, count: x.count)
            ember_resize_bilinear_s8_ref(Int32(n), Int32(ih), Int32(iw), Int32(c), Int32(ih), Int32(iw), 0, 0, x, &same)
            #expect(same == x)
        }
    }
}

/// LiteRT's per-channel dynamic-range kernels against their definitions: asymmetric input
/// quantization (AsymmetricQuantizeFloats) and the float output stage, element by element.
@Suite struct HybridPerChannelKernelTests {
    /// AsymmetricQuantizeFloats, written from LiteRT's definition, with the zero point added after
    /// rounding as LiteRT's outputs show (`asymmetricQuantizationAddsTheZeroPointAfterRounding`).
    static func asymmetric(_ x: [Float]) -> (q: [Int32], scale: Float, zeroPoint: Int32) {
        let rmin = Double(min(0, x.min() ?? 0)), rmax = Double(max(0, x.max() ?? 0))
        if rmin == rmax { return ([Int32](repeating: 0, count: x.count), 1, 0) }
        let scale = (rmax - rmin) / 255
        let fromMin = -128 - rmin / scale, fromMax = 127 - rmax / scale
        let zp = 128 + abs(rmin / scale) < 127 + abs(rmax / scale) ? fromMin : fromMax
        let nudged: Int32 = zp <= -128 ? -128 : zp >= 127 ? 127 : Int32(zp.rounded(.toNearestOrAwayFromZero))
        let s = Float(scale), inv = 1 / s
        return (x.map { v in max(-128, min(127, Int32((v * inv).rounded(.toNearestOrAwayFromZero)) + nudged)) }, s, nudged)
    }

    /// Rows whose f32 sum zp + x·inv lands on a tie that the product alone is not on: LiteRT's code is
    /// round(x·inv) + zp (resnet50 dynamic_int8's conv2_block3_1 input: −128 + 79.5 is −48 there, and
    /// −128 + 45.4999962 is −83), not the rounding of the sum.
    @Test func asymmetricQuantizationAddsTheZeroPointAfterRounding() {
        var rng = SplitMix64(seed: 64)
        var checked = 0
        while checked < 8 {
            let hi = Float.random(in: 0.5...4, using: &rng), v = Float.random(in: 0...hi, using: &rng)
            let inv = 1 / Float(Double(hi) / 255), product = v * inv, sum = Float(-128) + product
            let liteRT = Int32(product.rounded(.toNearestOrAwayFromZero)) - 128
            guard sum - sum.rounded(.down) == 0.5, Int32(sum.rounded(.toNearestOrAwayFromZero)) != liteRT else { continue }
            let x: [Float] = [0, hi, v], w: [Int8] = [0, 0, 1], scales: [Float] = [1]
            var scratch = [Int8](repeating: 0, count: 3), out: [Float] = [0]
            ember_fully_connected_hybrid_per_channel_ref(1, 3, 1, x, w, scales, 1, nil, -.infinity, .infinity, &scratch, &out)
            let scale = Float(Double(hi) / 255)
            #expect(out[0] == Float(liteRT + 128) * scale, "v \(v) hi \(hi): code \(out[0] / scale - 128), LiteRT's \(liteRT)")
            checked += 1
        }
    }

    @Test func perChannelConvAndDepthwiseFollowLiteRT() {
        var rng = SplitMix64(seed: 63)
        for trial in 0..<80 {
            // (A single-channel depthwise layer is a plain conv in the IR, and multiplies in the conv order.)
            let depthwise = trial % 2 == 1
            var g = ember_conv_geometry()
            g.batch = Int32(rng.int(1...2)); g.in_h = Int32(rng.int(1...5)); g.in_w = Int32(rng.int(1...5))
            g.in_c = Int32(rng.int(depthwise ? 2...4 : 1...4))
            g.kernel_h = Int32(rng.int(1...3)); g.kernel_w = Int32(rng.int(1...3)); g.stride_h = Int32(rng.int(1...2)); g.stride_w = 1
            g.dilation_h = 1; g.dilation_w = 1; g.pad_top = Int32(rng.int(0...Int(g.kernel_h - 1))); g.pad_left = 0
            g.groups = depthwise ? g.in_c : 1
            g.out_c = depthwise ? g.in_c * Int32(rng.int(1...2)) : Int32(rng.int(1...5))
            g.out_h = max(1, (g.in_h + g.pad_top - g.kernel_h) / g.stride_h + 1); g.out_w = max(1, g.in_w - g.kernel_w + 1)
            if g.in_h + g.pad_top < g.kernel_h || g.in_w < g.kernel_w { continue }
            let (n, ih, iw, ic, oh, ow, oc) = (Int(g.batch), Int(g.in_h), Int(g.in_w), Int(g.in_c), Int(g.out_h), Int(g.out_w), Int(g.out_c))
            let (kh, kw, icg) = (Int(g.kernel_h), Int(g.kernel_w), depthwise ? 1 : ic)
            // Sometimes all-positive inputs (zero point -128), sometimes all zeros.
            let shift: Float = trial % 5 == 0 ? 2 : 0
            let x = trial % 7 == 3 ? [Float](repeating: 0, count: n * ih * iw * ic) : rng.floats(n * ih * iw * ic, 2).map { $0 + shift }
            let w = rng.int8s(oc * kh * kw * icg), scales = (0..<oc).map { _ in Float.random(in: 0.001...0.05, using: &rng) }
            let bias = rng.floats(oc)
            var out = [Float](repeating: 0, count: n * oh * ow * oc), scratch = [Int8](repeating: 0, count: x.count)
            ember_conv2d_hybrid_per_channel_ref(&g, x, w, scales, bias, -.infinity, .infinity, &scratch, &out)
            for b in 0..<n {
                let (q, s, zp) = Self.asymmetric(Array(x[(b * ih * iw * ic)..<((b + 1) * ih * iw * ic)]))
                for oy in 0..<oh { for ox in 0..<ow { for o in 0..<oc {
                    var acc: Int32 = 0
                    for ky in 0..<kh { for kx in 0..<kw {
                        let iy = oy * Int(g.stride_h) - Int(g.pad_top) + ky, ix = ox + kx
                        guard iy >= 0, iy < ih, ix >= 0, ix < iw else { continue }
                        for c in 0..<icg {
                            let channel = depthwise ? o / (oc / ic) : c
                            acc += Int32(w[((o * kh + ky) * kw + kx) * icg + c]) * (q[(iy * iw + ix) * ic + channel] - zp)
                        }
                    } }
                    let v = depthwise ? Float(acc) * (scales[o] * s) + bias[o] : Float(acc) * scales[o] * s + bias[o]
                    #expect(out[((b * oh + oy) * ow + ox) * oc + o] == v, "trial \(trial)")
                } } }
            }
        }
    }

    @Test func perChannelFullyConnectedWithSymmetricAndAsymmetricRows() {
        var rng = SplitMix64(seed: 64)
        for trial in 0..<100 {
            let rows = rng.int(1...3), k = rng.int(1...40), n = rng.int(1...6)
            let x = rng.floats(rows * k, 3).map { trial % 4 == 0 ? abs($0) : $0 }
            let w = rng.int8s(n * k), scales = (0..<n).map { _ in Float.random(in: 0.001...0.05, using: &rng) }
            let bias: [Float]? = trial % 3 == 0 ? nil : rng.floats(n)
            for asymmetric in [false, true] {
                var out = [Float](repeating: 0, count: rows * n), scratch = [Int8](repeating: 0, count: k)
                ember_fully_connected_hybrid_per_channel_ref(Int64(rows), Int32(k), Int32(n), x, w, scales, asymmetric ? 1 : 0, bias,
                                                             -.infinity, .infinity, &scratch, &out)
                for r in 0..<rows {
                    let row = Array(x[(r * k)..<((r + 1) * k)])
                    let (q, s, zp): ([Int32], Float, Int32)
                    if asymmetric {
                        (q, s, zp) = Self.asymmetric(row)
                    } else {
                        let range = row.map { abs($0) }.max() ?? 0
                        let inv = range > 0 ? 127 / range : 0
                        (q, s, zp) = (row.map { Int32(($0 * inv).rounded(.toNearestOrAwayFromZero)) }, range > 0 ? range / 127 : 1, 0)
                    }
                    for o in 0..<n {
                        let acc = (0..<k).reduce(Int32(0)) { $0 + Int32(w[o * k + $1]) * (q[$1] - zp) }
                        #expect(out[r * n + o] == (bias?[o] ?? 0) + Float(acc) * (s * scales[o]), "trial \(trial) asymmetric \(asymmetric)")
                    }
                }
            }
        }
    }
}

@Suite struct Int8PreluTests {
    @Test func preluBroadcastsAndRequantizesBothBranches() {
        var rng = SplitMix64(seed: 65)
        for _ in 0..<200 {
            let (xd, ad, od) = randomBroadcastPair(&rng)
            let x = rng.int8s(xd.reduce(1, *)), alpha = rng.int8s(ad.reduce(1, *))
            var p = ember_prelu_s8_params()
            p.input_offset = Int32(rng.int(-20...20)); p.alpha_offset = Int32(rng.int(-20...20)); p.output_offset = Int32(rng.int(-20...20))
            (p.multiplier_1, p.shift_1) = quantizeMultiplier(Double.random(in: 0.2...3, using: &rng))
            (p.multiplier_2, p.shift_2) = quantizeMultiplier(Double.random(in: 0.001...0.05, using: &rng))
            var bc = makeBroadcast(xd, ad, od)
            var out = [Int8](repeating: 0, count: od.reduce(1, *))
            ember_prelu_s8_ref(&bc, x, alpha, &p, &out)
            for i in out.indices {
                let v = p.input_offset + Int32(x[sourceIndex(i, xd, od)])
                let o = v >= 0 ? ember_multiply_by_quantized_multiplier(v, p.multiplier_1, p.shift_1)
                    : ember_multiply_by_quantized_multiplier(v * (p.alpha_offset + Int32(alpha[sourceIndex(i, ad, od)])), p.multiplier_2, p.shift_2)
                #expect(out[i] == Int8(max(-128, min(127, o + p.output_offset))))
            }
        }
    }
}

@Suite struct Int8HardSwishTests {
    /// TFLite's fixed-point hard swish stays within one code of x·relu6(x+3)/6 and maps real 0 to the zero point.
    @Test func hardSwishIsWithinOneCodeOfTheRealFunction() {
        var rng = SplitMix64(seed: 66)
        for _ in 0..<200 {
            let si = Float.random(in: 0.01...0.2, using: &rng), so = Float.random(in: 0.01...0.1, using: &rng)
            let zi = Int32(rng.int(-100...100)), zo = Int32(rng.int(-100...100))
            let hires = si / 128, (om, oe) = quantizeMultiplier(Double(hires / so)), (rm, re) = quantizeMultiplier(Double(hires / (3.0 / 32768)))
            var p = ember_hard_swish_s8_params(input_zero_point: zi, output_zero_point: zo,
                                               reluish_multiplier_fixedpoint_int16: downScaledToInt16(rm),
                                               output_multiplier_fixedpoint_int16: downScaledToInt16(om),
                                               reluish_multiplier_exponent: re, output_multiplier_exponent: oe)
            let codes = (0..<256).map { Int8(truncatingIfNeeded: $0 - 128) }
            var out = [Int8](repeating: 0, count: 256)
            ember_hard_swish_s8_ref(256, codes, &p, &out)
            for (x, y) in zip(codes, out) {
                let r = Float(Int32(x) - zi) * si
                let want = Int32((r * min(max(r + 3, 0), 6) / 6 / so).rounded()) + zo
                #expect(abs(Int32(y) - max(-128, min(127, want))) <= 1, "code \(x): \(y) vs \(want)")
                if Int32(x) == zi { #expect(Int32(y) == max(-128, min(127, zo))) }
            }
        }
    }
}

@Suite struct HybridTransposeConvTests {
    /// Per batch: asymmetric input quantization; every product (q − zero point) · w scaled on its own,
    /// · channel scale · input scale, and summed in f32 in LiteRT's scatter order (input pixel by pixel,
    /// channel by channel); then + bias. Written in the gather form, visiting input pixels in that order.
    @Test func hybridTransposeConvFollowsItsDefinition() {
        var rng = SplitMix64(seed: 67)
        for trial in 0..<60 {
            var g = ember_conv_geometry()
            g.batch = Int32(rng.int(1...2)); g.in_h = Int32(rng.int(1...4)); g.in_w = Int32(rng.int(1...4))
            g.in_c = Int32(rng.int(1...5)); g.out_c = Int32(rng.int(1...5))
            g.kernel_h = Int32(rng.int(1...3)); g.kernel_w = Int32(rng.int(1...3)); g.stride_h = Int32(rng.int(1...2)); g.stride_w = 2
            g.pad_top = 0; g.pad_left = Int32(rng.int(0...Int(g.kernel_w - 1)))
            g.out_h = (g.in_h - 1) * g.stride_h + g.kernel_h; g.out_w = max(1, (g.in_w - 1) * 2 + g.kernel_w - g.pad_left)
            g.dilation_h = 1; g.dilation_w = 1; g.groups = 1
            let (n, ih, iw, ic, oh, ow, oc) = (Int(g.batch), Int(g.in_h), Int(g.in_w), Int(g.in_c), Int(g.out_h), Int(g.out_w), Int(g.out_c))
            let (kh, kw, sh, pl) = (Int(g.kernel_h), Int(g.kernel_w), Int(g.stride_h), Int(g.pad_left))
            let x = rng.floats(n * ih * iw * ic, 2).map { trial % 4 == 0 ? abs($0) : $0 }
            let w = rng.int8s(oc * kh * kw * ic), scales = (0..<oc).map { _ in Float.random(in: 0.001...0.05, using: &rng) }
            let bias = rng.floats(oc)
            var out = [Float](repeating: 0, count: n * oh * ow * oc)
            var q = [Int8](repeating: 0, count: ih * iw * ic)
            ember_transpose_conv2d_hybrid_ref(&g, x, w, scales, bias, -.infinity, .infinity, &q, &out)
            for b in 0..<n {
                let (qv, s, zp) = HybridPerChannelKernelTests.asymmetric(Array(x[(b * ih * iw * ic)..<((b + 1) * ih * iw * ic)]))
                for oy in 0..<oh { for ox in 0..<ow { for o in 0..<oc {
                    var sum: Float = 0
                    for iy in 0..<ih { for ix in 0..<iw {
                        let ky = oy - iy * sh, kx = ox + pl - ix * 2
                        guard ky >= 0, ky < kh, kx >= 0, kx < kw else { continue }
                        for c in 0..<ic {
                            let product = Int32(w[((o * kh + ky) * kw + kx) * ic + c]) * (qv[(iy * iw + ix) * ic + c] - zp)
                            sum += Float(product) * scales[o] * s
                        }
                    } }
                    #expect(out[((b * oh + oy) * ow + ox) * oc + o] == sum + bias[o], "trial \(trial)")
                } } }
            }
        }
    }
}

@Suite struct Int8MatMulTests {
    /// Each output within a code of the real product of the dequantized matrices (LiteRT's byte-exactness
    /// is checked on the transformer_int8 zoo fixture); saturating at both ends on every fourth trial.
    @Test func matMulS8IsWithinACodeOfTheRealProduct() {
        var rng = SplitMix64(seed: 71)
        for trial in 0..<200 {
            let m = rng.int(1...7), k = rng.int(1...40), n = rng.int(1...9)
            let sa = Float.random(in: 0.005...0.1, using: &rng), sb = Float.random(in: 0.005...0.1, using: &rng)
            let za = Int32(rng.int(-128...127)), zb = Int32(rng.int(-20...20)), zo = Int32(rng.int(-128...127))
            let so = sa * sb * Float(k) * (trial % 4 == 0 ? 0.2 : 40) * Float.random(in: 0.5...2, using: &rng)
            let a = rng.int8s(m * k), b = rng.int8s(k * n)
            var p = ember_matmul_s8_params(a_offset: -za, b_offset: -zb, output_offset: zo, output_multiplier: 0, output_shift: 0)
            (p.output_multiplier, p.output_shift) = quantizeMultiplier(Double(sa) * Double(sb) / Double(so))
            var out = [Int8](repeating: 0, count: m * n)
            ember_matmul_s8_ref(Int32(m), Int32(k), Int32(n), a, b, &p, &out)
            for i in 0..<m { for j in 0..<n {
                let real = (0..<k).reduce(0.0) { acc, t in
                    acc + Double(sa) * Double(Int32(a[i * k + t]) - za) * Double(sb) * Double(Int32(b[t * n + j]) - zb)
                }
                let want = Int(max(-128, min(127, (real / Double(so)).rounded() + Double(zo))))
                #expect(abs(Int(out[i * n + j]) - want) <= 1, "trial \(trial) [\(i),\(j)]: \(out[i * n + j]) against \(want)")
            } }
        }
    }
}

/// LiteRT's fixed-point int8 statistics ops (MEAN, SQUARED_DIFFERENCE, RSQRT). Their byte-exactness with
/// LiteRT is checked by the norm_stats zoo fixtures; these check the arithmetic against the real functions.
@Suite struct Int8StatisticsTests {
    @Test func meanMultiplierIsTheRatioOverTheCount() {
        var rng = SplitMix64(seed: 67)
        for _ in 0..<2000 {
            let si = Float.random(in: 0.001...2, using: &rng), so = Float.random(in: 0.001...2, using: &rng)
            let n = rng.int(0...3) == 0 ? 1 << rng.int(0...20) : rng.int(1...1_000_000)
            let (m, s) = meanMultiplier(inputScale: si, outputScale: so, count: n)
            let real = Double(si) / Double(so) / Double(n)
            if n & (n - 1) == 0 {  // a power of two divides exactly
                let plain = quantizeMultiplier(real)
                #expect(m == plain.multiplier && s == plain.shift, "n \(n)")
            }
            let value = Double(m) * pow(2, Double(s) - 31)
            #expect(abs(value - real) <= real * 4e-9, "n \(n): \(value) against \(real)")
        }
    }

    @Test func inverseSquareRootMultiplierIsOneOverTheRoot() {
        var rng = SplitMix64(seed: 68)
        let values = (2...300).map { Int32($0) } + (0..<3000).map { _ in Int32(rng.int(2...Int(Int32.max))) }
            + [Int32.max, 1 << 29, (1 << 29) - 1, 1 << 27]
        for v in values {
            var m: Int32 = 0, s: Int32 = 0
            ember_inv_sqrt_quantized_multiplier(v, &m, &s)
            let value = Double(m) * pow(2, Double(s) - 31), real = 1 / Double(v).squareRoot()
            // Q3.28 after five Newton steps from 1: about 21 bits (measured worst 1.24e-6 relative).
            #expect(m >= 1 << 27, "v \(v): multiplier \(m) keeps too few bits")
            #expect(abs(value - real) <= real * 2e-6, "v \(v): \(value) against \(real)")
        }
        var m: Int32 = 0, s: Int32 = 7
        ember_inv_sqrt_quantized_multiplier(1, &m, &s)
        #expect(m == Int32.max && s == 0)
    }

    @Test func rsqrtTableIsWithinACodeOfTheRealFunction() {
        var rng = SplitMix64(seed: 69)
        for _ in 0..<300 {
            let si = Float.random(in: 0.0005...0.5, using: &rng), so = Float.random(in: 0.002...0.5, using: &rng)
            let zi = Int32(rng.int(-128...127)), zo = Int32(rng.int(-128...127))
            var table = [Int8](repeating: 0, count: 256)
            ember_rsqrt_s8_table(si, zi, so, zo, &table)
            for code in -128...127 {
                let got = table[code + 128], value = Int32(code) - zi
                guard value > 0 else {
                    #expect(got == 127, "codes at or below the zero point saturate")
                    continue
                }
                let real = (1 / (Double(value) * Double(si)).squareRoot() / Double(so)).rounded() + Double(zo)
                let want = Int8(max(-128, min(127, real)))
                #expect(abs(Int(got) - Int(want)) <= 1, "code \(code) zi \(zi) zo \(zo): \(got) against \(want)")
            }
        }
    }

    @Test func squaredDifferenceBroadcastsWithinACodeOfTheRealFunction() {
        var rng = SplitMix64(seed: 70)
        for trial in 0..<300 {
            let (ad, bd, od) = randomBroadcastPair(&rng)
            let qa = QuantParams(scale: Float.random(in: 0.005...0.2, using: &rng), zeroPoint: Int32(rng.int(-128...127)))
            let qb = QuantParams(scale: Float.random(in: 0.005...0.2, using: &rng), zeroPoint: Int32(rng.int(-128...127)))
            // Every third trial has an output scale too fine for the squares: they saturate at 127.
            let range = 255 * max(qa.scale, qb.scale)
            let qo = QuantParams(scale: range * range / (trial % 3 == 0 ? 4000 : 255), zeroPoint: -128)
            let a = rng.int8s(ad.reduce(1, *)), b = rng.int8s(bd.reduce(1, *))
            var p = twoInputS8Params(qa, qb, qo, squaredDifference: true)
            var bc = makeBroadcast(ad, bd, od)
            var out = [Int8](repeating: 0, count: od.reduce(1, *))
            ember_squared_difference_s8_ref(&bc, a, b, &p, &out)
            for i in out.indices {
                let x = Double(qa.scale) * Double(Int32(a[sourceIndex(i, ad, od)]) - qa.zeroPoint)
                let y = Double(qb.scale) * Double(Int32(b[sourceIndex(i, bd, od)]) - qb.zeroPoint)
                let want = Int(max(-128, min(127, ((x - y) * (x - y) / Double(qo.scale)).rounded() + Double(qo.zeroPoint))))
                #expect(abs(Int(out[i]) - want) <= 1, "trial \(trial) element \(i): \(out[i]) against \(want)")
            }
        }
    }
}
