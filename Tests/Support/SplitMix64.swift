// Deterministic random numbers for tests (SplitMix64), shared by the test
// targets through symlinks.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func floats(_ n: Int, scale: Float) -> [Float] { (0..<n).map { _ in Float.random(in: -scale...scale, using: &self) } }
    mutating func floats(_ n: Int, _ scale: Float = 1) -> [Float] { floats(n, scale: scale) }
    mutating func int8s(_ n: Int) -> [Int8] { (0..<n).map { _ in Int8(truncatingIfNeeded: next()) } }
}
