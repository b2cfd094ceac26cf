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

    func putCheckpoint(process: String, slot: Int64, _ encoded: [UInt8]) throws(ComputeError) {
        let p = try Self.pid(process)
        var batch = WriteBatch()
        batch.checkpoints.append(SlotBlob(process: p, slot: UInt64(max(0, slot)), bytes: encoded))
        try flush(adding: batch)
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
