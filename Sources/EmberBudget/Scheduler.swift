import EmberCore

/// What one inference on a rung costs, predicted (from the package's VARIANTS
/// section or the device profile) and corrected online by measurements.
public struct RungCost: Sendable, Equatable {
    public var name: String
    /// Higher is better (e.g. SQNR dB or accuracy); only the order matters.
    public var quality: Double
    public var latencyMs: Double
    public var energyMillijoules: Double
    public init(name: String, quality: Double, latencyMs: Double, energyMillijoules: Double) {
        self.name = name; self.quality = quality; self.latencyMs = latencyMs; self.energyMillijoules = energyMillijoules
    }
    /// Power drawn while this rung runs.
    public var milliwatts: Double { latencyMs > 0 ? energyMillijoules / latencyMs * 1000 : .infinity }
}

/// Why the scheduler served a request the way it did; every result carries one.
public struct Decision: Sendable, Equatable {
    public var rung: Int
    public var rungName: String
    public var threads: Int
    public var predictedLatencyMs: Double
    public var predictedEnergyMillijoules: Double
    public var allowedMilliwatts: Double
    public var bucketMillijoules: Double
    public var throttled: Bool
    /// In words, for logs and `ember run --envelope`.
    public var reason: String
}

/// Picks, per request, the best rung that fits the envelope now (DESIGN.md):
/// the thermal PI controller and the energy bucket give the power and energy
/// allowed; the best-quality rung within them and within the deadline wins; a
/// minimum dwell time stops flapping — it holds the current rung while that rung
/// still fits, but a rung that no longer fits is left at once (safety over
/// stability); critical requests are always served.
///
/// Not yet: threads and request rate as decisions, memory headroom ruling rungs
/// out, the energy-per-hour cap, Session integration and the simulator.
public final class BudgetScheduler {
    public let envelope: Envelope
    public private(set) var rungs: [RungCost]
    public let clock: BudgetClock
    public let dwellMs: Double
    /// Weight of a new measurement in the running correction of a rung's cost.
    public let learningRate: Double

    public private(set) var controller: ThermalController
    public private(set) var bucket: EnergyBucket
    public private(set) var current: Int
    public private(set) var throttled = false
    private var lastSwitchNs: UInt64
    private var lastTickNs: UInt64
    private var allowedMw: Double

    public init(envelope: Envelope, rungs: [RungCost], clock: BudgetClock, controller: ThermalController,
                dwellMs: Double = 2000, learningRate: Double = 0.2) throws {
        guard !rungs.isEmpty else { throw EmberError.invalidArgument("the scheduler needs at least one rung") }
        self.envelope = envelope
        self.rungs = rungs
        self.clock = clock
        self.controller = controller
        self.dwellMs = dwellMs
        self.learningRate = learningRate
        let now = clock.nanoseconds
        bucket = EnergyBucket(powerMilliwatts: envelope.powerMilliwatts, windowSeconds: envelope.powerWindowSeconds, nowNanoseconds: now)
        current = rungs.indices.max { rungs[$0].quality < rungs[$1].quality } ?? 0
        lastSwitchNs = now
        lastTickNs = now
        allowedMw = envelope.powerMilliwatts
    }

    /// One controller period: feed the hottest temperature (nil when no sensor:
    /// the thermal term then leaves the power cap alone).
    public func tick(celsius: Double?) {
        let now = clock.nanoseconds
        let dt = Double(now &- lastTickNs) / 1e9
        lastTickNs = now
        bucket.refill(nowNanoseconds: now)
        guard let c = celsius else { allowedMw = envelope.powerMilliwatts; return }
        if c >= envelope.tempLimitCelsius { throttled = true }
        if c <= envelope.tempLimitCelsius - envelope.tempHysteresisCelsius { throttled = false }
        allowedMw = min(envelope.powerMilliwatts, controller.allowedMilliwatts(celsius: c, limitCelsius: envelope.tempLimitCelsius, dtSeconds: dt))
    }

    /// Decides rung and admission for one request. Throws `overBudget` for
    /// normal and best-effort requests that do not fit; never for critical ones.
    public func decide(priority: Priority) throws -> Decision {
        let now = clock.nanoseconds
        bucket.refill(nowNanoseconds: now)
        let deadline = envelope.deadlineMs[priority] ?? .infinity
        let reserve = priority == .bestEffort ? bucket.capacityMillijoules * 0.2 : 0
        let cheapest = rungs.indices.min { rungs[$0].energyMillijoules < rungs[$1].energyMillijoules } ?? 0
        func fits(_ i: Int) -> Bool {
            let r = rungs[i]
            return r.latencyMs <= deadline && r.milliwatts <= allowedMw && r.energyMillijoules + reserve <= bucket.tokensMillijoules
        }
        var choice: Int?
        var why: String
        if throttled {
            choice = fits(cheapest) ? cheapest : nil
            why = "at or above \(envelope.tempLimitCelsius) °C: cheapest rung until \(envelope.tempLimitCelsius - envelope.tempHysteresisCelsius) °C"
        } else {
            choice = rungs.indices.filter(fits).max { rungs[$0].quality < rungs[$1].quality }
            why = choice.map { _ in "best rung within \(Int(allowedMw)) mW, \(Int(bucket.tokensMillijoules)) mJ in the bucket and the \(Int(deadline)) ms deadline" } ?? ""
        }
        // Dwell: keep the current rung if it still fits and the last switch was recent
        // (never while throttled: heat is a safety matter).
        let sinceSwitchMs = Double(now &- lastSwitchNs) / 1e6
        if !throttled, let c = choice, c != current, sinceSwitchMs < dwellMs, fits(current) {
            choice = current
            why = "kept \(rungs[current].name) for the \(Int(dwellMs)) ms dwell time"
        }
        guard let picked = choice else {
            if priority == .critical {
                bucket.force(rungs[cheapest].energyMillijoules)
                return switchTo(cheapest, now: now, reason: "critical request served on the cheapest rung although the budget is spent")
            }
            let wait = bucket.waitMs(for: rungs[cheapest].energyMillijoules + reserve)
            let retry = Int(min(max(wait.isFinite ? wait : dwellMs, 1), 3_600_000).rounded(.up))
            throw EmberError.overBudget(retryAfterMs: retry, reason: throttled
                ? "device at its \(envelope.tempLimitCelsius) °C limit"
                : "no rung fits \(Int(allowedMw)) mW and \(Int(bucket.tokensMillijoules)) mJ left for a \(priority.rawValue) request")
        }
        _ = bucket.take(rungs[picked].energyMillijoules)
        return switchTo(picked, now: now, reason: why)
    }

    private func switchTo(_ i: Int, now: UInt64, reason: String) -> Decision {
        if i != current { current = i; lastSwitchNs = now }
        let r = rungs[i]
        return Decision(rung: i, rungName: r.name, threads: 1, predictedLatencyMs: r.latencyMs, predictedEnergyMillijoules: r.energyMillijoules,
                        allowedMilliwatts: allowedMw, bucketMillijoules: bucket.tokensMillijoules, throttled: throttled, reason: reason)
    }

    /// Corrects a rung's predicted cost by what was measured (exponential average).
    public func record(_ d: Decision, measuredLatencyMs: Double, measuredEnergyMillijoules: Double?) {
        guard d.rung < rungs.count else { return }
        let a = learningRate
        rungs[d.rung].latencyMs = (1 - a) * rungs[d.rung].latencyMs + a * measuredLatencyMs
        if let e = measuredEnergyMillijoules {
            rungs[d.rung].energyMillijoules = (1 - a) * rungs[d.rung].energyMillijoules + a * e
        }
    }
}
