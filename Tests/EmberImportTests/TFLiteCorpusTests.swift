import Testing
import Ember
@testable import EmberImport
#if canImport(Glibc)
import Glibc
#endif

func readBytes(_ path: String) throws -> [UInt8] { try readFile(path, .model) }

/// Packs a model folder's model.tflite, runs every reference input and
/// compares with `outputs_ref`: returns nil when every output matches (int8
/// byte for byte; float within the corpus tolerance), else why not.
func checkModel(_ dir: String, isa: KernelISA = .best, tolerance given: (abs: Float, rel: Float)? = nil) throws -> String? {
    let graph = try readBytes(dir + "/model.tflite").withUnsafeBytes { try TFLiteImporter.importModel($0, name: "m") }
    // Through the real format: write (with the path's weights pre-packed, as `ember pack` does), read back, run.
    var contents = PackageContents(metadata: PackageMetadata(), variants: [VariantRecord(name: "v")], graphs: [graph])
    if let layout = isa.packedLayout {
        contents.packedWeights = [PackedWeightsSection(variant: 0, layout: layout, revision: PackedLayouts.revision,
                                                       blobs: try Executor.packWeights(graph: graph, layout: layout))]
    }
    let bytes = try PackageWriter.serialize(contents)
    let package = try bytes.withUnsafeBytes { try EmberPackage(bytes: $0) }
    let session = try Session(package: package, options: ExecutorOptions(isa: isa))
    let prepacked = contents.packedWeights.reduce(0) { $0 + $1.byteCount }
    guard session.executor.prepackedBytes == prepacked else {
        return "read \(session.executor.prepackedBytes) of \(prepacked) pre-packed bytes in place"
    }
    let tolerance = try given ?? floatTolerance(dir + "/meta.json")
    let samples = ["00", "01", "02"].filter { access("\(dir)/inputs/\($0)_0.npy", F_OK) == 0 }
    guard !samples.isEmpty else { return "no reference inputs in \(dir)/inputs" }
    for sample in samples {
        var feeds: [String: Tensor] = [:]
        for (k, slot) in session.inputs.enumerated() {
            feeds[slot.name] = try NPY.decode(try readBytes("\(dir)/inputs/\(sample)_\(k).npy"), name: slot.name)
        }
        let out = try session.run(feeds)
        for (k, slot) in session.outputs.enumerated() {
            let ref = try NPY.decode(try readBytes("\(dir)/outputs_ref/\(sample)_\(k).npy"), name: slot.name)
            guard let got = out[slot.name], got.dims == ref.dims || elementCount(got.dims) == elementCount(ref.dims) else {
                return "sample \(sample) output \(slot.name): shape differs"
            }
            if ref.dtype == .f32 {
                for (a, b) in zip(got.floats, ref.floats) where abs(a - b) > tolerance.abs + tolerance.rel * abs(b) {
                    return "sample \(sample) output \(slot.name): \(a) vs reference \(b)"
                }
            } else if got.bytes != ref.bytes {
                let worst = zip(got.int8s, ref.int8s).map { abs(Int($0) - Int($1)) }.max() ?? 0
                return "sample \(sample) output \(slot.name): up to \(worst) quanta from LiteRT's reference kernels"
            }
        }
    }
    return nil
}

/// abs and rtol from meta.json's tolerance (float models), by plain text search.
func floatTolerance(_ path: String) throws -> (abs: Float, rel: Float) {
    let text = String(decoding: try readBytes(path), as: UTF8.self)
    let chars = Array(text)
    func number(after key: String) -> Float? {
        let pattern = Array("\"\(key)\"")
        guard chars.count > pattern.count else { return nil }
        for i in 0...(chars.count - pattern.count) where Array(chars[i..<(i + pattern.count)]) == pattern {
            let rest = chars[(i + pattern.count)...].drop { $0 == ":" || $0 == " " }
            return Float(String(rest.prefix { "0123456789.eE-+".contains($0) }))
        }
        return nil
    }
    return (number(after: "vs_outputs_ref_max_abs") ?? 1e-5, number(after: "vs_outputs_ref_rtol") ?? 1e-4)
}

/// Models known not to match yet, with the reason. The test fails if one of
/// these starts matching (update the table) or any other model stops matching.
let knownGaps: [String: String] = [:]

@Suite struct TFLiteCorpusTests {
    /// On every kernel path this CPU has: int8 byte for byte, float within the corpus tolerance.
    @Test(arguments: ["kws_int8", "resnet8_float"])
    func committedFixturesMatchLiteRT(_ name: String) throws {
        for isa in KernelISA.supported {
            #expect(try checkModel(Corpus.fixtures + "/" + name, isa: isa) == nil, "\(name) on \(isa)")
        }
    }

    @Test(.enabled(if: Corpus.isPresent, "needs ../shared/corpus/mlperf-tiny (absent: only the committed fixtures are checked)"))
    func everyCorpusModelMatchesOrIsAKnownGap() throws {
        let models = Corpus.sharedModels
        #expect(models.count >= 9)
        for m in models {
          for isa in KernelISA.supported {
            let outcome: String?
            do { outcome = try checkModel(Corpus.shared + "/" + m, isa: isa) } catch { outcome = "\(error) on \(isa)" }
            if let gap = knownGaps[m] {
                #expect(outcome?.contains(gap) == true, "\(m): expected the known gap '\(gap)', got \(outcome ?? "a match")")
            } else {
                #expect(outcome == nil, "\(m) on \(isa): \(outcome ?? "")")
            }
          }
        }
    }

    @Test func namesShapesAndQuantizationAreKept() throws {
        let g = try readBytes(Corpus.fixtures + "/kws_int8/model.tflite").withUnsafeBytes { try TFLiteImporter.importModel($0, name: "kws") }
        let input = g.values[g.inputs[0]], output = g.values[g.outputs[0]]
        #expect(input.name == "input_1" && input.shape == [1, 49, 10, 1] && input.dtype == .i8)
        #expect(input.quant == QuantParams(scale: 0.5847029089927673, zeroPoint: 83))
        #expect(output.name == "Identity" && output.shape == [1, 12])
        #expect(g.opHistogram.first { $0.op == .conv2D }?.count == 9) // 5 conv + 4 depthwise
    }
}

/// The committed zoo entries (Tests/Fixtures/tflite-zoo/NOTICE.md): what published models need.
enum ZooFixtures {
    static let directory = Corpus.projectRoot + "/Tests/Fixtures/tflite-zoo"
    static let all = ["prelu_cnn_int8", "prelu_cnn_float16", "ssd_detector_float16", "audio_conv1d_sparse", "unet_int8",
                      "unet_float16", "transformer_dynamic_int8", "lstm_float32", "gru_float32", "space_batch_float32", "space_batch_int8",
                      "gather_nd_float32", "gather_nd_int8", "norm_stats_float32", "norm_stats_int8", "lstm_dynamic_int8",
                      "transformer_int8"]
    /// Float outputs within 1e-6 + 1e-5·|reference|: ten times tighter than the zoo's 1e-4, and still five
    /// times the worst difference any fixture shows on any kernel path (ssd_detector_float16 on SIMD).
    /// A hybrid op that dequantizes its weights instead of quantizing its inputs (the LSTM did) is outside it.
    static let tolerance: (abs: Float, rel: Float) = (1e-6, 1e-5)
}

@Suite struct TFLiteZooFixtureTests {
    /// On every kernel path this CPU has: int8 byte for byte, float within `ZooFixtures.tolerance`.
    @Test(arguments: ZooFixtures.all)
    func zooFixturesMatchLiteRT(_ name: String) throws {
        for isa in KernelISA.supported {
            let why = try checkModel(ZooFixtures.directory + "/" + name, isa: isa, tolerance: ZooFixtures.tolerance)
            #expect(why == nil, "\(name) on \(isa)")
        }
    }

    /// Truncations and bit flips of each zoo fixture (sparsity metadata included: the sparse model's
    /// index vectors are most of its non-weight bytes): an EmberError or a result, never a trap.
    @Test(arguments: ZooFixtures.all)
    func mutatedZooFixturesNeverCrash(_ name: String) throws {
        let good = try readBytes(ZooFixtures.directory + "/" + name + "/model.tflite")
        let extended = getenv("EMBER_EXTENDED") != nil
        let ran = importAndRunMutations(of: good, truncations: extended ? 2_000 : 60, flips: extended ? 5_000 : 80,
                                        bitsPerFlip: 1...3, seed: 78)
        #expect(ran > 0, "no mutation imported: the check did not reach the kernels")
    }
}

/// Imports (and, when that succeeds, prepares and runs) `truncations` evenly spaced prefixes of
/// `good` and `flips` copies with `bitsPerFlip` seeded bit flips each: every case must give an
/// EmberError or a result, never a trap or another error. Returns how many ran.
func importAndRunMutations(of good: [UInt8], truncations: Int, flips: Int, bitsPerFlip: ClosedRange<Int>, seed: UInt64) -> Int {
    var cases: [[UInt8]] = []
    for n in stride(from: 0, to: good.count, by: max(1, good.count / max(truncations, 1))) { cases.append(Array(good.prefix(n))) }
    var rng = SplitMix64(seed: seed)
    for _ in 0..<flips {
        var b = good
        for _ in 0..<rng.int(bitsPerFlip) {
            let bit = Int(rng.next() % UInt64(b.count * 8))
            b[bit / 8] ^= UInt8(1 << (bit % 8))
        }
        cases.append(b)
    }
    var ran = 0
    for bytes in cases {
        do {
            let g = try bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: "m") }
            let e = try Executor(graph: g)
            e.run()
            ran += 1
        } catch is EmberError {
        } catch { Issue.record("non-Ember error \(error)") }
    }
    return ran
}

@Suite struct TFLiteMalformedInputTests {
    /// Truncations and seeded bit flips of both fixtures: import (and, when the
    /// import succeeds, prepare and run) must give an EmberError or a result, never a trap.
    @Test(arguments: ["kws_int8", "resnet8_float"])
    func mutationsNeverCrash(_ name: String) throws {
        let good = try readBytes(Corpus.fixtures + "/" + name + "/model.tflite")
        let extended = getenv("EMBER_EXTENDED") != nil
        let ran = importAndRunMutations(of: good, truncations: extended ? good.count : 400, flips: extended ? 20_000 : 600,
                                        bitsPerFlip: 1...1, seed: 77)
        #expect(ran > 0) // flips in weight bytes import fine: the check ran on real models
    }

    @Test func unsupportedOpsAreListedTogether() throws {
        // A real model with two of its op codes renamed to unsupported ones.
        var bytes = try readBytes(Corpus.fixtures + "/kws_int8/model.tflite")
        #expect(TFLiteImporter.opName(3) == "CONV_2D" && TFLiteImporter.opName(16) == "LSTM")
        for (i, code) in [(0, Int32(16)), (1, Int32(48))] {   // LSTM, TOPK_V2
            try patchOpcode(&bytes, index: i, to: code)
        }
        do {
            _ = try bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: "kws") }
            Issue.record("a model with LSTM and TOPK_V2 imported")
        } catch let e as EmberError {
            #expect(e.description.contains("TOPK_V2 ×") && e.description.contains("LSTM ×"), "\(e)")
        }
    }
}

/// Rewrites operator code `index` of a TFLite model to `code` (both builtin fields).
func patchOpcode(_ bytes: inout [UInt8], index: Int, to code: Int32) throws {
    let fields: [(Int, Int)] = try bytes.withUnsafeBytes { raw in
        let fb = FlatBuffer(raw, format: "TFLite")
        guard let codes = try fb.root().vector(1, elementSize: 4) else { return [] }
        let t = try codes.table(index)
        return [(try t.fieldOffsetForTest(0) ?? -1, 1), (try t.fieldOffsetForTest(3) ?? -1, 4)]
    }
    for (at, size) in fields where at >= 0 {
        let v = size == 1 ? Int32(min(code, 127)) : code
        for k in 0..<size { bytes[at + k] = UInt8(truncatingIfNeeded: v >> (8 * Int32(k))) }
    }
}

extension FBTable {
    func fieldOffsetForTest(_ slot: Int) throws -> Int? { try field(slot, size: 1) }
}

