// Sessions of the C API: one prepared variant, or a whole ladder under an envelope.
import CEmberAPI
import Ember
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

final class SessionHandle {
    let package: PackageHandle
    let serving: ServingSession
    let account: MemoryAccount
    let inputNames: [UnsafeMutablePointer<CChar>]
    let outputNames: [UnsafeMutablePointer<CChar>]
    /// Under an envelope, the caller's view of the inputs and outputs: the rung is chosen per run,
    /// so these are copied into and out of it. Sized for the bounds of any dynamic dims.
    let stagedInputs: [UnsafeMutableRawBufferPointer]
    let stagedOutputs: [UnsafeMutableRawBufferPointer]
    static let reasonCapacity = 512
    let reason = UnsafeMutablePointer<CChar>.allocate(capacity: SessionHandle.reasonCapacity)
    var decision: ember_decision
    var runs: UInt64 = 0
    var shed: UInt64 = 0
    var switches: UInt64 = 0
    var lastLatencyMs = Double.nan
    private let clock = MonotonicClock()

    /// The session whose slots describe the inputs and outputs (every rung has the same ones).
    var reference: Session { serving.slots }

    init(package: PackageHandle, options o: ember_session_options) throws {
        self.package = package
        let variant = try string(o.variant, "variant")
        let envelopePath = try string(o.envelope_path, "envelope_path")
        let profilePath = try string(o.device_profile_path, "device_profile_path")
        let threads = o.threads == 0 ? 1 : Int(o.threads)
        guard (1...64).contains(threads) else { throw EmberError.invalidArgument("threads must be 0…64, got \(o.threads)") }
        if variant != nil && envelopePath != nil {
            throw EmberError.invalidArgument("variant and envelope_path exclude each other: the envelope picks the variant")
        }
        if profilePath != nil && envelopePath == nil { throw EmberError.invalidArgument("device_profile_path needs envelope_path") }
        var executorOptions = ExecutorOptions()
        executorOptions.threads = threads
        if o.memory_limit_bytes > 0 {
            guard o.memory_limit_bytes <= UInt64(Int.max) else {
                throw EmberError.invalidArgument("memory_limit_bytes \(o.memory_limit_bytes) is too large")
            }
            var limits = package.package.limits
            limits.maxMemoryBytes = Int(o.memory_limit_bytes)
            executorOptions.limits = limits
            executorOptions.account = MemoryAccount(limit: limits.maxMemoryBytes)
        } else {
            executorOptions.limits = package.package.limits
            executorOptions.account = package.package.account
        }
        account = executorOptions.account ?? package.package.account
        reason.initialize(to: 0)
        let fixed = "fixed variant"
        if let envelopePath {
            let envelope = try Envelope.load(path: envelopePath)
            let profile = try profilePath.map { try DeviceProfile.load(path: $0) }
            let ladder = try LadderSession(package: package.package, envelope: envelope, profile: profile,
                                           maxThreads: threads, executorOptions: executorOptions)
            serving = .ladder(ladder)
            decision = ember_decision(variant_index: -1, variant: nil, threads: 0, predicted_latency_ms: .nan,
                                      predicted_energy_mj: .nan, allowed_mw: ladder.scheduler.allowedMilliwatts,
                                      throttled: 0, reason: UnsafePointer(reason))
        } else {
            let index = try package.package.variantIndex(variant)
            serving = .variant(try Session(package: package.package, variant: package.package.variants[index].name,
                                           threads: threads, options: executorOptions))
            decision = ember_decision(variant_index: Int32(index), variant: UnsafePointer(package.variantNames[index]),
                                      threads: Int32(threads), predicted_latency_ms: .nan, predicted_energy_mj: .nan,
                                      allowed_mw: 0, throttled: 0, reason: UnsafePointer(reason))
            Self.copy(fixed, into: reason)
        }
        let slots = serving.slots
        inputNames = slots.inputs.map { duplicate($0.name) }
        outputNames = slots.outputs.map { duplicate($0.name) }
        if serving.ladder != nil {
            stagedInputs = slots.inputs.map { Self.zeroedBuffer(Self.boundBytes($0)) }
            stagedOutputs = slots.outputs.map { Self.zeroedBuffer(Self.boundBytes($0)) }
        } else {
            stagedInputs = []
            stagedOutputs = []
        }
    }

    deinit {
        for p in inputNames + outputNames { p.deallocate() }
        for b in stagedInputs + stagedOutputs { b.deallocate() }
        reason.deallocate()
    }

    static func boundBytes(_ slot: TensorSlot) -> Int {
        max(slot.byteCount, slot.info.dtype.byteCount(dims: slot.declared.upperBoundDims) ?? 0)
    }

    static func zeroedBuffer(_ count: Int) -> UnsafeMutableRawBufferPointer {
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 64)
        b.initializeMemory(as: UInt8.self, repeating: 0)
        return UnsafeMutableRawBufferPointer(rebasing: b[0..<count])
    }

    /// Copies `s` as a NUL-terminated C string into the reason buffer (truncated at a UTF-8 boundary,
    /// as the last-error message is).
    static func copy(_ s: String, into buffer: UnsafeMutablePointer<CChar>) {
        var text = s
        text.withUTF8 { ember_api_copy_text(buffer, reasonCapacity, UnsafeRawPointer($0.baseAddress)?.assumingMemoryBound(to: CChar.self), $0.count) }
    }

    func inputBuffer(_ i: Int) -> UnsafeMutableRawBufferPointer {
        if case .variant(let single) = serving { return single.inputBuffer(i) }
        return UnsafeMutableRawBufferPointer(rebasing: stagedInputs[i][0..<reference.inputs[i].byteCount])
    }

    func outputBuffer(_ i: Int) -> UnsafeRawBufferPointer {
        if case .variant(let single) = serving { return single.outputBuffer(i) }
        return UnsafeRawBufferPointer(rebasing: stagedOutputs[i][0..<reference.outputs[i].byteCount])
    }

    func run(_ priority: Priority) throws {
        let ladder: LadderSession
        switch serving {
        case .variant(let single):
            let start = clock.nanoseconds
            single.run()
            lastLatencyMs = Double(clock.nanoseconds &- start) / 1e6
            runs += 1
            return
        case .ladder(let l):
            ladder = l
        }
        let d: Decision
        do {
            d = try ladder.run(priority: priority) { session in
                for i in 0..<stagedInputs.count {
                    let destination = session.inputBuffer(i)
                    destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: stagedInputs[i][0..<destination.count]))
                }
            }
        } catch let error as EmberError {
            if case .overBudget = error { shed += 1 }
            throw error
        }
        let session = ladder.sessions[d.rung]
        for i in 0..<stagedOutputs.count {
            let source = session.outputBuffer(i)
            UnsafeMutableRawBufferPointer(rebasing: stagedOutputs[i][0..<source.count]).copyMemory(from: source)
        }
        if decision.variant_index >= 0 && Int(decision.variant_index) != d.rung { switches += 1 }
        decision.variant_index = Int32(d.rung)
        decision.variant = UnsafePointer(package.variantNames[d.rung])
        decision.threads = Int32(d.threads)
        decision.predicted_latency_ms = d.predictedLatencyMs
        decision.predicted_energy_mj = d.predictedEnergyMillijoules
        decision.allowed_mw = d.allowedMilliwatts
        decision.throttled = d.throttled ? 1 : 0
        Self.copy(d.reason, into: reason)
        lastLatencyMs = ladder.lastLatencyMs ?? .nan
        runs += 1
    }

    func reshape(_ inputDims: [[Int]]) throws {
        for s in serving.sessions { try s.reshape(inputDims: inputDims) }
    }

    var telemetry: ember_telemetry {
        let ladder = serving.ladder
        let scheduler = ladder?.scheduler
        return ember_telemetry(
            runs: runs, shed: shed, variant_switches: switches, current_variant: decision.variant_index,
            throttled: (scheduler?.throttled ?? false) ? 1 : 0, last_latency_ms: lastLatencyMs,
            temperature_c: ladder?.lastCelsius ?? .nan, allowed_mw: scheduler?.allowedMilliwatts ?? .nan,
            energy_left_mj: scheduler?.energyLeftMillijoules ?? .nan,
            arena_bytes: UInt64(serving.arenaBytes), mapped_bytes: UInt64(package.package.fileBytes),
            memory_used_bytes: UInt64(max(0, account.used)))
    }
}

func schedulingPriority(_ p: ember_priority) throws -> Priority {
    switch p {
    case EMBER_PRIORITY_CRITICAL: return .critical
    case EMBER_PRIORITY_NORMAL: return .normal
    case EMBER_PRIORITY_BEST_EFFORT: return .bestEffort
    default: throw EmberError.invalidArgument("priority must be 0 (critical), 1 (normal) or 2 (best effort), got \(p.rawValue)")
    }
}

func slotIndex(_ index: Int, _ count: Int, _ what: String) throws -> Int {
    guard index >= 0, index < count else {
        throw EmberError.invalidArgument("\(what) index \(index) is out of range: the model has \(count) \(what)s")
    }
    return index
}

func tensorInfo(_ slot: TensorSlot, name: UnsafeMutablePointer<CChar>) -> ember_tensor_info {
    var info = ember_tensor_info()
    info.name = UnsafePointer(name)
    info.dtype = Int32(slot.info.dtype.rawValue)
    info.rank = Int32(slot.info.dims.count)
    let bounds = slot.declared.upperBoundDims
    func store<Dims>(_ values: [Int], in tuple: inout Dims) {
        withUnsafeMutableBytes(of: &tuple) { raw in
            let dims = raw.bindMemory(to: Int64.self)
            for (i, d) in values.prefix(dims.count).enumerated() { dims[i] = Int64(d) }
        }
    }
    store(slot.info.dims, in: &info.dims)
    store(bounds.count == slot.info.dims.count ? bounds : slot.info.dims, in: &info.max_dims)
    info.byte_count = slot.byteCount
    return info
}

@_cdecl("ember_session_create")
public func emberSessionCreate(_ package: OpaquePointer?, _ options: UnsafePointer<ember_session_options>?,
                               _ out: UnsafeMutablePointer<OpaquePointer?>?) -> ember_status {
    guarded {
        let out = try required(out, "out")
        out.pointee = nil
        let handle = try handles.object(package, as: PackageHandle.self, "package")
        var o = ember_session_options()
        o.struct_size = UInt32(MemoryLayout<ember_session_options>.size)
        if let options {
            try checkedStructSize(options.pointee.struct_size, MemoryLayout<ember_session_options>.size, "ember_session_options")
            o = options.pointee
        }
        out.pointee = handles.register(try SessionHandle(package: handle, options: o))
    }
}

@_cdecl("ember_session_destroy")
public func emberSessionDestroy(_ session: OpaquePointer?) -> ember_status {
    guarded {
        guard let session else { return }
        try handles.release(session, as: SessionHandle.self, "session")
    }
}

@_cdecl("ember_session_input_count")
public func emberSessionInputCount(_ session: OpaquePointer?, _ count: UnsafeMutablePointer<Int>?) -> ember_status {
    slotCount(session, count, inputs: true)
}

@_cdecl("ember_session_output_count")
public func emberSessionOutputCount(_ session: OpaquePointer?, _ count: UnsafeMutablePointer<Int>?) -> ember_status {
    slotCount(session, count, inputs: false)
}

@_cdecl("ember_session_input_info")
public func emberSessionInputInfo(_ session: OpaquePointer?, _ index: Int, _ info: UnsafeMutablePointer<ember_tensor_info>?) -> ember_status {
    slotInfo(session, index, info, inputs: true)
}

@_cdecl("ember_session_output_info")
public func emberSessionOutputInfo(_ session: OpaquePointer?, _ index: Int, _ info: UnsafeMutablePointer<ember_tensor_info>?) -> ember_status {
    slotInfo(session, index, info, inputs: false)
}

func slotCount(_ session: OpaquePointer?, _ count: UnsafeMutablePointer<Int>?, inputs: Bool) -> ember_status {
    guarded {
        let count = try required(count, "count")
        let s = try handles.object(session, as: SessionHandle.self, "session")
        count.pointee = inputs ? s.reference.inputs.count : s.reference.outputs.count
    }
}

func slotInfo(_ session: OpaquePointer?, _ index: Int, _ info: UnsafeMutablePointer<ember_tensor_info>?, inputs: Bool) -> ember_status {
    guarded {
        let info = try required(info, "info")
        let s = try handles.object(session, as: SessionHandle.self, "session")
        let (slots, names) = inputs ? (s.reference.inputs, s.inputNames) : (s.reference.outputs, s.outputNames)
        let i = try slotIndex(index, slots.count, inputs ? "input" : "output")
        info.pointee = tensorInfo(slots[i], name: names[i])
    }
}

@_cdecl("ember_session_input_buffer")
public func emberSessionInputBuffer(_ session: OpaquePointer?, _ index: Int, _ data: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                                    _ bytes: UnsafeMutablePointer<Int>?) -> ember_status {
    guarded {
        let data = try required(data, "data"), bytes = try required(bytes, "bytes")
        let s = try handles.object(session, as: SessionHandle.self, "session")
        let buffer = s.inputBuffer(try slotIndex(index, s.reference.inputs.count, "input"))
        data.pointee = buffer.baseAddress
        bytes.pointee = buffer.count
    }
}

@_cdecl("ember_session_output_buffer")
public func emberSessionOutputBuffer(_ session: OpaquePointer?, _ index: Int, _ data: UnsafeMutablePointer<UnsafeRawPointer?>?,
                                     _ bytes: UnsafeMutablePointer<Int>?) -> ember_status {
    guarded {
        let data = try required(data, "data"), bytes = try required(bytes, "bytes")
        let s = try handles.object(session, as: SessionHandle.self, "session")
        let buffer = s.outputBuffer(try slotIndex(index, s.reference.outputs.count, "output"))
        data.pointee = buffer.baseAddress
        bytes.pointee = buffer.count
    }
}

@_cdecl("ember_session_run")
public func emberSessionRun(_ session: OpaquePointer?, _ priority: ember_priority) -> ember_status {
    guarded {
        let s = try handles.object(session, as: SessionHandle.self, "session")
        try s.run(try schedulingPriority(priority))
    }
}

@_cdecl("ember_session_run_with")
public func emberSessionRunWith(_ session: OpaquePointer?, _ priority: ember_priority,
                                _ inputs: UnsafePointer<UnsafeRawPointer?>?, _ inputBytes: UnsafePointer<Int>?, _ inputCount: Int,
                                _ outputs: UnsafePointer<UnsafeMutableRawPointer?>?, _ outputBytes: UnsafePointer<Int>?,
                                _ outputCount: Int) -> ember_status {
    guarded {
        let s = try handles.object(session, as: SessionHandle.self, "session")
        let p = try schedulingPriority(priority)
        let slots = s.reference
        guard inputCount == slots.inputs.count else {
            throw EmberError.invalidArgument("input_count is \(inputCount), the model has \(slots.inputs.count) inputs")
        }
        guard outputCount == slots.outputs.count else {
            throw EmberError.invalidArgument("output_count is \(outputCount), the model has \(slots.outputs.count) outputs")
        }
        if inputCount > 0 {
            guard let inputs, let inputBytes else { throw EmberError.invalidArgument("inputs or input_bytes is NULL") }
            for i in 0..<inputCount {
                let slot = slots.inputs[i]
                guard let source = inputs[i] else { throw EmberError.invalidInput(name: slot.name, reason: "inputs[\(i)] is NULL") }
                guard inputBytes[i] == slot.byteCount else {
                    throw EmberError.invalidInput(name: slot.name, reason: "expected \(slot.byteCount) bytes (\(slot.info)), got \(inputBytes[i])")
                }
                s.inputBuffer(i).copyMemory(from: UnsafeRawBufferPointer(start: source, count: slot.byteCount))
            }
        }
        if outputCount > 0 {
            guard let outputs, let outputBytes else { throw EmberError.invalidArgument("outputs or output_bytes is NULL") }
            for i in 0..<outputCount {
                let slot = slots.outputs[i]
                guard outputs[i] != nil else { throw EmberError.invalidArgument("outputs[\(i)] ('\(slot.name)') is NULL") }
                guard outputBytes[i] >= slot.byteCount else {
                    throw EmberError.invalidArgument("output '\(slot.name)' needs \(slot.byteCount) bytes (\(slot.info)), output_bytes[\(i)] is \(outputBytes[i])")
                }
            }
        }
        try s.run(p)
        for i in 0..<outputCount {
            guard let outputs, let destination = outputs[i] else { continue }
            let source = s.outputBuffer(i)
            UnsafeMutableRawBufferPointer(start: destination, count: source.count).copyMemory(from: source)
        }
    }
}

@_cdecl("ember_session_reshape")
public func emberSessionReshape(_ session: OpaquePointer?, _ dims: UnsafePointer<Int64>?, _ ranks: UnsafePointer<Int>?,
                                _ inputCount: Int) -> ember_status {
    guarded {
        let s = try handles.object(session, as: SessionHandle.self, "session")
        let inputs = s.reference.inputs
        guard inputCount == inputs.count else {
            throw EmberError.invalidArgument("input_count is \(inputCount), the model has \(inputs.count) inputs")
        }
        guard let ranks else { throw EmberError.invalidArgument("ranks is NULL") }
        var shapes: [[Int]] = []
        var offset = 0
        for i in 0..<inputCount {
            guard ranks[i] == inputs[i].info.dims.count else {
                throw EmberError.invalidInput(name: inputs[i].name, reason: "rank \(ranks[i]) given, the model's is \(inputs[i].info.dims.count)")
            }
            var shape: [Int] = []
            if ranks[i] > 0 {
                guard let dims else { throw EmberError.invalidArgument("dims is NULL") }
                for k in 0..<ranks[i] {
                    let d = dims[offset + k]
                    guard d >= 0, d <= Int64(Int32.max) else {
                        throw EmberError.invalidInput(name: inputs[i].name, reason: "dim \(k) is \(d)")
                    }
                    shape.append(Int(d))
                }
            }
            offset += ranks[i]
            shapes.append(shape)
        }
        try s.reshape(shapes)
    }
}

@_cdecl("ember_session_last_decision")
public func emberSessionLastDecision(_ session: OpaquePointer?, _ decision: UnsafeMutablePointer<ember_decision>?) -> ember_status {
    guarded {
        let decision = try required(decision, "decision")
        decision.pointee = try handles.object(session, as: SessionHandle.self, "session").decision
    }
}

@_cdecl("ember_session_telemetry")
public func emberSessionTelemetry(_ session: OpaquePointer?, _ telemetry: UnsafeMutablePointer<ember_telemetry>?) -> ember_status {
    guarded {
        let telemetry = try required(telemetry, "telemetry")
        telemetry.pointee = try handles.object(session, as: SessionHandle.self, "session").telemetry
    }
}
