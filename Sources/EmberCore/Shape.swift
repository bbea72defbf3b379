/// One dimension: a fixed size, or a named symbolic size with a declared upper
/// bound (the planner sizes buffers for the bound).
public enum Dim: Hashable, Sendable, CustomStringConvertible {
    case fixed(Int)
    case symbolic(name: String, upperBound: Int)

    public var upperBound: Int {
        switch self {
        case let .fixed(n): return n
        case let .symbolic(_, bound): return bound
        }
    }

    /// A size well inside 1…`upperBound` at which to evaluate what follows a symbolic dim: unlikely
    /// to coincide with a model's other sizes, and not 1 (which broadcasts) unless the bound is 2.
    public static func probeSize(upperBound: Int) -> Int {
        guard upperBound > 2 else { return 1 }
        let p = max(2, upperBound * 5 / 8)
        return p == upperBound ? upperBound - 1 : p
    }

    public var description: String {
        switch self {
        case let .fixed(n): return String(n)
        case let .symbolic(name, bound): return "\(name)<=\(bound)"
        }
    }
}

/// A tensor shape. Rank 0 is a scalar.
public struct Shape: Hashable, Sendable, CustomStringConvertible, ExpressibleByArrayLiteral {
    public var dims: [Dim]

    public init(_ dims: [Dim]) { self.dims = dims }
    public init(_ fixed: [Int]) { self.dims = fixed.map { .fixed($0) } }
    public init(arrayLiteral elements: Int...) { self.init(elements) }

    public var rank: Int { dims.count }

    /// True when no dim is symbolic.
    public var isStatic: Bool {
        dims.allSatisfy { if case .fixed = $0 { return true } else { return false } }
    }

    /// Concrete dims with every symbolic dim at its upper bound.
    public var upperBoundDims: [Int] { dims.map(\.upperBound) }

    /// Concrete dims with symbolic dims taken from `bindings` (name → size) or,
    /// when a name is not bound, at their upper bound. A binding above the bound is an error.
    public func resolved(_ bindings: [String: Int] = [:]) throws -> [Int] {
        try dims.map { dim in
            switch dim {
            case let .fixed(n): return n
            case let .symbolic(name, bound):
                guard let v = bindings[name] else { return bound }
                guard v >= 0, v <= bound else {
                    throw EmberError.invalidArgument("symbolic dim \(name)=\(v) is outside 0...\(bound)")
                }
                return v
            }
        }
    }

    public var description: String { "[" + dims.map(\.description).joined(separator: "x") + "]" }
}

/// Number of elements in concrete dims, nil on overflow or a negative dim.
public func elementCount(_ dims: [Int]) -> Int? {
    var n = 1
    for d in dims {
        guard d >= 0, let m = checkedMultiply(n, d) else { return nil }
        n = m
    }
    return n
}

/// Formats concrete dims the way errors and `ember inspect` print them.
public func formatDims(_ dims: [Int]) -> String {
    "[" + dims.map(String.init).joined(separator: "x") + "]"
}
