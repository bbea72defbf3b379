/// A package ready to serve requests: one variant's `Session`, or the whole ladder under an
/// envelope (`LadderSession`: the budget scheduler picks the rung per request). What the C API
/// and emberd hold per package.
public enum ServingSession {
    case variant(Session)
    case ladder(LadderSession)

    /// Every prepared session: the one variant, or each rung.
    public var sessions: [Session] {
        switch self {
        case .variant(let s): return [s]
        case .ladder(let l): return l.sessions
        }
    }

    /// The inputs and outputs requests see (every rung of a ladder has the same: `LadderSession` checks).
    public var slots: Session { sessions[0] }

    public var ladder: LadderSession? {
        if case .ladder(let l) = self { return l }
        return nil
    }

    /// Arena bytes of every prepared session.
    public var arenaBytes: Int { sessions.reduce(0) { $0 + $1.arenaBytes } }

    /// One request on owned tensors: the variant's outputs (no decision), or the rung the scheduler picks
    /// and its `Decision` (`EmberError.overBudget` when shed). `deadlineMs` replaces the envelope's
    /// deadline for this request (a fixed variant has no scheduler to give it to).
    public func run(_ feeds: [String: Tensor], priority: Priority, deadlineMs: Double? = nil) throws
        -> (outputs: [String: Tensor], decision: Decision?) {
        switch self {
        case .variant(let s): return (try s.run(feeds), nil)
        case .ladder(let l):
            let (outputs, decision) = try l.run(feeds, priority: priority, deadlineMs: deadlineMs)
            return (outputs, decision)
        }
    }
}
