import Ember


/// Small graphs that between them bind every `KernelImplementation`: the
/// zero-allocation test runs each and fails on any implementation none binds.
enum KernelZoo {
    static let q = QuantParams(scale: 0.05, zeroPoint: -3)

    /// f32 layout, pooling, reduction, resize, normalization, matmul and elementwise kernels.
    static func float() throws -> Graph {
        var rng = SplitMix64(seed: 21)
        let b = GraphBuilder(name: "zoo-f32")
        let x = b.input("x", .f32, [1, 4, 4, 2])
        let mp = try b.add(.maxPool2D(Pool2DAttributes(kernelH: 2, kernelW: 2, strideH: 2, strideW: 2)), [x], name: "maxpool")
        let up = try b.add(.resize(ResizeAttributes(height: 4, width: 4, bilinear: true, halfPixelCenters: true)), [mp], name: "bilinear")
        let near = try b.add(.resize(ResizeAttributes(height: 4, width: 4, bilinear: false)), [mp], name: "nearest")
        let lo = try b.add(.minimum, [up, near], name: "min")
        let hi = try b.add(.maximum, [lo, x], name: "max")
        let t = try b.add(.transpose(perm: [0, 3, 1, 2]), [hi], name: "transpose")               // [1,2,4,4]
        let p = try b.add(.pad(before: [0, 0, 1, 0], after: [0, 0, 0, 1]), [t], name: "pad")       // [1,2,5,5]
        let s = try b.add(.slice(begin: [0, 0, 0, 0], end: [1, 2, 4, 4], strides: [1, 1, 1, 1]), [p], name: "slice")
        let c = try b.add(.concat(axis: 1), [s, t], name: "concat")                              // [1,4,4,4]
        let r = try b.add(.reshape([4, 16]), [c], name: "reshape")
        let ln = try b.add(.layerNorm(axis: 1, epsilon: 1e-5), [r], name: "layernorm")
        let sig = try b.add(.sigmoid, [ln], name: "sigmoid")
        let w = b.constant("w", rng.floats(16 * 3, 0.3), dims: [16, 3])
        let mm = try b.add(.matMul, [sig, w], name: "matmul")                                     // [4,3]
        let m = try b.add(.mean(axes: [0], keepDims: false), [mm], name: "mean")
        b.output(m, name: "y")
        // A global average pool (H and W of NHWC, channels after them): the ISAs' mean kernels.
        b.output(try b.add(.mean(axes: [1, 2], keepDims: false), [c], name: "global-mean"), name: "gap")
        // Whole rows of c: a view the executor places inside c.
        b.output(try b.add(.slice(begin: [0, 1, 0, 0], end: [1, 3, 4, 4], strides: [1, 1, 1, 1]), [c], name: "rows"), name: "rows")
        // A 3×3 stride-1 convolution of 8 channels: the Winograd kernels.
        let x8 = b.input("x8", .f32, [1, 5, 5, 8])
        let w3 = b.constant("w3", rng.floats(8 * 3 * 3 * 8, 0.3), dims: [8, 3, 3, 8])
        b.output(try b.add(.conv2D(Conv2DAttributes(padding: .same, activation: .relu)),
                           [x8, w3, b.constant("b3", rng.floats(8), dims: [8])], name: "winograd"), name: "wino")
        // A pointwise convolution whose SiLU it applies as it stores (ActivationFusion).
        let pw = try b.add(.conv2D(Conv2DAttributes()), [x8, b.constant("w1", rng.floats(8 * 8, 0.3), dims: [8, 1, 1, 8]), nil],
                           name: "pointwise")
        b.output(try b.add(.unary(.silu), [pw], name: "silu"), name: "silu")
        return try b.build()
    }

    /// Integer kernels on i8 activations, and the float fallback.
    static func int8() throws -> Graph {
        let b = GraphBuilder(name: "zoo-s8")
        let x = b.input("x", .i8, [1, 4, 4, 2], quant: q)
        let mp = try b.add(.maxPool2D(Pool2DAttributes(kernelH: 2, kernelW: 2, strideH: 1, strideW: 1, padding: .same)), [x], name: "maxpool", outputQuant: q)
        let ap = try b.add(.averagePool2D(Pool2DAttributes(kernelH: 2, kernelW: 2, strideH: 1, strideW: 1, padding: .same)), [mp], name: "avgpool", outputQuant: q)
        let mx = try b.add(.maximum, [ap, x], name: "max", outputQuant: q)
        let prod = try b.add(.mul(.none), [mx, ap], name: "mul", outputQuant: QuantParams(scale: 0.1, zeroPoint: 0))
        let sig = try b.add(.sigmoid, [prod], name: "sigmoid", outputQuant: QuantParams(scale: 1.0 / 256, zeroPoint: -128))
        let rq = try b.add(.quantize(.i8), [sig], name: "requantize", outputQuant: q)
        let near = try b.add(.resize(ResizeAttributes(height: 2, width: 2, bilinear: false)), [rq], name: "nearest", outputQuant: q)
        let div = try b.add(.div(.none), [near, near], name: "div", outputQuant: QuantParams(scale: 0.02, zeroPoint: 0))
        b.output(try b.add(.dequantize, [div], name: "y"), name: "y")
        let up = try b.add(.resize(ResizeAttributes(height: 7, width: 5, bilinear: true, halfPixelCenters: true)), [rq], name: "bilinear",
                           outputQuant: q)
        let probs = try b.add(.softmax(axis: -1, beta: 1), [up], name: "softmax", outputQuant: QuantParams(scale: 1.0 / 256, zeroPoint: -128))
        b.output(try b.add(.dequantize, [probs], name: "p"), name: "p")
        let slopes = b.constant("slopes", [Int8(30), -60], dtype: .i8, dims: [2], quant: QuantParams(scale: 0.01, zeroPoint: 1))
        let pr = try b.add(.prelu, [rq, slopes], name: "prelu", outputQuant: QuantParams(scale: 0.04, zeroPoint: -2))
        b.output(try b.add(.dequantize, [pr], name: "pr"), name: "pr")
        // A slope per position (Keras' PReLU without shared axes): one table of (slope, code) pairs.
        let everywhere = b.constant("slopes-hw", (0..<32).map { Int8(truncatingIfNeeded: $0 * 37 - 90) }, dtype: .i8, dims: [4, 4, 2],
                                    quant: QuantParams(scale: 0.01, zeroPoint: -3))
        let prhw = try b.add(.prelu, [rq, everywhere], name: "prelu-hw", outputQuant: QuantParams(scale: 0.04, zeroPoint: -2))
        b.output(try b.add(.dequantize, [prhw], name: "prhw"), name: "prhw")
        // Slopes shared along W only: neither table fits, the reference kernel runs.
        let alongW = b.constant("slopes-h", [Int8(20), -7, 55, 3, -100, 8, 0, 127], dtype: .i8, dims: [4, 1, 2],
                                quant: QuantParams(scale: 0.02, zeroPoint: 2))
        let prh = try b.add(.prelu, [rq, alongW], name: "prelu-h", outputQuant: QuantParams(scale: 0.04, zeroPoint: -2))
        b.output(try b.add(.dequantize, [prh], name: "prh"), name: "prh")
        let sd = try b.add(.binary(.squaredDifference), [rq, x], name: "sqdiff", outputQuant: QuantParams(scale: 0.03, zeroPoint: -128))
        b.output(try b.add(.dequantize, [sd], name: "sd"), name: "sd")
        let wm = b.constant("wm", [Int8(3), -7, 12, 100, -128, 5], dtype: .i8, dims: [2, 3], quant: QuantParams(scale: 0.02, zeroPoint: 2))
        let mm = try b.add(.matMul, [rq, wm], name: "matmul-s8", outputQuant: QuantParams(scale: 0.01, zeroPoint: 4))
        b.output(try b.add(.dequantize, [mm], name: "mm"), name: "mm")
        // An int8 ADD of two different values (x + x would fold into a lookup).
        let sum = try b.add(.add(.none), [mx, ap], name: "add-s8", outputQuant: QuantParams(scale: 0.08, zeroPoint: 1))
        b.output(try b.add(.dequantize, [sum], name: "sum-out"), name: "sum")
        // Swish as TFLite has it (LOGISTIC, then MUL): folded into one lookup, the sigmoid running nothing.
        let gate = try b.add(.sigmoid, [x], name: "swish-gate", outputQuant: QuantParams(scale: 1.0 / 256, zeroPoint: -128))
        let swish = try b.add(.mul(.none), [x, gate], name: "swish", outputQuant: q)
        b.output(try b.add(.dequantize, [swish], name: "swish-out"), name: "swish")
        // A global average pool over four channels: the ISAs' int8 mean kernels.
        let wide = try b.add(.reshape([1, 2, 4, 4]), [rq], name: "reshape-s8", outputQuant: q)
        let gap = try b.add(.mean(axes: [1, 2], keepDims: true), [wide], name: "global-mean-s8",
                            outputQuant: QuantParams(scale: 0.03, zeroPoint: 5))
        b.output(try b.add(.dequantize, [gap], name: "gap"), name: "gap")
        return try b.build()
    }

    /// int8 ops that requantize as ONNX Runtime does (a QDQ model folded): float scales, ties to even.
    static func onnxInt8() throws -> Graph {
        var rng = SplitMix64(seed: 23)
        func onnx(_ scale: Float, _ zeroPoint: Int32) -> QuantParams {
            var p = QuantParams(scale: scale, zeroPoint: zeroPoint)
            p.requantization = .float
            return p
        }
        let b = GraphBuilder(name: "zoo-onnx-s8")
        let x = b.input("x", .f32, [1, 4, 4, 8])
        let xq = try b.add(.quantize(.i8), [x], name: "quantize-even", outputQuant: onnx(0.05, 3))
        let w = b.constant("w", rng.int8s(8 * 8), dtype: .i8, dims: [8, 1, 1, 8],
                           quant: QuantParams(scales: (0..<8).map { 0.01 + 0.002 * Float($0) }, zeroPoints: [Int32](repeating: 0, count: 8), axis: 0))
        let conv = try b.add(.conv2D(Conv2DAttributes(padding: .valid)), [xq, w], name: "conv-float-requant", outputQuant: onnx(0.04, -2))
        let dw = b.constant("dw", rng.int8s(9 * 8), dtype: .i8, dims: [8, 3, 3, 1],
                            quant: QuantParams(scales: [Float](repeating: 0.02, count: 8), zeroPoints: [Int32](repeating: 0, count: 8), axis: 0))
        let depthwise = try b.add(.conv2D(Conv2DAttributes(padding: .same, groups: 8)), [conv, dw], name: "dw-float-requant",
                                  outputQuant: onnx(0.05, 1))
        let sum = try b.add(.add(.none), [depthwise, xq], name: "add-float", outputQuant: onnx(0.06, 0))
        let prod = try b.add(.mul(.none), [sum, conv], name: "mul-float", outputQuant: onnx(0.1, -5))
        let gap = try b.add(.mean(axes: [1, 2], keepDims: false), [prod], name: "mean-float", outputQuant: onnx(0.02, 2))
        let fw = b.constant("fw", rng.int8s(3 * 8), dtype: .i8, dims: [3, 8], quant: QuantParams(scale: 0.03, zeroPoint: 0))
        let fc = try b.add(.fullyConnected(.none), [gap, fw], name: "fc-float-requant", outputQuant: onnx(0.05, 0))
        let sig = try b.add(.sigmoid, [fc], name: "sigmoid-table", outputQuant: onnx(1.0 / 256, -128))
        b.output(try b.add(.dequantize, [sig], name: "y"), name: "y")
        return try b.build()
    }

    /// u8 and f16 conversions.
    static func conversions() throws -> Graph {
        let b = GraphBuilder(name: "zoo-conversions")
        let u = b.input("u", .u8, [8], quant: QuantParams(scale: 0.1, zeroPoint: 128))
        let h = b.input("h", .f16, [8])
        let du = try b.add(.dequantize, [u], name: "dequantize-u8")
        let dh = try b.add(.dequantize, [h], name: "f16")
        let sum = try b.add(.add(.none), [du, dh], name: "sum")
        let qu = try b.add(.quantize(.u8), [sum], name: "quantize-u8", outputQuant: QuantParams(scale: 0.2, zeroPoint: 100))
        b.output(try b.add(.dequantize, [qu], name: "y"), name: "y")
        return try b.build()
    }

    /// Dynamic-range conv (int8 weights on f32 activations) and an INT4 block-32 FC.
    static func weightOnly() throws -> Graph {
        var rng = SplitMix64(seed: 22)
        let b = GraphBuilder(name: "zoo-weights")
        let x = b.input("x", .f32, [1, 3, 3, 4])
        let w8 = b.constant("w8", rng.int8s(8 * 3 * 3 * 4), dtype: .i8, dims: [8, 3, 3, 4], quant: QuantParams(scale: 0.01, zeroPoint: 0))
        let conv = try b.add(.conv2D(Conv2DAttributes(padding: .same)), [x, w8, nil], name: "hybrid")   // [1,3,3,8]
        let flat = try b.add(.reshape([9, 8]), [conv], name: "flat")
        // Dynamic-range FC on the same rows (int8 weights, one scale).
        let w8fc = b.constant("w8fc", rng.int8s(6 * 8), dtype: .i8, dims: [6, 8], quant: QuantParams(scale: 0.02, zeroPoint: 0))
        b.output(try b.add(.fullyConnected(.relu), [flat, w8fc, b.constant("b8fc", rng.floats(6), dims: [6])], name: "hybrid-fc"), name: "h")
        let wide = try b.add(.concat(axis: 1), [flat, flat, flat, flat], name: "widen")                    // [9,32]
        var blocks: [UInt8] = []
        for _ in 0..<5 { blocks += [0x00, 0x2C] + (0..<16).map { _ in UInt8(truncatingIfNeeded: rng.next()) } } // f16 scale 1/16
        let w4 = b.constant("w4", blocks, dtype: .int4Block32, dims: [5, 32])
        b.output(try b.add(.fullyConnected(.relu), [wide, w4, nil], name: "int4-fc"), name: "y")
        // LiteRT's per-channel dynamic-range conv, depthwise and FC (asymmetric input rows).
        let perChannel = QuantParams(scales: (0..<8).map { 0.01 + 0.001 * Float($0) }, zeroPoints: [Int32](repeating: 0, count: 8), axis: 0)
        let wpc = b.constant("wpc", rng.int8s(8 * 3 * 3 * 4), dtype: .i8, dims: [8, 3, 3, 4], quant: perChannel)
        let pc = try b.add(.conv2D(Conv2DAttributes(padding: .same)), [x, wpc, nil], name: "hybrid-per-channel")   // [1,3,3,8]
        let wdw = b.constant("wdw", rng.int8s(8 * 3 * 3), dtype: .i8, dims: [8, 3, 3, 1], quant: perChannel)
        let dw = try b.add(.conv2D(Conv2DAttributes(padding: .same, groups: 8)), [pc, wdw, nil], name: "hybrid-depthwise")
        let rowsPC = try b.add(.reshape([9, 8]), [dw], name: "rows-pc")
        let wfc = b.constant("wfca", rng.int8s(6 * 8), dtype: .i8, dims: [6, 8], quant: QuantParams(scales: [Float](repeating: 0.02, count: 6),
                                                                                                       zeroPoints: [Int32](repeating: 0, count: 6), axis: 0))
        b.output(try b.add(.fullyConnectedAsymmetricInputs(.none), [rowsPC, wfc, nil], name: "hybrid-fc-asymmetric"), name: "a")
        let wtc = b.constant("wtc", rng.int8s(3 * 2 * 2 * 8), dtype: .i8, dims: [3, 2, 2, 8],
                             quant: QuantParams(scales: [0.01, 0.02, 0.03], zeroPoints: [0, 0, 0], axis: 0))
        b.output(try b.add(.transposeConv2D(TransposeConv2DAttributes(outputHeight: 6, outputWidth: 6, strideH: 2, strideW: 2)),
                           [dw, wtc, nil], name: "hybrid-transpose-conv"), name: "t")
        return try b.build()
    }

    /// The function-family and indexing ops: unary/binary math, comparisons, logic, select, cast,
    /// reductions, arg-reductions, gather, tile, mirror pad and transposed convolution (f32 and int8).
    static func breadth() throws -> Graph {
        var rng = SplitMix64(seed: 23)
        let b = GraphBuilder(name: "zoo-breadth")
        let x = b.input("x", .f32, [1, 3, 3, 2])
        let ids = b.input("ids", .i32, [4])
        let w = b.constant("tw", rng.floats(4 * 2 * 2 * 2, 0.5), dims: [4, 2, 2, 2])
        let up = try b.add(.transposeConv2D(TransposeConv2DAttributes(outputHeight: 6, outputWidth: 6, strideH: 2, strideW: 2)),
                           [x, w, b.constant("tb", rng.floats(4), dims: [4])], name: "transpose-conv")   // [1,6,6,4]
        let mirrored = try b.add(.mirrorPad(before: [0, 1, 1, 0], after: [0, 1, 1, 0], reflect: true), [up], name: "mirror")
        let sq = try b.add(.unary(.square), [mirrored], name: "square")                                  // [1,8,8,4]
        let sum = try b.add(.reduce(.sum, axes: [1, 2], keepDims: true), [sq], name: "sum")               // [1,1,1,4]
        let diff = try b.add(.binary(.squaredDifference), [sq, sum], name: "sqdiff")                      // [1,8,8,4]
        b.output(try b.add(.argReduce(largest: true, axis: 3, output: .i32), [diff], name: "argmax"), name: "argmax")
        let rows = try b.add(.reshape([64, 4]), [diff], name: "rows")
        let picked = try b.add(.gather(axis: 0), [rows, ids], name: "gather")                            // [4,4]
        let tiled = try b.add(.tile(multiples: [2, 1]), [picked], name: "tile")                           // [8,4]
        let big = try b.add(.compare(.greater), [tiled, b.constant("one", [Float(1)], dims: [1])], name: "greater")
        let small = try b.add(.logical(.not), [big], name: "not")
        b.output(try b.add(.logical(.and), [big, small], name: "and"), name: "never")
        let negated = try b.add(.unary(.neg), [tiled], name: "neg")
        let chosen = try b.add(.select, [small, tiled, negated], name: "select")
        b.output(chosen, name: "y")
        b.output(try b.add(.cast(.i32), [chosen], name: "cast"), name: "yi")
        let half = try b.add(.cast(.f16), [chosen], name: "to-half")
        b.output(half, name: "yh")
        b.output(try b.add(.cast(.f32), [half], name: "from-half"), name: "yhf")
        // Integer arithmetic (position ids, token math).
        let offsets = b.constant("offsets", [Int32(3), -7, 0, 5], dtype: .i32, dims: [4])
        let shifted = try b.add(.add(.none), [ids, offsets], name: "int-add")
        let wrapped = try b.add(.binary(.floorMod), [shifted, b.constant("modulus", [Int32(4)], dtype: .i32, dims: [1])], name: "int-mod")
        b.output(try b.add(.maximum, [wrapped, offsets], name: "int-max"), name: "ints")
        b.output(try b.add(.cumSum(axis: 0, exclusive: false, reverse: false), [ids], name: "positions"), name: "positions")
        b.output(try b.add(.topK(k: 2, axis: 1, largest: true, indices: true), [picked], name: "top2"), name: "top2")
        // int8 transposed convolution with per-channel weights.
        let q = QuantParams(scale: 0.05, zeroPoint: 3)
        let xq = b.input("xq", .i8, [1, 2, 2, 3], quant: q)
        let wq = b.constant("twq", rng.int8s(2 * 3 * 3 * 3), dtype: .i8, dims: [2, 3, 3, 3],
                            quant: QuantParams(scales: [0.01, 0.02], zeroPoints: [0, 0], axis: 0))
        let bq = b.constant("tbq", [Int32(100), -50], dtype: .i32, dims: [2])
        let upq = try b.add(.transposeConv2D(TransposeConv2DAttributes(outputHeight: 4, outputWidth: 4, strideH: 2, strideW: 2)),
                            [xq, wq, bq], name: "transpose-conv-s8", outputDType: .i8, outputQuant: QuantParams(scale: 0.02, zeroPoint: -1))
        b.output(try b.add(.dequantize, [upq], name: "yq"), name: "yq")
        return try b.build()
    }

    static func all() throws -> [Graph] {
        [try float(), try int8(), try onnxInt8(), try conversions(), try weightOnly(), try breadth()]
    }
}
