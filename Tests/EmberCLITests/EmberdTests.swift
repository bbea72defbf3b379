import Ember
import EmberFormat
import Foundation
import Testing

/// The real emberd (built beside this bundle) on a temporary Unix socket and a loopback port,
/// driven by real HTTP clients: curl, and a raw socket for what curl will not send.
extension CLITests {
    static var emberdBinary: String { URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("emberd").path }

    final class Daemon {
        let process: Process
        let port: Int
        let socket: String
        let log: Pipe

        init(models: String, socket: String, extra: [String] = [], environment: [String: String] = [:]) throws {
            self.socket = socket
            process = Process()
            process.executableURL = URL(fileURLWithPath: CLITests.emberdBinary)
            process.arguments = ["--models", models, "--socket", socket, "--listen", "127.0.0.1:0"] + extra
            if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
            log = Pipe()
            process.standardError = log
            process.standardOutput = FileHandle.nullDevice
            // Everything the daemon logs, gathered as it comes (never a blocking read in a test).
            let gathered = Gathered()
            self.gathered = gathered
            log.fileHandleForReading.readabilityHandler = { handle in gathered.append(handle.availableData) }
            try process.run()
            guard let line = gathered.await("serving", seconds: 60)?.split(separator: "\n").first(where: { $0.contains("serving") }),
                  let portText = line.split(separator: ":").last, let port = Int(portText) else {
                process.terminate()
                throw EmberdTestError.notStarted(gathered.text)
            }
            self.port = port
            startupLog = gathered.text
        }

        let gathered: Gathered

        final class Gathered: @unchecked Sendable {
            private var data = Data()
            private let lock = NSLock()
            func append(_ d: Data) { lock.lock(); data += d; lock.unlock() }
            var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
            /// Everything logged so far once it contains `needle`; nil after `seconds`.
            func await(_ needle: String, seconds: Double) -> String? {
                let deadline = Date().addingTimeInterval(seconds)
                while Date() < deadline {
                    let t = text
                    if t.contains(needle) { return t }
                    usleep(10_000)
                }
                return nil
            }
        }

        var startupLog = ""

        /// SIGTERM, then the exit status (nil: still running after 20 s).
        func stop() -> Int32? {
            process.terminate()
            let deadline = Date().addingTimeInterval(20)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            return process.isRunning ? nil : process.terminationStatus
        }
    }

    enum EmberdTestError: Error { case notStarted(String) }

    /// curl's body and HTTP status.
    func curl(_ args: [String]) throws -> (body: String, status: Int) {
        let r = try process("/usr/bin/env", ["curl", "-s", "-w", "\n%{http_code}"] + args)
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (lines.dropLast().joined(separator: "\n"), Int(lines.last ?? "") ?? -1)
    }

    func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    /// Sends `bytes` on a new loopback connection and returns all that comes back.
    func rawHTTP(port: Int, _ bytes: [UInt8]) -> String { String(decoding: rawHTTPBytes(port: port, bytes), as: UTF8.self) }

    func rawHTTPBytes(port: Int, _ bytes: [UInt8]) -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return [] }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    @Test func emberdServesTheInferenceProtocolOnASocketAndALoopbackPort() throws {
        let dir = Self.workDir + "/emberd"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/models", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try demoPackage(), toPath: dir + "/models/demo.ember")
        try Data("not a package".utf8).write(to: URL(fileURLWithPath: dir + "/models/broken.ember"))
        let socket = dir + "/emberd.sock"
        let daemon = try Daemon(models: dir + "/models", socket: socket, extra: ["--max-body-mib", "1"])
        var stopped = false
        defer { if !stopped { _ = daemon.stop() } }
        #expect(daemon.startupLog.contains("skipped \(dir)/models/broken.ember"), "\(daemon.startupLog)")
        let mode = try FileManager.default.attributesOfItem(atPath: socket)[.posixPermissions] as? Int
        #expect(mode == 0o660)

        // Health and metadata over the Unix socket.
        let live = try curl(["--unix-socket", socket, "http://localhost/v2/health/live"])
        #expect(live.status == 200 && json(live.body)["live"] as? Bool == true, "\(live)")
        let ready = try curl(["--unix-socket", socket, "http://localhost/v2/models/demo/ready"])
        #expect(ready.status == 200 && json(ready.body)["ready"] as? Bool == true)
        let meta = json(try curl(["--unix-socket", socket, "http://localhost/v2/models/demo"]).body)
        let inputs = meta["inputs"] as? [[String: Any]]
        #expect(inputs?.first?["name"] as? String == "image" && inputs?.first?["datatype"] as? String == "FP32")
        #expect(inputs?.first?["shape"] as? [Int] == [1, 16, 16, 1])
        let variants = (meta["parameters"] as? [String: Any])?["variants"] as? [[String: Any]]
        #expect(variants?.map { $0["name"] as? String } == ["fp32", "int8"])

        // Inference over TCP, equal to ember run on the same input.
        let image = try npyFloats(Self.workDir + "/demo/input.npy", count: 256)
        let request = "{\"id\":\"r1\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,16,16,1],\"datatype\":\"FP32\",\"data\":["
            + image.map { "\($0)" }.joined(separator: ",") + "]}]}"
        let requestFile = dir + "/request.json"
        try request.write(toFile: requestFile, atomically: true, encoding: .utf8)
        let url = "http://127.0.0.1:\(daemon.port)/v2/models/demo/infer"
        let infer = try curl(["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@" + requestFile, url])
        #expect(infer.status == 200, "\(infer.body)")
        let answer = json(infer.body)
        #expect(answer["id"] as? String == "r1" && answer["model_name"] as? String == "demo")
        let output = (answer["outputs"] as? [[String: Any]])?.first
        let served = (output?["data"] as? [NSNumber])?.map { $0.floatValue } ?? []
        let run = try ember("run", Self.workDir + "/demo/demo.ember", "--input", "image=\(Self.workDir)/demo/input.npy",
                            "--output", dir + "/out")
        #expect(run.status == 0)
        let expected = try npyFloats(dir + "/out/orientation.npy", count: 2)
        #expect(output?["name"] as? String == "orientation" && served == expected, "\(served) vs \(expected)")
        #expect((answer["parameters"] as? [String: Any])?["variant"] as? String == "fp32")

        // The binary tensor data extension: input bytes after the JSON header, the output's bytes after the reply's.
        let header = "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,16,16,1],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":1024}}],"
            + "\"outputs\":[{\"name\":\"orientation\",\"parameters\":{\"binary_data\":true}}]}"
        let payload = Array(header.utf8) + image.withUnsafeBytes { Array($0) }
        let binaryReply = rawHTTPBytes(port: daemon.port, Array(("POST /v2/models/demo/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + "Inference-Header-Content-Length: \(header.utf8.count)\r\nContent-Length: \(payload.count)\r\n\r\n").utf8) + payload)
        let headEnd = (0..<max(0, binaryReply.count - 3)).first { Array(binaryReply[$0..<($0 + 4)]) == [13, 10, 13, 10] } ?? 0
        let replyHead = String(decoding: binaryReply[0..<headEnd], as: UTF8.self)
        let jsonLength = replyHead.split(separator: "\r\n").first { $0.hasPrefix("Inference-Header-Content-Length: ") }
            .flatMap { Int($0.dropFirst("Inference-Header-Content-Length: ".count)) }
        #expect(replyHead.hasPrefix("HTTP/1.1 200 ") && jsonLength != nil, "\(replyHead)")
        let replyBody = Array(binaryReply.dropFirst(headEnd + 4))
        if let jsonLength, replyBody.count == jsonLength + 8 {
            let blob = Array(replyBody[jsonLength...])
            #expect(blob.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } == expected)
            #expect(String(decoding: replyBody[0..<jsonLength], as: UTF8.self).contains("\"binary_data_size\":8"))
        } else {
            Issue.record("binary reply of \(replyBody.count) bytes, JSON header \(jsonLength ?? -1)")
        }

        // Bad requests: a 4xx with a JSON error body each.
        try "{\"inputs\": [".write(toFile: dir + "/bad.json", atomically: true, encoding: .utf8)
        let malformed = try curl(["-X", "POST", "--data-binary", "@" + dir + "/bad.json", url])
        #expect(malformed.status == 400 && (json(malformed.body)["error"] as? String)?.contains("malformed JSON") == true)
        let wrongShape = request.replacingOccurrences(of: "[1,16,16,1]", with: "[1,16,16,2]")
        try wrongShape.write(toFile: dir + "/shape.json", atomically: true, encoding: .utf8)
        let shape = try curl(["-X", "POST", "--data-binary", "@" + dir + "/shape.json", url])
        #expect(shape.status == 400 && (json(shape.body)["error"] as? String)?.contains("512 elements, data has 256") == true, "\(shape)")
        let wrongType = request.replacingOccurrences(of: "FP32", with: "INT8")
        try wrongType.write(toFile: dir + "/type.json", atomically: true, encoding: .utf8)
        let type = try curl(["-X", "POST", "--data-binary", "@" + dir + "/type.json", url])
        #expect(type.status == 400 && (json(type.body)["error"] as? String)?.contains("datatype must be FP32") == true)
        let unknown = try curl(["http://127.0.0.1:\(daemon.port)/v2/models/nope/ready"])
        #expect(unknown.status == 404 && (json(unknown.body)["error"] as? String)?.contains("serving demo") == true)
        #expect(try curl([url]).status == 405)
        let huge = rawHTTP(port: daemon.port, Array("POST /v2/models/demo/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000000\r\n\r\n{".utf8))
        #expect(huge.hasPrefix("HTTP/1.1 413 ") && huge.contains("\"error\""), "\(huge)")
        let garbage = rawHTTP(port: daemon.port, Array("\u{1}\u{2} nonsense\r\n\r\n".utf8))
        #expect(garbage.hasPrefix("HTTP/1.1 400 "), "\(garbage)")

        // Metrics count what happened.
        let metrics = try curl(["--unix-socket", socket, "http://localhost/metrics"])
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("ember_requests_total{model=\"demo\",variant=\"fp32\",code=\"200\"} 2"), "\(metrics.body)")
        #expect(metrics.body.contains("ember_requests_total{model=\"demo\",variant=\"\",code=\"400\"} 3"), "\(metrics.body)")
        #expect(metrics.body.contains("ember_request_duration_seconds_count{model=\"demo\",variant=\"fp32\"} 2"))
        #expect(metrics.body.contains("ember_inference_duration_seconds_count{model=\"demo\",variant=\"fp32\"} 2"))
        #expect(metrics.body.contains("ember_server_overhead_seconds_count{model=\"demo\",variant=\"fp32\"} 2"))
        #expect(metrics.body.contains("ember_server_overhead_seconds_bucket{model=\"demo\",variant=\"fp32\",le=\"1e-05\"} "))
        // The inference is part of the request's time: what is left is the server's overhead.
        func sum(_ family: String) -> Double? {
            metrics.body.split(separator: "\n").first { $0.hasPrefix("\(family)_sum{model=\"demo\"") }
                .flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
        }
        if let request = sum("ember_request_duration_seconds"), let inference = sum("ember_inference_duration_seconds"),
           let overhead = sum("ember_server_overhead_seconds") {
            #expect(inference > 0 && inference < request, "inference \(inference) s of \(request) s")
            #expect(abs(overhead - (request - inference)) < 1e-9, "overhead \(overhead) s")
        } else {
            Issue.record("no duration sums in \(metrics.body)")
        }
        #expect(metrics.body.contains("ember_arena_bytes{model=\"demo\"} "))

        // SIGTERM: exit 0, the socket file removed.
        stopped = true
        #expect(daemon.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: socket))
        let tail = daemon.gathered.await("stopped", seconds: 5) ?? daemon.gathered.text
        #expect(tail.contains("emberd: stopped"), "\(tail)")
    }

    /// tools/.venv-triton/bin/python (made by `tools/bootstrap.sh --deps-only`) when it has tritonclient.
    static let tritonPython: String? = {
        let python = root + "/tools/.venv-triton/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", "import tritonclient.http"]
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        p.waitUntilExit()
        return p.terminationStatus == 0 ? python : nil
    }()

    @Test(.enabled(if: tritonPython != nil, "tools/.venv-triton has no tritonclient[http] (bash tools/bootstrap.sh --deps-only installs it)"))
    func theUnchangedTritonClientTalksToEmberd() throws {
        let dir = Self.workDir + "/emberd-triton"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/models", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try demoPackage(), toPath: dir + "/models/demo.ember")
        let input = Self.workDir + "/demo/input.npy"
        #expect(try ember("run", dir + "/models/demo.ember", "--input", "image=\(input)", "--output", dir + "/out").status == 0)
        let daemon = try Daemon(models: dir + "/models", socket: dir + "/emberd.sock")
        defer { _ = daemon.stop() }
        let check = try process(try #require(Self.tritonPython), [Self.root + "/tools/triton_check.py", "--url", "127.0.0.1:\(daemon.port)",
                                                                 "--model", "demo", "--input", "image=\(input)",
                                                                 "--expect", "orientation=\(dir)/out/orientation.npy"])
        #expect(check.status == 0 && check.stdout.contains("triton_check: OK"), "\(check.stdout)\(check.stderr)")
    }

    /// What the daemon has logged once `text` appears (or after 20 s).
    func awaitLog(_ daemon: Daemon, _ text: String) -> String {
        daemon.gathered.await(text, seconds: 20) ?? daemon.gathered.text
    }

    /// Under --envelope every answer carries the scheduler's Decision; a request may bring its own
    /// priority and deadline, and one that no rung can serve in time is shed with 503 + Retry-After.
    @Test func underAnEnvelopeAnswersCarryTheDecisionAndRequestsTheirOwnDeadline() throws {
        let dir = Self.workDir + "/emberd-envelope"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/models", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try demoPackage(), toPath: dir + "/models/demo.ember")
        try "power_mw = 3000\ntemp_limit_c = 95\n".write(toFile: dir + "/envelope.toml", atomically: true, encoding: .utf8)
        let daemon = try Daemon(models: dir + "/models", socket: dir + "/emberd.sock", extra: ["--envelope", dir + "/envelope.toml"])
        defer { _ = daemon.stop() }
        let image = try npyFloats(Self.workDir + "/demo/input.npy", count: 256)
        let request = "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,16,16,1],\"datatype\":\"FP32\",\"data\":["
            + image.map { "\($0)" }.joined(separator: ",") + "]}]}"
        try request.write(toFile: dir + "/request.json", atomically: true, encoding: .utf8)
        let url = "http://127.0.0.1:\(daemon.port)/v2/models/demo/infer"
        func infer(_ headers: [String]) throws -> (body: String, status: Int, head: String) {
            let r = try curl(headers.flatMap { ["-H", $0] } + ["-D", dir + "/head.txt", "-X", "POST", "--data-binary",
                                                               "@" + dir + "/request.json", url])
            return (r.body, r.status, (try? String(contentsOfFile: dir + "/head.txt", encoding: .utf8)) ?? "")
        }

        let served = try infer([])
        #expect(served.status == 200, "\(served.body)")
        let decision = json(served.body)["parameters"] as? [String: Any] ?? [:]
        #expect(["fp32", "int8"].contains(decision["variant"] as? String ?? ""), "\(decision)")
        #expect((decision["reason"] as? String)?.isEmpty == false && decision["threads"] as? Int == 1)
        #expect((decision["predicted_latency_ms"] as? Double ?? 0) > 0 && decision["throttled"] as? Bool == false)

        // 10 µs is less than any rung takes: a normal request is shed, a critical one still served.
        let late = try infer(["Ember-Deadline-Ms: 0.01"])
        #expect(late.status == 503 && late.head.lowercased().contains("retry-after: "), "\(late.head)\n\(late.body)")
        #expect((json(late.body)["error"] as? String)?.contains("0.01 ms deadline") == true, "\(late.body)")
        let critical = try infer(["Ember-Deadline-Ms: 0.01", "Ember-Priority: critical"])
        #expect(critical.status == 200, "\(critical.body)")
        let roomy = try infer(["Ember-Deadline-Ms: 5000"])
        #expect(roomy.status == 200, "\(roomy.body)")
        for bad in ["Ember-Deadline-Ms: soon", "Ember-Deadline-Ms: 0", "Ember-Deadline-Ms: inf", "Ember-Priority: urgent"] {
            let refused = try infer([bad])
            #expect(refused.status == 400 && json(refused.body)["error"] is String, "\(bad): \(refused.body)")
        }
        let metrics = try curl(["http://127.0.0.1:\(daemon.port)/metrics"]).body
        #expect(metrics.contains("ember_shed_requests_total{model=\"demo\"} 1"), "\(metrics)")
        #expect(metrics.contains("ember_current_rung{model=\"demo\"} "))
        #expect(metrics.contains("ember_throttle_events_total{model=\"demo\"} 0"), "no thermal zone reached 95 °C")
        // Four requests ran (the shed one did not): each charged its modelled energy.
        let spent = metrics.split(separator: "\n").first { $0.hasPrefix("ember_inference_energy_millijoules_total{model=\"demo\"} ") }
            .flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
        #expect((spent ?? 0) > 0, "\(metrics)")
        for family in ["ember_inference_power_milliwatts", "ember_energy_left_millijoules", "ember_allowed_power_milliwatts"] {
            #expect(metrics.contains("\(family){model=\"demo\"} "), "\(family)")
        }
    }

    @Test func emberdReloadsChangedPackagesUnderLoadWithoutAFailedRequest() throws {
        let dir = Self.workDir + "/emberd-reload"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/models", withIntermediateDirectories: true)
        let live = dir + "/models/demo.ember"
        try FileManager.default.copyItem(atPath: try demoPackage(), toPath: live)
        // The same model with its int8 rung only: the reload is visible in the variant that answers.
        let full = try EmberPackage(path: live)
        let int8Only = PackageContents(metadata: full.metadata, variants: [full.variants[1]], graphs: [try full.graph(at: 1)])
        let daemon = try Daemon(models: dir + "/models", socket: dir + "/emberd.sock", extra: ["--watch-interval-ms", "50"])
        var stopped = false
        defer { if !stopped { _ = daemon.stop() } }

        final class Load: @unchecked Sendable { var statuses: [String: Int] = [:]; var variants = Set<String>(); var stop = false }
        let load = Load()
        let image = try npyFloats(Self.workDir + "/demo/input.npy", count: 256)
        let body = Array(("{\"inputs\":[{\"name\":\"image\",\"shape\":[1,16,16,1],\"datatype\":\"FP32\",\"data\":["
            + image.map { "\($0)" }.joined(separator: ",") + "]}]}").utf8)
        let request = Array("POST /v2/models/demo/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
        let port = daemon.port
        let done = DispatchSemaphore(value: 0)
        let client = Thread {
            while !load.stop {
                let reply = self.rawHTTP(port: port, request)
                let status = String(reply.prefix(12))
                load.statuses[status, default: 0] += 1
                for v in ["fp32", "int8"] where reply.contains("\"variant\":\"\(v)\"") { load.variants.insert(v) }
            }
            done.signal()
        }
        client.start()
        usleep(300_000)
        // Deploy by atomic rename, as a user should: the old inode keeps serving in-flight requests.
        try PackageWriter.write(int8Only, to: dir + "/next.ember")
        #expect(rename(dir + "/next.ember", live) == 0)
        let reloaded = awaitLog(daemon, "reloaded model 'demo'")
        #expect(reloaded.contains("reloaded model 'demo' (1 variants)"), "\(reloaded)")
        usleep(300_000)
        // A damaged package is rejected; the model that was serving goes on.
        try Data("damaged".utf8).write(to: URL(fileURLWithPath: dir + "/next.ember"))
        #expect(rename(dir + "/next.ember", live) == 0)
        let rejected = awaitLog(daemon, "rejected the new")
        #expect(rejected.contains("still serving the old one"), "\(rejected)")
        usleep(300_000)
        load.stop = true
        done.wait()
        #expect(load.statuses.keys.sorted() == ["HTTP/1.1 200"], "\(load.statuses)")
        #expect((load.statuses["HTTP/1.1 200"] ?? 0) >= 10 && load.variants == ["fp32", "int8"], "\(load.statuses) \(load.variants)")
        let metadata = json(try curl(["--unix-socket", dir + "/emberd.sock", "http://localhost/v2/models/demo"]).body)
        #expect(((metadata["parameters"] as? [String: Any])?["variants"] as? [[String: Any]])?.count == 1)

        // SIGHUP rescans at once; a removed file stops its model.
        #expect(unlink(live) == 0)
        kill(daemon.process.processIdentifier, SIGHUP)
        let removed = awaitLog(daemon, "stopped serving model 'demo'")
        #expect(removed.contains("its file is gone"), "\(removed)")
        #expect(try curl(["--unix-socket", dir + "/emberd.sock", "http://localhost/v2/models/demo/ready"]).status == 404)
        stopped = true
        #expect(daemon.stop() == 0)
    }

    @Test func emberdTakesItsSettingsFromAConfigFileAndFlagsOverrideIt() throws {
        let dir = Self.workDir + "/emberd-config"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/models", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try demoPackage(), toPath: dir + "/models/kws.ember")
        try "models = \"\(dir)/models\"\nsocket = \"\(dir)/from-config.sock\"\nworkers = 1\n"
            .write(toFile: dir + "/emberd.toml", atomically: true, encoding: .utf8)
        // The Daemon helper passes --models and --socket; here the file gives the models, the flag the socket.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.emberdBinary)
        p.arguments = ["--config", dir + "/emberd.toml", "--socket", dir + "/from-flag.sock"]
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { p.terminate(); p.waitUntilExit() }
        var ready = (body: "", status: -1)
        for _ in 0..<100 where ready.status != 200 {
            usleep(50_000)
            ready = try curl(["--unix-socket", dir + "/from-flag.sock", "http://localhost/v2/models/kws/ready"])
        }
        #expect(ready.status == 200, "\(ready)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/from-config.sock"))
        try "models = \"\(dir)/models\"\nworkerz = 1\n".write(toFile: dir + "/bad.toml", atomically: true, encoding: .utf8)
        let bad = try process(Self.emberdBinary, ["--config", dir + "/bad.toml"])
        #expect(bad.status != 0 && bad.stderr.contains("workerz"), "\(bad.stderr)")
    }

    @Test func withTrustedKeysEmberdServesOnlySignedUnchangedPackages() throws {
        let dir = Self.workDir + "/emberd-signed"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/models", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/trusted", withIntermediateDirectories: true)
        #expect(try ember("keygen", "--out", dir + "/release").status == 0)
        try FileManager.default.copyItem(atPath: dir + "/release.pub", toPath: dir + "/trusted/release.pub")
        let demo = try demoPackage()
        #expect(try ember("sign", demo, "--key", dir + "/release.key", "-o", dir + "/models/signed.ember").status == 0)
        try FileManager.default.copyItem(atPath: demo, toPath: dir + "/models/unsigned.ember")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/models/signed.ember")))
        bytes[bytes.count / 2] ^= 0x04
        resealChecksums(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/models/tampered.ember"))
        let daemon = try Daemon(models: dir + "/models", socket: dir + "/emberd.sock", extra: ["--trusted-keys", dir + "/trusted"])
        defer { _ = daemon.stop() }
        #expect(daemon.startupLog.contains("loaded model 'signed'"), "\(daemon.startupLog)")
        #expect(daemon.startupLog.contains("unsigned.ember: untrusted package"), "\(daemon.startupLog)")
        #expect(daemon.startupLog.contains("tampered.ember: untrusted package"), "\(daemon.startupLog)")
        for (model, status) in [("signed", 200), ("unsigned", 404), ("tampered", 404)] {
            #expect(try curl(["--unix-socket", dir + "/emberd.sock", "http://localhost/v2/models/\(model)/ready"]).status == status)
        }
        // --no-require-signature serves the unsigned package too; the tampered one stays refused.
        let lenient = try Daemon(models: dir + "/models", socket: dir + "/lenient.sock",
                                 extra: ["--trusted-keys", dir + "/trusted", "--no-require-signature"])
        defer { _ = lenient.stop() }
        #expect(lenient.startupLog.contains("tampered.ember: untrusted package"), "\(lenient.startupLog)")
        for (model, status) in [("signed", 200), ("unsigned", 200), ("tampered", 404)] {
            #expect(try curl(["--unix-socket", dir + "/lenient.sock", "http://localhost/v2/models/\(model)/ready"]).status == status,
                    "\(model)")
        }
    }

    @Test func emberdTellsSystemdItIsReadyAndAlive() throws {
        let dir = Self.workDir + "/emberd-notify"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/models", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try demoPackage(), toPath: dir + "/models/demo.ember")
        // systemd's side: a datagram socket the daemon writes to.
        let path = dir + "/notify.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        func receive() -> String {
            var buffer = [UInt8](repeating: 0, count: 512)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
        }
        let daemon = try Daemon(models: dir + "/models", socket: dir + "/emberd.sock",
                                environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"])
        #expect(receive().hasPrefix("READY=1"))
        #expect(receive() == "WATCHDOG=1")
        #expect(daemon.stop() == 0)
        var messages: [String] = []
        for _ in 0..<10 { let m = receive(); if m.isEmpty { break }; messages.append(m); if m == "STOPPING=1" { break } }
        #expect(messages.contains("STOPPING=1"), "\(messages)")
    }
}
