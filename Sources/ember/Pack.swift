import ArgumentParser
import Ember
import EmberImport
import EmberPack
#if canImport(Glibc)
import Glibc
#endif

struct Pack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import a TFLite or ONNX model and write it as an .ember package, optionally as a ladder of quantized and pruned rungs.",
        discussion: """
        Reads a .tflite flatbuffer (schema v3): float32 models, float16-stored weights and \
        fully int8-quantized models (per-tensor and per-channel). Tensor names are kept, so \
        `ember run --input NAME=…` uses the TFLite input names. An unsupported op or type \
        fails with one error listing every unsupported op and its count. docs/TFLITE.md \
        lists what is supported.

        Reads an .onnx ModelProto (default-domain opsets 7–28; external data files beside the \
        model, never outside its folder). NCHW images are converted to channels-last at pack \
        time. A dynamic dim needs a size or a bound: --dim NAME=N fixes a named dim (dim_param), \
        --dim NAME<=N keeps it dynamic up to N (the arena is planned for N; `ember run` takes any \
        size 1…N and re-plans once per new shape), --shape INPUT=1x3x224x224 sets one input's \
        dims (INPUT=1x<=128 bounds one); --freeze NAME=FILE.npy fixes an input that only \
        carries shapes, axes or pads. Without them the error lists every unfixed dim and the \
        flag that fixes it. A bounded dim must flow through the graph as a whole dim (batch, \
        sequence length); what Ember can not bind at run time (seq+1, a seq×seq constant mask) \
        is an error naming the value. A QDQ model's QuantizeLinear/DequantizeLinear pairs are folded into \
        int8 ops (checked on a probe input; --keep-qdq runs them as float ops). \
        docs/ONNX_CONFORMANCE.md lists what is supported.

        Graph passes run first (`--passes` lists them; `--no-NAME` turns one off).

        --ladder builds several rungs from one float model. A rung is a precision — fp32 (the \
        model as it is), fp16 (conv/FC weights stored as f16), int8 (post-training \
        quantization in the TFLite scheme: per-channel int8 weights, per-tensor int8 \
        activations calibrated on --calib, int32 bias, empirical bias correction; inputs and \
        outputs stay float), int4 (weight-only INT4 blocks of 32 for FC, 1x1 conv and constant MatMul) — \
        optionally followed by -pruneNN (magnitude pruning to NN % zeros), -2:4 (two of every \
        four weights kept) or -chNN (NN % of prunable output channels removed), e.g. \
        int8-prune50. Pruning has no fine-tuning: the report shows its honest cost. Each \
        rung's quality is its SQNR (dB) against the float model on the calibration samples; \
        its latency and energy are estimated on every device profile in --targets. Rungs are \
        stored best quality first.

        --variant NAME=small.tflite adds a separately trained (e.g. distilled) model with the \
        same inputs and outputs as its own rung; a NAME ending in a rung recipe \
        (small-int8, small-int8-prune50) is built that way, else it is kept as fp32.

        --calib DIR holds .npy files: for a one-input model, one file per sample; for several \
        inputs, SAMPLE_K.npy with K the input's index (as in ../shared/corpus).

        With --ladder, tensor sections are zstd-compressed where that saves 10 % or more \
        (pruned rungs do; dense ones stay raw and are mapped in place at load).

        Examples:
          ember pack model.tflite -o model.ember
          ember pack model.tflite -o model.ember --ladder fp32,int8 --calib calib/ --report report.md
          ember pack model.tflite -o model.ember --ladder fp32,fp16,int8,int4,int8-prune50,int8-2:4 --calib calib/
          ember pack model.tflite -o model.ember --ladder fp32,int8 --calib calib/ --variant tiny-int8=tiny.tflite
          ember pack model.onnx -o model.ember --dim batch=1 --dim seq=128
          ember pack model.onnx -o model.ember --dim batch<=8
          ember pack --passes
        """
    )

    @Argument(help: "The .tflite or .onnx model.")
    var model: String?

    @Option(name: .shortAndLong, help: "Where to write the package.")
    var output: String?

    @Option(help: "Name of the variant (default: fp32 or int8, from the model's input type). Without --ladder only.")
    var variantName: String?

    @Flag(inversion: .prefixedNo, help: "Compress tensor sections with zstd where it saves 10 % (compressed ones are copied at load instead of mapped). Default: on with --ladder, off without.")
    var compress: Bool?

    @Option(help: "zstd level for compressed sections, 1 (fast) to 22 (small).")
    var zstdLevel: Int32 = 19

    @Option(help: "Rungs to build from a float model (comma-separated), e.g. fp32,fp16,int8,int4,int8-prune50,int8-2:4,fp32-ch25.")
    var ladder: String?

    @Option(help: "A separately trained model with the same signature as its own rung: NAME=FILE.tflite or NAME=FILE.onnx (repeatable).")
    var variant: [String] = []

    @Option(help: "Directory of .npy calibration samples (needed for int8, and for quality figures).")
    var calib: String?

    @Option(help: "Directory of held-out .npy samples to measure quality on (default: the --calib samples).")
    var eval: String?

    @Option(help: "How activation ranges are chosen: minmax, percentile (99.99 %) or mse (least int8 error).")
    var calibMethod: String = "minmax"

    @Flag(help: "Do not fold measured per-channel errors back into int8 biases.")
    var noBiasCorrection = false

    @Option(help: ArgumentHelp("Device profiles to estimate each rung's latency and energy on (a directory of .toml; default: ./targets when it exists).", valueName: "dir"))
    var targets: String?

    @Option(help: ArgumentHelp("Most memory the packer may give one graph it runs (calibration, quality), e.g. 2G.", valueName: "bytes"))
    var maxMemory: ByteSize?

    @Option(help: "Drop rungs whose SQNR against the float model is below this (dB).")
    var minSqnr: Double?

    @Option(help: "Drop rungs whose top-1 agreement with the float model is below this (percent; classifiers only).")
    var minAgreement: Double?

    @Option(help: "Write the rung report here too: .json or .md (repeatable).")
    var report: [String] = []

    @Option(help: ArgumentHelp("ONNX: fix a named dynamic dim, or bound it with NAME<=N (repeatable).", valueName: "NAME=N"))
    var dim: [String] = []

    @Option(help: ArgumentHelp("ONNX: set one input's dims, <=N for a bounded one (repeatable).", valueName: "INPUT=1x3x224x224"))
    var shape: [String] = []

    @Option(help: ArgumentHelp("ONNX: give an input its value at import (a shape, axes or pads; repeatable).", valueName: "NAME=FILE.npy"))
    var freeze: [String] = []

    @Flag(help: "Run a QDQ model's QuantizeLinear/DequantizeLinear pairs as float ops (as ORT without optimizations) instead of folding them into int8 ops.")
    var keepQdq = false

    /// A QDQ model folded into int8 ops must stay this close (in output quanta, on a probe input) to
    /// its Q/DQ float graph, or the pairs are kept as float ops: Ember's integer requantization may
    /// move a code per layer, more means a range the folding got wrong.
    @Option(help: ArgumentHelp("Fold a QDQ model's pairs into int8 ops only when, on a probe input, the folded outputs stay within this many output quanta of the Q/DQ graph's (otherwise the pairs run as float ops).", valueName: "quanta"))
    var qdqMaxQuanta: Double = 4

    @Option(help: ArgumentHelp("Kernel layouts to store the weights pre-packed for, so that prepare uses them in place instead of packing them (comma-separated: \(PackedLayouts.names.joined(separator: ", ")); 'auto': this machine's; 'none'). A device with another layout packs at prepare, as without.", valueName: "layouts"))
    var prepack = "auto"

    @Flag(help: "List the graph passes and exit.")
    var passes = false

    @Flag(name: .customLong("no-fold-constants"), help: "Skip the fold-constants pass.") var noFoldConstants = false
    @Flag(name: .customLong("no-remove-no-ops"), help: "Skip the remove-no-ops pass.") var noRemoveNoOps = false
    @Flag(name: .customLong("no-fold-batchnorm"), help: "Skip the fold-batchnorm pass.") var noFoldBatchnorm = false
    @Flag(name: .customLong("no-fuse-activations"), help: "Skip the fuse-activations pass.") var noFuseActivations = false
    @Flag(name: .customLong("no-fuse-swish"), help: "Skip the fuse-swish pass.") var noFuseSwish = false
    @Flag(name: .customLong("no-remove-dead-nodes"), help: "Skip the remove-dead-nodes pass.") var noRemoveDeadNodes = false

    /// The passes turned off by `--no-NAME`.
    var skippedPasses: Set<String> {
        var s = Set<String>()
        if noFoldConstants { s.insert("fold-constants") }
        if noRemoveNoOps { s.insert("remove-no-ops") }
        if noFoldBatchnorm { s.insert("fold-batchnorm") }
        if noFuseActivations { s.insert("fuse-activations") }
        if noFuseSwish { s.insert("fuse-swish") }
        if noRemoveDeadNodes { s.insert("remove-dead-nodes") }
        return s
    }

    var rungNames: [String] { ladder.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? [] }

    func validate() throws {
        if passes { return }
        guard let model else { throw ValidationError("missing the model to pack (ember pack MODEL.tflite|MODEL.onnx -o OUT.ember)") }
        guard let output else { throw ValidationError("missing -o OUT.ember") }
        // Nothing the packer writes may be something it reads, or another of its outputs.
        let variantFiles = variant.compactMap { v in v.firstIndex(of: "=").map { ("--variant", String(v[v.index(after: $0)...])) } }
        try checkOutputs([("-o", output)] + report.map { ("--report", $0) },
                         inputs: [("model", model)] + variantFiles + [calib, eval].compactMap { $0 }.map { ("calibration", $0) }
                            + (try freeze.map { ("--freeze", try ModelSource.splitFreeze($0).path) }))
        if let targets, !isDirectory(targets) { throw ValidationError("--targets '\(targets)' is not a directory") }
        guard let format = ModelSource.format(of: model) else { throw ValidationError("the model must be a .tflite or .onnx file (got \(model))") }
        if format != .onnx && !(dim.isEmpty && shape.isEmpty && freeze.isEmpty) {
            throw ValidationError("--dim, --shape and --freeze apply to ONNX models only")
        }
        _ = try ModelSource.parseDims(dim)
        _ = try ModelSource.parseShapes(shape)
        guard CalibrationMethod(rawValue: calibMethod) != nil else { throw ValidationError("--calib-method must be minmax, percentile or mse") }
        guard (1...22).contains(zstdLevel) else { throw ValidationError("--zstd-level must be 1...22") }
        if ladder != nil || !variant.isEmpty {
            let rungs = rungNames
            guard ladder == nil || !rungs.contains("") else { throw ValidationError("--ladder has an empty rung name") }
            var recipes: [RungRecipe] = []
            for r in rungs {
                do { recipes.append(try RungRecipe.parse(r)) } catch { throw ValidationError("--ladder: \(error)") }
            }
            for v in variant {
                guard let eq = v.firstIndex(of: "="), eq != v.startIndex, ModelSource.format(of: String(v[v.index(after: eq)...])) != nil else {
                    throw ValidationError("--variant must be NAME=FILE.tflite or NAME=FILE.onnx (got \(v))")
                }
                recipes.append(Self.variantRecipe(String(v[..<eq])))
            }
            let names = rungs + variant.compactMap { $0.split(separator: "=").first.map(String.init) }
            guard Set(names).count == names.count else { throw ValidationError("--ladder/--variant name a rung twice") }
            if recipes.contains(where: \.needsCalibration) && calib == nil { throw ValidationError("int8 rungs need --calib DIR of .npy samples") }
            guard variantName == nil else { throw ValidationError("--variant-name and --ladder/--variant exclude each other") }
        }
        _ = try prepackLayouts()
        for r in report where !(r.hasSuffix(".json") || r.hasSuffix(".md")) { throw ValidationError("--report must end in .json or .md (got \(r))") }
        if let m = minSqnr, !(m > -100 && m < 400) { throw ValidationError("--min-sqnr must be a number of dB") }
        if let m = minAgreement, !(0...100).contains(m) { throw ValidationError("--min-agreement must be a percentage, 0...100") }
        guard qdqMaxQuanta >= 0, qdqMaxQuanta.isFinite else { throw ValidationError("--qdq-max-quanta must be a finite number ≥ 0") }
        if eval != nil && calib == nil { throw ValidationError("--eval needs --calib too") }
        if (minSqnr != nil || minAgreement != nil) && calib == nil { throw ValidationError("--min-sqnr and --min-agreement need --calib samples to measure quality on") }
    }

    /// The recipe a `--variant` NAME asks for: its longest dash-separated suffix that is a rung name, else fp32.
    static func variantRecipe(_ name: String) -> RungRecipe {
        let parts = name.split(separator: "-").map(String.init)
        for i in 1..<max(parts.count, 1) {
            if let r = try? RungRecipe.parse(parts[i...].joined(separator: "-")) { return r }
        }
        return RungRecipe(precision: .fp32)
    }

    func run() throws {
        if passes {
            for p in GraphPasses.all { print(p.name + String(repeating: " ", count: max(1, 20 - p.name.count)) + p.summary) }
            return
        }
        guard let model, let output else { return }
        let limits = loadLimits(maxMemory: maxMemory)
        if targets == nil && !isDirectory("targets") {
            note("no device profiles (./targets is absent and --targets was not given): rung latency and energy are not estimated")
        }
        let source = try modelSource(limits: limits)
        let base = ModelSource.baseName(model)
        let (imported, format, sourceHash, modelSize) = try source.read(model, name: base)
        var graph = try optimize(imported, label: base)
        var qdqNote: String?
        let qdqPairs = QDQFolding.pairCount(graph)
        if qdqPairs > 0 && !keepQdq && ladder == nil && variant.isEmpty {
            do {
                let (folded, quanta) = try QDQFolding.int8(graph, optimize: { try optimize($0, label: base + " without Q/DQ") },
                                                           limits: limits)
                let measured = quanta.map { " (on a probe input its outputs are within \(formatDecimal($0, places: 1)) quanta of the Q/DQ graph's)" } ?? ""
                if let quanta, quanta > qdqMaxQuanta {
                    note("QDQ pairs kept as float ops: folded into int8 ops the outputs move \(formatDecimal(quanta, places: 1)) quanta "
                         + "from the Q/DQ graph's on a probe input (more than --qdq-max-quanta \(formatDecimal(qdqMaxQuanta, places: 1)))")
                } else {
                    graph = folded
                    qdqNote = quanta.map { formatDecimal($0, places: 2) }
                    note("folded \(qdqPairs) QuantizeLinear/DequantizeLinear pairs into int8 ops\(measured); --keep-qdq runs them as float ops")
                }
            } catch {
                note("QDQ pairs kept as float ops: \(error)")
            }
        }
        var metadata = PackageMetadata([
            ("name", base), ("source", model), ("source_format", format.rawValue),
            ("source_hash", sourceHash), ("created_by", "ember pack"),
        ])
        for (flag, specs) in [("dims", dim), ("shapes", shape), ("frozen", freeze)] where !specs.isEmpty {
            metadata["import_\(flag)"] = specs.joined(separator: ",")
        }
        if let qdqNote { metadata["qdq_folded_probe_quanta"] = qdqNote }
        if !skippedPasses.isEmpty { metadata["passes_skipped"] = skippedPasses.sorted().joined(separator: ",") }
        var contents: PackageContents
        var reports: [RungReport] = []
        var samples = 0
        if ladder != nil || !variant.isEmpty {
            (contents, reports, samples) = try buildLadder(imported, optimized: graph, metadata: metadata, source: source, limits: limits)
        } else {
            try graph.validateAtBoundedSizes(limits: limits)
            let executor = try Executor(graph: graph, options: ExecutorOptions(limits: limits))
            let isInt8 = graph.nodes.contains { n in graph.values[n.output].dtype == .i8 }
            let variant = VariantRecord(name: variantName ?? (isInt8 ? "int8" : "fp32"),
                                        macs: executor.validated.totalCost.macs,
                                        weightBytes: graph.weightBytes, arenaBytes: executor.arenaBytes,
                                        targets: try targetCosts(executor))
            contents = PackageContents(metadata: metadata, variants: [variant], graphs: [graph])
        }
        contents.packedWeights = try prepackedWeights(contents, limits: limits)
        // Graph sections are decoded at load anyway, so zstd there costs nothing at run time.
        let options = WriteOptions(compressTensors: compress ?? !reports.isEmpty, compressGraphs: true, zstdLevel: zstdLevel)
        if !reports.isEmpty {
            // The stored size of each rung's tensors is known once it is written: measure, then record it.
            let sections = try PackageWriter.serialize(contents, options: options).withUnsafeBytes { try ContainerReader.read($0, owner: nil).sections }
            for (i, var r) in reports.enumerated() {
                if let t = sections.first(where: { $0.kind == .tensors && $0.id == UInt32(i) }) { r.storedBytes = t.storedLength; r.rawBytes = t.rawLength }
                reports[i] = r
                contents.metadata["stored_bytes.\(r.record.name)"] = String(r.storedBytes)
            }
            // The whole report (per output and per layer) travels in META too; `ember inspect --json` shows it.
            let json = RungReport.json(reports, model: model, samples: samples)
            contents.metadata["pack_report"] = json
            let table = RungReport.markdown(reports, model: model, samples: samples, heldOut: eval != nil)
            print(table, terminator: "")
            for path in report { try writeFile(Array((path.hasSuffix(".json") ? json : table).utf8), to: path) }
        }
        let packed = try PackageWriter.serialize(contents, options: options)
        try writeFile(packed, to: output)
        print("packed \(model) (\(modelSize) bytes) → \(output) (\(packed.count) bytes): "
              + contents.variants.map { "\($0.name)" }.joined(separator: ", ") + "; \(graph.nodes.count) nodes, \(graph.parameterCount) parameters")
    }

    /// The layouts --prepack names (auto: this machine's path, as `EMBER_ISA` would choose it).
    func prepackLayouts() throws -> [String] {
        switch prepack {
        case "none": return []
        case "auto": return (try? KernelISA.resolve(nil).packedLayout).flatMap { $0 }.map { [$0] } ?? []
        default:
            let names = prepack.split(separator: ",").map { String($0.filter { $0 != " " }) }
            for n in names where !PackedLayouts.names.contains(n) {
                throw ValidationError("--prepack: '\(n)' is not a layout (\(PackedLayouts.names.joined(separator: ", ")), auto or none)")
            }
            guard Set(names).count == names.count else { throw ValidationError("--prepack names a layout twice") }
            let packable = Executor.packableLayouts.keys.sorted()
            for n in names where !packable.contains(n) {
                throw ValidationError("--prepack: this build lays out weights for \(packable.joined(separator: ", ")) only, not '\(n)' "
                                      + "(pack NEON layouts with an arm64 build of ember, x86 ones with an x86 build)")
            }
            return names
        }
    }

    /// Every variant's weights packed for each --prepack layout (PACK sections), with one line saying so.
    func prepackedWeights(_ contents: PackageContents, limits: LoadLimits) throws -> [PackedWeightsSection] {
        let layouts = try prepackLayouts()
        var sections: [PackedWeightsSection] = []
        for layout in layouts {
            for (i, g) in contents.graphs.enumerated() {
                let blobs = try Executor.packWeights(graph: g, layout: layout, limits: limits)
                if blobs.isEmpty { continue }
                sections.append(PackedWeightsSection(variant: i, layout: layout, revision: PackedLayouts.revision, blobs: blobs))
            }
        }
        if !sections.isEmpty {
            let bytes = sections.reduce(0) { $0 + $1.byteCount }
            note("weights pre-packed for \(layouts.joined(separator: ", ")) (\(formatBytes(bytes)), used in place at prepare; "
                 + "--prepack none leaves them out)")
        }
        return sections
    }

    /// How the model files are read: the memory cap and the ONNX dims and frozen inputs.
    func modelSource(limits: LoadLimits) throws -> ModelSource {
        var source = ModelSource(limits: limits)
        (source.onnx.dims, source.onnx.bounds) = try ModelSource.parseDims(dim)
        (source.onnx.shapes, source.onnx.boundedAxes) = try ModelSource.parseShapes(shape)
        source.onnx.frozen = try ModelSource.loadFrozen(freeze)
        return source
    }

    /// The graph after the passes not turned off, with one stderr line saying what they did.
    func optimize(_ graph: Graph, label: String) throws -> Graph {
        var done: [String] = []
        let g = try GraphPasses.run(graph, skipping: skippedPasses) { name, n in done.append("\(name) \(n)") }
        if !done.isEmpty { note("passes on \(label) (rewrites): \(done.joined(separator: ", "))") }
        return g
    }

    /// One rung to build: its name, recipe and the float graph it starts from.
    struct RungJob {
        var name: String
        var recipe: RungRecipe
        var source: Graph
        /// A --variant model (not the main one): its own outputs are the bias-correction reference.
        var isVariant = false
    }

    func buildLadder(_ original: Graph, optimized: Graph, metadata: PackageMetadata, source: ModelSource,
                     limits: LoadLimits) throws -> (PackageContents, [RungReport], Int) {
        let graph = try WeightStorage.widenedHalves(optimized)
        guard graph.inputs.allSatisfy({ graph.values[$0].dtype == .f32 }) else {
            throw EmberError.invalidArgument("--ladder needs a float model; \(model ?? "") takes \(graph.inputs.map { "\(graph.values[$0].dtype)" }.joined(separator: ", ")) inputs")
        }
        var jobs = try rungNames.map { RungJob(name: $0, recipe: try RungRecipe.parse($0), source: graph) }
        for v in variant {
            guard let eq = v.firstIndex(of: "=") else { continue }
            let name = String(v[..<eq]), path = String(v[v.index(after: eq)...])
            let other = try source.read(path, name: name).graph
            jobs.append(RungJob(name: name, recipe: Self.variantRecipe(name), source: try optimize(try matchingSignature(other, of: graph, path: path), label: name), isVariant: true))
        }
        let samples = try calib.map { try loadCalibration($0, for: graph) } ?? []
        // Quality is measured against the model as imported, before any pass,
        // on held-out samples when --eval gives them.
        let evalSamples = try eval.map { try loadCalibration($0, for: graph) } ?? samples
        let reference = evalSamples.isEmpty ? [] : try floatOutputs(original, samples: evalSamples, limits: limits)
        let calibReference = eval == nil ? reference : try floatOutputs(original, samples: samples, limits: limits)
        let classifier = isClassifier(graph)
        var built: [(graph: Graph, record: VariantRecord, report: RungReport)] = []
        for job in jobs {
            note("building rung \(job.name)")
            let pruned = try job.recipe.prunedFloatGraph(job.source)
            var g: Graph
            if job.recipe.precision == .int8 {
                let calibration = try Calibration.run(pruned, samples: samples, method: CalibrationMethod(rawValue: calibMethod) ?? .minmax,
                                                      limits: limits, progress: ProgressBar("calibrating \(job.name)").update)
                let q = try Quantizer.int8(pruned, calibration: calibration)
                // Corrected against the unpruned float layers, so the mean shift pruning causes is folded back too.
                g = noBiasCorrection ? q : try Quantizer.correctBias(reference: job.source, quantized: q, samples: samples,
                                                                   referenceOutputs: job.isVariant ? nil : calibReference, limits: limits,
                                                                   progress: ProgressBar("bias correction \(job.name)").update)
            } else {
                g = try job.recipe.applyStorage(pruned)
            }
            g.name = graph.name + "-" + job.name
            try g.validateAtBoundedSizes(limits: limits)
            let executor = try Executor(graph: g, options: ExecutorOptions(limits: limits, label: "rung '\(job.name)'"))
            let quality = evalSamples.isEmpty ? nil : QualityReport.compare(name: job.name, reference: reference,
                                                                            candidate: try floatOutputs(g, samples: evalSamples, limits: limits), classifier: classifier)
            if let m = minSqnr, let q = quality, q.quality < m {
                note("dropped rung \(job.name): SQNR \(fmtDb(q.quality)) dB < --min-sqnr \(m)")
                continue
            }
            if let m = minAgreement, let a = quality?.top1Agreement, a * 100 < m {
                note("dropped rung \(job.name): top-1 agreement \(formatDecimal(a * 100, places: 0)) % < --min-agreement \(m)")
                continue
            }
            let record = VariantRecord(name: job.name, quality: quality.map { Float($0.quality) } ?? .nan, qualityMetric: quality == nil ? "" : "sqnr_db",
                                       macs: executor.validated.totalCost.macs, weightBytes: g.weightBytes, arenaBytes: executor.arenaBytes,
                                       targets: try targetCosts(executor))
            let layers = job.name == "fp32" || evalSamples.isEmpty || job.isVariant ? []
                : try perLayerSQNR(reference: graph, candidate: g, samples: evalSamples, limits: limits)
            built.append((g, record, RungReport(record: record, quality: quality, layers: layers)))
        }
        guard !built.isEmpty else { throw EmberError.invalidArgument("every rung fell below --min-sqnr / --min-agreement") }
        // Best quality first (the order the scheduler prefers rungs in); unmeasured rungs keep their order at the end.
        let order = built.indices.sorted { a, b in
            let qa = Double(built[a].record.quality), qb = Double(built[b].record.quality)
            if qa.isNaN || qb.isNaN { return !qa.isNaN && qb.isNaN || (qa.isNaN == qb.isNaN && a < b) }
            return qa != qb ? qa > qb : a < b
        }
        var meta = metadata
        meta["calibration_samples"] = String(samples.count)
        meta["quality_samples"] = eval == nil ? "calibration" : "held-out \(evalSamples.count)"
        let contents = PackageContents(metadata: meta, variants: order.map { built[$0].record }, graphs: order.map { built[$0].graph })
        return (contents, order.map { built[$0].report }, evalSamples.count)
    }

    /// `other` with the inputs and outputs of `graph`: same count, dtype and
    /// dims, in order; renamed to `graph`'s names so every rung runs with the same feeds.
    func matchingSignature(_ other: Graph, of graph: Graph, path: String) throws -> Graph {
        var g = other
        let mine = try graph.validate().types, theirs = try other.validate().types
        for (what, a, b) in [("input", graph.inputs, other.inputs), ("output", graph.outputs, other.outputs)] {
            guard a.count == b.count else {
                throw EmberError.invalidInput(name: path, reason: "has \(b.count) \(what)s, the model has \(a.count)")
            }
            for (k, (x, y)) in zip(a, b).enumerated() where mine[x] != theirs[y] {
                throw EmberError.invalidInput(name: path, reason: "\(what) \(k) '\(other.values[y].name)' is \(theirs[y]), the model's '\(graph.values[x].name)' is \(mine[x])")
            }
            for (x, y) in zip(a, b) { g.values[y].name = graph.values[x].name }
        }
        _ = try g.validate()
        return g
    }

    /// Latency and energy of one inference on each profile in --targets (one thread).
    func targetCosts(_ executor: Executor) throws -> [TargetCost] {
        let work = InferenceWork(executor.validated)
        return try loadProfiles(targets ?? "targets").map { p in
            let e = p.estimate(work, threads: 1)
            return TargetCost(target: p.name, latencyMs: Float(e.latencyMs), energyMj: Float(e.energyMillijoules))
        }
    }
}

/// Every `*.toml` device profile in `dir`, parsed and validated (a bad one is an error); none when `dir` is absent.
func loadProfiles(_ dir: String) throws -> [DeviceProfile] {
    try listDirectory(dir).filter { $0.hasSuffix(".toml") }.sorted().map {
        try DeviceProfile.load(path: dir + "/" + $0)
    }
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
        var dims: [[Int]] = []
        let bytes: [[UInt8]] = try names.enumerated().map { k, name in
            let path = dir + "/" + name
            let t = try NPY.decode(try readFile(path, .npy), name: path)
            let want = types[inputs[k]], declared = graph.values[inputs[k]].shape
            // A bounded dim may take any size within its bound (checked below for the whole sample).
            let fits = declared.isStatic ? t.dims == want.dims : declared.rank == t.dims.count
            guard t.dtype == want.dtype, fits else {
                let expected = declared.isStatic ? "\(want)" : "\(want.dtype)\(declared)"
                throw EmberError.invalidInput(name: path, reason: "expected \(expected) for input '\(graph.values[inputs[k]].name)', got \(t.dtype)\(formatDims(t.dims))")
            }
            if t.dtype == .f32, let bad = t.floats.firstIndex(where: { !$0.isFinite }) {
                throw EmberError.invalidInput(name: path, reason: "element \(bad) is \(t.floats[bad]); calibration data must be finite")
            }
            dims.append(t.dims)
            return t.bytes
        }
        guard inputs.contains(where: { !graph.values[$0].shape.isStatic }) else { return Sample(inputs: bytes) }
        _ = try graph.bindings(forInputDims: dims)
        return Sample(inputs: bytes, dims: dims)
    }
}

/// Progress on stdout (stderr is kept for the one error line): a bar with an
/// ETA redrawn in place on a terminal, plain lines (every tenth and the last) otherwise.
final class ProgressBar {
    let label: String
    let start = monotonicSeconds()
    init(_ label: String) { self.label = label }

    func update(_ done: Int, _ total: Int) {
        let elapsed = monotonicSeconds() - start
        let eta = done > 0 && done < total ? " ETA \(formatDuration(elapsed / Double(done) * Double(total - done)))" : ""
        if isatty(1) != 0 {
            let width = 30, filled = total > 0 ? done * width / total : width
            print("\r\(label) [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] \(done)/\(total)\(eta)   ",
                  terminator: done == total ? "\n" : "")
            fflush(nil)
        } else if done == total || done % max(1, total / 10) == 0 {
            note("\(label): \(done)/\(total)\(eta)")
        }
    }
}

func monotonicSeconds() -> Double { Double(monotonicNanoseconds()) / 1e9 }

func formatDuration(_ s: Double) -> String {
    guard s.isFinite, s < 1e9 else { return "?" }
    return s < 60 ? "\(Int(s.rounded(.up)))s" : "\(Int(s / 60))m\(Int(s.truncatingRemainder(dividingBy: 60)))s"
}

func fmtDb(_ x: Double) -> String { x.isNaN ? "-" : formatDecimal(x, places: 1) }

/// One rung in the packer's report.
struct RungReport {
    var record: VariantRecord
    var quality: QualityReport?
    var layers: [(node: String, sqnrDb: Double)]
    /// The rung's tensor section as written (after zstd where it paid) and before.
    var storedBytes = 0
    var rawBytes = 0

    var compressionRatio: Double { storedBytes > 0 ? Double(rawBytes) / Double(storedBytes) : 1 }

    static func markdown(_ rungs: [RungReport], model: String, samples: Int, heldOut: Bool) -> String {
        var s = "| rung | weight bytes | stored bytes | zstd ratio | MACs | arena | SQNR dB (worst output) | max abs err | mean abs err | top-1 agreement | worst layer |"
        let targets = rungs.first?.record.targets.map(\.target) ?? []
        for t in targets { s += " \(t) ms / mJ |" }
        s += "\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|" + String(repeating: "---:|", count: targets.count) + "\n"
        for r in rungs {
            let q = r.quality
            let worst = r.layers.min { $0.sqnrDb < $1.sqnrDb }
            s += "| \(r.record.name) | \(r.record.weightBytes) | \(r.storedBytes) | \(round3(Float(r.compressionRatio))) | \(r.record.macs) | \(r.record.arenaBytes) | \(q.map { fmtDb($0.quality) } ?? "-") "
                + "| \(q.map { sci($0.maxAbsError.max() ?? 0) } ?? "-") | \(q.map { sci($0.meanAbsError.max() ?? 0) } ?? "-") "
                + "| \(q?.top1Agreement.map { "\(Int(($0 * 100).rounded()))%" } ?? "-") | \(worst.map { "\($0.node.suffix(32)) \(fmtDb($0.sqnrDb))" } ?? "-") |"
            for t in r.record.targets { s += " \(round3(t.latencyMs)) / \(round3(t.energyMj)) |" }
            s += "\n"
        }
        s += "\nQuality measured against the float model on \(samples) sample(s) of \(model)"
            + (heldOut ? ", held out from calibration.\n" : " (the calibration samples; --eval DIR holds some out).\n")
        return s
    }

    static func json(_ rungs: [RungReport], model: String, samples: Int) -> String {
        func num(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
        let items = rungs.map { r -> String in
            let q = r.quality
            let layers = r.layers.map { "{\"node\":\(jsonString($0.node)),\"sqnr_db\":\(num($0.sqnrDb))}" }.joined(separator: ",")
            let targets = r.record.targets.map { "{\"target\":\(jsonString($0.target)),\"latency_ms\":\(num(Double($0.latencyMs))),\"energy_mj\":\(num(Double($0.energyMj)))}" }.joined(separator: ",")
            return "{\"name\":\(jsonString(r.record.name)),\"weight_bytes\":\(r.record.weightBytes),\"stored_bytes\":\(r.storedBytes),\"compression_ratio\":\(num(r.compressionRatio)),\"macs\":\(r.record.macs),\"arena_bytes\":\(r.record.arenaBytes),"
                + "\"sqnr_db\":[\(q?.sqnrDb.map(num).joined(separator: ",") ?? "")],\"max_abs_error\":[\(q?.maxAbsError.map(num).joined(separator: ",") ?? "")],"
                + "\"mean_abs_error\":[\(q?.meanAbsError.map(num).joined(separator: ",") ?? "")],\"top1_agreement\":\(q?.top1Agreement.map(num) ?? "null"),"
                + "\"layers\":[\(layers)],\"targets\":[\(targets)]}"
        }
        return "{\"model\":\(jsonString(model)),\"quality_samples\":\(samples),\"rungs\":[\(items.joined(separator: ","))]}\n"
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
