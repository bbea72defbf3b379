import Testing
import EmberCore
@testable import EmberBudget

@Suite struct EnvelopeTests {
    @Test func parsesTheDocumentedFile() throws {
        let e = try Envelope.parse("""
            # camera node
            power_mw = 2_500
            power_window_s = 10
            energy_mj_per_hour = 7200000
            temp_limit_c = 70   # SoC
            temp_hysteresis_c = 3
            memory_bytes = 268435456
            [deadlines_ms]
            critical = 40
            best_effort = 2000
            """, file: "camera.toml")
        #expect(e.powerMilliwatts == 2500 && e.tempLimitCelsius == 70 && e.tempHysteresisCelsius == 3)
        #expect(e.energyMillijoulesPerHour == 7_200_000 && e.memoryBytes == 268_435_456)
        #expect(e.deadlineMs[.critical] == 40 && e.deadlineMs[.normal] == 200 && e.deadlineMs[.bestEffort] == 2000)
    }

    @Test func errorsNameFileKeyAndRange() {
        func text(_ s: String) -> String {
            do { _ = try Envelope.parse(s, file: "e.toml"); return "ok" } catch { return "\(error)" }
        }
        #expect(text("temp_limit_c = 70").hasPrefix("'e.toml': power_mw: required"))
        #expect(text("power_mw = 0\ntemp_limit_c = 70") == "'e.toml': power_mw: 0.0 is outside 1.0...1000000.0")
        #expect(text("power_mw = lots\ntemp_limit_c = 70").contains("power_mw: 'lots' is not a number"))
        #expect(text("power_mw = 1\npower_mw = 2\ntemp_limit_c = 70").contains("given twice"))
        #expect(text("power_mw = 1\ntemp_limit_c = 70\nvoltage = 5").contains("voltage: unknown key"))
        #expect(text("power_mw = 1\ntemp_limit_c = 70\n[fans]").contains("[fans]: unknown section"))
        #expect(text("power_mw = 1\ntemp_limit_c = 70\njust words").contains("line 3: expected `key = value`"))
    }
}

@Suite struct ControllerTests {
    @Test func bucketRefillsAtTheCapAndWaitsHonestly() {
        var b = EnergyBucket(powerMilliwatts: 1000, windowSeconds: 2, nowNanoseconds: 0)
        #expect(b.capacityMillijoules == 2000)
        let first = b.take(1500), second = b.take(600)
        #expect(first && !second)
        #expect(b.waitMs(for: 600) == 100) // 100 mJ short at 1000 mW
        b.refill(nowNanoseconds: 100_000_000)
        let third = b.take(600)
        #expect(third)
        b.refill(nowNanoseconds: 60_000_000_000)
        #expect(b.tokensMillijoules == 2000) // never above one window
    }

    @Test func piControllerCutsPowerAsTheMarginShrinks() {
        var c = ThermalController(sustainableMilliwatts: 3000, proportionalMwPerDegree: 300, integralMwPerDegreeSecond: 50)
        let cold = c.allowedMilliwatts(celsius: 40, limitCelsius: 70, dtSeconds: 0.1)
        let near = c.allowedMilliwatts(celsius: 68, limitCelsius: 70, dtSeconds: 0.1)
        let over = c.allowedMilliwatts(celsius: 75, limitCelsius: 70, dtSeconds: 0.1)
        #expect(cold > near && near > over)
        #expect(c.integralMilliwatts < 0) // over the limit pulls the integral down
        var hot = ThermalController(sustainableMilliwatts: 1000, proportionalMwPerDegree: 500, integralMwPerDegreeSecond: 50)
        let hotAllowed = hot.allowedMilliwatts(celsius: 90, limitCelsius: 70, dtSeconds: 1)
        #expect(hotAllowed == 0) // never negative
    }
}

@Suite struct SchedulerTests {
    let ladder = [
        RungCost(name: "fp32", quality: 100, latencyMs: 40, energyMillijoules: 200), // 5 W while running
        RungCost(name: "int8", quality: 90, latencyMs: 10, energyMillijoules: 20),   // 2 W
        RungCost(name: "int4", quality: 70, latencyMs: 8, energyMillijoules: 8),     // 1 W
    ]

    func scheduler(power: Double = 6000, dwellMs: Double = 1000) throws -> (BudgetScheduler, VirtualClock) {
        let clock = VirtualClock()
        var env = Envelope(powerMilliwatts: power, tempLimitCelsius: 70)
        env.powerWindowSeconds = 1
        let s = try BudgetScheduler(envelope: env, rungs: ladder, clock: clock,
                                    controller: ThermalController(sustainableMilliwatts: power / 2, proportionalMwPerDegree: 400, integralMwPerDegreeSecond: 20),
                                    dwellMs: dwellMs)
        return (s, clock)
    }

    @Test func bestRungWhenCoolAndIdle() throws {
        let (s, _) = try scheduler()
        s.tick(celsius: 40)
        let d = try s.decide(priority: .normal)
        #expect(d.rungName == "fp32" && d.reason.hasPrefix("best rung"))
    }

    /// Requests at `perSecond` for `seconds`, a controller tick before each; the last decision.
    @discardableResult
    func drive(_ s: BudgetScheduler, _ clock: VirtualClock, perSecond: Double, seconds: Double, celsius: Double?) throws -> Decision? {
        var last: Decision?
        for _ in 0..<Int(perSecond * seconds) {
            clock.advance(milliseconds: 1000 / perSecond)
            s.tick(celsius: celsius)
            do { last = try s.decide(priority: .normal) } catch EmberError.overBudget { continue } // the window absorbs a step in load
        }
        return last
    }

    @Test func theRequestRateChoosesTheRung() throws {
        let (s, clock) = try scheduler(power: 3000, dwellMs: 0)
        // 2 req/s: fp32 needs 2 × 200 mJ = 400 mW of the 3 W cap — best rung.
        #expect(try drive(s, clock, perSecond: 2, seconds: 10, celsius: 40)?.rungName == "fp32")
        // 25 req/s: fp32 would need 5 W; int8 needs 500 mW.
        let d = try drive(s, clock, perSecond: 25, seconds: 10, celsius: 40)
        #expect(d?.rungName == "int8")
        #expect(d.map { $0.requestsPerSecond > 20 && $0.requestsPerSecond < 26 } == true)
        #expect(d?.reason.hasPrefix("best rung sustainable") == true)
    }

    @Test func heatStepsDownUpOnlyAfterTheDwellAndHysteresisHolds() throws {
        let (s, clock) = try scheduler(power: 6000, dwellMs: 1000)
        #expect(try drive(s, clock, perSecond: 10, seconds: 3, celsius: 40)?.rungName == "fp32") // 2 W of 6 W
        // Near the limit the controller allows ~3.2 W: fp32 at 10 req/s (2 W) still fits…
        #expect(try drive(s, clock, perSecond: 10, seconds: 2, celsius: 69.5)?.rungName == "fp32")
        // …at 20 req/s (4 W) it does not: int8 (400 mW).
        let down = try drive(s, clock, perSecond: 20, seconds: 3, celsius: 69.5)
        #expect(down?.rungName == "int8")
        // Cool again: fp32 fits, but the dwell time holds int8 for a second.
        clock.advance(milliseconds: 100)
        s.tick(celsius: 40)
        let held = try s.decide(priority: .normal)
        #expect(held.rungName == "int8" && held.reason.contains("dwell"))
        #expect(try drive(s, clock, perSecond: 5, seconds: 3, celsius: 40)?.rungName == "fp32")
        // Over the limit: the cheapest rung at once, dwell or not.
        clock.advance(milliseconds: 100)
        s.tick(celsius: 71)
        let hot = try s.decide(priority: .normal)
        #expect(hot.throttled && hot.rungName == "int4")
        clock.advance(milliseconds: 100)
        s.tick(celsius: 69) // within the 2 °C hysteresis: still throttled
        #expect(s.throttled)
        s.tick(celsius: 71.5)
        #expect(s.throttleEvents == 1, "still the same throttling")
        s.tick(celsius: 67.9)
        #expect(!s.throttled)
        s.tick(celsius: 70)
        #expect(s.throttled && s.throttleEvents == 2, "reaching the limit again is a second event")
    }

    @Test func spentBudgetShedsNormalButServesCritical() throws {
        let (s, clock) = try scheduler(power: 10, dwellMs: 0) // 10 mW over a 1 s window: 10 mJ
        s.tick(celsius: nil)
        #expect(try s.decide(priority: .normal).rungName == "int4") // 8 mJ: the only rung that fits
        do {
            _ = try s.decide(priority: .normal)
            Issue.record("a normal request must be shed")
        } catch let EmberError.overBudget(retry, reason) {
            #expect(retry >= 900 && retry <= 1000) // the 8 mJ leave the window after ~1 s
            #expect(reason.contains("no rung fits"))
        }
        let d = try s.decide(priority: .critical)
        #expect(d.rungName == "int4" && d.reason.contains("critical"))
        clock.advance(milliseconds: 1000)
        s.tick(celsius: nil)
        #expect(try s.decide(priority: .normal).rungName == "int4") // the window has moved on
    }

    @Test func memoryHeadroomRulesARungOut() throws {
        let clock = VirtualClock()
        var rungs = ladder
        rungs[0].memoryBytes = 64 << 20; rungs[1].memoryBytes = 16 << 20; rungs[2].memoryBytes = 8 << 20
        // No memory cap in the envelope: only the cgroup's headroom decides.
        let env = Envelope(powerMilliwatts: 6000, tempLimitCelsius: 70)
        let s = try BudgetScheduler(envelope: env, rungs: rungs, clock: clock, controller: .tuned(sustainableMilliwatts: 3000, timeConstantSeconds: 60), dwellMs: 0)
        s.tick(celsius: 40, memoryHeadroomBytes: 1 << 30)
        #expect(try s.decide(priority: .normal).rungName == "fp32")
        // Another process takes memory: 48 MiB over the limit beyond the resident fp32 (64 MiB)
        // leaves 16 MiB, so fp32 no longer fits and int8 does.
        clock.advance(milliseconds: 100)
        s.tick(celsius: 40, memoryHeadroomBytes: -(48 << 20))
        #expect(try s.decide(priority: .normal).rungName == "int8")
        // 12 MiB over beyond the resident int8 (16 MiB) leaves 4 MiB: nothing fits, and the
        // error says it is memory, not power.
        clock.advance(milliseconds: 100)
        s.tick(celsius: 40, memoryHeadroomBytes: -(12 << 20))
        let text = "\((try? s.decide(priority: .normal)).map { "served on \($0.rungName)" } ?? errorOf { try s.decide(priority: .normal) })"
        #expect(text.contains("no rung fits in 4 MiB of memory (the cgroup's memory headroom); the smallest needs 8 MiB"), "\(text)")
    }

    @Test func anEnvelopeMemoryCapBelowEveryRungIsAConfigurationError() throws {
        var rungs = ladder
        rungs[0].memoryBytes = 64 << 20; rungs[1].memoryBytes = 16 << 20; rungs[2].memoryBytes = 8 << 20
        var env = Envelope(powerMilliwatts: 6000, tempLimitCelsius: 70)
        env.memoryBytes = 1
        let text = errorOf { try BudgetScheduler(envelope: env, rungs: rungs, clock: VirtualClock(), controller: .tuned(sustainableMilliwatts: 3000, timeConstantSeconds: 60)) }
        #expect(text == "'envelope': memory_bytes: 1 byte is less than the smallest rung needs (int4: 8 MiB of arena and weights)", "\(text)")
    }

    @Test func hourlyEnergyCapSheds() throws {
        let clock = VirtualClock()
        var env = Envelope(powerMilliwatts: 6000, tempLimitCelsius: 70)
        env.energyMillijoulesPerHour = 400 // two fp32 inferences' worth as the burst allowance
        let s = try BudgetScheduler(envelope: env, rungs: ladder, clock: clock, controller: .tuned(sustainableMilliwatts: 3000, timeConstantSeconds: 60), dwellMs: 0)
        s.tick(celsius: 40)
        var served = 0, shed = 0
        for _ in 0..<100 {
            clock.advance(milliseconds: 10)
            do { _ = try s.decide(priority: .normal); served += 1 } catch { shed += 1 }
        }
        #expect(served > 0 && shed > 0)
        #expect(s.hourly.map { $0.tokensMillijoules >= 0 } == true)
    }

    /// Up to 4 threads at 90 % efficiency, deadlines 15 / 50 / 1000 ms, power to spare.
    func threadedScheduler() throws -> (BudgetScheduler, VirtualClock) {
        let clock = VirtualClock()
        var env = Envelope(powerMilliwatts: 20000, tempLimitCelsius: 70)
        env.deadlineMs = [.critical: 15, .normal: 50, .bestEffort: 1000]
        var o = SchedulerOptions()
        o.maxThreads = 4; o.parallelEfficiency = 0.9; o.dwellMs = 0
        let s = try BudgetScheduler(envelope: env, rungs: ladder, clock: clock, controller: .tuned(sustainableMilliwatts: 10000, timeConstantSeconds: 60), options: o)
        return (s, clock)
    }

    @Test func threadsAreSpentOnlyWhenTheDeadlineNeedsThem() throws {
        let (s, clock) = try threadedScheduler()
        s.tick(celsius: 40)
        let normal = try s.decide(priority: .normal)     // fp32: 40 ms on one thread meets 50 ms
        #expect(normal.rungName == "fp32" && normal.threads == 1)
        clock.advance(milliseconds: 500)
        let critical = try s.decide(priority: .critical) // 15 ms: fp32 needs 4 threads (40/3.24 = 12.3 ms)
        #expect(critical.rungName == "fp32" && critical.threads == 4)
        #expect(critical.predictedEnergyMillijoules > normal.predictedEnergyMillijoules) // more threads cost energy
    }

    @Test func aRequestsOwnDeadlineReplacesTheEnvelopesForItsPriority() throws {
        let (s, clock) = try threadedScheduler()
        s.tick(celsius: 40)
        let tight = try s.decide(priority: .normal, deadlineMs: 15) // as critical's: fp32 on 4 threads
        #expect(tight.rungName == "fp32" && tight.threads == 4, "\(tight)")
        clock.advance(milliseconds: 500)
        let loose = try s.decide(priority: .critical, deadlineMs: 50) // as normal's: one thread is enough
        #expect(loose.rungName == "fp32" && loose.threads == 1, "\(loose)")
        clock.advance(milliseconds: 500)
        let faster = try s.decide(priority: .normal, deadlineMs: 9) // fp32 on 4 threads takes 12.3 ms: int8 does it
        #expect(faster.rungName == "int8", "\(faster)")
        clock.advance(milliseconds: 500)
        #expect(try s.decide(priority: .normal).threads == 1, "the next request has the envelope's deadline again")
    }

    @Test func measurementsCorrectPredictions() throws {
        let (s, _) = try scheduler()
        s.tick(celsius: 40)
        let d = try s.decide(priority: .normal)
        s.record(d, measuredLatencyMs: 80, measuredEnergyMillijoules: 400)
        #expect(s.rungs[0].latencyMs == 48 && s.rungs[0].energyMillijoules == 240)
        #expect(s.energySpentMillijoules == 400)
        #expect(s.windowMilliwatts == 400, "the window holds the measured 400 mJ over its 1 s")
        s.record(d, measuredLatencyMs: 40, measuredEnergyMillijoules: nil)
        #expect(s.energySpentMillijoules == 400 + d.predictedEnergyMillijoules, "no measurement: the prediction counts")
    }
}

func errorOf(_ body: () throws -> Any) -> String {
    do { _ = try body(); return "no error" } catch { return "\(error)" }
}
