import EmberCore

/// One buffer to place in the arena: its size and the steps it is alive
/// (inclusive; step i is the execution of node i).
public struct BufferRequirement: Sendable, Equatable {
    public var size: Int
    public var firstUse: Int
    public var lastUse: Int
    public var label: String
    public init(size: Int, firstUse: Int, lastUse: Int, label: String) {
        self.size = size; self.firstUse = firstUse; self.lastUse = lastUse; self.label = label
    }
    func livesWith(_ o: BufferRequirement) -> Bool { firstUse <= o.lastUse && o.firstUse <= lastUse }
}

/// Where each buffer lives in one arena.
public struct MemoryPlan: Sendable {
    public let requirements: [BufferRequirement]
    public let offsets: [Int]
    public let arenaSize: Int
    public let alignment: Int

    /// Pairs of buffers that are alive at the same step and share bytes — must be empty
    /// (TFLite Micro's DoAnyBuffersOverlap, as a list for error messages).
    public func overlaps() -> [(Int, Int)] {
        var bad: [(Int, Int)] = []
        for i in 0..<requirements.count {
            for j in (i + 1)..<max(requirements.count, i + 1) where requirements[i].livesWith(requirements[j]) {
                let a = offsets[i], b = offsets[j]
                if a < b + requirements[j].size && b < a + requirements[i].size && requirements[i].size > 0 && requirements[j].size > 0 {
                    bad.append((i, j))
                }
            }
        }
        return bad
    }

    /// Every buffer inside the arena and aligned.
    public var isWithinArena: Bool {
        zip(requirements, offsets).allSatisfy { r, o in o >= 0 && o % alignment == 0 && o + r.size <= arenaSize }
    }

    /// An ASCII picture of the plan in the style of TFLite Micro's
    /// PrintMemoryPlan: one row per step, the arena across (`width` columns),
    /// each live buffer drawn with its letter; then a legend.
    public func render(width: Int = 64) -> String {
        let steps = (requirements.map(\.lastUse).max() ?? -1) + 1
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        func letter(_ i: Int) -> Character { letters[i % letters.count] }
        var out = "arena \(arenaSize) bytes, \(requirements.count) buffers, one column = \(max(arenaSize / max(width, 1), 1)) bytes\n"
        for step in 0..<steps {
            var row = [Character](repeating: ".", count: width)
            for (i, r) in requirements.enumerated() where r.firstUse <= step && step <= r.lastUse && r.size > 0 {
                let start = offsets[i] * width / max(arenaSize, 1)
                let end = max(start + 1, (offsets[i] + r.size) * width / max(arenaSize, 1))
                for col in start..<min(end, width) { row[col] = letter(i) }
            }
            let label = String(step)
            out += String(repeating: " ", count: max(0, 4 - label.count)) + label + " |" + String(row) + "|\n"
        }
        for (i, r) in requirements.enumerated() {
            out += "  \(letter(i)) \(r.label): \(r.size) bytes at \(offsets[i]), steps \(r.firstUse)...\(r.lastUse)\n"
        }
        return out
    }
}

/// Greedy-by-size offset assignment, as TensorFlow Lite Micro's
/// GreedyMemoryPlanner does it: take buffers from largest to smallest; put
/// each at the lowest aligned offset where it does not collide with any
/// already-placed buffer whose lifetime overlaps its own. Large buffers land
/// first, so the small ones fill the gaps between them. O(n² log n) — fine for
/// the few hundred buffers of an edge model.
public enum GreedyPlanner {
    public static func plan(_ requirements: [BufferRequirement], alignment: Int = 64) -> MemoryPlan {
        let order = requirements.indices.sorted { a, b in
            let ra = requirements[a], rb = requirements[b]
            if ra.size != rb.size { return ra.size > rb.size }
            if ra.firstUse != rb.firstUse { return ra.firstUse < rb.firstUse }
            return a < b
        }
        func rounded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
        var offsets = [Int](repeating: 0, count: requirements.count)
        var placed: [Int] = []
        var arena = 0
        for i in order {
            let r = requirements[i]
            // Placed buffers alive at the same time, by offset.
            let conflicts = placed.filter { requirements[$0].livesWith(r) && requirements[$0].size > 0 }
                .sorted { offsets[$0] < offsets[$1] }
            var candidate = 0
            for j in conflicts {
                if candidate + r.size <= offsets[j] { break }
                candidate = max(candidate, rounded(offsets[j] + requirements[j].size))
            }
            offsets[i] = candidate
            placed.append(i)
            arena = max(arena, rounded(candidate + r.size))
        }
        return MemoryPlan(requirements: requirements, offsets: offsets, arenaSize: arena, alignment: alignment)
    }
}
