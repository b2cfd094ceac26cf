import AOCore
import AOStore
import CLMDB

/// Answers a `TransactionQuery` from the index tables inside one read transaction.
///
/// Plan: every filter (owners, recipients, each tag filter) is a set of index keys whose duplicate lists hold the
/// matching items' sequence numbers in order. The filter with the fewest entries (mdb_cursor_count, O(log n) per key)
/// drives: its lists are merged in sequence order (a k-way merge over the ORed values), and each candidate is checked
/// against the other filters with MDB_GET_BOTH lookups. Paging resumes strictly past the cursor's sequence, so pages
/// are stable while items are added (new items land at the newest end). With no filter, the sequences themselves drive (dense: 1...last);
/// with `ids`, the ids' own sequences do. The cost of a first page is O(page x filters x log n) when filters are
/// correlated; anti-correlated filters can scan the whole driving list (documented in docs/STORE.md).
struct QueryPlan {
    let store: LMDBContentStore
    let query: TransactionQuery
    let txn: Transaction

    private struct Filter { let dbi: DBI; let keys: [[UInt8]] }

    func run() throws -> TransactionPage {
        var filters: [Filter] = []
        if !query.owners.isEmpty { filters.append(Filter(dbi: store.ownerDBI, keys: query.owners.map(\.bytes))) }
        if !query.recipients.isEmpty { filters.append(Filter(dbi: store.targetDBI, keys: query.recipients.map(\.bytes))) }
        for f in query.tags {
            filters.append(Filter(dbi: store.tagDBI, keys: f.values.map { IndexKey.tag(name: f.name, value: $0) }))
        }
        let newest = query.order == .newestFirst
        let after = query.after?.sequence
        var edges: [TransactionPage.Edge] = []
        var checks: [(Cursor, Filter)] = []
        defer { for (c, _) in checks { c.close() } }
        var segments = try SegmentReader(txn, store.sequenceDBI)
        defer { segments.close() }

        /// Adds `seq` when it passes the checks; returns false once the page is full (one extra proves a next page).
        func offer(_ seq: UInt64, _ id: [UInt8]? = nil) throws -> Bool {
            let seqBytes = SequenceKey.bytes(seq)
            for (c, f) in checks {
                var hit = false
                for k in f.keys where try c.get(MDB_GET_BOTH, key: k, value: seqBytes) != nil { hit = true; break }
                if !hit { return true }
            }
            if edges.count == query.first { return false }
            let idBytes = try id ?? segments.entry(seq).map { Array($0.prefix(32)) }
            guard let idBytes, let mid = MessageID(bytes: idBytes) else {
                throw LMDBError(code: MDB_CORRUPTED)  // an index names a sequence the body table lacks
            }
            edges.append(.init(cursor: QueryCursor(sequence: seq), id: mid))
            return true
        }

        if !query.ids.isEmpty {
            for f in filters { checks.append((try txn.cursor(f.dbi), f)) }
            var found: [(UInt64, [UInt8])] = []
            for id in Set(query.ids) {
                if let seq = try store.sequence(of: id.raw, txn, &segments) { found.append((seq, id.bytes)) }
            }
            found = found.filter { after == nil || (newest ? $0.0 < after! : $0.0 > after!) }
            found.sort { newest ? $0.0 > $1.0 : $0.0 < $1.0 }
            for (seq, id) in found where try !offer(seq, id) { return TransactionPage(edges: edges, hasNextPage: true) }
            return TransactionPage(edges: edges, hasNextPage: false)
        }

        if filters.isEmpty {
            // Sequences are dense (1...last, nothing is deleted): walk them, reading ids from the segments.
            let last = try segments.lastSequence()
            var seq: UInt64
            if newest { seq = after.map { $0 == 0 ? 0 : min($0 - 1, last) } ?? last } else { seq = after.map { $0 == .max ? .max : $0 + 1 } ?? 1 }
            while seq >= 1, seq <= last {
                guard let entry = try segments.entry(seq) else { throw LMDBError(code: MDB_CORRUPTED) }
                if try !offer(seq, Array(entry.prefix(32))) { return TransactionPage(edges: edges, hasNextPage: true) }
                seq = newest ? seq - 1 : seq + 1
            }
            return TransactionPage(edges: edges, hasNextPage: false)
        }

        // Drive with the smallest filter.
        var best = 0, bestCount = Int.max
        for (i, f) in filters.enumerated() {
            let c = try txn.cursor(f.dbi); defer { c.close() }
            var n = 0
            for k in f.keys where try c.get(MDB_SET, key: k) != nil { n += c.duplicateCount() }
            if n < bestCount { best = i; bestCount = n }
        }
        if bestCount == 0 { return TransactionPage(edges: [], hasNextPage: false) }
        for (i, f) in filters.enumerated() where i != best { checks.append((try txn.cursor(f.dbi), f)) }
        var streams: [DuplicateStream] = []
        defer { for s in streams { s.close() } }
        for k in Set(filters[best].keys) {
            streams.append(try DuplicateStream(txn: txn, dbi: filters[best].dbi, key: k, newest: newest, after: after))
        }
        while true {
            var next: UInt64?
            for s in streams { if let c = s.current, next == nil || (newest ? c > next! : c < next!) { next = c } }
            guard let seq = next else { break }
            if try !offer(seq) { return TransactionPage(edges: edges, hasNextPage: true) }
            for s in streams where s.current == seq { try s.advance() }
        }
        return TransactionPage(edges: edges, hasNextPage: false)
    }

}

/// One index key's duplicate list (sequence numbers), walked in order from strictly past `after`.
final class DuplicateStream {
    let cursor: Cursor
    let newest: Bool
    private(set) var current: UInt64?

    init(txn: Transaction, dbi: DBI, key: [UInt8], newest: Bool, after: UInt64?) throws {
        cursor = try txn.cursor(dbi)
        self.newest = newest
        var at: (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)?
        if let after {
            let r = try cursor.get(MDB_GET_BOTH_RANGE, key: key, value: SequenceKey.bytes(after))  // first dup >= after
            if newest {
                if r != nil { at = try cursor.get(MDB_PREV_DUP) }
                else if try cursor.get(MDB_SET, key: key) != nil { at = try cursor.get(MDB_LAST_DUP) }
            } else if let r {
                at = SequenceKey.value(r.value) == after ? try cursor.get(MDB_NEXT_DUP) : r
            }
        } else if try cursor.get(MDB_SET, key: key) != nil {
            at = try cursor.get(newest ? MDB_LAST_DUP : MDB_FIRST_DUP)
        }
        current = at.map { SequenceKey.value($0.value) }
    }

    func advance() throws { current = try cursor.get(newest ? MDB_PREV_DUP : MDB_NEXT_DUP).map { SequenceKey.value($0.value) } }
    func close() { cursor.close() }
}
