import Foundation
import Testing
@testable import EmberFormat
import Ember

/// One regression test per class of hostile input in the untrusted-input issue,
/// through the release-like CLI binary: each ends with one `ember: error:` line
/// and exit status 1 (2 for bad usage, as the README documents), under 200 MB of
/// peak RSS, and — checked as a hang, not timed — well before a 20 s kill.
@Suite(.serialized) struct UntrustedInputTests {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        var maxRSSBytes: Int
        var milliseconds: Int
        var killed: Bool
    }

    static let dir: String = {
        let d = NSTemporaryDirectory() + "ember-hostile-\(getpid())"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    /// Runs the `ember` binary under a small Python launcher that waits for it and
    /// reports its peak RSS (RUSAGE_CHILDREN) and kills it after `timeout` seconds.
    /// Measured there, not with wait4 here: a child spawned from this (large, long-
    /// lived) test process inherits this process's RSS high-water mark at exec.
    static let launcher = """
        import resource, subprocess, sys, time
        out, err, timeout = open(sys.argv[1], 'wb'), open(sys.argv[2], 'wb'), float(sys.argv[3])
        start = time.monotonic()
        try:
            code, killed = subprocess.run(sys.argv[4:], stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=timeout).returncode, 0
        except subprocess.TimeoutExpired:
            code, killed = -9, 1
        print(code if code >= 0 else 128 - code, killed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
              int((time.monotonic() - start) * 1000))
        """

    static func spawn(_ args: [String], timeout: Double = 20) throws -> Outcome {
        let out = dir + "/stdout-\(UUID().uuidString)", err = dir + "/stderr-\(UUID().uuidString)"
        defer { unlink(out); unlink(err) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", launcher, out, err, String(timeout), CLITests.binary] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let report = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let fields = report.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard fields.count == 4 else { throw EmberError.invalidArgument("the python3 launcher failed: \(report)") }
        return Outcome(status: Int32(fields[0]),
                       stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                       stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "",
                       maxRSSBytes: fields[2] * 1024, milliseconds: fields[3], killed: fields[1] == 1)
    }

    /// The contract for a refused input: one error line saying `message`, the exit status, bounded memory, no hang.
    func expectRefused(_ args: [String], status: Int32 = 1, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try Self.spawn(args)
        // Recorded for docs/RELIABILITY.md, not asserted (wall time on a shared VM is noise).
        print("hostile: \(r.milliseconds) ms, \(r.maxRSSBytes >> 20) MiB, exit \(r.status): ember \(args.map { $0.count > 60 ? "…" + $0.suffix(40) : $0 }.joined(separator: " "))")
        #expect(!r.killed, "hung: \(args)", sourceLocation: sourceLocation)
        #expect(r.status == status, "\(args): status \(r.status), stderr \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("ember: error: ") && r.stderr.filter { $0 == "\n" }.count == 1 && r.stderr.hasSuffix("\n"),
                "\(args): not one error line: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(message), "\(args): expected '\(message)', got \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.maxRSSBytes < 200 << 20, "\(args): peak RSS \(r.maxRSSBytes >> 20) MiB", sourceLocation: sourceLocation)
    }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = Self.dir + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func write(_ name: String, _ text: String) throws -> String { try write(name, Array(text.utf8)) }

    /// A FIFO, named `fifo-NAME` unless `exact` (so no other test writes to it and blocks).
    func fifo(_ name: String, exact: Bool = false) -> String {
        let parts = name.split(separator: "/")
        let path = Self.dir + "/" + (parts.dropLast() + [(exact ? "" : "fifo-") + (parts.last ?? "")]).joined(separator: "/")
        unlink(path)
        mkfifo(path, 0o644)
        return path
    }

    /// A 2 GB file that takes no disk (sparse).
    func sparse(_ name: String) -> String {
        let path = Self.dir + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        ftruncate(fd, 2 << 30)
        close(fd)
        return path
    }

    func package(_ graphs: [Graph], compress: Bool = false, name: String) throws -> String {
        let contents = PackageContents(metadata: PackageMetadata([("name", name)]),
                                       variants: graphs.indices.map { VariantRecord(name: "v\($0)") }, graphs: graphs)
        let path = Self.dir + "/" + name + ".ember"
        try writeFile(try PackageWriter.serialize(contents, options: WriteOptions(compressTensors: compress, compressGraphs: compress)), to: path)
        return path
    }

    static let kws = CLITests.root + "/Tests/Fixtures/mlperf-tiny/kws_int8"
    static let resnet = CLITests.root + "/Tests/Fixtures/mlperf-tiny/resnet8_float"

    func kwsPackage() throws -> String {
        let out = Self.dir + "/kws.ember"
        let r = try Self.spawn(["pack", Self.kws + "/model.tflite", "-o", out, "--targets", CLITests.emptyDir])
        #expect(r.status == 0, "\(r.stderr)")
        return out
    }

    // MARK: crashes

    @Test func hugeTFLiteShapesAreRefusedByTheLimits() throws {
        let square = try write("square.tflite", TFLiteModel.relu(shape: [65536, 65536]).bytes)
        try expectRefused(["pack", square, "-o", Self.dir + "/x.ember"], "[65536x65536] needs 4,294,967,296 elements, limit 2,147,483,647 elements")
        let cube = try write("cube.tflite", TFLiteModel.relu(shape: [65536, 65536, 65536]).bytes)
        try expectRefused(["pack", cube, "-o", Self.dir + "/x.ember"], "needs 281,474,976,710,656 elements")
        // Within the element limit, but its arena is 16 GiB: refused before anything is mapped.
        let long = try write("long.tflite", TFLiteModel.relu(shape: [1, Int32.max]).bytes)
        // (--max-memory pins the cap: by default it is the cgroup's headroom where there is one)
        try expectRefused(["pack", long, "-o", Self.dir + "/x.ember", "--max-memory", "1G"], "the arena of graph 'long' needs 16 GiB, limit 1 GiB")
    }

    @Test func aPackageWhoseArenaIsTooLargeIsRefusedWithTheNumbers() throws {
        let b = GraphBuilder(name: "big")
        let x = b.input("x", .f32, [1, 1 << 30])
        b.output(try b.add(.relu, [try b.add(.sigmoid, [x], name: "s")], name: "y"))
        let path = try package([try b.build()], name: "big-arena")
        try expectRefused(["inspect", path, "--max-memory", "1G"], "the arena of variant 'v0' needs 8 GiB, limit 1 GiB")
        try expectRefused(["run", path, "--max-memory", "512M"], "the arena of variant 'v0' needs 8 GiB, limit 512 MiB")
        let r = try Self.spawn(["run", path, "--max-memory", "lots"])
        #expect(r.status == 2 && r.stderr.contains("--max-memory"), "\(r.stderr)")
    }

    @Test func numbersOutOfRangeAreErrorsNotTraps() throws {
        let demo = try CLITests().demoPackage()
        let trace = try write("far.csv", "time_ms,priority\n1e300,normal\n")
        try expectRefused(["simulate", demo, "--target", CLITests.root + "/targets/rpi4.toml", "--envelope",
                           CLITests.root + "/targets/envelopes/camera-node.toml", "--trace", trace, "--out", Self.dir + "/sim"],
                          "line 2: time '1e300' is not a number of milliseconds in 0…604800000 (7 days)")
        let later = try write("later.csv", "time_ms,priority\n1e15,normal\n")
        try expectRefused(["simulate", demo, "--target", CLITests.root + "/targets/rpi4.toml", "--envelope",
                           CLITests.root + "/targets/envelopes/camera-node.toml", "--trace", later, "--out", Self.dir + "/sim"], "(7 days)")
        // Constant, nearly-zero calibration data with MSE clipping packs (it used to trap on a zero-width histogram bin).
        let calib = Self.dir + "/tiny-calib"
        try FileManager.default.createDirectory(atPath: calib, withIntermediateDirectories: true)
        _ = try write("tiny-calib/0.npy", NPY.encode(Tensor([Float](repeating: 1e-42, count: 32 * 32 * 3), dims: [1, 32, 32, 3])))
        let r = try Self.spawn(["pack", Self.resnet + "/model.tflite", "-o", Self.dir + "/tiny.ember", "--ladder", "int8",
                                "--calib", calib, "--calib-method", "mse", "--targets", CLITests.emptyDir])
        #expect(r.status == 0 && !r.killed, "\(r.stderr)")
    }

    @Test func countersAndSensorsWithAbsurdValuesAreReportedNotBelieved() throws {
        let root = Self.dir + "/sysfs"
        let fm = FileManager.default
        try? fm.removeItem(atPath: root)
        for d in ["sys/class/powercap/intel-rapl:0", "sys/class/thermal/thermal_zone0", "sys/class/power_supply/BAT0", "proc/self"] {
            try fm.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true)
        }
        func put(_ rel: String, _ s: String) throws { try s.write(toFile: root + "/" + rel, atomically: false, encoding: .utf8) }
        try put("sys/class/powercap/intel-rapl:0/name", "package-0\n")
        try put("sys/class/powercap/intel-rapl:0/energy_uj", "\(Int64.min)\n")
        try put("sys/class/powercap/intel-rapl:0/max_energy_range_uj", "-5\n")
        try put("sys/class/thermal/thermal_zone0/type", "evil\u{1B}[31mred\u{1B}[0m\n")
        try put("sys/class/thermal/thermal_zone0/temp", "99999999\n")
        try put("sys/class/power_supply/BAT0/type", "Battery\n")
        try put("sys/class/power_supply/BAT0/capacity", "-9223372036854775808\n")
        try put("sys/class/power_supply/BAT0/power_now", "85000000000000000000000000000\n")
        try put("proc/self/cgroup", "0::/../..\n")
        let r = try Self.spawn(["telemetry", "--root", root, "--power"])
        #expect(r.status == 0 && !r.killed, "\(r.stderr)")
        #expect(r.stdout.contains("energy_uj reads -9223372036854775808, outside the plausible 0…"), "\(r.stdout)")
        #expect(r.stdout.contains("temp reads 99999999, outside the plausible -60000…200000"))
        #expect(r.stdout.contains("evil?[31mred?[0m") && !r.stdout.contains("\u{1B}"))
        #expect(!r.stdout.contains("-9223372036854775808%") && r.stdout.contains("power unavailable"))
        #expect(r.stdout.contains("names '/../..', which leaves the cgroup tree"))
        // The counter jumping from INT64_MIN to INT64_MAX is no overflow trap either.
        var meter = EnergyMeter(maxRange: nil)
        _ = meter.sample(microjoules: Int64.min, atNanoseconds: 0)
        #expect(meter.sample(microjoules: Int64.max, atNanoseconds: 200_000_000)?.value == nil)
        try expectRefused(["telemetry", "--root", "/nonexistent"], status: 2, "--root '/nonexistent' is not a directory")
    }

    /// `cp new.ember live.ember` and truncation while a session runs: the run completes
    /// with the old model's answers (under a read lease, and under a private copy).
    @Test(arguments: ["automatic", "copy"])
    func aPackageOverwrittenWhileRunningDoesNotKillTheRun(protection: String) throws {
        let kws = try kwsPackage()
        let live = Self.dir + "/live-\(protection).ember"
        try? FileManager.default.removeItem(atPath: live)
        try FileManager.default.copyItem(atPath: kws, toPath: live)
        let input = Self.kws + "/inputs/00_0.npy"
        let before = try Self.spawn(["run", live, "--input", "input_1=" + input, "--file-protection", protection])
        #expect(before.status == 0)
        let out = Self.dir + "/run-\(protection).out", err = Self.dir + "/run-\(protection).err"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.binary)
        p.arguments = ["run", live, "--input", "input_1=" + input, "--repeat", "1500", "--file-protection", protection]
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: out)
        p.standardError = FileHandle(forWritingAtPath: err)
        try p.run()
        usleep(700_000) // loaded and running
        // Overwrite in place with other bytes, then truncate to nothing.
        let other = try Data(contentsOf: URL(fileURLWithPath: Self.resnet + "/model.tflite"))
        let fd = open(live, O_WRONLY | O_TRUNC)
        other.withUnsafeBytes { _ = Glibc.write(fd, $0.baseAddress, min($0.count, 100_000)) }
        ftruncate(fd, 0)
        close(fd)
        p.waitUntilExit()
        let stdout = try String(contentsOfFile: out, encoding: .utf8), stderr = try String(contentsOfFile: err, encoding: .utf8)
        #expect(p.terminationStatus == 0, "\(stderr)")
        #expect(stdout.split(separator: "\n").first == before.stdout.split(separator: "\n").first) // same answer as before
        #expect(stdout.contains("median of 1500"))
    }

    /// The same at random moments, load included (a truncation between opening the file
    /// and taking the lease once let a lease cover a mapping longer than the file): every
    /// run completes or refuses the package with one line; none dies of a signal.
    @Test func overwritesAtRandomMomentsNeverKillARun() throws {
        let kws = try kwsPackage()
        let live = Self.dir + "/race.ember"
        var rng = SplitMix64(seed: 9)
        var outcomes: [Int32: Int] = [:]
        for _ in 0..<40 {
            try? FileManager.default.removeItem(atPath: live)
            try FileManager.default.copyItem(atPath: kws, toPath: live)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLITests.binary)
            p.arguments = ["run", live, "--input", "input_1=" + Self.kws + "/inputs/00_0.npy", "--repeat", "20"]
            let err = Pipe()
            p.standardOutput = FileHandle.nullDevice
            p.standardError = err
            try p.run()
            usleep(UInt32(rng.int(0...80_000)))
            let fd = open(live, O_WRONLY)
            _ = Glibc.write(fd, "garbage", 7)
            ftruncate(fd, 30)
            close(fd)
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
            outcomes[status, default: 0] += 1
            #expect(status == 0 || (status == 1 && stderr.hasPrefix("ember: error: ") && stderr.filter { $0 == "\n" }.count == 1),
                    "status \(status): \(stderr)")
        }
        print("overwrite race: \(outcomes)")
    }

    // MARK: hangs and memory blow-ups

    @Test func fifosAndHugeSparseFilesAreRefusedAtOnce() throws {
        let kws = try kwsPackage()
        let input = "input_1=" + Self.kws + "/inputs/00_0.npy"
        let demo = try CLITests().demoPackage()
        let sim = ["--target", CLITests.root + "/targets/rpi4.toml", "--envelope", CLITests.root + "/targets/envelopes/camera-node.toml",
                   "--trace", CLITests.root + "/targets/traces/camera-steady.csv", "--out", Self.dir + "/sim"]
        try expectRefused(["run", fifo("pkg.ember"), "--input", input], "the package is a FIFO (named pipe), not a regular file")
        try expectRefused(["run", kws, "--input", "input_1=" + fifo("in.npy")], "the .npy file is a FIFO")
        try expectRefused(["run", kws, "--input", input, "--top", "3", "--labels", fifo("labels.txt")], "the labels file is a FIFO")
        try expectRefused(["run", kws, "--input", input, "--envelope", fifo("env.toml")], "the envelope is a FIFO")
        try expectRefused(["run", kws, "--input", input, "--envelope", CLITests.root + "/targets/envelopes/camera-node.toml",
                           "--target", fifo("profile.toml")], "the device profile is a FIFO")
        try expectRefused(["simulate", demo] + sim.map { $0.hasSuffix("camera-steady.csv") ? fifo("trace.csv") : $0 }, "the trace is a FIFO")
        let calib = Self.dir + "/fifo-calib"
        try? FileManager.default.createDirectory(atPath: calib, withIntermediateDirectories: true)
        _ = fifo("fifo-calib/0.npy")
        try expectRefused(["pack", Self.resnet + "/model.tflite", "-o", Self.dir + "/c.ember", "--ladder", "int8", "--calib", calib],
                          "the .npy file is a FIFO")
        try expectRefused(["pack", fifo("m.tflite"), "-o", Self.dir + "/c.ember"], "the model is a FIFO")
        let huge = sparse("huge.txt")
        try expectRefused(["run", kws, "--input", input, "--top", "1", "--labels", huge], "the labels file '\(huge)' needs 2 GiB, limit 1 MiB")
        try expectRefused(["run", kws, "--input", input, "--envelope", huge], "the envelope '\(huge)' needs 2 GiB, limit 1 MiB")
        try expectRefused(["simulate", demo] + sim.map { $0.hasSuffix("camera-steady.csv") ? huge : $0 }, "the trace '\(huge)' needs 2 GiB, limit 256 MiB")
        // A sysfs value that is a FIFO is an unavailable reading, not a hang.
        let root = Self.dir + "/fifo-sysfs"
        try FileManager.default.createDirectory(atPath: root + "/sys/class/thermal/thermal_zone0", withIntermediateDirectories: true)
        _ = fifo("fifo-sysfs/sys/class/thermal/thermal_zone0/temp", exact: true)
        let t = try Self.spawn(["telemetry", "--root", root])
        #expect(t.status == 0 && !t.killed && t.stdout.contains("temp is not a regular file"), "\(t.stdout)")
    }

    @Test func zstdBombsInEveryVariantAreRefusedUnopened() throws {
        // 16 variants, each a small graph whose TENS is a zstd frame of 64 MiB of zeros.
        let g = try TestModels.smallCNN()
        var c = ContainerWriter()
        c.add(.meta, id: 0, payload: PackageMetadata([("name", "bomb")]).encode())
        c.add(.variants, id: 0, payload: VariantRecord.encodeAll((0..<16).map { VariantRecord(name: "v\($0)") }))
        for i in 0..<16 {
            var tensors = ByteWriter()
            c.add(.graph, id: UInt32(i), payload: GraphCodec.encode(g, tensorSection: UInt32(i), tensors: &tensors))
            c.add(.tensors, id: UInt32(i), payload: tensors.bytes + [UInt8](repeating: 0, count: 64 << 20), compress: true)
        }
        let path = try write("bomb.ember", try c.serialize())
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0) < 1 << 20)
        try expectRefused(["run", path], "TENS#0")
        try expectRefused(["inspect", path], "declares 64.0 MiB of tensors, but its constants end at byte")
    }

    @Test func unboundedWorkIsRefusedWithTheBound() throws {
        try expectRefused(["trace", "camera", "--rate", "1000", "--seconds", "86400", "-o", Self.dir + "/t.csv"],
                          "the trace needs 86,408,640 requests, limit 10,000,000 requests")
        try expectRefused(["trace", "voice", "--idle-interval-ms", "1e-9", "-o", Self.dir + "/t.csv"], status: 2, "--idle-interval-ms 1…86400000")
        try expectRefused(["run", try kwsPackage(), "--repeat", "9223372036854775807"], status: 2, "--repeat must be 1…1000000")
        // Critical requests all at t = 0 (200,000; a million with EMBER_EXTENDED=1): the simulator's
        // queues are O(1) per request, so this ends in seconds (it was quadratic: 4·10^10 steps).
        let count = getenv("EMBER_EXTENDED") != nil ? 1_000_000 : 200_000
        let burst = Self.dir + "/burst.csv"
        try ("time_ms,priority\n" + String(repeating: "0,critical\n", count: count)).write(toFile: burst, atomically: false, encoding: .utf8)
        let r = try Self.spawn(["simulate", try CLITests().demoPackage(), "--target", CLITests.root + "/targets/rpi4.toml", "--envelope",
                                CLITests.root + "/targets/envelopes/camera-node.toml", "--trace", burst, "--out", Self.dir + "/burst"], timeout: 120)
        #expect(r.status == 0 && !r.killed, "\(r.stderr)")
        #expect(r.stdout.contains("| ember | \(count) |"), "\(r.stdout)")
    }

    // MARK: wrong or misleading answers

    @Test func outputsNeverEscapeCollideOrOverwriteInputs() throws {
        // Two outputs named 'a/b' and 'a_b'.
        let b = GraphBuilder(name: "names")
        let x = b.input("x", .f32, [2])
        b.output(try b.add(.relu, [x], name: "r1"), name: "a/b")
        b.output(try b.add(.sigmoid, [x], name: "r2"), name: "a_b")
        let pkg = try package([try b.build()], name: "names")
        let input = try write("x.npy", NPY.encode(Tensor([Float](arrayLiteral: -1, 2), dims: [2])))
        let outDir = Self.dir + "/outs"
        let r = try Self.spawn(["run", pkg, "--input", "x=" + input, "--output", outDir])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: outDir + "/a%2Fb.npy") && FileManager.default.fileExists(atPath: outDir + "/a_b.npy"))
        try expectRefused(["run", pkg, "--input", "x=" + input, "--output", ""], status: 2, "--output needs a directory")
        let model = Self.dir + "/self.tflite"
        try? FileManager.default.removeItem(atPath: model)
        try FileManager.default.copyItem(atPath: Self.kws + "/model.tflite", toPath: model)
        try expectRefused(["pack", model, "-o", model], status: 2, "-o '\(model)' is the model file")
        #expect(try Data(contentsOf: URL(fileURLWithPath: model)) == Data(contentsOf: URL(fileURLWithPath: Self.kws + "/model.tflite")))
        try expectRefused(["pack", Self.resnet + "/model.tflite", "-o", Self.dir + "/r.md", "--ladder", "fp32", "--report", Self.dir + "/r.md"],
                          status: 2, "is also given to -o")
        try expectRefused(["pack", Self.kws + "/model.tflite", "-o", Self.dir + "/k.ember", "--targets", "/no/such/dir"], status: 2,
                          "--targets '/no/such/dir' is not a directory")
        try expectRefused(["run", pkg, "--input", "x="], status: 2, "must look like NAME=path.npy")
    }

    @Test func textFilesFromAnyEditorParseOrSayWhy() throws {
        let kws = try kwsPackage()
        let input = "input_1=" + Self.kws + "/inputs/00_0.npy"
        // CRLF and a byte-order mark are fine.
        let env = try write("crlf.toml", [0xEF, 0xBB, 0xBF] + Array("power_mw = 5000\r\ntemp_limit_c = 80\r\n[deadlines_ms]\r\nnormal = 500\r\n".utf8))
        let ok = try Self.spawn(["run", kws, "--input", input, "--envelope", env])
        #expect(ok.status == 0 && ok.stdout.contains("decision: rung"), "\(ok.stderr)")
        let labels = try write("labels.txt", (0..<12).map { "label\($0)" }.joined(separator: "\r\n"))
        let top = try Self.spawn(["run", kws, "--input", input, "--top", "1", "--labels", labels])
        #expect(top.status == 0 && top.stdout.contains("1. label") && !top.stdout.contains("\r"), "\(top.stdout)")
        let trace = try write("crlf.csv", "time_ms,priority\r\n0,normal\r\n10,critical\r\n")
        #expect(try Workload.parse(readTextFile(trace, .trace), file: trace).count == 2)
        // A NUL cuts no number short; a memory cap below every rung says so.
        let nul = try write("nul.toml", Array("power_mw = 25".utf8) + [0] + Array("99999\ntemp_limit_c = 70\n".utf8))
        try expectRefused(["run", kws, "--input", input, "--envelope", nul], "line 1 holds a NUL byte")
        let tiny = try write("tiny.toml", "power_mw = 5000\ntemp_limit_c = 80\nmemory_bytes = 1\n")
        try expectRefused(["run", kws, "--input", input, "--envelope", tiny], "memory_bytes: 1 byte is less than the smallest rung needs")
    }

    @Test func errorsAreOneLineWithWordsAndQuotedPaths() throws {
        let kws = try kwsPackage()
        try expectRefused(["run", kws, "--repeat", "-1"], status: 2, "--repeat must be 1…1000000, got -1 (see 'ember run --help')")
        try expectRefused(["run"], status: 2, "(see 'ember run --help')")
        try expectRefused(["frobnicate"], status: 2, "(see 'ember --help')")
        try expectRefused(["run", Self.dir + "/missing.ember"], "'\(Self.dir)/missing.ember': cannot open the package: No such file or directory")
        // pack prints nothing on stderr before its error.
        let bad = Self.dir + "/bad-calib"
        try? FileManager.default.createDirectory(atPath: bad, withIntermediateDirectories: true)
        try expectRefused(["pack", Self.resnet + "/model.tflite", "-o", Self.dir + "/x.ember", "--ladder", "int8", "--calib", bad], "no .npy files")
        // Two subgraphs, rank 20, a 10 MB name: refused by pack, not packed and then refused by the reader.
        var two = TFLiteModel.relu(); two.extraSubgraphs = 1
        try expectRefused(["pack", try write("two.tflite", two.bytes), "-o", Self.dir + "/x.ember"], "the model has 2 subgraphs")
        try expectRefused(["pack", try write("rank.tflite", TFLiteModel.relu(shape: [Int32](repeating: 1, count: 20)).bytes), "-o", Self.dir + "/x.ember"],
                          "rank 20 (at most 8)")
        try expectRefused(["pack", try write("name.tflite", TFLiteModel.relu(inputName: String(repeating: "n", count: 10 << 20)).bytes),
                           "-o", Self.dir + "/x.ember"], "the limit is 4096")
    }

    @Test func aDamagedVariantThatIsNotRunIsStillReportedWithItsSection() throws {
        let path = try package([try TestModels.smallCNN(seed: 1), try TestModels.smallCNN(seed: 2)], name: "two")
        var b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        // Corrupt variant 1's graph: its first value's dtype byte, then reseal.
        let c = try b.withUnsafeBytes { try ContainerReader.read($0, owner: nil) }
        let g1 = try #require(c.sections.first { $0.kind == .graph && $0.id == 1 })
        let nameLength = Int(b[g1.offset]) // graph name length (short)
        let firstValue = g1.offset + 4 + nameLength + 4
        b[firstValue + 4 + Int(b[firstValue])] = 0x7F
        resealChecksums(&b)
        let damaged = try write("damaged.ember", b)
        try expectRefused(["run", damaged, "--variant", "v0"],
                          "section GRPH#1 (variant 'v1') at byte")
    }
}
