import Foundation

/// A node's signed statement about one evaluation (DESIGN.md §6): "evaluating `process` up to and including `slot`,
/// whose message is `message`, the module's `handle` returned bytes hashing to `resultHash` and left the linear
/// memory hashing to `memoryHash`". Nodes sign one per evaluated slot with their ed25519 node key; light clients
/// collect them from several nodes and compare (`AOClient.LightClient`).
///
/// Signed bytes (fixed layout, no length prefixes needed because every field has a fixed size):
/// `"aonode-attestation-v2"` (21 ASCII bytes) || process (32) || slot (8, big-endian) || message (32) ||
/// resultHash (32) || memoryHash (32). The domain tag keeps an attestation signature from ever being valid as a
/// data-item, transport or assignment signature made with the same node key, and the version lets the layout change.
///
/// - `resultHash` = SHA-256 of the exact bytes `handle` returned (`resultHash(of:)`), not of aonode's re-rendered
///   `/result` JSON: two nodes agree on it only if their modules produced the same bytes.
/// - `memoryHash` = `MemoryCommitment`'s tree hash of the whole linear memory (`memoryHash(memory:)`): SHA-256 over
///   the page count and per-64 KiB-page hashes of per-4 KiB-chunk SHA-256s, so a node keeps it current per slot by
///   rehashing only what a message changed. Version 1 (`"aonode-attestation-v1"`) hashed the whole memory flat; its
///   signatures do not verify as version 2, so an old attestation can never pass for a new one.
///   Note: `AOCompute.MemoryImage.stateHash()` (checkpoint integrity) is a different number.
public struct ResultAttestation: Sendable, Hashable {
    /// The domain tag that starts the signed bytes.
    public static let domain: [UInt8] = Array("aonode-attestation-v2".utf8)
    /// Length of the signed bytes: domain, process, slot, message, two hashes.
    public static let signedBytesCount = 21 + 32 + 8 + 32 + 32 + 32

    public let process: ProcessID
    public let slot: UInt64
    public let message: MessageID
    /// SHA-256 of the bytes `handle` returned; always 32 bytes.
    public let resultHash: [UInt8]
    /// `MemoryCommitment.hash(memory:)` of the linear memory after the slot; always 32 bytes.
    public let memoryHash: [UInt8]
    /// The signer's ed25519 public key (32 bytes).
    public let signer: [UInt8]
    /// The ed25519 signature over `signedBytes` (64 bytes).
    public let signature: [UInt8]

    /// An attestation as received (not verified: call `verify()`). Lengths are checked here: hashes and the key 32
    /// bytes, the signature 64; anything else throws.
    public init(process: ProcessID, slot: UInt64, message: MessageID, resultHash: [UInt8], memoryHash: [UInt8],
                signer: [UInt8], signature: [UInt8]) throws(AttestationError) {
        guard resultHash.count == 32 else { throw .badField("resultHash must be 32 bytes, got \(resultHash.count)") }
        guard memoryHash.count == 32 else { throw .badField("memoryHash must be 32 bytes, got \(memoryHash.count)") }
        guard signer.count == 32 else { throw .badField("signer must be a 32-byte ed25519 key, got \(signer.count)") }
        guard signature.count == 64 else { throw .badField("signature must be 64 bytes, got \(signature.count)") }
        self.process = process; self.slot = slot; self.message = message
        self.resultHash = resultHash; self.memoryHash = memoryHash; self.signer = signer; self.signature = signature
    }

    /// Signs an attestation with a node key. Hashes must be 32 bytes (a programmer error otherwise: callers pass
    /// `resultHash(of:)` and `memoryHash(memory:)`).
    public static func sign(key: Ed25519PrivateKey, process: ProcessID, slot: UInt64, message: MessageID,
                            resultHash: [UInt8], memoryHash: [UInt8]) -> ResultAttestation {
        precondition(resultHash.count == 32 && memoryHash.count == 32,
                     "attestation hashes must be 32 bytes (got \(resultHash.count), \(memoryHash.count))")
        let bytes = signedBytes(process: process, slot: slot, message: message, resultHash: resultHash,
                                memoryHash: memoryHash)
        // Lengths are all valid by construction.
        return try! ResultAttestation(process: process, slot: slot, message: message, resultHash: resultHash,
                                      memoryHash: memoryHash, signer: key.publicKey, signature: key.sign(bytes))
    }

    /// The canonical bytes the signature covers (see the type's documentation).
    public static func signedBytes(process: ProcessID, slot: UInt64, message: MessageID, resultHash: [UInt8],
                                   memoryHash: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(signedBytesCount)
        out += domain
        out += process.bytes
        withUnsafeBytes(of: slot.bigEndian) { out += $0 }
        out += message.bytes
        out += resultHash
        out += memoryHash
        return out
    }

    public var signedBytes: [UInt8] {
        Self.signedBytes(process: process, slot: slot, message: message, resultHash: resultHash, memoryHash: memoryHash)
    }

    /// Whether `signature` is `signer`'s ed25519 signature of the signed bytes. Says nothing about whether the
    /// signer is trusted: compare `signerNodeID` with the network's admitted schedulers for that.
    public func verify() -> Bool {
        Ed25519.verify(signature: signature, message: signedBytes, publicKey: signer)
    }

    /// The signer's node id: SHA-256 of its public key (as every aonode names a node).
    public var signerNodeID: NodeID { NodeID(raw: ID32(bytes: SHA2.sha256(signer))!) }

    /// SHA-256 of the bytes `handle` returned.
    public static func resultHash(of handleOutput: [UInt8]) -> [UInt8] { SHA2.sha256(handleOutput) }

    /// The memory hash of a linear memory (`MemoryCommitment.hash(memory:)`).
    public static func memoryHash(memory: [UInt8]) -> [UInt8] { MemoryCommitment.hash(memory: memory) }

    // MARK: JSON

    /// The JSON form: `{"process","slot","message","resultHash","memoryHash","signer","signature"}`; ids and bytes
    /// are base64url, `slot` a number. Foundation types (`JSONSerialization`-ready).
    public var jsonObject: [String: Any] {
        ["process": process.base64URL, "slot": NSNumber(value: slot), "message": message.base64URL,
         "resultHash": Base64URL.encode(resultHash), "memoryHash": Base64URL.encode(memoryHash),
         "signer": Base64URL.encode(signer), "signature": Base64URL.encode(signature)]
    }

    /// Parses the JSON form (a `[String: Any]` from `JSONSerialization`). Never traps: anything missing, of the
    /// wrong type, of the wrong length, or not canonical base64url throws `AttestationError`. Unknown keys are
    /// ignored. The signature is not checked here (`verify()`).
    public init(json: Any) throws(AttestationError) {
        guard let object = json as? [String: Any] else { throw .badField("an attestation must be a JSON object") }
        func text(_ key: String) throws(AttestationError) -> String {
            guard let s = object[key] as? String else { throw .badField("\(key) must be a string") }
            guard s.utf8.count <= 128 else { throw .badField("\(key) is too long") }
            return s
        }
        func bytes(_ key: String) throws(AttestationError) -> [UInt8] {
            let s = try text(key)
            guard let b = Base64URL.decode(s) else { throw .badField("\(key) is not base64url") }
            return b
        }
        func id(_ key: String) throws(AttestationError) -> ID32 {
            guard let id = ID32(base64URL: try text(key)) else { throw .badField("\(key) must be a 43-character id") }
            return id
        }
        let slot: UInt64
        switch object["slot"] {
        case let n as NSNumber:
            // JSON booleans arrive as NSNumber too (Objective-C type "c" or "B"); fractions and exponents as
            // doubles ("d"). Only whole, non-negative integers are slots.
            let type = String(cString: n.objCType)
            guard !["c", "B", "d", "f"].contains(type), type == "Q" || n.int64Value >= 0 else {
                throw .badField("slot must be a non-negative whole number")
            }
            slot = n.uint64Value
        default:
            throw .badField("slot must be a number")
        }
        try self.init(process: ProcessID(raw: try id("process")), slot: slot, message: MessageID(raw: try id("message")),
                      resultHash: try bytes("resultHash"), memoryHash: try bytes("memoryHash"),
                      signer: try bytes("signer"), signature: try bytes("signature"))
    }

    /// Parses the JSON text of one attestation.
    public init(jsonBytes: [UInt8]) throws(AttestationError) {
        let value: Any
        do { value = try JSONSerialization.jsonObject(with: Data(jsonBytes)) } catch {
            throw .badField("not JSON")
        }
        try self.init(json: value)
    }
}

/// Why an attestation could not be read.
public struct AttestationError: Error, Hashable, Sendable, CustomStringConvertible {
    public let detail: String
    /// A field is missing, of the wrong type or length, or not base64url.
    public static func badField(_ detail: String) -> AttestationError { AttestationError(detail: detail) }
    public var description: String { "invalid attestation: \(detail)" }
}
