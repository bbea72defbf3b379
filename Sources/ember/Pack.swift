import ArgumentParser
import Ember
import EmberImport

struct Pack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import a TFLite model and write it as an .ember package.",
        discussion: """
        Reads a .tflite flatbuffer (schema v3): float32 models, float16-stored weights and \
        fully int8-quantized models (per-tensor and per-channel). Tensor names are kept, so \
        `ember run --input NAME=…` uses the TFLite input names. An unsupported op or type \
        fails with one error listing every unsupported op and its count. docs/TFLITE.md \
        lists what is supported.

        Examples:
          ember pack model.tflite -o model.ember
          ember pack model.tflite -o model.ember --compress
        """
    )

    @Argument(help: "The .tflite model.")
    var model: String

    @Option(name: .shortAndLong, help: "Where to write the package.")
    var output: String

    @Option(help: "Name of the variant (default: fp32 or int8, from the model's input type).")
    var variantName: String?

    @Flag(help: "Compress weights with zstd where it pays (they are then copied at load instead of mapped).")
    var compress = false

    func validate() throws {
        guard model.hasSuffix(".tflite") else { throw ValidationError("only .tflite models can be packed for now (got \(model))") }
    }

    func run() throws {
        let file = try MappedFile(path: model)
        let base = String(model.split(separator: "/").last ?? Substring(model)).replacingSuffix(".tflite", with: "")
        let (graph, sourceHash) = try file.withBytes { (try TFLiteImporter.importModel($0, name: base), fnv1aHex($0)) }
        let executor = try Executor(graph: graph)
        let isInt8 = graph.nodes.contains { n in graph.values[n.output].dtype == .i8 }
        let variant = VariantRecord(name: variantName ?? (isInt8 ? "int8" : "fp32"),
                                    macs: executor.validated.totalCost.macs,
                                    weightBytes: graph.weightBytes, arenaBytes: executor.arenaBytes)
        let contents = PackageContents(metadata: PackageMetadata([
            ("name", base), ("source", model), ("source_format", "tflite"),
            ("source_hash", sourceHash), ("created_by", "ember pack"),
        ]), variants: [variant], graphs: [graph])
        try PackageWriter.write(contents, to: output, options: WriteOptions(compressTensors: compress))
        let written = try MappedFile(path: output).withBytes { $0.count }
        print("packed \(model) (\(file.bytes.count) bytes) → \(output) (\(written) bytes): variant \(variant.name), \(graph.nodes.count) nodes, \(graph.parameterCount) parameters, arena \(executor.arenaBytes) bytes")
    }
}

extension String {
    func replacingSuffix(_ suffix: String, with new: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) + new : self
    }
}

/// FNV-1a 64 of the source model, to tell which file a package came from.
func fnv1aHex(_ bytes: UnsafeRawBufferPointer) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return "fnv1a64:" + String(h, radix: 16)
}
