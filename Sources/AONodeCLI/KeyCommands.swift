import AOCore
import ArgumentParser

/// The key kinds `keygen` makes.
public enum KeyKind: String, ExpressibleByArgument, CaseIterable, Sendable {
    case ed25519, rsa
}

/// `aonode keygen [--type ed25519|rsa] --out FILE`: writes a new JWK key file (mode 0600) and prints its address.
public struct Keygen: ParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Generate a signing key and write it as a JWK file (mode 0600).",
        discussion: """
            ed25519 (the default) writes an RFC 8037 OKP JWK {"kty":"OKP","crv":"Ed25519","d","x"} and signs data items \
            as ANS-104 type 2. rsa writes an Arweave wallet JWK (RSA-4096, e=65537: n,e,d,p,q,dp,dq,qi) and signs as \
            type 1 (RSA-PSS, salt 478). Prints the key's address: base64url(SHA-256(public key)). Never overwrites \
            an existing file.
            """)

    @Option(name: .long, help: "Key type: ed25519 (default) or rsa (Arweave RSA-4096).")
    public var type: KeyKind = .ed25519

    @Option(name: .long, help: "Where to write the JWK file (must not exist).")
    public var out: String

    public init() {}

    public func run() throws { try runStandard(execute) }

    public func execute(_ io: CommandOutput) throws {
        let key: KeyFile
        switch type {
        case .ed25519: key = .ed25519(Ed25519PrivateKey.generate())
        case .rsa:
            do { key = .arweave(try ArweaveRSAKey.generate()) } catch { throw CommandFailure("\(error)") }
        }
        do { try key.write(path: out) } catch { throw CommandFailure("\(error)", exitCode: 2) }
        io.out(key.address.base64URL)
    }
}

/// `aonode address --key FILE`: prints the address of a key file.
public struct AddressCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "address",
        abstract: "Print the address of a JWK key file: base64url(SHA-256(public key)).")

    @Option(name: .long, help: "A JWK key file (ed25519 OKP or Arweave RSA).")
    public var key: String

    public init() {}

    public func run() throws { try runStandard(execute) }

    public func execute(_ io: CommandOutput) throws {
        let k: KeyFile
        do { k = try KeyFile.load(path: key) } catch { throw CommandFailure("\(error)", exitCode: 2) }
        io.out(k.address.base64URL)
    }
}
