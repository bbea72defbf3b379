import EmberCore

// ONNX LSTM and GRU (forward, reverse, bidirectional; layout 0 and 1; initial states; constant
// sequence lengths equal to the sequence), unrolled with RecurrentUnrolling's steps. Weights and
// biases must be constants; initial states may be graph inputs (streaming state carried between runs).

extension ONNXConverter: RecurrentGraphBuilder {
    func recurrentOp(_ op: Op, _ inputs: [ValueID?], _ name: String, _ dims: [Int]) throws -> ValueID {
        try add(op, inputs, name: name)
    }

    func recurrentConstant(_ values: [Float], _ dims: [Int], _ name: String) throws -> ValueID {
        constant(.floats(values, dims: dims), name: name)
    }
}

extension NodeContext {
    /// LSTM (gates = 4) or GRU (gates = 3).
    func recurrent(gates: Int) throws {
        let isLSTM = gates == 4
        let n = try a.int("hidden_size", 0)
        let layout = try a.int("layout", 0)
        guard layout == 0 || layout == 1 else { throw fail("layout \(layout)") }
        let direction = try a.string("direction", "forward")
        guard ["forward", "reverse", "bidirectional"].contains(direction) else { throw fail("direction '\(direction)'") }
        let dirs = direction == "bidirectional" ? 2 : 1
        let x = try onnx(try input(0))
        let xd = c.dims(x)
        guard xd.count == 3 else { throw fail("X must be rank 3, got \(formatDims(xd))") }
        let timeMajor = layout == 0
        let steps = timeMajor ? xd[0] : xd[1], batch = timeMajor ? xd[1] : xd[0], nIn = xd[2]
        guard n >= 1, steps >= 1, batch >= 1 else { throw fail("empty \(node.opType) (hidden_size \(n), X \(formatDims(xd)))") }
        try LoadLimits.check("unrolled \(node.opType) '\(name)' steps", needs: steps * dirs * 24, limit: c.limits.maxNodes, unit: "nodes")

        func floats(_ k: Int, _ what: String, count: Int) throws -> [Float]? {
            guard has(k) else { return nil }
            guard let h = constant(k) else { throw needed(k, what) }
            guard let v = h.floats else { throw unsupported("\(what) of type \(h.dtype)") }
            guard v.count == count else { throw fail("\(what) has \(v.count) values, expected \(count)") }
            return v
        }
        let width = gates * n
        guard let w = try floats(1, "W", count: dirs * width * nIn), let r = try floats(2, "R", count: dirs * width * n) else {
            throw fail("W and R are required")
        }
        let bias = try floats(3, "B", count: dirs * 2 * width)
        if let lens = constant(4)?.ints, lens.contains(where: { $0 != steps }) {
            throw unsupported("sequence_lens other than the full sequence (\(lens))")
        } else if has(4) && constant(4) == nil {
            throw needed(4, "sequence_lens")
        }
        // Initial states are values like any other: a streaming model feeds the last chunk's state back in.
        let stateDims = timeMajor ? [dirs, batch, n] : [batch, dirs, n]
        func initialState(_ k: Int, _ what: String) throws -> ValueID? {
            guard has(k) else { return nil }
            let v = try onnx(try input(k))
            guard c.dims(v) == stateDims else { throw fail("\(what) is \(formatDims(c.dims(v))), expected \(formatDims(stateDims))") }
            return v
        }
        let h0 = try initialState(5, "initial_h"), c0 = isLSTM ? try initialState(6, "initial_c") : nil
        /// Direction d's [batch, n] part of a state input, or zeros.
        func state(_ v: ValueID?, _ d: Int, _ what: String) throws -> ValueID {
            let p = "\(node.output.first ?? name)/\(what)\(d)"
            guard let v else { return c.constant(.floats([Float](repeating: 0, count: batch * n), dims: [batch, n]), name: p) }
            var part = v
            if dirs > 1 {
                let begin = timeMajor ? [d, 0, 0] : [0, d, 0], end = timeMajor ? [d + 1, batch, n] : [batch, d + 1, n]
                part = try c.add(.slice(begin: begin, end: end, strides: [1, 1, 1]), [v], name: "\(p)/slice")
            }
            return try c.add(.reshape([batch, n]), [part], name: p)
        }
        let peep = isLSTM ? try floats(7, "P", count: dirs * 3 * n) : nil

        // Activations: f (gates), g (candidate), h (LSTM output) per direction.
        let names = try a.strings("activations") ?? []
        let defaults = isLSTM ? ["Sigmoid", "Tanh", "Tanh"] : ["Sigmoid", "Tanh"]
        guard names.isEmpty || names.count == defaults.count * dirs else { throw fail("\(names.count) activations") }
        if try a.floats("activation_alpha") != nil || a.floats("activation_beta") != nil {
            throw unsupported("activation_alpha/activation_beta")
        }
        func activation(_ s: String) throws -> Op {
            switch s.lowercased() {
            case "sigmoid": return .sigmoid
            case "tanh": return .tanh
            case "relu": return .relu
            default: throw unsupported("activation \(s)")
            }
        }
        let clip = try a.float("clip", 0)
        guard clip >= 0 else { throw fail("clip \(clip)") }
        let coupled = try isLSTM && a.int("input_forget", 0) != 0
        let linearBeforeReset = try a.int("linear_before_reset", 0) != 0
        if !isLSTM && clip > 0 { throw unsupported("GRU clip") }

        // ONNX gate rows: LSTM i, o, f, c → i, f, c, o (f, c, o when coupled); GRU z, r, h as they are.
        let order = isLSTM ? (coupled ? [2, 3, 1] : [0, 2, 3, 1]) : [0, 1, 2]
        let used = order.count * n
        var u: ONNXConverter = c // the unrolling helpers are mutating (the TFLite importer is a struct)
        var perDirection: [[ValueID]] = []
        var finals: [(h: ValueID, c: ValueID?)] = []
        for d in 0..<dirs {
            let p = "\(node.output.first ?? name)/\(dirs == 1 ? direction : (d == 0 ? "forward" : "reverse"))"
            func rows(_ v: [Float], _ block: Int, _ cols: Int, gates list: [Int]) -> [Float] {
                list.flatMap { g in v[(block + g * n * cols)..<(block + (g + 1) * n * cols)] }
            }
            let wRows = rows(w, d * width * nIn, nIn, gates: order), rRows = rows(r, d * width * n, n, gates: order)
            let wb = bias.map { rows($0, d * 2 * width, 1, gates: order) } ?? [Float](repeating: 0, count: used)
            let rb = bias.map { rows($0, d * 2 * width + width, 1, gates: order) } ?? [Float](repeating: 0, count: used)
            let wV = c.constant(.floats(wRows, dims: [used, nIn]), name: "\(p)/W")
            let xs = try u.stepProjections(x, steps: steps, batch: batch, timeMajor: timeMajor, nIn: nIn, weights: wV,
                                           bias: c.constant(.floats(isLSTM ? zip(wb, rb).map(+) : wb, dims: [used]), name: "\(p)/Wb"),
                                           width: used, name: p)
            let acts = try (names.isEmpty ? defaults : Array(names[(d * defaults.count)..<((d + 1) * defaults.count)])).map(activation)
            var h = try state(h0, d, "initial_h"), cell = isLSTM ? try state(c0, d, "initial_c") : nil
            var options = LSTMCellOptions(cellActivation: acts[1], gateActivation: acts[0], preActivationClip: clip,
                                          coupledInputForget: coupled)
            if isLSTM && acts[2] != acts[1] { throw unsupported("an LSTM output activation unlike its cell activation") }
            if let peep {
                let base = d * 3 * n
                func piece(_ k: Int, _ what: String) -> ValueID {
                    c.constant(.floats(Array(peep[(base + k * n)..<(base + (k + 1) * n)]), dims: [n]), name: "\(p)/P\(what)")
                }
                options.peepholes = (piece(0, "i"), piece(2, "f"), piece(1, "o"))
            }
            // GRU without linear_before_reset applies the candidate's R to r ⊙ h: those rows stay apart.
            let split = !isLSTM && !linearBeforeReset
            let recurrentRows = split ? Array(rRows[..<(2 * n * n)]) : rRows
            let rV = c.constant(.floats(recurrentRows, dims: [recurrentRows.count / n, n]), name: "\(p)/R")
            let rbV = isLSTM ? nil : c.constant(.floats(split ? Array(rb[..<(2 * n)]) : rb, dims: [split ? 2 * n : used]), name: "\(p)/Rb")
            let candidateW = split ? c.constant(.floats(Array(rRows[(2 * n * n)...]), dims: [n, n]), name: "\(p)/Rh") : nil
            let candidateB = split ? c.constant(.floats(Array(rb[(2 * n)...]), dims: [n]), name: "\(p)/Rbh") : nil
            var outputs = [ValueID?](repeating: nil, count: steps)
            for t in (d == 1 || direction == "reverse") ? Array((0..<steps).reversed()) : Array(0..<steps) {
                let s = "\(p)/t\(t)"
                let rh = try c.add(.fullyConnected(.none), [h, rV, rbV], name: "\(s)/recurrent")
                if isLSTM, let cs = cell {
                    let pre = try c.add(.add(.none), [xs[t], rh], name: "\(s)/gates")
                    (h, cell) = try u.lstmStep(pre: pre, h: h, c: cs, n: n, batch: batch, options: options, name: s)
                } else {
                    h = try u.gruStep(x: xs[t], recurrent: rh, h: h, n: n, batch: batch, linearBeforeReset: linearBeforeReset,
                                      candidateWeights: candidateW, candidateBias: candidateB, gateActivation: acts[0],
                                      candidateActivation: acts[1], name: s)
                }
                outputs[t] = h
            }
            perDirection.append(outputs.compactMap { $0 })
            finals.append((h, cell))
        }
        // Y: [seq, dirs, batch, n] (layout 0) or [batch, seq, dirs, n]; Y_h, Y_c: [dirs, batch, n] or [batch, dirs, n].
        let o = node.output.first ?? name
        if usesOutput(0) {
            var steps4: [ValueID] = []
            for t in 0..<steps {
                let parts = try (0..<dirs).map { d in
                    try c.add(.reshape(timeMajor ? [1, 1, batch, n] : [batch, 1, 1, n]), [perDirection[d][t]], name: "\(o)/y\(t)_\(d)")
                }
                steps4.append(dirs == 1 ? parts[0] : try c.add(.concat(axis: timeMajor ? 1 : 2), parts, name: "\(o)/y\(t)"))
            }
            try define(steps == 1 ? steps4[0] : try c.add(.concat(axis: timeMajor ? 0 : 1), steps4, name: try output(0)), output: 0)
        }
        for (k, state) in [(1, finals.map { Optional($0.h) }), (2, finals.map(\.c))] where usesOutput(k) {
            let parts = try state.enumerated().map { d, v -> ValueID in
                guard let v else { throw fail("output \(k) needs a cell state") }
                return try c.add(.reshape(timeMajor ? [1, batch, n] : [batch, 1, n]), [v], name: "\(try output(k))/\(d)")
            }
            try define(dirs == 1 ? parts[0] : try c.add(.concat(axis: timeMajor ? 0 : 1), parts, name: try output(k)), output: k)
        }
    }
}
