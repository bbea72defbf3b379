// EmberC — the C API (libember): the functions of Sources/CEmberAPI/include/ember.h, exported with
// @_cdecl. Handles are retained Swift objects registered in `handles`: every call checks its handle
// against the live ones (a destroyed or foreign handle is an error, not a crash), every pointer
// for NULL and every index and length against the model. Errors become an `ember_status` plus the
// calling thread's `ember_last_error()` message (kept in C, CEmberAPI).
//
// Nothing here may call the C declarations of the functions it defines (same symbol names).
import CEmberAPI
import Ember
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// MARK: - Handles and errors

/// The live handles of this process, by address.
final class HandleRegistry: @unchecked Sendable {
    private var live: Set<UInt> = []
    private let lock = Lock()

    func register(_ object: AnyObject) -> OpaquePointer {
        let pointer = Unmanaged.passRetained(object).toOpaque()
        _ = lock.withLock { live.insert(UInt(bitPattern: pointer)) }
        return OpaquePointer(pointer)
    }

    /// The object behind a live handle of type `T` (retained for the caller, so another thread's
    /// destroy cannot free it mid-call).
    func object<T: AnyObject>(_ handle: OpaquePointer?, as type: T.Type, _ what: String) throws -> T {
        guard let handle else { throw EmberError.invalidArgument("the \(what) handle is NULL") }
        // Checked and retained under the lock: a release cannot come between.
        return try lock.withLock {
            guard live.contains(UInt(bitPattern: UnsafeRawPointer(handle))) else {
                throw EmberError.invalidArgument("not a live \(what) handle (destroyed already, or never created)")
            }
            guard let object = Unmanaged<AnyObject>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue() as? T else {
                throw EmberError.invalidArgument("the handle is not an ember_\(what)")
            }
            return object
        }
    }

    /// Unregisters a live handle of type `T` and drops the registry's reference.
    func release<T: AnyObject>(_ handle: OpaquePointer, as type: T.Type, _ what: String) throws {
        _ = try object(handle, as: type, what)
        let removed = lock.withLock { live.remove(UInt(bitPattern: UnsafeRawPointer(handle))) != nil }
        // Another thread may have released it between the check and the removal: release once only.
        if removed { Unmanaged<AnyObject>.fromOpaque(UnsafeRawPointer(handle)).release() }
    }
}

let handles = HandleRegistry()

func status(of error: Error) -> ember_status {
    guard let error = error as? EmberError else { return EMBER_ERROR_INTERNAL }
    switch error {
    case .malformedPackage: return EMBER_ERROR_MALFORMED_PACKAGE
    case .malformedModel: return EMBER_ERROR_MALFORMED_PACKAGE
    case .incompatiblePackage: return EMBER_ERROR_INCOMPATIBLE_PACKAGE
    case .invalidGraph: return EMBER_ERROR_INVALID_GRAPH
    case .unsupported: return EMBER_ERROR_UNSUPPORTED
    case .invalidInput: return EMBER_ERROR_INVALID_INPUT
    case .io: return EMBER_ERROR_IO
    case .invalidArgument: return EMBER_ERROR_INVALID_ARGUMENT
    case .overBudget: return EMBER_ERROR_OVER_BUDGET
    case .invalidConfiguration: return EMBER_ERROR_INVALID_CONFIGURATION
    case .limitExceeded: return EMBER_ERROR_LIMIT_EXCEEDED
    case .untrustedPackage: return EMBER_ERROR_UNTRUSTED_PACKAGE
    }
}

/// Runs `body`; a thrown error becomes its status and the thread's last error message.
func guarded(_ body: () throws -> Void) -> ember_status {
    do {
        try body()
        return EMBER_OK
    } catch {
        var message = (error as? EmberError)?.description ?? "internal error: \(error)"
        message.withUTF8 { ember_api_set_error(UnsafeRawPointer($0.baseAddress)?.assumingMemoryBound(to: CChar.self), $0.count) }
        return status(of: error)
    }
}

func required<T>(_ pointer: UnsafeMutablePointer<T>?, _ what: String) throws -> UnsafeMutablePointer<T> {
    guard let pointer else { throw EmberError.invalidArgument("\(what) is NULL") }
    return pointer
}

/// A caller's C string as a String: NULL is nil, bytes that are not UTF-8 are an error.
func string(_ pointer: UnsafePointer<CChar>?, _ what: String) throws -> String? {
    guard let pointer else { return nil }
    guard let s = String(validatingCString: pointer) else { throw EmberError.invalidArgument("\(what) is not UTF-8") }
    return s
}

/// A C copy of `s`, owned by the caller (free it).
func duplicate(_ s: String) -> UnsafeMutablePointer<CChar> {
    let bytes = Array(s.utf8)
    let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
    for (i, b) in bytes.enumerated() { copy[i] = CChar(bitPattern: b) }
    copy[bytes.count] = 0
    return copy
}

/// A struct argument whose `struct_size` must be the one this library was built with.
func checkedStructSize(_ size: UInt32, _ expected: Int, _ what: String) throws {
    guard Int(size) == expected else {
        throw EmberError.invalidArgument("\(what).struct_size is \(size), this library's is \(expected): call \(what)_init first, with this library's ember.h")
    }
}

// MARK: - Packages

final class PackageHandle {
    let package: EmberPackage
    let variantNames: [UnsafeMutablePointer<CChar>]
    let qualityMetrics: [UnsafeMutablePointer<CChar>]

    init(_ package: EmberPackage) {
        self.package = package
        variantNames = package.variants.map { duplicate($0.name) }
        qualityMetrics = package.variants.map { duplicate($0.qualityMetric) }
    }

    deinit {
        for p in variantNames + qualityMetrics { p.deallocate() }
    }
}

struct PackageOpenOptions {
    var limits = LoadLimits()
    var protection = PackageFileProtection.automatic
    var trustedKeys: TrustedKeys?
}

func openOptions(_ options: UnsafePointer<ember_package_options>?) throws -> PackageOpenOptions {
    var result = PackageOpenOptions()
    guard let o = options?.pointee else { return result }
    try checkedStructSize(o.struct_size, MemoryLayout<ember_package_options>.size, "ember_package_options")
    if o.memory_limit_bytes > 0 {
        guard o.memory_limit_bytes <= UInt64(Int.max) else { throw EmberError.invalidArgument("memory_limit_bytes \(o.memory_limit_bytes) is too large") }
        result.limits.maxMemoryBytes = Int(o.memory_limit_bytes)
    }
    let protections: [PackageFileProtection] = [.automatic, .lease, .privateCopy]
    guard o.file_protection >= 0, Int(o.file_protection) < protections.count else {
        throw EmberError.invalidArgument("file_protection must be 0 (automatic), 1 (lease) or 2 (private copy), got \(o.file_protection)")
    }
    result.protection = protections[Int(o.file_protection)]
    guard o.require_signature == 0 || o.require_signature == 1 else {
        throw EmberError.invalidArgument("require_signature must be 0 or 1, got \(o.require_signature)")
    }
    result.trustedKeys = try string(o.trusted_keys_dir, "trusted_keys_dir").map {
        try TrustedKeys(directory: $0, requireSignature: o.require_signature == 1)
    }
    return result
}

@_cdecl("ember_version")
public func emberVersionCString() -> UnsafePointer<CChar> { versionCString }

/// Allocated once, never freed or written: safe to share.
nonisolated(unsafe) let versionCString = UnsafePointer(duplicate(emberVersion))

@_cdecl("ember_package_open")
public func emberPackageOpen(_ path: UnsafePointer<CChar>?, _ options: UnsafePointer<ember_package_options>?,
                             _ out: UnsafeMutablePointer<OpaquePointer?>?) -> ember_status {
    guarded {
        let out = try required(out, "out")
        out.pointee = nil
        guard let path = try string(path, "path") else { throw EmberError.invalidArgument("path is NULL") }
        let o = try openOptions(options)
        let package = try EmberPackage(path: path, limits: o.limits, protection: o.protection, trustedKeys: o.trustedKeys)
        out.pointee = handles.register(PackageHandle(package))
    }
}

@_cdecl("ember_package_open_memory")
public func emberPackageOpenMemory(_ data: UnsafeRawPointer?, _ size: Int, _ options: UnsafePointer<ember_package_options>?,
                                   _ out: UnsafeMutablePointer<OpaquePointer?>?) -> ember_status {
    guarded {
        let out = try required(out, "out")
        out.pointee = nil
        guard let data else { throw EmberError.invalidArgument("data is NULL") }
        guard size > 0 else { throw EmberError.invalidArgument("size is 0") }
        let o = try openOptions(options)
        let package = try EmberPackage(bytes: UnsafeRawBufferPointer(start: data, count: size), limits: o.limits,
                                       trustedKeys: o.trustedKeys)
        out.pointee = handles.register(PackageHandle(package))
    }
}

@_cdecl("ember_package_close")
public func emberPackageClose(_ package: OpaquePointer?) -> ember_status {
    guarded {
        guard let package else { return }
        try handles.release(package, as: PackageHandle.self, "package")
    }
}

@_cdecl("ember_package_variant_count")
public func emberPackageVariantCount(_ package: OpaquePointer?, _ count: UnsafeMutablePointer<Int>?) -> ember_status {
    guarded {
        let count = try required(count, "count")
        count.pointee = try handles.object(package, as: PackageHandle.self, "package").package.variants.count
    }
}

@_cdecl("ember_package_variant")
public func emberPackageVariant(_ package: OpaquePointer?, _ index: Int, _ info: UnsafeMutablePointer<ember_variant_info>?) -> ember_status {
    guarded {
        let info = try required(info, "info")
        let handle = try handles.object(package, as: PackageHandle.self, "package")
        let variants = handle.package.variants
        guard index >= 0, index < variants.count else {
            throw EmberError.invalidArgument("variant index \(index) is out of range: the package has \(variants.count)")
        }
        let v = variants[index]
        info.pointee = ember_variant_info(
            name: UnsafePointer(handle.variantNames[index]), quality: v.quality,
            quality_metric: UnsafePointer(handle.qualityMetrics[index]), macs: UInt64(max(0, v.macs)),
            weight_bytes: UInt64(max(0, v.weightBytes)), arena_bytes: UInt64(max(0, v.arenaBytes)))
    }
}
