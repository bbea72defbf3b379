import CEmberKernels
import EmberCore

/// Every C kernel family an executor can bind a node to. `ember inspect` and
/// `Executor.implementations` show the raw names; the zero-allocation test
/// fails when one of these is not exercised.
public enum KernelImplementation: String, CaseIterable, Sendable {
    case addS8Ref = "add_s8_ref"
    case avgPoolF32Ref = "avg_pool_f32_ref"
    case avgPoolS8Ref = "avg_pool_s8_ref"
    case binaryF32Ref = "binary_f32_ref"
    case concatRef = "concat_ref"
    case conv2dF32Ref = "conv2d_f32_ref"
    case conv2dHybridRef = "conv2d_hybrid_ref"
    case fullyConnectedHybridRef = "fully_connected_hybrid_ref"
    case conv2dS8Ref = "conv2d_s8_ref"
    case copy = "copy"
    /// A slice the executor placed inside its input: nothing runs.
    case view = "view"
    case dequantizeS8F32Ref = "dequantize_s8_f32_ref"
    case f16ToF32 = "f16_to_f32"
    case fullyConnectedF32Q4b32Ref = "fully_connected_f32_q4b32_ref"
    case fullyConnectedF32Ref = "fully_connected_f32_ref"
    case fullyConnectedS8Ref = "fully_connected_s8_ref"
    case layerNormF32Ref = "layer_norm_f32_ref"
    case lookupS8 = "lookup_s8"
    /// A node folded into its consumer's lookup table: nothing runs.
    case foldedIntoConsumer = "folded_into_consumer"
    case matmulF32Ref = "matmul_f32_ref"
    case matmulS8Ref = "matmul_s8_ref"
    case meanF32Ref = "mean_f32_ref"
    case meanS8Ref = "mean_s8_ref"
    case squaredDifferenceS8Ref = "squared_difference_s8_ref"
    case minmaxS8Ref = "minmax_s8_ref"
    case mulS8Ref = "mul_s8_ref"
    case padRef = "pad_ref"
    case quantizeF32S8Ref = "quantize_f32_s8_ref"
    case quantizeF32S8EvenRef = "quantize_f32_s8_even_ref"
    case requantizeS8Ref = "requantize_s8_ref"
    case resizeBilinearF32Ref = "resize_bilinear_f32_ref"
    case resizeNearestRef = "resize_nearest_ref"
    case sliceRef = "slice_ref"
    case softmaxF32Ref = "softmax_f32_ref"
    case transposeRef = "transpose_ref"
    case unaryF32Ref = "unary_f32_ref"

    case maxPoolF32Ref = "max_pool_f32_ref"
    case maxPoolS8Ref = "max_pool_s8_ref"
    case dequantizeU8F32Ref = "dequantize_u8_f32_ref"
    case quantizeF32U8Ref = "quantize_f32_u8_ref"

    case conv2dS8Avx512 = "conv2d_s8_avx512"
    case conv2dS8Avx2 = "conv2d_s8_avx2"
    case dwconv2dS8Avx512 = "dwconv2d_s8_avx512"
    case dwconv2dS8Avx2 = "dwconv2d_s8_avx2"
    case fullyConnectedS8Avx512 = "fully_connected_s8_avx512"
    case fullyConnectedS8Avx2 = "fully_connected_s8_avx2"
    case conv2dF32Avx512 = "conv2d_f32_avx512"
    case conv2dF32Avx2 = "conv2d_f32_avx2"
    case conv2dWinogradF32Avx512 = "conv2d_winograd_f32_avx512"
    case conv2dWinogradF32Avx2 = "conv2d_winograd_f32_avx2"
    case conv2dWinogradF32Neon = "conv2d_winograd_f32_neon"
    /// An f32 activation its producing conv or FC applied as it stored (ActivationFusion).
    case appliedByProducer = "applied_by_producer"
    case fullyConnectedQ4b32Avx512 = "fully_connected_q4b32_avx512"
    case fullyConnectedQ4b32Avx2 = "fully_connected_q4b32_avx2"
    case fullyConnectedQ4b32Neon = "fully_connected_q4b32_neon"
    case dwconv2dF32Avx512 = "dwconv2d_f32_avx512"
    case dwconv2dF32Avx2 = "dwconv2d_f32_avx2"
    case fullyConnectedF32Avx512 = "fully_connected_f32_avx512"
    case fullyConnectedF32Avx2 = "fully_connected_f32_avx2"
    case conv2dHybridAvx512 = "conv2d_hybrid_avx512"
    case conv2dHybridAvx2 = "conv2d_hybrid_avx2"
    case fullyConnectedHybridAvx512 = "fully_connected_hybrid_avx512"
    case fullyConnectedHybridAvx2 = "fully_connected_hybrid_avx2"
    case conv2dS8Neon = "conv2d_s8_neon"
    case dwconv2dS8Neon = "dwconv2d_s8_neon"
    case fullyConnectedS8Neon = "fully_connected_s8_neon"
    case conv2dF32Neon = "conv2d_f32_neon"
    case dwconv2dF32Neon = "dwconv2d_f32_neon"
    case fullyConnectedF32Neon = "fully_connected_f32_neon"
    case conv2dHybridNeon = "conv2d_hybrid_neon"
    case fullyConnectedHybridNeon = "fully_connected_hybrid_neon"
    case addS8Neon = "add_s8_neon"
    case binaryF32Neon = "binary_f32_neon"
    case binaryF32Avx512 = "binary_f32_avx512"
    case binaryF32Avx2 = "binary_f32_avx2"
    case addS8Avx512 = "add_s8_avx512"
    case addS8Avx2 = "add_s8_avx2"
    case mulS8Avx512 = "mul_s8_avx512"
    case mulS8Avx2 = "mul_s8_avx2"
    case mulS8Neon = "mul_s8_neon"
    case lookupS8Neon = "lookup_s8_neon"
    case quantizeF32S8Neon = "quantize_f32_s8_neon"
    case meanS8Neon = "mean_s8_neon"
    case unaryF32Neon = "unary_f32_neon"
    case maxPoolS8Neon = "max_pool_s8_neon"
    case maxPoolF32Neon = "max_pool_f32_neon"
    case avgPoolS8Neon = "avg_pool_s8_neon"
    case avgPoolF32Neon = "avg_pool_f32_neon"
    case softmaxF32Neon = "softmax_f32_neon"
    case layerNormF32Neon = "layer_norm_f32_neon"
    case resizeBilinearF32Neon = "resize_bilinear_f32_neon"
    case resizeBilinearS8Neon = "resize_bilinear_s8_neon"
    case matmulF32Neon = "matmul_f32_neon"
    case matmulS8Neon = "matmul_s8_neon"
    case meanF32Neon = "mean_f32_neon"
    case transposeConv2dS8Neon = "transpose_conv2d_s8_neon"
    case meanS8Avx512 = "mean_s8_avx512"
    case meanS8Avx2 = "mean_s8_avx2"
    case meanF32Avx512 = "mean_f32_avx512"
    case meanF32Avx2 = "mean_f32_avx2"
    case lookupS8Avx512 = "lookup_s8_avx512"
    case lookupS8Avx2 = "lookup_s8_avx2"
    case transposeConv2dS8Avx512 = "transpose_conv2d_s8_avx512"
    case transposeConv2dF32Avx512 = "transpose_conv2d_f32_avx512"
    case transposeConv2dF32Avx2 = "transpose_conv2d_f32_avx2"
    case transposeConv2dF32Neon = "transpose_conv2d_f32_neon"
    case transposeConv2dS8Avx2 = "transpose_conv2d_s8_avx2"
    case resizeBilinearS8Avx512 = "resize_bilinear_s8_avx512"
    case resizeBilinearS8Avx2 = "resize_bilinear_s8_avx2"
    case quantizeF32S8Avx512 = "quantize_f32_s8_avx512"
    case quantizeF32S8Avx2 = "quantize_f32_s8_avx2"
    case unaryF32Avx512 = "unary_f32_avx512"
    case unaryF32Avx2 = "unary_f32_avx2"
    case matmulF32Avx512 = "matmul_f32_avx512"
    case matmulF32Avx2 = "matmul_f32_avx2"
    /// int8 MatMul exactly through the path's f32 matmul (ember_matmul_s8_via_f32).
    case matmulS8Avx512 = "matmul_s8_avx512"
    case matmulS8Avx2 = "matmul_s8_avx2"
    case maxPoolS8Avx512 = "max_pool_s8_avx512"
    case maxPoolS8Avx2 = "max_pool_s8_avx2"
    case maxPoolF32Avx512 = "max_pool_f32_avx512"
    case maxPoolF32Avx2 = "max_pool_f32_avx2"
    case softmaxS8Avx512 = "softmax_s8_avx512"
    case softmaxS8Avx2 = "softmax_s8_avx2"
    case softmaxS8Neon = "softmax_s8_neon"
    case avgPoolS8Avx512 = "avg_pool_s8_avx512"
    case avgPoolS8Avx2 = "avg_pool_s8_avx2"
    case avgPoolF32Avx512 = "avg_pool_f32_avx512"
    case avgPoolF32Avx2 = "avg_pool_f32_avx2"
    case resizeBilinearF32Avx512 = "resize_bilinear_f32_avx512"
    case resizeBilinearF32Avx2 = "resize_bilinear_f32_avx2"
    case softmaxF32Avx512 = "softmax_f32_avx512"
    case softmaxF32Avx2 = "softmax_f32_avx2"
    case layerNormF32Avx512 = "layer_norm_f32_avx512"
    case layerNormF32Avx2 = "layer_norm_f32_avx2"

    case reduceRef = "reduce_ref"
    case argReduceRef = "arg_reduce_ref"
    case binaryIntRef = "binary_int_ref"
    case cumSumRef = "cumsum_ref"
    case castF16Ref = "cast_f16_ref"
    case topKRef = "topk_ref"
    case compareRef = "compare_ref"
    case logicalRef = "logical_ref"
    case castRef = "cast_ref"
    case selectRef = "select_ref"
    case gatherRef = "gather_ref"
    case tileRef = "tile_ref"
    case mirrorPadRef = "mirror_pad_ref"
    case transposeConv2dF32Ref = "transpose_conv2d_f32_ref"
    case transposeConv2dS8Ref = "transpose_conv2d_s8_ref"
    case transposeConv2dHybridRef = "transpose_conv2d_hybrid_ref"
    case softmaxS8Ref = "softmax_s8_ref"
    case preluS8Ref = "prelu_s8_ref"
    /// int8 PRELU with constant per-channel slopes as per-channel tables (ember_prelu_s8_tables).
    case preluS8Tables = "prelu_s8_tables"
    /// int8 PRELU with a slope per element as one table of every (slope, code) pair (ember_prelu_s8_pair_table).
    case preluS8PairTable = "prelu_s8_pair_table"
    case resizeBilinearS8Ref = "resize_bilinear_s8_ref"
    case conv2dHybridPerChannelRef = "conv2d_hybrid_per_channel_ref"
    case fullyConnectedHybridPerChannelRef = "fully_connected_hybrid_per_channel_ref"

    /// The path an implementation belongs to (`.scalar` for the reference kernels).
    public var isa: KernelISA {
        KernelISA.allCases.first { $0 != .scalar && rawValue.hasSuffix("_\($0.rawValue)") } ?? .scalar
    }

    /// The prefix of a float fallback's name: "f32 fallback(softmax_f32_ref)".
    public static let fallbackPrefix = "f32 fallback("

    /// The implementations a name stands for (a fallback names the float kernel inside).
    public static func parse(_ name: String) -> [KernelImplementation] {
        if name.hasPrefix(fallbackPrefix) {
            let inner = String(name.dropFirst(fallbackPrefix.count).dropLast())
            return parse(inner)
        }
        return KernelImplementation(rawValue: name).map { [$0] } ?? []
    }
}

/// Turns nodes into prepared kernels. See the top of EmberKernels.swift.
public enum Kernels {
    /// Prepares one node. Throws `unsupported` (naming the node) for a valid
    /// node this runtime cannot run yet, e.g. an int8 op with per-axis activations.
    public static func prepare(_ c: KernelContext, storage: PreparedStorage) throws -> PreparedKernel {
        try Preparer(c: c, storage: storage).prepare()
    }

    /// The node of `c` as a 256-entry table of its int8 input `input` (out[i] = table[x[i] + 128]):
    /// what the executor binds when it has folded an int8 elementwise chain such as x · sigmoid(x)
    /// (see LookupFolding) into one function of x.
    public static func lookup(_ c: KernelContext, table: [Int8], input: Int, storage: PreparedStorage) throws
        -> PreparedKernel {
        guard table.count == 256 else {
            throw EmberError.invalidGraph(node: c.nodeName, reason: "a lookup table has 256 entries, not \(table.count)")
        }
        let lut = try storage.allocate(Int8.self, count: 256)
        for i in 0..<256 { lut[i] = table[i] }
        return Preparer(c: c, storage: storage).lookupKernel(UnsafePointer(lut), input: input)
    }

    /// A node whose only consumer computes its work itself (a folded lookup): it runs nothing.
    public static func foldedIntoConsumer(_ c: KernelContext) -> PreparedKernel {
        PreparedKernel(scratchBytes: 0, implementation: KernelImplementation.foldedIntoConsumer.rawValue, bind: { _ in {} })
    }

    /// The unary function and its parameter of an f32 activation op (nil for other ops).
    public static func activation(of op: Op) -> (op: ember_unary_op, alpha: Float)? {
        switch op {
        case .relu: return (EMBER_UNARY_RELU, 0)
        case .relu6: return (EMBER_UNARY_RELU6, 0)
        case let .leakyRelu(alpha): return (EMBER_UNARY_LEAKY_RELU, alpha)
        case .sigmoid: return (EMBER_UNARY_SIGMOID, 0)
        case .tanh: return (EMBER_UNARY_TANH, 0)
        case .hardSwish: return (EMBER_UNARY_HARD_SWISH, 0)
        case .gelu: return (EMBER_UNARY_GELU, 0)
        case let .unary(f): return (f.cOp, 0)
        default: return nil
        }
    }

    /// Whether `isa`'s optimized f32 convolutions and FC can apply `op` as they store (its unary_f32 has it).
    public static func canApplyAfterStore(_ op: ember_unary_op, isa: KernelISA) -> Bool {
        guard let cISA = isa.cISA, let table = ember_kernel_table_for(cISA), let unary = table.pointee.unary_f32 else {
            return false
        }
        return unary(op, 0, 0, nil, nil) == 1
    }

    /// An activation node its producer already applied (ActivationFusion): its output is its input's
    /// bytes — a view the executor places there, running nothing, or else one copy.
    public static func appliedByProducer(_ c: KernelContext) -> PreparedKernel {
        let node = c.nodeName, bytes = c.output.byteCount
        var k = PreparedKernel(scratchBytes: 0, implementation: KernelImplementation.appliedByProducer.rawValue) { b in
            let x = try req(b, 0, node)
            return { if UnsafeRawPointer(b.output) != x { b.output.copyMemory(from: x, byteCount: bytes) } }
        }
        k.viewOffset = 0
        return k
    }
}

typealias FloatPtr = UnsafePointer<Float>
typealias MutFloatPtr = UnsafeMutablePointer<Float>

func req(_ b: KernelBuffers, _ i: Int, _ node: String) throws -> UnsafeRawPointer {
    guard i < b.inputs.count, let p = b.inputs[i] else {
        throw EmberError.invalidGraph(node: node, reason: "input \(i) has no buffer")
    }
    return p
}

/// The two int8 inputs and the int8 output of an elementwise (or matmul) kernel's binding.
func int8Pair(_ b: KernelBuffers, _ node: String) throws
    -> (a: UnsafePointer<Int8>, b: UnsafePointer<Int8>, out: UnsafeMutablePointer<Int8>) {
    (try req(b, 0, node).assumingMemoryBound(to: Int8.self), try req(b, 1, node).assumingMemoryBound(to: Int8.self),
     b.output.assumingMemoryBound(to: Int8.self))
}

/// A weighted layer's buffers at bind time: x (input 0), the weights (input 1, unless `weights` were
/// prepared at prepare time), the bias (likewise input 2; nil when absent) and the output.
func layerBuffers<X, W, B, O>(_ b: KernelBuffers, _ node: String, _ x: X.Type, _ w: W.Type, _ bias: B.Type, _ out: O.Type,
                              weights: UnsafePointer<W>? = nil, preparedBias: UnsafePointer<B>? = nil) throws
    -> (x: UnsafePointer<X>, w: UnsafePointer<W>, bias: UnsafePointer<B>?, out: UnsafeMutablePointer<O>) {
    (try req(b, 0, node).assumingMemoryBound(to: X.self),
     try weights ?? req(b, 1, node).assumingMemoryBound(to: W.self),
     preparedBias ?? (b.inputs.count > 2 ? b.inputs[2]?.assumingMemoryBound(to: B.self) : nil),
     b.output.assumingMemoryBound(to: O.self))
}

/// `dims` viewed as [outer][size][inner] around `axis` (negative counts from the end), for the kernels
/// that walk one axis (softmax, concat, gather, arg-reduce).
func axisSplit(_ dims: [Int], _ axis: Int) -> (axis: Int, outer: Int, size: Int, inner: Int) {
    let a = axis < 0 ? axis + dims.count : axis
    return (a, elementCount(Array(dims[..<a])) ?? 0, dims[a], elementCount(Array(dims[(a + 1)...])) ?? 0)
}

/// The scratch buffer the kernel asked for at prepare.
func scratchBuffer<T>(_ b: KernelBuffers, _ node: String, _ type: T.Type) throws -> UnsafeMutablePointer<T> {
    guard let s = b.scratch else { throw EmberError.invalidGraph(node: node, reason: "no scratch buffer was planned") }
    return s.assumingMemoryBound(to: T.self)
}

struct Preparer {
    let c: KernelContext
    let storage: PreparedStorage

    func unsupported(_ why: String) -> EmberError { .unsupported(node: c.nodeName, reason: "\(c.op.kind): \(why)") }

    /// The executor's path's optimized kernel `family` (e.g. "conv2d_s8"): its name and its C
    /// function, taken from the path's table once, at prepare. Only asked for where `c.isa.cISA` is set.
    func simd<F>(_ family: String, _ pick: (ember_kernel_table) -> F?) throws -> (KernelImplementation, F) {
        guard let isa = c.isa.cISA, let table = ember_kernel_table_for(isa), let function = pick(table.pointee),
              let name = KernelImplementation(rawValue: "\(family)_\(c.isa.rawValue)") else {
            throw unsupported("this build has no \(c.isa) kernel \(family)")
        }
        return (name, function)
    }

    /// The path's optimized kernel `family` where it has one; nil on the scalar path and where the
    /// ISA's table leaves the entry empty (the reference kernel serves then).
    func simdIfAny<F>(_ family: String, _ pick: (ember_kernel_table) -> F?) -> (KernelImplementation, F)? {
        try? simd(family, pick)
    }

    func input(_ i: Int) throws -> TensorInfo {
        guard i < c.inputs.count, let t = c.inputs[i] else { throw unsupported("input \(i) is missing") }
        return t
    }
    func optionalInput(_ i: Int) -> TensorInfo? { i < c.inputs.count ? c.inputs[i] : nil }
    func quant(_ i: Int) throws -> QuantParams {
        guard i < c.inputQuant.count, let q = c.inputQuant[i] else { throw unsupported("input \(i) has no quantization parameters") }
        return q
    }
    func perTensorQuant(_ i: Int) throws -> QuantParams {
        let q = try quant(i)
        guard q.isPerTensor else { throw unsupported("per-axis quantization of activation input \(i)") }
        return q
    }
    func outQuant() throws -> QuantParams {
        guard let q = c.outputQuant, q.isPerTensor else { throw unsupported("the output needs per-tensor quantization parameters") }
        return q
    }

    func kernel(_ implementation: KernelImplementation, scratch: Int = 0, _ bind: @escaping (KernelBuffers) throws -> () -> Void) -> PreparedKernel {
        PreparedKernel(scratchBytes: scratch, implementation: implementation.rawValue, bind: bind)
    }

    /// Work below which a convolution is not split across threads. Handing a part to a worker and
    /// waiting for it costs about a microsecond, and each part repeats some set-up (its window of
    /// input rows), so a layer is split when one thread would take ~2–4 µs or more: the int8 GEMM
    /// runs ~100–200 GMAC/s on an AVX-512 core, the f32 GEMM ~50, depthwise layers ~15–30 (measured:
    /// splitting kws's 512k-MAC int8 pointwise layers takes its two-thread median 41 → 31 µs). f32
    /// depthwise layers are split later than int8 ones (~26 against ~15 GMAC/s): split at 72k MACs,
    /// kws_float32's took its two-thread median from 38 to 104 µs in most processes on this VM.
    /// int8Elementwise counts outputs, not MACs: the exact int8 ADD/MUL take ~0.3 ns an output.
    enum SplitThreshold: Int {
        case int8GEMM = 262_144, floatGEMM = 196_608, depthwise = 65_536, floatDepthwise = 163_840
        case int8Elementwise = 8_192
    }
    /// Weight bytes from which a GEMV (a one-row fully connected layer) runs split by output panels.
    static let splitGEMVWeightBytes = 131_072

    /// A row kernel (rows × cols outputs; b's row r at r · bRowStride) that can also run split across
    /// threads from SplitThreshold.int8Elementwise outputs: by rows, or for one long row by columns.
    /// `run` gets (rows, cols, a, b, out) of its share, pointers already offset.
    func splittableRows(_ name: KernelImplementation, rows: Int64, cols: Int64, bRowStride: Int64, swapped: Bool,
                        bRow: UnsafePointer<Int8>? = nil,
                        _ run: @escaping (Int64, Int64, UnsafePointer<Int8>, UnsafePointer<Int8>, UnsafeMutablePointer<Int8>) -> Void)
        -> PreparedKernel {
        let node = c.nodeName
        // `bRow`: the second operand's one row, prepared (a broadcast scalar), instead of its buffer.
        func operands(_ b: KernelBuffers) throws -> (UnsafePointer<Int8>, UnsafePointer<Int8>, UnsafeMutablePointer<Int8>) {
            (try req(b, swapped ? 1 : 0, node).assumingMemoryBound(to: Int8.self),
             try bRow ?? req(b, swapped ? 0 : 1, node).assumingMemoryBound(to: Int8.self), b.output.assumingMemoryBound(to: Int8.self))
        }
        var k = kernel(name) { b in
            let (ap, bp, out) = try operands(b)
            return { run(rows, cols, ap, bp, out) }
        }
        guard rows * cols >= SplitThreshold.int8Elementwise.rawValue else { return k }
        k.bindParts = { b, parts in
            let (ap, bp, out) = try operands(b)
            let byColumns = rows == 1, total = byColumns ? cols : rows
            let n = Int64(max(1, min(parts, Int(total))))
            return (0..<n).map { i in
                let lo = total * i / n, hi = total * (i + 1) / n
                if byColumns { return { run(1, hi - lo, ap + Int(lo), bp + Int(lo), out + Int(lo)) } }
                return { run(hi - lo, cols, ap + Int(lo * cols), bp + Int(lo * bRowStride), out + Int(lo * cols)) }
            }
        }
        return k
    }

    /// A convolution's multiply-accumulates.
    func convMACs(_ g: ember_conv_geometry) -> Int {
        Int(g.batch) * Int(g.out_h) * Int(g.out_w) * Int(g.out_c) * Int(g.kernel_h) * Int(g.kernel_w)
            * Int(g.in_c / max(g.groups, 1))
    }

    /// An optimized convolution that can also run split across threads (see `convSlices`) when it
    /// has at least `threshold` MACs. `bind` binds one call on the given buffers and geometry; input
    /// and output elements are `elementBytes`.
    /// `inputPixelBytes`: bytes per input pixel when input 0 is not the geometry's (an expanded
    /// depthwise layer reads the pointwise layer's input).
    /// `extraMACs`: work the kernel does beyond the convolution's own (an expanded depthwise layer's
    /// pointwise layer), counted against the threshold.
    func splittableConv(_ implementation: KernelImplementation, scratch: Int, geometry g: UnsafePointer<ember_conv_geometry>,
                        elementBytes: Int, threshold: SplitThreshold, rowMultiple: Int = 1, inputPixelBytes: Int? = nil,
                        extraMACs: Int = 0,
                        _ bind: @escaping (KernelBuffers, UnsafePointer<ember_conv_geometry>) throws -> () -> Void) -> PreparedKernel {
        var k = kernel(implementation, scratch: scratch) { b in try bind(b, g) }
        let geo = g.pointee
        guard convMACs(geo) + extraMACs >= threshold.rawValue else { return k }
        let stride = PreparedKernel.partScratchStride(scratch)
        k.bindParts = { b, parts in
            try convSlices(geo, parts: parts, rowMultiple: rowMultiple).enumerated().map { i, slice in
                var part = b
                let inputBytes = inputPixelBytes.map { slice.input / max(Int(geo.in_c), 1) * $0 } ?? slice.input * elementBytes
                if let input = b.inputs.first ?? nil { part.inputs[0] = input + inputBytes }
                part.output = b.output + slice.output * elementBytes
                part.scratch = b.scratch.map { $0 + i * stride }
                return try bind(part, try b.storage.store(slice.geometry))
            }
        }
        return k
    }

    /// A float weight input as f32: nil means "use the runtime pointer" (f32 data
    /// or a non-constant input); f16 constants are widened once, here.
    func floatOperand(_ i: Int, role: String) throws -> FloatPtr? {
        guard let t = optionalInput(i) else { return nil }
        switch t.dtype {
        case .f32: return nil
        case .f16:
            guard let data = c.inputConstants[i] else { throw unsupported("\(role) is a non-constant f16 tensor") }
            let n = t.elementCount
            let p = try storage.allocate(Float.self, count: n)
            ember_f16_to_f32(Int64(n), data.bytes.baseAddress?.assumingMemoryBound(to: UInt16.self), p)
            return FloatPtr(p)
        default: throw unsupported("\(role) of dtype \(t.dtype) in a float op")
        }
    }

    func prepare() throws -> PreparedKernel {
        let x = try input(0)
        let isQ8 = x.dtype.isQuantized8
        switch c.op {
        case let .conv2D(a): return isQ8 ? try convInt8(a) : try convFloat(a)
        case let .fullyConnected(act): return isQ8 ? try fullyConnectedInt8(act) : try fullyConnectedFloat(act)
        case .matMul: return isQ8 ? try matMulInt8() : try matMulFloat()
        case let .add(act): return isQ8 ? try addInt8(act, subtract: false) : try binary(EMBER_BINARY_ADD, act)
        case let .sub(act): return isQ8 ? try addInt8(act, subtract: true) : try binary(EMBER_BINARY_SUB, act)
        case let .mul(act): return isQ8 ? try mulInt8(act) : try binary(EMBER_BINARY_MUL, act)
        case let .div(act): return isQ8 ? try floatFallback() : try binary(EMBER_BINARY_DIV, act)
        case .relu, .relu6, .leakyRelu, .sigmoid, .tanh, .hardSwish, .gelu:
            return isQ8 ? try unaryInt8() : try unaryFloat()
        case let .softmax(axis, beta): return isQ8 ? try softmaxInt8(axis: axis, beta: beta) : try softmaxFloat(axis: axis, beta: beta)
        case let .averagePool2D(p): return try pool(p, average: true)
        case let .maxPool2D(p): return try pool(p, average: false)
        case let .mean(axes, _): return try mean(axes: axes)
        case .globalAveragePool: return try mean(axes: [1, 2])
        case .reshape: return try reshape()
        case let .transpose(perm): return try transpose(perm)
        case .concat: return try concat()
        case let .pad(before, _): return try pad(before)
        case let .slice(begin, end, strides): return try slice(begin, end, strides)
        case let .layerNorm(axis, eps): return isQ8 ? try floatFallback() : try layerNormFloat(axis: axis, epsilon: eps)
        case let .quantize(to): return try quantize(to)
        case .dequantize: return try dequantize()
        case .maximum: return isQ8 ? try minMaxInt8(maximum: true) : try binary(EMBER_BINARY_MAX, .none)
        case .minimum: return isQ8 ? try minMaxInt8(maximum: false) : try binary(EMBER_BINARY_MIN, .none)
        case .prelu: return isQ8 ? try preluInt8() : try binaryFloat(EMBER_BINARY_PRELU, .none)
        case let .resize(r): return r.bilinear ? (isQ8 ? try resizeBilinearInt8(r) : try resizeBilinear(r)) : try resizeNearest(r)
        case .unary: return isQ8 ? try unaryInt8() : try unaryFloat()
        case let .binary(f):
            if isQ8 { return f == .squaredDifference ? try squaredDifferenceInt8() : try floatFallback() }
            return try binary(f.cOp, .none)
        case let .compare(f): return try compare(f)
        case let .logical(f): return try logical(f)
        case let .reduce(f, axes, _): return try reduce(f, axes: axes)
        case let .argReduce(largest, axis, _): return try argReduce(largest: largest, axis: axis)
        case .select: return try select()
        case .cast: return try cast()
        case let .gather(axis): return try gather(axis: axis)
        case .tile: return try tile()
        case let .mirrorPad(before, _, reflect): return try mirrorPad(before, reflect: reflect)
        case let .transposeConv2D(a): return isQ8 ? try transposeConvInt8(a) : try transposeConvFloat(a)
        case let .fullyConnectedAsymmetricInputs(act): return try fullyConnectedHybridPerChannel(act, asymmetricInputs: true)
        case let .cumSum(axis, exclusive, reverse): return try cumSum(axis: axis, exclusive: exclusive, reverse: reverse)
        case let .topK(k, axis, largest, indices): return try topK(k: k, axis: axis, largest: largest, indices: indices)
        }
    }

    func minMaxInt8(maximum: Bool) throws -> PreparedKernel {
        guard try input(0).dtype == .i8 else { throw unsupported("u8 activations (use i8)") }
        try requireSameQuant(0)
        try requireSameQuant(1)
        let bc = try broadcast()
        let flag: Int32 = maximum ? 1 : 0
        let node = c.nodeName
        return kernel(.minmaxS8Ref) { b in
            let (ap, bp, out) = try int8Pair(b, node)
            return { ember_minmax_s8_ref(bc, ap, bp, flag, out) }
        }
    }

    /// Nearest neighbour copies elements, so it is exact for any dtype.
    func resizeNearest(_ r: ResizeAttributes) throws -> PreparedKernel {
        try requireSameQuant(0)
        let x = try input(0)
        let dims = x.dims.map { Int32($0) }
        let es = elementSize(), ac: Int32 = r.alignCorners ? 1 : 0, hp: Int32 = r.halfPixelCenters ? 1 : 0
        let oh = Int32(r.height), ow = Int32(r.width)
        let node = c.nodeName
        return kernel(.resizeNearestRef) { b in
            let xp = try req(b, 0, node), out = b.output
            return { ember_resize_nearest_ref(es, dims[0], dims[1], dims[2], dims[3], oh, ow, ac, hp, xp, out) }
        }
    }

    func resizeBilinear(_ r: ResizeAttributes) throws -> PreparedKernel {
        let x = try input(0)
        let dims = x.dims.map { Int32($0) }
        let ac: Int32 = r.alignCorners ? 1 : 0, hp: Int32 = r.halfPixelCenters ? 1 : 0
        let oh = Int32(r.height), ow = Int32(r.width)
        let node = c.nodeName
        let (name, run) = simdIfAny("resize_bilinear_f32", { $0.resize_bilinear_f32 })
            ?? (.resizeBilinearF32Ref, ember_resize_bilinear_f32_ref)
        return kernel(name) { b in
            let xp = try req(b, 0, node).assumingMemoryBound(to: Float.self)
            let out = b.output.assumingMemoryBound(to: Float.self)
            return { run(dims[0], dims[1], dims[2], dims[3], oh, ow, ac, hp, xp, out) }
        }
    }

    // MARK: convolution and fully connected

    func convGeometry(_ a: Conv2DAttributes) throws -> ember_conv_geometry {
        let x = try input(0), w = try input(1), o = c.output
        guard let h = windowGeometry(input: x.dims[1], kernel: w.dims[1], stride: a.strideH, dilation: a.dilationH, padding: a.padding, vertical: true),
              let ww = windowGeometry(input: x.dims[2], kernel: w.dims[2], stride: a.strideW, dilation: a.dilationW, padding: a.padding, vertical: false) else {
            throw unsupported("window does not fit")
        }
        var g = ember_conv_geometry()
        g.batch = Int32(x.dims[0]); g.in_h = Int32(x.dims[1]); g.in_w = Int32(x.dims[2]); g.in_c = Int32(x.dims[3])
        g.out_h = Int32(o.dims[1]); g.out_w = Int32(o.dims[2]); g.out_c = Int32(o.dims[3])
        g.kernel_h = Int32(w.dims[1]); g.kernel_w = Int32(w.dims[2])
        g.stride_h = Int32(a.strideH); g.stride_w = Int32(a.strideW)
        g.dilation_h = Int32(a.dilationH); g.dilation_w = Int32(a.dilationW)
        g.pad_top = Int32(h.padBefore); g.pad_left = Int32(ww.padBefore)
        g.groups = Int32(a.groups)
        return g
    }

    func convFloat(_ a: Conv2DAttributes) throws -> PreparedKernel {
        if try input(1).dtype == .i8 { return try convHybrid(a) }
        let g = try storage.store(try convGeometry(a))
        if let isa = c.isa.cISA, let fast = try convFloatFast(a, isa: isa, geometry: g) { return fast }
        let filter = try floatOperand(1, role: "filter"), bias = try floatOperand(2, role: "bias")
        let (lo, hi) = a.activation.range
        let node = c.nodeName
        return kernel(.conv2dF32Ref) { b in
            let (x, f, bi, out) = try layerBuffers(b, node, Float.self, Float.self, Float.self, Float.self,
                                                   weights: filter, preparedBias: bias)
            return { ember_conv2d_f32_ref(g, x, f, bi, lo, hi, out) }
        }
    }

    /// f32 activations with int8 weights (LiteRT's dynamic-range "hybrid" conv):
    /// the input is quantized per batch at run time into scratch.
    func convHybrid(_ a: Conv2DAttributes) throws -> PreparedKernel {
        let wq = try quant(1)
        guard wq.zeroPoints.allSatisfy({ $0 == 0 }) else { throw unsupported("hybrid convolution with asymmetric weights") }
        // Per-channel weights and depthwise layers take LiteRT's per-channel path (asymmetric inputs).
        if !wq.isPerTensor || a.groups > 1 { return try convHybridPerChannel(a, wq) }
        let g = try storage.store(try convGeometry(a))
        if a.groups == 1, let isa = c.isa.cISA, let fast = try convHybridFast(isa: isa, geometry: g, filterScale: wq.scale,
                                                                             range: a.activation.range) {
            return fast
        }
        let bias = try floatOperand(2, role: "bias")
        let (lo, hi) = a.activation.range
        let filterScale = wq.scale
        let node = c.nodeName
        return kernel(.conv2dHybridRef, scratch: try input(0).elementCount) { b in
            let (x, f, bi, out) = try layerBuffers(b, node, Float.self, Int8.self, Float.self, Float.self, preparedBias: bias)
            let scratch = try scratchBuffer(b, node, Int8.self)
            return { ember_conv2d_hybrid_ref(g, x, f, filterScale, bi, lo, hi, scratch, out) }
        }
    }

    /// The hybrid convolution on the int8 GEMM kernels: weights packed with input zero point 0 (the
    /// input is quantized symmetrically), f32 bias and activation range in the float output stage.
    func convHybridFast(isa: Int32, geometry g: UnsafePointer<ember_conv_geometry>, filterScale: Float,
                        range: (min: Float, max: Float)) throws -> PreparedKernel? {
        guard let filter = c.inputConstants[1] else { return nil }
        let w = try input(1), outC = c.output.dims[3], node = c.nodeName
        let k = w.dims[1] * w.dims[2] * w.dims[3]
        // A bias computed at run time: reference path.
        guard let hybrid = try packHybrid(isa: isa, k: k, n: outC, weights: filter, filterScale: filterScale, range: range,
                                          runs: ember_conv_k_runs(isa, g))
        else { return nil }
        let (name, run) = try simd("conv2d_hybrid") { $0.conv2d_hybrid }
        let scratch = Int(ember_hybrid_conv_scratch_bytes(isa, g))
        var prepared = kernel(name, scratch: scratch) { b in
            let x = try req(b, 0, node).assumingMemoryBound(to: Float.self)
            let out = b.output.assumingMemoryBound(to: Float.self)
            let s = try scratchBuffer(b, node, UInt8.self)
            return { run(g, x, hybrid, s, out) }
        }
        // Split across threads as the int8 convolutions are, but each part quantizes whole images (the
        // scale is an image's max |x|): rows of one image, or whole images of a batch.
        let geo = g.pointee, image = Int64(geo.in_h) * Int64(geo.in_w) * Int64(geo.in_c)
        // Row parts of one image each quantize all of it (~50 MACs' time per element on AVX-512), so
        // they pay only when the GEMM does several times that per input element (kws's 64→64 pointwise
        // layers do 64 and measured slower split: 4.6 → 5.9 µs on two threads, one noisy run).
        let macsPerInput = convMACs(geo) / max(Int(image) * Int(geo.batch), 1)
        guard convMACs(geo) >= SplitThreshold.int8GEMM.rawValue, geo.batch > 1 || macsPerInput >= 256 else { return prepared }
        let stride = PreparedKernel.partScratchStride(scratch)
        prepared.bindParts = { b, parts in
            try convSlices(geo, parts: parts).enumerated().map { i, slice in
                let x = try req(b, 0, node).assumingMemoryBound(to: Float.self)
                let out = b.output.assumingMemoryBound(to: Float.self) + slice.output
                guard let s = b.scratch.map({ $0 + i * stride }) else {
                    throw EmberError.invalidGraph(node: node, reason: "no scratch buffer was planned")
                }
                let part = try b.storage.store(slice.geometry)
                // A batch split hands out whole images; a row split reads its rows of the one image.
                let (first, offset) = geo.batch != 1 ? (slice.input, 0) : (0, Int64(slice.input))
                return { ember_conv2d_hybrid_part(isa, part, image, offset, x + first, hybrid, s, out) }
            }
        }
        return prepared
    }

    /// The int8 GEMM of a dynamic-range conv or FC: weights packed with input zero point 0 (the input is
    /// quantized symmetrically), the f32 bias and activation range in the float output stage. Nil when
    /// the bias is not a constant.
    func packHybrid(isa: Int32, k: Int, n: Int, weights: ConstantData, filterScale: Float,
                    range: (min: Float, max: Float), runs: ember_k_runs? = nil) throws -> UnsafePointer<ember_qs8_gemm>? {
        let np = Int(ember_n_padded(isa, Int32(n)))
        guard let bias = try paddedBias(count: n, padded: np) else { return nil }
        // The float output stage never reads the requantization arrays.
        var gemm = try packQS8(isa: isa, k: k, n: n, weights: weights, bias: nil, requant: try unreadRequant(count: np),
                               singleRounding: false, runs: runs).pointee
        gemm.float_output = 1; gemm.filter_scale = filterScale
        gemm.float_min = range.min; gemm.float_max = range.max
        gemm.float_bias = c.inputs.count > 2 && c.inputs[2] != nil ? bias : nil
        return try storage.store(gemm)
    }

    /// A requantization record for a GEMM whose output stage never reads it (float or int32 output):
    /// `count` zero multipliers and shifts, and the input zero point the packing folds into the bias.
    func unreadRequant(count: Int, inputZeroPoint: Int32 = 0) throws -> UnsafePointer<ember_requant> {
        let zeros = try storage.allocate(Int32.self, count: count)
        zeros.initialize(repeating: 0, count: count)
        var r = ember_requant()
        r.input_offset = -inputZeroPoint
        r.multiplier = UnsafePointer(zeros); r.shift = UnsafePointer(zeros)
        return try storage.store(r)
    }

    /// Per-output-channel requantization (TFLite PopulateConvolutionQuantizationParams).
    func requant(outputChannels: Int, activation: Activation) throws -> UnsafePointer<ember_requant> {
        let inQ = try perTensorQuant(0), wQ = try quant(1), oQ = try outQuant()
        guard c.output.dtype == .i8, (try input(1)).dtype == .i8 else { throw unsupported("int8 needs i8 weights and output") }
        guard wQ.zeroPoints.allSatisfy({ $0 == 0 }) else { throw unsupported("weights with a non-zero zero point") }
        guard wQ.isPerTensor || (wQ.axis == 0 && wQ.scales.count == outputChannels) else {
            throw unsupported("weights quantized per axis \(wQ.axis ?? -1); only per output channel (axis 0) is supported")
        }
        if let bias = optionalInput(2), bias.dtype != .i32 { throw unsupported("int8 op with a \(bias.dtype) bias (needs i32)") }
        let mult = try storage.allocate(Int32.self, count: outputChannels)
        let shift = try storage.allocate(Int32.self, count: outputChannels)
        for o in 0..<outputChannels {
            let fs = wQ.isPerTensor ? wQ.scale : wQ.scales[o]
            let real = Double(inQ.scale) * Double(fs) / Double(oQ.scale)
            let (m, s) = quantizeMultiplier(real)
            mult[o] = m; shift[o] = s
        }
        let (lo, hi) = activationRangeInt8(activation, oQ)
        var r = ember_requant()
        r.input_offset = -inQ.zeroPoint
        r.output_offset = oQ.zeroPoint
        r.multiplier = UnsafePointer(mult)
        r.shift = UnsafePointer(shift)
        r.act_min = lo; r.act_max = hi
        if oQ.requantization == .float {
            // ORT's QLinearConv output scales: X_scale · W_scale / Y_scale, in float, left to right.
            let scales = try storage.allocate(Float.self, count: outputChannels)
            for o in 0..<outputChannels { scales[o] = inQ.scale * (wQ.isPerTensor ? wQ.scale : wQ.scales[o]) / oQ.scale }
            r.scale = UnsafePointer(scales)
        }
        return try storage.store(r)
    }

    /// `q`'s float requantization scales padded to `padded` channels (zeros after the last), for the
    /// packed kernels; nil for fixed-point requantization.
    func paddedRequantScales(_ q: ember_requant, count n: Int, padded: Int) throws -> UnsafePointer<Float>? {
        guard let scale = q.scale else { return nil }
        let p = try storage.allocate(Float.self, count: padded)
        for i in 0..<padded { p[i] = i < n ? scale[i] : 0 }
        return UnsafePointer(p)
    }

    func convInt8(_ a: Conv2DAttributes) throws -> PreparedKernel {
        guard try input(0).dtype == .i8 else { throw unsupported("u8 activations (use i8)") }
        let g = try storage.store(try convGeometry(a))
        let q = try requant(outputChannels: c.output.dims[3], activation: a.activation)
        if let isa = c.isa.cISA, let fast = try convInt8Fast(a, isa: isa, geometry: g, requant: q) { return fast }
        let node = c.nodeName
        return kernel(.conv2dS8Ref) { b in
            let (x, f, bi, out) = try layerBuffers(b, node, Int8.self, Int8.self, Int32.self, Int8.self)
            return { ember_conv2d_s8_ref(g, x, f, bi, q, out) }
        }
    }

    // MARK: optimized convolution and fully connected (weights packed here, once)

    /// Constant float input `i` for packing: `body` gets its values as f32 — in place for
    /// f32, widened into a temporary that is gone after packing for f16 (so only the packed
    /// copy stays in prepared memory) — or nil when the input is absent. nil, without calling
    /// `body`, when the input is there but not a constant f32/f16 tensor.
    func withPackingFloats<R>(_ i: Int, _ body: (FloatPtr?) throws -> R) throws -> R? {
        guard let t = optionalInput(i) else { return try body(nil) }
        guard i < c.inputConstants.count, let d = c.inputConstants[i] else { return nil }
        switch t.dtype {
        case .f32: return try body(d.bytes.baseAddress?.assumingMemoryBound(to: Float.self))
        case .f16:
            var wide = [Float](repeating: 0, count: t.elementCount)
            ember_f16_to_f32(Int64(wide.count), d.bytes.baseAddress?.assumingMemoryBound(to: UInt16.self), &wide)
            return try wide.withUnsafeBufferPointer { try body($0.baseAddress) }
        default: return nil
        }
    }

    /// The weights (input 1) and optional bias (input 2) of a float conv or FC for packing, as above.
    func withPackingWeightsAndBias<R>(_ body: (FloatPtr, FloatPtr?) throws -> R) throws -> R? {
        let packed: R?? = try withPackingFloats(1) { weights in
            guard let weights else { return nil }
            return try withPackingFloats(2) { bias in try body(weights, bias) }
        }
        return packed ?? nil
    }

    /// The bias input's data: `.some(nil)` when there is no bias, nil when it is not a constant
    /// (the optimized kernels fold the bias into packed parameters, so it must be known now).
    func constantBias<T>(_ type: T.Type) throws -> UnsafePointer<T>?? {
        guard c.inputs.count > 2, c.inputs[2] != nil else { return .some(nil) }
        guard let d = c.inputConstants[2] else { return nil }
        return .some(d.bytes.baseAddress?.assumingMemoryBound(to: T.self))
    }

    /// The int8 GEMM of k × n weights [n][k], packed as `runs` says (a convolution's ember_conv_k_runs;
    /// one run of k for a fully connected layer).
    func packQS8(isa: Int32, k: Int, n: Int, weights: ConstantData, bias: UnsafePointer<Int32>?,
                 requant q: UnsafePointer<ember_requant>, singleRounding: Bool,
                 runs: ember_k_runs? = nil) throws -> UnsafePointer<ember_qs8_gemm> {
        try packQS8(isa: isa, k: k, n: n, weights: weights.bytes.baseAddress?.assumingMemoryBound(to: Int8.self), bias: bias,
                    requant: q, singleRounding: singleRounding, runs: runs)
    }

    /// The same from weights in memory.
    func packQS8(isa: Int32, k: Int, n: Int, weights: UnsafePointer<Int8>?, bias: UnsafePointer<Int32>?,
                 requant q: UnsafePointer<ember_requant>, singleRounding: Bool,
                 runs: ember_k_runs? = nil) throws -> UnsafePointer<ember_qs8_gemm> {
        try packQS8(isa: isa, k: k, n: n, bias: bias, requant: q, singleRounding: singleRounding, runs: runs) { body in
            body(weights)
        }
    }

    /// The same from weights made only when they are packed here (`withWeights` hands them to its body): a
    /// package's pre-packed blob for this layer skips making them (a reordered copy, say).
    func packQS8(isa: Int32, k: Int, n: Int, bias: UnsafePointer<Int32>?, requant q: UnsafePointer<ember_requant>,
                 singleRounding: Bool, runs: ember_k_runs? = nil,
                 withWeights: ((UnsafePointer<Int8>?) -> Void) -> Void) throws -> UnsafePointer<ember_qs8_gemm> {
        let runs = runs ?? ember_k_runs(runs: 1, length: Int32(k))
        guard Int(runs.runs) * Int(runs.length) == k else {
            throw EmberError.invalidGraph(node: c.nodeName,
                                          reason: "weight runs \(runs.runs)×\(runs.length) do not make k = \(k)")
        }
        let np = Int(ember_n_padded(isa, Int32(n)))
        let r = q.pointee
        let (pm, ps) = try paddedMultipliers(r, count: n, padded: np)
        let packed = try packedWeights(.int8GEMM, params: [Int32(k), Int32(n), runs.runs, runs.length, -r.input_offset],
                                       parts: [Int(ember_qs8_packed_bytes_runs(isa, runs, Int32(n))), np * 4]) { p in
            withWeights { weights in
                ember_qs8_pack_runs(isa, runs, Int32(n), weights, bias, r.multiplier, r.shift, -r.input_offset, p[0],
                                    p[1].assumingMemoryBound(to: Int32.self), pm, ps)
            }
        }
        var g = ember_qs8_gemm()
        g.k = Int32(k); g.k_padded = ember_qs8_k_padded_runs(isa, runs); g.n = Int32(n); g.n_padded = Int32(np)
        g.weights = packed[0]; g.bias = packed[1].assumingMemoryBound(to: Int32.self)
        g.multiplier = UnsafePointer(pm); g.shift = UnsafePointer(ps)
        g.input_zero_point = -r.input_offset; g.output_offset = r.output_offset; g.act_min = r.act_min; g.act_max = r.act_max
        g.single_rounding = singleRounding ? 1 : 0
        g.requant_scale = try paddedRequantScales(r, count: n, padded: np)
        return try storage.store(g)
    }

    func packF32(isa: Int32, k: Int, n: Int, weights: FloatPtr, bias: FloatPtr?, range: (Float, Float),
                 post: (Int32, Float)) throws -> UnsafePointer<ember_f32_gemm> {
        let (packed, pb) = try packedF32GEMM(isa: isa, k: k, n: n) {
            ember_f32_pack(isa, Int32(k), Int32(n), weights, bias, $0, $1)
        }
        return try storage.store(ember_f32_gemm(k: Int32(k), n: Int32(n), n_padded: ember_n_padded(isa, Int32(n)),
                                                weights: packed, bias: pb, act_min: range.0, act_max: range.1, weights_f16: nil,
                                                post_unary: post.0, post_alpha: post.1))
    }

    /// The f32 GEMM panels and padded bias of a k × n layer (packedWeights' `.floatGEMM`), `pack` filling
    /// them (ember_f32_pack, or a reordering before it) when the package has not.
    func packedF32GEMM(isa: Int32, k: Int, n: Int, pack: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void)
        throws -> (weights: UnsafePointer<Float>, bias: UnsafePointer<Float>) {
        let np = Int(ember_n_padded(isa, Int32(n)))
        let p = try packedWeights(.floatGEMM, params: [Int32(k), Int32(n)], parts: [np * k * 4, np * 4]) { p in
            pack(p[0].assumingMemoryBound(to: Float.self), p[1].assumingMemoryBound(to: Float.self))
        }
        return (p[0].assumingMemoryBound(to: Float.self), p[1].assumingMemoryBound(to: Float.self))
    }

    /// The requantization multipliers and shifts padded with zeros to `padded` channels.
    func paddedMultipliers(_ r: ember_requant, count n: Int, padded: Int) throws
        -> (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) {
        let pm = try storage.allocate(Int32.self, count: padded), ps = try storage.allocate(Int32.self, count: padded)
        for o in 0..<padded {
            pm[o] = o < n ? r.multiplier[o] : 0
            ps[o] = o < n ? r.shift[o] : 0
        }
        return (pm, ps)
    }

    /// The context's fused activation as the kernels' (post_unary, post_alpha): ember_unary_op + 1, or 0.
    var postUnaryFields: (Int32, Float) {
        guard let p = c.postUnary else { return (0, 0) }
        return (Int32(p.op.rawValue) + 1, p.alpha)
    }

    /// Input `i`'s data as IEEE halves when it is a constant f16 tensor (an fp16 rung's weights), else nil.
    func constantHalves(_ i: Int) -> UnsafePointer<UInt16>? {
        guard let t = optionalInput(i), t.dtype == .f16, i < c.inputConstants.count, let d = c.inputConstants[i] else { return nil }
        return d.bytes.baseAddress?.assumingMemoryBound(to: UInt16.self)
    }

    /// The bias (input 2) widened and padded to `padded` floats (zeros without one); nil when it is not constant.
    func paddedBias(count n: Int, padded: Int) throws -> UnsafePointer<Float>? {
        let packed: UnsafePointer<Float>?? = try withPackingFloats(2) { bias in
            let pb = try storage.allocate(Float.self, count: padded)
            for i in 0..<padded { pb[i] = i < n ? (bias?[i] ?? 0) : 0 }
            return UnsafePointer(pb)
        }
        return packed ?? nil
    }

    /// The packed weights of a float conv or FC: f16 weights (fp16 rungs) stay halves in the packed
    /// layout — half the resident bytes of f32, widened in registers as the tiles load them — and
    /// f32 ones stay f32. Nil when the weights or bias are not constants.
    /// The context's postUnary goes with them (its callers, the conv and FC kernels, apply it and say so).
    func packFloatGEMM(isa: Int32, k: Int, n: Int, range: (Float, Float)) throws -> UnsafePointer<ember_f32_gemm>? {
        let fields = postUnaryFields
        guard let halves = constantHalves(1) else {
            return try withPackingWeightsAndBias {
                try packF32(isa: isa, k: k, n: n, weights: $0, bias: $1, range: range, post: fields)
            }
        }
        let np = Int(ember_n_padded(isa, Int32(n)))
        guard let bias = try paddedBias(count: n, padded: np) else { return nil }
        let packed = try packedWeights(.halfGEMM, params: [Int32(k), Int32(n)], parts: [np * k * 2]) { p in
            ember_f16_pack(isa, Int32(k), Int32(n), halves, p[0].assumingMemoryBound(to: UInt16.self))
        }
        return try storage.store(ember_f32_gemm(k: Int32(k), n: Int32(n), n_padded: Int32(np), weights: nil, bias: bias,
                                                act_min: range.0, act_max: range.1,
                                                weights_f16: packed[0].assumingMemoryBound(to: UInt16.self),
                                                post_unary: fields.0, post_alpha: fields.1))
    }

    /// Depthwise with one output per input channel, in the channels-vectorized kernels.
    func isDepthwise(_ a: Conv2DAttributes) throws -> Bool {
        let inC = try input(0).dims[3]
        return a.groups == inC && c.output.dims[3] == inC && a.groups > 1
    }

    func convInt8Fast(_ a: Conv2DAttributes, isa: Int32, geometry g: UnsafePointer<ember_conv_geometry>,
                      requant q: UnsafePointer<ember_requant>) throws -> PreparedKernel? {
        guard let filter = c.inputConstants[1], let bias = try constantBias(Int32.self) else { return nil }
        let w = try input(1), outC = c.output.dims[3], node = c.nodeName
        if a.groups == 1 {
            let k = w.dims[1] * w.dims[2] * w.dims[3]
            let (name, run) = try simd("conv2d_s8") { $0.conv2d_s8 }
            let gemm = try packQS8(isa: isa, k: k, n: outC, weights: filter, bias: bias, requant: q, singleRounding: false,
                                   runs: ember_conv_k_runs(isa, g))
            return splittableConv(name, scratch: Int(ember_conv_scratch_bytes(isa, g, 1)), geometry: g, elementBytes: 1,
                                  threshold: .int8GEMM) { b, g in
                let x = try req(b, 0, node).assumingMemoryBound(to: Int8.self)
                let out = b.output.assumingMemoryBound(to: Int8.self)
                let s = try scratchBuffer(b, node, UInt8.self)
                return { run(g, x, gemm, s, out) }
            }
        }
        guard try isDepthwise(a) else { return nil }
        let cp = Int(ember_n_padded(isa, Int32(outC)))
        let r = q.pointee
        let (pm, ps) = try paddedMultipliers(r, count: outC, padded: cp)
        var packedH: Int32 = 0, packedW: Int32 = 0
        ember_dw_s8_packed_kernel(isa, g, &packedH, &packedW)
        let geo = g.pointee
        let packed = try packedWeights(.int8Depthwise,
                                       params: [geo.kernel_h, geo.kernel_w, geo.in_c, packedH, packedW, -r.input_offset],
                                       parts: [Int(ember_dw_s8_weight_bytes(isa, g)), cp * 4]) { p in
            ember_dw_pack_s8(isa, g, filter.bytes.baseAddress?.assumingMemoryBound(to: Int8.self), bias,
                             r.multiplier, r.shift, -r.input_offset, p[0], p[1].assumingMemoryBound(to: Int32.self), pm, ps)
        }
        // AVX-512 reads the weights as quads of taps, the other ISAs as int32 (ember_qs8_dw).
        let slots = ember_dw_s8_slot_taps(isa) > 0
        let dw = try storage.store(ember_qs8_dw(c_padded: Int32(cp),
                                                weights: slots ? nil : packed[0].assumingMemoryBound(to: Int32.self),
                                                bias: packed[1].assumingMemoryBound(to: Int32.self),
                                                multiplier: UnsafePointer(pm), shift: UnsafePointer(ps),
                                                input_zero_point: -r.input_offset, output_offset: r.output_offset,
                                                act_min: r.act_min, act_max: r.act_max,
                                                requant_scale: try paddedRequantScales(r, count: outC, padded: cp),
                                                slots: slots ? packed[0] : nil))
        let (name, run) = try simd("dwconv2d_s8") { $0.dwconv2d_s8 }
        let scratch = Int(ember_dwconv_scratch_bytes(isa, g, 1))
        return splittableConv(name, scratch: scratch, geometry: g, elementBytes: 1, threshold: .depthwise) { b, g in
            let x = try req(b, 0, node).assumingMemoryBound(to: Int8.self)
            let out = b.output.assumingMemoryBound(to: Int8.self)
            let s = scratch > 0 ? UnsafeMutableRawPointer(try scratchBuffer(b, node, UInt8.self)) : nil
            return { run(g, x, dw, s, out) }
        }
    }

    /// Whether a convolution runs faster in Winograd F(2×2, 3×3) form: 3×3, stride 1, no dilation, one
    /// group; enough channels that the transforms (per tile and channel) are small beside the 16 GEMMs
    /// (per tile and channel pair); and a transformed filter (64·in_c·out_c bytes) of at most 4 MiB.
    /// Larger filters stream from memory once per block: ResNet-18's 512-channel 7×7 layers (16 MiB)
    /// ran at half the direct kernel's rate, its 256-channel ones (4 MiB) 10–20 % above it.
    static func winogradPays(_ g: ember_conv_geometry) -> Bool {
        g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dilation_h == 1
            && g.dilation_w == 1 && g.groups == 1 && g.in_c >= 8 && g.out_c >= 8
            && 64 * Int(g.in_c) * Int(g.out_c) <= 4 << 20
    }

    /// A 3×3 stride-1 f32 convolution as Winograd F(2×2, 3×3) where winogradPays, the ISA has the kernel
    /// and the weights are f32 constants (an fp16 rung keeps its halves in the direct kernel: the
    /// transformed filter would be 16/9 of the f32 bytes). The transformed filter is 16/9 of the
    /// direct kernel's packed bytes.
    func convFloatWinograd(isa: Int32, geometry g: UnsafePointer<ember_conv_geometry>,
                           range: (min: Float, max: Float)) throws -> PreparedKernel? {
        let geo = g.pointee, node = c.nodeName
        guard Self.winogradPays(geo), constantHalves(1) == nil,
              let (name, run) = simdIfAny("conv2d_winograd_f32", { $0.conv2d_winograd_f32 }) else { return nil }
        let packed = try withPackingWeightsAndBias { filter, bias -> UnsafePointer<ember_winograd_f32> in
            let np = Int(ember_n_padded(isa, geo.out_c))
            let zeros = try storage.allocate(Float.self, count: np)
            zeros.initialize(repeating: 0, count: np)
            let floats = Int(ember_winograd_f32_packed_floats(isa, geo.in_c, geo.out_c))
            let p = try packedWeights(.floatWinograd, params: [geo.in_c, geo.out_c], parts: [floats * 4, np * 4]) { p in
                ember_winograd_f32_pack(isa, geo.in_c, geo.out_c, filter, bias, p[0].assumingMemoryBound(to: Float.self),
                                        p[1].assumingMemoryBound(to: Float.self))
            }
            var w = ember_winograd_f32()
            ember_winograd_f32_describe(isa, geo.in_c, geo.out_c, p[0].assumingMemoryBound(to: Float.self),
                                        p[1].assumingMemoryBound(to: Float.self), zeros, range.min, range.max, &w)
            return try storage.store(w)
        }
        guard let w = packed else { return nil }
        return splittableConv(name, scratch: Int(ember_winograd_scratch_bytes(isa, g)), geometry: g, elementBytes: 4,
                              threshold: .floatGEMM, rowMultiple: 2) { b, g in
            let x = try req(b, 0, node).assumingMemoryBound(to: Float.self)
            let out = b.output.assumingMemoryBound(to: Float.self)
            let s = try scratchBuffer(b, node, UInt8.self)
            return { run(g, x, w, s, out) }
        }
    }

    func convFloatFast(_ a: Conv2DAttributes, isa: Int32, geometry g: UnsafePointer<ember_conv_geometry>) throws -> PreparedKernel? {
        let w = try input(1), outC = c.output.dims[3], node = c.nodeName
        let range = a.activation.range
        if a.groups == 1 {
            if let winograd = try convFloatWinograd(isa: isa, geometry: g, range: range) { return winograd }
            let k = w.dims[1] * w.dims[2] * w.dims[3]
            guard let gemm = try packFloatGEMM(isa: isa, k: k, n: outC, range: range) else { return nil }
            let (name, run) = try simd("conv2d_f32") { $0.conv2d_f32 }
            var conv = splittableConv(name, scratch: Int(ember_conv_scratch_bytes(isa, g, 0)), geometry: g,
                                      elementBytes: 4, threshold: .floatGEMM) { b, g in
                let x = try req(b, 0, node).assumingMemoryBound(to: Float.self)
                let out = b.output.assumingMemoryBound(to: Float.self)
                let s = try scratchBuffer(b, node, UInt8.self)
                return { run(g, x, gemm, s, out) }
            }
            conv.appliesPostUnary = c.postUnary != nil
            if g.pointee.isPointwise { conv.pointwiseGEMM = gemm }  // a depthwise consumer may run it (PointwiseExpansion)
            return conv
        }
        guard try isDepthwise(a) else { return nil }
        let taps = w.dims[1] * w.dims[2], cp = Int(ember_n_padded(isa, Int32(outC)))
        // The x86 kernels read their input rows through a window, which can compute them (PointwiseExpansion).
        let expand = (isa == EMBER_ISA_AVX512 || isa == EMBER_ISA_AVX2) ? c.expandedFrom : nil
        let packed: UnsafePointer<ember_f32_dw>?
        if let halves = constantHalves(1) {   // an fp16 rung: the filter stays halves
            guard let bias = try paddedBias(count: outC, padded: cp) else { return nil }
            let pw = try packedWeights(.halfDepthwise, params: [Int32(taps), Int32(outC)], parts: [taps * cp * 2]) { p in
                ember_dw_pack_f16(isa, Int32(taps), Int32(outC), halves, p[0].assumingMemoryBound(to: UInt16.self))
            }
            packed = try storage.store(ember_f32_dw(c_padded: Int32(cp), weights: nil, bias: bias, act_min: range.min,
                                                    act_max: range.max, weights_f16: pw[0].assumingMemoryBound(to: UInt16.self),
                                                    post_unary: postUnaryFields.0, post_alpha: postUnaryFields.1,
                                                    expand: expand))
        } else {
            packed = try withPackingWeightsAndBias { filter, bias -> UnsafePointer<ember_f32_dw> in
                let p = try packedWeights(.floatDepthwise, params: [Int32(taps), Int32(outC)],
                                          parts: [taps * cp * 4, cp * 4]) { p in
                    ember_dw_pack_f32(isa, Int32(taps), Int32(outC), filter, bias, p[0].assumingMemoryBound(to: Float.self),
                                      p[1].assumingMemoryBound(to: Float.self))
                }
                return try storage.store(ember_f32_dw(c_padded: Int32(cp), weights: p[0].assumingMemoryBound(to: Float.self),
                                                      bias: p[1].assumingMemoryBound(to: Float.self),
                                                      act_min: range.min, act_max: range.max, weights_f16: nil,
                                                      post_unary: postUnaryFields.0, post_alpha: postUnaryFields.1,
                                                      expand: expand))
            }
        }
        guard let dw = packed else { return nil }
        let (name, run) = try simd("dwconv2d_f32") { $0.dwconv2d_f32 }
        let scratch = Int(ember_dwconv_scratch_bytes(isa, g, 0))
        let geo = g.pointee
        let expandMACs = expand.map { Int(geo.batch) * Int(geo.in_h) * Int(geo.in_w) * Int(geo.in_c) * Int($0.pointee.k) } ?? 0
        var k = splittableConv(name, scratch: scratch, geometry: g, elementBytes: 4, threshold: .floatDepthwise,
                               inputPixelBytes: expand.map { Int($0.pointee.k) * 4 }, extraMACs: expandMACs) { b, g in
            let x = try req(b, 0, node).assumingMemoryBound(to: Float.self)
            let out = b.output.assumingMemoryBound(to: Float.self)
            let s = scratch > 0 ? UnsafeMutableRawPointer(try scratchBuffer(b, node, UInt8.self)) : nil
            return { run(g, x, dw, s, out) }
        }
        k.appliesPostUnary = c.postUnary != nil
        k.consumesExpansion = expand != nil
        return k
    }

    /// f32 activations with int8 weights (LiteRT's dynamic-range FC with symmetric inputs): each row
    /// is quantized at run time into scratch.
    func fullyConnectedHybrid(_ act: Activation) throws -> PreparedKernel {
        let w = try input(1), wq = try quant(1)
        guard wq.zeroPoints.allSatisfy({ $0 == 0 }) else { throw unsupported("hybrid fully connected with asymmetric weights") }
        if !wq.isPerTensor { return try fullyConnectedHybridPerChannel(act, asymmetricInputs: false) }
        guard w.dims.count == 2, let weights = c.inputConstants[1] else { throw unsupported("hybrid weights must be a constant [N,K]") }
        let n = w.dims[0], k = w.dims[1], rows = Int64(c.output.elementCount / max(n, 1))
        let (lo, hi) = act.range, node = c.nodeName, filterScale = wq.scale
        if let isa = c.isa.cISA {
            guard let hybrid = try packHybrid(isa: isa, k: k, n: n, weights: weights, filterScale: filterScale, range: (lo, hi))
            else { throw unsupported("a hybrid FC bias that is not constant") }
            let (name, run) = try simd("fully_connected_hybrid") { $0.fully_connected_hybrid }
            let scratch = Int(ember_hybrid_scratch_bytes(isa, Int64(k), Int32(k)))
            var prepared = kernel(name, scratch: scratch) { b in
                let x = try req(b, 0, node).assumingMemoryBound(to: Float.self)
                let out = b.output.assumingMemoryBound(to: Float.self)
                let s = try scratchBuffer(b, node, UInt8.self)
                return { run(rows, x, hybrid, s, out) }
            }
            if rows == 1 {
                prepared.bindParts = int8GEMVParts(isa: isa, gemm: hybrid, scratch: scratch) { x, w, s, out in
                    run(1, x.assumingMemoryBound(to: Float.self), w, s, out.assumingMemoryBound(to: Float.self))
                }
            }
            return prepared
        }
        let bias = try floatOperand(2, role: "bias")
        return kernel(.fullyConnectedHybridRef, scratch: k) { b in
            let (x, wp, bi, out) = try layerBuffers(b, node, Float.self, Int8.self, Float.self, Float.self, preparedBias: bias)
            let s = try scratchBuffer(b, node, Int8.self)
            return { ember_fully_connected_hybrid_ref(rows, Int32(k), Int32(n), x, wp, filterScale, bi, lo, hi, s, out) }
        }
    }

    /// A one-row fully connected layer (a GEMV) split across threads by output panels of `lanes`
    /// channels: each part reads only its panels' weights (so two cores hold half of a large layer each
    /// in their own L2, and a compute-bound one — int4 — gets both cores) and computes its outputs
    /// exactly as the whole layer does. `part(range, buffers)` makes the kernel's weights for its outputs
    /// and returns the part's run, given the layer's input, the part's scratch and its first output.
    /// Nil below splitGEMVWeightBytes of weights, where the hand-off costs more than the part saves.
    func gemvParts(outputs: Int, lanes: Int, weightBytes: Int, scratch: Int, outputElementBytes: Int,
                   part: @escaping (GEMVPart, KernelBuffers) throws
                       -> (UnsafeRawPointer, UnsafeMutableRawPointer?, UnsafeMutableRawPointer) -> Void)
        -> ((KernelBuffers, Int) throws -> [() -> Void])? {
        let panels = (outputs + lanes - 1) / max(lanes, 1)
        guard panels >= 2, weightBytes >= Self.splitGEMVWeightBytes else { return nil }
        let node = c.nodeName, stride = PreparedKernel.partScratchStride(scratch)
        return { b, parts in
            let x = UnsafeRawPointer(try req(b, 0, node))
            let n = max(1, min(parts, panels))
            return try (0..<n).map { i in
                let first = panels * i / n, last = panels * (i + 1) / n
                let column = first * lanes
                let range = GEMVPart(panel: first, first: column, count: min(outputs, last * lanes) - column,
                                     padded: (last - first) * lanes)
                let run = try part(range, b)
                let s = scratch > 0 ? try scratchBuffer(b, node, UInt8.self) + i * stride : nil
                let out = b.output + range.first * outputElementBytes
                return { run(x, s.map(UnsafeMutableRawPointer.init), out) }
            }
        }
    }

    /// One part of a split GEMV: its first panel and output, its outputs, and those padded to whole panels.
    struct GEMVPart {
        let panel, first, count, padded: Int
    }

    /// gemvParts for an f32 GEMM (f32 or IEEE-half weights, [panels][k][lanes]).
    func floatGEMVParts(isa: Int32, gemm: UnsafePointer<ember_f32_gemm>,
                        run: @escaping (UnsafePointer<Float>, UnsafePointer<ember_f32_gemm>, UnsafeMutablePointer<Float>) -> Void)
        -> ((KernelBuffers, Int) throws -> [() -> Void])? {
        let w = gemm.pointee
        let weightBytes = Int(w.k) * Int(w.n_padded) * (w.weights_f16 != nil ? 2 : 4)
        return gemvParts(outputs: Int(w.n), lanes: Int(ember_isa_lanes(isa)), weightBytes: weightBytes, scratch: 0,
                         outputElementBytes: 4) { range, b in
            var part = w
            part.n = Int32(range.count)
            part.n_padded = Int32(range.padded)
            part.weights = w.weights.map { $0 + range.first * Int(w.k) }
            part.weights_f16 = w.weights_f16.map { $0 + range.first * Int(w.k) }
            part.bias = w.bias.map { $0 + range.first }
            let stored = try b.storage.store(part)
            return { x, _, out in run(x.assumingMemoryBound(to: Float.self), stored, out.assumingMemoryBound(to: Float.self)) }
        }
    }

    /// gemvParts for an int8 GEMM (int8 or hybrid output: per-channel constants and the f32 bias offset
    /// with the panels); each part flips (or quantizes) the whole input row into its own scratch.
    func int8GEMVParts(isa: Int32, gemm: UnsafePointer<ember_qs8_gemm>, scratch: Int,
                       run: @escaping (UnsafeRawPointer, UnsafePointer<ember_qs8_gemm>, UnsafeMutableRawPointer?,
                                       UnsafeMutableRawPointer) -> Void)
        -> ((KernelBuffers, Int) throws -> [() -> Void])? {
        let w = gemm.pointee, lanes = Int(ember_isa_lanes(isa))
        let panelBytes = Int(ember_qs8_packed_bytes(isa, w.k, Int32(lanes)))
        return gemvParts(outputs: Int(w.n), lanes: lanes, weightBytes: panelBytes * Int(w.n_padded) / max(lanes, 1),
                         scratch: scratch, outputElementBytes: w.float_output != 0 ? 4 : 1) { range, b in
            var part = w
            part.n = Int32(range.count)
            part.n_padded = Int32(range.padded)
            part.weights = w.weights.map { $0 + range.panel * panelBytes }
            part.bias = w.bias.map { $0 + range.first }
            part.multiplier = w.multiplier.map { $0 + range.first }
            part.shift = w.shift.map { $0 + range.first }
            part.requant_scale = w.requant_scale.map { $0 + range.first }
            part.float_bias = w.float_bias.map { $0 + range.first }
            let stored = try b.storage.store(part)
            return { x, s, out in run(x, stored, s, out) }
        }
    }

    func fullyConnectedFloat(_ act: Activation) throws -> PreparedKernel {
        if try input(1).dtype == .i8 { return try fullyConnectedHybrid(act) }
        let w = try input(1)
        let outF = Int32(w.dims[0]), inF = Int32(w.dims[1])
        let rows = Int64(c.output.elementCount / max(w.dims[0], 1))
        let (lo, hi) = act.range
        let node = c.nodeName
        if w.dtype != .int4Block32, let isa = c.isa.cISA,
           let gemm = try packFloatGEMM(isa: isa, k: Int(inF), n: Int(outF), range: (lo, hi)) {
            let (name, run) = try simd("fully_connected_f32") { $0.fully_connected_f32 }
            var k = kernel(name) { b in
                let x = try req(b, 0, node).assumingMemoryBound(to: Float.self)
                let out = b.output.assumingMemoryBound(to: Float.self)
                return { run(rows, x, gemm, out) }
            }
            k.appliesPostUnary = c.postUnary != nil
            if rows == 1 { k.bindParts = floatGEMVParts(isa: isa, gemm: gemm) { run(1, $0, $1, $2) } }
            return k
        }
        let bias = try floatOperand(2, role: "bias")
        if w.dtype == .int4Block32 {
            guard inF % 32 == 0 else { throw unsupported("int4 weights need in_features divisible by 32") }
            if let (name, run) = simdIfAny("fully_connected_q4b32", { $0.fully_connected_q4b32 }) {
                // The weights stay the package's blocks (mapped, at int4's bytes), widened in registers.
                var k = kernel(name, scratch: Int(inF) * 4) { b in
                    let (x, wp, bi, out) = try layerBuffers(b, node, Float.self, UInt8.self, Float.self, Float.self,
                                                            preparedBias: bias)
                    let s = try scratchBuffer(b, node, UInt8.self)
                    return { run(rows, inF, outF, x, wp, bi, lo, hi, s, out) }
                }
                // One output's weights are a row of blocks; a part takes whole groups of 4 (the kernel's unit).
                let rowBytes = Int(inF) / 32 * 18, outputs = Int(outF)
                if rows == 1 {
                    k.bindParts = gemvParts(outputs: outputs, lanes: 4, weightBytes: outputs * rowBytes,
                                            scratch: Int(inF) * 4, outputElementBytes: 4) { range, b in
                        let (_, wp, bi, _) = try layerBuffers(b, node, Float.self, UInt8.self, Float.self, Float.self,
                                                              preparedBias: bias)
                        let weights = wp + range.first * rowBytes, partBias = bi.map { $0 + range.first }
                        return { x, s, out in
                            run(1, inF, Int32(range.count), x.assumingMemoryBound(to: Float.self), weights, partBias, lo,
                                hi, s, out.assumingMemoryBound(to: Float.self))
                        }
                    }
                }
                return k
            }
            return kernel(.fullyConnectedF32Q4b32Ref) { b in
                let (x, wp, bi, out) = try layerBuffers(b, node, Float.self, UInt8.self, Float.self, Float.self, preparedBias: bias)
                return { ember_fully_connected_f32_q4b32_ref(rows, inF, outF, x, wp, bi, lo, hi, out) }
            }
        }
        let weights = try floatOperand(1, role: "weights")
        return kernel(.fullyConnectedF32Ref) { b in
            let (x, wp, bi, out) = try layerBuffers(b, node, Float.self, Float.self, Float.self, Float.self,
                                                    weights: weights, preparedBias: bias)
            return { ember_fully_connected_f32_ref(rows, inF, outF, x, wp, bi, lo, hi, out) }
        }
    }

    func fullyConnectedInt8(_ act: Activation) throws -> PreparedKernel {
        guard try input(0).dtype == .i8 else { throw unsupported("u8 activations (use i8)") }
        let w = try input(1)
        let outF = Int32(w.dims[0]), inF = Int32(w.dims[1])
        let rows = Int64(c.output.elementCount / max(w.dims[0], 1))
        let q = try requant(outputChannels: w.dims[0], activation: act)
        let node = c.nodeName
        if let isa = c.isa.cISA, let weights = c.inputConstants[1], let bias = try constantBias(Int32.self) {
            let gemm = try packQS8(isa: isa, k: Int(inF), n: Int(outF), weights: weights, bias: bias, requant: q, singleRounding: true)
            let scratch = Int(ember_gemm_scratch_bytes(isa, inF, 1))
            let (name, run) = try simd("fully_connected_s8") { $0.fully_connected_s8 }
            var k = kernel(name, scratch: scratch) { b in
                let x = try req(b, 0, node).assumingMemoryBound(to: Int8.self)
                let out = b.output.assumingMemoryBound(to: Int8.self)
                let s = try scratchBuffer(b, node, UInt8.self)
                return { run(rows, x, gemm, s, out) }
            }
            if rows == 1 {
                k.bindParts = int8GEMVParts(isa: isa, gemm: gemm, scratch: scratch) { x, w, s, out in
                    run(1, x.assumingMemoryBound(to: Int8.self), w, s, out.assumingMemoryBound(to: Int8.self))
                }
            }
            return k
        }
        return kernel(.fullyConnectedS8Ref) { b in
            let (x, wp, bi, out) = try layerBuffers(b, node, Int8.self, Int8.self, Int32.self, Int8.self)
            return { ember_fully_connected_s8_ref(rows, inF, outF, x, wp, bi, q, out) }
        }
    }

    /// A batched matmul's sizes and, per output batch, the element offsets of its matrices in a and b
    /// (batch dims broadcast).
    func matMulBatches() throws -> (m: Int, k: Int, n: Int, batches: Int, a: UnsafePointer<Int>, b: UnsafePointer<Int>) {
        let a = try input(0), bt = try input(1), o = c.output
        let m = a.dims[a.dims.count - 2], k = a.dims[a.dims.count - 1], n = bt.dims[bt.dims.count - 1]
        let batchDims = Array(o.dims.dropLast(2))
        let batches = elementCount(batchDims) ?? 0
        let aOff = try storage.allocate(Int.self, count: batches), bOff = try storage.allocate(Int.self, count: batches)
        let aStrides = broadcastStrides(Array(a.dims.dropLast(2)), to: batchDims)
        let bStrides = broadcastStrides(Array(bt.dims.dropLast(2)), to: batchDims)
        var index = [Int](repeating: 0, count: batchDims.count)
        for i in 0..<batches {
            var ao = 0, bo = 0
            for d in 0..<batchDims.count { ao += index[d] * aStrides[d]; bo += index[d] * bStrides[d] }
            aOff[i] = ao * m * k; bOff[i] = bo * k * n
            var d = batchDims.count - 1
            while d >= 0 { index[d] += 1; if index[d] < batchDims[d] { break }; index[d] = 0; d -= 1 }
        }
        return (m, k, n, batches, UnsafePointer(aOff), UnsafePointer(bOff))
    }

    /// LiteRT's int8 BATCH_MATMUL (reference_ops::BatchMatMul): Σ (a − za)(b − zb) in int32, requantized
    /// by the multiplier of sa·sb/so with double rounding.
    func matMulInt8() throws -> PreparedKernel {
        guard try input(0).dtype == .i8, try input(1).dtype == .i8, c.output.dtype == .i8 else {
            throw unsupported("u8 activations (use i8)")
        }
        let qa = try perTensorQuant(0), qb = try perTensorQuant(1), qo = try outQuant()
        let (m, k, n, batches, aOffsets, bOffsets) = try matMulBatches()
        var p = ember_matmul_s8_params()
        p.a_offset = -qa.zeroPoint; p.b_offset = -qb.zeroPoint; p.output_offset = qo.zeroPoint
        (p.output_multiplier, p.output_shift) = quantizeMultiplier(Double(qa.scale) * Double(qb.scale) / Double(qo.scale))
        let params = try storage.store(p)
        let m32 = Int32(m), k32 = Int32(k), n32 = Int32(n), outStride = m * n
        let node = c.nodeName
        // Exact on the f32 matmul while k products of at most 255² stay below 2^24.
        if let isa = c.isa.cISA, k <= Int(EMBER_MATMUL_S8_F32_MAX_K), simdIfAny("matmul_f32", { $0.matmul_f32 }) != nil,
           let name = KernelImplementation(rawValue: "matmul_s8_\(c.isa.rawValue)") {
            return kernel(name, scratch: Int(ember_matmul_s8_via_f32_scratch_bytes(m32, k32, n32))) { b in
                let (ap, bp, out) = try int8Pair(b, node)
                let s = UnsafeMutableRawPointer(try scratchBuffer(b, node, UInt8.self))
                return {
                    for i in 0..<batches {
                        ember_matmul_s8_via_f32(isa, m32, k32, n32, ap + aOffsets[i], bp + bOffsets[i], params, s,
                                                out + i * outStride)
                    }
                }
            }
        }
        return kernel(.matmulS8Ref) { b in
            let (ap, bp, out) = try int8Pair(b, node)
            return {
                for i in 0..<batches {
                    ember_matmul_s8_ref(m32, k32, n32, ap + aOffsets[i], bp + bOffsets[i], params, out + i * outStride)
                }
            }
        }
    }

    func matMulFloat() throws -> PreparedKernel {
        let (m, k, n, batches, aOffsets, bOffsets) = try matMulBatches()
        let m32 = Int32(m), k32 = Int32(k), n32 = Int32(n), outStride = m * n
        let aConst = try floatOperand(0, role: "a"), bConst = try floatOperand(1, role: "b")
        let node = c.nodeName
        let fast = simdIfAny("matmul_f32") { $0.matmul_f32 }
        return kernel(fast?.0 ?? .matmulF32Ref) { b in
            let ap = try aConst ?? req(b, 0, node).assumingMemoryBound(to: Float.self)
            let bp = try bConst ?? req(b, 1, node).assumingMemoryBound(to: Float.self)
            let out = b.output.assumingMemoryBound(to: Float.self)
            let matmul = fast?.1 ?? ember_matmul_f32_ref
            return {
                for i in 0..<batches {
                    matmul(m32, k32, n32, ap + aOffsets[i], bp + bOffsets[i], out + i * outStride)
                }
            }
        }
    }

    // MARK: elementwise

    func broadcast() throws -> UnsafePointer<ember_broadcast> {
        let a = try input(0), b = try input(1), o = c.output
        guard o.dims.count <= Int(EMBER_MAX_RANK) else { throw unsupported("broadcast over rank \(o.dims.count) (max \(EMBER_MAX_RANK))") }
        let (shape, aStrides, bStrides) = collapsedBroadcast(o.dims, broadcastStrides(a.dims, to: o.dims),
                                                             broadcastStrides(b.dims, to: o.dims))
        var bc = ember_broadcast()
        bc.rank = Int32(shape.count)
        fillTuple(&bc.shape, shape.map { Int32($0) })
        fillTuple(&bc.a_strides, aStrides.map { Int64($0) })
        fillTuple(&bc.b_strides, bStrides.map { Int64($0) })
        return try storage.store(bc)
    }

    /// Two-input arithmetic on f32, or on i32 / i64 (wrapping, as ONNX integer math does).
    func binary(_ op: ember_binary_op, _ act: Activation) throws -> PreparedKernel {
        let x = try input(0)
        guard x.dtype.isPlainInteger else { return try binaryFloat(op, act) }
        guard act == .none else { throw unsupported("a fused activation on \(x.dtype)") }
        let bc = try broadcast(), dtype = try cType(x)
        let node = c.nodeName
        return kernel(.binaryIntRef) { b in
            let ap = try req(b, 0, node), bp = try req(b, 1, node), out = b.output
            return { ember_binary_int_ref(op, dtype, bc, ap, bp, out) }
        }
    }

    func binaryFloat(_ op: ember_binary_op, _ act: Activation) throws -> PreparedKernel {
        let bc = try broadcast()
        let (lo, hi) = act.range
        let aConst = try floatOperand(0, role: "a"), bConst = try floatOperand(1, role: "b")
        let node = c.nodeName
        // The SIMD kernels take ADD … PRELU and SQUARED_DIFFERENCE (a layer norm's variance).
        if c.isa.cISA != nil, op.rawValue <= EMBER_BINARY_PRELU.rawValue || op == EMBER_BINARY_SQUARED_DIFFERENCE {
            let (name, run) = try simd("binary_f32") { $0.binary_f32 }
            return kernel(name) { b in
                let ap = try aConst ?? req(b, 0, node).assumingMemoryBound(to: Float.self)
                let bp = try bConst ?? req(b, 1, node).assumingMemoryBound(to: Float.self)
                let out = b.output.assumingMemoryBound(to: Float.self)
                return { run(op, bc, ap, bp, lo, hi, out) }
            }
        }
        return kernel(.binaryF32Ref) { b in
            let ap = try aConst ?? req(b, 0, node).assumingMemoryBound(to: Float.self)
            let bp = try bConst ?? req(b, 1, node).assumingMemoryBound(to: Float.self)
            let out = b.output.assumingMemoryBound(to: Float.self)
            return { ember_binary_f32_ref(op, bc, ap, bp, lo, hi, out) }
        }
    }

    /// TFLite int8 ADD/SUB (reference integer_ops::Add, left shift 20).
    func addInt8(_ act: Activation, subtract: Bool) throws -> PreparedKernel {
        guard try input(0).dtype == .i8 else { throw unsupported("u8 activations (use i8)") }
        let qa = try perTensorQuant(0), qb = try perTensorQuant(1), qo = try outQuant()
        let bc = try broadcast()
        let p = twoInputS8Params(qa, qb, qo, range: activationRangeInt8(act, qo))
        let sub: Int32 = subtract ? 1 : 0
        let node = c.nodeName
        // SUB of a broadcast first operand: the operands trade places and the kernel computes b − a (mode 2).
        if let fast = try addRowKernel(p, mode: { swapped in subtract ? (swapped ? 2 : 1) : 0 }) { return fast }
        let params = try storage.store(p)
        return kernel(.addS8Ref) { b in
            let (ap, bp, out) = try int8Pair(b, node)
            return { ember_add_s8_ref(bc, ap, bp, params, sub, out) }
        }
    }

    /// TFLite's int8 SQUARED_DIFFERENCE: ADD's fixed-point recipe with a left shift of 7 and the
    /// difference squared before the output multiplier.
    func squaredDifferenceInt8() throws -> PreparedKernel {
        guard try input(0).dtype == .i8 else { throw unsupported("u8 activations (use i8)") }
        let qa = try perTensorQuant(0), qb = try perTensorQuant(1), qo = try outQuant()
        let bc = try broadcast()
        let p = twoInputS8Params(qa, qb, qo, squaredDifference: true)
        let node = c.nodeName
        // The ADD row kernels' mode 3 (fixed point only); (a − b)² does not care which operand is broadcast.
        if p.float_mode == 0, let fast = try addRowKernel(p, mode: { _ in 3 }) { return fast }
        let params = try storage.store(p)
        return kernel(.squaredDifferenceS8Ref) { b in
            let (ap, bp, out) = try int8Pair(b, node)
            return { ember_squared_difference_s8_ref(bc, ap, bp, params, out) }
        }
    }

    /// The ADD row kernels (`add_s8`) on the broadcasts they take (`simdRows`, `rowScalars`), nil for others
    /// and paths without them. An operand broadcast first trades places with the second, with its
    /// parameters; `mode(swapped)` is the kernel's `subtract` (0 a + b, 1 a − b, 2 b − a, 3 (a − b)²).
    func addRowKernel(_ p: ember_add_s8_params, mode: (Bool) -> Int32) throws -> PreparedKernel? {
        guard let isa = c.isa.cISA else { return nil }
        func operands(swapped: Bool) throws -> (UnsafePointer<ember_add_s8_params>, mode: Int32) {
            var q = p
            if swapped {
                swap(&q.a_offset, &q.b_offset); swap(&q.a_multiplier, &q.b_multiplier); swap(&q.a_shift, &q.b_shift)
                swap(&q.a_scale, &q.b_scale)
            }
            // ADD/SUB in one rounding where that gives the exact recipe's bytes for every pair of codes (the
            // plan declines SQUARED_DIFFERENCE's mode 3 and the float form itself).
            let m = mode(swapped)
            _ = ember_add_s8_linear_plan(isa, &q, m)
            return (try storage.store(q), m)
        }
        if let (rows, cols, bStride, swapped, bRow) = try simdRows() {
            let (sp, mode) = try operands(swapped: swapped)
            let (name, run) = try simd("add_s8") { $0.add_s8 }
            return splittableRows(name, rows: rows, cols: cols, bRowStride: bStride, swapped: swapped, bRow: bRow) {
                r, n, ap, bp, out in run(r, n, ap, bp, bStride, sp, mode, out)
            }
        }
        if let (rows, cols, swapped, fullStride) = try rowScalars() {
            let (sp, mode) = try operands(swapped: swapped)
            let (name, run) = try simd("add_s8") { $0.add_s8 }
            return rowScalarKernel(name, rows: rows, cols: cols, swapped: swapped, fullStride: fullStride) { full, row, out in
                run(1, cols, full, row, 0, sp, mode, out)
            }
        }
        return nil
    }

    func mulInt8(_ act: Activation) throws -> PreparedKernel {
        guard try input(0).dtype == .i8 else { throw unsupported("u8 activations (use i8)") }
        let qa = try perTensorQuant(0), qb = try perTensorQuant(1), qo = try outQuant()
        let bc = try broadcast()
        var p = ember_mul_s8_params()
        p.a_offset = -qa.zeroPoint; p.b_offset = -qb.zeroPoint; p.output_offset = qo.zeroPoint
        // TFLite computes this product in float, then widens it.
        (p.output_multiplier, p.output_shift) = quantizeMultiplier(Double(qa.scale * qb.scale / qo.scale))
        (p.act_min, p.act_max) = activationRangeInt8(act, qo)
        if qo.requantization == .float {
            p.float_mode = 1
            p.a_scale = qa.scale; p.b_scale = qb.scale; p.output_scale = qo.scale
        }
        let params = try storage.store(p)
        let node = c.nodeName
        if c.isa.cISA != nil, let rowsCols = try simdRows() {
            // The SIMD kernel reads b per row; MUL commutes, so a broadcast a trades places with b.
            let (rows, cols, bStride, swapped, bRow) = rowsCols
            var q = p
            if swapped { swap(&q.a_offset, &q.b_offset); swap(&q.a_scale, &q.b_scale) }
            let sp = try storage.store(q)
            let (name, run) = try simd("mul_s8") { $0.mul_s8 }
            return splittableRows(name, rows: rows, cols: cols, bRowStride: bStride, swapped: swapped, bRow: bRow) { r, n, ap, bp, out in
                run(r, n, ap, bp, bStride, sp, out)
            }
        }
        if c.isa.cISA != nil, let (rows, cols, swapped, fullStride) = try rowScalars() {
            var q = p
            if swapped { swap(&q.a_offset, &q.b_offset); swap(&q.a_scale, &q.b_scale) }
            let sp = try storage.store(q)
            let (name, run) = try simd("mul_s8") { $0.mul_s8 }
            return rowScalarKernel(name, rows: rows, cols: cols, swapped: swapped, fullStride: fullStride) { full, row, out in
                run(1, cols, full, row, 0, sp, out)
            }
        }
        return kernel(.mulS8Ref) { b in
            let (ap, bp, out) = try int8Pair(b, node)
            return { ember_mul_s8_ref(bc, ap, bp, params, out) }
        }
    }

    /// One input the output's rows [..., D] — all of them, or one vector of D for every row (`fullStride` 0) —
    /// the other one value per row ([..., 1], leading dims equal or absent): an int8 transformer's layer
    /// norm (x − mean, x · rsqrt(var), mean · γ·rsqrt(var) as an outer product). `swapped` when the rows are
    /// input 1. nil otherwise.
    func rowScalars() throws -> (rows: Int64, cols: Int64, swapped: Bool, fullStride: Int64)? {
        let a = try input(0).dims, b = try input(1).dims, o = c.output.dims
        guard let last = o.last, last > 1, c.output.elementCount > 0 else { return nil }
        func padded(_ d: [Int]) -> [Int]? { d.count <= o.count ? [Int](repeating: 1, count: o.count - d.count) + d : nil }
        for (rowsIn, other, swapped) in [(a, b, false), (b, a, true)] {
            guard let r = padded(rowsIn), let v = padded(other), v.last == 1, Array(v.dropLast()) == Array(o.dropLast()),
                  r.last == last else { continue }
            let rows = Int64(c.output.elementCount / last)
            if r == o { return (rows, Int64(last), swapped, Int64(last)) }
            if r.dropLast().allSatisfy({ $0 == 1 }) { return (rows, Int64(last), swapped, 0) }
        }
        return nil
    }

    /// A row kernel over rows of the full input against one value per row (`rowScalars`): each row's value
    /// is spread over a scratch row of `cols` bytes, then `run(full row, that row, output row)`.
    func rowScalarKernel(_ name: KernelImplementation, rows: Int64, cols: Int64, swapped: Bool, fullStride: Int64,
                         _ run: @escaping (UnsafePointer<Int8>, UnsafePointer<Int8>, UnsafeMutablePointer<Int8>) -> Void)
        -> PreparedKernel {
        let node = c.nodeName
        return kernel(name, scratch: Int(cols)) { b in
            let (ap, bp, out) = try int8Pair(b, node)
            let row = try scratchBuffer(b, node, Int8.self)
            let (full, values) = swapped ? (bp, ap) : (ap, bp)
            return {
                for r in 0..<Int(rows) {
                    row.update(repeating: values[r], count: Int(cols))
                    run(full + r * Int(fullStride), row, out + r * Int(cols))
                }
            }
        }
    }

    /// How a two-input op's inputs map onto the row kernels: one input the full output, the other the same
    /// shape (one row) or a vector along the last axis repeated for every row. nil for other broadcasts.
    /// A one-element int8 constant (x + 1e-6 quantized) is read as a row of `cols` copies of it,
    /// prepared here (`bRow`), with rows of at least 64 trailing elements where the shape allows.
    func simdRows() throws -> (rows: Int64, cols: Int64, bRowStride: Int64, swapped: Bool, bRow: UnsafePointer<Int8>?)? {
        let a = try input(0).dims, b = try input(1).dims, o = c.output.dims
        let count = Int64(c.output.elementCount)
        guard count > 0 else { return nil }
        func perChannel(_ d: [Int]) -> Bool {
            guard let last = o.last, d.last == last, last > 0 else { return false }
            return d.dropLast().allSatisfy { $0 == 1 }
        }
        for (full, other, swapped) in [(a, b, false), (b, a, true)] where full == o {
            if other == o { return (1, count, 0, swapped, nil) }
            if perChannel(other), let last = o.last { return (count / Int64(last), Int64(last), 0, swapped, nil) }
            let k = swapped ? 0 : 1
            if other.reduce(1, *) == 1, k < c.inputConstants.count, let constant = c.inputConstants[k],
               let code = constant.bytes.first {
                var cols = 1
                for d in o.reversed() where cols < 64 { cols *= d }
                let row = try storage.allocate(Int8.self, count: cols)
                row.initialize(repeating: Int8(bitPattern: code), count: cols)
                return (count / Int64(cols), Int64(cols), 0, swapped, UnsafePointer(row))
            }
        }
        return nil
    }

    func unaryOp() throws -> (ember_unary_op, Float) {
        guard let a = Kernels.activation(of: c.op) else { throw unsupported("not an elementwise activation") }
        return (a.op, a.alpha)
    }

    func unaryFloat() throws -> PreparedKernel {
        let (op, alpha) = try unaryOp()
        let count = Int64(c.output.elementCount)
        let node = c.nodeName
        if let (name, unary) = simdIfAny("unary_f32", { $0.unary_f32 }), unary(op, alpha, 0, nil, nil) == 1 {
            return kernel(name) { b in
                let x = try req(b, 0, node).assumingMemoryBound(to: Float.self)
                let out = b.output.assumingMemoryBound(to: Float.self)
                return { _ = unary(op, alpha, count, x, out) }
            }
        }
        return kernel(.unaryF32Ref) { b in
            let x = try req(b, 0, node).assumingMemoryBound(to: Float.self)
            let out = b.output.assumingMemoryBound(to: Float.self)
            return { ember_unary_f32_ref(op, alpha, count, x, out) }
        }
    }

    /// Any int8 → int8 function as a 256-entry table. Relu and Relu6 use TFLite's
    /// integer requantize-and-clamp; the others evaluate the float function on
    /// each dequantized code and requantize it.
    func unaryInt8() throws -> PreparedKernel {
        guard try input(0).dtype == .i8, c.output.dtype == .i8 else { throw unsupported("u8 activations (use i8)") }
        let qi = try perTensorQuant(0), qo = try outQuant()
        if qo.requantization == .float {
            // ONNX Runtime's Q/DQ pair around the float op.
            let (op, alpha) = try unaryOp()
            return try onnxLookup(qi, qo) { ember_unary_f32_ref(op, alpha, 256, $0, $0) }
        }
        let table = try storage.allocate(Int8.self, count: 256)
        switch c.op {
        case .hardSwish:
            // TFLite's 16-bit fixed-point hard swish, tabulated (it is a function of the code alone).
            var p = try hardSwishParams(qi, qo)
            let codes = (0..<256).map { Int8(truncatingIfNeeded: $0 - 128) }
            ember_hard_swish_s8_ref(256, codes, &p, table)
        case .unary(.rsqrt):
            ember_rsqrt_s8_table(qi.scale, qi.zeroPoint, qo.scale, qo.zeroPoint, table)
        case .unary(.abs):
            // TFLite's AbsEvalQuantized: |x − zp| requantized in integers (copied when the scales agree).
            let (m, s) = quantizeMultiplier(Double(qi.scale) / Double(qo.scale))
            for code in -128...127 {
                let v = abs(Int32(code) - qi.zeroPoint)
                let y = qi.scale == qo.scale ? v : ember_multiply_by_quantized_multiplier(v, m, s)
                table[code + 128] = Int8(clamping: y + qo.zeroPoint)
            }
        case .relu, .relu6:
            let (m, s) = quantizeMultiplier(Double(qi.scale) / Double(qo.scale))
            let (lo, hi) = activationRangeInt8(c.op == .relu ? .relu : .relu6, qo)
            var codes = (0..<256).map { Int8(truncatingIfNeeded: $0 - 128) }
            ember_requantize_s8_ref(256, &codes, qi.zeroPoint, m, s, qo.zeroPoint, lo, hi, table)
        default:
            let (op, alpha) = try unaryOp()
            var real = (0..<256).map { Float($0 - 128 - Int(qi.zeroPoint)) * qi.scale }
            ember_unary_f32_ref(op, alpha, 256, real, &real)
            ember_quantize_f32_s8_ref(256, real, qo.scale, qo.zeroPoint, table)
        }
        return lookupKernel(UnsafePointer(table), input: 0)
    }

    /// A lookup of input 0's codes as ONNX Runtime computes a Q/DQ pair around a float function: each code
    /// dequantized, `function` applied to the 256 values in place (none: a plain requantization), then
    /// QuantizeLinear (rounding half to even) with the output's parameters.
    func onnxLookup(_ qi: QuantParams, _ qo: QuantParams, _ function: ((UnsafeMutablePointer<Float>) -> Void)? = nil) throws
        -> PreparedKernel {
        var real = (0..<256).map { Float($0 - 128 - Int(qi.zeroPoint)) * qi.scale }
        real.withUnsafeMutableBufferPointer { if let p = $0.baseAddress { function?(p) } }
        let table = try storage.allocate(Int8.self, count: 256)
        ember_quantize_f32_s8_even_ref(256, real, qo.scale, qo.zeroPoint, table)
        return lookupKernel(UnsafePointer(table), input: 0)
    }

    /// out[i] = table[x[i] + 128] over the output's elements, x being input `input`: on the path's
    /// SIMD lookup where there is one.
    func lookupKernel(_ lut: UnsafePointer<Int8>, input: Int) -> PreparedKernel {
        let count = Int64(c.output.elementCount)
        let node = c.nodeName
        if let (name, lookup) = simdIfAny("lookup_s8", { $0.lookup_s8 }) {
            return kernel(name) { b in
                let x = try req(b, input, node).assumingMemoryBound(to: Int8.self)
                let out = b.output.assumingMemoryBound(to: Int8.self)
                return { lookup(count, x, lut, out) }
            }
        }
        return kernel(.lookupS8) { b in
            let x = try req(b, input, node).assumingMemoryBound(to: Int8.self)
            let out = b.output.assumingMemoryBound(to: Int8.self)
            return { ember_lookup_s8(count, x, lut, out) }
        }
    }

    func softmaxFloat(axis: Int, beta: Float) throws -> PreparedKernel {
        let split = axisSplit(c.output.dims, axis)
        let outer = Int64(split.outer), size = Int32(split.size), inner = Int64(split.inner)
        let node = c.nodeName
        if inner == 1, let (name, softmax) = simdIfAny("softmax_f32", { $0.softmax_f32 }) {  // the last axis
            return kernel(name) { b in
                let x = try req(b, 0, node).assumingMemoryBound(to: Float.self)
                let out = b.output.assumingMemoryBound(to: Float.self)
                return { softmax(outer, size, beta, x, out) }
            }
        }
        return kernel(.softmaxF32Ref) { b in
            let x = try req(b, 0, node).assumingMemoryBound(to: Float.self)
            let out = b.output.assumingMemoryBound(to: Float.self)
            return { ember_softmax_f32_ref(outer, size, inner, beta, x, out) }
        }
    }

    func layerNormFloat(axis: Int, epsilon: Float) throws -> PreparedKernel {
        let dims = c.output.dims
        let a = axis < 0 ? axis + dims.count : axis
        let cols = elementCount(Array(dims[a...])) ?? 0
        let rows = Int64(c.output.elementCount / max(cols, 1))
        let gamma = try floatOperand(1, role: "gamma"), beta = try floatOperand(2, role: "beta")
        let cols32 = Int32(cols)
        let node = c.nodeName
        let (name, run) = simdIfAny("layer_norm_f32", { $0.layer_norm_f32 }) ?? (.layerNormF32Ref, ember_layer_norm_f32_ref)
        return kernel(name) { b in
            let x = try req(b, 0, node).assumingMemoryBound(to: Float.self)
            let g = gamma ?? (b.inputs.count > 1 ? b.inputs[1]?.assumingMemoryBound(to: Float.self) : nil)
            let be = beta ?? (b.inputs.count > 2 ? b.inputs[2]?.assumingMemoryBound(to: Float.self) : nil)
            let out = b.output.assumingMemoryBound(to: Float.self)
            return { run(rows, cols32, epsilon, x, g, be, out) }
        }
    }

    // MARK: pooling and reductions

    func pool(_ p: Pool2DAttributes, average: Bool) throws -> PreparedKernel {
        let x = try input(0), o = c.output
        guard let h = windowGeometry(input: x.dims[1], kernel: p.kernelH, stride: p.strideH, dilation: 1, padding: p.padding, vertical: true),
              let w = windowGeometry(input: x.dims[2], kernel: p.kernelW, stride: p.strideW, dilation: 1, padding: p.padding, vertical: false) else {
            throw unsupported("window does not fit")
        }
        var g = ember_pool_geometry()
        g.batch = Int32(x.dims[0]); g.in_h = Int32(x.dims[1]); g.in_w = Int32(x.dims[2]); g.channels = Int32(x.dims[3])
        g.out_h = Int32(o.dims[1]); g.out_w = Int32(o.dims[2])
        g.kernel_h = Int32(p.kernelH); g.kernel_w = Int32(p.kernelW)
        g.stride_h = Int32(p.strideH); g.stride_w = Int32(p.strideW)
        g.pad_top = Int32(h.padBefore); g.pad_left = Int32(w.padBefore)
        let gp = try storage.store(g)
        let node = c.nodeName
        if x.dtype == .f32 {
            let (lo, hi) = p.activation.range
            if let (name, pool) = average ? simdIfAny("avg_pool_f32", { $0.avg_pool_f32 })
                                          : simdIfAny("max_pool_f32", { $0.max_pool_f32 }) {
                return kernel(name) { b in
                    let xp = try req(b, 0, node).assumingMemoryBound(to: Float.self)
                    let out = b.output.assumingMemoryBound(to: Float.self)
                    return { pool(gp, xp, lo, hi, out) }
                }
            }
            return kernel(average ? .avgPoolF32Ref : .maxPoolF32Ref) { b in
                let xp = try req(b, 0, node).assumingMemoryBound(to: Float.self)
                let out = b.output.assumingMemoryBound(to: Float.self)
                return average ? { ember_avg_pool_f32_ref(gp, xp, lo, hi, out) } : { ember_max_pool_f32_ref(gp, xp, lo, hi, out) }
            }
        }
        guard x.dtype == .i8 else { throw unsupported("u8 activations (use i8)") }
        let qi = try perTensorQuant(0), qo = try outQuant()
        guard qi == qo else { throw unsupported("int8 pooling needs the same scale and zero point on input and output (TFLite's rule)") }
        let (lo, hi) = activationRangeInt8(p.activation, qo)
        if let (name, pool) = average ? simdIfAny("avg_pool_s8", { $0.avg_pool_s8 }) : simdIfAny("max_pool_s8", { $0.max_pool_s8 }) {
            return kernel(name) { b in
                let xp = try req(b, 0, node).assumingMemoryBound(to: Int8.self)
                let out = b.output.assumingMemoryBound(to: Int8.self)
                return { pool(gp, xp, lo, hi, out) }
            }
        }
        return kernel(average ? .avgPoolS8Ref : .maxPoolS8Ref) { b in
            let xp = try req(b, 0, node).assumingMemoryBound(to: Int8.self)
            let out = b.output.assumingMemoryBound(to: Int8.self)
            return average ? { ember_avg_pool_s8_ref(gp, xp, lo, hi, out) } : { ember_max_pool_s8_ref(gp, xp, lo, hi, out) }
        }
    }

    func mean(axes: [Int]) throws -> PreparedKernel {
        let x = try input(0)
        guard x.dims.count <= Int(EMBER_MAX_RANK) else { throw unsupported("rank \(x.dims.count) (max \(EMBER_MAX_RANK))") }
        guard x.dtype == .f32 || x.dtype == .i8 else { throw unsupported("u8 activations (use i8)") }
        let normalized = axes.map { $0 < 0 ? $0 + x.dims.count : $0 }
        var r = ember_reduce()
        r.rank = Int32(x.dims.count)
        fillTuple(&r.shape, x.dims.map { Int32($0) })
        var reduced = 1
        for n in normalized {
            r.axis_mask |= 1 << UInt32(n)
            reduced *= x.dims[n]
        }
        // int8: the sum of x − zero point over the reduced elements, requantized with the count folded in
        // (TFLite's multiplier, or ORT's QLinearGlobalAveragePool scale: input scale / count / output scale).
        var q = MeanRequant(multiplier: 0, shift: 0, floatScale: 0, inputZeroPoint: 0, outputZeroPoint: 0)
        if x.dtype == .i8 {
            let qi = try perTensorQuant(0), qo = try outQuant()
            let (m, s) = meanMultiplier(inputScale: qi.scale, outputScale: qo.scale, count: reduced)
            let floatScale = qo.requantization == .float ? qi.scale / Float(reduced) / qo.scale : 0
            q = MeanRequant(multiplier: m, shift: s, floatScale: floatScale, inputZeroPoint: qi.zeroPoint,
                            outputZeroPoint: qo.zeroPoint)
        }
        if let fast = meanFast(x: x, axes: normalized, requant: q) { return fast }
        let rp = try storage.store(r)
        let node = c.nodeName
        if x.dtype == .f32 {
            return kernel(.meanF32Ref) { b in
                let xp = try req(b, 0, node).assumingMemoryBound(to: Float.self)
                let out = b.output.assumingMemoryBound(to: Float.self)
                return { ember_mean_f32_ref(rp, xp, out) }
            }
        }
        let outCount = c.output.elementCount
        return kernel(.meanS8Ref, scratch: outCount * 4) { b in
            let xp = try req(b, 0, node).assumingMemoryBound(to: Int8.self)
            let out = b.output.assumingMemoryBound(to: Int8.self)
            let scratch = b.scratch?.assumingMemoryBound(to: Int32.self)
            if q.floatScale > 0 {
                return { ember_mean_s8_float_ref(rp, xp, q.inputZeroPoint, q.floatScale, q.outputZeroPoint, scratch, out) }
            }
            return { ember_mean_s8_ref(rp, xp, q.inputZeroPoint, q.multiplier, q.shift, q.outputZeroPoint, scratch, out) }
        }
    }

    /// An int8 mean's requantization (unread for f32): the fixed-point multiplier and shift, or when
    /// floatScale > 0 ONNX Runtime's float scale.
    struct MeanRequant {
        var multiplier, shift: Int32
        var floatScale: Float
        var inputZeroPoint, outputZeroPoint: Int32
    }

    /// The mean on the ISA's kernels when the reduced axes (non-negative) are one contiguous block with
    /// channels after it ([outer][reduced][inner], inner ≥ 4: a global average pool over H and W of
    /// NHWC); nil for other reductions and paths without the kernel. Same bytes (int8) or bits (f32) as
    /// the reference.
    func meanFast(x: TensorInfo, axes: [Int], requant q: MeanRequant) -> PreparedKernel? {
        let sorted = Set(axes).sorted()
        guard let first = sorted.first, let last = sorted.last, last - first + 1 == sorted.count else { return nil }
        let outer = x.dims[..<first].reduce(1, *), reduced = x.dims[first...last].reduce(1, *)
        let inner = x.dims[(last + 1)...].reduce(1, *)
        guard inner >= 4, reduced > 0 else { return nil }
        let node = c.nodeName
        let (o, r, n) = (Int64(outer), Int64(reduced), Int64(inner))
        if x.dtype == .f32 {
            guard let (name, run) = simdIfAny("mean_f32", { $0.mean_f32 }) else { return nil }
            return kernel(name) { b in
                let xp = try req(b, 0, node).assumingMemoryBound(to: Float.self)
                let out = b.output.assumingMemoryBound(to: Float.self)
                return { run(o, r, n, xp, out) }
            }
        }
        guard let (name, run) = simdIfAny("mean_s8", { $0.mean_s8 }) else { return nil }
        return kernel(name) { b in
            let xp = try req(b, 0, node).assumingMemoryBound(to: Int8.self)
            let out = b.output.assumingMemoryBound(to: Int8.self)
            return { run(o, r, n, xp, q.inputZeroPoint, q.multiplier, q.shift, q.floatScale, q.outputZeroPoint, out) }
        }
    }

    // MARK: data movement

    func requireSameQuant(_ i: Int) throws {
        if c.output.dtype.isQuantized8 {
            guard i < c.inputQuant.count, c.inputQuant[i] == c.outputQuant else {
                throw unsupported("quantized input \(i) and output must share scale and zero point")
            }
        }
    }

    func reshape() throws -> PreparedKernel {
        try requireSameQuant(0)
        let bytes = c.output.byteCount
        let node = c.nodeName
        return kernel(.copy) { b in
            let x = try req(b, 0, node)
            let out = b.output
            if UnsafeRawPointer(out) == x { return {} } // the planner aliased the buffers
            return { out.copyMemory(from: x, byteCount: bytes) }
        }
    }

    func rankCheck(_ dims: [Int]) throws -> UnsafePointer<Int32> {
        guard dims.count <= Int(EMBER_MAX_RANK) else { throw unsupported("rank \(dims.count) (max \(EMBER_MAX_RANK))") }
        return try storage.store(dims.map { Int32($0) })
    }

    func elementSize() -> Int32 { Int32(c.output.dtype.traits.bytesPerBlock) }

    func transpose(_ perm: [Int]) throws -> PreparedKernel {
        try requireSameQuant(0)
        let shape = try rankCheck(try input(0).dims), permP = try rankCheck(perm)
        let rank = Int32(perm.count), es = elementSize()
        let node = c.nodeName
        return kernel(.transposeRef) { b in
            let x = try req(b, 0, node), out = b.output
            return { ember_transpose_ref(es, rank, shape, permP, x, out) }
        }
    }

    /// Bytes of the value that represents real zero in the output's encoding.
    func zeroValue() throws -> UnsafeRawPointer {
        let p = try storage.allocate(UInt64.self, count: 1)
        p.pointee = 0
        if c.output.dtype.isQuantized8, let q = c.outputQuant {
            UnsafeMutableRawPointer(p).storeBytes(of: UInt8(truncatingIfNeeded: q.zeroPoint), as: UInt8.self)
        }
        return UnsafeRawPointer(p)
    }

    func pad(_ before: [Int]) throws -> PreparedKernel {
        try requireSameQuant(0)
        let x = try input(0)
        let inShape = try rankCheck(x.dims), beforeP = try rankCheck(before), outShape = try rankCheck(c.output.dims)
        let rank = Int32(x.dims.count), es = elementSize(), value = try zeroValue()
        let node = c.nodeName
        return kernel(.padRef) { b in
            let xp = try req(b, 0, node), out = b.output
            return { ember_pad_ref(es, rank, inShape, beforeP, outShape, value, xp, out) }
        }
    }

    func slice(_ begin: [Int], _ ends: [Int], _ strides: [Int]) throws -> PreparedKernel {
        try requireSameQuant(0)
        let x = try input(0)
        guard let end = Op.resolvedSliceEnds(ends, reference: c.inputs.count > 1 ? c.inputs[1] : nil) else {
            throw unsupported("an end refers to a dim the size reference does not have")
        }
        var starts: [Int] = []
        for i in 0..<x.dims.count {
            guard let s = sliceAxis(dim: x.dims[i], begin: begin[i], end: end[i], stride: strides[i]) else { throw unsupported("stride 0") }
            starts.append(s.count == 0 ? 0 : s.start)
        }
        let inShape = try rankCheck(x.dims), beginP = try rankCheck(starts), strideP = try rankCheck(strides)
        let outShape = try rankCheck(c.output.dims)
        let rank = Int32(x.dims.count), es = elementSize()
        let node = c.nodeName
        let view = Self.contiguousRunOffset(input: x.dims, output: c.output.dims, starts: starts, strides: strides)
            .map { $0 * Int(es) }
        var prepared = kernel(.sliceRef) { b in
            let xp = try req(b, 0, node), out = b.output
            if let view, UnsafeRawPointer(out) == xp + view { return {} } // the planner placed it in the input
            return { ember_slice_ref(es, rank, inShape, beginP, strideP, outShape, xp, out) }
        }
        prepared.viewOffset = view
        return prepared
    }

    /// The element offset of a slice's output in its input when the output is one contiguous run of
    /// the input's elements (row-major): every axis before the first one the output has more than one
    /// element on is taken at one index, that axis with stride 1, every later axis whole. Nil otherwise
    /// (and for an empty output).
    static func contiguousRunOffset(input: [Int], output: [Int], starts: [Int], strides: [Int]) -> Int? {
        guard input.count == output.count, starts.count == input.count, strides.count == input.count,
              !output.contains(0) else { return nil }
        if let k = output.firstIndex(where: { $0 > 1 }) {
            guard strides[k] == 1 else { return nil }
            for a in (k + 1)..<output.count where output[a] != input[a] || strides[a] != 1 || starts[a] != 0 { return nil }
        }
        var offset = 0, stride = 1
        for a in input.indices.reversed() {
            offset += starts[a] * stride
            stride *= input[a]
        }
        return offset
    }

    func concat() throws -> PreparedKernel {
        guard case let .concat(axis) = c.op else { throw unsupported("not a concat") }
        for i in 0..<c.inputs.count { try requireSameQuant(i) }
        let (a, outerCount, _, inner) = axisSplit(c.output.dims, axis)
        let es = Int(elementSize()), outer = Int64(outerCount)
        let count = c.inputs.count
        let chunks = try storage.store(try (0..<count).map { i in Int64(try input(i).dims[a] * inner * es) })
        let node = c.nodeName
        return kernel(.concatRef) { b in
            // The input addresses are this binding's: kept in the executor's storage.
            let pointers = try b.storage.allocate(UnsafeRawPointer?.self, count: count)
            for i in 0..<count { pointers[i] = try req(b, i, node) }
            let out = b.output
            let ins = UnsafePointer(pointers)
            return { ember_concat_ref(Int32(count), ins, chunks, outer, out) }
        }
    }

    // MARK: conversions

    func quantize(_ to: DType) throws -> PreparedKernel {
        let x = try input(0)
        let qo = try outQuant()
        let count = Int64(c.output.elementCount)
        let node = c.nodeName
        if x.dtype == .f32 {
            let s = qo.scale, z = qo.zeroPoint
            let halfEven: Int32 = qo.requantization == .float ? 1 : 0  // ONNX QuantizeLinear: ties to even
            if to == .i8, let (name, run) = simdIfAny("quantize_f32_s8", { $0.quantize_f32_s8 }) {
                return kernel(name) { b in
                    let xp = try req(b, 0, node).assumingMemoryBound(to: Float.self)
                    let out = b.output.assumingMemoryBound(to: Int8.self)
                    return { run(count, xp, s, z, halfEven, out) }
                }
            }
            if to == .i8, halfEven == 1 {
                return kernel(.quantizeF32S8EvenRef) { b in
                    let xp = try req(b, 0, node).assumingMemoryBound(to: Float.self)
                    let out = b.output.assumingMemoryBound(to: Int8.self)
                    return { ember_quantize_f32_s8_even_ref(count, xp, s, z, out) }
                }
            }
            return kernel(to == .i8 ? .quantizeF32S8Ref : .quantizeF32U8Ref) { b in
                let xp = try req(b, 0, node).assumingMemoryBound(to: Float.self)
                let out = b.output
                if to == .i8 { return { ember_quantize_f32_s8_ref(count, xp, s, z, out.assumingMemoryBound(to: Int8.self)) } }
                return { ember_quantize_f32_u8_ref(count, xp, s, z, out.assumingMemoryBound(to: UInt8.self)) }
            }
        }
        guard x.dtype == .i8, to == .i8 else { throw unsupported("requantize \(x.dtype) → \(to) (only i8 → i8)") }
        let qi = try perTensorQuant(0)
        // ONNX's DequantizeLinear then QuantizeLinear (a concat's inputs brought to its scale), tabulated.
        if qo.requantization == .float { return try onnxLookup(qi, qo) }
        let (m, s) = quantizeMultiplier(Double(qi.scale) / Double(qo.scale))
        let zi = qi.zeroPoint, zo = qo.zeroPoint
        return kernel(.requantizeS8Ref) { b in
            let xp = try req(b, 0, node).assumingMemoryBound(to: Int8.self)
            let out = b.output.assumingMemoryBound(to: Int8.self)
            return { ember_requantize_s8_ref(count, xp, zi, m, s, zo, -128, 127, out) }
        }
    }

    func dequantize() throws -> PreparedKernel {
        let x = try input(0)
        let count = Int64(c.output.elementCount)
        let node = c.nodeName
        if x.dtype == .f16 {
            return kernel(.f16ToF32) { b in
                let xp = try req(b, 0, node).assumingMemoryBound(to: UInt16.self)
                let out = b.output.assumingMemoryBound(to: Float.self)
                return { ember_f16_to_f32(count, xp, out) }
            }
        }
        let qi = try perTensorQuant(0)
        let s = qi.scale, z = qi.zeroPoint
        let signed = x.dtype == .i8
        return kernel(signed ? .dequantizeS8F32Ref : .dequantizeU8F32Ref) { b in
            let xp = try req(b, 0, node)
            let out = b.output.assumingMemoryBound(to: Float.self)
            if signed { return { ember_dequantize_s8_f32_ref(count, xp.assumingMemoryBound(to: Int8.self), s, z, out) } }
            return { ember_dequantize_u8_f32_ref(count, xp.assumingMemoryBound(to: UInt8.self), s, z, out) }
        }
    }

    // MARK: float fallback for int8 ops without an integer kernel

    /// Dequantizes the 8-bit inputs into scratch, runs the f32 kernel, quantizes
    /// the result. Used for int8 Softmax, LayerNorm, Div and MatMul; exactness
    /// against TFLite's integer kernels is not claimed for these.
    func floatFallback() throws -> PreparedKernel {
        guard c.output.dtype == .i8 else { throw unsupported("\(c.output.dtype) output (use i8)") }
        let qo = try outQuant()
        var f = c
        var dequant: [(index: Int, count: Int, scale: Float, zp: Int32)] = []
        for (i, t) in c.inputs.enumerated() {
            guard let t, t.dtype.isQuantized8 else { continue }
            guard t.dtype == .i8 else { throw unsupported("u8 activations (use i8)") }
            let q = try perTensorQuant(i)
            dequant.append((i, t.elementCount, q.scale, q.zeroPoint))
            f.inputs[i] = TensorInfo(.f32, t.dims)
            f.inputConstants[i] = nil
            f.inputQuant[i] = nil
        }
        f.output = TensorInfo(.f32, c.output.dims)
        f.outputQuant = nil
        let inner = try Preparer(c: f, storage: storage).prepare()
        func aligned(_ n: Int) -> Int { (n + 63) / 64 * 64 }
        var layout: [Int] = []
        var total = aligned(inner.scratchBytes)
        for d in dequant { layout.append(total); total += aligned(d.count * 4) }
        let outOffset = total
        total += aligned(c.output.elementCount * 4)
        let outCount = Int64(c.output.elementCount)
        let s = qo.scale, z = qo.zeroPoint
        let jobs = dequant
        let node = c.nodeName
        return PreparedKernel(scratchBytes: total, implementation: KernelImplementation.fallbackPrefix + inner.implementation + ")", bind: { b in
            guard let scratch = b.scratch else { throw EmberError.invalidGraph(node: node, reason: "no scratch buffer was planned") }
            var ins = b.inputs
            var sources: [UnsafeRawPointer] = []
            for (k, d) in jobs.enumerated() {
                sources.append(try req(b, d.index, node))
                ins[d.index] = UnsafeRawPointer(scratch + layout[k])
            }
            let outF = (scratch + outOffset).assumingMemoryBound(to: Float.self)
            let run = try inner.bind(KernelBuffers(inputs: ins, output: UnsafeMutableRawPointer(outF),
                                                   scratch: inner.scratchBytes > 0 ? scratch : nil, storage: b.storage))
            let out = b.output.assumingMemoryBound(to: Int8.self)
            let dst = layout.map { (scratch + $0).assumingMemoryBound(to: Float.self) }
            return {
                for k in 0..<jobs.count {
                    ember_dequantize_s8_f32_ref(Int64(jobs[k].count), sources[k].assumingMemoryBound(to: Int8.self), jobs[k].scale, jobs[k].zp, dst[k])
                }
                run()
                ember_quantize_f32_s8_ref(outCount, outF, s, z, out)
            }
        })
    }
}

/// Element strides of `dims` (right-aligned against `target`), 0 on broadcast dims.
/// The same broadcast over as few dimensions as possible, so the innermost rows the kernels walk are
/// long: size-1 dimensions are dropped, and a dimension merges into the next when both operands step
/// through the pair as one (contiguous in both, broadcast in both, or one of each in the same way).
func collapsedBroadcast(_ shape: [Int], _ a: [Int], _ b: [Int]) -> (shape: [Int], a: [Int], b: [Int]) {
    var outShape: [Int] = [], outA: [Int] = [], outB: [Int] = []
    for d in shape.indices.reversed() where shape[d] != 1 {
        if let inner = outShape.first, a[d] == outA[0] * inner, b[d] == outB[0] * inner {
            outShape[0] *= shape[d]
            continue
        }
        outShape.insert(shape[d], at: 0); outA.insert(a[d], at: 0); outB.insert(b[d], at: 0)
    }
    if outShape.isEmpty { return ([1], [0], [0]) }
    return (outShape, outA, outB)
}

func broadcastStrides(_ dims: [Int], to target: [Int]) -> [Int] {
    let offset = target.count - dims.count
    var strides = [Int](repeating: 0, count: target.count)
    var step = 1
    for i in stride(from: dims.count - 1, through: 0, by: -1) {
        strides[i + offset] = (dims[i] == 1 && target[i + offset] != 1) ? 0 : step
        step *= dims[i]
    }
    return strides
}
