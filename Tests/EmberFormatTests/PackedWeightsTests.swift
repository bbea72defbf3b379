import Testing
@testable import EmberFormat
import Ember

/// Weights pre-packed at pack time (PACK sections, docs/FORMAT.md): prepare uses them in place instead of
/// packing, with the same outputs; blobs that do not match what a kernel would pack are packed again.
@Suite struct PackedWeightsTests {
    /// int8 3×3 stride-2 conv, int8 depthwise and FC; f16-weight conv and depthwise (an fp16 rung's).
    static func int8AndHalfConvs() throws -> Graph {
        var rng = SplitMix64(seed: 41)
        let b = GraphBuilder(name: "packing")
        let q = QuantParams(scale: 0.05, zeroPoint: -3)
        func perChannel(_ n: Int) -> QuantParams {
            QuantParams(scales: (0..<n).map { 0.004 + 0.001 * Float($0 % 5) }, zeroPoints: [Int32](repeating: 0, count: n), axis: 0)
        }
        let x = b.input("x", .i8, [2, 9, 7, 5], quant: q)
        let w = b.constant("w", rng.int8s(12 * 9 * 5), dtype: .i8, dims: [12, 3, 3, 5], quant: perChannel(12))
        let bias = b.constant("bias", (0..<12).map { Int32($0 * 37 - 200) }, dtype: .i32, dims: [12])
        let conv = try b.add(.conv2D(Conv2DAttributes(strideH: 2, strideW: 2, padding: .same, activation: .relu)), [x, w, bias],
                             name: "conv-s8", outputQuant: QuantParams(scale: 0.08, zeroPoint: -128))
        let dw = b.constant("dw", rng.int8s(12 * 9), dtype: .i8, dims: [12, 3, 3, 1], quant: perChannel(12))
        let depthwise = try b.add(.conv2D(Conv2DAttributes(padding: .same, groups: 12)), [conv, dw, nil], name: "dw-s8",
                                  outputQuant: QuantParams(scale: 0.1, zeroPoint: 2))
        let flat = try b.add(.reshape([2, -1]), [depthwise], name: "flat", outputQuant: QuantParams(scale: 0.1, zeroPoint: 2))
        let fw = b.constant("fw", rng.int8s(7 * 240), dtype: .i8, dims: [7, 240], quant: perChannel(7))
        let fc = try b.add(.fullyConnected(.none), [flat, fw, nil], name: "fc-s8", outputQuant: QuantParams(scale: 0.3, zeroPoint: 0))
        b.output(try b.add(.dequantize, [fc], name: "y"), name: "y")

        let h = b.input("h", .f32, [1, 6, 6, 4])
        func halves(_ n: Int) -> [UInt16] { rng.floats(n, scale: 0.4).map { Float16($0).bitPattern } }
        let hw = b.constant("hw", halves(9 * 3 * 3 * 4), dtype: .f16, dims: [9, 3, 3, 4])
        let hc = try b.add(.conv2D(Conv2DAttributes(padding: .same)), [h, hw, b.constant("hb", rng.floats(9), dims: [9])],
                           name: "conv-f16")
        let hd = b.constant("hd", halves(9 * 9), dtype: .f16, dims: [9, 3, 3, 1])
        b.output(try b.add(.conv2D(Conv2DAttributes(padding: .valid, groups: 9)), [hc, hd, nil], name: "dw-f16"), name: "z")
        return try b.build()
    }

    static func graphs() throws -> [Graph] {
        [try int8AndHalfConvs(), try TestModels.smallCNN(), try KernelZoo.float(), try KernelZoo.onnxInt8(),
         try KernelZoo.weightOnly(), try Int8Models.quantizedMLP()]
    }

    /// The layouts of the paths this CPU runs.
    static var layouts: [(KernelISA, String)] { KernelISA.supported.compactMap { isa in isa.packedLayout.map { (isa, $0) } } }

    /// `g` as a package read back from its bytes, with `packs` as its PACK sections.
    static func package(_ g: Graph, packs: [PackedWeightsSection]) throws -> EmberPackage {
        var contents = PackageContents(metadata: PackageMetadata(), variants: [VariantRecord(name: "v")], graphs: [g])
        contents.packedWeights = packs
        let bytes = try PackageWriter.serialize(contents)
        return try bytes.withUnsafeBytes { try EmberPackage(bytes: $0) }
    }

    static func pack(_ g: Graph, layout: String, revision: UInt32 = PackedLayouts.revision) throws -> PackedWeightsSection {
        PackedWeightsSection(variant: 0, layout: layout, revision: revision,
                             blobs: try Executor.packWeights(graph: g, layout: layout))
    }

    @Test(.enabled(if: !layouts.isEmpty, "this CPU has no optimized kernel path"))
    func prepackedWeightsAreReadInPlaceWithTheSameOutputs() throws {
        for (isa, layout) in Self.layouts {
            for g in try Self.graphs() {
                let section = try Self.pack(g, layout: layout)
                let packed = try Self.package(g, packs: [section]), plain = try Self.package(g, packs: [])
                var options = ExecutorOptions()
                options.isa = isa
                let with = try Session(package: packed, options: options), without = try Session(package: plain, options: options)
                let label = "\(g.name) on \(isa)"
                #expect(section.byteCount > 0, "\(label) packs some weights")
                #expect(with.executor.prepackedBytes == section.byteCount, "\(label): every blob is read in place")
                #expect(without.executor.prepackedBytes == 0)
                #expect(without.executor.preparedBytes - with.executor.preparedBytes == section.byteCount,
                        "\(label): prepared \(without.executor.preparedBytes) → \(with.executor.preparedBytes) bytes")
                #expect(with.executor.implementations == without.executor.implementations, "\(label): the same kernels")
                for seed in [1, 2] as [UInt64] {
                    let feeds = TestModels.input(for: g, seed: seed)
                    #expect(try with.run(feeds) == without.run(feeds), "\(label): the same outputs (seed \(seed))")
                }
            }
        }
    }

    @Test(.enabled(if: !layouts.isEmpty, "this CPU has no optimized kernel path"))
    func blobsOfAnotherRevisionLayoutOrShapeArePackedAtPrepare() throws {
        let (isa, layout) = Self.layouts[0]
        let g = try Self.int8AndHalfConvs()
        var options = ExecutorOptions()
        options.isa = isa
        let expected = try Session(package: try Self.package(g, packs: []), options: options)
        let feeds = TestModels.input(for: g, seed: 3)
        let reference = try expected.run(feeds)

        // A stale revision: nothing is used.
        let stale = try Session(package: try Self.package(g, packs: [try Self.pack(g, layout: layout, revision: 999)]),
                                options: options)
        #expect(stale.executor.prepackedBytes == 0)
        #expect(stale.executor.preparedBytes == expected.executor.preparedBytes)
        #expect(try stale.run(feeds) == reference)

        // Another layout's blobs (when this build has another): not read by this path.
        if let other = Executor.packableLayouts.keys.sorted().first(where: { $0 != layout }) {
            let foreign = try Session(package: try Self.package(g, packs: [try Self.pack(g, layout: other)]), options: options)
            #expect(foreign.executor.prepackedBytes == 0, "\(other) blobs on the \(layout) path")
            #expect(try foreign.run(feeds) == reference)
        }

        // One blob packed for other sizes (its parameters changed): that one is packed again, the rest used.
        var section = try Self.pack(g, layout: layout)
        #expect(section.blobs.count >= 5, "conv, depthwise and FC int8, conv and depthwise f16")
        section.blobs[0].blob.params[0] += 1
        let changed = try Session(package: try Self.package(g, packs: [section]), options: options)
        #expect(changed.executor.prepackedBytes == section.byteCount - section.blobs[0].bytes.count)
        #expect(try changed.run(feeds) == reference)
    }

    @Test func packSectionsRoundTripAsOptionalSectionsOfFormat1_1() throws {
        let g = try Self.int8AndHalfConvs()
        let blobs: [(blob: PackedBlob, bytes: [UInt8])] = [
            (PackedBlob(node: 0, ordinal: 0, kind: 1, params: [3, -4], offset: 0, count: 70), (0..<70).map { UInt8($0) }),
            (PackedBlob(node: 2, ordinal: 1, kind: 5, params: [], offset: 0, count: 3), [9, 8, 7]),
        ]
        var contents = PackageContents(metadata: PackageMetadata(), variants: [VariantRecord(name: "v")], graphs: [g])
        contents.packedWeights = [PackedWeightsSection(variant: 0, layout: "test-layout", revision: 7, blobs: blobs)]
        let bytes = try PackageWriter.serialize(contents)
        try bytes.withUnsafeBytes { raw in
            let index = try PackageIndex(bytes: raw, owner: nil, limits: LoadLimits(), account: MemoryAccount(limit: 1 << 30))
            #expect(index.contents.formatVersion == (1, 1))
            let entry = try #require(index.contents.sections.first { $0.kind == .packedWeights })
            #expect(!entry.required && entry.compression == .none)
            #expect(try index.packedWeights(variant: 0, layout: "avx512") == nil)
            let read = try #require(try index.packedWeights(variant: 0, layout: "test-layout"))
            #expect(read.revision == 7 && read.blobs.count == 2)
            for (want, _) in blobs {
                let (got, data) = try #require(read.blob(node: want.node, ordinal: want.ordinal))
                #expect(got.kind == want.kind && got.params == want.params && got.offset % 64 == 0)
                #expect(Array(data) == blobs.first { $0.blob.node == want.node }?.bytes)
                let base = try #require(raw.baseAddress), at = try #require(data.baseAddress)
                #expect((at - base) % 64 == 0, "blobs are 64-byte aligned in the file")
            }
            #expect(read.blob(node: 1, ordinal: 0) == nil)
        }
    }

    /// A PACK payload written by hand (the codec's fields) in an otherwise valid package.
    static func packageWith(pack payload: [UInt8], variant: Int = 0) throws -> [UInt8] {
        let g = try TestModels.smallCNN()
        var c = ContainerWriter()
        let contents = PackageContents(metadata: PackageMetadata(), variants: [VariantRecord(name: "v")], graphs: [g])
        let plain = try PackageWriter.serialize(contents)
        try plain.withUnsafeBytes { raw in
            let read = try ContainerReader.read(raw, owner: nil)
            for s in read.sections {
                c.add(s.kind, id: s.id, payload: Array(UnsafeRawBufferPointer(rebasing: raw[s.offset..<(s.offset + s.storedLength)])),
                      required: s.required)
            }
        }
        c.add(.packedWeights, id: PackedWeightsCodec.sectionID(variant: variant, ordinal: 0), payload: payload, required: false)
        return try c.serialize()
    }

    static func payload(version: UInt32 = 1, variant: UInt32 = 0, node: UInt32 = 0, ordinal: UInt32 = 0, params: UInt32 = 1,
                        offset: UInt64 = 64, length: UInt64 = 8, total: Int = 128) -> [UInt8] {
        var w = ByteWriter()
        w.u32(version); w.string("avx512"); w.u32(1); w.u32(variant); w.u32(1)
        w.u32(node); w.u32(ordinal); w.u32(2); w.u32(params)
        for _ in 0..<min(params, 16) { w.i32(5) }
        w.u64(offset); w.u64(length)
        while w.count < total { w.u8(0) }
        return w.bytes
    }

    @Test func damagedPackSectionsAreRefusedAtLoadNamingTheSection() throws {
        let good = try Self.packageWith(pack: Self.payload())
        #expect(throws: Never.self) { try good.withUnsafeBytes { _ = try EmberPackage(bytes: $0) } }
        let cases: [(String, [UInt8])] = [
            ("a node the graph lacks", try Self.packageWith(pack: Self.payload(node: 99))),
            ("too many parameters", try Self.packageWith(pack: Self.payload(params: 9))),
            ("an ordinal above 255", try Self.packageWith(pack: Self.payload(ordinal: 300))),
            ("an unaligned blob", try Self.packageWith(pack: Self.payload(offset: 65))),
            ("a blob past the end", try Self.packageWith(pack: Self.payload(offset: 64, length: 65))),
            ("a blob over the directory", try Self.packageWith(pack: Self.payload(offset: 0, length: 8))),
            ("another variant than its id", try Self.packageWith(pack: Self.payload(variant: 3))),
            ("a variant the package lacks", try Self.packageWith(pack: Self.payload(), variant: 2)),
            ("a truncated directory", try Self.packageWith(pack: Array(Self.payload().prefix(20)))),
        ]
        for (what, bytes) in cases {
            do {
                _ = try bytes.withUnsafeBytes { try EmberPackage(bytes: $0) }
                Issue.record("\(what) was accepted")
            } catch let EmberError.malformedPackage(section, _, reason) {
                #expect(section.hasPrefix("PACK#"), "\(what): \(section): \(reason)")
            }
        }
        // A later version of the (optional) section is skipped, not refused.
        let later = try Self.packageWith(pack: Self.payload(version: 2))
        let p = try later.withUnsafeBytes { try EmberPackage(bytes: $0) }
        #expect(try Session(package: p).executor.prepackedBytes == 0)
    }
}
