import AOCore
import ArgumentParser
import Foundation
import Testing
@testable import AONodeCLI

/// Parses and runs the `keygen`, `address` and `item` commands as `aonode` would, capturing their output.
@Suite struct KeyAndItemCommandTests {
    /// A fresh temporary directory, removed by the caller.
    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aonode-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func run(_ arguments: [String]) throws -> (CommandHarness.Captured, CommandFailure?) {
        try CommandHarness.run(arguments)
    }

    @Test func keygenWritesA0600KeyAndAddressReadsIt() throws {
        let dir = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("node.jwk").path
        let (gen, failure) = try Self.run(["keygen", "--out", path])
        #expect(failure == nil)
        let address = try #require(gen.out.first)
        #expect(Address(base64URL: address) != nil)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        guard case .ed25519 = try KeyFile.load(path: path) else { Issue.record("keygen default must be ed25519"); return }
        let (addr, _) = try Self.run(["address", "--key", path])
        #expect(addr.out == [address])
        // Never overwrites.
        let (_, again) = try Self.run(["keygen", "--out", path])
        #expect(again?.exitCode == 2)
        #expect(throws: (any Error).self) { try AONodeCommand.parseAsRoot(["keygen", "--type", "dsa", "--out", path]) }
        #expect(throws: (any Error).self) { try AONodeCommand.parseAsRoot(["keygen"]) }
    }

    @Test func createThenInspectAnEd25519Item() throws {
        let dir = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("k.jwk").path, out = dir.appendingPathComponent("m.bin").path
        _ = try Self.run(["keygen", "--type", "ed25519", "--out", key])
        let target = "Krim6GbXWi6x1eP1eEvEqX6z1Pnl0uGqr0ULKhErNVQ"
        let (created, failure) = try Self.run([
            "item", "create", "--key", key, "--target", target, "--anchor", "00000000000000000000000000000042",
            "--tag", "Data-Protocol=ao", "--tag", "Type=Message", "--tag", "Formula=a=b", "--tag", "Empty=",
            "--data", "hello", "--out", out,
        ])
        #expect(failure == nil)
        let id = try #require(created.out.first)
        let item = try DataItem(parsing: [UInt8](try Data(contentsOf: URL(fileURLWithPath: out))))
        #expect(item.id.base64URL == id)
        #expect(item.target?.base64URL == target)
        #expect(item.anchor == Array("00000000000000000000000000000042".utf8))
        #expect(item.tags == [Tag("Data-Protocol", "ao"), Tag("Type", "Message"), Tag("Formula", "a=b"), Tag("Empty", "")])
        #expect(item.data == Array("hello".utf8))
        try item.verify()

        let (text, textFailure) = try Self.run(["item", "inspect", out])
        #expect(textFailure == nil)
        #expect(text.out.contains("id:             \(id)"))
        #expect(text.out.contains("signature:      valid"))
        #expect(text.out.contains("  Formula: a=b"))
        #expect(text.out.contains("data:           5 bytes"))

        let (json, _) = try Self.run(["item", "inspect", out, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.out.joined().utf8)) as? [String: Any])
        #expect(object["id"] as? String == id)
        #expect(object["valid"] as? Bool == true)
        #expect(object["signatureType"] as? Int == 2)
        #expect(object["dataSize"] as? Int == 5)
        #expect(object["address"] as? String == item.ownerAddress.base64URL)
        #expect((object["tags"] as? [[String: String]])?.count == 4)
    }

    @Test func rsaKeygenCreateAndInspect() throws {
        let dir = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("wallet.json").path, out = dir.appendingPathComponent("m.bin").path
        let (gen, genFailure) = try Self.run(["keygen", "--type", "rsa", "--out", key])
        #expect(genFailure == nil)
        guard case .arweave(let wallet) = try KeyFile.load(path: key) else { Issue.record("want an RSA JWK"); return }
        #expect(wallet.owner.count == 512)
        #expect(gen.out == [wallet.address.base64URL])
        let (created, _) = try Self.run(["item", "create", "--key", key, "--tag", "Type=Message", "--data", "x", "--out", out])
        let (json, failure) = try Self.run(["item", "inspect", "--json", out])
        #expect(failure == nil)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.out.joined().utf8)) as? [String: Any])
        #expect(object["id"] as? String == created.out.first)
        #expect(object["signatureType"] as? Int == 1 && object["valid"] as? Bool == true)
        #expect(object["address"] as? String == wallet.address.base64URL)
    }

    @Test func createWithADataFileAndARawAnchor() throws {
        let dir = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("k.jwk").path, out = dir.appendingPathComponent("m.bin").path
        let dataFile = dir.appendingPathComponent("data.bin").path
        _ = try Self.run(["keygen", "--out", key])
        _ = FileManager.default.createFile(atPath: dataFile, contents: Data([0, 0xff, 1]))
        let rawAnchor = Base64URL.encode([UInt8](repeating: 0xfe, count: 32))
        let (_, failure) = try Self.run(["item", "create", "--key", key, "--anchor", rawAnchor, "--data-file", dataFile, "--out", out])
        #expect(failure == nil)
        let item = try DataItem(parsing: [UInt8](try Data(contentsOf: URL(fileURLWithPath: out))))
        #expect(item.anchor == [UInt8](repeating: 0xfe, count: 32) && item.data == [0, 0xff, 1] && item.tags.isEmpty)
    }

    @Test func inspectFailsWithTheReason() throws {
        let dir = try Self.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("k.jwk").path, out = dir.appendingPathComponent("m.bin").path
        _ = try Self.run(["keygen", "--out", key])
        _ = try Self.run(["item", "create", "--key", key, "--data", "payload", "--out", out])
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: out)))
        bytes[bytes.count - 1] ^= 1
        let tampered = dir.appendingPathComponent("tampered.bin").path
        _ = FileManager.default.createFile(atPath: tampered, contents: Data(bytes))
        let (report, failure) = try Self.run(["item", "inspect", tampered])
        #expect(failure?.exitCode == 1)
        #expect(failure?.message.contains("does not verify") == true)
        #expect(report.out.contains { $0.hasPrefix("signature:      INVALID") })

        let truncated = dir.appendingPathComponent("truncated.bin").path
        _ = FileManager.default.createFile(atPath: truncated, contents: Data(bytes[..<50]))
        let (_, malformed) = try Self.run(["item", "inspect", truncated])
        #expect(malformed?.exitCode == 2)
        #expect(malformed?.message.contains("truncated") == true)

        let (_, missing) = try Self.run(["item", "inspect", dir.appendingPathComponent("none.bin").path])
        #expect(missing?.exitCode == 2)
    }

    @Test func createValidatesItsFlags() throws {
        let bad: [[String]] = [
            ["item", "create", "--key", "k", "--target", "short", "--out", "o"],
            ["item", "create", "--key", "k", "--anchor", "not 32 bytes", "--out", "o"],
            ["item", "create", "--key", "k", "--tag", "=value", "--out", "o"],
            ["item", "create", "--key", "k", "--tag", "novalue", "--out", "o"],
            ["item", "create", "--key", "k", "--data", "a", "--data-file", "f", "--out", "o"],
            ["item", "create", "--key", "k"],
        ]
        for args in bad { #expect(throws: (any Error).self, "\(args)") { try AONodeCommand.parseAsRoot(args) } }
    }

    @Test func helpNamesEveryVerb() {
        let help = AONodeCommand.helpMessage()
        for verb in ["keygen", "address", "item"] { #expect(help.contains(verb)) }
        let create = AONodeCommand.helpMessage(for: ItemCreate.self)
        for flag in ["--key", "--target", "--anchor", "--tag", "--data", "--data-file", "--out"] { #expect(create.contains(flag)) }
        #expect(AONodeCommand.helpMessage(for: ItemInspect.self).contains("--json"))
    }
}
