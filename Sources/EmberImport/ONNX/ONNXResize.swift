import EmberCore

/// ONNX Resize in its separable form, for what Ember's (TFLite's) resize kernel cannot sample the
/// ONNX way: cubic, antialiased, exclude_outside, tf_crop_and_resize with its extrapolation value,
/// half_pixel_symmetric, other ranks and axes. Resizing is separable, so each resized axis is one
/// fully-connected layer whose [out, in] weights hold the interpolation coefficients, computed at
/// import exactly as the ONNX reference (onnx/reference/ops/op_resize.py) computes them.
extension NodeContext {
    func resizeSeparable(_ x: Tracked, out: [Int], scales: [Double]) throws {
        guard dtype(x) == .f32 else { throw unsupported("resizing \(dtype(x)) this way (float is supported)") }
        let d = onnxDims(x), r = d.count
        let mode = try a.string("mode", "nearest")
        let transform = try a.string("coordinate_transformation_mode", opset >= 11 ? "half_pixel" : "asymmetric")
        let nearestMode = try a.string("nearest_mode", "round_prefer_floor")
        let antialias = try a.int("antialias", 0) != 0, excludeOutside = try a.int("exclude_outside", 0) != 0
        let cubicA = Double(try a.float("cubic_coeff_a", -0.75)), extrapolation = try a.float("extrapolation_value", 0)
        guard !(antialias && mode == "nearest") else { throw fail("antialias with mode 'nearest'") }
        // The region of interest (tf_crop_and_resize): starts then ends, for `axes` or every axis.
        var roi = [Double](repeating: 0, count: r) + [Double](repeating: 1, count: r)
        if transform == "tf_crop_and_resize" {
            guard let given = constant(1)?.floats else { throw needed(1, "the roi") }
            let axes = try (a.ints("axes") ?? Array(0..<r)).map { try axis($0, rank: r) }
            guard given.count == 2 * axes.count else { throw fail("roi has \(given.count) values for \(axes.count) axes") }
            for (k, ax) in axes.enumerated() { roi[ax] = Double(given[k]); roi[r + ax] = Double(given[axes.count + k]) }
        }
        var v = try onnx(x)
        for axis in 0..<r {
            let inSize = c.dims(v)[axis]
            let untouched = abs(scales[axis] - 1) < 1e-9 && out[axis] == inSize && roi[axis] == 0 && roi[r + axis] == 1
            if untouched { continue }
            let (weights, bias) = try resizeCoefficients(
                inSize: inSize, outSize: out[axis], scale: scales[axis], roi: (roi[axis], roi[r + axis]), mode: mode,
                transform: transform, nearestMode: nearestMode, antialias: antialias, excludeOutside: excludeOutside,
                cubicA: cubicA, extrapolation: extrapolation)
            // The axis last, one fully-connected layer over it, the axis back.
            let perm = Array(0..<r).filter { $0 != axis } + [axis]
            let moved = axis == r - 1 ? v : try add(.transpose(perm: perm), [v], "axis\(axis)_last")
            let base = "\(try output())/axis\(axis)"
            let w = c.constant(.floats(weights, dims: [out[axis], inSize]), name: base + "/coefficients")
            let b = bias.map { c.constant(.floats($0, dims: [out[axis]]), name: base + "/extrapolation") }
            let resized = try add(.fullyConnected(.none), [moved, w, b], "axis\(axis)")
            if axis == r - 1 {
                v = resized
            } else {
                let inverse = (0..<r).map { perm.firstIndex(of: $0) ?? $0 }
                v = try add(.transpose(perm: inverse), [resized], "axis\(axis)_back")
            }
        }
        try define(v)
    }

    /// The [outSize, inSize] interpolation weights of one axis (row-major) and, for
    /// tf_crop_and_resize, the extrapolation value of the rows that sample outside the input.
    func resizeCoefficients(inSize: Int, outSize: Int, scale: Double, roi: (Double, Double), mode: String, transform: String,
                            nearestMode: String, antialias: Bool, excludeOutside: Bool, cubicA: Double,
                            extrapolation: Float) throws -> (weights: [Float], bias: [Float]?) {
        try LoadLimits.check("Resize '\(name)' coefficients", needs: inSize * outSize, limit: c.limits.maxTensorElements, unit: "elements")
        let w = Double(inSize), outputWidth = scale * w
        func coefficients(_ ratio: Double) throws -> [Double] {
            let s = min(scale, 1)
            switch mode {
            case "nearest":
                if ratio == ratio.rounded(.down) { return [0, 1] }
                switch nearestMode {
                case "round_prefer_floor": return [ratio <= 0.5 ? 1 : 0, ratio > 0.5 ? 1 : 0]
                case "round_prefer_ceil": return [ratio < 0.5 ? 1 : 0, ratio >= 0.5 ? 1 : 0]
                case "floor": return [1, 0]
                case "ceil": return [0, 1]
                default: throw unsupported("nearest_mode '\(nearestMode)'")
                }
            case "cubic":
                let A = cubicA
                guard antialias else {
                    let p = ratio + 1, q = 1 - ratio, q1 = q + 1
                    return [((A * p - 5 * A) * p + 8 * A) * p - 4 * A, ((A + 2) * ratio - (A + 3)) * ratio * ratio + 1,
                            ((A + 2) * q - (A + 3)) * q * q + 1, ((A * q1 - 5 * A) * q1 + 8 * A) * q1 - 4 * A]
                }
                func kernel(_ t: Double) -> Double {
                    let x = abs(t), x2 = x * x, x3 = x2 * x
                    if x <= 1 { return (A + 2) * x3 - (A + 3) * x2 + 1 }
                    if x < 2 { return A * x3 - 5 * A * x2 + 8 * A * x - 4 * A }
                    return 0
                }
                let start = Int((-2 / s).rounded(.down)) + 1, end = 2 - start
                let k = (start..<end).map { kernel(s * (Double($0) - ratio)) }
                let sum = k.reduce(0, +)
                return k.map { $0 / sum }
            default: // linear
                guard antialias else { return [1 - ratio, ratio] }
                let start = Int((-1 / s).rounded(.down)) + 1, footprint = 2 - 2 * start
                let k = (start..<(start + footprint)).map { min(max(1 - abs((Double($0) - ratio) * s), 0), 1) }
                let sum = k.reduce(0, +)
                return k.map { $0 / sum }
            }
        }
        var weights = [Float](repeating: 0, count: outSize * inSize)
        var bias: [Float]? = nil
        for y in 0..<outSize {
            let yd = Double(y)
            let source: Double
            switch transform {
            case "align_corners": source = outputWidth == 1 ? 0 : yd * (w - 1) / (outputWidth - 1)
            case "asymmetric": source = yd / scale
            case "tf_crop_and_resize":
                source = (outputWidth == 1 ? (roi.1 - roi.0) * (w - 1) / 2 : yd * (roi.1 - roi.0) * (w - 1) / (outputWidth - 1))
                    + roi.0 * (w - 1)
            case "pytorch_half_pixel": source = outputWidth == 1 ? -0.5 : (yd + 0.5) / scale - 0.5
            case "half_pixel": source = (yd + 0.5) / scale - 0.5
            case "half_pixel_symmetric":
                let adjustment = Double(outSize) / outputWidth, center = w / 2
                source = center * (1 - adjustment) + (yd + 0.5) / scale - 0.5
            default: throw unsupported("coordinate_transformation_mode '\(transform)'")
            }
            guard source.isFinite, abs(source) < 1e9 else { throw fail("a sampling coordinate \(source)") }
            if transform == "tf_crop_and_resize", source < 0 || source > w - 1 {
                if bias == nil { bias = [Float](repeating: 0, count: outSize) }
                bias?[y] = extrapolation
                continue
            }
            let floorSource = source.rounded(.down)
            let ratio = source == floorSource ? 1 : source - floorSource
            var k = try coefficients(ratio)
            let n = k.count, pad = (n + 1) / 2
            let padded = source + Double(pad), p = padded.rounded(.down), frac = padded - p
            let offset = n % 2 == 0 ? (frac == 0 ? -(n / 2) : -(n / 2) + 1) : (frac <= 0.5 ? -((n - 1) / 2) : -((n - 1) / 2) + 1)
            let first = Int(p) + offset - pad
            if excludeOutside {
                for j in 0..<n where first + j < 0 || first + j >= inSize { k[j] = 0 }
                let sum = k.reduce(0, +)
                if sum != 0 { k = k.map { $0 / sum } }
            }
            for j in 0..<n {
                let i = min(max(first + j, 0), inSize - 1)
                weights[y * inSize + i] += Float(k[j])
            }
        }
        return (weights, bias)
    }
}
