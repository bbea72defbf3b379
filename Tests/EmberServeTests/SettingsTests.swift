import Ember
import Testing
@testable import EmberServe

@Suite struct SettingsTests {
    @Test func aConfigFileSetsEveryKeyAndBadOnesNameTheKey() throws {
        var s = DaemonSettings()
        try s.apply(configText: """
            # emberd
            models = "/var/lib/ember/models"
            socket = "/run/x.sock"
            listen = "127.0.0.1:9000"
            allow_remote = true
            trusted_keys = "/etc/ember/keys"
            require_signature = false
            envelope = "/etc/ember/envelope.toml"
            target = "/etc/ember/rpi5.toml"
            threads = 2
            workers = 4
            queue = 128
            max_body_mib = 8
            watch_interval_ms = 0
            """, file: "emberd.toml")
        var want = DaemonSettings()
        want.models = "/var/lib/ember/models"; want.socket = "/run/x.sock"; want.listen = "127.0.0.1:9000"
        want.allowRemote = true; want.trustedKeys = "/etc/ember/keys"; want.envelope = "/etc/ember/envelope.toml"
        want.target = "/etc/ember/rpi5.toml"; want.threads = 2; want.workers = 4; want.queue = 128
        want.maxBodyMib = 8; want.watchIntervalMs = 0; want.requireSignature = false
        #expect(s == want)
        try s.validate()

        let bad: [(String, String)] = [("modles = \"x\"", "modles"), ("threads = 65", "threads"), ("queue = 1.5", "queue"),
                                       ("allow_remote = 1", "allow_remote"), ("socket = 3", "socket")]
        for (text, key) in bad {
            var t = DaemonSettings()
            #expect(throws: EmberError.self, "\(text)") { try t.apply(configText: text, file: "e.toml") }
            do { try t.apply(configText: text, file: "e.toml") } catch let EmberError.invalidConfiguration(file, k, _) {
                #expect(file == "e.toml" && k == key, "\(text)")
            } catch { Issue.record("\(text): \(error)") }
        }
        var none = DaemonSettings()
        #expect(throws: EmberError.self) { try none.validate() } // no models directory
        none.models = "m"
        none.target = "t"
        #expect(throws: EmberError.self) { try none.validate() } // a target without an envelope
        none.target = nil
        none.requireSignature = false
        #expect(throws: EmberError.self) { try none.validate() } // require_signature = false without trusted keys
    }
}
