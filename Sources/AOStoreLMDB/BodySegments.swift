import AOCore
import AOStore
import CLMDB

/// The `body` table (format 2): item bodies packed into immutable segments keyed by the sequence of their first item.
///
/// A segment holds the bodies of consecutive sequences `start ..< start + n`, all written by one transaction:
///
///     u32 BE n | u32 BE offset[0...n] | entry 0 | ... | entry n-1        entry i = item id (32) | raw item bytes
///
/// `offset[i]` is where entry i starts (from the segment's first byte), `offset[n]` the segment's length. A write
/// batch's items are cut into segments of at most `segmentBytesMax` (an item larger than that gets one of its own).
///
/// Why: a 1 KiB item alone in a leaf node leaves a quarter of each 4 KiB page empty (three per page) and makes the
/// `body` tree as deep as the item count; packed, a segment is one LMDB overflow run written contiguously with
/// MDB_APPEND (no slack but the last page), and the tree above it has one key per ~1000 items, so it stays in cache
/// and a get costs one random descent (`items`) instead of two.
enum BodySegment {
    /// Bytes of entries in one segment (a single larger item gets its own segment).
    static let segmentBytesMax = 1 << 20

    /// The bytes a segment of entries with `entryBytes` total (ids included) and `count` entries occupies.
    static func size(count: Int, entryBytes: Int) -> Int { 4 + 4 * (count + 1) + entryBytes }

    /// Writes the segment of `entries` (id, raw bytes) into `out` (exactly `size(...)` bytes).
    static func fill(_ out: UnsafeMutableRawBufferPointer, ids: [ID32], raws: [[UInt8]]) {
        let n = ids.count
        var offset = 4 + 4 * (n + 1)
        out.storeBytes(of: UInt32(n).bigEndian, toByteOffset: 0, as: UInt32.self)
        for i in 0..<n {
            out.storeBytes(of: UInt32(offset).bigEndian, toByteOffset: 4 + 4 * i, as: UInt32.self)
            let id = ids[i]
            var big = (id.a.bigEndian, id.b.bigEndian, id.c.bigEndian, id.d.bigEndian)
            withUnsafeBytes(of: &big) { (out.baseAddress! + offset).copyMemory(from: $0.baseAddress!, byteCount: 32) }
            raws[i].withUnsafeBytes { (out.baseAddress! + offset + 32).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            offset += 32 + raws[i].count
        }
        out.storeBytes(of: UInt32(offset).bigEndian, toByteOffset: 4 + 4 * n, as: UInt32.self)
    }

    /// Entry `index` (id | raw) of the segment `s`, checking every bound (a damaged segment is MDB_CORRUPTED).
    static func entry(_ s: UnsafeRawBufferPointer, _ index: Int) throws(LMDBError) -> UnsafeRawBufferPointer {
        guard s.count >= 8 else { throw LMDBError(code: MDB_CORRUPTED) }
        let n = Int(s.bigEndian32(at: 0))
        guard index < n, 4 + 4 * (n + 1) <= s.count else { throw LMDBError(code: MDB_CORRUPTED) }
        let lo = Int(s.bigEndian32(at: 4 + 4 * index)), hi = Int(s.bigEndian32(at: 8 + 4 * index))
        guard lo >= 4 + 4 * (n + 1), lo + 32 <= hi, hi <= s.count else { throw LMDBError(code: MDB_CORRUPTED) }
        return UnsafeRawBufferPointer(rebasing: s[lo..<hi])
    }

    static func count(_ s: UnsafeRawBufferPointer) throws(LMDBError) -> Int {
        guard s.count >= 8 else { throw LMDBError(code: MDB_CORRUPTED) }
        return Int(s.bigEndian32(at: 0))
    }
}

/// Finds bodies by sequence inside one transaction: a cursor over `body`, remembering the last segment it found
/// (consecutive sequences, as queries and batch gets ask, hit the same segment). Pointers it returns are valid until
/// the transaction ends or writes. Close it before the transaction ends.
struct SegmentReader {
    private let cursor: Cursor
    private let ownsCursor: Bool
    private var start: UInt64 = 0
    private var count: UInt64 = 0
    private var segment = UnsafeRawBufferPointer(start: nil, count: 0)

    init(_ txn: Transaction, _ body: DBI) throws(LMDBError) { cursor = try txn.cursor(body); ownsCursor = true }
    /// Over a cursor on `body` that someone else closes (a pooled read's); `close()` leaves it open.
    init(borrowing cursor: Cursor) { self.cursor = cursor; ownsCursor = false }
    func close() { if ownsCursor { cursor.close() } }

    /// The entry (id | raw bytes) of `seq`, or nil when no segment holds it.
    mutating func entry(_ seq: UInt64) throws(LMDBError) -> UnsafeRawBufferPointer? {
        if seq &- start < count, segment.baseAddress != nil { return try BodySegment.entry(segment, Int(seq - start)) }
        // The segment holding `seq` is the one with the greatest start <= seq.
        var at = try withSequenceVal(seq) { (k: inout MDB_val) throws(LMDBError) in try cursor.get(MDB_SET_RANGE, raw: &k) }
        if let found = at, found.key.count == 8, found.key.bigEndian64(at: 0) == seq {
        } else {
            at = try at == nil ? cursor.get(MDB_LAST) : cursor.get(MDB_PREV)
        }
        guard let (k, v) = at else { return nil }
        guard k.count == 8 else { throw LMDBError(code: MDB_CORRUPTED) }
        let s = k.bigEndian64(at: 0), n = UInt64(try BodySegment.count(v))
        guard s <= seq, seq - s < n else { return nil }
        (start, count, segment) = (s, n, v)
        return try BodySegment.entry(v, Int(seq - s))
    }

    /// The greatest sequence stored (0 when the store holds no item).
    func lastSequence() throws(LMDBError) -> UInt64 {
        guard let (k, v) = try cursor.get(MDB_LAST) else { return 0 }
        guard k.count == 8 else { throw LMDBError(code: MDB_CORRUPTED) }
        let n = UInt64(try BodySegment.count(v))
        guard n > 0 else { throw LMDBError(code: MDB_CORRUPTED) }
        return k.bigEndian64(at: 0) + n - 1
    }
}

extension LMDBContentStore {
    /// Format 1 -> 2: format 1 kept one `body` row per item (seq -> id | raw) and `items` (id -> seq); format 2 packs
    /// consecutive rows into segments and indexes ids by their 8-byte prefix in `ids`. Rewrites `body`, fills `ids`
    /// from it and drops `items`, in the migration's one transaction (all or nothing; a large store needs free disk
    /// for a second copy of its bodies until the freed pages are reused). The other tables are unchanged.
    static func migrateBodiesToSegments(_ m: MigrationTransaction) throws(StoreError) {
        guard let body = m.tables["body"], let ids = m.tables["ids"] else { throw .io("migration: no body or ids table") }
        do {
            var old: MDB_dbi = 0
            let rc = mdb_dbi_open(m.txn.handle, "items", 0, &old)
            if rc == 0 { try lmdbCheck(mdb_drop(m.txn.handle, old, 1)) } else if rc != MDB_NOTFOUND { throw LMDBError(code: rc) }
            var next: UInt64 = 0   // the first sequence not yet converted
            while true {
                var segmentIDs: [ID32] = [], raws: [[UInt8]] = [], bytes = 0, first: UInt64 = 0
                let c = try m.txn.cursor(body)
                var at = try c.get(MDB_SET_RANGE, key: SequenceKey.bytes(next))
                if let (k, _) = at { first = SequenceKey.value(k) }
                while let (k, v) = at, segmentIDs.isEmpty || bytes + v.count <= BodySegment.segmentBytesMax {
                    guard k.count == 8, SequenceKey.value(k) == first + UInt64(segmentIDs.count) else { break }
                    guard v.count >= 32 else { throw LMDBError(code: MDB_CORRUPTED) }
                    let seqKey = Array(k), idBytes = Array(v[0..<32])
                    segmentIDs.append(ID32(bytes: idBytes)!)
                    raws.append(Array(v[32...]))
                    bytes += v.count
                    try c.deleteCurrent()   // k and v are invalid from here
                    try m.txn.put(ids, Array(idBytes[0..<8]), seqKey)
                    at = try c.get(MDB_SET_RANGE, key: SequenceKey.bytes(first + UInt64(segmentIDs.count)))
                }
                c.close()
                if segmentIDs.isEmpty { break }
                let size = BodySegment.size(count: segmentIDs.count, entryBytes: bytes)
                let slot = try m.txn.reserve(body, SequenceKey.bytes(first), count: size, flags: 0)
                BodySegment.fill(slot, ids: segmentIDs, raws: raws)
                next = first + UInt64(segmentIDs.count)
            }
        } catch { throw mapError(error, "migration to body segments") }
    }
}
