import EmberCore

extension SectionKind {
    /// A variant's weights pre-packed for one kernel layout (optional; docs/FORMAT.md, "PACK").
    public static let packedWeights = SectionKind("PACK")
}

/// A variant's weights packed for one kernel layout, to be written as a PACK section.
public struct PackedWeightsSection: Sendable {
    public var variant: Int
    /// The kernel layout, e.g. "avx512" (`KernelISA.packedLayout`), and its revision when packed.
    public var layout: String
    public var revision: UInt32
    /// Each blob's offset is assigned when the section is written.
    public var blobs: [(blob: PackedBlob, bytes: [UInt8])]

    public init(variant: Int, layout: String, revision: UInt32, blobs: [(blob: PackedBlob, bytes: [UInt8])]) {
        self.variant = variant; self.layout = layout; self.revision = revision; self.blobs = blobs
    }

    /// Bytes of all blobs.
    public var byteCount: Int { blobs.reduce(0) { $0 + $1.bytes.count } }
}

/// The PACK section's codec. Layout: u32 version (1), string layout, u32 revision, u32 variant, u32 count,
/// then per blob u32 node, u32 ordinal, u32 kind, u32 parameter count (≤ 8), that many i32, u64 offset,
/// u64 length; then the blobs, each at a 64-byte aligned offset from the section's start.
enum PackedWeightsCodec {
    static let version: UInt32 = 1
    /// The section id: the variant in the high bits, the PACK's ordinal among that variant's in the low 8.
    static func sectionID(variant: Int, ordinal: Int) -> UInt32 { UInt32(variant) << 8 | UInt32(ordinal & 0xFF) }
    static func variant(ofSection id: UInt32) -> Int { Int(id >> 8) }

    static func encode(_ p: PackedWeightsSection) -> [UInt8] {
        var w = ByteWriter()
        w.u32(version)
        w.string(p.layout)
        w.u32(p.revision)
        w.u32(UInt32(p.variant))
        w.u32(UInt32(p.blobs.count))
        var offsetFields: [Int] = []
        for (b, _) in p.blobs {
            w.u32(UInt32(b.node)); w.u32(UInt32(b.ordinal)); w.u32(b.kind)
            w.u32(UInt32(b.params.count))
            for v in b.params { w.i32(v) }
            offsetFields.append(w.count)
            w.u64(0); w.u64(0)
        }
        for (i, (_, bytes)) in p.blobs.enumerated() {
            w.align(FormatV1.sectionAlignment)
            w.patchU64(UInt64(w.count), at: offsetFields[i])
            w.patchU64(UInt64(bytes.count), at: offsetFields[i] + 8)
            w.raw(bytes)
        }
        return w.bytes
    }

    /// Decodes a PACK section of a graph with `nodeCount` nodes whose bytes `buffer` holds. nil for a
    /// section of a later version (optional: skipped); every other fault is `malformedPackage`.
    static func decode(_ buffer: ConstantBuffer, section: String, baseOffset: Int, variant: Int, nodeCount: Int) throws
        -> PackedWeights? {
        var r = ByteReader(buffer.bytes, section: section, baseOffset: baseOffset, keepAlive: buffer)
        guard try r.u32() == version else { return nil }
        let layout = try r.string("layout name", limit: 64)
        let revision = try r.u32()
        let at = r.position
        guard Int(try r.u32()) == variant else {
            throw r.error("names another variant than its section id's \(variant)", at: at)
        }
        let n = try r.count("packed blob", minBytes: 32)
        var blobs: [PackedBlob] = []
        var seen = Set<Int>()
        for _ in 0..<n {
            let start = r.position
            let node = Int(try r.u32()), ordinal = Int(try r.u32()), kind = try r.u32()
            guard node < nodeCount else { throw r.error("blob of node \(node); the graph has \(nodeCount)", at: start) }
            guard ordinal <= PackedBlob.maxOrdinal else {
                throw r.error("blob ordinal \(ordinal) above \(PackedBlob.maxOrdinal)", at: start)
            }
            guard seen.insert(node << 8 | ordinal).inserted else {
                throw r.error("node \(node) has two blobs #\(ordinal)", at: start)
            }
            let paramCount = Int(try r.u32())
            guard paramCount <= PackedBlob.maxParams else {
                throw r.error("\(paramCount) blob parameters, at most \(PackedBlob.maxParams)", at: start)
            }
            var params: [Int32] = []
            for _ in 0..<paramCount { params.append(try r.i32()) }
            let offsetAt = r.position
            let offset = try r.length("blob offset", limit: buffer.bytes.count)
            let count = try r.length("blob length", limit: buffer.bytes.count)
            guard offset % FormatV1.sectionAlignment == 0, count <= buffer.bytes.count - offset else {
                throw r.error("blob at \(offset) (\(count) bytes) is unaligned or outside the section's \(buffer.bytes.count)",
                              at: offsetAt)
            }
            blobs.append(PackedBlob(node: node, ordinal: ordinal, kind: kind, params: params, offset: offset, count: count))
        }
        for b in blobs where b.offset < r.position && b.count > 0 {
            throw r.error("blob of node \(b.node) overlaps the section's directory", at: 0)
        }
        do {
            return try PackedWeights(layout: layout, revision: revision, blobs: blobs, buffer: buffer)
        } catch {
            throw r.error("\(error)", at: 0)
        }
    }
}
