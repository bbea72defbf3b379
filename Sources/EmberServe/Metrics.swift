// /metrics in the Prometheus text format (version 0.0.4).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Ember

final class Metrics: @unchecked Sendable {
    /// From 10 µs (a small model's inference, the server's own share) to 2.5 s.
    static let buckets: [Double] = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05, 0.1, 0.25, 0.5, 1, 2.5]

    struct Series {
        var counts = [Int](repeating: 0, count: Metrics.buckets.count)
        var total = 0
        var sum = 0.0

        mutating func add(_ seconds: Double) {
            for (i, b) in Metrics.buckets.enumerated() where seconds <= b { counts[i] += 1 }
            total += 1
            sum += seconds
        }
    }

    /// What a request is counted under; label text is made only when /metrics is read.
    struct RequestKey: Hashable, Comparable {
        var model: String
        var variant: String
        var code: Int
        static func < (a: RequestKey, b: RequestKey) -> Bool { (a.model, a.variant, a.code) < (b.model, b.variant, b.code) }
    }

    struct LatencyKey: Hashable, Comparable {
        var model: String
        var variant: String
        static func < (a: LatencyKey, b: LatencyKey) -> Bool { (a.model, a.variant) < (b.model, b.variant) }
    }

    private var requests: [RequestKey: Int] = [:]
    private var latency: [LatencyKey: Series] = [:]
    private var inference: [LatencyKey: Series] = [:]
    private var overhead: [LatencyKey: Series] = [:]
    private var shed: [String: Int] = [:]             // model → 503s
    private let lock = Lock()
    private let telemetry = Telemetry()

    static func labels(_ pairs: [(String, String)]) -> String {
        "{" + pairs.map { k, v in
            k + "=\"" + v.replacingAll("\\", "\\\\").replacingAll("\"", "\\\"").replacingAll("\n", "\\n") + "\""
        }.joined(separator: ",") + "}"
    }

    /// One inference request: its status, its time in the handler and, when it ran, the time of
    /// the inference alone (the difference is the server's own overhead).
    func record(model: String, variant: String, status: Int, seconds: Double, inferenceSeconds: Double? = nil) {
        lock.withLock {
            requests[RequestKey(model: model, variant: variant, code: status), default: 0] += 1
            if status == 503 { shed[model, default: 0] += 1 }
            guard status == 200 else { return }
            let key = LatencyKey(model: model, variant: variant)
            latency[key, default: Series()].add(seconds)
            if let inferenceSeconds {
                inference[key, default: Series()].add(inferenceSeconds)
                overhead[key, default: Series()].add(max(0, seconds - inferenceSeconds))
            }
        }
    }

    func render(models: [ServedModel], queueDepth: Int, refused: Int) -> String {
        lock.withLock { renderLocked(models: models, queueDepth: queueDepth, refused: refused) }
    }

    private func renderLocked(models: [ServedModel], queueDepth: Int, refused: Int) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) { out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n" }
        family("ember_requests_total", "counter", "Inference requests by model, variant served and HTTP status.")
        for (k, v) in requests.sorted(by: { $0.key < $1.key }) {
            let labels = Self.labels([("model", k.model), ("variant", k.variant), ("code", String(k.code))])
            out += "ember_requests_total\(labels) \(v)\n"
        }
        func histograms(_ name: String, _ help: String, _ series: [LatencyKey: Series]) {
            family(name, "histogram", help)
            for (key, s) in series.sorted(by: { $0.key < $1.key }) {
                let k = Self.labels([("model", key.model), ("variant", key.variant)])
                let inner = k.dropFirst().dropLast()
                for (i, b) in Self.buckets.enumerated() { out += "\(name)_bucket{\(inner),le=\"\(b)\"} \(s.counts[i])\n" }
                out += "\(name)_bucket{\(inner),le=\"+Inf\"} \(s.total)\n"
                out += "\(name)_sum\(k) \(s.sum)\n\(name)_count\(k) \(s.total)\n"
            }
        }
        histograms("ember_request_duration_seconds", "Time from the request's head read to its response ready, served requests.", latency)
        histograms("ember_inference_duration_seconds",
                   "Time of the inference alone within served requests.", inference)
        histograms("ember_server_overhead_seconds",
                   "Per served request, its duration minus its inference: the server's own time.", overhead)
        family("ember_shed_requests_total", "counter", "Requests refused with 503 (over budget) by model.")
        for m in models {
            let k = Self.labels([("model", m.name)])
            out += "ember_shed_requests_total\(k) \(shed[m.name] ?? 0)\n"
        }
        family("ember_refused_connections_total", "counter", "Connections answered 503 because the queue was full.")
        out += "ember_refused_connections_total \(refused)\n"
        family("ember_queue_depth", "gauge", "Connections waiting for a worker.")
        out += "ember_queue_depth \(queueDepth)\n"
        family("ember_arena_bytes", "gauge", "Arena bytes of every prepared variant, by model.")
        for m in models { out += "ember_arena_bytes\(Self.labels([("model", m.name)])) \(m.serving.arenaBytes)\n" }
        family("ember_mapped_bytes", "gauge", "Bytes of the package file held in memory, by model.")
        for m in models { out += "ember_mapped_bytes\(Self.labels([("model", m.name)])) \(m.package.fileBytes)\n" }
        // One series per model under an envelope, read from its scheduler.
        func perLadder(_ name: String, _ type: String, _ help: String, _ value: (BudgetScheduler) -> String) {
            family(name, type, help)
            for m in models {
                if let l = m.serving.ladder { out += "\(name)\(Self.labels([("model", m.name)])) \(value(l.scheduler))\n" }
            }
        }
        perLadder("ember_current_rung", "gauge", "Index of the ladder rung the scheduler is on (0 = best), models under an envelope.") {
            String($0.current)
        }
        perLadder("ember_throttled", "gauge", "1 while the thermal controller holds the ladder down.") { $0.throttled ? "1" : "0" }
        perLadder("ember_throttle_events_total", "counter", "Times the temperature limit was reached.") { String($0.throttleEvents) }
        perLadder("ember_inference_power_milliwatts", "gauge", "Average inference power over the envelope's power window.") {
            "\($0.windowMilliwatts)"
        }
        perLadder("ember_energy_left_millijoules", "gauge", "Inference energy the power window still allows.") {
            "\($0.energyLeftMillijoules)"
        }
        perLadder("ember_inference_energy_millijoules_total", "counter", "Inference energy spent (measured with RAPL, else modelled).") {
            "\($0.energySpentMillijoules)"
        }
        perLadder("ember_allowed_power_milliwatts", "gauge", "Power the scheduler allows inference now.") { "\($0.allowedMilliwatts)" }
        family("ember_temperature_celsius", "gauge", "Hottest thermal zone (absent when none is readable).")
        if let t = telemetry.thermalZones().compactMap({ $0.celsius.value }).max() { out += "ember_temperature_celsius \(t)\n" }
        return out
    }
}

extension String {
    func replacingAll(_ target: String, _ replacement: String) -> String {
        guard !target.isEmpty, contains(target) else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound] + replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
