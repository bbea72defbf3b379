// EmberRuntime — runs a validated graph: plans every intermediate tensor into
// one arena ahead of time (MemoryPlanner.swift), prepares one kernel per node
// (EmberKernels), and then runs with zero heap allocations per inference.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CEmberSys
import EmberCore
import CEmberKernels
import EmberKernels
@_exported import enum EmberKernels.KernelISA
@_exported import enum EmberKernels.PackedLayouts

/// How to prepare an executor.
public struct ExecutorOptions: Sendable {
    /// Sizes for symbolic dims; unbound ones take their upper bound.
    public var bindings: [String: Int] = [:]
    /// Let elementwise ops write over their input and reshapes share their
    /// input's bytes when nothing else needs them (smaller arena).
    public var inPlace = true
    /// Keep the graph inputs' bytes for the whole run, so inputs written once serve every run (as
    /// LiteRT keeps them). false lets later values reuse an input's bytes once it is read (a smaller
    /// arena by the inputs' size, as TFLite Micro plans): then write every input before every run.
    public var preserveInputs = true
    /// Give every value its own bytes for the whole run, so `valueBuffer` can
    /// read any intermediate afterwards (calibration, per-layer error). Larger arena.
    public var keepEveryValue = false
    /// Structural caps and the memory cap (used when `account` is nil).
    public var limits = LoadLimits()
    /// Where the arena and prepared parameters are charged (a package's
    /// account, shared by its sessions); nil: a new one with `limits.maxMemoryBytes`.
    public var account: MemoryAccount?
    /// How errors name what is being prepared, e.g. "variant 'int8'".
    public var label: String?
    /// The kernel path (nil: `EMBER_ISA` if set, else the best this CPU has).
    public var isa: KernelISA?
    /// Threads one inference may use (1…`Executor.maxThreads`): the worker pool is created at
    /// prepare with threads − 1 workers; `run(threads:)` may use fewer.
    public var threads: Int = 1
    /// Fold int8 elementwise pairs such as x · sigmoid(x) into one table lookup of x (the same
    /// bytes; see LookupFolding). false runs every node as the graph has it.
    public var foldLookups = true
    /// Weights pre-packed for the kernel path (a package's PACK section): kernels use the blobs that match
    /// what they would pack, in place. Ignored when packed for another layout or layout revision.
    public var packedWeights: PackedWeights?
    /// Records every blob the kernels pack (the packer; `Executor.packWeights`).
    public var packRecorder: PackedWeightsRecorder?
    public init(bindings: [String: Int] = [:], inPlace: Bool = true, keepEveryValue: Bool = false,
                limits: LoadLimits = LoadLimits(), account: MemoryAccount? = nil, label: String? = nil, isa: KernelISA? = nil,
                threads: Int = 1) {
        self.bindings = bindings; self.inPlace = inPlace; self.keepEveryValue = keepEveryValue
        self.limits = limits; self.account = account; self.label = label; self.isa = isa; self.threads = threads
    }
}

/// A graph input or output as the executor lays it out.
public struct TensorSlot: Sendable {
    public let name: String
    /// The concrete type at the executor's bindings.
    public let info: TensorInfo
    public let quant: QuantParams?
    /// The graph's declared shape: symbolic dims (`N<=8`) where the model has bounded dims.
    public let declared: Shape
    public var byteCount: Int { info.byteCount }
}

/// A graph's kernels prepared for one kernel path at one set of sizes: packed weights and per-op
/// records. They depend on neither the arena nor the thread count and do not change after prepare,
/// so executors of the same graph share them (`Executor(sharing:options:)`): ten sessions of one
/// variant hold its prepared weights once.
public final class PreparedKernels: @unchecked Sendable {
    public let graph: Graph
    public let isa: KernelISA
    /// The concrete type of every value at the sizes these kernels were prepared for.
    public let types: [TensorInfo]
    let kernels: [PreparedKernel]
    let storage: PreparedStorage
    /// Depthwise nodes that compute their input from a pointwise layer's (PointwiseExpansion): node →
    /// the value bound as its input 0, the pointwise layer's input.
    let expandedInputs: [Int: ValueID]
    /// Values those pairs never store (the pointwise output and its activation's): no buffer.
    let unstored: Set<ValueID>
    /// Bytes of prepared parameters, held once however many executors share them.
    public var bytes: Int { storage.bytes }
    /// The pre-packed weights the kernels read in place (kept alive with them), and how many of their
    /// bytes they use.
    let packedWeights: PackedWeights?
    public let prepackedBytesUsed: Int

    init(graph: Graph, isa: KernelISA, types: [TensorInfo], kernels: [PreparedKernel], storage: PreparedStorage,
         expandedInputs: [Int: ValueID] = [:], unstored: Set<ValueID> = [], packedWeights: PackedWeights? = nil,
         prepackedBytesUsed: Int = 0) {
        self.graph = graph; self.isa = isa; self.types = types; self.kernels = kernels; self.storage = storage
        self.expandedInputs = expandedInputs; self.unstored = unstored
        self.packedWeights = prepackedBytesUsed > 0 ? packedWeights : nil
        self.prepackedBytesUsed = prepackedBytesUsed
    }
}

/// Prepared graph + arena. `prepare` (the initializer) does all the work that
/// allocates; `run` only calls kernels.
///
/// Usage without allocations: write inputs through `inputBuffer(_:)`, call
/// `run()`, read results through `outputBuffer(_:)`.
public final class Executor {
    public let graph: Graph
    public let validated: ValidatedGraph
    public let plan: MemoryPlan
    /// For each value, the index of its buffer in `plan` (nil for constants).
    public let bufferOfValue: [Int?]
    /// The C kernel family each node runs.
    public let implementations: [String]
    /// The kernel path this executor was prepared for.
    public let isa: KernelISA
    /// The threads an inference runs on (the caller and the pool's workers).
    public let threads: Int
    /// Nodes whose kernel runs split across the threads (0 with one thread).
    public let splitNodeCount: Int
    /// The most threads an executor accepts.
    public static let maxThreads = 64
    public let inputs: [TensorSlot]
    public let outputs: [TensorSlot]
    /// Bytes held for prepared parameters (multipliers, tables, converted weights), including those
    /// shared with other executors of the same kernels, plus this executor's own binding records.
    public var preparedBytes: Int { kernels.bytes + bindStorage.bytes }
    /// Bytes of pre-packed weights (the package's PACK section) the kernels read in place instead of
    /// packing them into prepared memory; not part of `preparedBytes`.
    public var prepackedBytes: Int { kernels.prepackedBytesUsed }
    /// The prepared kernels, for `Executor(sharing:options:)`.
    public let kernels: PreparedKernels
    /// Bytes this plan places in the arena (at most `arenaCapacity`).
    public var arenaBytes: Int { plan.arenaSize }
    /// Bytes of the arena itself: a rebound executor keeps the arena planned for the bounds.
    public var arenaCapacity: Int { arena.count }
    /// The sizes this executor was prepared for, one per symbolic dim of the graph (bound ones
    /// at their bound unless `options.bindings` said otherwise).
    public let bindings: [String: Int]
    /// True when some graph input has a symbolic dim, so `rebound(to:)` can change input shapes.
    public var hasSymbolicInputs: Bool { graph.inputs.contains { !graph.values[$0].shape.isStatic } }

    private let options: ExecutorOptions
    private let arena: Arena
    /// What this executor's bindings keep (input address tables, split geometries).
    private let bindStorage: PreparedStorage
    /// Closures wrapped in a struct: an array of bare closures stores them at the
    /// generic abstraction level, and calling one from it allocates a
    /// reabstraction thunk per call (seen in debug builds).
    fileprivate struct Step { let run: () -> Void }
    /// A split node's parts, run by the pool (one per thread).
    fileprivate final class Parts {
        let steps: [Step]
        init(_ steps: [Step]) { self.steps = steps }
    }
    private let steps: [Step]
    /// Per node: its parts when it runs split (retained here; the pool gets unretained pointers).
    private let parts: [Parts?]
    private let partContexts: [UnsafeMutableRawPointer?]
    private let partCounts: [Int]
    private let pool: WorkerPool?
    private let inputPointers: [UnsafeMutableRawPointer]
    private let outputPointers: [UnsafeRawPointer]
    private let valuePointers: [UnsafeRawPointer]

    /// Validates and prepares `graph`; errors name `options.label` (the variant) and the node.
    public convenience init(graph: Graph, options: ExecutorOptions = ExecutorOptions()) throws {
        do {
            try self.init(checked: graph, options: options)
        } catch let EmberError.invalidGraph(node, reason) where options.label != nil {
            throw EmberError.invalidGraph(node: "\(options.label ?? ""), \(node)", reason: reason)
        } catch let EmberError.unsupported(node, reason) where options.label != nil {
            throw EmberError.unsupported(node: "\(options.label ?? ""), \(node)", reason: reason)
        }
    }

    /// An executor of `kernels`' graph with its own arena, bound to the kernels another executor
    /// prepared (their weights are held once). `options` must give the same sizes and kernel path.
    public convenience init(sharing kernels: PreparedKernels, options: ExecutorOptions) throws {
        do {
            try self.init(checked: kernels.graph, options: options, sharing: kernels)
        } catch let EmberError.invalidGraph(node, reason) where options.label != nil {
            throw EmberError.invalidGraph(node: "\(options.label ?? ""), \(node)", reason: reason)
        }
    }

    /// `reusing` lends an executor of the same graph whose arena (when large enough) and worker
    /// pool the new one shares; `sharing`, kernels prepared for this graph to bind instead of
    /// preparing them again.
    private init(checked graph: Graph, options: ExecutorOptions, reusing previous: Executor? = nil,
                 sharing: PreparedKernels? = nil) throws {
        self.graph = graph
        self.options = options
        let v = try graph.validate(bindings: options.bindings, limits: options.limits)
        validated = v
        var bound: [String: Int] = [:]
        for value in graph.values {
            for case let .symbolic(name, upper) in value.shape.dims { bound[name] = options.bindings[name] ?? upper }
        }
        bindings = bound
        if let c = graph.values.first(where: { $0.constant?.isDeferred == true }) {
            throw EmberError.invalidArgument("constant '\(c.name)' is still compressed in its package; load the variant's graph first (EmberPackage.graph)")
        }
        let types = v.types
        let nodeCount = graph.nodes.count
        let account = options.account ?? MemoryAccount(limit: options.limits.maxMemoryBytes)
        let subject = options.label ?? "graph '\(graph.name)'"
        bindStorage = PreparedStorage(account: account, subject: subject)
        // A packer lays weights out for a path it need not run on (Executor.packWeights).
        let isa = try options.packRecorder != nil ? options.isa ?? KernelISA.resolve(nil) : KernelISA.resolve(options.isa)
        self.isa = isa
        guard (1...Self.maxThreads).contains(options.threads) else {
            throw EmberError.invalidArgument("threads must be 1…\(Self.maxThreads), not \(options.threads)")
        }
        threads = options.threads

        // 1. Kernels first: they say how much scratch they need.
        if let sharing {
            guard sharing.isa == isa, sharing.types == types, sharing.kernels.count == graph.nodes.count else {
                throw EmberError.invalidArgument("prepared kernels of graph '\(sharing.graph.name)' (\(sharing.isa)) cannot be "
                                                 + "shared at these sizes or on the \(isa) path; prepare the executor anew")
            }
            kernels = sharing
        } else {
            let storage = PreparedStorage(account: account, subject: subject)
            var prepared: [PreparedKernel] = []
            // int8 pairs such as x · sigmoid(x) become one lookup of x (LookupFolding).
            var folds: [Int: LookupFolding.Fold] = [:], foldedAway = Set<Int>()
            for fold in options.foldLookups ? LookupFolding.plan(graph, types: types, keepProducers: options.keepEveryValue) : [] {
                folds[fold.consumer] = fold
                foldedAway.formUnion(fold.folded)
            }
            // f32 activations their conv or FC can apply as it stores (ActivationFusion): not when every
            // value is kept, since the producer's own output would then hold the activated values.
            let fusions = options.foldLookups && !options.keepEveryValue
                ? ActivationFusion.plan(graph, types: types, isa: isa) : []
            // (LookupFolding's nodes are int8, these f32: the two never meet.)
            var offered: [Int: ActivationFusion.Fusion] = [:], appliedByProducer = Set<Int>()
            for f in fusions { offered[f.producer] = f }
            // Pointwise → depthwise pairs the depthwise kernel runs as one (PointwiseExpansion): only where
            // values may be views (an activation between them is a view of a value never stored).
            var expansions: [Int: PointwiseExpansion.Pair] = [:], expandedInputs: [Int: ValueID] = [:]
            var unstored = Set<ValueID>(), pointwiseGEMMs: [Int: UnsafePointer<ember_f32_gemm>] = [:]
            if options.inPlace && options.foldLookups && !options.keepEveryValue {
                for pair in PointwiseExpansion.plan(graph, types: types, activations: fusions) { expansions[pair.depthwise] = pair }
            }
            var contexts: [KernelContext] = []
            let packedSource = options.packedWeights.flatMap {
                $0.layout == isa.packedLayout && $0.revision == PackedLayouts.revision ? $0 : nil
            }
            var prepackedBytesUsed = 0
            for (i, node) in graph.nodes.enumerated() {
                var ctx = KernelContext(
                    nodeName: node.name, op: node.op,
                    inputs: node.inputs.map { $0.map { types[$0] } },
                    inputQuant: node.inputs.map { $0.flatMap { graph.values[$0].quant } },
                    inputConstants: node.inputs.map { $0.flatMap { graph.values[$0].constant } },
                    output: types[node.output], outputQuant: graph.values[node.output].quant, isa: isa)
                if packedSource != nil || options.packRecorder != nil {
                    ctx.packs = NodeWeightPacks(node: i, source: packedSource, recorder: options.packRecorder)
                }
                defer { prepackedBytesUsed += ctx.packs?.bytesUsedInPlace ?? 0 }
                if let fold = folds[i] {
                    prepared.append(try Kernels.lookup(ctx, table: fold.table, input: fold.input, storage: storage))
                } else if foldedAway.contains(i) {
                    prepared.append(Kernels.foldedIntoConsumer(ctx))
                } else if appliedByProducer.contains(i) {
                    prepared.append(Kernels.appliedByProducer(ctx))
                } else {
                    ctx.postUnary = offered[i].map { ($0.op, $0.alpha) }
                    // The offer is read only by a kernel that can take it; any other prepares as usual, once.
                    let pair = expansions[i].flatMap { pair in
                        pair.activation.map({ appliedByProducer.contains($0) }) ?? true ? pair : nil
                    }
                    ctx.expandedFrom = pair.flatMap { pointwiseGEMMs[$0.pointwise] }
                    let chosen = try Kernels.prepare(ctx, storage: storage)
                    if let pair, chosen.consumesExpansion {
                        prepared[pair.pointwise] = Kernels.foldedIntoConsumer(contexts[pair.pointwise])
                        if let input = graph.nodes[pair.pointwise].inputs.first ?? nil { expandedInputs[i] = input }
                        unstored.insert(graph.nodes[pair.pointwise].output)
                        if let a = pair.activation { unstored.insert(graph.nodes[a].output) }
                    }
                    if chosen.appliesPostUnary, let f = offered[i] { appliedByProducer.insert(f.consumer) }
                    if let gemm = chosen.pointwiseGEMM { pointwiseGEMMs[i] = gemm }
                    prepared.append(chosen)
                }
                contexts.append(ctx)
            }
            kernels = PreparedKernels(graph: graph, isa: isa, types: types, kernels: prepared, storage: storage,
                                      expandedInputs: expandedInputs, unstored: unstored, packedWeights: packedSource,
                                      prepackedBytesUsed: prepackedBytesUsed)
        }
        let prepared = kernels.kernels

        // 2. Lifetimes of values (steps are node indices).
        let last = max(nodeCount - 1, 0)
        var firstUse = [Int](repeating: 0, count: graph.values.count)
        var lastUse = [Int](repeating: -1, count: graph.values.count)
        let isGraphInput = Set(graph.inputs)
        for (i, node) in graph.nodes.enumerated() {
            firstUse[node.output] = i
            lastUse[node.output] = max(lastUse[node.output], i)
            for case let id? in node.inputs { lastUse[id] = max(lastUse[id], i) }
            if let input = kernels.expandedInputs[i] { lastUse[input] = max(lastUse[input], i) }
        }
        for id in graph.inputs { firstUse[id] = 0; lastUse[id] = options.preserveInputs ? last : max(lastUse[id], 0) }
        for id in graph.outputs { lastUse[id] = last }
        if options.keepEveryValue { for id in lastUse.indices { lastUse[id] = last } }

        // 3. Buffers: one per non-constant value, except where a value may share its input's.
        var buffer = [Int?](repeating: nil, count: graph.values.count)
        // A group holding a graph input or output is never overwritten in place: a graph output's last use
        // is the last step, which an elementwise op at that step would otherwise take for its own.
        let isGraphOutput = Set(graph.outputs)
        var groups: [(size: Int, first: Int, last: Int, label: String, holdsGraphValue: Bool)] = []
        func newBuffer(_ id: ValueID) {
            buffer[id] = groups.count
            groups.append((types[id].byteCount, firstUse[id], max(lastUse[id], firstUse[id]), graph.values[id].name,
                           isGraphInput.contains(id) || isGraphOutput.contains(id)))
        }
        // Where in its buffer a value starts (a slice placed inside its input, and what shares its bytes).
        var byteOffset = [Int](repeating: 0, count: graph.values.count)
        var kernelNames = prepared.map(\.implementation)
        for id in graph.inputs where graph.values[id].constant == nil { newBuffer(id) }
        for (i, node) in graph.nodes.enumerated() {
            let out = node.output
            if kernels.unstored.contains(out) {  // computed inside its depthwise consumer
                if kernelNames[i] != KernelImplementation.appliedByProducer.rawValue {
                    kernelNames[i] = KernelImplementation.foldedIntoConsumer.rawValue
                }
                continue
            }
            if options.inPlace && !options.keepEveryValue, let view = prepared[i].viewOffset, let first = node.inputs.first ?? nil,
               let g = buffer[first] {
                // A contiguous slice reads as its input's bytes: no copy. An elementwise op may later
                // overwrite it in place only when nothing in the group is read after it (below).
                buffer[out] = g
                byteOffset[out] = byteOffset[first] + view
                groups[g].last = max(groups[g].last, lastUse[out], i)
                groups[g].holdsGraphValue = groups[g].holdsGraphValue || isGraphOutput.contains(out)
                // Nothing runs (an activation its producer applied keeps its name, for `ember inspect`).
                if kernelNames[i] != KernelImplementation.appliedByProducer.rawValue {
                    kernelNames[i] = KernelImplementation.view.rawValue
                }
                continue
            }
            if options.inPlace && !options.keepEveryValue, let first = node.inputs.first ?? nil, let g = buffer[first],
               types[first].byteCount == types[out].byteCount {
                let sharesBytes: Bool
                switch node.op {
                case .reshape: sharesBytes = true
                default:
                    sharesBytes = node.op.isElementwiseInPlaceCandidate && types[first] == types[out]
                        && groups[g].last == i && !groups[g].holdsGraphValue
                }
                if sharesBytes {
                    buffer[out] = g
                    byteOffset[out] = byteOffset[first]
                    groups[g].last = max(groups[g].last, lastUse[out], i)
                    groups[g].holdsGraphValue = groups[g].holdsGraphValue || isGraphOutput.contains(out)
                    continue
                }
            }
            newBuffer(out)
        }
        implementations = kernelNames
        var requirements = groups.map { BufferRequirement(size: $0.size, firstUse: $0.first, lastUse: $0.last, label: $0.label) }
        var scratchBuffer = [Int?](repeating: nil, count: nodeCount)
        let splits = prepared.map { options.threads > 1 && $0.bindParts != nil }
        for (i, p) in prepared.enumerated() where p.scratchBytes > 0 {
            scratchBuffer[i] = requirements.count
            // A split node's parts each own a slice of scratch.
            let size = splits[i] ? PreparedKernel.partScratchStride(p.scratchBytes) * options.threads : p.scratchBytes
            requirements.append(BufferRequirement(size: size, firstUse: i, lastUse: i, label: "scratch of \(graph.nodes[i].name)"))
        }

        // 4. Place them, check the invariant, allocate the one arena.
        let plan = GreedyPlanner.plan(requirements)
        if let (a, b) = plan.overlaps().first {
            throw EmberError.invalidGraph(node: graph.name, reason: "memory plan is inconsistent: \(requirements[a].label) overlaps \(requirements[b].label)")
        }
        self.plan = plan
        bufferOfValue = buffer
        if let previous, previous.arena.count >= plan.arenaSize {
            arena = previous.arena
        } else {
            arena = try Arena(bytes: plan.arenaSize, account: account, subject: subject)
        }
        let base = arena.base

        func pointer(_ id: ValueID) -> UnsafeMutableRawPointer {
            if let c = graph.values[id].constant, let p = c.bytes.baseAddress { return UnsafeMutableRawPointer(mutating: p) }
            if let b = buffer[id] { return base + plan.offsets[b] + byteOffset[id] }
            return base
        }

        // 5. Bind every kernel to its addresses (and a split node's parts to theirs).
        var steps: [Step] = [], parts: [Parts?] = []
        for (i, node) in graph.nodes.enumerated() {
            var inputs = node.inputs.map { $0.map { UnsafeRawPointer(pointer($0)) } }
            if let input = kernels.expandedInputs[i], !inputs.isEmpty { inputs[0] = UnsafeRawPointer(pointer(input)) }
            let buffers = KernelBuffers(
                inputs: inputs,
                output: pointer(node.output),
                scratch: scratchBuffer[i].map { base + plan.offsets[$0] }, storage: bindStorage)
            steps.append(Step(run: try prepared[i].bind(buffers)))
            if splits[i], let bindParts = prepared[i].bindParts {
                let closures = try bindParts(buffers, options.threads)
                parts.append(closures.count > 1 ? Parts(closures.map { Step(run: $0) }) : nil)
            } else {
                parts.append(nil)
            }
        }
        self.steps = steps
        self.parts = parts
        partContexts = parts.map { $0.map { Unmanaged.passUnretained($0).toOpaque() } }
        partCounts = parts.map { $0?.steps.count ?? 1 }
        splitNodeCount = parts.count { $0 != nil }
        if options.threads > 1 {
            pool = try previous?.pool ?? WorkerPool(workers: options.threads - 1)
        } else {
            pool = nil
        }
        func slot(_ id: ValueID) -> TensorSlot {
            TensorSlot(name: graph.values[id].name, info: types[id], quant: graph.values[id].quant, declared: graph.values[id].shape)
        }
        inputs = graph.inputs.map(slot)
        outputs = graph.outputs.map(slot)
        inputPointers = graph.inputs.map { pointer($0) }
        valuePointers = options.keepEveryValue ? graph.values.indices.map { UnsafeRawPointer(pointer($0)) } : []
        outputPointers = graph.outputs.map { UnsafeRawPointer(pointer($0)) }
    }


    /// Where to write graph input `index` before `run()`.
    public func inputBuffer(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: inputPointers[index], count: inputs[index].byteCount)
    }

    /// Graph output `index` after `run()`; valid until the next run.
    public func outputBuffer(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: outputPointers[index], count: outputs[index].byteCount)
    }

    /// Any value's bytes after `run()` — only with `keepEveryValue` (nil otherwise).
    public func valueBuffer(_ id: ValueID) -> UnsafeRawBufferPointer? {
        guard id >= 0, id < valuePointers.count else { return nil }
        return UnsafeRawBufferPointer(start: valuePointers[id], count: validated.types[id].byteCount)
    }

    /// Runs `runs` inferences on all `threads` timing every step: the median nanoseconds of each
    /// node's kernel, in node order (for `ember bench --profile`; allocates).
    public func profile(runs: Int) -> [Double] {
        var samples = [[UInt64]](repeating: [], count: steps.count)
        let now = monotonicNanoseconds
        for _ in 0..<max(runs, 1) {
            for i in steps.indices {
                let start = now()
                runStep(i, threads: threads)
                samples[i].append(now() &- start)
            }
        }
        return samples.map { s in
            let sorted = s.sorted()
            return sorted.isEmpty ? 0 : Double(sorted[sorted.count / 2])
        }
    }

    /// One inference over the current input buffers, on all `threads`. Allocates nothing.
    public func run() { run(threads: threads) }

    /// One inference on `threads` threads (clamped to 1…`self.threads`); results do not depend on
    /// the count — a split node's parts write disjoint outputs with the same arithmetic.
    /// Allocates nothing.
    public func run(threads: Int) {
        let t = min(max(threads, 1), self.threads)
        for i in 0..<steps.count { runStep(i, threads: t) }
    }

    /// Node `i`: its parts on the pool when it is split and `threads` > 1, else its one closure.
    @inline(__always) private func runStep(_ i: Int, threads t: Int) {
        if t > 1, let context = partContexts[i] {
            ember_pool_run(pool?.handle, runPart, context, Int32(partCounts[i]), Int32(t))
        } else {
            steps[i].run()
        }
    }

    /// The same graph prepared for other sizes of its symbolic dims (`bindings` overrides the
    /// current ones): validated, planned and bound again — this allocates, so do it once per new
    /// shape, not per run. The new executor shares this one's arena when its plan fits (the arena
    /// planned for the bounds always does) and its worker pool.
    public func rebound(to bindings: [String: Int]) throws -> Executor {
        var o = options
        o.bindings = self.bindings.merging(bindings) { _, new in new }
        o.account = bindStorage.account
        do {
            return try Executor(checked: graph, options: o, reusing: self)
        } catch let EmberError.invalidGraph(node, reason) where o.label != nil {
            throw EmberError.invalidGraph(node: "\(o.label ?? ""), \(node)", reason: reason)
        }
    }

    /// The paths whose weight layouts this build can produce, by layout name (KernelISA.packedLayout).
    public static var packableLayouts: [String: KernelISA] {
        var found: [String: KernelISA] = [:]
        for isa in KernelISA.allCases { if let name = isa.packedLayout { found[name] = isa } }
        return found
    }

    /// Packs `graph`'s weights as the kernels of `layout` read them (e.g. "avx512"), for a package's PACK
    /// section: each blob is what prepare would pack for that node on that path. The path need not be
    /// this CPU's (nothing runs); it must be one this build has kernels for (`packableLayouts`).
    public static func packWeights(graph: Graph, layout: String, limits: LoadLimits = LoadLimits()) throws
        -> [(blob: PackedBlob, bytes: [UInt8])] {
        guard let isa = packableLayouts[layout] else {
            let known = packableLayouts.keys.sorted()
            throw EmberError.invalidArgument("this build cannot lay out weights for '\(layout)': it has kernels for "
                + (known.isEmpty ? "no packed layout" : known.joined(separator: ", "))
                + " (layouts: \(PackedLayouts.names.joined(separator: ", ")); pack NEON layouts on an arm64 build)")
        }
        let recorder = PackedWeightsRecorder()
        var options = ExecutorOptions(limits: limits, isa: isa)
        options.packRecorder = recorder
        _ = try Executor(graph: graph, options: options)
        return recorder.blobs
    }
}

/// The worker threads of one executor (and of the executors rebound from it).
final class WorkerPool {
    let handle: OpaquePointer

    init(workers: Int) throws {
        guard let p = ember_pool_create(Int32(workers)) else {
            throw EmberError.invalidArgument("could not start \(workers) worker threads (\(errnoDescription(errno)))")
        }
        handle = p
    }

    deinit { ember_pool_destroy(handle) }
}

/// The pool's entry point: part `index` of the split node whose `Parts` is `context`.
private let runPart: @convention(c) (UnsafeMutableRawPointer?, Int32) -> Void = { context, index in
    guard let context else { return }
    let parts = Unmanaged<Executor.Parts>.fromOpaque(context).takeUnretainedValue()
    let i = Int(index)
    if i < parts.steps.count { parts.steps[i].run() }
}

/// The one arena of an executor: anonymous pages, zero until first written
/// (so a large plan costs memory only where it is used), charged to a
/// `MemoryAccount` before it is mapped.
final class Arena {
    let base: UnsafeMutableRawPointer
    let count: Int
    private let account: MemoryAccount

    init(bytes: Int, account: MemoryAccount, subject: String) throws {
        let size = max(bytes, 64)
        try account.reserve(size, for: "the arena of \(subject)")
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            account.release(size)
            throw EmberError.limitExceeded(what: "the arena of \(subject)", needs: size, limit: 0, hint: " (the system refused: \(errnoDescription(errno)))")
        }
        base = p
        count = size
        self.account = account
    }

    deinit {
        munmap(base, count)
        account.release(count)
    }
}
