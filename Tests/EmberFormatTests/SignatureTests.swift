import Foundation
import Testing
@testable import EmberFormat
import Ember

/// Signed packages: Ed25519 (libsodium) over every byte but the signature and three checksums.
/// Tampering is tested as an attacker would do it: change bytes, then recompute every CRC.
@Suite struct SignatureTests {
    static let keyA = try? SigningKey(seed: [UInt8](repeating: 1, count: 32))
    static let keyB = try? SigningKey(seed: (0..<32).map { UInt8($0 * 7 + 3) })

    func keys() throws -> (SigningKey, SigningKey) { (try #require(Self.keyA), try #require(Self.keyB)) }

    func open(_ bytes: [UInt8], trusting keys: [PublicKey]?) throws -> EmberPackage {
        try bytes.withUnsafeBytes { try EmberPackage(bytes: $0, trustedKeys: keys.map { TrustedKeys(keys: $0, source: "test") }) }
    }

    func untrustedReason(_ body: () throws -> Void) -> String? {
        do { try body() } catch let EmberError.untrustedPackage(_, reason) { return reason } catch { return "other: \(error)" }
        return nil
    }

    @Test func aSignedPackageVerifiesAndRunsAsBefore() throws {
        let (a, _) = try keys()
        for compress in [false, true] {
            let plain = try samplePackage(compress: compress)
            let signed = try PackageSignature.sign(plain, key: a)
            let package = try open(signed, trusting: [a.publicKey])
            #expect(package.signer == a.publicKey && package.signatureVerified)
            #expect(try outputs(package.contents.withLoadedGraphs(package)) == outputs(try load(plain)))
            // A reader without trusted keys sees the signer, unverified.
            let unchecked = try open(signed, trusting: nil)
            #expect(unchecked.signer == a.publicKey && !unchecked.signatureVerified)
            #expect(signed.count > plain.count && signed.count <= plain.count + 48 + 64 + 104)
        }
    }

    @Test func everyChangedByteIsRefusedEvenWithItsChecksumsRecomputed() throws {
        let (a, _) = try keys()
        let signed = try PackageSignature.sign(try samplePackage(), key: a)
        var refused = 0, tried = 0, accepted: [Int] = []
        // Every byte of the header, table and SIGN section; every 7th elsewhere (padding included).
        let signStart = signed.count - 104
        for i in 0..<signed.count where i < 1024 || i >= signStart || i % 7 == 0 {
            var b = signed
            b[i] ^= UInt8(1) << UInt8(i % 8)
            resealChecksums(&b)
            // A flipped checksum is recomputed back: that file is the signed one again.
            if b == signed { continue }
            tried += 1
            do { _ = try open(b, trusting: [a.publicKey]) } catch { refused += 1; continue }
            accepted.append(i)
        }
        #expect(tried > 1000 && refused == tried, "changed bytes at \(accepted) were accepted")
    }

    @Test func unsignedForeignAndRotatedKeys() throws {
        let (a, b) = try keys()
        let plain = try samplePackage()
        let reason = untrustedReason { _ = try open(plain, trusting: [a.publicKey]) }
        #expect(reason?.contains("not signed") == true, "\(reason ?? "accepted")")
        let signedByA = try PackageSignature.sign(plain, key: a)
        let foreign = untrustedReason { _ = try open(signedByA, trusting: [b.publicKey]) }
        #expect(foreign?.contains("signed by key \(a.publicKey.id), which is not among the 1 trusted") == true, "\(foreign ?? "accepted")")
        // Rotation: both keys trusted while packages move from A to B; signing again replaces the signature.
        #expect(try open(signedByA, trusting: [b.publicKey, a.publicKey]).signer == a.publicKey)
        let signedByB = try PackageSignature.sign(signedByA, key: b)
        #expect(signedByB.count == signedByA.count)
        #expect(try open(signedByB, trusting: [b.publicKey, a.publicKey]).signer == b.publicKey)
        #expect(untrustedReason { _ = try open(signedByB, trusting: [a.publicKey]) } != nil)
        // The signature itself, damaged.
        var damaged = signedByA
        damaged[damaged.count - 1] ^= 0x40
        resealChecksums(&damaged)
        let mismatch = untrustedReason { _ = try open(damaged, trusting: [a.publicKey]) }
        #expect(mismatch?.contains("changed after signing") == true, "\(mismatch ?? "accepted")")
    }

    /// require_signature off: an unsigned package opens unverified, a signed one must still verify.
    @Test func withoutRequireSignatureUnsignedOpensButBadSignaturesStillFail() throws {
        let (a, b) = try keys()
        let lenient = TrustedKeys(keys: [a.publicKey], source: "test", requireSignature: false)
        func open(_ bytes: [UInt8]) throws -> EmberPackage { try bytes.withUnsafeBytes { try EmberPackage(bytes: $0, trustedKeys: lenient) } }
        let plain = try samplePackage()
        let unsigned = try open(plain)
        #expect(unsigned.signer == nil && !unsigned.signatureVerified)
        let signed = try PackageSignature.sign(plain, key: a)
        #expect(try open(signed).signatureVerified)
        #expect(untrustedReason { _ = try open(try PackageSignature.sign(plain, key: b)) }?.contains("not among") == true)
        var tampered = signed
        tampered[tampered.count / 2] ^= 0x01
        resealChecksums(&tampered)
        #expect(untrustedReason { _ = try open(tampered) }?.contains("changed after signing") == true)
    }

    @Test func keyFilesRoundTripAndBadOnesNameTheirFile() throws {
        let (a, b) = try keys()
        #expect(try SigningKey.parse(a.fileText, file: "a.key").publicKey == a.publicKey)
        #expect(try PublicKey.parse(a.publicKey.fileText, file: "a.pub") == a.publicKey)
        #expect(a.publicKey.id.count == 16 && a.publicKey.id != b.publicKey.id)
        let generated = try SigningKey.generate()
        #expect(generated.publicKey != a.publicKey && generated.seed.count == 32)
        for text in ["", "ember-ed25519-public 00", "ssh-ed25519 AAAA", a.fileText] {
            #expect(throws: EmberError.self) { try PublicKey.parse(text, file: "x.pub") }
        }
        #expect(throws: EmberError.invalidConfiguration(file: "k.key", key: "secret key",
                                                       reason: "expected 'ember-ed25519-secret <64 hex digits>' (a NAME.key from ember keygen)")) {
            try SigningKey.parse(a.publicKey.fileText, file: "k.key")
        }

        let dir = NSTemporaryDirectory() + "ember-keys-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        #expect(throws: EmberError.self) { try TrustedKeys(directory: dir) } // no keys: a misconfiguration
        try a.publicKey.fileText.write(toFile: dir + "/a.pub", atomically: true, encoding: .utf8)
        try b.publicKey.fileText.write(toFile: dir + "/b.pub", atomically: true, encoding: .utf8)
        try a.fileText.write(toFile: dir + "/a.key", atomically: true, encoding: .utf8) // not a .pub: ignored
        #expect(try TrustedKeys(directory: dir).keys == [a.publicKey, b.publicKey])
        try "garbage".write(toFile: dir + "/c.pub", atomically: true, encoding: .utf8)
        #expect(throws: EmberError.self) { try TrustedKeys(directory: dir) }
        #expect(throws: EmberError.self) { try TrustedKeys(directory: dir + "/missing") }
        try? FileManager.default.removeItem(atPath: dir)
    }
}

extension PackageContents {
    /// These contents with every graph's weights loaded from `package`.
    func withLoadedGraphs(_ package: EmberPackage) throws -> PackageContents {
        var p = self
        p.graphs = try p.graphs.indices.map { try package.graph(at: $0) }
        return p
    }
}
