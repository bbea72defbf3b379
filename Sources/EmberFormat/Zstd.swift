import CZstd
import EmberCore

/// zstd through the system libzstd (stable API only).
public enum Zstd {
    public static let defaultLevel: Int32 = 19

    public static func compress(_ input: [UInt8], level: Int32 = defaultLevel) throws -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var out = [UInt8](repeating: 0, count: bound)
        let n = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                ZSTD_compress(dst.baseAddress, bound, src.baseAddress, src.count, level)
            }
        }
        if ZSTD_isError(n) != 0 {
            throw EmberError.invalidArgument("zstd compression failed: \(String(cString: ZSTD_getErrorName(n)))")
        }
        out.removeLast(out.count - n)
        return out
    }

    /// Decompresses one frame whose header must declare exactly `rawLength`
    /// bytes, into a new 64-byte aligned buffer. The caller has already capped
    /// `rawLength` (and charged it to `account`, which the buffer releases when
    /// it goes); a frame that lies about its size is an error, not an allocation.
    public static func decompress(_ input: UnsafeRawBufferPointer, rawLength: Int, section: String, offset: Int,
                                  account: MemoryAccount? = nil) throws -> ConstantBuffer {
        let declared = ZSTD_getFrameContentSize(input.baseAddress, input.count)
        // ZSTD_CONTENTSIZE_UNKNOWN = 0ULL - 1, ZSTD_CONTENTSIZE_ERROR = 0ULL - 2
        guard declared != UInt64.max, declared != UInt64.max - 1 else {
            throw EmberError.malformedPackage(section: section, offset: offset, reason: "zstd frame header is invalid or does not declare its size")
        }
        guard declared == UInt64(rawLength) else {
            throw EmberError.malformedPackage(section: section, offset: offset, reason: "zstd frame declares \(declared) bytes, section table says \(rawLength)")
        }
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(rawLength, 1), alignment: 64)
        let n = ZSTD_decompress(out.baseAddress, rawLength, input.baseAddress, input.count)
        if ZSTD_isError(n) != 0 || n != rawLength {
            out.deallocate()
            let why = ZSTD_isError(n) != 0 ? String(cString: ZSTD_getErrorName(n)) : "produced \(n) bytes"
            throw EmberError.malformedPackage(section: section, offset: offset, reason: "zstd decompression failed: \(why)")
        }
        return ConstantBuffer(adopting: out, count: rawLength, account: account)
    }
}
