#if canImport(Glibc)
import Glibc
#endif
import EmberCore

/// Monotonic time for the scheduler. Tests use `VirtualClock` and never sleep.
public protocol BudgetClock: AnyObject, Sendable {
    var nanoseconds: UInt64 { get }
}

/// CLOCK_MONOTONIC.
public final class MonotonicClock: BudgetClock {
    public init() {}
    public var nanoseconds: UInt64 { monotonicNanoseconds() }
}

/// Time that moves only when told to (like swift-nio's EmbeddedEventLoop).
public final class VirtualClock: BudgetClock, @unchecked Sendable {
    private var now: UInt64
    public init(startingAt nanoseconds: UInt64 = 0) { now = nanoseconds }
    public var nanoseconds: UInt64 { now }
    public func advance(milliseconds: Double) { now &+= UInt64(max(0, milliseconds) * 1_000_000) }
}
