// EmberServe — what emberd is made of: an HTTP/1.1 server over the socket API (HTTPServer.swift),
// the Open Inference Protocol v2 over served models (Service.swift), Prometheus metrics, the
// models-directory watcher and systemd notification (Daemon.swift), and this file: a small JSON
// reader and writer for request bodies (untrusted input): bounded nesting, every
// error a message with the byte offset. Arrays of plain numbers are kept as [Double] (8 bytes
// per element), since tensor data is most of a request.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

enum JSON: Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case numbers([Double])
    case array([JSON])
    case object([(String, JSON)])
    /// Text already in JSON form (written as it is; e.g. Float data in its shortest form).
    case raw(String)

    static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.numbers(x), .numbers(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case let (.raw(x), .raw(y)): return x == y
        default: return false
        }
    }

    subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    var number: Double? { if case .number(let n) = self { return n } else { return nil } }
    var elements: [JSON]? {
        switch self {
        case .array(let a): return a
        case .numbers(let n): return n.map { .number($0) }
        default: return nil
        }
    }

    struct ParseError: Error, CustomStringConvertible {
        var offset: Int
        var reason: String
        var description: String { "malformed JSON at byte \(offset): \(reason)" }
    }

    static let maxDepth = 64

    static func parse(_ bytes: [UInt8]) throws -> JSON {
        // NUL-terminated, so numbers can be read with strtod in place.
        var p = Parser(bytes: bytes + [0], end: bytes.count)
        p.skipSpace()
        let value = try p.value(depth: 0)
        p.skipSpace()
        guard p.position == bytes.count else { throw ParseError(offset: p.position, reason: "unexpected bytes after the value") }
        return value
    }

    struct Parser {
        let bytes: [UInt8]
        /// Where the text ends (a NUL follows it).
        let end: Int
        var position = 0

        mutating func skipSpace() {
            while position < end {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        func fail(_ reason: String) -> ParseError { ParseError(offset: position, reason: reason) }

        mutating func expect(_ literal: String, _ value: JSON) throws -> JSON {
            let l = Array(literal.utf8)
            guard position + l.count <= end, Array(bytes[position..<(position + l.count)]) == l else {
                throw fail("expected \(literal)")
            }
            position += l.count
            return value
        }

        mutating func value(depth: Int) throws -> JSON {
            guard depth < JSON.maxDepth else { throw fail("nested deeper than \(JSON.maxDepth)") }
            guard position < end else { throw fail("unexpected end") }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            default: return .number(try number())
            }
        }

        mutating func object(depth: Int) throws -> JSON {
            position += 1
            var members: [(String, JSON)] = []
            skipSpace()
            if position < end, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
            while true {
                skipSpace()
                guard position < end, bytes[position] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
                let key = try string()
                skipSpace()
                guard position < end, bytes[position] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                position += 1
                skipSpace()
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard position < end else { throw fail("unexpected end in an object") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                guard bytes[position] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
                position += 1
                return .object(members)
            }
        }

        mutating func array(depth: Int) throws -> JSON {
            position += 1
            var items: [JSON] = []
            var numbers: [Double] = []
            var allNumbers = true
            skipSpace()
            if position < end, bytes[position] == UInt8(ascii: "]") { position += 1; return .numbers([]) }
            repeat {
                skipSpace()
                if allNumbers, position < end, bytes[position] == UInt8(ascii: "-") || bytes[position] &- 48 < 10 {
                    // Tensor data: numbers go straight into the [Double], without a JSON value each.
                    numbers.append(try number())
                    continue
                }
                let v = try value(depth: depth + 1)
                if allNumbers, case .number(let n) = v {
                    numbers.append(n)
                } else {
                    if allNumbers { items = numbers.map { .number($0) }; numbers = []; allNumbers = false }
                    items.append(v)
                }
            } while try anotherElement()
            return allNumbers ? .numbers(numbers) : .array(items)
        }

        /// After an array element: true past a ',', false past the closing ']'.
        mutating func anotherElement() throws -> Bool {
            skipSpace()
            guard position < end else { throw fail("unexpected end in an array") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; return true }
            guard bytes[position] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
            position += 1
            return false
        }

        mutating func string() throws -> String {
            position += 1
            // Most strings are plain ASCII without escapes: one scan, no byte buffer.
            var stop = position
            while stop < end, bytes[stop] >= 0x20, bytes[stop] < 0x80, bytes[stop] != UInt8(ascii: "\""),
                  bytes[stop] != UInt8(ascii: "\\") { stop += 1 }
            if stop < end, bytes[stop] == UInt8(ascii: "\"") {
                defer { position = stop + 1 }
                return String(decoding: bytes[position..<stop], as: UTF8.self)
            }
            var out = Array(bytes[position..<stop])
            position = stop
            while position < end {
                let c = bytes[position]
                position += 1
                switch c {
                case UInt8(ascii: "\""):
                    guard let s = utf8Text(out[...]) else { throw fail("a string is not UTF-8") }
                    return s
                case UInt8(ascii: "\\"):
                    guard position < end else { throw fail("unexpected end in an escape") }
                    let e = bytes[position]
                    position += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard position + 2 <= end, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                                throw fail("a lone surrogate")
                            }
                            position += 2
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw fail("a lone surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw fail("an invalid \\u escape") }
                        out.append(contentsOf: Array(String(Character(u)).utf8))
                    default: throw fail("an invalid escape")
                    }
                default:
                    guard c >= 0x20 else { throw fail("a control character in a string") }
                    out.append(c)
                }
            }
            throw fail("unexpected end in a string")
        }

        mutating func hex4() throws -> UInt32 {
            guard position + 4 <= end else { throw fail("unexpected end in a \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[position]
                position += 1
                let d: UInt32
                switch c {
                case 48...57: d = UInt32(c - 48)
                case 97...102: d = UInt32(c - 87)
                case 65...70: d = UInt32(c - 55)
                default: throw fail("an invalid \\u escape")
                }
                v = v << 4 | d
            }
            return v
        }

        mutating func number() throws -> Double {
            let start = position
            // One pass over the bytes for the common case; the fast reader must stop where the
            // number characters stop, or strtod decides.
            let fast = bytes.withUnsafeBufferPointer { b -> (Double, Int)? in
                guard let (v, stop) = Parser.exactDecimal(b, from: start, end: end),
                      stop == end || !Parser.isNumberByte(b[stop]) else { return nil }
                return (v, stop)
            }
            if let (v, stop) = fast {
                position = stop
                return v
            }
            while position < end, Parser.isNumberByte(bytes[position]) { position += 1 }
            guard position > start, position - start <= 64 else { throw fail("expected a value") }
            // strtod accepts more than JSON (hex, inf, nan), but only these characters reach it;
            // it must consume all of them.
            let (v, consumed) = bytes.withUnsafeBufferPointer { b -> (Double, Int) in
                let first = UnsafeRawPointer(b.baseAddress! + start).assumingMemoryBound(to: CChar.self)
                var stop: UnsafeMutablePointer<CChar>? = nil
                let v = strtod(first, &stop)
                return (v, stop.map { UnsafeRawPointer($0) - UnsafeRawPointer(first) } ?? 0)
            }
            guard consumed == position - start, v.isFinite else {
                position = start
                throw fail("expected a value")
            }
            return v
        }

        /// Powers of ten that a Double holds exactly.
        static let exactPowersOfTen: [Double] = (0...22).map { e in (0..<e).reduce(1.0) { r, _ in r * 10 } }

        /// `-?digits(.digits)?([eE][+-]?digits)?` as the correctly rounded Double, or nil for what
        /// strtod must read. Up to 15 significant digits and a decimal exponent within ±22, the
        /// mantissa and the power of ten are exact Doubles, so one multiply or divide rounds
        /// correctly (Clinger's fast path). On x86-64, up to 19 digits and ±27 (the 17-digit text of
        /// a float32 widened to double) go through Float80, where both are exact; rounding that to
        /// Double is correct unless the Float80 result sits on a Double midpoint, which goes to strtod.
        /// The number text `t` as a whole, for tests.
        static func exactDecimal(_ t: [UInt8]) -> Double? {
            t.withUnsafeBufferPointer { b in
                exactDecimal(b, from: 0, end: b.count).flatMap { $0.1 == b.count ? $0.0 : nil }
            }
        }

        /// The number starting at `from` and where it stops; every index is checked against `end`,
        /// itself capped at `t.count`.
        static func exactDecimal(_ t: UnsafeBufferPointer<UInt8>, from: Int, end: Int) -> (Double, Int)? {
            let end = min(end, t.count)
            var i = from
            let negative = i < end && t[i] == UInt8(ascii: "-")
            if negative { i += 1 }
            var mantissa: UInt64 = 0
            var digits = 0, exponent = 0
            let integerStart = i
            while i < end, t[i] &- 48 < 10 {
                if mantissa != 0 || t[i] != 48 { digits += 1 }
                mantissa = mantissa &* 10 &+ UInt64(t[i] &- 48)
                i += 1
            }
            guard i > integerStart else { return nil }
            if i < end, t[i] == UInt8(ascii: ".") {
                i += 1
                let fractionStart = i
                while i < end, t[i] &- 48 < 10 {
                    if mantissa != 0 || t[i] != 48 { digits += 1 }
                    mantissa = mantissa &* 10 &+ UInt64(t[i] &- 48)
                    exponent -= 1
                    i += 1
                }
                guard i > fractionStart else { return nil }
            }
            guard digits <= 19 else { return nil }
            if i < end, t[i] | 0x20 == UInt8(ascii: "e") {
                i += 1
                var exponentNegative = false
                if i < end, t[i] == UInt8(ascii: "+") || t[i] == UInt8(ascii: "-") {
                    exponentNegative = t[i] == UInt8(ascii: "-")
                    i += 1
                }
                var e = 0
                let exponentStart = i
                while i < end, t[i] &- 48 < 10, e < 1000 { e = e * 10 + Int(t[i] &- 48); i += 1 }
                guard i > exponentStart else { return nil }
                exponent += exponentNegative ? -e : e
            }
            if digits <= 15, exponent >= -22, exponent <= 22 {
                var v = Double(mantissa)
                v = exponent < 0 ? v / exactPowersOfTen[-exponent] : v * exactPowersOfTen[exponent]
                return (negative ? -v : v, i)
            }
            #if arch(x86_64)
            guard exponent >= -27, exponent <= 27 else { return nil }
            var x = Float80(mantissa)
            x = exponent < 0 ? x / exactPowersOfTen80[-exponent] : x * exactPowersOfTen80[exponent]
            guard x.significandBitPattern & 0x7FF != 0x400 else { return nil }
            return (negative ? -Double(x) : Double(x), i)
            #else
            return nil
            #endif
        }

        #if arch(x86_64)
        /// 10^0…10^27: 5^27 < 2^64, so each is exact in Float80's 64-bit significand.
        static let exactPowersOfTen80: [Float80] = (0...27).map { e in (0..<e).reduce(Float80(1)) { r, _ in r * 10 } }
        #endif

        static func isNumberByte(_ c: UInt8) -> Bool {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "e"), UInt8(ascii: "E"): return true
            default: return false
            }
        }
    }

    /// Compact text. Numbers print as Swift's shortest round-trip form (integers without ".0").
    func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .raw(let text): out.append(contentsOf: text.utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): out.append(contentsOf: JSON.format(n).utf8)
        case .string(let s): JSON.writeString(s, into: &out)
        case .numbers(let ns):
            out.append(UInt8(ascii: "["))
            for (i, n) in ns.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: JSON.format(n).utf8)
            }
            out.append(UInt8(ascii: "]"))
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, v) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, (k, v)) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSON.writeString(k, into: &out)
                out.append(UInt8(ascii: ":"))
                v.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    var text: String {
        var out: [UInt8] = []
        write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func format(_ n: Double) -> String {
        guard n.isFinite else { return "null" }
        if n == n.rounded(), abs(n) < 1e15 { return String(Int64(n)) }
        return n.description
    }

    static func writeString(_ s: String, into out: inout [UInt8]) {
        var s = s
        s.withUTF8 { text in
            out.append(UInt8(ascii: "\""))
            defer { out.append(UInt8(ascii: "\"")) }
            if !text.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                out.append(contentsOf: text)
                return
            }
            for b in text {
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(b)
                case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
                case 0..<0x20:
                    let digits: StaticString = "0123456789abcdef"
                    out.append(contentsOf: "\\u00".utf8)
                    digits.withUTF8Buffer { d in
                        out.append(d[Int(b >> 4)])
                        out.append(d[Int(b & 15)])
                    }
                default: out.append(b)
                }
            }
        }
    }
}

/// `bytes` as a String when they are valid UTF-8. ASCII (nearly every header, name and key) skips
/// the generic validator, which costs about a thousand instructions per short string.
func utf8Text(_ bytes: ArraySlice<UInt8>) -> String? {
    if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
    return String(validating: bytes, as: UTF8.self)
}
