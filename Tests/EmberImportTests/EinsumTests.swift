import Testing
import Ember
@testable import EmberImport

/// ONNX Einsum lowered to transposes, reshapes, sums and one batch matmul, checked against a
/// direct evaluation of the equation (every assignment of the labels) on random operands.
@Suite struct EinsumTests {
    /// Σ over the labels not in the output of Π operands, for every output index.
    static func reference(_ equation: String, _ operands: [(dims: [Int], data: [Float])]) -> (dims: [Int], data: [Float]) {
        let sides = equation.components(separatedBy: "->")
        let terms = sides[0].split(separator: ",").map { Array($0) }
        var size: [Character: Int] = [:]
        for (t, o) in zip(terms, operands) { for (c, d) in zip(t, o.dims) { size[c] = d } }
        let out = Array(sides[1])
        let all = Array(Set(terms.flatMap { $0 })).sorted()
        var result = [Float](repeating: 0, count: out.reduce(1) { $0 * (size[$1] ?? 1) })
        var index = [Character: Int](uniqueKeysWithValues: all.map { ($0, 0) })
        func offset(_ labels: [Character], _ dims: [Int]) -> Int { zip(labels, dims).reduce(0) { $0 * $1.1 + (index[$1.0] ?? 0) } }
        while true {
            var p: Float = 1
            for (t, o) in zip(terms, operands) { p *= o.data[offset(t, o.dims)] }
            result[offset(out, out.map { size[$0] ?? 1 })] += p
            var k = all.count - 1
            while k >= 0 {
                index[all[k], default: 0] += 1
                if index[all[k]] ?? 0 < size[all[k]] ?? 1 { break }
                index[all[k]] = 0
                k -= 1
            }
            if k < 0 { break }
        }
        return (out.map { size[$0] ?? 1 }, result)
    }

    @Test(arguments: [
        ("bhid,bhjd->bhij", [[2, 3, 4, 5], [2, 3, 6, 5]]),    // attention scores
        ("bhij,bhjd->bhid", [[2, 3, 4, 6], [2, 3, 6, 5]]),    // attention context
        ("ij,jk->ik", [[3, 4], [4, 5]]),
        ("ik,kj", [[3, 4], [4, 5]]),                          // implicit output: ij
        ("i,i->", [[7], [7]]),                                // inner product (a scalar)
        ("i,j->ij", [[3], [4]]),                              // outer product
        ("bn,anm,bm->ba", [[2, 3], [4, 3, 5], [2, 5]]),       // three operands: refused
        ("ij->ji", [[3, 5]]),
        ("ijk->ki", [[2, 3, 4]]),                             // a transpose with a sum
        ("...ij,...jk->...ik", [[2, 3, 4], [2, 4, 5]]),
        ("bij,bkj->bik", [[2, 3, 4], [2, 5, 4]]),
        ("ii->i", [[3, 3]]),                                  // a diagonal: refused
    ])
    func einsumMatchesADirectEvaluation(_ equation: String, _ shapes: [[Int]]) throws {
        var rng = SplitMix64(seed: UInt64(equation.utf8.count))
        let operands = shapes.map { ($0, rng.floats($0.reduce(1, *))) }
        let names = shapes.indices.map { "x\($0)" }
        let explicit = equation.contains("->") ? equation
            : equation + "->" + String(Set(equation.filter(\.isLetter)).filter { c in equation.count { $0 == c } == 1 }.sorted())
        let bytes = try ONNXModels.model(
            inputs: zip(names, shapes).map { ONNXModels.tensorInfo($0, 1, $1) },
            outputs: [ONNXModels.tensorInfo("y", 1, [])],
            nodes: [ONNXModels.node("Einsum", names, "y", string: ["equation": equation])])
        if shapes.count > 2 || equation.hasPrefix("ii") {
            #expect(throws: EmberError.self) { try ONNXModels.session(bytes) }
            return
        }
        let session = try ONNXModels.session(bytes)
        var feeds: [String: Tensor] = [:]
        for (n, o) in zip(names, operands) { feeds[n] = Tensor(o.1, dims: o.0) }
        let y = try #require(try session.run(feeds)["y"])
        let expanded = explicit.replacingOccurrences(of: "...", with: "z")
        let want = Self.reference(expanded, operands.map { (dims: $0.0, data: $0.1) })
        #expect(y.dims == want.dims, "\(equation)")
        #expect(zip(y.floats, want.data).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) }, "\(equation): \(y.floats.prefix(6)) vs \(want.data.prefix(6))")
    }
}
