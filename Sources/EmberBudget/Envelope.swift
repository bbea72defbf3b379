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
        var values: [String: (Double, Int)] = [:]
        var section = ""
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)?.trimmed ?? ""
            if line.isEmpty { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw EmberError.invalidConfiguration(file: file, key: "line \(n + 1)", reason: "unterminated section header") }
                section = String(line.dropFirst().dropLast()).trimmed
                guard section == "deadlines_ms" else { throw EmberError.invalidConfiguration(file: file, key: "[\(section)]", reason: "unknown section (known: [deadlines_ms])") }
                continue
            }
            let parts = line.split(separator: "=", maxSplits: 1).map { String($0).trimmed }
            guard parts.count == 2, !parts[0].isEmpty else {
                throw EmberError.invalidConfiguration(file: file, key: "line \(n + 1)", reason: "expected `key = number`, got '\(line.prefix(60))'")
            }
            let key = section.isEmpty ? parts[0] : section + "." + parts[0]
            guard let v = Double(parts[1].replacingUnderscores), v.isFinite else {
                throw EmberError.invalidConfiguration(file: file, key: key, reason: "'\(parts[1].prefix(40))' is not a number")
            }
            guard values[key] == nil else { throw EmberError.invalidConfiguration(file: file, key: key, reason: "given twice") }
            values[key] = (v, n + 1)
        }
        let known: [String: ClosedRange<Double>] = [
            "power_mw": 1...1_000_000, "power_window_s": 0.1...86_400, "energy_mj_per_hour": 1...1e12,
            "temp_limit_c": 20...150, "temp_hysteresis_c": 0...30, "memory_bytes": 1...1e15,
            "deadlines_ms.critical": 0.01...3_600_000, "deadlines_ms.normal": 0.01...3_600_000,
            "deadlines_ms.best_effort": 0.01...3_600_000,
        ]
        for (key, (v, _)) in values {
            guard let range = known[key] else {
                throw EmberError.invalidConfiguration(file: file, key: key, reason: "unknown key (known: \(known.keys.sorted().joined(separator: ", ")))")
            }
            guard range.contains(v) else {
                throw EmberError.invalidConfiguration(file: file, key: key, reason: "\(v) is outside \(range.lowerBound)...\(range.upperBound)")
            }
        }
        guard let power = values["power_mw"]?.0 else { throw EmberError.invalidConfiguration(file: file, key: "power_mw", reason: "required") }
        guard let temp = values["temp_limit_c"]?.0 else { throw EmberError.invalidConfiguration(file: file, key: "temp_limit_c", reason: "required") }
        var e = Envelope(powerMilliwatts: power, tempLimitCelsius: temp)
        if let v = values["power_window_s"]?.0 { e.powerWindowSeconds = v }
        e.energyMillijoulesPerHour = values["energy_mj_per_hour"]?.0
        if let v = values["temp_hysteresis_c"]?.0 { e.tempHysteresisCelsius = v }
        e.memoryBytes = values["memory_bytes"].map { Int64($0.0) }
        for p in Priority.allCases { if let v = values["deadlines_ms.\(p.rawValue)"]?.0 { e.deadlineMs[p] = v } }
        guard (e.deadlineMs[.critical] ?? 0) <= (e.deadlineMs[.bestEffort] ?? .infinity) else {
            throw EmberError.invalidConfiguration(file: file, key: "deadlines_ms.critical", reason: "must not exceed deadlines_ms.best_effort")
        }
        return e
    }
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
    var replacingUnderscores: String { String(filter { $0 != "_" }) }
}
