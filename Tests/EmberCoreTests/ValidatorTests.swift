import Testing
@testable import EmberCore

@Suite struct GraphValidatorTests {
    func smallGraph() throws -> GraphBuilder {
        let b = GraphBuilder(name: "g")
        let x = b.input("x", .f32, [1, 4])
        let w = b.constant("w", [Float](repeating: 0.25, count: 8), dims: [2, 4])
        let y = try b.add(.fullyConnected(.relu), [x, w, nil], name: "fc")
        b.output(y)
        return b
    }

    func reason(_ g: Graph) -> String {
        do { _ = try g.validate(); return "valid" } catch { return "\(error)" }
    }

    @Test func builderProducesValidGraphWithInferredTypes() throws {
        let g = try smallGraph().build()
        let v = try g.validate()
        #expect(v.types[g.outputs[0]] == TensorInfo(.f32, [1, 2]))
        #expect(g.parameterCount == 8)
        #expect(g.weightBytes == 32)
        #expect(v.totalCost.macs == 8)
    }

    @Test func nodesOutOfTopologicalOrderAreNamed() throws {
        var g = try smallGraph().build()
        // A second node that reads the first one's output, then swap them.
        g.values.append(Value(name: "z", dtype: .f32, shape: [1, 2]))
        g.nodes.append(Node(name: "relu", op: .relu, inputs: [g.nodes[0].output], output: g.values.count - 1))
        g.outputs = [g.values.count - 1]
        #expect(reason(g) == "valid")
        g.nodes.swapAt(0, 1)
        #expect(reason(g).contains("node 'relu'"))
        #expect(reason(g).contains("before it is defined"))
    }

    @Test func danglingAndDoublyDefinedValues() throws {
        var g = try smallGraph().build()
        g.values.append(Value(name: "orphan", dtype: .f32, shape: [3]))
        #expect(reason(g).contains("orphan") && reason(g).contains("dangling"))
        g = try smallGraph().build()
        g.nodes.append(Node(name: "again", op: .relu, inputs: [0], output: g.nodes[0].output))
        #expect(reason(g).contains("already defined"))
    }

    /// Unquantized 8-bit values (an ONNX int8 tensor that is plain integers) may exist only to be cast:
    /// a graph input cast to int32 is valid, the same input read by an add is not.
    @Test func plainEightBitIntegersMayOnlyBeCast() throws {
        let ok = GraphBuilder(name: "raw")
        let x = ok.input("x", .i8, [4])
        let wide = try ok.add(.cast(.i32), [x], name: "wide")
        ok.output(try ok.add(.cast(.i8), [wide], name: "narrow"))
        _ = try ok.build()
        let bad = GraphBuilder(name: "raw-add")
        let y = bad.input("y", .i8, [4])
        bad.output(try bad.add(.add(.none), [y, y], name: "sum", outputQuant: QuantParams(scale: 1, zeroPoint: 0)))
        #expect { try bad.build() } throws: { "\($0)".contains("may only be cast") }
    }

    @Test func constantSizeQuantAndDeclaredShapesAreChecked() throws {
        var g = try smallGraph().build()
        g.values[1].constant = ConstantData(copying: [Float](repeating: 0, count: 7))
        #expect(reason(g).contains("holds 28 bytes"))

        g = try smallGraph().build()
        g.values[g.outputs[0]].shape = [1, 3]
        #expect(reason(g).contains("declared f32[1x3] but the op gives f32[1x2]"))

        let b = GraphBuilder(name: "q")
        let x = b.input("x", .i8, [4])
        b.output(try b.add(.relu, [x], name: "r", outputQuant: QuantParams(scale: 0.5, zeroPoint: 0)))
        #expect(throws: EmberError.self) { try b.build() } // input x has no quantization
        var q = try smallGraph().build()
        q.values[0].dtype = .i8
        q.values[0].quant = QuantParams(scale: -1, zeroPoint: 0)
        #expect(reason(q).contains("value 'x'"))
    }

    @Test func symbolicDimsBindWithinTheirBound() throws {
        let b = GraphBuilder(name: "sym")
        let x = b.input("x", .f32, Shape([.symbolic(name: "batch", upperBound: 8), .fixed(4)]))
        let y = try b.add(.relu, [x], name: "r")
        b.output(y)
        let g = try b.build()
        #expect(g.values[y].shape.dims[0] == .symbolic(name: "batch", upperBound: 8))
        #expect(try g.validate(bindings: ["batch": 3]).types[y].dims == [3, 4])
        #expect(try g.validate().types[y].dims == [8, 4])
        #expect(throws: EmberError.self) { try g.validate(bindings: ["batch": 9]) }
    }
}
