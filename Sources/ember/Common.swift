import ArgumentParser
import Ember
#if canImport(Glibc)
import Glibc
#endif

// Helpers every subcommand shares: reading untrusted files, the memory cap,
// output paths that never collide or escape, and one-line messages.

/// A byte size given on the command line: 1073741824, 512M, 512MiB, 1G, 1.5G.
struct ByteSize: ExpressibleByArgument {
    var bytes: Int

    init?(argument: String) {
        let s = argument.trimmingCharacters()
        let units: [(String, Double)] = [("TiB", 0x1p40), ("GiB", 0x1p30), ("MiB", 0x1p20), ("KiB", 0x1p10),
                                         ("T", 0x1p40), ("G", 0x1p30), ("M", 0x1p20), ("K", 0x1p10), ("B", 1), ("", 1)]
        for (suffix, scale) in units where s.hasSuffix(suffix) {
            let number = String(s.dropLast(suffix.count)).trimmingCharacters()
            guard !number.isEmpty, number.allSatisfy({ $0.isNumber || $0 == "." }), let v = Double(number), v.isFinite else { continue }
            let b = v * scale
            guard b >= 1, b < 0x1p62 else { return nil }
            bytes = Int(b)
            return
        }
        return nil
    }

    static var defaultValueDescription: String { "cgroup headroom, else 1 GiB" }
}

/// The memory cap for this process: `--max-memory`, else the cgroup's
/// `memory.max` headroom where the cgroup has a limit, else `LoadLimits`' default.
func loadLimits(maxMemory: ByteSize?) -> LoadLimits {
    if let maxMemory { return LoadLimits(memoryBytes: maxMemory.bytes) }
    if case .available(let cgroup) = Telemetry().cgroupMemory(), let headroom = cgroup.headroomBytes, headroom > 0 {
        return LoadLimits(memoryBytes: Int(min(headroom, Int64(LoadLimits().maxMemoryBytes) * 64)))
    }
    return LoadLimits()
}

/// `s` with each scalar `escape` names replaced by what it returns.
func escaping(_ s: String, _ escape: (Unicode.Scalar) -> String?) -> String {
    var out = ""
    for u in s.unicodeScalars {
        if let e = escape(u) { out += e } else { out.unicodeScalars.append(u) }
    }
    return out
}

/// `value` in hexadecimal, zero-padded to `digits`.
func hexDigits(_ value: UInt32, _ digits: Int) -> String {
    let h = String(value, radix: 16)
    return String(repeating: "0", count: max(0, digits - h.count)) + h
}

/// One line, whatever the message holds: control characters (newlines, ANSI
/// escapes from a file name or a sysfs value) become visible escapes.
func oneLine(_ s: String) -> String {
    escaping(s) { u in
        switch u {
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        default:
            let control = u.value < 0x20 || u.value == 0x7F || (u.value >= 0x80 && u.value < 0xA0)
            return control ? "\\x" + hexDigits(u.value, 2) : nil
        }
    }
}

/// A file name for an output called `name`: letters, digits, '.', '-' and '_'
/// stay; every other byte is %XX (and so is a leading '.'). Distinct names give
/// distinct files, and none can leave the output directory ('a/b' → 'a%2Fb').
func safeFileName(_ name: String) -> String {
    var out = ""
    for (i, b) in name.utf8.enumerated() {
        let c = UnicodeScalar(b)
        let plain = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
            || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || (b == UInt8(ascii: ".") && i > 0)
        if plain { out.unicodeScalars.append(c) } else {
            let h = String(b, radix: 16, uppercase: true)
            out += "%" + (h.count < 2 ? "0" : "") + h
        }
    }
    return out.isEmpty ? "%00" : out
}

/// Whether `a` and `b` name the same existing file (same device and inode).
func sameFile(_ a: String, _ b: String) -> Bool {
    var sa = stat(), sb = stat()
    guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
}

/// Refuses output paths that would overwrite an input or each other.
func checkOutputs(_ outputs: [(flag: String, path: String)], inputs: [(flag: String, path: String)]) throws {
    for (i, o) in outputs.enumerated() {
        guard !o.path.isEmpty else { throw ValidationError("\(o.flag) needs a path") }
        for input in inputs where input.path == o.path || sameFile(input.path, o.path) {
            throw ValidationError("\(o.flag) '\(o.path)' is the \(input.flag) file; writing it would destroy the input")
        }
        for other in outputs[..<i] where other.path == o.path || sameFile(other.path, o.path) {
            throw ValidationError("\(o.flag) '\(o.path)' is also given to \(other.flag); one would overwrite the other")
        }
    }
}

func readText(_ path: String, _ what: String) throws -> String {
    try readTextFile(path, .config(what))
}

func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

extension PackageFileProtection: ExpressibleByArgument {}
