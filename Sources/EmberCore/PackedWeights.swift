/// One node's weights as a kernel path lays them out for its micro-kernels, packed ahead of time.
public struct PackedBlob: Sendable, Equatable {
    /// The node's index in its graph.
    public var node: Int
    /// Which of the node's packings (a node may pack more than one operand), in the order its kernel packs them.
    public var ordinal: Int
    /// What made it (EmberKernels' `PackedWeightKind`).
    public var kind: UInt32
    /// The sizes it was packed for (k, n, zero point, …, per kind): a kernel uses the blob only when they
    /// are what it would pack now.
    public var params: [Int32]
    /// Where its bytes are in `PackedWeights.buffer`, and how many.
    public var offset: Int
    public var count: Int

    public init(node: Int, ordinal: Int, kind: UInt32, params: [Int32], offset: Int, count: Int) {
        self.node = node; self.ordinal = ordinal; self.kind = kind; self.params = params
        self.offset = offset; self.count = count
    }

    /// At most this many parameters per blob.
    public static let maxParams = 8
    /// A node packs at most this many operands.
    public static let maxOrdinal = 255
}

/// The weights of one graph pre-packed for one kernel layout (a package's PACK section, docs/FORMAT.md):
/// prepare uses them in place instead of packing, so the weights stay mapped from the file and shared
/// by every process that maps it. Blobs of a stale layout revision are never offered (see `layout`).
public final class PackedWeights: @unchecked Sendable {
    /// The kernel layout, e.g. "avx512" (EmberKernels' `KernelISA.packedLayout`).
    public let layout: String
    /// The layout's revision when packed: a reader whose kernels read another revision ignores the blobs.
    public let revision: UInt32
    public let blobs: [PackedBlob]
    /// Holds the bytes (the mapped file, or an owned copy).
    public let buffer: ConstantBuffer
    private let byNodeOrdinal: [Int: Int]

    /// `blobs` must lie inside `buffer` and be unique per (node, ordinal); the format's reader checks both
    /// (`EmberError.malformedPackage`), and so does this initializer (`invalidArgument`).
    public init(layout: String, revision: UInt32, blobs: [PackedBlob], buffer: ConstantBuffer) throws {
        var index: [Int: Int] = [:]
        for (i, b) in blobs.enumerated() {
            guard b.offset >= 0, b.count >= 0, b.offset <= buffer.bytes.count, b.count <= buffer.bytes.count - b.offset,
                  b.node >= 0, (0...PackedBlob.maxOrdinal).contains(b.ordinal), b.params.count <= PackedBlob.maxParams else {
                throw EmberError.invalidArgument(
                    "packed blob \(i) (node \(b.node), #\(b.ordinal)) is outside its buffer or limits")
            }
            guard index.updateValue(i, forKey: Self.key(b.node, b.ordinal)) == nil else {
                throw EmberError.invalidArgument("node \(b.node) has two packed blobs #\(b.ordinal)")
            }
        }
        self.layout = layout; self.revision = revision; self.blobs = blobs; self.buffer = buffer
        byNodeOrdinal = index
    }

    private static func key(_ node: Int, _ ordinal: Int) -> Int { node << 8 | ordinal }

    /// Node `node`'s blob `ordinal` and its bytes, if there is one.
    public func blob(node: Int, ordinal: Int) -> (PackedBlob, UnsafeRawBufferPointer)? {
        guard (0...PackedBlob.maxOrdinal).contains(ordinal), let i = byNodeOrdinal[Self.key(node, ordinal)] else { return nil }
        let b = blobs[i]
        return (b, UnsafeRawBufferPointer(rebasing: buffer.bytes[b.offset..<(b.offset + b.count)]))
    }
}

/// Collects the blobs kernels pack while an executor prepares (the packer's `Executor.packWeights`).
public final class PackedWeightsRecorder: @unchecked Sendable {
    public private(set) var blobs: [(blob: PackedBlob, bytes: [UInt8])] = []
    public init() {}

    /// Records a copy of `bytes` as node `node`'s blob `ordinal` (its offset is assigned when written).
    public func record(node: Int, ordinal: Int, kind: UInt32, params: [Int32], bytes: UnsafeRawBufferPointer) {
        blobs.append((PackedBlob(node: node, ordinal: ordinal, kind: kind, params: params, offset: 0, count: bytes.count),
                      Array(bytes)))
    }
}
