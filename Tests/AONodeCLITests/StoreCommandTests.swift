import AOCore
import ArgumentParser
import Foundation
import Testing
@testable import AONodeCLI

/// Parses and runs the `store` verbs as `aonode` would, on real LMDB stores in temporary data directories.
@Suite struct StoreCommandTests {
    static func run(_ arguments: [String]) throws -> (CommandHarness.Captured, CommandFailure?) {
        try CommandHarness.run(arguments)
    }

    @Test func importGetExportReimportStatsBackup() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("aonode-store-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let a = root + "/a", b = root + "/b"
        let key = Ed25519PrivateKey(seed: [UInt8](repeating: 3, count: 32))!
        let process = try DataItem.create(signer: key, tags: [Tag("Data-Protocol", "ao"), Tag("Type", "Process")], data: Array("p".utf8))
        let message = try DataItem.create(signer: key, target: process.id.raw, tags: [Tag("Data-Protocol", "ao"), Tag("Type", "Message")], data: Array("m".utf8))
        let assignment = try DataItem.create(signer: key, tags: [Tag("Data-Protocol", "ao"), Tag("Type", "Assignment"), Tag("Process", process.id.base64URL),
                                                                  Tag("Epoch", "0"), Tag("Nonce", "0"), Tag("Message", message.id.base64URL)])
        let single = root + "/message.item", bundle = root + "/pa.bundle"
        #expect(FileManager.default.createFile(atPath: single, contents: Data(message.serialized())))
        #expect(FileManager.default.createFile(atPath: bundle, contents: Data(ANS104Bundle.serialize([process, assignment]))))

        // stats before any store: a clear error, not an empty store created by accident.
        let (_, none) = try Self.run(["store", "stats", "--data-dir", a])
        #expect(none?.message.contains("no store") == true)

        let (i1, f1) = try Self.run(["store", "import", single, "--data-dir", a])
        #expect(f1 == nil && i1.out.first?.contains("1 new") == true)
        let (i2, f2) = try Self.run(["store", "import", bundle, "--data-dir", a])
        #expect(f2 == nil && i2.out.first?.contains("2 new") == true && i2.out.first?.contains("1 process-log entry") == true)
        let (i3, _) = try Self.run(["store", "import", single, "--data-dir", a])
        #expect(i3.out.first?.contains("1 already stored") == true)

        let (g, gf) = try Self.run(["store", "get", message.id.base64URL, "--data-dir", a])
        #expect(gf == nil)
        #expect(g.out.contains("target: \(process.id.base64URL)"))
        #expect(g.out.contains("tag:    Type = Message"))
        let raw = root + "/raw.item"
        _ = try Self.run(["store", "get", message.id.base64URL, "--out", raw, "--data-dir", a])
        #expect(FileManager.default.contents(atPath: raw).map { [UInt8]($0) } == message.serialized())

        let exported = root + "/export.bundle"
        let (e, ef) = try Self.run(["store", "export", "--process", process.id.base64URL, "--out", exported, "--data-dir", a])
        #expect(ef == nil && e.err.isEmpty)
        let parsed = try ANS104Bundle(parsing: [UInt8](FileManager.default.contents(atPath: exported)!))
        #expect(parsed.items.map(\.id) == [process.id, assignment.id, message.id])

        // The exported bundle rebuilds items and the process log in another store.
        let (_, rf) = try Self.run(["store", "import", exported, "--data-dir", b])
        #expect(rf == nil)
        let (s, _) = try Self.run(["store", "stats", "--data-dir", b])
        #expect(s.out.contains { $0.hasPrefix("items:") && $0.contains(" 3 ") })
        #expect(s.out.contains { $0.hasPrefix("process log:") && $0.contains(" 1 entries") })

        let (bk, bf) = try Self.run(["store", "backup", "--out", root + "/copy", "--data-dir", a])
        #expect(bf == nil && bk.out.first?.hasPrefix("backed up") == true)
        #expect(FileManager.default.fileExists(atPath: root + "/copy/data.mdb"))
    }

    @Test func clearErrors() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("aonode-store-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let key = Ed25519PrivateKey(seed: [UInt8](repeating: 4, count: 32))!
        var tampered = try DataItem.create(signer: key, data: Array("honest".utf8)).serialized()
        tampered[tampered.count - 1] ^= 1
        let file = root + "/bad.item"
        #expect(FileManager.default.createFile(atPath: file, contents: Data(tampered)))
        let (_, f) = try Self.run(["store", "import", file, "--data-dir", root])
        #expect(f?.message.contains("does not verify") == true)
        #expect(!FileManager.default.fileExists(atPath: root + "/store/data.mdb"))  // nothing imported, nothing created
        #expect(FileManager.default.createFile(atPath: root + "/junk", contents: Data([1, 2, 3])))
        let (_, j) = try Self.run(["store", "import", root + "/junk", "--data-dir", root])
        #expect(j?.message.contains("malformedItem") == true)
        let (_, g) = try Self.run(["store", "get", "not-an-id", "--data-dir", root])
        #expect(g?.message.contains("not an item id") == true)
        #expect(throws: (any Error).self) { try AONodeCommand.parseAsRoot(["store", "export", "--data-dir", root]) }  // --process, --out required
    }
}
