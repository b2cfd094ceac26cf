import AOCore
import AOStore
import AOStoreLMDB

/// The node's own result attestations (DESIGN.md §6, `AOCore.ResultAttestation`): one per evaluated slot, signed
/// with the node key, kept in the KV namespace `compute.attest` under process ++ slot (8 bytes big-endian).
///
/// Value layout (version 2): `0x02 | message (32) | resultHash (32) | memoryHash (32) | signature (64)`; the signer
/// is this node's key. The result hash covers the exact bytes `handle` returned (SHA-256 of the empty string when
/// the call trapped and returned nothing); the memory hash is `AOCore.MemoryCommitment`'s tree hash of the linear
/// memory after the message (after a rollback: the state before it). Records of version 1 (a flat SHA-256 of the
/// memory, signed as `aonode-attestation-v1`) read as absent: their signatures are not valid version-2 attestations.
enum Attestations {
    static let namespace = "compute.attest"
    static let version: UInt8 = 2
    static let emptyHash = SHA2.sha256([UInt8]())

    static func key(process: ProcessID, slot: UInt64) -> [UInt8] { process.bytes + NodeRuntime.be(slot) }

    static func sign(key: Ed25519PrivateKey, process: ProcessID, slot: UInt64, message: MessageID, resultHash: [UInt8],
                     memoryHash: [UInt8]) -> ResultAttestation {
        ResultAttestation.sign(key: key, process: process, slot: slot, message: message,
                               resultHash: resultHash.count == 32 ? resultHash : emptyHash, memoryHash: memoryHash)
    }

    static func encode(_ a: ResultAttestation) -> [UInt8] {
        [version] + a.message.bytes + a.resultHash + a.memoryHash + a.signature
    }

    static func decode(_ value: [UInt8], process: ProcessID, slot: UInt64, signer: [UInt8]) -> ResultAttestation? {
        guard value.count == 1 + 32 + 32 + 32 + 64, value[0] == version, let m = MessageID(bytes: value[1..<33]) else { return nil }
        return try? ResultAttestation(process: process, slot: slot, message: m, resultHash: Array(value[33..<65]),
                                      memoryHash: Array(value[65..<97]), signer: signer, signature: Array(value[97..<161]))
    }

    static func read(store: LMDBContentStore, process: ProcessID, slot: UInt64, signer: [UInt8]) throws -> ResultAttestation? {
        guard let v = try store.value(namespace: namespace, key: key(process: process, slot: slot)) else { return nil }
        return decode(v, process: process, slot: slot, signer: signer)
    }
}
