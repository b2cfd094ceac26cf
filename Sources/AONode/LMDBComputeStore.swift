import AOCompute
import AOCore
import AOStore
import AOStoreLMDB
import Foundation

/// The evaluator's `ComputeStore` over the node's LMDB store: results in the store's result table, checkpoints in
/// its checkpoint table, both keyed by (process, slot).
///
/// Results are a cache (they can always be recomputed), so they are not written one synced LMDB transaction per
/// message: `putResult` keeps them in memory (readable at once) until `flush` writes them together with whatever
/// else the caller adds (attestations), in one transaction. A checkpoint is written at once, with the pending
/// results. Safe from several threads.
final class LMDBComputeStore: ComputeStore, @unchecked Sendable {
    let store: LMDBContentStore
    private let lock = NSLock()
    private var pending: [String: [Int64: [UInt8]]] = [:]
    private var pendingKeyValues: [KeyValueWrite] = []

    init(store: LMDBContentStore) { self.store = store }

    static func pid(_ process: String) throws(ComputeError) -> ProcessID {
        guard let p = ProcessID(base64URL: process) else { throw .invalidInput("process id \(process) is not 43 base64url characters") }
        return p
    }

    func result(process: String, slot: Int64) throws(ComputeError) -> [UInt8]? {
        guard slot >= 0 else { return nil }
        if let r = lock.withLock({ pending[process]?[slot] }) { return r }
        do { return try store.result(process: try Self.pid(process), slot: UInt64(slot)) } catch { throw .store("\(error)") }
    }

    func putResult(process: String, slot: Int64, _ encoded: [UInt8]) throws(ComputeError) {
        _ = try Self.pid(process)
        lock.withLock { pending[process, default: [:]][slot] = encoded }
    }

    func checkpoint(process: String, atOrBelow slot: Int64) throws(ComputeError) -> (slot: Int64, bytes: [UInt8])? {
        guard slot >= 0 else { return nil }
        do {
            guard let b = try store.latestCheckpoint(process: try Self.pid(process), atOrBefore: UInt64(slot)) else { return nil }
            return (Int64(b.slot), b.bytes)
        } catch { throw .store("\(error)") }
    }

    func checkpointSlot(process: String, atOrBelow slot: Int64) throws(ComputeError) -> Int64? {
        guard slot >= 0 else { return nil }
        do {
            return try store.latestCheckpointSlot(process: try Self.pid(process), atOrBefore: UInt64(slot)).map { Int64($0) }
        } catch { throw .store("\(error)") }
    }

    func putCheckpoint(process: String, slot: Int64, _ encoded: [UInt8]) throws(ComputeError) {
        let p = try Self.pid(process)
        var batch = WriteBatch()
        batch.checkpoints.append(SlotBlob(process: p, slot: UInt64(max(0, slot)), bytes: encoded))
        try flush(adding: batch)
    }

    /// The key-value namespace of kept cron results: process ‖ timestamp ‖ ordinate ‖ index (big-endian, so keys
    /// sort in timeline order) → interval length ‖ interval ‖ encoded result.
    static let cronNamespace = "compute.cron"

    static func cronKey(_ p: ProcessID, _ position: CronPosition) -> [UInt8] {
        func be(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).reversed().map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
        return p.bytes + be(UInt64(bitPattern: position.timestamp), 8) + be(UInt64(bitPattern: position.ordinate), 8)
            + be(UInt64(position.index), 4)
    }

    /// Cron results are a cache like results: queued, written at the next flush.
    func putCronResult(process: String, position: CronPosition, _ encoded: [UInt8]) throws(ComputeError) {
        let p = try Self.pid(process)
        let interval = Array(position.interval.utf8.prefix(255))
        enqueue(.put(namespace: Self.cronNamespace, key: Self.cronKey(p, position),
                     value: [UInt8(interval.count)] + interval + encoded))
        // A long gap of frequent crons must not pile up in memory until the chunk ends.
        if lock.withLock({ pendingKeyValues.count }) >= Self.pendingKeyValuesFlushCount { try flush() }
    }
    static let pendingKeyValuesFlushCount = 4096

    /// Kept cron results of `p` strictly after `after` (or from `atOrAfter`; both nil: from the start), in timeline
    /// order, at most `limit`.
    func cronResults(_ p: ProcessID, after: CronPosition? = nil, atOrAfter: CronPosition? = nil, limit: Int) throws -> [(CronPosition, [UInt8])] {
        var out: [(CronPosition, [UInt8])] = []
        var from = after.map { Self.cronKey(p, $0) + [0] } ?? atOrAfter.map { Self.cronKey(p, $0) } ?? p.bytes
        while out.count < limit {
            let page = try store.values(namespace: Self.cronNamespace, from: from, limit: 256)
            for kv in page {
                guard kv.key.count == 52, kv.key.starts(with: p.bytes) else { return out }
                func u64(_ at: Int) -> UInt64 { kv.key[at..<(at + 8)].reduce(0) { $0 << 8 | UInt64($1) } }
                let index = kv.key[48..<52].reduce(0) { $0 << 8 | Int($1) }
                guard let n = kv.value.first.map(Int.init), kv.value.count > n else { continue }
                let interval = String(decoding: kv.value[1...n], as: UTF8.self)
                out.append((CronPosition(timestamp: Int64(bitPattern: u64(32)), ordinate: Int64(bitPattern: u64(40)), index: index,
                                         interval: interval), Array(kv.value[(n + 1)...])))
                if out.count == limit { return out }
            }
            guard page.count == 256, let last = page.last else { return out }
            from = last.key + [0]
        }
        return out
    }

    /// Queues a key-value write for the next flush (attestations).
    func enqueue(_ write: KeyValueWrite) { lock.withLock { pendingKeyValues.append(write) } }

    /// Writes the pending results and key-values (plus `extra`) in one LMDB transaction.
    func flush(adding extra: WriteBatch = WriteBatch()) throws(ComputeError) {
        var batch = extra
        let (results, kvs) = lock.withLock { (pending, pendingKeyValues) }
        for (process, slots) in results {
            guard let p = ProcessID(base64URL: process) else { continue }
            for (slot, bytes) in slots { batch.results.append(SlotBlob(process: p, slot: UInt64(slot), bytes: bytes)) }
        }
        batch.keyValues.append(contentsOf: kvs)
        if batch.isEmpty { return }
        do { _ = try store.write(batch) } catch { throw .store("\(error)") }
        // Drop only what was written (more may have been added meanwhile).
        lock.withLock {
            for (process, slots) in results {
                for slot in slots.keys { pending[process]?[slot] = nil }
                if pending[process]?.isEmpty == true { pending[process] = nil }
            }
            pendingKeyValues.removeFirst(min(kvs.count, pendingKeyValues.count))
        }
    }
}
