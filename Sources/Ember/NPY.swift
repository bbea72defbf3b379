/// NumPy `.npy` files (format versions 1.0, 2.0 and 3.0): C-order arrays of
/// f32, f16, i8, u8, i16, u16, i32, u32, i64, u64 or bool. The reader treats the bytes as
/// untrusted: every length is checked, bad input is an `EmberError` naming the file.
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] // \x93NUMPY

    public static func decode(_ bytes: [UInt8], name: String) throws -> Tensor {
        func bad(_ why: String) -> EmberError { .invalidInput(name: name, reason: "not a usable .npy file: \(why)") }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw bad("missing the \\x93NUMPY magic") }
        let major = bytes[6]
        var headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw bad("truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default: throw bad("unknown format version \(major)")
        }
        guard headerLength <= bytes.count - headerStart else { throw bad("header of \(headerLength) bytes runs past the end") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = field(header, "descr"), let fortran = field(header, "fortran_order"), let shapeText = field(header, "shape") else {
            throw bad("header lacks descr, fortran_order or shape: \(header.prefix(120))")
        }
        guard fortran == "False" else { throw bad("Fortran-order arrays are not supported (save with np.ascontiguousarray)") }
        let code = descr.trimmingQuotes()
        let dtype: DType
        switch code {
        case "<f4", "=f4": dtype = .f32
        case "<f2", "=f2": dtype = .f16
        case "|i1", "i1", "<i1": dtype = .i8
        case "|u1", "u1", "<u1": dtype = .u8
        case "<i4", "=i4": dtype = .i32
        case "<i8", "=i8": dtype = .i64
        case "<i2", "=i2": dtype = .i16
        case "<u2", "=u2": dtype = .u16
        case "<u4", "=u4": dtype = .u32
        case "<u8", "=u8": dtype = .u64
        case "|b1", "b1": dtype = .bool
        default:
            throw bad("dtype '\(code)' is not supported (use float32, float16, int8, uint8, int16, uint16, int32, uint32, int64, "
                      + "uint64 or bool, little-endian)")
        }
        guard shapeText.hasPrefix("("), shapeText.hasSuffix(")") else { throw bad("shape '\(shapeText)' is not a tuple") }
        var dims: [Int] = []
        for part in shapeText.dropFirst().dropLast().split(separator: ",") {
            let t = part.trimmingCharacters()
            if t.isEmpty { continue }
            guard let d = Int(t), d >= 0, d <= Int(Int32.max) else { throw bad("shape entry '\(t)' is not a size") }
            dims.append(d)
        }
        guard let expected = dtype.byteCount(dims: dims) else { throw bad("shape \(formatDims(dims)) is too large") }
        let dataStart = headerStart + headerLength
        let available = bytes.count - dataStart
        guard available == expected else {
            throw bad("shape \(formatDims(dims)) of \(dtype) needs \(expected) data bytes, the file has \(available)")
        }
        return Tensor(dtype: dtype, dims: dims, bytes: Array(bytes[dataStart...]))
    }

    public static func encode(_ t: Tensor) -> [UInt8] {
        let descr: String
        switch t.dtype {
        case .f32: descr = "<f4"
        case .f16: descr = "<f2"
        case .i8: descr = "|i1"
        case .u8: descr = "|u1"
        case .i32: descr = "<i4"
        case .i64: descr = "<i8"
        case .bool: descr = "|b1"
        case .i16: descr = "<i2"
        case .u16: descr = "<u2"
        case .u32: descr = "<u4"
        case .u64: descr = "<u8"
        case .int4Block32: descr = "|u1" // raw blocks; not produced by the runtime
        }
        let shape = t.dims.count == 1 ? "(\(t.dims[0]),)" : "(" + t.dims.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        let n = header.utf8.count
        return magic + [1, 0, UInt8(n & 0xFF), UInt8(n >> 8)] + Array(header.utf8) + t.bytes
    }

    /// The text of `'key': value` in a Python dict literal (value up to the next
    /// top-level comma or closing brace).
    static func field(_ header: String, _ key: String) -> String? {
        let chars = Array(header)
        let pattern = Array("'\(key)'")
        guard chars.count >= pattern.count else { return nil }
        for start in 0...(chars.count - pattern.count) where Array(chars[start..<(start + pattern.count)]) == pattern {
            var i = start + pattern.count
            while i < chars.count, chars[i] == " " || chars[i] == ":" { i += 1 }
            var depth = 0, j = i
            while j < chars.count {
                let ch = chars[j]
                if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1; if depth < 0 { break } }
                if depth == 0, ch == "," || ch == "}" { break }
                j += 1
                if depth == 0, ch == ")" { break }
            }
            return String(chars[i..<j]).trimmingCharacters()
        }
        return nil
    }
}

extension StringProtocol {
    /// The string without leading and trailing spaces, tabs, carriage returns and newlines.
    public func trimmingCharacters() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
    func trimmingQuotes() -> String {
        var s = Substring(self.trimmingCharacters())
        if s.hasPrefix("'") || s.hasPrefix("\"") { s = s.dropFirst() }
        if s.hasSuffix("'") || s.hasSuffix("\"") { s = s.dropLast() }
        return String(s)
    }
}
