import EmberCore

// UNIDIRECTIONAL_SEQUENCE_LSTM, unrolled over its (static) time steps into the op set with
// RecurrentUnrolling's steps (lstm_eval.cc's float path, gates i, f, c, o).

extension Importer: RecurrentGraphBuilder {
    mutating func recurrentOp(_ op: Op, _ inputs: [ValueID?], _ name: String, _ dims: [Int]) throws -> ValueID {
        lower(op, inputs, name, .f32, dims)
    }

    mutating func recurrentConstant(_ values: [Float], _ dims: [Int], _ name: String) throws -> ValueID {
        floatConstant(name, values, dims)
    }

    /// A constant tensor's elements as f32: f32 as stored, f16 widened, int8 dequantized per tensor or
    /// along its quantized axis. The one decoder for constants the importer folds (DEQUANTIZE, LSTM weights).
    func constantFloats(_ i: Int, _ what: String, node: String) throws -> [Float] {
        let t = try tensor(i, what)
        guard let d = t.data else { throw EmberError.unsupported(node: node, reason: "\(what) must be a constant tensor") }
        let n = elementCount(t.dims) ?? 0
        switch t.dtype {
        case .f32:
            guard d.count == n * 4 else { throw EmberError.invalidGraph(node: node, reason: "\(what) has \(d.count) bytes") }
            return (0..<n).map { k in Float(bitPattern: UInt32(d[4 * k]) | UInt32(d[4 * k + 1]) << 8 | UInt32(d[4 * k + 2]) << 16 | UInt32(d[4 * k + 3]) << 24) }
        case .f16:
            guard d.count == n * 2 else { throw EmberError.invalidGraph(node: node, reason: "\(what) has \(d.count) bytes") }
            return (0..<n).map { k in Float(Float16(bitPattern: UInt16(d[2 * k]) | UInt16(d[2 * k + 1]) << 8)) }
        case .i8:
            guard let q = t.quant else { throw EmberError.invalidGraph(node: node, reason: "int8 constant without quantization") }
            guard d.count == n else { throw EmberError.invalidGraph(node: node, reason: "\(what) has \(d.count) bytes") }
            let inner = q.axis.map { a in t.dims[(a + 1)...].reduce(1, *) } ?? 1
            return (0..<n).map { k in
                let c = q.isPerTensor ? 0 : (k / inner) % q.scales.count
                return q.scales[c] * Float(Int32(Int8(bitPattern: d[k])) - q.zeroPoints[c])
            }
        default: throw EmberError.unsupported(node: node, reason: "\(what) of type \(t.dtype)")
        }
    }

    mutating func floatConstant(_ name: String, _ values: [Float], _ dims: [Int]) -> ValueID {
        constant(name, .f32, dims, nil, values.withUnsafeBytes { Array($0) })
    }

    /// UNIDIRECTIONAL_SEQUENCE_LSTM (float, or hybrid: int8 weights on float activations): no peephole,
    /// projection or layer norm; CIFG (no input gate) supported; the state starts from the state
    /// inputs' stored values (zeros when they have none) on every run.
    mutating func convertLSTM(options o: FBTable?, inputs: [Int], output: Int, node: String) throws {
        func present(_ k: Int) -> Bool { k < inputs.count && inputs[k] >= 0 }
        func input(_ k: Int) throws -> Int {
            guard present(k) else { throw EmberError.invalidGraph(node: node, reason: "UNIDIRECTIONAL_SEQUENCE_LSTM is missing input \(k)") }
            return inputs[k]
        }
        for (k, what) in [(9, "peephole"), (10, "peephole"), (11, "peephole"), (16, "projection"), (17, "projection"),
                          (20, "layer norm"), (21, "layer norm"), (22, "layer norm"), (23, "layer norm")] where present(k) {
            throw EmberError.unsupported(node: node, reason: "UNIDIRECTIONAL_SEQUENCE_LSTM with \(what) weights (input \(k))")
        }
        let x = try tensor(try input(0), "input"), outT = try tensor(output, "output")
        guard x.dtype == .f32, outT.dtype == .f32 else {
            throw EmberError.unsupported(node: node, reason: "UNIDIRECTIONAL_SEQUENCE_LSTM on \(x.dtype) activations (float and hybrid are supported)")
        }
        guard x.dims.count == 3 else { throw EmberError.invalidGraph(node: node, reason: "LSTM input must be rank 3, got \(formatDims(x.dims))") }
        let timeMajor = try o?.bool(3) ?? false
        let steps = timeMajor ? x.dims[0] : x.dims[1], batch = timeMajor ? x.dims[1] : x.dims[0], nIn = x.dims[2]
        let cifg = !present(1)
        let forgetW = try tensor(try input(2), "input_to_forget_weights")
        guard forgetW.dims.count == 2, forgetW.dims[1] == nIn else {
            throw EmberError.invalidGraph(node: node, reason: "input_to_forget_weights \(formatDims(forgetW.dims)) do not take \(nIn) inputs")
        }
        let nCell = forgetW.dims[0]
        let recurrent = try tensor(try input(6), "recurrent_to_forget_weights")
        guard recurrent.dims.count == 2, recurrent.dims[0] == nCell else {
            throw EmberError.invalidGraph(node: node, reason: "recurrent weights \(formatDims(recurrent.dims)) do not match \(nCell) cells")
        }
        let nOut = recurrent.dims[1]
        guard nOut == nCell else { throw EmberError.unsupported(node: node, reason: "LSTM output size \(nOut) ≠ cell size \(nCell) (projection)") }
        guard steps >= 1, batch >= 1, nCell >= 1 else { throw EmberError.invalidGraph(node: node, reason: "empty LSTM") }
        try LoadLimits.check("unrolled LSTM '\(node)' steps", needs: steps * 16, limit: limits.maxNodes, unit: "nodes")

        let act: Op
        switch try o?.int(0, Int8.self) ?? 4 {
        case 0: act = .reshape([batch, nCell])  // identity
        case 1: act = .relu
        case 3: act = .relu6
        case 4: act = .tanh
        case let a: throw EmberError.unsupported(node: node, reason: "LSTM activation \(a)")
        }
        let cellClip = try o?.float(1, default: 0) ?? 0

        // Gates in the order i, f, c, o (f, c, o with CIFG): weights stacked into one matrix each.
        let gates = cifg ? [(2, 6, 13), (3, 7, 14), (4, 8, 15)] : [(1, 5, 12), (2, 6, 13), (3, 7, 14), (4, 8, 15)]
        var wx: [Float] = [], wh: [Float] = [], bias: [Float] = []
        // int8 LSTM tensors must have one scale (constantFloats also reads per-axis ones).
        for k in gates.flatMap({ [$0.0, $0.1, $0.2] }) where present(k) {
            let t = try tensor(inputs[k], "LSTM input \(k)")
            let what = k < 5 ? "input weights" : k < 9 ? "recurrent weights" : "gate bias"
            if t.dtype == .i8 && !(t.quant?.isPerTensor ?? false) {
                throw EmberError.unsupported(node: node, reason: "\(what) \(k): int8 weights need one scale")
            }
        }
        // Hybrid (every gate weight int8): LiteRT's EvalHybrid quantizes each step's input and state rows
        // and multiplies them by the int8 weights, as a hybrid FULLY_CONNECTED does. Stacking the gates
        // keeps each gate's scale as the scale of its rows.
        let hybrid = try gates.flatMap { [$0.0, $0.1] }.allSatisfy { try tensor(try input($0), "LSTM weights").dtype == .i8 }
        for (wi, ri, bi) in gates {
            if !hybrid {  // hybrid weights stay int8 (`stacked` below)
                let w = try constantFloats(try input(wi), "input weights \(wi)", node: node)
                let r = try constantFloats(try input(ri), "recurrent weights \(ri)", node: node)
                guard w.count == nCell * nIn, r.count == nCell * nOut else {
                    throw EmberError.invalidGraph(node: node, reason: "LSTM gate weights \(wi)/\(ri) have the wrong size")
                }
                wx += w; wh += r
            }
            if present(bi) {
                let b = try constantFloats(try input(bi), "gate bias \(bi)", node: node)
                guard b.count == nCell else { throw EmberError.invalidGraph(node: node, reason: "LSTM bias \(bi) has \(b.count) values") }
                bias += b
            } else {
                bias += [Float](repeating: 0, count: nCell)
            }
        }
        let g = gates.count, width = g * nCell
        let asymmetricInputs = try o?.bool(4) ?? false
        let projection: Op = hybrid && asymmetricInputs ? .fullyConnectedAsymmetricInputs(.none) : .fullyConnected(.none)
        func stacked(_ which: KeyPath<(Int, Int, Int), Int>, _ k: Int, _ what: String, _ float: [Float]) throws -> ValueID {
            guard hybrid else { return floatConstant("\(node)/\(what)", float, [width, k]) }
            var bytes: [UInt8] = [], scales: [Float] = []
            for gate in gates {
                let index = try input(gate[keyPath: which]), t = try tensor(index, what)
                // The checks constantFloats makes of the float path's weights, in the same order.
                guard let data = t.data else { throw EmberError.unsupported(node: node, reason: "\(what) \(index) must be a constant tensor") }
                guard let q = t.quant else { throw EmberError.invalidGraph(node: node, reason: "int8 constant without quantization") }
                guard data.count == nCell * k else {
                    throw EmberError.invalidGraph(node: node, reason: "LSTM gate \(what) \(index) have the wrong size")
                }
                guard q.zeroPoints.allSatisfy({ $0 == 0 }) else {
                    throw EmberError.unsupported(node: node, reason: "hybrid LSTM \(what) must be symmetric int8")
                }
                bytes += data
                scales += [Float](repeating: q.scale, count: nCell)
            }
            return constant("\(node)/\(what)", .i8, [width, k], QuantParams(scales: scales, zeroPoints: [Int32](repeating: 0, count: width), axis: 0), bytes)
        }
        let wxV = try stacked(\.0, nIn, "input_weights", wx)
        let whV = try stacked(\.1, nOut, "recurrent_weights", wh)
        let bV = floatConstant("\(node)/bias", bias, [width])
        func state(_ k: Int, _ n: Int, _ what: String) throws -> ValueID {
            let stored = present(k) ? try tensor(inputs[k], what).data != nil : false
            let values = stored ? try constantFloats(inputs[k], what, node: node) : [Float](repeating: 0, count: batch * n)
            guard values.count == batch * n else { throw EmberError.invalidGraph(node: node, reason: "\(what) has \(values.count) values") }
            return floatConstant("\(node)/\(what)", values, [batch, n])
        }
        var h = try state(18, nOut, "output_state"), c = try state(19, nCell, "cell_state")

        let xs = try stepProjections(try value(try input(0)), steps: steps, batch: batch, timeMajor: timeMajor, nIn: nIn,
                                     weights: wxV, bias: bV, width: width, projection: projection, name: node)
        let cell = LSTMCellOptions(cellActivation: act, cellClip: cellClip, coupledInputForget: cifg)
        var outputs: [ValueID] = []
        for t in 0..<steps {
            let p = "\(node)/t\(t)"
            let rh = lower(projection, [h, whV, nil], "\(p)/recurrent", .f32, [batch, width])
            let pre = lower(.add(.none), [xs[t], rh], "\(p)/gates", .f32, [batch, width])
            (h, c) = try lstmStep(pre: pre, h: h, c: c, n: nCell, batch: batch, options: cell, name: p)
            outputs.append(lower(.reshape(timeMajor ? [1, batch, nOut] : [batch, 1, nOut]), [h], "\(p)/out", .f32,
                                 timeMajor ? [1, batch, nOut] : [batch, 1, nOut]))
        }
        let full = timeMajor ? [steps, batch, nOut] : [batch, steps, nOut]
        if outT.dims == full {
            try emit(.concat(axis: timeMajor ? 0 : 1), outputs, output: output, node: node)
        } else {
            let joined = lower(.concat(axis: timeMajor ? 0 : 1), outputs, "\(node)/sequence", .f32, full)
            try emit(.reshape(outT.dims), [joined], output: output, node: node)
        }
    }
}
