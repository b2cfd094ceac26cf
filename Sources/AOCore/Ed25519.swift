import CSodium

/// libsodium must be initialised once before use; `sodium_init` is idempotent and thread-safe.
let sodiumReady: Bool = { sodium_init() >= 0 }()

/// An ed25519 key pair (the node key, and the default signer of data items: ANS-104 signature type 2).
public struct Ed25519PrivateKey: Sendable {
    /// The 32-byte RFC 8032 seed (JWK `d`).
    public let seed: [UInt8]
    /// The 32-byte public key (JWK `x`, the data item owner).
    public let publicKey: [UInt8]
    /// libsodium's 64-byte secret key (seed followed by public key).
    let secretKey: [UInt8]

    /// Derives the key pair from a 32-byte seed. Returns nil for any other length.
    public init?(seed: [UInt8]) {
        precondition(sodiumReady, "libsodium failed to initialise")
        guard seed.count == 32 else { return nil }
        var pk = [UInt8](repeating: 0, count: 32), sk = [UInt8](repeating: 0, count: 64)
        guard crypto_sign_seed_keypair(&pk, &sk, seed) == 0 else { return nil }
        self.seed = seed; publicKey = pk; secretKey = sk
    }

    /// A fresh key from libsodium's CSPRNG. (Key generation is the one place randomness is ambient by design.)
    public static func generate() -> Ed25519PrivateKey {
        precondition(sodiumReady, "libsodium failed to initialise")
        var seed = [UInt8](repeating: 0, count: 32)
        randombytes_buf(&seed, 32)
        return Ed25519PrivateKey(seed: seed)!
    }

    /// A detached 64-byte signature of `message`.
    public func sign<Bytes: RawBytesConvertible>(_ message: Bytes) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: 64)
        message.withUnsafeBytes { m in
            _ = crypto_sign_detached(&sig, nil, m.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(m.count), secretKey)
        }
        return sig
    }

    /// The node id / Arweave-style address of this key: SHA-256 of the public key.
    public var address: Address { Address(bytes: SHA2.sha256(publicKey))! }
    public var nodeID: NodeID { NodeID(raw: address.raw) }
}

public enum Ed25519 {
    /// Verifies a detached signature (libsodium's strict RFC 8032 checks: canonical S, no small-order keys).
    public static func verify<M: RawBytesConvertible>(signature: [UInt8], message: M, publicKey: [UInt8]) -> Bool {
        precondition(sodiumReady, "libsodium failed to initialise")
        guard signature.count == 64, publicKey.count == 32 else { return false }
        return message.withUnsafeBytes { m in
            crypto_sign_verify_detached(signature, m.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(m.count), publicKey) == 0
        }
    }
}
