import Testing
@testable import EmberFormat
import Ember
import CEmberKernels
#if canImport(Glibc)
import Glibc
#endif

/// A package built from `TestModels.smallCNN` with two variants.
func samplePackage(compress: Bool = false) throws -> [UInt8] {
    let g = try TestModels.smallCNN()
    let p = PackageContents(metadata: PackageMetadata([("name", "small-cnn"), ("license", "test")]),
                            variants: [VariantRecord(name: "a", quality: 40, qualityMetric: "sqnr_db"), VariantRecord(name: "b")],
                            graphs: [g, try TestModels.smallCNN(seed: 2)])
    return try PackageWriter.serialize(p, options: WriteOptions(compressTensors: compress, compressGraphs: compress))
}

func load(_ bytes: [UInt8]) throws -> PackageContents {
    let buffer = bytes.withUnsafeBytes { ConstantBuffer(copying: $0) }
    return try PackageReader.read(bytes: buffer.bytes, owner: buffer)
}

/// Runs variant 0 of a package on a fixed input.
func outputs(_ p: PackageContents) throws -> [UInt8] {
    let session = try Session(package: EmberPackage(contents: p))
    let out = try session.run(TestModels.input(for: p.graphs[0], seed: 7))
    return out.keys.sorted().flatMap { out[$0]?.bytes ?? [] }
}

/// Recomputes the header and table checksums after a test edits a field, so
/// the edit reaches the check it targets instead of the checksum.
func resealed(_ bytes: [UInt8]) -> [UInt8] {
    var b = bytes
    let count = Int(readU32(b, 16))
    let tableOffset = Int(readU64(b, 24))
    if tableOffset + count * 48 <= b.count {
        writeU32(&b, 40, CRC32.checksum(Array(b[tableOffset..<(tableOffset + count * 48)])))
    }
    writeU32(&b, 60, CRC32.checksum(Array(b[0..<60])))
    return b
}

func readU32(_ b: [UInt8], _ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) } }
func readU64(_ b: [UInt8], _ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } }
func writeU32(_ b: inout [UInt8], _ o: Int, _ v: UInt32) { for i in 0..<4 { b[o + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) } }
func writeU64(_ b: inout [UInt8], _ o: Int, _ v: UInt64) { for i in 0..<8 { b[o + i] = UInt8((v >> (8 * UInt64(i))) & 0xFF) } }

func errorText(_ body: () throws -> Any) -> String {
    do { _ = try body(); return "no error" } catch { return "\(error)" }
}

/// Offset of table entry `i`.
func entry(_ i: Int) -> Int { 64 + 48 * i }

/// The section checksum: zlib's CRC-32 check value, and the sliced loop against the bit-at-a-time
/// definition over random lengths (0 to past several 8-byte steps) at unaligned offsets — through the
/// CPU's fast path where it has one (PCLMULQDQ or ARMv8 CRC32 from 64 bytes on) and the tables alone.
@Test func crc32MatchesZlibAndTheBitwiseDefinition() {
    var features: [String] = []
    if ember_cpu_features() & UInt32(EMBER_CPU_PCLMUL) != 0 { features.append("PCLMULQDQ") }
    if ember_cpu_features() & UInt32(EMBER_CPU_CRC32) != 0 { features.append("ARMv8 CRC32") }
    print(features.isEmpty ? "SKIP: no CRC instructions on this CPU; the tables alone are checked"
                           : "CRC-32 fast path: \(features.joined(separator: ", "))")
    #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    #expect(CRC32.checksum([UInt8]()) == 0)
    func bitwise(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }
    var rng = SplitMix64(seed: 90)
    let data = (0..<400).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    for _ in 0..<300 {
        let start = Int(rng.next() % 17), length = Int(rng.next() % 380)
        let slice = data[start..<(start + length)]
        let sliced = data.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)])) }
        let tables = data.withUnsafeBytes { CRC32.tableChecksum(UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)])) }
        #expect(sliced == bitwise(slice) && tables == sliced, "offset \(start) length \(length)")
    }
    // Long buffers (many 64-byte folds, then 16-byte ones and a tail), every length mod 64 near a few sizes.
    let long = (0..<20_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    for base in [64, 128, 1024, 19_000] {
        for extra in 0..<70 where base + extra + 3 <= long.count {
            long.withUnsafeBytes { raw in
                let view = UnsafeRawBufferPointer(rebasing: raw[3..<(3 + base + extra)])
                #expect(CRC32.checksum(view) == CRC32.tableChecksum(view), "length \(base + extra)")
            }
        }
    }
    #expect(CRC32.checksum(long) == bitwise(long[...]))
}

@Suite struct FormatRoundTripTests {
    @Test func roundTripKeepsEverything() throws {
        let bytes = try samplePackage()
        let p = try load(bytes)
        #expect(p.metadata["name"] == "small-cnn")
        #expect(p.variants.map(\.name) == ["a", "b"])
        #expect(p.variants[0].quality == 40)
        #expect(p.graphs[0].nodes.map(\.op) == (try TestModels.smallCNN()).nodes.map(\.op))
        // Writing what was read gives the same bytes: the codec loses nothing.
        var again = PackageContents(metadata: p.metadata, variants: p.variants, graphs: p.graphs)
        again.sections = []
        #expect(try PackageWriter.serialize(again) == bytes)
        // Sections are 64-byte aligned and raw tensors are used in place.
        #expect(p.sections.allSatisfy { $0.offset % 64 == 0 })
        let tens = try #require(p.sections.first { $0.kind == .tensors })
        let c0 = try #require(p.graphs[0].values.first { $0.constant != nil }?.constant)
        #expect(c0.count > 0 && tens.compression == .none)
    }

    /// A value's float requantization (ONNX's rounding, GRPH flag bit 2) survives encoding; the bit without
    /// quantization (bit 0) is refused, naming the value.
    @Test func floatRequantizationRoundTripsAndAStrayFlagIsRefused() throws {
        let b = GraphBuilder(name: "onnx-int8")
        var onnx = QuantParams(scale: 0.05, zeroPoint: 3)
        onnx.requantization = .float
        let x = b.input("x", .f32, [4])
        let q = try b.add(.quantize(.i8), [x], name: "q", outputQuant: onnx)
        let tflite = try b.add(.quantize(.i8), [try b.add(.dequantize, [q], name: "dq")], name: "q2",
                               outputQuant: QuantParams(scale: 0.05, zeroPoint: 3))
        b.output(try b.add(.dequantize, [tflite], name: "y"))
        let g = try b.build()
        var tensors = ByteWriter()
        var encoded = GraphCodec.encode(g, tensorSection: 0, tensors: &tensors)
        let sections = TensorSections(sizes: [0: tensors.count], loaded: [:])
        func decode(_ bytes: [UInt8]) throws -> Graph {
            try bytes.withUnsafeBytes { raw in
                var r = ByteReader(raw, section: "GRPH#0", baseOffset: 0)
                return try GraphCodec.decode(&r, tensors: sections)
            }
        }
        let back = try decode(encoded)
        let modes = back.values.compactMap { $0.quant?.requantization }
        #expect(modes == [.float, .fixedPoint], "\(back.values.map(\.quant))")
        // Value "x" (no quantization) given flag bit 2: its flags byte follows its name and dtype.
        let name = Array("x".utf8), at = try #require((0..<encoded.count - 2).first { i in
            encoded[i..<(i + name.count)].elementsEqual(name) && encoded[i + name.count] == DType.f32.rawValue
        }) + name.count + 1
        encoded[at] |= 4
        #expect(errorText { try decode(encoded) }.contains("value 'x' has unknown flags 4"))
    }

    @Test func everyOpKindRoundTrips() throws {
        let b = GraphBuilder(name: "ops")
        let x = b.input("x", .f32, [1, 4, 4, 2])
        let y = try b.add(.resize(ResizeAttributes(height: 8, width: 6, bilinear: true, halfPixelCenters: true)), [x], name: "up")
        let z = try b.add(.resize(ResizeAttributes(height: 2, width: 2, bilinear: false, alignCorners: true)), [y], name: "down")
        let m = try b.add(.maximum, [z, z], name: "max")
        let n = try b.add(.minimum, [m, z], name: "min")
        b.output(n)
        let g = try b.build()
        let p = try load(try PackageWriter.serialize(PackageContents(metadata: PackageMetadata(), variants: [VariantRecord(name: "v")], graphs: [g])))
        #expect(p.graphs[0].nodes.map(\.op) == g.nodes.map(\.op))
        let out = try Session(package: EmberPackage(contents: p)).run(["x": Tensor([Float](repeating: 1.5, count: 32), dims: [1, 4, 4, 2])])
        #expect(out["min"]?.floats == [Float](repeating: 1.5, count: 8))
    }

    @Test func rawTensorsAreZeroCopyFromTheMapping() throws {
        let path = "/tmp/ember-format-test-\(UInt32.random(in: 0...UInt32.max)).ember"
        try writeFile(try samplePackage(), to: path)
        let file = try PackageFile(path: path)
        let p = try file.withBytes { try PackageReader.read(bytes: $0, owner: file) }
        let c = try #require(p.graphs[0].values.first { $0.constant != nil }?.constant)
        let base = UInt(bitPattern: file.bytes.baseAddress), addr = UInt(bitPattern: c.bytes.baseAddress)
        #expect(addr >= base && addr < base + UInt(file.bytes.count))
        #expect(addr % 64 == 0)
    }

    /// Whether this process may take read leases (the file's owner or CAP_LEASE, and a
    /// file system that grants them); where it may not, `automatic` falls back to a copy.
    static let leasesAvailable: Bool = {
        let path = "/tmp/ember-lease-probe-\(getpid()).ember"
        defer { unlink(path) }
        guard (try? writeFile(samplePackage(), to: path)) != nil else { return false }
        return (try? PackageFile(path: path, protection: .lease)) != nil
    }()

    /// A writer opening a leased package in this very process: the lease-break
    /// handler swaps in a private copy of the same bytes before the kernel lets
    /// the open return, so the truncation that follows never reaches them.
    @Test(.enabled(if: leasesAvailable, "read leases are not granted here"))
    func aWriterBreaksTheLeaseAndThePackageBecomesAPrivateCopy() throws {
        let path = "/tmp/ember-lease-test-\(UInt32.random(in: 0...UInt32.max)).ember"
        defer { unlink(path) }
        let original = try samplePackage()
        try writeFile(original, to: path)
        let file = try PackageFile(path: path, protection: .lease)
        let breaksBefore = PackageFile.leaseBreaks
        #expect(file.protection == .lease && !file.wasReplacedByCopy)
        let fd = open(path, O_WRONLY | O_TRUNC)
        #expect(fd >= 0)
        close(fd)
        #expect(file.wasReplacedByCopy)
        #expect(PackageFile.leaseBreaks > breaksBefore)
        #expect(Array(file.bytes) == original)
        let p = try file.withBytes { try PackageReader.read(bytes: $0, owner: file) }
        #expect(try outputs(p) == outputs(try load(original)))
    }

    @Test func zstdSectionsRoundTripAndShrink() throws {
        let raw = try samplePackage(), packed = try samplePackage(compress: true)
        let p = try load(packed)
        #expect(p.sections.contains { $0.compression == .zstd })
        #expect(packed.count < raw.count)
        #expect(try outputs(p) == outputs(try load(raw)))
    }
}

@Suite struct FormatRejectionTests {
    let good: [UInt8]
    init() throws { good = try samplePackage() }

    @Test func truncatedOrForeignFiles() {
        #expect(errorText { try load(Array(good.prefix(10))) }.contains("shorter than the 64-byte header"))
        var notOurs = good; notOurs[0] = UInt8(ascii: "X")
        #expect(errorText { try load(notOurs) }.contains("magic"))
        #expect(errorText { try load(Array(good.dropLast(1))) }.contains("section header at byte 32"))
    }

    @Test func newerMajorAndUnknownFeatures() {
        var b = good; b[4] = 2
        #expect(errorText { try load(resealed(b)) }.contains("format version 2"))
        b = good; writeU64(&b, 8, 1 << 40)
        #expect(errorText { try load(resealed(b)) }.contains("feature bits 0x10000000000"))
    }

    @Test func checksumsCatchFlips() {
        var b = good; b[70] ^= 1 // in the table
        #expect(errorText { try load(b) }.contains("section table"))
        b = good; b[b.count - 1] ^= 0x80 // in the last section
        #expect(errorText { try load(b) }.contains("checksum mismatch"))
        b = good; b[30] ^= 4
        #expect(errorText { try load(b) }.contains("header checksum mismatch"))
    }

    @Test func sectionsOutOfBoundsOrOverlapping() {
        var b = good
        writeU64(&b, entry(0) + 8, UInt64(b.count + 64))
        #expect(errorText { try load(resealed(b)) }.contains("runs past the end"))
        b = good
        writeU64(&b, entry(1) + 8, readU64(good, entry(0) + 8)) // VARS placed on top of META
        #expect(errorText { try load(resealed(b)) }.contains("overlaps"))
        b = good
        writeU64(&b, entry(0) + 8, readU64(good, entry(0) + 8) + 1)
        #expect(errorText { try load(resealed(b)) }.contains("not 64-byte aligned"))
        b = good
        writeU32(&b, 16, 100_000)
        #expect(errorText { try load(resealed(b)) }.contains("section count 100000"))
    }

    @Test func absurdCountsInsideASectionAreRefusedBeforeAllocating() throws {
        // Re-encode META with a count of 2^32-1 entries and a valid checksum.
        var b = good
        let metaOffset = Int(readU64(good, entry(0) + 8))
        writeU32(&b, metaOffset, 0xFFFF_FFFF)
        writeU32(&b, entry(0) + 36, CRC32.checksum(Array(b[metaOffset..<(metaOffset + Int(readU64(good, entry(0) + 16)))])))
        let text = errorText { try load(resealed(b)) }
        #expect(text.contains("META#0") && text.contains("cannot fit"))
    }

    @Test func zstdFrameThatLiesAboutItsSize() throws {
        let packed = try samplePackage(compress: true)
        let p = try load(packed)
        let i = try #require(p.sections.firstIndex { $0.compression == .zstd })
        var b = packed
        writeU64(&b, entry(i) + 24, readU64(packed, entry(i) + 24) + 1000)
        #expect(errorText { try load(resealed(b)) }.contains("zstd frame declares"))
        b = packed
        writeU64(&b, entry(i) + 24, UInt64(1) << 40)
        #expect(errorText { try load(resealed(b)) }.contains("is above the 64 MiB limit"))
    }

    @Test func unknownRequiredSectionIsRefusedUnknownOptionalSkipped() throws {
        var c = ContainerWriter()
        // Build a package by hand with an extra section.
        var tensors = ByteWriter()
        let g = try TestModels.smallCNN()
        let graph = GraphCodec.encode(g, tensorSection: 0, tensors: &tensors)
        c.add(.meta, id: 0, payload: PackageMetadata([("name", "x")]).encode())
        c.add(.variants, id: 0, payload: VariantRecord.encodeAll([VariantRecord(name: "only")]))
        c.add(.graph, id: 0, payload: graph)
        c.add(.tensors, id: 0, payload: tensors.bytes)
        var optional = c
        optional.add(SectionKind("XTRA"), id: 0, payload: [1, 2, 3], required: false)
        #expect(try load(optional.serialize()).variants.count == 1)
        c.add(SectionKind("XTRA"), id: 0, payload: [1, 2, 3], required: true)
        #expect(errorText { try load(try c.serialize()) }.contains("required section XTRA#0"))
    }
}

/// Every truncation and 2,000 seeded random bit flips of a valid package: each
/// load either fails with an EmberError or, where a flip hit a byte no check
/// covers (alignment padding), runs and gives the original's exact outputs.
@Suite struct MutationTests {
    @Test func everyTruncationFails() throws {
        let good = try samplePackage()
        for length in 0..<good.count {
            do {
                _ = try load(Array(good.prefix(length)))
                Issue.record("truncation to \(length) of \(good.count) bytes loaded")
            } catch is EmberError {
            } catch { Issue.record("truncation to \(length): non-Ember error \(error)") }
        }
    }

    @Test(arguments: [false, true]) func seededBitFlipsFailOrChangeNothing(compressed: Bool) throws {
        let good = try samplePackage(compress: compressed)
        let expected = try outputs(try load(good))
        var rng = SplitMix64(seed: compressed ? 2024 : 42)
        var failed = 0, unchanged = 0
        for _ in 0..<2000 {
            var b = good
            let bit = Int(rng.next() % UInt64(b.count * 8))
            b[bit / 8] ^= UInt8(1 << (bit % 8))
            do {
                let p = try load(b)
                #expect(try outputs(p) == expected, "flip of bit \(bit) loaded but changed the result")
                unchanged += 1
            } catch is EmberError {
                failed += 1
            } catch { Issue.record("flip of bit \(bit): non-Ember error \(error)") }
        }
        #expect(failed + unchanged == 2000)
        #expect(failed > 1500) // almost every byte is covered by a checksum
    }
}
