// ONNX tensors and attributes read out of the generated protobuf types (onnx.pb.swift), with
// every size checked: the model is untrusted input.
import EmberCore
import SwiftProtobuf
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A tensor's contents as the importer handles them: dtype, ONNX dims, little-endian bytes.
struct HostTensor {
    var dtype: DType
    var dims: [Int]
    var bytes: [UInt8]

    var elementCount: Int { dims.reduce(1, *) }

    /// The elements as Int (integer and bool tensors), nil for other types.
    var ints: [Int]? {
        let n = bytes.count / max(dtype.traits.bytesPerBlock, 1)
        switch dtype {
        case .i64: return (0..<n).map { Int(truncatingIfNeeded: load(Int64.self, $0)) }
        case .i32: return (0..<n).map { Int(load(Int32.self, $0)) }
        case .i8: return (0..<n).map { Int(Int8(bitPattern: bytes[$0])) }
        case .u8, .bool: return bytes.map { Int($0) }
        case .i16: return (0..<n).map { Int(Int16(bitPattern: load(UInt16.self, $0))) }
        case .u16: return (0..<n).map { Int(load(UInt16.self, $0)) }
        case .u32: return (0..<n).map { Int(load(UInt32.self, $0)) }
        case .u64: return (0..<n).map { Int(truncatingIfNeeded: load(UInt64.self, $0)) }
        default: return nil
        }
    }

    /// The elements as Float (float tensors, and integer ones converted), nil for other types.
    var floats: [Float]? {
        if dtype == .f32 { return (0..<(bytes.count / 4)).map { load(Float.self, $0) } }
        if dtype == .f16 { return (0..<(bytes.count / 2)).map { Float(Float16(bitPattern: load(UInt16.self, $0))) } }
        return ints?.map { Float($0) }
    }

    private func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
        var v: T = 0
        for b in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: bytes[i * MemoryLayout<T>.size + b]) << (8 * b) }
        return v
    }

    private func load(_: Float.Type, _ i: Int) -> Float { Float(bitPattern: load(UInt32.self, i)) }

    static func floats(_ values: [Float], dims: [Int]) -> HostTensor {
        HostTensor(dtype: .f32, dims: dims, bytes: values.withUnsafeBytes { Array($0) })
    }

    static func int64s(_ values: [Int], dims: [Int]) -> HostTensor {
        HostTensor(dtype: .i64, dims: dims, bytes: values.flatMap { v in withUnsafeBytes(of: Int64(v).littleEndian) { Array($0) } })
    }

    /// Integers in `dtype` (any integer type or bool), truncated to its width.
    static func integers(_ values: [Int], dtype: DType, dims: [Int]) -> HostTensor {
        let bytes: [UInt8]
        switch dtype {
        case .i64: bytes = values.flatMap { v in withUnsafeBytes(of: Int64(v).littleEndian) { Array($0) } }
        case .i32, .u32: bytes = values.flatMap { v in withUnsafeBytes(of: Int32(truncatingIfNeeded: v).littleEndian) { Array($0) } }
        case .u64: bytes = values.flatMap { v in withUnsafeBytes(of: Int64(v).littleEndian) { Array($0) } }
        case .i16, .u16: bytes = values.flatMap { v in withUnsafeBytes(of: Int16(truncatingIfNeeded: v).littleEndian) { Array($0) } }
        case .bool: bytes = values.map { $0 != 0 ? 1 : 0 }
        default: bytes = values.map { UInt8(truncatingIfNeeded: $0) }
        }
        return HostTensor(dtype: dtype, dims: dims, bytes: bytes)
    }
}

/// The ONNX `TensorProto.DataType` codes and the Ember dtype each maps to.
enum ONNXDataType {
    static let names: [Int32: String] = [
        1: "float", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string", 9: "bool",
        10: "float16", 11: "double", 12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128", 16: "bfloat16",
    ]

    static func name(_ code: Int32) -> String { names[code] ?? "type \(code)" }

    static func dtype(_ code: Int32) -> DType? {
        switch code {
        case 1: return .f32
        case 2: return .u8
        case 3: return .i8
        case 6: return .i32
        case 7: return .i64
        case 9: return .bool
        case 10: return .f16
        case 4: return .u16
        case 5: return .i16
        case 12: return .u32
        case 13: return .u64
        default: return nil
        }
    }

    static func code(_ dtype: DType) -> Int32 {
        switch dtype {
        case .f32: return 1
        case .u8: return 2
        case .i8: return 3
        case .i32: return 6
        case .i64: return 7
        case .bool: return 9
        case .f16: return 10
        case .u16: return 4
        case .i16: return 5
        case .u32: return 12
        case .u64: return 13
        case .int4Block32: return 0
        }
    }
}

/// Reads the file an ONNX external-data entry names, relative to the model's folder.
/// The path must stay inside that folder (no absolute paths, no `..`, no symlink out of it).
final class ExternalDataReader {
    /// The model's folder; nil when the model came from memory (external data is then an error).
    let directory: String?
    let limits: LoadLimits
    /// Each data file is read once (many tensors share one file).
    private var files: [String: [UInt8]] = [:]

    init(directory: String?, limits: LoadLimits) { self.directory = directory; self.limits = limits }

    func read(location: String, offset: Int, length: Int?, tensor: String) throws -> [UInt8] {
        guard let directory else {
            throw EmberError.unsupported(node: "tensor '\(tensor)'", reason: "external data '\(location)' needs the model's folder (import from a file)")
        }
        let parts = location.split(separator: "/", omittingEmptySubsequences: true)
        guard !location.hasPrefix("/"), !parts.isEmpty, !parts.contains(where: { $0 == ".." || $0 == "." }),
              !location.contains("\\"), !location.utf8.contains(0) else {
            throw EmberError.malformedModel(format: "ONNX", offset: 0,
                                       reason: "tensor '\(tensor)': external data path '\(location)' leaves the model's folder")
        }
        let path = directory + "/" + location
        let resolvedDir = try realPath(directory), resolved = try realPath(path)
        guard resolved.hasPrefix(resolvedDir + "/") else {
            throw EmberError.malformedModel(format: "ONNX", offset: 0,
                                       reason: "tensor '\(tensor)': external data '\(location)' resolves outside the model's folder")
        }
        if files[resolved] == nil {
            files[resolved] = try readFile(resolved, FileReadPolicy("external data file", maxBytes: limits.maxFileBytes))
        }
        let file = files[resolved] ?? []
        let end = length.map { offset + $0 } ?? file.count
        guard offset >= 0, end >= offset, end <= file.count else {
            throw EmberError.malformedModel(format: "ONNX", offset: 0,
                                       reason: "tensor '\(tensor)': external data \(offset)..<\(end) outside '\(location)' (\(file.count) bytes)")
        }
        return Array(file[offset..<end])
    }

    private func realPath(_ path: String) throws -> String {
        guard let p = realpath(path, nil) else {
            throw EmberError.io(path: path, errno: errno, reason: "cannot resolve the external data path")
        }
        defer { free(p) }
        return String(cString: p)
    }
}

extension Onnx_TensorProto {
    /// The tensor's contents, every count checked against `limits` before anything is allocated.
    func host(external: ExternalDataReader, limits: LoadLimits) throws -> HostTensor {
        let what = "tensor '\(name)'"
        guard let dtype = ONNXDataType.dtype(dataType) else {
            throw EmberError.unsupported(node: what, reason: "ONNX \(ONNXDataType.name(dataType)) tensors (supported: float, float16, int8, uint8, int32, int64, bool)")
        }
        guard dims.count <= GraphLimits.maxRank else {
            throw EmberError.unsupported(node: what, reason: "rank \(dims.count) (at most \(GraphLimits.maxRank))")
        }
        guard dims.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }), let n = EmberCore.elementCount(dims.map { Int($0) }) else {
            throw EmberError.malformedModel(format: "ONNX", offset: 0, reason: "\(what) has dims \(dims)")
        }
        try LoadLimits.check(what, needs: n, limit: limits.maxTensorElements, unit: "elements")
        let intDims = dims.map { Int($0) }
        let size = dtype.traits.bytesPerBlock
        func checked(_ bytes: [UInt8]) throws -> HostTensor {
            guard bytes.count == n * size else {
                throw EmberError.malformedModel(format: "ONNX", offset: 0,
                                           reason: "\(what) \(dtype)\(formatDims(intDims)) has \(bytes.count) bytes of data, needs \(n * size)")
            }
            return HostTensor(dtype: dtype, dims: intDims, bytes: bytes)
        }
        if dataLocation == .external {
            var location: String?, offset = 0, length: Int?
            for entry in externalData {
                switch entry.key {
                case "location": location = entry.value
                case "offset":
                    guard let v = Int(entry.value), v >= 0 else { throw EmberError.malformedModel(format: "ONNX", offset: 0, reason: "\(what): external data offset '\(entry.value)'") }
                    offset = v
                case "length":
                    guard let v = Int(entry.value), v >= 0 else { throw EmberError.malformedModel(format: "ONNX", offset: 0, reason: "\(what): external data length '\(entry.value)'") }
                    length = v
                default: break
                }
            }
            guard let location else { throw EmberError.malformedModel(format: "ONNX", offset: 0, reason: "\(what) is external but names no location") }
            return try checked(try external.read(location: location, offset: offset, length: length, tensor: name))
        }
        if hasRawData { return try checked([UInt8](rawData)) }
        // Typed fields (the values are in the field of their storage class).
        func count(_ k: Int) throws {
            guard k == n else {
                throw EmberError.malformedModel(format: "ONNX", offset: 0, reason: "\(what) \(formatDims(intDims)) holds \(k) values")
            }
        }
        switch dtype {
        case .f32:
            try count(floatData.count)
            return HostTensor(dtype: dtype, dims: intDims, bytes: floatData.withUnsafeBytes { Array($0) })
        case .i64:
            try count(int64Data.count)
            return HostTensor.int64s(int64Data.map { Int($0) }, dims: intDims)
        case .u32, .u64:
            // uint32 and uint64 values travel in uint64_data.
            try count(uint64Data.count)
            return HostTensor.integers(uint64Data.map { Int(truncatingIfNeeded: $0) }, dtype: dtype, dims: intDims)
        case .f16:
            // float16 values travel in int32_data, one per element (low 16 bits).
            try count(int32Data.count)
            return HostTensor(dtype: dtype, dims: intDims, bytes: int32Data.flatMap { v in
                withUnsafeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian) { Array($0) } })
        default:
            try count(int32Data.count)
            return HostTensor.integers(int32Data.map { Int($0) }, dtype: dtype, dims: intDims)
        }
    }
}

/// A node's attributes by name, with typed accessors that name the node and attribute in errors.
struct ONNXAttributes {
    let node: String
    private var byName: [String: Onnx_AttributeProto] = [:]

    init(_ n: Onnx_NodeProto, node: String) {
        self.node = node
        for a in n.attribute { byName[a.name] = a }
    }

    func has(_ name: String) -> Bool { byName[name] != nil }

    func int(_ name: String, _ fallback: Int) throws -> Int {
        guard let a = byName[name] else { return fallback }
        guard a.type == .int || a.hasI else { throw bad(name, "an int") }
        guard a.i >= Int64(Int32.min) * 1024, a.i <= Int64(Int32.max) * 1024 else { return a.i < 0 ? Int(Int32.min) : Int(Int32.max) }
        return Int(a.i)
    }

    func float(_ name: String, _ fallback: Float) throws -> Float {
        guard let a = byName[name] else { return fallback }
        guard a.type == .float || a.hasF else { throw bad(name, "a float") }
        return a.f
    }

    func string(_ name: String, _ fallback: String) throws -> String {
        guard let a = byName[name] else { return fallback }
        guard a.type == .string || a.hasS else { throw bad(name, "a string") }
        return String(decoding: a.s, as: UTF8.self)
    }

    func ints(_ name: String) throws -> [Int]? {
        guard let a = byName[name] else { return nil }
        guard a.type == .ints || (a.type == .undefined && !a.ints.isEmpty) else { throw bad(name, "a list of ints") }
        return a.ints.map { Int(clamping: $0).clamped(to: Int(Int32.min)...Int(Int32.max)) }
    }

    func floats(_ name: String) throws -> [Float]? {
        guard let a = byName[name] else { return nil }
        guard a.type == .floats || (a.type == .undefined && !a.floats.isEmpty) else { throw bad(name, "a list of floats") }
        return a.floats
    }

    func strings(_ name: String) throws -> [String]? {
        guard let a = byName[name] else { return nil }
        guard a.type == .strings || (a.type == .undefined && !a.strings.isEmpty) else { throw bad(name, "a list of strings") }
        return a.strings.map { String(decoding: $0, as: UTF8.self) }
    }

    func tensor(_ name: String) -> Onnx_TensorProto? { byName[name].flatMap { $0.hasT ? $0.t : nil } }

    func graph(_ name: String) -> Onnx_GraphProto? { byName[name].flatMap { $0.hasG ? $0.g : nil } }

    private func bad(_ name: String, _ want: String) -> EmberError {
        EmberError.invalidGraph(node: node, reason: "attribute '\(name)' must be \(want)")
    }
}
