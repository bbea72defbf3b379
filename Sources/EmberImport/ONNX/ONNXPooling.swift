import EmberCore

/// MaxPool and AveragePool that Ember's 2-D pooling kernels do not cover — dilated windows, 3-D and
/// higher — as the window's taps: one strided slice of the padded input per kernel offset, combined
/// by elementwise maximum (padding −∞) or summed and divided by each window's count (the padding
/// counted or not, as count_include_pad says; ceil_mode's extra cells never are). Exact, and as
/// fast as the product of the kernel sizes allows: meant for the small windows such models use.
extension NodeContext {
    func poolByTaps(max isMax: Bool, kernel: [Int], strides: [Int], dilations: [Int], pads: [Int], autoPad: String) throws {
        let x = try input(0)
        guard dtype(x) == .f32 else { throw unsupported("\(dtype(x)) pooling of this kind (float is supported)") }
        let d = onnxDims(x), r = d.count, k = r - 2
        let ceil = try a.int("ceil_mode", 0) != 0
        let countPads = try !isMax && a.int("count_include_pad", 0) != 0
        let taps = kernel.reduce(1, *)
        try LoadLimits.check("pooling '\(name)' taps", needs: taps, limit: 4096, unit: "kernel offsets")
        // Per spatial axis: leading pad, output size, and the padded extent the windows reach.
        var before = [Int](repeating: 0, count: k), outSize = [Int](repeating: 0, count: k), explicitEnd = before
        for i in 0..<k {
            let n = d[2 + i], span = (kernel[i] - 1) * dilations[i] + 1, s = strides[i]
            switch autoPad {
            case "SAME_UPPER", "SAME_LOWER":
                outSize[i] = (n + s - 1) / s
                let total = max((outSize[i] - 1) * s + span - n, 0)
                before[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                explicitEnd[i] = total - before[i]
            case "VALID":
                guard n >= span else { throw fail("window larger than the input") }
                outSize[i] = (n - span) / s + 1
            default:
                before[i] = pads[i]; explicitEnd[i] = pads[k + i]
                let padded = n + before[i] + explicitEnd[i]
                guard padded >= span else { throw fail("window larger than the padded input") }
                outSize[i] = ceil ? (padded - span + s - 1) / s + 1 : (padded - span) / s + 1
                // A ceil-mode window must start inside the input or its leading padding.
                if ceil, (outSize[i] - 1) * s >= n + before[i] { outSize[i] -= 1 }
            }
        }
        // Pad to the extent the last window reaches (explicit pads plus ceil_mode's extra cells).
        var after = [Int](repeating: 0, count: k)
        for i in 0..<k {
            let reach = (outSize[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
            after[i] = max(reach - d[2 + i] - before[i], 0)
        }
        var v = try onnx(x)
        if before.contains(where: { $0 > 0 }) || after.contains(where: { $0 > 0 }) {
            let zeros = try add(.pad(before: [0, 0] + before, after: [0, 0] + after), [v], "padded")
            if isMax {
                // −∞ outside the input.
                let fill = try paddingFill(-.infinity, inner: d, before: [0, 0] + before, padded: zeros, "padding")
                v = try add(.add(.none), [zeros, fill], "padded_max")
            } else {
                v = zeros
            }
        }
        // One strided slice per kernel offset, combined.
        var combined: ValueID? = nil
        for t in 0..<taps {
            var rest = t, begin = [0, 0], end = [d[0], d[1]], step = [1, 1]
            var offsets = [Int](repeating: 0, count: k)
            for i in stride(from: k - 1, through: 0, by: -1) { offsets[i] = rest % kernel[i]; rest /= kernel[i] }
            for i in 0..<k {
                let start = offsets[i] * dilations[i]
                begin.append(start); end.append(start + (outSize[i] - 1) * strides[i] + 1); step.append(strides[i])
            }
            let tap = try add(.slice(begin: begin, end: end, strides: step), [v], "tap\(t)")
            combined = try combined.map { try add(isMax ? .maximum : .add(.none), [$0, tap], "taps\(t)") } ?? tap
        }
        guard var result = combined else { throw fail("an empty kernel") }
        if !isMax {
            // Each window's divisor: its taps inside the input (or inside input and explicit pads).
            let lo = (0..<k).map { countPads ? -before[$0] : 0 }, hi = (0..<k).map { d[2 + $0] + (countPads ? explicitEnd[$0] : 0) }
            let cells = outSize.reduce(1, *)
            var reciprocal = [Float](repeating: 0, count: cells)
            for cell in 0..<cells {
                var rest = cell, position = [Int](repeating: 0, count: k)
                for i in stride(from: k - 1, through: 0, by: -1) { position[i] = rest % outSize[i]; rest /= outSize[i] }
                var count = 1
                for i in 0..<k {
                    let origin = position[i] * strides[i] - before[i]
                    count *= (0..<kernel[i]).filter { origin + $0 * dilations[i] >= lo[i] && origin + $0 * dilations[i] < hi[i] }.count
                }
                reciprocal[cell] = count > 0 ? 1 / Float(count) : 0
            }
            let divisor = c.constant(.floats(reciprocal, dims: [1, 1] + outSize), name: "\(try output())/divisor")
            result = try add(.mul(.none), [result, divisor])
        }
        try define(result)
    }
}
