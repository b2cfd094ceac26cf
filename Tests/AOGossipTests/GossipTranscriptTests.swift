import AOCore
import Foundation
import Testing
@testable import AOGossip

/// Data-driven transcript tests (CONVENTIONS.md C7, after etcd-io/raft's interaction tests). Each file under
/// testdata/ is a list of blocks:
///
///     command args
///     ----
///     expected output lines
///
/// separated by blank lines; lines starting with `#` are comments. Commands:
/// - `add-nodes N`: N gossip cores (1...N), all connected to each other, subscribed to `global`, heartbeats aligned.
/// - `publish I msg=NAME [size=BYTES]`: node I publishes an item (valid: its first payload byte is 1).
/// - `inject I J msg=NAME`: node I (playing an attacker) sends an invalid item straight to J, bypassing its core.
/// - `partition 1|2,3`: frames between the groups are dropped until `heal`.
/// - `disconnect I J` / `connect I J`: the connection between I and J closes / opens (both cores told).
/// - `tick N`: N ticks; frames take one tick; prints every deliver, reject and ban as it happens.
/// - `mesh I`, `score I J`, `stats I`: inspect.
/// `AO_REWRITE=1 swift test --filter GossipTranscriptTests` rewrites the expected output; commit a rewrite only if you
/// understand the diff. Files named `safety-*.txt` hold expectations written by hand for safety properties; they are
/// never rewritten.
@Suite struct GossipTranscriptTests {
    static var files: [String] {
        let dir = Bundle.module.resourceURL!.appendingPathComponent("testdata")
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".txt") }.sorted()
    }

    @Test(arguments: files) func transcript(_ file: String) throws {
        let url = Bundle.module.resourceURL!.appendingPathComponent("testdata").appendingPathComponent(file)
        let text = try String(contentsOf: url, encoding: .utf8)
        var harness = TranscriptHarness()
        var rewritten: [String] = []
        for block in text.components(separatedBy: "\n\n") where !block.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            let lines = block.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "\n").filter { !$0.hasPrefix("#") }
            guard !lines.isEmpty else { continue }
            let command = lines[0].trimmingCharacters(in: .whitespaces)
            let expected = lines.drop { $0 != "----" }.dropFirst().joined(separator: "\n")
            let actual = harness.run(command).joined(separator: "\n")
            #expect(actual == expected, "\(file): `\(command)`")
            let comments = block.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "\n").filter { $0.hasPrefix("#") }
            rewritten.append((comments + [command, "----", actual]).joined(separator: "\n"))
        }
        if ProcessInfo.processInfo.environment["AO_REWRITE"] == "1" && !file.hasPrefix("safety-") {
            let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("testdata").appendingPathComponent(file)
            try (rewritten.joined(separator: "\n\n") + "\n").write(to: source, atomically: true, encoding: .utf8)
        }
    }
}

struct TranscriptHarness {
    var cores: [GossipCore] = []
    var rngs: [Xoshiro256] = []
    var now: Tick = 0
    var inFlight: [(at: Tick, from: Int, to: Int, message: GossipMessage)] = []
    var groups: [Int: Int]?  // node -> partition group
    var names: [MessageID: String] = [:]
    var output: [String] = []

    static func nodeID(_ i: Int) -> NodeID { NodeID(raw: GossipWireTests.id(UInt64(1000 + i)).raw) }
    func index(_ id: NodeID) -> Int { (1...cores.count).first { Self.nodeID($0) == id }! }
    mutating func itemID(_ name: String) -> MessageID {
        let id = MessageID(raw: ID32(bytes: SHA2.sha256(Array(name.utf8)))!)
        names[id] = name
        return id
    }

    static var parameters: GossipParameters {
        var p = GossipParameters()
        p.meshDegree = 3; p.meshDegreeLow = 2; p.meshDegreeHigh = 4; p.lazyDegree = 2; p.eagerPushCountMax = 2
        p.largePayloadBytesMin = 1000
        return p
    }

    mutating func run(_ line: String) -> [String] {
        output = []
        let words = line.split(separator: " ").map(String.init)
        func arg(_ key: String) -> String? { words.first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) } }
        switch words[0] {
        case "add-nodes":
            let n = Int(words[1])!
            for i in 1...n {
                cores.append(GossipCore(selfID: Self.nodeID(i), parameters: Self.parameters))
                rngs.append(Xoshiro256(seed: UInt64(i)))
            }
            for i in 1...n { for j in 1...n where i != j { apply(i, cores[i - 1].onPeerConnected(Self.nodeID(j), now: now)) } }
            for i in 1...n { apply(i, cores[i - 1].subscribe(.global, now: now, rng: &rngs[i - 1])) }
        case "publish":
            let i = Int(words[1])!
            let id = itemID(arg("msg")!)
            var payload = [UInt8](repeating: 0, count: Int(arg("size") ?? "16")!)
            payload[0] = 1
            apply(i, cores[i - 1].publish(topic: .global, id: id, payload: payload, now: now, rng: &rngs[i - 1]))
        case "inject":
            let i = Int(words[1])!, j = Int(words[2])!
            inFlight.append((now + 1, i, j, .publish(topic: .global, id: itemID(arg("msg")!), payload: [0xFF, 0, 0])))
        case "partition":
            var g: [Int: Int] = [:]
            for (k, part) in words[1].split(separator: "|").enumerated() { for n in part.split(separator: ",") { g[Int(n)!] = k } }
            groups = g
        case "heal": groups = nil
        case "disconnect":
            let i = Int(words[1])!, j = Int(words[2])!
            apply(i, cores[i - 1].onPeerDisconnected(Self.nodeID(j), now: now))
            apply(j, cores[j - 1].onPeerDisconnected(Self.nodeID(i), now: now))
        case "connect":
            let i = Int(words[1])!, j = Int(words[2])!
            apply(i, cores[i - 1].onPeerConnected(Self.nodeID(j), now: now))
            apply(j, cores[j - 1].onPeerConnected(Self.nodeID(i), now: now))
        case "tick":
            for _ in 0..<Int(words[1])! { step() }
        case "mesh":
            let i = Int(words[1])!
            output.append("node \(i) mesh: " + cores[i - 1].meshPeers(.global).map { String(index($0)) }.sorted().joined(separator: ","))
        case "score":
            let i = Int(words[1])!, j = Int(words[2])!
            let s = cores[i - 1].score(of: Self.nodeID(j)).map { String(format: "%.2f", $0) } ?? "none"
            output.append("node \(i) scores \(j): \(s) banned=\(cores[i - 1].isBanned(Self.nodeID(j), now: now))")
        case "stats":
            let i = Int(words[1])!
            let c = cores[i - 1].counters
            output.append("node \(i): received \(c.payloadsReceived) payloads (\(c.payloadBytesReceived) bytes), duplicates \(c.duplicates), accepted \(c.accepted), rejected \(c.rejected), iwant sent \(c.iwantSent)")
        default:
            output.append("unknown command \(words[0])")
        }
        return output
    }

    mutating func step() {
        now += 1
        let due = inFlight.filter { $0.at <= now }
        inFlight.removeAll { $0.at <= now }
        for f in due {
            if let g = groups, g[f.from] != g[f.to] { continue }
            apply(f.to, cores[f.to - 1].onMessageReceived(f.message, from: Self.nodeID(f.from), now: now, rng: &rngs[f.to - 1]))
        }
        for i in 1...cores.count { apply(i, cores[i - 1].onTick(now: now, rng: &rngs[i - 1])) }
    }

    mutating func apply(_ i: Int, _ directives: [GossipDirective]) {
        for d in directives {
            switch d {
            case .send(let to, let m): inFlight.append((now + 1, i, index(to), m))
            case .validate(_, let id, let payload, _):
                let ok = payload.first == 1
                if !ok { output.append("t=\(now) node \(i) rejects \(names[id] ?? "?")") }
                apply(i, cores[i - 1].onValidationResult(id: id, verdict: ok ? .accept : .reject, now: now, rng: &rngs[i - 1]))
            case .deliver(_, let id, _): output.append("t=\(now) node \(i) delivers \(names[id] ?? "?")")
            case .disconnect(let p, let until): output.append("t=\(now) node \(i) bans \(index(p)) until \(until)")
            }
        }
    }
}

@Suite struct GossipMeshRepairTests {
    /// A node whose mesh holds all its peers (a small network: no lazy peer is left to hear IHAVE from) pushes a new
    /// item to `eagerPushCountMax` of them. The mesh peers it skipped must hear of the item at a heartbeat once the
    /// item is `meshRepairDelayTicks` old; the peer it pushed to must not (it is known to hold the item). Before mesh
    /// peers got heartbeat IHAVEs, a mesh peer that every neighbour skipped never got the item.
    @Test func meshPeersSkippedByEagerPushHearOfTheItemAtAHeartbeat() {
        var p = GossipParameters()
        p.meshDegree = 3; p.meshDegreeLow = 2; p.meshDegreeHigh = 4; p.eagerPushCountMax = 1
        var core = GossipCore(selfID: TranscriptHarness.nodeID(1), parameters: p)
        var rng = Xoshiro256(seed: 7)
        let others = (2...4).map(TranscriptHarness.nodeID)
        var now: Tick = 0
        _ = core.subscribe(.global, now: now, rng: &rng)
        for o in others {
            _ = core.onPeerConnected(o, now: now)
            _ = core.onMessageReceived(.subscribe(.global), from: o, now: now, rng: &rng)
        }
        #expect(Set(core.meshPeers(.global)) == Set(others), "every peer is in the mesh")
        now = 1
        let id = MessageID(raw: ID32(bytes: SHA2.sha256(Array("a".utf8)))!)
        let pushed = core.publish(topic: .global, id: id, payload: [1, 2, 3], now: now, rng: &rng).compactMap { d -> NodeID? in
            if case .send(let to, .publish(_, let pid, _)) = d, pid == id { return to } else { return nil }
        }
        #expect(pushed.count == 1, "eager push to eagerPushCountMax = 1 peer: \(pushed)")
        var announced: [NodeID: Tick] = [:]
        while now < 1 + p.gossipWindowTicks {
            now += 1
            for d in core.onTick(now: now, rng: &rng) {
                if case .send(let to, .ihave(_, let ids)) = d, ids.contains(id), announced[to] == nil { announced[to] = now }
            }
        }
        #expect(Set(announced.keys) == Set(others).subtracting(pushed), "the skipped mesh peers hear of it: \(announced)")
        #expect(announced.values.allSatisfy { $0 >= 1 + p.meshRepairDelayTicks }, "not before the repair delay: \(announced)")
    }
}

@Suite struct GossipCatchUpTests {
    static func id(_ s: String) -> MessageID { MessageID(raw: ID32(bytes: SHA2.sha256(Array(s.utf8)))!) }

    /// The ids a new subscriber to `topic` hears of (its catch-up IHAVEs), in the order announced.
    static func catchUp(_ core: inout GossipCore, _ peer: NodeID, _ topic: Topic, now: Tick, rng: inout Xoshiro256) -> [MessageID] {
        _ = core.onPeerConnected(peer, now: now)
        return core.onMessageReceived(.subscribe(topic), from: peer, now: now, rng: &rng).flatMap { d -> [MessageID] in
            if case .send(let to, .ihave(let t, let ids)) = d, to == peer, t == topic { return ids } else { return [] }
        }
    }

    /// Catch-up reads one topic's first-seen order: a new subscriber hears of that topic's cached ids, newest first,
    /// and nothing of other topics; an id evicted from the cache (its TTL passed) is no longer announced.
    @Test func catchUpAnnouncesTheTopicsCachedIDsNewestFirstAndForgetsEvictedOnes() {
        var p = GossipParameters()
        p.messageCacheTicks = 100
        var core = GossipCore(selfID: TranscriptHarness.nodeID(1), parameters: p)
        var rng = Xoshiro256(seed: 3)
        let a = Topic.process(ProcessID(raw: Self.id("process-a").raw)), b = Topic.process(ProcessID(raw: Self.id("process-b").raw))
        _ = core.subscribe(a, now: 0, rng: &rng)
        _ = core.subscribe(b, now: 0, rng: &rng)
        var inA: [MessageID] = []
        for k in 0..<6 {  // interleaved: a0 b0 a1 b1 ..., one tick apart
            let ida = Self.id("a\(k)"), idb = Self.id("b\(k)")
            _ = core.publish(topic: a, id: ida, payload: [1], now: Tick(2 * k), rng: &rng)
            _ = core.publish(topic: b, id: idb, payload: [1], now: Tick(2 * k + 1), rng: &rng)
            inA.append(ida)
        }
        #expect(Self.catchUp(&core, TranscriptHarness.nodeID(2), a, now: 20, rng: &rng) == inA.reversed())
        // At tick 104 the items first seen at ticks 0-4 (a0 b0 a1 b1 a2) have outlived the cache; an insert evicts them.
        _ = core.publish(topic: b, id: Self.id("b-late"), payload: [1], now: 104, rng: &rng)
        #expect(Self.catchUp(&core, TranscriptHarness.nodeID(3), a, now: 104, rng: &rng) == Array(inA[3...].reversed()))
        #expect(Self.catchUp(&core, TranscriptHarness.nodeID(4), b, now: 104, rng: &rng)
                == [Self.id("b-late"), Self.id("b5"), Self.id("b4"), Self.id("b3"), Self.id("b2")])
    }
}
