import EmberCore
#if canImport(Glibc)
import Glibc
#endif

/// One request in a workload trace.
public struct TraceEvent: Sendable, Equatable {
    public var timeMs: Double
    public var priority: Priority
    public init(timeMs: Double, priority: Priority) { self.timeMs = timeMs; self.priority = priority }
}

/// Workload traces: `time_ms,priority` CSV files (targets/traces/) and seeded
/// random workloads for property tests.
public enum Workload {
    /// Most requests a trace may hold (parsed or generated), and the latest
    /// time one may arrive: the simulator's work is bounded by both.
    public static let maxRequests = 10_000_000
    public static let maxDurationMs: Double = 7 * 86_400_000

    /// Parses a trace: a `time_ms,priority` header, then one request per line,
    /// times non-decreasing and at most `maxDurationMs`, at most `maxRequests`
    /// of them; `#` comments and blank lines are skipped; CRLF line ends are
    /// fine. Errors name the file and line.
    public static func parse(_ text: String, file: String) throws -> [TraceEvent] {
        var events: [TraceEvent] = []
        var sawHeader = false
        for (n, raw) in textLines(try normalizedText(text, name: file)).enumerated() {
            let line = String(raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").trimmed
            if line.isEmpty { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmed }
            let at = "line \(n + 1)"
            if !sawHeader {
                guard fields == ["time_ms", "priority"] else {
                    throw EmberError.invalidConfiguration(file: file, key: at, reason: "expected the header `time_ms,priority`, got '\(line.prefix(60))'")
                }
                sawHeader = true
                continue
            }
            guard fields.count == 2 else { throw EmberError.invalidConfiguration(file: file, key: at, reason: "expected `time_ms,priority`, got '\(line.prefix(60))'") }
            guard let t = Double(fields[0]), t.isFinite, t >= 0, t <= maxDurationMs else {
                throw EmberError.invalidConfiguration(file: file, key: at,
                    reason: "time '\(fields[0].prefix(30))' is not a number of milliseconds in 0…\(fmt3(maxDurationMs)) (7 days)")
            }
            guard events.count < maxRequests else {
                throw EmberError.limitExceeded(what: "trace '\(file)'", needs: events.count + 1, limit: maxRequests, unit: "requests",
                                               hint: " (split it into shorter traces)")
            }
            guard let p = Priority(rawValue: fields[1]) else {
                throw EmberError.invalidConfiguration(file: file, key: at, reason: "priority '\(fields[1].prefix(30))' is not critical, normal or best_effort")
            }
            if let last = events.last, t < last.timeMs {
                throw EmberError.invalidConfiguration(file: file, key: at, reason: "time \(t) ms goes backwards (previous \(last.timeMs) ms)")
            }
            events.append(TraceEvent(timeMs: t, priority: p))
        }
        guard sawHeader else { throw EmberError.invalidConfiguration(file: file, key: "line 1", reason: "empty trace: expected the header `time_ms,priority`") }
        guard !events.isEmpty else { throw EmberError.invalidConfiguration(file: file, key: "line 2", reason: "the trace has no requests") }
        return events
    }

    public static func csv(_ events: [TraceEvent]) -> String {
        var s = "time_ms,priority\n"
        for e in events { s += "\(fmt3(e.timeMs)),\(e.priority.rawValue)\n" }
        return s
    }

    /// How many requests `steady` would make, checked against `maxRequests` before making them.
    public static func checkSteady(seconds: Double, framesPerSecond: Double, criticalEverySeconds: Double) throws {
        let n = seconds * framesPerSecond + seconds / criticalEverySeconds
        try checkCount(n, "lower --rate or --seconds, or raise --critical-every")
    }

    /// How many requests `bursty` makes on average, checked against `maxRequests`
    /// (the generator itself stops one past the limit, for an unlucky draw).
    public static func checkBursty(seconds: Double, burstsPerMinute: Double, burstLength: Int, idleIntervalMs: Double) throws {
        let n = seconds * 1000 / idleIntervalMs + seconds / 60 * burstsPerMinute * Double(burstLength)
        try checkCount(n, "raise --idle-interval-ms or lower --rate, --burst-length or --seconds")
    }

    static func checkCount(_ n: Double, _ advice: String) throws {
        guard n.isFinite, n <= Double(maxRequests) else {
            throw EmberError.limitExceeded(what: "the trace", needs: n.isFinite && n < 0x1p62 ? Int(n) : Int.max, limit: maxRequests,
                                           unit: "requests", hint: " (\(advice))")
        }
    }

    /// A steady stream (camera frames) at `framesPerSecond` with jitter, as normal requests,
    /// plus a critical request every `criticalEverySeconds`.
    public static func steady(seconds: Double, framesPerSecond: Double, criticalEverySeconds: Double, seed: UInt64) -> [TraceEvent] {
        var rng = SeededGenerator(seed: seed)
        var events: [TraceEvent] = []
        let period = 1000 / framesPerSecond
        var t = 0.0
        while t < seconds * 1000, events.count <= maxRequests {
            events.append(TraceEvent(timeMs: t + rng.uniform() * period * 0.1, priority: .normal))
            t += period
        }
        var c = criticalEverySeconds * 1000 * 0.5
        while c < seconds * 1000, events.count <= maxRequests {
            events.append(TraceEvent(timeMs: c, priority: .critical)); c += criticalEverySeconds * 1000
        }
        return events.sorted { $0.timeMs < $1.timeMs }
    }

    /// Voice commands: quiet background (a best-effort wake-word check every
    /// `idleIntervalMs`) broken by bursts — a command of `burstLength` normal
    /// requests `burstSpacingMs` apart — arriving as a Poisson process of
    /// `burstsPerMinute`; a tenth of the bursts start with a critical request.
    public static func bursty(seconds: Double, burstsPerMinute: Double, burstLength: Int, burstSpacingMs: Double,
                              idleIntervalMs: Double, seed: UInt64) -> [TraceEvent] {
        var rng = SeededGenerator(seed: seed)
        var events: [TraceEvent] = []
        var t = 0.0
        while t < seconds * 1000, events.count <= maxRequests {
            events.append(TraceEvent(timeMs: t, priority: .bestEffort)); t += idleIntervalMs
        }
        var b = rng.exponential(mean: 60_000 / burstsPerMinute)
        while b < seconds * 1000, events.count <= maxRequests {
            if rng.uniform() < 0.1 { events.append(TraceEvent(timeMs: b, priority: .critical)) }
            for k in 0..<burstLength { events.append(TraceEvent(timeMs: b + Double(k) * burstSpacingMs, priority: .normal)) }
            b += Double(burstLength) * burstSpacingMs + rng.exponential(mean: 60_000 / burstsPerMinute)
        }
        return events.filter { $0.timeMs < seconds * 1000 }.sorted { $0.timeMs < $1.timeMs }
    }

    /// A random mix of the two shapes for property tests: a steady stream of
    /// 1–30 requests/s, bursts, and sparse critical requests.
    public static func random(seconds: Double, seed: UInt64) -> [TraceEvent] {
        var rng = SeededGenerator(seed: seed)
        let steadyRate = 1 + rng.uniform() * 29
        let steadyEvents = steady(seconds: seconds, framesPerSecond: steadyRate, criticalEverySeconds: 5 + rng.uniform() * 25, seed: rng.next())
        let burstEvents = bursty(seconds: seconds, burstsPerMinute: 1 + rng.uniform() * 10, burstLength: 5 + Int(rng.uniform() * 40),
                                 burstSpacingMs: 20 + rng.uniform() * 80, idleIntervalMs: 500 + rng.uniform() * 2000, seed: rng.next())
        return (steadyEvents + burstEvents).sorted { $0.timeMs < $1.timeMs }
    }
}

/// SplitMix64: small, seedable, the same sequence on every platform.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    public mutating func exponential(mean: Double) -> Double { -mean * log1p(-uniform()) }
}

/// Three decimals, no Foundation.
public func fmt3(_ x: Double) -> String { formatDecimal(x, places: 3) }
