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
        model exactly (`ember inspect` lists them). Outputs are written as DIR/<output-name>.npy \
        (characters other than letters, digits, '.', '-' and '_' become '_').

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

    @Option(help: "Run this many times and report the latency distribution.")
    var `repeat`: Int = 1

    @Option(help: "Run under this power/thermal envelope (TOML): the budget scheduler picks the rung.")
    var envelope: String?

    @Option(help: "Device profile (TOML) under --envelope: predicted rung costs, idle power and thermal figures (default: one timed run per rung at 2 W).")
    var target: String?

    @Option(help: "Priority of the request under --envelope: critical, normal or best_effort.")
    var priority: String = "normal"

    @Option(help: "Print the K highest-scoring classes of each output (scores dequantized).")
    var top: Int?

    @Option(help: "Class names for --top, one per line.")
    var labels: String?

    func validate() throws {
        guard `repeat` >= 1 else { throw ValidationError("--repeat must be at least 1") }
        if let top { guard top >= 1 else { throw ValidationError("--top must be at least 1") } }
        if labels != nil && top == nil { throw ValidationError("--labels goes with --top") }
        guard Priority(rawValue: priority) != nil else { throw ValidationError("--priority must be critical, normal or best_effort") }
        if target != nil && envelope == nil { throw ValidationError("--target needs --envelope") }
        if envelope != nil && variant != nil { throw ValidationError("--variant and --envelope exclude each other: the envelope picks the variant") }
        for spec in inputs where !spec.contains("=") {
            throw ValidationError("--input '\(spec)' must look like NAME=path.npy")
        }
    }

    func run() throws {
        let package = try EmberPackage(path: file)
        var ladder: LadderSession? = nil
        if let envelope {
            let text = String(decoding: try MappedFile.readAll(path: envelope), as: UTF8.self)
            let profile = try target.map { try DeviceProfile.parse(try readText($0), file: $0) }
            ladder = try LadderSession(package: package, envelope: try Envelope.parse(text, file: envelope), profile: profile)
        }
        let session = try ladder.map { $0.sessions[0] } ?? Session(package: package, variant: variant)
        var feeds: [String: Tensor] = [:]
        for spec in inputs {
            guard let eq = spec.firstIndex(of: "=") else { continue }
            let name = String(spec[..<eq]), path = String(spec[spec.index(after: eq)...])
            guard feeds[name] == nil else { throw EmberError.invalidArgument("input '\(name)' is given twice") }
            feeds[name] = try NPY.decode(try readWholeFile(path), name: name)
        }
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
                let path = dir + "/" + safeFileName(slot.name) + ".npy"
                try writeFile(NPY.encode(t), to: path)
                print("wrote \(path) \(t.dtype)\(formatDims(t.dims))")
            }
        } else if top == nil {
            for slot in session.outputs {
                if let t = results[slot.name] { print("\(slot.name) \(t.dtype)\(formatDims(t.dims)): \(preview(t))") }
            }
        }
        if let top {
            let names = try labels.map { try MappedFile.readAll(path: $0) }.map { bytes in
                String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters() }
            } ?? []
            for slot in session.outputs {
                guard let t = results[slot.name] else { continue }
                let scores = realValues(t, slot.quant)
                print("\(slot.name): top \(min(top, scores.count)) of \(scores.count)")
                for (rank, i) in scores.indices.sorted(by: { scores[$0] > scores[$1] }).prefix(top).enumerated() {
                    let label = i < names.count && !names[i].isEmpty ? names[i] : "class \(i)"
                    print("  \(rank + 1). \(pad(label, 12)) \(round3(scores[i]))")
                }
            }
        }
        let sorted = times.sorted()
        let median = sorted[sorted.count / 2]
        if let decision {
            print("decision: rung \(decision.rungName), predicted \(round3(Float(decision.predictedLatencyMs))) ms / \(round3(Float(decision.predictedEnergyMillijoules))) mJ, allowed \(Int(decision.allowedMilliwatts)) mW, \(Int(decision.energyLeftMillijoules)) mJ left in the power window, \(round3(Float(decision.requestsPerSecond))) req/s\(decision.throttled ? ", throttled" : ""): \(decision.reason)")
        }
        let arena = decision.flatMap { d in ladder?.sessions[d.rung].arenaBytes } ?? session.arenaBytes
        print("variant \(decision?.rungName ?? session.variant.name), arena \(arena) bytes, latency \(ms(median)) ms"
              + (`repeat` > 1 ? " (median of \(`repeat`), min \(ms(sorted[0])) ms, max \(ms(sorted[sorted.count - 1])) ms)" : ""))
    }
}

func ms(_ d: Duration) -> String {
    let (s, atto) = d.components
    let v = Double(s) * 1000 + Double(atto) / 1e15
    return String(Double(Int(v * 1000)) / 1000)
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


func safeFileName(_ name: String) -> String {
    String(name.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" ? $0 : "_" })
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

func readWholeFile(_ path: String) throws -> [UInt8] {
    try MappedFile.readAll(path: path)
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
