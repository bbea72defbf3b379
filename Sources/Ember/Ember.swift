// Ember — the public Swift API: load a `.ember` package (`EmberPackage`),
// open a `Session` on one of its variants, run it. Also `Tensor` (owned
// values for the convenient API) and `NPY` (.npy files, untrusted input).
//
// `import Ember` is enough: the IR (EmberCore) and the format types are re-exported.
@_exported import EmberCore
@_exported import EmberFormat
@_exported import EmberRuntime

/// A loaded, validated package. Raw tensor sections stay in the file mapping.
public final class EmberPackage: @unchecked Sendable {
    public let contents: PackageContents
    public let path: String?
    /// Size of the package file in bytes (0 for packages built in memory).
    public let fileBytes: Int

    public var metadata: PackageMetadata { contents.metadata }
    public var variants: [VariantRecord] { contents.variants }

    /// Maps and validates `path`. Errors say which section and byte is wrong.
    public init(path: String, limits: LoadLimits = LoadLimits()) throws {
        let file = try MappedFile(path: path)
        contents = try file.withBytes { try PackageReader.read(bytes: $0, owner: file, limits: limits) }
        self.path = path
        fileBytes = file.bytes.count
    }

    public init(contents: PackageContents) {
        self.contents = contents
        path = nil
        fileBytes = 0
    }

    /// Index of the variant called `name`; nil picks the first (best) rung.
    public func variantIndex(_ name: String?) throws -> Int {
        guard let name else { return 0 }
        guard let i = variants.firstIndex(where: { $0.name == name }) else {
            throw EmberError.invalidArgument("no variant named '\(name)'; the package has \(variants.map(\.name).joined(separator: ", "))")
        }
        return i
    }

    public func graph(variant: String? = nil) throws -> Graph {
        contents.graphs[try variantIndex(variant)]
    }
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
public final class Session {
    public let package: EmberPackage
    public let variant: VariantRecord
    public let executor: Executor

    public var inputs: [TensorSlot] { executor.inputs }
    public var outputs: [TensorSlot] { executor.outputs }
    public var arenaBytes: Int { executor.arenaBytes }

    public init(package: EmberPackage, variant: String? = nil, options: ExecutorOptions = ExecutorOptions()) throws {
        self.package = package
        let i = try package.variantIndex(variant)
        self.variant = package.variants[i]
        executor = try Executor(graph: package.contents.graphs[i], options: options)
    }

    /// Runs on owned tensors, checking each against the model (dtype and shape):
    /// a mismatch names the input, what was expected and what was given.
    /// Allocates the result arrays; use `inputBuffer`/`run()`/`outputBuffer` to avoid that.
    public func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        for name in feeds.keys where !inputs.contains(where: { $0.name == name }) {
            throw EmberError.invalidInput(name: name, reason: "the model has no such input; inputs are \(inputs.map(\.name).joined(separator: ", "))")
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
        executor.run()
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
