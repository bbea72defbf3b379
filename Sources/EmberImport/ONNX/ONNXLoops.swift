import EmberCore

/// ONNX Loop and Scan unrolled at import: every iteration converts the body once more, with the
/// names it defines made unique per iteration, so a loop with a trip count (and a condition)
/// known at import becomes straight-line ops. Scan outputs are stacked along their axis.
/// Data-dependent trip counts or conditions are refused: they need a run-time loop.
extension NodeContext {
    /// The most iterations a Loop or Scan is unrolled into.
    static let maxUnrolledIterations = 1024

    /// A body input or output: known at import, or a value.
    enum LoopValue {
        case constant(HostTensor)
        case value(Tracked)
    }

    func loopValue(input k: Int) throws -> LoopValue {
        if let h = constant(k) { return .constant(h) }
        return .value(try input(k))
    }

    func define(_ v: LoopValue, output k: Int) throws {
        switch v {
        case let .constant(h): try defineConstant(h, output: k)
        case let .value(t): try define(t, output: k)
        }
    }

    /// One pass through `body` with its inputs bound to `inputs`; the names its nodes define get
    /// `#tag`, the names around it are restored afterwards. Returns the body's outputs.
    func unrollOnce(_ body: Onnx_GraphProto, inputs: [LoopValue], tag: String) throws -> [LoopValue] {
        let env = c.env, constants = c.constants
        defer { c.env = env; c.constants = constants }
        for (k, input) in body.input.enumerated() {
            switch inputs[k] {
            case let .constant(h): c.constants[input.name] = h; c.env[input.name] = nil
            case let .value(t): c.env[input.name] = t; c.constants[input.name] = nil
            }
        }
        for t in body.initializer { c.constants[t.name] = try t.host(external: c.external, limits: c.limits) }
        var renamed: [String: String] = [:]
        for n in body.node { for o in n.output where !o.isEmpty { renamed[o] = "\(o)#\(tag)" } }
        let nodes = body.node.map { n -> Onnx_NodeProto in
            var m = n
            m.input = n.input.map { renamed[$0] ?? $0 }
            m.output = n.output.map { renamed[$0] ?? $0 }
            return m
        }
        try c.convert(nodes)
        return try body.output.map { o in
            let name = renamed[o.name] ?? o.name
            if let h = c.constants[name] { return .constant(h) }
            guard let t = c.env[name] else { throw fail("body output '\(o.name)' is not produced") }
            return .value(t)
        }
    }

    /// Per-iteration values stacked along a new `axis` (in reverse order when `reversed`).
    func stacked(_ parts: [LoopValue], axis: Int, reversed: Bool, _ suffix: String) throws -> ValueID {
        guard !parts.isEmpty else { throw unsupported("a scan output of zero iterations") }
        let base = "\(try output())/\(suffix)"
        let ids = try (reversed ? parts.reversed() : parts).enumerated().map { k, part -> ValueID in
            let id: ValueID
            switch part {
            case let .constant(h): id = c.constant(h, name: "\(base)\(k)")
            case let .value(t): id = try onnx(t)
            }
            var d = c.dims(id)
            let at = axis < 0 ? axis + d.count + 1 : axis
            guard at >= 0, at <= d.count else { throw fail("scan output axis \(axis) for rank \(d.count)") }
            d.insert(1, at: at)
            return try c.reshapeValue(id, d, name: "\(base)\(k)/unsqueezed")
        }
        let rank = c.dims(ids[0]).count
        return ids.count == 1 ? ids[0] : try add(.concat(axis: axis < 0 ? axis + rank : axis), ids, suffix)
    }

    /// Loop: inputs M (trip count), cond, carried values; body inputs (iteration, cond, carried…),
    /// outputs (cond, carried…, scan outputs…).
    func loopNode() throws {
        guard let body = a.graph("body") else { throw fail("needs a body") }
        let carriedCount = node.input.count - 2
        guard carriedCount >= 0, body.input.count == carriedCount + 2, body.output.count >= carriedCount + 1 else {
            throw fail("the body's \(body.input.count) inputs and \(body.output.count) outputs do not fit \(node.input.count) loop inputs")
        }
        var trips: Int? = nil
        if has(0) {
            guard let m = constant(0)?.ints?.first else { throw unsupported("a trip count computed at run time") }
            trips = m
        }
        var keepGoing = true
        if has(1) {
            guard let v = constant(1)?.ints?.first else { throw unsupported("a loop condition computed at run time") }
            keepGoing = v != 0
        }
        guard trips != nil || has(1) else { throw unsupported("a loop with neither a trip count nor a condition") }
        var carried = try (0..<carriedCount).map { try loopValue(input: 2 + $0) }
        var scans = [[LoopValue]](repeating: [], count: body.output.count - 1 - carriedCount)
        var i = 0
        while keepGoing, i < (trips ?? Int.max) {
            guard i < Self.maxUnrolledIterations else {
                throw unsupported("more than \(Self.maxUnrolledIterations) iterations to unroll")
            }
            let outs = try unrollOnce(body, inputs: [.constant(.integers([i], dtype: .i64, dims: [])),
                                                     .constant(.integers([1], dtype: .bool, dims: []))] + carried,
                                      tag: "\(try output())#\(i)")
            guard case let .constant(cond) = outs[0], let v = cond.ints?.first else {
                throw unsupported("a loop condition computed at run time")
            }
            keepGoing = v != 0
            carried = Array(outs[1..<(1 + carriedCount)])
            for k in scans.indices { scans[k].append(outs[1 + carriedCount + k]) }
            i += 1
        }
        for k in 0..<carriedCount where usesOutput(k) { try define(carried[k], output: k) }
        for k in scans.indices where usesOutput(carriedCount + k) {
            try define(try stacked(scans[k], axis: 0, reversed: false, "scan\(k)"), output: carriedCount + k)
        }
    }

    /// Scan (opset 9+): inputs are the initial states, then `num_scan_inputs` sequences; each step
    /// takes one slice of every sequence (along its axis, from the end for direction 1).
    func scanNode() throws {
        guard let body = a.graph("body") else { throw fail("needs a body") }
        let scanCount = try a.int("num_scan_inputs", 0)
        let stateCount = node.input.count - scanCount
        guard scanCount >= 1, stateCount >= 0, body.input.count == node.input.count, body.output.count >= stateCount else {
            throw fail("num_scan_inputs \(scanCount) does not fit \(node.input.count) inputs and a body of \(body.input.count)")
        }
        let outputCount = body.output.count - stateCount
        let inAxes = try a.ints("scan_input_axes") ?? [Int](repeating: 0, count: scanCount)
        let inDirections = try a.ints("scan_input_directions") ?? [Int](repeating: 0, count: scanCount)
        let outAxes = try a.ints("scan_output_axes") ?? [Int](repeating: 0, count: outputCount)
        let outDirections = try a.ints("scan_output_directions") ?? [Int](repeating: 0, count: outputCount)
        guard inAxes.count == scanCount, inDirections.count == scanCount, outAxes.count == outputCount,
              outDirections.count == outputCount else { throw fail("scan axes and directions do not fit the inputs and outputs") }
        var sequences: [(id: ValueID, axis: Int)] = []
        for j in 0..<scanCount {
            let k = stateCount + j
            let id: ValueID
            if let h = constant(k) { id = c.constant(h, name: "\(try output())/sequence\(j)") } else { id = try onnx(try input(k)) }
            let r = c.dims(id).count
            sequences.append((id, try axis(inAxes[j], rank: r)))
        }
        let steps = c.dims(sequences[0].id)[sequences[0].axis]
        guard sequences.allSatisfy({ c.dims($0.id)[$0.axis] == steps }) else { throw fail("the sequences differ in length") }
        guard steps <= Self.maxUnrolledIterations else { throw unsupported("more than \(Self.maxUnrolledIterations) steps to unroll") }
        var states = try (0..<stateCount).map { try loopValue(input: $0) }
        var scans = [[LoopValue]](repeating: [], count: outputCount)
        for t in 0..<steps {
            let slices = try sequences.enumerated().map { j, s -> LoopValue in
                let d = c.dims(s.id)
                let at = inDirections[j] == 1 ? steps - 1 - t : t
                var begin = [Int](repeating: 0, count: d.count), end = d
                begin[s.axis] = at; end[s.axis] = at + 1
                let slice = try add(.slice(begin: begin, end: end, strides: [Int](repeating: 1, count: d.count)), [s.id], "step\(t)_in\(j)")
                var squeezed = d
                squeezed.remove(at: s.axis)
                let v = try c.reshapeValue(slice, squeezed, name: "\(try output())/step\(t)_in\(j)/squeezed")
                return .value(Tracked(id: v, perm: Array(0..<squeezed.count)))
            }
            let outs = try unrollOnce(body, inputs: states + slices, tag: "\(try output())#\(t)")
            states = Array(outs[0..<stateCount])
            for k in 0..<outputCount { scans[k].append(outs[stateCount + k]) }
        }
        for k in 0..<stateCount where usesOutput(k) { try define(states[k], output: k) }
        for k in 0..<outputCount where usesOutput(stateCount + k) {
            try define(try stacked(scans[k], axis: outAxes[k], reversed: outDirections[k] == 1, "scan\(k)"), output: stateCount + k)
        }
    }
}
