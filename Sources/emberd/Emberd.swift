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
import EmberServe
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

    @Option(help: """
        Check the models directory this often (ms) and reload a package whose file changed, add new ones, drop \
        removed ones (0: only on SIGHUP). A file that does not load is rejected and the old model keeps serving.
        """)
    var watchIntervalMs: Int = 1000

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be 1…64, got \(threads)") }
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be 1…64, got \(workers)") }
        guard (1...4096).contains(queue) else { throw ValidationError("--queue must be 1…4096, got \(queue)") }
        guard (1...1024).contains(maxBodyMib) else { throw ValidationError("--max-body-mib must be 1…1024, got \(maxBodyMib)") }
        if target != nil && envelope == nil { throw ValidationError("--target needs --envelope") }
        guard (0...3_600_000).contains(watchIntervalMs) else { throw ValidationError("--watch-interval-ms must be 0…3600000") }
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
        let watcher = ModelWatcher(directory: models) { [threads] name, path in
            try ServedModel(name: name, path: path, trustedKeys: trusted, envelope: env, profile: profile, threads: threads)
        }
        let service = Service(models: [])
        try watcher.scan(into: service)
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
        log("serving \(service.models.count) models on \(where_.joined(separator: " and "))")
        let notifier = SystemdNotifier()
        notifier?.send("READY=1\nSTATUS=serving \(service.models.count) models")
        if let notifier, let interval = notifier.watchdogInterval { _ = try spawnThread { notifier.watchdog(every: interval) } }
        if watchIntervalMs > 0 {
            _ = try spawnThread {
                while true {
                    usleep(useconds_t(watchIntervalMs) * 1000)
                    try? watcher.scan(into: service)
                }
            }
        }

        while true {
            var received: Int32 = 0
            guard sigwait(&signals, &received) == 0 else { continue }
            if received == SIGHUP {
                log("SIGHUP: rescanning \(models)")
                try? watcher.scan(into: service)
                continue
            }
            log("signal \(received): finishing requests in flight, then exiting")
            break
        }
        notifier?.send("STOPPING=1")
        server.stop()
        server.wait()
        unlink(socket)
        log("stopped")
    }

}
