#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The one way Ember reads a file it did not write: a path a user, a config
/// or the network handed over. It opens without blocking (a FIFO or a device
/// named by mistake never hangs the caller), requires a regular file (or a
/// character device where `allowCharacterDevice` says that is the point),
/// refuses anything larger than `maxBytes` before reading a byte, and says in
/// every error what the file was for, its quoted path and why, in words.
public struct FileReadPolicy: Sendable {
    /// What the file is for, as errors name it: "package", "labels file", "envelope".
    public var what: String
    public var maxBytes: Int
    public var allowCharacterDevice = false

    public init(_ what: String, maxBytes: Int, allowCharacterDevice: Bool = false) {
        self.what = what; self.maxBytes = maxBytes; self.allowCharacterDevice = allowCharacterDevice
    }

    /// Text configuration a person edits: envelopes, device profiles, labels.
    public static func config(_ what: String) -> FileReadPolicy { FileReadPolicy(what, maxBytes: 1 << 20) }
    /// Workload traces (up to a few million requests).
    public static let trace = FileReadPolicy("trace", maxBytes: 256 << 20)
    /// .npy tensors (inputs, calibration samples).
    public static let npy = FileReadPolicy(".npy file", maxBytes: 1 << 30)
    /// Models to import (.tflite).
    public static let model = FileReadPolicy("model", maxBytes: 2 << 30)
    /// A whole package read into memory (`ember sign`); running ones are mapped instead.
    public static let package = FileReadPolicy("package", maxBytes: 4 << 30)
}

/// An open file checked against a policy. Closes itself.
public final class CheckedFile {
    public let path: String
    public let descriptor: Int32
    public let size: Int

    /// Opens `path` read-only, non-blocking and close-on-exec, and checks its type and size.
    public init(path: String, policy: FileReadPolicy) throws {
        guard !path.isEmpty else {
            throw EmberError.io(path: path, errno: 0, reason: "the \(policy.what) path is empty")
        }
        self.path = path
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw EmberError.io(path: path, errno: errno, reason: "cannot open the \(policy.what)") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw EmberError.io(path: path, errno: e, reason: "cannot stat the \(policy.what)")
        }
        let type = st.st_mode & S_IFMT
        let isCharacterDevice = type == S_IFCHR && policy.allowCharacterDevice
        guard type == S_IFREG || isCharacterDevice else {
            close(fd)
            throw EmberError.io(path: path, errno: 0, reason: "the \(policy.what) is \(fileTypeName(type)), not a regular file")
        }
        let size = Int(st.st_size)
        guard size <= policy.maxBytes else {
            close(fd)
            throw EmberError.limitExceeded(what: "the \(policy.what) '\(path)'", needs: size, limit: policy.maxBytes,
                                           hint: " (larger than any \(policy.what) Ember reads)")
        }
        descriptor = fd
        self.size = size
    }

    /// Reads the whole file (at most `maxBytes`, even if it grows while being read).
    public func readAll(maxBytes: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(min(size, maxBytes))
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { throw EmberError.io(path: path, errno: 0, reason: "has no data ready (a device or pipe?)") }
                throw EmberError.io(path: path, errno: errno, reason: "cannot read")
            }
            if n == 0 { break }
            guard out.count + n <= maxBytes else {
                throw EmberError.limitExceeded(what: "'\(path)'", needs: out.count + n, limit: maxBytes, hint: " (the file grew while being read)")
            }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    deinit { close(descriptor) }
}

/// Reads a whole file under `policy`.
public func readFile(_ path: String, _ policy: FileReadPolicy) throws -> [UInt8] {
    try CheckedFile(path: path, policy: policy).readAll(maxBytes: policy.maxBytes)
}

/// Reads a UTF-8 text file under `policy`: a leading byte-order mark is
/// dropped; a NUL byte or invalid UTF-8 is an error naming the line (a NUL
/// would silently cut a number short in the C parsers below Swift's).
public func readTextFile(_ path: String, _ policy: FileReadPolicy) throws -> String {
    try decodeText(try readFile(path, policy), name: path)
}

/// The text of `bytes` as `readTextFile` checks it.
public func decodeText(_ bytes: [UInt8], name: String) throws -> String {
    guard let text = String(validating: bytes, as: UTF8.self) else {
        // A binary file is usually invalid UTF-8 as well; its NUL line says more.
        _ = try normalizedText(String(decoding: bytes, as: UTF8.self), name: name)
        throw EmberError.io(path: name, errno: 0, reason: "is not valid UTF-8 text")
    }
    return try normalizedText(text, name: name)
}

/// `text` without a leading byte-order mark; a NUL character is an error naming
/// the line (C number parsers would stop there: "25<NUL>99999" would read as 25).
public func normalizedText(_ text: String, name: String) throws -> String {
    var s = Substring(text)
    if s.unicodeScalars.first == "\u{FEFF}" { s = Substring(s.unicodeScalars.dropFirst()) }
    if s.utf8.contains(0) {
        for (n, line) in textLines(String(s)).enumerated() where line.utf8.contains(0) {
            throw EmberError.io(path: name, errno: 0, reason: "line \(n + 1) holds a NUL byte; this is not a text file")
        }
    }
    return String(s)
}

/// Lines of `text`, split at LF with a trailing CR removed (CRLF files from
/// Windows editors). Swift treats "\r\n" as one Character, so splitting a
/// String at "\n" would leave a CRLF file as one line.
public func textLines(_ text: String) -> [Substring] {
    var lines: [Substring] = []
    var start = text.utf8.startIndex
    let utf8 = text.utf8
    var i = start
    while i != utf8.endIndex {
        if utf8[i] == 0x0A {
            var end = i
            if end > start, utf8[utf8.index(before: end)] == 0x0D { end = utf8.index(before: end) }
            lines.append(text[start..<end])
            start = utf8.index(after: i)
        }
        i = utf8.index(after: i)
    }
    var end = utf8.endIndex
    if end > start, utf8[utf8.index(before: end)] == 0x0D { end = utf8.index(before: end) }
    lines.append(text[start..<end])
    return lines
}

/// The C library's words for an errno value ("No such file or directory").
public func errnoDescription(_ code: Int32) -> String {
    guard let s = strerror(code) else { return "error \(code)" }
    return String(cString: s)
}

func fileTypeName(_ type: mode_t) -> String {
    switch type {
    case S_IFDIR: return "a directory"
    case S_IFIFO: return "a FIFO (named pipe)"
    case S_IFSOCK: return "a socket"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFLNK: return "a symbolic link"
    default: return "not a regular file"
    }
}

/// Names in a directory that `keeping` accepts, hidden ones (a leading '.') left out, in directory
/// order; [] if it does not exist and `missingIsEmpty`. More than `limit` kept names is a
/// `limitExceeded` (counted in `unit`) as soon as the one too many is read. `what` names the
/// directory in errors.
public func listDirectory(_ dir: String, missingIsEmpty: Bool = true, what: String = "directory",
                          limit: Int = Int.max, unit: String = "entries",
                          keeping: (String) -> Bool = { _ in true }) throws -> [String] {
    guard let d = opendir(dir) else {
        if errno == ENOENT && missingIsEmpty { return [] }
        throw EmberError.io(path: dir, errno: errno, reason: "cannot open the \(what)")
    }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard !name.hasPrefix("."), keeping(name) else { continue }
        names.append(name)
        try LoadLimits.check("\(what) '\(dir)'", needs: names.count, limit: limit, unit: unit)
    }
    return names
}

/// CLOCK_MONOTONIC in nanoseconds (the one clock the runtime, the scheduler and the server time with).
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
