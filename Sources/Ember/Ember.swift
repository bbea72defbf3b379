// Ember — the public Swift API: load a `.ember` package (`EmberPackage`),
// open a `Session` on one of its variants, run it. Also `Tensor` (owned
// values for the convenient API) and `NPY` (.npy files, untrusted input).
//
// `import Ember` is enough: the IR (EmberCore) and the format types are re-exported.
@_exported import EmberCore
@_exported import EmberFormat
@_exported import EmberRuntime

/// The release this library is (`ember --version`, `ember_version()`).
public let emberVersion = "0.10.0"

/// A loaded, validated package. Raw tensor sections are used in place from
/// the package file, which is held so that it cannot change under a running
/// session (`PackageFile`: a read lease, or a private copy); compressed ones
/// are decompressed only for a variant that is opened (`graph(variant:)`).
/// Decompressed tensors and every session's arena and prepared parameters are
/// charged to one `MemoryAccount` capped by `limits.maxMemoryBytes`.
public final class EmberPackage: @unchecked Sendable {
    /// Every variant's graph, validated; constants in compressed sections are
    /// deferred until `graph(variant:)` loads them.
    public let contents: PackageContents
    public let path: String?
    /// Size of the package file, or of the bytes it was read from (0 for packages built from `contents`).
    public let fileBytes: Int
    public let limits: LoadLimits
    public let account: MemoryAccount
    /// How the file is held (nil for packages built in memory).
    public let protection: PackageFileProtection?
    private let index: PackageIndex?
    /// Kernels prepared for a variant, held weakly: sessions of the same variant, kernel path and
    /// sizes share their weights while any of them lives (see `executor(variant:options:)`).
    private var preparedKernels: [PreparedKernelsKey: WeakPreparedKernels] = [:]
    private let preparedKernelsLock = Lock()

    public var metadata: PackageMetadata { contents.metadata }
    /// Who signed it (nil: unsigned or built in memory); verified when the package was opened with trusted keys.
    public var signer: PublicKey? { index?.signer }
    public var signatureVerified: Bool { index?.signatureVerified ?? false }
    public var variants: [VariantRecord] { contents.variants }

    /// Holds and validates `path`. Errors say which section, variant and byte is wrong.
    /// With `trustedKeys`, the package must be signed by one of them and unchanged since signing
    /// (`EmberError.untrustedPackage` otherwise), checked before any section is decoded.
    public convenience init(path: String, limits: LoadLimits = LoadLimits(), protection: PackageFileProtection = .automatic,
                            trustedKeys: TrustedKeys? = nil) throws {
        let file = try PackageFile(path: path, maxBytes: limits.maxFileBytes, protection: protection)
        try self.init(holding: file.bytes, owner: file, name: path, path: path, limits: limits,
                      protection: file.protection, trustedKeys: trustedKeys)
    }

    /// Validates a package held in memory. The bytes are copied (into 64-byte aligned memory the
    /// package owns), so the caller's buffer may go once this returns.
    public convenience init(bytes: UnsafeRawBufferPointer, limits: LoadLimits = LoadLimits(), trustedKeys: TrustedKeys? = nil) throws {
        guard !bytes.isEmpty else { throw EmberError.invalidArgument("the package is empty (0 bytes)") }
        try LoadLimits.check("package", needs: bytes.count, limit: limits.maxFileBytes)
        let copy = OwnedBytes(copying: bytes)
        try self.init(holding: copy.bytes, owner: copy, name: "package in memory", path: nil, limits: limits,
                      protection: .privateCopy, trustedKeys: trustedKeys)
    }

    /// Indexes `bytes`, which `owner` keeps alive (a held file or a private copy).
    private init(holding bytes: UnsafeRawBufferPointer, owner: AnyObject, name: String, path: String?, limits: LoadLimits,
                 protection: PackageFileProtection, trustedKeys: TrustedKeys?) throws {
        let account = MemoryAccount(limit: limits.maxMemoryBytes)
        let index = try withExtendedLifetime(owner) {
            try PackageIndex(bytes: bytes, owner: owner, limits: limits, account: account, trusted: trustedKeys, name: name)
        }
        self.index = index
        contents = index.contents
        self.path = path
        fileBytes = bytes.count
        self.limits = limits
        self.account = account
        self.protection = protection
    }

    public init(contents: PackageContents, limits: LoadLimits = LoadLimits()) {
        self.contents = contents
        path = nil
        fileBytes = 0
        index = nil
        self.limits = limits
        account = MemoryAccount(limit: limits.maxMemoryBytes)
        protection = nil
    }

    /// Index of the variant called `name`; nil picks the first (best) rung.
    public func variantIndex(_ name: String?) throws -> Int {
        guard let name else { return 0 }
        guard let i = variants.firstIndex(where: { $0.name == name }) else {
            throw EmberError.invalidArgument("no variant named '\(name)'; the package has \(variants.map(\.name).joined(separator: ", "))")
        }
        return i
    }

    /// The variant's graph with all its weights present (its compressed tensor
    /// sections decompressed now, and released when the graph is).
    public func graph(variant: String? = nil) throws -> Graph {
        try graph(at: try variantIndex(variant))
    }

    /// An executor of variant `index`. On the package's own memory account it binds the kernels
    /// (packed weights, decompressed constants) that a live session of the same variant, kernel
    /// path and sizes prepared, so N sessions hold the weights once and each only its own arena;
    /// else it prepares them, for the next session to share.
    /// Weights the package has pre-packed for the path's layout (PACK) are used in place, not packed again.
    public func executor(variant index: Int, options: ExecutorOptions) throws -> Executor {
        var options = options
        if options.packedWeights == nil, let packages = self.index, index >= 0, index < contents.graphs.count,
           let layout = try KernelISA.resolve(options.isa).packedLayout {
            options.packedWeights = try packages.packedWeights(variant: index, layout: layout)
        }
        guard options.account === account else { return try Executor(graph: try graph(at: index), options: options) }
        let key = PreparedKernelsKey(variant: index, isa: try KernelISA.resolve(options.isa), bindings: options.bindings)
        return try preparedKernelsLock.withLock {
            if let kernels = preparedKernels[key]?.kernels { return try Executor(sharing: kernels, options: options) }
            let executor = try Executor(graph: try graph(at: index), options: options)
            preparedKernels = preparedKernels.filter { $0.value.kernels != nil }
            preparedKernels[key] = WeakPreparedKernels(kernels: executor.kernels)
            return executor
        }
    }

    /// The kernel layouts variant `index` has pre-packed weights for (its PACK sections stored raw).
    public func packedLayouts(variant index: Int) -> [String] {
        self.index?.packedLayouts(variant: index) ?? []
    }

    public func graph(at index: Int) throws -> Graph {
        guard index >= 0, index < contents.graphs.count else {
            throw EmberError.invalidArgument("variant #\(index) does not exist; the package has \(contents.graphs.count)")
        }
        return try self.index?.loadedGraph(index) ?? contents.graphs[index]
    }
}

struct WeakPreparedKernels {
    weak var kernels: PreparedKernels?
}

/// What prepared kernels depend on: the variant, the kernel path and the sizes of symbolic dims.
struct PreparedKernelsKey: Hashable {
    var variant: Int
    var isa: KernelISA
    var bindings: [String: Int]
}

/// Bytes copied into memory of their own, 64-byte aligned (as a mapped file's tensors are), freed with this object.
final class OwnedBytes: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer

    init(copying source: UnsafeRawBufferPointer) {
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: source.count, alignment: 64)
        memory.copyMemory(from: source)
        bytes = UnsafeRawBufferPointer(memory)
    }

    deinit { bytes.deallocate() }
}

/// An owned tensor: element type, dims and bytes (row-major).
public struct Tensor: Sendable, Equatable {
    public var dtype: DType
    public var dims: [Int]
    public var bytes: [UInt8]

    public init(dtype: DType, dims: [Int], bytes: [UInt8]) {
        self.dtype = dtype; self.dims = dims; self.bytes = bytes
    }

    public init(_ floats: [Float], dims: [Int]) {
        self.init(dtype: .f32, dims: dims, bytes: floats.withUnsafeBytes { Array($0) })
    }

    public init(_ ints: [Int8], dims: [Int]) {
        self.init(dtype: .i8, dims: dims, bytes: ints.withUnsafeBytes { Array($0) })
    }

    /// The elements as Float (f32 only; empty otherwise).
    public var floats: [Float] {
        guard dtype == .f32 else { return [] }
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The elements as Int8 (i8 only; empty otherwise).
    public var int8s: [Int8] {
        guard dtype == .i8 else { return [] }
        return bytes.map { Int8(bitPattern: $0) }
    }
}

/// A prepared variant of a package, ready to run. One arena, sized by the plan;
/// `run()` after writing inputs in place allocates nothing.
///
/// A model with bounded dynamic dims (`ember pack --dim seq<=128`) is prepared at its bounds, so
/// the arena is sized for the largest input. Inputs of another shape within the bounds re-plan
/// once (`reshape(inputDims:)`, or `run(_:)` does it when the feeds' shapes change); runs at one
/// shape allocate nothing.
public final class Session {
    public let package: EmberPackage
    public let variant: VariantRecord
    public private(set) var executor: Executor

    public var inputs: [TensorSlot] { executor.inputs }
    public var outputs: [TensorSlot] { executor.outputs }
    /// Bytes of the arena (planned for the bounds of any dynamic dims).
    public var arenaBytes: Int { executor.arenaCapacity }

    /// Prepares `variant` (default: the first). Its arena and prepared
    /// parameters are charged to the package's memory account, under the
    /// package's limits, unless `options` brings an account of its own.
    /// With `limits`, the session is checked against those instead, on an account of its own.
    /// `threads` (when given) overrides `options.threads`.
    public init(package: EmberPackage, variant: String? = nil, limits: LoadLimits? = nil, threads: Int? = nil,
                options: ExecutorOptions = ExecutorOptions()) throws {
        self.package = package
        let i = try package.variantIndex(variant)
        self.variant = package.variants[i]
        var o = options
        if let threads { o.threads = threads }
        if let limits {
            o.limits = limits
            o.account = MemoryAccount(limit: limits.maxMemoryBytes)
        } else if o.account == nil {
            o.account = package.account
            o.limits = package.limits
        }
        if o.label == nil { o.label = "variant '\(package.variants[i].name)'" }
        executor = try package.executor(variant: i, options: o)
    }

    /// Prepares for inputs of these dims (`inputDims[i]` for input i), within the bounds of the
    /// model's dynamic dims. Does nothing (and allocates nothing) when they are the current ones;
    /// otherwise re-plans once. A shape outside the bounds is an `invalidInput` naming the dim.
    public func reshape(inputDims: [[Int]]) throws {
        if inputDims.count == executor.inputs.count {
            var same = true
            for i in 0..<inputDims.count where inputDims[i] != executor.inputs[i].info.dims { same = false }
            if same { return }
        }
        let bindings = try executor.graph.bindings(forInputDims: inputDims)
        executor = try executor.rebound(to: bindings)
    }

    /// Runs on owned tensors, checking each against the model (dtype and shape):
    /// a mismatch names the input, what was expected and what was given. Feeds of a new shape
    /// within the model's bounds re-plan first (see `reshape(inputDims:)`).
    /// Allocates the result arrays; use `inputBuffer`/`run()`/`outputBuffer` to avoid that.
    /// `threads` (default: all the session was prepared with) may be fewer than prepared.
    public func run(_ feeds: [String: Tensor], threads: Int? = nil) throws -> [String: Tensor] {
        try load(feeds)
        executor.run(threads: threads ?? executor.threads)
        return outputTensors()
    }

    /// Checks `feeds` against the model and copies them into the input buffers (re-planning first
    /// when their shapes are new); `run(_:)` without running.
    public func load(_ feeds: [String: Tensor]) throws {
        for name in feeds.keys where !inputs.contains(where: { $0.name == name }) {
            throw EmberError.invalidInput(name: name, reason: "the model has no such input; inputs are \(inputs.map(\.name).joined(separator: ", "))")
        }
        if executor.hasSymbolicInputs {
            let dims = try inputs.map { slot in
                guard let t = feeds[slot.name] else {
                    throw EmberError.invalidInput(name: slot.name, reason: "missing; expected \(slot.info)")
                }
                return t.dims
            }
            try reshape(inputDims: dims)
        }
        for (i, slot) in inputs.enumerated() {
            guard let t = feeds[slot.name] else {
                throw EmberError.invalidInput(name: slot.name, reason: "missing; expected \(slot.info)")
            }
            guard t.dtype == slot.info.dtype, t.dims == slot.info.dims else {
                throw EmberError.invalidInput(name: slot.name, reason: "expected \(slot.info), got \(t.dtype)\(formatDims(t.dims))")
            }
            guard t.bytes.count == slot.byteCount else {
                throw EmberError.invalidInput(name: slot.name, reason: "expected \(slot.byteCount) bytes, got \(t.bytes.count)")
            }
            let dst = executor.inputBuffer(i)
            t.bytes.withUnsafeBytes { dst.copyMemory(from: $0) }
        }
    }

    /// The output buffers as owned tensors, by output name.
    public func outputTensors() -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for (i, slot) in outputs.enumerated() {
            result[slot.name] = Tensor(dtype: slot.info.dtype, dims: slot.info.dims, bytes: Array(executor.outputBuffer(i)))
        }
        return result
    }

    public func inputBuffer(_ index: Int) -> UnsafeMutableRawBufferPointer { executor.inputBuffer(index) }
    public func outputBuffer(_ index: Int) -> UnsafeRawBufferPointer { executor.outputBuffer(index) }
    /// One inference on the input buffers as they are. Allocates nothing.
    public func run() { executor.run() }
}
