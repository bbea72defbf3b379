@_exported import EmberBudget
#if canImport(Glibc)
import Glibc
#endif

/// Runs a package's whole ladder under an `Envelope`: every variant is
/// prepared (one arena each), and for each request the `BudgetScheduler`
/// picks the rung, or sheds the request with `EmberError.overBudget`. Every
/// result carries the `Decision` that produced it.
///
/// Energy per inference comes from a power model (`activeMilliwatts` × measured
/// latency) until the device profiles land; temperature from the hottest thermal
/// zone, when there is one.
public final class LadderSession {
    public let package: EmberPackage
    public let sessions: [Session]
    public let scheduler: BudgetScheduler
    public let telemetry: Telemetry?
    public let activeMilliwatts: Double
    private let clock: BudgetClock

    public init(package: EmberPackage, envelope: Envelope, clock: BudgetClock = MonotonicClock(),
                telemetry: Telemetry? = Telemetry(), activeMilliwatts: Double = 2000, dwellMs: Double = 2000) throws {
        self.package = package
        self.clock = clock
        self.telemetry = telemetry
        self.activeMilliwatts = activeMilliwatts
        sessions = try package.variants.map { try Session(package: package, variant: $0.name) }
        // Predicted cost of each rung: one timed run on zeroed inputs.
        var rungs: [RungCost] = []
        // Measured qualities are comparable only when every rung has one; otherwise
        // the ladder's order (best first) is the quality.
        let allMeasured = package.variants.allSatisfy { !$0.quality.isNaN }
        for (i, s) in sessions.enumerated() {
            let start = clock.nanoseconds
            s.run()
            let ms = max(Double(clock.nanoseconds &- start) / 1e6, 0.001)
            let record = package.variants[i]
            let quality = allMeasured ? Double(record.quality) : Double(package.variants.count - i)
            rungs.append(RungCost(name: record.name, quality: quality, latencyMs: ms, energyMillijoules: activeMilliwatts * ms / 1000))
        }
        scheduler = try BudgetScheduler(
            envelope: envelope, rungs: rungs, clock: clock,
            controller: ThermalController(sustainableMilliwatts: envelope.powerMilliwatts, proportionalMwPerDegree: envelope.powerMilliwatts / 10,
                                          integralMwPerDegreeSecond: envelope.powerMilliwatts / 100),
            dwellMs: dwellMs)
    }

    /// One request: sample telemetry, decide, run the chosen rung, record what it cost.
    public func run(_ feeds: [String: Tensor], priority: Priority) throws -> (outputs: [String: Tensor], decision: Decision) {
        scheduler.tick(celsius: telemetry?.thermalZones().compactMap { $0.celsius.value }.max())
        let decision = try scheduler.decide(priority: priority)
        let start = clock.nanoseconds
        let outputs = try sessions[decision.rung].run(feeds)
        let ms = Double(clock.nanoseconds &- start) / 1e6
        scheduler.record(decision, measuredLatencyMs: ms, measuredEnergyMillijoules: activeMilliwatts * ms / 1000)
        return (outputs, decision)
    }
}
