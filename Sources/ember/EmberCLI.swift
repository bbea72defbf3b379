// ember — the command-line tool: inspect packages, run them on .npy inputs,
// and a self-contained demo. Errors are one line on stderr: exit 1 for a bad
// model, input or file, 2 for bad usage.
import ArgumentParser
import Ember
#if canImport(Glibc)
import Glibc
#endif

@main
struct EmberCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ember",
        abstract: "Run trained models on Linux edge devices within a memory, power and heat budget.",
        discussion: """
        An .ember package holds one model as a ladder of variants (e.g. fp32, int8), each \
        with its graph, weights, quality and cost. `ember demo` builds and runs a small one; \
        `ember inspect` shows what a package holds; `ember run` runs it on .npy inputs.
        """,
        version: emberVersion,
        subcommands: [Pack.self, Inspect.self, Run.self, Bench.self, Simulate.self, TraceCommand.self, TelemetryCommand.self, Keygen.self, Sign.self, Verify.self, Demo.self]
    )

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as EmberError {
            fail(error.description, code: 1)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            // Usage errors are one line too, with where to read more.
            let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            if code == .validationFailure { fail(message + " (see '\(helpCommand()) --help')", code: 2) }
            fail(message, code: 1)
        }
    }

    /// "ember run" when the first argument names a subcommand, else "ember".
    static func helpCommand() -> String {
        let args = CommandLine.arguments.dropFirst()
        let names = configuration.subcommands.map { $0._commandName }
        if let first = args.first, names.contains(first) { return "ember \(first)" }
        return "ember"
    }
}

/// Prints `ember: error: MESSAGE` as one line on stderr and exits.
func fail(_ message: String, code: Int32) -> Never {
    FileHandleStderr.write("ember: error: \(oneLine(message))\n")
    Glibc.exit(code)
}

enum FileHandleStderr {
    static func write(_ s: String) {
        var s = s
        s.withUTF8 { buf in _ = Glibc.write(2, buf.baseAddress, buf.count) }
    }
}

/// Progress and what a long command is doing: on stdout, so that stderr holds
/// nothing but the one error line when there is one.
func note(_ s: String) {
    print(s)
}
