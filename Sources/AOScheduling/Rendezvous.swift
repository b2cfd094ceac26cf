import AOCore

/// Highest-random-weight (rendezvous) hashing: a process's group is the `count` nodes with the highest
/// SHA-256(process id ‖ node id), compared as 32 big-endian bytes (ties, which need a SHA-256 collision, break by node
/// id). Every node computes the same group from the same candidate set, and adding or removing one candidate moves at
/// most one member of any group.
public enum Rendezvous {
    public static func score(process: ProcessID, node: NodeID) -> ID32 {
        ID32(bytes: SHA2.sha256(process.bytes + node.bytes))!
    }

    /// The top `count` candidates, highest score first. O(n log count) with a small selection buffer.
    public static func members(process: ProcessID, candidates: some Sequence<NodeID>, count: Int) -> [NodeID] {
        guard count > 0 else { return [] }
        var best: [(score: ID32, node: NodeID)] = []
        best.reserveCapacity(count + 1)
        for n in candidates {
            let s = score(process: process, node: n)
            if best.count == count, let last = best.last, !(s > last.score || (s == last.score && n > last.node)) { continue }
            var i = best.count
            while i > 0 && (s > best[i - 1].score || (s == best[i - 1].score && n > best[i - 1].node)) { i -= 1 }
            best.insert((s, n), at: i)
            if best.count > count { best.removeLast() }
        }
        return best.map(\.node)
    }
}

/// Two different assignments for the same (process, slot) and term, both signed by `signer`. A Raft leader appends
/// each slot once per term, so this pair is proof that the signer equivocated. (Across terms one signer may
/// legitimately re-sign a slot: an uncommitted entry of an old term is overwritten by a later leader, which may
/// again be the same node.)
public struct EquivocationProof: Hashable, Sendable {
    public var first: SealedAssignment
    public var second: SealedAssignment
    public var signer: NodeID { first.signer }
}

/// A pure equivocation detector: feed it every signed assignment seen (in append messages, gossip, sync).
/// It keeps the latest `slotWindowCount` slots per process and the proofs it found (at most
/// `SchedulingLimits.equivocationProofsMax`, oldest dropped after being reported once).
public struct EquivocationDetector: Sendable {
    struct Key: Hashable, Sendable { var process: ProcessID; var slot: Slot; var term: Term; var signer: NodeID }
    var seen: [Key: SealedAssignment] = [:]
    var highestSlot: [ProcessID: Slot] = [:]
    public private(set) var proofs: [EquivocationProof] = []
    /// How far behind a process's highest seen slot an assignment is still remembered.
    public static let slotWindowCount: UInt64 = 4096

    public init() {}

    /// Returns a proof the first time a conflicting pair is seen.
    public mutating func observe(_ a: SealedAssignment) -> EquivocationProof? {
        let f = a.fields
        let key = Key(process: f.process, slot: f.slot, term: f.term, signer: a.signer)
        let hi = max(highestSlot[f.process] ?? 0, f.slot)
        highestSlot[f.process] = hi
        if f.slot + Self.slotWindowCount < hi { return nil }
        if let old = seen[key] {
            guard old.fields != a.fields || old.id != a.id else { return nil }
            let proof = EquivocationProof(first: old, second: a)
            if proofs.contains(proof) { return nil }
            if proofs.count >= SchedulingLimits.equivocationProofsMax { proofs.removeFirst() }
            proofs.append(proof)
            return proof
        }
        seen[key] = a
        if seen.count > 4 * Int(Self.slotWindowCount) {
            seen = seen.filter { $0.key.slot + Self.slotWindowCount >= (highestSlot[$0.key.process] ?? 0) }
        }
        return nil
    }
}
