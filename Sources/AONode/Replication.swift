import AOCore
import AOStore
import AOStoreLMDB
import Foundation
import Logging

/// Counters of the replication service (`/metrics`).
public struct ReplicationCounters: Sendable, Equatable {
    /// Messages received that did not decode (`ReplicationWireError`).
    public var badMessages = 0
    /// Answers to no request of ours (unknown id, or from another peer): ignored.
    public var unsolicited = 0
    public var summariesSent = 0, summariesReceived = 0
    public var syncRequestsSent = 0, syncRequestsServed = 0
    public var wantsSent = 0, wantsServed = 0, itemsServed = 0
    /// Fetched items that validated and were delivered / that failed validation or were not asked for.
    public var itemsIngested = 0, itemsRefused = 0
    /// Requests that timed out without an answer.
    public var timeouts = 0
    /// Same slot count, different last assignment: two logs diverge (must stay 0).
    public var tipMismatches = 0
    /// Log entries found without their message body (each triggers a fetch).
    public var missingBodies = 0
}

/// Replication over channel 3 (`PeerChannel.replication`, `ReplicationMessage`): what gossip alone cannot
/// guarantee. Gossip delivers what is published while a node is connected (and its message cache covers short
/// absences); replication pulls the rest:
/// - **fetch by id** (`want` → `items` / `notFound`): a process a submission names that this node has not heard
///   of (`NodeAPI.submit`, with a short timeout), the message body of a log entry that arrived without it;
/// - **log sync** (`sync(process, fromSlot, limit)` → `items` in slot order): when a summary shows a peer ahead,
///   or when gossiped assignments are held because of a gap (`NodeRuntime.heldGaps`);
/// - **anti-entropy**: a `summary` ((process, slot count, tip) for every known process) to every new connection
///   and to every connected peer every `summaryIntervalSeconds`.
///
/// Everything fetched goes through `NodeRuntime.ingestFetched`: parsed, signature verified, assignments signed by
/// an admitted scheduler, the hash chain checked when appended to the log. Nothing a peer says is trusted beyond
/// that: answers must match a request we sent to that peer, and only asked-for items are ingested.
actor Replication {
    let runtime: NodeRuntime
    let store: LMDBContentStore
    let logger: Logger

    /// Seconds between anti-entropy rounds (summaries to every connected peer).
    static let summaryIntervalSeconds = 5
    /// A request without an answer after this long is abandoned (and retried elsewhere when useful).
    static let requestTimeout = Duration.seconds(3)
    /// Peers asked at once for a process a submission names.
    static let processFetchPeersMax = 3

    enum Pending {
        case want(ids: [MessageID], peer: NodeID, deadline: ContinuousClock.Instant)
        case sync(process: ProcessID, fromSlot: UInt64, peer: NodeID, deadline: ContinuousClock.Instant)
        var peer: NodeID { switch self { case .want(_, let p, _), .sync(_, _, let p, _): p } }
        var deadline: ContinuousClock.Instant { switch self { case .want(_, _, let d), .sync(_, _, _, let d): d } }
    }

    /// One fetch in progress: peers asked, requests outstanding, callers waiting.
    final class Fetch {
        var tried: Set<NodeID> = []
        var outstanding = 0
        var waiters: [CheckedContinuation<Bool, Never>] = []
        /// Background fetches move on to another peer after a miss; a caller's fetch asks several at once.
        var retry: Bool
        init(retry: Bool) { self.retry = retry }
    }

    var nextRequest: UInt64 = 1
    var pending: [UInt64: Pending] = [:]
    var fetches: [MessageID: Fetch] = [:]
    /// The sync in flight per process (one at a time).
    var syncing: [ProcessID: UInt64] = [:]
    /// The most slots a peer said it has, per process.
    var peerSlotCount: [ProcessID: UInt64] = [:]
    /// Log entries already checked for a missing message body: slots below this are done.
    var bodiesCheckedThrough: [ProcessID: UInt64] = [:]
    /// Processes whose log grew since the last check (checked one round later, so gossip has had time to bring
    /// the message itself).
    var grown: Set<ProcessID> = []
    var grownPrevious: Set<ProcessID> = []
    var counters = ReplicationCounters()
    var timer: Task<Void, Never>?
    private let countersLock = NSLock()
    private nonisolated(unsafe) var countersSnapshot = ReplicationCounters()

    init(runtime: NodeRuntime, store: LMDBContentStore, logger: Logger) {
        self.runtime = runtime; self.store = store; self.logger = logger
    }

    /// Counters as of the last second (read without waiting on the actor).
    nonisolated var snapshot: ReplicationCounters { countersLock.withLock { countersSnapshot } }

    /// Installs the replication channel handler, the reconnect and log hooks, the process fetcher for
    /// submissions, and the periodic round.
    func attach() async {
        await runtime.setReplicationHandler { [weak self] peer, bytes in
            guard let self else { return }
            Task { await self.received(bytes, from: peer) }
        }
        await runtime.addHooks(assignmentsStored: { [weak self] p, _ in
            guard let self else { return }
            Task { await self.logGrew(p) }
        }, peerConnected: { [weak self] peer in
            guard let self else { return }
            Task { await self.sendSummary(to: peer) }
        })
        await runtime.setProcessFetcher { [weak self] p in
            guard let self else { return false }
            return await self.fetchProcess(p)
        }
        timer = Task { [weak self] in
            var round = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                guard let self, await !self.runtime.isStopping() else { return }
                round += 1
                await self.periodic(summaries: round % Self.summaryIntervalSeconds == 0)
            }
        }
    }

    func stop() { timer?.cancel() }

    // MARK: the periodic round

    func periodic(summaries: Bool) async {
        // Expire requests.
        let now = ContinuousClock.now
        for (r, p) in pending where p.deadline <= now {
            pending[r] = nil
            counters.timeouts += 1
            switch p {
            case .want(let ids, _, _): for id in ids { missed(id) }
            case .sync(let process, _, _, _): if syncing[process] == r { syncing[process] = nil }
            }
        }
        // Held assignments with a gap: sync from the end of our log.
        for (p, from) in await runtime.heldGaps() where syncing[p] == nil {
            if let peer = await randomPeer() { sendSync(p, from: from, to: peer) }
        }
        // Log entries without their message body (checked a round after the log grew).
        let ready = grownPrevious
        grownPrevious = grown
        grown = []
        for p in ready.sorted() { await checkBodies(p) }
        if summaries {
            for peer in await runtime.connectedPeers().keys.sorted() { await sendSummary(to: peer) }
        }
        countersLock.withLock { countersSnapshot = counters }
    }

    func randomPeer(excluding: Set<NodeID> = []) async -> NodeID? {
        await runtime.connectedPeers().keys.filter { !excluding.contains($0) }.randomElement()
    }

    // MARK: receiving

    func received(_ bytes: [UInt8], from peer: NodeID) async {
        let message: ReplicationMessage
        do { message = try ReplicationMessage(decoding: bytes) } catch {
            counters.badMessages += 1
            logger.notice("undecodable replication message", metadata: ["peer": "\(peer.base64URL.prefix(8))", "error": "\(error)"])
            return
        }
        defer { countersLock.withLock { countersSnapshot = counters } }
        switch message {
        case .want(let r, let ids): await serveWant(r, ids: ids, to: peer)
        case .sync(let r, let p, let from, let limit): await serveSync(r, process: p, from: from, limit: limit, to: peer)
        case .summary(let tips): await onSummary(tips, from: peer)
        case .items(let r, let items, let more): await onItems(r, items: items, more: more, from: peer)
        case .notFound(let r, let ids):
            guard case .want(let asked, let p, _)? = pending[r], p == peer else { counters.unsolicited += 1; return }
            pending[r] = nil
            let missing = Set(ids)
            for id in asked where missing.contains(id) { missed(id) }
        }
    }

    func send(_ message: ReplicationMessage, to peer: NodeID) async {
        _ = await runtime.sendReplication(message.encoded(), to: peer)
    }

    func serveWant(_ r: UInt64, ids: [MessageID], to peer: NodeID) async {
        counters.wantsServed += 1
        var page: [[UInt8]] = [], bytes = 0, total = 0, missing: [MessageID] = []
        for id in ids {
            guard total < ReplicationLimits.wantAnswerBytesMax, let b = try? store.itemBytes(id) else { missing.append(id); continue }
            total += b.count
            if !page.isEmpty && bytes + b.count > ReplicationLimits.answerBytesMax {
                await send(.items(request: r, items: page, more: true), to: peer)
                page = []; bytes = 0
            }
            page.append(b); bytes += b.count
        }
        counters.itemsServed += page.count
        if !page.isEmpty { await send(.items(request: r, items: page, more: false), to: peer) }
        if !missing.isEmpty { await send(.notFound(request: r, ids: missing), to: peer) }
    }

    func serveSync(_ r: UInt64, process p: ProcessID, from: UInt64, limit: UInt32, to peer: NodeID) async {
        counters.syncRequestsServed += 1
        let slots = UInt64(max(1, min(Int(limit), ReplicationLimits.syncSlotsMax)))
        let (through, overflow) = from.addingReportingOverflow(slots - 1)
        let entries = (try? store.processLog(process: p, from: from, through: overflow ? UInt64.max : through,
                                             limit: Int(slots))) ?? []
        var items: [[UInt8]] = [], bytes = 0, more = false
        for e in entries {
            if !items.isEmpty && bytes > ReplicationLimits.answerBytesMax { more = true; break }
            // The message first (slot 0's message is the process itself), then its assignment.
            if let m = try? store.itemBytes(e.messageID) { items.append(m); bytes += m.count }
            if let a = try? store.itemBytes(e.assignmentID) { items.append(a); bytes += a.count }
        }
        if !more, let last = entries.last, let latest = try? store.latestSlot(process: p), latest > last.slot { more = true }
        counters.itemsServed += items.count
        await send(.items(request: r, items: items, more: more), to: peer)
    }

    func onSummary(_ tips: [ProcessTip], from peer: NodeID) async {
        counters.summariesReceived += 1
        for t in tips {
            let mine = localTip(t.process)
            if t.slotCount > mine.slotCount {
                peerSlotCount[t.process] = max(peerSlotCount[t.process] ?? 0, t.slotCount)
                if syncing[t.process] == nil { sendSync(t.process, from: mine.slotCount, to: peer) }
            } else if t.slotCount == mine.slotCount, t.slotCount > 0, t.tip != mine.tip {
                counters.tipMismatches += 1
                logger.warning("process logs diverge", metadata: ["process": "\(t.process.base64URL)", "slots": "\(t.slotCount)",
                                                               "peer": "\(peer.base64URL.prefix(8))"])
            } else if t.slotCount == 0, await !runtime.isKnown(t.process) {
                fetchInBackground([MessageID(t.process)], preferring: peer)
            }
        }
    }

    func onItems(_ r: UInt64, items: [[UInt8]], more: Bool, from peer: NodeID) async {
        guard let request = pending[r], request.peer == peer else { counters.unsolicited += 1; return }
        // A want's answer may come in pages (`more`: another page follows); a sync answer is one message (`more`:
        // the responder has further slots).
        if case .sync = request { pending[r] = nil } else if !more { pending[r] = nil }
        var parsed: [(DataItem, [UInt8])] = []
        for b in items {
            guard let item = try? DataItem(parsing: b) else { counters.itemsRefused += 1; continue }
            parsed.append((item, b))
        }
        switch request {
        case .want(let ids, _, _):
            let asked = Set(ids)
            for (item, b) in parsed {
                guard asked.contains(item.id) else { counters.itemsRefused += 1; continue }
                await ingest(item, b)
            }
            if !more { for id in ids where fetches[id] != nil { missed(id) } }
        case .sync(let p, let from, _, _):
            // Only this process's assignments and the messages they name (and the process item) are taken.
            var assignments: [(UInt64, DataItem, [UInt8])] = []
            var named: Set<MessageID> = [MessageID(p)]
            for (item, b) in parsed where item.tag("Type") == "Assignment" {
                guard let a = try? AOAssignment(item), a.process == p else { counters.itemsRefused += 1; continue }
                assignments.append((a.nonce, item, b))
                if let m = a.message { named.insert(m) }
            }
            for (item, b) in parsed where item.tag("Type") != "Assignment" {
                guard named.contains(item.id) else { counters.itemsRefused += 1; continue }
                await ingest(item, b)
            }
            for (_, item, b) in assignments.sorted(by: { $0.0 < $1.0 }) { await ingest(item, b) }
            if syncing[p] == r { syncing[p] = nil }
            // Still behind (the responder has more, or a peer announced more), and this page made progress: ask
            // for the next page.
            let now = localTip(p).slotCount
            if now > from, more || now < peerSlotCount[p] ?? 0 { sendSync(p, from: now, to: peer) }
            grown.insert(p)
        }
    }

    func ingest(_ item: DataItem, _ bytes: [UInt8]) async {
        if await runtime.ingestFetched(bytes) {
            counters.itemsIngested += 1
            if let f = fetches.removeValue(forKey: item.id) { for w in f.waiters { w.resume(returning: true) } }
        } else {
            counters.itemsRefused += 1
        }
    }

    // MARK: requests

    func sendSync(_ p: ProcessID, from: UInt64, to peer: NodeID) {
        let r = nextRequest; nextRequest += 1
        pending[r] = .sync(process: p, fromSlot: from, peer: peer, deadline: .now + Self.requestTimeout)
        syncing[p] = r
        counters.syncRequestsSent += 1
        let bytes = ReplicationMessage.sync(request: r, process: p, fromSlot: from,
                                            limit: UInt32(ReplicationLimits.syncSlotsMax)).encoded()
        Task { _ = await runtime.sendReplication(bytes, to: peer) }
    }

    func sendWant(_ ids: [MessageID], to peer: NodeID) {
        for chunk in stride(from: 0, to: ids.count, by: ReplicationLimits.wantIDsMax) {
            let part = Array(ids[chunk..<min(ids.count, chunk + ReplicationLimits.wantIDsMax)])
            let r = nextRequest; nextRequest += 1
            pending[r] = .want(ids: part, peer: peer, deadline: .now + Self.requestTimeout)
            for id in part {
                let f = fetches[id] ?? Fetch(retry: true)
                f.tried.insert(peer); f.outstanding += 1
                fetches[id] = f
            }
            counters.wantsSent += 1
            let bytes = ReplicationMessage.want(request: r, ids: part).encoded()
            Task { _ = await runtime.sendReplication(bytes, to: peer) }
        }
    }

    /// A peer did not have `id` (or did not answer): a background fetch asks another peer; when nobody is left
    /// to ask, waiters get `false`.
    func missed(_ id: MessageID) {
        guard let f = fetches[id] else { return }
        f.outstanding -= 1
        guard f.outstanding <= 0 else { return }
        if f.retry {
            Task {
                if let peer = await randomPeer(excluding: f.tried) { sendWant([id], to: peer); return }
                finish(id, false)
            }
        } else {
            finish(id, false)
        }
    }

    func finish(_ id: MessageID, _ found: Bool) {
        guard let f = fetches.removeValue(forKey: id) else { return }
        for w in f.waiters { w.resume(returning: found) }
    }

    func fetchInBackground(_ ids: [MessageID], preferring peer: NodeID? = nil) {
        let wanted = ids.filter { fetches[$0] == nil && (try? store.hasItem($0)) != true }
        guard !wanted.isEmpty else { return }
        Task {
            let target: NodeID?
            if let peer { target = peer } else { target = await randomPeer() }
            if let target { sendWant(wanted, to: target) }
        }
    }

    /// The submission path: a message names a process this node has not heard of. Asks up to
    /// `processFetchPeersMax` peers at once and waits at most `timeout`; true when the process is now known.
    func fetchProcess(_ p: ProcessID, timeout: Duration = .seconds(1)) async -> Bool {
        let id = MessageID(p)
        if await runtime.isKnown(p) { return true }
        // Just after a start no peer may be connected yet: wait for one within the same budget.
        let deadline = ContinuousClock.now + timeout
        var peers = await runtime.connectedPeers().keys.shuffled().prefix(Self.processFetchPeersMax)
        while peers.isEmpty && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
            if await runtime.isKnown(p) { return true }
            peers = await runtime.connectedPeers().keys.shuffled().prefix(Self.processFetchPeersMax)
        }
        guard !peers.isEmpty else { return false }
        let remaining = deadline - ContinuousClock.now
        let found = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            Task { self.registerWaiter(id, c, peers: Array(peers), timeout: max(remaining, .milliseconds(100))) }
        }
        guard found else { return false }
        return await runtime.isKnown(p)
    }

    func registerWaiter(_ id: MessageID, _ c: CheckedContinuation<Bool, Never>, peers: [NodeID], timeout: Duration) {
        if let f = fetches[id] {
            f.waiters.append(c)
        } else {
            let f = Fetch(retry: false)
            f.waiters.append(c)
            fetches[id] = f
            for peer in peers { sendWant([id], to: peer) }
        }
        Task {
            try? await Task.sleep(for: timeout)
            self.timeoutWaiter(id, c)
        }
    }

    func timeoutWaiter(_ id: MessageID, _ c: CheckedContinuation<Bool, Never>) {
        // Resume only if the waiter is still registered (CheckedContinuation is not Equatable: compare by position
        // after finishing the whole fetch, which a caller-driven fetch owns).
        guard let f = fetches[id], !f.waiters.isEmpty, !f.retry else { return }
        fetches[id] = nil
        for w in f.waiters { w.resume(returning: false) }
    }

    // MARK: summaries and bodies

    func localTip(_ p: ProcessID) -> ProcessTip {
        guard let latest = try? store.latestSlot(process: p) else { return ProcessTip(process: p, slotCount: 0, tip: ID32(bytes: [UInt8](repeating: 0, count: 32))!) }
        let tip = (try? store.assignment(process: p, slot: latest))?.assignmentID.raw ?? ID32(bytes: [UInt8](repeating: 0, count: 32))!
        return ProcessTip(process: p, slotCount: latest + 1, tip: tip)
    }

    func sendSummary(to peer: NodeID) async {
        let processes = await runtime.knownProcesses().prefix(ReplicationLimits.summaryProcessesMax)
        let tips = processes.map(localTip)
        counters.summariesSent += 1
        await send(.summary(tips), to: peer)
    }

    func logGrew(_ p: ProcessID) { grown.insert(p) }

    /// Log entries whose message body is not in the store (gossip lost it, or only the assignment arrived):
    /// fetched by id.
    func checkBodies(_ p: ProcessID) async {
        guard let latest = try? store.latestSlot(process: p) else { return }
        var from = bodiesCheckedThrough[p] ?? 0
        var missing: [MessageID] = []
        while from <= latest, missing.count < ReplicationLimits.wantIDsMax * 4 {
            let page = (try? store.processLog(process: p, from: from, through: latest, limit: 256)) ?? []
            if page.isEmpty { break }
            for e in page where (try? store.hasItem(e.messageID)) != true { missing.append(e.messageID) }
            from = page.last!.slot + 1
        }
        bodiesCheckedThrough[p] = from
        guard !missing.isEmpty else { return }
        counters.missingBodies += missing.count
        fetchInBackground(missing)
    }
}
