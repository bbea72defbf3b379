import Testing
@testable import EmberServe
#if canImport(Glibc)
import Glibc
#endif

/// emberd's JSON reader: request bodies are untrusted, so every malformed text is a ParseError
/// with an offset — never a trap — and what parses writes back to the same value.
@Suite struct JSONTests {
    @Test func valuesRoundTripThroughTextAndNumberArraysStayCompact() throws {
        let text = #"{"a":[1,2.5,-3e2],"b":{"c":"x\"y\\z\u00e9\ud83d\ude00","d":[true,false,null,[1,[2]]]},"e":[]}"#
        let v = try JSON.parse(Array(text.utf8))
        #expect(v["a"] == .numbers([1, 2.5, -300]))
        #expect(v["b"]?["c"]?.string == "x\"y\\zé😀")
        #expect(v["b"]?["d"]?.elements?.count == 4 && v["e"] == .numbers([]))
        #expect(try JSON.parse(Array(v.text.utf8)) == v)
        #expect(JSON.object([("n", .number(3)), ("f", .number(0.5))]).text == #"{"n":3,"f":0.5}"#)
    }

    @Test func malformedTextIsAnErrorWithItsOffset() {
        let cases: [(String, Int)] = [
            ("", 0), ("{", 1), ("[1,]", 3), ("[1 2]", 3), ("{\"a\" 1}", 5), ("\"abc", 4), ("tru", 0), ("1e", 0),
            ("-", 0), ("1e400", 0), ("\"\\ud800\"", 7), ("\"a\u{01}b\"", 3), ("[1]x", 3), ("0x10", 1), ("nan", 0),
        ]
        for (text, offset) in cases {
            do {
                _ = try JSON.parse(Array(text.utf8))
                Issue.record("'\(text)' parsed")
            } catch let e as JSON.ParseError {
                #expect(e.offset == offset, "'\(text)': \(e)")
            } catch {
                Issue.record("'\(text)': \(error)")
            }
        }
        let deep = String(repeating: "[", count: JSON.maxDepth + 1) + String(repeating: "]", count: JSON.maxDepth + 1)
        #expect(throws: JSON.ParseError.self) { try JSON.parse(Array(deep.utf8)) }
        let deepEnough = String(repeating: "[", count: JSON.maxDepth - 1) + String(repeating: "]", count: JSON.maxDepth - 1)
        #expect(throws: Never.self) { try JSON.parse(Array(deepEnough.utf8)) }
    }

    /// Seeded random edits of a real infer request: each parses or fails cleanly.
    @Test func randomlyDamagedRequestsNeverTrap() {
        let request = Array((#"{"id":"r","inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[0.5,-1e-3,7]}],"#
            + #""outputs":[{"name":"y","parameters":{"binary_data":true}}],"parameters":{"priority":"normal"}}"#).utf8)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var parsed = 0, refused = 0
        let alphabet = Array(#"{}[]":,.-+eE0123456789tfnul\ "#.utf8) + [0, 0xFF, 0x80]
        for _ in 0..<3000 {
            var b = request
            for _ in 0..<(1 + next() % 4) {
                let i = next() % b.count
                switch next() % 3 {
                case 0: b[i] = alphabet[next() % alphabet.count]
                case 1: b.remove(at: i)
                default: b.insert(alphabet[next() % alphabet.count], at: i)
                }
                if b.isEmpty { b = [0x7B] }
            }
            do { _ = try JSON.parse(b); parsed += 1 } catch is JSON.ParseError { refused += 1 } catch { Issue.record("\(error)") }
        }
        #expect(parsed + refused == 3000 && parsed > 0 && refused > 0)
    }

    /// The fast decimal reader must give strtod's bits for every number it takes, and take most
    /// of what clients send: float32 data widened to double (17 digits), short decimals, integers.
    @Test func numbersReadBitForBitAsStrtodReadsThem() throws {
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state
        }
        func printed(_ format: String, _ v: Double) -> String {
            var buffer = [CChar](repeating: 0, count: 64)
            _ = withVaList([v]) { vsnprintf(&buffer, 64, format, $0) }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        var texts = ["9007199254740993", "9007199254740992", "1e22", "1e23", "123456789012345678e-27", "-0", "0.1",
                     "4.35", "1.7976931348623157e308", "5e-324", "0.30000000000000004", "1E+2", "-2.5e-3"]
        for _ in 0..<4000 {
            let bits = next()
            let unit = Double(bits >> 11) / Double(1 << 53) * 2 - 1
            let wide = unit * [1, 1e-3, 255, 1e6][Int(bits & 3)]
            texts.append("\(Double(Float(wide)))")                 // Python's repr of a float32 value
            texts.append("\(wide)")
            texts.append(printed(["%.17g", "%.9g", "%.3f", "%.6e", "%.0f"][Int((bits >> 2) % 5)], wide))
        }
        var fast = 0
        for text in texts {
            let bytes = Array(text.utf8)
            let expected = strtod(text, nil)
            let value = try JSON.parse(bytes)
            #expect(value.number?.bitPattern == expected.bitPattern, "\(text)")
            if let v = JSON.Parser.exactDecimal(bytes) {
                fast += 1
                #expect(v.bitPattern == expected.bitPattern, "\(text) on the fast path")
            }
        }
        #expect(JSON.Parser.exactDecimal(Array("9007199254740993".utf8)) == nil, "a Double midpoint goes to strtod")
        #if arch(x86_64)
        #expect(fast * 10 >= texts.count * 9, "\(fast) of \(texts.count) numbers took the fast path")
        #endif
    }
}
