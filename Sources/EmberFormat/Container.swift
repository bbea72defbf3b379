import EmberCore

/// Section kinds: four ASCII bytes read as a little-endian u32.
public struct SectionKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ fourcc: StaticString) {
        var v: UInt32 = 0
        fourcc.withUTF8Buffer { b in for (i, c) in b.prefix(4).enumerated() { v |= UInt32(c) << (8 * UInt32(i)) } }
        rawValue = v
    }

    public static let meta = SectionKind("META")
    public static let graph = SectionKind("GRPH")
    public static let tensors = SectionKind("TENS")
    public static let variants = SectionKind("VARS")
    public static let calibration = SectionKind("CALB")
    public static let signature = SectionKind("SIGN")

    public var description: String {
        var s = ""
        for i in 0..<4 {
            let c = UInt8((rawValue >> (8 * UInt32(i))) & 0xFF)
            s += (c >= 0x20 && c < 0x7F) ? String(UnicodeScalar(c)) : "?"
        }
        return s
    }
}

public enum SectionCompression: UInt8, Sendable {
    case none = 0
    case zstd = 1
}

/// One row of the section table.
public struct SectionEntry: Sendable, Equatable {
    public var kind: SectionKind
    public var id: UInt32
    public var offset: Int
    public var storedLength: Int
    public var rawLength: Int
    public var compression: SectionCompression
    /// A reader that does not know `kind` must refuse the file when this is set.
    public var required: Bool
    public var checksum: UInt32

    /// "GRPH#0" — how errors name a section.
    public var label: String { "\(kind)#\(id)" }
}

/// Layout constants of `.ember` v1 (docs/FORMAT.md).
public enum FormatV1 {
    public static let magic: [UInt8] = Array("EMBR".utf8)
    public static let major: UInt16 = 1
    /// 1: optional PACK sections (pre-packed weights).
    public static let minor: UInt16 = 1
    public static let headerSize = 64
    public static let entrySize = 48
    public static let sectionAlignment = 64
    public static let maxSections = 4096

    /// Required-feature bits this reader understands.
    public static let featureZstd: UInt64 = 1 << 0
    public static let knownFeatures: UInt64 = featureZstd
}

/// What `ContainerReader` found: the checked section table.
public struct Container {
    public let bytes: UnsafeRawBufferPointer
    public let owner: AnyObject?
    public let major: UInt16, minor: UInt16
    public let requiredFeatures: UInt64
    /// In table order.
    public let sections: [SectionEntry]
    /// Where the section table starts in the file (entry i is at tableOffset + 48 i).
    public let tableOffset: Int

    /// Stored bytes of a section (checksum already verified).
    public func stored(_ s: SectionEntry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[s.offset..<(s.offset + s.storedLength)])
    }

    /// The section's contents: borrowed in place when raw, decompressed when
    /// zstd — into a buffer charged to `account` (which refuses it, before
    /// anything is allocated, when the raw length would pass the account's limit).
    public func contents(_ s: SectionEntry, account: MemoryAccount?, what: String) throws -> ConstantBuffer {
        switch s.compression {
        case .none:
            return ConstantBuffer(borrowing: stored(s), owner: owner)
        case .zstd:
            if let account { try account.reserve(s.rawLength, for: what) }
            do {
                return try Zstd.decompress(stored(s), rawLength: s.rawLength, section: s.label, offset: s.offset, account: account)
            } catch {
                account?.release(s.rawLength)
                throw error
            }
        }
    }
}

/// Reads and checks the header and section table. Checks, in order: length,
/// magic, header checksum, version, required features, declared file length,
/// table bounds and checksum, then every entry (bounds, alignment, overlap,
/// compression, lengths, section checksum). Any failure names the place.
public enum ContainerReader {
    public static func read(_ bytes: UnsafeRawBufferPointer, owner: AnyObject?) throws -> Container {
        let size = bytes.count
        func bad(_ section: String, _ offset: Int, _ reason: String) -> EmberError {
            .malformedPackage(section: section, offset: offset, reason: reason)
        }
        guard size >= FormatV1.headerSize else {
            throw bad("header", 0, "file is \(size) bytes, shorter than the \(FormatV1.headerSize)-byte header")
        }
        guard Array(bytes[0..<4]) == FormatV1.magic else {
            throw bad("header", 0, "not an .ember package (magic is not EMBR)")
        }
        var h = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[0..<FormatV1.headerSize]), section: "header", baseOffset: 0)
        try h.skip(4)
        let major = try h.u16(), minor = try h.u16()
        let features = try h.u64()
        let count = Int(try h.u32())
        let headerSize = Int(try h.u32())
        let tableOffset = try h.u64()
        let declaredLength = try h.u64()
        let tableChecksum = try h.u32()
        _ = try h.u32() // flags, reserved
        try h.skip(12)
        let headerChecksum = try h.u32()
        let computed = CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<60]))
        guard computed == headerChecksum else {
            throw bad("header", 60, "header checksum mismatch (stored \(hex(headerChecksum)), computed \(hex(computed)))")
        }
        guard major == FormatV1.major else {
            throw EmberError.incompatiblePackage(reason: "format version \(major).\(minor); this build reads version \(FormatV1.major).x")
        }
        let unknown = features & ~FormatV1.knownFeatures
        guard unknown == 0 else {
            throw EmberError.incompatiblePackage(reason: "package requires feature bits \(hex64(unknown)) that this build does not know")
        }
        guard headerSize == FormatV1.headerSize else { throw bad("header", 20, "header size \(headerSize), expected \(FormatV1.headerSize)") }
        guard declaredLength == UInt64(size) else {
            throw bad("header", 32, "header says the file is \(declaredLength) bytes, it is \(size) (truncated or padded?)")
        }
        guard count >= 1, count <= FormatV1.maxSections else { throw bad("header", 16, "section count \(count) is outside 1...\(FormatV1.maxSections)") }
        let tableLength = count * FormatV1.entrySize
        guard tableOffset >= UInt64(FormatV1.headerSize), tableOffset % 8 == 0,
              tableOffset <= UInt64(size), UInt64(tableLength) <= UInt64(size) - tableOffset else {
            throw bad("section table", 24, "table at \(tableOffset) with \(count) entries does not fit in \(size) bytes")
        }
        let tOff = Int(tableOffset)
        let table = UnsafeRawBufferPointer(rebasing: bytes[tOff..<(tOff + tableLength)])
        let tableComputed = CRC32.checksum(table)
        guard tableComputed == tableChecksum else {
            throw bad("section table", tOff, "table checksum mismatch (stored \(hex(tableChecksum)), computed \(hex(tableComputed)))")
        }

        var entries: [SectionEntry] = []
        entries.reserveCapacity(count)
        var t = ByteReader(table, section: "section table", baseOffset: tOff)
        for i in 0..<count {
            let at = tOff + i * FormatV1.entrySize
            let kind = SectionKind(rawValue: try t.u32())
            let id = try t.u32()
            let offset = try t.u64(), stored = try t.u64(), raw = try t.u64()
            let compressionByte = try t.u8(), flags = try t.u8()
            _ = try t.u16()
            let checksum = try t.u32()
            _ = try t.u64()
            let label = "\(kind)#\(id)"
            guard let compression = SectionCompression(rawValue: compressionByte) else {
                throw bad(label, at + 32, "unknown compression \(compressionByte)")
            }
            guard offset <= UInt64(size), stored <= UInt64(size) - offset else {
                throw bad(label, at + 8, "section at \(offset) of \(stored) bytes runs past the end of the \(size)-byte file")
            }
            guard offset % UInt64(FormatV1.sectionAlignment) == 0 else {
                throw bad(label, at + 8, "section offset \(offset) is not \(FormatV1.sectionAlignment)-byte aligned")
            }
            guard raw <= UInt64(Int.max) else { throw bad(label, at + 24, "raw length \(raw) is absurd") }
            if compression == .none, raw != stored {
                throw bad(label, at + 24, "uncompressed section stores \(stored) bytes but declares \(raw)")
            }
            if compression == .zstd, features & FormatV1.featureZstd == 0 {
                throw bad(label, at + 32, "zstd section in a package that does not declare the zstd feature")
            }
            entries.append(SectionEntry(kind: kind, id: id, offset: Int(offset), storedLength: Int(stored),
                                        rawLength: Int(raw), compression: compression,
                                        required: flags & 1 != 0, checksum: checksum))
        }

        // Sections must not overlap each other, the header or the table.
        var spans = entries.map { (start: $0.offset, end: $0.offset + $0.storedLength, label: $0.label) }
        spans.append((0, FormatV1.headerSize, "header"))
        spans.append((tOff, tOff + tableLength, "section table"))
        spans.sort { $0.start < $1.start }
        var reach = (end: 0, label: "")
        for span in spans where span.end > span.start {
            if span.start < reach.end {
                throw bad(span.label, span.start, "overlaps \(reach.label) (which ends at \(reach.end))")
            }
            if span.end > reach.end { reach = (span.end, span.label) }
        }
        var seen = Set<String>()
        for e in entries {
            guard seen.insert(e.label).inserted else { throw bad(e.label, e.offset, "section \(e.label) appears twice") }
            let c = CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[e.offset..<(e.offset + e.storedLength)]))
            guard c == e.checksum else {
                throw bad(e.label, e.offset, "section checksum mismatch (stored \(hex(e.checksum)), computed \(hex(c)))")
            }
        }
        return Container(bytes: bytes, owner: owner, major: major, minor: minor, requiredFeatures: features, sections: entries,
                         tableOffset: tOff)
    }
}

/// Lays out header, table and sections; computes every checksum.
public struct ContainerWriter {
    public struct PendingSection {
        public var kind: SectionKind
        public var id: UInt32
        public var payload: [UInt8]
        public var compress: Bool
        public var required: Bool
        /// Set when `payload` is already the stored bytes (`addStored`): written as they are.
        public var stored: (rawLength: Int, compression: SectionCompression)? = nil
    }

    public var sections: [PendingSection] = []
    public var zstdLevel: Int32 = Zstd.defaultLevel
    public init() {}

    public mutating func add(_ kind: SectionKind, id: UInt32, payload: [UInt8], compress: Bool = false, required: Bool = true) {
        sections.append(PendingSection(kind: kind, id: id, payload: payload, compress: compress, required: required))
    }

    /// A section copied from another package as it is stored there (compressed or not): `ember sign`.
    public mutating func addStored(_ kind: SectionKind, id: UInt32, stored: [UInt8], rawLength: Int,
                                   compression: SectionCompression, required: Bool) {
        sections.append(PendingSection(kind: kind, id: id, payload: stored, compress: false, required: required,
                                       stored: (rawLength, compression)))
    }

    public func serialize() throws -> [UInt8] {
        var stored: [(PendingSection, [UInt8], SectionCompression)] = []
        var anyZstd = false
        for s in sections {
            if let (_, compression) = s.stored {
                stored.append((s, s.payload, compression))
                if compression == .zstd { anyZstd = true }
                continue
            }
            if s.compress, !s.payload.isEmpty {
                let z = try Zstd.compress(s.payload, level: zstdLevel)
                // Keep raw where zstd does not pay: raw sections stay mmappable.
                if z.count < s.payload.count * 9 / 10 {
                    stored.append((s, z, .zstd)); anyZstd = true; continue
                }
            }
            stored.append((s, s.payload, .none))
        }
        let tableOffset = FormatV1.headerSize
        let tableLength = stored.count * FormatV1.entrySize
        var offset = (tableOffset + tableLength + FormatV1.sectionAlignment - 1) / FormatV1.sectionAlignment * FormatV1.sectionAlignment
        var table = ByteWriter()
        var offsets: [Int] = []
        for (s, bytes, compression) in stored {
            offsets.append(offset)
            table.u32(s.kind.rawValue)
            table.u32(s.id)
            table.u64(UInt64(offset))
            table.u64(UInt64(bytes.count))
            table.u64(UInt64(s.stored?.rawLength ?? s.payload.count))
            table.u8(compression.rawValue)
            table.u8(s.required ? 1 : 0)
            table.u16(0)
            table.u32(CRC32.checksum(bytes))
            table.u64(0)
            offset = (offset + bytes.count + FormatV1.sectionAlignment - 1) / FormatV1.sectionAlignment * FormatV1.sectionAlignment
        }
        let fileLength = stored.isEmpty ? tableOffset + tableLength : offsets[offsets.count - 1] + stored[stored.count - 1].1.count

        var out = ByteWriter()
        out.raw(FormatV1.magic)
        out.u16(FormatV1.major)
        out.u16(FormatV1.minor)
        out.u64(anyZstd ? FormatV1.featureZstd : 0)
        out.u32(UInt32(stored.count))
        out.u32(UInt32(FormatV1.headerSize))
        out.u64(UInt64(tableOffset))
        out.u64(UInt64(fileLength))
        out.u32(CRC32.checksum(table.bytes))
        out.u32(0)
        out.raw([UInt8](repeating: 0, count: 12))
        out.u32(CRC32.checksum(out.bytes))
        out.raw(table.bytes)
        for (i, (_, bytes, _)) in stored.enumerated() {
            out.raw([UInt8](repeating: 0, count: offsets[i] - out.count))
            out.raw(bytes)
        }
        return out.bytes
    }
}

func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}

func hex64(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

/// Recomputes every checksum a package carries — each in-bounds section's,
/// the section table's and the header's — over whatever the bytes now hold.
/// For fuzzers and mutation tests: edited contents then reach the decoders
/// instead of stopping at a CRC mismatch. Out-of-range fields are left alone.
public func resealChecksums(_ b: inout [UInt8]) {
    guard b.count >= FormatV1.headerSize else { return }
    func u32(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) } }
    func u64(_ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } }
    func put(_ o: Int, _ v: UInt32) { for i in 0..<4 { b[o + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) } }
    let count = Int(u32(16))
    let table = u64(24)
    if count <= FormatV1.maxSections, table <= UInt64(b.count), UInt64(count * FormatV1.entrySize) <= UInt64(b.count) - table {
        let t = Int(table)
        for i in 0..<count {
            let e = t + i * FormatV1.entrySize
            let offset = u64(e + 8), stored = u64(e + 16)
            guard offset <= UInt64(b.count), stored <= UInt64(b.count) - offset else { continue }
            put(e + 36, CRC32.checksum(Array(b[Int(offset)..<Int(offset + stored)])))
        }
        put(40, CRC32.checksum(Array(b[t..<(t + count * FormatV1.entrySize)])))
    }
    put(60, CRC32.checksum(Array(b[0..<60])))
}
