#if canImport(Glibc)
import Glibc
#endif

// Shared by the test targets that read the MLPerf Tiny corpus (symlinked into each).
/// Where a model folder lives: the shared corpus next to the project, or the
/// committed fixtures.
enum Corpus {
    static let projectRoot: String = {
        var parts = #filePath.split(separator: "/").map(String.init)
        parts.removeLast(3) // Tests/<target or Support>/<file>
        return "/" + parts.joined(separator: "/")
    }()
    static let shared = projectRoot + "/../shared/corpus/mlperf-tiny"
    static let fixtures = projectRoot + "/Tests/Fixtures/mlperf-tiny"

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Whether ../shared/corpus is beside the project (a fresh clone has none):
    /// tests that need it are `.enabled(if: Corpus.isPresent)` and show as skipped.
    static let isPresent = !sharedModels.isEmpty

    static var sharedModels: [String] {
        guard let dir = opendir(shared) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix("."), exists(shared + "/" + name + "/model.tflite") { names.append(name) }
        }
        return names.sorted()
    }
}
