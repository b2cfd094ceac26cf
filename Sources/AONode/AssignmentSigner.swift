import AOCore
import AOScheduling
import Foundation

/// The node's real `SchedulingSigner`: an assignment is the AO Assignment data item (ANS-104, ed25519, tags in AO's
/// order, empty target, anchor and data, ao-protocol.md §1.6) signed with the node key, so its id is the data item
/// id the next slot's hash chain binds. ed25519 signing is deterministic, so the same fields always give the same
/// item and id (the `SchedulingSigner` contract).
///
/// Verification needs the signer's public key: the node ids of admitted schedulers map to their keys through the
/// network configuration (`NetworkConfiguration`). An assignment from a key outside it never verifies.
public struct AssignmentSigner: SchedulingSigner, Sendable {
    public let nodeID: NodeID
    let key: Ed25519PrivateKey
    /// Admitted schedulers' public keys (this node's own included).
    let publicKeys: [NodeID: [UInt8]]
    /// The serialized items of the assignments this node sealed or verified (bounded, newest kept).
    let cache = AssignmentItemCache(countMax: 16_384)

    public init(key: Ed25519PrivateKey, admittedKeys: [[UInt8]]) {
        self.key = key
        self.nodeID = NodeIdentity.nodeID(publicKey: key.publicKey)
        var keys: [NodeID: [UInt8]] = [nodeID: key.publicKey]
        for k in admittedKeys { keys[NodeIdentity.nodeID(publicKey: k)] = k }
        self.publicKeys = keys
    }

    public func publicKey(of node: NodeID) -> [UInt8]? { publicKeys[node] }

    /// The Assignment data item for `fields` as signed by `signer` with `signature` (no signing happens: the
    /// signature is written as given, so `verify()` on the result checks it).
    public static func dataItem(_ fields: AssignmentFields, owner: [UInt8], signature: [UInt8]) -> DataItem? {
        try? DataItem.create(signer: GivenSignature(owner: owner, signature: signature), tags: tags(fields))
    }

    public static func dataItem(_ sealed: SealedAssignment, owner: [UInt8]) -> DataItem? {
        dataItem(sealed.fields, owner: owner, signature: sealed.signature)
    }

    /// `fields.assignmentTags` as bytes, built without Foundation strings (this runs for every slot at the leader's
    /// seal and at each follower's check: the String route through `Base64URL.encode` cost ~10 % of a leader's CPU).
    static func tags(_ fields: AssignmentFields) -> [Tag] {
        var tags: [Tag] = []
        tags.reserveCapacity(11)
        tags.append(Tag(name: TagBytes.process, value: TagBytes.base64URL(fields.process.bytes)))
        tags.append(Tag(name: TagBytes.epoch, value: TagBytes.epochValue))
        tags.append(Tag(name: TagBytes.nonce, value: Array(String(fields.slot).utf8)))
        tags.append(Tag(name: TagBytes.hashChain, value: TagBytes.base64URL(fields.hashChain.bytes)))
        var height = Array(String(fields.blockHeight).utf8)
        if height.count < 12 { height = Array(repeating: UInt8(ascii: "0"), count: 12 - height.count) + height }
        tags.append(Tag(name: TagBytes.blockHeight, value: height))
        tags.append(Tag(name: TagBytes.timestamp, value: Array(String(fields.timestampMs).utf8)))
        tags.append(Tag(name: TagBytes.dataProtocol, value: TagBytes.ao))
        tags.append(Tag(name: TagBytes.type, value: TagBytes.assignment))
        tags.append(Tag(name: TagBytes.variant, value: TagBytes.variantValue))
        if let m = fields.message { tags.append(Tag(name: TagBytes.message, value: TagBytes.base64URL(m.bytes))) }
        tags.append(Tag(name: TagBytes.term, value: Array(String(fields.term).utf8)))
        assert(tags == fields.assignmentTags.map { Tag(name: Array($0.name.utf8), value: Array($0.value.utf8)) },
               "fast assignment tags differ from AssignmentFields.assignmentTags")
        return tags
    }

    public func seal(_ fields: AssignmentFields) -> SealedAssignment {
        // Tags within ANS-104 limits by construction (11 short tags), so creation cannot fail.
        let item = try! DataItem.create(signer: key, tags: Self.tags(fields))
        cache.insert(item.id, process: fields.process, bytes: item.serialized())
        return SealedAssignment(fields: fields, signer: nodeID, signature: item.signature, id: item.id)
    }

    public func signCertificate(_ subject: CertificateSubject) -> [UInt8] {
        key.sign(subject.signingBytes)
    }

    public func verify(_ sealed: SealedAssignment) -> Bool {
        guard let owner = publicKeys[sealed.signer],
              let item = Self.dataItem(sealed.fields, owner: owner, signature: sealed.signature),
              item.id == sealed.id else { return false }
        guard (try? item.verify()) != nil else { return false }
        cache.insert(item.id, process: sealed.fields.process, bytes: item.serialized())
        return true
    }

    /// The serialized Assignment item of `sealed`: from the cache when this node sealed or verified it (no deep hash
    /// again), else rebuilt from its fields. nil for an unknown signer.
    public func itemBytes(_ sealed: SealedAssignment) -> [UInt8]? {
        if let hit = cache.bytes(sealed.id) { return hit.bytes }
        guard let owner = publicKeys[sealed.signer], let item = Self.dataItem(sealed, owner: owner) else { return nil }
        return item.serialized()
    }

    public func verifyCertificateShare(_ subject: CertificateSubject, signer: NodeID, signature: [UInt8]) -> Bool {
        guard let owner = publicKeys[signer] else { return false }
        return Ed25519.verify(signature: signature, message: subject.signingBytes, publicKey: owner)
    }
}

/// A `DataItemSigner` that "signs" with a signature it was given: rebuilds an item someone else signed.
struct GivenSignature: DataItemSigner {
    let owner: [UInt8]
    let signature: [UInt8]
    var signatureType: SignatureType { .ed25519 }
    func sign(_ message: [UInt8]) -> [UInt8] { signature }
}

/// Node ids: SHA-256 of the ed25519 public key (the same as the key's Arweave-style address).
public enum NodeIdentity {
    public static func nodeID(publicKey: [UInt8]) -> NodeID { NodeID(raw: ID32(bytes: SHA2.sha256(publicKey))!) }
}

/// Serialized Assignment items by id, each one this node signed or whose signature it checked, with its process.
/// Bounded (the oldest entry goes first). A gossip copy byte-identical to an entry is valid without checking its
/// signature again, and the flush stores the bytes without rebuilding the item (`AssignmentSigner.itemBytes`).
public final class AssignmentItemCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [MessageID: (process: ProcessID, bytes: [UInt8])] = [:]
    private var ring: [MessageID?]
    private var next = 0

    public init(countMax: Int) {
        precondition(countMax > 0, "countMax must be positive")
        ring = Array(repeating: nil, count: countMax)
    }

    public func insert(_ id: MessageID, process: ProcessID, bytes: [UInt8]) {
        lock.withLock {
            guard entries[id] == nil else { return }
            if let old = ring[next] { entries[old] = nil }
            ring[next] = id
            next = (next + 1) % ring.count
            entries[id] = (process, bytes)
        }
    }

    public func bytes(_ id: MessageID) -> (process: ProcessID, bytes: [UInt8])? {
        lock.withLock { entries[id] }
    }
}

/// Tag names and constant values of an Assignment item as bytes, and a base64url (no padding) encoder over bytes.
enum TagBytes {
    static let process = Array("Process".utf8), epoch = Array("Epoch".utf8), nonce = Array("Nonce".utf8)
    static let hashChain = Array("Hash-Chain".utf8), blockHeight = Array("Block-Height".utf8)
    static let timestamp = Array("Timestamp".utf8), dataProtocol = Array("Data-Protocol".utf8), type = Array("Type".utf8)
    static let variant = Array("Variant".utf8), message = Array("Message".utf8), term = Array("Term".utf8)
    static let epochValue = Array(AssignmentFields.epoch.utf8), ao = Array("ao".utf8), assignment = Array("Assignment".utf8)
    static let variantValue = Array("ao.TN.1".utf8)
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// The same text as `Base64URL.encode` (RFC 4648 §5 alphabet, no padding), as UTF-8 bytes.
    static func base64URL(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)]); out.append(alphabet[Int(n & 63)])
            i += 3
        }
        switch bytes.count - i {
        case 1:
            let n = UInt32(bytes[i]) << 16
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
        case 2:
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)]); out.append(alphabet[Int(n >> 6 & 63)])
        default: break
        }
        return out
    }
}
