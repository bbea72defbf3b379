import ArgumentParser
import Ember
#if canImport(Glibc)
import Glibc
#endif

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time a package's inference: median, p90 and min latency, and with --profile where the time goes.",
        discussion: """
        Prepares the variant once, writes zeros (or --input files) into its inputs, runs --warmup \
        inferences, then times --repeat single inferences through the allocation-free path \
        (inputs written in place, no copies). Reports the kernel path (EMBER_ISA or the best this \
        CPU has), load + prepare time, and latency. --profile times each node over the same runs \
        and prints a per-op table: median µs, share of the run, achieved GMAC/s or GB/s, and that \
        rate as a share of this core's peak on the kernel path (int8 or f32 multiply-accumulates, \
        or read bandwidth for ops without MACs) times the threads — the peaks are measured once \
        per CPU model and path by a short probe and cached in ~/.cache/ember/roofline.

        Examples:
          ember bench model.ember --repeat 1000
          ember bench model.ember --variant int8 --profile
          ember bench model.ember --threads 2
          EMBER_ISA=scalar ember bench model.ember --json
        """
    )

    @Argument(help: "The .ember package.")
    var file: String

    @Option(help: "Which variant (default: the first).")
    var variant: String?

    @Option(parsing: .unconditional, help: "Timed inferences (1…1000000).")
    var `repeat`: Int = 200

    @Option(parsing: .unconditional, help: "Untimed inferences first (0…100000).")
    var warmup: Int = 20

    @Option(help: "Kernel path: scalar, avx2, avx512 or neon (default: EMBER_ISA, else the best this CPU has).")
    var isa: KernelISA?

    @Option(parsing: .unconditional, help: "Threads per inference (1…64): the caller and a worker pool that splits the larger convolutions.")
    var threads: Int = 1

    @Option(name: .customLong("input"), help: ArgumentHelp("A graph input as NAME=path.npy (default: zeros).", valueName: "NAME=path.npy"))
    var inputs: [String] = []

    @Flag(help: "Time every node and print where the time goes.")
    var profile = false

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(help: ArgumentHelp("Most memory the package may use (e.g. 512M).", valueName: "bytes"))
    var maxMemory: ByteSize?

    func validate() throws {
        guard (1...1_000_000).contains(`repeat`) else { throw ValidationError("--repeat must be 1…1000000, got \(`repeat`)") }
        guard (0...100_000).contains(warmup) else { throw ValidationError("--warmup must be 0…100000, got \(warmup)") }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be 1…64, got \(threads)") }
    }

    func run() throws {
        var feeds: [String: Tensor] = [:]
        for spec in inputs {
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else { throw ValidationError("--input '\(spec)' must look like NAME=path.npy") }
            feeds[String(spec[..<eq])] = try NPY.decode(try readFile(String(spec[spec.index(after: eq)...]), .npy), name: String(spec[..<eq]))
        }
        let t0 = monotonicSeconds()
        let package = try EmberPackage(path: file, limits: loadLimits(maxMemory: maxMemory))
        let session = try Session(package: package, variant: variant, options: ExecutorOptions(isa: isa, threads: threads))
        let loadMs = (monotonicSeconds() - t0) * 1000
        let e = session.executor
        for (i, slot) in e.inputs.enumerated() {
            guard let t = feeds[slot.name] else { continue }
            guard t.dtype == slot.info.dtype, t.dims == slot.info.dims else {
                throw EmberError.invalidInput(name: slot.name, reason: "expected \(slot.info), got \(t.dtype)\(formatDims(t.dims))")
            }
            t.bytes.withUnsafeBytes { e.inputBuffer(i).copyMemory(from: $0) }
        }
        for _ in 0..<warmup { e.run() }
        var times: [Double] = []
        times.reserveCapacity(`repeat`)
        for _ in 0..<`repeat` {
            let s = monotonicSeconds()
            e.run()
            times.append((monotonicSeconds() - s) * 1e6)
        }
        times.sort()
        let median = times[times.count / 2], p90 = times[min(times.count - 1, times.count * 9 / 10)], best = times[0]
        let macs = e.validated.totalCost.macs
        var rows: [(name: String, op: String, impl: String, us: Double, macs: Int, bytes: Int)] = []
        // The peaks the profile's rates are shares of: this core's on the path, times the threads.
        let roofline = profile ? Roofline.of(e.isa) { if !json { print($0) } } : nil
        func peakShare(_ r: (name: String, op: String, impl: String, us: Double, macs: Int, bytes: Int)) -> Double? {
            guard let roofline, r.us > 0, r.impl != "view" else { return nil }
            let gmacs = r.macs > 0 ? Double(r.macs) / r.us / 1000 : nil
            return roofline.share(kernel: r.impl, gmacs: gmacs, gbs: Double(r.bytes) / r.us / 1000) / Double(e.threads)
        }
        if profile {
            let perNode = e.profile(runs: `repeat`)
            for (i, node) in e.graph.nodes.enumerated() {
                let cost = node.op.cost(inputs: node.inputs.map { $0.map { e.validated.types[$0] } }, output: e.validated.types[node.output])
                // A view (a slice the planner placed inside its input) moves no bytes.
                let bytes = e.implementations[i] == "view" ? 0 : saturatingAdd(cost.bytesRead, cost.bytesWritten)
                rows.append((node.name, "\(node.op.kind)", e.implementations[i], perNode[i] / 1000, cost.macs, bytes))
            }
        }
        if json {
            let ops = rows.map { r in
                "{\"node\":\(jsonString(r.name)),\"op\":\(jsonString(r.op)),\"kernel\":\(jsonString(r.impl)),\"median_us\":\(formatDecimal(r.us, places: 3)),\"macs\":\(r.macs),\"bytes\":\(r.bytes)"
                    + (peakShare(r).map { ",\"peak_share\":\(formatDecimal($0, places: 4))" } ?? "") + "}"
            }.joined(separator: ",")
            let peaks = roofline.map {
                ",\"peak\":{\"int8_gmacs\":\(formatDecimal($0.int8GMACs, places: 2)),\"f32_gmacs\":\(formatDecimal($0.f32GMACs, places: 2)),"
                    + "\"read_gbs\":\(formatDecimal($0.readGBs, places: 2))}"
            } ?? ""
            print("{\"variant\":\(jsonString(session.variant.name)),\"isa\":\(jsonString(e.isa.rawValue)),\"threads\":\(e.threads),\"load_prepare_ms\":\(formatDecimal(loadMs, places: 3)),"
                  + "\"repeat\":\(`repeat`),\"median_us\":\(formatDecimal(median, places: 3)),\"p90_us\":\(formatDecimal(p90, places: 3)),\"min_us\":\(formatDecimal(best, places: 3)),"
                  + "\"macs\":\(macs),\"arena_bytes\":\(e.arenaBytes),\"prepared_bytes\":\(e.preparedBytes),\"prepacked_bytes\":\(e.prepackedBytes)\(peaks),\"ops\":[\(ops)]}")
            return
        }
        print("variant \(session.variant.name), kernels \(e.isa), \(threadsText(e)), \(e.graph.nodes.count) nodes, \(formatCount(macs)) MACs, arena \(e.arenaBytes) bytes, "
              + "prepared \(e.preparedBytes) bytes"
              + (e.prepackedBytes > 0 ? " (+ \(e.prepackedBytes) pre-packed, read in place)" : "") + "; load + prepare \(formatDecimal(loadMs, places: 2)) ms")
        print("latency over \(`repeat`) runs: median \(formatDecimal(median, places: 2)) µs, p90 \(formatDecimal(p90, places: 2)) µs, "
              + "min \(formatDecimal(best, places: 2)) µs (\(formatDecimal(Double(macs) / max(median, 1e-9) / 1000, places: 2)) GMAC/s)")
        guard profile, let roofline else { return }
        let total = rows.reduce(0) { $0 + $1.us }
        print("peak of this core on the \(e.isa) kernels: int8 \(formatDecimal(roofline.int8GMACs, places: 1)) GMAC/s, "
              + "f32 \(formatDecimal(roofline.f32GMACs, places: 1)) GMAC/s, read \(formatDecimal(roofline.readGBs, places: 1)) GB/s"
              + (e.threads > 1 ? " (× \(e.threads) threads)" : ""))
        print("\n| node | op | kernel | median µs | share | GMAC/s | GB/s | of peak |")
        print("|---|---|---|---:|---:|---:|---:|---:|")
        for r in rows.sorted(by: { $0.us > $1.us }) {
            let share = total > 0 ? r.us / total * 100 : 0
            print("| \(r.name.suffix(40)) | \(r.op) | \(r.impl) | \(formatDecimal(r.us, places: 2)) | \(formatDecimal(share, places: 1)) % | "
                  + "\(r.macs > 0 ? formatDecimal(Double(r.macs) / max(r.us, 1e-9) / 1000, places: 2) : "-") | \(formatDecimal(Double(r.bytes) / max(r.us, 1e-9) / 1000, places: 2)) | "
                  + "\(peakShare(r).map { formatDecimal($0 * 100, places: 0) + " %" } ?? "-") |")
        }
        print("sum of node medians \(formatDecimal(total, places: 2)) µs (the run's median was \(formatDecimal(median, places: 2)) µs)")
    }
}

extension KernelISA: ExpressibleByArgument {}

/// "1 thread" or "2 threads (7 nodes split)".
func threadsText(_ e: Executor) -> String {
    e.threads == 1 ? "1 thread" : "\(e.threads) threads (\(e.splitNodeCount) of \(e.graph.nodes.count) nodes split)"
}
