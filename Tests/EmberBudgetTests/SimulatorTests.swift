import Testing
#if canImport(Glibc)
import Glibc
#endif
import EmberCore
@testable import EmberBudget

/// A Raspberry-Pi-4-like board (figures of targets/rpi4.toml's order), written
/// here so the tests do not move when the shipped profile is re-measured.
let boardProfileText = """
    name = "board"
    description = "test board: 4 cores, bare, still air"
    cores = 4
    isa = ["neon"]
    memory_bytes = 4294967296
    memory_bandwidth_gbps = 4
    [compute]
    gmacs_per_core_f32 = 2
    gmacs_per_core_i8 = 4
    parallel_efficiency = 0.9
    [power]
    idle_mw = 2700
    core_active_mw = 700
    energy_pj_per_mac_f32 = 20
    energy_pj_per_mac_i8 = 6
    energy_pj_per_dram_byte = 100
    [thermal]
    resistance_c_per_w = 7
    time_constant_s = 60
    trip_passive_c = 80
    trip_critical_c = 85
    throttle_frequency_fraction = 0.6
    """

func boardProfile() throws -> DeviceProfile { try DeviceProfile.parse(boardProfileText, file: "board") }

/// A detector ladder: fp32, int8 of the same network, and a distilled int8 quarter-size model.
let detectorLadder = [
    SimulatedRung(name: "fp32", quality: 100, work: InferenceWork(macsF32: 600_000_000, dramBytes: 12_000_000), memoryBytes: 30_000_000),
    SimulatedRung(name: "int8", quality: 98, work: InferenceWork(macsI8: 600_000_000, dramBytes: 4_000_000), memoryBytes: 10_000_000),
    SimulatedRung(name: "int8-small", quality: 90, work: InferenceWork(macsI8: 150_000_000, dramBytes: 1_500_000), memoryBytes: 4_000_000),
]

func cameraEnvelope() -> Envelope {
    var e = Envelope(powerMilliwatts: 5000, tempLimitCelsius: 70)
    e.powerWindowSeconds = 10
    e.energyMillijoulesPerHour = 16_000_000 // 4.4 W average over the hour
    e.deadlineMs = [.critical: 250, .normal: 300, .bestEffort: 2000]
    return e
}

@Suite struct SimulatorTests {
    func simulate(_ policy: SimulationPolicy, ambient: Double, trace: [TraceEvent], envelope: Envelope = cameraEnvelope()) throws -> SimulationResult {
        var c = SimulationConfig(profile: try boardProfile(), envelope: envelope, rungs: detectorLadder, ambientCelsius: ambient)
        c.policy = policy
        return try Simulator(c).run(trace)
    }

    /// Seeds for the property tests: 8 by default, 60 with EMBER_EXTENDED=1.
    static let seeds: [UInt64] = Array(1...(extendedTests ? 60 : 8))

    @Test(arguments: seeds)
    func emberKeepsTheEnvelopeOnRandomWorkloads(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed &* 7919)
        var env = cameraEnvelope()
        env.powerMilliwatts = 4000 + rng.uniform() * 5000
        let ambient = 10 + rng.uniform() * 30
        let trace = Workload.random(seconds: 600, seed: seed)
        let r = try simulate(.ember, ambient: ambient, trace: trace, envelope: env)
        let context = "seed \(seed), ambient \(fmt(ambient)) °C, cap \(fmt(env.powerMilliwatts)) mW"
        #expect(r.arrived == trace.count)
        #expect(r.maxCelsiusAfterFirstPeriod <= env.tempLimitCelsius + 1, "\(context): \(r.maxCelsiusAfterFirstPeriod) °C")
        #expect(r.maxWindowMilliwatts <= env.powerMilliwatts * 1.05, "\(context): \(r.maxWindowMilliwatts) mW")
        #expect(r.minimumDwellMs >= 2000, "\(context): switched after \(r.minimumDwellMs) ms")
        #expect(r.criticalShed == 0, "\(context)")
        #expect(r.criticalArrived > 0)
        // Never worse than either baseline at the same limit on the same trace.
        for baseline in [SimulationPolicy.alwaysBest, .raceThenThrottle] {
            let b = try simulate(baseline, ambient: ambient, trace: trace, envelope: env)
            #expect(r.onTimeWithinLimit >= b.onTimeWithinLimit * 95 / 100, "\(context): \(r.onTimeWithinLimit) vs \(baseline.rawValue) \(b.onTimeWithinLimit)")
        }
    }

    @Test func hotAmbientIsHeldAtTheLimitNotAboveIt() throws {
        // 45 °C ambient, a 12 W cap the board cannot sustain: heat, not the cap, binds.
        var env = cameraEnvelope()
        env.powerMilliwatts = 12000
        let trace = Workload.steady(seconds: 900, framesPerSecond: 8, criticalEverySeconds: 10, seed: 3)
        let r = try simulate(.ember, ambient: 45, trace: trace, envelope: env)
        #expect(r.maxCelsius > env.tempLimitCelsius - 3) // it did get hot…
        #expect(r.maxCelsiusAfterFirstPeriod <= env.tempLimitCelsius + 1) // …and was held
        #expect(r.criticalShed == 0)
        let race = try simulate(.raceThenThrottle, ambient: 45, trace: trace, envelope: env)
        #expect(r.onTimeWithinLimit >= race.onTimeWithinLimit)
    }

    @Test func bestRungWhenCoolAndIdle() throws {
        let trace = Workload.steady(seconds: 120, framesPerSecond: 1, criticalEverySeconds: 30, seed: 5)
        let r = try simulate(.ember, ambient: 20, trace: trace)
        // The level never leaves the best rung; a request that collides with a
        // critical one may be served once on a faster rung.
        #expect(r.switches.isEmpty, "\(r.switches)")
        #expect(r.servedPerRung[0] * 100 >= r.arrived * 98 && r.onTime * 100 >= r.arrived * 98, "\(r.servedPerRung) \(r.onTime)/\(r.arrived)")
    }

    @Test func hourlyEnergyCapHoldsOverAnHour() throws {
        var env = cameraEnvelope()
        let profile = try boardProfile()
        env.energyMillijoulesPerHour = (profile.idleMilliwatts + 100) * 3600 // 100 mW for inference on average
        let trace = Workload.steady(seconds: 4000, framesPerSecond: 6, criticalEverySeconds: 60, seed: 11)
        let r = try simulate(.ember, ambient: 25, trace: trace, envelope: env)
        #expect(r.durationS > 3600)
        #expect(r.maxHourMillijoules <= env.energyMillijoulesPerHour! * 1.01, "\(r.maxHourMillijoules) mJ in an hour")
        #expect(r.shed > 0, "\(r.servedPerRung) \(r.maxHourMillijoules)") // the cap did bind
    }

    @Test func timelineHasOneSamplePerSecond() throws {
        let trace = Workload.bursty(seconds: 60, burstsPerMinute: 6, burstLength: 10, burstSpacingMs: 50, idleIntervalMs: 1000, seed: 2)
        let r = try simulate(.ember, ambient: 25, trace: trace)
        #expect(r.samples.count >= 60 && r.samples.count <= 63)
        #expect(r.samples.map(\.arrived).reduce(0, +) == r.arrived)
        #expect(r.samples.allSatisfy { $0.milliwatts >= 2700 - 1e-6 }) // never below idle
        let csv = TimelineReport.csv(r)
        #expect(csv.hasPrefix("time_s,celsius,milliwatts,allowed_mw,rung,arrived,on_time,late,shed,frequency\n"))
        #expect(csv.split(separator: "\n").count == r.samples.count + 1)
    }
}

let extendedTests: Bool = {
    guard let v = getenv("EMBER_EXTENDED") else { return false }
    return String(cString: v) == "1"
}()

@Suite struct DeviceProfileTests {
    static let targets: String = {
        var parts = #filePath.split(separator: "/").map(String.init)
        parts.removeLast(3)
        return "/" + parts.joined(separator: "/") + "/targets"
    }()

    @Test(arguments: ["rpi4", "rpi5", "jetson-orin-nano", "x86-appliance", "host"])
    func shippedProfilesParse(name: String) throws {
        let path = Self.targets + "/\(name).toml"
        guard let f = fopen(path, "r") else { Issue.record("missing \(path)"); return }
        var text = ""
        var buf = [CChar](repeating: 0, count: 4096)
        while fgets(&buf, 4096, f) != nil { text += String(cString: buf) }
        fclose(f)
        let p = try DeviceProfile.parse(text, file: path)
        #expect(p.name == name && p.cores >= 1 && p.tripCriticalCelsius > p.tripPassiveCelsius)
        // int8 is never slower than fp32 per MAC on these parts.
        #expect(p.gmacsPerCoreI8 >= p.gmacsPerCoreF32)
        let e = p.estimate(InferenceWork(macsF32: 10_000_000, dramBytes: 1_000_000), threads: 1)
        let e4 = p.estimate(InferenceWork(macsF32: 10_000_000, dramBytes: 1_000_000), threads: p.cores)
        #expect(e4.latencyMs <= e.latencyMs && e4.energyMillijoules >= e.energyMillijoules * 0.999)
    }

    @Test func badProfilesNameFileKeyAndRange() {
        func error(_ edit: (String) -> String) -> String {
            do { _ = try DeviceProfile.parse(edit(boardProfileText), file: "board.toml"); return "ok" } catch { return "\(error)" }
        }
        #expect(error { $0 } == "ok")
        #expect(error { $0.replacingFirst("cores = 4", with: "cores = 0") }.contains("'board.toml': cores: 0.0 is outside 1.0...256.0"))
        #expect(error { $0.replacingFirst("trip_critical_c = 85", with: "trip_critical_c = 70") }.contains("thermal.trip_critical_c"))
        #expect(error { $0.replacingFirst("isa = [\"neon\"]", with: "isa = [\"mmx\"]") }.contains("isa: 'mmx' is not one of"))
        #expect(error { $0.replacingFirst("idle_mw = 2700", with: "idle_mw = \"lots\"") }.contains("power.idle_mw: must be a number"))
        #expect(error { $0.replacingFirst("[thermal]", with: "[fans]") }.contains("[fans]: unknown section"))
        #expect(error { $0.replacingFirst("name = \"board\"", with: "name = \"other\"") }.contains("must equal the file name"))
    }
}

extension String {
    func replacingFirst(_ a: String, with b: String) -> String {
        // No Foundation in this test target: split once on the first match.
        let parts = split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let i = parts.firstIndex(where: { $0.hasPrefix(a) }) else { return self }
        var out = parts
        out[i] = b + String(parts[i].dropFirst(a.count))
        return out.joined(separator: "\n")
    }
}
