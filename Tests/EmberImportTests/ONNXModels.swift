import Foundation
import Ember
@testable import EmberImport

/// Small ONNX models built in code for importer tests (swift-protobuf's generated types).
enum ONNXModels {
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

    static func node(_ op: String, _ inputs: [String], _ output: String, ints: [String: [Int64]] = [:], int: [String: Int64] = [:],
                     string: [String: String] = [:], domain: String = "") -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op; n.input = inputs; n.output = [output]; n.name = output; n.domain = domain
        for (k, v) in ints { var a = Onnx_AttributeProto(); a.name = k; a.type = .ints; a.ints = v; n.attribute.append(a) }
        for (k, v) in int { var a = Onnx_AttributeProto(); a.name = k; a.type = .int; a.i = v; n.attribute.append(a) }
        for (k, v) in string { var a = Onnx_AttributeProto(); a.name = k; a.type = .string; a.s = Data(v.utf8); n.attribute.append(a) }
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

    /// A serialized ModelProto (opset 17 plus any `extraDomains`).
    static func model(inputs: [Onnx_ValueInfoProto], outputs: [Onnx_ValueInfoProto], nodes: [Onnx_NodeProto],
                      initializers: [Onnx_TensorProto] = [], extraDomains: [String] = []) throws -> [UInt8] {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var opset = Onnx_OperatorSetIdProto(); opset.version = 17
        m.opsetImport = [opset]
        for d in extraDomains { var o = Onnx_OperatorSetIdProto(); o.domain = d; o.version = 1; m.opsetImport.append(o) }
        m.graph.name = "built"
        m.graph.input = inputs
        m.graph.output = outputs
        m.graph.node = nodes
        m.graph.initializer = initializers
        return Array(try m.serializedData())
    }

    static func session(_ bytes: [UInt8], options: ONNXImporter.Options = ONNXImporter.Options()) throws -> Session {
        let g = try bytes.withUnsafeBytes { try ONNXImporter.importModel($0, name: "built", options: options) }
        let package = EmberPackage(contents: PackageContents(metadata: PackageMetadata(), variants: [VariantRecord(name: "fp32")], graphs: [g]))
        return try Session(package: package)
    }
}
