import EmberCore

/// Priority classes of requests.
public enum Priority: String, Sendable, CaseIterable {
    /// Always served, on the cheapest rung if need be.
    case critical
    case normal
    /// Shed first when the budget is spent.
    case bestEffort = "best_effort"
}

/// The caps a device must stay within (DESIGN.md, "Budget scheduler").
public struct Envelope: Sendable, Equatable {
    /// Average power cap over `powerWindowSeconds`.
    public var powerMilliwatts: Double
    public var powerWindowSeconds: Double = 10
    /// Energy allowed per hour (nil: no energy cap).
    public var energyMillijoulesPerHour: Double?
    public var tempLimitCelsius: Double
    /// Degrees below the limit at which a throttled device may step back up.
    public var tempHysteresisCelsius: Double = 2
    /// Memory the model may use (nil: the cgroup's limit, if any).
    public var memoryBytes: Int64?
    /// Deadline per priority class, milliseconds.
    public var deadlineMs: [Priority: Double] = [.critical: 50, .normal: 200, .bestEffort: 1000]

    public init(powerMilliwatts: Double, tempLimitCelsius: Double) {
        self.powerMilliwatts = powerMilliwatts
        self.tempLimitCelsius = tempLimitCelsius
    }

    /// Reads and parses the envelope file at `path` (a config file: at most 1 MiB, UTF-8).
    public static func load(path: String) throws -> Envelope {
        try parse(try readTextFile(path, .config("envelope")), file: path)
    }

    /// Parses an envelope file: a TOML subset (`key = number`, `[deadlines_ms]`,
    /// `#` comments). Every key is checked against its range; errors name the
    /// file, the key and what was expected.
    ///
    ///     power_mw = 2500
    ///     power_window_s = 10
    ///     energy_mj_per_hour = 7200000
    ///     temp_limit_c = 70
    ///     temp_hysteresis_c = 2
    ///     memory_bytes = 268435456
    ///     [deadlines_ms]
    ///     critical = 50
    ///     normal = 200
    ///     best_effort = 1000
    public static func parse(_ text: String, file: String) throws -> Envelope {
        let config = try ConfigFile(parsing: text, file: file, sections: ["deadlines_ms"])
        let deadlineRange: ClosedRange<Double> = 0.01...3_600_000
        try config.rejectUnknown(["power_mw", "power_window_s", "energy_mj_per_hour", "temp_limit_c", "temp_hysteresis_c",
                                  "memory_bytes", "deadlines_ms.critical", "deadlines_ms.normal", "deadlines_ms.best_effort"])
        var e = Envelope(powerMilliwatts: try config.number("power_mw", in: 1...1_000_000),
                         tempLimitCelsius: try config.number("temp_limit_c", in: 20...150))
        if let v = try config.number("power_window_s", in: 0.1...86_400, required: false) { e.powerWindowSeconds = v }
        e.energyMillijoulesPerHour = try config.number("energy_mj_per_hour", in: 1...1e12, required: false)
        if let v = try config.number("temp_hysteresis_c", in: 0...30, required: false) { e.tempHysteresisCelsius = v }
        e.memoryBytes = try config.number("memory_bytes", in: 1...1e15, required: false).map { Int64($0) }
        for p in Priority.allCases {
            if let v = try config.number("deadlines_ms.\(p.rawValue)", in: deadlineRange, required: false) { e.deadlineMs[p] = v }
        }
        guard (e.deadlineMs[.critical] ?? 0) <= (e.deadlineMs[.bestEffort] ?? .infinity) else {
            throw EmberError.invalidConfiguration(file: file, key: "deadlines_ms.critical", reason: "must not exceed deadlines_ms.best_effort")
        }
        return e
    }
}
