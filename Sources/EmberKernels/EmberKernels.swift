// EmberKernels — op implementations over the CEmberKernels micro-kernels.
//
// `Kernels.prepare` turns one node (with its concrete input/output types,
// quantization and constants) into a `PreparedKernel`: how much scratch it
// needs, and a `bind` step that, given the planned buffer addresses, returns
// the closure the executor calls on every run. Everything that can be computed
// ahead — requantization multipliers, activation ranges, lookup tables,
// broadcast strides, converted weights — is computed here, once, so that a run
// only calls C kernels: no allocation, no validation, no dictionary lookups.
//
// This target knows nothing about files or packages.
import CEmberKernels
import EmberCore
#if canImport(Glibc)
import Glibc
#endif

/// Everything a kernel needs to know about one node.
public struct KernelContext {
    public var nodeName: String
    public var op: Op
    public var inputs: [TensorInfo?]
    public var inputQuant: [QuantParams?]
    /// Constant data of inputs that are constants (nil otherwise).
    public var inputConstants: [ConstantData?]
    public var output: TensorInfo
    public var outputQuant: QuantParams?
    /// Which optimized kernels to bind where one exists (already checked against the CPU).
    public var isa: KernelISA
    /// An f32 activation node that reads only this node's output, offered for the kernel to apply to
    /// its output as it writes it (ActivationFusion); `PreparedKernel.appliesPostUnary` says it did.
    public var postUnary: (op: ember_unary_op, alpha: Float)? = nil
    /// For an f32 depthwise layer: the packed pointwise layer (`PreparedKernel.pointwiseGEMM`) whose output
    /// is its input, offered for the kernel to compute as it reads it (PointwiseExpansion); input 0 is
    /// then bound to that layer's input. `PreparedKernel.consumesExpansion` says it did.
    public var expandedFrom: UnsafePointer<ember_f32_gemm>? = nil
    /// Weights packed ahead for this node (a package's PACK section), and where a packer records what
    /// the kernel packs (`Preparer.packedWeights`); nil: pack at prepare, record nothing.
    public var packs: NodeWeightPacks? = nil

    public init(nodeName: String, op: Op, inputs: [TensorInfo?], inputQuant: [QuantParams?],
                inputConstants: [ConstantData?], output: TensorInfo, outputQuant: QuantParams?, isa: KernelISA = .scalar) {
        self.nodeName = nodeName; self.op = op; self.inputs = inputs; self.inputQuant = inputQuant
        self.inputConstants = inputConstants; self.output = output; self.outputQuant = outputQuant; self.isa = isa
    }
}

/// Addresses of a node's buffers, known after memory planning.
public struct KernelBuffers {
    /// One per node input; nil for an absent optional input. Constants point into their data.
    public var inputs: [UnsafeRawPointer?]
    public var output: UnsafeMutableRawPointer
    /// `scratchBytes` bytes, 64-byte aligned, or nil when none were asked for.
    public var scratch: UnsafeMutableRawPointer?
    /// Where a binding keeps what it needs beyond its closure (e.g. a table of input addresses):
    /// the executor's own, since prepared kernels — and the `PreparedStorage` they were prepared
    /// into — are shared by every executor of the same graph and must not change after prepare.
    public var storage: PreparedStorage

    public init(inputs: [UnsafeRawPointer?], output: UnsafeMutableRawPointer, scratch: UnsafeMutableRawPointer?,
                storage: PreparedStorage) {
        self.inputs = inputs; self.output = output; self.scratch = scratch; self.storage = storage
    }
}

/// A node ready to run once its buffers are known. What `Kernels.prepare` made (packed weights,
/// requantization records, tables) is read-only from then on: `bind` and the closures it returns
/// may read it but write only their buffers and `KernelBuffers.storage`, so one prepared kernel can
/// be bound by several executors (sessions of one package share their weights that way).
public struct PreparedKernel {
    public var scratchBytes: Int
    /// Which C kernel family runs it (for `ember inspect` and tests).
    public var implementation: String
    public var bind: (KernelBuffers) throws -> () -> Void
    /// For kernels that can run split across threads: binds `parts` closures that together do what
    /// `bind`'s one does, each on its own share of the output, part i using scratch at
    /// `i · PreparedKernel.partScratchStride(scratchBytes)`. Nil: the node runs on one thread.
    public var bindParts: ((KernelBuffers, Int) throws -> [() -> Void])? = nil
    /// Set when the output is a contiguous run of input 0's bytes starting this many bytes in (a
    /// slice of whole rows): the executor may place the output there, and then the kernel does nothing.
    public var viewOffset: Int? = nil
    /// Set when the kernel applies the context's `postUnary` to its output: its activation node then
    /// runs nothing (`Kernels.appliedByProducer`).
    public var appliesPostUnary = false
    /// A pointwise (1×1, stride 1, unpadded) f32 convolution's packed GEMM, for a depthwise consumer to
    /// run itself (`KernelContext.expandedFrom`).
    public var pointwiseGEMM: UnsafePointer<ember_f32_gemm>? = nil
    /// Set when the kernel computes its input from `KernelContext.expandedFrom`.
    public var consumesExpansion = false

    /// The scratch bytes each part of a split kernel owns (64-byte aligned).
    public static func partScratchStride(_ scratchBytes: Int) -> Int { (scratchBytes + 63) / 64 * 64 }
}

extension ember_conv_geometry {
    /// A 1×1, stride-1, unpadded convolution (ember_conv_is_pointwise): its input rows are its patches.
    public var isPointwise: Bool {
        kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && pad_top == 0 && pad_left == 0
            && out_h == in_h && out_w == in_w
    }
}

/// Splits a convolution into at most `parts` slices of its output: by images when the batch has
/// enough of them, else (batch 1) by output rows. A row slice keeps the whole input and shifts
/// `pad_top`, so the kernels read the same absolute input rows; a 1×1 stride-1 unpadded slice also
/// takes only its input rows, so it stays a pointwise (read in place) convolution. Offsets are in
/// elements of the input and output. Row slices start at multiples of `rowMultiple` (2 for Winograd
/// F(2×2, 3×3), so every part's tiles are the unsplit layer's and its bits do not depend on the threads).
public func convSlices(_ g: ember_conv_geometry, parts: Int, rowMultiple: Int = 1)
    -> [(geometry: ember_conv_geometry, input: Int, output: Int)] {
    let inImage = Int(g.in_h) * Int(g.in_w) * Int(g.in_c), outImage = Int(g.out_h) * Int(g.out_w) * Int(g.out_c)
    func even(_ total: Int, _ n: Int, multiple: Int = 1) -> [Range<Int>] {
        let units = (total + multiple - 1) / multiple, n = max(1, min(n, units))
        return (0..<n).map { i in min(total, units * i / n * multiple)..<min(total, units * (i + 1) / n * multiple) }
    }
    if g.batch != 1 {
        return even(Int(g.batch), parts).map { r in
            var s = g
            s.batch = Int32(r.count)
            return (s, r.lowerBound * inImage, r.lowerBound * outImage)
        }
    }
    let pointwise = g.isPointwise
    let outRow = Int(g.out_w) * Int(g.out_c), inRow = Int(g.in_w) * Int(g.in_c)
    return even(Int(g.out_h), parts, multiple: max(1, rowMultiple)).map { r in
        var s = g
        s.out_h = Int32(r.count)
        if pointwise {
            s.in_h = Int32(r.count)
            return (s, r.lowerBound * inRow, r.lowerBound * outRow)
        }
        s.pad_top = g.pad_top - Int32(r.lowerBound) * g.stride_h
        return (s, 0, r.lowerBound * outRow)
    }
}

/// Long-lived memory for prepared parameters (multipliers, tables, converted
/// weights, parameter structs). Freed when the executor that owns it goes.
/// Every allocation is charged to a `MemoryAccount` first, so a graph whose
/// parameters would pass the memory cap is refused before the bytes exist.
public final class PreparedStorage {
    private var allocations: [UnsafeMutableRawPointer] = []
    public private(set) var bytes = 0
    public let account: MemoryAccount
    private let subject: String

    /// `subject` names what is prepared in errors ("variant 'int8'").
    public init(account: MemoryAccount = MemoryAccount(limit: LoadLimits().maxMemoryBytes), subject: String = "the graph") {
        self.account = account
        self.subject = subject
    }

    public func allocate<T>(_ type: T.Type, count: Int) throws -> UnsafeMutablePointer<T> {
        let n = max(count, 1)
        guard let size = checkedMultiply(n, MemoryLayout<T>.stride) else {
            throw EmberError.limitExceeded(what: "prepared parameters of \(subject)", needs: Int.max, limit: account.limit)
        }
        try account.reserve(size, for: "prepared parameters of \(subject)")
        let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: max(64, MemoryLayout<T>.alignment))
        allocations.append(raw)
        bytes += size
        return raw.bindMemory(to: T.self, capacity: n)
    }

    /// A stable pointer to a copy of `value`.
    public func store<T>(_ value: T) throws -> UnsafePointer<T> {
        let p = try allocate(T.self, count: 1)
        p.initialize(to: value)
        return UnsafePointer(p)
    }

    public func store<T>(_ values: [T]) throws -> UnsafePointer<T> {
        let p = try allocate(T.self, count: values.count)
        for (i, v) in values.enumerated() { (p + i).initialize(to: v) }
        return UnsafePointer(p)
    }

    deinit {
        for a in allocations { a.deallocate() }
        account.release(bytes)
    }
}

/// The CPU features the C dispatch sees.
public var cpuFeatureNames: [String] {
    let f = ember_cpu_features()
    let names: [(UInt32, String)] = [
        (UInt32(EMBER_CPU_SSE42), "sse4.2"), (UInt32(EMBER_CPU_AVX2), "avx2"),
        (UInt32(EMBER_CPU_FMA), "fma"), (UInt32(EMBER_CPU_AVX512F), "avx512f"),
        (UInt32(EMBER_CPU_AVX512BW), "avx512bw"), (UInt32(EMBER_CPU_AVX512VNNI), "avx512vnni"),
        (UInt32(EMBER_CPU_NEON), "neon"), (UInt32(EMBER_CPU_DOTPROD), "dotprod"),
        (UInt32(EMBER_CPU_I8MM), "i8mm"),
    ]
    return names.filter { f & $0.0 != 0 }.map(\.1)
}

/// The instruction-set path an executor binds its kernels for. Chosen once, at
/// prepare: `EMBER_ISA=scalar|avx2|avx512|neon` forces one, else the best this
/// CPU has. Ops without a kernel for the path run the scalar reference.
public enum KernelISA: String, CaseIterable, Sendable, CustomStringConvertible {
    /// The scalar reference kernels (the oracle every other path is tested against).
    case scalar
    /// AVX2 + FMA + F16C.
    case avx2
    /// AVX-512 F + BW + VNNI.
    case avx512
    /// ARM NEON (AArch64 Advanced SIMD; int8 GEMMs with sdot where the CPU has the dot product).
    case neon

    public var description: String { rawValue }

    /// What the CPU must have for this path.
    public var isSupported: Bool {
        let f = ember_cpu_features()
        func has(_ bits: Int32) -> Bool { f & UInt32(bits) == UInt32(bits) }
        switch self {
        case .scalar: return true
        case .avx2: return has(Int32(EMBER_CPU_AVX2 | EMBER_CPU_FMA | EMBER_CPU_F16C))
        case .avx512:  // and the FMA and F16C every AVX-512 CPU has (its kernels use both on 256-bit lanes)
            return has(Int32(EMBER_CPU_AVX512F | EMBER_CPU_AVX512BW | EMBER_CPU_AVX512VNNI | EMBER_CPU_FMA | EMBER_CPU_F16C))
        case .neon: return has(Int32(EMBER_CPU_NEON))
        }
    }

    /// The fastest path this CPU supports.
    public static var best: KernelISA {
        [.avx512, .avx2, .neon].first { $0.isSupported } ?? .scalar
    }

    /// The paths this CPU supports, best first.
    public static var supported: [KernelISA] { allCases.filter(\.isSupported).reversed() }

    /// `requested`, else `EMBER_ISA`, else `best`; a path this CPU lacks is an error.
    public static func resolve(_ requested: KernelISA?) throws -> KernelISA {
        var isa = requested ?? .best
        if requested == nil, let raw = getenv("EMBER_ISA") {
            let name = String(cString: raw)
            guard let forced = KernelISA(rawValue: name) else {
                throw EmberError.invalidArgument("EMBER_ISA='\(name)' is not one of \(allCases.map(\.rawValue).joined(separator: ", "))")
            }
            isa = forced
        }
        guard isa.isSupported else {
            throw EmberError.invalidArgument("the \(isa) kernels need a CPU this one is not (it supports \(supported.map(\.rawValue).joined(separator: ", ")))")
        }
        return isa
    }

    /// The C kernels' ISA number (EMBER_ISA_*); nil where the path has no optimized kernels in this
    /// build (scalar, and an ISA of another architecture).
    var cISA: Int32? {
        let isa: Int32
        switch self {
        case .avx2: isa = Int32(EMBER_ISA_AVX2)
        case .avx512: isa = Int32(EMBER_ISA_AVX512)
        case .neon:  // the int8 GEMMs use sdot where the CPU has the dot product
            isa = ember_cpu_features() & UInt32(EMBER_CPU_DOTPROD) != 0 ? Int32(EMBER_ISA_NEON_DOTPROD) : Int32(EMBER_ISA_NEON)
        case .scalar: return nil
        }
        return ember_kernel_table_for(isa) == nil ? nil : isa
    }

    /// The roofline probe (ember_probe_mac): `iterations` rounds of this path's int8 (or f32) multiply-
    /// accumulate instruction on independent accumulators; returns the MACs done. Timed by the caller.
    public func probeMACs(int8: Bool, iterations: Int) -> Int {
        Int(ember_probe_mac(cISA ?? Int32(EMBER_ISA_SCALAR), int8 ? 1 : 0, Int64(max(iterations, 0))))
    }

    /// Reads every 8-byte word of `buffer` with this path's widest loads (ember_probe_read), to time the
    /// memory bandwidth its kernels can see.
    public func probeRead(_ buffer: UnsafeRawBufferPointer) -> UInt64 {
        ember_probe_read(cISA ?? Int32(EMBER_ISA_SCALAR), buffer.baseAddress, Int64(buffer.count / 8 * 8))
    }
}
