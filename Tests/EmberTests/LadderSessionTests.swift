import Testing
import Ember

/// Two rungs with very different cost: "big" (four 256×256 layers) and "small" (one 256×4).
func twoRungPackage() throws -> EmberPackage {
    var rng = SplitMix64(seed: 9)
    func graph(layers: Int, width: Int) throws -> Graph {
        let b = GraphBuilder(name: "rung\(layers)")
        var x = b.input("x", .f32, [1, 256])
        for l in 0..<layers {
            let w = b.constant("w\(l)", rng.floats(width * 256, scale: 0.05), dims: [width, 256])
            x = try b.add(.fullyConnected(.relu), [x, w, nil], name: "fc\(l)")
            if width != 256 { break }
        }
        let head = b.constant("head", rng.floats(4 * (width == 256 ? 256 : width), scale: 0.1), dims: [4, width == 256 ? 256 : width])
        b.output(try b.add(.fullyConnected(.none), [x, head, nil], name: "y_fc"), name: "y")
        return try b.build()
    }
    return EmberPackage(contents: PackageContents(metadata: PackageMetadata(), variants: [VariantRecord(name: "big"), VariantRecord(name: "small")],
                                                  graphs: [try graph(layers: 4, width: 256), try graph(layers: 1, width: 4)]))
}

func sysfsFixture(_ name: String) -> SysfsRoot {
    var parts = #filePath.split(separator: "/").map(String.init)
    parts.removeLast(2)
    return SysfsRoot("/" + parts.joined(separator: "/") + "/Fixtures/sysfs/" + name)
}

@Suite struct LadderSessionTests {
    let feeds = ["x": Tensor([Float](repeating: 0.5, count: 256), dims: [1, 256])]

    @Test func aLadderWhoseRungsTakeDifferentInputsIsRefusedAtPrepare() throws {
        func graph(_ input: String) throws -> Graph {
            let b = GraphBuilder(name: input)
            let x = b.input(input, .f32, [1, 4])
            b.output(try b.add(.relu, [x], name: "relu"), name: "y")
            return try b.build()
        }
        let package = EmberPackage(contents: PackageContents(metadata: PackageMetadata(),
                                                             variants: [VariantRecord(name: "a"), VariantRecord(name: "b")],
                                                             graphs: [try graph("x"), try graph("image")]))
        let env = Envelope(powerMilliwatts: 5000, tempLimitCelsius: 80)
        do {
            _ = try LadderSession(package: package, envelope: env, telemetry: nil)
            Issue.record("a ladder with two signatures was prepared")
        } catch let EmberError.unsupported(node, reason) {
            #expect(node == "variant 'b'" && reason.contains("image: f32") && reason.contains("one signature"), "\(reason)")
        }
    }

    @Test func coolDeviceGetsTheBestRungAndADecision() throws {
        var env = Envelope(powerMilliwatts: 5000, tempLimitCelsius: 80)
        env.deadlineMs = [.critical: 1000, .normal: 1000, .bestEffort: 1000]
        let ladder = try LadderSession(package: try twoRungPackage(), envelope: env, telemetry: Telemetry(root: sysfsFixture("rpi4")))
        let (out, d) = try ladder.run(feeds, priority: .normal)
        #expect(d.rungName == "big" && !d.throttled)
        #expect(out["y"]?.dims == [1, 4])
        #expect(d.reason.hasPrefix("best rung"))
    }

    @Test func hotDeviceIsThrottledToTheCheapestRung() throws {
        // The fake Raspberry Pi 5 reads 61.25 °C; the limit is 60 °C.
        var env = Envelope(powerMilliwatts: 5000, tempLimitCelsius: 60)
        env.deadlineMs = [.critical: 1000, .normal: 1000, .bestEffort: 1000]
        let ladder = try LadderSession(package: try twoRungPackage(), envelope: env, telemetry: Telemetry(root: sysfsFixture("rpi5")))
        let (_, d) = try ladder.run(feeds, priority: .normal)
        #expect(d.throttled && d.rungName == "small")
    }

    @Test func spentEnergyShedsBestEffortButNotCritical() throws {
        var env = Envelope(powerMilliwatts: 1, tempLimitCelsius: 80) // 1 mW over 1 ms: 1 µJ, nothing fits
        env.powerWindowSeconds = 0.001
        env.deadlineMs = [.critical: 1000, .normal: 1000, .bestEffort: 1000]
        let ladder = try LadderSession(package: try twoRungPackage(), envelope: env, telemetry: nil, activeMilliwatts: 5000)
        #expect(throws: EmberError.self) { try ladder.run(feeds, priority: .bestEffort) }
        let (_, d) = try ladder.run(feeds, priority: .critical)
        #expect(d.rungName == "small" && d.reason.contains("critical"))
    }

    /// A board that does 10 M f32 MACs per second per core: the big rung (263k MACs) takes ~26 ms on
    /// one thread and ~15 ms on two (efficiency 0.9), so a 20 ms deadline needs both threads.
    static let slowBoard = """
        name = "slow"
        description = "test board: 2 slow cores"
        cores = 2
        isa = ["avx2"]
        memory_bytes = 4294967296
        memory_bandwidth_gbps = 4
        [compute]
        gmacs_per_core_f32 = 0.01
        gmacs_per_core_i8 = 0.02
        parallel_efficiency = 0.9
        [power]
        idle_mw = 100
        core_active_mw = 100
        energy_pj_per_mac_f32 = 1
        energy_pj_per_mac_i8 = 1
        energy_pj_per_dram_byte = 1
        [thermal]
        resistance_c_per_w = 1
        time_constant_s = 60
        trip_passive_c = 80
        trip_critical_c = 85
        throttle_frequency_fraction = 0.6
        """

    @Test func theSchedulersThreadCountIsWhatTheRungRunsOn() throws {
        let profile = try DeviceProfile.parse(Self.slowBoard, file: "slow.toml")
        var results: [Int: [UInt8]] = [:]
        for (deadline, threads) in [(100.0, 1), (20.0, 2)] {
            var env = Envelope(powerMilliwatts: 100_000, tempLimitCelsius: 80)
            env.deadlineMs = [.critical: deadline, .normal: deadline, .bestEffort: deadline]
            let ladder = try LadderSession(package: try twoRungPackage(), envelope: env, profile: profile, telemetry: nil,
                                           maxThreads: 2)
            #expect(ladder.sessions.allSatisfy { $0.executor.threads == 2 })
            let (out, d) = try ladder.run(feeds, priority: .normal)
            #expect(d.rungName == "big" && d.threads == threads, "deadline \(deadline) ms: \(d.reason)")
            results[threads] = out["y"]?.bytes
        }
        #expect(results[1] != nil && results[1] == results[2], "the thread count does not change the result")
    }
}
