import Testing
import Ember
@testable import EmberImport

func importError(_ bytes: [UInt8]) -> String {
    do { _ = try bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: "m") }; return "imported" } catch { return "\(error)" }
}

/// Files no converter writes but a hostile user can: each is one clear error, never a trap.
@Suite struct HostileTFLiteTests {
    @Test func theWriterMakesModelsThatImportAndRun() throws {
        let g = try TFLiteModel.relu().bytes.withUnsafeBytes { try TFLiteImporter.importModel($0, name: "m") }
        let out = try Session(package: EmberPackage(contents: PackageContents(metadata: PackageMetadata(), variants: [VariantRecord(name: "v")], graphs: [g])))
            .run(["x": Tensor([Float](arrayLiteral: -1, 2, -3, 4), dims: [1, 4])])
        #expect(out["y"]?.floats == [0, 2, 0, 4])
    }

    @Test func twoSubgraphsAreRefusedNotHalfPacked() {
        var m = TFLiteModel.relu()
        m.extraSubgraphs = 1
        #expect(importError(m.bytes).contains("the model has 2 subgraphs; only single-subgraph models and WHILE loops with a trip count known at import are supported"))
    }

    @Test func aQuantizedDimensionOutsideTheShapeIsAnErrorBeforeAnyUse() {
        // DEQUANTIZE of a per-channel int8 constant whose quantized_dimension is 7 (rank 2).
        var m = TFLiteModel()
        m.builtinCodes = [6] // DEQUANTIZE
        m.buffers.append([UInt8](repeating: 3, count: 6))
        m.tensors = [TFLiteModel.Tensor(name: "w", shape: [2, 3], type: 9, buffer: 1, scales: [0.1, 0.2], zeroPoints: [0, 0], quantizedDimension: 7),
                     TFLiteModel.Tensor(name: "wf", shape: [2, 3])]
        m.operators = [TFLiteModel.Operator(opcode: 0, inputs: [0], outputs: [1])]
        m.outputs = [1]
        #expect(importError(m.bytes).contains("tensor 'w' [2x3] has 2 scales along quantized_dimension 7"))
        m.tensors[0].quantizedDimension = 1 // 3 channels along dim 1, but 2 scales
        #expect(importError(m.bytes).contains("has 2 scales along quantized_dimension 1"))
    }

    @Test func rankAndNameLimitsAreTheReadersOwn() {
        #expect(importError(TFLiteModel.relu(shape: [Int32](repeating: 1, count: 20)).bytes).contains("rank 20 (at most 8)"))
        let long = String(repeating: "n", count: 10 << 20)
        #expect(importError(TFLiteModel.relu(inputName: long).bytes).contains("name is 10485760 bytes; the limit is 4096"))
    }

    @Test func hugeShapesAreRefusedBeforeAnythingIsAllocated() {
        #expect(importError(TFLiteModel.relu(shape: [65536, 65536]).bytes)
            .contains("tensor 'x' [65536x65536] needs 4,294,967,296 elements, limit 2,147,483,647 elements"))
        #expect(importError(TFLiteModel.relu(shape: [65536, 65536, 65536]).bytes).contains("needs 281,474,976,710,656 elements"))
        // Within the element limit: imports; the arena is what a package is refused for (see the CLI tests).
        #expect(importError(TFLiteModel.relu(shape: [1, Int32.max]).bytes) == "imported")
    }
}
