// A small HTTP/1.1 server over the socket API: Unix-domain and TCP listeners, one accept thread
// each, a fixed set of worker threads fed through a bounded queue (full: 503 with Retry-After,
// answered by the accept thread), keep-alive, Content-Length bodies only, every size bounded.
// Requests are untrusted input: a malformed one gets a 4xx and the connection is closed.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Ember

public struct HTTPRequest {
    var method: String
    /// The path without the query string.
    var path: String
    /// Names lowercased when the request is read (HTTP header names are case-insensitive).
    var headers: [(String, String)]
    var body: [UInt8]
    /// When its head had arrived (monotonic nanoseconds): request durations count from here.
    var receivedNs: UInt64 = 0

    /// The value of header `name`, compared ASCII case-insensitively (no String is made per lookup).
    func header(_ name: String) -> String? {
        headers.first { asciiCaseInsensitiveEqual($0.0, name) }?.1
    }
}

public struct HTTPResponse {
    var status: Int
    var contentType = "application/json"
    var headers: [(String, String)] = []
    var body: [UInt8]

    static func json(_ status: Int, _ value: JSON) -> HTTPResponse {
        var out: [UInt8] = []
        value.write(into: &out)
        return HTTPResponse(status: status, body: out)
    }

    /// A KServe-style error body: {"error": "…"}.
    static func error(_ status: Int, _ message: String, headers: [(String, String)] = []) -> HTTPResponse {
        var r = json(status, .object([("error", .string(message))]))
        r.headers = headers
        return r
    }

    static let reasons: [Int: String] = [
        200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
        411: "Length Required", 413: "Content Too Large", 431: "Request Header Fields Too Large",
        500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
    ]

    /// The response as bytes, written into `out` (cleared first; a connection reuses its buffer).
    func serialize(keepAlive: Bool, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(160 + body.count)
        func put(_ s: String) { out.append(contentsOf: s.utf8) }
        put("HTTP/1.1 ")
        put(String(status))
        out.append(0x20)
        put(Self.reasons[status] ?? "Status")
        put("\r\nContent-Type: ")
        put(contentType)
        put("\r\nContent-Length: ")
        put(String(body.count))
        put("\r\n")
        for (k, v) in headers {
            put(k)
            put(": ")
            put(v)
            put("\r\n")
        }
        put(keepAlive ? "\r\n" : "Connection: close\r\n\r\n")
        out.append(contentsOf: body)
    }

    func serialized(keepAlive: Bool) -> [UInt8] {
        var out: [UInt8] = []
        serialize(keepAlive: keepAlive, into: &out)
        return out
    }
}

public struct ServerLimits {
    public var maxHeaderBytes = 16 << 10
    public var maxBodyBytes = 16 << 20
    public var queueCapacity = 64
    public var workers = 2
    /// A connection idle (or a request arriving) this long is closed.
    public var readTimeoutSeconds = 10
    public init() {}
}

/// A mutex-guarded FIFO of accepted connections with a fixed capacity.
final class ConnectionQueue: @unchecked Sendable {
    private var items: [Int32] = []
    private let capacity: Int
    private var closed = false
    private var mutex = pthread_mutex_t()
    private var ready = pthread_cond_t()

    init(capacity: Int) {
        self.capacity = capacity
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&ready, nil)
    }

    /// False when full (or closed): the caller answers 503.
    func push(_ fd: Int32) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard !closed, items.count < capacity else { return false }
        items.append(fd)
        pthread_cond_signal(&ready)
        return true
    }

    /// Nil once closed and drained.
    func pop() -> Int32? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while items.isEmpty && !closed { pthread_cond_wait(&ready, &mutex) }
        return items.isEmpty ? nil : items.removeFirst()
    }

    var depth: Int {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return items.count
    }

    func close() {
        pthread_mutex_lock(&mutex)
        closed = true
        pthread_cond_broadcast(&ready)
        pthread_mutex_unlock(&mutex)
    }
}

/// Starts `body` on a new thread; returns its handle for pthread_join.
public func spawnThread(_ body: @escaping () -> Void) throws -> pthread_t {
    final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let status = pthread_create(&thread, nil, { raw in
        guard let raw else { return nil }
        Unmanaged<Box>.fromOpaque(raw).takeRetainedValue().body()
        return nil
    }, box)
    guard status == 0 else {
        Unmanaged<Box>.fromOpaque(box).release()
        throw EmberError.io(path: "thread", errno: status, reason: "cannot start a thread")
    }
    return thread
}

/// The Unix-domain socket address of `path` (its bytes as given: a leading NUL names an abstract
/// socket) and its length; nil when the path is empty or does not fit.
func unixSocketAddress(_ path: [UInt8]) -> (address: sockaddr_un, length: socklen_t)? {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    guard !path.isEmpty, path.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (i, b) in path.enumerated() { raw[i] = b }
    }
    return (address, socklen_t(MemoryLayout<sa_family_t>.size + path.count))
}

public enum Listener {
    /// A Unix-domain socket at `path` (a stale socket file is replaced), mode 0660.
    public static func unix(_ path: String) throws -> Int32 {
        guard let unixAddress = unixSocketAddress(Array(path.utf8)) else {
            let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
            throw EmberError.invalidArgument("--socket path must be 1…\(capacity - 1) bytes, got \(path.utf8.count)")
        }
        var address = unixAddress.address
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw EmberError.io(path: path, errno: errno, reason: "cannot create a socket") }
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                close(fd)
                throw EmberError.io(path: path, errno: 0, reason: "exists and is not a socket; not replacing it")
            }
            unlink(path)
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, unixAddress.length) }
        }
        guard bound == 0, chmod(path, 0o660) == 0, listen(fd, 128) == 0 else {
            let e = errno
            close(fd)
            throw EmberError.io(path: path, errno: e, reason: "cannot listen on the socket")
        }
        return fd
    }

    /// A TCP socket on `host:port` (IPv4). Port 0 picks a free one; `boundPort` says which.
    public static func tcp(_ spec: String, allowRemote: Bool) throws -> (fd: Int32, port: Int) {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let port = UInt16(parts[1]) else {
            throw EmberError.invalidArgument("--listen wants HOST:PORT (e.g. 127.0.0.1:8080), got '\(spec)'")
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, String(parts[0]), &address.sin_addr) == 1 else {
            throw EmberError.invalidArgument("--listen host must be an IPv4 address, got '\(parts[0])'")
        }
        let loopback = UInt32(bigEndian: address.sin_addr.s_addr) >> 24 == 127
        guard loopback || allowRemote else {
            throw EmberError.invalidArgument("--listen \(spec) is not a loopback address; --allow-remote serves other hosts")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw EmberError.io(path: spec, errno: errno, reason: "cannot create a socket") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            let e = errno
            close(fd)
            throw EmberError.io(path: spec, errno: e, reason: "cannot listen")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, Int(UInt16(bigEndian: actual.sin_port)))
    }
}

/// Serves `handler` on the listeners until `stop()`: then no new connection is taken, requests
/// in flight finish, and `wait()` returns.
public final class HTTPServer: @unchecked Sendable {
    let limits: ServerLimits
    let handler: (HTTPRequest) -> HTTPResponse
    let queue: ConnectionQueue
    private var listeners: [Int32] = []
    private var threads: [pthread_t] = []
    private var stopping = false
    /// Guards `refusedCount` and `acceptThreadsLeft` (one accept thread per listener).
    private let lock = Lock()
    private var refusedCount = 0
    private var acceptThreadsLeft = 0
    /// Connections refused because the queue was full.
    var refused: Int { lock.withLock { refusedCount } }

    public init(limits: ServerLimits, handler: @escaping (HTTPRequest) -> HTTPResponse) {
        self.limits = limits
        self.handler = handler
        queue = ConnectionQueue(capacity: limits.queueCapacity)
    }

    public func start(listeners: [Int32]) throws {
        self.listeners = listeners
        lock.withLock { acceptThreadsLeft = listeners.count }
        for _ in 0..<max(1, limits.workers) {
            threads.append(try spawnThread { [self] in
                while let fd = queue.pop() { serve(fd) }
            })
        }
        for listener in listeners {
            threads.append(try spawnThread { [self] in acceptLoop(listener) })
        }
    }

    public func stop() {
        stopping = true
        // shutdown() wakes the accept threads; they close the listeners.
        for fd in listeners { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    public func wait() {
        for t in threads { pthread_join(t, nil) }
    }

    private func acceptLoop(_ listener: Int32) {
        while !stopping {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                break
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            if stopping { close(fd); break }
            var timeout = timeval(tv_sec: limits.readTimeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            if !queue.push(fd) {
                lock.withLock { refusedCount += 1 }
                send(fd, HTTPResponse.error(503, "the server is busy: \(limits.queueCapacity) connections are waiting",
                                            headers: [("Retry-After", "1")]).serialized(keepAlive: false))
                close(fd)
            }
        }
        close(listener)
        // The last accept thread to leave lets the workers drain and stop.
        let last = lock.withLock {
            acceptThreadsLeft -= 1
            return acceptThreadsLeft == 0
        }
        if last { queue.close() }
    }

    private func send(_ fd: Int32, _ bytes: [UInt8]) {
        var sent = 0
        bytes.withUnsafeBytes { raw in
            while sent < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n < 0 { if errno == EINTR { continue }; return }
                sent += n
            }
        }
    }

    /// One connection: requests until the client closes, asks to, errs, or the server stops.
    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var out: [UInt8] = []
        while true {
            let parsed = readRequest(fd, &buffer, &chunk)
            switch parsed {
            case .closed:
                return
            case .failed(let response):
                send(fd, response.serialized(keepAlive: false))
                return
            case .request(let request):
                let response = handler(request)
                let close = request.header("Connection").map { asciiCaseInsensitiveEqual($0, "close") } ?? false
                let keepAlive = !stopping && !close
                response.serialize(keepAlive: keepAlive, into: &out)
                send(fd, out)
                if !keepAlive { return }
            }
        }
    }

    enum Parsed {
        case request(HTTPRequest)
        case failed(HTTPResponse)
        case closed
    }

    /// Reads one request; `buffer` carries bytes that arrived beyond it (pipelining).
    private func readRequest(_ fd: Int32, _ buffer: inout [UInt8], _ chunk: inout [UInt8]) -> Parsed {
        func fill() -> Bool? {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { buffer += chunk[0..<n]; return true }
            if n == 0 { return false }
            return errno == EINTR ? true : nil
        }
        var headerEnd: Int?
        var searched = 0
        while headerEnd == nil {
            headerEnd = Self.headEnd(in: buffer, from: searched)
            searched = max(0, buffer.count - 3)
            if headerEnd != nil { break }
            guard buffer.count <= limits.maxHeaderBytes else {
                return .failed(.error(431, "the request head is over \(limits.maxHeaderBytes) bytes"))
            }
            switch fill() {
            case true?: continue
            case false?: return buffer.isEmpty ? .closed : .failed(.error(400, "the connection closed inside a request head"))
            case nil: return buffer.isEmpty ? .closed : .failed(.error(408, "timed out reading the request"))
            }
        }
        guard let end = headerEnd, end <= limits.maxHeaderBytes else {
            return .failed(.error(431, "the request head is over \(limits.maxHeaderBytes) bytes"))
        }
        let receivedNs = monotonicNanoseconds()
        var request: HTTPRequest
        switch Self.parseHead(buffer[0..<end]) {
        case .success(let r): request = r
        case .failure(let e): return .failed(.error(400, e.message))
        }
        request.receivedNs = receivedNs
        if request.header("Transfer-Encoding") != nil {
            return .failed(.error(501, "Transfer-Encoding is not supported: send Content-Length"))
        }
        var length = 0
        if let text = request.header("Content-Length") {
            guard let n = Int(text), n >= 0 else { return .failed(.error(400, "Content-Length '\(text)' is not a byte count")) }
            length = n
        } else if request.method == "POST" || request.method == "PUT" {
            return .failed(.error(411, "a \(request.method) needs Content-Length"))
        }
        guard length <= limits.maxBodyBytes else {
            return .failed(.error(413, "the body is \(length) bytes; the limit is \(limits.maxBodyBytes) (--max-body)"))
        }
        let bodyStart = end + 4
        while buffer.count < bodyStart + length {
            switch fill() {
            case true?: continue
            case false?: return .failed(.error(400, "the connection closed inside the body"))
            case nil: return .failed(.error(408, "timed out reading the body"))
            }
        }
        request.body = Array(buffer[bodyStart..<(bodyStart + length)])
        buffer.removeFirst(bodyStart + length)
        return .request(request)
    }

    struct HeadError: Error { var message: String }

    /// The request line and header lines of a head (the bytes before its blank line), read as
    /// bytes: lines end in CR LF, the request line is METHOD SP TARGET SP HTTP/1.x, header names
    /// are lowercased, values trimmed of spaces and tabs, and every piece must be UTF-8. The
    /// request has no body yet.
    static func parseHead(_ head: ArraySlice<UInt8>) -> Result<HTTPRequest, HeadError> {
        func text(_ bytes: ArraySlice<UInt8>) -> String? { utf8Text(bytes) }
        func trimmed(_ b: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
            var s = b.startIndex, e = b.endIndex
            while s < e, b[s] == 0x20 || b[s] == 0x09 { s += 1 }
            while e > s, b[e - 1] == 0x20 || b[e - 1] == 0x09 { e -= 1 }
            return b[s..<e]
        }
        // Lines end at CR LF; the last one at the end of the head.
        func line(from start: Int) -> (line: ArraySlice<UInt8>, next: Int) {
            var i = start
            while i + 1 < head.endIndex, !(head[i] == 13 && head[i + 1] == 10) { i += 1 }
            return i + 1 < head.endIndex ? (head[start..<i], i + 2) : (head[start..<head.endIndex], head.endIndex)
        }
        let (requestLine, afterRequestLine) = line(from: head.startIndex)
        var next = afterRequestLine
        let fields = requestLine.split(separator: 0x20, maxSplits: 3, omittingEmptySubsequences: false)
        func isToken(_ b: ArraySlice<UInt8>) -> Bool { !b.isEmpty && b.allSatisfy { $0 > 0x20 && $0 < 0x7F } }
        guard fields.count == 3, fields[2].starts(with: "HTTP/1.".utf8), isToken(fields[0]),
              let method = text(fields[0]), let target = text(fields[1]) else {
            return .failure(HeadError(message: "malformed request line"))
        }
        var headers: [(String, String)] = []
        headers.reserveCapacity(8)
        while next < head.endIndex {
            let field: ArraySlice<UInt8>
            (field, next) = line(from: next)
            if field.isEmpty { continue }
            guard let colon = field.firstIndex(of: UInt8(ascii: ":")) else {
                return .failure(HeadError(message: "malformed header line"))
            }
            let rawName = trimmed(field[..<colon])
            guard isToken(rawName) else {
                return .failure(HeadError(message: "a header name is not a token of visible ASCII"))
            }
            let name = String(unsafeUninitializedCapacity: rawName.count) { out in
                for (i, c) in rawName.enumerated() { out[i] = c >= 65 && c <= 90 ? c + 32 : c }
                return rawName.count
            }
            guard let value = text(trimmed(field[(colon + 1)...])) else {
                return .failure(HeadError(message: "the request head is not UTF-8"))
            }
            headers.append((name, value))
        }
        let path = target.utf8.firstIndex(of: UInt8(ascii: "?")).map { String(target[..<$0]) } ?? target
        return .success(HTTPRequest(method: method, path: path, headers: headers, body: []))
    }

    /// Where the blank line ending the head (CR LF CR LF) starts, searching from `start`.
    static func headEnd(in b: [UInt8], from start: Int) -> Int? {
        guard b.count >= 4 else { return nil }
        var i = start
        while i + 3 < b.count {
            if b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i }
            i += 1
        }
        return nil
    }
}

/// Whether `a` and `b` are equal ignoring the case of ASCII letters (HTTP header names and tokens).
func asciiCaseInsensitiveEqual(_ a: String, _ b: String) -> Bool {
    guard a.utf8.count == b.utf8.count else { return false }
    var a = a, b = b
    return a.withUTF8 { x in
        b.withUTF8 { y in
            for i in 0..<x.count {
                let p = x[i], q = y[i]
                if p != q, p | 0x20 != q | 0x20 || !(p | 0x20 >= 97 && p | 0x20 <= 122) { return false }
            }
            return true
        }
    }
}
