// emberd — serves every .ember package of a directory over the Open Inference Protocol v2
// (KServe REST: health, model metadata, infer with JSON tensors) and /metrics, on a Unix-domain
// socket (mode 0660) and optionally a loopback TCP port. Each request runs on the model's best
// variant, or under --envelope on the rung the budget scheduler picks (the Decision is in the
// response's parameters; an over-budget request is a 503 with Retry-After). SIGTERM or SIGINT:
// no new connections, requests in flight finish, then exit.
//
// The runtime only: the importers and the packer are not linked into emberd.
import ArgumentParser
import Ember
#if canImport(Glibc)
import Glibc
#endif

@main
struct Emberd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emberd",
        abstract: "Serve .ember packages over the Open Inference Protocol v2 (KServe REST) and Prometheus /metrics.",
        discussion: """
        Every NAME.ember in --models is served as model NAME: GET /v2/health/live, \
        /v2/health/ready, /v2/models/NAME, /v2/models/NAME/ready, POST /v2/models/NAME/infer, \
        GET /metrics. A package that does not load (damaged, unsigned under --trusted-keys) is \
        skipped with a log line.

        Examples:
          emberd --models /var/lib/ember --socket /run/emberd/emberd.sock
          emberd --models models --listen 127.0.0.1:8080 --envelope envelope.toml
          curl --unix-socket /run/emberd/emberd.sock http://localhost/v2/models/kws/ready
        """,
        version: emberVersion
    )

    @Option(help: ArgumentHelp("The directory of .ember packages.", valueName: "DIR"))
    var models: String

    @Option(help: "The Unix-domain socket to serve on (created mode 0660; a stale socket is replaced).")
    var socket: String = "/run/emberd/emberd.sock"

    @Option(help: ArgumentHelp("Also serve TCP on HOST:PORT (loopback only without --allow-remote; port 0 picks one).", valueName: "HOST:PORT"))
    var listen: String?

    @Flag(help: "Allow --listen on a non-loopback address.")
    var allowRemote = false

    @Option(help: ArgumentHelp("Serve only packages signed by a public key (*.pub) in DIR.", valueName: "DIR"))
    var trustedKeys: String?

    @Option(help: "Power/thermal envelope (TOML): every model's ladder is scheduled per request.")
    var envelope: String?

    @Option(help: "Device profile (TOML) for the scheduler's cost predictions under --envelope.")
    var target: String?

    @Option(help: "Threads per inference (1…64).")
    var threads: Int = 1

    @Option(help: "Worker threads serving connections (1…64).")
    var workers: Int = 2

    @Option(help: "Connections that may wait for a worker before new ones get 503 (1…4096).")
    var queue: Int = 64

    @Option(help: "Largest request body in MiB (1…1024).")
    var maxBodyMib: Int = 16

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be 1…64, got \(threads)") }
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be 1…64, got \(workers)") }
        guard (1...4096).contains(queue) else { throw ValidationError("--queue must be 1…4096, got \(queue)") }
        guard (1...1024).contains(maxBodyMib) else { throw ValidationError("--max-body-mib must be 1…1024, got \(maxBodyMib)") }
        if target != nil && envelope == nil { throw ValidationError("--target needs --envelope") }
    }

    func run() throws {
        // Signals are taken by one thread with sigwait; every thread started after this inherits the mask.
        var signals = sigset_t()
        sigemptyset(&signals)
        for s in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, s) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let env = try envelope.map { try Envelope.parse(try readTextFile($0, .config("envelope")), file: $0) }
        let profile = try target.map { try DeviceProfile.parse(try readTextFile($0, .config("device profile")), file: $0) }
        let trusted = try trustedKeys.map { try TrustedKeys(directory: $0) }
        var served: [ServedModel] = []
        for file in try packageFiles(in: models) {
            let name = String(file.dropLast(".ember".count))
            do {
                served.append(try ServedModel(name: name, path: models + "/" + file, trustedKeys: trusted,
                                              envelope: env, profile: profile, threads: threads))
                log("loaded model '\(name)' (\(served.last?.package.variants.count ?? 0) variants)")
            } catch {
                log("skipped \(models)/\(file): \(error)")
            }
        }
        let service = Service(models: served)
        var limits = ServerLimits()
        limits.workers = workers
        limits.queueCapacity = queue
        limits.maxBodyBytes = maxBodyMib << 20
        let server = HTTPServer(limits: limits, handler: service.handle)
        service.server = server
        var listeners = [try Listener.unix(socket)]
        var where_ = ["unix:\(socket)"]
        if let listen {
            let (fd, port) = try Listener.tcp(listen, allowRemote: allowRemote)
            listeners.append(fd)
            where_.append("http://\(listen.split(separator: ":")[0]):\(port)")
        }
        try server.start(listeners: listeners)
        log("serving \(served.count) models on \(where_.joined(separator: " and "))")

        while true {
            var received: Int32 = 0
            guard sigwait(&signals, &received) == 0 else { continue }
            if received == SIGHUP {
                log("SIGHUP: reloading is not implemented yet; still serving the models loaded at start")
                continue
            }
            log("signal \(received): finishing requests in flight, then exiting")
            break
        }
        server.stop()
        server.wait()
        unlink(socket)
        log("stopped")
    }

    func packageFiles(in dir: String) throws -> [String] {
        guard let d = opendir(dir) else { throw EmberError.io(path: dir, errno: errno, reason: "cannot read the models directory") }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name.hasSuffix(".ember"), !name.hasPrefix("."), name.count > ".ember".count { names.append(name) }
        }
        return names.sorted()
    }
}

func log(_ message: String) {
    var line = Array(("emberd: " + message + "\n").utf8)
    _ = line.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}
