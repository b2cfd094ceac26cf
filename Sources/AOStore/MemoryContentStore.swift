import AOCore
import Foundation

/// The in-memory `ContentStore` double: same contracts and same query semantics as the LMDB store, no durability.
///
/// For simulators and pure-core tests (CONVENTIONS.md C5). Deterministic: no clocks, no randomness, ordering by
/// ingest sequence exactly as LMDB. Queries scan all items (O(n)); fine for a double, not for production.
/// `write` validates the whole batch before changing anything, so a refused batch leaves no trace (atomicity).
public final class MemoryContentStore: ContentStore, @unchecked Sendable {
    private struct Stored { let sequence: UInt64; let bytes: [UInt8]; let item: DataItem }
    private struct State {
        var items: [MessageID: Stored] = [:]
        var order: [MessageID] = []          // order[k] has sequence k + 1
        var itemBytes = 0
        var log: [ProcessID: [UInt64: ProcessLogEntry]] = [:]
        var checkpoints: [ProcessID: [UInt64: [UInt8]]] = [:]
        var results: [ProcessID: [UInt64: [UInt8]]] = [:]
        var keyValues: [[UInt8]: [UInt8]] = [:]
    }
    private var state = State()
    private let lock = NSLock()  // guards `state`; held only for the duration of one call

    public init() {}

    @discardableResult
    public func write(_ batch: WriteBatch) throws(StoreError) -> WriteReceipt {
        let envelopes = try validateItems(batch)
        lock.lock(); defer { lock.unlock() }
        // Check every conflict before the first change, so a refused batch changes nothing.
        var pending: [ProcessID: [UInt64: ProcessLogEntry]] = [:]
        for e in batch.assignments {
            if let old = state.log[e.process]?[e.slot] ?? pending[e.process]?[e.slot], old != e {
                throw .conflict("slot \(e.slot) of \(e.process) already holds assignment \(old.assignmentID)")
            }
            pending[e.process, default: [:]][e.slot] = e
        }
        var outcomes: [ItemWriteOutcome] = []
        for (w, env) in zip(batch.items, envelopes) {
            if state.items[env.id] != nil { outcomes.append(.alreadyStored(env.id)); continue }
            state.order.append(env.id)
            state.items[env.id] = Stored(sequence: UInt64(state.order.count), bytes: w.bytes, item: env)
            state.itemBytes += w.bytes.count
            outcomes.append(.stored(env.id))
        }
        for e in batch.assignments { state.log[e.process, default: [:]][e.slot] = e }
        for c in batch.checkpoints { state.checkpoints[c.process, default: [:]][c.slot] = c.bytes }
        for r in batch.results { state.results[r.process, default: [:]][r.slot] = r.bytes }
        for kv in batch.keyValues {
            switch kv {
            case .put(let ns, let key, let value): state.keyValues[try IndexKey.keyValue(namespace: ns, key: key)] = value
            case .delete(let ns, let key): state.keyValues[try IndexKey.keyValue(namespace: ns, key: key)] = nil
            case .deleteRange(let ns, let from, let to):
                let lo = try IndexKey.keyValue(namespace: ns, key: from)
                let hi = try to.map { (k) throws(StoreError) in try IndexKey.keyValue(namespace: ns, key: k) }
                let prefix = try IndexKey.namespaceBytes(ns) + [0]
                for k in state.keyValues.keys where k.starts(with: prefix) && !k.lexicographicallyPrecedes(lo)
                    && (hi.map { k.lexicographicallyPrecedes($0) } ?? true) {
                    state.keyValues[k] = nil
                }
            }
        }
        return WriteReceipt(items: outcomes)
    }

    private func read<R>(_ body: (State) throws(StoreError) -> R) throws(StoreError) -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(state)
    }

    public func itemBytes(_ id: MessageID) throws(StoreError) -> [UInt8]? { try read { $0.items[id]?.bytes } }
    public func item(_ id: MessageID) throws(StoreError) -> DataItem? { try read { $0.items[id]?.item } }
    public func hasItem(_ id: MessageID) throws(StoreError) -> Bool { try read { $0.items[id] != nil } }

    public func transactions(_ query: TransactionQuery) throws(StoreError) -> TransactionPage {
        try query.validate()
        return try read { s throws(StoreError) in
            let ids = Set(query.ids), owners = Set(query.owners), recipients = Set(query.recipients)
            func matches(_ st: Stored) -> Bool {
                let e = st.item
                if !ids.isEmpty && !ids.contains(e.id) { return false }
                if !owners.isEmpty && !owners.contains(e.ownerAddress) { return false }
                if !recipients.isEmpty && !(e.target.map { recipients.contains($0) } ?? false) { return false }
                for f in query.tags where !e.tags.contains(where: { $0.name == f.name && f.values.contains($0.value) }) {
                    return false
                }
                return true
            }
            let n = UInt64(s.order.count)
            let seqs: StrideTo<UInt64>
            switch query.order {
            case .newestFirst:
                let start = min(query.after.map { $0.sequence } ?? (n + 1), n + 1)
                seqs = stride(from: start - 1, to: 0, by: -1)
            case .oldestFirst:
                seqs = stride(from: (query.after?.sequence ?? 0) + 1, to: n + 1, by: 1)
            }
            var edges: [TransactionPage.Edge] = []
            for q in seqs {
                let st = s.items[s.order[Int(q - 1)]]!
                guard matches(st) else { continue }
                if edges.count == query.first { return TransactionPage(edges: edges, hasNextPage: true) }
                edges.append(.init(cursor: QueryCursor(sequence: q), id: st.item.id))
            }
            return TransactionPage(edges: edges, hasNextPage: false)
        }
    }

    public func assignment(process: ProcessID, slot: UInt64) throws(StoreError) -> ProcessLogEntry? {
        try read { $0.log[process]?[slot] }
    }

    public func processLog(process: ProcessID, from: UInt64, through: UInt64, limit: Int) throws(StoreError) -> [ProcessLogEntry] {
        let limit = try checkedLimit(limit)
        return try read { s in
            guard let log = s.log[process] else { return [] }
            return Array(log.keys.filter { $0 >= from && $0 <= through }.sorted().prefix(limit).map { log[$0]! })
        }
    }

    public func latestSlot(process: ProcessID) throws(StoreError) -> UInt64? { try read { $0.log[process]?.keys.max() } }

    public func checkpoint(process: ProcessID, slot: UInt64) throws(StoreError) -> [UInt8]? {
        try read { $0.checkpoints[process]?[slot] }
    }

    public func latestCheckpoint(process: ProcessID, atOrBefore slot: UInt64) throws(StoreError) -> SlotBlob? {
        try read { s in
            guard let c = s.checkpoints[process], let best = c.greatestKey(atOrBelow: slot) else { return nil }
            return SlotBlob(process: process, slot: best, bytes: c[best]!)
        }
    }

    public func latestCheckpointSlot(process: ProcessID, atOrBefore slot: UInt64) throws(StoreError) -> UInt64? {
        try read { s in s.checkpoints[process]?.greatestKey(atOrBelow: slot) }
    }

    public func result(process: ProcessID, slot: UInt64) throws(StoreError) -> [UInt8]? { try read { $0.results[process]?[slot] } }

    public func value(namespace: String, key: [UInt8]) throws(StoreError) -> [UInt8]? {
        let k = try IndexKey.keyValue(namespace: namespace, key: key)
        return try read { $0.keyValues[k] }
    }

    public func values(namespace: String, from: [UInt8], limit: Int) throws(StoreError) -> [KeyValue] {
        let limit = try checkedLimit(limit)
        let prefix = try IndexKey.namespaceBytes(namespace) + [0]
        let lo = try IndexKey.keyValue(namespace: namespace, key: from)
        return try read { s in
            let keys = s.keyValues.keys.filter { $0.starts(with: prefix) && !$0.lexicographicallyPrecedes(lo) }
                .sorted { $0.lexicographicallyPrecedes($1) }.prefix(limit)
            return keys.map { KeyValue(key: Array($0.dropFirst(prefix.count)), value: s.keyValues[$0]!) }
        }
    }

    public func statistics() throws(StoreError) -> StoreStatistics {
        try read { s in
            var st = StoreStatistics()
            st.itemCount = s.items.count; st.itemBytes = s.itemBytes
            st.processLogEntryCount = s.log.values.reduce(0) { $0 + $1.count }
            st.checkpointCount = s.checkpoints.values.reduce(0) { $0 + $1.count }
            st.resultCount = s.results.values.reduce(0) { $0 + $1.count }
            st.keyValueCount = s.keyValues.count
            st.formatVersion = 1
            return st
        }
    }
}

/// Validates a scan limit (shared by both stores).
package func checkedLimit(_ limit: Int) throws(StoreError) -> Int {
    guard (1...StoreLimits.scanPageCountMax).contains(limit) else {
        throw .invalidQuery("limit must be 1...\(StoreLimits.scanPageCountMax), got \(limit)")
    }
    return limit
}

extension Dictionary where Key: Comparable {
    /// The greatest key at or below `bound`: what the in-memory doubles answer for "the nearest checkpoint at or
    /// before a slot" (the LMDB store walks a cursor back instead). One copy for both lookups, full and slot-only,
    /// so the two cannot disagree.
    public func greatestKey(atOrBelow bound: Key) -> Key? {
        var best: Key?
        for k in keys where k <= bound && (best.map { k > $0 } ?? true) { best = k }
        return best
    }
}
