import CEmberKernels
import EmberCore
#if canImport(Glibc)
import Glibc
#endif

/// What packed a blob of `PackedWeights` (a PACK section's kind field, docs/FORMAT.md).
public enum PackedWeightKind: UInt32, CaseIterable, Sendable {
    /// ember_qs8_pack_runs: the int8 GEMM's panels, then its bias with the input zero point folded in.
    case int8GEMM = 1
    /// ember_f32_pack: the f32 GEMM's panels, then its padded bias.
    case floatGEMM = 2
    /// ember_f16_pack: an fp16 rung's GEMM panels (halves).
    case halfGEMM = 3
    /// ember_dw_pack_s8: int8 depthwise weights (quads or int32 taps), then the folded bias.
    case int8Depthwise = 4
    /// ember_dw_pack_f32: f32 depthwise taps, then the padded bias.
    case floatDepthwise = 5
    /// ember_dw_pack_f16: an fp16 rung's depthwise taps (halves).
    case halfDepthwise = 6
    /// ember_winograd_f32_pack: the 16 transformed filters, then the padded bias.
    case floatWinograd = 7
}

/// The weight layouts kernels read, by name (a PACK section's layout).
public enum PackedLayouts {
    /// Bump when any kernel changes how it reads its packed weights: PACK sections of an older revision
    /// are then ignored (the weights are packed at prepare, as for a package without them), never misread.
    public static let revision: UInt32 = 1

    /// Every layout name, in EMBER_ISA order.
    public static let names = ["avx2", "avx512", "neon", "neon-dotprod"]

    static func name(ofC isa: Int32) -> String? {
        switch isa {
        case Int32(EMBER_ISA_AVX2): return "avx2"
        case Int32(EMBER_ISA_AVX512): return "avx512"
        case Int32(EMBER_ISA_NEON): return "neon"
        case Int32(EMBER_ISA_NEON_DOTPROD): return "neon-dotprod"
        default: return nil
        }
    }
}

extension KernelISA {
    /// The name of the weight layout this path's kernels read on this CPU and build (NEON's int8 layout
    /// depends on the dot product), nil where the path packs nothing (scalar, or no kernels in this build).
    public var packedLayout: String? { cISA.flatMap(PackedLayouts.name(ofC:)) }
}

/// One node's pre-packed weights while it is prepared: the blobs a package holds for it, and where a
/// packer records what its kernel packs. Made by the executor per node and per prepare.
public final class NodeWeightPacks {
    let node: Int
    let source: PackedWeights?
    let recorder: PackedWeightsRecorder?
    /// The node's next packing's ordinal.
    var next = 0
    /// Bytes the node's kernel used from `source` in place.
    public fileprivate(set) var bytesUsedInPlace = 0

    public init(node: Int, source: PackedWeights?, recorder: PackedWeightsRecorder?) {
        self.node = node; self.source = source; self.recorder = recorder
    }
}

extension Preparer {
    /// This node's next packed weights as `parts` of the given byte counts, each starting 64 bytes after a
    /// 64-byte boundary of the one before: the package's pre-packed blob when it has one of this kind,
    /// parameters and size (used in place, no work), else packed now by `fill` into prepared storage
    /// (and recorded when a packer asks). `params` are whatever besides the layout decides the bytes.
    func packedWeights(_ kind: PackedWeightKind, params: [Int32], parts: [Int],
                       fill: ([UnsafeMutableRawPointer]) -> Void) throws -> [UnsafeRawPointer] {
        var offsets: [Int] = [], total = 0
        for p in parts {
            offsets.append(total)
            total += (max(p, 0) + 63) / 64 * 64
        }
        let packs = c.packs
        let ordinal = packs?.next ?? 0
        packs?.next += 1
        // In place only when 64-byte aligned, as packing would give it (a package read from a caller's
        // unaligned buffer, not a mapped file, may not be).
        if let packs, let (blob, bytes) = packs.source?.blob(node: packs.node, ordinal: ordinal),
           blob.kind == kind.rawValue, blob.params == params, blob.count == total, let base = bytes.baseAddress,
           Int(bitPattern: base) % 64 == 0 {
            packs.bytesUsedInPlace += total
            return offsets.map { base + $0 }
        }
        let block = UnsafeMutableRawPointer(try storage.allocate(UInt8.self, count: total))
        memset(block, 0, max(total, 1))  // the gaps between parts are zeros, so recorded blobs are reproducible
        fill(offsets.map { block + $0 })
        if let packs, let recorder = packs.recorder {
            recorder.record(node: packs.node, ordinal: ordinal, kind: kind.rawValue, params: params,
                            bytes: UnsafeRawBufferPointer(start: block, count: total))
        }
        return offsets.map { UnsafeRawPointer(block + $0) }
    }
}
