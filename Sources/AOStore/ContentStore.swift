import AOCore

/// The permaweb replica seam: everything a node keeps, behind one protocol (CONVENTIONS.md C5).
///
/// Implementations: `LMDBContentStore` (AOStoreLMDB, the real one) and `MemoryContentStore` (the deterministic double
/// for simulators and pure-core tests). One conformance suite (Tests/AOStoreTests) runs against both.
///
/// Contracts every implementation keeps:
/// - **Content addressing.** An item is stored under the id computed from its own bytes (SHA-256 of its signature);
///   a claimed id that differs is refused (`idMismatch`). Storing an item twice is a no-op. Items are never deleted.
/// - **Atomic, durable batches.** `write` applies a whole `WriteBatch` (items, their indexes, process-log entries,
///   checkpoints, results, key-value changes) in one transaction, or nothing of it. When `write` returns, the batch
///   is durable (LMDB: the transaction committed and was synced). A node acknowledges a client, or gossips a vote or
///   an assignment, only after that (C2: persist BEFORE send). `GroupCommitter` batches many callers into one write.
/// - **Stable order.** Each newly stored item gets the next ingest sequence number; queries page in that order with
///   opaque cursors that stay valid forever (nothing is deleted, so a position never moves).
/// - **Snapshots.** Each read sees one committed state; reads never block the writer.
/// - **Errors.** Operating errors are `StoreError`; "not found" is `nil` or an empty page, never an error.
public protocol ContentStore: AnyObject, Sendable {
    /// Applies `batch` atomically and durably; see the protocol's contracts. Throws before writing anything when an
    /// item is malformed or its claimed id is wrong, or a process-log slot already holds different ids (`conflict`).
    @discardableResult
    func write(_ batch: WriteBatch) throws(StoreError) -> WriteReceipt

    /// The raw bytes of the item `id`, exactly as stored.
    func itemBytes(_ id: MessageID) throws(StoreError) -> [UInt8]?
    /// The parsed item `id` (AOCore's `DataItem`; not re-verified: it was valid when stored).
    func item(_ id: MessageID) throws(StoreError) -> DataItem?
    func hasItem(_ id: MessageID) throws(StoreError) -> Bool
    /// A page of item ids matching `query`, in the query's order, in the shape of Arweave GraphQL `transactions`.
    func transactions(_ query: TransactionQuery) throws(StoreError) -> TransactionPage

    /// The process-log entry at `slot` of `process`.
    func assignment(process: ProcessID, slot: UInt64) throws(StoreError) -> ProcessLogEntry?
    /// Entries of `process` with `from <= slot <= through`, ascending, at most `limit` (<= `scanPageCountMax`).
    func processLog(process: ProcessID, from: UInt64, through: UInt64, limit: Int) throws(StoreError) -> [ProcessLogEntry]
    /// The highest slot of `process` in the log, or nil when the log is empty.
    func latestSlot(process: ProcessID) throws(StoreError) -> UInt64?

    func checkpoint(process: ProcessID, slot: UInt64) throws(StoreError) -> [UInt8]?
    /// The checkpoint with the highest slot `<= slot`: where a replay towards `slot` starts.
    func latestCheckpoint(process: ProcessID, atOrBefore slot: UInt64) throws(StoreError) -> SlotBlob?
    /// The slot of that checkpoint, without reading its blob (a checkpoint is a whole memory image: megabytes).
    func latestCheckpointSlot(process: ProcessID, atOrBefore slot: UInt64) throws(StoreError) -> UInt64?
    func result(process: ProcessID, slot: UInt64) throws(StoreError) -> [UInt8]?

    /// The value under `key` in `namespace` of the protocol-state space.
    func value(namespace: String, key: [UInt8]) throws(StoreError) -> [UInt8]?
    /// Entries of `namespace` with `key >= from` (bytewise order), ascending, at most `limit` (<= `scanPageCountMax`).
    func values(namespace: String, from: [UInt8], limit: Int) throws(StoreError) -> [KeyValue]

    /// Counts and sizes, for `aonode store stats` and metrics.
    func statistics() throws(StoreError) -> StoreStatistics
}

/// One atomic, durable unit of writes. Fill any subset of the fields; an empty batch is a no-op.
public struct WriteBatch: Sendable {
    /// Data items to store, each as its full ANS-104 bytes and optionally the id the caller believes it has.
    public var items: [ItemWrite] = []
    /// Process-log entries. Writing an existing (process, slot) with the same ids is a no-op; with other ids, a
    /// `conflict` (a slot is never reassigned: that would be equivocation).
    public var assignments: [ProcessLogEntry] = []
    /// Compute checkpoints; an existing (process, slot) is overwritten (checkpoints are deterministic).
    public var checkpoints: [SlotBlob] = []
    /// Compute results; an existing (process, slot) is overwritten (results are deterministic).
    public var results: [SlotBlob] = []
    /// Protocol-state changes, applied in order after everything above.
    public var keyValues: [KeyValueWrite] = []

    public init(items: [ItemWrite] = [], assignments: [ProcessLogEntry] = [], checkpoints: [SlotBlob] = [],
                results: [SlotBlob] = [], keyValues: [KeyValueWrite] = []) {
        self.items = items; self.assignments = assignments; self.checkpoints = checkpoints
        self.results = results; self.keyValues = keyValues
    }

    public var isEmpty: Bool {
        items.isEmpty && assignments.isEmpty && checkpoints.isEmpty && results.isEmpty && keyValues.isEmpty
    }

    /// Appends `other` (used by group commit to merge callers' batches).
    public mutating func append(_ other: WriteBatch) {
        items += other.items; assignments += other.assignments; checkpoints += other.checkpoints
        results += other.results; keyValues += other.keyValues
    }
}

/// An item to store. `expectedID`, when given, must equal the id computed from `bytes`.
public struct ItemWrite: Sendable {
    public let bytes: [UInt8]
    public let expectedID: MessageID?
    public init(bytes: [UInt8], expectedID: MessageID? = nil) { self.bytes = bytes; self.expectedID = expectedID }
}

/// What `write` did with each item, in the batch's order.
public enum ItemWriteOutcome: Sendable, Hashable {
    /// Newly stored (and indexed) in this batch.
    case stored(MessageID)
    /// Already present (earlier, or earlier in the same batch): nothing changed.
    case alreadyStored(MessageID)
    public var id: MessageID { switch self { case .stored(let id), .alreadyStored(let id): return id } }
}

/// The result of a durable `write`.
public struct WriteReceipt: Sendable, Equatable {
    public let items: [ItemWriteOutcome]
    public init(items: [ItemWriteOutcome]) { self.items = items }
}

/// A process-log entry: at `slot` of `process`, the assignment `assignmentID` schedules message `messageID`.
public struct ProcessLogEntry: Sendable, Hashable {
    public let process: ProcessID
    public let slot: UInt64
    public let assignmentID: MessageID
    public let messageID: MessageID
    public init(process: ProcessID, slot: UInt64, assignmentID: MessageID, messageID: MessageID) {
        self.process = process; self.slot = slot; self.assignmentID = assignmentID; self.messageID = messageID
    }
}

/// A blob keyed by (process, slot): a checkpoint or a result.
public struct SlotBlob: Sendable, Hashable {
    public let process: ProcessID
    public let slot: UInt64
    public let bytes: [UInt8]
    public init(process: ProcessID, slot: UInt64, bytes: [UInt8]) { self.process = process; self.slot = slot; self.bytes = bytes }
}

/// A protocol-state change in a namespace ("election", "votes", "raft/<process>", ...).
public enum KeyValueWrite: Sendable, Hashable {
    case put(namespace: String, key: [UInt8], value: [UInt8])
    case delete(namespace: String, key: [UInt8])
    /// Deletes keys in `from ..< to` (bytewise); `to == nil` means to the end of the namespace (Raft log truncation).
    case deleteRange(namespace: String, from: [UInt8], to: [UInt8]?)
}

public struct KeyValue: Sendable, Hashable {
    public let key: [UInt8]
    public let value: [UInt8]
    public init(key: [UInt8], value: [UInt8]) { self.key = key; self.value = value }
}

/// Counts and sizes of a store.
public struct StoreStatistics: Sendable, Equatable {
    public var itemCount = 0
    /// Sum of the stored items' byte counts.
    public var itemBytes = 0
    public var processLogEntryCount = 0
    public var checkpointCount = 0
    public var resultCount = 0
    public var keyValueCount = 0
    /// Bytes of the map in use (LMDB: last used page x page size); 0 for the memory store.
    public var mapBytesUsed = 0
    /// Current map size (LMDB); 0 for the memory store.
    public var mapBytesSize = 0
    public var formatVersion: UInt32 = 0
    public init() {}
}

// MARK: - Queries

/// Arweave GraphQL `transactions(ids, owners, recipients, tags, first, after, sort)`, answered from the indexes.
///
/// Semantics (as Arweave's gateway): filters are ANDed; the values inside one filter are ORed; an empty or nil list
/// is no filter. A tag filter needs at least one value. `recipients` matches the item's ANS-104 target.
public struct TransactionQuery: Sendable, Hashable {
    public enum Order: Sendable, Hashable { case newestFirst, oldestFirst }
    public var ids: [MessageID]
    public var owners: [Address]
    public var recipients: [ID32]
    public var tags: [TagFilter]
    /// Page size, 1...`queryPageCountMax` (Arweave's default is 10).
    public var first: Int
    /// Continue after this cursor (from a previous page of the same query).
    public var after: QueryCursor?
    /// Ingest order: newest first is Arweave's HEIGHT_DESC analogue.
    public var order: Order

    public init(ids: [MessageID] = [], owners: [Address] = [], recipients: [ID32] = [], tags: [TagFilter] = [],
                first: Int = 10, after: QueryCursor? = nil, order: Order = .newestFirst) {
        self.ids = ids; self.owners = owners; self.recipients = recipients; self.tags = tags
        self.first = first; self.after = after; self.order = order
    }

    /// Checks the limits; both stores call it first.
    public func validate() throws(StoreError) {
        guard (1...StoreLimits.queryPageCountMax).contains(first) else {
            throw .invalidQuery("first must be 1...\(StoreLimits.queryPageCountMax), got \(first)")
        }
        let m = StoreLimits.queryFilterValueCountMax
        guard ids.count <= m, owners.count <= m, recipients.count <= m, tags.allSatisfy({ $0.values.count <= m }) else {
            throw .invalidQuery("a filter has more than \(m) values")
        }
        guard tags.count <= StoreLimits.queryTagFilterCountMax else {
            throw .invalidQuery("more than \(StoreLimits.queryTagFilterCountMax) tag filters")
        }
        guard tags.allSatisfy({ !$0.values.isEmpty }) else { throw .invalidQuery("a tag filter needs at least one value") }
    }
}

public struct TagFilter: Sendable, Hashable {
    public let name: [UInt8]
    public let values: [[UInt8]]
    public init(name: [UInt8], values: [[UInt8]]) { self.name = name; self.values = values }
    public init(_ name: String, _ values: [String]) { self.name = Array(name.utf8); self.values = values.map { Array($0.utf8) } }
}

/// An opaque, stable position in ingest order. Its text form is what GraphQL clients pass back as `after`.
public struct QueryCursor: Sendable, Hashable, CustomStringConvertible {
    /// The ingest sequence number of the item at this position.
    package let sequence: UInt64
    package init(sequence: UInt64) { self.sequence = sequence }

    /// Parses the text form; throws `invalidCursor` for anything this store did not produce.
    public init(text: String) throws(StoreError) {
        guard let b = Base64URL.decode(text), b.count == 10, b[0] == 0x63, b[1] == 0x31 else {
            throw .invalidCursor("not a store cursor: \(text)")
        }
        sequence = b[2...].reduce(0) { $0 << 8 | UInt64($1) }
    }
    /// "c1" + the 8-byte big-endian sequence, base64url.
    public var text: String { Base64URL.encode([0x63, 0x31] + SequenceKey.bytes(sequence)) }
    public var description: String { text }
}

public struct TransactionPage: Sendable, Equatable {
    public struct Edge: Sendable, Equatable {
        public let cursor: QueryCursor
        public let id: MessageID
        public init(cursor: QueryCursor, id: MessageID) { self.cursor = cursor; self.id = id }
    }
    public let edges: [Edge]
    public let hasNextPage: Bool
    public init(edges: [Edge], hasNextPage: Bool) { self.edges = edges; self.hasNextPage = hasNextPage }
    public var ids: [MessageID] { edges.map(\.id) }
}

/// Key encodings shared by both stores, so their index semantics cannot drift.
public enum SequenceKey {
    public static func bytes(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64($0))) } }
    public static func value<C: Collection>(_ b: C) -> UInt64 where C.Element == UInt8 { b.reduce(0) { $0 << 8 | UInt64($1) } }
}

public enum IndexKey {
    /// The 32-byte index key of a tag: SHA-256(u32 BE name length | name | value). Tags can be 4 KiB, over LMDB's
    /// 511-byte key limit, hence the hash; a collision would need a SHA-256 collision.
    public static func tag(name: [UInt8], value: [UInt8]) -> [UInt8] {
        let n = UInt32(name.count)
        return SHA2.sha256([UInt8(n >> 24), UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 8),
                            UInt8(truncatingIfNeeded: n)] + name + value)
    }

    /// The protocol-state key: namespace | 0x00 | key. Validates the limits.
    public static func keyValue(namespace: String, key: [UInt8]) throws(StoreError) -> [UInt8] {
        let ns = try namespaceBytes(namespace)
        guard key.count <= StoreLimits.keyValueKeyBytesMax else {
            throw .limitExceeded("key of \(key.count) bytes exceeds keyValueKeyBytesMax \(StoreLimits.keyValueKeyBytesMax)")
        }
        return ns + [0] + key
    }

    public static func namespaceBytes(_ namespace: String) throws(StoreError) -> [UInt8] {
        let ns = Array(namespace.utf8)
        guard (1...StoreLimits.namespaceBytesMax).contains(ns.count), !ns.contains(0) else {
            throw .limitExceeded("namespace must be 1...\(StoreLimits.namespaceBytesMax) bytes without zero bytes")
        }
        return ns
    }
}

extension ContentStore {
    /// Stores one item durably (a batch of one). Prefer `GroupCommitter` on hot paths.
    @discardableResult
    public func put(_ bytes: [UInt8], expectedID: MessageID? = nil) throws(StoreError) -> ItemWriteOutcome {
        try write(WriteBatch(items: [ItemWrite(bytes: bytes, expectedID: expectedID)])).items[0]
    }

}

/// The process-log entry an AO assignment item records (Type Assignment, Process, Nonce = slot, Message), or nil
/// for any other item. `aonode store import` uses it so an imported schedule fills the process log.
/// The process's own assignment (Nonce 0) has no `Message` tag (ao-protocol.md): its message is the process item.
public func processLogEntry(ofAssignment item: DataItem) -> ProcessLogEntry? {
    guard item.tag("Type") == "Assignment", let p = item.tag("Process").flatMap({ ProcessID(base64URL: $0) }),
          let n = item.tag("Nonce").flatMap({ UInt64($0) }) else { return nil }
    let named = item.tag("Message")
    guard let m = named.map({ MessageID(base64URL: $0) }) ?? (n == 0 ? MessageID(p) : nil) else { return nil }
    return ProcessLogEntry(process: p, slot: n, assignmentID: item.id, messageID: m)
}

/// Validation both stores run before touching storage: parse, check the claimed id and the batch limits.
package func validateItems(_ batch: WriteBatch) throws(StoreError) -> [DataItem] {
    try validateItemCount(batch.items.count)
    var envelopes: [DataItem] = []
    envelopes.reserveCapacity(batch.items.count)
    for w in batch.items { envelopes.append(try validatedItem(w)) }
    try validateKeyValues(batch.keyValues)
    return envelopes
}

/// One write's item, parsed, with its claimed id (if any) checked against the id its bytes hash to.
package func validatedItem(_ w: ItemWrite) throws(StoreError) -> DataItem {
    let item = try parseItem(w.bytes)
    if let claimed = w.expectedID, claimed != item.id { throw .idMismatch("claimed \(claimed), bytes hash to \(item.id)") }
    return item
}

/// The batch's item count limit (`StoreLimits.batchItemCountMax`).
package func validateItemCount(_ n: Int) throws(StoreError) {
    guard n <= StoreLimits.batchItemCountMax else {
        throw .limitExceeded("batch of \(n) items exceeds batchItemCountMax \(StoreLimits.batchItemCountMax)")
    }
}

/// The key and value limits of a batch's key-value writes; checked after its items, so a batch with a bad item and a
/// bad key reports the item.
package func validateKeyValues(_ writes: [KeyValueWrite]) throws(StoreError) {
    for kv in writes {
        switch kv {
        case .put(let ns, let key, let value):
            _ = try IndexKey.keyValue(namespace: ns, key: key)
            guard value.count <= StoreLimits.keyValueValueBytesMax else {
                throw .limitExceeded("value of \(value.count) bytes exceeds keyValueValueBytesMax")
            }
        case .delete(let ns, let key): _ = try IndexKey.keyValue(namespace: ns, key: key)
        case .deleteRange(let ns, let from, let to):
            _ = try IndexKey.keyValue(namespace: ns, key: from)
            if let to { _ = try IndexKey.keyValue(namespace: ns, key: to) }
        }
    }
}
