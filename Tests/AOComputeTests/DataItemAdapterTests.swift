import AOCore
import Testing
@testable import AOCompute

/// Real signed data items (branch foundation's `DataItem`) through the adapters into the CU's message object.
@Suite struct DataItemAdapterTests {
    @Test func assignmentAndMessageBecomeTheCUMessageObject() throws {
        let user = Ed25519PrivateKey(seed: [UInt8](repeating: 7, count: 32))!
        let su = Ed25519PrivateKey(seed: [UInt8](repeating: 9, count: 32))!
        let pid = ID32(bytes: [UInt8](repeating: 1, count: 32))!
        let msg = try DataItem.create(signer: user, target: pid, anchor: Array("00000000000000000000000000000003".utf8),
                                      tags: [Tag("Data-Protocol", "ao"), Tag("Type", "Message"), Tag("Action", "Eval"),
                                             Tag("From", "spoofed")],
                                      data: Array("return 1+1".utf8))
        let hc = Base64URL.encode([UInt8](repeating: 2, count: 32))
        let asg = try AOAssignment(DataItem.create(signer: su, tags: [
            Tag("Process", ProcessID(raw: pid).base64URL), Tag("Epoch", "0"), Tag("Nonce", "5"), Tag("Hash-Chain", hc),
            Tag("Block-Height", "000001393008"), Tag("Timestamp", "1700000000123"), Tag("Data-Protocol", "ao"),
            Tag("Type", "Assignment"), Tag("Variant", "ao.TN.1"), Tag("Message", msg.id.base64URL)]))
        let m = ScheduledMessage(assignment: asg, message: msg)
        let json = m.json()
        #expect(json["Id"] == .string(msg.id.base64URL))
        #expect(json["Owner"] == .string(user.address.base64URL))
        #expect(json["From"] == .string(user.address.base64URL))
        #expect(json["Target"] == .string(ProcessID(raw: pid).base64URL))
        #expect(json["Anchor"] == .string("00000000000000000000000000000003"))
        #expect(json["Nonce"] == .number(5))
        #expect(json["Block-Height"] == .number(1_393_008))
        #expect(json["Timestamp"] == .number(1_700_000_000_123))
        #expect(json["Hash-Chain"] == .string(hc))
        #expect(json["Data"] == .string("return 1+1"))
        #expect(json["Tags"]?.arrayValue?.count == 3, "the From tag is removed")
    }
}
