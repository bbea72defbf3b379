// Shared by several test targets (symlinked into each): small real graphs.
import Ember

enum TestModels {
    /// `g` as the one variant ("v") of a package built in memory.
    static func package(_ g: Graph) -> EmberPackage {
        EmberPackage(contents: PackageContents(metadata: PackageMetadata(), variants: [VariantRecord(name: "v")], graphs: [g]))
    }

    /// conv(3x3, same, relu6) → depthwise conv → add(residual) → avg pool → fc → softmax, f32.
    static func smallCNN(seed: UInt64 = 1) throws -> Graph {
        var rng = SplitMix64(seed: seed)
        let b = GraphBuilder(name: "small-cnn")
        let x = b.input("input", .f32, [1, 8, 8, 3])
        let w1 = b.constant("w1", rng.floats(8 * 3 * 3 * 3, scale: 0.5), dims: [8, 3, 3, 3])
        let b1 = b.constant("b1", rng.floats(8, scale: 0.1), dims: [8])
        let c1 = try b.add(.conv2D(Conv2DAttributes(padding: .same, activation: .relu6)), [x, w1, b1], name: "conv1")
        let w2 = b.constant("w2", rng.floats(8 * 3 * 3, scale: 0.5), dims: [8, 3, 3, 1])
        let c2 = try b.add(.conv2D(Conv2DAttributes(padding: .same, groups: 8)), [c1, w2, nil], name: "dw")
        let sum = try b.add(.add(.relu), [c2, c1], name: "residual")
        let pool = try b.add(.averagePool2D(Pool2DAttributes(kernelH: 2, kernelW: 2, strideH: 2, strideW: 2)), [sum], name: "pool")
        let flat = try b.add(.reshape([1, -1]), [pool], name: "flatten")
        let fw = b.constant("fc_w", rng.floats(10 * 128, scale: 0.2), dims: [10, 128])
        let fc = try b.add(.fullyConnected(.none), [flat, fw, nil], name: "fc")
        let sm = try b.add(.softmax(axis: -1, beta: 1), [fc], name: "probs")
        b.output(sm)
        return try b.build()
    }

    static func input(for graph: Graph, seed: UInt64) -> [String: Tensor] {
        var rng = SplitMix64(seed: seed)
        var feeds: [String: Tensor] = [:]
        for id in graph.inputs {
            let v = graph.values[id]
            let dims = v.shape.upperBoundDims
            let n = elementCount(dims) ?? 0
            switch v.dtype {
            case .f32: feeds[v.name] = Tensor(rng.floats(n, scale: 1), dims: dims)
            case .f16:
                let halves = rng.floats(n, scale: 1).map { Float16($0).bitPattern }
                feeds[v.name] = Tensor(dtype: .f16, dims: dims, bytes: halves.withUnsafeBytes { Array($0) })
            default:
                // Any bit pattern is a valid i8, u8, i32, i64 or bool-as-byte value.
                let bytes = (0..<(v.dtype.byteCount(dims: dims) ?? 0)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                feeds[v.name] = Tensor(dtype: v.dtype, dims: dims, bytes: v.dtype == .bool ? bytes.map { $0 & 1 } : bytes)
            }
        }
        return feeds
    }
}

