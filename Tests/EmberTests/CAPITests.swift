import CAllocationCounter
import CEmberAPI
import EmberC
import Foundation
import Testing
import Ember

/// The C API (ember.h) called as a C program calls it: through the C declarations, on packages
/// written to files. Results are compared with the Swift `Session` on the same package.
@Suite(.serialized) struct CAPITests {
    static let dir: String = {
        let d = NSTemporaryDirectory() + "ember-capi-\(getpid())"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    static let packagePath: String = {
        let path = dir + "/two-rungs.ember"
        if let package = try? twoRungPackage() {
            try? PackageWriter.write(package.contents, to: path)
        }
        return path
    }()

    let x: [Float] = (0..<256).map { Float($0 % 17) / 17 - 0.4 }

    func open(_ path: String = CAPITests.packagePath) throws -> OpaquePointer {
        var package: OpaquePointer?
        let status = ember_package_open(path, nil, &package)
        try #require(status == EMBER_OK, "\(String(cString: ember_status_name(status))): \(lastError)")
        return try #require(package)
    }

    func session(_ package: OpaquePointer, _ configure: (inout ember_session_options) -> Void = { _ in }) throws -> OpaquePointer {
        var options = ember_session_options()
        ember_session_options_init(&options)
        configure(&options)
        var session: OpaquePointer?
        let status = ember_session_create(package, &options, &session)
        try #require(status == EMBER_OK, "\(lastError)")
        return try #require(session)
    }

    var lastError: String { String(cString: ember_last_error()) }

    /// What the Swift API gives for `x` on `variant`.
    func expected(_ variant: String) throws -> [Float] {
        let s = try Session(package: try EmberPackage(path: Self.packagePath), variant: variant)
        return try s.run(["x": Tensor(x, dims: [1, 256])])["y"]?.floats ?? []
    }

    func floats(_ data: UnsafeRawPointer?, _ bytes: Int) -> [Float] {
        guard let data else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: bytes).bindMemory(to: Float.self))
    }

    @Test func aPackageRunsThroughTheCAPIAsThroughASession() throws {
        #expect(String(cString: ember_version()) == emberVersion)
        #expect(ember_api_version() == EMBER_API_VERSION)
        let package = try open()
        var count = 0
        #expect(ember_package_variant_count(package, &count) == EMBER_OK && count == 2)
        var v = ember_variant_info()
        #expect(ember_package_variant(package, 1, &v) == EMBER_OK)
        #expect(String(cString: v.name) == "small")

        let s = try session(package) { $0.variant = UnsafePointer(strdup("small")) }
        #expect(ember_package_close(package) == EMBER_OK) // the session keeps the package
        var inputs = 0, outputs = 0
        #expect(ember_session_input_count(s, &inputs) == EMBER_OK && inputs == 1)
        #expect(ember_session_output_count(s, &outputs) == EMBER_OK && outputs == 1)
        var info = ember_tensor_info()
        #expect(ember_session_input_info(s, 0, &info) == EMBER_OK)
        #expect(String(cString: info.name) == "x" && info.dtype == Int32(EMBER_DTYPE_F32.rawValue) && info.rank == 2)
        #expect(info.dims.0 == 1 && info.dims.1 == 256 && info.max_dims.1 == 256 && info.byte_count == 1024)

        // Session-owned buffers.
        var data: UnsafeMutableRawPointer?
        var bytes = 0
        #expect(ember_session_input_buffer(s, 0, &data, &bytes) == EMBER_OK && bytes == 1024)
        x.withUnsafeBytes { data?.copyMemory(from: $0.baseAddress!, byteCount: 1024) }
        #expect(ember_session_run(s, EMBER_PRIORITY_NORMAL) == EMBER_OK)
        var out: UnsafeRawPointer?
        #expect(ember_session_output_buffer(s, 0, &out, &bytes) == EMBER_OK && bytes == 16)
        let want = try expected("small")
        #expect(floats(out, bytes) == want && want.count == 4)

        // Caller-owned buffers give the same.
        var result = [Float](repeating: .nan, count: 4)
        let status = x.withUnsafeBytes { input in
            result.withUnsafeMutableBytes { output in
                var inputPointers: [UnsafeRawPointer?] = [input.baseAddress]
                var outputPointers: [UnsafeMutableRawPointer?] = [output.baseAddress]
                var inputBytes = [1024], outputBytes = [16]
                return ember_session_run_with(s, EMBER_PRIORITY_NORMAL, &inputPointers, &inputBytes, 1, &outputPointers, &outputBytes, 1)
            }
        }
        #expect(status == EMBER_OK, "\(lastError)")
        #expect(result == want)

        var d = ember_decision()
        #expect(ember_session_last_decision(s, &d) == EMBER_OK)
        #expect(d.variant_index == 1 && String(cString: d.variant) == "small" && String(cString: d.reason) == "fixed variant")
        var t = ember_telemetry()
        #expect(ember_session_telemetry(s, &t) == EMBER_OK)
        #expect(t.runs == 2 && t.shed == 0 && t.current_variant == 1 && t.last_latency_ms >= 0)
        #expect(t.mapped_bytes == UInt64(try FileManager.default.attributesOfItem(atPath: Self.packagePath)[.size] as? Int ?? -1))
        #expect(t.arena_bytes > 0 && t.memory_used_bytes >= t.arena_bytes)
        #expect(ember_session_destroy(s) == EMBER_OK)
    }

    @Test func aPackageInMemoryIsCopiedAndRunsTheSame() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.packagePath)))
        var package: OpaquePointer?
        #expect(bytes.withUnsafeBytes { ember_package_open_memory($0.baseAddress, $0.count, nil, &package) } == EMBER_OK)
        for i in bytes.indices { bytes[i] = 0 } // the library holds its own copy
        let s = try session(try #require(package))
        var result = [Float](repeating: .nan, count: 4)
        var data: UnsafeMutableRawPointer?
        var n = 0
        #expect(ember_session_input_buffer(s, 0, &data, &n) == EMBER_OK)
        x.withUnsafeBytes { data?.copyMemory(from: $0.baseAddress!, byteCount: n) }
        #expect(ember_session_run(s, EMBER_PRIORITY_CRITICAL) == EMBER_OK)
        var out: UnsafeRawPointer?
        #expect(ember_session_output_buffer(s, 0, &out, &n) == EMBER_OK)
        result = floats(out, n)
        #expect(result == (try expected("big")))
        #expect(ember_session_destroy(s) == EMBER_OK && ember_package_close(package) == EMBER_OK)

        // Damaged bytes are a malformed package, with the section named.
        var damaged = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.packagePath)))
        damaged[damaged.count - 3] ^= 0x10
        var none: OpaquePointer?
        #expect(damaged.withUnsafeBytes { ember_package_open_memory($0.baseAddress, $0.count, nil, &none) } == EMBER_ERROR_MALFORMED_PACKAGE)
        #expect(none == nil && lastError.contains("checksum"), "\(lastError)")
    }

    @Test func everyBadArgumentIsAStatusWithAMessage() throws {
        var package: OpaquePointer?
        #expect(ember_package_open(nil, nil, &package) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("path is NULL"))
        #expect(ember_package_open(Self.packagePath, nil, nil) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("out is NULL"))
        #expect(ember_package_open(Self.dir + "/missing.ember", nil, &package) == EMBER_ERROR_IO)
        #expect(lastError.contains("missing.ember"), "\(lastError)")
        var popts = ember_package_options()
        ember_package_options_init(&popts)
        popts.file_protection = 7
        #expect(ember_package_open(Self.packagePath, &popts, &package) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("file_protection"))
        popts.file_protection = 2
        popts.struct_size -= 8
        #expect(ember_package_open(Self.packagePath, &popts, &package) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("struct_size"))
        #expect(ember_package_open_memory(nil, 10, nil, &package) == EMBER_ERROR_INVALID_ARGUMENT)

        let p = try open()
        var v = ember_variant_info()
        #expect(ember_package_variant(p, 2, &v) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("out of range"))
        var s: OpaquePointer?
        var options = ember_session_options()
        ember_session_options_init(&options)
        options.variant = UnsafePointer(strdup("int3"))
        #expect(ember_session_create(p, &options, &s) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("big, small"))
        options.envelope_path = UnsafePointer(strdup(Self.dir + "/envelope.toml"))
        #expect(ember_session_create(p, &options, &s) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("exclude"))
        ember_session_options_init(&options)
        options.device_profile_path = UnsafePointer(strdup("profile.toml"))
        #expect(ember_session_create(p, &options, &s) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("needs envelope_path"))
        ember_session_options_init(&options)
        options.threads = 65
        #expect(ember_session_create(p, &options, &s) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("threads"))
        ember_session_options_init(&options)
        options.memory_limit_bytes = 4096
        #expect(ember_session_create(p, &options, &s) == EMBER_ERROR_LIMIT_EXCEEDED, "\(lastError)")
        #expect(s == nil)

        let session = try self.session(p)
        var info = ember_tensor_info()
        #expect(ember_session_input_info(session, 1, &info) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("input index 1"))
        #expect(ember_session_output_info(session, -1, &info) == EMBER_ERROR_INVALID_ARGUMENT)
        #expect(ember_session_input_info(session, 0, nil) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("info is NULL"))
        #expect(ember_session_run(session, ember_priority(rawValue: 9)) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("priority"))
        let input = [Float](repeating: 0, count: 100)
        let status = input.withUnsafeBytes { raw in
            var pointers: [UnsafeRawPointer?] = [raw.baseAddress]
            var sizes = [raw.count]
            var outSizes = [16]
            var outs: [UnsafeMutableRawPointer?] = [UnsafeMutableRawPointer(mutating: raw.baseAddress)]
            return ember_session_run_with(session, EMBER_PRIORITY_NORMAL, &pointers, &sizes, 1, &outs, &outSizes, 1)
        }
        #expect(status == EMBER_ERROR_INVALID_INPUT && lastError.contains("expected 1024 bytes"), "\(lastError)")
        #expect(ember_session_run_with(session, EMBER_PRIORITY_NORMAL, nil, nil, 0, nil, nil, 0) == EMBER_ERROR_INVALID_ARGUMENT)
        #expect(lastError.contains("the model has 1 inputs"))
        #expect(ember_session_destroy(session) == EMBER_OK && ember_package_close(p) == EMBER_OK)
    }

    @Test func destroyedAndForeignHandlesAreRefusedNotFollowed() throws {
        let p = try open()
        let s = try session(p)
        var count = 0
        // A package handle is not a session, a session is not a package, a stray pointer is neither.
        #expect(ember_session_input_count(p, &count) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("not an ember_session"))
        #expect(ember_package_variant_count(s, &count) == EMBER_ERROR_INVALID_ARGUMENT)
        var local = 0
        let stray = withUnsafeMutablePointer(to: &local) { OpaquePointer($0) }
        #expect(ember_session_run(stray, EMBER_PRIORITY_NORMAL) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("not a live session"))
        #expect(ember_session_destroy(s) == EMBER_OK)
        #expect(ember_session_destroy(s) == EMBER_ERROR_INVALID_ARGUMENT) // twice
        #expect(ember_session_run(s, EMBER_PRIORITY_NORMAL) == EMBER_ERROR_INVALID_ARGUMENT)
        #expect(ember_package_close(p) == EMBER_OK && ember_package_close(p) == EMBER_ERROR_INVALID_ARGUMENT)
        #expect(ember_session_destroy(nil) == EMBER_OK && ember_package_close(nil) == EMBER_OK)
        #expect(ember_session_run(nil, EMBER_PRIORITY_NORMAL) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("NULL"))
    }

    @Test func theLastErrorBelongsToTheThreadThatFailed() throws {
        #expect(ember_session_run(nil, EMBER_PRIORITY_NORMAL) == EMBER_ERROR_INVALID_ARGUMENT)
        let mine = lastError
        final class Seen: @unchecked Sendable { var before = "unset", after = "" }
        let seen = Seen()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            seen.before = String(cString: ember_last_error())
            _ = ember_package_open(nil, nil, nil)
            seen.after = String(cString: ember_last_error())
            done.signal()
        }
        thread.start()
        done.wait()
        #expect(seen.before == "" && seen.after.contains("out is NULL") && !mine.isEmpty)
        #expect(lastError == mine)
    }

    @Test func runningAFixedVariantAllocatesNothing() throws {
        let p = try open()
        let s = try session(p)
        #expect(ember_session_run(s, EMBER_PRIORITY_NORMAL) == EMBER_OK) // warm-up
        ember_alloc_counter_start()
        var failures = 0
        for _ in 0..<50 where ember_session_run(s, EMBER_PRIORITY_NORMAL) != EMBER_OK { failures += 1 }
        let allocations = ember_alloc_counter_stop()
        #expect(allocations == 0 && failures == 0)
        _ = ember_session_destroy(s)
        _ = ember_package_close(p)
    }

    @Test func underAnEnvelopeTheSchedulerPicksTheVariantPerRun() throws {
        let envelope = Self.dir + "/envelope.toml"
        try "power_mw = 5000\ntemp_limit_c = 95\n[deadlines_ms]\ncritical = 1000\nnormal = 1000\nbest_effort = 1000\n"
            .write(toFile: envelope, atomically: true, encoding: .utf8)
        let p = try open()
        let s = try session(p) { $0.envelope_path = UnsafePointer(strdup(envelope)) }
        var data: UnsafeMutableRawPointer?
        var n = 0
        #expect(ember_session_input_buffer(s, 0, &data, &n) == EMBER_OK && n == 1024)
        x.withUnsafeBytes { data?.copyMemory(from: $0.baseAddress!, byteCount: n) }
        for _ in 0..<3 {
            #expect(ember_session_run(s, EMBER_PRIORITY_NORMAL) == EMBER_OK, "\(lastError)")
            var d = ember_decision()
            #expect(ember_session_last_decision(s, &d) == EMBER_OK)
            let variant = String(cString: d.variant)
            #expect(["big", "small"].contains(variant) && d.threads == 1 && d.predicted_latency_ms > 0)
            #expect(!String(cString: d.reason).isEmpty)
            var out: UnsafeRawPointer?
            #expect(ember_session_output_buffer(s, 0, &out, &n) == EMBER_OK && n == 16)
            #expect(floats(out, n) == (try expected(variant)), "\(variant)")
        }
        var t = ember_telemetry()
        #expect(ember_session_telemetry(s, &t) == EMBER_OK)
        #expect(t.runs == 3 && t.allowed_mw > 0 && t.energy_left_mj.isFinite)
        let swiftArenas = try ["big", "small"].map { try Session(package: try EmberPackage(path: Self.packagePath), variant: $0).arenaBytes }
        #expect(t.arena_bytes == UInt64(swiftArenas.reduce(0, +)))
        _ = ember_session_destroy(s)

        // A broken envelope names its file and key.
        try "power_mw = -3\ntemp_limit_c = 70\n".write(toFile: envelope, atomically: true, encoding: .utf8)
        var none: OpaquePointer?
        var options = ember_session_options()
        ember_session_options_init(&options)
        options.envelope_path = UnsafePointer(strdup(envelope))
        #expect(ember_session_create(p, &options, &none) == EMBER_ERROR_INVALID_CONFIGURATION)
        #expect(lastError.contains("power_mw") && lastError.contains("envelope.toml"), "\(lastError)")
        _ = ember_package_close(p)
    }

    @Test func boundedDimsAreReshapedThroughTheCAPI() throws {
        var rng = SplitMix64(seed: 5)
        let b = GraphBuilder(name: "bounded")
        let input = b.input("x", .f32, Shape([.symbolic(name: "N", upperBound: 4), .fixed(3)]))
        let w = b.constant("w", rng.floats(2 * 3, scale: 0.5), dims: [2, 3])
        b.output(try b.add(.fullyConnected(.none), [input, w], name: "fc"), name: "y")
        let path = Self.dir + "/bounded.ember"
        try PackageWriter.write(PackageContents(metadata: PackageMetadata(), variants: [VariantRecord(name: "fp32")],
                                                graphs: [try b.build()]), to: path)
        let p = try open(path)
        let s = try session(p)
        var info = ember_tensor_info()
        #expect(ember_session_input_info(s, 0, &info) == EMBER_OK && info.dims.0 == 4 && info.max_dims.0 == 4)
        var dims: [Int64] = [2, 3]
        var ranks = [2]
        #expect(ember_session_reshape(s, &dims, &ranks, 1) == EMBER_OK, "\(lastError)")
        #expect(ember_session_input_info(s, 0, &info) == EMBER_OK)
        #expect(info.dims.0 == 2 && info.max_dims.0 == 4 && info.byte_count == 24)
        let values: [Float] = [1, 2, 3, -1, 0.5, 4]
        var result = [Float](repeating: .nan, count: 4)
        let status = values.withUnsafeBytes { raw in
            result.withUnsafeMutableBytes { out in
                var ins: [UnsafeRawPointer?] = [raw.baseAddress]
                var outs: [UnsafeMutableRawPointer?] = [out.baseAddress]
                var inBytes = [24], outBytes = [16]
                return ember_session_run_with(s, EMBER_PRIORITY_NORMAL, &ins, &inBytes, 1, &outs, &outBytes, 1)
            }
        }
        #expect(status == EMBER_OK, "\(lastError)")
        let want = try Session(package: try EmberPackage(path: path)).run(["x": Tensor(values, dims: [2, 3])])["y"]?.floats
        #expect(result == want)
        dims = [5, 3]
        #expect(ember_session_reshape(s, &dims, &ranks, 1) != EMBER_OK && lastError.contains("N"), "\(lastError)")
        ranks = [3]
        #expect(ember_session_reshape(s, &dims, &ranks, 1) == EMBER_ERROR_INVALID_INPUT && lastError.contains("rank 3"))
        _ = ember_session_destroy(s)
        _ = ember_package_close(p)
    }

    @Test func withTrustedKeysOnlySignedUnchangedPackagesOpen() throws {
        let key = try SigningKey(seed: [UInt8](repeating: 9, count: 32))
        let keys = Self.dir + "/trusted"
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        try key.publicKey.fileText.write(toFile: keys + "/release.pub", atomically: true, encoding: .utf8)
        let plain = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.packagePath)))
        let signed = try PackageSignature.sign(plain, key: key)
        var tampered = signed
        tampered[tampered.count / 3] ^= 0x20
        resealChecksums(&tampered)
        let signedPath = Self.dir + "/signed.ember"
        try Data(signed).write(to: URL(fileURLWithPath: signedPath))

        var options = ember_package_options()
        ember_package_options_init(&options)
        options.trusted_keys_dir = UnsafePointer(strdup(keys))
        var package: OpaquePointer?
        #expect(ember_package_open(signedPath, &options, &package) == EMBER_OK, "\(lastError)")
        #expect(ember_package_close(package) == EMBER_OK)
        for (bytes, what) in [(plain, "not signed"), (tampered, "changed after signing")] {
            var refused: OpaquePointer?
            let status = bytes.withUnsafeBytes { ember_package_open_memory($0.baseAddress, $0.count, &options, &refused) }
            #expect(status == EMBER_ERROR_UNTRUSTED_PACKAGE && refused == nil && lastError.contains(what), "\(lastError)")
        }
        // require_signature = 0: the unsigned package opens, the tampered one still does not; 2 is no switch value.
        #expect(options.require_signature == 1, "ember_package_options_init requires signatures")
        options.require_signature = 0
        var lenient: OpaquePointer?
        #expect(plain.withUnsafeBytes { ember_package_open_memory($0.baseAddress, $0.count, &options, &lenient) } == EMBER_OK)
        _ = ember_package_close(lenient)
        #expect(tampered.withUnsafeBytes { ember_package_open_memory($0.baseAddress, $0.count, &options, &lenient) }
                == EMBER_ERROR_UNTRUSTED_PACKAGE)
        options.require_signature = 2
        #expect(ember_package_open(signedPath, &options, &package) == EMBER_ERROR_INVALID_ARGUMENT && lastError.contains("require_signature"))
        options.require_signature = 1
        // Without trusted keys the same tampered bytes open (the CRCs were recomputed): the check is the keys'.
        var unchecked: OpaquePointer?
        #expect(tampered.withUnsafeBytes { ember_package_open_memory($0.baseAddress, $0.count, nil, &unchecked) } == EMBER_OK)
        _ = ember_package_close(unchecked)
        options.trusted_keys_dir = UnsafePointer(strdup(Self.dir + "/no-such-dir"))
        #expect(ember_package_open(signedPath, &options, &package) == EMBER_ERROR_IO)
    }
}
