import AOCore
@testable import AONode
import AOStore
import AOStoreLMDB
import AOTransport
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Testing

/// The compute side of a real node (a network of one, in-process: LMDB in a temp dir, libuv transport and HTTP on
/// 127.0.0.1 with port 0) running the project's Lua module (`.build/aonode-lua/process.wasm`, built by
/// scripts/build-lua-module; the tests are skipped without it, except under CI=true).
enum NodeLuaModule {
    static var path: String {
        if let p = ProcessInfo.processInfo.environment["AONODE_LUA_MODULE"], !p.isEmpty { return p }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/aonode-lua/process.wasm").path
    }
    static var shouldRun: Bool {
        FileManager.default.fileExists(atPath: path) || ProcessInfo.processInfo.environment["CI"] == "true"
    }
}

/// A running node plus an HTTP client and a user key.
final class ComputeHarness: @unchecked Sendable {
    let dataDir: String
    var node: Node
    var base: String
    let http = HTTPClient(eventLoopGroupProvider: .singleton)
    let user = Ed25519PrivateKey.generate()

    let peers: [Endpoint]
    let networkFile: String?

    static func configuration(_ dir: String, peers: [Endpoint] = [], networkFile: String? = nil) -> NodeConfiguration {
        var c = NodeConfiguration()
        c.dataDirectory = dir
        c.peers = peers
        c.networkFile = networkFile
        c.listen = Endpoint(host: "127.0.0.1", port: 0)
        c.http = Endpoint(host: "127.0.0.1", port: 0)
        c.checkpointEveryMessages = 3
        c.logLevel = "notice"
        return c
    }

    static func logger() -> Logger {
        var l = Logger(label: "compute-test")
        l.logLevel = .notice
        return l
    }

    /// A node of its own (it admits only itself as scheduler), or an observer of `scheduler`'s network. `imported`
    /// items are put in the store before the node starts (as `aonode store import` does): never gossiped.
    init(observing scheduler: Node? = nil, imported: [DataItem] = []) async throws {
        dataDir = NSTemporaryDirectory() + "aonode-compute-\(UUID().uuidString)"
        if !imported.isEmpty {
            let store = try LMDBContentStore(directory: Self.configuration(dataDir).storeDirectory)
            for item in imported { try store.put(item.serialized()) }
            store.close()
        }
        if let e = scheduler?.endpoints {
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
            let file = (dataDir as NSString).appendingPathComponent("network.json")
            try NetworkConfiguration(name: "pair", schedulers: [.init(publicKey: e.publicKey, endpoint: e.transport.description)]).write(path: file)
            peers = [e.transport]
            networkFile = file
        } else {
            peers = []
            networkFile = nil
        }
        node = try Node(configuration: Self.configuration(dataDir, peers: peers, networkFile: networkFile), logger: Self.logger())
        let e = try await node.start()
        base = "http://127.0.0.1:\(e.http.port)"
    }

    /// Graceful shutdown, then a new node on the same data directory.
    func restart() async throws {
        await node.shutdown()
        node = try Node(configuration: Self.configuration(dataDir, peers: peers, networkFile: networkFile), logger: Self.logger())
        let e = try await node.start()
        base = "http://127.0.0.1:\(e.http.port)"
    }

    func close() async {
        await node.shutdown()
        try? await http.shutdown()
        try? FileManager.default.removeItem(atPath: dataDir)
    }

    // MARK: HTTP

    func request(_ method: String, _ path: String, body: [UInt8]? = nil) async throws -> (Int, [UInt8]) {
        var r = HTTPClientRequest(url: base + path)
        r.method = .init(rawValue: method)
        if let body { r.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await http.execute(r, timeout: .seconds(120))
        let bytes = try await response.body.collect(upTo: 256 << 20)
        return (Int(response.status.code), Array(bytes.readableBytesView))
    }

    func json(_ method: String, _ path: String, body: [UInt8]? = nil) async throws -> (Int, [String: Any]) {
        let (status, bytes) = try await request(method, path, body: body)
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
        return (status, object)
    }

    func submit(_ item: DataItem) async throws -> MessageID {
        let (status, body) = try await json("POST", "/", body: item.serialized())
        #expect(status == 202, "POST / answered \(status): \(body)")
        return item.id
    }

    // MARK: AO items

    func publishModule() async throws -> MessageID {
        try await submit(try Self.moduleItem(signer: user))
    }

    static func moduleItem(signer: Ed25519PrivateKey) throws -> DataItem {
        let wasm = try [UInt8](Data(contentsOf: URL(fileURLWithPath: NodeLuaModule.path)))
        return try DataItem.create(signer: signer, tags: [
            DataItemTag("Data-Protocol", "ao"), DataItemTag("Variant", "ao.TN.1"), DataItemTag("Type", "Module"),
            DataItemTag("Module-Format", "wasm32-unknown-emscripten2"), DataItemTag("Input-Encoding", "JSON-1"), DataItemTag("Output-Encoding", "JSON-1"),
            DataItemTag("Content-Type", "application/wasm"),
        ], data: wasm)
    }

    func spawn(module: MessageID, name: String) async throws -> ProcessID {
        let item = try DataItem.create(signer: user, tags: [
            DataItemTag("Name", name), DataItemTag("Data-Protocol", "ao"), DataItemTag("Variant", "ao.TN.1"), DataItemTag("Type", "Process"),
            DataItemTag("Module", module.base64URL), DataItemTag("Content-Type", "text/plain"),
        ], data: Array(" ".utf8))
        return ProcessID(try await submit(item))
    }

    func send(_ process: ProcessID, _ tags: [DataItemTag], data: String = " ") async throws -> MessageID {
        let item = try DataItem.create(signer: user, target: process.raw, anchor: Array(UUID().uuidString.replacingOccurrences(of: "-", with: "").utf8),
                                       tags: tags + [DataItemTag("Data-Protocol", "ao"), DataItemTag("Variant", "ao.TN.1"), DataItemTag("Type", "Message")],
                                       data: Array(data.utf8))
        return try await submit(item)
    }

    /// `GET /result`, retried while the message is not yet assigned (404) or the node asks to retry (503).
    func result(_ message: MessageID, _ process: ProcessID, timeout: Double = 120) async throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let (status, body) = try await json("GET", "/result/\(message.base64URL)?process-id=\(process.base64URL)")
            if status == 200 { return body }
            guard status == 404 || status == 503, Date() < deadline else {
                Issue.record("GET /result answered \(status): \(body)")
                return body
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    func dryRun(_ process: ProcessID, _ tags: [DataItemTag], data: String = " ") async throws -> [String: Any] {
        let body: [String: Any] = ["Owner": Base64URL.encode(SHA2.sha256(user.publicKey)), "Target": process.base64URL, "Data": data,
                                   "Tags": tags.map { ["name": $0.nameString, "value": $0.valueString] }]
        let (status, result) = try await json("POST", "/dry-run?process-id=\(process.base64URL)",
                                              body: [UInt8](try JSONSerialization.data(withJSONObject: body)))
        #expect(status == 200, "dry-run answered \(status): \(result)")
        return result
    }

    /// The text a message printed (`Output`, or `Output.data` when the module returns an object).
    static func evalOutput(_ r: [String: Any]) -> String? {
        let text = (r["Output"] as? String) ?? ((r["Output"] as? [String: Any])?["data"] as? String)
        return text?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The counter value: the Count handler replies `Data=<Counter>` to the sender.
    func count(_ process: ProcessID) async throws -> String? {
        let r = try await dryRun(process, [DataItemTag("Action", "Count")])
        return ((r["Messages"] as? [[String: Any]])?.first?["Data"] as? String)
    }
}

@Suite(.serialized, .enabled(if: NodeLuaModule.shouldRun, "the Lua process module is not built: run scripts/build-lua-module"))
struct ComputeNodeTests {
    @Test func counterResultsDryRunAttestationsAndRestart() async throws {
        let h = try await ComputeHarness()
        do {
            let module = try await h.publishModule()
            let pid = try await h.spawn(module: module, name: "counter")
            // The process's own result (slot 0).
            let boot = try await h.result(MessageID(pid), pid)
            #expect(boot["Error"] == nil)

            var last: MessageID?
            for _ in 0..<5 { last = try await h.send(pid, [DataItemTag("Action", "Increment")]) }
            let r = try await h.result(last!, pid)
            #expect(r["Error"] == nil, "\(r)")
            #expect(ComputeHarness.evalOutput(r) == "5", "\(r)")
            let amount = try await h.send(pid, [DataItemTag("Action", "Increment"), DataItemTag("Amount", "10")])
            #expect(ComputeHarness.evalOutput(try await h.result(amount, pid)) == "15")
            // An earlier message still answers its own result (from the cache).
            let first = try await h.send(pid, [DataItemTag("Action", "Count")])
            let countReply = try await h.result(first, pid)
            let reply = (countReply["Messages"] as? [[String: Any]])?.first
            #expect(reply?["Data"] as? String == "15")
            #expect(reply?["Target"] as? String == Base64URL.encode(SHA2.sha256(h.user.publicKey)))

            // Dry-run: the answer reflects the increment, the state does not keep it.
            let dry = try await h.dryRun(pid, [DataItemTag("Action", "Increment"), DataItemTag("Amount", "100")])
            #expect(ComputeHarness.evalOutput(dry) == "115", "\(dry)")
            #expect(try await h.count(pid) == "15")
            let after = try await h.send(pid, [DataItemTag("Action", "Increment")])
            #expect(ComputeHarness.evalOutput(try await h.result(after, pid)) == "16")

            // /results pages: slots 0...8 (process, 5 + 1 increments, count, increment), cached only, two at a time.
            var cursor: String?
            var outputs: [String] = []
            var pages = 0
            while true {
                let q = "/results/\(pid.base64URL)?limit=2" + (cursor.map { "&from=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" } ?? "")
                let (status, page) = try await h.json("GET", q)
                #expect(status == 200)
                let edges = page["edges"] as? [[String: Any]] ?? []
                pages += 1
                for e in edges { outputs.append(ComputeHarness.evalOutput(e["node"] as? [String: Any] ?? [:]) ?? "") }
                let more = (page["pageInfo"] as? [String: Any])?["hasNextPage"] as? Bool ?? false
                #expect(edges.count == (more ? 2 : edges.count))
                guard more, let c = edges.last?["cursor"] as? String else { break }
                cursor = c
                if pages > 10 { break }
            }
            #expect(outputs.count == 9, "\(outputs)")
            #expect(Array(outputs[1...6]) == ["1", "2", "3", "4", "5", "15"])
            #expect(outputs.last == "16")
            let (_, desc) = try await h.json("GET", "/results/\(pid.base64URL)?sort=DESC&limit=1")
            let top = (desc["edges"] as? [[String: Any]])?.first?["node"] as? [String: Any]
            #expect(ComputeHarness.evalOutput(top ?? [:]) == "16")

            // Attestation of the last message: signed by this node, for slot 8.
            let (status, att) = try await h.json("GET", "/attestation/\(after.base64URL)?process-id=\(pid.base64URL)")
            #expect(status == 200, "\(att)")
            let list = att["attestations"] as? [Any] ?? []
            #expect(list.count == 1)
            if let first = list.first {
                let a = try ResultAttestation(json: first)
                #expect(a.verify())
                #expect(a.slot == 8)
                #expect(a.message == after)
                #expect(a.process == pid)
                #expect(a.signer == Base64URL.decode(h.node.endpoints!.publicKey))
            }

            // State: the whole memory.
            let (stateStatus, memory) = try await h.request("GET", "/state/\(pid.base64URL)")
            #expect(stateStatus == 200)
            #expect(memory.count > 1 << 20 && memory.count % 65536 == 0)

            // Restart: results are served again, and evaluation continues from the checkpoint.
            try await h.restart()
            #expect(ComputeHarness.evalOutput(try await h.result(amount, pid)) == "15")
            let later = try await h.send(pid, [DataItemTag("Action", "Increment")])
            #expect(ComputeHarness.evalOutput(try await h.result(later, pid)) == "17")
            #expect(try await h.count(pid) == "17")

            // Unknown messages are a clear 404.
            let (missing, body) = try await h.json("GET", "/result/\(MessageID(raw: ID32(bytes: [UInt8](repeating: 7, count: 32))!).base64URL)?process-id=\(pid.base64URL)")
            #expect(missing == 404, "\(body)")
        } catch {
            await h.close()
            throw error
        }
        await h.close()
    }

    /// A module that was never gossiped (imported into the scheduler's store, as modules already on Arweave are)
    /// is in no process log that sync would bring. Asked for a result, an observer node fetches it from a peer
    /// and evaluates; before compute asked replication for missing items, it answered 503 forever.
    @Test func anObserverFetchesAModuleThatWasNeverGossiped() async throws {
        let moduleItem = try ComputeHarness.moduleItem(signer: Ed25519PrivateKey.generate())
        let module = moduleItem.id
        let a = try await ComputeHarness(imported: [moduleItem])
        var b: ComputeHarness?
        do {
            let pid = try await a.spawn(module: module, name: "counter")
            var last: MessageID?
            for _ in 0..<3 { last = try await a.send(pid, [DataItemTag("Action", "Increment")]) }
            #expect(ComputeHarness.evalOutput(try await a.result(last!, pid)) == "3")

            let joiner = try await ComputeHarness(observing: a.node)
            b = joiner
            let (before, _) = try await joiner.request("GET", "/raw/\(module.base64URL)")
            #expect(before == 404, "the observer should not have the module before it asks for a result")
            let r = try await joiner.result(last!, pid, timeout: 30)
            #expect(r["Error"] == nil, "\(r)")
            #expect(ComputeHarness.evalOutput(r) == "3", "\(r)")
            let (after, raw) = try await joiner.request("GET", "/raw/\(module.base64URL)")
            #expect(after == 200 && raw.count > 100_000)
        } catch {
            await b?.close()
            await a.close()
            throw error
        }
        await b?.close()
        await a.close()
    }

    /// A process paused for a message body that is not stored resumes when the body is stored (the runtime's
    /// `itemsStored` hook), not when the retry timer fires: the first retry is set to ten minutes here, so without
    /// the hook the wait below times out. The items come from a real node's log; the service runs on a store of its
    /// own that lacks the last message's body.
    @Test func aPausedProcessResumesWhenTheItemItWaitsForIsStored() async throws {
        guard NodeLuaModule.shouldRun else { return }
        let h = try await ComputeHarness()
        let module = try await h.publishModule()
        let pid = try await h.spawn(module: module, name: "counter")
        var sent: [MessageID] = []
        for _ in 0..<2 { sent.append(try await h.send(pid, [DataItemTag("Action", "Increment")])) }
        #expect(ComputeHarness.evalOutput(try await h.result(sent[1], pid)) == "2")
        await h.node.shutdown()
        try? await h.http.shutdown()
        defer { try? FileManager.default.removeItem(atPath: h.dataDir) }

        let source = try LMDBContentStore(directory: ComputeHarness.configuration(h.dataDir).storeDirectory)
        let log = try source.processLog(process: pid, from: 0, through: 2, limit: 10)
        #expect(log.map(\.slot) == [0, 1, 2] && log[2].messageID == sent[1])
        var ids = [module, MessageID(pid)]
        for e in log { ids += [e.assignmentID, e.messageID] }
        let bytes = try source.itemBytes(ids)
        source.close()
        let dir = NSTemporaryDirectory() + "aonode-pause-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = ComputeHarness.configuration(dir)
        let store = try LMDBContentStore(directory: config.storeDirectory)
        defer { store.close() }
        let missing = sent[1]
        for (id, b) in zip(ids, bytes) where id != missing {
            let item = try DataItem(parsing: b!)
            // As `aonode store import` fills the log (slot 0's assignment names no Message: it is the process).
            _ = try store.write(WriteBatch(items: [ItemWrite(bytes: b!)], assignments: processLogEntry(ofAssignment: item).map { [$0] } ?? []))
        }

        let zero = try store.assignment(process: pid, slot: 0)
        let zeroStored = try store.hasItem(log[0].assignmentID)
        #expect(zero == log[0] && zeroStored, "slot 0 in the new store: \(String(describing: zero)), item \(zeroStored)")
        let service = ComputeService(store: store, key: Ed25519PrivateKey.generate(), configuration: config, logger: ComputeHarness.logger())
        defer { service.shutdown() }
        service.pauseRetryFirst = 600
        func state() -> (evaluated: Int64?, paused: String?) { service.lock.withLock { (service.work[pid]?.evaluated, service.work[pid]?.paused) } }
        func wait(_ what: String, _ done: () -> Bool) async throws {
            let deadline = Date().addingTimeInterval(30)
            while !done() {
                guard Date() < deadline else { Issue.record("timed out waiting until \(what): \(state())"); return }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        service.assignmentsStored(pid, lastSlot: 2)
        try await wait("paused at slot 2") { state().paused != nil }
        #expect(state().evaluated == 1, "slots 0 and 1 evaluate; slot 2 waits for its body")
        _ = try store.put(bytes[ids.firstIndex(of: missing)!]!)
        service.itemsStored(WriteReceipt(items: [.stored(missing)]))
        try await wait("slot 2 evaluated") { (state().evaluated ?? -1) >= 2 }
        #expect(state().paused == nil)
        #expect(service.lock.withLock { service.pausedOn.isEmpty }, "the pause's registration is cleared")
    }

    /// Two processes on one node play ping-pong through cranking: A pings B (from an Eval), B's Ping handler replies
    /// Pong to A, A's Pong handler (installed by the Eval) pings again until it has three pongs. Every hop is a
    /// message signed by the node and pushed through its own scheduler.
    @Test func pingPongAcrossTwoProcessesThroughCranking() async throws {
        let h = try await ComputeHarness()
        do {
            let module = try await h.publishModule()
            let a = try await h.spawn(module: module, name: "a")
            let b = try await h.spawn(module: module, name: "b")
            _ = try await h.result(MessageID(b), b)
            // Spawned right after the node started (before its first tick): slot 0 still carries the wall clock.
            let (_, suPage) = try await h.json("GET", "/\(a.base64URL)?limit=1")
            let slot0Tags = (((suPage["edges"] as? [[String: Any]])?.first?["node"] as? [String: Any])?["assignment"] as? [String: Any])?["tags"]
                as? [[String: Any]] ?? []
            let slot0Timestamp = slot0Tags.first { $0["name"] as? String == "Timestamp" }?["value"] as? String
            #expect(slot0Timestamp.flatMap { Int64($0) }.map { $0 > 1_600_000_000_000 } == true, "slot 0 timestamp: \(slot0Tags)")
            let code = """
            Pongs = 0
            Handlers.add("pong", Handlers.utils.hasMatchingTag("Action", "Pong"), function(m)
              Pongs = Pongs + 1
              if Pongs < 3 then ao.send({ Target = m.From, Action = "Ping" }) end
              ao.send({ Target = m.From, Action = "Increment" })
            end)
            ao.send({ Target = "\(b.base64URL)", Action = "Ping" })
            return "started"
            """
            let eval = try await h.send(a, [DataItemTag("Action", "Eval")], data: code)
            let started = try await h.result(eval, a)
            #expect(started["Error"] == nil, "\(started)")
            #expect((started["Messages"] as? [[String: Any]])?.count == 1)

            let deadline = Date().addingTimeInterval(120)
            var pongs: String?
            var counter: String?
            while Date() < deadline {
                pongs = ComputeHarness.evalOutput(try await h.dryRun(a, [DataItemTag("Action", "Eval")], data: "return Pongs"))
                counter = try await h.count(b)
                if pongs == "3" && counter == "3" { break }
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(pongs == "3")
            #expect(counter == "3")

            // The pushed messages (found by tag through GraphQL): signed by the node, From-Process = A,
            // Pushed-For = the Eval that started the chain. 3 pings and 3 increments to B, 3 pongs to A.
            let query = #"{ transactions(first: 50, tags: [{name: "From-Process", values: ["\#(a.base64URL)"]}]) { edges { node { id recipient tags { name value } } } } }"#
            let (gqlStatus, gql) = try await h.json("POST", "/graphql", body: [UInt8](try JSONSerialization.data(withJSONObject: ["query": query])))
            #expect(gqlStatus == 200, "\(gql)")
            let nodes = (((gql["data"] as? [String: Any])?["transactions"] as? [String: Any])?["edges"] as? [[String: Any]] ?? [])
                .compactMap { $0["node"] as? [String: Any] }
            #expect(nodes.count == 6, "3 pings and 3 increments from A, got \(nodes.count): \(gql)")
            let pushedFor = nodes.compactMap { n in
                (n["tags"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "Pushed-For" }?["value"] as? String
            }
            #expect(Set(pushedFor) == [eval.base64URL])
        } catch {
            await h.close()
            throw error
        }
        await h.close()
    }

    /// Time crons (ao-protocol.md 1.8): a process with `Cron-Interval=1-second` gets its cron messages evaluated
    /// between two scheduled messages; their results are served by `GET /cron` (ascending, cursors that resume) and
    /// their outbox messages are pushed like any other (each tick increments B).
    @Test func cronResultsAreKeptServedAndTheirMessagesPushed() async throws {
        let h = try await ComputeHarness()
        do {
            let module = try await h.publishModule()
            let b = try await h.spawn(module: module, name: "b")
            let spawnA = try DataItem.create(signer: h.user, tags: [
                DataItemTag("Name", "ticker"), DataItemTag("Data-Protocol", "ao"), DataItemTag("Variant", "ao.TN.1"),
                DataItemTag("Type", "Process"), DataItemTag("Module", module.base64URL), DataItemTag("Content-Type", "text/plain"),
                DataItemTag("Cron-Interval", "1-second"), DataItemTag("Cron-Tag-Action", "Tick"),
            ], data: Array(" ".utf8))
            let a = ProcessID(try await h.submit(spawnA))
            _ = try await h.result(MessageID(b), b)
            let code = """
            Ticks = 0
            Handlers.add("tick", Handlers.utils.hasMatchingTag("Action", "Tick"), function(m)
              Ticks = Ticks + 1
              ao.send({ Target = "\(b.base64URL)", Action = "Increment" })
            end)
            return "ready"
            """
            let setup = try await h.send(a, [DataItemTag("Action", "Eval")], data: code)
            _ = try await h.result(setup, a)
            try await Task.sleep(for: .milliseconds(3500))
            let probe = try await h.send(a, [DataItemTag("Action", "Eval")], data: "return Ticks")
            let ticks = try #require(ComputeHarness.evalOutput(try await h.result(probe, a)).flatMap { Int($0) }, "Ticks is not a number")
            #expect(ticks >= 2, "3.5 s or more of 1-second crons ran between the two messages: \(ticks)")

            // GET /cron: every kept cron result after the setup (the Tick ones), ascending, with resumable cursors.
            let (status, page) = try await h.json("GET", "/cron/\(a.base64URL)")
            #expect(status == 200, "\(page)")
            let edges = page["edges"] as? [[String: Any]] ?? []
            let cursors = edges.compactMap { $0["cursor"] as? String }
            let decoded = cursors.compactMap { Data(base64Encoded: $0).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } }
            let stamps = decoded.compactMap { ($0["timestamp"] as? NSNumber)?.int64Value }
            #expect(edges.count >= ticks, "at least one cron result per tick: \(edges.count) vs \(ticks)")
            #expect(stamps.count == edges.count && stamps == stamps.sorted(), "ascending cursors: \(decoded)")
            #expect(decoded.allSatisfy { $0["cron"] is String && $0["ordinate"] is String }, "\(decoded)")
            let sent = edges.filter { (($0["node"] as? [String: Any])?["Messages"] as? [Any])?.count == 1 }
            #expect(sent.count == ticks, "one Increment per tick in the kept results")
            if let first = cursors.first, let escaped = first.addingPercentEncoding(withAllowedCharacters: .alphanumerics) {
                let (_, rest) = try await h.json("GET", "/cron/\(a.base64URL)?from=\(escaped)")
                #expect((rest["edges"] as? [Any])?.count == edges.count - 1, "from is exclusive: \(rest)")
            }

            // Cranked: B counts one Increment per tick.
            let deadline = Date().addingTimeInterval(60)
            var counter: String?
            while Date() < deadline {
                counter = try await h.count(b)
                if counter == String(ticks) { break }
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(counter == String(ticks), "B counted the ticks' Increments")
        } catch {
            await h.close()
            throw error
        }
        await h.close()
    }
}

