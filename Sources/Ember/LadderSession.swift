@_exported import EmberBudget
#if canImport(Glibc)
import Glibc
#endif

/// Runs a package's whole ladder under an `Envelope`: every variant is
/// prepared (one arena each), and for each request the `BudgetScheduler`
/// picks the rung, or sheds the request with `EmberError.overBudget`. Every
/// result carries the `Decision` that produced it.
///
/// Predicted cost per rung: the device profile's estimate when one is given
/// (`DeviceProfile.estimate` of the rung's MACs and bytes), else one timed run
/// × `activeMilliwatts`. Measured cost corrects it online: latency always,
/// energy from the RAPL package counter when the machine has one (less idle
/// power), else the same power model. Temperature: the hottest thermal zone;
/// memory headroom: the process's cgroup.
///
/// `executorOptions` apply to every rung (e.g. a memory account of their own).
///
/// Threads: every rung is prepared for `maxThreads` (a worker pool each); the
/// scheduler chooses 1…maxThreads per request (`Decision.threads`: the fewest that
/// meet the deadline) and the rung runs on that many.
public final class LadderSession {
    public let package: EmberPackage
    public let sessions: [Session]
    public let scheduler: BudgetScheduler
    public let telemetry: Telemetry?
    public let profile: DeviceProfile?
    public let activeMilliwatts: Double
    private let clock: BudgetClock
    /// The hottest thermal zone at the last request (nil: none readable).
    public private(set) var lastCelsius: Double?
    /// How long the last request's inference took.
    public private(set) var lastLatencyMs: Double?
    private var energyMeter: EnergyMeter?
    private let raplDomainID: String?

    public init(package: EmberPackage, envelope: Envelope, profile: DeviceProfile? = nil, clock: BudgetClock = MonotonicClock(),
                telemetry: Telemetry? = Telemetry(), activeMilliwatts: Double = 2000, dwellMs: Double = 2000,
                maxThreads: Int = 1, executorOptions: ExecutorOptions = ExecutorOptions()) throws {
        self.package = package
        self.clock = clock
        self.telemetry = telemetry
        self.profile = profile
        self.activeMilliwatts = activeMilliwatts
        sessions = try package.variants.map { try Session(package: package, variant: $0.name, threads: maxThreads, options: executorOptions) }
        try Self.checkOneSignature(sessions)
        // Measured qualities are comparable only when every rung has one; otherwise
        // the ladder's order (best first) is the quality.
        let allMeasured = package.variants.allSatisfy { !$0.quality.isNaN }
        var rungs: [RungCost] = []
        for (i, s) in sessions.enumerated() {
            let record = package.variants[i]
            let quality = allMeasured ? Double(record.quality) : Double(package.variants.count - i)
            let memory = Int64(s.arenaBytes) + Int64(package.contents.graphs[i].weightBytes)
            if let profile {
                let e = profile.estimate(InferenceWork(s.executor.validated), threads: 1)
                rungs.append(RungCost(name: record.name, quality: quality, latencyMs: e.latencyMs, energyMillijoules: e.energyMillijoules, memoryBytes: memory))
            } else {
                let start = clock.nanoseconds
                s.executor.run(threads: 1)
                let ms = max(Double(clock.nanoseconds &- start) / 1e6, 0.001)
                rungs.append(RungCost(name: record.name, quality: quality, latencyMs: ms, energyMillijoules: activeMilliwatts * ms / 1000, memoryBytes: memory))
            }
        }
        var options = SchedulerOptions()
        options.dwellMs = dwellMs
        options.maxThreads = maxThreads
        options.parallelEfficiency = profile?.parallelEfficiency ?? 0.9
        options.idleMilliwatts = profile?.idleMilliwatts ?? 0
        let sustainable = profile?.sustainableMilliwatts(limitCelsius: envelope.tempLimitCelsius, ambientCelsius: 25) ?? envelope.powerMilliwatts
        scheduler = try BudgetScheduler(
            envelope: envelope, rungs: rungs, clock: clock,
            controller: ThermalController.tuned(sustainableMilliwatts: sustainable, timeConstantSeconds: profile?.thermalTimeConstantS ?? 60),
            options: options)
        let packageDomain = telemetry?.raplDomains().first { $0.name.hasPrefix("package") }
        raplDomainID = packageDomain.map { $0.id }
        energyMeter = packageDomain.map { EnergyMeter(maxRange: $0.maxRangeMicrojoules) }
    }

    /// Every request is fed the same way whichever rung runs, so every rung must have the first one's
    /// inputs and outputs (names, dtypes, declared shapes).
    static func checkOneSignature(_ sessions: [Session]) throws {
        guard let first = sessions.first else { throw EmberError.invalidArgument("the package has no variants") }
        func signature(_ slots: [TensorSlot]) -> [String] { slots.map { "\($0.name): \($0.info.dtype)\($0.declared)" } }
        for s in sessions.dropFirst() where signature(s.inputs) != signature(first.inputs) || signature(s.outputs) != signature(first.outputs) {
            throw EmberError.unsupported(node: "variant '\(s.variant.name)'",
                reason: "its inputs or outputs (\(signature(s.inputs + s.outputs).joined(separator: ", "))) differ from variant '\(first.variant.name)''s (\(signature(first.inputs + first.outputs).joined(separator: ", "))): an envelope needs one signature for the whole ladder")
        }
    }

    /// One request: sample telemetry, decide, run the chosen rung, record what it cost.
    /// `deadlineMs` replaces the envelope's deadline for this request's priority.
    public func run(_ feeds: [String: Tensor], priority: Priority, deadlineMs: Double? = nil) throws
        -> (outputs: [String: Tensor], decision: Decision) {
        let decision = try run(priority: priority, deadlineMs: deadlineMs) { try $0.load(feeds) }
        return (sessions[decision.rung].outputTensors(), decision)
    }

    /// One request on the rungs' own buffers: decides, lets `load` fill the chosen rung's
    /// inputs, runs it and records what it cost. Its outputs are then in
    /// `sessions[decision.rung]`. A shed request throws `EmberError.overBudget` before `load`.
    public func run(priority: Priority, deadlineMs: Double? = nil, load: (Session) throws -> Void) throws -> Decision {
        let headroom: Int64? = telemetry.flatMap { t in
            if case .available(let m) = t.cgroupMemory() { return m.headroomBytes }
            return nil
        }
        lastCelsius = telemetry?.thermalZones().compactMap { $0.celsius.value }.max()
        scheduler.tick(celsius: lastCelsius, memoryHeadroomBytes: headroom)
        let decision = try scheduler.decide(priority: priority, deadlineMs: deadlineMs)
        let session = sessions[decision.rung]
        try load(session)
        _ = sampleEnergy()
        let start = clock.nanoseconds
        session.executor.run(threads: decision.threads)
        let ms = Double(clock.nanoseconds &- start) / 1e6
        let idle = profile?.idleMilliwatts ?? 0
        let measured = sampleEnergy().map { max(0, $0 * ms / 1000 - idle * ms / 1000) }
        let modelled = profile.map { _ in decision.predictedEnergyMillijoules * ms / max(decision.predictedLatencyMs, 1e-6) } ?? activeMilliwatts * ms / 1000
        scheduler.record(decision, measuredLatencyMs: ms, measuredEnergyMillijoules: measured ?? modelled)
        lastLatencyMs = ms
        return decision
    }

    /// Average package power (mW) since the previous sample, from RAPL; nil without it.
    private func sampleEnergy() -> Double? {
        guard let id = raplDomainID, case .available(let uj)? = telemetry?.raplEnergy(id: id) else { return nil }
        if case .available(let mw)? = energyMeter?.sample(microjoules: uj, atNanoseconds: clock.nanoseconds) { return mw }
        return nil
    }
}
