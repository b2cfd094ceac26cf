import AOCore
import AOHTTP
import AOStore
import AOStoreLMDB
import Foundation
import Logging

/// The node's answers to the HTTP API (`NodeQueries`): MU/SU writes and reads, gateway and native routes here; the
/// CU routes (evaluation) in `NodeAPI+Compute.swift`. Reads go straight to the store (LMDB readers never block the
/// writer); anything that needs protocol state asks the runtime actor.
public final class NodeAPI: NodeQueries, @unchecked Sendable {
    let runtime: NodeRuntime
    let store: LMDBContentStore
    let compute: ComputeService
    let configuration: NodeConfiguration
    let network: NetworkConfiguration
    let logger: Logger
    let metrics: @Sendable () async -> String
    public let address: Address

    init(runtime: NodeRuntime, store: LMDBContentStore, compute: ComputeService, configuration: NodeConfiguration,
         network: NetworkConfiguration, logger: Logger, metrics: @escaping @Sendable () async -> String) {
        self.runtime = runtime; self.store = store; self.compute = compute; self.configuration = configuration
        self.network = network; self.logger = logger; self.metrics = metrics
        self.address = Address(raw: runtime.nodeID.raw)
    }

    // MARK: MU/SU writes

    public func submit(item bytes: [UInt8]) async throws -> SubmitReceipt {
        guard bytes.count <= configuration.itemBytesMax else {
            throw NodeQueryError.itemTooLarge("The data item is \(bytes.count) bytes; this node accepts at most \(configuration.itemBytesMax).")
        }
        let item: DataItem
        do { item = try DataItem(parsing: bytes) } catch { throw NodeQueryError.invalidItem("\(error)") }
        do { try item.verify() } catch {
            if case .ethereum = item.signatureType {
                throw NodeQueryError.unsupportedSignatureType("Signature type 3 (Ethereum) is not supported yet.")
            }
            throw NodeQueryError.badSignature()
        }
        if (try? store.hasItem(item.id)) == true, item.tag("Type") == "Message" {
            throw NodeQueryError.duplicate()
        }
        if let kind = AOKind.of(item) {
            // Refuse malformed AO items early, with the view's own error.
            do {
                switch kind {
                case .process: _ = try AOProcess(item)
                case .message: _ = try AOMessage(item)
                case .module: _ = try AOModule(item)
                default: break
                }
            } catch { throw NodeQueryError.invalidTags("\(error)") }
        }
        var fetched = false
        while true {
            do {
                let timestamp = try await runtime.accept(item, bytes: bytes)
                return SubmitReceipt(id: item.id, timestamp: timestamp)
            } catch {
                // A process this node has not heard of may be known to a peer: ask (replication, ~1 s) before refusing.
                if case .unknownProcess(let p) = error, !fetched {
                    fetched = true
                    if await runtime.fetchUnknownProcess(p) { continue }
                }
                switch error {
                case .unknownProcess(let p): throw NodeQueryError.unknownProcess(p)
                case .tooManyPending: throw NodeQueryError.unavailable("Too many messages are waiting to be scheduled; retry later.")
                case .notAuthorised(let why): throw NodeQueryError.unprocessable("Refused: \(why).")
                case .store(let why):
                    logger.error("submit: store failed", metadata: ["error": "\(why)"])
                    throw NodeQueryError.unavailable("The node could not store the item.")
                }
            }
        }
    }

    public func assign(_ request: AssignRequest) async throws -> SubmitReceipt {
        throw NodeQueryError.unprocessable("Assigning existing transactions (aop-1) is not supported by aonode yet.")
    }

    // MARK: SU reads

    public func schedulerLocation(process: ProcessID?) async throws -> SchedulerLocation {
        SchedulerLocation(address: address, timestamp: NodeRuntime.clockMs())
    }

    public func currentTime(process: ProcessID?) async throws -> SchedulerClock {
        SchedulerClock(timestamp: NodeRuntime.clockMs(), blockHeight: network.blockHeight)
    }

    public func scheduledEntry(id: ID32, process: ProcessID?) async throws -> ScheduledEntry? {
        // An assignment id?
        if let item = try store.item(MessageID(raw: id)), item.tag("Type") == "Assignment", let a = try? AOAssignment(item) {
            if let process, a.process != process { return nil }
            return try entry(process: a.process, slot: a.nonce)
        }
        // A process id is a schedule page, not an entry (the API then asks `assignments`).
        if try await isKnownProcess(ProcessID(raw: id)) { return nil }
        // A message id?
        if let slot = try slotOf(message: MessageID(raw: id), process: process) {
            return try entry(process: slot.process, slot: slot.slot)
        }
        return nil
    }

    /// The (process, slot) a message was assigned at, from the tag index of assignments.
    func slotOf(message: MessageID, process: ProcessID?) throws -> (process: ProcessID, slot: UInt64)? {
        if let p = process, p.raw == message.raw {
            return try store.assignment(process: p, slot: 0) != nil ? (p, 0) : nil
        }
        var tags = [TagFilter("Type", ["Assignment"]), TagFilter("Message", [message.base64URL])]
        if let p = process { tags.append(TagFilter("Process", [p.base64URL])) }
        let page = try store.transactions(TransactionQuery(tags: tags, first: 10, order: .oldestFirst))
        for id in page.ids {
            guard let item = try store.item(id), let a = try? AOAssignment(item) else { continue }
            // Only an assignment that is in this node's log counts (gossip may have delivered others).
            if let e = try store.assignment(process: a.process, slot: a.nonce), e.assignmentID == id {
                return (a.process, a.nonce)
            }
        }
        return nil
    }

    func entry(process: ProcessID, slot: UInt64) throws -> ScheduledEntry? {
        guard let e = try store.assignment(process: process, slot: slot),
              let assignment = try store.item(e.assignmentID) else { return nil }
        let message = try store.item(e.messageID)
        return ScheduledEntry(message: message.map(DataItemView.init), assignment: DataItemView(assignment),
                              isProcessEntry: slot == 0)
    }

    public func assignments(_ query: AssignmentQuery) async throws -> AssignmentPage {
        let p = query.process
        guard try await isKnownProcess(p) else { throw NodeQueryError.unknownProcess(p) }
        guard let latest = try store.latestSlot(process: p) else { return AssignmentPage(entries: [], hasNextPage: false) }
        var entries: [ScheduledEntry] = []
        var from: UInt64 = 0, through = latest
        var timestampAfter: UInt64?, timestampThrough: UInt64?
        switch query.range {
        case .nonce(let after, let to):
            if let after { from = after < 0 ? 0 : UInt64(after) + 1 }
            if let to { through = min(through, to) }
        case .timestamp(let after, let to):
            timestampAfter = after; timestampThrough = to
        }
        var slot = from
        var hasNext = false
        while slot <= through {
            let batch = try store.processLog(process: p, from: slot, through: through, limit: 256)
            if batch.isEmpty { break }
            for e in batch {
                slot = e.slot + 1
                guard let entry = try entry(process: p, slot: e.slot) else { continue }
                if let t = entry.timestamp {
                    if let a = timestampAfter, t <= a { continue }
                    if let b = timestampThrough, t > b { hasNext = false; slot = through + 1; break }
                }
                if entries.count == query.limit { hasNext = true; slot = through + 1; break }
                entries.append(entry)
            }
        }
        return AssignmentPage(entries: entries, hasNextPage: hasNext)
    }

    public func latestAssignment(process: ProcessID) async throws -> ScheduledEntry? {
        guard try await isKnownProcess(process) else { throw NodeQueryError.unknownProcess(process) }
        guard let latest = try store.latestSlot(process: process) else { return nil }
        return try entry(process: process, slot: latest)
    }

    public func processInfo(process: ProcessID) async throws -> ProcessDetails? {
        guard let item = try store.item(MessageID(process)), item.tag("Type") == "Process" else { return nil }
        var timestamp: UInt64 = 0, height = network.blockHeight
        if let e = try store.assignment(process: process, slot: 0), let a = try store.item(e.assignmentID),
           let view = try? AOAssignment(a) {
            timestamp = view.timestamp; height = view.blockHeight
        }
        return ProcessDetails(process: DataItemView(item), timestamp: timestamp, blockHeight: height)
    }

    func isKnownProcess(_ p: ProcessID) async throws -> Bool {
        if await runtime.isKnown(p) { return true }
        return try store.item(MessageID(p))?.tag("Type") == "Process"
    }

    // MARK: gateway

    public func storedItem(id: MessageID) async throws -> StoredItem? {
        guard let bytes = try store.itemBytes(id), let item = try? DataItem(parsing: bytes) else { return nil }
        return StoredItem(view: DataItemView(item), bytes: bytes)
    }

    public func transactions(_ query: TransactionsQuery) async throws -> TransactionsPage {
        var q = TransactionQuery(ids: query.ids, owners: query.owners, recipients: query.recipients,
                                 tags: query.tags.map { TagFilter($0.name, $0.values) }, first: query.first,
                                 order: query.sort == .heightAscending ? .oldestFirst : .newestFirst)
        if let after = query.after {
            do { q.after = try QueryCursor(text: after) } catch { throw NodeQueryError.invalidArgument("The cursor \"after\" is not one this node issued.") }
        }
        do { try q.validate() } catch { throw NodeQueryError.invalidArgument("\(error)") }
        let page = try store.transactions(q)
        var edges: [TransactionsPage.Edge] = []
        for e in page.edges {
            guard let item = try store.item(e.id) else { continue }
            edges.append(TransactionsPage.Edge(cursor: e.cursor.text, item: DataItemView(item)))
        }
        return TransactionsPage(edges: edges, hasNextPage: page.hasNextPage)
    }

    // MARK: native

    public func health() async -> HealthReport {
        let (c, g, _, pending) = await runtime.snapshotCounters()
        let peers = await runtime.connectedPeers().count
        let stats = try? store.statistics()
        return HealthReport(healthy: true, checks: [
            ("node", runtime.nodeID.base64URL),
            ("peers", String(peers)),
            ("processes", String(await runtime.knownProcesses().count)),
            ("items", String(stats?.itemCount ?? 0)),
            ("slotsCommitted", String(c.slotsCommitted)),
            ("pendingSubmissions", String(pending)),
            ("gossipDelivered", String(g.accepted)),
        ])
    }

    public func peers() async throws -> [PeerInfo] {
        await runtime.peerInfos()
    }

    public func schedulerGroup(process: ProcessID) async throws -> SchedulerGroupStatus {
        guard let g = await runtime.groupSnapshot(process) else { throw NodeQueryError.unknownProcess(process) }
        return SchedulerGroupStatus(process: process, members: g.members, leader: g.leader, term: g.term,
                                    lastSlot: try store.latestSlot(process: process))
    }

    public func metricsText() async -> String { await metrics() }
}
