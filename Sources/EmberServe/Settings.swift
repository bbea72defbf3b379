// emberd's settings: defaults, then a TOML config file (--config), then flags.
import Ember

public struct DaemonSettings: Sendable, Equatable {
    public var models: String?
    public var socket = "/run/emberd/emberd.sock"
    public var listen: String?
    public var allowRemote = false
    public var trustedKeys: String?
    /// With trusted keys: refuse unsigned packages (false serves them unverified; signed ones must verify).
    public var requireSignature = true
    public var envelope: String?
    public var target: String?
    public var threads = 1
    public var workers = 2
    public var queue = 64
    public var maxBodyMib = 16
    public var watchIntervalMs = 1000

    public static let ranges: [String: ClosedRange<Int>] = [
        "threads": 1...64, "workers": 1...64, "queue": 1...4096, "max_body_mib": 1...1024, "watch_interval_ms": 0...3_600_000,
    ]

    public init() {}

    /// Reads a config file: `key = value` lines (TOML subset), keys as the flags with underscores:
    ///
    ///     models = "/var/lib/ember/models"
    ///     socket = "/run/emberd/emberd.sock"
    ///     listen = "127.0.0.1:8080"
    ///     allow_remote = false
    ///     trusted_keys = "/etc/ember/trusted-keys"
    ///     require_signature = true
    ///     envelope = "/etc/ember/envelope.toml"
    ///     target = "/etc/ember/device.toml"
    ///     threads = 1
    ///     workers = 2
    ///     queue = 64
    ///     max_body_mib = 16
    ///     watch_interval_ms = 1000
    ///
    /// Unknown keys, wrong types and values out of range are errors naming the file and key.
    public mutating func apply(configText: String, file: String) throws {
        let c = try ConfigFile(parsing: configText, file: file, sections: [])
        try c.rejectUnknown(Set(["models", "socket", "listen", "allow_remote", "trusted_keys", "require_signature", "envelope",
                                 "target"]
                                + Array(Self.ranges.keys)))
        if let v = try c.string("models", required: false) { models = v }
        if let v = try c.string("socket", required: false) { socket = v }
        if let v = try c.string("listen", required: false) { listen = v }
        if let v = try c.bool("allow_remote") { allowRemote = v }
        if let v = try c.string("trusted_keys", required: false) { trustedKeys = v }
        if let v = try c.bool("require_signature") { requireSignature = v }
        if let v = try c.string("envelope", required: false) { envelope = v }
        if let v = try c.string("target", required: false) { target = v }
        func int(_ key: String) throws -> Int? { try c.integer(key, in: Self.ranges[key] ?? 0...0) }
        if let v = try int("threads") { threads = v }
        if let v = try int("workers") { workers = v }
        if let v = try int("queue") { queue = v }
        if let v = try int("max_body_mib") { maxBodyMib = v }
        if let v = try int("watch_interval_ms") { watchIntervalMs = v }
    }

    /// The checks flags and file share: what is required, ranges, what needs what.
    /// The trusted keys (nil: signatures are not checked), with `requireSignature` applied.
    public func trusted() throws -> TrustedKeys? {
        try trustedKeys.map { try TrustedKeys(directory: $0, requireSignature: requireSignature) }
    }

    public func validate() throws {
        guard let models, !models.isEmpty else {
            throw EmberError.invalidArgument("no models directory: give --models DIR or models = \"DIR\" in --config")
        }
        let values = ["threads": threads, "workers": workers, "queue": queue, "max_body_mib": maxBodyMib,
                      "watch_interval_ms": watchIntervalMs]
        for (key, v) in values.sorted(by: { $0.key < $1.key }) {
            guard let range = Self.ranges[key], range.contains(v) else {
                throw EmberError.invalidArgument("\(key.replacingAll("_", "-")) must be \(Self.ranges[key]?.lowerBound ?? 0)…\(Self.ranges[key]?.upperBound ?? 0), got \(v)")
            }
        }
        if target != nil && envelope == nil { throw EmberError.invalidArgument("a target (device profile) needs an envelope") }
        if !requireSignature && trustedKeys == nil {
            throw EmberError.invalidArgument("require_signature = false (--no-require-signature) needs trusted keys")
        }
    }
}
