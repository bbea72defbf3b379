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
        #expect(text("temp_limit_c = 70") == "e.toml: power_mw: required")
        #expect(text("power_mw = 0\ntemp_limit_c = 70") == "e.toml: power_mw: 0.0 is outside 1.0...1000000.0")
        #expect(text("power_mw = lots\ntemp_limit_c = 70").contains("power_mw: 'lots' is not a number"))
        #expect(text("power_mw = 1\npower_mw = 2\ntemp_limit_c = 70").contains("given twice"))
        #expect(text("power_mw = 1\ntemp_limit_c = 70\nvoltage = 5").contains("voltage: unknown key"))
        #expect(text("power_mw = 1\ntemp_limit_c = 70\n[fans]").contains("[fans]: unknown section"))
        #expect(text("power_mw = 1\ntemp_limit_c = 70\njust words").contains("line 3: expected `key = number`"))
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

    @Test func heatStepsDownAtOnceUpOnlyAfterTheDwellAndHysteresisHolds() throws {
        let (s, clock) = try scheduler()
        s.tick(celsius: 40)
        #expect(try s.decide(priority: .normal).rungName == "fp32")
        clock.advance(milliseconds: 100)
        s.tick(celsius: 69.5) // near the limit the controller allows ~3.2 W: fp32 (5 W) no longer fits
        var d = try s.decide(priority: .normal)
        #expect(d.rungName == "int8") // leaving a rung that does not fit is immediate
        clock.advance(milliseconds: 100)
        s.tick(celsius: 60) // cool again: fp32 fits, but the dwell time holds int8
        d = try s.decide(priority: .normal)
        #expect(d.rungName == "int8" && d.reason.contains("dwell"))
        clock.advance(milliseconds: 1000)
        s.tick(celsius: 60)
        #expect(try s.decide(priority: .normal).rungName == "fp32")
        clock.advance(milliseconds: 100)
        s.tick(celsius: 71) // over the limit: throttled to the cheapest rung
        d = try s.decide(priority: .normal)
        #expect(d.throttled && d.rungName == "int4")
        clock.advance(milliseconds: 100)
        s.tick(celsius: 69) // within the 2 °C hysteresis: still throttled
        #expect(s.throttled)
        s.tick(celsius: 67.9)
        #expect(!s.throttled)
    }

    @Test func spentBudgetShedsNormalButServesCritical() throws {
        let (s, _) = try scheduler(power: 100, dwellMs: 0) // 100 mJ bucket, 100 mW refill
        s.tick(celsius: nil)
        // fp32 (5 W) and int8 (2 W) exceed 100 mW of allowed power: nothing fits.
        do {
            _ = try s.decide(priority: .normal)
            Issue.record("a normal request must be shed")
        } catch let EmberError.overBudget(retry, reason) {
            #expect(retry >= 1)
            #expect(reason.contains("no rung fits"))
        }
        let d = try s.decide(priority: .critical)
        #expect(d.rungName == "int4" && d.reason.contains("critical"))
    }

    @Test func measurementsCorrectPredictions() throws {
        let (s, _) = try scheduler()
        s.tick(celsius: 40)
        let d = try s.decide(priority: .normal)
        s.record(d, measuredLatencyMs: 80, measuredEnergyMillijoules: 400)
        #expect(s.rungs[0].latencyMs == 48 && s.rungs[0].energyMillijoules == 240)
    }
}
