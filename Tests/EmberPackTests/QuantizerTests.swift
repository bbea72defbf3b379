import Testing
import Ember
import EmberImport
@testable import EmberPack
#if canImport(Glibc)
import Glibc
#endif

extension Corpus {
    static func graph(_ dir: String) throws -> Graph {
        try readFile(dir + "/model.tflite", .model).withUnsafeBytes { try TFLiteImporter.importModel($0, name: String(dir.split(separator: "/").last ?? "m")) }
    }

    /// The folder's three reference inputs as samples.
    static func samples(_ dir: String, inputs: Int = 1) throws -> [Sample] {
        try ["00", "01", "02"].map { s in
            Sample(inputs: try (0..<inputs).map { k in try NPY.decode(try readFile("\(dir)/inputs/\(s)_\(k).npy", .npy), name: "input \(k)").bytes })
        }
    }
}

@Suite struct QuantizerTests {
    @Test func activationParamsHoldZeroExactly() {
        let q = Quantizer.activationParams(min: 0.5, max: 6) // widened to [0, 6]
        #expect(q.zeroPoint == -128 && abs(q.scale - 6 / 255) < 1e-7)
        let s = Quantizer.activationParams(min: -1, max: 1)
        #expect(abs(Float(127 - s.zeroPoint) * s.scale - 1) <= s.scale && abs(Float(-128 - s.zeroPoint) * s.scale + 1) <= s.scale)
        #expect(Quantizer.activationParams(min: 0, max: 0).scale == 1) // a constant-zero tensor stays valid
    }

    @Test func calibrationRejectsNaNsAndBadSamples() throws {
        let b = GraphBuilder(name: "t")
        let x = b.input("x", .f32, [1, 4])
        b.output(try b.add(.relu, [x], name: "y"))
        let g = try b.build()
        let nan = [Float](arrayLiteral: 1, .nan, 2, 3).withUnsafeBytes { Array($0) }
        #expect(throws: EmberError.self) { try Calibration.run(g, samples: [Sample(inputs: [nan])]) }
        #expect(throws: EmberError.self) { try Calibration.run(g, samples: [Sample(inputs: [[0, 0, 0]])]) } // wrong size
        #expect(throws: EmberError.self) { try Calibration.run(g, samples: []) }
        let ok = [Float](arrayLiteral: -1, 0.5, 2, 3).withUnsafeBytes { Array($0) }
        let c = try Calibration.run(g, samples: [Sample(inputs: [ok])])
        #expect(c.ranges[0]?.min == -1 && c.ranges[0]?.max == 3)
        #expect(c.ranges[1]?.min == 0 && c.ranges[1]?.max == 3)
    }

    /// Done-when of the packer issue: on every float corpus model, Ember's own
    /// int8 rung is within 1 dB SQNR (vs float) and 1 point of top-1 agreement
    /// of the converter-made int8 model, on the same inputs.
    @Test(.enabled(if: Corpus.isPresent, "needs the float and int8 models of ../shared/corpus/mlperf-tiny"),
          arguments: [("ad01_fp32", "ad01_int8"), ("kws_float32", "kws_int8"), ("resnet8_float", "resnet8_int8"), ("vww96_float", "vww96_int8")])
    func ownInt8MatchesTheConvertersInt8(pair: (String, String)) throws {
        let floatDir = Corpus.shared + "/" + pair.0, int8Dir = Corpus.shared + "/" + pair.1
        let floatGraph = try Corpus.graph(floatDir)
        let samples = try Corpus.samples(floatDir)
        let calibration = try Calibration.run(floatGraph, samples: samples)
        let ours = try Quantizer.correctBias(reference: floatGraph, quantized: try Quantizer.int8(floatGraph, calibration: calibration), samples: samples)
        let reference = try floatOutputs(floatGraph, samples: samples)
        let mineOut = try floatOutputs(ours, samples: samples)
        let mine = QualityReport.compare(name: "ember-int8", reference: reference, candidate: mineOut, classifier: isClassifier(floatGraph))
        let theirs = QualityReport.compare(name: "converter-int8", reference: reference,
                                           candidate: try floatOutputs(try Corpus.graph(int8Dir), samples: try Corpus.samples(int8Dir)), classifier: isClassifier(floatGraph))
        if mine.quality < theirs.quality - 1 {
            let theirsPL = try perLayerSQNR(reference: floatGraph, candidate: try Corpus.graph(int8Dir), samples: samples, candidateSamples: try Corpus.samples(int8Dir))
            let t = Dictionary(theirsPL.map { ($0.node, $0.sqnrDb) }, uniquingKeysWith: { a, _ in a })
            for (n, db) in try perLayerSQNR(reference: floatGraph, candidate: ours, samples: samples) { print("  \(n.suffix(30)): \(db) dB vs \(t[n] ?? .nan)") }
        }
        print("\(pair.0): ember int8 SQNR \(mine.sqnrDb) top1 \(mine.top1Agreement ?? -1); converter int8 SQNR \(theirs.sqnrDb) top1 \(theirs.top1Agreement ?? -1)")
        #expect(mine.quality >= theirs.quality - 1, "\(pair.0): \(mine.quality) dB vs \(theirs.quality) dB")
        #expect((mine.top1Agreement ?? 1) >= (theirs.top1Agreement ?? 1) - 0.01)
        #expect((mine.top1Agreement == nil) == (pair.0 == "ad01_fp32")) // the autoencoder is no classifier
        // The rung keeps the float signature.
        #expect(ours.inputs.map { ours.values[$0].dtype } == floatGraph.inputs.map { floatGraph.values[$0].dtype })
        #expect(ours.outputs.map { ours.values[$0].name } == floatGraph.outputs.map { floatGraph.values[$0].name })
    }
}
