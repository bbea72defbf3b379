import ArgumentParser
import Ember
import EmberImport
import EmberPack
#if canImport(Glibc)
import Glibc
#endif

struct Pack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import a TFLite model and write it as an .ember package, optionally as a ladder of quantized rungs.",
        discussion: """
        Reads a .tflite flatbuffer (schema v3): float32 models, float16-stored weights and \
        fully int8-quantized models (per-tensor and per-channel). Tensor names are kept, so \
        `ember run --input NAME=…` uses the TFLite input names. An unsupported op or type \
        fails with one error listing every unsupported op and its count. docs/TFLITE.md \
        lists what is supported.

        --ladder builds several rungs from one float model: fp32 (the model as it is) and \
        int8 (post-training quantization in the TFLite scheme: per-channel int8 weights, \
        per-tensor int8 activations calibrated on --calib, int32 bias, empirical bias \
        correction; inputs and outputs stay float). Each rung's quality is its SQNR (dB) \
        against fp32 on the calibration samples; its latency and energy are estimated on \
        every device profile in --targets. fp16, int4 and pruned rungs are not built yet.

        --calib DIR holds .npy files: for a one-input model, one file per sample; for several \
        inputs, SAMPLE_K.npy with K the input's index (as in ../shared/corpus).

        Examples:
          ember pack model.tflite -o model.ember
          ember pack model.tflite -o model.ember --compress
          ember pack model.tflite -o model.ember --ladder fp32,int8 --calib calib/ --report report.md
        """
    )

    @Argument(help: "The .tflite model.")
    var model: String

    @Option(name: .shortAndLong, help: "Where to write the package.")
    var output: String

    @Option(help: "Name of the variant (default: fp32 or int8, from the model's input type). Without --ladder only.")
    var variantName: String?

    @Flag(help: "Compress weights with zstd where it pays (they are then copied at load instead of mapped).")
    var compress = false

    @Option(help: "Rungs to build from a float model, best first: fp32, int8 (comma-separated).")
    var ladder: String?

    @Option(help: "Directory of .npy calibration samples (needed for int8).")
    var calib: String?

    @Option(help: "How activation ranges are chosen: minmax or percentile (99.99 %).")
    var calibMethod: String = "minmax"

    @Flag(help: "Do not fold measured per-channel errors back into int8 biases.")
    var noBiasCorrection = false

    @Option(help: "Device profiles to estimate each rung's latency and energy on (a directory of .toml).")
    var targets: String = "targets"

    @Option(help: "Drop rungs whose SQNR against fp32 is below this (dB).")
    var minSqnr: Double?

    @Option(help: "Write the rung report here too: .json or .md.")
    var report: [String] = []

    static let knownRungs = ["fp32", "int8"]

    func validate() throws {
        guard model.hasSuffix(".tflite") else { throw ValidationError("only .tflite models can be packed for now (got \(model))") }
        guard CalibrationMethod(rawValue: calibMethod) != nil else { throw ValidationError("--calib-method must be minmax or percentile") }
        if let ladder {
            let rungs = ladder.split(separator: ",").map(String.init)
            guard !rungs.isEmpty else { throw ValidationError("--ladder is empty") }
            for r in rungs where !Self.knownRungs.contains(r) {
                throw ValidationError("--ladder: '\(r)' is not a rung this packer builds yet (it builds: \(Self.knownRungs.joined(separator: ", ")))")
            }
            guard Set(rungs).count == rungs.count else { throw ValidationError("--ladder names a rung twice") }
            if rungs.contains("int8") && calib == nil { throw ValidationError("--ladder int8 needs --calib DIR of .npy samples") }
            guard variantName == nil else { throw ValidationError("--variant-name and --ladder exclude each other") }
        }
        for r in report where !(r.hasSuffix(".json") || r.hasSuffix(".md")) { throw ValidationError("--report must end in .json or .md (got \(r))") }
        if let m = minSqnr, !(m > -100 && m < 400) { throw ValidationError("--min-sqnr must be a number of dB") }
    }

    func run() throws {
        let file = try MappedFile(path: model)
        let base = String(model.split(separator: "/").last ?? Substring(model)).replacingSuffix(".tflite", with: "")
        let (graph, sourceHash) = try file.withBytes { (try TFLiteImporter.importModel($0, name: base), fnv1aHex($0)) }
        let metadata = PackageMetadata([
            ("name", base), ("source", model), ("source_format", "tflite"),
            ("source_hash", sourceHash), ("created_by", "ember pack"),
        ])
        let contents: PackageContents
        if let ladder {
            contents = try buildLadder(graph, rungs: ladder.split(separator: ",").map(String.init), metadata: metadata)
        } else {
            let executor = try Executor(graph: graph)
            let isInt8 = graph.nodes.contains { n in graph.values[n.output].dtype == .i8 }
            let variant = VariantRecord(name: variantName ?? (isInt8 ? "int8" : "fp32"),
                                        macs: executor.validated.totalCost.macs,
                                        weightBytes: graph.weightBytes, arenaBytes: executor.arenaBytes,
                                        targets: try targetCosts(executor))
            contents = PackageContents(metadata: metadata, variants: [variant], graphs: [graph])
        }
        // Graph sections are decoded at load anyway, so zstd there costs nothing at run time.
        try PackageWriter.write(contents, to: output, options: WriteOptions(compressTensors: compress, compressGraphs: true))
        let written = try MappedFile(path: output).withBytes { $0.count }
        print("packed \(model) (\(file.bytes.count) bytes) → \(output) (\(written) bytes): "
              + contents.variants.map { "\($0.name)" }.joined(separator: ", ") + "; \(graph.nodes.count) nodes, \(graph.parameterCount) parameters")
    }

    func buildLadder(_ graph: Graph, rungs: [String], metadata: PackageMetadata) throws -> PackageContents {
        guard graph.inputs.allSatisfy({ graph.values[$0].dtype == .f32 }) else {
            throw EmberError.invalidArgument("--ladder needs a float model; \(model) takes \(graph.inputs.map { "\(graph.values[$0].dtype)" }.joined(separator: ", ")) inputs")
        }
        let samples = try calib.map { try loadCalibration($0, for: graph) } ?? []
        let reference = samples.isEmpty ? [] : try floatOutputs(graph, samples: samples)
        let classifier = isClassifier(graph)
        var graphs: [Graph] = [], variants: [VariantRecord] = [], reports: [RungReport] = []
        for rung in rungs {
            let g: Graph
            switch rung {
            case "int8":
                let calibration = try Calibration.run(graph, samples: samples, method: CalibrationMethod(rawValue: calibMethod) ?? .minmax) { done, total in
                    progress("calibrating", done, total)
                }
                let q = try Quantizer.int8(graph, calibration: calibration, name: graph.name + "-int8")
                g = noBiasCorrection ? q : try Quantizer.correctBias(reference: graph, quantized: q, samples: samples, referenceOutputs: reference)
            default:
                g = graph
            }
            let executor = try Executor(graph: g)
            let quality = samples.isEmpty ? nil : QualityReport.compare(name: rung, reference: reference, candidate: try floatOutputs(g, samples: samples), classifier: classifier)
            if let m = minSqnr, let q = quality, q.quality < m {
                FileHandleStderr.write("dropped rung \(rung): SQNR \(fmtDb(q.quality)) < --min-sqnr \(m)\n")
                continue
            }
            let record = VariantRecord(name: rung, quality: quality.map { Float($0.quality) } ?? .nan, qualityMetric: quality == nil ? "" : "sqnr_db",
                                       macs: executor.validated.totalCost.macs, weightBytes: g.weightBytes, arenaBytes: executor.arenaBytes,
                                       targets: try targetCosts(executor))
            graphs.append(g); variants.append(record)
            reports.append(RungReport(record: record, quality: quality,
                                      layers: rung == "fp32" || samples.isEmpty ? [] : try perLayerSQNR(reference: graph, candidate: g, samples: samples)))
        }
        guard !graphs.isEmpty else { throw EmberError.invalidArgument("every rung fell below --min-sqnr") }
        let table = RungReport.markdown(reports, model: model, samples: samples.count)
        print(table, terminator: "")
        for path in report {
            try writeFile(Array((path.hasSuffix(".json") ? RungReport.json(reports, model: model, samples: samples.count) : table).utf8), to: path)
        }
        var meta = metadata
        meta["calibration_samples"] = String(samples.count)
        return PackageContents(metadata: meta, variants: variants, graphs: graphs)
    }

    /// Latency and energy of one inference on each profile in --targets (one thread).
    func targetCosts(_ executor: Executor) throws -> [TargetCost] {
        let work = InferenceWork(executor.validated)
        return try loadProfiles(targets).map { p in
            let e = p.estimate(work, threads: 1)
            return TargetCost(target: p.name, latencyMs: Float(e.latencyMs), energyMj: Float(e.energyMillijoules))
        }
    }
}

/// Every `*.toml` device profile in `dir`, parsed and validated (a bad one is an error); none when `dir` is absent.
func loadProfiles(_ dir: String) throws -> [DeviceProfile] {
    try listDirectory(dir).filter { $0.hasSuffix(".toml") }.sorted().map { try DeviceProfile.parse(try readText(dir + "/" + $0), file: dir + "/" + $0) }
}

/// Names in a directory; [] if it does not exist and `missingIsEmpty`.
func listDirectory(_ dir: String, missingIsEmpty: Bool = true, what: String = "directory") throws -> [String] {
    guard let d = opendir(dir) else {
        if errno == ENOENT && missingIsEmpty { return [] }
        throw EmberError.io(path: dir, errno: errno, reason: "cannot open the \(what)")
    }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if !name.hasPrefix(".") { names.append(name) }
    }
    return names
}

/// Calibration samples from a directory of .npy files, checked against the graph's inputs.
func loadCalibration(_ dir: String, for graph: Graph) throws -> [Sample] {
    let files = try listDirectory(dir, missingIsEmpty: false, what: "calibration directory").filter { $0.hasSuffix(".npy") }.sorted()
    guard !files.isEmpty else { throw EmberError.invalidInput(name: dir, reason: "the calibration directory has no .npy files") }
    let inputs = graph.inputs
    var groups: [[String]] = []
    if inputs.count == 1 {
        groups = files.map { [$0] }
    } else {
        var bySample: [String: [Int: String]] = [:]
        for f in files {
            let stem = f.replacingSuffix(".npy", with: "")
            guard let us = stem.lastIndex(of: "_"), let k = Int(stem[stem.index(after: us)...]), k >= 0, k < inputs.count else {
                throw EmberError.invalidInput(name: dir + "/" + f, reason: "a model with \(inputs.count) inputs needs files named SAMPLE_K.npy, K in 0..<\(inputs.count)")
            }
            bySample[String(stem[..<us]), default: [:]][k] = f
        }
        for (sample, byInput) in bySample.sorted(by: { $0.key < $1.key }) {
            guard byInput.count == inputs.count else { throw EmberError.invalidInput(name: dir + "/" + sample, reason: "sample has \(byInput.count) of \(inputs.count) inputs") }
            groups.append((0..<inputs.count).compactMap { byInput[$0] })
        }
    }
    let types = try graph.validate().types
    return try groups.map { names in
        Sample(inputs: try names.enumerated().map { k, name in
            let path = dir + "/" + name
            let t = try NPY.decode(try readWholeFile(path), name: path)
            let want = types[inputs[k]]
            guard t.dtype == want.dtype, t.dims == want.dims else {
                throw EmberError.invalidInput(name: path, reason: "expected \(want) for input '\(graph.values[inputs[k]].name)', got \(t.dtype)\(formatDims(t.dims))")
            }
            if t.dtype == .f32, let bad = t.floats.firstIndex(where: { !$0.isFinite }) {
                throw EmberError.invalidInput(name: path, reason: "element \(bad) is \(t.floats[bad]); calibration data must be finite")
            }
            return t.bytes
        })
    }
}

/// A progress line on stderr: a bar redrawn in place on a terminal, plain lines otherwise.
func progress(_ label: String, _ done: Int, _ total: Int) {
    if isatty(2) != 0 {
        let width = 30, filled = total > 0 ? done * width / total : width
        FileHandleStderr.write("\r\(label) [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] \(done)/\(total)" + (done == total ? "\n" : ""))
    } else if done == total || done % max(1, total / 10) == 0 {
        FileHandleStderr.write("\(label): \(done)/\(total)\n")
    }
}

func fmtDb(_ x: Double) -> String { x.isFinite && abs(x) < 1e12 ? String(Double(Int((x * 10).rounded())) / 10) : (x.isNaN ? "-" : "∞") }

/// One rung in the packer's report.
struct RungReport {
    var record: VariantRecord
    var quality: QualityReport?
    var layers: [(node: String, sqnrDb: Double)]

    static func markdown(_ rungs: [RungReport], model: String, samples: Int) -> String {
        var s = "| rung | bytes | MACs | arena | SQNR dB (worst output) | max abs err | mean abs err | top-1 agreement | worst layer |"
        let targets = rungs.first?.record.targets.map(\.target) ?? []
        for t in targets { s += " \(t) ms / mJ |" }
        s += "\n|---|---:|---:|---:|---:|---:|---:|---:|---|" + String(repeating: "---:|", count: targets.count) + "\n"
        for r in rungs {
            let q = r.quality
            let worst = r.layers.min { $0.sqnrDb < $1.sqnrDb }
            s += "| \(r.record.name) | \(r.record.weightBytes) | \(r.record.macs) | \(r.record.arenaBytes) | \(q.map { fmtDb($0.quality) } ?? "-") "
                + "| \(q.map { sci($0.maxAbsError.max() ?? 0) } ?? "-") | \(q.map { sci($0.meanAbsError.max() ?? 0) } ?? "-") "
                + "| \(q?.top1Agreement.map { "\(Int(($0 * 100).rounded()))%" } ?? "-") | \(worst.map { "\($0.node.suffix(32)) \(fmtDb($0.sqnrDb))" } ?? "-") |"
            for t in r.record.targets { s += " \(round3(t.latencyMs)) / \(round3(t.energyMj)) |" }
            s += "\n"
        }
        s += "\nQuality measured against fp32 on \(samples) calibration sample(s) of \(model).\n"
        return s
    }

    static func json(_ rungs: [RungReport], model: String, samples: Int) -> String {
        func num(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
        let items = rungs.map { r -> String in
            let q = r.quality
            let layers = r.layers.map { "{\"node\":\(jsonString($0.node)),\"sqnr_db\":\(num($0.sqnrDb))}" }.joined(separator: ",")
            let targets = r.record.targets.map { "{\"target\":\(jsonString($0.target)),\"latency_ms\":\(num(Double($0.latencyMs))),\"energy_mj\":\(num(Double($0.energyMj)))}" }.joined(separator: ",")
            return "{\"name\":\(jsonString(r.record.name)),\"weight_bytes\":\(r.record.weightBytes),\"macs\":\(r.record.macs),\"arena_bytes\":\(r.record.arenaBytes),"
                + "\"sqnr_db\":[\(q?.sqnrDb.map(num).joined(separator: ",") ?? "")],\"max_abs_error\":[\(q?.maxAbsError.map(num).joined(separator: ",") ?? "")],"
                + "\"mean_abs_error\":[\(q?.meanAbsError.map(num).joined(separator: ",") ?? "")],\"top1_agreement\":\(q?.top1Agreement.map(num) ?? "null"),"
                + "\"layers\":[\(layers)],\"targets\":[\(targets)]}"
        }
        return "{\"model\":\(jsonString(model)),\"calibration_samples\":\(samples),\"rungs\":[\(items.joined(separator: ","))]}\n"
    }
}

func sci(_ x: Double) -> String {
    guard x > 0 else { return "0" }
    var e = 0, m = x
    while m >= 10 { m /= 10; e += 1 }
    while m < 1 { m *= 10; e -= 1 }
    return "\(Double(Int((m * 100).rounded())) / 100)e\(e)"
}

extension String {
    func replacingSuffix(_ suffix: String, with new: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) + new : self
    }
}

/// FNV-1a 64 of the source model, to tell which file a package came from.
func fnv1aHex(_ bytes: UnsafeRawBufferPointer) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return "fnv1a64:" + String(h, radix: 16)
}
