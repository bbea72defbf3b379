import ArgumentParser
import Ember
#if canImport(Glibc)
import Glibc
#endif

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a package on .npy inputs and write each output as .npy.",
        discussion: """
        Each --input names a graph input and a .npy file; its dtype and shape must match the \
        model exactly (`ember inspect` lists them). Outputs are written as DIR/<output-name>.npy; \
        bytes of the name other than letters, digits, '.', '-' and '_' are written %XX, so \
        every output gets its own file and none leaves DIR (an output 'a/b' is DIR/a%2Fb.npy).

        The package is held so that replacing or truncating the file while this runs cannot \
        disturb it (a read lease, or a private copy; --file-protection). Memory — decompressed \
        weights, arenas and prepared parameters together — is capped by --max-memory, by \
        default the cgroup's memory.max headroom where there is one, else 1 GiB; a package that \
        needs more is refused before anything is allocated.

        Examples:
          ember run model.ember --input input_1=sample.npy --output out/
          ember run model.ember --variant int8 --input x=x.npy --repeat 100
        """
    )

    @Argument(help: "The .ember package.")
    var file: String

    @Option(name: .customLong("input"), help: ArgumentHelp("A graph input as NAME=path.npy (repeat for each input).", valueName: "NAME=path.npy"))
    var inputs: [String] = []

    @Option(help: "Directory for the outputs (created if missing).")
    var output: String?

    @Option(help: "Which variant to run (default: the first, best rung).")
    var variant: String?

    @Option(help: ArgumentHelp("Also write every intermediate value as DIR/<name>.npy (to compare layer by layer with another runtime; the arena then keeps every value).", valueName: "DIR"))
    var dumpAll: String?

    @Option(parsing: .unconditional, help: "Run this many times (1…\(Run.maxRepeat)) and report the latency distribution.")
    var `repeat`: Int = 1

    static let maxRepeat = 1_000_000

    @Option(help: ArgumentHelp("Most memory the package may use: weights it decompresses, arenas and prepared parameters (e.g. 512M, 2G).", valueName: "bytes"))
    var maxMemory: ByteSize?

    @Option(help: "How the package file is held: automatic (a read lease, else a private copy), lease or copy.")
    var fileProtection: PackageFileProtection = .automatic

    @OptionGroup var trust: TrustOptions

    @Option(help: "Run under this power/thermal envelope (TOML): the budget scheduler picks the rung.")
    var envelope: String?

    @Option(help: "Device profile (TOML) under --envelope: predicted rung costs, idle power and thermal figures (default: one timed run per rung at 2 W).")
    var target: String?

    @Option(help: "Priority of the request under --envelope: critical, normal or best_effort.")
    var priority: String = "normal"

    @Option(parsing: .unconditional, help: """
        Threads per inference (1…64; default 1). With --envelope, the most the scheduler may give \
        one request (it picks the fewest that meet the deadline).
        """)
    var threads: Int = 1

    @Option(parsing: .unconditional, help: "Print the K highest-scoring classes of each output (scores dequantized).")
    var top: Int?

    @Option(help: "Class names for --top, one per line.")
    var labels: String?

    func validate() throws {
        guard (1...Run.maxRepeat).contains(`repeat`) else { throw ValidationError("--repeat must be 1…\(Run.maxRepeat), got \(`repeat`)") }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be 1…64, got \(threads)") }
        if let top { guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top)") } }
        if let output, output.isEmpty { throw ValidationError("--output needs a directory") }
        if let dumpAll, dumpAll.isEmpty { throw ValidationError("--dump-all needs a directory") }
        if dumpAll != nil && envelope != nil { throw ValidationError("--dump-all and --envelope exclude each other") }
        if labels != nil && top == nil { throw ValidationError("--labels goes with --top") }
        guard Priority(rawValue: priority) != nil else { throw ValidationError("--priority must be critical, normal or best_effort") }
        if target != nil && envelope == nil { throw ValidationError("--target needs --envelope") }
        if envelope != nil && variant != nil { throw ValidationError("--variant and --envelope exclude each other: the envelope picks the variant") }
        for spec in inputs {
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex, spec.index(after: eq) != spec.endIndex else {
                throw ValidationError("--input '\(spec)' must look like NAME=path.npy")
            }
        }
    }

    func run() throws {
        // Everything that can be wrong with the command's own files is found before the model is prepared.
        let env = try envelope.map { try Envelope.load(path: $0) }
        let profile = try target.map { try DeviceProfile.load(path: $0) }
        let names = try labels.map { path in textLines(try readText(path, "labels file")).map { $0.trimmingCharacters() } } ?? []
        var feeds: [String: Tensor] = [:]
        for spec in inputs {
            guard let eq = spec.firstIndex(of: "=") else { continue }
            let name = String(spec[..<eq]), path = String(spec[spec.index(after: eq)...])
            guard feeds[name] == nil else { throw EmberError.invalidArgument("input '\(name)' is given twice") }
            feeds[name] = try NPY.decode(try readFile(path, .npy), name: name)
        }
        let package = try EmberPackage(path: file, limits: loadLimits(maxMemory: maxMemory), protection: fileProtection,
                                   trustedKeys: try trust.trusted())
        var ladder: LadderSession? = nil
        if let env, let path = envelope {
            do {
                ladder = try LadderSession(package: package, envelope: env, profile: profile, maxThreads: threads)
            } catch EmberError.invalidConfiguration(file: "envelope", let key, let reason) {
                throw EmberError.invalidConfiguration(file: path, key: key, reason: reason)
            }
        }
        let session = try ladder.map { $0.sessions[0] } ?? Session(package: package, variant: variant, threads: threads)
        let clock = ContinuousClock()
        var times: [Duration] = []
        var results: [String: Tensor] = [:]
        var decision: Decision? = nil
        for _ in 0..<`repeat` {
            let start = clock.now
            if let ladder {
                (results, decision) = try ladder.run(feeds, priority: Priority(rawValue: priority) ?? .normal)
            } else {
                results = try session.run(feeds)
            }
            times.append(clock.now - start)
        }
        if let dir = output {
            try makeDirectories(dir)
            for slot in session.outputs {
                guard let t = results[slot.name] else { continue }
                let path = (dir.hasSuffix("/") ? dir : dir + "/") + safeFileName(slot.name) + ".npy"
                try writeFile(NPY.encode(t), to: path)
                print("wrote \(path) \(t.dtype)\(formatDims(t.dims))")
            }
        } else if top == nil {
            for slot in session.outputs {
                if let t = results[slot.name] { print("\(slot.name) \(t.dtype)\(formatDims(t.dims)): \(preview(t))") }
            }
        }
        if let top {
            for slot in session.outputs {
                guard let t = results[slot.name] else { continue }
                let scores = realValues(t, slot.quant)
                print("\(slot.name): top \(min(top, scores.count)) of \(scores.count)")
                for (rank, i) in scores.indices.sorted(by: { scores[$0] > scores[$1] }).prefix(top).enumerated() {
                    let label = i < names.count && !names[i].isEmpty ? names[i] : "class \(i)"
                    print("  \(rank + 1). \(pad(oneLine(label), 12)) \(round3(scores[i]))")
                }
            }
        }
        if let dir = dumpAll { try dumpIntermediates(package, feeds: feeds, to: dir) }
        let sorted = times.sorted()
        let median = sorted[sorted.count / 2]
        if let decision {
            print("decision: rung \(decision.rungName), predicted \(round3(Float(decision.predictedLatencyMs))) ms / \(round3(Float(decision.predictedEnergyMillijoules))) mJ, allowed \(formatDecimal(decision.allowedMilliwatts, places: 0)) mW, \(formatDecimal(decision.energyLeftMillijoules, places: 0)) mJ left in the power window, \(round3(Float(decision.requestsPerSecond))) req/s\(decision.throttled ? ", throttled" : ""): \(decision.reason)")
        }
        let arena = decision.flatMap { d in ladder?.sessions[d.rung].arenaBytes } ?? session.arenaBytes
        print("variant \(decision?.rungName ?? session.variant.name), arena \(arena) bytes, latency \(ms(median)) ms"
              + (`repeat` > 1 ? " (median of \(`repeat`), min \(ms(sorted[0])) ms, max \(ms(sorted[sorted.count - 1])) ms)" : ""))
    }
}

extension Run {
    /// Runs the variant once more with every node's output as a graph output and writes each.
    func dumpIntermediates(_ package: EmberPackage, feeds: [String: Tensor], to dir: String) throws {
        let i = try package.variantIndex(variant)
        var graph = try package.graph(at: i)
        var outputs = graph.outputs
        for n in graph.nodes where !outputs.contains(n.output) { outputs.append(n.output) }
        graph.outputs = outputs
        let contents = PackageContents(metadata: package.contents.metadata, variants: [package.variants[i]], graphs: [graph])
        let session = try Session(package: EmberPackage(contents: contents, limits: package.limits))
        let results = try session.run(feeds)
        try makeDirectories(dir)
        for slot in session.outputs {
            guard let t = results[slot.name] else { continue }
            try writeFile(NPY.encode(t), to: (dir.hasSuffix("/") ? dir : dir + "/") + safeFileName(slot.name) + ".npy")
        }
        print("wrote \(session.outputs.count) values to \(dir)")
    }
}

func ms(_ d: Duration) -> String {
    let (s, atto) = d.components
    let v = Double(s) * 1000 + Double(atto) / 1e15
    return formatDecimal(v, places: 3)
}

/// Elements as real numbers (8-bit outputs dequantized with their parameters).
func realValues(_ t: Tensor, _ q: QuantParams?) -> [Float] {
    switch t.dtype {
    case .f32: return t.floats
    case .i8: return t.int8s.map { Float(Int32($0) - (q?.zeroPoint ?? 0)) * (q?.scale ?? 1) }
    case .u8: return t.bytes.map { Float(Int32($0) - (q?.zeroPoint ?? 0)) * (q?.scale ?? 1) }
    default: return []
    }
}


/// The first few elements, as numbers.
func preview(_ t: Tensor, limit: Int = 8) -> String {
    let values: [String]
    switch t.dtype {
    case .f32: values = t.floats.prefix(limit).map { String($0) }
    case .i8: values = t.int8s.prefix(limit).map { String($0) }
    case .u8: values = t.bytes.prefix(limit).map { String($0) }
    default: values = ["\(t.bytes.count) bytes"]
    }
    let count = elementCount(t.dims) ?? 0
    return "[" + values.joined(separator: ", ") + (count > limit ? ", …" : "") + "]"
}

/// mkdir -p.
func makeDirectories(_ path: String) throws {
    var current = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
        current += (current.isEmpty || current.hasSuffix("/") ? "" : "/") + part
        if mkdir(current, 0o755) != 0 && errno != EEXIST {
            throw EmberError.io(path: current, errno: errno, reason: "cannot create directory")
        }
    }
}
