// Signed packages: keys (Ed25519, libsodium), trusted-key directories, and the SIGN section — a
// signature over the BLAKE2b-256 of every byte of the file but the signature and three checksums
// (`PackageSignature`). Verifying hashes the whole file once: CRC-32 alone would not stop a
// deliberate change.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSodium
import EmberCore

/// libsodium must be initialised once before use; sodium_init is safe to call again and from any thread.
private func sodium() throws {
    guard sodium_init() >= 0 else { throw EmberError.invalidArgument("libsodium could not be initialised") }
}

/// An Ed25519 public key.
public struct PublicKey: Sendable, Hashable, CustomStringConvertible {
    public static let byteCount = 32
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw EmberError.invalidArgument("an Ed25519 public key is 32 bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// A short id for messages: the first 8 bytes of the key's BLAKE2b-256, in hex.
    public var id: String {
        var digest = [UInt8](repeating: 0, count: 32)
        _ = crypto_generichash(&digest, 32, bytes, UInt64(bytes.count), nil, 0)
        return hexString(digest.prefix(8))
    }

    public var description: String { id }

    static let filePrefix = "ember-ed25519-public"

    /// `ember-ed25519-public <64 hex digits> [comment]`, as `ember keygen` writes NAME.pub.
    public var fileText: String { "\(Self.filePrefix) \(hexString(bytes))\n" }

    public static func parse(_ text: String, file: String) throws -> PublicKey {
        guard let key = keyFileBytes(text, prefix: filePrefix, allowComment: true) else {
            throw EmberError.invalidConfiguration(file: file, key: "public key",
                reason: "expected '\(filePrefix) <64 hex digits>' (a NAME.pub from ember keygen)")
        }
        return try PublicKey(bytes: key)
    }
}

/// An Ed25519 signing key (its 32-byte seed) and the public key it signs for.
public struct SigningKey: Sendable {
    public let seed: [UInt8]
    public let publicKey: PublicKey
    /// libsodium's 64-byte secret key (seed ‖ public key).
    let secret: [UInt8]

    public init(seed: [UInt8]) throws {
        guard seed.count == 32 else { throw EmberError.invalidArgument("an Ed25519 seed is 32 bytes, got \(seed.count)") }
        try sodium()
        var pk = [UInt8](repeating: 0, count: 32), sk = [UInt8](repeating: 0, count: 64)
        guard crypto_sign_seed_keypair(&pk, &sk, seed) == 0 else { throw EmberError.invalidArgument("cannot derive the key pair") }
        self.seed = seed
        secret = sk
        publicKey = try PublicKey(bytes: pk)
    }

    /// A new key from the system's random source.
    public static func generate() throws -> SigningKey {
        try sodium()
        var seed = [UInt8](repeating: 0, count: 32)
        randombytes_buf(&seed, 32)
        return try SigningKey(seed: seed)
    }

    static let filePrefix = "ember-ed25519-secret"

    /// `ember-ed25519-secret <64 hex digits of the seed>`, as `ember keygen` writes NAME.key (mode 0600).
    public var fileText: String { "\(Self.filePrefix) \(hexString(seed))\n" }

    public static func parse(_ text: String, file: String) throws -> SigningKey {
        guard let seed = keyFileBytes(text, prefix: filePrefix, allowComment: false) else {
            throw EmberError.invalidConfiguration(file: file, key: "secret key",
                reason: "expected '\(filePrefix) <64 hex digits>' (a NAME.key from ember keygen)")
        }
        return try SigningKey(seed: seed)
    }

    func sign(_ message: [UInt8]) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 64)
        _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count), secret)
        return signature
    }
}

/// The public keys a package may be signed by. Several allow rotation.
public struct TrustedKeys: Sendable {
    public let keys: [PublicKey]
    /// Where they came from, for messages.
    public let source: String
    /// Refuse unsigned packages (the default). Off, an unsigned package is accepted as unverified;
    /// a signed one must still verify (a signer not trusted, or a change after signing, is refused).
    public var requireSignature = true
    public static let maxKeys = 256

    public init(keys: [PublicKey], source: String, requireSignature: Bool = true) {
        self.keys = keys
        self.source = source
        self.requireSignature = requireSignature
    }

    /// Every `*.pub` in `directory` (at most 256). A directory without one is an error: a
    /// signature check that nothing could pass is a misconfiguration.
    public init(directory: String, requireSignature: Bool = true) throws {
        let names = try listDirectory(directory, missingIsEmpty: false, what: "trusted-keys directory",
                                      limit: Self.maxKeys, unit: "keys") { $0.hasSuffix(".pub") }
        var keys: [PublicKey] = []
        for name in names.sorted() {
            let path = directory + "/" + name
            keys.append(try PublicKey.parse(try readTextFile(path, FileReadPolicy("public key", maxBytes: 4096)), file: path))
        }
        guard !keys.isEmpty else {
            throw EmberError.invalidConfiguration(file: directory, key: "trusted keys", reason: "no NAME.pub files in the directory")
        }
        self.init(keys: keys, source: directory, requireSignature: requireSignature)
    }
}

/// Signing and verifying packages (the SIGN section, docs/FORMAT.md).
///
/// The SIGN payload is 104 bytes: u32 version (1), u32 algorithm (1: Ed25519 over a BLAKE2b-256
/// digest), the signer's 32-byte public key and the 64-byte signature. The signature is over
/// "ember package signature v1\0" followed by the BLAKE2b-256 of the whole file with four fields
/// read as zeros: the table checksum (header bytes 40–43), the header checksum (60–63), the SIGN
/// entry's checksum and the signature itself. Every other byte — header, table, sections,
/// padding, the signer's key — is signed, and the three checksums are checked by the reader, so
/// a change to any byte of the file is refused.
public enum PackageSignature {
    static let version: UInt32 = 1
    static let algorithm: UInt32 = 1
    static let payloadBytes = 104
    static let signatureOffset = 40
    static let domain = Array("ember package signature v1\0".utf8)

    /// The file ranges read as zeros when hashing, sorted.
    static func holes(_ c: Container, sign: Int) -> [Range<Int>] {
        let entry = c.tableOffset + sign * FormatV1.entrySize
        let payload = c.sections[sign].offset + signatureOffset
        return [40..<44, 60..<64, (entry + 36)..<(entry + 40), payload..<(payload + 64)].sorted { $0.lowerBound < $1.lowerBound }
    }

    static func message(_ c: Container, sign: Int) throws -> [UInt8] {
        let stateBytes = crypto_generichash_statebytes()
        let memory = UnsafeMutableRawPointer.allocate(byteCount: stateBytes, alignment: 64)
        defer { memory.deallocate() }
        // The state type is 64-byte aligned in C, which Swift does not import: an opaque pointer to aligned bytes.
        let state = OpaquePointer(memory)
        guard crypto_generichash_init(state, nil, 0, 32) == 0 else { throw EmberError.invalidArgument("BLAKE2b init failed") }
        let zeros = [UInt8](repeating: 0, count: 64)
        var position = 0
        let base = c.bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        for hole in holes(c, sign: sign) {
            if let base, hole.lowerBound > position {
                crypto_generichash_update(state, base + position, UInt64(hole.lowerBound - position))
            }
            crypto_generichash_update(state, zeros, UInt64(hole.count))
            position = hole.upperBound
        }
        if let base, c.bytes.count > position { crypto_generichash_update(state, base + position, UInt64(c.bytes.count - position)) }
        var digest = [UInt8](repeating: 0, count: 32)
        crypto_generichash_final(state, &digest, 32)
        return domain + digest
    }

    /// The package `bytes` signed by `key`: the same sections (a previous signature dropped), then
    /// a SIGN section.
    public static func sign(_ bytes: [UInt8], key: SigningKey) throws -> [UInt8] {
        try sodium()
        var writer = ContainerWriter()
        try bytes.withUnsafeBytes { raw in
            let c = try ContainerReader.read(raw, owner: nil)
            for s in c.sections where s.kind != .signature {
                writer.addStored(s.kind, id: s.id, stored: Array(c.stored(s)), rawLength: s.rawLength,
                                 compression: s.compression, required: s.required)
            }
        }
        var payload = ByteWriter()
        payload.u32(version); payload.u32(algorithm)
        payload.raw(key.publicKey.bytes)
        payload.raw([UInt8](repeating: 0, count: 64))
        writer.add(.signature, id: 0, payload: payload.bytes, compress: false, required: false)
        var out = try writer.serialize()
        let (signature, at) = try out.withUnsafeBytes { raw -> ([UInt8], Int) in
            let c = try ContainerReader.read(raw, owner: nil)
            let sign = c.sections.count - 1
            return (key.sign(try message(c, sign: sign)), c.sections[sign].offset + signatureOffset)
        }
        out.replaceSubrange(at..<(at + 64), with: signature)
        resealChecksums(&out)
        return out
    }

    /// The SIGN section's index and its signer, without verifying (nil: unsigned).
    static func signature(in c: Container) throws -> (index: Int, signer: PublicKey, signature: [UInt8])? {
        let signs = c.sections.indices.filter { c.sections[$0].kind == .signature }
        guard let i = signs.first else { return nil }
        let s = c.sections[i]
        guard signs.count == 1, s.compression == .none, s.storedLength == payloadBytes else {
            throw EmberError.malformedPackage(section: s.label, offset: s.offset,
                reason: "expected one uncompressed \(payloadBytes)-byte SIGN section, found \(signs.count) (this one \(s.storedLength) bytes)")
        }
        var r = ByteReader(c.stored(s), section: s.label, baseOffset: s.offset)
        let v = try r.u32(), a = try r.u32()
        guard v == version, a == algorithm else {
            throw EmberError.malformedPackage(section: s.label, offset: s.offset,
                reason: "signature version \(v), algorithm \(a); this build reads version 1, algorithm 1 (Ed25519)")
        }
        return (i, try PublicKey(bytes: try r.bytes(32, "signer public key")), try r.bytes(64, "signature"))
    }

    /// The key that signed the package in `c`, not verified (nil: unsigned).
    public static func signer(of c: Container) throws -> PublicKey? { try signature(in: c)?.signer }

    /// Checks that `c` is signed by one of `trusted` and unchanged since; returns the signer (nil
    /// for an unsigned package when `trusted.requireSignature` is off). `path` names the package in errors.
    @discardableResult
    public static func verify(_ c: Container, trusted: TrustedKeys, path: String) throws -> PublicKey? {
        try sodium()
        func refuse(_ reason: String) -> EmberError { .untrustedPackage(path: path, reason: reason) }
        guard let (index, signer, signature) = try signature(in: c) else {
            if !trusted.requireSignature { return nil }
            throw refuse("it is not signed, and a signature is required (trusted keys: \(trusted.source)); sign it with `ember sign`")
        }
        guard trusted.keys.contains(signer) else {
            throw refuse("signed by key \(signer.id), which is not among the \(trusted.keys.count) trusted "
                         + "(\(trusted.keys.map(\.id).joined(separator: ", ")) from \(trusted.source))")
        }
        let m = try message(c, sign: index)
        guard crypto_sign_verify_detached(signature, m, UInt64(m.count), signer.bytes) == 0 else {
            throw refuse("the signature by key \(signer.id) does not match: the package was changed after signing")
        }
        return signer
    }
}

/// The 32 bytes of a key file's `PREFIX <64 hex digits>` line (then, with `allowComment`, anything
/// after a space); nil when the text is anything else.
func keyFileBytes(_ text: String, prefix: String, allowComment: Bool) -> [UInt8]? {
    let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" })
    guard fields.count == 2 || (allowComment && fields.count > 2), fields[0] == prefix,
          let bytes = hexBytes(fields[1]), bytes.count == 32 else { return nil }
    return bytes
}

func hexString<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}

func hexBytes<S: StringProtocol>(_ text: S) -> [UInt8]? {
    let chars = Array(text.utf8)
    guard chars.count % 2 == 0 else { return nil }
    func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
    var out: [UInt8] = []
    for i in stride(from: 0, to: chars.count, by: 2) {
        guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
        out.append(hi << 4 | lo)
    }
    return out
}
