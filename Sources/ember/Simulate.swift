import ArgumentParser
import Ember

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a workload trace on a simulated device: the real scheduler, a virtual clock, an RC thermal model.",
        discussion: """
        Drives the same BudgetScheduler that `ember run --envelope` uses, on a virtual clock, \
        against the device profile's power model and a lumped RC thermal model (C·dT/dt = P − \
        (T − ambient)/R). Each rung's cost comes from its MACs and bytes on the profile; the \
        simulated device is --cost-error slower than the profile predicts, so the scheduler must \
        learn the difference online, as on a real board.

        The same trace is also run under two baselines: always-best (best rung on every core; \
        the kernel throttles only at the profile's passive trip) and race-then-throttle (best \
        rung on every core; the kernel caps the clock at the envelope's limit).

        Writes to --out: timeline.csv (Ember, one row per second), timeline-always-best.csv, \
        timeline-race-then-throttle.csv, timeline.svg (temperature, power, rung, served and shed \
        over time) and summary.md (the table printed at the end).

        Example:
          ember simulate model.ember --target targets/rpi4.toml \\
            --envelope targets/envelopes/camera-node.toml --trace targets/traces/camera-steady.csv \\
            --ambient 35 --out sim-out
        """
    )

    @Argument(help: "The .ember package whose ladder the scheduler picks from.")
    var package: String

    @Option(help: "Device profile (TOML), e.g. targets/rpi4.toml.")
    var target: String

    @Option(help: "Power/thermal envelope (TOML).")
    var envelope: String

    @Option(help: "Workload trace: CSV with a `time_ms,priority` header.")
    var trace: String

    @Option(parsing: .unconditional, help: "Ambient temperature, °C.")
    var ambient: Double = 25

    @Option(help: "Where to write timeline.csv, timeline.svg and summary.md.")
    var out: String = "sim-out"

    @Option(help: "Minimum time between rung switches, ms.")
    var dwellMs: Double = 2000

    @Option(help: "How much slower (and hungrier) the simulated device is than its profile predicts.")
    var costError: Double = 1.15

    @Option(help: "What-if: multiply every rung's MACs and bytes by this (a bigger model with the same ladder shape).")
    var workScale: Double = 1

    @Option(help: ArgumentHelp("Most memory the package may use to be prepared (e.g. 512M, 2G).", valueName: "bytes"))
    var maxMemory: ByteSize?

    func validate() throws {
        guard ambient > -50 && ambient < 100 else { throw ValidationError("--ambient must be between -50 and 100 °C") }
        guard dwellMs >= 0 && dwellMs <= 3_600_000 else { throw ValidationError("--dwell-ms must be between 0 and 3600000") }
        guard costError >= 0.1 && costError <= 10 else { throw ValidationError("--cost-error must be between 0.1 and 10") }
        guard workScale > 0 && workScale <= 1e6 else { throw ValidationError("--work-scale must be in (0, 1000000]") }
    }

    func run() throws {
        let profile = try DeviceProfile.load(path: target)
        let env = try Envelope.load(path: envelope)
        let events = try Workload.parse(try readTextFile(trace, .trace), file: trace)
        let pkg = try EmberPackage(path: package, limits: loadLimits(maxMemory: maxMemory))
        let rungs = try simulatedRungs(pkg).map { r in
            var r = r
            // MACs come from the package: saturate rather than trap on a product past Int.
            func scale(_ x: Int) -> Int { Int(min((Double(x) * workScale).rounded(), 0x1p62)) }
            r.work = InferenceWork(macsF32: scale(r.work.macsF32), macsF16: scale(r.work.macsF16), macsI8: scale(r.work.macsI8), dramBytes: scale(r.work.dramBytes))
            return r
        }

        var config = SimulationConfig(profile: profile, envelope: env, rungs: rungs, ambientCelsius: ambient)
        config.dwellMs = dwellMs
        config.costErrorFactor = costError
        var results: [SimulationResult] = []
        for policy in SimulationPolicy.allCases {
            config.policy = policy
            note("simulating \(policy.rawValue): \(events.count) requests over \(fmt3((events.last?.timeMs ?? 0) / 1000)) s…")
            results.append(try Simulator(config).run(events))
        }
        try makeDirectories(out)
        for r in results {
            let name = r.policy == .ember ? "timeline.csv" : "timeline-\(r.policy.rawValue).csv"
            try writeFile(Array(TimelineReport.csv(r).utf8), to: out + "/" + name)
        }
        let title = "\(pkg.metadata["name"] ?? package)\(workScale != 1 ? " ×\(fmtDb(workScale)) work" : "") on \(profile.name), \(fmtC(ambient)) ambient, \(trace.split(separator: "/").last ?? "")"
        try writeFile(Array(TimelineReport.svg(results, rungNames: rungs.map(\.name), envelope: env, title: title).utf8), to: out + "/timeline.svg")
        var summary = "# \(title)\n\n" + TimelineReport.table(results, envelope: env)
        let ember = results[0]
        for b in results.dropFirst() where b.onTimeWithinLimit > 0 {
            let gain = Double(ember.onTimeWithinLimit) / Double(b.onTimeWithinLimit) - 1
            summary += "\nEmber serves \(fmtPercent(gain)) \(gain >= 0 ? "more" : "fewer") requests on time within the limit than \(b.policy.rawValue)."
        }
        summary += "\nRungs served by Ember: " + zip(rungs, ember.servedPerRung).map { "\($0.0.name) \($0.1)" }.joined(separator: ", ")
            + "; \(ember.switches.count) level switches, shortest dwell \(ember.minimumDwellMs.isFinite ? "\(formatDecimal(ember.minimumDwellMs, places: 0)) ms" : "—").\n"
        try writeFile(Array(summary.utf8), to: out + "/summary.md")
        print(summary, terminator: "")
        print("wrote \(out)/timeline.csv, \(out)/timeline.svg, \(out)/summary.md")
    }
}

/// Each variant as the simulator sees it: MACs by type and bytes from the
/// validated graph, memory = weights + arena. Quality: the stored measure when
/// every rung has one, else the ladder's order (best first).
func simulatedRungs(_ pkg: EmberPackage) throws -> [SimulatedRung] {
    let measured = pkg.variants.allSatisfy { !$0.quality.isNaN }
    return try pkg.variants.enumerated().map { i, v in
        let executor = try Session(package: pkg, variant: v.name).executor
        return SimulatedRung(name: v.name, quality: measured ? Double(v.quality) : Double(pkg.variants.count - i),
                             work: InferenceWork(executor.validated),
                             memoryBytes: Int64(executor.arenaBytes) + Int64(pkg.contents.graphs[i].weightBytes))
    }
}

func fmtC(_ c: Double) -> String { "\(formatDecimal(c, places: 0)) °C" }

func fmtPercent(_ x: Double) -> String { "\(formatDecimal(abs(x) * 100, places: 0))%" }
