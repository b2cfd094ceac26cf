import AOCore

/// The fields of one AO assignment as the leader decides them. The shell turns them into the ANS-104 Assignment
/// data item (tags in AO's order, `assignmentTags`) and signs it; the core never touches keys or bytes on disk.
public struct AssignmentFields: Hashable, Sendable {
    public var process: ProcessID
    /// AO's `Nonce`.
    public var slot: Slot
    /// The scheduled message; nil for the process's own assignment (slot 0), which AO writes without `Message`.
    public var message: MessageID?
    /// AO's `Hash-Chain` (`HashChain`).
    public var hashChain: ID32
    /// AO's `Block-Height`: never decreasing within a process (DESIGN.md §2).
    public var blockHeight: UInt64
    /// AO's `Timestamp` in ms: never decreasing within a process.
    public var timestampMs: UInt64
    /// The Raft term of the leader that made it, as aonode's extra `Term` tag.
    public var term: Term
    /// The outbox dedupe key, when the message was pushed by another process (not a tag: kept in the log only).
    public var outboxKey: OutboxKey?

    public init(process: ProcessID, slot: Slot, message: MessageID?, hashChain: ID32, blockHeight: UInt64,
                timestampMs: UInt64, term: Term, outboxKey: OutboxKey? = nil) {
        self.process = process; self.slot = slot; self.message = message; self.hashChain = hashChain
        self.blockHeight = blockHeight; self.timestampMs = timestampMs; self.term = term; self.outboxKey = outboxKey
    }

    /// AO's `Epoch`: always "0" (the SU never increments it). aonode's epochs are Raft terms, in `Term`.
    public static let epoch = "0"

    /// The Assignment tags in AO's exact order (ao-protocol.md §1.6), then aonode's `Term`:
    /// Process, Epoch, Nonce, Hash-Chain, Block-Height (12 digits), Timestamp, Data-Protocol, Type, Variant,
    /// Message (absent on slot 0), Term.
    public var assignmentTags: [(name: String, value: String)] {
        var tags: [(name: String, value: String)] = [
            ("Process", process.base64URL), ("Epoch", Self.epoch), ("Nonce", String(slot)),
            ("Hash-Chain", hashChain.base64URL), ("Block-Height", Self.paddedBlockHeight(blockHeight)),
            ("Timestamp", String(timestampMs)), ("Data-Protocol", "ao"), ("Type", "Assignment"),
            ("Variant", "ao.TN.1"),
        ]
        if let message { tags.append(("Message", message.base64URL)) }
        tags.append(("Term", String(term)))
        return tags
    }

    /// `Block-Height` is zero-padded to 12 digits, as the SU writes it.
    public static func paddedBlockHeight(_ height: UInt64) -> String {
        let s = String(height)
        return s.count >= 12 ? s : String(repeating: "0", count: 12 - s.count) + s
    }
}

/// An assignment after the leader's shell signed it: the fields, who signed, the signature and the data item id
/// (for ANS-104, SHA-256 of the signature). The id is what the next slot's hash chain binds.
public struct SealedAssignment: Hashable, Sendable {
    public var fields: AssignmentFields
    public var signer: NodeID
    public var signature: [UInt8]
    public var id: MessageID
    public init(fields: AssignmentFields, signer: NodeID, signature: [UInt8], id: MessageID) {
        self.fields = fields; self.signer = signer; self.signature = signature; self.id = id
    }
}

/// What a quorum certificate signs: the last assignment of a committed contiguous range. The hash chain binds every
/// assignment before it, so one signature per member covers the whole range.
public struct CertificateSubject: Hashable, Sendable {
    public var process: ProcessID
    public var slot: Slot
    public var assignment: MessageID
    public init(process: ProcessID, slot: Slot, assignment: MessageID) {
        self.process = process; self.slot = slot; self.assignment = assignment
    }
    /// The bytes a member signs: a domain tag, then process, slot (big-endian) and assignment id.
    public var signingBytes: [UInt8] {
        var out = Array("aonode-certificate-v1".utf8)
        out += process.bytes
        for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: slot >> UInt64(s))) }
        out += assignment.bytes
        return out
    }
}

/// A quorum certificate: a majority of the group's configuration signed `subject`.
public struct QuorumCertificate: Hashable, Sendable {
    public var subject: CertificateSubject
    /// Members of the configuration the leader counted the majority in.
    public var configuration: [NodeID]
    public var signatures: [NodeID: [UInt8]]
}

/// The signing seam. The node's shell implements it with its ed25519 key and ANS-104 (`DataItem`); the simulator
/// with a deterministic stand-in. Implementations MUST be deterministic (ed25519 is) so that a replayed seed
/// produces the same ids, and `seal` MUST return `id` = the id the Assignment data item will have.
///
/// Injecting it keeps the cores pure (no I/O, no ambient state): the leader needs the id of slot n before it can
/// compute the hash chain of slot n+1, so signing sits inside the assignment step, not after it.
public protocol SchedulingSigner {
    var nodeID: NodeID { get }
    func seal(_ fields: AssignmentFields) -> SealedAssignment
    func signCertificate(_ subject: CertificateSubject) -> [UInt8]
    /// Checks a sealed assignment: its signature by `signer` and that `id` matches.
    func verify(_ sealed: SealedAssignment) -> Bool
    func verifyCertificateShare(_ subject: CertificateSubject, signer: NodeID, signature: [UInt8]) -> Bool
}

/// A deterministic signer for simulations and pure tests: "signatures" are SHA-256 over the signer and content
/// (64 bytes: two hashes), so anyone can check them and a replay reproduces them. It proves nothing
/// cryptographically and MUST NOT be used by a node.
public struct SimulatedSigner: SchedulingSigner, Sendable {
    public let nodeID: NodeID
    public init(nodeID: NodeID) { self.nodeID = nodeID }

    static func fieldBytes(_ f: AssignmentFields) -> [UInt8] {
        var w = WireWriter()
        w.writeAssignmentFields(f)
        return w.bytes
    }
    static func fakeSignature(_ signer: NodeID, _ content: [UInt8]) -> [UInt8] {
        let h = SHA2.sha256(signer.bytes + content)
        return h + SHA2.sha256(h)
    }
    public func seal(_ fields: AssignmentFields) -> SealedAssignment {
        let sig = Self.fakeSignature(nodeID, Self.fieldBytes(fields))
        return SealedAssignment(fields: fields, signer: nodeID, signature: sig, id: MessageID(bytes: SHA2.sha256(sig))!)
    }
    public func signCertificate(_ subject: CertificateSubject) -> [UInt8] {
        Self.fakeSignature(nodeID, subject.signingBytes)
    }
    public func verify(_ sealed: SealedAssignment) -> Bool {
        sealed.signature == Self.fakeSignature(sealed.signer, Self.fieldBytes(sealed.fields))
            && sealed.id == MessageID(bytes: SHA2.sha256(sealed.signature))!
    }
    public func verifyCertificateShare(_ subject: CertificateSubject, signer: NodeID, signature: [UInt8]) -> Bool {
        signature == Self.fakeSignature(signer, subject.signingBytes)
    }
}
