/// Caps on what a package (or an imported model) may make Ember allocate or
/// loop over. Every size that comes from a file is checked against these
/// before anything is allocated by it; a package that needs more is refused
/// with `EmberError.limitExceeded`, which names the figure and the limit.
///
/// `maxMemoryBytes` is the resident memory one loaded package and its sessions
/// may ask for: decompressed tensor sections, each session's arena and its
/// prepared parameters. The structural caps bound the work a file can ask for
/// before any of that is known.
public struct LoadLimits: Sendable, Equatable {
    /// The package (or model) file itself.
    public var maxFileBytes: Int = 4 << 30
    /// Decompressed bytes of one META, VARS or GRPH section (these are decoded
    /// into Swift structures, so they cost memory beyond their size).
    public var maxStructureSectionBytes: Int = 64 << 20
    /// Values and nodes of one graph.
    public var maxValues: Int = 1 << 16
    /// The memory planner is quadratic in buffers; 16,384 nodes plan in well under a second.
    public var maxNodes: Int = 1 << 14
    /// Elements of one tensor. Kernels index within a tensor in 32 bits.
    public var maxTensorElements: Int = Int(Int32.max)
    /// Resident bytes: decompressed tensors + arena + prepared parameters.
    public var maxMemoryBytes: Int = 1 << 30

    public init() {}

    /// Default structural caps with `memoryBytes` as the memory cap.
    public init(memoryBytes: Int) {
        self.init()
        maxMemoryBytes = memoryBytes
    }

    /// Throws `limitExceeded` when `needs` is over `limit`.
    public static func check(_ what: String, needs: Int, limit: Int, unit: String = "bytes", hint: String = "") throws {
        guard needs <= limit else { throw EmberError.limitExceeded(what: what, needs: needs, limit: limit, unit: unit, hint: hint) }
    }
}

/// Structural rules of the IR that every producer (builder, importer, packer)
/// and the package reader share, so that nothing can be written that the
/// reader refuses.
public enum GraphLimits {
    /// Highest tensor rank.
    public static let maxRank = 8
    /// Longest value, node, graph or symbolic-dim name, in UTF-8 bytes.
    public static let maxNameBytes = 4096
    /// Longest attribute list (axes, pads, perm, begin/end/strides).
    public static let maxAttributeCount = 32
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread mutex at a stable address (a Swift stored `pthread_mutex_t` may move).
public final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// Resident bytes charged against one cap (`LoadLimits.maxMemoryBytes`): a
/// package's decompressed tensor sections and every session's arena and
/// prepared parameters draw on the same account, so a ladder of sessions is
/// bounded as a whole. Thread-safe.
public final class MemoryAccount: @unchecked Sendable {
    public let limit: Int
    private var usedBytes = 0
    private let lock = Lock()

    public init(limit: Int) {
        self.limit = limit
    }

    public var used: Int { lock.withLock { usedBytes } }

    /// Charges `bytes` for `what`, or throws `limitExceeded` (and charges nothing).
    public func reserve(_ bytes: Int, for what: String) throws {
        try lock.withLock {
            guard bytes >= 0, let total = checkedAdd(usedBytes, bytes), total <= limit else {
                let held = usedBytes > 0 ? " (\(formatBytes(usedBytes)) already in use)" : ""
                throw EmberError.limitExceeded(what: what, needs: max(bytes, 0), limit: limit,
                                               hint: held + "; raise it with --max-memory or LoadLimits.maxMemoryBytes")
            }
            usedBytes = total
        }
    }

    public func release(_ bytes: Int) {
        lock.withLock { usedBytes = max(0, usedBytes - bytes) }
    }
}
