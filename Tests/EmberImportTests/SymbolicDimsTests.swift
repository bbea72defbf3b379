import Foundation
import Testing
import Ember
@testable import EmberImport

/// `--dim seq<=N` on small ONNX graphs built here: what follows the dim as a plain dim stays
/// symbolic and runs at every size; what Ember can not bind (seq + 1, a constant computed from
/// seq) is an error that names the value and says how to fix it.
@Suite struct SymbolicDimsTests {
    static func tensorInfo(_ name: String, _ elemType: Int32, _ dims: [Any]) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        v.type.tensorType.elemType = elemType
        for d in dims {
            var dim = Onnx_TensorShapeProto.Dimension()
            if let n = d as? Int { dim.dimValue = Int64(n) } else if let s = d as? String { dim.dimParam = s }
            v.type.tensorType.shape.dim.append(dim)
        }
        return v
    }

    static func node(_ op: String, _ inputs: [String], _ output: String, ints: [String: [Int64]] = [:], int: [String: Int64] = [:]) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op; n.input = inputs; n.output = [output]; n.name = output
        for (k, v) in ints { var a = Onnx_AttributeProto(); a.name = k; a.type = .ints; a.ints = v; n.attribute.append(a) }
        for (k, v) in int { var a = Onnx_AttributeProto(); a.name = k; a.type = .int; a.i = v; n.attribute.append(a) }
        return n
    }

    static func int64s(_ name: String, _ values: [Int64], dims: [Int64]? = nil) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name; t.dataType = 7; t.dims = dims ?? [Int64(values.count)]; t.int64Data = values
        return t
    }

    static func floats(_ name: String, _ values: [Float], dims: [Int64]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name; t.dataType = 1; t.dims = dims; t.floatData = values
        return t
    }

    /// x f32[1 x seq x 4] through `nodes` to `y`, imported with seq bounded by 12.
    static func importBounded(_ nodes: [Onnx_NodeProto], initializers: [Onnx_TensorProto] = [], output: [Any]) throws -> Graph {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var opset = Onnx_OperatorSetIdProto(); opset.version = 17
        m.opsetImport = [opset]
        m.graph.name = "bounded"
        m.graph.input = [tensorInfo("x", 1, [1, "seq", 4])]
        m.graph.output = [tensorInfo("y", 1, output)]
        m.graph.node = nodes
        m.graph.initializer = initializers
        let bytes: [UInt8] = Array(try m.serializedData())
        var options = ONNXImporter.Options()
        options.bounds = ["seq": 12]
        return try bytes.withUnsafeBytes { try ONNXImporter.importModel($0, name: "bounded", options: options) }
    }

    /// The size of seq read from Shape, as exporters compute it.
    static let seqFromShape = [node("Shape", ["x"], "xs"), node("Gather", ["xs", "one"], "s", int: ["axis": 0])]

    @Test func theLastStepSlicedBySizeArithmeticRunsAtEverySequenceLength() throws {
        // y = x[:, s-1:s, :] with s = x.shape[1]: a slice whose bounds are the sequence's end.
        let g = try Self.importBounded(Self.seqFromShape + [
            Self.node("Sub", ["s", "one"], "last"),
            Self.node("Slice", ["x", "last", "s", "one"], "y"),
        ], initializers: [Self.int64s("one", [1])], output: [1, 1, 4])
        #expect(g.values[g.inputs[0]].shape.description == "[1xseq<=12x4]")
        let package = EmberPackage(contents: PackageContents(metadata: PackageMetadata(), variants: [VariantRecord(name: "fp32")], graphs: [g]))
        let session = try Session(package: package)
        for seq in [12, 5, 1] {
            let x = (0..<(seq * 4)).map { Float($0) }
            let y = try session.run(["x": Tensor(x, dims: [1, seq, 4])])["y"]
            #expect(y?.dims == [1, 1, 4] && y?.floats == Array(x.suffix(4)), "seq=\(seq): \(y?.floats ?? [])")
        }
    }

    @Test func aDimThatIsNotPlainlyTheBoundedOneIsAnErrorNamingTheValue() throws {
        // A class token prepended: the sequence becomes seq + 1.
        #expect {
            try Self.importBounded([Self.node("Concat", ["cls", "x"], "y", int: ["axis": 1])],
                                   initializers: [Self.floats("cls", [0, 0, 0, 0], dims: [1, 1, 4])], output: [1, "seq1", 4])
        } throws: { error in
            "\(error)".contains("value 'y'") && "\(error)".contains("depends on seq but is not equal to it")
                && "\(error)".contains("--dim seq=N")
        }
    }

    @Test func aConstantComputedFromTheBoundedDimIsAnError() throws {
        // Positions 0..<seq from Range: folded at import, so its size would be frozen.
        #expect {
            try Self.importBounded(Self.seqFromShape + [
                Self.node("Squeeze", ["s"], "n"),
                Self.node("Range", ["zero", "n", "step"], "positions"),
                Self.node("Cast", ["positions"], "p", int: ["to": 1]),
                Self.node("Unsqueeze", ["p", "axes"], "p2"),
                Self.node("Add", ["x", "p2"], "y"),
            ], initializers: [Self.int64s("one", [1]), Self.int64s("zero", [0], dims: []), Self.int64s("step", [1], dims: []),
                              Self.int64s("axes", [0, 2])], output: [1, "seq", 4])
        } throws: { error in
            "\(error)".contains("computed from seq at import") && "\(error)".contains("--dim seq=N")
        }
    }
}
