// EmberPack — the packer's library: calibration, post-training int8
// quantization and the quality measures (SQNR, top-1 agreement) that go into
// each rung's VARIANTS record. `ember pack --ladder` drives it.
import EmberCore
import EmberRuntime
#if canImport(Glibc)
import Glibc
#endif

/// One calibration or evaluation sample: the bytes of every graph input, in
/// `Graph.inputs` order, already checked against the graph's types.
public struct Sample: Sendable {
    public var inputs: [[UInt8]]
    /// Each input's dims, for a graph with bounded dims (nil: the graph's bounds).
    public var dims: [[Int]]?
    public init(inputs: [[UInt8]], dims: [[Int]]? = nil) { self.inputs = inputs; self.dims = dims }

    /// The sizes `samples` bind to `graph`'s bounded dims: every sample must have the same dims
    /// (runs over samples prepare one executor).
    public static func bindings(of samples: [Sample], for graph: Graph) throws -> [String: Int] {
        guard let first = samples.first?.dims else { return [:] }
        if let k = samples.firstIndex(where: { $0.dims != first }) {
            throw EmberError.invalidInput(name: "sample \(k)", reason: "has dims \((samples[k].dims ?? []).map(formatDims)), "
                                          + "sample 0 has \(first.map(formatDims)): samples must share one shape")
        }
        return try graph.bindings(forInputDims: first)
    }
}

/// How an activation's range is chosen from what calibration saw.
public enum CalibrationMethod: String, Sendable, CaseIterable {
    /// The observed minimum and maximum.
    case minmax
    /// The 0.01 % and 99.99 % points of the observed values (clips rare outliers).
    case percentile
    /// The range, shrunk from min/max, whose int8 quantization of the observed
    /// values has the least squared error (clipping error against rounding error).
    case mse
}

/// Observed float ranges of every non-constant f32 value of a graph, gathered by
/// running it (every value kept) over calibration samples.
public struct Calibration: Sendable {
    /// Per value id: (min, max), nil for values that are not float activations.
    public var ranges: [(min: Float, max: Float)?]
    public var sampleCount: Int
    /// Per value id: parameters a QDQ model states for it, which the quantizer takes as they are
    /// instead of deriving them from the range (empty after a calibration run).
    public var stated: [QuantParams?] = []

    /// The parameters stated for value `id`, if any.
    public func statedParams(_ id: ValueID) -> QuantParams? { id < stated.count ? stated[id] : nil }

    public init(ranges: [(min: Float, max: Float)?], sampleCount: Int) {
        self.ranges = ranges; self.sampleCount = sampleCount
    }

    /// Runs `graph` over `samples`. A NaN or infinity anywhere is an error naming
    /// the sample and the value (a model that produces them cannot be calibrated).
    public static func run(_ graph: Graph, samples: [Sample], method: CalibrationMethod = .minmax, limits: LoadLimits = LoadLimits(),
                           progress: ((Int, Int) -> Void)? = nil) throws -> Calibration {
        guard !samples.isEmpty else { throw EmberError.invalidArgument("calibration needs at least one sample") }
        let executor = try Executor(graph: graph, options: ExecutorOptions(bindings: try Sample.bindings(of: samples, for: graph),
                                                                           keepEveryValue: true, limits: limits, label: "calibration of '\(graph.name)'"))
        let floatValues = graph.values.indices.filter { graph.values[$0].constant == nil && executor.validated.types[$0].dtype == .f32 }
        var ranges = [(min: Float, max: Float)?](repeating: nil, count: graph.values.count)
        // Percentile keeps every observation of a value; fine for the small models and few samples calibration uses.
        var observed: [Int: [Float]] = [:]
        for (n, sample) in samples.enumerated() {
            try load(sample, into: executor, sampleIndex: n)
            executor.run()
            for id in floatValues {
                guard let buf = executor.valueBuffer(id) else { continue }
                let xs = buf.bindMemory(to: Float.self)
                var lo = Float.infinity, hi = -Float.infinity
                for x in xs {
                    guard x.isFinite else {
                        throw EmberError.invalidInput(name: graph.values[id].name, reason: "calibration sample \(n) produces \(x) here")
                    }
                    lo = min(lo, x); hi = max(hi, x)
                }
                if let r = ranges[id] { ranges[id] = (min(r.min, lo), max(r.max, hi)) } else { ranges[id] = (lo, hi) }
                if method != .minmax { observed[id, default: []].append(contentsOf: xs) }
            }
            progress?(n + 1, samples.count)
        }
        switch method {
        case .minmax: break
        case .percentile:
            for (id, var xs) in observed where xs.count >= 100 {
                xs.sort()
                let lo = xs[Int(Double(xs.count - 1) * 0.0001)], hi = xs[Int(Double(xs.count - 1) * 0.9999)]
                ranges[id] = (lo, hi)
            }
        case .mse:
            for (id, xs) in observed { if let r = ranges[id] { ranges[id] = mseOptimalRange(xs, min: r.min, max: r.max) } }
        }
        return Calibration(ranges: ranges, sampleCount: samples.count)
    }

    /// Tries ranges [α·min, α·max] for α from 1 down to 0.2 and keeps the one
    /// whose int8 quantize–dequantize error over `xs` is least. The error is
    /// summed over a 2,048-bin histogram of `xs`, so each candidate costs the
    /// same however many values were observed.
    static func mseOptimalRange(_ xs: [Float], min lo: Float, max hi: Float) -> (min: Float, max: Float) {
        let lo = Swift.min(lo, 0), hi = Swift.max(hi, 0)
        let bins = 2048
        let width = (hi - lo) / Float(bins)
        // A range so narrow that a bin has no width (e.g. all values ~1e-42) has nothing to clip.
        guard hi > lo, width > 0, width.isFinite, !xs.isEmpty else { return (lo, hi) }
        var counts = [Double](repeating: 0, count: bins)
        for x in xs {
            let position = ((x - lo) / width).rounded(.down)
            let bin = position.isNaN ? 0 : Int(Swift.min(Swift.max(position, 0), Float(bins - 1)))
            counts[bin] += 1
        }
        var best: (error: Double, range: (min: Float, max: Float)) = (.infinity, (lo, hi))
        for step in 0...40 {
            let alpha = 1 - Float(step) * 0.02
            let q = Quantizer.activationParams(min: lo * alpha, max: hi * alpha)
            var error = 0.0
            for b in 0..<bins where counts[b] > 0 {
                let x = lo + (Float(b) + 0.5) * width
                let level = Swift.max(-128, Swift.min(127, (x / q.scale).rounded() + Float(q.zeroPoint)))
                let d = Double(x - q.scale * (level - Float(q.zeroPoint)))
                error += counts[b] * d * d
            }
            if error < best.error { best = (error, (lo * alpha, hi * alpha)) }
        }
        return best.range
    }

    static func load(_ sample: Sample, into executor: Executor, sampleIndex: Int) throws {
        guard sample.inputs.count == executor.inputs.count else {
            throw EmberError.invalidInput(name: "sample \(sampleIndex)", reason: "has \(sample.inputs.count) inputs, the model \(executor.inputs.count)")
        }
        for (i, bytes) in sample.inputs.enumerated() {
            let dst = executor.inputBuffer(i)
            guard bytes.count == dst.count else {
                throw EmberError.invalidInput(name: executor.inputs[i].name, reason: "sample \(sampleIndex) has \(bytes.count) bytes, expected \(dst.count) (\(executor.inputs[i].info))")
            }
            bytes.withUnsafeBytes { dst.copyMemory(from: $0) }
        }
    }
}

/// Runs a graph on samples and returns every output as floats (int8 outputs dequantized).
public func floatOutputs(_ graph: Graph, samples: [Sample], limits: LoadLimits = LoadLimits()) throws -> [[[Float]]] {
    let executor = try Executor(graph: graph, options: ExecutorOptions(bindings: try Sample.bindings(of: samples, for: graph),
                                                                       limits: limits, label: "graph '\(graph.name)'"))
    var all: [[[Float]]] = []
    for (n, s) in samples.enumerated() {
        try Calibration.load(s, into: executor, sampleIndex: n)
        executor.run()
        all.append(executor.outputs.indices.map { i in
            let slot = executor.outputs[i]
            return dequantized(executor.outputBuffer(i), slot.info.dtype, slot.quant) ?? []
        })
    }
    return all
}

/// How close a rung's outputs are to the reference's, over samples.
public struct QualityReport: Sendable, Equatable {
    public var name: String
    /// Per output: 10·log10(Σ ref² / Σ (ref − x)²); +∞ when identical.
    public var sqnrDb: [Double]
    public var maxAbsError: [Double]
    public var meanAbsError: [Double]
    /// Share of samples whose arg-max of output 0 agrees, for classifiers
    /// (`isClassifier`); nil otherwise.
    public var top1Agreement: Double?

    /// The worst output's SQNR: the rung's quality figure.
    public var quality: Double { sqnrDb.min() ?? .nan }

    public static func compare(name: String, reference: [[[Float]]], candidate: [[[Float]]], classifier: Bool = false) -> QualityReport {
        let outputs = reference.first?.count ?? 0
        var sqnr: [Double] = [], maxAbs: [Double] = [], meanAbs: [Double] = []
        for k in 0..<outputs {
            var signal = 0.0, noise = 0.0, worst = 0.0, sum = 0.0, count = 0
            for (r, c) in zip(reference, candidate) where k < r.count && k < c.count {
                for (a, b) in zip(r[k], c[k]) {
                    let d = Double(a) - Double(b)
                    signal += Double(a) * Double(a); noise += d * d
                    worst = max(worst, abs(d)); sum += abs(d); count += 1
                }
            }
            sqnr.append(noise == 0 ? .infinity : 10 * log10(signal / noise))
            maxAbs.append(worst); meanAbs.append(count > 0 ? sum / Double(count) : 0)
        }
        var agreement: Double?
        if classifier, let first = reference.first?.first, first.count > 1 {
            var same = 0
            for (r, c) in zip(reference, candidate) where !r.isEmpty && !c.isEmpty {
                if argmax(r[0]) == argmax(c[0]) { same += 1 }
            }
            agreement = Double(same) / Double(max(reference.count, 1))
        }
        return QualityReport(name: name, sqnrDb: sqnr, maxAbsError: maxAbs, meanAbsError: meanAbs, top1Agreement: agreement)
    }
}

/// A classifier: output 0 comes out of a softmax (possibly through a reshape or dequantize).
public func isClassifier(_ g: Graph) -> Bool {
    guard var id = g.outputs.first else { return false }
    while let n = g.nodes.first(where: { $0.output == id }) {
        switch n.op {
        case .softmax: return true
        case .reshape, .dequantize: guard let next = n.inputs.first ?? nil else { return false }; id = next
        default: return false
        }
    }
    return false
}

func argmax(_ xs: [Float]) -> Int { xs.indices.max { xs[$0] < xs[$1] } ?? 0 }

/// SQNR (dB) of every node output of `candidate` against the node of the same
/// name in `reference`, over `samples` — where quantization loses signal.
/// Values are compared as floats (int8 dequantized); nodes missing from either
/// graph or with other element counts are skipped.
public func perLayerSQNR(reference: Graph, candidate: Graph, samples: [Sample], candidateSamples: [Sample]? = nil,
                         limits: LoadLimits = LoadLimits()) throws -> [(node: String, sqnrDb: Double)] {
    let a = try Executor(graph: reference, options: ExecutorOptions(bindings: try Sample.bindings(of: samples, for: reference),
                                                                    keepEveryValue: true, limits: limits, label: "graph '\(reference.name)'"))
    let b = try Executor(graph: candidate, options: ExecutorOptions(bindings: try Sample.bindings(of: candidateSamples ?? samples, for: candidate),
                                                                    keepEveryValue: true, limits: limits, label: "graph '\(candidate.name)'"))
    var byName: [String: ValueID] = [:]
    for n in candidate.nodes { byName[n.name] = n.output }
    var signal = [Double](repeating: 0, count: reference.nodes.count), noise = signal
    for (k, s) in samples.enumerated() {
        try Calibration.load(s, into: a, sampleIndex: k)
        try Calibration.load(candidateSamples?[k] ?? s, into: b, sampleIndex: k)
        a.run(); b.run()
        for (i, n) in reference.nodes.enumerated() {
            guard let other = byName[n.name],
                  let x = a.valueBuffer(n.output).flatMap({ dequantized($0, a.validated.types[n.output].dtype, reference.values[n.output].quant) }),
                  let y = b.valueBuffer(other).flatMap({ dequantized($0, b.validated.types[other].dtype, candidate.values[other].quant) }),
                  x.count == y.count else { continue }
            for (u, v) in zip(x, y) { signal[i] += Double(u) * Double(u); noise[i] += Double(u - v) * Double(u - v) }
        }
    }
    return reference.nodes.indices.compactMap { i in
        guard byName[reference.nodes[i].name] != nil else { return nil }
        return (reference.nodes[i].name, noise[i] == 0 ? .infinity : 10 * log10(signal[i] / noise[i]))
    }
}

/// A tensor's bytes as floats: f32 as they are, 8-bit dequantized with its
/// (per-tensor) parameters; nil for other types.
func dequantized(_ buf: UnsafeRawBufferPointer, _ dtype: DType, _ quant: QuantParams?) -> [Float]? {
    let q = quant ?? QuantParams(scale: 1, zeroPoint: 0)
    switch dtype {
    case .f32: return Array(buf.bindMemory(to: Float.self))
    case .i8: return buf.bindMemory(to: Int8.self).map { q.scale * Float(Int32($0) - q.zeroPoint) }
    case .u8: return buf.map { q.scale * Float(Int32($0) - q.zeroPoint) }
    default: return nil
    }
}
