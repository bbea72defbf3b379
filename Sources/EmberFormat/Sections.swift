import EmberCore

/// META: package-level facts as ordered key/value strings (name, version,
/// source_hash, license, description, created_by, …). Unknown keys are kept.
public struct PackageMetadata: Sendable, Equatable {
    public var entries: [(key: String, value: String)]

    public init(_ entries: [(key: String, value: String)] = []) { self.entries = entries }

    public subscript(key: String) -> String? {
        get { entries.first { $0.key == key }?.value }
        set {
            entries.removeAll { $0.key == key }
            if let newValue { entries.append((key, newValue)) }
        }
    }

    public static func == (a: PackageMetadata, b: PackageMetadata) -> Bool {
        a.entries.map(\.key) == b.entries.map(\.key) && a.entries.map(\.value) == b.entries.map(\.value)
    }

    func encode() -> [UInt8] {
        var w = ByteWriter()
        w.u32(UInt32(entries.count))
        for (k, v) in entries { w.string(k); w.string(v) }
        return w.bytes
    }

    static func decode(_ r: inout ByteReader) throws -> PackageMetadata {
        let n = try r.count("metadata entry", minBytes: 8)
        var m = PackageMetadata()
        for _ in 0..<n {
            // Values may be long (the packer's JSON report); the section's own size bounds them.
            m.entries.append((try r.string("metadata key"), try r.string("metadata value", limit: Int(Int32.max))))
        }
        return m
    }
}

/// Estimated cost of one inference of a variant on one device profile.
public struct TargetCost: Sendable, Equatable {
    public var target: String
    public var latencyMs: Float
    public var energyMj: Float
    public init(target: String, latencyMs: Float, energyMj: Float) {
        self.target = target; self.latencyMs = latencyMs; self.energyMj = energyMj
    }
}

/// One rung of the ladder (VARS section): which graph, its quality and cost.
public struct VariantRecord: Sendable, Equatable {
    public var name: String
    /// Quality vs the reference model; `qualityMetric` says what (e.g. "sqnr_db"); NaN when unmeasured.
    public var quality: Float
    public var qualityMetric: String
    public var macs: Int
    public var weightBytes: Int
    public var arenaBytes: Int
    public var targets: [TargetCost]

    public init(name: String, quality: Float = .nan, qualityMetric: String = "", macs: Int = 0,
                weightBytes: Int = 0, arenaBytes: Int = 0, targets: [TargetCost] = []) {
        self.name = name; self.quality = quality; self.qualityMetric = qualityMetric
        self.macs = macs; self.weightBytes = weightBytes; self.arenaBytes = arenaBytes; self.targets = targets
    }

    public static func == (a: VariantRecord, b: VariantRecord) -> Bool {
        a.name == b.name && a.quality.bitPattern == b.quality.bitPattern && a.qualityMetric == b.qualityMetric
            && a.macs == b.macs && a.weightBytes == b.weightBytes && a.arenaBytes == b.arenaBytes && a.targets == b.targets
    }

    static func encodeAll(_ variants: [VariantRecord]) -> [UInt8] {
        var w = ByteWriter()
        w.u32(UInt32(variants.count))
        for v in variants {
            w.string(v.name)
            w.f32(v.quality)
            w.string(v.qualityMetric)
            w.u64(UInt64(v.macs)); w.u64(UInt64(v.weightBytes)); w.u64(UInt64(v.arenaBytes))
            w.u32(UInt32(v.targets.count))
            for t in v.targets { w.string(t.target); w.f32(t.latencyMs); w.f32(t.energyMj) }
        }
        return w.bytes
    }

    static func decodeAll(_ r: inout ByteReader) throws -> [VariantRecord] {
        let n = try r.count("variant", minBytes: 40)
        var out: [VariantRecord] = []
        for _ in 0..<n {
            var v = VariantRecord(name: try r.string("variant name"))
            v.quality = try r.f32()
            v.qualityMetric = try r.string("quality metric")
            v.macs = try r.length("macs", limit: Int.max)
            v.weightBytes = try r.length("weight bytes", limit: Int.max)
            v.arenaBytes = try r.length("arena bytes", limit: Int.max)
            let t = try r.count("target cost", minBytes: 12)
            for _ in 0..<t { v.targets.append(TargetCost(target: try r.string("target name"), latencyMs: try r.f32(), energyMj: try r.f32())) }
            out.append(v)
        }
        return out
    }
}
