import EmberCore
#if canImport(Glibc)
import Glibc
#endif

/// A rung as the simulator sees it: what it asks of the device.
public struct SimulatedRung: Sendable, Equatable {
    public var name: String
    public var quality: Double
    public var work: InferenceWork
    public var memoryBytes: Int64
    public init(name: String, quality: Double, work: InferenceWork, memoryBytes: Int64 = 0) {
        self.name = name; self.quality = quality; self.work = work; self.memoryBytes = memoryBytes
    }
}

/// Who decides in a simulation run.
public enum SimulationPolicy: String, Sendable, CaseIterable {
    /// The `BudgetScheduler`, exactly as a device runs it.
    case ember
    /// Best rung on every core for every request; the kernel throttles only at
    /// the profile's passive trip point (usually above the envelope's limit).
    case alwaysBest = "always-best"
    /// Best rung on every core ("race to idle"), and the kernel caps the clock
    /// whenever the sensor is at the envelope's limit.
    case raceThenThrottle = "race-then-throttle"
}

public struct SimulationConfig: Sendable {
    public var profile: DeviceProfile
    public var envelope: Envelope
    public var rungs: [SimulatedRung]
    public var ambientCelsius: Double
    public var policy: SimulationPolicy = .ember
    public var controllerPeriodMs: Double = 100
    /// Timeline resolution.
    public var sampleEveryMs: Double = 1000
    /// How far the real device is from its profile (latency and energy): the
    /// scheduler starts from the profile's prediction and must learn the rest.
    public var costErrorFactor: Double = 1.15
    public var dwellMs: Double = 2000
    /// Hysteresis of the simulated kernel throttle below its trip point.
    public var throttleHysteresisCelsius: Double = 3

    public init(profile: DeviceProfile, envelope: Envelope, rungs: [SimulatedRung], ambientCelsius: Double) {
        self.profile = profile; self.envelope = envelope; self.rungs = rungs; self.ambientCelsius = ambientCelsius
    }
}

/// One row of timeline.csv.
public struct TimelineSample: Sendable, Equatable {
    public var timeS: Double
    public var celsius: Double
    /// Average device power over the sample.
    public var milliwatts: Double
    /// Power the scheduler allowed at the end of the sample (cap for baselines).
    public var allowedMilliwatts: Double
    /// Rung most used in the sample (−1: none served).
    public var rung: Int
    public var arrived: Int
    public var onTime: Int
    public var late: Int
    public var shed: Int
    public var frequencyFraction: Double
}

public struct RungSwitch: Sendable, Equatable {
    public var timeMs: Double
    public var from: Int
    public var to: Int
    /// Whether the switch was the thermal step-down at the limit.
    public var throttled: Bool
    public var reason: String
}

public struct SimulationResult: Sendable {
    public var policy: SimulationPolicy
    public var samples: [TimelineSample] = []
    public var arrived = 0
    /// Completed within the deadline.
    public var onTime = 0
    /// Completed within the deadline with the sensor at most 1 °C over the limit.
    public var onTimeWithinLimit = 0
    /// Completed after the deadline, or dropped from the queue once it had passed.
    public var late = 0
    /// Refused by the scheduler (`overBudget`).
    public var shed = 0
    public var criticalShed = 0
    public var criticalArrived = 0
    public var criticalOnTime = 0
    public var servedPerRung: [Int] = []
    public var maxCelsius = -Double.infinity
    /// Hottest reading after the first controller period.
    public var maxCelsiusAfterFirstPeriod = -Double.infinity
    public var secondsAboveLimit = 0.0
    /// Highest average power over any power window (sliding by controller periods).
    public var maxWindowMilliwatts = 0.0
    /// Highest energy over any hour (the whole run, scaled to an hour's share, when shorter).
    public var maxHourMillijoules = 0.0
    public var totalMillijoules = 0.0
    public var durationS = 0.0
    public var switches: [RungSwitch] = []
    /// Shortest time between two switches, the thermal step-down excepted.
    public var minimumDwellMs: Double {
        var best = Double.infinity
        for (a, b) in zip(switches, switches.dropFirst()) where !b.throttled { best = min(best, b.timeMs - a.timeMs) }
        return best
    }
}

/// Drives the real `BudgetScheduler` on a virtual clock against a lumped RC
/// thermal model and the profile's power model (DESIGN.md, "Simulator"):
///
///   C·dT/dt = P − (T − T_ambient)/R, τ = R·C,
///
/// integrated exactly between events (power is constant between them). One
/// inference runs at a time (FIFO queue); a request whose deadline has passed
/// when it reaches the head of the queue is dropped and counted late.
public struct Simulator {
    public let config: SimulationConfig
    public init(_ config: SimulationConfig) { self.config = config }

    fileprivate struct Job { var arrivalMs: Double; var priority: Priority; var rung: Int; var threads: Int; var predictedMs: Double; var decision: Decision? }

    public func run(_ trace: [TraceEvent]) throws -> SimulationResult {
        let c = config
        let p = c.profile
        guard !c.rungs.isEmpty else { throw EmberError.invalidArgument("the simulation needs at least one rung") }
        let best = c.rungs.indices.max { c.rungs[$0].quality < c.rungs[$1].quality } ?? 0
        let clock = VirtualClock()
        var scheduler: BudgetScheduler?
        if c.policy == .ember {
            var o = SchedulerOptions()
            o.dwellMs = c.dwellMs
            o.idleMilliwatts = p.idleMilliwatts
            o.maxThreads = p.cores
            o.parallelEfficiency = p.parallelEfficiency
            let costs = c.rungs.map { r -> RungCost in
                let e = p.estimate(r.work, threads: 1)
                return RungCost(name: r.name, quality: r.quality, latencyMs: e.latencyMs, energyMillijoules: e.energyMillijoules, memoryBytes: r.memoryBytes)
            }
            // The device does not know its ambient: the controller assumes 25 °C and the integral term corrects.
            scheduler = try BudgetScheduler(
                envelope: c.envelope, rungs: costs, clock: clock,
                controller: .tuned(sustainableMilliwatts: p.sustainableMilliwatts(limitCelsius: c.envelope.tempLimitCelsius, ambientCelsius: 25),
                                   timeConstantSeconds: p.thermalTimeConstantS),
                options: o)
        }
        // Baselines: the best rung on every core, whatever happens.
        let baselineLatencyMs = p.estimate(c.rungs[best].work, threads: p.cores).latencyMs
        let tripCelsius = c.policy == .raceThenThrottle ? c.envelope.tempLimitCelsius : p.tripPassiveCelsius
        let limit = c.envelope.tempLimitCelsius
        let tau = p.thermalTimeConstantS * 1000
        let endMs = (trace.last?.timeMs ?? 0) + 2000

        var result = SimulationResult(policy: c.policy)
        result.servedPerRung = Array(repeating: 0, count: c.rungs.count)
        // Start at the idle steady state.
        var celsius = c.ambientCelsius + p.thermalResistanceCPerW * p.idleMilliwatts / 1000
        var now = 0.0
        var frequency = 1.0
        // Critical requests jump the queue: two FIFOs, critical served first, with
        // their predicted work summed as it changes (O(1) per request, so a trace of
        // a million simultaneous requests costs a million steps, not a trillion).
        var queues = (critical: JobQueue(), other: JobQueue())
        var running: (job: Job, endMs: Double, milliwatts: Double, energyMj: Double, latencyMs: Double)?
        var nextArrival = 0
        var nextTick = c.controllerPeriodMs
        var tickEnergy: [Double] = []  // device energy per controller period, for window averages
        var energyThisTick = 0.0
        var sample = TimelineSample(timeS: 0, celsius: celsius, milliwatts: 0, allowedMilliwatts: c.envelope.powerMilliwatts, rung: -1,
                                    arrived: 0, onTime: 0, late: 0, shed: 0, frequencyFraction: 1)
        var sampleEnergy = 0.0
        var sampleRungCounts = Array(repeating: 0, count: c.rungs.count)
        var nextSample = c.sampleEveryMs

        func power() -> Double { p.idleMilliwatts + (running?.milliwatts ?? 0) }

        /// Advances the thermal state and the energy tallies to `t`.
        func advance(to t: Double) {
            let dt = t - now
            guard dt > 0 else { return }
            let mw = power()
            let steady = c.ambientCelsius + p.thermalResistanceCPerW * mw / 1000
            let before = celsius
            celsius = steady + (celsius - steady) * exp(-dt / tau)
            // Time above the limit: the curve is monotonic between events.
            if max(before, celsius) > limit {
                let above = before > limit && celsius > limit ? dt : dt * 0.5
                result.secondsAboveLimit += above / 1000
            }
            result.maxCelsius = max(result.maxCelsius, celsius, before)
            if t > c.controllerPeriodMs { result.maxCelsiusAfterFirstPeriod = max(result.maxCelsiusAfterFirstPeriod, celsius) }
            let e = mw * dt / 1000
            energyThisTick += e
            sampleEnergy += e
            result.totalMillijoules += e
            clock.advance(milliseconds: dt)
            now = t
        }

        /// Work ahead of a new request: critical requests jump the queue, so
        /// only the running inference and other critical ones are ahead of them.
        func backlogMs(_ priority: Priority) -> Double {
            let b = (running.map { $0.endMs - now } ?? 0) + queues.critical.predictedMs
            return priority == .critical ? b : b + queues.other.predictedMs
        }
        func enqueue(_ job: Job) {
            if job.priority == .critical { queues.critical.push(job) } else { queues.other.push(job) }
        }

        func startNext() {
            while running == nil, let job = queues.critical.pop() ?? queues.other.pop() {
                let deadline = c.envelope.deadlineMs[job.priority] ?? .infinity
                if now > job.arrivalMs + deadline { result.late += 1; sample.late += 1; continue }
                let e = p.estimate(c.rungs[job.rung].work, threads: job.threads, frequencyFraction: frequency)
                let latency = e.latencyMs * c.costErrorFactor
                let energy = e.energyMillijoules * c.costErrorFactor
                running = (job, now + latency, energy / latency * 1000, energy, latency)
            }
        }

        while true {
            let arrivalAt = nextArrival < trace.count ? trace[nextArrival].timeMs : .infinity
            let completionAt = running?.endMs ?? .infinity
            let t = min(arrivalAt, completionAt, nextTick, nextSample)
            if t > endMs && arrivalAt == .infinity && running == nil { break }
            advance(to: t)
            if completionAt == t, let r = running {
                running = nil
                let deadline = c.envelope.deadlineMs[r.job.priority] ?? .infinity
                if now <= r.job.arrivalMs + deadline {
                    result.onTime += 1; sample.onTime += 1
                    if celsius <= limit + 1 { result.onTimeWithinLimit += 1 }
                    if r.job.priority == .critical { result.criticalOnTime += 1 }
                } else {
                    result.late += 1; sample.late += 1
                }
                result.servedPerRung[r.job.rung] += 1
                sampleRungCounts[r.job.rung] += 1
                if let d = r.job.decision { scheduler?.record(d, measuredLatencyMs: r.latencyMs, measuredEnergyMillijoules: r.energyMj) }
                startNext()
            } else if arrivalAt == t {
                let ev = trace[nextArrival]
                nextArrival += 1
                result.arrived += 1; sample.arrived += 1
                if ev.priority == .critical { result.criticalArrived += 1 }
                if let s = scheduler {
                    do {
                        let level = s.current
                        let d = try s.decide(priority: ev.priority, backlogMs: backlogMs(ev.priority))
                        if s.current != level { result.switches.append(RungSwitch(timeMs: now, from: level, to: s.current, throttled: d.throttled, reason: d.reason)) }
                        enqueue(Job(arrivalMs: now, priority: ev.priority, rung: d.rung, threads: d.threads, predictedMs: d.predictedLatencyMs, decision: d))
                    } catch {
                        result.shed += 1; sample.shed += 1
                        if ev.priority == .critical { result.criticalShed += 1 }
                    }
                } else {
                    enqueue(Job(arrivalMs: now, priority: ev.priority, rung: best, threads: p.cores, predictedMs: baselineLatencyMs, decision: nil))
                }
                startNext()
            } else if nextTick == t {
                nextTick += c.controllerPeriodMs
                tickEnergy.append(energyThisTick)
                energyThisTick = 0
                // The kernel's passive trip (step-wise governor with hysteresis).
                if celsius >= tripCelsius { frequency = p.throttleFrequencyFraction }
                else if celsius < tripCelsius - c.throttleHysteresisCelsius { frequency = 1 }
                scheduler?.tick(celsius: celsius)
            } else {
                nextSample += c.sampleEveryMs
                sample.timeS = now / 1000
                sample.celsius = celsius
                sample.milliwatts = sampleEnergy / c.sampleEveryMs * 1000
                sample.allowedMilliwatts = scheduler?.allowedMilliwatts ?? c.envelope.powerMilliwatts
                sample.rung = sampleRungCounts.indices.max { sampleRungCounts[$0] < sampleRungCounts[$1] }.flatMap { sampleRungCounts[$0] > 0 ? $0 : nil } ?? -1
                sample.frequencyFraction = frequency
                result.samples.append(sample)
                sample = TimelineSample(timeS: 0, celsius: 0, milliwatts: 0, allowedMilliwatts: 0, rung: -1, arrived: 0, onTime: 0, late: 0, shed: 0, frequencyFraction: 1)
                sampleEnergy = 0
                sampleRungCounts = Array(repeating: 0, count: c.rungs.count)
            }
        }
        result.durationS = now / 1000
        // Sliding windows over controller periods.
        let perWindow = max(1, Int((c.envelope.powerWindowSeconds * 1000 / c.controllerPeriodMs).rounded()))
        result.maxWindowMilliwatts = Self.maxSlidingSum(tickEnergy, width: perWindow) / (Double(min(perWindow, max(tickEnergy.count, 1))) * c.controllerPeriodMs) * 1000
        let perHour = max(1, Int((3_600_000 / c.controllerPeriodMs).rounded()))
        result.maxHourMillijoules = Self.maxSlidingSum(tickEnergy, width: perHour)
        return result
    }

    static func maxSlidingSum(_ xs: [Double], width: Int) -> Double {
        guard !xs.isEmpty else { return 0 }
        let w = min(width, xs.count)
        var sum = xs[0..<w].reduce(0, +)
        var best = sum
        if w < xs.count {
            for i in w..<xs.count { sum += xs[i] - xs[i - w]; best = max(best, sum) }
        }
        return best
    }
}

/// A FIFO of simulated jobs that knows the predicted work it holds.
private struct JobQueue {
    private var jobs: [Simulator.Job] = []
    private var head = 0
    private(set) var predictedMs = 0.0

    mutating func push(_ job: Simulator.Job) {
        jobs.append(job)
        predictedMs += job.predictedMs
    }

    mutating func pop() -> Simulator.Job? {
        guard head < jobs.count else { return nil }
        let job = jobs[head]
        head += 1
        predictedMs = head == jobs.count ? 0 : max(0, predictedMs - job.predictedMs)
        if head > 256 && head * 2 > jobs.count { jobs.removeFirst(head); head = 0 }
        return job
    }
}
