#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EmberCore

/// A value read from a sensor, or why there is none. "Unreadable" is not
/// "broken": RAPL counters are root-only on most kernels since CVE-2020-8694,
/// and a VM has no thermal zones at all.
public enum Reading<Value: Sendable & Equatable>: Sendable, Equatable {
    case available(Value)
    case unavailable(String)

    public var value: Value? {
        if case let .available(v) = self { return v }
        return nil
    }
}

/// Reads files under a root directory: "/" on a device, a fake tree in tests
/// (Tests/Fixtures/sysfs/*). Every read is bounded (4 KiB) and every parse is
/// checked: a malformed file is an `unavailable` reading, never a crash.
public struct SysfsRoot: Sendable {
    public let root: String

    public init(_ root: String = "/") {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    public func path(_ relative: String) -> String {
        root + (relative.hasPrefix("/") ? relative : "/" + relative)
    }

    /// File contents without the trailing newline, or the reason they are not
    /// there. Only a regular file is read (opened without blocking, so a FIFO
    /// planted in a fake tree cannot hang the reader), and control characters —
    /// an ANSI escape in a zone's `type` — come back as '?'.
    public func text(_ relative: String) -> Reading<String> {
        let p = path(relative)
        let fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            let e = errno
            switch e {
            case ENOENT: return .unavailable("\(relative) does not exist")
            case EACCES, EPERM: return .unavailable("\(relative) is not readable by this user (\(errnoDescription(e)))")
            default: return .unavailable("\(relative) cannot be opened (\(errnoDescription(e)))")
            }
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            return .unavailable("\(relative) is not a regular file")
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
        guard n >= 0 else { return .unavailable("\(relative) cannot be read (\(errnoDescription(errno)))") }
        var s = ""
        for u in String(decoding: buffer[0..<n], as: UTF8.self).unicodeScalars {
            let control = (u.value < 0x20 && u != "\n") || u.value == 0x7F || (u.value >= 0x80 && u.value < 0xA0)
            s.unicodeScalars.append(control ? "?" : u)
        }
        while let last = s.last, last == "\n" || last == " " { s.removeLast() }
        return .available(s)
    }

    /// An integer file whose value must lie in `range` (kernel units); a value
    /// outside it is reported, not believed.
    public func integer(_ relative: String, in range: ClosedRange<Int64>) -> Reading<Int64> {
        switch integer(relative) {
        case let .unavailable(why): return .unavailable(why)
        case let .available(v):
            guard range.contains(v) else { return .unavailable("\(relative) reads \(v), outside the plausible \(range.lowerBound)…\(range.upperBound)") }
            return .available(v)
        }
    }

    /// An integer file (sysfs units as the kernel writes them).
    public func integer(_ relative: String) -> Reading<Int64> {
        switch text(relative) {
        case let .unavailable(why): return .unavailable(why)
        case let .available(s):
            guard let v = Int64(s) else { return .unavailable("\(relative) holds '\(s.prefix(40))', not an integer") }
            return .available(v)
        }
    }

    /// Entry names of a directory matching `prefix`, sorted; empty when absent.
    public func list(_ relative: String, prefix: String = "") -> [String] {
        guard let dir = opendir(path(relative)) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != ".", name != "..", name.hasPrefix(prefix) { names.append(name) }
        }
        return names.sorted { a, b in a.count != b.count ? a.count < b.count : a < b } // zone2 before zone10
    }

    public func exists(_ relative: String) -> Bool { access(path(relative), F_OK) == 0 }
}
