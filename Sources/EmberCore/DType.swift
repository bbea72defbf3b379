/// Element encodings. Raw values are part of the `.ember` format: never renumber.
public enum DType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 1
    case f16 = 2
    case i8 = 3
    case u8 = 4
    case i32 = 5
    case i64 = 6
    case bool = 7
    /// Symmetric INT4 weights in blocks of 32 along the last dimension, each block
    /// an f16 scale followed by 16 bytes of nibbles (see `EncodingTraits`).
    case int4Block32 = 8
    /// Plain integers of the widths ONNX models carry (no format version: an older reader refuses the byte).
    case i16 = 9
    case u16 = 10
    case u32 = 11
    case u64 = 12

    /// The one table that describes each encoding (as ggml's type traits do).
    public var traits: EncodingTraits {
        switch self {
        case .f32: return EncodingTraits(name: "f32", elementsPerBlock: 1, bytesPerBlock: 4)
        case .f16: return EncodingTraits(name: "f16", elementsPerBlock: 1, bytesPerBlock: 2)
        case .i8: return EncodingTraits(name: "i8", elementsPerBlock: 1, bytesPerBlock: 1)
        case .u8: return EncodingTraits(name: "u8", elementsPerBlock: 1, bytesPerBlock: 1)
        case .i32: return EncodingTraits(name: "i32", elementsPerBlock: 1, bytesPerBlock: 4)
        case .i64: return EncodingTraits(name: "i64", elementsPerBlock: 1, bytesPerBlock: 8)
        case .bool: return EncodingTraits(name: "bool", elementsPerBlock: 1, bytesPerBlock: 1)
        case .int4Block32: return EncodingTraits(name: "int4b32", elementsPerBlock: 32, bytesPerBlock: 18)
        case .i16: return EncodingTraits(name: "i16", elementsPerBlock: 1, bytesPerBlock: 2)
        case .u16: return EncodingTraits(name: "u16", elementsPerBlock: 1, bytesPerBlock: 2)
        case .u32: return EncodingTraits(name: "u32", elementsPerBlock: 1, bytesPerBlock: 4)
        case .u64: return EncodingTraits(name: "u64", elementsPerBlock: 1, bytesPerBlock: 8)
        }
    }

    public var description: String { traits.name }

    /// Whether values of this type are stored in blocks (only for constants).
    public var isBlockEncoded: Bool { traits.elementsPerBlock > 1 }

    /// Integers computed as integers (two's-complement wrapping): never affine-quantized.
    public var isPlainInteger: Bool { [.i32, .i64, .i16, .u16, .u32, .u64].contains(self) }

    /// Whether this is an 8-bit affine-quantized activation type.
    public var isQuantized8: Bool { self == .i8 || self == .u8 }

    /// Bytes needed for a tensor of the given concrete dims, or nil on overflow or
    /// when a block encoding's last dim is not a whole number of blocks.
    public func byteCount(dims: [Int]) -> Int? {
        var elements = 1
        for d in dims {
            guard d >= 0, let e = checkedMultiply(elements, d) else { return nil }
            elements = e
        }
        let t = traits
        if t.elementsPerBlock == 1 { return checkedMultiply(elements, t.bytesPerBlock) }
        guard let last = dims.last, last % t.elementsPerBlock == 0 else { return nil }
        return checkedMultiply(elements / t.elementsPerBlock, t.bytesPerBlock)
    }
}

/// Block size and storage of one encoding.
public struct EncodingTraits: Sendable, Equatable {
    public let name: String
    public let elementsPerBlock: Int
    public let bytesPerBlock: Int
}
