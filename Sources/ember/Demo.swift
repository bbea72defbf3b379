import ArgumentParser
import Ember
import EmberPack
#if canImport(Glibc)
import Glibc
#endif

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a small real model in memory, pack it, run it, and explain each step.",
        discussion: """
        The model tells vertical from horizontal edges in a 16x16 grey image: two Sobel \
        filters (Conv2D + ReLU), global average pooling, a 2x2 fully-connected layer and a \
        softmax. It is packed as two variants — fp32 and int8 (TFLite-style quantization) — \
        into DIR/demo.ember, which `ember inspect` and `ember run` then accept like any package.
        """
    )

    @Option(help: "Where to write demo.ember and the sample input/output .npy files.")
    var output: String = "demo-out"

    func run() throws {
        try makeDirectories(output)
        let packagePath = output + "/demo.ember"
        let contents = try DemoModel.package()
        try PackageWriter.write(contents, to: packagePath)
        let package = try EmberPackage(path: packagePath)
        print("1. Built an edge-orientation model with GraphBuilder: Conv2D(3x3 Sobel, relu) → GlobalAveragePool → FullyConnected → Softmax.")
        print("2. Packed it as \(packagePath) (\(package.fileBytes) bytes) with variants: "
              + package.variants.map { "\($0.name)" + ($0.quality.isNaN ? "" : " (SQNR \(Int($0.quality)) dB vs fp32)") }.joined(separator: ", ") + ".")

        let image = DemoModel.stripes(vertical: true)
        let inputPath = output + "/input.npy"
        try writeFile(NPY.encode(image), to: inputPath)
        print("3. Generated a 16x16 image of vertical stripes: \(inputPath).")
        print("4. Ran every variant (memory planned once, zero allocations per run):")
        for v in package.variants {
            let session = try Session(package: package, variant: v.name)
            let clock = ContinuousClock()
            let start = clock.now
            let out = try session.run(["image": image])
            let elapsed = clock.now - start
            guard let probs = out["orientation"]?.floats, probs.count == 2 else { continue }
            let label = probs[0] > probs[1] ? "vertical" : "horizontal"
            print("   \(pad(v.name, 6)) → \(label) edges (p_vertical=\(round3(probs[0])), p_horizontal=\(round3(probs[1]))), arena \(session.arenaBytes) bytes, \(ms(elapsed)) ms")
            if v.name == "fp32" { try writeFile(NPY.encode(out["orientation"] ?? image), to: output + "/orientation.npy") }
        }
        let ember = CommandLine.arguments.first ?? "ember"
        print("Next: \(ember) inspect \(packagePath) --plan")
        print("      \(ember) run \(packagePath) --variant int8 --input image=\(inputPath) --output \(output)")
    }
}

func round3(_ x: Float) -> String { formatDecimal(Double(x), places: 3) }

/// The demo model, built in code. Its int8 variant comes from the packer's own
/// quantizer, calibrated on the demo's two stripe images.
enum DemoModel {
    static let side = 16
    static let sobelX: [Float] = [-1, 0, 1, -2, 0, 2, -1, 0, 1]   // responds to vertical edges
    static let sobelY: [Float] = [-1, -2, -1, 0, 0, 0, 1, 2, 1]   // responds to horizontal edges
    static let fcWeights: [Float] = [2, -2, -2, 2]

    static func stripes(vertical: Bool) -> Tensor {
        var pixels = [Float](repeating: 0, count: side * side)
        for y in 0..<side { for x in 0..<side { pixels[y * side + x] = ((vertical ? x : y) / 2) % 2 == 0 ? 0 : 1 } }
        return Tensor(pixels, dims: [1, side, side, 1])
    }

    static func floatGraph() throws -> Graph {
        let b = GraphBuilder(name: "edge-orientation-fp32")
        let x = b.input("image", .f32, [1, side, side, 1])
        let w = b.constant("sobel", sobelX + sobelY, dims: [2, 3, 3, 1])
        let conv = try b.add(.conv2D(Conv2DAttributes(padding: .same, activation: .relu)), [x, w, nil], name: "edges")
        let pooled = try b.add(.globalAveragePool, [conv], name: "pool")
        let flat = try b.add(.reshape([1, 2]), [pooled], name: "flatten")
        let fw = b.constant("fc_weights", fcWeights, dims: [2, 2])
        let fb = b.constant("fc_bias", [Float](repeating: 0, count: 2), dims: [2])
        let logits = try b.add(.fullyConnected(.none), [flat, fw, fb], name: "logits")
        let probs = try b.add(.softmax(axis: -1, beta: 1), [logits], name: "orientation")
        b.output(probs)
        return try b.build()
    }

    /// Both variants, with the int8 rung's SQNR against fp32 measured on the two stripe images.
    static func package() throws -> PackageContents {
        let fp32 = try floatGraph()
        let samples = [stripes(vertical: true), stripes(vertical: false)].map { Sample(inputs: [$0.bytes]) }
        let int8 = try Quantizer.int8(fp32, calibration: try Calibration.run(fp32, samples: samples), name: "edge-orientation-int8")
        let quality = QualityReport.compare(name: "int8", reference: try floatOutputs(fp32, samples: samples),
                                            candidate: try floatOutputs(int8, samples: samples), classifier: true)
        var p = PackageContents(metadata: PackageMetadata([
            ("name", "edge-orientation-demo"), ("version", "1"),
            ("description", "Tells vertical from horizontal edges in a 16x16 grey image (built by `ember demo`)."),
            ("license", "Apache-2.0"), ("created_by", "ember demo"),
        ]), variants: [VariantRecord(name: "fp32"), VariantRecord(name: "int8")], graphs: [fp32, int8])
        for (i, g) in [fp32, int8].enumerated() {
            let executor = try Executor(graph: g)
            p.variants[i].macs = executor.validated.totalCost.macs
            p.variants[i].weightBytes = g.weightBytes
            p.variants[i].arenaBytes = executor.arenaBytes
        }
        p.variants[1].quality = Float(quality.quality)
        p.variants[1].qualityMetric = "sqnr_db"
        return p
    }
}
