/// Every limit of the store, with why (CONVENTIONS.md C11). Units are last in the names.
public enum StoreLimits {
    /// The largest data item the store accepts: AO's MU/SU refuse bodies over 10 MB, so a replica never needs more;
    /// LMDB stores such values in overflow pages without trouble.
    public static let itemBytesMax = 10 * 1024 * 1024
    /// Items per bundle accepted by `ItemBundle.parse`: bounds the header allocation for untrusted input (64 bytes
    /// of header per item); AOCore's `ANS104Limits.bundleItemCountMax` is the same bound.
    public static let bundleItemCountMax = 1 << 20
    /// Arweave's GraphQL caps `first` at 100; we hold the same cap so a query's cost is bounded.
    public static let queryPageCountMax = 100
    /// Ids, owners, recipients or tag values in one filter: bounds the k-way merge of index lists.
    public static let queryFilterValueCountMax = 100
    /// Tag filters in one query (Arweave accepts a handful in practice).
    public static let queryTagFilterCountMax = 16
    /// Entries returned by one process-log, checkpoint or key-value range scan (callers page with `from`).
    public static let scanPageCountMax = 10_000
    /// A key-value namespace is 1...64 bytes and contains no zero byte (it is the key prefix, ended by 0x00).
    public static let namespaceBytesMax = 64
    /// LMDB's default maximum key size is 511 bytes; namespace, separator and key must fit in it.
    public static let keyValueKeyBytesMax = 511 - namespaceBytesMax - 1
    /// A key-value value: protocol state (terms, votes, Raft entries) is small; bigger blobs belong in items.
    public static let keyValueValueBytesMax = 1024 * 1024
    /// Items in one write batch: a group-commit transaction stays bounded in memory (dirty pages) and latency.
    public static let batchItemCountMax = 100_000
}

extension StoreLimits {
    /// Items the group committer merges into one write transaction. Each transaction rewrites (copy-on-write) every
    /// index page it touches, and random item ids touch most leaves of the id index once the store is large: at 1M
    /// items, 8,192-item transactions wrote ~12 KB per 1 KiB item, 65,536-item ones ~1.7 KB (docs/STORE.md). Only a
    /// deep queue fills a group this far; a lone request still commits alone and at once.
    public static let groupCommitItemCountMax = 65_536
    /// Item, checkpoint and result bytes the group committer merges into one transaction (a single larger request
    /// still goes alone): bounds a transaction's dirty pages, which LMDB holds in memory until the commit.
    public static let groupCommitBytesMax = 64 << 20
    /// Pending requests the group committer queues before `submit` refuses with `limitExceeded` (back-pressure:
    /// a node that ingests faster than the disk syncs must slow its clients, not grow memory without bound).
    public static let groupCommitPendingCountMax = 1_000_000
}
