import Testing
@testable import EmberFormat
import Ember
#if canImport(Glibc)
import Glibc
#endif

/// Structure-aware mutation: a valid package is edited *inside* one kind of
/// section (or in its section table), every checksum is resealed so the edit
/// reaches the decoders, and the result is loaded, prepared and run under
/// tight limits. Each of thousands of seeds per kind must end in an
/// EmberError or a completed run — never a trap — with the memory account
/// never above its limit.
@Suite struct StructureMutationTests {
    static let limits: LoadLimits = {
        var l = LoadLimits(memoryBytes: 32 << 20)
        l.maxStructureSectionBytes = 1 << 20
        l.maxValues = 2048
        l.maxNodes = 1024
        l.maxTensorElements = 1 << 20
        return l
    }()

    /// The layout this CPU's kernels read (nil: scalar only, no PACK sections).
    static let layout = KernelISA.best.packedLayout

    /// Five variants over most op kinds, float and int8, uncompressed so their bytes can be edited, with their
    /// weights pre-packed for this CPU's kernels (PACK sections, read in place when they run).
    static let package: [UInt8] = {
        let graphs = (try? [TestModels.smallCNN(), Int8Models.quantizedMLP()] + KernelZoo.all()) ?? []
        var contents = PackageContents(metadata: PackageMetadata([("name", "mutate"), ("license", "test")]),
                                       variants: graphs.enumerated().map { VariantRecord(name: "v\($0.offset)", quality: Float($0.offset), qualityMetric: "sqnr_db",
                                                                                          macs: 100, weightBytes: 10, arenaBytes: 64,
                                                                                          targets: [TargetCost(target: "rpi4", latencyMs: 1, energyMj: 2)]) },
                                       graphs: graphs)
        if let layout {
            contents.packedWeights = graphs.enumerated().compactMap { i, g in
                (try? Executor.packWeights(graph: g, layout: layout)).map {
                    PackedWeightsSection(variant: i, layout: layout, revision: PackedLayouts.revision, blobs: $0)
                }
            }.filter { !$0.blobs.isEmpty }
        }
        return (try? PackageWriter.serialize(contents)) ?? []
    }()

    enum Outcome { case ran, rejected(String) }

    /// Load (PackageIndex), then prepare and run every variant within the limits.
    static func loadAndRun(_ bytes: [UInt8]) throws -> Outcome {
        let buffer = bytes.withUnsafeBytes { ConstantBuffer(copying: $0) }
        let account = MemoryAccount(limit: limits.maxMemoryBytes)
        do {
            let index = try PackageIndex(bytes: buffer.bytes, owner: buffer, limits: limits, account: account)
            for i in index.contents.graphs.indices {
                var options = ExecutorOptions(limits: limits, account: account, label: "variant '\(index.contents.variants[i].name)'")
                options.packedWeights = try layout.flatMap { try index.packedWeights(variant: i, layout: $0) }
                let e = try Executor(graph: try index.loadedGraph(i), options: options)
                #expect(account.used <= limits.maxMemoryBytes)
                if e.validated.totalCost.macs <= 5_000_000 { e.run() }
            }
            return .ran
        } catch let error as EmberError {
            return .rejected(error.description)
        }
    }

    /// Sections of `kind` as (offset, length) in `bytes`.
    static func sections(_ bytes: [UInt8], _ kind: SectionKind) throws -> [(offset: Int, length: Int)] {
        let c = try bytes.withUnsafeBytes { try ContainerReader.read($0, owner: nil) }
        return c.sections.filter { $0.kind == kind }.map { ($0.offset, $0.storedLength) }
    }

    /// One to four edits inside `range`: bit flips, interesting bytes, interesting
    /// 32/64-bit words (counts, lengths, offsets, dims), and copied runs.
    static func mutate(_ b: inout [UInt8], in range: Range<Int>, _ rng: inout SplitMix64) {
        guard !range.isEmpty else { return }
        let words: [UInt64] = [0, 1, 2, 7, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
                               1 << 31, 1 << 40, 0x7FFF_FFFF_FFFF_FFFF, UInt64.max, UInt64(range.count), 64, 65]
        for _ in 0..<rng.int(1...4) {
            let at = range.lowerBound + rng.int(0...(range.count - 1))
            switch rng.int(0...4) {
            case 0: b[at] ^= UInt8(1 << rng.int(0...7))
            case 1: b[at] = [0, 1, 0x7F, 0x80, 0xFF, 0x20][rng.int(0...5)]
            case 2, 3:
                let width = rng.int(0...1) == 0 ? 4 : 8
                let v = words[rng.int(0...(words.count - 1))]
                for k in 0..<width where at + k < range.upperBound { b[at + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
            default:
                let n = rng.int(1...16), from = range.lowerBound + rng.int(0...(range.count - 1))
                for k in 0..<n where from + k < range.upperBound && at + k < range.upperBound { b[at + k] = b[from + k] }
            }
        }
    }

    static func run(kind: String, seeds: Int, edit: (inout [UInt8], inout SplitMix64) throws -> Void) throws -> (ran: Int, rejected: [String]) {
        var rng = SplitMix64(seed: UInt64(kind.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) }))
        var ran = 0
        var rejected: [String] = []
        for _ in 0..<seeds {
            var b = package
            try edit(&b, &rng)
            resealChecksums(&b)
            switch try loadAndRun(b) {
            case .ran: ran += 1
            case let .rejected(why): rejected.append(why)
            }
        }
        return (ran, rejected)
    }

    /// 2,000 seeds per kind; 20,000 with EMBER_EXTENDED=1.
    static let seeds = getenv("EMBER_EXTENDED") != nil ? 20_000 : 2_000

    @Test(arguments: ["META", "VARS", "GRPH", "TENS", "PACK"])
    func mutatedSectionContentsErrorOrRun(kind: String) throws {
        #expect(!Self.package.isEmpty)
        if kind == "PACK" && Self.layout == nil {
            print("SKIP: PACK mutations (this CPU has no optimized kernel path, so no weights are pre-packed)")
            return
        }
        let spans = try Self.sections(Self.package, SectionKind(rawValue: kind.utf8.enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }))
        #expect(!spans.isEmpty)
        let (ran, rejected) = try Self.run(kind: kind, seeds: Self.seeds) { b, rng in
            let s = spans[rng.int(0...(spans.count - 1))]
            Self.mutate(&b, in: s.offset..<(s.offset + s.length), &rng)
        }
        print("\(kind): \(ran) ran, \(rejected.count) rejected of \(Self.seeds)")
        #expect(ran + rejected.count == Self.seeds)
        switch kind {
        case "TENS":
            #expect(ran > Self.seeds / 2) // weights are data: most edits change numbers, not structure
        case "PACK":
            // Blob bytes are data; an edited directory is refused at load naming the section, or, when only a
            // blob's parameters changed, packed again at prepare.
            #expect(ran > 0 && rejected.count > 0)
            #expect(rejected.allSatisfy { $0.contains("PACK#") }, "\(rejected.first { !$0.contains("PACK#") } ?? "")")
        case "GRPH":
            // Edits reach deep: some graphs still validate and run, most are refused with where.
            #expect(ran > 0 && rejected.count > Self.seeds / 2)
            let named = { (e: String) in e.contains("GRPH#") || e.contains("TENS#") || e.contains("variant '") }
            #expect(rejected.allSatisfy(named), "\(rejected.first { !named($0) } ?? "")")
        default:
            #expect(rejected.count > 0)
        }
    }

    @Test func mutatedSectionTableErrorsOrRuns() throws {
        let count = Int(readU32(Self.package, 16))
        let (ran, rejected) = try Self.run(kind: "table", seeds: Self.seeds) { b, rng in
            let e = entry(rng.int(0...(count - 1)))
            Self.mutate(&b, in: e..<(e + 48), &rng)
        }
        print("section table: \(ran) ran, \(rejected.count) rejected of \(Self.seeds)")
        #expect(ran + rejected.count == Self.seeds && rejected.count > Self.seeds / 2)
    }

    /// A compressed TENS section that declares far more bytes than its constants
    /// reach (a zstd bomb: 1 GiB of zeros is a 34 KB frame) is refused unopened.
    @Test func aTensorSectionLargerThanItsConstantsIsRefusedUnopened() throws {
        let g = try TestModels.smallCNN()
        var tensors = ByteWriter()
        let graph = GraphCodec.encode(g, tensorSection: 0, tensors: &tensors)
        var padded = tensors.bytes
        padded += [UInt8](repeating: 0, count: 64 << 20)
        var c = ContainerWriter()
        c.add(.meta, id: 0, payload: PackageMetadata([("name", "bomb")]).encode())
        c.add(.variants, id: 0, payload: VariantRecord.encodeAll([VariantRecord(name: "only")]))
        c.add(.graph, id: 0, payload: graph)
        c.add(.tensors, id: 0, payload: padded, compress: true)
        let bytes = try c.serialize()
        #expect(bytes.count < 200_000)
        let text = errorText { try PackageIndex(bytes: bytes.withUnsafeBytes { $0 }, owner: nil, limits: LoadLimits(), account: MemoryAccount(limit: 1 << 30)) }
        #expect(text.contains("TENS#0") && text.contains("declares 64.0 MiB of tensors, but its constants end at byte"), "\(text)")
    }

    /// Only the variant asked for is decompressed, and what it holds is charged to the account.
    @Test func onlyTheOpenedVariantIsDecompressed() throws {
        // FC weights of one repeated value compress to almost nothing: every TENS section is zstd.
        let graphs = try (1...3).map { k -> Graph in
            let b = GraphBuilder(name: "fc\(k)")
            let x = b.input("x", .f32, [1, 256])
            let w = b.constant("w", [Float](repeating: Float(k) / 8, count: 64 * 256), dims: [64, 256])
            b.output(try b.add(.fullyConnected(.none), [x, w, nil], name: "y"))
            return try b.build()
        }
        let contents = PackageContents(metadata: PackageMetadata(), variants: (0..<3).map { VariantRecord(name: "v\($0)") }, graphs: graphs)
        let path = "/tmp/ember-lazy-\(getpid()).ember"
        try writeFile(try PackageWriter.serialize(contents, options: WriteOptions(compressTensors: true, compressGraphs: true)), to: path)
        defer { unlink(path) }
        let p = try EmberPackage(path: path)
        let tens = p.contents.sections.filter { $0.kind == .tensors }
        #expect(tens.count == 3 && tens.allSatisfy { $0.compression == .zstd })
        #expect(p.contents.graphs.allSatisfy { g in g.values.contains { $0.constant?.isDeferred == true } })
        #expect(p.account.used == 0) // nothing decompressed at load
        do {
            let s = try Session(package: p, variant: "v1")
            let raw: Int = tens.first(where: { $0.id == 1 }).map { $0.rawLength } ?? 0
            #expect(raw == 64 * 256 * 4)
            #expect(p.account.used == raw + s.arenaBytes + s.executor.preparedBytes)
            let out = try s.run(["x": Tensor([Float](repeating: 1, count: 256), dims: [1, 256])])
            #expect(out["y"].map { $0.floats } == [Float](repeating: 256 * 2.0 / 8, count: 64))
        }
        #expect(p.account.used == 0) // released with the session and its graph
        // The same package under a memory cap below one variant's weights is refused before decompressing.
        let tight = try EmberPackage(path: path, limits: LoadLimits(memoryBytes: 32 << 10))
        #expect(errorText { try Session(package: tight, variant: "v0") }.contains("needs 64 KiB, limit 32 KiB"))
    }
}
