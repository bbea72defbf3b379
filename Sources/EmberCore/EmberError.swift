/// Every failure Ember reports. Each case says what went wrong and where, in
/// words a device engineer can act on; `description` is one line.
public enum EmberError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A package file is damaged, truncated or not a package. `offset` is the byte
    /// offset in the file where the problem was found.
    case malformedPackage(section: String, offset: Int, reason: String)
    /// A model file to import (TFLite, ONNX) is damaged or not what it claims;
    /// `offset` is the byte offset where the problem was found.
    case malformedModel(format: String, offset: Int, reason: String)
    /// The package needs a feature this build does not have (newer format, required feature bit).
    case incompatiblePackage(reason: String)
    /// A graph breaks a rule of the IR; `node` names the node (or value) at fault.
    case invalidGraph(node: String, reason: String)
    /// A valid graph uses something this runtime does not implement yet.
    case unsupported(node: String, reason: String)
    /// The caller passed an input that does not match the model.
    case invalidInput(name: String, reason: String)
    /// A file could not be read or written; `errno` is the C errno (0 if none).
    case io(path: String, errno: Int32, reason: String)
    /// A bad argument or option that is not about a model input.
    case invalidArgument(String)
    /// The budget scheduler shed a request: the power, energy or thermal budget is
    /// spent; retrying after `retryAfterMs` milliseconds may succeed.
    case overBudget(retryAfterMs: Int, reason: String)
    /// A configuration file (envelope, device profile) is wrong; names file and key.
    case invalidConfiguration(file: String, key: String, reason: String)
    /// Something would need more than a `LoadLimits` cap (or another documented
    /// bound) allows; says what, how much and the limit, checked before allocating.
    /// `unit` is "bytes" (printed as KiB/MiB/GiB) or what is counted ("nodes", "requests").
    case limitExceeded(what: String, needs: Int, limit: Int, unit: String = "bytes", hint: String = "")
    /// A signature was required (trusted keys given) and the package is unsigned, signed by a key
    /// that is not trusted, or was changed after signing; says which.
    case untrustedPackage(path: String, reason: String)

    public var description: String {
        switch self {
        case let .malformedPackage(section, offset, reason):
            return "malformed package: section \(section) at byte \(offset): \(reason)"
        case let .malformedModel(format, offset, reason):
            return "malformed \(format) model at byte \(offset): \(reason)"
        case let .incompatiblePackage(reason):
            return "incompatible package: \(reason)"
        case let .invalidGraph(node, reason):
            return "invalid graph: \(node): \(reason)"
        case let .unsupported(node, reason):
            return "unsupported: \(node): \(reason)"
        case let .invalidInput(name, reason):
            return "invalid input '\(name)': \(reason)"
        case let .io(path, errno, reason):
            return "'\(path)': \(reason)" + (errno == 0 ? "" : ": \(errnoDescription(errno))")
        case let .invalidArgument(message):
            return "invalid argument: \(message)"
        case let .overBudget(retryAfterMs, reason):
            return "over budget, retry after \(retryAfterMs) ms: \(reason)"
        case let .invalidConfiguration(file, key, reason):
            return "'\(file)': \(key): \(reason)"
        case let .limitExceeded(what, needs, limit, unit, hint):
            func amount(_ x: Int) -> String { unit == "bytes" ? formatBytes(x) : "\(formatCount(x)) \(unit)" }
            return "\(what) needs \(amount(needs)), limit \(amount(limit))\(hint)"
        case let .untrustedPackage(path, reason):
            return "untrusted package '\(path)': \(reason)"
        }
    }
}

/// Checked arithmetic for sizes computed from untrusted numbers.
@inlinable
public func checkedMultiply(_ a: Int, _ b: Int) -> Int? {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    return o ? nil : r
}

@inlinable
public func checkedAdd(_ a: Int, _ b: Int) -> Int? {
    let (r, o) = a.addingReportingOverflow(b)
    return o ? nil : r
}

/// a × b, or Int.max / Int.min where that overflows: for costs and sizes that are
/// reported, not allocated (an allocation size must use `checkedMultiply`).
@inlinable
public func saturatingMultiply(_ a: Int, _ b: Int) -> Int {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    return o ? ((a < 0) != (b < 0) ? .min : .max) : r
}

@inlinable
public func saturatingAdd(_ a: Int, _ b: Int) -> Int {
    let (r, o) = a.addingReportingOverflow(b)
    return o ? (b < 0 ? .min : .max) : r
}
