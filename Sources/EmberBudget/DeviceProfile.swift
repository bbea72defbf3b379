import EmberCore
#if canImport(Glibc)
import Glibc
#endif

/// A device class as `targets/NAME.toml` describes it (DESIGN.md, "Device
/// profiles"): compute rates, a power model and a lumped thermal model. The
/// packer uses it to estimate each rung's latency and energy; the scheduler
/// falls back to it when a power sensor is missing; the simulator runs on it.
public struct DeviceProfile: Sendable, Equatable {
    public var name: String
    public var description: String
    public var cores: Int
    public var isa: [String]
    public var memoryBytes: Int64
    public var memoryBandwidthGBps: Double

    /// Sustained multiply-accumulates per second per core, ×10⁹.
    public var gmacsPerCoreF32: Double
    public var gmacsPerCoreF16: Double
    public var gmacsPerCoreI8: Double
    /// Speed-up on t threads is t·efficiency^(t−1).
    public var parallelEfficiency: Double

    public var idleMilliwatts: Double
    /// Extra power of one fully busy core at full clock.
    public var coreActiveMilliwatts: Double
    public var energyPicojoulesPerMacF32: Double
    public var energyPicojoulesPerMacI8: Double
    public var energyPicojoulesPerDramByte: Double

    /// Sensor-to-ambient thermal resistance (°C/W) and RC time constant (s).
    public var thermalResistanceCPerW: Double
    public var thermalTimeConstantS: Double
    public var tripPassiveCelsius: Double
    public var tripCriticalCelsius: Double
    /// Clock fraction the kernel caps to above the passive trip point.
    public var throttleFrequencyFraction: Double

    public static let knownISAFeatures: Set<String> = [
        "neon", "dotprod", "fp16", "i8mm", "sve", "sse4.2", "avx2", "fma", "avx512f", "avx512vnni", "avxvnni",
    ]

    /// Reads and parses the device profile file at `path` (a config file: at most 1 MiB, UTF-8).
    public static func load(path: String) throws -> DeviceProfile {
        try parse(try readTextFile(path, .config("device profile")), file: path)
    }

    /// Parses and validates a profile; errors name the file, the key and the range.
    public static func parse(_ text: String, file: String) throws -> DeviceProfile {
        let c = try ConfigFile(parsing: text, file: file, sections: ["compute", "power", "thermal"])
        try c.rejectUnknown([
            "name", "description", "cores", "isa", "memory_bytes", "memory_bandwidth_gbps",
            "compute.gmacs_per_core_f32", "compute.gmacs_per_core_f16", "compute.gmacs_per_core_i8", "compute.parallel_efficiency",
            "power.idle_mw", "power.core_active_mw", "power.energy_pj_per_mac_f32", "power.energy_pj_per_mac_i8",
            "power.energy_pj_per_dram_byte",
            "thermal.resistance_c_per_w", "thermal.time_constant_s", "thermal.trip_passive_c", "thermal.trip_critical_c",
            "thermal.throttle_frequency_fraction",
        ])
        let gmacs: ClosedRange<Double> = 0.01...10_000
        let f32 = try c.number("compute.gmacs_per_core_f32", in: gmacs)
        let p = DeviceProfile(
            name: try c.string("name") ?? "",
            description: try c.string("description") ?? "",
            cores: Int(try c.number("cores", in: 1...256)),
            isa: try c.strings("isa", allowed: knownISAFeatures),
            memoryBytes: Int64(try c.number("memory_bytes", in: 1e6...1e13)),
            memoryBandwidthGBps: try c.number("memory_bandwidth_gbps", in: 0.1...2000),
            gmacsPerCoreF32: f32,
            gmacsPerCoreF16: try c.number("compute.gmacs_per_core_f16", in: gmacs, required: false) ?? f32,
            gmacsPerCoreI8: try c.number("compute.gmacs_per_core_i8", in: gmacs),
            parallelEfficiency: try c.number("compute.parallel_efficiency", in: 0.1...1),
            idleMilliwatts: try c.number("power.idle_mw", in: 0...500_000),
            coreActiveMilliwatts: try c.number("power.core_active_mw", in: 1...200_000),
            energyPicojoulesPerMacF32: try c.number("power.energy_pj_per_mac_f32", in: 0.01...10_000),
            energyPicojoulesPerMacI8: try c.number("power.energy_pj_per_mac_i8", in: 0.01...10_000),
            energyPicojoulesPerDramByte: try c.number("power.energy_pj_per_dram_byte", in: 1...100_000),
            thermalResistanceCPerW: try c.number("thermal.resistance_c_per_w", in: 0.1...200),
            thermalTimeConstantS: try c.number("thermal.time_constant_s", in: 1...10_000),
            tripPassiveCelsius: try c.number("thermal.trip_passive_c", in: 30...150),
            tripCriticalCelsius: try c.number("thermal.trip_critical_c", in: 30...150),
            throttleFrequencyFraction: try c.number("thermal.throttle_frequency_fraction", in: 0.1...1))
        guard p.tripCriticalCelsius > p.tripPassiveCelsius else {
            throw EmberError.invalidConfiguration(file: file, key: "thermal.trip_critical_c",
                                                  reason: "\(p.tripCriticalCelsius) must be above thermal.trip_passive_c (\(p.tripPassiveCelsius))")
        }
        let stem = file.split(separator: "/").last.map { String($0) }?.replacingSuffix(".toml") ?? file
        guard !p.name.isEmpty, stem == p.name || !file.hasSuffix(".toml") else {
            throw EmberError.invalidConfiguration(file: file, key: "name", reason: "'\(p.name)' must equal the file name '\(stem)'")
        }
        return p
    }

    /// Speed-up of `threads` threads (at most `cores`) over one.
    public func speedup(threads: Int) -> Double {
        parallelSpeedup(threads: min(max(threads, 1), cores), efficiency: parallelEfficiency)
    }

    /// Sustainable power: what holds the sensor at `limitCelsius` in `ambientCelsius`.
    public func sustainableMilliwatts(limitCelsius: Double, ambientCelsius: Double) -> Double {
        Swift.max(0, (limitCelsius - ambientCelsius) / thermalResistanceCPerW * 1000)
    }

    /// Latency, energy above idle and average extra power of one inference of
    /// `work` on `threads` threads at `frequencyFraction` of the full clock.
    /// Compute time and memory time overlap (roofline: the longer one wins);
    /// energy is per-MAC and per-byte energy plus busy cores for the duration.
    /// Lower clocks scale dynamic power with f·V² ≈ f² (voltage tracks frequency),
    /// so energy per operation falls as f.
    public func estimate(_ work: InferenceWork, threads: Int, frequencyFraction: Double = 1) -> InferenceEstimate {
        let f = Swift.min(Swift.max(frequencyFraction, 0.05), 1)
        let t = Swift.min(Swift.max(threads, 1), cores)
        let rate = speedup(threads: t) * f * 1e9
        let computeS = Double(work.macsF32) / (gmacsPerCoreF32 * rate) + Double(work.macsF16) / (gmacsPerCoreF16 * rate)
            + Double(work.macsI8) / (gmacsPerCoreI8 * rate)
        let memoryS = Double(work.dramBytes) / (memoryBandwidthGBps * 1e9)
        let seconds = Swift.max(computeS, memoryS, 1e-7)
        let opsPj = (Double(work.macsF32 + work.macsF16) * energyPicojoulesPerMacF32 + Double(work.macsI8) * energyPicojoulesPerMacI8) * f
            + Double(work.dramBytes) * energyPicojoulesPerDramByte
        let coresMj = coreActiveMilliwatts * f * f * Double(t) * seconds
        let energyMj = opsPj * 1e-9 + coresMj
        return InferenceEstimate(latencyMs: seconds * 1000, energyMillijoules: energyMj, threads: t)
    }
}

/// What one inference asks of a device: MACs by arithmetic type and bytes
/// moved to and from DRAM (weights once, every activation read and written).
public struct InferenceWork: Sendable, Equatable {
    public var macsF32: Int
    public var macsF16: Int
    public var macsI8: Int
    public var dramBytes: Int
    public init(macsF32: Int = 0, macsF16: Int = 0, macsI8: Int = 0, dramBytes: Int = 0) {
        self.macsF32 = macsF32; self.macsF16 = macsF16; self.macsI8 = macsI8; self.dramBytes = dramBytes
    }
    public var totalMacs: Int { saturatingAdd(saturatingAdd(macsF32, macsF16), macsI8) }

    /// Counts a validated graph: a node's MACs are int8 when its first input is
    /// 8-bit, f16 when its weights are f16, f32 otherwise (hybrid int8-weight
    /// and int4 weight-only nodes compute in f32).
    public init(_ v: ValidatedGraph) {
        self.init()
        for node in v.graph.nodes {
            let inputs = node.inputs.map { $0.map { v.types[$0] } }
            let cost = node.op.cost(inputs: inputs, output: v.types[node.output])
            let first = inputs.first.flatMap { $0 }?.dtype
            let weights = inputs.count > 1 ? inputs[1]?.dtype : nil
            // Saturating: a graph from a file may claim absurd costs; they must not trap here.
            if first == .i8 || first == .u8 { macsI8 = saturatingAdd(macsI8, cost.macs) }
            else if weights == .f16 { macsF16 = saturatingAdd(macsF16, cost.macs) }
            else { macsF32 = saturatingAdd(macsF32, cost.macs) }
            dramBytes = saturatingAdd(dramBytes, saturatingAdd(cost.bytesRead, cost.bytesWritten))
        }
    }
}

public struct InferenceEstimate: Sendable, Equatable {
    public var latencyMs: Double
    /// Energy above idle.
    public var energyMillijoules: Double
    public var threads: Int
}

/// Speed-up of `threads` threads over one when each added thread keeps
/// `efficiency` of the last one's gain: t·efficiency^(t−1). Shared by the
/// device model and the scheduler so both predict the same latency.
public func parallelSpeedup(threads: Int, efficiency: Double) -> Double {
    let t = Double(max(threads, 1))
    return t * pow(max(efficiency, 0.01), t - 1)
}

extension String {
    func replacingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
