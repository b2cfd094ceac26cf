import AOCore
import AOScheduling

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

    static func tags(_ fields: AssignmentFields) -> [Tag] {
        fields.assignmentTags.map { Tag(name: Array($0.name.utf8), value: Array($0.value.utf8)) }
    }

    public func seal(_ fields: AssignmentFields) -> SealedAssignment {
        // Tags within ANS-104 limits by construction (11 short tags), so creation cannot fail.
        let item = try! DataItem.create(signer: key, tags: Self.tags(fields))
        return SealedAssignment(fields: fields, signer: nodeID, signature: item.signature, id: item.id)
    }

    public func signCertificate(_ subject: CertificateSubject) -> [UInt8] {
        key.sign(subject.signingBytes)
    }

    public func verify(_ sealed: SealedAssignment) -> Bool {
        guard let owner = publicKeys[sealed.signer],
              let item = Self.dataItem(sealed.fields, owner: owner, signature: sealed.signature),
              item.id == sealed.id else { return false }
        return (try? item.verify()) != nil
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
