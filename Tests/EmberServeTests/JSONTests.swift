import Testing
@testable import EmberServe

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
            ("-", 0), ("1e400", 0), ("\"\\ud800\"", 7), ("\"a\u{01}b\"", 3), ("[1]x", 3), ("0x10", 0), ("nan", 0),
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
}
