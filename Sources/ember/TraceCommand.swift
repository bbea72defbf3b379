import ArgumentParser
import Ember

struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Write a synthetic workload trace (time_ms,priority CSV) for `ember simulate`.",
        discussion: """
        camera: a steady stream of normal requests at --rate per second (frames, 10 % jitter) \
        and a critical request every --critical-every seconds.
        voice: a best-effort wake-word check every --idle-interval-ms, broken by voice commands \
        arriving --rate times per minute (Poisson), each --burst-length normal requests \
        --burst-spacing-ms apart; one burst in ten starts with a critical request.

        Examples:
          ember trace camera --rate 8 --seconds 600 -o targets/traces/camera-steady.csv
          ember trace voice --rate 4 --seconds 600 -o targets/traces/voice-bursty.csv
        """
    )

    enum Shape: String, ExpressibleByArgument, CaseIterable { case camera, voice }

    @Argument(help: "camera or voice.")
    var shape: Shape

    @Option(parsing: .unconditional, help: "camera: frames per second; voice: commands per minute.")
    var rate: Double = 8

    @Option(parsing: .unconditional, help: "Length of the trace, seconds.")
    var seconds: Double = 600

    @Option(help: "camera: seconds between critical requests.")
    var criticalEvery: Double = 10

    @Option(help: "voice: requests per command.")
    var burstLength: Int = 20

    @Option(help: "voice: milliseconds between the requests of a command.")
    var burstSpacingMs: Double = 40

    @Option(help: "voice: milliseconds between background wake-word checks.")
    var idleIntervalMs: Double = 1000

    @Option(help: "Random seed (the same seed gives the same trace).")
    var seed: UInt64 = 1

    @Option(name: .shortAndLong, help: "Output CSV.")
    var output: String

    func validate() throws {
        guard seconds > 0 && seconds <= 86_400 else { throw ValidationError("--seconds must be in (0, 86400]") }
        guard rate > 0 && rate <= 1000 else { throw ValidationError("--rate must be in (0, 1000]") }
        guard criticalEvery >= 0.001 && criticalEvery <= 86_400, burstLength > 0 && burstLength <= 10_000,
              burstSpacingMs >= 0.001 && burstSpacingMs <= 3_600_000, idleIntervalMs >= 1 && idleIntervalMs <= 86_400_000 else {
            throw ValidationError("--critical-every must be 0.001…86400 s, --burst-length 1…10000, --burst-spacing-ms 0.001…3600000 and --idle-interval-ms 1…86400000")
        }
        guard !output.isEmpty else { throw ValidationError("-o needs a path") }
    }

    func run() throws {
        let events: [TraceEvent]
        switch shape {
        case .camera:
            try Workload.checkSteady(seconds: seconds, framesPerSecond: rate, criticalEverySeconds: criticalEvery)
            events = Workload.steady(seconds: seconds, framesPerSecond: rate, criticalEverySeconds: criticalEvery, seed: seed)
        case .voice:
            try Workload.checkBursty(seconds: seconds, burstsPerMinute: rate, burstLength: burstLength, idleIntervalMs: idleIntervalMs)
            events = Workload.bursty(seconds: seconds, burstsPerMinute: rate, burstLength: burstLength, burstSpacingMs: burstSpacingMs,
                                     idleIntervalMs: idleIntervalMs, seed: seed)
        }
        try LoadLimits.check("the trace", needs: events.count, limit: Workload.maxRequests, unit: "requests", hint: " (use a lower rate or a shorter trace)")
        try writeFile(Array(Workload.csv(events).utf8), to: output)
        print("wrote \(events.count) requests over \(Int(seconds)) s to \(output)")
    }
}
