// The Open Inference Protocol v2 (KServe REST) over the models of a directory, and /metrics.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Ember

/// One package being served: a session on its best variant, or its whole ladder under the
/// envelope. One request at a time runs on it (a session is single-threaded).
public final class ServedModel: @unchecked Sendable {
    let name: String
    let path: String
    public let package: EmberPackage
    let serving: ServingSession
    /// One request at a time on the model.
    private let lock = Lock()

    public init(name: String, path: String, trustedKeys: TrustedKeys?, envelope: Envelope?, profile: DeviceProfile?, threads: Int) throws {
        self.name = name
        self.path = path
        package = try EmberPackage(path: path, trustedKeys: trustedKeys)
        if let envelope {
            serving = .ladder(try LadderSession(package: package, envelope: envelope, profile: profile, maxThreads: threads))
        } else {
            serving = .variant(try Session(package: package, threads: threads))
        }
    }

    /// The outputs, the scheduler's decision (under an envelope) and the seconds the inference
    /// itself took (after the model's lock was taken).
    func run(_ feeds: [String: Tensor], priority: Priority, deadlineMs: Double?) throws
        -> (outputs: [String: Tensor], decision: Decision?, seconds: Double) {
        try lock.withLock {
            let start = monotonicNanoseconds()
            let (outputs, decision) = try serving.run(feeds, priority: priority, deadlineMs: deadlineMs)
            return (outputs, decision, Double(monotonicNanoseconds() &- start) / 1e9)
        }
    }
}

/// KServe v2 datatype names.
enum Datatype {
    static func name(_ t: DType) -> String {
        switch t {
        case .f32: return "FP32"
        case .f16: return "FP16"
        case .i8: return "INT8"
        case .u8: return "UINT8"
        case .i32: return "INT32"
        case .i64: return "INT64"
        case .i16: return "INT16"
        case .u16: return "UINT16"
        case .u32: return "UINT32"
        case .u64: return "UINT64"
        case .bool: return "BOOL"
        default: return "\(t)"
        }
    }
}

/// The binary part of a request, consumed input by input.
struct BinaryCursor {
    let bytes: [UInt8]
    var position = 0
    var remaining: Int { bytes.count - position }

    mutating func take(_ n: Int) -> [UInt8]? {
        guard n >= 0, n <= remaining else { return nil }
        defer { position += n }
        return Array(bytes[position..<(position + n)])
    }
}

/// What served an inference request, for the metrics.
struct Served {
    var model: String
    var variant: String
    var inferenceSeconds: Double
}

struct RequestError: Error {
    var status: Int
    var message: String
    var headers: [(String, String)] = []
}

public final class Service: @unchecked Sendable {
    private var table: [String: ServedModel] = [:]
    private let tableLock = Lock()
    let metrics = Metrics()
    public weak var server: HTTPServer?

    public init(models: [ServedModel]) {
        for m in models { table[m.name] = m }
    }

    /// The models served now. A request keeps the model it started on: a reload swaps the
    /// table, and requests in flight finish on the model they hold.
    public var models: [String: ServedModel] { tableLock.withLock { table } }

    /// Serves `model` under its name from now on (replacing one of that name), or stops serving `name`.
    func replace(_ name: String, with model: ServedModel?) {
        tableLock.withLock { table[name] = model }
    }

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        // From the head's arrival: parsing the head, reading the body and the handler (the reply's send is not in).
        let start = request.receivedNs != 0 ? request.receivedNs : monotonicNanoseconds()
        // Inference requests are counted per model whatever their outcome.
        let parts = request.path.utf8.split(separator: UInt8(ascii: "/")).map { String(decoding: $0, as: UTF8.self) }
        let served = models
        var model: String? = parts.count == 4 && parts[3] == "infer" && served[parts[2]] != nil ? parts[2] : nil
        var variant = ""
        var inferenceSeconds: Double?
        let response: HTTPResponse
        do {
            let (r, by) = try route(request, parts, served)
            response = r
            if let by { model = by.model; variant = by.variant; inferenceSeconds = by.inferenceSeconds }
        } catch let e as RequestError {
            response = .error(e.status, e.message, headers: e.headers)
        } catch let e as EmberError {
            if case .overBudget(let retryAfterMs, _) = e {
                response = .error(503, e.description, headers: [("Retry-After", String(max(1, (retryAfterMs + 999) / 1000)))])
            } else {
                response = .error(400, e.description)
            }
        } catch {
            response = .error(500, "internal error: \(error)")
        }
        if let model {
            let seconds = Double(monotonicNanoseconds() &- start) / 1e9
            metrics.record(model: model, variant: variant, status: response.status, seconds: seconds,
                           inferenceSeconds: inferenceSeconds)
        }
        return response
    }

    /// The response, and for inference requests what served them.
    func route(_ r: HTTPRequest, _ parts: [String], _ models: [String: ServedModel]) throws -> (HTTPResponse, Served?) {
        func method(_ m: String) throws {
            guard r.method == m else { throw RequestError(status: 405, message: "\(r.path) takes \(m), not \(r.method)") }
        }
        switch parts {
        case ["v2", "health", "live"]:
            try method("GET")
            return (.json(200, .object([("live", .bool(true))])), nil)
        case ["v2", "health", "ready"]:
            try method("GET")
            return (.json(200, .object([("ready", .bool(!models.isEmpty))])), nil)
        case ["v2"]:
            try method("GET")
            return (.json(200, .object([("name", .string("emberd")), ("version", .string(emberVersion)),
                                        ("extensions", .array([]))])), nil)
        case ["metrics"]:
            try method("GET")
            let text = metrics.render(models: models.values.sorted { $0.name < $1.name }, queueDepth: server?.queue.depth ?? 0, refused: server?.refused ?? 0)
            return (HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", body: Array(text.utf8)), nil)
        case let p where p.count >= 3 && p[0] == "v2" && p[1] == "models":
            guard let model = models[p[2]] else {
                throw RequestError(status: 404, message: "no model named '\(p[2])'; serving \(models.keys.sorted().joined(separator: ", "))")
            }
            switch Array(p.dropFirst(3)) {
            case []:
                try method("GET")
                return (.json(200, metadata(model)), nil)
            case ["ready"]:
                try method("GET")
                return (.json(200, .object([("name", .string(model.name)), ("ready", .bool(true))])), nil)
            case ["infer"]:
                try method("POST")
                return try infer(model, r)
            default:
                throw RequestError(status: 404, message: "no such endpoint: \(r.path)")
            }
        default:
            throw RequestError(status: 404, message: "no such endpoint: \(r.path)")
        }
    }

    func metadata(_ m: ServedModel) -> JSON {
        func tensors(_ slots: [TensorSlot]) -> JSON {
            .array(slots.map { s in
                // A bounded dynamic dim is -1, as KServe writes variable dims.
                .object([("name", .string(s.name)), ("datatype", .string(Datatype.name(s.info.dtype))),
                         ("shape", .array(s.declared.dims.map { d in
                             if case .fixed(let n) = d { return .number(Double(n)) } else { return .number(-1) }
                         }))])
            })
        }
        let variants: [JSON] = m.package.variants.map { v in
            .object([("name", .string(v.name)), ("quality", v.quality.isFinite ? .number(Double(v.quality)) : .null),
                     ("quality_metric", .string(v.qualityMetric)), ("macs", .number(Double(v.macs))),
                     ("weight_bytes", .number(Double(v.weightBytes))), ("arena_bytes", .number(Double(v.arenaBytes)))])
        }
        return .object([("name", .string(m.name)), ("versions", .array([.string("1")])), ("platform", .string("ember")),
                        ("inputs", tensors(m.serving.slots.inputs)), ("outputs", tensors(m.serving.slots.outputs)),
                        ("parameters", .object([("variants", .array(variants)),
                                                ("scheduled", .bool(m.serving.ladder != nil))]))])
    }

    func infer(_ m: ServedModel, _ r: HTTPRequest) throws -> (HTTPResponse, Served) {
        // The binary tensor data extension: the JSON header, then the inputs' bytes in order.
        var headerBytes = r.body
        var binary = BinaryCursor(bytes: [])
        if let text = r.header("Inference-Header-Content-Length") {
            guard let n = Int(text), n >= 0, n <= r.body.count else {
                throw RequestError(status: 400, message: "Inference-Header-Content-Length \(text) is not within the \(r.body.count)-byte body")
            }
            headerBytes = Array(r.body[0..<n])
            binary = BinaryCursor(bytes: Array(r.body[n...]))
        }
        let body: JSON
        do { body = try JSON.parse(headerBytes) } catch let e as JSON.ParseError {
            throw RequestError(status: 400, message: e.description)
        }
        guard case .object = body, let inputs = body["inputs"]?.elements else {
            throw RequestError(status: 400, message: "the request must be an object with an \"inputs\" array")
        }
        var feeds: [String: Tensor] = [:]
        for input in inputs {
            guard let name = input["name"]?.string else { throw RequestError(status: 400, message: "an input has no \"name\"") }
            guard let slot = m.serving.slots.inputs.first(where: { $0.name == name }) else {
                throw RequestError(status: 400, message: "model '\(m.name)' has no input '\(name)'; its inputs are \(m.serving.slots.inputs.map(\.name).joined(separator: ", "))")
            }
            guard feeds[name] == nil else { throw RequestError(status: 400, message: "input '\(name)' is given twice") }
            feeds[name] = try tensor(input, slot: slot, binary: &binary)
        }
        guard binary.remaining == 0 else {
            throw RequestError(status: 400, message: "\(binary.remaining) bytes of binary data after the inputs that declare binary_data_size")
        }
        let priority = try requestPriority(r, body)
        let (outputs, decision, inferenceSeconds) = try m.run(feeds, priority: priority, deadlineMs: try requestDeadline(r, body))
        // Which outputs, and which of them as binary data (per output, or all by default).
        let allBinary = body["parameters"]?["binary_data_output"]?.bool ?? false
        var wanted = m.serving.slots.outputs.map { ($0.name, allBinary) }
        if let requested = body["outputs"]?.elements {
            let names = wanted.map(\.0)
            wanted = try requested.map { o in
                guard let n = o["name"]?.string, outputs[n] != nil else {
                    throw RequestError(status: 400, message: "requested output \(o["name"]?.text ?? "without a name") is not one of \(names.joined(separator: ", "))")
                }
                return (n, o["parameters"]?["binary_data"]?.bool ?? allBinary)
            }
        }
        let variant = decision?.rungName ?? m.serving.slots.variant.name
        var parameters: [(String, JSON)] = [("variant", .string(variant))]
        if let d = decision {
            parameters += [("reason", .string(d.reason)), ("threads", .number(Double(d.threads))),
                           ("predicted_latency_ms", .number(d.predictedLatencyMs)),
                           ("predicted_energy_mj", .number(d.predictedEnergyMillijoules)), ("throttled", .bool(d.throttled))]
        } else {
            parameters.append(("reason", .string("fixed variant (no envelope)")))
        }
        var members: [(String, JSON)] = [("model_name", .string(m.name)), ("model_version", .string("1"))]
        if let id = body["id"]?.string { members.append(("id", .string(id))) }
        var blobs: [UInt8] = []
        members.append(("outputs", .array(wanted.compactMap { n, asBinary in
            outputs[n].map { t in
                guard asBinary else { return outputJSON(n, t) }
                blobs += t.bytes
                return outputJSON(n, t, binaryBytes: t.bytes.count)
            }
        })))
        members.append(("parameters", .object(parameters)))
        var response = HTTPResponse.json(200, .object(members))
        if !blobs.isEmpty {
            response.headers.append(("Inference-Header-Content-Length", String(response.body.count)))
            response.contentType = "application/octet-stream"
            response.body += blobs
        }
        return (response, Served(model: m.name, variant: variant, inferenceSeconds: inferenceSeconds))
    }

    func requestPriority(_ r: HTTPRequest, _ body: JSON) throws -> Priority {
        let text = r.header("Ember-Priority") ?? body["parameters"]?["priority"]?.string ?? "normal"
        guard let p = Priority(rawValue: text) else {
            throw RequestError(status: 400, message: "priority must be critical, normal or best_effort, got '\(text)'")
        }
        return p
    }

    /// The request's own deadline in milliseconds (`Ember-Deadline-Ms` header or `parameters.deadline_ms`),
    /// which replaces the envelope's deadline for its priority; nil when it gives none.
    func requestDeadline(_ r: HTTPRequest, _ body: JSON) throws -> Double? {
        let given: Double?
        if let text = r.header("Ember-Deadline-Ms") {
            given = Double(text) ?? .nan
        } else if let p = body["parameters"]?["deadline_ms"] {
            given = p.number ?? .nan
        } else {
            return nil
        }
        guard let ms = given, ms >= 0.01, ms <= 3_600_000 else {
            throw RequestError(status: 400, message: "the deadline must be 0.01…3600000 ms (Ember-Deadline-Ms or parameters.deadline_ms)")
        }
        return ms
    }

    /// A request input as a tensor of the slot's type: datatype, shape and element count checked,
    /// every value in range for the type.
    func tensor(_ input: JSON, slot: TensorSlot, binary: inout BinaryCursor) throws -> Tensor {
        let name = slot.name
        let expected = Datatype.name(slot.info.dtype)
        guard let datatype = input["datatype"]?.string, datatype == expected else {
            throw RequestError(status: 400, message: "input '\(name)': datatype must be \(expected), got \(input["datatype"]?.text ?? "none")")
        }
        guard let shapeItems = input["shape"]?.elements else { throw RequestError(status: 400, message: "input '\(name)': no \"shape\"") }
        let dims = try shapeItems.map { d -> Int in
            guard let n = d.number, n >= 0, n <= Double(Int32.max), n == n.rounded() else {
                throw RequestError(status: 400, message: "input '\(name)': shape holds \(d.text), not a dim")
            }
            return Int(n)
        }
        let count = dims.reduce(1) { saturatingMultiply($0, $1) }
        if let size = input["parameters"]?["binary_data_size"] {
            let expectedBytes = slot.info.dtype.byteCount(dims: dims) ?? -1
            guard let n = size.number, n == Double(expectedBytes) else {
                throw RequestError(status: 400, message: "input '\(name)': binary_data_size \(size.text) is not the \(expectedBytes) bytes of \(expected)\(dims)")
            }
            guard let bytes = binary.take(expectedBytes) else {
                throw RequestError(status: 400, message: "input '\(name)': \(expectedBytes) bytes of binary data needed, \(binary.remaining) left")
            }
            return Tensor(dtype: slot.info.dtype, dims: dims, bytes: bytes)
        }
        var values: [Double] = []
        var bools: [Bool] = []
        func flatten(_ j: JSON, depth: Int) throws {
            switch j {
            case .numbers(let ns): values += ns
            case .number(let n): values.append(n)
            case .bool(let b): bools.append(b)
            case .array(let items): for i in items { try flatten(i, depth: depth + 1) }
            default: throw RequestError(status: 400, message: "input '\(name)': data holds \(j.text.prefix(40)), not a number")
            }
        }
        guard let data = input["data"] else {
            throw RequestError(status: 400, message: "input '\(name)': no \"data\" (the binary tensor extension is not served yet)")
        }
        try flatten(data, depth: 0)
        let given = slot.info.dtype == .bool ? bools.count + values.count : values.count
        guard given == count, bools.isEmpty || slot.info.dtype == .bool else {
            throw RequestError(status: 400, message: "input '\(name)': shape \(dims) holds \(count) elements, data has \(given)")
        }
        var bytes: [UInt8] = []
        // Elements converted in a typed array, then its bytes taken at once (tensors are little-endian, as is
        // every target).
        func elements<T>(_ convert: (Double) throws -> T) rethrows {
            let typed = try values.map(convert)
            bytes = typed.withUnsafeBytes { Array($0) }
        }
        func integers<T: FixedWidthInteger>(_ type: T.Type) throws {
            try elements { v -> T in
                // T(exactly:): Double(T.max) of a 64-bit type rounds up to 2^63 or 2^64, which T(v) would trap on.
                guard let x = T(exactly: v) else {
                    throw RequestError(status: 400, message: "input '\(name)': \(v) is not a \(expected)")
                }
                return x
            }
        }
        switch slot.info.dtype {
        case .f32: elements { Float($0) }
        case .f16: elements { Float16(Float($0)) }
        case .i8: try integers(Int8.self)
        case .u8: try integers(UInt8.self)
        case .i32: try integers(Int32.self)
        case .i64: try integers(Int64.self)
        case .i16: try integers(Int16.self)
        case .u16: try integers(UInt16.self)
        case .u32: try integers(UInt32.self)
        case .u64: try integers(UInt64.self)
        case .bool:
            bytes = bools.map { $0 ? 1 : 0 } + values.map { $0 != 0 ? 1 : 0 }
        default:
            throw RequestError(status: 400, message: "input '\(name)': \(slot.info.dtype) inputs are not served")
        }
        return Tensor(dtype: slot.info.dtype, dims: dims, bytes: bytes)
    }

    func outputJSON(_ name: String, _ t: Tensor, binaryBytes: Int) -> JSON {
        .object([("name", .string(name)), ("datatype", .string(Datatype.name(t.dtype))),
                 ("shape", .array(t.dims.map { .number(Double($0)) })),
                 ("parameters", .object([("binary_data_size", .number(Double(binaryBytes)))]))])
    }

    func outputJSON(_ name: String, _ t: Tensor) -> JSON {
        var text = "["
        var first = true
        func append(_ s: String) {
            if !first { text += "," }
            first = false
            text += s
        }
        t.bytes.withUnsafeBytes { raw in
            switch t.dtype {
            case .f32:
                for f in raw.bindMemory(to: Float.self) { append(f.isFinite ? "\(f)" : "null") }
            case .f16:
                for h in raw.bindMemory(to: UInt16.self) { let f = Float(Float16(bitPattern: h)); append(f.isFinite ? "\(f)" : "null") }
            case .i8: for v in raw.bindMemory(to: Int8.self) { append(String(v)) }
            case .u8: for v in raw.bindMemory(to: UInt8.self) { append(String(v)) }
            case .i32: for v in raw.bindMemory(to: Int32.self) { append(String(v)) }
            case .i64: for v in raw.bindMemory(to: Int64.self) { append(String(v)) }
            case .i16: for v in raw.bindMemory(to: Int16.self) { append(String(v)) }
            case .u16: for v in raw.bindMemory(to: UInt16.self) { append(String(v)) }
            case .u32: for v in raw.bindMemory(to: UInt32.self) { append(String(v)) }
            case .u64: for v in raw.bindMemory(to: UInt64.self) { append(String(v)) }
            case .bool: for v in raw { append(v != 0 ? "true" : "false") }
            default: break
            }
        }
        text += "]"
        return .object([("name", .string(name)), ("datatype", .string(Datatype.name(t.dtype))),
                        ("shape", .array(t.dims.map { .number(Double($0)) })), ("data", .raw(text))])
    }
}
