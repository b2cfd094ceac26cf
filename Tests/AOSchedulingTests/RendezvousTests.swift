import AOCore
import Testing
@testable import AOScheduling

@Suite struct RendezvousTests {
    /// Property test against a naive reference: sort every candidate by SHA-256(process ‖ node), take the top k.
    @Test func matchesANaiveSort() {
        var rng = Xoshiro256(seed: 5)
        for _ in 0..<200 {
            let n = Int.random(in: 0..<40, using: &rng), k = Int.random(in: 0..<9, using: &rng)
            let nodes = (0..<n).map { _ in NodeID(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })! }
            let p = ProcessID(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })!
            let naive = nodes.sorted { SHA2.sha256(p.bytes + $0.bytes).lexicographicallyPrecedes(SHA2.sha256(p.bytes + $1.bytes)) }
                .reversed().prefix(k)
            #expect(Rendezvous.members(process: p, candidates: nodes, count: k) == Array(naive))
        }
    }

    /// Removing one candidate changes a group by at most that one member (minimal disruption).
    @Test func removingANodeMovesAtMostOneMember() {
        var rng = Xoshiro256(seed: 6)
        let nodes = (0..<20).map { _ in NodeID(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })! }
        for i in 0..<50 {
            let p = ProcessID(bytes: SHA2.sha256(Array("p\(i)".utf8)))!
            let before = Set(Rendezvous.members(process: p, candidates: nodes, count: 3))
            let gone = nodes[i % nodes.count]
            let after = Set(Rendezvous.members(process: p, candidates: nodes.filter { $0 != gone }, count: 3))
            #expect(before.subtracting(after).count <= 1)
            #expect(before.contains(gone) || before == after)
        }
    }
}

@Suite struct EquivocationTests {
    let p = ProcessID(bytes: [UInt8](repeating: 3, count: 32))!
    let signer = SimulatedSigner(nodeID: NodeID(bytes: [UInt8](repeating: 1, count: 32))!)

    func sealed(slot: Slot, message: UInt8, term: Term, by s: SimulatedSigner? = nil) -> SealedAssignment {
        (s ?? signer).seal(AssignmentFields(process: p, slot: slot, message: MessageID(bytes: [UInt8](repeating: message, count: 32))!,
                                            hashChain: HashChain.first(process: p), blockHeight: 1, timestampMs: 1, term: term))
    }

    @Test func twoDifferentAssignmentsForOneSlotAndTermAreProof() {
        var d = EquivocationDetector()
        #expect(d.observe(sealed(slot: 4, message: 1, term: 2)) == nil)
        #expect(d.observe(sealed(slot: 4, message: 1, term: 2)) == nil)  // the same one again: no proof
        let proof = d.observe(sealed(slot: 4, message: 2, term: 2))
        #expect(proof != nil)
        #expect(proof?.signer == signer.nodeID)
        #expect(proof?.first.fields.message != proof?.second.fields.message)
        #expect(d.proofs.count == 1)
        #expect(d.observe(sealed(slot: 4, message: 2, term: 2)) == nil)  // reported once
    }

    @Test func rewritingAnUncommittedSlotInALaterTermIsNotEquivocation() {
        var d = EquivocationDetector()
        #expect(d.observe(sealed(slot: 4, message: 1, term: 2)) == nil)
        #expect(d.observe(sealed(slot: 4, message: 2, term: 3)) == nil)
        let other = SimulatedSigner(nodeID: NodeID(bytes: [UInt8](repeating: 2, count: 32))!)
        #expect(d.observe(sealed(slot: 4, message: 3, term: 2, by: other)) == nil)
    }
}
