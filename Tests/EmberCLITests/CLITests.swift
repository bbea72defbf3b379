import Foundation
import Testing

/// End-to-end through the real `ember` binary (built beside the test bundle).
@Suite(.serialized) struct CLITests {
    struct Result { var status: Int32; var stdout: String; var stderr: String }

    static let binary: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("ember").path
    }()

    static let workDir: String = {
        let dir = NSTemporaryDirectory() + "ember-cli-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// A directory with no device profiles in it.
    static let emptyDir: String = {
        let dir = workDir + "/no-profiles"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    func ember(_ args: String...) throws -> Result { try ember(args) }

    func demoPackage() throws -> String {
        let dir = Self.workDir + "/demo"
        let r = try ember("demo", "--output", dir)
        #expect(r.status == 0, "\(r.stderr)")
        return dir + "/demo.ember"
    }

    /// `ember bench`: latency figures, and with --profile every node's time and its share of this
    /// core's peak — the peaks measured once and then read from the cache (a planted cache line is
    /// what the next run reports).
    @Test func benchProfilesAgainstCachedPeaks() throws {
        let path = try demoPackage(), cache = Self.workDir + "/cache"
        try? FileManager.default.removeItem(atPath: cache)
        func bench(_ extra: String...) throws -> [String: Any] {
            let r = try process(Self.binary, ["bench", path, "--repeat", "3", "--warmup", "1", "--json"] + extra,
                                environment: ["XDG_CACHE_HOME": cache])
            #expect(r.status == 0, "\(r.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        }
        let plain = try bench()
        #expect(plain["median_us"] as? Double != nil && plain["peak"] == nil)
        #expect((plain["ops"] as? [Any])?.isEmpty == true)

        let measured = try bench("--profile")
        let isa = try #require(measured["isa"] as? String)
        let peak = try #require(measured["peak"] as? [String: Double])
        #expect((peak["int8_gmacs"] ?? 0) > 0 && (peak["f32_gmacs"] ?? 0) > 0 && (peak["read_gbs"] ?? 0) > 0)
        let ops = try #require(measured["ops"] as? [[String: Any]])
        #expect(ops.count == 5 && ops.allSatisfy { $0["peak_share"] as? Double != nil })
        let cached = try String(contentsOfFile: cache + "/ember/roofline", encoding: .utf8)
        #expect(cached.hasPrefix(isa + "\t"))

        // A cache line of round numbers: the next profile reads it rather than measuring again. The key is
        // the path, the probe's version and the CPU model.
        let key = cached.split(separator: "\t").prefix(3).joined(separator: "\t")
        try (key + "\t1000\t500\t250\n").write(toFile: cache + "/ember/roofline", atomically: true, encoding: .utf8)
        let again = try bench("--profile")
        #expect(again["peak"] as? [String: Double] == ["int8_gmacs": 1000, "f32_gmacs": 500, "read_gbs": 250])
    }

    @Test func demoInspectAndRunWork() throws {
        let dir = Self.workDir + "/demo"
        let demo = try ember("demo", "--output", dir)
        #expect(demo.status == 0)
        #expect(demo.stdout.contains("fp32   → vertical edges"))
        #expect(demo.stdout.contains("int8   → vertical edges"))
        let path = dir + "/demo.ember"
        #expect(FileManager.default.fileExists(atPath: path))

        let inspect = try ember("inspect", path, "--plan")
        #expect(inspect.status == 0)
        #expect(inspect.stdout.contains("name: edge-orientation-demo"))
        #expect(inspect.stdout.contains("input   image: f32[1x16x16x1]"))
        #expect(inspect.stdout.contains("Conv2D 1"))
        #expect(inspect.stdout.contains("arena "))
        #expect(inspect.stdout.contains("|")) // the plan diagram

        let json = try ember("inspect", path, "--json")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let variants = object?["variants"] as? [[String: Any]]
        #expect(variants?.map { $0["name"] as? String } == ["fp32", "int8"])

        let run = try ember("run", path, "--variant", "int8", "--input", "image=\(dir)/input.npy", "--output", dir + "/out", "--repeat", "3")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("variant int8"))
        let written = try Data(contentsOf: URL(fileURLWithPath: dir + "/out/orientation.npy"))
        #expect(written.count == 128 + 8) // 2 floats after a 128-byte header
    }

    @Test func damagedPackagesExitOneWithOneLine() throws {
        let path = try demoPackage()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let truncated = Self.workDir + "/truncated.ember", flipped = Self.workDir + "/flipped.ember"
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        var b = [UInt8](bytes)
        b[b.count - 3] ^= 0x10
        try Data(b).write(to: URL(fileURLWithPath: flipped))
        for file in [truncated, flipped, Self.workDir + "/missing.ember"] {
            let r = try ember("inspect", file)
            #expect(r.status == 1, "\(file)")
            #expect(r.stderr.hasPrefix("ember: error: "))
            #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
        #expect(try ember("inspect", truncated).stderr.contains("truncated"))
        #expect(try ember("inspect", flipped).stderr.contains("checksum mismatch"))
    }

    @Test func telemetryReadsAFakeTreeAndSaysWhatIsAbsent() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/sysfs")
        let r = try ember("telemetry", "--root", fixtures.appendingPathComponent("intel").path)
        #expect(r.status == 0)
        #expect(r.stdout.contains("intel-rapl:0 (package-0): 262143000000 µJ, wraps at 262143328850 µJ"))
        #expect(r.stdout.contains("hwmon devices: none found"))
        #expect(r.stdout.contains("BAT0 (Battery) Discharging 81%: 10285.0 mW"))
        let empty = try ember("telemetry", "--root", Self.workDir)
        #expect(empty.status == 0 && empty.stdout.contains("thermal zones: none found"))
    }

    @Test func badInputsAndUsage() throws {
        let path = try demoPackage()
        let wrongShape = Self.workDir + "/wrong.npy"
        // A float32 [2] array as .npy.
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
        header += String(repeating: " ", count: 128 - 10 - header.utf8.count - 1) + "\n"
        let npy = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8) + [UInt8](repeating: 0, count: 8)
        try Data(npy).write(to: URL(fileURLWithPath: wrongShape))
        let r = try ember("run", path, "--input", "image=\(wrongShape)")
        #expect(r.status == 1)
        #expect(r.stderr == "ember: error: invalid input 'image': expected f32[1x16x16x1], got f32[2]\n")

        let usage = try ember("run", path, "--input", "no-equals-sign")
        #expect(usage.status == 2)
        #expect(try ember("frobnicate").status == 2)
        #expect(try ember("run").status == 2)
        let help = try ember("run", "--help")
        #expect(help.status == 0 && help.stdout.contains("NAME=path.npy"))
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func packsALadderWithCalibrationAndReports() throws {
        let fixture = Self.root + "/Tests/Fixtures/mlperf-tiny/resnet8_float"
        let out = Self.workDir + "/r8.ember", md = Self.workDir + "/r8.md", json = Self.workDir + "/r8.json"
        let r = try ember("pack", fixture + "/model.tflite", "-o", out, "--ladder", "fp32,int8", "--calib", fixture + "/inputs",
                          "--targets", Self.root + "/targets", "--report", md, "--report", json)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("| int8 |") && r.stdout.contains("rpi4 ms / mJ"))
        #expect(r.stdout.contains("calibrating int8: 3/3") && r.stderr.isEmpty)
        let report = try String(contentsOfFile: json, encoding: .utf8)
        #expect(report.contains("\"name\":\"int8\"") && report.contains("\"layers\":[{"))
        #expect(try String(contentsOfFile: md, encoding: .utf8).contains("| fp32 |"))
        let inspect = try ember("inspect", out)
        #expect(inspect.status == 0 && inspect.stdout.contains("(reference)") && inspect.stdout.contains("sqnr_db"))
        #expect(inspect.stdout.contains("rpi5"))
        // The full report (per layer too) is stored in META.
        let inspectJSON = try ember("inspect", out, "--json")
        #expect(inspectJSON.stdout.contains("pack_report") && inspectJSON.stdout.contains("sqnr_db"))
        // Any rung runs by name, float in, float out.
        let run = try ember("run", out, "--variant", "int8", "--input", "input_1=" + fixture + "/inputs/00_0.npy")
        #expect(run.status == 0, "\(run.stderr)")

        // An int8-only package without pre-packed weights is at most 0.27x the float model; pre-packed for this
        // machine's path, it holds one PACK section more.
        let small = Self.workDir + "/r8-int8.ember", prepacked = Self.workDir + "/r8-int8-prepacked.ember"
        #expect(try ember("pack", fixture + "/model.tflite", "-o", small, "--ladder", "int8", "--calib", fixture + "/inputs",
                          "--prepack", "none").status == 0)
        let withPack = try ember("pack", fixture + "/model.tflite", "-o", prepacked, "--ladder", "int8", "--calib",
                                 fixture + "/inputs")
        #expect(withPack.status == 0, "\(withPack.stderr)")
        let sections = try ember("inspect", prepacked)
        #expect(sections.stdout.contains("PACK#0") == withPack.stdout.contains("weights pre-packed for"), "\(sections.stdout)")
        #if arch(x86_64)
        #expect(withPack.stdout.contains("weights pre-packed for avx"), "every x86 machine we run on has AVX2")
        // inspect names the layouts and says the kernels read them in place.
        #expect(sections.stdout.contains("packed  weights pre-packed for avx") && sections.stdout.contains("read in place"),
                "\(sections.stdout)")
        #endif
        #expect(try ember("inspect", small).stdout.contains("PACK#") == false)
        let floatBytes = try FileManager.default.attributesOfItem(atPath: fixture + "/model.tflite")[.size] as? Int ?? 0
        let int8Bytes = try FileManager.default.attributesOfItem(atPath: small)[.size] as? Int ?? .max
        #expect(Double(int8Bytes) <= 0.27 * Double(floatBytes), "\(int8Bytes) vs \(floatBytes)")
    }

    /// An ONNX model with its weights in an external data file and a dynamic batch dim packs once
    /// the dim has a size, as a fp32 + int8 ladder; fp32 gives ONNX Runtime's outputs (within
    /// 1e-4 relative) and int8 stays within a few quanta of them. The fixture and ORT's outputs
    /// come from tools/onnx/make_cli_fixture.py.
    @Test func packsAnONNXModelWithExternalWeightsAndADynamicBatch() throws {
        let fixture = Self.root + "/Tests/Fixtures/onnx-cli", model = fixture + "/small_cnn.onnx"
        let out = Self.workDir + "/cnn.ember"
        let unfixed = try ember("pack", model, "-o", out)
        #expect(unfixed.status == 1 && unfixed.stderr.contains("'N' (input 'image' dim 0; --dim N=SIZE or --dim N<=BOUND)"), "\(unfixed.stderr)")
        let typo = try ember("pack", model, "-o", out, "--dim", "batch=1")
        #expect(typo.status == 1 && typo.stderr.contains("no input has a dim named 'batch' (named dims: N)"), "\(typo.stderr)")
        let wrongRank = try ember("pack", model, "-o", out, "--shape", "image=1x3x12")
        #expect(wrongRank.status == 1 && wrongRank.stderr.contains("3 dims given, the input has 4"), "\(wrongRank.stderr)")
        let twice = try ember("pack", model, "-o", out, "--dim", "N<=4", "--dim", "N=1")
        #expect(twice.status != 0 && twice.stderr.contains("--dim gives 'N' twice"), "\(twice.stderr)")
        let onTFLite = try ember("pack", Self.root + "/Tests/Fixtures/mlperf-tiny/resnet8_float/model.tflite", "-o", out, "--dim", "N=1")
        #expect(onTFLite.status != 0 && onTFLite.stderr.contains("ONNX models only"))

        let r = try ember("pack", model, "-o", out, "--dim", "N=1", "--ladder", "fp32,int8", "--calib", fixture + "/calib",
                          "--targets", Self.emptyDir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("| int8 |") && r.stdout.contains("packed \(model)"))
        let inspect = try ember("inspect", out)
        #expect(inspect.stdout.contains("source_format: onnx") && inspect.stdout.contains("input   image: f32[1x3x12x12]"), "\(inspect.stdout)")

        var int8Error: Float = 0
        for k in 0..<4 {
            let sample = fixture + "/calib/0\(k).npy", ort = try npyFloats(fixture + "/ort_0\(k).npy", count: 5)
            for variant in ["fp32", "int8"] {
                let dir = Self.workDir + "/cnn-\(variant)-\(k)"
                let run = try ember("run", out, "--variant", variant, "--input", "image=" + sample, "--output", dir)
                #expect(run.status == 0, "\(run.stderr)")
                let mine = try npyFloats(dir + "/probabilities.npy", count: 5)
                let worst = zip(mine, ort).map { abs($0 - $1) }.max() ?? .infinity
                if variant == "fp32" {
                    #expect(zip(mine, ort).allSatisfy { abs($0 - $1) <= 1e-4 * max(abs($1), 1e-3) }, "sample \(k): \(mine) vs ORT \(ort)")
                } else {
                    int8Error = max(int8Error, worst)
                }
            }
        }
        // Softmax outputs quantized to 1/256: about one quantum of error after three int8 layers.
        #expect(int8Error < 0.01, "int8 differs from ORT by \(int8Error)")
    }

    /// Bounded dynamic dims: the packer keeps `--dim NAME<=N` symbolic, the arena is planned for the
    /// bounds, and `ember run` takes inputs of any size within them, matching ONNX Runtime at each.
    /// The encoder binds a batch and a sequence length that flow through Shape-computed reshapes and
    /// positional tables taken as pos[:, :seq] and pos2[arange(seq)] (slices sized at run time); the
    /// CNN keeps its batch bounded through an fp32 + int8 ladder calibrated on batch-1 samples.
    @Test func boundedDimsRunAtEverySizeWithinTheirBounds() throws {
        let fixture = Self.root + "/Tests/Fixtures/onnx-cli", dynamic = fixture + "/dynamic"
        let out = Self.workDir + "/encoder.ember"
        let r = try ember("pack", dynamic + "/tiny_encoder.onnx", "-o", out, "--dim", "batch<=2", "--dim", "seq<=16")
        #expect(r.status == 0, "\(r.stderr)")
        let inspect = try ember("inspect", out)
        #expect(inspect.stdout.contains("input   tokens: i64[batch<=2xseq<=16]")
                && inspect.stdout.contains("output  logits: f32[batch<=2xseq<=16x3]"), "\(inspect.stdout)")
        var arenas = Set<String>()
        for (k, count) in [(0, 2 * 16 * 3), (1, 1 * 5 * 3), (2, 2 * 9 * 3)] {
            let dir = Self.workDir + "/encoder-\(k)"
            let run = try ember("run", out, "--input", "tokens=\(dynamic)/tokens_\(k).npy", "--input", "mask=\(dynamic)/mask_\(k).npy",
                                "--output", dir)
            #expect(run.status == 0, "\(run.stderr)")
            let mine = try npyFloats(dir + "/logits.npy", count: count), ort = try npyFloats("\(dynamic)/ort_logits_\(k).npy", count: count)
            #expect(closeRelative(mine, ort), "size \(k): \(mine.prefix(6)) vs ORT \(ort.prefix(6))")
            arenas.formUnion(run.stdout.split(separator: ",").filter { $0.contains("arena") }.map(String.init))
        }
        #expect(arenas.count == 1, "one arena, planned for the bounds: \(arenas)")
        let tooLong = try ember("run", out, "--input", "tokens=\(dynamic)/tokens_0.npy", "--input", "mask=\(dynamic)/mask_1.npy")
        #expect(tooLong.status != 0 && tooLong.stderr.contains("is 1, but another input gave batch=2"), "\(tooLong.stderr)")

        let cnn = Self.workDir + "/cnn-bounded.ember"
        let packed = try ember("pack", fixture + "/small_cnn.onnx", "-o", cnn, "--dim", "N<=4", "--ladder", "fp32,int8",
                               "--calib", fixture + "/calib", "--targets", Self.emptyDir)
        #expect(packed.status == 0, "\(packed.stderr)")
        let ort = try npyFloats(dynamic + "/ort_image_batch3.npy", count: 15)
        for variant in ["fp32", "int8"] {
            let dir = Self.workDir + "/cnn-bounded-\(variant)"
            let run = try ember("run", cnn, "--variant", variant, "--input", "image=\(dynamic)/image_batch3.npy", "--output", dir)
            #expect(run.status == 0, "\(run.stderr)")
            let mine = try npyFloats(dir + "/probabilities.npy", count: 15)
            let worst = zip(mine, ort).map { abs($0 - $1) }.max() ?? .infinity
            #expect(variant == "fp32" ? closeRelative(mine, ort) : worst < 0.01, "\(variant): \(mine) vs ORT \(ort)")
        }
    }

    /// The com.microsoft ops ORT's transformer optimizer writes (SkipLayerNormalization with its sum
    /// output, FusedMatMul, BiasGelu, FastGelu, QuickGelu, Gelu, the simplified (RMS) norms) import
    /// and give ORT's outputs within 1e-4 relative.
    @Test func onnxRuntimeContribOpsGiveItsOutputs() throws {
        let fixture = Self.root + "/Tests/Fixtures/onnx-cli/contrib", out = Self.workDir + "/contrib.ember"
        let r = try ember("pack", fixture + "/contrib_ops.onnx", "-o", out)
        #expect(r.status == 0, "\(r.stderr)")
        let dir = Self.workDir + "/contrib-out"
        let run = try ember("run", out, "--input", "x=\(fixture)/x.npy", "--input", "skip=\(fixture)/skip.npy", "--output", dir)
        #expect(run.status == 0, "\(run.stderr)")
        for name in ["y", "sum"] {
            let mine = try npyFloats("\(dir)/\(name).npy", count: 80), ort = try npyFloats("\(fixture)/ort_\(name).npy", count: 80)
            #expect(closeRelative(mine, ort), "\(name): \(mine.prefix(6)) vs ORT \(ort.prefix(6))")
        }
    }

    /// A streaming GRU whose hidden state is an input and an output: three chunks run one after
    /// another, each fed the state the last one wrote, give ONNX Runtime's step-by-step scores and
    /// states (within 1e-4 relative).
    @Test func aStreamingONNXRecurrentModelCarriesItsStateAcrossRuns() throws {
        let fixture = Self.root + "/Tests/Fixtures/onnx-cli/streaming", out = Self.workDir + "/stream.ember"
        let r = try ember("pack", fixture + "/streaming_gru.onnx", "-o", out, "--targets", Self.emptyDir)
        #expect(r.status == 0, "\(r.stderr)")
        var state = fixture + "/state_0.npy"
        for k in 0..<3 {
            let dir = Self.workDir + "/stream-\(k)"
            let run = try ember("run", out, "--input", "chunk=\(fixture)/chunk_\(k).npy", "--input", "state_in=" + state, "--output", dir)
            #expect(run.status == 0, "\(run.stderr)")
            let scores = try npyFloats(dir + "/scores.npy", count: 3), want = try npyFloats(fixture + "/ort_scores_\(k).npy", count: 3)
            #expect(closeRelative(scores, want), "chunk \(k): \(scores) vs ORT \(want)")
            state = dir + "/state_out.npy"
            let carried = try npyFloats(state, count: 8), wantState = try npyFloats(fixture + "/ort_state_\(k + 1).npy", count: 8)
            #expect(closeRelative(carried, wantState), "state after chunk \(k): \(carried) vs ORT \(wantState)")
        }
    }

    /// The packer's passes are listed and each one can be turned off; a ladder
    /// of every precision and pruning kind packs, runs rung by rung, and the
    /// same inputs give the same bytes (two separate processes).
    @Test func packsEveryRungKindDeterministically() throws {
        let fixture = Self.root + "/Tests/Fixtures/mlperf-tiny/resnet8_float"
        let list = try ember("pack", "--passes")
        #expect(list.status == 0)
        let names = list.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
        #expect(names == ["fold-constants", "remove-no-ops", "fold-batchnorm", "fuse-activations", "fuse-swish", "remove-dead-nodes"])

        let ladder = "fp32,fp16,int8,int4,int8-prune50,int8-2:4,fp32-ch25"
        var outputs: [String] = []
        for k in 0..<2 {
            let out = Self.workDir + "/every-\(k).ember"
            let r = try ember(["pack", fixture + "/model.tflite", "-o", out, "--ladder", ladder, "--calib", fixture + "/inputs", "--calib-method", "mse",
                               "--targets", Self.root + "/targets", "--zstd-level", "9"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("| int8-prune50 |") && r.stdout.contains("zstd ratio"))
            outputs.append(out)
        }
        let a = try Data(contentsOf: URL(fileURLWithPath: outputs[0])), b = try Data(contentsOf: URL(fileURLWithPath: outputs[1]))
        #expect(a == b, "packing twice gave different bytes")
        let inspect = try ember("inspect", outputs[0])
        for rung in ladder.split(separator: ",") {
            #expect(inspect.stdout.contains(String(rung)))
            let run = try ember("run", outputs[0], "--variant", String(rung), "--input", "input_1=" + fixture + "/inputs/00_0.npy")
            #expect(run.status == 0, "\(rung): \(run.stderr)")
        }
        // --min-agreement drops the rungs that pruning broke, and says so.
        let strict = try ember("pack", fixture + "/model.tflite", "-o", Self.workDir + "/strict.ember", "--ladder", "fp32,int8,int8-prune50",
                               "--calib", fixture + "/inputs", "--min-agreement", "100", "--targets", Self.emptyDir)
        #expect(strict.status == 0 && strict.stdout.contains("dropped rung int8-prune50: top-1 agreement"), "\(strict.stderr)")
        #expect(!strict.stdout.contains("| int8-prune50 |"))
        // --eval measures quality on held-out samples and says so.
        // (with every pass turned off, which META records)
        let heldOut = try ember(["pack", fixture + "/model.tflite", "-o", Self.workDir + "/heldout.ember", "--ladder", "fp32,fp16",
                                 "--calib", fixture + "/inputs", "--eval", fixture + "/inputs", "--targets", Self.emptyDir] + names.map { "--no-" + $0 })
        #expect(heldOut.status == 0 && heldOut.stdout.contains("held out from calibration"), "\(heldOut.stderr)")
        #expect(try ember("inspect", Self.workDir + "/heldout.ember").stdout.contains("passes_skipped: " + names.sorted().joined(separator: ",")))
        // A distilled variant with the same signature is its own rung (here the model itself, as int8).
        let withVariant = try ember("pack", fixture + "/model.tflite", "-o", Self.workDir + "/variant.ember", "--ladder", "fp32",
                                    "--variant", "student-int8=" + fixture + "/model.tflite", "--calib", fixture + "/inputs", "--targets", Self.emptyDir)
        #expect(withVariant.status == 0 && withVariant.stdout.contains("| student-int8 |"), "\(withVariant.stderr)")
    }

    @Test func badCalibrationAndFlagsAreClearErrors() throws {
        let fixture = Self.root + "/Tests/Fixtures/mlperf-tiny/resnet8_float"
        let model = fixture + "/model.tflite", out = Self.workDir + "/bad.ember"
        let empty = Self.workDir + "/calib-empty", wrong = Self.workDir + "/calib-wrong", nan = Self.workDir + "/calib-nan"
        for d in [empty, wrong, nan] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        // Wrong shape: a 1x4 float array.
        try npy(shape: "(1, 4)", floats: [1, 2, 3, 4]).write(to: URL(fileURLWithPath: wrong + "/0.npy"))
        var values = [Float](repeating: 0.5, count: 32 * 32 * 3)
        values[7] = .nan
        try npy(shape: "(1, 32, 32, 3)", floats: values).write(to: URL(fileURLWithPath: nan + "/0.npy"))

        let cases: [([String], Int32, String)] = [
            (["--ladder", "int8", "--calib", empty], 1, "no .npy files"),
            (["--ladder", "int8", "--calib", wrong], 1, "expected f32[1x32x32x3]"),
            (["--ladder", "int8", "--calib", nan], 1, "element 7 is nan"),
            (["--ladder", "int8", "--calib", Self.workDir + "/missing"], 1, "cannot open the calibration directory"),
            (["--ladder", "int8"], 2, "int8 rungs need --calib"),
            (["--ladder", "int3"], 2, "rung 'int3': expected a precision"),
            (["--ladder", "int8-prune50-2:4", "--calib", fixture + "/inputs"], 2, "prune and 2:4 exclude each other"),
            (["--ladder", "fp32,fp32"], 2, "twice"),
            (["--ladder", "fp32", "--calib-method", "magic"], 2, "minmax, percentile or mse"),
            (["--ladder", "fp32", "--zstd-level", "40"], 2, "--zstd-level must be 1...22"),
            (["--ladder", "fp32", "--min-agreement", "0.9"], 2, "need --calib"),
            (["--ladder", "fp32", "--calib", fixture + "/inputs", "--min-agreement", "120"], 2, "percentage"),
            (["--ladder", "fp32", "--variant", "small"], 2, "NAME=FILE.tflite"),
            (["--ladder", "fp32", "--eval", fixture + "/inputs"], 2, "--eval needs --calib"),
            (["--ladder", "fp32", "--variant", "small=" + Self.root + "/Tests/Fixtures/mlperf-tiny/kws_int8/model.tflite", "--calib", fixture + "/inputs"], 1,
             "input 0 'input_1' is i8[1x49x10x1], the model's 'input_1' is f32[1x32x32x3]"),
            (["--ladder", "fp32", "--report", "r.txt"], 2, ".json or .md"),
            (["--prepack", "bogus"], 2, "'bogus' is not a layout"),
            (["--prepack", "avx2,avx2"], 2, "names a layout twice"),
        ]
        #if arch(x86_64)
        let foreign = "neon"
        #else
        let foreign = "avx512"
        #endif
        for (args, status, message) in cases + [(["--prepack", foreign], 2, "this build lays out weights for")] {
            let r = try ember(["pack", model, "-o", out] + args)
            #expect(r.status == status && r.stderr.contains(message), "\(args): \(r.status) \(r.stderr)")
        }
    }

    func ember(_ args: [String]) throws -> Result { try process(Self.binary, args) }

    /// Runs `executable` to its end, with `environment` added to this process's.
    func process(_ executable: String, _ args: [String], environment: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        if !environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// The last `count` float32 elements of a .npy file (its data; the header comes first).
    func npyFloats(_ path: String, count: Int) throws -> [Float] {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        return d.suffix(count * 4).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// Equal within 1e-4 of the reference's largest magnitude (the zoo checks' float criterion).
    func closeRelative(_ a: [Float], _ reference: [Float]) -> Bool {
        let scale = max(reference.map(abs).max() ?? 0, 1e-6)
        return a.count == reference.count && zip(a, reference).allSatisfy { abs($0 - $1) <= 1e-4 * scale }
    }

    /// ORT's QDQ and QOperator int8 forms of the CNN (quantize_static, per-channel weights; QOperator
    /// with uint8 activations, QLinearConv/QLinearMatMul/QLinearAdd/QLinearSoftmax and MaxPool on the
    /// codes) pack into Ember's int8 ops: the Q/DQ pairs' parameters become the quantization, the int8
    /// ops requantize as ORT does, and the outputs are ORT's exactly; `--keep-qdq` runs the pairs as
    /// float ops and gives ORT's outputs too.
    @Test(arguments: [("qdq", 9, "Quantize 1, Dequantize 1"), ("qop", 5, "Quantize 3, Dequantize 3")])
    func aQuantizedONNXModelFoldsIntoInt8Ops(_ form: String, _ pairs: Int, _ leftOver: String) throws {
        let fixture = Self.root + "/Tests/Fixtures/onnx-cli", model = fixture + "/small_cnn_\(form).onnx"
        let folded = Self.workDir + "/\(form).ember", kept = Self.workDir + "/\(form)-float.ember"
        let r = try ember("pack", model, "-o", folded, "--targets", Self.emptyDir)
        #expect(r.status == 0 && r.stdout.contains("folded \(pairs) QuantizeLinear/DequantizeLinear pairs into int8 ops"), "\(r.stdout)\(r.stderr)")
        let inspect = try ember("inspect", folded, "--plan")
        // Of the pairs only the input's quantize, the output's dequantize and the float islands' are left.
        #expect(inspect.stdout.contains("Conv2D 2") && inspect.stdout.contains(leftOver), "\(inspect.stdout)")
        #expect(try ember("pack", model, "-o", kept, "--keep-qdq", "--targets", Self.emptyDir).status == 0)
        #expect(r.stdout.contains("within 0 quanta"), "\(r.stdout)")
        for k in 0..<4 {
            let sample = "image=\(fixture)/calib/0\(k).npy", want = try npyFloats(fixture + "/ort_\(form)_0\(k).npy", count: 5)
            for (package, tolerance) in [(folded, Float(0)), (kept, 0)] {
                let dir = Self.workDir + "/\(form)-\(k)-\(tolerance)"
                let run = try ember("run", package, "--input", sample, "--output", dir)
                #expect(run.status == 0, "\(run.stderr)")
                let got = try npyFloats(dir + "/probabilities.npy", count: 5)
                let ok = package == folded ? got == want : closeRelative(got, want)
                #expect(ok, "\(form) sample \(k) (\(package == folded ? "int8" : "float Q/DQ")): \(got) vs ORT \(want)")
            }
        }
    }

    /// A QDQ average pool whose averages fall halfway between codes: folded, the int8 pool rounds them as
    /// TFLite does (away from zero) where ORT rounds to even — the probe measures it, and a zero
    /// `--qdq-max-quanta` keeps the pairs as float ops, which give ORT's outputs exactly.
    @Test func qdqMaxQuantaKeepsPairsWhoseFoldMovesTheOutputs() throws {
        let fixture = Self.root + "/Tests/Fixtures/onnx-cli/qdq_pool", model = fixture + "/qdq_pool.onnx"
        let want = try npyFloats(fixture + "/ort_y.npy", count: 32)
        for (flags, folds) in [([String](), true), (["--qdq-max-quanta", "0"], false)] {
            let out = Self.workDir + "/pool-\(folds).ember", dir = Self.workDir + "/pool-\(folds)"
            let r = try ember(["pack", model, "-o", out, "--targets", Self.emptyDir] + flags)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains(folds ? "folded 2 QuantizeLinear/DequantizeLinear pairs" : "QDQ pairs kept as float ops"),
                    "\(r.stdout)")
            if !folds { #expect(r.stdout.contains("--qdq-max-quanta 0"), "\(r.stdout)") }
            #expect(try ember("run", out, "--input", "x=\(fixture)/x.npy", "--output", dir).status == 0)
            let got = try npyFloats(dir + "/y.npy", count: 32)
            let differing = zip(got, want).filter { $0 != $1 }.count
            // Folded: the ties, one quantum (1/16) each; kept: ORT's outputs.
            #expect(folds ? differing > 0 && zip(got, want).allSatisfy { abs($0 - $1) <= 1.0 / 16 } : differing == 0,
                    "\(differing) of 32 differ")
        }
    }

    /// An If on a data-dependent condition: inputs taking either branch give ORT's outputs.
    @Test func anONNXIfWithADataDependentConditionTakesEitherBranch() throws {
        let fixture = Self.root + "/Tests/Fixtures/onnx-cli/control", out = Self.workDir + "/if.ember"
        let r = try ember("pack", fixture + "/if_select.onnx", "-o", out, "--targets", Self.emptyDir)
        #expect(r.status == 0, "\(r.stderr)")
        for k in 0..<2 {
            let dir = Self.workDir + "/if-\(k)"
            let run = try ember("run", out, "--input", "x=\(fixture)/x_\(k).npy", "--output", dir)
            #expect(run.status == 0, "\(run.stderr)")
            let y = try npyFloats(dir + "/y.npy", count: 6), want = try npyFloats(fixture + "/ort_y_\(k).npy", count: 6)
            #expect(closeRelative(y, want), "input \(k) (\(k == 0 ? "then" : "else") branch): \(y) vs ORT \(want)")
        }
    }

    /// Loop with a constant trip count (a carried value and a scan output) and Scan forward and in
    /// reverse unroll at import and give ORT's outputs.
    @Test func onnxLoopAndScanUnrollToORTsOutputs() throws {
        let fixture = Self.root + "/Tests/Fixtures/onnx-cli/control", out = Self.workDir + "/loop.ember"
        let r = try ember("pack", fixture + "/loop_scan.onnx", "-o", out, "--targets", Self.emptyDir)
        #expect(r.status == 0, "\(r.stderr)")
        let dir = Self.workDir + "/loop-out"
        let run = try ember("run", out, "--input", "x=\(fixture)/loop_x.npy", "--input", "seq=\(fixture)/scan_seq.npy", "--output", dir)
        #expect(run.status == 0, "\(run.stderr)")
        for (name, count) in [("v_final", 6), ("v_steps", 24), ("s_final", 3), ("ys", 15), ("s_back", 3), ("ys_back", 15)] {
            let mine = try npyFloats("\(dir)/\(name).npy", count: count), ort = try npyFloats("\(fixture)/ort_\(name).npy", count: count)
            #expect(closeRelative(mine, ort), "\(name): \(mine) vs ORT \(ort)")
        }
    }

    /// A half-precision export (float16 input, weights and output) takes and gives float16; Ember
    /// computes in float32, ORT in float16, and the outputs agree to float16's precision.
    @Test func aHalfPrecisionONNXModelTakesAndGivesFloat16() throws {
        let fixture = Self.root + "/Tests/Fixtures/onnx-cli/half", out = Self.workDir + "/half.ember"
        let r = try ember("pack", fixture + "/half_mlp.onnx", "-o", out, "--targets", Self.emptyDir)
        #expect(r.status == 0, "\(r.stderr)")
        let inspect = try ember("inspect", out)
        #expect(inspect.stdout.contains("input   x: f16[3x8]") && inspect.stdout.contains("output  y: f16[3x4]"), "\(inspect.stdout)")
        let dir = Self.workDir + "/half-out"
        let run = try ember("run", out, "--input", "x=\(fixture)/x.npy", "--output", dir)
        #expect(run.status == 0 && run.stdout.contains("y.npy f16[3x4]"), "\(run.stdout)\(run.stderr)")
        func halfs(_ path: String) throws -> [Float] {
            let d = try Data(contentsOf: URL(fileURLWithPath: path))
            return d.suffix(24).withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }.map { Float(Float16(bitPattern: $0)) }
        }
        let mine = try halfs(dir + "/y.npy"), ort = try halfs(fixture + "/ort_y.npy")
        #expect(zip(mine, ort).allSatisfy { abs($0 - $1) <= 1e-3 * max(1, abs($1)) }, "\(mine) vs ORT \(ort)")
    }

    /// A little-endian float32 .npy file.
    func npy(shape: String, floats: [Float]) -> Data {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        while (10 + header.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xff), UInt8(header.count >> 8)])
        d.append(Data(header.utf8))
        floats.withUnsafeBytes { d.append(contentsOf: $0) }
        return d
    }

    /// A load heavy enough (the demo model ×100,000 work at 5 frames/s) that
    /// both baselines break the camera-node envelope's 2.5 W cap: Ember keeps it
    /// (every 10 s window within 5 %), sheds no critical request, accounts for
    /// every request, and writes one timeline row per second.
    @Test func simulateKeepsThePowerCapTheBaselinesBreak() throws {
        let demo = try demoPackage()
        let trace = Self.workDir + "/t.csv", out = Self.workDir + "/sim"
        let made = try ember("trace", "camera", "--rate", "5", "--seconds", "60", "-o", trace)
        #expect(made.status == 0 && made.stdout.contains("wrote 306 requests"), "\(made.stdout)")
        let r = try ember("simulate", demo, "--target", Self.root + "/targets/rpi4.toml", "--envelope", Self.root + "/targets/envelopes/camera-node.toml",
                          "--trace", trace, "--ambient", "30", "--out", out, "--work-scale", "100000")
        #expect(r.status == 0, "\(r.stderr)")
        // | policy | requests | on time | on time within limit | late | shed | critical shed | max °C | s above limit | max window mW | energy J |
        var rows: [String: [Double]] = [:]
        for line in r.stdout.split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            if cells.count == 11, let numbers = Optional(cells.dropFirst().compactMap(Double.init)), numbers.count == 10 { rows[cells[0]] = numbers }
        }
        let ours = try #require(rows["ember"]), best = try #require(rows["always-best"]), race = try #require(rows["race-then-throttle"])
        for row in [ours, best, race] {
            #expect(row[0] == 306)
            #expect(row[1] + row[3] + row[4] == 306) // on time + late + shed: every request accounted for
        }
        #expect(ours[8] <= 2500 * 1.05, "Ember's worst power window: \(ours[8]) mW")
        #expect(best[8] > 2500 * 1.05 && race[8] > 2500 * 1.05, "the baselines were expected to break the cap")
        #expect(ours[5] == 0) // no critical request shed
        #expect(ours[9] < best[9]) // less energy
        let csv = try String(contentsOfFile: out + "/timeline.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.first == "time_s,celsius,milliwatts,allowed_mw,rung,arrived,on_time,late,shed,frequency")
        #expect(csv.count >= 61 && csv.count <= 64)
        #expect(csv.dropFirst().allSatisfy { $0.split(separator: ",").count == 10 })
        let svg = try String(contentsOfFile: out + "/timeline.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("limit 70 °C"))
        let bad = try ember("simulate", demo, "--target", Self.root + "/targets/rpi4.toml", "--envelope", trace, "--trace", trace)
        #expect(bad.status == 1 && bad.stderr.contains(trace))
    }
}
