import ArgumentParser
import Ember
import EmberImport

/// A model file `ember pack` reads, in the format its extension names, with what the user
/// fixed about an ONNX model's dynamic dims (`--dim`, `--shape`) and frozen inputs (`--freeze`).
struct ModelSource {
    enum Format: String { case tflite, onnx }

    static let extensions = [".tflite", ".onnx"]

    var onnx = ONNXImporter.Options()
    var limits: LoadLimits

    static func format(of path: String) -> Format? {
        path.hasSuffix(".tflite") ? .tflite : path.hasSuffix(".onnx") ? .onnx : nil
    }

    /// The file name without folder or extension: the package and graph name.
    static func baseName(_ path: String) -> String {
        var base = String(path.split(separator: "/").last ?? Substring(path))
        for e in extensions { base = base.replacingSuffix(e, with: "") }
        return base
    }

    /// The imported graph, the source format and the FNV-1a hash and size of the file.
    func read(_ path: String, name: String) throws -> (graph: Graph, format: Format, hash: String, bytes: Int) {
        guard let format = Self.format(of: path) else {
            throw EmberError.invalidInput(name: path, reason: "is neither a .tflite nor an .onnx model")
        }
        let bytes = try readFile(path, .model)
        let graph: Graph = try bytes.withUnsafeBytes { raw in
            switch format {
            case .tflite: return try TFLiteImporter.importModel(raw, name: name, limits: limits)
            case .onnx:
                // External data files are looked up beside the model and may not leave its folder.
                let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
                return try ONNXImporter.importModel(raw, name: name, directory: folder.isEmpty ? "/" : folder,
                                                    options: onnx, limits: limits)
            }
        }
        return (graph, format, bytes.withUnsafeBytes { fnv1aHex($0) }, bytes.count)
    }

    /// `--dim NAME=N`: a named ONNX dim fixed to N.
    static func parseDims(_ specs: [String]) throws -> [String: Int] {
        var dims: [String: Int] = [:]
        for spec in specs {
            if spec.contains("<=") {
                throw ValidationError("--dim '\(spec)': bounded dims (NAME<=N) are not supported yet; "
                                      + "fix the dim with --dim NAME=N (the package then runs at that size)")
            }
            guard let eq = spec.lastIndex(of: "="), eq != spec.startIndex,
                  let n = Int(spec[spec.index(after: eq)...]), n >= 1, n <= Int(Int32.max) else {
                throw ValidationError("--dim must be NAME=N with N ≥ 1 (got '\(spec)')")
            }
            let name = String(spec[..<eq])
            guard dims.updateValue(n, forKey: name) == nil else { throw ValidationError("--dim fixes '\(name)' twice") }
        }
        return dims
    }

    /// `--shape INPUT=1x3x224x224`: one input's full dims.
    static func parseShapes(_ specs: [String]) throws -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for spec in specs {
            guard let eq = spec.lastIndex(of: "="), eq != spec.startIndex else {
                throw ValidationError("--shape must be INPUT=DIMS, e.g. input=1x3x224x224 (got '\(spec)')")
            }
            let text = spec[spec.index(after: eq)...]
            if text.contains("<=") {
                throw ValidationError("--shape '\(spec)': bounded dims (<=N) are not supported yet; give every dim its size")
            }
            var dims: [Int] = []
            for part in text.split(separator: "x", omittingEmptySubsequences: false) {
                guard let d = Int(part), d >= 1, d <= Int(Int32.max) else {
                    throw ValidationError("--shape '\(spec)': '\(part)' is not a dim ≥ 1 (dims are separated by x)")
                }
                dims.append(d)
            }
            guard dims.count <= 8 else { throw ValidationError("--shape '\(spec)': more than 8 dims") }
            let name = String(spec[..<eq])
            guard shapes.updateValue(dims, forKey: name) == nil else { throw ValidationError("--shape gives '\(name)' twice") }
        }
        return shapes
    }

    /// `--freeze NAME=FILE.npy`: an input given its value at import. Only the spec's form is checked here.
    static func splitFreeze(_ spec: String) throws -> (name: String, path: String) {
        guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex, spec[spec.index(after: eq)...].hasSuffix(".npy") else {
            throw ValidationError("--freeze must be NAME=FILE.npy (got '\(spec)')")
        }
        return (String(spec[..<eq]), String(spec[spec.index(after: eq)...]))
    }

    /// The frozen inputs read from their .npy files.
    static func loadFrozen(_ specs: [String]) throws -> [String: (dtype: DType, dims: [Int], bytes: [UInt8])] {
        var frozen: [String: (dtype: DType, dims: [Int], bytes: [UInt8])] = [:]
        for spec in specs {
            let (name, path) = try splitFreeze(spec)
            guard frozen[name] == nil else { throw EmberError.invalidArgument("--freeze gives '\(name)' twice") }
            let t = try NPY.decode(try readFile(path, .npy), name: path)
            frozen[name] = (t.dtype, t.dims, t.bytes)
        }
        return frozen
    }
}
