import ArgumentParser
import EmberBudget
#if canImport(Glibc)
import Glibc
#endif

struct TelemetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "telemetry",
        abstract: "Show the thermal, power and memory sensors Ember can read on this machine.",
        discussion: """
        Reads thermal zones (/sys/class/thermal), RAPL energy counters (/sys/class/powercap), \
        hwmon devices (/sys/class/hwmon), power supplies (/sys/class/power_supply) and this \
        process's cgroup v2 memory and pressure, in their kernel units, and says plainly which \
        sources are absent or unreadable (a VM usually has none; RAPL is root-only on most \
        kernels). Where no power sensor exists the budget scheduler falls back to the device \
        profile's power model.

        Examples:
          ember telemetry
          ember telemetry --root Tests/Fixtures/sysfs/jetson
        """
    )

    @Option(help: "Read a copy of /sys and /proc under this directory instead of the real ones.")
    var root: String = "/"

    @Flag(help: "Also sample energy counters twice, 200 ms apart, and print the power they give.")
    var power = false

    func validate() throws {
        guard !root.isEmpty, isDirectory(root) else { throw ValidationError("--root '\(root)' is not a directory") }
    }

    func run() throws {
        let telemetry = Telemetry(root: SysfsRoot(root))
        let s = telemetry.sample()
        print("thermal zones" + (s.thermalZones.isEmpty ? ": none found (no /sys/class/thermal/thermal_zone*)" : ""))
        for z in s.thermalZones {
            let t: String
            switch z.celsius {
            case let .available(c): t = "\(c) °C"
            case let .unavailable(why): t = "unavailable: \(why)"
            }
            print("  \(z.name) (\(z.type)): \(t)" + (z.trips.isEmpty ? "" : "; trips " + z.trips.map { "\($0.type) \($0.celsius) °C" }.joined(separator: ", ")))
        }
        print("RAPL energy counters" + (s.rapl.isEmpty ? ": none found (no /sys/class/powercap/intel-rapl:*)" : ""))
        for d in s.rapl {
            switch d.energyMicrojoules {
            case let .available(uj): print("  \(d.id) (\(d.name)): \(uj) µJ" + (d.maxRangeMicrojoules.map { ", wraps at \($0) µJ" } ?? ""))
            case let .unavailable(why): print("  \(d.id) (\(d.name)): unavailable: \(why)")
            }
        }
        print("hwmon devices" + (s.hwmon.isEmpty ? ": none found (no /sys/class/hwmon/hwmon*)" : ""))
        for h in s.hwmon {
            var parts: [String] = []
            parts += h.powerMilliwatts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) mW" }
            parts += h.energyMillijoules.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) mJ" }
            parts += h.celsius.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) °C" }
            parts += h.volts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) V" }
            parts += h.amps.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) A" }
            print("  \(h.id) (\(h.name)): " + (parts.isEmpty ? "no power, energy, temperature, voltage or current inputs" : parts.joined(separator: ", ")))
        }
        print("power supplies" + (s.powerSupplies.isEmpty ? ": none found (no /sys/class/power_supply/*)" : ""))
        for p in s.powerSupplies {
            let w: String
            switch p.powerMilliwatts {
            case let .available(mw): w = "\(mw) mW"
            case let .unavailable(why): w = "power unavailable (\(why))"
            }
            print("  \(p.name) (\(p.type))" + (p.status.map { " \($0)" } ?? "") + (p.capacityPercent.map { " \($0)%" } ?? "") + ": \(w)")
        }
        switch s.cgroup {
        case let .available(c):
            let limit: String
            switch c.limitBytes {
            case .available(nil): limit = "no limit"
            case let .available(b?): limit = "limit \(b) bytes"
            case let .unavailable(why): limit = "limit unavailable (\(why))"
            }
            print("cgroup v2 \(c.path): \(limit), current \(c.currentBytes.value.map { "\($0) bytes" } ?? "unavailable")"
                  + (c.headroomBytes.map { ", headroom \($0) bytes" } ?? "")
                  + ", memory pressure avg10 \(c.memoryPressureAvg10.value.map { "\($0)%" } ?? "unavailable")"
                  + ", cpu pressure avg10 \(c.cpuPressureAvg10.value.map { "\($0)%" } ?? "unavailable")")
        case let .unavailable(why):
            print("cgroup v2: unavailable: \(why)")
        }
        if power {
            let clock = MonotonicClock()
            var meters = s.rapl.map { EnergyMeter(maxRange: $0.maxRangeMicrojoules) }
            for (i, d) in s.rapl.enumerated() { if let e = d.energyMicrojoules.value { _ = meters[i].sample(microjoules: e, atNanoseconds: clock.nanoseconds) } }
            var req = timespec(tv_sec: 0, tv_nsec: 200_000_000)
            nanosleep(&req, nil)
            let again = telemetry.raplDomains()
            for (i, d) in again.enumerated() where i < meters.count {
                guard let e = d.energyMicrojoules.value, let p = meters[i].sample(microjoules: e, atNanoseconds: clock.nanoseconds) else { continue }
                print("  \(d.name): \(p.value.map { "\(Int($0)) mW" } ?? "unavailable")")
            }
            if s.rapl.isEmpty { print("power: no energy counter to sample") }
        }
    }
}
