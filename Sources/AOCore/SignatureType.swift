/// ANS-104 signature types (arbundles `SignatureConfig`) with their fixed signature and owner lengths.
///
/// aonode verifies `arweave` (RSA-PSS 4096) and `ed25519`. The others parse (their lengths are known, so their ids
/// and fields are readable) and verification answers `DataItemError.unsupportedSignatureType`: Ethereum needs
/// Keccak-256, which Debian ships in no C library aonode links.
public enum SignatureType: UInt16, Sendable, CaseIterable, CustomStringConvertible {
    /// Arweave RSA-PSS, 4096-bit, SHA-256/MGF1-SHA-256; owner = the 512-byte modulus (e = 65537).
    case arweave = 1
    /// Ed25519 over the 48-byte deep hash; owner = the 32-byte public key.
    case ed25519 = 2
    /// Ethereum secp256k1 (EIP-191 over the deep hash); owner = 65-byte uncompressed public key.
    case ethereum = 3
    /// Solana (Ed25519 over the deep hash's hex text in arbundles' hex signer); owner = 32-byte public key.
    case solana = 4
    /// Aptos, injected wallet; owner = 32-byte public key.
    case injectedAptos = 5
    /// Aptos multi-signature: 32 keys + threshold; 32 signatures + 4-byte bitmap.
    case multiAptos = 6
    /// Ethereum EIP-712 typed data; owner = the 42-character address text.
    case typedEthereum = 7

    /// Signature length in bytes.
    public var signatureBytes: Int {
        switch self {
        case .arweave: 512
        case .ed25519, .solana, .injectedAptos: 64
        case .ethereum, .typedEthereum: 65
        case .multiAptos: 64 * 32 + 4
        }
    }

    /// Owner (public key) length in bytes.
    public var ownerBytes: Int {
        switch self {
        case .arweave: 512
        case .ed25519, .solana, .injectedAptos: 32
        case .ethereum: 65
        case .multiAptos: 32 * 32 + 1
        case .typedEthereum: 42
        }
    }

    /// Whether aonode can verify (and sign) this type.
    public var isSupported: Bool { self == .arweave || self == .ed25519 }

    public var description: String {
        switch self {
        case .arweave: "arweave"
        case .ed25519: "ed25519"
        case .ethereum: "ethereum"
        case .solana: "solana"
        case .injectedAptos: "injectedAptos"
        case .multiAptos: "multiAptos"
        case .typedEthereum: "typedEthereum"
        }
    }
}
