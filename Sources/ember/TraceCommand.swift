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

    @Option(help: "camera: frames per second; voice: commands per minute.")
    var rate: Double = 8

    @Option(help: "Length of the trace.")
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
        guard criticalEvery > 0, burstLength > 0 && burstLength <= 10_000, burstSpacingMs > 0, idleIntervalMs > 0 else {
            throw ValidationError("--critical-every, --burst-length, --burst-spacing-ms and --idle-interval-ms must be positive")
        }
    }

    func run() throws {
        let events: [TraceEvent]
        switch shape {
        case .camera:
            events = Workload.steady(seconds: seconds, framesPerSecond: rate, criticalEverySeconds: criticalEvery, seed: seed)
        case .voice:
            events = Workload.bursty(seconds: seconds, burstsPerMinute: rate, burstLength: burstLength, burstSpacingMs: burstSpacingMs,
                                     idleIntervalMs: idleIntervalMs, seed: seed)
        }
        try writeFile(Array(Workload.csv(events).utf8), to: output)
        print("wrote \(events.count) requests over \(Int(seconds)) s to \(output)")
    }
}
