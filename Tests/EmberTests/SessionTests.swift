import Testing
import Ember

@Suite struct SessionTests {
    @Test func smallCNNMatchesAHandComputedReference() throws {
        // Reference: the same network computed with plain Swift loops.
        let g = try TestModels.smallCNN()
        let feeds = TestModels.input(for: g, seed: 11)
        let out = try Session(package: TestModels.package(g)).run(feeds)
        let probs = try #require(out["probs"]?.floats)
        let expected = referenceSmallCNN(g, feeds["input"]!.floats)
        #expect(probs.count == 10)
        for (a, b) in zip(probs, expected) { #expect(abs(a - b) <= 1e-5, "\(a) vs \(b)") }
        #expect(abs(probs.reduce(0, +) - 1) < 1e-5)
    }

    @Test func inputMismatchesNameTheInput() throws {
        let s = try Session(package: TestModels.package(try TestModels.smallCNN()))
        func text(_ feeds: [String: Tensor]) -> String {
            do { _ = try s.run(feeds); return "ok" } catch { return "\(error)" }
        }
        #expect(text([:]).contains("invalid input 'input': missing; expected f32[1x8x8x3]"))
        #expect(text(["input": Tensor([Float](repeating: 0, count: 192), dims: [1, 8, 8, 3]), "extra": Tensor([Float](arrayLiteral: 1), dims: [1])]).contains("'extra'"))
        #expect(text(["input": Tensor([Float](repeating: 0, count: 64), dims: [1, 8, 8, 1])]) == "invalid input 'input': expected f32[1x8x8x3], got f32[1x8x8x1]")
        #expect(text(["input": Tensor([Int8](repeating: 0, count: 192), dims: [1, 8, 8, 3])]).contains("got i8[1x8x8x3]"))
    }

    @Test func unknownVariantListsTheLadder() throws {
        let p = TestModels.package(try TestModels.smallCNN())
        #expect(throws: EmberError.invalidArgument("no variant named 'int4'; the package has v")) { try Session(package: p, variant: "int4") }
    }
}

/// Straightforward Swift version of TestModels.smallCNN for cross-checking.
func referenceSmallCNN(_ g: Graph, _ input: [Float]) -> [Float] {
    func const(_ name: String) -> [Float] {
        let v = g.values.first { $0.name == name }!
        return Array(v.constant!.bytes.bindMemory(to: Float.self))
    }
    let w1 = const("w1"), b1 = const("b1"), w2 = const("w2"), fw = const("fc_w")
    let H = 8, W = 8
    func at(_ t: [Float], _ y: Int, _ x: Int, _ c: Int, _ C: Int) -> Float {
        (y < 0 || y >= H || x < 0 || x >= W) ? 0 : t[(y * W + x) * C + c]
    }
    var c1 = [Float](repeating: 0, count: H * W * 8)
    for y in 0..<H { for x in 0..<W { for o in 0..<8 {
        var s = b1[o]
        for ky in 0..<3 { for kx in 0..<3 { for i in 0..<3 { s += at(input, y + ky - 1, x + kx - 1, i, 3) * w1[((o * 3 + ky) * 3 + kx) * 3 + i] } } }
        c1[(y * W + x) * 8 + o] = min(max(s, 0), 6)
    } } }
    var sum = [Float](repeating: 0, count: H * W * 8)
    for y in 0..<H { for x in 0..<W { for o in 0..<8 {
        var s: Float = 0
        for ky in 0..<3 { for kx in 0..<3 { s += at(c1, y + ky - 1, x + kx - 1, o, 8) * w2[(o * 3 + ky) * 3 + kx] } }
        sum[(y * W + x) * 8 + o] = max(s + c1[(y * W + x) * 8 + o], 0)
    } } }
    var pool = [Float](repeating: 0, count: 4 * 4 * 8)
    for y in 0..<4 { for x in 0..<4 { for c in 0..<8 {
        var s: Float = 0
        for dy in 0..<2 { for dx in 0..<2 { s += sum[((2 * y + dy) * W + 2 * x + dx) * 8 + c] } }
        pool[(y * 4 + x) * 8 + c] = s / 4
    } } }
    var logits = [Float](repeating: 0, count: 10)
    for o in 0..<10 { for i in 0..<128 { logits[o] += pool[i] * fw[o * 128 + i] } }
    let m = logits.max()!
    let e = logits.map { Float(exp(Double($0 - m))) }
    let total = e.reduce(0, +)
    return e.map { $0 / total }
}

#if canImport(Glibc)
import Glibc
#endif
