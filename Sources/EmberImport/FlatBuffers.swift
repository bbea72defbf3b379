import EmberCore

/// A reader for FlatBuffers over untrusted bytes. Every offset, vtable and
/// length is checked against the buffer before it is followed; a violation
/// is `EmberError.malformedModel` with the byte offset. Only the read side,
/// and only what a schema-driven importer needs: tables, scalars, strings,
/// vectors of scalars and of tables.
public struct FlatBuffer {
    public let bytes: UnsafeRawBufferPointer
    public let format: String

    public init(_ bytes: UnsafeRawBufferPointer, format: String) {
        self.bytes = bytes; self.format = format
    }

    func fail(_ offset: Int, _ reason: String) -> EmberError {
        .malformedModel(format: format, offset: offset, reason: reason)
    }

    func check(_ offset: Int, _ size: Int, _ what: String) throws {
        guard offset >= 0, size >= 0, offset <= bytes.count, size <= bytes.count - offset else {
            throw fail(offset, "\(what) (\(size) bytes at \(offset)) lies outside the \(bytes.count)-byte file")
        }
    }

    func load<T: FixedWidthInteger>(_ offset: Int, as: T.Type, _ what: String) throws -> T {
        try check(offset, MemoryLayout<T>.size, what)
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: bytes[offset + i]) << (8 * i) }
        return v
    }

    /// The root table (the first 4 bytes are its offset).
    public func root() throws -> FBTable {
        let off = Int(try load(0, as: UInt32.self, "root offset"))
        return try FBTable(self, at: off)
    }

    /// The 4-byte file identifier after the root offset (e.g. "TFL3").
    public var identifier: String? {
        guard bytes.count >= 8 else { return nil }
        return String(decoding: bytes[4..<8], as: UTF8.self)
    }
}

public struct FBTable {
    public let fb: FlatBuffer
    public let position: Int
    private let vtable: Int
    private let vtableSize: Int
    private let tableSize: Int

    init(_ fb: FlatBuffer, at position: Int) throws {
        self.fb = fb
        self.position = position
        let soffset = Int(try fb.load(position, as: Int32.self, "table"))
        let vt = position - soffset
        vtableSize = Int(try fb.load(vt, as: UInt16.self, "vtable"))
        tableSize = Int(try fb.load(vt + 2, as: UInt16.self, "vtable"))
        guard vtableSize >= 4, vtableSize % 2 == 0 else { throw fb.fail(vt, "vtable size \(vtableSize) is invalid") }
        try fb.check(vt, vtableSize, "vtable")
        try fb.check(position, tableSize, "table")
        vtable = vt
    }

    /// Absolute offset of field `slot` (0-based, schema order), nil when absent.
    func field(_ slot: Int, size: Int) throws -> Int? {
        let entry = 4 + 2 * slot
        guard entry + 2 <= vtableSize else { return nil }
        let rel = Int(try fb.load(vtable + entry, as: UInt16.self, "vtable entry"))
        guard rel != 0 else { return nil }
        guard rel + size <= tableSize else { throw fb.fail(position + rel, "field \(slot) runs past its table") }
        return position + rel
    }

    public func int<T: FixedWidthInteger>(_ slot: Int, _ type: T.Type, default d: T = 0) throws -> T {
        guard let at = try field(slot, size: MemoryLayout<T>.size) else { return d }
        return try fb.load(at, as: T.self, "field \(slot)")
    }

    public func float(_ slot: Int, default d: Float = 0) throws -> Float {
        guard let at = try field(slot, size: 4) else { return d }
        return Float(bitPattern: try fb.load(at, as: UInt32.self, "field \(slot)"))
    }

    public func bool(_ slot: Int, default d: Bool = false) throws -> Bool {
        guard let at = try field(slot, size: 1) else { return d }
        return try fb.load(at, as: UInt8.self, "field \(slot)") != 0
    }

    /// Follows the uoffset stored at field `slot`.
    private func target(_ slot: Int) throws -> Int? {
        guard let at = try field(slot, size: 4) else { return nil }
        let rel = Int(try fb.load(at, as: UInt32.self, "offset field \(slot)"))
        let t = at + rel
        try fb.check(t, 4, "object referenced by field \(slot)")
        return t
    }

    public func table(_ slot: Int) throws -> FBTable? {
        guard let t = try target(slot) else { return nil }
        return try FBTable(fb, at: t)
    }

    public func vector(_ slot: Int, elementSize: Int) throws -> FBVector? {
        guard let t = try target(slot) else { return nil }
        return try FBVector(fb, at: t, elementSize: elementSize)
    }

    public func string(_ slot: Int) throws -> String? {
        guard let v = try vector(slot, elementSize: 1) else { return nil }
        return String(decoding: fb.bytes[v.start..<(v.start + v.count)], as: UTF8.self)
    }

    /// A vector of scalars as Ints.
    public func ints<T: FixedWidthInteger>(_ slot: Int, _ type: T.Type) throws -> [Int]? {
        guard let v = try vector(slot, elementSize: MemoryLayout<T>.size) else { return nil }
        return try (0..<v.count).map { Int(try v.scalar($0, T.self)) }
    }

    public func floats(_ slot: Int) throws -> [Float]? {
        guard let v = try vector(slot, elementSize: 4) else { return nil }
        return try (0..<v.count).map { Float(bitPattern: try v.scalar($0, UInt32.self)) }
    }
}

public struct FBVector {
    public let fb: FlatBuffer
    /// Offset of the first element.
    public let start: Int
    public let count: Int
    public let elementSize: Int

    init(_ fb: FlatBuffer, at position: Int, elementSize: Int) throws {
        self.fb = fb
        count = Int(try fb.load(position, as: UInt32.self, "vector length"))
        start = position + 4
        self.elementSize = elementSize
        guard count <= (fb.bytes.count - start) / max(elementSize, 1) else {
            throw fb.fail(position, "vector of \(count) × \(elementSize) bytes runs past the end")
        }
    }

    public func scalar<T: FixedWidthInteger>(_ i: Int, _ type: T.Type) throws -> T {
        try fb.load(start + i * elementSize, as: T.self, "vector element")
    }

    public func table(_ i: Int) throws -> FBTable {
        let at = start + i * 4
        let rel = Int(try fb.load(at, as: UInt32.self, "vector element"))
        return try FBTable(fb, at: at + rel)
    }

    /// The raw bytes of a vector of bytes.
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: fb.bytes[start..<(start + count * elementSize)])
    }
}
