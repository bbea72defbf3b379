import Testing
import Ember
@testable import EmberImport

/// The arena each MLPerf Tiny model plans today, pinned as TensorFlow Lite
/// Micro's memory_arena_threshold_test pins its models': a change to the
/// planner, the in-place rules or the importer that grows (or shrinks) one by
/// more than 3 % fails here and must be looked at, and these figures updated.
let expectedArenaBytes: [String: Int] = [
    "ad01_fp32": 3072, "ad01_int8": 768,
    "kws_float32": 72000, "kws_int8": 16000,
    "resnet8_float": 196608, "resnet8_int8": 49152,
    "strww_int8": 6656,
    "vww96_float": 258048, "vww96_int8": 64512,
]

func arenaBytes(_ dir: String) throws -> Int {
    let graph = try readBytes(dir + "/model.tflite").withUnsafeBytes { try TFLiteImporter.importModel($0, name: "m") }
    return try Executor(graph: graph).arenaBytes
}

func withinThreshold(_ name: String, _ measured: Int) -> Bool {
    guard let expected = expectedArenaBytes[name] else { return false }
    return abs(measured - expected) * 100 <= expected * 3
}

@Suite struct ArenaThresholdTests {
    @Test(arguments: ["kws_int8", "resnet8_float"])
    func committedFixturesKeepTheirArena(_ name: String) throws {
        let measured = try arenaBytes(Corpus.fixtures + "/" + name)
        #expect(withinThreshold(name, measured), "\(name): arena \(measured) bytes, pinned \(expectedArenaBytes[name] ?? 0) ±3 %")
    }

    @Test(.enabled(if: Corpus.isPresent, "needs ../shared/corpus/mlperf-tiny"))
    func everyCorpusModelKeepsItsArena() throws {
        #expect(Set(Corpus.sharedModels) == Set(expectedArenaBytes.keys), "pin the arena of every corpus model")
        for name in Corpus.sharedModels {
            let measured = try arenaBytes(Corpus.shared + "/" + name)
            #expect(withinThreshold(name, measured), "\(name): arena \(measured) bytes, pinned \(expectedArenaBytes[name] ?? 0) ±3 %")
        }
    }
}
