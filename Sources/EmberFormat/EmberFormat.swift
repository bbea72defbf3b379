// EmberFormat — the `.ember` v1 container (docs/FORMAT.md): a validating
// reader that maps the file and uses raw tensor sections in place, a writer,
// optional zstd per section (system libzstd), CRC-32 checksums on the header,
// the section table and every section.
//
// Every length, offset and count from a file is checked before use; bad input
// is an `EmberError.malformedPackage` naming the section and byte offset.
import EmberCore

/// A package in memory, as read from or about to be written to a file.
public struct PackageContents: Sendable {
    public var metadata: PackageMetadata
    /// The ladder, best first by convention. `graphs[i]` belongs to `variants[i]`.
    public var variants: [VariantRecord]
    public var graphs: [Graph]
    /// The section table as read (empty for contents built in memory).
    public var sections: [SectionEntry] = []
    public var formatVersion: (major: UInt16, minor: UInt16) = (FormatV1.major, FormatV1.minor)
    /// Weights pre-packed for kernel layouts, written as PACK sections (empty as read: a reader
    /// gets them from `PackageIndex.packedWeights(variant:layout:)`).
    public var packedWeights: [PackedWeightsSection] = []

    public init(metadata: PackageMetadata, variants: [VariantRecord], graphs: [Graph]) {
        self.metadata = metadata; self.variants = variants; self.graphs = graphs
    }
}

/// Options for writing.
public struct WriteOptions: Sendable {
    /// Compress tensor sections with zstd where it pays (they are then copied at
    /// load instead of used in place).
    public var compressTensors = false
    /// Compress the graph, metadata and variant sections.
    public var compressGraphs = false
    public var zstdLevel: Int32 = Zstd.defaultLevel
    public init(compressTensors: Bool = false, compressGraphs: Bool = false, zstdLevel: Int32 = Zstd.defaultLevel) {
        self.compressTensors = compressTensors; self.compressGraphs = compressGraphs; self.zstdLevel = zstdLevel
    }
}

public enum PackageWriter {
    /// Serializes a package: META, VARS, then a GRPH and a TENS section per variant (id = variant index).
    public static func serialize(_ p: PackageContents, options: WriteOptions = WriteOptions()) throws -> [UInt8] {
        guard !p.graphs.isEmpty, p.graphs.count == p.variants.count else {
            throw EmberError.invalidArgument("a package needs at least one variant and one graph per variant (\(p.variants.count) variants, \(p.graphs.count) graphs)")
        }
        var names = Set<String>()
        for v in p.variants {
            guard names.insert(v.name).inserted else { throw EmberError.invalidArgument("variant name '\(v.name)' is used twice") }
            guard !v.name.isEmpty, v.name.utf8.count <= GraphLimits.maxNameBytes else {
                throw EmberError.invalidArgument("variant name '\(v.name.prefix(40))' must be 1…\(GraphLimits.maxNameBytes) bytes")
            }
        }
        for (k, _) in p.metadata.entries where k.utf8.count > GraphLimits.maxNameBytes {
            throw EmberError.invalidArgument("metadata key '\(k.prefix(40))…' is longer than \(GraphLimits.maxNameBytes) bytes")
        }
        for g in p.graphs {
            _ = try g.validate()
            if let v = g.values.first(where: { $0.constant?.isDeferred == true }) {
                throw EmberError.invalidArgument("constant '\(v.name)' of graph '\(g.name)' is not loaded (use PackageIndex.loadedGraph)")
            }
        }
        var c = ContainerWriter()
        c.zstdLevel = options.zstdLevel
        c.add(.meta, id: 0, payload: p.metadata.encode(), compress: options.compressGraphs)
        c.add(.variants, id: 0, payload: VariantRecord.encodeAll(p.variants), compress: options.compressGraphs)
        for (i, g) in p.graphs.enumerated() {
            var tensors = ByteWriter()
            let graph = GraphCodec.encode(g, tensorSection: UInt32(i), tensors: &tensors)
            c.add(.graph, id: UInt32(i), payload: graph, compress: options.compressGraphs)
            c.add(.tensors, id: UInt32(i), payload: tensors.bytes, compress: options.compressTensors)
        }
        // Never compressed: they are used in place from the mapped file, shared by every process mapping it.
        var packsOfVariant: [Int: Int] = [:]
        for pack in p.packedWeights {
            guard p.graphs.indices.contains(pack.variant) else {
                throw EmberError.invalidArgument("packed weights of variant #\(pack.variant); the package has \(p.graphs.count)")
            }
            guard !pack.layout.isEmpty, pack.layout.utf8.count <= 64 else {
                throw EmberError.invalidArgument("packed layout name '\(pack.layout.prefix(40))' must be 1…64 bytes")
            }
            let nodes = p.graphs[pack.variant].nodes.count
            if let b = pack.blobs.first(where: { $0.blob.node >= nodes || $0.blob.params.count > PackedBlob.maxParams
                                                 || !(0...PackedBlob.maxOrdinal).contains($0.blob.ordinal) }) {
                throw EmberError.invalidArgument("packed blob of node \(b.blob.node) #\(b.blob.ordinal) does not fit variant "
                                                 + "'\(p.variants[pack.variant].name)' (\(nodes) nodes)")
            }
            let ordinal = packsOfVariant[pack.variant, default: 0]
            guard ordinal < 256 else { throw EmberError.invalidArgument("more than 256 packed layouts for one variant") }
            packsOfVariant[pack.variant] = ordinal + 1
            c.add(.packedWeights, id: PackedWeightsCodec.sectionID(variant: pack.variant, ordinal: ordinal),
                  payload: PackedWeightsCodec.encode(pack), compress: false, required: false)
        }
        return try c.serialize()
    }

    public static func write(_ p: PackageContents, to path: String, options: WriteOptions = WriteOptions()) throws {
        try writeFile(try serialize(p, options: options), to: path)
    }
}

public enum PackageReader {
    /// Holds `path` (leased or privately copied, `PackageFile`) and reads it
    /// with every tensor section loaded.
    public static func read(path: String, limits: LoadLimits = LoadLimits(),
                            protection: PackageFileProtection = .automatic) throws -> PackageContents {
        let file = try PackageFile(path: path, maxBytes: limits.maxFileBytes, protection: protection)
        return try file.withBytes { try read(bytes: $0, owner: file, limits: limits) }
    }

    /// Reads a package from bytes kept alive by `owner`: validates the
    /// container, decodes and validates every graph, and loads every tensor
    /// section (zstd ones decompressed, within `limits.maxMemoryBytes`).
    public static func read(bytes: UnsafeRawBufferPointer, owner: AnyObject?, limits: LoadLimits = LoadLimits()) throws -> PackageContents {
        let account = MemoryAccount(limit: limits.maxMemoryBytes)
        let index = try PackageIndex(bytes: bytes, owner: owner, limits: limits, account: account)
        var p = index.contents
        p.graphs = try p.graphs.indices.map { try index.loadedGraph($0) }
        return p
    }
}

/// A validated package whose compressed tensor sections are decompressed only
/// when a variant that uses them is asked for (`loadedGraph`). Everything
/// else — the section table and checksums, META, VARS and every variant's
/// graph, with the bounds of every constant — is checked when it is made, so a
/// damaged variant is reported at load even if it is never run.
public final class PackageIndex: @unchecked Sendable {
    /// Graphs whose constants in compressed tensor sections are deferred.
    public let contents: PackageContents
    public let limits: LoadLimits
    /// Decompressed tensor sections and the sessions on this package draw on it.
    public let account: MemoryAccount
    /// Who signed the package (nil: unsigned), and whether that was verified against trusted keys.
    public let signer: PublicKey?
    public let signatureVerified: Bool
    private let container: Container
    /// PACK sections per variant: decoded at load when stored raw (they borrow the mapped bytes),
    /// else decoded when asked for.
    private var packed: [Int: [(entry: SectionEntry, weights: PackedWeights?)]] = [:]

    /// With `trusted`, the package must be signed by one of those keys and unchanged since
    /// (`EmberError.untrustedPackage`, checked before any section is decoded); `name` names it in errors.
    public init(bytes: UnsafeRawBufferPointer, owner: AnyObject?, limits: LoadLimits, account: MemoryAccount,
                trusted: TrustedKeys? = nil, name: String = "package") throws {
        self.limits = limits
        self.account = account
        let c = try ContainerReader.read(bytes, owner: owner)
        container = c
        if let trusted {
            signer = try PackageSignature.verify(c, trusted: trusted, path: name)
            signatureVerified = signer != nil
        } else {
            signer = try? PackageSignature.signer(of: c)
            signatureVerified = false
        }
        let known: Set<SectionKind> = [.meta, .graph, .tensors, .variants, .packedWeights]
        for s in c.sections where !known.contains(s.kind) && s.required {
            throw EmberError.incompatiblePackage(reason: "required section \(s.label) at byte \(s.offset) is of a kind this build does not know")
        }
        func one(_ kind: SectionKind) throws -> SectionEntry {
            let found = c.sections.filter { $0.kind == kind }
            guard found.count == 1 else {
                throw EmberError.malformedPackage(section: "\(kind)", offset: 0, reason: "expected exactly one \(kind) section, found \(found.count)")
            }
            return found[0]
        }
        /// META, VARS and GRPH are decoded into Swift values, so their raw size is capped on its own.
        func structure(_ s: SectionEntry, label: String) throws -> ByteReader {
            guard s.rawLength <= limits.maxStructureSectionBytes else {
                throw EmberError.malformedPackage(section: label, offset: s.offset,
                    reason: "raw length \(formatBytes(s.rawLength)) is above the \(formatBytes(limits.maxStructureSectionBytes)) limit for a \(s.kind) section")
            }
            // Decoded and dropped at once, so not charged to the account.
            let buffer = try c.contents(s, account: nil, what: label)
            // Offsets in a compressed section are offsets into its raw bytes; say so by
            // reporting the section's file offset plus the raw position.
            return ByteReader(buffer.bytes, section: label, baseOffset: s.offset, keepAlive: buffer)
        }
        let metaEntry = try one(.meta)
        var mr = try structure(metaEntry, label: metaEntry.label)
        let metadata = try PackageMetadata.decode(&mr)
        let varsEntry = try one(.variants)
        var vr = try structure(varsEntry, label: varsEntry.label)
        let variants = try VariantRecord.decodeAll(&vr)
        guard !variants.isEmpty else { throw vr.error("the package has no variants", at: 0) }
        var names = Set<String>()
        for v in variants where !names.insert(v.name).inserted {
            throw vr.error("variant name '\(v.name)' is used twice", at: 0)
        }

        // Raw tensor sections cost nothing to borrow; compressed ones are only sized now.
        var raw: [UInt32: ConstantBuffer] = [:], sizes: [UInt32: Int] = [:]
        for s in c.sections where s.kind == .tensors {
            sizes[s.id] = s.rawLength
            if s.compression == .none { raw[s.id] = try c.contents(s, account: nil, what: s.label) }
        }
        var graphs: [Graph] = []
        var reach: [UInt32: Int] = [:]
        for (i, variant) in variants.enumerated() {
            guard let s = c.sections.first(where: { $0.kind == .graph && $0.id == UInt32(i) }) else {
                throw EmberError.malformedPackage(section: "GRPH#\(i)", offset: 0, reason: "variant '\(variant.name)' has no graph section")
            }
            let label = "\(s.label) (variant '\(variant.name)')"
            var r = try structure(s, label: label)
            let g = try GraphCodec.decode(&r, tensors: TensorSections(sizes: sizes, loaded: raw), limits: limits)
            do { _ = try g.validate(limits: limits) } catch let e as EmberError {
                throw EmberError.malformedPackage(section: label, offset: s.offset, reason: "\(e)")
            }
            for v in g.values {
                guard let k = v.constant else { continue }
                let section = k.deferredSection ?? UInt32(i)
                reach[section] = max(reach[section] ?? 0, k.offset + k.count)
            }
            graphs.append(g)
        }
        // A tensor section holds its constants and at most alignment padding: a
        // compressed one that claims more is a decompression bomb, refused unopened.
        for s in c.sections where s.kind == .tensors && s.compression != .none {
            let end = reach[s.id] ?? 0
            guard s.rawLength <= (end + FormatV1.sectionAlignment - 1) / FormatV1.sectionAlignment * FormatV1.sectionAlignment else {
                throw EmberError.malformedPackage(section: s.label, offset: s.offset,
                    reason: "declares \(formatBytes(s.rawLength)) of tensors, but its constants end at byte \(end)")
            }
        }
        for s in c.sections where s.kind == .packedWeights {
            let variant = PackedWeightsCodec.variant(ofSection: s.id)
            guard graphs.indices.contains(variant) else {
                throw EmberError.malformedPackage(
                    section: s.label, offset: s.offset,
                    reason: "packed weights of variant #\(variant); the package has \(graphs.count)")
            }
            var weights: PackedWeights?
            if s.compression == .none {
                weights = try PackedWeightsCodec.decode(try c.contents(s, account: nil, what: s.label), section: s.label,
                                                        baseOffset: s.offset, variant: variant,
                                                        nodeCount: graphs[variant].nodes.count)
                guard weights != nil else { continue }  // a later version of the section: skipped
            }
            packed[variant, default: []].append((s, weights))
        }
        var p = PackageContents(metadata: metadata, variants: variants, graphs: graphs)
        p.sections = c.sections
        p.formatVersion = (c.major, c.minor)
        contents = p
    }

    /// Variant `index`'s weights pre-packed for kernel layout `layout` (a PACK section), nil when the
    /// package has none. A compressed section is decompressed now, charged to `account`.
    public func packedWeights(variant index: Int, layout: String) throws -> PackedWeights? {
        for (entry, weights) in packed[index] ?? [] {
            if let weights {
                if weights.layout == layout { return weights }
                continue
            }
            let buffer = try container.contents(entry, account: account,
                                                what: "variant '\(contents.variants[index].name)': decompressing \(entry.label)")
            if let w = try PackedWeightsCodec.decode(buffer, section: entry.label, baseOffset: entry.offset, variant: index,
                                                     nodeCount: contents.graphs[index].nodes.count), w.layout == layout {
                return w
            }
        }
        return nil
    }

    /// The kernel layouts variant `index` has pre-packed weights for (compressed sections not counted).
    public func packedLayouts(variant index: Int) -> [String] {
        (packed[index] ?? []).compactMap { $0.weights?.layout }
    }

    /// Variant `index`'s graph with every constant's bytes present: its
    /// compressed tensor sections are decompressed now, charged to `account`,
    /// and released when the last graph or session using them goes.
    public func loadedGraph(_ index: Int) throws -> Graph {
        var g = contents.graphs[index]
        let wanted = Set(g.values.compactMap { $0.constant?.deferredSection })
        var loaded: [UInt32: ConstantBuffer] = [:]
        for id in wanted.sorted() {
            guard let s = container.sections.first(where: { $0.kind == .tensors && $0.id == id }) else {
                throw EmberError.malformedPackage(section: "TENS#\(id)", offset: 0, reason: "the section is missing")
            }
            loaded[id] = try container.contents(s, account: account,
                                                what: "variant '\(contents.variants[index].name)': decompressing \(s.label)")
        }
        for i in g.values.indices {
            guard let k = g.values[i].constant, let id = k.deferredSection, let buffer = loaded[id] else { continue }
            guard k.offset <= buffer.bytes.count, k.count <= buffer.bytes.count - k.offset else {
                throw EmberError.malformedPackage(section: "TENS#\(id)", offset: 0, reason: "constant '\(g.values[i].name)' lies outside the section")
            }
            g.values[i].constant = ConstantData(buffer: buffer, offset: k.offset, count: k.count)
        }
        return g
    }
}
