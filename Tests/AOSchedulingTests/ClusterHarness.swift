import AOCore
@testable import AOScheduling

/// A tiny in-memory cluster of `SchedulerGroup`s for one process, for transcript and spec tests: FIFO mailboxes,
/// partitions, crash (volatile state lost) and restart from the durable state the Ready batches wrote.
struct GroupCluster {
    struct Durable { var hardState = HardState(); var log: [LogEntry] = []; var applied: LogIndex = 0 }
    let process = ProcessID(bytes: SHA2.sha256(Array("transcript-process".utf8)))!
    var ids: [NodeID] = []
    var groups: [Int: SchedulerGroup] = [:]      // only live nodes
    var durable: [Int: Durable] = [:]
    var committed: [Int: [SealedAssignment]] = [:]  // applied assignments, per node
    var mailbox: [RaftMessage] = []
    var blocked: Set<[Int]> = []
    var rng = Xoshiro256(seed: 7)
    var settings = RaftSettings()
    var clockMs: UInt64 = 1_700_000_000_000
    var blockHeight: UInt64 = 1_500_000
    var names: [MessageID: String] = [:]
    var bootstrap: [NodeID] = []

    static func nodeID(_ k: Int) -> NodeID { var b = [UInt8](repeating: 0, count: 32); b[0] = UInt8(k); return NodeID(bytes: b)! }
    func index(_ id: NodeID) -> Int { Int(id.bytes[0]) }
    func name(_ id: NodeID) -> String { "n\(index(id))" }
    mutating func messageID(_ s: String) -> MessageID {
        let m = MessageID(bytes: SHA2.sha256(Array("msg-\(s)".utf8)))!
        names[m] = s
        return m
    }
    func signer(_ k: Int) -> SimulatedSigner { SimulatedSigner(nodeID: Self.nodeID(k)) }

    mutating func addNodes(_ n: Int) {
        let start = ids.count + 1
        let members = ids.isEmpty ? (1...n).map(Self.nodeID) : ids
        if ids.isEmpty { bootstrap = members }
        for k in start..<(start + n) {
            ids.append(Self.nodeID(k))
            // Nodes added later start as learners (empty bootstrap) and learn the configuration from the log.
            groups[k] = SchedulerGroup(process: process, raft: RaftCore(id: Self.nodeID(k), members: start == 1 ? members : [], settings: settings, rng: &rng))
            durable[k] = Durable()
            committed[k] = []
        }
    }

    var live: [Int] { groups.keys.sorted() }

    /// Handles every live node's Ready: persist, queue messages, apply.
    mutating func processReady() {
        for k in live {
            guard groups[k]!.raft.hasReady else { continue }
            let r = groups[k]!.raft.ready()
            if let hs = r.hardState { durable[k]!.hardState = hs }
            if let first = r.entries.first {
                durable[k]!.log.removeSubrange(Int(first.index - 1)...)
                durable[k]!.log += r.entries
            }
            mailbox += r.messages
            for e in r.committedEntries { if let a = e.assignment { committed[k]!.append(a) } }
            if let last = r.committedEntries.last { durable[k]!.applied = last.index }
            groups[k]!.raft.advance(r)
            groups[k]!.reindex()
        }
    }

    mutating func tick(_ k: Int? = nil) {
        for i in live where k == nil || k == i { groups[i]!.raft.tick(rng: &rng) }
        processReady()
    }

    /// Delivers queued messages (dropping those to dead or partitioned nodes) until none are left.
    /// Returns the delivered messages, formatted.
    @discardableResult
    mutating func stabilize(limit: Int = 10_000) -> [String] {
        var lines: [String] = []
        processReady()
        var rounds = 0
        while !mailbox.isEmpty && rounds < limit {
            rounds += 1
            let batch = mailbox
            mailbox = []
            for m in batch {
                let to = index(m.to), from = index(m.from)
                guard groups[to] != nil, !blocked.contains([from, to]) else { lines.append("dropped " + describe(m)); continue }
                lines.append(describe(m))
                groups[to]!.raft.onMessage(m, rng: &rng)
            }
            processReady()
        }
        return lines
    }

    mutating func crash(_ k: Int) {
        groups[k] = nil
        let me = Self.nodeID(k)
        mailbox.removeAll { $0.from == me }
    }

    mutating func restart(_ k: Int) {
        let d = durable[k]!
        groups[k] = SchedulerGroup(process: process, raft: RaftCore(id: Self.nodeID(k), members: k <= bootstrap.count ? bootstrap : [],
                                                                   settings: settings, hardState: d.hardState, log: d.log,
                                                                   applied: d.applied, rng: &rng))
    }

    mutating func partition(_ sides: [[Int]]) {
        blocked = []
        for (i, a) in sides.enumerated() { for (j, b) in sides.enumerated() where i != j { for x in a { for y in b { blocked.insert([x, y]) } } } }
    }

    mutating func propose(_ k: Int, message: String?, key: OutboxKey? = nil) -> String {
        let m = message.map { messageID($0) }
        let outcome = groups[k]!.assign(message: m, outboxKey: key, clockMs: clockMs, blockHeight: blockHeight, signer: signer(k))
        processReady()
        switch outcome {
        case .appended(let slot, let index): return "appended slot=\(slot) index=\(index)"
        case .duplicate(let slot, let c): return "duplicate slot=\(slot) committed=\(c)"
        case .notLeader(let l): return "not leader (leader \(l.map(name) ?? "unknown"))"
        case .busy: return "busy"
        }
    }

    func describe(_ m: RaftMessage) -> String {
        let head = "\(name(m.from))->\(name(m.to)) term=\(m.term) "
        switch m.kind {
        case .preVote(let li, let lt): return head + "PreVote last=\(li)/\(lt)"
        case .preVoteResponse(let r): return head + "PreVoteResp\(r ? " rejected" : "")"
        case .vote(let li, let lt, let t): return head + "Vote last=\(li)/\(lt)\(t ? " transfer" : "")"
        case .voteResponse(let r): return head + "VoteResp\(r ? " rejected" : "")"
        case .append(let pi, let pt, let es, let c):
            return head + "App prev=\(pi)/\(pt) entries=[\(es.map(describe).joined(separator: ", "))] commit=\(c)"
        case .appendResponse(let i, let r, let h): return head + "AppResp index=\(i)\(r ? " rejected hint=\(h)" : "")"
        case .heartbeat(let c, let q): return head + "Heartbeat commit=\(c)\(q ? " quiesce" : "")"
        case .heartbeatResponse: return head + "HeartbeatResp"
        case .timeoutNow: return head + "TimeoutNow"
        case .wake: return head + "Wake"
        }
    }

    func describe(_ e: LogEntry) -> String {
        switch e.payload {
        case .noop: return "\(e.index)/\(e.term) noop"
        case .configuration(let ms): return "\(e.index)/\(e.term) config[\(ms.map(name).joined(separator: ","))]"
        case .assignment(let a):
            let m = a.fields.message.map { names[$0] ?? $0.base64URL } ?? "process"
            return "\(e.index)/\(e.term) slot\(a.fields.slot)=\(m)"
        }
    }

    func status() -> [String] {
        (1...ids.count).map { k in
            guard let g = groups[k] else { return "n\(k): down" }
            let r = g.raft
            var s = "n\(k): \(r.role) term=\(r.term) leader=\(r.leader.map(name) ?? "none") last=\(r.lastIndex) commit=\(r.commit)"
            if r.quiesced { s += " quiesced" }
            return s
        }
    }

    /// Safety: committed prefixes agree at every node (ever applied), slots contiguous from 0, hash chain links.
    func check() -> String {
        var reference: [SealedAssignment] = []
        for k in committed.keys.sorted() {
            let c = committed[k]!
            if let broken = HashChain.firstBrokenSlot(c) { return "n\(k): hash chain broken at slot \(broken)" }
            for (i, a) in c.enumerated() where a.fields.slot != Slot(i) { return "n\(k): slot \(a.fields.slot) at position \(i)" }
            for i in 0..<min(c.count, reference.count) where c[i].id != reference[i].id {
                return "n\(k): slot \(i) differs from another node"
            }
            if c.count > reference.count { reference = c }
        }
        return "ok: \(reference.count) slots agree"
    }
}
