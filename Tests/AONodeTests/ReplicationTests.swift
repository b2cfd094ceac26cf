import AOCore
import AOTestSupport
import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
@testable import AONode

/// The replication wire: every message round-trips, and hostile bytes give a typed error, never a trap.
@Suite struct ReplicationWireTests {
    static let id = ID32(bytes: (0..<32).map { UInt8($0) })!

    @Test func roundTrips() throws {
        let messages: [ReplicationMessage] = [
            .want(request: 1, ids: [MessageID(raw: Self.id)]),
            .items(request: 2, items: [[1, 2, 3], []], more: true),
            .notFound(request: 3, ids: []),
            .sync(request: 4, process: ProcessID(raw: Self.id), fromSlot: 17, limit: 256),
            .summary([ProcessTip(process: ProcessID(raw: Self.id), slotCount: 9, tip: Self.id)]),
        ]
        for m in messages { #expect(try ReplicationMessage(decoding: m.encoded()) == m) }
    }

    @Test func hostileBytesGiveTypedErrors() {
        #expect(throws: ReplicationWireError.empty) { try ReplicationMessage(decoding: []) }
        #expect(throws: ReplicationWireError.unknownKind(99)) { try ReplicationMessage(decoding: [99]) }
        // A count far above the limit is refused before anything is allocated.
        #expect(throws: ReplicationWireError.countTooLarge(0xFFFF_FFFF)) {
            try ReplicationMessage(decoding: [1] + [UInt8](repeating: 0, count: 8) + [0xFF, 0xFF, 0xFF, 0xFF])
        }
        // A count within the limit but beyond the bytes present.
        #expect(throws: ReplicationWireError.truncated) {
            try ReplicationMessage(decoding: [1] + [UInt8](repeating: 0, count: 8) + [0, 0, 0, 2] + [UInt8](repeating: 0, count: 32))
        }
        var good = ReplicationMessage.sync(request: 1, process: ProcessID(raw: Self.id), fromSlot: 0, limit: 1).encoded()
        good.append(0)
        #expect(throws: ReplicationWireError.trailingBytes(1)) { try ReplicationMessage(decoding: good) }

        // Random and mutated bytes: decode or throw, never trap; whatever decodes re-encodes to the same bytes.
        var rng = SplitMix64(seed: 6)
        let seeds = [ReplicationMessage.items(request: 9, items: [[7, 7], [8]], more: false).encoded(),
                     ReplicationMessage.summary([ProcessTip(process: ProcessID(raw: Self.id), slotCount: 1, tip: Self.id)]).encoded()]
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int(rng.next() % 96)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                if !bytes.isEmpty { bytes[0] = UInt8(rng.next() % 7) }
            } else {
                bytes = seeds[Int(rng.next() % 2)]
                for _ in 0..<1 + Int(rng.next() % 3) where !bytes.isEmpty {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            if let m = try? ReplicationMessage(decoding: bytes) { #expect(m.encoded() == bytes) }
        }
    }
}

/// Five real `aonode` processes (the binary built next to this test bundle), each with its own data directory and
/// key, all admitted schedulers in one network file, bootstrapping through node 1.
@Suite(.serialized) struct ReplicationTests {
    @Test func itemsReachEveryNodeAndARestartedNodeCatchesUp() async throws {
        guard let cluster = try NodeCluster.make(count: 5, name: "replication") else { return }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await run(cluster, client)
            try await client.shutdown()
            cluster.stopAll()
        } catch {
            await cluster.dumpPeers(client: client)
            try? await client.shutdown()
            cluster.dumpLogs()  // before stopAll, which removes the directories
            cluster.stopAll()
            throw error
        }
    }

    func run(_ cluster: NodeCluster, _ client: HTTPClient) async throws {
        for i in cluster.nodes.indices { try cluster.start(i) }
        for i in cluster.nodes.indices { try await cluster.waitReady(i, client: client, peersMin: 2) }
        let author = Ed25519PrivateKey.generate()

        // 1. A plain item published at node 2 is stored at all five.
        let plain = try DataItem.create(signer: author, tags: [DataItemTag("Content-Type", "text/plain")], data: Array("hello".utf8))
        try await cluster.post(plain, at: 1, client: client)
        for i in cluster.nodes.indices { try await cluster.waitForItem(plain.id, at: i, client: client) }

        // 2. A process and three messages, published at node 1, reach every node's store and log.
        let module = MessageID(raw: ID32(bytes: [UInt8](repeating: 5, count: 32))!)
        let processA = try spawn(author, module: module)
        try await cluster.post(processA, at: 0, client: client)
        var messagesA: [DataItem] = []
        for n in 0..<3 {
            let m = try message(author, to: processA.id, n)
            try await cluster.post(m, at: 0, client: client)
            messagesA.append(m)
        }
        let pA = ProcessID(processA.id)
        for i in cluster.nodes.indices {
            for m in messagesA { try await cluster.waitForItem(m.id, at: i, client: client) }
            try await cluster.waitForLastSlot(pA, 3, at: i, client: client)
        }

        // 3. A node outside process A's scheduling group (and not the bootstrap node) is killed; while it is down,
        // more messages for A, a new process B and its messages are published; it restarts and catches up.
        let members = try await cluster.groupMembers(pA, at: 0, client: client)
        let victim = try #require(cluster.nodes.indices.first { $0 != 0 && !members.contains(cluster.nodes[$0].nodeID) })
        cluster.kill(victim)
        var missed: [DataItem] = []
        for n in 3..<8 {
            let m = try message(author, to: processA.id, n)
            try await cluster.post(m, at: 0, client: client)
            missed.append(m)
        }
        let processB = try spawn(author, module: module)
        try await cluster.post(processB, at: 0, client: client)
        let pB = ProcessID(processB.id)
        for n in 0..<2 {
            let m = try message(author, to: processB.id, n)
            try await cluster.post(m, at: 0, client: client)
            missed.append(m)
        }
        let processC = try spawn(author, module: module)
        try await cluster.post(processC, at: 0, client: client)
        try await cluster.waitForLastSlot(pA, 8, at: 0, client: client)
        try await cluster.waitForLastSlot(pB, 2, at: 0, client: client)
        try await cluster.waitForLastSlot(ProcessID(processC.id), 0, at: 0, client: client)

        try cluster.start(victim)
        // As soon as it answers HTTP: a message for process C, which it has not heard of yet, is accepted (the
        // node asks its peers for the process before refusing; or sync/gossip brought it first).
        try await cluster.waitReady(victim, client: client, peersMin: 0)
        let toC = try message(author, to: processC.id, 0)
        try await cluster.post(toC, at: victim, client: client)
        try await cluster.waitReady(victim, client: client, peersMin: 1)
        for m in missed + [processB] { try await cluster.waitForItem(m.id, at: victim, client: client) }
        try await cluster.waitForLastSlot(pA, 8, at: victim, client: client)
        try await cluster.waitForLastSlot(pB, 2, at: victim, client: client)
        // The restarted node's logs end with the same assignments as node 1's: the same last assignment id at the
        // same slot count (its log was appended only where the hash chain linked, so the prefixes agree too).
        for p in [pA, pB] {
            let here = try await cluster.latestAssignmentID(p, at: victim, client: client)
            let there = try await cluster.latestAssignmentID(p, at: 0, client: client)
            #expect(here != nil && here == there, "latest assignment of \(p.base64URL)")
        }
        let metrics = try await cluster.metrics(at: victim, client: client)
        // What came by replication (sync or fetch) rather than gossip's cache: informative, logged.
        print("restarted node: replication ingested \(metrics["aonode_replication_items_ingested_total"] ?? -1) items, "
              + "sync requests \(metrics["aonode_replication_sync_requests_sent_total"] ?? -1), "
              + "gossip delivered \(metrics["aonode_gossip_delivered_total"] ?? -1)")
        var replaced = 0
        for i in cluster.nodes.indices { replaced += try await cluster.metrics(at: i, client: client)["aonode_peer_connections_replaced_total"] ?? 0 }
        print("connections replaced after simultaneous dials, over all nodes: \(replaced)")
        #expect(metrics["aonode_replication_tip_mismatches_total"] == 0)
        // The summaries exchanged on reconnection showed the peers ahead: the node asked for log syncs.
        #expect(metrics["aonode_replication_sync_requests_sent_total"].map { $0 > 0 } == true)
        #expect(metrics["aonode_replication_summaries_received_total"].map { $0 > 0 } == true)
    }

    func spawn(_ key: Ed25519PrivateKey, module: MessageID) throws -> DataItem {
        try DataItem.create(signer: key, tags: [DataItemTag("Data-Protocol", "ao"), DataItemTag("Variant", "ao.TN.1"),
                                                DataItemTag("Type", "Process"), DataItemTag("Module", module.base64URL),
                                                DataItemTag("Nonce", UUID().uuidString)])
    }

    func message(_ key: Ed25519PrivateKey, to process: MessageID, _ n: Int) throws -> DataItem {
        try DataItem.create(signer: key, target: process.raw,
                            tags: [DataItemTag("Data-Protocol", "ao"), DataItemTag("Variant", "ao.TN.1"),
                                   DataItemTag("Type", "Message"), DataItemTag("Action", "Eval"), DataItemTag("N", "\(n)")],
                            data: Array("message \(n) \(UUID().uuidString)".utf8))
    }
}

// `ClusterFailure` is AOTestSupport's (LocalCluster.swift).

/// N `aonode run` child processes on loopback with ports chosen up front (a restarted node keeps its addresses,
/// which the network file lists).
final class NodeCluster: @unchecked Sendable {
    struct Member {
        var key: Ed25519PrivateKey
        var nodeID: NodeID
        var dataDirectory: String
        var transportPort: UInt16
        var httpPort: UInt16
        var process: Process?
        var url: String { "http://127.0.0.1:\(httpPort)" }
    }
    let binary: String
    let root: String
    let networkFile: String
    var nodes: [Member] = []

    /// The `aonode` binary next to the test bundle.
    static var binaryPath: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("aonode").path
    }

    /// nil (and a message) when the binary is absent outside CI; under CI=true its absence fails the test.
    static func make(count: Int, name: String) throws -> NodeCluster? {
        let binary = binaryPath
        if !FileManager.default.isExecutableFile(atPath: binary) {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                throw ClusterFailure("the aonode binary is missing at \(binary) (swift build -c release --product aonode)")
            }
            print("SKIPPED: multi-process replication test needs the aonode binary at \(binary); build it with `swift build --product aonode` in the same configuration")
            return nil
        }
        return try NodeCluster(binary: binary, count: count, name: name)
    }

    init(binary: String, count: Int, name: String) throws {
        self.binary = binary
        root = NSTemporaryDirectory() + "aonode-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        networkFile = root + "/network.json"
        var schedulers: [NetworkConfiguration.Scheduler] = []
        for i in 0..<count {
            let key = Ed25519PrivateKey.generate()
            let dir = root + "/node\(i + 1)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try KeyFile.ed25519(key).write(path: dir + "/node-key.json")
            let member = Member(key: key, nodeID: NodeID(raw: ID32(bytes: SHA2.sha256(key.publicKey))!), dataDirectory: dir,
                                transportPort: try LocalCluster.freePort(), httpPort: try LocalCluster.freePort())
            nodes.append(member)
            schedulers.append(.init(publicKey: Base64URL.encode(key.publicKey), endpoint: "127.0.0.1:\(member.transportPort)",
                                    http: member.url))
        }
        let network = NetworkConfiguration(name: name, blockHeight: 1, schedulers: schedulers)
        try JSONEncoder().encode(network).write(to: URL(fileURLWithPath: networkFile))
    }

    func start(_ i: Int) throws {
        let n = nodes[i]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        var args = ["run", "--data-dir", n.dataDirectory, "--key", n.dataDirectory + "/node-key.json",
                    "--listen", "127.0.0.1:\(n.transportPort)", "--http", "127.0.0.1:\(n.httpPort)",
                    "--network", networkFile, "--log-level", Self.logLevel]
        if i != 0 { args += ["--peer", "127.0.0.1:\(nodes[0].transportPort)"] }
        p.arguments = args
        let log = n.dataDirectory + "/node.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        nodes[i].process = p
    }

    func kill(_ i: Int) {
        guard let p = nodes[i].process else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        nodes[i].process = nil
    }

    func stopAll() {
        for i in nodes.indices {
            guard let p = nodes[i].process else { continue }
            p.terminate()
        }
        let deadline = Date().addingTimeInterval(10)
        for i in nodes.indices {
            guard let p = nodes[i].process else { continue }
            while p.isRunning && Date() < deadline { usleep(20_000) }
            if p.isRunning { Glibc.kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
            nodes[i].process = nil
        }
        if ProcessInfo.processInfo.environment["AONODE_KEEP_TEST_DIRS"] == nil { try? FileManager.default.removeItem(atPath: root) }
    }

    /// Prints every live node's `GET /peers` (connections, overlay and global mesh membership).
    func dumpPeers(client: HTTPClient) async {
        for i in nodes.indices {
            let text = (try? await get(nodes[i].url + "/peers", client: client)).map { String(decoding: $0.1, as: UTF8.self) } ?? "(no answer)"
            print("---- node \(i + 1) (\(nodes[i].nodeID.base64URL.prefix(8))) peers: \(text)")
        }
    }

    /// The nodes' log level: info, or AOTEST_NODE_LOG_LEVEL (e.g. debug, when chasing a failure).
    static let logLevel = ProcessInfo.processInfo.environment["AOTEST_NODE_LOG_LEVEL"] ?? "info"

    /// Prints the end of every node's log; with AOTEST_NODE_LOG_DIR set, also copies the whole logs there.
    func dumpLogs() {
        if let dir = ProcessInfo.processInfo.environment["AOTEST_NODE_LOG_DIR"] {
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for (i, n) in nodes.enumerated() { try? FileManager.default.copyItem(atPath: n.dataDirectory + "/node.log", toPath: dir + "/node\(i + 1).log") }
        }
        for (i, n) in nodes.enumerated() {
            let text = (try? String(contentsOfFile: n.dataDirectory + "/node.log", encoding: .utf8)) ?? ""
            print("---- node \(i + 1) log (last 60 lines) ----")
            print(text.split(separator: "\n").suffix(60).joined(separator: "\n"))
        }
    }

    // MARK: HTTP

    func get(_ url: String, client: HTTPClient) async throws -> (UInt, [UInt8]) {
        let request = HTTPClientRequest(url: url)
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 20)
        return (response.status.code, Array(body.readableBytesView))
    }

    func post(_ item: DataItem, at i: Int, client: HTTPClient) async throws {
        var request = HTTPClientRequest(url: nodes[i].url + "/")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        request.body = .bytes(ByteBuffer(bytes: item.serialized()))
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard (200..<300).contains(response.status.code) else {
            throw ClusterFailure("POST / at node \(i + 1): \(response.status.code) \(String(buffer: body))")
        }
    }

    /// Polls until `condition` holds (deadline: the machine is shared and loaded, so generous).
    func poll(_ what: String, seconds: Double = 60, _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ClusterFailure("timed out after \(Int(seconds)) s waiting for \(what)")
    }

    func waitReady(_ i: Int, client: HTTPClient, peersMin: Int) async throws {
        try await poll("node \(i + 1) to serve /health with \(peersMin)+ peers") {
            let (status, body) = try await get(nodes[i].url + "/health", client: client)
            guard status == 200, let json = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return false }
            let checks = json["checks"] as? [String: Any]
            let peers = (checks?["peers"] as? String).flatMap(Int.init) ?? 0
            return peers >= peersMin
        }
    }

    func waitForItem(_ id: MessageID, at i: Int, client: HTTPClient) async throws {
        try await poll("item \(id.base64URL) at node \(i + 1)") {
            try await get(nodes[i].url + "/items/\(id.base64URL)", client: client).0 == 200
        }
    }

    func schedulerJSON(_ p: ProcessID, at i: Int, client: HTTPClient) async throws -> [String: Any]? {
        let (status, body) = try await get(nodes[i].url + "/processes/\(p.base64URL)/scheduler", client: client)
        guard status == 200 else { return nil }
        return try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
    }

    func waitForLastSlot(_ p: ProcessID, _ slot: Int, at i: Int, client: HTTPClient) async throws {
        try await poll("process \(p.base64URL) to reach slot \(slot) at node \(i + 1)") {
            (try await schedulerJSON(p, at: i, client: client)?["last_slot"] as? Int) == slot
        }
    }

    func groupMembers(_ p: ProcessID, at i: Int, client: HTTPClient) async throws -> [NodeID] {
        let json = try await schedulerJSON(p, at: i, client: client)
        return ((json?["members"] as? [String]) ?? []).compactMap(NodeID.init(base64URL:))
    }

    /// The id of the process's latest assignment (SU route `GET /{process}/latest`).
    func latestAssignmentID(_ p: ProcessID, at i: Int, client: HTTPClient) async throws -> String? {
        let (status, body) = try await get(nodes[i].url + "/\(p.base64URL)/latest", client: client)
        guard status == 200, let json = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let assignment = json["assignment"] as? [String: Any] else { return nil }
        return assignment["id"] as? String
    }

    func metrics(at i: Int, client: HTTPClient) async throws -> [String: Int] {
        let (_, body) = try await get(nodes[i].url + "/metrics", client: client)
        var out: [String: Int] = [:]
        for line in String(decoding: body, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let v = Int(parts[1]) { out[String(parts[0])] = v }
        }
        return out
    }
}
