import AOCore
import AOStore
import AOStoreLMDB
import Foundation
import Testing

/// Kills a real writer process with SIGKILL at random points and checks what survives: every batch it reported
/// durable is there and verifies, no batch is half there, the indexes agree with the items, and the store reopens.
@Suite("LMDB crash safety")
struct CrashTests {
    static let rounds = 20
    static let batchItemCount = 40  // the tool's crashBatchItemCount

    /// The helper built next to the test bundle (`swift test` builds every executable target).
    static var toolPath: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("aonode-store-tool").path
    }

    @Test func sigkillAtRandomPointsLosesNothingReported() throws {
        let tool = Self.toolPath
        try #require(FileManager.default.isExecutableFile(atPath: tool), "build aonode-store-tool first (swift build --product aonode-store-tool); looked at \(tool)")
        let dir = temporaryDirectory("crash")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SplitMix64(seed: 2026)
        var reported: [Int: [MessageID]] = [:]   // batch -> ids the child reported durable
        let key = Ed25519PrivateKey(seed: [UInt8](repeating: 7, count: 32))!

        for round in 0..<Self.rounds {
            let output = try runAndKill(tool: tool, dir: dir, seed: rng.next(), killAfterMilliseconds: Int(rng.next() % 120))
            for line in output where line.hasPrefix("durable ") {
                let words = line.split(separator: " ")
                reported[Int(words[1])!] = words.dropFirst(2).map { MessageID(base64URL: String($0))! }
            }
            #expect(!output.contains { $0.hasPrefix("error") }, "round \(round): \(output.filter { $0.hasPrefix("error") })")

            let store = try LMDBContentStore(directory: dir)   // opens cleanly after SIGKILL
            defer { store.close() }
            let committed = Int(try store.value(namespace: "crash", key: Array("batches".utf8)).map { SequenceKey.value($0) } ?? 0)
            #expect(reported.keys.allSatisfy { $0 < committed }, "round \(round): a reported batch is missing (committed \(committed))")
            for (_, ids) in reported { for id in ids { #expect(try store.item(id)?.isSignatureValid == true) } }
            // Atomicity: every committed batch is whole, the next one is absent entirely.
            let stats = try store.statistics()
            #expect(stats.itemCount == committed * Self.batchItemCount)
            #expect(stats.processLogEntryCount == committed * Self.batchItemCount)
            let process = ProcessID(raw: ID32(bytes: [UInt8](repeating: 0xcc, count: 32))!)
            #expect(try store.latestSlot(process: process) == (committed == 0 ? nil : UInt64(committed * Self.batchItemCount - 1)))
            if committed > 0 {
                #expect(try store.transactions(TransactionQuery(tags: [TagFilter("Batch", ["\(committed - 1)"])], first: 100)).edges.count == Self.batchItemCount)
            }
            #expect(try store.transactions(TransactionQuery(tags: [TagFilter("Batch", ["\(committed)"])])).edges.isEmpty)
            if round == Self.rounds - 1 {
                #expect(committed > Self.rounds, "the writer made too little progress to test anything (\(committed) batches)")
                try checkIndexesAgree(store, owner: key.address, committed: committed)
            }
        }
    }

    /// Every item in ingest order is in the owner index and in its own Batch tag list; the log points at real items.
    func checkIndexesAgree(_ store: LMDBContentStore, owner: Address, committed: Int) throws {
        func everything(_ q: TransactionQuery) throws -> [MessageID] {
            var q = q, out: [MessageID] = []
            while true {
                let page = try store.transactions(q); out += page.ids
                guard page.hasNextPage else { return out }
                q.after = page.edges.last!.cursor
            }
        }
        let all = try everything(TransactionQuery(first: 100))
        #expect(all.count == committed * Self.batchItemCount)
        #expect(try everything(TransactionQuery(owners: [owner], first: 100)) == all)
        var byBatch: [MessageID] = []
        for b in (0..<committed).reversed() {
            let ids = try everything(TransactionQuery(tags: [TagFilter("Batch", ["\(b)"])], first: 100))
            for id in ids { #expect(try store.item(id)?.tag("Batch") == "\(b)") }
            byBatch += ids
        }
        #expect(byBatch == all)
        let process = ProcessID(raw: ID32(bytes: [UInt8](repeating: 0xcc, count: 32))!)
        let log = try store.processLog(process: process, from: 0, through: .max, limit: StoreLimits.scanPageCountMax)
        #expect(log.count == min(all.count, StoreLimits.scanPageCountMax))
        #expect(Set(log.map(\.messageID)).isSubset(of: Set(all)))
        for e in log { #expect(try store.hasItem(e.assignmentID)) }
    }

    /// Starts the writer, lets it run, SIGKILLs it, and returns the complete lines it printed.
    func runAndKill(tool: String, dir: String, seed: UInt64, killAfterMilliseconds: Int) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = ["crash-writer", dir, "\(seed)"]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        // Wait for the first durable batch (the store is open and writing, whatever the machine's load), then a
        // random while longer, so the kill lands at a random point of a later batch (signing, writing or syncing).
        let handle = pipe.fileHandleForReading
        var buffer = Data()
        while !(String(decoding: buffer, as: UTF8.self).contains("durable")) && !(String(decoding: buffer, as: UTF8.self).contains("error")) {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            buffer += chunk
        }
        usleep(useconds_t(killAfterMilliseconds * 1000))
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        buffer += handle.readDataToEndOfFile()
        let text = String(decoding: buffer, as: UTF8.self)
        var lines = text.components(separatedBy: "\n")
        lines.removeLast()  // the part after the last newline may be cut by the kill
        return lines
    }
}
