import Ember
#if canImport(Glibc)
import Glibc
#endif

/// This core's peak rates on one kernel path, for `ember bench --profile`: the path's int8 and f32
/// multiply-accumulate instructions on independent accumulators (`KernelISA.probeMACs`) and a read of
/// 64 MiB (the memory bandwidth), each the best of three timings of ~20 ms. Measured once per CPU
/// model and path, then kept in `$XDG_CACHE_HOME/ember/roofline` (else `~/.cache/ember/roofline`);
/// a cache that cannot be read or written is measured around, never an error.
struct Roofline {
    var int8GMACs: Double, f32GMACs: Double, readGBs: Double

    /// The cached figures for `isa` on this CPU, measured (and cached) when there are none.
    static func of(_ isa: KernelISA, log: (String) -> Void) -> Roofline {
        // "read2": the read probe's second form (the path's vector loads); figures cached by the first
        // (8-byte scalar reads, ~30 % lower) are measured again.
        let key = "\(isa.rawValue)\tread2\t\(cpuModel())"
        let path = cachePath()
        let lines = path.flatMap { try? readText($0, "roofline cache") }?.split(separator: "\n").map(String.init) ?? []
        for line in lines where line.hasPrefix(key + "\t") {
            let fields = line.split(separator: "\t").dropFirst(3).compactMap { Double($0) }
            if fields.count == 3, fields.allSatisfy({ $0 > 0 && $0.isFinite }) {
                return Roofline(int8GMACs: fields[0], f32GMACs: fields[1], readGBs: fields[2])
            }
        }
        log("measuring this CPU's peak rates on the \(isa) kernels (once; cached)…")
        let r = measure(isa)
        if let path {
            let kept = lines.filter { !$0.hasPrefix(key + "\t") && !$0.isEmpty }
            let text = (kept + ["\(key)\t\(r.int8GMACs)\t\(r.f32GMACs)\t\(r.readGBs)"]).joined(separator: "\n") + "\n"
            try? writeFile(Array(text.utf8), to: path)
        }
        return r
    }

    static func measure(_ isa: KernelISA) -> Roofline {
        func best(of tries: Int = 3, _ work: () -> Int) -> Double {  // units of work per second, the best try
            var rate = 0.0
            for _ in 0..<tries {
                let start = monotonicSeconds()
                let units = work()
                rate = max(rate, Double(units) / max(monotonicSeconds() - start, 1e-9))
            }
            return rate
        }
        // Rounds for ~20 ms at each probe's expected rate (a slower core just takes longer).
        let int8 = best { isa.probeMACs(int8: true, iterations: 1_000_000) } / 1e9
        let f32 = best { isa.probeMACs(int8: false, iterations: 500_000) } / 1e9
        let bytes = 64 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64)
        defer { buffer.deallocate() }
        for i in stride(from: 0, to: bytes, by: 4096) { buffer[i] = UInt8(truncatingIfNeeded: i >> 12) }  // fault it in
        var sink: UInt64 = 0
        // Seven reads of 64 MiB (~20 ms): on a shared VM one read in three ran 20–30 % slow.
        let read = best(of: 7) {
            sink &+= isa.probeRead(UnsafeRawBufferPointer(buffer))
            return bytes
        } / 1e9
        if sink == 1 { print("", terminator: "") }  // keeps the sums
        return Roofline(int8GMACs: int8, f32GMACs: f32, readGBs: read)
    }

    static func cachePath() -> String? {
        var dir: String
        if let x = getenv("XDG_CACHE_HOME"), x.pointee != 0 {
            dir = String(cString: x)
        } else if let h = getenv("HOME"), h.pointee != 0 {
            dir = String(cString: h) + "/.cache"
        } else {
            return nil
        }
        mkdir(dir, 0o755)
        dir += "/ember"
        mkdir(dir, 0o755)
        return isDirectory(dir) ? dir + "/roofline" : nil
    }

    /// The CPU's model name (/proc/cpuinfo), tabs and newlines replaced: the cache's key with the path.
    static func cpuModel() -> String {
        guard let info = try? readText("/proc/cpuinfo", "/proc/cpuinfo") else { return "unknown" }
        for line in info.split(separator: "\n") where line.hasPrefix("model name") || line.hasPrefix("CPU part") {
            if let colon = line.firstIndex(of: ":") {
                return String(String(line[line.index(after: colon)...]).trimmingCharacters().map { $0 == "\t" ? " " : $0 })
            }
        }
        return "unknown"
    }

    /// A node's rate as a share of the peak that applies to it: int8 or f32 multiply-accumulates for
    /// convolutions, fully connected layers and matmuls (by the kernel's name), bytes moved for the rest.
    func share(kernel: String, gmacs: Double?, gbs: Double) -> Double {
        let multiplies = ["conv", "fully_connected", "matmul"].contains { kernel.contains($0) }
        if multiplies, let gmacs {
            let int8 = kernel.contains("_s8") || kernel.contains("hybrid") || kernel.contains("int8")
            return gmacs / (int8 ? int8GMACs : f32GMACs)
        }
        return gbs / readGBs
    }
}
