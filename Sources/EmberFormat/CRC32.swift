/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final xor
/// 0xFFFFFFFF) — the same as zlib's crc32. Detects every 1-, 2- and 3-bit error
/// and every burst up to 32 bits, which is what a bit-flipped package needs.
///
/// Loading a package checks every section, so this runs over every byte of the weights. Where the CPU
/// has them, carry-less multiplies (x86 PCLMULQDQ) or the ARMv8 CRC32 instructions take all but the last
/// few bytes (ember_crc32_prefix); the rest, and CPUs without them, go through slicing-by-8 (eight
/// 256-entry tables, eight bytes a step) — the reference `tableChecksum` the fast paths are tested against.
import CEmberKernels

public enum CRC32 {
    /// tables[k * 256 + i]: the CRC of byte i followed by k zero bytes.
    private static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let previous = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (previous >> 8) ^ t[Int(previous & 0xFF)]
            }
        }
        return t
    }()

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var consumed: Int64 = 0
        let c = bytes.baseAddress.map {
            ember_crc32_prefix(0xFFFF_FFFF, $0.assumingMemoryBound(to: UInt8.self), Int64(bytes.count), &consumed)
        } ?? 0xFFFF_FFFF
        return update(c, UnsafeRawBufferPointer(rebasing: bytes[Int(consumed)...])) ^ 0xFFFF_FFFF
    }

    /// The same by the tables alone (the reference).
    public static func tableChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        update(0xFFFF_FFFF, bytes) ^ 0xFFFF_FFFF
    }

    /// The CRC register after `bytes`, from `register` (no inversions).
    static func update(_ register: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        tables.withUnsafeBufferPointer { t in
            var c = register
            let count = bytes.count
            var i = 0
            while i + 8 <= count {
                let one = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ c
                let two = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                c = t[7 * 256 + Int(one & 0xFF)] ^ t[6 * 256 + Int((one >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((one >> 16) & 0xFF)] ^ t[4 * 256 + Int(one >> 24)]
                    ^ t[3 * 256 + Int(two & 0xFF)] ^ t[2 * 256 + Int((two >> 8) & 0xFF)]
                    ^ t[256 + Int((two >> 16) & 0xFF)] ^ t[Int(two >> 24)]
                i += 8
            }
            while i < count {
                c = t[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
            return c
        }
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
