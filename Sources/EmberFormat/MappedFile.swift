#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CEmberSys
import EmberCore

/// How a package file is held in memory while sessions use it.
public enum PackageFileProtection: String, Sendable, CaseIterable {
    /// Lease where the kernel allows it, else a private copy.
    case automatic
    /// A read-only mapping of the file under a read lease (`F_SETLEASE`): zero
    /// copy until someone opens the file for writing or truncates it; then a
    /// signal handler swaps in a private copy of the same bytes before the
    /// kernel lets the writer go on (CEmberSys). Needs the file's owner or
    /// CAP_LEASE, and no writer holding it open.
    case lease
    /// The whole file read into private memory: costs its size in RAM, safe
    /// whatever happens to the file.
    case privateCopy = "copy"
}

/// A package file held so that it cannot change or vanish under a running
/// session: replacing it in place (`cp new.ember live.ember`), truncating it
/// or writing into it never reaches the bytes Ember reads (no SIGBUS). Raw
/// tensor sections are used in place from `bytes`, which stay valid while this
/// object lives. Deploy by atomic rename all the same: it is cheaper, and a
/// process started meanwhile never sees a half-written file.
public final class PackageFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    /// What was done: `.lease` or `.privateCopy` (never `.automatic`).
    public let protection: PackageFileProtection
    private let leaseSlot: Int32

    public init(path: String, maxBytes: Int = LoadLimits().maxFileBytes, protection: PackageFileProtection = .automatic) throws {
        self.path = path
        let file = try CheckedFile(path: path, policy: FileReadPolicy("package", maxBytes: maxBytes))
        guard file.size > 0 else { throw EmberError.io(path: path, errno: 0, reason: "the package is empty") }
        var address: UnsafeRawPointer? = nil
        if protection != .privateCopy {
            // The lease needs its own descriptor: CheckedFile closes its one.
            let fd = dup(file.descriptor)
            var slot: Int32 = -1
            var length = 0
            // The size is read again under the lease: the file may have changed since it was opened.
            let status = fd < 0 ? errno : ember_leased_map(fd, maxBytes, &address, &length, &slot)
            if status == 0, let address {
                bytes = UnsafeRawBufferPointer(start: address, count: length)
                self.protection = .lease
                leaseSlot = slot
                return
            }
            if fd >= 0 { close(fd) }
            if protection == .lease {
                throw EmberError.io(path: path, errno: status, reason: "cannot take a read lease on the package")
            }
        }
        let status = ember_private_copy(file.descriptor, file.size, &address)
        guard status == 0, let address else {
            throw EmberError.io(path: path, errno: status, reason: "cannot read the \(file.size)-byte package")
        }
        bytes = UnsafeRawBufferPointer(start: address, count: file.size)
        self.protection = .privateCopy
        leaseSlot = -1
    }

    /// Whether a writer broke the lease and the bytes are now a private copy.
    public var wasReplacedByCopy: Bool { leaseSlot >= 0 && ember_leased_state(leaseSlot) == 2 }

    /// Lease breaks answered with a private copy in this process, all packages.
    public static var leaseBreaks: UInt64 { ember_lease_breaks() }

    /// Runs `body` on the bytes while keeping them alive. Use this (not `bytes`)
    /// whenever nothing else holds the file: Swift may release an object right
    /// after its last use.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(bytes) }
    }

    deinit {
        if leaseSlot >= 0 {
            ember_leased_unmap(leaseSlot)
        } else {
            ember_private_unmap(bytes.baseAddress, bytes.count)
        }
    }
}

/// Writes `bytes` to `path` atomically: to a temporary file beside it, flushed,
/// then renamed over `path`. A reader never sees a half-written file, and a
/// process holding the old file keeps the old bytes. `mode` is the new file's (less the umask).
public func writeFile(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws {
    guard !path.isEmpty else { throw EmberError.io(path: path, errno: 0, reason: "the output path is empty") }
    let tmp = path + ".tmp"
    unlink(tmp) // a stale one would keep its old mode
    let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw EmberError.io(path: path, errno: errno, reason: "cannot create") }
    var written = 0
    let ok: Bool = bytes.withUnsafeBytes { buf in
        guard let base = buf.baseAddress else { return true }
        while written < buf.count {
            let n = write(fd, base + written, buf.count - written)
            if n < 0 { if errno == EINTR { continue }; return false }
            written += n
        }
        return fsync(fd) == 0
    }
    let writeErrno = errno
    close(fd)
    guard ok else {
        unlink(tmp)
        throw EmberError.io(path: path, errno: writeErrno, reason: "write failed")
    }
    guard rename(tmp, path) == 0 else {
        let e = errno
        unlink(tmp)
        throw EmberError.io(path: path, errno: e, reason: "cannot rename into place")
    }
}
