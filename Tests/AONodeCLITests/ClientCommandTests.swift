import AOClient
import AOCore
import ArgumentParser
import Foundation
import Testing
@testable import AONodeCLI

/// The client verbs without a node: the items they build (tags exactly as AO's tools write them), argument checks,
/// and the one-line error when the node cannot be reached.
@Suite struct ClientCommandTests {
    static let module = MessageID(raw: ID32(bytes: SHA2.sha256([1]))!)
    static let scheduler = Address(raw: ID32(bytes: SHA2.sha256([2]))!)

    func pairs(_ tags: [DataItemTag]) -> [String] { tags.map { "\($0.nameString)=\($0.valueString)" } }

    @Test func moduleTagsAreDevCLIs() {
        let tags = AOItemBuilder.moduleTags(format: "wasm32-unknown-emscripten2", memoryLimit: "524288000-b",
                                            computeLimit: "9000000000000", extra: [DataItemTag("Extension", "WeaveDrive")])
        #expect(pairs(tags) == ["Data-Protocol=ao", "Type=Module", "Module-Format=wasm32-unknown-emscripten2",
                                "Input-Encoding=JSON-1", "Output-Encoding=JSON-1", "Variant=ao.TN.1",
                                "Content-Type=application/wasm", "Memory-Limit=524288000-b",
                                "Compute-Limit=9000000000000", "Extension=WeaveDrive"])
    }

    @Test func processTagsAreAoconnectsSpawn() throws {
        let tags = AOItemBuilder.processTags(module: Self.module, scheduler: Self.scheduler,
                                             userTags: [DataItemTag("Name", "counter"), DataItemTag("Authority", "x")], hasData: false,
                                             replicas: 5)
        #expect(pairs(tags) == ["Name=counter", "Authority=x", "Content-Type=text/plain", "SDK=aonode", "Data-Protocol=ao",
                                "Variant=ao.TN.1", "Type=Process", "Module=\(Self.module.base64URL)",
                                "Scheduler=\(Self.scheduler.base64URL)", "Scheduler-Replicas=5"])
        // With data: no Content-Type added, no replicas tag unless asked.
        let plain = AOItemBuilder.processTags(module: Self.module, scheduler: Self.scheduler, userTags: [], hasData: true)
        #expect(pairs(plain).first == "SDK=aonode" && !pairs(plain).contains { $0.hasPrefix("Scheduler-Replicas") })
        // What AOCore's process view reads back from a signed item.
        let item = try DataItem.create(signer: Ed25519PrivateKey(seed: [UInt8](repeating: 5, count: 32))!,
                                       anchor: AOItemBuilder.randomAnchor(), tags: tags, data: AOItemBuilder.defaultData)
        let process = try AOProcess(DataItem(parsing: item.serialized()))
        #expect(process.module == Self.module && process.scheduler == Self.scheduler && process.schedulerReplicas == 5)
        #expect(process.authorities == ["x"])
    }

    @Test func messageTagsAreAoconnectsMessage() throws {
        let tags = AOItemBuilder.messageTags(action: "Eval", userTags: [DataItemTag("X", "1")], hasData: true)
        #expect(pairs(tags) == ["Action=Eval", "X=1", "SDK=aonode", "Data-Protocol=ao", "Variant=ao.TN.1", "Type=Message"])
        let bare = AOItemBuilder.messageTags(action: nil, userTags: [], hasData: false)
        #expect(pairs(bare) == ["Content-Type=text/plain", "SDK=aonode", "Data-Protocol=ao", "Variant=ao.TN.1", "Type=Message"])
        let pid = ProcessID(raw: ID32(bytes: SHA2.sha256([3]))!)
        let item = try DataItem.create(signer: Ed25519PrivateKey(seed: [UInt8](repeating: 5, count: 32))!, target: pid.raw,
                                       anchor: AOItemBuilder.randomAnchor(), tags: tags, data: Array("1+1".utf8))
        let message = try AOMessage(DataItem(parsing: item.serialized()))
        #expect(message.process == pid && message.action == "Eval")
    }

    @Test func anchorsAreFreshPrintableAndSized() {
        let a = AOItemBuilder.randomAnchor(), b = AOItemBuilder.randomAnchor()
        #expect(a.count == 32 && b.count == 32 && a != b)
        #expect(a.allSatisfy { (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) })
    }

    @Test func dryRunBodyIsAoconnectsShape() throws {
        let pid = ProcessID(raw: ID32(bytes: SHA2.sha256([3]))!)
        let m = DryRunMessage(target: pid, tags: [DataItemTag("Action", "Balance")], data: "")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(m.jsonBytes)) as? [String: Any])
        #expect(object["Target"] as? String == pid.base64URL && object["Owner"] as? String == "1234")
        let tags = (object["Tags"] as? [[String: String]] ?? []).map { "\($0["name"]!)=\($0["value"]!)" }
        #expect(tags == ["Action=Balance", "Data-Protocol=ao", "Type=Message", "Variant=ao.TN.1"])
    }

    @Test func resultLineKeepsAOsKeyOrder() {
        let body = JSONBody(bytes: Array(#"{"Messages":[],"Assignments":[],"Spawns":[],"Output":{"data":"2"},"GasUsed":0}"#.utf8))
        #expect(resultLine(body) == #"{"Output":{"data":"2"},"Messages":[],"Spawns":[],"Assignments":[],"GasUsed":0}"#)
    }

    @Test func badArgumentsAreRefusedAtParseTime() {
        let id = Self.module.base64URL
        for args in [
            ["spawn", "--node", "not a url", "--key", "k", "--module", id],
            ["spawn", "--node", "http://127.0.0.1:1", "--key", "k", "--module", "short"],
            ["spawn", "--node", "http://127.0.0.1:1", "--key", "k", "--module", id, "--replicas", "0"],
            ["send", "--node", "http://127.0.0.1:1", "--key", "k", "--process", id, "--tag", "=v"],
            ["result", "--node", "http://127.0.0.1:1", "--process", id, "--message", id, "--quorum", "0"],
            ["result", "--node", "http://127.0.0.1:1", "--process", id, "--message", id, "--trust", "abc"],
            ["result", "--node", "http://a:1", "--process", id, "--message", id, "--trust", id, "--network", "f"],
            ["module", "publish", "--node", "http://127.0.0.1:1", "--key", "k", "--file", "f", "--format", "wasm99"],
            ["status", "--node", "ftp://x"],
        ] {
            #expect(throws: (any Error).self, "\(args)") { try AONodeCommand.parseAsRoot(args) }
        }
    }

    /// A base64url id may start with "-" (one in 64 does): it is still the option's value, not an unknown option.
    /// So may data (Lua's "-- comment") and a tag value.
    @Test func idsAndDataStartingWithADashAreValues() throws {
        let id = "-" + String(Self.module.base64URL.dropFirst())
        for args in [
            ["send", "--node", "http://127.0.0.1:1", "--key", "k", "--process", id, "--data", "-- a Lua comment", "--tag", "-x=1"],
            ["spawn", "--node", "http://127.0.0.1:1", "--key", "k", "--module", id],
            ["result", "--node", "http://127.0.0.1:1", "--process", id, "--message", id],
            ["dry-run", "--node", "http://127.0.0.1:1", "--process", id, "--owner", "-owner"],
            ["status", "--node", "http://127.0.0.1:1", "--process", id],
        ] {
            #expect(throws: Never.self, "\(args)") { _ = try AONodeCommand.parseAsRoot(args) }
        }
    }

    @Test func anUnreachableNodeIsOneLineNamingIt() async throws {
        // Port 1 on loopback: nothing listens there.
        let (out, failure) = try await CommandHarness.runAsync(["status", "--node", "http://127.0.0.1:1", "--timeout", "5"])
        #expect(out.out.isEmpty)
        let e = try #require(failure as? NodeClientError)
        #expect(e.kind == .unreachable)
        #expect(e.description.hasPrefix("http://127.0.0.1:1/: ") && !e.description.contains("\n"))
    }

    @Test func aMissingKeyFileIsABadInputFailure() async throws {
        let (_, failure) = try await CommandHarness.runAsync([
            "send", "--node", "http://127.0.0.1:1", "--key", "/nonexistent/key.json", "--process", Self.module.base64URL])
        #expect((failure as? CommandFailure)?.exitCode == 2)
    }

    @Test func helpNamesEveryClientVerb() {
        let help = AONodeCommand.helpMessage()
        for verb in ["module", "spawn", "send", "result", "dry-run", "status"] { #expect(help.contains(verb)) }
        #expect(AONodeCommand.helpMessage(for: ResultCommand.self).contains("--quorum"))
    }
}
