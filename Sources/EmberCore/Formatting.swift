// Numbers for messages and reports, without Foundation: every value a file
// or a sensor can produce (NaN, ±∞, 1e300) formats without trapping.

/// Bytes as people read them: "512 MiB", "32.0 GiB", "1234 bytes".
public func formatBytes(_ n: Int) -> String {
    let units: [(Int, String)] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
    for (size, name) in units where n >= size {
        if n % size == 0 { return "\(n / size) \(name)" }
        let tenths = (n / (size / 1024) * 10 / 1024)
        return "\(tenths / 10).\(tenths % 10) \(name)"
    }
    return n == 1 ? "1 byte" : "\(n) bytes"
}

/// A count with thousands separators: "86,400,000".
public func formatCount(_ n: Int) -> String {
    let digits = Array(String(n.magnitude))
    var out = ""
    for (i, d) in digits.enumerated() {
        if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(d)
    }
    return (n < 0 ? "-" : "") + out
}

/// `x` rounded to `places` decimals, shortest form: "12", "0.25", "∞", "nan".
/// Values too large to round exactly print in Swift's own notation.
public func formatDecimal(_ x: Double, places: Int = 3) -> String {
    guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "∞" : "-∞") }
    var scale = 1.0
    for _ in 0..<max(0, min(places, 15)) { scale *= 10 }
    guard abs(x) * scale < 1e15 else { return String(x) }
    let r = (x * scale).rounded() / scale
    return r == r.rounded() ? String(Int(r)) : String(r)
}
