import Foundation
import Testing

/// End-to-end through the real `ember` binary (built beside the test bundle).
@Suite(.serialized) struct CLITests {
    struct Result { var status: Int32; var stdout: String; var stderr: String }

    static let binary: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("ember").path
    }()

    static let workDir: String = {
        let dir = NSTemporaryDirectory() + "ember-cli-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    func ember(_ args: String...) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func demoPackage() throws -> String {
        let dir = Self.workDir + "/demo"
        let r = try ember("demo", "--output", dir)
        #expect(r.status == 0, "\(r.stderr)")
        return dir + "/demo.ember"
    }

    @Test func demoInspectAndRunWork() throws {
        let dir = Self.workDir + "/demo"
        let demo = try ember("demo", "--output", dir)
        #expect(demo.status == 0)
        #expect(demo.stdout.contains("fp32   → vertical edges"))
        #expect(demo.stdout.contains("int8   → vertical edges"))
        let path = dir + "/demo.ember"
        #expect(FileManager.default.fileExists(atPath: path))

        let inspect = try ember("inspect", path, "--plan")
        #expect(inspect.status == 0)
        #expect(inspect.stdout.contains("name: edge-orientation-demo"))
        #expect(inspect.stdout.contains("input   image: f32[1x16x16x1]"))
        #expect(inspect.stdout.contains("Conv2D 1"))
        #expect(inspect.stdout.contains("arena "))
        #expect(inspect.stdout.contains("|")) // the plan diagram

        let json = try ember("inspect", path, "--json")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let variants = object?["variants"] as? [[String: Any]]
        #expect(variants?.map { $0["name"] as? String } == ["fp32", "int8"])

        let run = try ember("run", path, "--variant", "int8", "--input", "image=\(dir)/input.npy", "--output", dir + "/out", "--repeat", "3")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("variant int8"))
        let written = try Data(contentsOf: URL(fileURLWithPath: dir + "/out/orientation.npy"))
        #expect(written.count == 128 + 8) // 2 floats after a 128-byte header
    }

    @Test func damagedPackagesExitOneWithOneLine() throws {
        let path = try demoPackage()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let truncated = Self.workDir + "/truncated.ember", flipped = Self.workDir + "/flipped.ember"
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        var b = [UInt8](bytes)
        b[b.count - 3] ^= 0x10
        try Data(b).write(to: URL(fileURLWithPath: flipped))
        for file in [truncated, flipped, Self.workDir + "/missing.ember"] {
            let r = try ember("inspect", file)
            #expect(r.status == 1, "\(file)")
            #expect(r.stderr.hasPrefix("ember: error: "))
            #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
        #expect(try ember("inspect", truncated).stderr.contains("truncated"))
        #expect(try ember("inspect", flipped).stderr.contains("checksum mismatch"))
    }

    @Test func telemetryReadsAFakeTreeAndSaysWhatIsAbsent() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/sysfs")
        let r = try ember("telemetry", "--root", fixtures.appendingPathComponent("intel").path)
        #expect(r.status == 0)
        #expect(r.stdout.contains("intel-rapl:0 (package-0): 262143000000 µJ, wraps at 262143328850 µJ"))
        #expect(r.stdout.contains("hwmon devices: none found"))
        #expect(r.stdout.contains("BAT0 (Battery) Discharging 81%: 10285.0 mW"))
        let empty = try ember("telemetry", "--root", Self.workDir)
        #expect(empty.status == 0 && empty.stdout.contains("thermal zones: none found"))
    }

    @Test func badInputsAndUsage() throws {
        let path = try demoPackage()
        let wrongShape = Self.workDir + "/wrong.npy"
        // A float32 [2] array as .npy.
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
        header += String(repeating: " ", count: 128 - 10 - header.utf8.count - 1) + "\n"
        let npy = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8) + [UInt8](repeating: 0, count: 8)
        try Data(npy).write(to: URL(fileURLWithPath: wrongShape))
        let r = try ember("run", path, "--input", "image=\(wrongShape)")
        #expect(r.status == 1)
        #expect(r.stderr == "ember: error: invalid input 'image': expected f32[1x16x16x1], got f32[2]\n")

        let usage = try ember("run", path, "--input", "no-equals-sign")
        #expect(usage.status == 2)
        #expect(try ember("frobnicate").status == 2)
        #expect(try ember("run").status == 2)
        let help = try ember("run", "--help")
        #expect(help.status == 0 && help.stdout.contains("NAME=path.npy"))
    }
}
