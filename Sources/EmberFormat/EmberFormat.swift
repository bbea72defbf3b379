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
        for v in p.variants where !names.insert(v.name).inserted {
            throw EmberError.invalidArgument("variant name '\(v.name)' is used twice")
        }
        for g in p.graphs { _ = try g.validate() }
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
        return try c.serialize()
    }

    public static func write(_ p: PackageContents, to path: String, options: WriteOptions = WriteOptions()) throws {
        try writeFile(try serialize(p, options: options), to: path)
    }
}

public enum PackageReader {
    /// Maps `path` and reads it; raw tensor sections stay in the mapping.
    public static func read(path: String, limits: LoadLimits = LoadLimits()) throws -> PackageContents {
        let file = try MappedFile(path: path)
        return try file.withBytes { try read(bytes: $0, owner: file, limits: limits) }
    }

    /// Reads a package from bytes kept alive by `owner`. Validates the
    /// container, decodes every section and validates every graph.
    public static func read(bytes: UnsafeRawBufferPointer, owner: AnyObject?, limits: LoadLimits = LoadLimits()) throws -> PackageContents {
        let c = try ContainerReader.read(bytes, owner: owner)
        let known: Set<SectionKind> = [.meta, .graph, .tensors, .variants]
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
        func reader(_ s: SectionEntry, _ buffer: ConstantBuffer) -> ByteReader {
            // Offsets in a compressed section are offsets into its raw bytes; say so by
            // reporting the section's file offset plus the raw position.
            ByteReader(buffer.bytes, section: s.label, baseOffset: s.offset)
        }
        let metaEntry = try one(.meta)
        let metaBuffer = try c.contents(metaEntry, limits: limits)
        var mr = reader(metaEntry, metaBuffer)
        let metadata = try PackageMetadata.decode(&mr)
        let varsEntry = try one(.variants)
        let varsBuffer = try c.contents(varsEntry, limits: limits)
        var vr = reader(varsEntry, varsBuffer)
        let variants = try VariantRecord.decodeAll(&vr)
        guard !variants.isEmpty else { throw vr.error("the package has no variants", at: 0) }

        var tensors: [UInt32: ConstantBuffer] = [:]
        for s in c.sections where s.kind == .tensors { tensors[s.id] = try c.contents(s, limits: limits) }
        var graphs: [Graph] = []
        for i in 0..<variants.count {
            guard let s = c.sections.first(where: { $0.kind == .graph && $0.id == UInt32(i) }) else {
                throw EmberError.malformedPackage(section: "GRPH#\(i)", offset: 0, reason: "variant '\(variants[i].name)' has no graph section")
            }
            let buffer = try c.contents(s, limits: limits)
            var r = reader(s, buffer)
            let g = try GraphCodec.decode(&r, tensors: tensors)
            do { _ = try g.validate() } catch let e as EmberError {
                throw EmberError.malformedPackage(section: s.label, offset: s.offset, reason: "\(e)")
            }
            graphs.append(g)
        }
        var p = PackageContents(metadata: metadata, variants: variants, graphs: graphs)
        p.sections = c.sections
        p.formatVersion = (c.major, c.minor)
        return p
    }
}
