import Testing
@testable import EmberCore

@Suite struct ShapeInferenceTests {
    func conv(_ x: [Int], _ w: [Int], _ a: Conv2DAttributes) throws -> [Int] {
        try Op.conv2D(a).outputInfo(inputs: [TensorInfo(.f32, x), TensorInfo(.f32, w), nil], node: "c").dims
    }

    @Test func convSamePaddingMatchesTensorFlow() throws {
        // TF SAME: out = ceil(in / stride).
        #expect(try conv([1, 49, 10, 1], [64, 10, 4, 1], Conv2DAttributes(strideH: 2, strideW: 2, padding: .same)) == [1, 25, 5, 64])
        #expect(try conv([1, 32, 32, 3], [16, 3, 3, 3], Conv2DAttributes(padding: .same)) == [1, 32, 32, 16])
        let g = try #require(windowGeometry(input: 49, kernel: 10, stride: 2, dilation: 1, padding: .same, vertical: true))
        #expect(g.output == 25 && g.padBefore == 4) // total pad 9 → 4 before, 5 after
    }

    @Test func convValidExplicitDilatedGrouped() throws {
        #expect(try conv([1, 8, 8, 4], [4, 3, 3, 1], Conv2DAttributes(padding: .valid, groups: 4)) == [1, 6, 6, 4])
        #expect(try conv([1, 8, 8, 2], [3, 3, 3, 2], Conv2DAttributes(dilationH: 2, dilationW: 2, padding: .valid)) == [1, 4, 4, 3])
        #expect(try conv([2, 5, 7, 2], [3, 3, 2, 2], Conv2DAttributes(strideH: 2, strideW: 3, padding: .explicit(top: 1, left: 0, bottom: 1, right: 1))) == [2, 3, 3, 3])
    }

    @Test func convErrorsNameTheNode() {
        #expect(throws: EmberError.self) { try conv([1, 8, 8, 3], [4, 3, 3, 2], Conv2DAttributes()) }
        do {
            _ = try conv([1, 2, 2, 1], [1, 3, 3, 1], Conv2DAttributes(padding: .valid))
            Issue.record("a 3x3 window on a 2x2 input must not fit")
        } catch let e as EmberError {
            #expect(e.description.contains("c: Conv2D"))
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test func broadcastingAndReshape() throws {
        #expect(broadcastDims([4, 1, 3], [5, 1]) == [4, 5, 3])
        #expect(broadcastDims([2, 3], [3, 2]) == nil)
        let r = try Op.reshape([-1, 6]).outputInfo(inputs: [TensorInfo(.f32, [2, 3, 4])], node: "r")
        #expect(r.dims == [4, 6])
        #expect(throws: EmberError.self) { try Op.reshape([5, -1]).outputInfo(inputs: [TensorInfo(.f32, [2, 3, 4])], node: "r") }
        #expect(throws: EmberError.self) { try Op.reshape([-1, -1]).outputInfo(inputs: [TensorInfo(.f32, [4])], node: "r") }
    }

    @Test func sliceFollowsOnnxRules() throws {
        #expect(sliceAxis(dim: 10, begin: 2, end: 8, stride: 3)! == (2, 2))
        #expect(sliceAxis(dim: 10, begin: -1, end: -11, stride: -1)! == (9, 10))
        #expect(sliceAxis(dim: 10, begin: 20, end: 30, stride: 1)! == (10, 0))
        #expect(sliceAxis(dim: 4, begin: 0, end: 4, stride: 0) == nil)
        let s = try Op.slice(begin: [0, 1], end: [2, Int(Int32.max)], strides: [1, 2]).outputInfo(inputs: [TensorInfo(.i8, [3, 5])], node: "s")
        #expect(s.dims == [2, 2])
    }

    @Test func meanConcatPadTransposeShapes() throws {
        #expect(try Op.mean(axes: [1, 2], keepDims: true).outputInfo(inputs: [TensorInfo(.f32, [1, 5, 5, 8])], node: "m").dims == [1, 1, 1, 8])
        #expect(try Op.mean(axes: [-1], keepDims: false).outputInfo(inputs: [TensorInfo(.f32, [2, 3])], node: "m").dims == [2])
        #expect(throws: EmberError.self) { try Op.mean(axes: [0, 0], keepDims: false).outputInfo(inputs: [TensorInfo(.f32, [2, 3])], node: "m") }
        #expect(try Op.concat(axis: -1).outputInfo(inputs: [TensorInfo(.f32, [2, 3]), TensorInfo(.f32, [2, 5])], node: "c").dims == [2, 8])
        #expect(throws: EmberError.self) { try Op.concat(axis: 1).outputInfo(inputs: [TensorInfo(.f32, [2, 3]), TensorInfo(.f32, [3, 5])], node: "c") }
        #expect(try Op.pad(before: [0, 1], after: [2, 3]).outputInfo(inputs: [TensorInfo(.f32, [2, 3])], node: "p").dims == [4, 7])
        #expect(try Op.transpose(perm: [2, 0, 1]).outputInfo(inputs: [TensorInfo(.f32, [2, 3, 4])], node: "t").dims == [4, 2, 3])
        #expect(throws: EmberError.self) { try Op.transpose(perm: [0, 0, 1]).outputInfo(inputs: [TensorInfo(.f32, [2, 3, 4])], node: "t") }
    }

    @Test func costCountsMacsAndBytes() throws {
        let x = TensorInfo(.f32, [1, 8, 8, 4]), w = TensorInfo(.f32, [16, 3, 3, 4])
        let out = try Op.conv2D(Conv2DAttributes(padding: .same)).outputInfo(inputs: [x, w, nil], node: "c")
        let cost = Op.conv2D(Conv2DAttributes(padding: .same)).cost(inputs: [x, w, nil], output: out)
        #expect(cost.macs == 8 * 8 * 16 * 3 * 3 * 4)
        #expect(cost.bytesRead == (8 * 8 * 4 + 16 * 9 * 4) * 4)
        #expect(cost.bytesWritten == 8 * 8 * 16 * 4)
    }

    @Test func dtypeByteCounts() {
        #expect(DType.f32.byteCount(dims: [2, 3]) == 24)
        #expect(DType.int4Block32.byteCount(dims: [4, 64]) == 4 * 2 * 18)
        #expect(DType.int4Block32.byteCount(dims: [4, 33]) == nil)
        #expect(DType.i8.byteCount(dims: [Int.max, 2]) == nil)
    }
}

/// The op declarations (OpSchema): one sample per kind, through the attribute layer the codec uses.
@Suite struct OpSchemaTests {
    /// A sample op of every kind (a switch, so a new kind without a sample does not compile).
    static func sample(_ kind: OpKind) -> Op {
        let pool = Pool2DAttributes(kernelH: 2, kernelW: 3, strideH: 1, strideW: 2, padding: .explicit(top: 1, left: 0, bottom: 1, right: 2),
                                    activation: .relu6)
        switch kind {
        case .conv2D: return .conv2D(Conv2DAttributes(strideH: 2, strideW: 1, dilationH: 1, dilationW: 3, padding: .same, groups: 4, activation: .relu))
        case .fullyConnected: return .fullyConnected(.reluN1To1)
        case .matMul: return .matMul
        case .add: return .add(.relu)
        case .sub: return .sub(.none)
        case .mul: return .mul(.relu6)
        case .div: return .div(.none)
        case .relu: return .relu
        case .relu6: return .relu6
        case .leakyRelu: return .leakyRelu(alpha: 0.125)
        case .sigmoid: return .sigmoid
        case .tanh: return .tanh
        case .hardSwish: return .hardSwish
        case .gelu: return .gelu
        case .softmax: return .softmax(axis: -1, beta: 0.5)
        case .averagePool2D: return .averagePool2D(pool)
        case .maxPool2D: return .maxPool2D(pool)
        case .mean: return .mean(axes: [1, 2], keepDims: true)
        case .globalAveragePool: return .globalAveragePool
        case .reshape: return .reshape([-1, 6])
        case .transpose: return .transpose(perm: [0, 2, 1])
        case .concat: return .concat(axis: -1)
        case .pad: return .pad(before: [0, 1], after: [2, 0])
        case .slice: return .slice(begin: [0, -1], end: [Int(Int32.max), 0], strides: [1, -1])
        case .layerNorm: return .layerNorm(axis: -1, epsilon: 1e-5)
        case .quantize: return .quantize(.u8)
        case .dequantize: return .dequantize
        case .maximum: return .maximum
        case .minimum: return .minimum
        case .resize: return .resize(ResizeAttributes(height: 5, width: 7, bilinear: true, alignCorners: false, halfPixelCenters: true))
        case .prelu: return .prelu
        case .unary: return .unary(.rsqrt)
        case .binary: return .binary(.floorMod)
        case .compare: return .compare(.greaterEqual)
        case .logical: return .logical(.xor)
        case .reduce: return .reduce(.prod, axes: [0, -1], keepDims: false)
        case .argReduce: return .argReduce(largest: false, axis: -2, output: .i64)
        case .select: return .select
        case .cast: return .cast(.bool)
        case .gather: return .gather(axis: 1)
        case .tile: return .tile(multiples: [1, 3])
        case .transposeConv2D:
            return .transposeConv2D(TransposeConv2DAttributes(outputHeight: 9, outputWidth: 8, strideH: 2, strideW: 3, padTop: 1, padLeft: 0,
                                                              activation: .relu))
        case .mirrorPad: return .mirrorPad(before: [1, 0], after: [0, 2], reflect: false)
        case .fullyConnectedAsymmetricInputs: return .fullyConnectedAsymmetricInputs(.relu6)
        case .cumSum: return .cumSum(axis: -1, exclusive: true, reverse: false)
        case .topK: return .topK(k: 3, axis: 1, largest: false, indices: true)
        }
    }

    @Test func everyKindsAttributesRoundTripAndMatchTheirFields() throws {
        var names = Set<String>()
        for kind in OpKind.allCases {
            let op = Self.sample(kind), schema = kind.schema
            #expect(op.kind == kind)
            #expect(names.insert(schema.name).inserted, "\(schema.name) is declared twice")
            let values = schema.attributeValues(op)
            #expect(values.count == schema.attributes.count, "\(kind): \(values.count) values for \(schema.attributes.count) fields")
            for (v, f) in zip(values, schema.attributes) {
                switch (v, f) {
                case let (.int(n), .int): #expect(n >= Int(Int32.min) && n <= Int(Int32.max))
                case let (.int(n), .positive): #expect(n >= 1)
                case let (.int(n), .nonNegative): #expect(n >= 0)
                case let (.byte(b), .flags(mask)): #expect(b & ~mask == 0)
                case let (.byte(b), .function(count)): #expect(Int(b) < count)
                case (.ints, .ints), (.float, .float), (.bool, .bool), (.padding, .padding), (.activation, .activation), (.dtype, .dtype): break
                default: Issue.record("\(kind): value \(v) does not fit field \(f)")
                }
            }
            #expect(try schema.makeOp(values) == op, "\(kind) does not round-trip")
        }
    }

    @Test func attributesThatDoNotMakeTheOpAreErrors() {
        #expect(throws: AttributeError.self) { try OpKind.unary.schema.makeOp([.byte(200)]) }
        #expect(throws: AttributeError.self) { try OpKind.conv2D.schema.makeOp([.int(1)]) }
        #expect(throws: AttributeError.self) { try OpKind.mean.schema.makeOp([.float(1), .bool(true)]) }
    }

    @Test func functionOpsCheckTheirOperands() throws {
        let f = TensorInfo(.f32, [2, 3]), b = TensorInfo(.bool, [2, 3]), i = TensorInfo(.i32, [4])
        #expect(try Op.compare(.less).outputInfo(inputs: [f, TensorInfo(.f32, [3])], node: "c") == TensorInfo(.bool, [2, 3]))
        #expect(throws: EmberError.self) { try Op.compare(.less).outputInfo(inputs: [f, i], node: "c") }
        #expect(throws: EmberError.self) { try Op.logical(.and).outputInfo(inputs: [b], node: "l") }
        #expect(try Op.logical(.not).outputInfo(inputs: [b], node: "l") == b)
        #expect(throws: EmberError.self) { try Op.logical(.not).outputInfo(inputs: [f], node: "l") }
        #expect(try Op.select.outputInfo(inputs: [TensorInfo(.bool, [2, 1]), f, TensorInfo(.f32, [3])], node: "s") == f)
        #expect(try Op.gather(axis: 0).outputInfo(inputs: [f, i], node: "g").dims == [4, 3])
        #expect(throws: EmberError.self) { try Op.gather(axis: 0).outputInfo(inputs: [f, f], node: "g") }
        #expect(try Op.argReduce(largest: true, axis: -1, output: .i32).outputInfo(inputs: [f], node: "a") == TensorInfo(.i32, [2]))
        #expect(try Op.tile(multiples: [2, 0]).outputInfo(inputs: [f], node: "t").dims == [4, 0])
        #expect(throws: EmberError.self) { try Op.mirrorPad(before: [0, 3], after: [0, 0], reflect: true).outputInfo(inputs: [f], node: "m") }
        #expect(try Op.mirrorPad(before: [0, 3], after: [0, 0], reflect: false).outputInfo(inputs: [f], node: "m").dims == [2, 6])
        // TensorFlow's VALID transposed conv with a kernel smaller than the stride: out = in * stride.
        let tc = Op.transposeConv2D(TransposeConv2DAttributes(outputHeight: 6, outputWidth: 6, strideH: 3, strideW: 3))
        #expect(try tc.outputInfo(inputs: [TensorInfo(.f32, [1, 2, 2, 4]), TensorInfo(.f32, [5, 2, 2, 4]), nil], node: "t").dims == [1, 6, 6, 5])
        let tooBig = Op.transposeConv2D(TransposeConv2DAttributes(outputHeight: 9, outputWidth: 6, strideH: 3, strideW: 3))
        #expect(throws: EmberError.self) { try tooBig.outputInfo(inputs: [TensorInfo(.f32, [1, 2, 2, 4]), TensorInfo(.f32, [5, 2, 2, 4]), nil], node: "t") }
    }
}

@Suite struct FormatDocumentationTests {
    /// docs/FORMAT.md's op table names every op kind with its code (ranges such as "4–7" included).
    @Test func theFormatDocumentListsEveryOpCode() throws {
        let root = String(#filePath.dropLast("Tests/EmberCoreTests/ShapeTests.swift".count))
        let doc = try readTextFile(root + "docs/FORMAT.md", .config("format document"))
        var documented: [Int: String] = [:]
        // The op table only: from its heading to the next heading (other tables have numbers first too).
        let lines = textLines(doc)
        let start = try #require(lines.firstIndex { $0.hasPrefix("### Op codes") })
        let end = lines[(start + 1)...].firstIndex { $0.hasPrefix("#") } ?? lines.endIndex
        for line in lines[start..<end] where line.hasPrefix("| ") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: " ") }
            guard cells.count >= 2 else { continue }
            let bounds = cells[0].split(separator: "–").compactMap { Int($0) }
            guard let first = bounds.first else { continue }
            let names = cells[1].split(separator: ",").map { $0.trimmingCharacters(in: " ") }
            let codes = Array(first...(bounds.last ?? first))
            guard codes.count == names.count else { continue }
            for (c, n) in zip(codes, names) { documented[c] = n }
        }
        for kind in OpKind.allCases {
            #expect(documented[Int(kind.rawValue)] == kind.schema.name, "docs/FORMAT.md: op \(kind.rawValue) should be \(kind.schema.name)")
        }
    }
}

private extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}
