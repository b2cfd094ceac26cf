import COpenSSL

/// Arweave RSA-PSS (ANS-104 signature type 1) through OpenSSL 3's EVP API: SHA-256 message digest, MGF1-SHA-256,
/// e = 65537, 4096-bit keys. No RSA arithmetic is done in Swift.
///
/// Salt length: arweave-js and arbundles under Node sign with the maximum (478 bytes for a 4096-bit key), WebCrypto
/// signers (aoconnect in a browser) with 32, and some bundlers with 0. Verification therefore uses OpenSSL's
/// automatic salt length (`RSA_PSS_SALTLEN_AUTO`), as Node's verifier does; signing uses 478.
public enum RSAPSS {
    /// RSA-4096: the modulus (and the owner of a type-1 item) is 512 bytes.
    public static let modulusBytes = 512
    /// The maximum PSS salt for a 4096-bit key with SHA-256: 512 - 32 - 2.
    public static let saltBytesMax = 478
    static let exponent65537: [UInt8] = [0x01, 0x00, 0x01]

    /// Verifies `signature` over `message` (hashed with SHA-256 inside) with the public key (modulus, 65537).
    /// `saltLength` nil means automatic. Returns false on any failure, including a malformed key.
    public static func verify(modulus: [UInt8], message: [UInt8], signature: [UInt8], saltLength: Int?) -> Bool {
        guard modulus.count == modulusBytes, signature.count == modulusBytes else { return false }
        guard let key = aonode_rsa_key(modulus, modulus.count, exponent65537, 3, nil, 0, nil, 0, nil, 0, nil, 0, nil, 0, nil, 0)
        else { return false }
        defer { EVP_PKEY_free(key) }
        return aonode_rsa_pss_verify(key, message, message.count, signature, signature.count,
                                     Int32(saltLength ?? Int(RSA_PSS_SALTLEN_AUTO))) == 1
    }
}

/// An Arweave wallet key: RSA-4096, e = 65537, held by OpenSSL. Signs data items as type 1 with salt length 478.
///
/// The private parameters live in OpenSSL's memory (freed and cleared when the last copy goes away); `jwk` exports
/// them as the usual Arweave JWK (`kty, n, e, d, p, q, dp, dq, qi`, base64url big-endian).
public final class ArweaveRSAKey: DataItemSigner, @unchecked Sendable {
    // @unchecked: the EVP_PKEY is never mutated after init, and OpenSSL 3 allows concurrent use of one key.
    let pkey: OpaquePointer
    /// The 512-byte modulus: the item owner.
    public let owner: [UInt8]
    public var signatureType: SignatureType { .arweave }

    /// Takes ownership of `pkey` (freed here on failure).
    private static func checkedModulus(_ pkey: OpaquePointer) throws(DataItemError) -> [UInt8] {
        guard let n = param(pkey, aonode_param_rsa_n(), pad: RSAPSS.modulusBytes),
              n.first.map({ $0 & 0x80 != 0 }) == true,
              param(pkey, aonode_param_rsa_e(), pad: 0) == RSAPSS.exponent65537
        else {
            EVP_PKEY_free(pkey)
            throw DataItemError.badKey.with("not an RSA-4096 key with e = 65537")
        }
        return n
    }

    private init(pkey: OpaquePointer, owner: [UInt8]) { self.pkey = pkey; self.owner = owner }

    deinit { EVP_PKEY_free(pkey) }

    /// A fresh RSA-4096 key from OpenSSL's generator (takes a second or more).
    public static func generate() throws(DataItemError) -> ArweaveRSAKey {
        guard let k = aonode_rsa_generate(4096) else { throw DataItemError.badKey.with("OpenSSL RSA key generation failed") }
        return ArweaveRSAKey(pkey: k, owner: try checkedModulus(k))
    }

    /// Builds the key from its big-endian parameters (as in an Arweave JWK). Throws `.badKey` unless OpenSSL accepts
    /// it as a 4096-bit key with e = 65537.
    public init(n: [UInt8], e: [UInt8], d: [UInt8], p: [UInt8], q: [UInt8], dp: [UInt8], dq: [UInt8], qi: [UInt8]) throws(DataItemError) {
        guard [n, e, d, p, q, dp, dq, qi].allSatisfy({ !$0.isEmpty }) else { throw DataItemError.badKey.with("an RSA parameter is empty") }
        guard let k = aonode_rsa_key(n, n.count, e, e.count, d, d.count, p, p.count, q, q.count, dp, dp.count, dq, dq.count, qi, qi.count)
        else { throw DataItemError.badKey.with("OpenSSL refused the RSA parameters") }
        self.pkey = k
        self.owner = try ArweaveRSAKey.checkedModulus(k)
    }

    /// RSA-PSS signature (SHA-256, MGF1-SHA-256, salt 478) of `message`.
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        try sign(message, saltLength: RSAPSS.saltBytesMax)
    }

    /// RSA-PSS signature with an explicit salt length (tests use it to make items like WebCrypto's, salt 32).
    public func sign(_ message: [UInt8], saltLength: Int) throws(DataItemError) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: RSAPSS.modulusBytes)
        var len = sig.count
        guard aonode_rsa_pss_sign(pkey, message, message.count, &sig, &len, Int32(saltLength)) == 1, len == sig.count else {
            throw DataItemError.signingFailed.with("OpenSSL RSA-PSS signing failed")
        }
        return sig
    }

    /// The private parameters as big-endian bytes, in JWK order.
    public var parameters: (n: [UInt8], e: [UInt8], d: [UInt8], p: [UInt8], q: [UInt8], dp: [UInt8], dq: [UInt8], qi: [UInt8]) {
        func get(_ name: UnsafePointer<CChar>) -> [UInt8] { ArweaveRSAKey.param(pkey, name, pad: 0) ?? [] }
        return (owner, get(aonode_param_rsa_e()), get(aonode_param_rsa_d()), get(aonode_param_rsa_p()),
                get(aonode_param_rsa_q()), get(aonode_param_rsa_dp()), get(aonode_param_rsa_dq()), get(aonode_param_rsa_qi()))
    }

    public var address: Address { Address(raw: ID32(bytes: SHA2.sha256(owner))!) }

    private static func param(_ k: OpaquePointer, _ name: UnsafePointer<CChar>, pad: Int) -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: 1024)
        let n = aonode_pkey_get_bn(k, name, &buf, Int32(buf.count), Int32(pad))
        guard n > 0 else { return nil }
        return Array(buf[0..<Int(n)])
    }
}
