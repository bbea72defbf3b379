import EmberCore
#if canImport(Glibc)
import Glibc
#endif

/// What one inference on a rung costs on one thread at full clock, predicted
/// (from the package's VARIANTS section or the device profile) and corrected
/// online by measurements.
public struct RungCost: Sendable, Equatable {
    public var name: String
    /// Higher is better (e.g. SQNR dB or accuracy); only the order matters.
    public var quality: Double
    public var latencyMs: Double
    /// Energy above idle.
    public var energyMillijoules: Double
    /// Memory the rung needs resident (arena + weights); 0 when unknown.
    public var memoryBytes: Int64
    public init(name: String, quality: Double, latencyMs: Double, energyMillijoules: Double, memoryBytes: Int64 = 0) {
        self.name = name; self.quality = quality; self.latencyMs = latencyMs
        self.energyMillijoules = energyMillijoules; self.memoryBytes = memoryBytes
    }
    /// Power drawn above idle while this rung runs.
    public var milliwatts: Double { latencyMs > 0 ? energyMillijoules / latencyMs * 1000 : .infinity }
}

/// Why the scheduler served a request the way it did; every result carries one.
public struct Decision: Sendable, Equatable {
    public var rung: Int
    public var rungName: String
    public var threads: Int
    public var predictedLatencyMs: Double
    public var predictedEnergyMillijoules: Double
    /// Total device power the envelope and the thermal controller allow now.
    public var allowedMilliwatts: Double
    /// Inference energy still allowed in the current power window.
    public var energyLeftMillijoules: Double
    /// Estimated request rate (per second) the choice was made for.
    public var requestsPerSecond: Double
    public var throttled: Bool
    /// In words, for logs and `ember run --envelope`.
    public var reason: String
}

/// Tuning of the `BudgetScheduler`; the defaults suit camera- and voice-rate loads.
public struct SchedulerOptions: Sendable, Equatable {
    /// Minimum time between rung switches (the thermal step-down at the limit excepted).
    public var dwellMs: Double = 2000
    /// Weight of a new measurement in the running correction of a rung's cost.
    public var learningRate: Double = 0.2
    /// The device's idle power: the envelope caps the total, inference gets the rest.
    public var idleMilliwatts: Double = 0
    /// Threads the scheduler may give one inference, and how well they scale
    /// (speed-up on t threads = t·efficiency^(t−1), as in `DeviceProfile`).
    public var maxThreads: Int = 1
    public var parallelEfficiency: Double = 1
    /// Share of an hour's energy that may be spent in one burst.
    public var burstFraction: Double = 0.1
    /// Time constant of the request-rate estimate.
    public var rateTimeConstantSeconds: Double = 2
    public init() {}
}

/// Picks, per request, the rung and thread count that maximize quality within
/// the envelope now (DESIGN.md, "Budget scheduler"):
///
/// - **Power.** The power allowed now is the envelope's cap, lowered by the
///   thermal PI controller as the temperature margin shrinks; inference gets
///   it minus idle power. A sliding `PowerWindow` admits a request only if the
///   window's energy stays within that power × the window. An energy token
///   bucket (`EnergyBucket.capped`) enforces the energy-per-hour cap.
/// - **Rate.** The request rate is estimated online; the preferred rung is the
///   best one whose energy × rate the allowed power can sustain, so a steady
///   load settles on a rung instead of exhausting the window and shedding.
/// - **Deadline and threads.** An option (rung, threads) fits when its latency
///   plus the queue ahead meets the priority's deadline; the fewest threads that
///   do are chosen (more threads finish sooner but cost more energy).
/// - **Memory.** A rung larger than the envelope's memory or the cgroup's
///   headroom is ruled out.
/// - **Dwell.** After a switch the rung is held for `dwellMs`: requests it cannot
///   serve are shed rather than switched (critical ones excepted), and at the
///   temperature limit the cheapest rung is taken at once — heat is a safety matter.
/// - **Admission.** Critical requests are always served (the cheapest, fastest
///   option if nothing fits); normal and best-effort are shed with
///   `EmberError.overBudget(retryAfterMs:)`; best-effort leaves 20 % of the
///   power window for the others.
public final class BudgetScheduler {
    public let envelope: Envelope
    public private(set) var rungs: [RungCost]
    public let clock: BudgetClock
    public let options: SchedulerOptions

    public private(set) var controller: ThermalController
    public private(set) var window: PowerWindow
    public private(set) var hourly: EnergyBucket?
    public private(set) var current: Int
    public private(set) var throttled = false
    /// How many times the temperature limit has been reached (throttled switched on).
    public private(set) var throttleEvents = 0
    /// Inference energy spent so far: measured where `record` was given a measurement, else predicted.
    public private(set) var energySpentMillijoules = 0.0
    /// When the rung last changed (nil: never, so no dwell holds yet).
    public private(set) var lastSwitchNanoseconds: UInt64?
    /// Total device power the controller and the envelope allow now.
    public private(set) var allowedMilliwatts: Double
    public private(set) var memoryHeadroomBytes: Int64?
    private var lastTickNs: UInt64
    private var arrivals = 0.0
    private var lastArrivalNs: UInt64

    public var dwellMs: Double { options.dwellMs }

    public init(envelope: Envelope, rungs: [RungCost], clock: BudgetClock, controller: ThermalController,
                options: SchedulerOptions = SchedulerOptions()) throws {
        guard !rungs.isEmpty else { throw EmberError.invalidArgument("the scheduler needs at least one rung") }
        for r in rungs where !(r.latencyMs > 0 && r.latencyMs.isFinite && r.energyMillijoules >= 0 && r.energyMillijoules.isFinite) {
            throw EmberError.invalidArgument("rung '\(r.name)' has no usable cost (latency \(r.latencyMs) ms, energy \(r.energyMillijoules) mJ)")
        }
        if let cap = envelope.memoryBytes, let smallest = rungs.filter({ $0.memoryBytes > 0 }).min(by: { $0.memoryBytes < $1.memoryBytes }),
           smallest.memoryBytes > cap {
            throw EmberError.invalidConfiguration(file: "envelope", key: "memory_bytes",
                reason: "\(formatBytes(Int(cap))) is less than the smallest rung needs (\(smallest.name): \(formatBytes(Int(smallest.memoryBytes))) of arena and weights)")
        }
        self.envelope = envelope
        self.rungs = rungs
        self.clock = clock
        self.controller = controller
        self.options = options
        let now = clock.nanoseconds
        let maxEnergy = rungs.map(\.energyMillijoules).max() ?? 0
        window = PowerWindow(windowSeconds: envelope.powerWindowSeconds, nowNanoseconds: now)
        if let perHour = envelope.energyMillijoulesPerHour {
            hourly = .capped(perHour - options.idleMilliwatts * 3600, perSeconds: 3600, burst: options.burstFraction,
                             minimumBurstMillijoules: 2 * maxEnergy, nowNanoseconds: now)
        }
        current = rungs.indices.max { rungs[$0].quality < rungs[$1].quality } ?? 0
        lastTickNs = now
        lastArrivalNs = now
        allowedMilliwatts = envelope.powerMilliwatts
    }

    /// Convenience for a scheduler with only a dwell time set.
    public convenience init(envelope: Envelope, rungs: [RungCost], clock: BudgetClock, controller: ThermalController, dwellMs: Double) throws {
        var o = SchedulerOptions()
        o.dwellMs = dwellMs
        try self.init(envelope: envelope, rungs: rungs, clock: clock, controller: controller, options: o)
    }

    /// One controller period: the hottest temperature (nil when there is no
    /// sensor: the cap alone then rules) and the memory headroom (nil: unknown).
    public func tick(celsius: Double?, memoryHeadroomBytes: Int64? = nil) {
        let now = clock.nanoseconds
        let dt = Double(now &- lastTickNs) / 1e9
        lastTickNs = now
        refill(now)
        self.memoryHeadroomBytes = memoryHeadroomBytes
        guard let c = celsius else { allowedMilliwatts = envelope.powerMilliwatts; return }
        if c >= envelope.tempLimitCelsius {
            if !throttled { throttleEvents += 1 }
            throttled = true
        }
        if c <= envelope.tempLimitCelsius - envelope.tempHysteresisCelsius { throttled = false }
        allowedMilliwatts = min(envelope.powerMilliwatts, controller.allowedMilliwatts(celsius: c, limitCelsius: envelope.tempLimitCelsius, dtSeconds: dt))
    }

    /// Power inference may use now: what is allowed less idle power.
    public var inferenceMilliwatts: Double { max(0, allowedMilliwatts - options.idleMilliwatts) }

    /// Average inference power over the power window (what `record` charged, or decisions predicted).
    public var windowMilliwatts: Double { window.spentMillijoules / window.windowSeconds }

    /// Inference energy the power window still allows.
    public var energyLeftMillijoules: Double { inferenceMilliwatts * window.windowSeconds - window.spentMillijoules }

    private func refill(_ now: UInt64) {
        window.advance(to: now)
        hourly?.refill(nowNanoseconds: now)
    }

    /// Requests per second, decayed over `rateTimeConstantSeconds`.
    public var requestsPerSecond: Double { arrivalsDecayed(to: clock.nanoseconds) / options.rateTimeConstantSeconds }

    private func arrivalsDecayed(to now: UInt64) -> Double {
        let dt = Double(now &- lastArrivalNs) / 1e9
        return arrivals * exp(-dt / options.rateTimeConstantSeconds)
    }

    private func speedup(_ t: Int) -> Double { parallelSpeedup(threads: t, efficiency: options.parallelEfficiency) }

    private struct Option { var rung: Int; var threads: Int; var latencyMs: Double; var energyMj: Double }

    private func option(_ rung: Int, threads t: Int) -> Option {
        let s = speedup(t)
        return Option(rung: rung, threads: t, latencyMs: rungs[rung].latencyMs / s, energyMj: rungs[rung].energyMillijoules * Double(t) / s)
    }

    /// Decides rung, threads and admission for one request. `backlogMs` is the
    /// work queued ahead of it; `deadlineMs` (when given) replaces the envelope's deadline for
    /// the priority, for this request only. Throws `overBudget` for normal and best-effort
    /// requests that do not fit; never for critical ones.
    public func decide(priority: Priority, backlogMs: Double = 0, deadlineMs: Double? = nil) throws -> Decision {
        let now = clock.nanoseconds
        refill(now)
        arrivals = arrivalsDecayed(to: now) + 1
        lastArrivalNs = now
        let rate = requestsPerSecond
        let deadline = deadlineMs ?? envelope.deadlineMs[priority] ?? .infinity
        let reserve = priority == .bestEffort ? inferenceMilliwatts * window.windowSeconds * 0.2 : 0
        let tokens = min(energyLeftMillijoules, hourly?.tokensMillijoules ?? .infinity)
        let sustainable = min(inferenceMilliwatts, hourly?.refillMilliwatts ?? .infinity)
        // Headroom counts memory beyond what is resident now, which includes the current rung.
        let memoryCap = min(envelope.memoryBytes ?? .max, memoryHeadroomBytes.map { $0 > .max - rungs[current].memoryBytes ? .max : $0 + rungs[current].memoryBytes } ?? .max)
        let cheapest = rungs.indices.min { rungs[$0].energyMillijoules < rungs[$1].energyMillijoules } ?? 0

        /// The option for rung `i` with `backlog` ms queued ahead: the fewest threads
        /// that meet the deadline within the budget and keep up with the request
        /// rate (≤ 90 % busy); if no thread count keeps up, the fastest that meets
        /// the deadline; nil if none does.
        func fit(_ i: Int, backlog: Double) -> Option? {
            guard rungs[i].memoryBytes <= memoryCap else { return nil }
            var fastest: Option?
            for t in 1...max(1, options.maxThreads) {
                let o = option(i, threads: t)
                guard o.latencyMs + backlog <= deadline && o.energyMj + reserve <= tokens else { continue }
                if rate * o.latencyMs <= 900 { return o }
                fastest = o
            }
            return fastest
        }
        func sustained(_ o: Option) -> Bool { rate * o.energyMj <= sustainable && rate * o.latencyMs <= 900 }
        func worse(_ a: Option, _ b: Option) -> Bool {
            rungs[a.rung].quality != rungs[b.rung].quality ? rungs[a.rung].quality < rungs[b.rung].quality : a.energyMj > b.energyMj
        }

        // First the level — the rung for the load as it is now (rate, power, heat,
        // memory), judged without this request's queue so that a passing backlog
        // does not move it; then this request, on the level if it fits, else once
        // on the best rung that does.
        var why: String
        let sinceSwitchMs = lastSwitchNanoseconds.map { Double(now &- $0) / 1e6 } ?? .infinity
        if throttled {
            moveLevel(to: cheapest, now: now)
            why = "at or above \(fmt(envelope.tempLimitCelsius)) °C: cheapest rung until \(fmt(envelope.tempLimitCelsius - envelope.tempHysteresisCelsius)) °C"
        } else if sinceSwitchMs < options.dwellMs {
            why = "kept \(rungs[current].name) for the \(formatDecimal(options.dwellMs, places: 0)) ms dwell time"
        } else {
            let free = rungs.indices.compactMap { fit($0, backlog: 0) }
            if let best = free.filter(sustained).max(by: worse) {
                moveLevel(to: best.rung, now: now)
                why = "best rung sustainable at \(fmt(rate)) req/s within \(formatDecimal(allowedMilliwatts, places: 0)) mW and the \(fmt(deadline)) ms deadline"
            } else if let cheap = free.min(by: { $0.energyMj < $1.energyMj }) {
                moveLevel(to: cheap.rung, now: now)
                why = "cheapest rung that fits: no rung is sustainable at \(fmt(rate)) req/s within \(formatDecimal(allowedMilliwatts, places: 0)) mW"
            } else {
                why = "kept \(rungs[current].name): no rung fits"
            }
        }
        var chosen = fit(current, backlog: backlogMs)
        if chosen == nil && !throttled, let once = rungs.indices.compactMap({ fit($0, backlog: backlogMs) }).max(by: worse) {
            chosen = once
            why = "served once on \(rungs[once.rung].name): \(rungs[current].name) (the level) cannot meet this request's deadline or budget"
        }
        guard let picked = chosen else {
            if priority == .critical {
                // Always served, on the cheapest rung — with the fewest threads that meet
                // the deadline, else all of them — as a one-off: the level does not move.
                let all = (1...max(1, options.maxThreads)).map { option(cheapest, threads: $0) }
                let o = all.first { $0.latencyMs + backlogMs <= deadline } ?? all[all.count - 1]
                window.charge(o.energyMj)
                hourly?.force(o.energyMj)
                return commit(o, now: now, rate: rate,
                              reason: "critical request served on \(rungs[o.rung].name) although the budget is spent")
            }
            let wait = max(window.waitMs(for: rungs[cheapest].energyMillijoules + reserve, allowedMilliwatts: inferenceMilliwatts, now: now),
                           hourly?.waitMs(for: rungs[cheapest].energyMillijoules) ?? 0)
            let dwellLeft = sinceSwitchMs < options.dwellMs && !throttled ? options.dwellMs - sinceSwitchMs : 0
            var retryMs = wait.isFinite ? wait : options.dwellMs
            if dwellLeft > 0 { retryMs = min(retryMs, dwellLeft) }
            let retry = retryMs.isFinite ? Int(min(max(retryMs, 1), 3_600_000).rounded(.up)) : 3_600_000
            let smallest = rungs.map(\.memoryBytes).min() ?? 0
            if smallest > memoryCap {
                // Memory, not power: say so, and that it will not pass by waiting a millisecond.
                let source = (envelope.memoryBytes ?? .max) <= memoryCap ? "the envelope's memory_bytes" : "the cgroup's memory headroom"
                throw EmberError.overBudget(retryAfterMs: 3_600_000, reason:
                    "no rung fits in \(formatBytes(Int(memoryCap))) of memory (\(source)); the smallest needs \(formatBytes(Int(smallest)))")
            }
            throw EmberError.overBudget(retryAfterMs: retry, reason: throttled
                ? "device at its \(fmt(envelope.tempLimitCelsius)) °C limit"
                : inferenceMilliwatts <= 0
                    ? "the device's idle power (\(formatDecimal(options.idleMilliwatts, places: 0)) mW) leaves nothing of the \(formatDecimal(allowedMilliwatts, places: 0)) mW allowed for inference"
                    : "no rung fits \(formatDecimal(allowedMilliwatts, places: 0)) mW, \(formatDecimal(tokens, places: 0)) mJ left and the \(fmt(deadline)) ms deadline for a \(priority.rawValue) request")
        }
        window.charge(picked.energyMj)
        _ = hourly?.take(picked.energyMj)
        return commit(picked, now: now, rate: rate, reason: why)
    }

    private func moveLevel(to rung: Int, now: UInt64) {
        if rung != current { current = rung; lastSwitchNanoseconds = now }
    }

    private func commit(_ o: Option, now: UInt64, rate: Double, reason: String) -> Decision {
        return Decision(rung: o.rung, rungName: rungs[o.rung].name, threads: o.threads, predictedLatencyMs: o.latencyMs,
                        predictedEnergyMillijoules: o.energyMj, allowedMilliwatts: allowedMilliwatts,
                        energyLeftMillijoules: energyLeftMillijoules, requestsPerSecond: rate, throttled: throttled, reason: reason)
    }

    /// Corrects the rung's predicted cost by what was measured (exponential
    /// average, scaled back to one thread) and settles the power window and the hourly bucket
    /// with the measured energy instead of the predicted one.
    public func record(_ d: Decision, measuredLatencyMs: Double, measuredEnergyMillijoules: Double?) {
        guard d.rung >= 0, d.rung < rungs.count, measuredLatencyMs.isFinite, measuredLatencyMs >= 0 else { return }
        let a = options.learningRate
        let s = speedup(max(1, d.threads))
        rungs[d.rung].latencyMs = max(1e-6, (1 - a) * rungs[d.rung].latencyMs + a * measuredLatencyMs * s)
        let measured = measuredEnergyMillijoules.flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
        energySpentMillijoules += measured ?? d.predictedEnergyMillijoules
        if let e = measured {
            rungs[d.rung].energyMillijoules = (1 - a) * rungs[d.rung].energyMillijoules + a * e * s / Double(max(1, d.threads))
            window.charge(e - d.predictedEnergyMillijoules)
            hourly?.adjust(by: d.predictedEnergyMillijoules - e)
        }
    }
}

/// Short decimal for messages (no Foundation formatting): one decimal, or as many as show two
/// significant digits below 0.1 (a 0.02 ms deadline).
func fmt(_ x: Double) -> String {
    guard x != 0, abs(x) < 0.1, x.isFinite else { return formatDecimal(x, places: 1) }
    var places = 1, scaled = abs(x) * 10
    while places < 6, scaled < 10 { places += 1; scaled *= 10 }
    return formatDecimal(x, places: places)
}
