import EmberCore

/// Einsum lowered to the ops Ember has: labels only one operand has and the output lacks are
/// summed away, then the two operands are transposed to [batch, free, contracted] and
/// [batch, contracted, free], reshaped to matrices and multiplied (one batch matmul), and the
/// product is reshaped and transposed to the output's labels. That covers the attention patterns
/// (`bhid,bhjd->bhij`, `bhij,bhjd->bhid`), bilinear forms, outer and inner products, transposes
/// and sums; repeated labels in one operand (diagonals) and three or more operands are refused.
extension NodeContext {
    func einsum() throws {
        let equation = try a.string("equation", "").filter { $0 != " " }
        guard !equation.isEmpty else { throw fail("needs an equation") }
        guard node.input.count == 1 || node.input.count == 2 else {
            throw unsupported("\(node.input.count) operands (one or two are supported)")
        }
        let operands = try (0..<node.input.count).map { try input($0) }
        let sides = equation.components(separatedBy: "->")
        guard sides.count <= 2 else { throw fail("equation '\(equation)' has more than one ->") }
        let terms = sides[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard terms.count == operands.count else { throw fail("equation '\(equation)' names \(terms.count) operands, the node has \(operands.count)") }

        // Labels per operand, an ellipsis expanded to labels of its own (aligned from the right).
        let ellipsisRanks = zip(terms, operands).map { t, x in t.contains("...") ? rank(x) - (t.count - 3) : 0 }
        let ellipsisRank = ellipsisRanks.max() ?? 0
        guard ellipsisRanks.allSatisfy({ $0 == 0 || $0 == ellipsisRank }) else { throw unsupported("ellipses of different ranks") }
        let ellipsisLabels = (0..<ellipsisRank).map { Character(Unicode.Scalar(0x100 + $0) ?? "?") }
        func labels(_ term: String) throws -> [Character] {
            var out: [Character] = []
            var rest = Substring(term)
            while let c = rest.first {
                if rest.hasPrefix("...") { out += ellipsisLabels; rest = rest.dropFirst(3); continue }
                guard c.isLetter else { throw fail("equation '\(equation)': '\(c)' is not a label") }
                out.append(c); rest = rest.dropFirst()
            }
            return out
        }
        let inLabels = try terms.map(labels)
        for (k, (l, x)) in zip(inLabels, operands).enumerated() {
            guard l.count == rank(x) else { throw fail("operand \(k) has rank \(rank(x)), its term '\(terms[k])' \(l.count) labels") }
            guard Set(l).count == l.count else { throw unsupported("a label repeated in one operand (a diagonal)") }
        }
        let outLabels: [Character]
        if sides.count == 2 {
            outLabels = try labels(sides[1])
        } else {
            // Implicit output: the labels that appear once, in alphabetical order, after the ellipsis.
            let all = inLabels.flatMap { $0 }
            outLabels = ellipsisLabels + Set(all).filter { c in !ellipsisLabels.contains(c) && all.count { $0 == c } == 1 }.sorted()
        }
        guard Set(outLabels).count == outLabels.count, outLabels.allSatisfy({ c in inLabels.contains { $0.contains(c) } }) else {
            throw fail("output labels of '\(equation)' repeat or appear in no operand")
        }

        // Sizes per label (a size-1 dim broadcasts against the other operand's).
        var size: [Character: Int] = [:]
        for (l, x) in zip(inLabels, operands) {
            for (c, d) in zip(l, onnxDims(x)) {
                if let s = size[c], s != d, s != 1, d != 1 { throw fail("label '\(c)' is \(s) in one operand and \(d) in another") }
                size[c] = max(size[c] ?? 1, d)
            }
        }

        /// `v` (labels `l`) with the labels not in `keep` summed away.
        func summed(_ v: ValueID, _ l: [Character], keeping keep: Set<Character>, _ suffix: String) throws -> (ValueID, [Character]) {
            let axes = l.indices.filter { !keep.contains(l[$0]) }
            guard !axes.isEmpty else { return (v, l) }
            return (try add(.reduce(.sum, axes: axes, keepDims: false), [v], suffix), l.filter { keep.contains($0) })
        }
        func permuted(_ v: ValueID, _ l: [Character], to order: [Character], _ suffix: String) throws -> ValueID {
            let perm = order.compactMap { l.firstIndex(of: $0) }
            return perm == Array(l.indices) ? v : try add(.transpose(perm: perm), [v], suffix)
        }
        let outSet = Set(outLabels)

        if operands.count == 1 {
            let (v, l) = try summed(try onnx(operands[0]), inLabels[0], keeping: outSet, "sum")
            return try define(try permuted(v, l, to: outLabels, "transpose"))
        }
        let (la, lb) = (inLabels[0], inLabels[1])
        let (a0, ka) = try summed(try onnx(operands[0]), la, keeping: outSet.union(lb), "a_sum")
        let (b0, kb) = try summed(try onnx(operands[1]), lb, keeping: outSet.union(la), "b_sum")
        let batch = outLabels.filter { ka.contains($0) && kb.contains($0) }
        let contracted = ka.filter { kb.contains($0) && !outSet.contains($0) }
        let freeA = ka.filter { !kb.contains($0) }, freeB = kb.filter { !ka.contains($0) }
        func product(_ l: [Character]) -> Int { l.reduce(1) { $0 * (size[$1] ?? 1) } }
        func matrix(_ v: ValueID, _ l: [Character], _ order: [Character], rows: [Character], cols: [Character], _ suffix: String) throws -> ValueID {
            let t = try permuted(v, l, to: order, suffix + "_t")
            let batchDims = Array(c.dims(t).prefix(batch.count))
            return try c.reshapeValue(t, batchDims + [product(rows), product(cols)], name: "\(try output())/\(suffix)")
        }
        let va = try matrix(a0, ka, batch + freeA + contracted, rows: freeA, cols: contracted, "a")
        let vb = try matrix(b0, kb, batch + contracted + freeB, rows: contracted, cols: freeB, "b")
        let m = try add(.matMul, [va, vb], "matmul")
        let labelsOut = batch + freeA + freeB
        let dimsOut = Array(c.dims(m).prefix(batch.count)) + (freeA + freeB).map { size[$0] ?? 1 }
        let shaped = try c.reshapeValue(m, dimsOut, name: "\(try output())/unflatten")
        try define(try permuted(shaped, labelsOut, to: outLabels, "transpose"))
    }
}
