import Foundation

/// Group commit: many callers' batches merged into one durable `write` on a dedicated writer thread.
///
/// The node shell submits each client's item (with its completion) and acknowledges the client only when the
/// completion reports success: by then the transaction holding the item has committed and synced (C2). Requests are
/// taken in submission order and merged up to `StoreLimits.groupCommitItemCountMax` items and
/// `StoreLimits.groupCommitBytesMax` bytes per transaction, so one fsync (and one copy of each index page touched)
/// covers thousands of items under load while a lone request still commits immediately.
///
/// A merged write that fails with a request-specific error (a malformed item, an id mismatch, a slot conflict) is
/// retried request by request, so one bad request never fails its neighbours. Completions run on the writer thread:
/// keep them short (the node enqueues an event).
///
/// Works over any `ContentStore`; it is also the one place that calls `write` in a node, which keeps LMDB's rule of
/// one write transaction at a time on one thread.
public final class GroupCommitter: @unchecked Sendable {
    public typealias Completion = @Sendable (Result<WriteReceipt, StoreError>) -> Void
    private struct Request {
        let batch: WriteBatch
        let completion: Completion
        var byteCount: Int {
            batch.items.reduce(0) { $0 + $1.bytes.count } + batch.checkpoints.reduce(0) { $0 + $1.bytes.count }
                + batch.results.reduce(0) { $0 + $1.bytes.count }
        }
    }

    private let store: any ContentStore
    private let itemCountMax: Int
    private let byteCountMax: Int
    private let condition = NSCondition()   // guards `pending` and `closing`
    private var pending: [Request] = []
    private var closing = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    /// Starts the writer thread. `itemCountMax` and `byteCountMax` bound what is merged into one transaction.
    public init(store: any ContentStore, itemCountMax: Int = StoreLimits.groupCommitItemCountMax,
                byteCountMax: Int = StoreLimits.groupCommitBytesMax) {
        precondition(itemCountMax >= 1 && byteCountMax >= 1, "itemCountMax and byteCountMax must be positive")
        self.store = store
        self.itemCountMax = itemCountMax
        self.byteCountMax = byteCountMax
        let t = Thread { [unowned self] in self.run() }
        t.name = "aonode.store.writer"
        thread = t
        t.start()
    }

    deinit { precondition(closing, "GroupCommitter deinitialised without close()") }

    /// Queues `batch`; `completion` runs once it is durable (or failed). After `close()`, fails with `closed`.
    public func submit(_ batch: WriteBatch, completion: @escaping Completion) {
        condition.lock()
        if closing { condition.unlock(); completion(.failure(.closed("group committer closed"))); return }
        if pending.count >= StoreLimits.groupCommitPendingCountMax {
            condition.unlock()
            completion(.failure(.limitExceeded("more than groupCommitPendingCountMax writes pending")))
            return
        }
        pending.append(Request(batch: batch, completion: completion))
        condition.signal()
        condition.unlock()
    }

    /// Async form of `submit`: returns when the batch is durable.
    public func commit(_ batch: WriteBatch) async throws(StoreError) -> WriteReceipt {
        let result: Result<WriteReceipt, StoreError> = await withCheckedContinuation { c in
            submit(batch) { c.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Blocking form of `submit`, for a caller that must not return before its batch is durable and cannot await:
    /// the batch is queued behind everything submitted before it (FIFO), so it is durable after them.
    public func commitWaiting(_ batch: WriteBatch) throws(StoreError) -> WriteReceipt {
        final class Box: @unchecked Sendable { var result: Result<WriteReceipt, StoreError>? }  // set before signal
        let box = Box(), done = DispatchSemaphore(value: 0)
        submit(batch) { box.result = $0; done.signal() }
        done.wait()
        return try box.result!.get()
    }

    /// Commits everything already submitted, then stops the writer thread. Idempotent.
    public func close() {
        condition.lock()
        let wasClosing = closing
        closing = true
        condition.signal()
        condition.unlock()
        if !wasClosing { finished.wait() }
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty && !closing { condition.wait() }
            if pending.isEmpty && closing { condition.unlock(); break }
            var group: [Request] = []
            var items = 0, bytes = 0
            var taken = 0
            for r in pending {
                let b = r.byteCount
                if !group.isEmpty && (items + r.batch.items.count > itemCountMax || bytes + b > byteCountMax) { break }
                group.append(r); items += r.batch.items.count; bytes += b; taken += 1
            }
            pending.removeFirst(taken)
            condition.unlock()
            commit(group)
        }
        finished.signal()
    }

    private func commit(_ group: [Request]) {
        if group.count == 1 { group[0].completion(Result { () throws(StoreError) in try store.write(group[0].batch) }); return }
        var merged = WriteBatch()
        for r in group { merged.append(r.batch) }
        do {
            let receipt = try store.write(merged)
            var offset = 0
            for r in group {
                let n = r.batch.items.count
                r.completion(.success(WriteReceipt(items: Array(receipt.items[offset..<offset + n]))))
                offset += n
            }
        } catch {
            // One request may have poisoned the merged batch: give each its own transaction and its own verdict.
            for r in group { r.completion(Result { () throws(StoreError) in try store.write(r.batch) }) }
        }
    }
}
