import EmberFormat
import Foundation
import Testing

extension CLITests {
    @Test func keygenSignVerifyAndRunWithTrustedKeys() throws {
        let dir = Self.workDir + "/signing"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/trusted", withIntermediateDirectories: true)
        let package = try demoPackage()
        let signed = dir + "/signed.ember"

        let keygen = try ember("keygen", "--out", dir + "/release")
        #expect(keygen.status == 0 && keygen.stdout.contains("release.pub"), "\(keygen.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/release.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try ember("keygen", "--out", dir + "/release").status == 1) // never overwrites without --force
        #expect(try ember("keygen", "--out", dir + "/other").status == 0)
        try FileManager.default.copyItem(atPath: dir + "/release.pub", toPath: dir + "/trusted/release.pub")

        let sign = try ember("sign", package, "--key", dir + "/release.key", "-o", signed)
        #expect(sign.status == 0, "\(sign.stderr)")
        let verify = try ember("verify", signed, "--pubkey", dir + "/release.pub")
        #expect(verify.status == 0 && verify.stdout.contains("unchanged since signing"), "\(verify.stderr)")
        #expect(try ember("verify", signed, "--trusted-keys", dir + "/trusted").status == 0)
        let wrongKey = try ember("verify", signed, "--pubkey", dir + "/other.pub")
        #expect(wrongKey.status == 1 && wrongKey.stderr.contains("untrusted package") && wrongKey.stderr.contains("not among"))
        let unsigned = try ember("verify", package, "--pubkey", dir + "/release.pub")
        #expect(unsigned.status == 1 && unsigned.stderr.contains("not signed"), "\(unsigned.stderr)")

        let inspect = try ember("inspect", signed)
        #expect(inspect.stdout.contains("signature key ") && inspect.stdout.contains("not verified"), "\(inspect.stdout)")
        let demoInput = Self.workDir + "/demo/input.npy"
        let run = try ember("run", signed, "--trusted-keys", dir + "/trusted", "--input", "image=\(demoInput)")
        #expect(run.status == 0, "\(run.stderr)")

        // One byte changed after signing, checksums recomputed as a careful attacker would: refused.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: signed)))
        bytes[bytes.count / 2] ^= 0x01
        resealChecksums(&bytes)
        let tampered = dir + "/tampered.ember"
        try Data(bytes).write(to: URL(fileURLWithPath: tampered))
        let reseal = try ember("verify", tampered, "--pubkey", dir + "/release.pub")
        #expect(reseal.status == 1 && reseal.stderr.contains("changed after signing"), "\(reseal.stderr)")
        let refusedRun = try ember("run", tampered, "--trusted-keys", dir + "/trusted", "--input", "image=\(demoInput)")
        #expect(refusedRun.status == 1 && refusedRun.stderr.hasPrefix("ember: error: "), "\(refusedRun.stderr)")
        #expect(try ember("verify", signed).status == 2) // neither --pubkey nor --trusted-keys

        // --no-require-signature: the unsigned package runs, the tampered one still does not.
        let refusedUnsigned = try ember("run", package, "--trusted-keys", dir + "/trusted", "--input", "image=\(demoInput)")
        #expect(refusedUnsigned.status == 1 && refusedUnsigned.stderr.contains("not signed"), "\(refusedUnsigned.stderr)")
        let lenient = try ember("run", package, "--trusted-keys", dir + "/trusted", "--no-require-signature", "--input", "image=\(demoInput)")
        #expect(lenient.status == 0, "\(lenient.stderr)")
        let lenientTampered = try ember("run", tampered, "--trusted-keys", dir + "/trusted", "--no-require-signature",
                                        "--input", "image=\(demoInput)")
        #expect(lenientTampered.status == 1 && lenientTampered.stderr.contains("changed after signing"), "\(lenientTampered.stderr)")
        #expect(try ember("run", package, "--no-require-signature", "--input", "image=\(demoInput)").status == 2,
                "--no-require-signature without --trusted-keys is a usage error")
    }
}
