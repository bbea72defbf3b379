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

    /// `--dim NAME=N` fixes a named ONNX dim to N; `--dim NAME<=N` keeps it dynamic up to N.
    static func parseDims(_ specs: [String]) throws -> (sizes: [String: Int], bounds: [String: Int]) {
        var sizes: [String: Int] = [:], bounds: [String: Int] = [:]
        for spec in specs {
            let bounded = spec.contains("<=")
            let separator = bounded ? "<=" : "="
            let parts = spec.split(separator: separator, maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, let n = Int(parts[1]), n >= 1, n <= Int(Int32.max) else {
                throw ValidationError("--dim must be NAME=N or NAME<=N with N ≥ 1 (got '\(spec)')")
            }
            let name = String(parts[0])
            guard sizes[name] == nil, bounds[name] == nil else { throw ValidationError("--dim gives '\(name)' twice") }
            if bounded { bounds[name] = n } else { sizes[name] = n }
        }
        return (sizes, bounds)
    }

    /// `--shape INPUT=1x3x224x224`: one input's full dims; `<=N` for a dim keeps it dynamic up to N
    /// (`--shape tokens=1x<=128`). Returns the dims (bounded ones at their bound) and the bounded axes.
    static func parseShapes(_ specs: [String]) throws -> (shapes: [String: [Int]], boundedAxes: [String: Set<Int>]) {
        var shapes: [String: [Int]] = [:], boundedAxes: [String: Set<Int>] = [:]
        for spec in specs {
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex, !spec[..<eq].hasSuffix("<") else {
                throw ValidationError("--shape must be INPUT=DIMS, e.g. input=1x3x224x224 or tokens=1x<=128 (got '\(spec)')")
            }
            let text = spec[spec.index(after: eq)...]
            var dims: [Int] = [], axes: Set<Int> = []
            for (axis, var part) in text.split(separator: "x", omittingEmptySubsequences: false).enumerated() {
                if part.hasPrefix("<=") {
                    part = part.dropFirst(2)
                    axes.insert(axis)
                }
                guard let d = Int(part), d >= 1, d <= Int(Int32.max) else {
                    throw ValidationError("--shape '\(spec)': '\(part)' is not a dim ≥ 1 (dims are separated by x; <=N bounds one)")
                }
                dims.append(d)
            }
            guard dims.count <= 8 else { throw ValidationError("--shape '\(spec)': more than 8 dims") }
            let name = String(spec[..<eq])
            guard shapes.updateValue(dims, forKey: name) == nil else { throw ValidationError("--shape gives '\(name)' twice") }
            if !axes.isEmpty { boundedAxes[name] = axes }
        }
        return (shapes, boundedAxes)
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
