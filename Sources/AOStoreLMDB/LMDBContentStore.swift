import AOCore
import AOStore
import CLMDB
import Foundation

/// Options of an LMDB store. The defaults suit a node; tests shrink the map and turn growth off.
public struct LMDBStoreOptions: Sendable {
    /// Map size at creation (the map only reserves address space; the file grows with the data).
    public var mapBytesInitial = 256 << 20
    /// The map never grows past this: 1 TiB is well inside a 64-bit address space and beyond any disk we expect.
    public var mapBytesMax = 1 << 40
    /// When false, a full map is a `mapFull` error instead of a resize (tests; operators who cap the store).
    public var growthAllowed = true
    /// Opening an older format runs the registered migrations only when this is true; otherwise `migrationRequired`.
    /// Migrations are explicit because they rewrite data: take a backup first (`aonode store backup`).
    public var migrateOlderFormat = false
    /// The format this build writes. Only tests change it (to exercise migration and refusal).
    package var formatVersion: UInt32 = LMDBContentStore.currentFormatVersion
    /// Migrations by the version they upgrade from (to `from + 1`). Only tests add to it today.
    package var migrations: [UInt32: StoreMigration] = LMDBContentStore.migrations

    public init() {}
}

/// One explicit format upgrade, run in the write transaction that also records the new version.
package struct StoreMigration: Sendable {
    package let apply: @Sendable (MigrationTransaction) throws(StoreError) -> Void
    package init(apply: @escaping @Sendable (MigrationTransaction) throws(StoreError) -> Void) { self.apply = apply }
}

/// The raw tables as a migration sees them.
package struct MigrationTransaction {
    let txn: Transaction
    let tables: [String: DBI]
    package func get(table: String, key: [UInt8]) throws(StoreError) -> [UInt8]? {
        guard let d = tables[table] else { throw .io("no table \(table)") }
        do { return try txn.get(d, key).map { Array($0) } } catch { throw LMDBContentStore.mapError(error, "migration") }
    }
    package func put(table: String, key: [UInt8], value: [UInt8]) throws(StoreError) {
        guard let d = tables[table] else { throw .io("no table \(table)") }
        do { try txn.put(d, key, value) } catch { throw LMDBContentStore.mapError(error, "migration") }
    }
}

/// The LMDB `ContentStore`: the node's permaweb replica in one environment at `<directory>/data.mdb`.
///
/// Tables (key → value; "seq" is the 8-byte big-endian ingest sequence, from 1):
/// - `meta`: "format-version" → u32 BE, "next-sequence" → u64 BE, "item-bytes" → u64 BE
/// - `ids` (DUPSORT|DUPFIXED): first 8 bytes of the item id → seq, ... (the full id is checked against the body; see
///   `sequence(of:)`)
/// - `body`: seq of a segment's first item → segment of consecutive items' id (32) | raw bytes (append-only, MDB_APPEND;
///   see BodySegments.swift)
/// - `owner`, `target`, `tag` (DUPSORT|DUPFIXED): owner address / target id / SHA-256 tag key (32) → seq, ...
/// - `log`: process (32) | slot (8 BE) → assignment id (32) | message id (32)
/// - `checkpoint`, `result`: process (32) | slot (8 BE) → blob
/// - `kv`: namespace | 0x00 | key → value
///
/// Durability: every `write` is one LMDB transaction, committed with a sync (no MDB_NOSYNC / NOMETASYNC) before it
/// returns. Concurrency: writes are serialised by a writer lock (one write transaction at a time, begun and ended in
/// the same call); reads use pooled MDB_NOTLS read transactions and never wait for the writer. The map doubles when
/// full, up to `mapBytesMax`, under an exclusive lock that waits for in-flight reads (lmdb.h: no active transaction
/// during mdb_env_set_mapsize). See docs/STORE.md.
public final class LMDBContentStore: ContentStore, @unchecked Sendable {
    /// The format this build writes. 1: one `body` row per item; 2: bodies packed in segments (BodySegments.swift).
    public static let currentFormatVersion: UInt32 = 2
    /// Registered migrations, by the version they upgrade from.
    static let migrations: [UInt32: StoreMigration] = [1: StoreMigration { m throws(StoreError) in try migrateBodiesToSegments(m) }]
    /// Named databases; lmdb needs the count up front.
    static let databaseCountMax: UInt32 = 16
    /// Reset read transactions kept for reuse: more than our threads ever read at once, far below LMDB's 126 readers.
    static let readPoolCountMax = 32

    public let directory: String
    let options: LMDBStoreOptions
    private let env: Environment
    private let registryKey: RegistryKey
    private let meta, items, sequence, owner, target, tag, log, checkpoint, result, kv: DBI
    private var tables: [String: DBI] {
        ["meta": meta, "ids": items, "body": sequence, "owner": owner, "target": target, "tag": tag, "log": log,
         "checkpoint": checkpoint, "result": result, "kv": kv]
    }

    /// Held by the single writer for a whole transaction.
    private let writerLock = NSLock()
    /// Shared by every read transaction, exclusive while the map is resized or the environment closes.
    private let mapLock: UnsafeMutablePointer<pthread_rwlock_t>
    private let poolLock = NSLock()
    private var readPool: [PooledRead] = []
    private var closed = false

    /// Opens (creating if needed) the store in `directory`. Throws a typed error for a read-only or missing
    /// directory, a corrupt or truncated file, a newer format, an older format without migration, or a second open
    /// of the same environment in this process.
    public init(directory: String, options: LMDBStoreOptions = LMDBStoreOptions()) throws(StoreError) {
        self.directory = directory
        self.options = options
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .permissionDenied("cannot create store directory \(directory): \(error.localizedDescription)")
        }
        var st = stat()
        guard stat(directory, &st) == 0 else { throw LMDBContentStore.errnoError(errno, "stat \(directory)") }
        registryKey = RegistryKey(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        try EnvironmentRegistry.claim(registryKey, directory)
        var envOrNil: Environment?
        do {
            // Fail before LMDB maps anything: a data file shorter than its meta pages promise would SIGBUS on read.
            try LMDBContentStore.checkDataFile(directory)
            envOrNil = try Environment(directory: directory, mapBytes: options.mapBytesInitial,
                                       databaseCountMax: LMDBContentStore.databaseCountMax,
                                       flags: UInt32(MDB_NOTLS | MDB_NORDAHEAD))
        } catch let e as StoreError {
            EnvironmentRegistry.release(registryKey); throw e
        } catch let e as LMDBError {
            EnvironmentRegistry.release(registryKey); throw LMDBContentStore.mapError(e, "open \(directory)")
        } catch {
            EnvironmentRegistry.release(registryKey); throw .io("open \(directory): \(error)")
        }
        env = envOrNil!
        mapLock = .allocate(capacity: 1)
        pthread_rwlock_init(mapLock, nil)
        var opened: [DBI] = []
        do {
            try LMDBContentStore.checkTruncation(env, directory)
            let t = try env.beginWrite()
            do {
                let dup = MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED
                for (name, flags) in [("meta", MDB_CREATE), ("ids", dup), ("body", MDB_CREATE),
                                      ("owner", dup), ("target", dup), ("tag", dup), ("log", MDB_CREATE),
                                      ("checkpoint", MDB_CREATE), ("result", MDB_CREATE), ("kv", MDB_CREATE)] {
                    opened.append(try t.open(name, flags: flags))
                }
                try t.commit()
            } catch { t.abort(); throw error }
        } catch {
            env.close(); EnvironmentRegistry.release(registryKey)
            pthread_rwlock_destroy(mapLock); mapLock.deallocate()
            throw LMDBContentStore.mapError(error, "open tables in \(directory)")
        }
        (meta, items, sequence, owner, target, tag, log, checkpoint, result, kv) =
            (opened[0], opened[1], opened[2], opened[3], opened[4], opened[5], opened[6], opened[7], opened[8], opened[9])
        do { try checkFormat() } catch { close(); throw error }
    }

    deinit {
        close()
        pthread_rwlock_destroy(mapLock)
        mapLock.deallocate()
    }

    /// Closes the environment: waits for the writer and readers, then releases the registry entry. Idempotent.
    public func close() {
        writerLock.lock(); defer { writerLock.unlock() }
        pthread_rwlock_wrlock(mapLock)
        if !closed {
            closed = true
            poolLock.lock(); for r in readPool { r.abort() }; readPool = []; poolLock.unlock()
            env.close()
            EnvironmentRegistry.release(registryKey)
        }
        pthread_rwlock_unlock(mapLock)
    }

    // MARK: - Format version

    private func checkFormat() throws(StoreError) {
        try writeTransaction { (t: Transaction) throws(StoreError) in
            let found = try lmdb { () throws(LMDBError) in try t.get(meta, Keys.formatVersion).map { UInt32(SequenceKey.value($0)) } }
            let want = options.formatVersion
            guard let found else {
                let empty = t.entryCount(items) == 0 && t.entryCount(meta) == 0 && t.entryCount(kv) == 0 && t.entryCount(log) == 0
                guard empty else { throw .corrupt("\(directory) has data but no format version: not an aonode store") }
                _ = try lmdb { () throws(LMDBError) in try t.put(meta, Keys.formatVersion, Self.u32(want)) }
                return
            }
            if found == want { return }
            if found > want {
                throw .formatTooNew("\(directory) has store format \(found); this aonode reads format \(want) at most. Upgrade aonode.")
            }
            guard options.migrateOlderFormat else {
                throw .migrationRequired("\(directory) has store format \(found), this aonode uses \(want): back it up, then open with migration allowed (--migrate)")
            }
            let mt = MigrationTransaction(txn: t, tables: tables)
            for v in found..<want {
                guard let m = options.migrations[v] else { throw .formatTooNew("no migration from store format \(v)") }
                try m.apply(mt)
            }
            _ = try lmdb { () throws(LMDBError) in try t.put(meta, Keys.formatVersion, Self.u32(want)) }
        }
    }

    // MARK: - Writes

    @discardableResult
    public func write(_ batch: WriteBatch) throws(StoreError) -> WriteReceipt {
        if batch.items.count >= Self.pipelinedPrepareItemCountMin, Self.prepareThreads > 1 { return try pipelinedWrite(batch) }
        let prepared = try prepare(batch)
        if batch.isEmpty { return WriteReceipt(items: []) }
        return try writeTransaction { (t: Transaction) throws(StoreError) -> WriteReceipt in
            try self.apply(batch, { prepared[$0] }, t)
        }
    }

    /// Batches from this many items are parsed on a background thread while the writer applies them (below).
    static let pipelinedPrepareItemCountMin = 4 * PreparePipeline.chunkItemCount

    /// A large batch: its items are parsed chunk by chunk on another core while the writer applies the chunks
    /// already parsed, instead of the writer waiting for the whole batch first (measured: that wait was a fifth of a
    /// 65,536-item ingest). The outcome is the same as `prepare` then `apply`: a bad item fails the whole batch with
    /// the first bad item's error (the transaction is aborted, nothing is written), and the key-value limits are
    /// checked after the items.
    private func pipelinedWrite(_ batch: WriteBatch) throws(StoreError) -> WriteReceipt {
        try validateItemCount(batch.items.count)
        let pipeline = PreparePipeline(items: batch.items) { LMDBContentStore.prepared($0) }
        defer { pipeline.finish() }
        return try writeTransaction { (t: Transaction) throws(StoreError) -> WriteReceipt in
            try self.apply(batch, { (i: Int) throws(StoreError) in try pipeline.item(i) }, t, validatingKeyValues: true)
        }
    }

    /// What the writer needs of a parsed item: its id and index keys, no more. The parsed `DataItem` (its tags'
    /// strings, owner and signature arrays) is dropped on the preparing thread: freeing 65,536 of them on the writer
    /// thread after the commit was a tenth of a large batch's CPU.
    fileprivate struct PreparedItem { let id: MessageID; let target: ID32?; let owner: ID32; let tagKeys: [ID32] }

    /// Batches from this many items are parsed and hashed on every core.
    static let parallelPrepareItemCountMin = 1024
    /// Read once: `activeProcessorCount` reads cgroup files on every call (it showed in profiles of small writes).
    static let prepareThreads = min(ProcessInfo.processInfo.activeProcessorCount, 8)

    /// Parses and checks every item and computes its index keys, before the writer lock: parsing, the id and the
    /// SHA-256 of owner and tags are the costly part of an ingest. Large batches use every core; the error reported
    /// is the first bad item's, as with one thread.
    private func prepare(_ batch: WriteBatch) throws(StoreError) -> [PreparedItem] {
        let n = batch.items.count
        guard n >= Self.parallelPrepareItemCountMin, Self.prepareThreads > 1 else { return try validateItems(batch).map(Self.prepared) }
        try validateItemCount(n)
        let threads = Self.prepareThreads
        let out = UnsafeMutableBufferPointer<Result<PreparedItem, StoreError>?>.allocate(capacity: n)
        out.initialize(repeating: nil)
        defer { _ = out.deinitialize(); out.deallocate() }
        let items = batch.items
        DispatchQueue.concurrentPerform(iterations: threads) { part in
            for i in part * n / threads ..< (part + 1) * n / threads {
                out[i] = Self.prepared(items[i])
            }
        }
        var result: [PreparedItem] = []
        result.reserveCapacity(n)
        for r in out { result.append(try r!.get()) }
        try validateKeyValues(batch.keyValues)   // after the items, as with one thread
        return result
    }

    /// Parses one item of a batch, checks its claimed id, and computes its index keys.
    fileprivate static func prepared(_ w: ItemWrite) -> Result<PreparedItem, StoreError> {
        Result { () throws(StoreError) -> PreparedItem in Self.prepared(try validatedItem(w)) }
    }

    private static func prepared(_ e: DataItem) -> PreparedItem {
        var keys: [ID32] = []  // a repeated (name, value) indexes once; tags are few, a scan beats hashing
        keys.reserveCapacity(e.tags.count)
        for t in e.tags { let k = ID32(bytes: IndexKey.tag(name: t.name, value: t.value))!; if !keys.contains(k) { keys.append(k) } }
        return PreparedItem(id: e.id, target: e.target, owner: e.ownerAddress.raw, tagKeys: keys)
    }

    /// Writes `batch` in `t`; `prepared(i)` is item i parsed (it may wait for a `PreparePipeline`, or throw the
    /// item's error). `validatingKeyValues`: check the key-value limits here, after the items (a pipelined batch
    /// could not check them before).
    private func apply(_ batch: WriteBatch, _ prepared: (Int) throws(StoreError) -> PreparedItem, _ t: Transaction,
                       validatingKeyValues: Bool = false) throws(StoreError) -> WriteReceipt {
        try lmdb { () throws -> WriteReceipt in
            let first = try t.get(meta, Keys.nextSequence).map { SequenceKey.value($0) } ?? 1
            var next = first
            var bytesTotal = try t.get(meta, Keys.itemBytes).map { SequenceKey.value($0) } ?? 0
            var outcomes: [ItemWriteOutcome] = []
            let n = batch.items.count
            outcomes.reserveCapacity(n)
            var storedIDs: [ID32] = [], storedRaws: [[UInt8]] = []
            storedIDs.reserveCapacity(n); storedRaws.reserveCapacity(n)
            var owners = IndexAppends(), targets = IndexAppends(), tags = IndexAppends()
            for i in 0..<n {
                let p = try prepared(i)
                let raw = batch.items[i].bytes
                let exists = try claim(t, p.id.raw, next, batchFirst: first, batchIDs: storedIDs)
                if exists { outcomes.append(.alreadyStored(p.id)); continue }
                owners.add(p.owner, next)
                if let target = p.target { targets.add(target, next) }
                for k in p.tagKeys { tags.add(k, next) }
                storedIDs.append(p.id.raw); storedRaws.append(raw)
                next += 1
                bytesTotal += UInt64(raw.count)
                outcomes.append(.stored(p.id))
            }
            if validatingKeyValues { try validateKeyValues(batch.keyValues) }
            try owners.write(t, owner)
            try targets.write(t, target)
            try tags.write(t, tag)
            try writeSegments(t, first: first, ids: storedIDs, raws: storedRaws)
            try t.put(meta, Keys.nextSequence, SequenceKey.bytes(next))
            try t.put(meta, Keys.itemBytes, SequenceKey.bytes(bytesTotal))
            for e in batch.assignments {
                let value = e.assignmentID.bytes + e.messageID.bytes
                if let old = try t.put(log, Self.slotKey(e.process, e.slot), value, flags: MDB_NOOVERWRITE), !old.elementsEqual(value) {
                    throw ConflictError(detail: "slot \(e.slot) of \(e.process) already holds assignment \(Base64URL.encode(Array(old.prefix(32))))")
                }
            }
            for c in batch.checkpoints { try t.put(checkpoint, Self.slotKey(c.process, c.slot), c.bytes) }
            for r in batch.results { try t.put(result, Self.slotKey(r.process, r.slot), r.bytes) }
            for w in batch.keyValues {
                switch w {
                case .put(let ns, let key, let value): try t.put(kv, Self.kvKey(ns, key), value)
                case .delete(let ns, let key): try t.delete(kv, Self.kvKey(ns, key))
                case .deleteRange(let ns, let from, let to):
                    let lo = Self.kvKey(ns, from), hi = to.map { Self.kvKey(ns, $0) }
                    let prefix = Array(ns.utf8) + [0]
                    let c = try t.cursor(kv); defer { c.close() }
                    var at = try c.get(MDB_SET_RANGE, key: lo)
                    while let (k, _) = at, k.starts(with: prefix), hi.map({ k.lexicographicallyPrecedes($0) }) ?? true {
                        try c.deleteCurrent()
                        at = try c.get(MDB_GET_CURRENT)
                        if at == nil { break }
                    }
                }
            }
            return WriteReceipt(items: outcomes)
        }
    }

    /// Records `seq` for `id` in `ids` unless the id is already stored; true when it was (nothing written then).
    /// The common case is one descent: a new 8-byte prefix (MDB_NOOVERWRITE). A known prefix means the same item
    /// or, rarely, another id sharing the prefix: each sequence under it is checked against its full id, read from
    /// the body segments (earlier transactions) or from this batch's ids (sequences from `batchFirst`).
    private func claim(_ t: Transaction, _ id: ID32, _ seq: UInt64, batchFirst: UInt64, batchIDs: [ID32]) throws(LMDBError) -> Bool {
        var prefix = id.a.bigEndian, seqBE = seq.bigEndian
        return try withUnsafeMutableBytes(of: &prefix) { (p) throws(LMDBError) -> Bool in
            try withUnsafeMutableBytes(of: &seqBE) { (s) throws(LMDBError) -> Bool in
                var k = MDB_val(mv_size: 8, mv_data: p.baseAddress), v = MDB_val(mv_size: 8, mv_data: s.baseAddress)
                let rc = mdb_put(t.handle, items.raw, &k, &v, UInt32(MDB_NOOVERWRITE))
                if rc == 0 { return false }
                guard rc == MDB_KEYEXIST else { throw LMDBError(code: rc) }
                if try sequence(of: id, t, batchFirst: batchFirst, batchIDs: batchIDs) != nil { return true }
                // Another id with the same prefix: add this sequence as the prefix's last duplicate.
                k = MDB_val(mv_size: 8, mv_data: p.baseAddress); v = MDB_val(mv_size: 8, mv_data: s.baseAddress)
                try lmdbCheck(mdb_put(t.handle, items.raw, &k, &v, UInt32(MDB_APPENDDUP)))
                return false
            }
        }
    }

    /// The sequence of item `id`, or nil: the sequences under its 8-byte prefix in `ids`, each confirmed by the id
    /// stored with its body. In a write transaction, sequences from `batchFirst` are this batch's (`batchIDs`), not
    /// yet in a segment.
    func sequence(of id: ID32, _ t: Transaction, batchFirst: UInt64 = .max, batchIDs: [ID32] = []) throws(LMDBError) -> UInt64? {
        var segments = try SegmentReader(t, sequence); defer { segments.close() }
        return try sequence(of: id, t, &segments, batchFirst: batchFirst, batchIDs: batchIDs)
    }

    func sequence(of id: ID32, _ t: Transaction, _ segments: inout SegmentReader, batchFirst: UInt64 = .max,
                  batchIDs: [ID32] = []) throws(LMDBError) -> UInt64? {
        func matches(_ seq: UInt64, _ segments: inout SegmentReader) throws(LMDBError) -> Bool {
            if seq >= batchFirst {
                guard seq - batchFirst < UInt64(batchIDs.count) else { throw LMDBError(code: MDB_CORRUPTED) }
                return batchIDs[Int(seq - batchFirst)] == id
            }
            guard let entry = try segments.entry(seq) else { throw LMDBError(code: MDB_CORRUPTED) }  // index names a missing body
            // A get copies the entry next (shim.h). Only its first pages: past them the hardware prefetcher keeps up
            // with the copy, and `hasItem` or a duplicate check of a large item reads nothing but the id.
            aonode_prefetch(entry.baseAddress, min(entry.count, 4096))
            return entry.count >= 32 && entry.bigEndian64(at: 0) == id.a && entry.bigEndian64(at: 8) == id.b
                && entry.bigEndian64(at: 16) == id.c && entry.bigEndian64(at: 24) == id.d
        }
        var prefix = id.a.bigEndian
        return try withUnsafeMutableBytes(of: &prefix) { (p) throws(LMDBError) -> UInt64? in
            var k = MDB_val(mv_size: 8, mv_data: p.baseAddress)
            guard let first = try t.get(items, raw: &k) else { return nil }
            guard first.count == 8 else { throw LMDBError(code: MDB_CORRUPTED) }
            if try matches(first.bigEndian64(at: 0), &segments) { return first.bigEndian64(at: 0) }
            // Rare: ids sharing the prefix. Walk the prefix's other sequences.
            let c = try t.cursor(items); defer { c.close() }
            k = MDB_val(mv_size: 8, mv_data: p.baseAddress)
            var at = try c.get(MDB_SET, raw: &k)
            if at != nil { at = try c.get(MDB_NEXT_DUP) }
            while let (_, v) = at {
                guard v.count == 8 else { throw LMDBError(code: MDB_CORRUPTED) }
                if try matches(v.bigEndian64(at: 0), &segments) { return v.bigEndian64(at: 0) }
                at = try c.get(MDB_NEXT_DUP)
            }
            return nil
        }
    }

    /// Appends the bodies of the items stored by this transaction (sequences `first...`) as segments of at most
    /// `BodySegment.segmentBytesMax` bytes: MDB_APPEND with MDB_RESERVE, each filled in place before the next write.
    private func writeSegments(_ t: Transaction, first: UInt64, ids: [ID32], raws: [[UInt8]]) throws(LMDBError) {
        var lo = 0
        while lo < ids.count {
            var hi = lo + 1, bytes = 32 + raws[lo].count
            while hi < ids.count, bytes + 32 + raws[hi].count <= BodySegment.segmentBytesMax { bytes += 32 + raws[hi].count; hi += 1 }
            let size = BodySegment.size(count: hi - lo, entryBytes: bytes)
            let slot = try t.reserve(sequence, SequenceKey.bytes(first + UInt64(lo)), count: size, flags: MDB_APPEND)
            BodySegment.fill(slot, ids: Array(ids[lo..<hi]), raws: Array(raws[lo..<hi]))
            lo = hi
        }
    }

    /// Runs `body` in the one write transaction, commits (with sync), and grows the map and retries on MDB_MAP_FULL.
    private func writeTransaction<R>(_ body: (Transaction) throws(StoreError) -> R) throws(StoreError) -> R {
        writerLock.lock(); defer { writerLock.unlock() }
        guard !closed else { throw .closed("store \(directory) is closed") }
        while true {
            let t: Transaction
            do { t = try env.beginWrite() } catch {
                if error.code == LMDBError.mapResized { try adoptForeignMapSize(); continue }
                throw Self.mapError(error, "begin write")
            }
            var result: R?
            do { result = try body(t) } catch {
                t.abort()
                guard error.isSameKind(as: .mapFull("")) else { throw error }
            }
            if let result {
                do { try t.commit(); return result } catch {   // commit frees the transaction, also on failure
                    guard error.code == LMDBError.mapFull else { throw Self.mapError(error, "commit") }
                }
            }
            try grow()
        }
    }

    /// Doubles the map (bounded by `mapBytesMax`). Waits for in-flight readers; the writer lock is already held.
    private func grow() throws(StoreError) {
        let size = env.info.me_mapsize
        guard options.growthAllowed, size < options.mapBytesMax else {
            throw .mapFull("map of \(size) bytes is full in \(directory) (growth \(options.growthAllowed ? "reached mapBytesMax \(options.mapBytesMax)" : "disabled")); nothing of the batch was written")
        }
        let newSize = min(size * 2, options.mapBytesMax)
        pthread_rwlock_wrlock(mapLock); defer { pthread_rwlock_unlock(mapLock) }
        poolLock.lock(); for r in readPool { r.abort() }; readPool = []; poolLock.unlock()
        do { try env.setMapSize(newSize) } catch { throw Self.mapError(error, "grow map to \(newSize)") }
    }

    /// Another process grew the map: adopt its size (mdb_env_set_mapsize(0)) with no transaction active here.
    private func adoptForeignMapSize() throws(StoreError) {
        pthread_rwlock_wrlock(mapLock); defer { pthread_rwlock_unlock(mapLock) }
        poolLock.lock(); for r in readPool { r.abort() }; readPool = []; poolLock.unlock()
        do { try env.setMapSize(0) } catch { throw Self.mapError(error, "adopt map size") }
    }

    // MARK: - Reads

    /// A read transaction kept between reads (reset, then renewed), with a cursor on `body` kept with it
    /// (mdb_cursor_renew): a get by id needs that cursor, and opening one costs a malloc and a free per get.
    struct PooledRead {
        let txn: Transaction
        let body: Cursor
        /// Closes the cursor, then ends the transaction (read cursors may be closed after their transaction resets).
        func abort() { body.close(); txn.abort() }
    }

    /// Runs `body` in a short read transaction from the pool. Never waits for the writer.
    func read<R>(_ body: (Transaction) throws(StoreError) -> R) throws(StoreError) -> R {
        try pooledRead { (r: PooledRead) throws(StoreError) in try body(r.txn) }
    }

    /// `read`, with the pooled cursor on `body` renewed for this transaction.
    func pooledRead<R>(_ body: (PooledRead) throws(StoreError) -> R) throws(StoreError) -> R {
        while true {
            pthread_rwlock_rdlock(mapLock)
            if closed { pthread_rwlock_unlock(mapLock); throw .closed("store \(directory) is closed") }
            poolLock.lock()
            let pooled = readPool.popLast()
            poolLock.unlock()
            var read: PooledRead
            do throws(LMDBError) {
                if let pooled {
                    read = pooled
                    try read.txn.renew()
                    try lmdbCheck(mdb_cursor_renew(read.txn.handle, read.body.handle))
                } else {
                    let txn = try env.beginRead()
                    do throws(LMDBError) { read = PooledRead(txn: txn, body: try txn.cursor(sequence)) } catch { txn.abort(); throw error }
                }
            } catch {
                if let pooled { pooled.abort() }
                pthread_rwlock_unlock(mapLock)
                if error.code == LMDBError.mapResized { try adoptForeignMapSize(); continue }
                throw Self.mapError(error, "begin read")
            }
            defer {
                read.txn.reset()
                poolLock.lock()
                if readPool.count < Self.readPoolCountMax { readPool.append(read) } else { read.abort() }
                poolLock.unlock()
                pthread_rwlock_unlock(mapLock)
            }
            return try body(read)
        }
    }

    public func itemBytes(_ id: MessageID) throws(StoreError) -> [UInt8]? {
        try pooledRead { (r: PooledRead) throws(StoreError) in
            try lmdb { () throws(LMDBError) in
                var segments = SegmentReader(borrowing: r.body)
                return try body(r.txn, &segments, id.raw)
            }
        }
    }

    public func item(_ id: MessageID) throws(StoreError) -> DataItem? {
        guard let bytes = try itemBytes(id) else { return nil }
        return try parseItem(bytes)
    }

    /// The raw bytes of item `id`: its sequence from `ids`, then its entry (id | bytes) in its `body` segment.
    private func body(_ t: Transaction, _ segments: inout SegmentReader, _ id: ID32) throws(LMDBError) -> [UInt8]? {
        guard let seq = try sequence(of: id, t, &segments), let entry = try segments.entry(seq) else { return nil }
        return [UInt8](unsafeUninitializedCapacity: entry.count - 32) { out, n in
            out.baseAddress!.initialize(from: entry.baseAddress!.assumingMemoryBound(to: UInt8.self) + 32, count: entry.count - 32)
            n = entry.count - 32
        }
    }

    public func hasItem(_ id: MessageID) throws(StoreError) -> Bool {
        try read { (t: Transaction) throws(StoreError) in try lmdb { () throws(LMDBError) in try sequence(of: id.raw, t) != nil } }
    }

    /// Reads many items in one snapshot (one read transaction): cheaper per item than `itemBytes`.
    public func itemBytes(_ ids: [MessageID]) throws(StoreError) -> [[UInt8]?] {
        try pooledRead { (r: PooledRead) throws(StoreError) in
            try lmdb { () throws(LMDBError) in
                let t = r.txn
                var segments = SegmentReader(borrowing: r.body)
                var out: [[UInt8]?] = []
                out.reserveCapacity(ids.count)
                for id in ids { out.append(try body(t, &segments, id.raw)) }
                return out
            }
        }
    }

    public func transactions(_ query: TransactionQuery) throws(StoreError) -> TransactionPage {
        try query.validate()
        return try read { (t: Transaction) throws(StoreError) in
            try lmdb { () throws in try QueryPlan(store: self, query: query, txn: t).run() }
        }
    }

    public func assignment(process: ProcessID, slot: UInt64) throws(StoreError) -> ProcessLogEntry? {
        let key = Self.slotKey(process, slot)
        return try read { (t: Transaction) throws(StoreError) in
            try lmdb { () throws(LMDBError) in try t.get(log, key).map { Self.logEntry(process, slot, $0) } }
        }
    }

    public func processLog(process: ProcessID, from: UInt64, through: UInt64, limit: Int) throws(StoreError) -> [ProcessLogEntry] {
        let limit = try checkedLimit(limit)
        return try scanSlots(log, process, from: from, through: through, limit: limit).map { Self.logEntry(process, $0.0, $0.1[...]) }
    }

    public func latestSlot(process: ProcessID) throws(StoreError) -> UInt64? {
        try lastSlot(log, process, atOrBefore: .max) { _ in () }?.0
    }

    public func checkpoint(process: ProcessID, slot: UInt64) throws(StoreError) -> [UInt8]? {
        let key = Self.slotKey(process, slot)
        return try read { (t: Transaction) throws(StoreError) in try lmdb { () throws(LMDBError) in try t.get(checkpoint, key).map { Array($0) } } }
    }

    public func latestCheckpoint(process: ProcessID, atOrBefore slot: UInt64) throws(StoreError) -> SlotBlob? {
        try lastSlot(checkpoint, process, atOrBefore: slot) { Array($0) }.map { SlotBlob(process: process, slot: $0.0, bytes: $0.1) }
    }

    public func latestCheckpointSlot(process: ProcessID, atOrBefore slot: UInt64) throws(StoreError) -> UInt64? {
        try lastSlot(checkpoint, process, atOrBefore: slot) { _ in () }?.0
    }

    public func result(process: ProcessID, slot: UInt64) throws(StoreError) -> [UInt8]? {
        let key = Self.slotKey(process, slot)
        return try read { (t: Transaction) throws(StoreError) in try lmdb { () throws(LMDBError) in try t.get(result, key).map { Array($0) } } }
    }

    public func value(namespace: String, key: [UInt8]) throws(StoreError) -> [UInt8]? {
        let k = try IndexKey.keyValue(namespace: namespace, key: key)
        return try read { (t: Transaction) throws(StoreError) in try lmdb { () throws(LMDBError) in try t.get(kv, k).map { Array($0) } } }
    }

    public func values(namespace: String, from: [UInt8], limit: Int) throws(StoreError) -> [KeyValue] {
        let limit = try checkedLimit(limit)
        let lo = try IndexKey.keyValue(namespace: namespace, key: from)
        let prefix = try IndexKey.namespaceBytes(namespace) + [0]
        return try read { (t: Transaction) throws(StoreError) in
            try lmdb { () throws(LMDBError) in
                let c = try t.cursor(kv); defer { c.close() }
                var out: [KeyValue] = []
                var at = try c.get(MDB_SET_RANGE, key: lo)
                while let (k, v) = at, k.starts(with: prefix), out.count < limit {
                    out.append(KeyValue(key: Array(k[prefix.count...]), value: Array(v)))
                    at = try c.get(MDB_NEXT)
                }
                return out
            }
        }
    }

    public func statistics() throws(StoreError) -> StoreStatistics {
        try read { (t: Transaction) throws(StoreError) in
            try lmdb { () throws(LMDBError) in
                var s = StoreStatistics()
                s.itemCount = t.entryCount(items)
                s.itemBytes = Int(try t.get(meta, Keys.itemBytes).map { SequenceKey.value($0) } ?? 0)
                s.processLogEntryCount = t.entryCount(log)
                s.checkpointCount = t.entryCount(checkpoint)
                s.resultCount = t.entryCount(result)
                s.keyValueCount = t.entryCount(kv)
                let info = env.info
                s.mapBytesUsed = (info.me_last_pgno + 1) * env.pageBytes
                s.mapBytesSize = info.me_mapsize
                s.formatVersion = try t.get(meta, Keys.formatVersion).map { UInt32(SequenceKey.value($0)) } ?? 0
                return s
            }
        }
    }

    /// Per table: B-tree depth, branch, leaf and overflow pages, entries (mdb_stat). For benchmarks and diagnosis.
    package func tableStatistics() throws(StoreError) -> [(table: String, depth: Int, branchPages: Int, leafPages: Int, overflowPages: Int, entries: Int)] {
        try read { (t: Transaction) throws(StoreError) in
            tables.sorted { $0.key < $1.key }.map { (name, dbi) in
                var s = MDB_stat()
                _ = mdb_stat(t.handle, dbi.raw, &s)
                return (name, Int(s.ms_depth), Int(s.ms_branch_pages), Int(s.ms_leaf_pages), Int(s.ms_overflow_pages), Int(s.ms_entries))
            }
        }
    }

    /// Writes a consistent, compacted copy of the live store into `directory` (which must exist and hold no
    /// data.mdb): LMDB's mdb_env_copy2 with MDB_CP_COMPACT, in one read transaction, while writes continue.
    public func backup(toDirectory target: String) throws(StoreError) {
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: target, isDirectory: &isDir) {
            do { try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true) } catch {
                throw .permissionDenied("cannot create backup directory \(target): \(error.localizedDescription)")
            }
        } else if !isDir.boolValue {
            throw .io("backup target \(target) is not a directory")
        }
        guard !FileManager.default.fileExists(atPath: target + "/data.mdb") else {
            throw .io("backup target \(target) already holds a data.mdb; choose an empty directory")
        }
        pthread_rwlock_rdlock(mapLock); defer { pthread_rwlock_unlock(mapLock) }
        guard !closed else { throw .closed("store \(directory) is closed") }
        do { try env.copyCompacted(to: target) } catch { throw Self.mapError(error, "backup to \(target)") }
    }

    // MARK: - Slot tables

    private func scanSlots(_ dbi: DBI, _ process: ProcessID, from: UInt64, through: UInt64, limit: Int) throws(StoreError) -> [(UInt64, [UInt8])] {
        let lo = Self.slotKey(process, from), p = process.bytes
        return try read { (t: Transaction) throws(StoreError) in
            try lmdb { () throws(LMDBError) in
                let c = try t.cursor(dbi); defer { c.close() }
                var out: [(UInt64, [UInt8])] = []
                var at = try c.get(MDB_SET_RANGE, key: lo)
                while let (k, v) = at, k.count == 40, k.starts(with: p), out.count < limit {
                    let slot = SequenceKey.value(k[32...])
                    if slot > through { break }
                    out.append((slot, Array(v)))
                    at = try c.get(MDB_NEXT)
                }
                return out
            }
        }
    }

    /// The last entry of `process` in `dbi` at or before `slot`; `value` reads what the caller needs of its value
    /// (inside the read transaction, so a caller that wants only the slot copies nothing).
    private func lastSlot<V>(_ dbi: DBI, _ process: ProcessID, atOrBefore slot: UInt64,
                             value: (UnsafeRawBufferPointer) -> V) throws(StoreError) -> (UInt64, V)? {
        let p = process.bytes
        return try read { (t: Transaction) throws(StoreError) in
            try lmdb { () throws(LMDBError) in
                let c = try t.cursor(dbi); defer { c.close() }
                // Position just past (process, slot), then step back one entry.
                var at: (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)?
                if slot == .max {
                    let next = Self.successor(p)
                    at = try next.map { (n) throws(LMDBError) in try c.get(MDB_SET_RANGE, key: n) } ?? nil
                } else {
                    at = try c.get(MDB_SET_RANGE, key: Self.slotKey(process, slot + 1))
                }
                at = try at == nil ? c.get(MDB_LAST) : c.get(MDB_PREV)
                guard let (k, v) = at, k.count == 40, k.starts(with: p) else { return nil }
                return (SequenceKey.value(k[32...]), value(v))
            }
        }
    }

    /// The smallest 32-byte key greater than every key starting with `p`, or nil when `p` is all 0xff.
    static func successor(_ p: [UInt8]) -> [UInt8]? {
        var s = p
        var i = s.count - 1
        while i >= 0 { if s[i] == 0xff { s[i] = 0; i -= 1 } else { s[i] += 1; return s } }
        return nil
    }

    // MARK: - Helpers

    static func slotKey(_ p: ProcessID, _ slot: UInt64) -> [UInt8] { p.bytes + SequenceKey.bytes(slot) }
    static func kvKey(_ ns: String, _ key: [UInt8]) -> [UInt8] { Array(ns.utf8) + [0] + key }
    static func u32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }
    static func logEntry<C: Collection>(_ p: ProcessID, _ slot: UInt64, _ v: C) -> ProcessLogEntry where C.Element == UInt8, C.Index == Int {
        let b = Array(v)
        return ProcessLogEntry(process: p, slot: slot, assignmentID: MessageID(bytes: b[0..<32])!, messageID: MessageID(bytes: b[32..<64])!)
    }

    enum Keys {
        static let formatVersion = Array("format-version".utf8)
        static let nextSequence = Array("next-sequence".utf8)
        static let itemBytes = Array("item-bytes".utf8)
    }

    // Internal table handles for the query planner.
    var itemsDBI: DBI { items }
    var sequenceDBI: DBI { sequence }
    var ownerDBI: DBI { owner }
    var targetDBI: DBI { target }
    var tagDBI: DBI { tag }

    /// Runs LMDB calls, translating their errors (and a slot conflict) to `StoreError`.
    func lmdb<R>(_ body: () throws -> R) throws(StoreError) -> R {
        do { return try body() } catch let e as ConflictError { throw .conflict(e.detail) } catch let e as StoreError {
            throw e
        } catch { throw Self.mapError(error, directory) }
    }

    static func mapError(_ error: Error, _ context: String) -> StoreError {
        if let e = error as? StoreError { return e }
        guard let e = error as? LMDBError else { return .io("\(context): \(error)") }
        switch e.code {
        case MDB_MAP_FULL: return .mapFull("\(context): \(e.message)")
        case MDB_INVALID, MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_VERSION_MISMATCH, MDB_BAD_TXN:
            return .corrupt("\(context): \(e.message); the data file is damaged or not an LMDB file (restore from a backup)")
        default: return errnoError(e.code, context)
        }
    }

    static func errnoError(_ code: Int32, _ context: String) -> StoreError {
        let text = String(cString: strerror(code))
        switch code {
        case EACCES, EPERM, EROFS: return .permissionDenied("\(context): \(text) (is the data directory writable?)")
        case ENOSPC, EDQUOT: return .diskFull("\(context): \(text)")
        default: return .io("\(context): \(String(cString: mdb_strerror(code)))")
        }
    }

    /// Refuses a data file too short to hold LMDB's two meta pages, or whose meta pages claim more pages than the
    /// file has: LMDB would map past the end and the process would die of SIGBUS on the first read.
    static func checkDataFile(_ directory: String) throws(StoreError) {
        let path = directory + "/data.mdb"
        var st = stat()
        guard stat(path, &st) == 0 else { return }   // a new store
        let size = Int(st.st_size)
        if size == 0 { return }
        guard size >= 2 * 4096 else { throw .corrupt("\(path) is truncated (\(size) bytes, less than LMDB's two meta pages)") }
    }

    static func checkTruncation(_ env: Environment, _ directory: String) throws(StoreError) {
        let path = directory + "/data.mdb"
        var st = stat()
        guard stat(path, &st) == 0 else { return }
        let needed = (env.info.me_last_pgno + 1) * env.pageBytes
        guard Int(st.st_size) >= needed else {
            throw .corrupt("\(path) is truncated: \(st.st_size) bytes, its meta page needs \(needed) (restore from a backup)")
        }
    }
}

struct ConflictError: Error { let detail: String }

/// The process-wide registry of open environments, keyed by the directory's (device, inode): lmdb.h forbids opening
/// the same environment twice in one process, whatever path spells it.
struct RegistryKey: Hashable { let device: UInt64; let inode: UInt64 }
enum EnvironmentRegistry {
    nonisolated(unsafe) private static var open = Set<RegistryKey>()
    private static let lock = NSLock()
    static func claim(_ key: RegistryKey, _ path: String) throws(StoreError) {
        lock.lock(); defer { lock.unlock() }
        guard open.insert(key).inserted else {
            throw .alreadyOpen("the store in \(path) is already open in this process; share that instance")
        }
    }
    static func release(_ key: RegistryKey) { lock.lock(); open.remove(key); lock.unlock() }
}

/// Parses a large batch's items on a background thread, chunk by chunk and in order, for `LMDBContentStore.apply`
/// to take as they are ready. Results stay until `finish()`, so a transaction retried after the map grew reads them
/// again without parsing twice.
final class PreparePipeline: @unchecked Sendable {
    static let chunkItemCount = 4096
    fileprivate typealias Prepared = Result<LMDBContentStore.PreparedItem, StoreError>

    private let count: Int
    private let out: UnsafeMutableBufferPointer<Prepared?>
    private let chunkReady = DispatchSemaphore(value: 0)  // signalled once per finished chunk
    private let done = DispatchSemaphore(value: 0)
    private let stopLock = NSLock()
    private var stopped = false       // under stopLock: the writer gave up; the parser stops at its next chunk
    private var readyCount = 0        // the consumer's own: items it has seen signalled as ready

    fileprivate init(items: [ItemWrite], prepare: @escaping @Sendable (ItemWrite) -> Prepared) {
        count = items.count
        out = .allocate(capacity: items.count)
        out.initialize(repeating: nil)
        Thread.detachNewThread { [self] in
            for start in stride(from: 0, to: count, by: Self.chunkItemCount) {
                if stopLock.withLock({ stopped }) { break }
                for i in start..<min(start + Self.chunkItemCount, count) { self.out[i] = prepare(items[i]) }
                chunkReady.signal()
            }
            done.signal()
        }
    }

    /// Item `i` parsed, waiting for its chunk; throws the item's error.
    fileprivate func item(_ i: Int) throws(StoreError) -> LMDBContentStore.PreparedItem {
        while i >= readyCount {
            chunkReady.wait()
            readyCount = min(readyCount + Self.chunkItemCount, count)
        }
        return try out[i]!.get()
    }

    /// Stops the parser (if it is still running), waits for it, and frees the results. Call exactly once.
    func finish() {
        stopLock.withLock { stopped = true }
        done.wait()
        _ = out.deinitialize()
        out.deallocate()
    }
}
