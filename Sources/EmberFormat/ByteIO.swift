import EmberCore

/// Little-endian writer used by the package writer and the section codecs.
public struct ByteWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public var count: Int { bytes.count }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    public mutating func f32(_ v: Float) { u32(v.bitPattern) }
    public mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u32(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }
    public mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    public mutating func raw(_ b: UnsafeRawBufferPointer) { bytes.append(contentsOf: b) }
    /// Appends zeros until the length is a multiple of `alignment`.
    public mutating func align(_ alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }
    /// Overwrites 4 bytes at `offset`.
    public mutating func patchU32(_ v: UInt32, at offset: Int) {
        withUnsafeBytes(of: v.littleEndian) { for i in 0..<4 { bytes[offset + i] = $0[i] } }
    }
    public mutating func patchU64(_ v: UInt64, at offset: Int) {
        withUnsafeBytes(of: v.littleEndian) { for i in 0..<8 { bytes[offset + i] = $0[i] } }
    }
}

/// Bounds-checked little-endian reader over untrusted bytes. Every read checks
/// the remaining length first and throws `malformedPackage` naming the section
/// and the absolute file offset; nothing here traps or allocates by an unchecked size.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    /// Offset of `bytes[0]` in the file, for error messages.
    public let baseOffset: Int
    public let section: String
    public private(set) var position: Int = 0
    /// Whatever owns `bytes` (e.g. a decompressed section), kept alive with the reader.
    private let keepAlive: AnyObject?

    public init(_ bytes: UnsafeRawBufferPointer, section: String, baseOffset: Int, keepAlive: AnyObject? = nil) {
        self.bytes = bytes; self.section = section; self.baseOffset = baseOffset; self.keepAlive = keepAlive
    }

    public var remaining: Int { bytes.count - position }
    public var fileOffset: Int { baseOffset + position }

    public func error(_ reason: String, at position: Int? = nil) -> EmberError {
        .malformedPackage(section: section, offset: baseOffset + (position ?? self.position), reason: reason)
    }

    private mutating func take(_ n: Int) throws -> Int {
        guard n >= 0, n <= remaining else {
            throw error("needs \(n) bytes, only \(remaining) left")
        }
        let p = position
        position += n
        return p
    }

    public mutating func u8() throws -> UInt8 { bytes[try take(1)] }
    public mutating func u16() throws -> UInt16 {
        let p = try take(2)
        return UInt16(bytes[p]) | UInt16(bytes[p + 1]) << 8
    }
    public mutating func u32() throws -> UInt32 {
        let p = try take(4)
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[p + i]) << (8 * UInt32(i)) }
        return v
    }
    public mutating func u64() throws -> UInt64 {
        let p = try take(8)
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[p + i]) << (8 * UInt64(i)) }
        return v
    }
    public mutating func i32() throws -> Int32 { Int32(bitPattern: try u32()) }
    public mutating func i64() throws -> Int64 { Int64(bitPattern: try u64()) }
    public mutating func f32() throws -> Float { Float(bitPattern: try u32()) }

    /// A u64 that must fit in an Int and be at most `limit`.
    public mutating func length(_ what: String, limit: Int = Int(Int32.max)) throws -> Int {
        let at = position
        let v = try u64()
        guard v <= UInt64(limit) else { throw error("\(what) \(v) exceeds \(limit)", at: at) }
        return Int(v)
    }

    /// A u32 count of items each taking at least `minBytes`, checked against what is left.
    public mutating func count(_ what: String, minBytes: Int) throws -> Int {
        let at = position
        let n = Int(try u32())
        guard n <= remaining / max(minBytes, 1) else {
            throw error("\(what) count \(n) cannot fit in the \(remaining) bytes left", at: at)
        }
        return n
    }

    /// An i64 that must lie in `range`.
    public mutating func int(_ what: String, in range: ClosedRange<Int>) throws -> Int {
        let at = position
        let v = try i64()
        guard v >= Int64(range.lowerBound), v <= Int64(range.upperBound) else {
            throw error("\(what) \(v) is outside \(range.lowerBound)...\(range.upperBound)", at: at)
        }
        return Int(v)
    }

    public mutating func string(_ what: String, limit: Int = GraphLimits.maxNameBytes) throws -> String {
        let at = position
        let n = Int(try u32())
        guard n <= limit else { throw error("\(what) length \(n) exceeds \(limit)", at: at) }
        let p = try take(n)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[p..<(p + n)])
        guard let s = String(validating: slice.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw error("\(what) is not valid UTF-8", at: p)
        }
        return s
    }

    public mutating func skip(_ n: Int) throws { _ = try take(n) }
    /// The next `n` bytes as an array (`what` names them in errors).
    public mutating func bytes(_ n: Int, _ what: String) throws -> [UInt8] {
        guard n >= 0, n <= remaining else { throw error("\(what): needs \(n) bytes, only \(remaining) left") }
        let start = try take(n)
        return Array(UnsafeRawBufferPointer(rebasing: self.bytes[start..<(start + n)]))
    }
}
