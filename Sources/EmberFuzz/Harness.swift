// EmberFuzz — one harness per untrusted-input reader, for libFuzzer
// (tools/fuzz.sh builds it with -sanitize=fuzzer,address -DFUZZING and picks
// the reader with EMBER_FUZZ_TARGET) and, in a normal build, a replay tool:
//
//   ember-fuzz TARGET FILE…   runs each file through the harness and says which
//                             ones an error rejected and which ran.
//
// Targets: package (load + prepare + run every variant), tflite (import +
// prepare), npy, config (envelope and device profile), trace. Each must only
// ever return or throw an EmberError; a trap, a hang or a leak is a finding.
import Ember
import EmberImport
#if canImport(Glibc)
import Glibc
#endif

enum Harness: String, CaseIterable {
    case package, tflite, npy, config, trace

    /// Tight limits so that one input cannot take seconds or gigabytes.
    static let limits: LoadLimits = {
        var l = LoadLimits(memoryBytes: 64 << 20)
        l.maxStructureSectionBytes = 4 << 20
        l.maxValues = 4096
        l.maxNodes = 2048
        l.maxTensorElements = 4 << 20
        return l
    }()
    /// Graphs costing more are prepared but not run (a valid huge convolution is slow, not wrong).
    static let maxMacsToRun = 20_000_000

    /// Runs one input. Throws only what the reader threw.
    func run(_ bytes: [UInt8]) throws {
        switch self {
        case .package:
            // Checksums resealed first, so mutated contents reach the decoders (the
            // checks before them are covered by the unsealed seeds and the unit tests).
            var bytes = bytes
            resealChecksums(&bytes)
            let buffer = bytes.withUnsafeBytes { ConstantBuffer(copying: $0) }
            let account = MemoryAccount(limit: Self.limits.maxMemoryBytes)
            let index = try PackageIndex(bytes: buffer.bytes, owner: buffer, limits: Self.limits, account: account)
            for i in index.contents.graphs.indices {
                let graph = try index.loadedGraph(i)
                let e = try Executor(graph: graph, options: ExecutorOptions(limits: Self.limits, account: account))
                if e.validated.totalCost.macs <= Self.maxMacsToRun { e.run() }
            }
        case .tflite:
            let graph = try bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: "fuzz", limits: Self.limits) }
            let e = try Executor(graph: graph, options: ExecutorOptions(limits: Self.limits))
            if e.validated.totalCost.macs <= Self.maxMacsToRun { e.run() }
        case .npy:
            _ = try NPY.decode(bytes, name: "fuzz.npy")
        case .config:
            let text = try decodeText(bytes, name: "fuzz.toml")
            _ = try? Envelope.parse(text, file: "fuzz.toml")
            _ = try DeviceProfile.parse(text, file: "fuzz.toml")
        case .trace:
            _ = try Workload.parse(try decodeText(bytes, name: "fuzz.csv"), file: "fuzz.csv")
        }
    }

    /// What the harness does with an error: an EmberError is the right answer; anything else is a finding.
    func check(_ bytes: [UInt8]) -> String? {
        do { try run(bytes); return nil } catch is EmberError { return nil } catch { return "non-Ember error: \(error)" }
    }
}

func writeError(_ s: String) {
    var s = s
    s.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

#if FUZZING
nonisolated(unsafe) var fuzzTarget: Harness = .package

/// libFuzzer's entry point when the program has its own main (SwiftPM gives every executable one).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@main
struct FuzzMain {
    static func main() {
        let name = getenv("EMBER_FUZZ_TARGET").map { String(cString: $0) } ?? "package"
        guard let t = Harness(rawValue: name) else {
            writeError("EMBER_FUZZ_TARGET must be one of \(Harness.allCases.map(\.rawValue).joined(separator: ", "))\n")
            exit(2)
        }
        fuzzTarget = t
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
            if let finding = fuzzTarget.check(bytes) {
                writeError("finding: \(finding)\n")
                abort()
            }
            return 0
        })
    }
}
#else
@main
struct Replay {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        guard let first = args.first, let target = Harness(rawValue: first), args.count >= 2 else {
            print("usage: ember-fuzz \(Harness.allCases.map(\.rawValue).joined(separator: "|")) FILE…")
            exit(2)
        }
        var findings = 0
        for path in args.dropFirst() {
            do {
                let bytes = try readFile(path, FileReadPolicy("fuzz input", maxBytes: 64 << 20))
                if let finding = target.check(bytes) { print("\(path): \(finding)"); findings += 1 }
                else { print("\(path): ok") }
            } catch {
                print("\(path): cannot read: \(error)")
                findings += 1
            }
        }
        exit(findings == 0 ? 0 : 1)
    }
}
#endif
