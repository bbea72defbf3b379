import EmberCore

// Recurrent layers unrolled over their static time steps into the op set, shared by the TFLite
// (UNIDIRECTIONAL_SEQUENCE_LSTM) and ONNX (LSTM, GRU) importers: the input projections of all
// steps are one fully-connected layer, each step a recurrent FC, gate slices, sigmoid/tanh and
// the state update — so every kernel an unrolled layer runs already has its reference twin.

/// An importer that can add f32 ops and constants while unrolling a recurrent layer.
protocol RecurrentGraphBuilder {
    /// Adds one f32 op producing `dims`.
    mutating func recurrentOp(_ op: Op, _ inputs: [ValueID?], _ name: String, _ dims: [Int]) throws -> ValueID
    mutating func recurrentConstant(_ values: [Float], _ dims: [Int], _ name: String) throws -> ValueID
}

/// What an LSTM step computes, beyond the gate math every LSTM shares.
struct LSTMCellOptions {
    /// Applied to the candidate cell and to the cell before the output gate (tanh by default).
    var cellActivation: Op = .tanh
    /// The gate nonlinearity (sigmoid by default).
    var gateActivation: Op = .sigmoid
    /// TFLite's cell_clip: |c| clamped after each update (0: none).
    var cellClip: Float = 0
    /// ONNX's clip: gate pre-activations clamped to ±clip (0: none).
    var preActivationClip: Float = 0
    /// CIFG / ONNX input_forget: no input gate, i = 1 − f (gate slices f, c, o).
    var coupledInputForget = false
    /// Peephole weights for i, f, o, each [n] (ONNX P); nil for none.
    var peepholes: (input: ValueID, forget: ValueID, output: ValueID)?
}

extension RecurrentGraphBuilder {
    /// Every step's input projection, x·Wᵀ + b for all steps in one FC: step t's [batch, width].
    /// `x` is [steps, batch, nIn] (time major) or [batch, steps, nIn].
    mutating func stepProjections(_ x: ValueID, steps: Int, batch: Int, timeMajor: Bool, nIn: Int, weights: ValueID,
                                  bias: ValueID?, width: Int, projection: Op = .fullyConnected(.none),
                                  name: String) throws -> [ValueID] {
        let rows = steps * batch
        let flat = try recurrentOp(.reshape([rows, nIn]), [x], "\(name)/rows", [rows, nIn])
        let projected = try recurrentOp(projection, [flat, weights, bias], "\(name)/input_projection", [rows, width])
        let shape = timeMajor ? [steps, batch, width] : [batch, steps, width]
        let perStep = try recurrentOp(.reshape(shape), [projected], "\(name)/steps", shape)
        return try (0..<steps).map { t in
            let begin = timeMajor ? [t, 0, 0] : [0, t, 0], end = timeMajor ? [t + 1, batch, width] : [batch, t + 1, width]
            let s = try recurrentOp(.slice(begin: begin, end: end, strides: [1, 1, 1]), [perStep], "\(name)/t\(t)/x",
                                    timeMajor ? [1, batch, width] : [batch, 1, width])
            return try recurrentOp(.reshape([batch, width]), [s], "\(name)/t\(t)/x2d", [batch, width])
        }
    }

    /// Columns k·n ..< (k+1)·n of a [batch, width] value.
    mutating func gateSlice(_ v: ValueID, _ k: Int, n: Int, batch: Int, _ name: String) throws -> ValueID {
        try recurrentOp(.slice(begin: [0, k * n], end: [batch, (k + 1) * n], strides: [1, 1]), [v], name, [batch, n])
    }

    /// One LSTM step from its gate pre-activations `pre` [batch, 4n] (gates i, f, c, o; f, c, o when
    /// coupled) and the state: the new (h, c).
    mutating func lstmStep(pre: ValueID, h: ValueID, c: ValueID, n: Int, batch: Int, options o: LSTMCellOptions,
                           name p: String) throws -> (h: ValueID, c: ValueID) {
        let dims = [batch, n]
        /// `v` clamped to ±limit (0: unclamped); the nodes are named `what`_lo, `what`_clipped.
        func clamped(_ v: ValueID, _ limit: Float, _ what: String) throws -> ValueID {
            guard limit > 0 else { return v }
            let lo = try recurrentOp(.maximum, [v, try recurrentConstant([-limit], [1], "\(what)_-clip")], "\(what)_lo", dims)
            return try recurrentOp(.minimum, [lo, try recurrentConstant([limit], [1], "\(what)_clip")], "\(what)_clipped", dims)
        }
        func gate(_ k: Int, _ op: Op, _ what: String, peephole: ValueID? = nil, state: ValueID? = nil) throws -> ValueID {
            var s = try gateSlice(pre, k, n: n, batch: batch, "\(p)/\(what)_pre")
            if let peephole, let state {
                let look = try recurrentOp(.mul(.none), [state, peephole], "\(p)/\(what)_peephole", dims)
                s = try recurrentOp(.add(.none), [s, look], "\(p)/\(what)_peeped", dims)
            }
            return try recurrentOp(op, [try clamped(s, o.preActivationClip, "\(p)/\(what)")], "\(p)/\(what)", dims)
        }
        let coupled = o.coupledInputForget
        let f = try gate(coupled ? 0 : 1, o.gateActivation, "forget", peephole: o.peepholes?.forget, state: c)
        let i = coupled ? try recurrentOp(.sub(.none), [try recurrentConstant([1], [1], "\(p)/one"), f], "\(p)/input", dims)
                        : try gate(0, o.gateActivation, "input", peephole: o.peepholes?.input, state: c)
        let candidate = try gate(coupled ? 1 : 2, o.cellActivation, "cell")
        let kept = try recurrentOp(.mul(.none), [f, c], "\(p)/keep", dims)
        let written = try recurrentOp(.mul(.none), [i, candidate], "\(p)/write", dims)
        let cell = try clamped(try recurrentOp(.add(.none), [kept, written], "\(p)/c", dims), o.cellClip, "\(p)/c")
        let out = try gate(coupled ? 2 : 3, o.gateActivation, "output", peephole: o.peepholes?.output, state: cell)
        let active = try recurrentOp(o.cellActivation, [cell], "\(p)/c_act", dims)
        return (try recurrentOp(.mul(.none), [out, active], "\(p)/h", dims), cell)
    }

    /// One GRU step (ONNX gate order z, r, h): `x` is the step's input projection [batch, 3n] with
    /// the input bias, `recurrent` h·Rᵀ + Rb for all three gates [batch, 3n] when `linearBeforeReset`
    /// (PyTorch's form), else for z and r only [batch, 2n], with `candidateWeights` [n, n] and
    /// `candidateBias` applied to r ⊙ h. Returns h' = hh + z ⊙ (h − hh).
    mutating func gruStep(x: ValueID, recurrent: ValueID, h: ValueID, n: Int, batch: Int, linearBeforeReset: Bool,
                          candidateWeights: ValueID?, candidateBias: ValueID?, gateActivation: Op = .sigmoid,
                          candidateActivation: Op = .tanh, name p: String) throws -> ValueID {
        let dims = [batch, n]
        func gate(_ k: Int, _ what: String) throws -> ValueID {
            let a = try gateSlice(x, k, n: n, batch: batch, "\(p)/\(what)_x")
            let b = try gateSlice(recurrent, k, n: n, batch: batch, "\(p)/\(what)_h")
            return try recurrentOp(gateActivation, [try recurrentOp(.add(.none), [a, b], "\(p)/\(what)_pre", dims)], "\(p)/\(what)", dims)
        }
        let z = try gate(0, "update"), r = try gate(1, "reset")
        let hidden: ValueID
        if linearBeforeReset {
            hidden = try recurrentOp(.mul(.none), [r, try gateSlice(recurrent, 2, n: n, batch: batch, "\(p)/candidate_h")],
                                     "\(p)/reset_h", dims)
        } else {
            let reset = try recurrentOp(.mul(.none), [r, h], "\(p)/reset_state", dims)
            hidden = try recurrentOp(.fullyConnected(.none), [reset, candidateWeights, candidateBias], "\(p)/reset_h", dims)
        }
        let xh = try gateSlice(x, 2, n: n, batch: batch, "\(p)/candidate_x")
        let candidate = try recurrentOp(candidateActivation, [try recurrentOp(.add(.none), [xh, hidden], "\(p)/candidate_pre", dims)],
                                        "\(p)/candidate", dims)
        let delta = try recurrentOp(.sub(.none), [h, candidate], "\(p)/delta", dims)
        let kept = try recurrentOp(.mul(.none), [z, delta], "\(p)/kept", dims)
        return try recurrentOp(.add(.none), [candidate, kept], "\(p)/h", dims)
    }
}
