import Foundation
import Testing
import Ember
@testable import EmberImport

/// `--dim seq<=N` on small ONNX graphs built here: what follows the dim as a plain dim stays
/// symbolic and runs at every size; what Ember can not bind (seq + 1, a constant computed from
/// seq) is an error that names the value and says how to fix it.
@Suite struct SymbolicDimsTests {
    /// x f32[1 x seq x 4] through `nodes` to `y`, imported with seq bounded by 12.
    static func importBounded(_ nodes: [Onnx_NodeProto], initializers: [Onnx_TensorProto] = [], output: [Any]) throws -> Graph {
        let bytes = try ONNXModels.model(inputs: [ONNXModels.tensorInfo("x", 1, [1, "seq", 4])], outputs: [ONNXModels.tensorInfo("y", 1, output)],
                                         nodes: nodes, initializers: initializers)
        var options = ONNXImporter.Options()
        options.bounds = ["seq": 12]
        return try bytes.withUnsafeBytes { try ONNXImporter.importModel($0, name: "bounded", options: options) }
    }

    /// The size of seq read from Shape, as exporters compute it.
    static let seqFromShape = [ONNXModels.node("Shape", ["x"], "xs"), ONNXModels.node("Gather", ["xs", "one"], "s", int: ["axis": 0])]

    @Test func theLastStepSlicedBySizeArithmeticRunsAtEverySequenceLength() throws {
        // y = x[:, s-1:s, :] with s = x.shape[1]: a slice whose bounds are the sequence's end.
        let g = try Self.importBounded(Self.seqFromShape + [
            ONNXModels.node("Sub", ["s", "one"], "last"),
            ONNXModels.node("Slice", ["x", "last", "s", "one"], "y"),
        ], initializers: [ONNXModels.int64s("one", [1])], output: [1, 1, 4])
        #expect(g.values[g.inputs[0]].shape.description == "[1xseq<=12x4]")
        let session = try Session(package: EmberPackage(contents: PackageContents(metadata: PackageMetadata(),
                                                                                  variants: [VariantRecord(name: "fp32")], graphs: [g])))
        for seq in [12, 5, 1] {
            let x = (0..<(seq * 4)).map { Float($0) }
            let y = try session.run(["x": Tensor(x, dims: [1, seq, 4])])["y"]
            #expect(y?.dims == [1, 1, 4] && y?.floats == Array(x.suffix(4)), "seq=\(seq): \(y?.floats ?? [])")
        }
    }

    @Test func aDimThatIsNotPlainlyTheBoundedOneIsAnErrorNamingTheValue() throws {
        // A class token prepended: the sequence becomes seq + 1.
        #expect {
            try Self.importBounded([ONNXModels.node("Concat", ["cls", "x"], "y", int: ["axis": 1])],
                                   initializers: [ONNXModels.floats("cls", [0, 0, 0, 0], dims: [1, 1, 4])], output: [1, "seq1", 4])
        } throws: { error in
            "\(error)".contains("value 'y'") && "\(error)".contains("depends on seq but is not equal to it")
                && "\(error)".contains("--dim seq=N")
        }
    }

    @Test func aConstantComputedFromTheBoundedDimIsAnError() throws {
        // Positions 0..<seq from Range: folded at import, so its size would be frozen.
        #expect {
            try Self.importBounded(Self.seqFromShape + [
                ONNXModels.node("Squeeze", ["s"], "n"),
                ONNXModels.node("Range", ["zero", "n", "step"], "positions"),
                ONNXModels.node("Cast", ["positions"], "p", int: ["to": 1]),
                ONNXModels.node("Unsqueeze", ["p", "axes"], "p2"),
                ONNXModels.node("Add", ["x", "p2"], "y"),
            ], initializers: [ONNXModels.int64s("one", [1]), ONNXModels.int64s("zero", [0], dims: []), ONNXModels.int64s("step", [1], dims: []),
                              ONNXModels.int64s("axes", [0, 2])], output: [1, "seq", 4])
        } throws: { error in
            "\(error)".contains("computed from seq at import") && "\(error)".contains("--dim seq=N")
        }
    }
}
