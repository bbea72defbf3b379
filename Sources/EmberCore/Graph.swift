/// Bytes that own or borrow constant tensor data. A package keeps its mapped
/// file alive through `owner`; `GraphBuilder` constants own a heap copy.
public final class ConstantBuffer: @unchecked Sendable {
    public let bytes: UnsafeRawBufferPointer
    private let owner: AnyObject?
    private let ownsBytes: Bool

    /// Borrows `bytes`, keeping `owner` alive as long as this buffer is.
    public init(borrowing bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        self.bytes = bytes
        self.owner = owner
        self.ownsBytes = false
        account = nil
    }

    /// Copies `source` into a new 64-byte aligned allocation.
    public init(copying source: UnsafeRawBufferPointer) {
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(source.count, 1), alignment: 64)
        if source.count > 0, let base = source.baseAddress { p.baseAddress?.copyMemory(from: base, byteCount: source.count) }
        bytes = UnsafeRawBufferPointer(rebasing: p[0..<source.count])
        owner = nil
        ownsBytes = true
        account = nil
    }

    /// Takes ownership of `allocation` (from `UnsafeMutableRawBufferPointer.allocate`);
    /// only its first `count` bytes are the data. When `account` is given, the
    /// allocation was charged to it and is released from it with the buffer.
    public init(adopting allocation: UnsafeMutableRawBufferPointer, count: Int, account: MemoryAccount? = nil) {
        precondition(count <= allocation.count)
        bytes = UnsafeRawBufferPointer(rebasing: allocation[0..<count])
        owner = nil
        ownsBytes = true
        self.account = account
        chargedBytes = count
    }

    private var account: MemoryAccount?
    private var chargedBytes = 0

    /// The buffer deferred constants point at: no bytes.
    public static let empty = ConstantBuffer(borrowing: UnsafeRawBufferPointer(start: nil, count: 0), owner: nil)

    deinit {
        if ownsBytes, let base = bytes.baseAddress { base.deallocate() }
        account?.release(chargedBytes)
    }
}

/// A constant tensor's bytes: a range of a `ConstantBuffer` — or, in a package
/// read lazily, a range of a compressed tensor section that is not loaded yet
/// (`deferredSection`). A deferred constant has a size but no bytes; the
/// executor refuses it, and `EmberPackage` loads the section first.
public struct ConstantData: Sendable {
    public let buffer: ConstantBuffer
    public let offset: Int
    public let count: Int
    /// The tensor section holding the bytes, while they are not loaded.
    public let deferredSection: UInt32?

    public init(buffer: ConstantBuffer, offset: Int, count: Int) {
        precondition(offset >= 0 && count >= 0 && offset + count <= buffer.bytes.count, "constant range outside its buffer")
        self.buffer = buffer; self.offset = offset; self.count = count; deferredSection = nil
    }

    /// `count` bytes at `offset` of tensor section `section`, to be loaded later.
    public init(deferredIn section: UInt32, offset: Int, count: Int) {
        buffer = .empty; self.offset = offset; self.count = count; deferredSection = section
    }

    public var isDeferred: Bool { deferredSection != nil }

    /// Copies `array`'s bytes into an owned buffer.
    public init<T: BitwiseCopyable>(copying array: [T]) {
        let buffer = array.withUnsafeBytes { ConstantBuffer(copying: $0) }
        self.init(buffer: buffer, offset: 0, count: buffer.bytes.count)
    }

    /// The bytes (empty for a deferred constant).
    public var bytes: UnsafeRawBufferPointer {
        if isDeferred { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(rebasing: buffer.bytes[offset..<(offset + count)])
    }
}

/// Index of a value in `Graph.values`.
public typealias ValueID = Int

/// A tensor in the graph: a graph input, a constant, or a node's output.
public struct Value: Sendable {
    public var name: String
    public var dtype: DType
    public var shape: Shape
    public var quant: QuantParams?
    /// Set for constants.
    public var constant: ConstantData?

    public init(name: String, dtype: DType, shape: Shape, quant: QuantParams? = nil, constant: ConstantData? = nil) {
        self.name = name; self.dtype = dtype; self.shape = shape; self.quant = quant; self.constant = constant
    }
}

/// One op application. `inputs[i]` is nil for an absent optional input.
public struct Node: Sendable {
    public var name: String
    public var op: Op
    public var inputs: [ValueID?]
    public var output: ValueID

    public init(name: String, op: Op, inputs: [ValueID?], output: ValueID) {
        self.name = name; self.op = op; self.inputs = inputs; self.output = output
    }
}

/// A model: values, nodes in execution order, graph inputs and outputs.
public struct Graph: Sendable {
    public var name: String
    public var values: [Value]
    public var nodes: [Node]
    public var inputs: [ValueID]
    public var outputs: [ValueID]

    public init(name: String, values: [Value], nodes: [Node], inputs: [ValueID], outputs: [ValueID]) {
        self.name = name; self.values = values; self.nodes = nodes; self.inputs = inputs; self.outputs = outputs
    }

    /// Number of elements in all constants (the parameter count).
    public var parameterCount: Int {
        values.reduce(0) { sum, v in
            guard v.constant != nil else { return sum }
            return sum &+ (elementCount(v.shape.upperBoundDims) ?? 0)
        }
    }

    /// Bytes of constant data.
    public var weightBytes: Int { values.reduce(0) { $0 &+ ($1.constant?.count ?? 0) } }

    /// Op name → count.
    public var opHistogram: [(op: OpKind, count: Int)] {
        var counts: [OpKind: Int] = [:]
        for n in nodes { counts[n.op.kind, default: 0] += 1 }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.rawValue < $1.key.rawValue }.map { ($0.key, $0.value) }
    }
}

extension Graph {
    /// The sizes that input dims bind to the graph's symbolic dims: `dims[i]` are the dims of
    /// graph input i. Fixed dims must match; a symbolic dim takes the size it is given (1 up to its
    /// bound), the same wherever its name appears. Errors name the input and the dim.
    public func bindings(forInputDims dims: [[Int]]) throws -> [String: Int] {
        guard dims.count == inputs.count else {
            throw EmberError.invalidArgument("\(dims.count) input shapes given; the graph has \(inputs.count) inputs")
        }
        var bound: [String: Int] = [:]
        for (id, given) in zip(inputs, dims) {
            let value = values[id]
            let expected = value.shape
            guard given.count == expected.rank else {
                throw EmberError.invalidInput(name: value.name, reason: "expected rank \(expected.rank) \(expected), got \(formatDims(given))")
            }
            for (axis, (dim, size)) in zip(expected.dims, given).enumerated() {
                switch dim {
                case let .fixed(n):
                    guard size == n else {
                        throw EmberError.invalidInput(name: value.name, reason: "dim \(axis) must be \(n) \(expected), got \(formatDims(given))")
                    }
                case let .symbolic(name, upper):
                    guard size >= 1, size <= upper else {
                        throw EmberError.invalidInput(name: value.name, reason: "dim \(axis) (\(name)) must be 1…\(upper), got \(size)")
                    }
                    if let earlier = bound[name], earlier != size {
                        throw EmberError.invalidInput(name: value.name, reason: "dim \(axis) (\(name)) is \(size), but another input gave \(name)=\(earlier)")
                    }
                    bound[name] = size
                }
            }
        }
        return bound
    }
}

extension Graph {
    /// The symbolic dims of the graph inputs: name → bound.
    public var inputBounds: [String: Int] {
        var out: [String: Int] = [:]
        for id in inputs { for case let .symbolic(name, bound) in values[id].shape.dims { out[name] = bound } }
        return out
    }

    /// Validates a graph with bounded dims at every dim 1, then at its bound, its probe size and a
    /// third of it, one dim at a time: a graph that holds only at its bounds (a reshape to fixed
    /// dims, a dim that is not plain) fails here, at pack time, not when a user feeds another size.
    public func validateAtBoundedSizes(limits: LoadLimits = LoadLimits()) throws {
        let bounds = inputBounds
        guard !bounds.isEmpty else { return }
        var trials: [[String: Int]] = [bounds.mapValues { _ in 1 }]
        for (name, bound) in bounds.sorted(by: { $0.key < $1.key }) {
            for size in Set([bound, Dim.probeSize(upperBound: bound), max(1, bound / 3)]).sorted() { trials.append([name: size]) }
        }
        for t in trials {
            do { _ = try validate(bindings: t, limits: limits) } catch {
                let sizes = t.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
                throw EmberError.unsupported(node: name, reason: "the graph does not hold at \(sizes) (inside its bounds): \(error)")
            }
        }
    }
}
