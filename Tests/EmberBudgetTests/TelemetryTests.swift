import Testing
@testable import EmberBudget

func fixtureRoot(_ name: String) -> SysfsRoot {
    var parts = #filePath.split(separator: "/").map(String.init)
    parts.removeLast(2)
    return SysfsRoot("/" + parts.joined(separator: "/") + "/Fixtures/sysfs/" + name)
}

@Suite struct TelemetryTests {
    @Test func raspberryPi4HasTemperatureAndNoPowerSensor() {
        let s = Telemetry(root: fixtureRoot("rpi4")).sample()
        #expect(s.thermalZones.count == 1)
        #expect(s.thermalZones[0].type == "cpu-thermal")
        #expect(s.thermalZones[0].celsius == .available(48.312))
        #expect(s.thermalZones[0].trips == [TripPoint(type: "critical", celsius: 110)])
        #expect(s.rapl.isEmpty && s.powerSupplies.isEmpty)
        #expect(s.hwmon.first?.powerMilliwatts.isEmpty == true) // rpi_volt reports only an alarm
        let cg = s.cgroup.value
        #expect(cg?.limitBytes == .available(nil)) // "max": no limit
        #expect(cg?.currentBytes == .available(73_400_320))
        #expect(cg?.memoryPressureAvg10 == .available(0))
        #expect(cg?.headroomBytes == nil)
    }

    @Test func raspberryPi5TripsFanAndPressure() {
        let s = Telemetry(root: fixtureRoot("rpi5")).sample()
        #expect(s.thermalZones[0].trips.map(\.celsius) == [50, 60, 67.5, 75, 110])
        #expect(s.hwmon.first { $0.name == "cpu_thermal" }?.celsius["temp1"] == 61.25)
        let cg = s.cgroup.value
        #expect(cg?.headroomBytes == Int64(2_147_483_648 - 536_870_912))
        #expect(cg?.memoryPressureAvg10 == .available(2.5))
        #expect(cg?.cpuPressureAvg10 == .available(12.75))
    }

    @Test func jetsonINA3221RailsInVoltsAndAmps() {
        let s = Telemetry(root: fixtureRoot("jetson")).sample()
        #expect(s.thermalZones.map(\.type) == ["cpu-thermal", "gpu-thermal", "soc0-thermal", "tj-thermal"])
        #expect(s.hottestCelsius == 55.062)
        let ina = s.hwmon.first { $0.name == "ina3221" }
        #expect(ina?.volts["VDD_IN"] == 5.048)
        #expect(ina?.amps["VDD_IN"] == 1.172) // curr1 takes in1's label
        #expect(ina?.amps["VDD_SOC"] == 0.408)
    }

    @Test func intelRaplBatteryAndAnUnreadableCounter() {
        let s = Telemetry(root: fixtureRoot("intel")).sample()
        #expect(s.rapl.map(\.name) == ["package-0", "core", "dram"])
        #expect(s.rapl[0].energyMicrojoules == .available(262_143_000_000))
        #expect(s.rapl[0].maxRangeMicrojoules == 262_143_328_850)
        guard case let .unavailable(why) = s.rapl[2].energyMicrojoules else {
            Issue.record("dram energy should be unavailable"); return
        }
        #expect(why.contains("energy_uj"))
        let bat = s.powerSupplies.first { $0.name == "BAT0" }
        #expect(bat?.capacityPercent == 81 && bat?.status == "Discharging")
        #expect(bat?.powerMilliwatts == .available(12.1 * 0.85 * 1000)) // V × I when power_now is absent
        #expect(s.cgroup.value?.headroomBytes == Int64(268_435_456 - 104_857_600))
    }

    @Test func brokenSensorsAreUnavailableWithAReason() {
        let s = Telemetry(root: fixtureRoot("broken")).sample()
        guard case let .unavailable(a) = s.thermalZones[0].celsius, case let .unavailable(b) = s.thermalZones[1].celsius else {
            Issue.record("malformed temperatures must be unavailable"); return
        }
        #expect(a.contains("not an integer"))
        #expect(b.contains("outside"))
        #expect(s.thermalZones[1].trips.isEmpty)
        #expect(s.hwmon[0].powerMilliwatts.isEmpty)
        #expect(s.rapl[0].energyMicrojoules.value == nil)
        let cg = s.cgroup.value
        #expect(cg?.limitBytes.value == nil && cg?.currentBytes.value == nil && cg?.memoryPressureAvg10.value == nil)
        #expect(s.hottestCelsius == nil)
    }

    @Test func aMissingRootIsEmptyNotACrash() {
        let s = Telemetry(root: SysfsRoot("/nonexistent/ember")).sample()
        #expect(s.thermalZones.isEmpty && s.rapl.isEmpty && s.hwmon.isEmpty && s.powerSupplies.isEmpty)
        #expect(s.cgroup.value == nil)
    }
}

@Suite struct EnergyMeterTests {
    @Test func powerFromCounterDeltasWithWrapAround() {
        let clock = VirtualClock()
        var meter = EnergyMeter(maxRange: 262_143_328_850)
        #expect(meter.sample(microjoules: 262_143_000_000, atNanoseconds: clock.nanoseconds) == nil)
        clock.advance(milliseconds: 100)
        // The counter wrapped: 328_850 µJ to the top, then 171_150 µJ → 500 mJ in 0.1 s = 5 W.
        #expect(meter.sample(microjoules: 171_150, atNanoseconds: clock.nanoseconds) == .available(5000))
        clock.advance(milliseconds: 1000)
        #expect(meter.sample(microjoules: 2_171_150, atNanoseconds: clock.nanoseconds) == .available(2000))
    }

    @Test func backwardsCounterWithoutRangeIsUnavailable() {
        var meter = EnergyMeter(maxRange: nil)
        _ = meter.sample(microjoules: 1000, atNanoseconds: 0)
        guard case let .unavailable(why)? = meter.sample(microjoules: 10, atNanoseconds: 1_000_000) else {
            Issue.record("a backwards counter must be unavailable"); return
        }
        #expect(why.contains("backwards"))
        _ = meter.sample(microjoules: 5000, atNanoseconds: 1_000_000)
        #expect(meter.sample(microjoules: 6000, atNanoseconds: 1_000_000)?.value == nil) // no time passed
    }

    @Test func clocksMove() {
        let v = VirtualClock(startingAt: 5)
        v.advance(milliseconds: 1.5)
        #expect(v.nanoseconds == 1_500_005)
        let m = MonotonicClock()
        let a = m.nanoseconds, b = m.nanoseconds
        #expect(b >= a && a > 0)
    }
}
