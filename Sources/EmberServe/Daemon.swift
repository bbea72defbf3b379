// The models directory watcher (hot reload) and systemd's notification socket.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Ember

/// The models directory: which packages are there, and whether each changed since it was loaded
/// (device, inode, size, modification time). `scan` loads new and changed files, keeps the old
/// model when a new file does not load, and drops models whose file is gone. One scan at a time.
public final class ModelWatcher: @unchecked Sendable {
    struct Signature: Equatable { var device: UInt64, inode: UInt64, size: Int64, seconds: Int, nanoseconds: Int }

    let directory: String
    let load: (String, String) throws -> ServedModel
    private var seen: [String: Signature] = [:]
    private let lock = Lock()

    public init(directory: String, load: @escaping (String, String) throws -> ServedModel) {
        self.directory = directory
        self.load = load
    }

    public func scan(into service: Service) throws {
        try lock.withLock { try scanLocked(into: service) }
    }

    private func scanLocked(into service: Service) throws {
        let files = try Self.packageFiles(in: directory)
        var present = Set<String>()
        for file in files {
            let name = String(file.dropLast(".ember".count)), path = directory + "/" + file
            present.insert(name)
            var st = stat()
            guard stat(path, &st) == 0 else { continue }
            let signature = Signature(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
                                      seconds: st.st_mtim.tv_sec, nanoseconds: st.st_mtim.tv_nsec)
            guard seen[name] != signature else { continue }
            seen[name] = signature
            let serving = service.models[name] != nil
            do {
                let model = try load(name, path)
                service.replace(name, with: model)
                log("\(serving ? "reloaded" : "loaded") model '\(name)' (\(model.package.variants.count) variants)")
            } catch {
                log(serving ? "rejected the new \(path), still serving the old one: \(error)" : "skipped \(path): \(error)")
            }
        }
        for name in seen.keys where !present.contains(name) {
            seen[name] = nil
            if service.models[name] != nil {
                service.replace(name, with: nil)
                log("stopped serving model '\(name)': its file is gone")
            }
        }
    }

    static func packageFiles(in dir: String) throws -> [String] {
        try listDirectory(dir, missingIsEmpty: false, what: "models directory") {
            $0.hasSuffix(".ember") && $0.count > ".ember".count
        }.sorted()
    }
}

/// systemd's notification socket (NOTIFY_SOCKET): READY=1 once serving, WATCHDOG=1 every half
/// WATCHDOG_USEC, STOPPING=1 on the way out. Nil when not started by systemd with Type=notify.
public final class SystemdNotifier: @unchecked Sendable {
    private let fd: Int32
    private var address: sockaddr_un
    private let length: socklen_t
    public let watchdogInterval: UInt32?

    public init?() {
        guard let path = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !path.isEmpty else { return nil }
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 } // an abstract socket
        guard let unixAddress = unixSocketAddress(bytes) else { return nil }
        address = unixAddress.address
        length = unixAddress.length
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        let usec = getenv("WATCHDOG_USEC").flatMap { UInt64(String(cString: $0)) } ?? 0
        watchdogInterval = usec > 0 ? UInt32(min(usec / 2, UInt64(UInt32.max))) : nil
    }

    public func send(_ message: String) {
        let bytes = Array(message.utf8)
        _ = withUnsafePointer(to: &address) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
    }

    public func watchdog(every microseconds: UInt32) {
        while true {
            usleep(microseconds)
            send("WATCHDOG=1")
        }
    }
}

/// One line on stderr, "emberd: …".
public func log(_ message: String) {
    var line = Array(("emberd: " + message + "\n").utf8)
    _ = line.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}
