import ArgumentParser
import Ember

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a package holds: metadata, variants, inputs and outputs, ops, weights, arena.",
        discussion: """
        Loads and fully validates the package (every checksum, offset and graph), prepares \
        each variant's memory plan, and prints a summary. A damaged package is reported as \
        one line naming the section and byte offset, with exit status 1.

        Examples:
          ember inspect model.ember
          ember inspect model.ember --plan --variant int8
          ember inspect model.ember --json
        """
    )

    @Argument(help: "The .ember package.")
    var file: String

    @Flag(help: "Draw each variant's memory plan: one row per step, the arena across.")
    var plan = false

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(help: "Only this variant (default: all).")
    var variant: String?

    @Flag(help: "Plan without in-place reuse (every tensor its own buffer, as TFLite Micro plans), for comparison.")
    var noInPlace = false

    @Option(help: ArgumentHelp("Most memory one variant may use to be prepared (e.g. 512M, 2G).", valueName: "bytes"))
    var maxMemory: ByteSize?

    @Option(help: "How the package file is held: automatic (a read lease, else a private copy), lease or copy.")
    var fileProtection: PackageFileProtection = .automatic

    @OptionGroup var trust: TrustOptions

    func run() throws {
        let package = try EmberPackage(path: file, limits: loadLimits(maxMemory: maxMemory), protection: fileProtection,
                                   trustedKeys: try trust.trusted())
        let indices = variant == nil ? Array(package.variants.indices) : [try package.variantIndex(variant)]
        var reports: [VariantReport] = []
        for i in indices {
            // One variant at a time: its weights and arena are released before the next is prepared.
            let session = try Session(package: package, variant: package.variants[i].name, options: ExecutorOptions(inPlace: !noInPlace))
            reports.append(VariantReport(record: package.variants[i], graph: package.contents.graphs[i],
                                         executor: session.executor, packedLayouts: package.packedLayouts(variant: i),
                                         drawPlan: plan))
        }
        if json {
            print(jsonReport(package, reports))
            return
        }
        print("package   \(file) (\(package.fileBytes) bytes, format \(package.contents.formatVersion.major).\(package.contents.formatVersion.minor))")
        for (k, v) in package.metadata.entries {
            // The packer's full report is long JSON: `--json` prints it.
            print("  \(k): " + (k == "pack_report" ? "(\(v.utf8.count) bytes of JSON; see --json)" : v))
        }
        print("sections  " + package.contents.sections.map { s in
            "\(s.label) \(s.storedLength)B" + (s.compression == .zstd ? " (zstd from \(s.rawLength)B)" : "")
        }.joined(separator: ", "))
        if let signer = package.signer {
            print("signature key \(signer.id)" + (package.signatureVerified ? ", verified against \(trust.trustedKeys ?? "")"
                : " (not verified: --trusted-keys DIR or ember verify checks it)"))
        } else {
            print("signature none")
        }
        print("\nvariants")
        print(pad("name", 14) + pad("quality", 18) + pad("MACs", 12) + pad("params", 10) + pad("weights", 12) + "arena")
        for r in reports {
            // Quality comes from the file: NaN (unmeasured) and ±∞ (the reference itself) must print, not trap.
            let q = r.record.quality.isNaN ? "-" : (r.record.quality.isInfinite ? "∞ \(r.record.qualityMetric) (reference)"
                : "\(fmtDb(Double(r.record.quality))) \(r.record.qualityMetric)")
            print(pad(r.record.name, 14) + pad(q, 18) + pad(String(r.macs), 12) + pad(String(r.graph.parameterCount), 10)
                  + pad("\(r.graph.weightBytes) B", 12) + "\(r.arenaBytes) B")
            if !r.record.targets.isEmpty {
                print("    estimated per inference (1 thread): " + r.record.targets.map { "\($0.target) \(round3($0.latencyMs)) ms / \(round3($0.energyMj)) mJ" }.joined(separator: ", "))
            }
        }
        for r in reports {
            print("\nvariant \(r.record.name): \(r.graph.nodes.count) nodes, graph '\(r.graph.name)'")
            for s in r.inputs { print("  input   \(slotLine(s))") }
            for s in r.outputs { print("  output  \(slotLine(s))") }
            print("  ops     " + r.graph.opHistogram.map { "\($0.op) \($0.count)" }.joined(separator: ", "))
            print("  params  \(r.graph.parameterCount) (\(r.graph.weightBytes) bytes of weights)")
            print("  arena   \(r.arenaBytes) bytes, \(r.bufferCount) buffers; prepared parameters \(r.preparedBytes) bytes"
                  + (r.prepackedBytes > 0 ? " (+ \(r.prepackedBytes) pre-packed for \(r.layout), read in place)" : ""))
            print("  packed  " + (r.packedLayouts.isEmpty ? "no pre-packed weights (packed at prepare)"
                                                         : "weights pre-packed for \(r.packedLayouts.joined(separator: ", "))")
                  + "; this machine's kernels read \(r.layout)")
            if plan { print(r.planPicture) }
        }
    }
}

/// What `inspect` prints of one variant (the executor itself is not kept).
struct VariantReport {
    let record: VariantRecord
    let graph: Graph
    let macs: Int
    let arenaBytes: Int
    let preparedBytes: Int
    /// Pre-packed weight bytes (PACK) the kernels read in place, for `layout`.
    let prepackedBytes: Int
    let layout: String
    /// The layouts the package has this variant's weights pre-packed for.
    let packedLayouts: [String]
    let inputs: [TensorSlot]
    let outputs: [TensorSlot]
    let bufferCount: Int
    let planPicture: String

    init(record: VariantRecord, graph: Graph, executor: Executor, packedLayouts: [String], drawPlan: Bool) {
        self.record = record
        self.graph = graph
        macs = executor.validated.totalCost.macs
        arenaBytes = executor.arenaBytes
        preparedBytes = executor.preparedBytes
        prepackedBytes = executor.prepackedBytes
        layout = executor.isa.packedLayout ?? "-"
        self.packedLayouts = packedLayouts
        inputs = executor.inputs
        outputs = executor.outputs
        bufferCount = executor.plan.requirements.count
        planPicture = drawPlan ? executor.plan.render() : ""
    }
}

/// `name: f32[1x3x224x224]`, with bounded dims as `N<=8` (the arena is planned for the bounds).
func slotLine(_ s: TensorSlot) -> String {
    let type = s.declared.isStatic ? "\(s.info)" : "\(s.info.dtype)\(s.declared)"
    return "\(s.name): \(type)" + (s.quant.map { " (\($0))" } ?? "")
}

func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
}

/// Minimal JSON emission (strings escaped per RFC 8259).
func jsonString(_ s: String) -> String {
    "\"" + escaping(s) { u in
        switch u {
        case "\"": return "\\\""
        case "\\": return "\\\\"
        case "\n": return "\\n"
        case "\t": return "\\t"
        case "\r": return "\\r"
        default: return u.value < 0x20 ? "\\u" + hexDigits(u.value, 4) : nil
        }
    } + "\""
}

func jsonNumber(_ f: Float) -> String { f.isFinite ? "\(f)" : "null" }

func jsonReport(_ p: EmberPackage, _ reports: [VariantReport]) -> String {
    func slot(_ s: TensorSlot) -> String {
        var q = "null"
        if let quant = s.quant {
            q = "{\"scales\":[\(quant.scales.map { jsonNumber($0) }.joined(separator: ","))],\"zero_points\":[\(quant.zeroPoints.map(String.init).joined(separator: ","))]"
                + (quant.axis.map { ",\"axis\":\($0)" } ?? "") + "}"
        }
        // Bounded dims: the shape holds their bounds, "dynamic" names them.
        let dynamic = s.declared.dims.enumerated().compactMap { axis, d -> String? in
            guard case let .symbolic(name, bound) = d else { return nil }
            return "{\"axis\":\(axis),\"name\":\(jsonString(name)),\"max\":\(bound)}"
        }
        return "{\"name\":\(jsonString(s.name)),\"dtype\":\(jsonString(s.info.dtype.description)),\"shape\":[\(s.info.dims.map(String.init).joined(separator: ","))],"
            + "\"dynamic\":[\(dynamic.joined(separator: ","))],\"quant\":\(q)}"
    }
    let meta = p.metadata.entries.map { "\(jsonString($0.key)):\(jsonString($0.value))" }.joined(separator: ",")
    let variants = reports.map { r in
        let ops = r.graph.opHistogram.map { "\(jsonString($0.op.description)):\($0.count)" }.joined(separator: ",")
        return "{\"name\":\(jsonString(r.record.name)),\"quality\":\(jsonNumber(r.record.quality)),\"quality_metric\":\(jsonString(r.record.qualityMetric)),"
            + "\"macs\":\(r.macs),\"parameters\":\(r.graph.parameterCount),\"weight_bytes\":\(r.graph.weightBytes),\"arena_bytes\":\(r.arenaBytes),"
            + "\"prepared_bytes\":\(r.preparedBytes),\"prepacked_bytes\":\(r.prepackedBytes),\"packed_layouts\":["
            + r.packedLayouts.map(jsonString).joined(separator: ",")
            + "],\"inputs\":[\(r.inputs.map(slot).joined(separator: ","))],\"outputs\":[\(r.outputs.map(slot).joined(separator: ","))],"
            + "\"ops\":{\(ops)}}"
    }.joined(separator: ",")
    return "{\"file_bytes\":\(p.fileBytes),\"metadata\":{\(meta)},\"variants\":[\(variants)]}"
}
