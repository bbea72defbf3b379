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
