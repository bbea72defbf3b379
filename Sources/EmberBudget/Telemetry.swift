// EmberBudget — keeps inference inside a power, energy, temperature and memory
// envelope. This file: telemetry, one reader per Linux interface, exact units.
// (Clock.swift: real and virtual clocks.) The controller, policy and simulator
// build on these readings.
import EmberCore

/// A trip point of a thermal zone (°C).
public struct TripPoint: Sendable, Equatable {
    public var type: String
    public var celsius: Double
}

/// /sys/class/thermal/thermal_zone*: `temp` and `trip_point_*_temp` in m°C.
public struct ThermalZone: Sendable, Equatable {
    public var name: String
    public var type: String
    public var celsius: Reading<Double>
    public var trips: [TripPoint]
}

/// /sys/class/powercap/intel-rapl:*: a cumulative energy counter in µJ that
/// wraps at `max_energy_range_uj`.
public struct RaplDomain: Sendable, Equatable {
    public var id: String
    public var name: String
    public var energyMicrojoules: Reading<Int64>
    public var maxRangeMicrojoules: Int64?
}

/// /sys/class/hwmon/hwmon*: power µW, energy µJ, temperature m°C, voltage mV, current mA.
public struct HwmonDevice: Sendable, Equatable {
    public var id: String
    public var name: String
    public var powerMilliwatts: [String: Double] = [:]
    public var energyMillijoules: [String: Double] = [:]
    public var celsius: [String: Double] = [:]
    public var volts: [String: Double] = [:]
    public var amps: [String: Double] = [:]
}

/// /sys/class/power_supply/*: power µW, voltage µV, current µA, capacity %, temp 0.1 °C.
public struct PowerSupply: Sendable, Equatable {
    public var name: String
    public var type: String
    public var status: String?
    public var capacityPercent: Int?
    public var powerMilliwatts: Reading<Double>
}

/// The process's own cgroup v2 memory and pressure (bytes; PSI avg10 %).
public struct CgroupMemory: Sendable, Equatable {
    public var path: String
    /// nil when `memory.max` is "max" (no limit).
    public var limitBytes: Reading<Int64?>
    public var currentBytes: Reading<Int64>
    public var memoryPressureAvg10: Reading<Double>
    public var cpuPressureAvg10: Reading<Double>

    /// Bytes left under the limit, when both are known.
    public var headroomBytes: Int64? {
        guard case let .available(limit?) = limitBytes, case let .available(current) = currentBytes else { return nil }
        return limit - current
    }
}

/// Everything found in one sample.
public struct TelemetrySnapshot: Sendable, Equatable {
    public var thermalZones: [ThermalZone] = []
    public var rapl: [RaplDomain] = []
    public var hwmon: [HwmonDevice] = []
    public var powerSupplies: [PowerSupply] = []
    public var cgroup: Reading<CgroupMemory> = .unavailable("not read")

    /// The hottest zone, the figure a thermal limit is checked against.
    public var hottestCelsius: Double? {
        thermalZones.compactMap { $0.celsius.value }.max()
    }
}

/// Reads every telemetry source under a root.
public struct Telemetry: Sendable {
    public let fs: SysfsRoot
    public init(root: SysfsRoot = SysfsRoot()) { fs = root }

    public func sample() -> TelemetrySnapshot {
        TelemetrySnapshot(thermalZones: thermalZones(), rapl: raplDomains(), hwmon: hwmonDevices(),
                          powerSupplies: powerSupplies(), cgroup: cgroupMemory())
    }

    public func thermalZones() -> [ThermalZone] {
        fs.list("sys/class/thermal", prefix: "thermal_zone").map { zone in
            let base = "sys/class/thermal/\(zone)"
            var trips: [TripPoint] = []
            for f in fs.list(base, prefix: "trip_point_") where f.hasSuffix("_temp") {
                let stem = String(f.dropLast("_temp".count))
                if let milli = fs.integer("\(base)/\(f)", in: Plausible.milliCelsius).value {
                    trips.append(TripPoint(type: fs.text("\(base)/\(stem)_type").value ?? "unknown", celsius: Double(milli) / 1000))
                }
            }
            let temp: Reading<Double>
            switch fs.integer("\(base)/temp", in: Plausible.milliCelsius) {
            case let .available(milli): temp = .available(Double(milli) / 1000)
            case let .unavailable(why): temp = .unavailable(why)
            }
            return ThermalZone(name: zone, type: fs.text("\(base)/type").value ?? "unknown", celsius: temp, trips: trips)
        }
    }

    public func raplDomains() -> [RaplDomain] {
        fs.list("sys/class/powercap", prefix: "intel-rapl:").map { id in
            let base = "sys/class/powercap/\(id)"
            return RaplDomain(id: id, name: fs.text("\(base)/name").value ?? id,
                              energyMicrojoules: raplEnergy(id: id),
                              maxRangeMicrojoules: fs.integer("\(base)/max_energy_range_uj", in: 1...Int64.max).value)
        }
    }

    /// One RAPL domain's counter (`id` as in `raplDomains()`): one file read,
    /// for sampling around every inference without listing the domains again.
    public func raplEnergy(id: String) -> Reading<Int64> {
        fs.integer("sys/class/powercap/\(id)/energy_uj", in: 0...Int64.max)
    }

    public func hwmonDevices() -> [HwmonDevice] {
        fs.list("sys/class/hwmon", prefix: "hwmon").map { id in
            let base = "sys/class/hwmon/\(id)"
            var d = HwmonDevice(id: id, name: fs.text("\(base)/name").value ?? id)
            for f in fs.list(base) where f.hasSuffix("_input") {
                let channel = String(f.dropLast("_input".count))
                // INA3221 and friends label the voltage channel only; its current shares the index.
                let sibling = channel.hasPrefix("curr") ? "in" + channel.dropFirst(4) : channel
                let label = fs.text("\(base)/\(channel)_label").value ?? fs.text("\(base)/\(sibling)_label").value ?? channel
                let path = "\(base)/\(f)"
                if f.hasPrefix("power"), let v = fs.integer(path, in: Plausible.microwatts).value { d.powerMilliwatts[label] = Double(v) / 1000 }
                else if f.hasPrefix("energy"), let v = fs.integer(path, in: 0...Int64.max).value { d.energyMillijoules[label] = Double(v) / 1000 }
                else if f.hasPrefix("temp"), let v = fs.integer(path, in: Plausible.milliCelsius).value { d.celsius[label] = Double(v) / 1000 }
                else if f.hasPrefix("in"), let v = fs.integer(path, in: Plausible.millivolts).value { d.volts[label] = Double(v) / 1000 }
                else if f.hasPrefix("curr"), let v = fs.integer(path, in: Plausible.milliamps).value { d.amps[label] = Double(v) / 1000 }
            }
            return d
        }
    }

    public func powerSupplies() -> [PowerSupply] {
        fs.list("sys/class/power_supply").map { name in
            let base = "sys/class/power_supply/\(name)"
            var power: Reading<Double>
            switch fs.integer("\(base)/power_now", in: Plausible.microwatts) {
            case let .available(uw): power = .available(Double(uw) / 1000)
            case let .unavailable(why):
                // power = V × I when the supply reports those instead (µV × µA → mW).
                if let uv = fs.integer("\(base)/voltage_now", in: Plausible.microvolts).value,
                   let ua = fs.integer("\(base)/current_now", in: Plausible.microamps).value {
                    power = .available(abs(Double(uv) * Double(ua)) / 1e9)
                } else {
                    power = .unavailable(why)
                }
            }
            return PowerSupply(name: name, type: fs.text("\(base)/type").value ?? "unknown",
                               status: fs.text("\(base)/status").value,
                               capacityPercent: fs.integer("\(base)/capacity", in: 0...100).value.map { Int($0) },
                               powerMilliwatts: power)
        }
    }

    /// The cgroup of this process ("0::/path" in /proc/self/cgroup), under
    /// /sys/fs/cgroup (or /sys/fs/cgroup/unified on hybrid hierarchies).
    public func cgroupMemory() -> Reading<CgroupMemory> {
        guard case let .available(text) = fs.text("proc/self/cgroup") else {
            return .unavailable("/proc/self/cgroup is not readable")
        }
        guard let line = textLines(text).first(where: { $0.hasPrefix("0::") }) else {
            return .unavailable("no cgroup v2 entry in /proc/self/cgroup (cgroup v1 only)")
        }
        let rel = String(line.dropFirst(3))
        // The path comes from a file: it must stay inside the cgroup tree under the root.
        guard rel.hasPrefix("/"), !rel.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
            return .unavailable("/proc/self/cgroup names '\(rel.prefix(80))', which leaves the cgroup tree")
        }
        let candidates = ["sys/fs/cgroup" + rel, "sys/fs/cgroup/unified" + rel]
        guard let base = candidates.first(where: { fs.exists($0 + "/memory.current") || fs.exists($0 + "/memory.max") }) else {
            return .unavailable("cgroup v2 directory for \(rel) has no memory controller files")
        }
        let limit: Reading<Int64?>
        switch fs.text(base + "/memory.max") {
        case let .available(s):
            if s == "max" { limit = .available(nil) }
            else if let v = Int64(s), v >= 0 { limit = .available(v) }
            else { limit = .unavailable("memory.max holds '\(s.prefix(40))'") }
        case let .unavailable(why): limit = .unavailable(why)
        }
        return .available(CgroupMemory(path: rel, limitBytes: limit, currentBytes: fs.integer(base + "/memory.current", in: 0...Int64.max),
                                       memoryPressureAvg10: pressure(base + "/memory.pressure"),
                                       cpuPressureAvg10: pressure(base + "/cpu.pressure")))
    }

    /// PSI "some avg10=0.00 avg60=… total=…" → avg10.
    func pressure(_ relative: String) -> Reading<Double> {
        switch fs.text(relative) {
        case let .unavailable(why): return .unavailable(why)
        case let .available(s):
            guard let some = textLines(s).first(where: { $0.hasPrefix("some ") }),
                  let field = some.split(separator: " ").first(where: { $0.hasPrefix("avg10=") }),
                  let v = Double(field.dropFirst("avg10=".count)), v >= 0, v <= 100 else {
                return .unavailable("\(relative) is not in PSI format")
            }
            return .available(v)
        }
    }

}

/// Ranges a sensor value must be in to be believed, in kernel units. Past them
/// the reading is reported as implausible (a broken driver or a planted file).
enum Plausible {
    static let milliCelsius: ClosedRange<Int64> = -60_000...200_000
    /// Up to 100 kW: nothing Ember runs on draws more.
    static let microwatts: ClosedRange<Int64> = 0...100_000_000_000
    static let microvolts: ClosedRange<Int64> = 0...1_000_000_000
    static let microamps: ClosedRange<Int64> = -1_000_000_000...1_000_000_000
    static let millivolts: ClosedRange<Int64> = -1_000_000...1_000_000
    static let milliamps: ClosedRange<Int64> = -1_000_000...1_000_000
}

/// Power from a cumulative energy counter (RAPL `energy_uj`, hwmon `energy*_input`),
/// handling wrap-around at the counter's maximum. A counter that runs backwards
/// without a known wrap range is marked unavailable, never turned into negative power.
public struct EnergyMeter: Sendable {
    public let maxRange: Int64?
    private var last: (energy: Int64, nanoseconds: UInt64)?

    public init(maxRange: Int64?) { self.maxRange = maxRange }

    /// Average power in milliwatts since the previous sample (nil on the first).
    public mutating func sample(microjoules: Int64, atNanoseconds now: UInt64) -> Reading<Double>? {
        defer { last = (microjoules, now) }
        guard let (e0, t0) = last else { return nil }
        guard now > t0 else { return .unavailable("no time passed between samples") }
        // In Double: counters come from files, and their difference may not fit an Int64.
        var delta = Double(microjoules) - Double(e0)
        if delta < 0 {
            guard let range = maxRange, range > 0, e0 <= range, microjoules >= 0 else {
                return .unavailable("energy counter ran backwards (\(e0) → \(microjoules) µJ) with no wrap range")
            }
            delta += Double(range) // wrapped past max_energy_range_uj
        }
        let seconds = Double(now - t0) / 1e9
        let milliwatts = delta / 1000 / seconds // µJ → mJ, per s → mW
        guard milliwatts <= Double(Plausible.microwatts.upperBound) / 1000 else {
            return .unavailable("energy counter jumped \(fmt3(delta)) µJ in \(fmt3(seconds)) s, an implausible \(fmt3(milliwatts)) mW")
        }
        return .available(milliwatts)
    }
}
