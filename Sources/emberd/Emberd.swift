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

    @Option(help: ArgumentHelp("Settings file (TOML: models = \"DIR\", socket, listen, trusted_keys, envelope, threads, …); flags override it.", valueName: "FILE"))
    var config: String?

    @Option(help: ArgumentHelp("The directory of .ember packages.", valueName: "DIR"))
    var models: String?

    @Option(help: "The Unix-domain socket to serve on (created mode 0660; a stale socket is replaced; default /run/emberd/emberd.sock).")
    var socket: String?

    @Option(help: ArgumentHelp("Also serve TCP on HOST:PORT (loopback only without --allow-remote; port 0 picks one).", valueName: "HOST:PORT"))
    var listen: String?

    @Flag(help: "Allow --listen on a non-loopback address.")
    var allowRemote = false

    @Option(help: ArgumentHelp("Serve only packages signed by a public key (*.pub) in DIR.", valueName: "DIR"))
    var trustedKeys: String?

    @Flag(name: .customLong("no-require-signature"), help: "With --trusted-keys, serve unsigned packages too (unverified); signed ones must still verify.")
    var noRequireSignature = false

    @Option(help: "Power/thermal envelope (TOML): every model's ladder is scheduled per request.")
    var envelope: String?

    @Option(help: "Device profile (TOML) for the scheduler's cost predictions under --envelope.")
    var target: String?

    @Option(help: "Threads per inference (1…64; default 1).")
    var threads: Int?

    @Option(help: "Worker threads serving connections (1…64; default 2).")
    var workers: Int?

    @Option(help: "Connections that may wait for a worker before new ones get 503 (1…4096; default 64).")
    var queue: Int?

    @Option(help: "Largest request body in MiB (1…1024; default 16).")
    var maxBodyMib: Int?

    @Option(help: """
        Check the models directory this often (ms; default 1000) and reload a package whose file changed, add new \
        ones, drop removed ones (0: only on SIGHUP). A file that does not load is rejected and the old model keeps serving.
        """)
    var watchIntervalMs: Int?

    /// Defaults, then --config, then flags.
    func settings() throws -> DaemonSettings {
        var s = DaemonSettings()
        if let config { try s.apply(configText: try readTextFile(config, .config("emberd config")), file: config) }
        if let models { s.models = models }
        if let socket { s.socket = socket }
        if let listen { s.listen = listen }
        if allowRemote { s.allowRemote = true }
        if let trustedKeys { s.trustedKeys = trustedKeys }
        if noRequireSignature { s.requireSignature = false }
        if let envelope { s.envelope = envelope }
        if let target { s.target = target }
        if let threads { s.threads = threads }
        if let workers { s.workers = workers }
        if let queue { s.queue = queue }
        if let maxBodyMib { s.maxBodyMib = maxBodyMib }
        if let watchIntervalMs { s.watchIntervalMs = watchIntervalMs }
        try s.validate()
        return s
    }

    func run() throws {
        let s = try settings()
        let models = s.models ?? "", socket = s.socket, watchIntervalMs = s.watchIntervalMs, threads = s.threads
        // Signals are taken by one thread with sigwait; every thread started after this inherits the mask.
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let env = try s.envelope.map { try Envelope.load(path: $0) }
        let profile = try s.target.map { try DeviceProfile.load(path: $0) }
        let trusted = try s.trusted()
        let watcher = ModelWatcher(directory: models) { [threads] name, path in
            try ServedModel(name: name, path: path, trustedKeys: trusted, envelope: env, profile: profile, threads: threads)
        }
        let service = Service(models: [])
        try watcher.scan(into: service)
        var limits = ServerLimits()
        limits.workers = s.workers
        limits.queueCapacity = s.queue
        limits.maxBodyBytes = s.maxBodyMib << 20
        let server = HTTPServer(limits: limits, handler: service.handle)
        service.server = server
        var listeners = [try Listener.unix(socket)]
        var where_ = ["unix:\(socket)"]
        if let listen = s.listen {
            let (fd, port) = try Listener.tcp(listen, allowRemote: s.allowRemote)
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
