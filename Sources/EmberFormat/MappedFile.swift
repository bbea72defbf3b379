#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import EmberCore

/// A read-only, private memory mapping of a whole file. Raw tensor sections
/// are used in place from it (zero copy); it stays mapped while anything
/// borrowing its bytes is alive.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    private let mappedLength: Int

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EmberError.io(path: path, errno: errno, reason: "cannot open") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw EmberError.io(path: path, errno: errno, reason: "cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw EmberError.io(path: path, errno: 0, reason: "not a regular file") }
        let size = Int(st.st_size)
        guard size > 0 else {
            throw EmberError.io(path: path, errno: 0, reason: "file is empty")
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw EmberError.io(path: path, errno: errno, reason: "cannot map \(size) bytes")
        }
        bytes = UnsafeRawBufferPointer(start: p, count: size)
        mappedLength = size
    }

    /// Runs `body` on the mapped bytes while keeping the mapping alive. Use this
    /// (not `bytes`) whenever nothing else holds the file: Swift may release an
    /// object right after its last use, and a released mapping is unmapped.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(bytes) }
    }

    /// The whole file, copied.
    public static func readAll(path: String) throws -> [UInt8] {
        try MappedFile(path: path).withBytes { Array($0) }
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), mappedLength) }
    }
}

/// Writes `bytes` to `path` atomically enough for a CLI: to `path.tmp`, then rename.
public func writeFile(_ bytes: [UInt8], to path: String) throws {
    let tmp = path + ".tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw EmberError.io(path: path, errno: errno, reason: "cannot create") }
    var written = 0
    let ok: Bool = bytes.withUnsafeBytes { buf in
        while written < buf.count {
            let n = write(fd, buf.baseAddress! + written, buf.count - written)
            if n < 0 { if errno == EINTR { continue }; return false }
            written += n
        }
        return true
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
