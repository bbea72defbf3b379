import ArgumentParser
import Ember
#if canImport(Glibc)
import Glibc
#endif

// ember keygen / sign / verify: Ed25519-signed packages (Sources/EmberFormat/Signature.swift).

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make an Ed25519 key pair for signing packages: NAME.key (secret, mode 0600) and NAME.pub.",
        discussion: """
        Keep NAME.key where packages are built; copy NAME.pub into the trusted-keys directory of \
        every device (`ember run --trusted-keys DIR`, emberd --trusted-keys DIR, the C API's \
        trusted_keys_dir). Several .pub files there allow key rotation.

        Example:
          ember keygen --out release-2026
        """
    )

    @Option(help: ArgumentHelp("Writes NAME.key and NAME.pub.", valueName: "NAME"))
    var out: String

    @Flag(help: "Replace existing key files.")
    var force = false

    func run() throws {
        let secretPath = out + ".key", publicPath = out + ".pub"
        for path in [secretPath, publicPath] where !force && access(path, F_OK) == 0 {
            throw EmberError.io(path: path, errno: 0, reason: "exists already (--force replaces it)")
        }
        let key = try SigningKey.generate()
        try writeFile(Array(key.fileText.utf8), to: secretPath, mode: 0o600)
        try writeFile(Array(key.publicKey.fileText.utf8), to: publicPath)
        print("key \(key.publicKey.id): secret \(secretPath) (keep it private), public \(publicPath)")
    }
}

struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign a package with an Ed25519 key (ember keygen): an optional SIGN section over every other section.",
        discussion: """
        The signature covers the format version, the required features, and each section's kind, \
        id, lengths, compression and BLAKE2b-256 digest, so a changed byte anywhere is refused by \
        a reader with trusted keys. Signing again replaces the signature. Readers without trusted \
        keys ignore it.

        Example:
          ember sign model.ember --key release-2026.key
        """
    )

    @Argument(help: "The .ember package.")
    var file: String

    @Option(help: "The secret key (NAME.key from ember keygen).")
    var key: String

    @Option(name: .shortAndLong, help: "Write the signed package here (default: in place, atomically).")
    var output: String?

    func run() throws {
        let signing = try SigningKey.parse(try readText(key, "secret key"), file: key)
        let bytes = try readFile(file, .package)
        let signed = try PackageSignature.sign(bytes, key: signing)
        try writeFile(signed, to: output ?? file)
        print("signed \(output ?? file) with key \(signing.publicKey.id)")
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that a package is signed by a trusted key and unchanged since; exit 1 if not.",
        discussion: """
        Examples:
          ember verify model.ember --pubkey release-2026.pub
          ember verify model.ember --trusted-keys /etc/ember/trusted-keys
        """
    )

    @Argument(help: "The .ember package.")
    var file: String

    @Option(help: "The public key (NAME.pub).")
    var pubkey: String?

    @Option(help: ArgumentHelp("A directory of trusted public keys (*.pub).", valueName: "DIR"))
    var trustedKeys: String?

    func validate() throws {
        guard (pubkey == nil) != (trustedKeys == nil) else { throw ValidationError("give one of --pubkey and --trusted-keys") }
    }

    func run() throws {
        let trusted = try trustedKeys.map { try TrustedKeys(directory: $0) }
            ?? TrustedKeys(keys: [try PublicKey.parse(try readText(pubkey ?? "", "public key"), file: pubkey ?? "")], source: pubkey ?? "")
        let package = try EmberPackage(path: file, trustedKeys: trusted)
        print("\(file): signed by key \(package.signer?.id ?? "?"), unchanged since signing")
    }
}

/// `--trusted-keys DIR` and `--[no-]require-signature`, shared by `ember run` and `ember inspect`.
struct TrustOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Refuse the package unless it is signed by one of the public keys (*.pub) in DIR and unchanged since.", valueName: "DIR"))
    var trustedKeys: String?

    @Flag(inversion: .prefixedNo, help: "With --trusted-keys: refuse unsigned packages. --no-require-signature accepts them unverified (signed ones must still verify).")
    var requireSignature = true

    func validate() throws {
        if !requireSignature && trustedKeys == nil { throw ValidationError("--no-require-signature needs --trusted-keys") }
    }

    func trusted() throws -> TrustedKeys? {
        try trustedKeys.map { try TrustedKeys(directory: $0, requireSignature: requireSignature) }
    }
}
