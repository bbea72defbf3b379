import EmberCore

// Index and layout ops lowered to the op set's data movement.
//
// SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND (what the TF converter writes around a dilated conv, and
// what some audio and segmentation models keep) lowered to data movement the op set has: pad,
// reshape, transpose, reshape — and for BATCH_TO_SPACE_ND the reverse, then a slice for the crops.
// The block shape and the paddings or crops must be constants. Nothing is computed, so int8 stays
// exact (the pad writes the zero point, as LiteRT's kernel pads with the output offset).

extension Importer {
    mutating func spaceBatchLowering(_ code: TFLiteImporter.Builtin, inputs ins: [Int], node: String, output: Int,
                                     outT: TensorRecord) throws {
        func fail(_ reason: String) -> EmberError { .invalidGraph(node: node, reason: "\(TFLiteImporter.opName(code.rawValue)): \(reason)") }
        guard ins.count >= 3, ins[0...2].allSatisfy({ $0 >= 0 }) else { throw fail("needs input, block_shape and paddings/crops") }
        let x = try tensor(ins[0], "input")
        let block = try ints(ins[1], "block_shape", node: node)
        let edges = try ints(ins[2], code == .spaceToBatchND ? "paddings" : "crops", node: node)
        let m = block.count, rank = x.dims.count
        guard m >= 1, rank >= m + 1, edges.count == 2 * m else {
            throw fail("block_shape of \(m) dims, \(edges.count / 2) edge pairs and a rank-\(rank) input do not fit")
        }
        guard block.allSatisfy({ $0 >= 1 && $0 <= 1 << 16 }), edges.allSatisfy({ $0 >= 0 && $0 <= 1 << 24 }) else {
            throw fail("block sizes must be 1…65536 and paddings/crops non-negative")
        }
        let batch = x.dims[0], spatial = Array(x.dims[1...m]), rest = Array(x.dims[(m + 1)...])
        let blocks = block.reduce(1) { saturatingMultiply($0, $1) }
        let source = try value(ins[0])
        if code == .spaceToBatchND {
            // Pad, split each spatial dim into (dim / b, b), move the b axes in front of the batch.
            let padded = spatial.indices.map { spatial[$0] + edges[2 * $0] + edges[2 * $0 + 1] }
            for (i, d) in padded.enumerated() where d % block[i] != 0 {
                throw fail("padded spatial dim \(i) is \(d), not a multiple of its block \(block[i])")
            }
            var current = source
            if edges.contains(where: { $0 != 0 }) {
                let before = [0] + (0..<m).map { edges[2 * $0] } + rest.map { _ in 0 }
                let after = [0] + (0..<m).map { edges[2 * $0 + 1] } + rest.map { _ in 0 }
                current = lower(.pad(before: before, after: after), [current], "\(node)/pad", x.dtype,
                                [batch] + padded + rest, quant: x.quant)
            }
            let split = [batch] + (0..<m).flatMap { [padded[$0] / block[$0], block[$0]] } + rest
            current = lower(.reshape(split), [current], "\(node)/split", x.dtype, split, quant: x.quant)
            let perm = (0..<m).map { 2 + 2 * $0 } + [0] + (0..<m).map { 1 + 2 * $0 } + (0..<rest.count).map { 1 + 2 * m + $0 }
            current = lower(.transpose(perm: perm), [current], "\(node)/transpose", x.dtype, perm.map { split[$0] }, quant: x.quant)
            let dims = [saturatingMultiply(blocks, batch)] + (0..<m).map { padded[$0] / block[$0] } + rest
            guard dims == outT.dims else { throw fail("gives \(dims), the model declares \(outT.dims)") }
            try emit(.reshape(dims), [current], output: output, node: node)
        } else {
            // Split the batch into the blocks and the images, interleave each block axis after its
            // spatial dim, merge them, and crop.
            guard batch % blocks == 0 else { throw fail("batch \(batch) is not a multiple of the block product \(blocks)") }
            let images = batch / blocks
            let split = block + [images] + spatial + rest
            var current = lower(.reshape(split), [source], "\(node)/split", x.dtype, split, quant: x.quant)
            let perm = [m] + (0..<m).flatMap { [m + 1 + $0, $0] } + (0..<rest.count).map { 2 * m + 1 + $0 }
            current = lower(.transpose(perm: perm), [current], "\(node)/transpose", x.dtype, perm.map { split[$0] }, quant: x.quant)
            let merged = (0..<m).map { spatial[$0] * block[$0] }
            for i in 0..<m where edges[2 * i] + edges[2 * i + 1] > merged[i] {
                throw fail("crops \(edges[2 * i]) + \(edges[2 * i + 1]) exceed spatial dim \(i) of \(merged[i])")
            }
            let full = [images] + merged + rest
            let cropped = [images] + (0..<m).map { merged[$0] - edges[2 * $0] - edges[2 * $0 + 1] } + rest
            guard cropped == outT.dims else { throw fail("gives \(cropped), the model declares \(outT.dims)") }
            guard edges.contains(where: { $0 != 0 }) else {
                try emit(.reshape(full), [current], output: output, node: node)
                return
            }
            current = lower(.reshape(full), [current], "\(node)/merge", x.dtype, full, quant: x.quant)
            let begin = [0] + (0..<m).map { edges[2 * $0] } + rest.map { _ in 0 }
            let end = zip(begin, cropped).map { $0 + $1 }
            try emit(.slice(begin: begin, end: end, strides: full.map { _ in 1 }), [current], output: output, node: node)
        }
    }

    /// GATHER_ND(params, indices[..., K]): each index tuple is turned into one row number of params
    /// viewed as [P0·…·P(K-1), rest] (a multiply by the row strides and a sum over the last axis,
    /// in the indices' integer type), then one GATHER of those rows. Exact for every dtype. An index
    /// out of range, which makes LiteRT fail the invoke, reads a row of zeros when the row number
    /// falls outside the table (as GATHER does) and some other row when it falls inside.
    mutating func gatherNDLowering(inputs ins: [Int], node: String, output: Int, outT: TensorRecord) throws {
        func fail(_ reason: String) -> EmberError { .invalidGraph(node: node, reason: "GATHER_ND: \(reason)") }
        guard ins.count >= 2, ins[0] >= 0, ins[1] >= 0 else { throw fail("needs params and indices") }
        let params = try tensor(ins[0], "params"), indices = try tensor(ins[1], "indices")
        guard indices.dtype == .i32 || indices.dtype == .i64 else { throw fail("indices must be int32 or int64, not \(indices.dtype)") }
        guard let k = indices.dims.last, k >= 1, k <= params.dims.count else {
            throw fail("indices \(formatDims(indices.dims)) need a last dim of 1…\(params.dims.count) (the params' rank)")
        }
        let outer = Array(indices.dims.dropLast()), rest = Array(params.dims[k...])
        guard outer + rest == outT.dims else { throw fail("gives \(formatDims(outer + rest)), the model declares \(formatDims(outT.dims))") }
        let rows = params.dims[..<k].reduce(1) { saturatingMultiply($0, $1) }
        guard rows <= Int(Int32.max) else { throw fail("\(rows) rows do not fit int32 row numbers") }
        var strides = [Int](repeating: 1, count: k)
        for i in stride(from: k - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * params.dims[i + 1] }
        let strideBytes = indices.dtype == .i32 ? strides.map { Int32($0) }.withUnsafeBytes { Array($0) }
                                                : strides.map { Int64($0) }.withUnsafeBytes { Array($0) }
        let strideValue = constant("\(node)/strides", indices.dtype, [k], nil, strideBytes)
        let scaled = lower(.mul(.none), [try value(ins[1]), strideValue], "\(node)/scaled", indices.dtype, indices.dims)
        // One index tuple (indices of rank 1) keeps its axis: one row number, gathered as [1, rest].
        let rowNumbers = lower(.reduce(.sum, axes: [indices.dims.count - 1], keepDims: outer.isEmpty), [scaled], "\(node)/rows",
                               indices.dtype, outer.isEmpty ? [1] : outer)
        let table = lower(.reshape([rows] + rest), [try value(ins[0])], "\(node)/table", params.dtype, [rows] + rest,
                          quant: params.quant)
        let gathered = (outer.isEmpty ? [1] : outer) + rest
        if gathered == outT.dims {
            try emit(.gather(axis: 0), [table, rowNumbers], output: output, node: node)
        } else {
            let g = lower(.gather(axis: 0), [table, rowNumbers], "\(node)/gather", params.dtype, gathered, quant: params.quant)
            try emit(.reshape(outT.dims), [g], output: output, node: node)
        }
    }
}
