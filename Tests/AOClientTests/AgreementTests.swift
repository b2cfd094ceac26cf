import AOCore
import Foundation
import Testing

@testable import AOClient

/// The light client's verdict over node answers, with attestations signed by real ed25519 keys.
@Suite struct AgreementTests {
    static let process = ProcessID(raw: ID32(bytes: SHA2.sha256([7]))!)
    static let message = MessageID(raw: ID32(bytes: SHA2.sha256([8]))!)
    static let keys = (0..<4).map { Ed25519PrivateKey(seed: [UInt8](repeating: UInt8(0x40 + $0), count: 32))! }
    static let outsider = Ed25519PrivateKey(seed: [UInt8](repeating: 0x99, count: 32))!
    static var trusted: Set<NodeID> { LightClient.nodeIDs(publicKeys: keys.map(\.publicKey)) }

    static let goodOutput = Array(#"{"ok":true,"response":{"Output":{"data":"42"},"Messages":[{"Target":"x","Data":"pong"}],"Spawns":[]}}"#.utf8)
    static let goodBody = Array(#"{"Messages":[{"Data":"pong","Target":"x"}],"Assignments":[],"Spawns":[],"Output":{"data":"42"},"GasUsed":0}"#.utf8)
    static let otherOutput = Array(#"{"ok":true,"response":{"Output":{"data":"43"},"Messages":[]}}"#.utf8)
    static let otherBody = Array(#"{"Messages":[],"Assignments":[],"Spawns":[],"Output":{"data":"43"}}"#.utf8)
    static let memory = ResultAttestation.memoryHash(memory: [UInt8](repeating: 1, count: 65536))

    static func attest(_ key: Ed25519PrivateKey, _ output: [UInt8], slot: UInt64 = 3, message: MessageID = message) -> ResultAttestation {
        ResultAttestation.sign(key: key, process: process, slot: slot, message: message,
                               resultHash: ResultAttestation.resultHash(of: output), memoryHash: memory)
    }

    /// An honest node `i`: its own attestation, the bytes, and a matching body.
    static func honest(_ i: Int, extra: [ResultAttestation] = []) -> NodeObservation {
        NodeObservation(node: "http://n\(i)", nodeID: keys[i].nodeID, resultBody: goodBody, resultBytes: goodOutput,
                        attestations: [attest(keys[i], goodOutput)] + extra)
    }

    @Test func threeHonestNodesMeetAQuorumOfThree() {
        let r = LightClient.agreement(observations: (0..<3).map { Self.honest($0) }, message: Self.message,
                                      process: Self.process, quorum: 3, trusted: Self.trusted)
        #expect(r.quorumMet)
        #expect(r.agreed?.resultHash == SHA2.sha256(Self.goodOutput))
        #expect(r.agreeingNodes == ["http://n0", "http://n1", "http://n2"])
        #expect(r.nodes.allSatisfy { $0.bodyChecked && $0.problems.isEmpty })
        #expect(r.claims.count == 1 && r.claims[0].signers.count == 3)
        // Four required: not met, and the report says so.
        let four = LightClient.agreement(observations: (0..<3).map { Self.honest($0) }, message: Self.message,
                                         process: Self.process, quorum: 4, trusted: Self.trusted)
        #expect(!four.quorumMet && four.text.contains("quorum NOT met"))
    }

    @Test func collectedAttestationsCountOnceEachWhoeverRelaysThem() {
        // One node relays the others' attestations; the others relay them again: still 3 distinct signers.
        let relayed = [Self.attest(Self.keys[1], Self.goodOutput), Self.attest(Self.keys[2], Self.goodOutput)]
        let r = LightClient.agreement(observations: [Self.honest(0, extra: relayed), Self.honest(1, extra: relayed)],
                                      message: Self.message, process: Self.process, quorum: 3, trusted: Self.trusted)
        #expect(r.quorumMet)
        #expect(r.claims[0].signers.count == 3)
    }

    @Test func aForgedAttestationIsRejectedAndDoesNotCount() throws {
        // Node 2's attestation carries key 3's public key but a signature by the outsider key.
        let genuine = Self.attest(Self.outsider, Self.goodOutput)
        let forged = try ResultAttestation(process: genuine.process, slot: genuine.slot, message: genuine.message,
                                           resultHash: genuine.resultHash, memoryHash: genuine.memoryHash,
                                           signer: Self.keys[3].publicKey, signature: genuine.signature)
        var liar = Self.honest(2)
        liar.attestations.append(forged)
        let r = LightClient.agreement(observations: [Self.honest(0), Self.honest(1), liar], message: Self.message,
                                      process: Self.process, quorum: 4, trusted: Self.trusted)
        #expect(!r.quorumMet)
        #expect(r.rejected.count == 1 && r.rejected[0].reason.contains("does not verify") && r.rejected[0].relayedBy == "http://n2")
        #expect(r.claims[0].signers.count == 3)
    }

    @Test func anUntrustedSignerDoesNotCountUnlessNoTrustedSetIsGiven() {
        let stranger = NodeObservation(node: "http://stranger", nodeID: Self.outsider.nodeID, resultBody: Self.goodBody,
                                       resultBytes: Self.goodOutput, attestations: [Self.attest(Self.outsider, Self.goodOutput)])
        let obs = [Self.honest(0), Self.honest(1), stranger]
        let r = LightClient.agreement(observations: obs, message: Self.message, process: Self.process, quorum: 3,
                                      trusted: Self.trusted)
        #expect(!r.quorumMet)
        #expect(r.rejected.map(\.signer) == [Self.outsider.nodeID])
        #expect(r.rejected[0].reason.contains("not trusted"))
        let strangerVerdict = r.nodes[2]
        #expect(!strangerVerdict.agrees && strangerVerdict.claim == nil && !strangerVerdict.problems.isEmpty)
        // Without a trusted set every valid signature counts (and the report warns).
        let open = LightClient.agreement(observations: obs, message: Self.message, process: Self.process, quorum: 3, trusted: nil)
        #expect(open.quorumMet && open.text.contains("warning: no trusted signers"))
    }

    @Test func aNodeWithADifferentResultDisagrees() {
        let odd = NodeObservation(node: "http://odd", nodeID: Self.keys[2].nodeID, resultBody: Self.otherBody,
                                  resultBytes: Self.otherOutput, attestations: [Self.attest(Self.keys[2], Self.otherOutput)])
        let r = LightClient.agreement(observations: [Self.honest(0), Self.honest(1), odd], message: Self.message,
                                      process: Self.process, quorum: 2, trusted: Self.trusted)
        #expect(r.quorumMet)
        #expect(r.agreeingNodes == ["http://n0", "http://n1"])
        let v = r.nodes[2]
        #expect(v.claim?.resultHash == SHA2.sha256(Self.otherOutput) && !v.agrees && v.problems.isEmpty)
        #expect(r.claims.count == 2)
        #expect(r.text.contains("DISAGREES"))
        // Quorum 1: two claims reach it, which is a conflict, not an answer.
        let split = LightClient.agreement(observations: [Self.honest(0), odd], message: Self.message,
                                          process: Self.process, quorum: 1, trusted: Self.trusted)
        #expect(!split.quorumMet && split.conflict)
    }

    @Test func resultBytesThatDoNotMatchTheNodesOwnAttestationDisqualifyIt() {
        // Node 1 attests the good result but serves other bytes.
        var liar = Self.honest(1)
        liar.resultBytes = Self.otherOutput
        liar.resultBody = Self.otherBody
        let r = LightClient.agreement(observations: [Self.honest(0), liar], message: Self.message,
                                      process: Self.process, quorum: 2, trusted: Self.trusted)
        #expect(r.nodes[1].claim == nil && !r.nodes[1].agrees)
        #expect(r.nodes[1].problems.contains { $0.contains("do not hash") })
        // Its signature still counts as a vote for what it signed.
        #expect(r.quorumMet)
    }

    @Test func aResultBodyThatContradictsTheAttestedBytesDisqualifiesTheNode() {
        var liar = Self.honest(1)
        liar.resultBody = Self.otherBody  // right bytes and attestation, wrong /result
        let r = LightClient.agreement(observations: [Self.honest(0), liar], message: Self.message,
                                      process: Self.process, quorum: 2, trusted: Self.trusted)
        #expect(r.nodes[1].claim == nil)
        #expect(r.nodes[1].problems.contains { $0.contains("Output differs") })
        #expect(r.agreeingNodes == ["http://n0"])
    }

    @Test func anEquivocatingSignerLosesItsVotes() {
        var twoFaced = Self.honest(2)
        twoFaced.attestations.append(Self.attest(Self.keys[2], Self.otherOutput))
        let r = LightClient.agreement(observations: [Self.honest(0), Self.honest(1), twoFaced], message: Self.message,
                                      process: Self.process, quorum: 3, trusted: Self.trusted)
        #expect(r.equivocators == [Self.keys[2].nodeID])
        #expect(!r.quorumMet)
        #expect(r.nodes[2].claim == nil)
    }

    @Test func attestationsForAnotherMessageAreRejected() {
        let elsewhere = MessageID(raw: ID32(bytes: SHA2.sha256([99]))!)
        var n = Self.honest(1)
        n.attestations = [Self.attest(Self.keys[1], Self.goodOutput, message: elsewhere)]
        let r = LightClient.agreement(observations: [Self.honest(0), n], message: Self.message,
                                      process: Self.process, quorum: 2, trusted: Self.trusted)
        #expect(!r.quorumMet)
        #expect(r.rejected.first?.reason.contains("another message") == true)
    }

    @Test func aNodeThatKeepsNoBytesIsCountedButItsBodyIsUnchecked() {
        var n = Self.honest(1)
        n.resultBytes = nil
        let r = LightClient.agreement(observations: [Self.honest(0), n], message: Self.message,
                                      process: Self.process, quorum: 2, trusted: Self.trusted)
        #expect(r.quorumMet && r.nodes[1].agrees && !r.nodes[1].bodyChecked)
        #expect(r.nodes[1].notes.contains { $0.contains("unchecked") })
    }

    @Test func bodyComparisonFollowsTheCUsRules() {
        // Missing Output is "", missing lists are [].
        #expect(LightClient.bodyMismatch(body: Array(#"{"Output":"","Messages":[],"Spawns":[],"Assignments":[]}"#.utf8),
                                         handleOutput: Array(#"{"ok":true,"response":{}}"#.utf8)) == nil)
        // A failed handle needs an Error in the body.
        #expect(LightClient.bodyMismatch(body: Array(#"{"Output":""}"#.utf8),
                                         handleOutput: Array(#"{"ok":false,"response":"boom"}"#.utf8)) != nil)
        #expect(LightClient.bodyMismatch(body: Array(#"{"Error":"boom"}"#.utf8),
                                         handleOutput: Array(#"{"ok":false,"response":"boom"}"#.utf8)) == nil)
        // ok must be the literal true, not 1.
        #expect(LightClient.bodyMismatch(body: Array(#"{"Output":""}"#.utf8),
                                         handleOutput: Array(#"{"ok":1,"response":{}}"#.utf8)) != nil)
        #expect(LightClient.bodyMismatch(body: Array("not json".utf8), handleOutput: Self.goodOutput) != nil)
        #expect(LightClient.bodyMismatch(body: Self.goodBody, handleOutput: Array("garbage".utf8)) != nil)
    }
}
