import AOCore
import Testing
@testable import AOScheduling

/// AO's legacy Hash-Chain, checked against the vectors of ao-protocol.md §2.6.
@Suite struct HashChainTests {
    let pid = ProcessID(base64URL: "boxXWZqkBaZmOKJ3Vh7PZzC07Q9OXmxF4QT_ikodfNY")!

    @Test func firstValueIsSHA256OfTheProcessID() {
        #expect(HashChain.first(process: pid).base64URL == "QQgVUhvszq0JiFEnNIcGDUmxTBGjukrZnlcdvAnr3-8")
    }

    @Test func nextValueBindsThePreviousAssignmentAndChain() {
        let hc0 = HashChain.first(process: pid)
        let prev = MessageID(base64URL: "6oYAxVAnH8yKsZKpMgHSbRv7uVWey68PAqYuSXeZBbg")!
        #expect(HashChain.next(previousAssignment: prev, previous: hc0).base64URL == "AzLQ4vgrqgsutyzcRhd1M5AL-N3XLmnNOpIhm-gbDX0")
        // Order matters: SHA256(prev id ‖ prev chain), not the other way round (HyperBEAM's chain differs).
        #expect(ID32(bytes: SHA2.sha256(hc0.bytes + prev.bytes))! != HashChain.next(previousAssignment: prev, previous: hc0))
    }

    @Test func brokenLinksAreFound() {
        let signer = SimulatedSigner(nodeID: NodeID(bytes: [UInt8](repeating: 1, count: 32))!)
        var chain: [SealedAssignment] = [signer.seal(AssignmentFields(process: pid, slot: 0, message: nil, hashChain: HashChain.first(process: pid),
                                                                       blockHeight: 1, timestampMs: 1, term: 1))]
        for s in 1...5 {
            let p = chain.last!
            chain.append(signer.seal(AssignmentFields(process: pid, slot: Slot(s), message: MessageID(bytes: [UInt8](repeating: UInt8(s), count: 32))!,
                                                      hashChain: HashChain.next(previousAssignment: p.id, previous: p.fields.hashChain),
                                                      blockHeight: 1, timestampMs: 1, term: 1)))
        }
        #expect(HashChain.firstBrokenSlot(chain) == nil)
        var bad = chain
        bad[3].fields.hashChain = HashChain.first(process: pid)
        #expect(HashChain.firstBrokenSlot(bad) == 3)
        var gap = chain
        gap.remove(at: 2)
        #expect(HashChain.firstBrokenSlot(gap) == 3)
    }

    @Test func assignmentTagsFollowAOsOrderThenTerm() {
        let m = MessageID(base64URL: "FRlw0hbkWwcrTq0tR_PGGM4yt3nZ9kTyGmTBY7hB-2w") ?? MessageID(bytes: [UInt8](repeating: 9, count: 32))!
        let f = AssignmentFields(process: pid, slot: 1, message: m, hashChain: HashChain.first(process: pid),
                                 blockHeight: 1_393_008, timestampMs: 1_711_676_638_471, term: 4)
        let tags = f.assignmentTags
        #expect(tags.map(\.name) == ["Process", "Epoch", "Nonce", "Hash-Chain", "Block-Height", "Timestamp", "Data-Protocol",
                                     "Type", "Variant", "Message", "Term"])
        #expect(tags[1].value == "0")
        #expect(tags[2].value == "1")
        #expect(tags[4].value == "000001393008")
        #expect(tags[5].value == "1711676638471")
        #expect(tags[8].value == "ao.TN.1")
        #expect(tags[10].value == "4")
        // The process's own assignment has no Message tag.
        var own = f; own.message = nil; own.slot = 0
        #expect(!own.assignmentTags.contains { $0.name == "Message" })
    }
}
