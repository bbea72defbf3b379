import Testing
@testable import EmberServe

/// The request head is read as bytes (no String splitting per request); it is untrusted input,
/// so every malformed head is a clear error, never a trap.
@Suite struct HTTPHeadTests {
    func parse(_ text: String) -> Result<HTTPRequest, HTTPServer.HeadError> {
        HTTPServer.parseHead(Array(text.utf8)[...])
    }

    @Test func headerNamesAreLowercasedValuesTrimmedAndTheQueryDropped() throws {
        let head = try parse("POST /v2/models/m/infer?x=1 HTTP/1.1\r\nHost: a\r\nContent-LENGTH: \t 12 \r\n"
                             + "Ember-Priority:critical\r\nX-Note: caf\u{e9} au lait").get()
        #expect(head.method == "POST" && head.path == "/v2/models/m/infer")
        #expect(head.headers.map(\.0) == ["host", "content-length", "ember-priority", "x-note"])
        #expect(head.headers.map(\.1) == ["a", "12", "critical", "caf\u{e9} au lait"])
        #expect(head.body.isEmpty)
        #expect(head.header("Content-Length") == "12" && head.header("EMBER-PRIORITY") == "critical")
        #expect(head.header("content-lengt") == nil && head.header("Content-Length2") == nil)
        #expect(try parse("GET / HTTP/1.0").get().headers.isEmpty)
    }

    @Test func malformedHeadsAreRefusedWithTheReason() {
        let cases: [(String, String)] = [
            ("GET /", "malformed request line"),
            ("GET  / HTTP/1.1", "malformed request line"),
            ("GET / HTTP/2", "malformed request line"),
            ("GET / HTTP/1.1 extra", "malformed request line"),
            (" / HTTP/1.1", "malformed request line"),
            ("GET / HTTP/1.1\r\nno colon here", "malformed header line"),
            ("GET / HTTP/1.1\r\n: empty name", "a header name is not a token of visible ASCII"),
            ("GET / HTTP/1.1\r\nna\u{e9}me: x", "a header name is not a token of visible ASCII"),
        ]
        for (text, reason) in cases {
            guard case .failure(let e) = parse(text) else { Issue.record("'\(text)' parsed"); continue }
            #expect(e.message == reason, "\(text)")
        }
        var bad = Array("GET / HTTP/1.1\r\nA: ".utf8) + [0xFF, 0xFE]
        if case .success = HTTPServer.parseHead(bad[...]) { Issue.record("a value that is not UTF-8 parsed") }
        bad = Array("G\u{e9}T / HTTP/1.1".utf8)
        #expect(throws: HTTPServer.HeadError.self) { try HTTPServer.parseHead(bad[...]).get() }
    }

    @Test func headerTokensCompareIgnoringAsciiCaseOnly() {
        #expect(asciiCaseInsensitiveEqual("Keep-Alive", "keep-alive") && asciiCaseInsensitiveEqual("", ""))
        #expect(!asciiCaseInsensitiveEqual("close", "closed") && !asciiCaseInsensitiveEqual("clos", "close"))
        #expect(!asciiCaseInsensitiveEqual("\u{e9}", "\u{c9}"), "only ASCII letters fold")
    }
}
