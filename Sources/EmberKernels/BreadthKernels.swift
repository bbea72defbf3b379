import CEmberKernels
import EmberCore

// Kernels of the function-family and indexing ops (unary, binary, compare, logical, reduce,
// arg-reduce, select, cast, gather, tile, mirror pad, transposed convolution). Each binds a
// reference kernel from ember_reference.c; all are dtype-generic where the op is.

extension UnaryFunction {
    var cOp: ember_unary_op {
        switch self {
        case .abs: return EMBER_UNARY_ABS
        case .neg: return EMBER_UNARY_NEG
        case .sqrt: return EMBER_UNARY_SQRT
        case .rsqrt: return EMBER_UNARY_RSQRT
        case .exp: return EMBER_UNARY_EXP
        case .log: return EMBER_UNARY_LOG
        case .floor: return EMBER_UNARY_FLOOR
        case .ceil: return EMBER_UNARY_CEIL
        case .round: return EMBER_UNARY_ROUND
        case .square: return EMBER_UNARY_SQUARE
        case .elu: return EMBER_UNARY_ELU
        case .sin: return EMBER_UNARY_SIN
        case .cos: return EMBER_UNARY_COS
        case .sign: return EMBER_UNARY_SIGN
        case .erf: return EMBER_UNARY_ERF
        case .reciprocal: return EMBER_UNARY_RECIPROCAL
        case .softplus: return EMBER_UNARY_SOFTPLUS
        case .reluN1To1: return EMBER_UNARY_RELU_N1_TO_1
        case .geluTanh: return EMBER_UNARY_GELU_TANH
        case .silu: return EMBER_UNARY_SILU
        }
    }
}

extension BinaryFunction {
    var cOp: ember_binary_op {
        switch self {
        case .pow: return EMBER_BINARY_POW
        case .squaredDifference: return EMBER_BINARY_SQUARED_DIFFERENCE
        case .floorDiv: return EMBER_BINARY_FLOOR_DIV
        case .floorMod: return EMBER_BINARY_FLOOR_MOD
        }
    }
}

extension DType {
    /// The element type of the dtype-generic C kernels, for the types they take.
    var cDType: ember_dtype? {
        switch self {
        case .f32: return EMBER_DTYPE_F32
        case .i32: return EMBER_DTYPE_I32
        case .i64: return EMBER_DTYPE_I64
        case .i8: return EMBER_DTYPE_I8
        case .u8: return EMBER_DTYPE_U8
        case .bool: return EMBER_DTYPE_BOOL
        case .i16: return EMBER_DTYPE_I16
        case .u16: return EMBER_DTYPE_U16
        case .u32: return EMBER_DTYPE_U32
        case .u64: return EMBER_DTYPE_U64
        case .f16, .int4Block32: return nil
        }
    }
}

extension Preparer {
    func cType(_ t: TensorInfo) throws -> ember_dtype {
        guard let d = t.dtype.cDType else { throw unsupported("dtype \(t.dtype)") }
        return d
    }

    /// Two same-typed quantized inputs must share scale and zero point for an op that compares
    /// or selects raw codes.
    func requireSharedInputQuant(_ i: Int, _ j: Int) throws {
        guard try input(i).dtype.isQuantized8 else { return }
        guard i < c.inputQuant.count, j < c.inputQuant.count, c.inputQuant[i] == c.inputQuant[j] else {
            throw unsupported("quantized inputs \(i) and \(j) must share scale and zero point")
        }
    }

    func compare(_ f: Comparison) throws -> PreparedKernel {
        try requireSharedInputQuant(0, 1)
        let bc = try broadcast(), dtype = try cType(try input(0))
        let op = ember_compare_op(rawValue: UInt32(f.rawValue))
        let node = c.nodeName
        return kernel(.compareRef) { b in
            let x = try req(b, 0, node), y = try req(b, 1, node)
            let out = b.output.assumingMemoryBound(to: UInt8.self)
            return { ember_compare_ref(op, dtype, bc, x, y, out) }
        }
    }

    func logical(_ f: LogicalFunction) throws -> PreparedKernel {
        let node = c.nodeName
        if f == .not {
            let count = Int64(c.output.elementCount)
            return kernel(.logicalRef) { b in
                let x = try req(b, 0, node).assumingMemoryBound(to: UInt8.self)
                let out = b.output.assumingMemoryBound(to: UInt8.self)
                return { ember_logical_not_ref(count, x, out) }
            }
        }
        let bc = try broadcast()
        let op: ember_logical_op = f == .and ? EMBER_LOGICAL_AND : f == .or ? EMBER_LOGICAL_OR : EMBER_LOGICAL_XOR
        return kernel(.logicalRef) { b in
            let x = try req(b, 0, node).assumingMemoryBound(to: UInt8.self)
            let y = try req(b, 1, node).assumingMemoryBound(to: UInt8.self)
            let out = b.output.assumingMemoryBound(to: UInt8.self)
            return { ember_logical_ref(op, bc, x, y, out) }
        }
    }

    /// `axes` of the first input as an `ember_reduce`.
    func reduction(_ axes: [Int]) throws -> UnsafePointer<ember_reduce> {
        let x = try input(0)
        guard x.dims.count <= Int(EMBER_MAX_RANK) else { throw unsupported("rank \(x.dims.count) (max \(EMBER_MAX_RANK))") }
        var r = ember_reduce()
        r.rank = Int32(x.dims.count)
        fillTuple(&r.shape, x.dims.map { Int32($0) })
        for a in axes { r.axis_mask |= 1 << UInt32(a < 0 ? a + x.dims.count : a) }
        return try storage.store(r)
    }

    func reduce(_ f: Reduction, axes: [Int]) throws -> PreparedKernel {
        let x = try input(0)
        guard x.dtype == .f32 || x.dtype.isPlainInteger else { throw unsupported("\(x.dtype) input") }
        let r = try reduction(axes), dtype = try cType(x)
        let op = ember_reduce_op(rawValue: UInt32(f.rawValue))
        let node = c.nodeName
        return kernel(.reduceRef) { b in
            let xp = try req(b, 0, node), out = b.output
            return { ember_reduce_ref(r, op, dtype, xp, out) }
        }
    }

    func argReduce(largest: Bool, axis: Int) throws -> PreparedKernel {
        let x = try input(0), dtype = try cType(x), split = axisSplit(x.dims, axis)
        let outer = Int64(split.outer), size = Int32(split.size), inner = Int64(split.inner)
        let wide: Int32 = c.output.dtype == .i64 ? 1 : 0, pickLargest: Int32 = largest ? 1 : 0
        let node = c.nodeName
        return kernel(.argReduceRef) { b in
            let xp = try req(b, 0, node), out = b.output
            return { ember_arg_reduce_ref(dtype, outer, size, inner, pickLargest, xp, wide, out) }
        }
    }

    func cumSum(axis: Int, exclusive: Bool, reverse: Bool) throws -> PreparedKernel {
        let x = try input(0), dtype = try cType(x), split = axisSplit(x.dims, axis)
        let outer = Int64(split.outer), size = Int32(split.size), inner = Int64(split.inner)
        let flags = (exclusive ? Int32(1) : 0, reverse ? Int32(1) : 0)
        let node = c.nodeName
        return kernel(.cumSumRef) { b in
            let xp = try req(b, 0, node), out = b.output
            return { ember_cumsum_ref(dtype, outer, size, inner, flags.0, flags.1, xp, out) }
        }
    }

    func topK(k: Int, axis: Int, largest: Bool, indices: Bool) throws -> PreparedKernel {
        let x = try input(0), dtype = try cType(x)
        let a = axis < 0 ? axis + x.dims.count : axis
        let split = axisSplit(x.dims, a)
        let outer = Int64(split.outer), size = Int32(split.size), inner = Int64(split.inner)
        let flags = (largest ? Int32(1) : 0, indices ? Int32(1) : 0), count = Int32(k)
        let node = c.nodeName
        // Scratch: one "taken" byte per element of a row.
        return kernel(.topKRef, scratch: max(split.size, 1)) { b in
            let xp = try req(b, 0, node), out = b.output
            let taken = try scratchBuffer(b, node, UInt8.self)
            return { ember_topk_ref(dtype, outer, size, inner, count, flags.0, flags.1, xp, taken, out) }
        }
    }

    func select() throws -> PreparedKernel {
        try requireSharedInputQuant(1, 2)
        if c.output.dtype.isQuantized8 {
            guard c.inputQuant.count > 1, c.inputQuant[1] == c.outputQuant else {
                throw unsupported("quantized select needs the inputs' scale and zero point on its output")
            }
        }
        let o = c.output.dims
        guard o.count <= Int(EMBER_MAX_RANK) else { throw unsupported("rank \(o.count) (max \(EMBER_MAX_RANK))") }
        var bc = ember_broadcast3()
        bc.rank = Int32(max(o.count, 1))
        fillTuple(&bc.shape, o.isEmpty ? [1] : o.map { Int32($0) })
        let strides = try (0..<3).map { i in o.isEmpty ? [Int64(0)] : broadcastStrides(try input(i).dims, to: o).map { Int64($0) } }
        fillTuple(&bc.strides.0, strides[0]); fillTuple(&bc.strides.1, strides[1]); fillTuple(&bc.strides.2, strides[2])
        let bp = try storage.store(bc), es = elementSize()
        let node = c.nodeName
        return kernel(.selectRef) { b in
            let cond = try req(b, 0, node).assumingMemoryBound(to: UInt8.self)
            let x = try req(b, 1, node), y = try req(b, 2, node), out = b.output
            return { ember_select_ref(es, bp, cond, x, y, out) }
        }
    }

    func cast() throws -> PreparedKernel {
        let x = try input(0)
        let quantized = (c.inputQuant.first ?? nil) != nil || c.outputQuant != nil
        guard !quantized else { throw unsupported("cast of a quantized tensor (dequantize or quantize it instead)") }
        let count = Int64(c.output.elementCount)
        let node = c.nodeName
        if x.dtype == .f16 || c.output.dtype == .f16 {
            let widen = x.dtype == .f16
            return kernel(.castF16Ref) { b in
                let xp = try req(b, 0, node), out = b.output
                if widen {
                    return { ember_f16_to_f32(count, xp.assumingMemoryBound(to: UInt16.self), out.assumingMemoryBound(to: Float.self)) }
                }
                return { ember_f32_to_f16(count, xp.assumingMemoryBound(to: Float.self), out.assumingMemoryBound(to: UInt16.self)) }
            }
        }
        let from = try cType(x), to = try cType(c.output)
        return kernel(.castRef) { b in
            let xp = try req(b, 0, node), out = b.output
            return { ember_cast_ref(from, to, count, xp, out) }
        }
    }

    func gather(axis: Int) throws -> PreparedKernel {
        try requireSameQuant(0)
        let x = try input(0), idx = try input(1), split = axisSplit(x.dims, axis)
        let outer = Int64(split.outer), size = Int32(split.size), inner = Int64(split.inner)
        let count = Int64(idx.elementCount), wide: Int32 = idx.dtype == .i64 ? 1 : 0, es = elementSize()
        let node = c.nodeName
        return kernel(.gatherRef) { b in
            let p = try req(b, 0, node), i = try req(b, 1, node), out = b.output
            return { ember_gather_ref(es, outer, size, inner, i, wide, count, p, out) }
        }
    }

    func tile() throws -> PreparedKernel {
        try requireSameQuant(0)
        let x = try input(0)
        let inShape = try rankCheck(x.dims), outShape = try rankCheck(c.output.dims)
        let rank = Int32(x.dims.count), es = elementSize()
        let node = c.nodeName
        return kernel(.tileRef) { b in
            let xp = try req(b, 0, node), out = b.output
            return { ember_tile_ref(es, rank, inShape, outShape, xp, out) }
        }
    }

    func mirrorPad(_ before: [Int], reflect: Bool) throws -> PreparedKernel {
        try requireSameQuant(0)
        let x = try input(0)
        let inShape = try rankCheck(x.dims), beforeP = try rankCheck(before), outShape = try rankCheck(c.output.dims)
        let rank = Int32(x.dims.count), es = elementSize(), mode: Int32 = reflect ? 1 : 0
        let node = c.nodeName
        return kernel(.mirrorPadRef) { b in
            let xp = try req(b, 0, node), out = b.output
            return { ember_mirror_pad_ref(es, rank, inShape, beforeP, outShape, mode, xp, out) }
        }
    }

    func transposeConvGeometry(_ a: TransposeConv2DAttributes) throws -> UnsafePointer<ember_conv_geometry> {
        let x = try input(0), w = try input(1), o = c.output
        var g = ember_conv_geometry()
        g.batch = Int32(x.dims[0]); g.in_h = Int32(x.dims[1]); g.in_w = Int32(x.dims[2]); g.in_c = Int32(x.dims[3])
        g.out_h = Int32(o.dims[1]); g.out_w = Int32(o.dims[2]); g.out_c = Int32(o.dims[3])
        g.kernel_h = Int32(w.dims[1]); g.kernel_w = Int32(w.dims[2])
        g.stride_h = Int32(a.strideH); g.stride_w = Int32(a.strideW)
        g.dilation_h = 1; g.dilation_w = 1; g.groups = 1
        g.pad_top = Int32(a.padTop); g.pad_left = Int32(a.padLeft)
        return try storage.store(g)
    }

    func transposeConvFloat(_ a: TransposeConv2DAttributes) throws -> PreparedKernel {
        if try input(1).dtype == .i8 { return try transposeConvHybrid(a) }
        let g = try transposeConvGeometry(a)
        let filter = try floatOperand(1, role: "filter"), bias = try floatOperand(2, role: "bias")
        let (lo, hi) = a.activation.range
        let node = c.nodeName
        if let fast = try transposeConvFloatFast(g, filter: filter, bias: bias, range: (lo, hi)) { return fast }
        return kernel(.transposeConv2dF32Ref) { b in
            let (x, f, bi, out) = try layerBuffers(b, node, Float.self, Float.self, Float.self, Float.self,
                                                   weights: filter, preparedBias: bias)
            return { ember_transpose_conv2d_f32_ref(g, x, f, bi, lo, hi, out) }
        }
    }

    /// The f32 transposed conv on the ISA's f32 GEMM (ember_transpose_conv2d_f32), its filter repacked as
    /// transposeConvInt8Fast's: k = in_c, n = taps·out_c, column (tap, oc). nil without a constant filter
    /// (and bias, when there is one) or the kernel.
    func transposeConvFloatFast(_ g: UnsafePointer<ember_conv_geometry>, filter prepared: FloatPtr?, bias: FloatPtr?,
                                range: (Float, Float)) throws -> PreparedKernel? {
        guard let isa = c.isa.cISA, let (name, _) = simdIfAny("transpose_conv2d_f32", { $0.fully_connected_f32 }) else {
            return nil
        }
        func constant(_ i: Int) -> FloatPtr? {
            (i < c.inputConstants.count ? c.inputConstants[i] : nil)?.bytes.baseAddress?.assumingMemoryBound(to: Float.self)
        }
        // f32 operands are nil from floatOperand (read at run time): their constant bytes, if constant.
        let constantBias = bias ?? constant(2)
        guard let filter = prepared ?? constant(1), optionalInput(2) == nil || constantBias != nil else { return nil }
        let geometry = g.pointee
        let inC = Int(geometry.in_c), outC = Int(geometry.out_c)
        let taps = Int(geometry.kernel_h) * Int(geometry.kernel_w), columns = taps * outC
        guard try input(1).elementCount == columns * inC else {
            throw EmberError.invalidGraph(node: c.nodeName, reason: "transposed conv filter holds \(try input(1).elementCount) "
                                          + "values, expected \(outC)×\(geometry.kernel_h)×\(geometry.kernel_w)×\(inC)")
        }
        let (packed, zeros) = try packedF32GEMM(isa: isa, k: inC, n: columns) { packed, zeros in
            // Column (tap, oc) of the GEMM is filter[oc][tap][·].
            var reordered = [Float](repeating: 0, count: columns * inC)
            for oc in 0..<outC { for tap in 0..<taps {
                let from = (oc * taps + tap) * inC, to = (tap * outC + oc) * inC
                for i in 0..<inC { reordered[to + i] = filter[from + i] }
            } }
            ember_f32_pack(isa, Int32(inC), Int32(columns), reordered, nil, packed, zeros)
        }
        let gemm = try storage.store(ember_f32_gemm(k: Int32(inC), n: Int32(columns), n_padded: ember_n_padded(isa, Int32(columns)),
                                                    weights: packed, bias: zeros,
                                                    act_min: -.infinity, act_max: .infinity, weights_f16: nil,
                                                    post_unary: 0, post_alpha: 0))
        let scratch = Int(ember_transpose_conv2d_f32_scratch_bytes(g, gemm))
        let node = c.nodeName, (lo, hi) = range
        return kernel(name, scratch: scratch) { b in
            let x = try req(b, 0, node).assumingMemoryBound(to: Float.self)
            let out = b.output.assumingMemoryBound(to: Float.self)
            let s = try scratchBuffer(b, node, UInt8.self)
            return { ember_transpose_conv2d_f32(isa, g, x, gemm, constantBias, lo, hi, s, out) }
        }
    }

    /// LiteRT's hybrid transposed conv: int8 weights (one or per-channel scales) on f32 activations.
    func transposeConvHybrid(_ a: TransposeConv2DAttributes) throws -> PreparedKernel {
        let wq = try quant(1), outC = c.output.dims[3]
        guard wq.zeroPoints.allSatisfy({ $0 == 0 }), wq.isPerTensor || (wq.axis == 0 && wq.scales.count == outC) else {
            throw unsupported("hybrid transposed conv weights need symmetric scales, one or one per output channel")
        }
        let scales = try storage.store(wq.isPerTensor ? [Float](repeating: wq.scale, count: outC) : wq.scales)
        let g = try transposeConvGeometry(a), bias = try floatOperand(2, role: "bias")
        let (lo, hi) = a.activation.range
        let x = try input(0)
        let node = c.nodeName
        return kernel(.transposeConv2dHybridRef, scratch: x.elementCount / max(x.dims[0], 1)) { b in
            let (xp, f, bi, out) = try layerBuffers(b, node, Float.self, Int8.self, Float.self, Float.self, preparedBias: bias)
            let s = try scratchBuffer(b, node, Int8.self)
            return { ember_transpose_conv2d_hybrid_ref(g, xp, f, scales, bi, lo, hi, s, out) }
        }
    }

    func transposeConvInt8(_ a: TransposeConv2DAttributes) throws -> PreparedKernel {
        guard try input(0).dtype == .i8 else { throw unsupported("u8 activations (use i8)") }
        let g = try transposeConvGeometry(a)
        let q = try requant(outputChannels: c.output.dims[3], activation: a.activation)
        if let fast = try transposeConvInt8Fast(g, requant: q) { return fast }
        let node = c.nodeName
        return kernel(.transposeConv2dS8Ref, scratch: c.output.elementCount * 4) { b in
            let (x, f, bi, out) = try layerBuffers(b, node, Int8.self, Int8.self, Int32.self, Int8.self)
            let s = try scratchBuffer(b, node, Int32.self)
            return { ember_transpose_conv2d_s8_ref(g, x, f, bi, q, s, out) }
        }
    }

    /// The int8 transposed conv on the ISA's GEMM (ember_transpose_conv2d_s8): the filter [oc][kh][kw][ic]
    /// repacked as a GEMM of k = in_c and n = taps·out_c, column (tap, oc), so one input row's products
    /// for every tap come out of one GEMM call. nil without a constant filter (and bias) or the kernels.
    func transposeConvInt8Fast(_ g: UnsafePointer<ember_conv_geometry>, requant q: UnsafePointer<ember_requant>) throws
        -> PreparedKernel? {
        // The C driver runs the path's int8 FC, then its requantize_s32.
        // Float requantization (ONNX) runs the reference: the ISAs' requantize_s32 is fixed point only.
        guard q.pointee.scale == nil, let isa = c.isa.cISA,
              let (name, _) = simdIfAny("transpose_conv2d_s8", { $0.requantize_s32 }),
              simdIfAny("fully_connected_s8", { $0.fully_connected_s8 }) != nil,
              let filter = c.inputConstants.count > 1 ? c.inputConstants[1] : nil,
              let bias = try constantBias(Int32.self) else { return nil }
        let geometry = g.pointee
        let inC = Int(geometry.in_c), outC = Int(geometry.out_c)
        let taps = Int(geometry.kernel_h) * Int(geometry.kernel_w), columns = taps * outC
        guard filter.bytes.count == columns * inC else {
            throw EmberError.invalidGraph(node: c.nodeName, reason: "transposed conv filter holds \(filter.bytes.count) bytes, "
                                          + "expected \(outC)×\(geometry.kernel_h)×\(geometry.kernel_w)×\(inC)")
        }
        // No output stage reads the requantization: the sums stay int32.
        let unread = try unreadRequant(count: Int(ember_n_padded(isa, Int32(columns))), inputZeroPoint: -q.pointee.input_offset)
        let source = filter.bytes.bindMemory(to: Int8.self)
        var packed = try packQS8(isa: isa, k: inC, n: columns, bias: nil, requant: unread, singleRounding: false) { body in
            // Column (tap, oc) of the GEMM is filter[oc][tap][·]; reordered only when packed here, not when the
            // package holds the layer pre-packed.
            var reordered = [Int8](repeating: 0, count: columns * inC)
            for oc in 0..<outC { for tap in 0..<taps {
                let from = (oc * taps + tap) * inC, to = (tap * outC + oc) * inC
                for i in 0..<inC { reordered[to + i] = source[from + i] }
            } }
            reordered.withUnsafeBufferPointer { body($0.baseAddress) }
        }.pointee
        packed.int32_output = 1
        let gemm = try storage.store(packed)
        let scratch = Int(ember_transpose_conv2d_s8_scratch_bytes(isa, g, gemm))
        let node = c.nodeName
        return kernel(name, scratch: scratch) { b in
            let x = try req(b, 0, node).assumingMemoryBound(to: Int8.self)
            let out = b.output.assumingMemoryBound(to: Int8.self)
            let s = try scratchBuffer(b, node, UInt8.self)
            return { ember_transpose_conv2d_s8(isa, g, x, gemm, bias, q, s, out) }
        }
    }

    /// TFLite's reference int8 softmax (gemmlowp fixed point) over the last axis, when the output has
    /// TFLite's fixed parameters (1/256, −128); anything else takes the float fallback.
    func softmaxInt8(axis: Int, beta: Float) throws -> PreparedKernel {
        let x = try input(0)
        let lastAxis = axis == -1 || axis == x.dims.count - 1
        guard x.dtype == .i8, c.output.dtype == .i8, lastAxis, let qo = c.outputQuant, qo.isPerTensor,
              qo.scale == 1.0 / 256, qo.zeroPoint == -128, let last = x.dims.last, last >= 1 else { return try floatFallback() }
        let qi = try perTensorQuant(0)
        // PreprocessSoftmaxScaling(beta, scale, 5 integer bits) and CalculateInputRadius(5, shift).
        let real = min(Double(beta) * Double(qi.scale) * Double(1 << 26), Double(Int32.max))
        let (m, shift) = quantizeMultiplier(real)
        guard shift >= 0, shift <= 30 else { return try floatFallback() }
        let diffMin = -Int32((31.0 * Double(1 << 26) / Double(1 << Int(shift))).rounded(.down))
        let rows = Int64(x.elementCount / last), depth = Int32(last)
        let table = try storage.allocate(Int32.self, count: 256)
        ember_softmax_s8_exp_table(m, shift, diffMin, table)
        let exps = UnsafePointer(table)
        let node = c.nodeName
        let fast = simdIfAny("softmax_s8") { $0.softmax_s8 }
        return kernel(fast?.0 ?? .softmaxS8Ref) { b in
            let xp = try req(b, 0, node).assumingMemoryBound(to: Int8.self)
            let out = b.output.assumingMemoryBound(to: Int8.self)
            let softmax = fast?.1 ?? ember_softmax_s8_ref
            return { softmax(rows, depth, exps, xp, out) }
        }
    }

    /// TFLite's integer int8 bilinear resize; input and output share scale and zero point.
    func resizeBilinearInt8(_ r: ResizeAttributes) throws -> PreparedKernel {
        let x = try input(0)
        guard x.dtype == .i8, c.output.dtype == .i8 else { throw unsupported("u8 activations (use i8)") }
        try requireSameQuant(0)
        let dims = x.dims.map { Int32($0) }
        let ac: Int32 = r.alignCorners ? 1 : 0, hp: Int32 = r.halfPixelCenters ? 1 : 0
        let oh = Int32(r.height), ow = Int32(r.width)
        let node = c.nodeName
        if let (name, resize) = simdIfAny("resize_bilinear_s8", { $0.resize_bilinear_s8 }) {
            return kernel(name) { b in
                let xp = try req(b, 0, node).assumingMemoryBound(to: Int8.self)
                let out = b.output.assumingMemoryBound(to: Int8.self)
                return { resize(dims[0], dims[1], dims[2], dims[3], oh, ow, ac, hp, xp, out) }
            }
        }
        return kernel(.resizeBilinearS8Ref) { b in
            let xp = try req(b, 0, node).assumingMemoryBound(to: Int8.self)
            let out = b.output.assumingMemoryBound(to: Int8.self)
            return { ember_resize_bilinear_s8_ref(dims[0], dims[1], dims[2], dims[3], oh, ow, ac, hp, xp, out) }
        }
    }

    /// LiteRT's EvalHybridPerChannel conv and depthwise (reference kernel).
    func convHybridPerChannel(_ a: Conv2DAttributes, _ wq: QuantParams) throws -> PreparedKernel {
        let outC = c.output.dims[3]
        guard wq.isPerTensor || (wq.axis == 0 && wq.scales.count == outC) else {
            throw unsupported("hybrid weights quantized along axis \(wq.axis ?? -1) (per output channel is supported)")
        }
        let scales = try storage.store(wq.isPerTensor ? [Float](repeating: wq.scale, count: outC) : wq.scales)
        let g = try storage.store(try convGeometry(a))
        let bias = try floatOperand(2, role: "bias")
        let (lo, hi) = a.activation.range
        let node = c.nodeName
        return kernel(.conv2dHybridPerChannelRef, scratch: try input(0).elementCount) { b in
            let (x, f, bi, out) = try layerBuffers(b, node, Float.self, Int8.self, Float.self, Float.self, preparedBias: bias)
            let scratch = try scratchBuffer(b, node, Int8.self)
            return { ember_conv2d_hybrid_per_channel_ref(g, x, f, scales, bi, lo, hi, scratch, out) }
        }
    }

    /// LiteRT's hybrid FC with per-channel weight scales and/or asymmetric input rows (reference kernel).
    func fullyConnectedHybridPerChannel(_ act: Activation, asymmetricInputs: Bool) throws -> PreparedKernel {
        let w = try input(1), wq = try quant(1)
        guard w.dtype == .i8, w.dims.count == 2 else { throw unsupported("hybrid FC weights must be i8 [N,K]") }
        let n = w.dims[0], k = w.dims[1], rows = Int64(c.output.elementCount / max(n, 1))
        guard wq.zeroPoints.allSatisfy({ $0 == 0 }), wq.isPerTensor || (wq.axis == 0 && wq.scales.count == n) else {
            throw unsupported("hybrid FC weights need symmetric scales, one or one per output")
        }
        let scales = try storage.store(wq.isPerTensor ? [Float](repeating: wq.scale, count: n) : wq.scales)
        let (lo, hi) = act.range, asymmetric: Int32 = asymmetricInputs ? 1 : 0
        let bias = try floatOperand(2, role: "bias")
        let node = c.nodeName
        return kernel(.fullyConnectedHybridPerChannelRef, scratch: k) { b in
            let (x, wp, bi, out) = try layerBuffers(b, node, Float.self, Int8.self, Float.self, Float.self, preparedBias: bias)
            let s = try scratchBuffer(b, node, Int8.self)
            return { ember_fully_connected_hybrid_per_channel_ref(rows, Int32(k), Int32(n), x, wp, scales, asymmetric, bi, lo, hi, s, out) }
        }
    }

    /// TFLite's int8 PRELU: two requantizations, one for x ≥ 0 and one for x · alpha.
    func preluInt8() throws -> PreparedKernel {
        guard try input(0).dtype == .i8, try input(1).dtype == .i8, c.output.dtype == .i8 else {
            throw unsupported("PRelu on u8 tensors (i8 is supported)")
        }
        let qx = try perTensorQuant(0), qa = try perTensorQuant(1), qo = try outQuant()
        var p = ember_prelu_s8_params()
        p.input_offset = -qx.zeroPoint; p.alpha_offset = -qa.zeroPoint; p.output_offset = qo.zeroPoint
        (p.multiplier_1, p.shift_1) = quantizeMultiplier(Double(qx.scale) / Double(qo.scale))
        (p.multiplier_2, p.shift_2) = quantizeMultiplier(Double(qx.scale) * Double(qa.scale) / Double(qo.scale))
        let params = try storage.store(p), bc = try broadcast()
        let node = c.nodeName
        if let fast = try preluInt8Tables(params) { return fast }
        if let fast = try preluInt8PairTable(params) { return fast }
        return kernel(.preluS8Ref) { b in
            let (x, alpha, out) = try int8Pair(b, node)
            return { ember_prelu_s8_ref(bc, x, alpha, params, out) }
        }
    }

    /// PRELU whose slopes are a constant, one per channel (the last axis) or one for all: every output is a
    /// function of its input code and channel, so each channel's 256 outputs are computed at prepare by the
    /// reference itself and a run looks them up (prelu_cnn int8: 612 µs on the reference).
    func preluInt8Tables(_ params: UnsafePointer<ember_prelu_s8_params>) throws -> PreparedKernel? {
        let x = try input(0), alpha = try input(1)
        guard x.dims == c.output.dims, let channels = x.dims.last, channels > 0, channels <= 4096,
              c.inputConstants.count > 1, let slopes = c.inputConstants[1], alpha.dims.count <= x.dims.count,
              alpha.dims.dropLast().allSatisfy({ $0 == 1 }), case let count = alpha.dims.last ?? 1,
              count == channels || count == 1, alpha.elementCount == count, slopes.bytes.count >= count,
              let slopeBase = slopes.bytes.baseAddress
        else { return nil }
        // Code x of every channel: a [256, count] input against the slopes, through the reference.
        var codes = [Int8](repeating: 0, count: 256 * count)
        for v in 0..<256 { for ch in 0..<count { codes[v * count + ch] = Int8(truncatingIfNeeded: v - 128) } }
        var bc = ember_broadcast()
        bc.rank = 2
        fillTuple(&bc.shape, [Int32(256), Int32(count)])
        fillTuple(&bc.a_strides, [Int64(count), 1])
        fillTuple(&bc.b_strides, [0, 1])
        var byCode = [Int8](repeating: 0, count: 256 * count)
        ember_prelu_s8_ref(&bc, codes, slopeBase.assumingMemoryBound(to: Int8.self), params, &byCode)
        let tables = try storage.allocate(Int8.self, count: 256 * count)
        for ch in 0..<count { for v in 0..<256 { tables[ch * 256 + v] = byCode[v * count + ch] } }
        let rows = Int64(c.output.elementCount / channels), channels32 = Int32(channels), count32 = Int32(count)
        let node = c.nodeName, table = UnsafePointer(tables)
        return kernel(.preluS8Tables) { b in
            let xp = try req(b, 0, node).assumingMemoryBound(to: Int8.self)
            let out = b.output.assumingMemoryBound(to: Int8.self)
            return { ember_prelu_s8_tables(rows, channels32, count32, xp, table, out) }
        }
    }

    /// PRELU whose slopes have the input's shape (Keras' PReLU without shared axes: one slope per pixel and
    /// channel), constant or not: its multipliers are per tensor, so each output is a function of its (slope,
    /// code) pair alone. Prepare runs the reference over all 65,536 pairs; a run looks each element up.
    func preluInt8PairTable(_ params: UnsafePointer<ember_prelu_s8_params>) throws -> PreparedKernel? {
        let x = try input(0), alpha = try input(1)
        guard x.dims == c.output.dims, alpha.elementCount == x.elementCount, alpha.dims.count <= x.dims.count,
              Array(x.dims.suffix(alpha.dims.count)) == alpha.dims, x.elementCount > 0 else { return nil }
        // Row = slope code, column = input code.
        let codes = (0..<256).map { Int8(truncatingIfNeeded: $0 - 128) }
        var bc = ember_broadcast()
        bc.rank = 2
        fillTuple(&bc.shape, [Int32(256), Int32(256)])
        fillTuple(&bc.a_strides, [Int64(0), 1])
        fillTuple(&bc.b_strides, [Int64(1), 0])
        let table = try storage.allocate(Int8.self, count: 65_536)
        ember_prelu_s8_ref(&bc, codes, codes, params, table)
        let count = Int64(x.elementCount), node = c.nodeName, t = UnsafePointer(table)
        return kernel(.preluS8PairTable) { b in
            let (xp, ap, out) = try int8Pair(b, node)
            return { ember_prelu_s8_pair_table(count, xp, ap, t, out) }
        }
    }

    /// HardSwishPrepare's parameters (its scales are floats, as there).
    func hardSwishParams(_ qi: QuantParams, _ qo: QuantParams) throws -> ember_hard_swish_s8_params {
        let hiresInputScale = (1.0 / 128.0) * qi.scale
        let reluishScale: Float = 3.0 / 32768.0
        var p = ember_hard_swish_s8_params()
        p.input_zero_point = qi.zeroPoint; p.output_zero_point = qo.zeroPoint
        let (om, oe) = quantizeMultiplier(Double(hiresInputScale / qo.scale))
        guard oe <= 0 else { throw unsupported("int8 hard swish whose output scale is below input scale / 128") }
        let (rm, re) = quantizeMultiplier(Double(hiresInputScale / reluishScale))
        p.output_multiplier_fixedpoint_int16 = downScaledToInt16(om); p.output_multiplier_exponent = oe
        p.reluish_multiplier_fixedpoint_int16 = downScaledToInt16(rm); p.reluish_multiplier_exponent = re
        return p
    }
}

/// TFLite's DownScaleInt32ToInt16Multiplier: the high 16 bits, rounded.
func downScaledToInt16(_ m: Int32) -> Int16 {
    guard m < Int32.max - (1 << 15) else { return Int16.max }
    return Int16(clamping: (Int(m) + (1 << 15)) >> 16)
}
