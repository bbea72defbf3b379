// Sparse TFLite constants (schema.fbs `SparsityParameters`): densified at import, so the
// DENSIFY that feeds them into an op becomes a plain constant. The algorithm is TFLite's
// FormatConverter::SparseToDense (tensorflow/lite/kernels/internal/utils/sparsity_format_converter.cc);
// every count and index in the file is untrusted and checked before it is used.
import EmberCore

/// One level of a sparse tensor's traversal: dense (every index 0..<size) or CSR
/// (indices[segments[p] ..< segments[p + 1]] for parent position p).
struct SparseLevel {
    var dense: Bool
    var size: Int
    var segments: [Int]
    var indices: [Int]
}

struct SparseLayout {
    /// Traversal order over the original dims (0..<rank) and block dims (rank..<n).
    var traversalOrder: [Int]
    /// block_map[k]: the original dim block dim rank + k subdivides.
    var blockMap: [Int]
    var levels: [SparseLevel]

    /// Reads `SparsityParameters` (table `t`) of a tensor with `dims`.
    init(_ t: FBTable, dims: [Int], fail: (String) -> EmberError) throws {
        traversalOrder = try t.ints(0, Int32.self) ?? []
        blockMap = try t.ints(1, Int32.self) ?? []
        let rank = dims.count, n = traversalOrder.count
        guard n >= rank, n <= 2 * GraphLimits.maxRank, blockMap.count == n - rank else {
            throw fail("traversal order of \(n) dims and \(blockMap.count) block dims do not fit rank \(rank)")
        }
        guard Set(traversalOrder) == Set(0..<n) else { throw fail("traversal order \(traversalOrder) is not a permutation of 0..<\(n)") }
        guard blockMap.allSatisfy({ (0..<rank).contains($0) }), Set(blockMap).count == blockMap.count else {
            throw fail("block map \(blockMap) must name distinct dims of rank \(rank)")
        }
        guard let metadata = try t.vector(2, elementSize: 4), metadata.count == n else {
            throw fail("needs \(n) dim metadata entries")
        }
        var levels: [SparseLevel] = []
        for i in 0..<n {
            let m = try metadata.table(i)
            let dense = try m.int(0, Int8.self) == 0
            let size = Int(try m.int(1, Int32.self))
            func indexVector(_ typeSlot: Int, _ valueSlot: Int) throws -> [Int] {
                let kind = try m.int(typeSlot, UInt8.self)
                guard kind != 0 else { return [] }
                guard let table = try m.table(valueSlot) else { throw fail("level \(i) has an index vector type but no vector") }
                switch kind {
                case 1: return try table.ints(0, Int32.self) ?? []
                case 2: return try table.ints(0, UInt16.self) ?? []
                case 3: return try table.ints(0, UInt8.self) ?? []
                default: throw fail("level \(i) has index vector type \(kind) (1 int32, 2 uint16, 3 uint8)")
                }
            }
            levels.append(SparseLevel(dense: dense, size: size, segments: try indexVector(2, 3), indices: try indexVector(4, 5)))
        }
        // Block dims are dense, their sizes the block sizes; each blocked dim divides by its block.
        var blocked = dims
        for (k, d) in blockMap.enumerated() {
            let b = levels[rank + k].size
            guard levels[rank + k].dense, b > 0, dims[d] % b == 0 else {
                throw fail("block dim \(k) (size \(b)) must be dense and divide dim \(d) (\(dims[d]))")
            }
            blocked[d] /= b
        }
        for i in 0..<n {
            let dim = traversalOrder[i]
            let expected = dim < rank ? blocked[dim] : levels[rank + (dim - rank)].size
            if levels[i].dense {
                guard levels[i].size == expected else { throw fail("dense level \(i) has size \(levels[i].size), expected \(expected)") }
            } else {
                levels[i].size = expected
                guard levels[i].indices.allSatisfy({ (0..<expected).contains($0) }) else {
                    throw fail("level \(i) has an index outside 0..<\(expected)")
                }
                guard zip(levels[i].segments, levels[i].segments.dropFirst()).allSatisfy({ $0 <= $1 }),
                      (levels[i].segments.last ?? 0) <= levels[i].indices.count, (levels[i].segments.first ?? 0) >= 0 else {
                    throw fail("level \(i)'s segments are not a non-decreasing list within its \(levels[i].indices.count) indices")
                }
            }
        }
        self.levels = levels
    }

    /// The dense tensor ([dims], row-major) of `values` (`elementSize` bytes each) in this layout.
    func densify(_ values: UnsafeRawBufferPointer, elementSize: Int, dims: [Int], fail: (String) -> EmberError) throws -> [UInt8] {
        let rank = dims.count, total = dims.reduce(1, *)
        let valueCount = values.count / elementSize
        guard values.count % elementSize == 0 else { throw fail("\(values.count) bytes of values are not whole elements") }
        var out = [UInt8](repeating: 0, count: total * elementSize)
        var indices = [Int](repeating: 0, count: levels.count)
        var next = 0  // the next value to place
        var strides = [Int](repeating: 1, count: rank)
        for d in stride(from: rank - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * dims[d + 1] }
        let blockSizes = (0..<blockMap.count).map { levels[rank + $0].size }

        func place() throws {
            guard next < valueCount else { throw fail("the index lists name more elements than its \(valueCount) values") }
            var original = [Int](repeating: 0, count: rank)
            for i in 0..<rank { original[traversalOrder[i]] = indices[i] }
            for i in rank..<levels.count {
                let k = traversalOrder[i] - rank, d = blockMap[k]
                original[d] = original[d] * blockSizes[k] + indices[i]
            }
            var flat = 0
            for d in 0..<rank {
                guard original[d] < dims[d] else { throw fail("an element falls outside \(formatDims(dims))") }
                flat += original[d] * strides[d]
            }
            for b in 0..<elementSize { out[flat * elementSize + b] = values[next * elementSize + b] }
            next += 1
        }
        func visit(_ level: Int, _ parent: Int) throws {
            if level == levels.count { return try place() }
            let l = levels[level]
            if l.dense {
                for i in 0..<l.size {
                    indices[level] = i
                    try visit(level + 1, parent * l.size + i)
                }
            } else {
                guard parent + 1 < l.segments.count else { throw fail("level \(level) has no segment for position \(parent)") }
                for i in l.segments[parent]..<l.segments[parent + 1] {
                    indices[level] = l.indices[i]
                    try visit(level + 1, i)
                }
            }
        }
        try visit(0, 0)
        guard next == valueCount else { throw fail("\(valueCount) values, but the index lists name \(next)") }
        return out
    }
}
