import Foundation
import Testing

/// The C API as a C user meets it: Examples/c-daemon built with `cc $(pkg-config --cflags --libs
/// ember)` against libember (the library `swift test` builds beside this bundle, installed into a
/// prefix with ember.h and ember.pc from tools/ember.pc.in), then run and compared with `ember run`.
extension CLITests {
    /// A prefix like the one tools/package.sh installs: include/ember.h, lib/libember.so,
    /// lib/pkgconfig/ember.pc.
    func installedCAPIPrefix() throws -> String {
        let prefix = Self.workDir + "/capi-prefix"
        let fm = FileManager.default
        try? fm.removeItem(atPath: prefix)
        try fm.createDirectory(atPath: prefix + "/include", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: prefix + "/lib/pkgconfig", withIntermediateDirectories: true)
        try fm.copyItem(atPath: Self.root + "/Sources/CEmberAPI/include/ember.h", toPath: prefix + "/include/ember.h")
        let library = URL(fileURLWithPath: Self.binary).deletingLastPathComponent().appendingPathComponent("libEmberC.so").path
        try #require(fm.fileExists(atPath: library), "swift test builds libEmberC.so beside the ember binary: \(library)")
        try fm.createSymbolicLink(atPath: prefix + "/lib/libember.so", withDestinationPath: library)
        let version = try ember("--version").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let pc = try String(contentsOfFile: Self.root + "/tools/ember.pc.in", encoding: .utf8)
            .replacingOccurrences(of: "@PREFIX@", with: prefix).replacingOccurrences(of: "@VERSION@", with: version)
        try pc.write(toFile: prefix + "/lib/pkgconfig/ember.pc", atomically: true, encoding: .utf8)
        return prefix
    }

    /// The payload of a .npy file (after its header).
    func npyPayload(_ path: String) throws -> Data {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        try #require(d.count >= 10)
        let headerLength = Int(d[d.startIndex + 8]) | Int(d[d.startIndex + 9]) << 8
        return d.dropFirst(10 + headerLength)
    }

    @Test func theCExampleBuildsWithPkgConfigAndMatchesEmberRun() throws {
        let prefix = try installedCAPIPrefix()
        let exe = Self.workDir + "/ember-c-daemon"
        let build = try process("/bin/sh", ["-c", """
            cc=$(command -v cc || command -v clang) && \
            "$cc" -std=c11 -O1 -Wall -Wextra -Werror "$0" $(pkg-config --cflags --libs ember) \
              -Wl,-rpath,"$1/lib" -o "$2"
            """, Self.root + "/Examples/c-daemon/main.c", prefix, exe],
            environment: ["PKG_CONFIG_PATH": prefix + "/lib/pkgconfig"])
        try #require(build.status == 0, "\(build.stdout)\(build.stderr)")

        let dir = Self.workDir + "/capi-demo"
        #expect(try ember("demo", "--output", dir).status == 0)
        let raw = dir + "/input.raw"
        try npyPayload(dir + "/input.npy").write(to: URL(fileURLWithPath: raw))
        for variant in ["fp32", "int8"] {
            let c = try process(exe, [dir + "/demo.ember", "--variant", variant, "--runs", "3", "--input", raw,
                                      "--output", dir + "/c-\(variant).raw"])
            #expect(c.status == 0, "\(c.stderr)")
            #expect(c.stdout.contains("input image: f32[1x16x16x1] 1024 bytes"), "\(c.stdout)")
            #expect(c.stdout.contains("run 3: variant \(variant), 1 thread(s)"), "\(c.stdout)")
            #expect(c.stdout.contains("telemetry: 3 runs, 0 shed"), "\(c.stdout)")
            let r = try ember("run", dir + "/demo.ember", "--variant", variant, "--input", "image=\(dir)/input.npy",
                              "--output", dir + "/out-\(variant)")
            #expect(r.status == 0, "\(r.stderr)")
            let fromC = try Data(contentsOf: URL(fileURLWithPath: dir + "/c-\(variant).raw"))
            let fromEmberRun = try npyPayload(dir + "/out-\(variant)/orientation.npy")
            #expect(fromC.count == 8 && fromC == fromEmberRun, "\(variant)")
        }

        // Under an envelope every run prints the scheduler's decision.
        let envelope = dir + "/envelope.toml"
        try "power_mw = 3000\ntemp_limit_c = 95\n".write(toFile: envelope, atomically: true, encoding: .utf8)
        let laddered = try process(exe, [dir + "/demo.ember", "--envelope", envelope, "--runs", "4", "--input", raw])
        #expect(laddered.status == 0, "\(laddered.stderr)")
        let decisions = laddered.stdout.split(separator: "\n").filter { $0.hasPrefix("run ") }
        #expect(decisions.count == 4, "\(laddered.stdout)")
        #expect(decisions.allSatisfy { $0.contains("variant fp32") || $0.contains("variant int8") }, "\(laddered.stdout)")

        let missing = try process(exe, [dir + "/missing.ember"])
        #expect(missing.status == 1 && missing.stderr.contains("EMBER_ERROR_IO") && missing.stderr.contains("missing.ember"))
        let wrongSize = try process(exe, [dir + "/demo.ember", "--input", dir + "/input.npy"])
        #expect(wrongSize.status == 1 && wrongSize.stderr.contains("expected exactly 1024 bytes"), "\(wrongSize.stderr)")
    }
}
