import AOCore
import AOStore
@testable import AOStoreLMDB
import CLMDB
import Foundation
import Testing

/// What only the LMDB store has: persistence, the open registry, the map, the format version, damaged files.
@Suite("LMDB store")
struct LMDBStoreTests {
    let dir = temporaryDirectory("lmdb")

    func cleanup() { try? FileManager.default.removeItem(atPath: dir) }

    @Test func persistsAcrossReopen() throws {
        defer { cleanup() }
        let items = (0..<10).map { Fixture.item(tags: [Tag("K", "\($0 % 2)")], data: "persist \($0)") }
        do {
            let store = try LMDBContentStore(directory: dir)
            try store.put(items)
            try store.write(WriteBatch(assignments: [ProcessLogEntry(process: Fixture.process(1), slot: 4, assignmentID: items[0].id, messageID: items[1].id)]))
            store.close()
        }
        let store = try LMDBContentStore(directory: dir); defer { store.close() }
        #expect(try store.itemBytes(items[7].id) == items[7].serialized())
        #expect(try store.latestSlot(process: Fixture.process(1)) == 4)
        #expect(try store.transactions(TransactionQuery(tags: [TagFilter("K", ["1"])])).ids == items.enumerated().filter { $0.offset % 2 == 1 }.map(\.element.id).reversed())
        // The sequence continues after a reopen: a new item pages as the newest.
        let late = Fixture.item(data: "after reopen")
        try store.put([late])
        #expect(try store.transactions(TransactionQuery(first: 1)).ids == [late.id])
        #expect(try store.statistics().formatVersion == LMDBContentStore.currentFormatVersion)
    }

    @Test func refusesASecondOpenInTheSameProcess() throws {
        defer { cleanup() }
        let store = try LMDBContentStore(directory: dir)
        #expect(throws: StoreError.alreadyOpen("")) { try LMDBContentStore(directory: dir) }
        #expect(throws: StoreError.alreadyOpen("")) { try LMDBContentStore(directory: dir + "/./") }  // another spelling
        store.close()
        #expect(throws: StoreError.closed("")) { try store.hasItem(Fixture.message(1)) }
        let again = try LMDBContentStore(directory: dir)  // released on close
        again.close()
    }

    @Test func fullMapIsATypedErrorWhenGrowthIsOff() throws {
        defer { cleanup() }
        var options = LMDBStoreOptions()
        options.mapBytesInitial = 256 << 10
        options.growthAllowed = false
        let store = try LMDBContentStore(directory: dir, options: options); defer { store.close() }
        var stored: [DataItem] = []
        var failure: StoreError?
        for n in 0..<100 {
            let batch = (0..<10).map { Fixture.item(data: String(repeating: "x", count: 2000) + "\(n)-\($0)") }
            do { try store.put(batch); stored += batch } catch let e as StoreError { failure = e; break }
        }
        #expect(failure == .mapFull(""))
        #expect(!stored.isEmpty)
        // Everything committed before stays readable, and the store keeps working for reads.
        for i in stored { #expect(try store.hasItem(i.id)) }
        #expect(try store.statistics().itemCount == stored.count)
    }

    @Test func mapGrowsOnItsOwnWhileReadersRead() throws {
        defer { cleanup() }
        var options = LMDBStoreOptions()
        options.mapBytesInitial = 128 << 10
        let store = try LMDBContentStore(directory: dir, options: options); defer { store.close() }
        let first = Fixture.item(data: "first")
        try store.put([first])
        let shared = ReaderState()
        let done = DispatchSemaphore(value: 0)
        Thread {
            while !shared.stop { if (try? store.itemBytes(first.id)) != first.serialized() { shared.errors += 1 }; shared.reads += 1 }
            done.signal()
        }.start()
        for n in 0..<40 { try store.put((0..<25).map { Fixture.item(data: String(repeating: "g", count: 1500) + "\(n)/\($0)") }) }
        shared.stop = true
        done.wait()
        #expect(shared.errors == 0)
        #expect(shared.reads > 0)
        let stats = try store.statistics()
        #expect(stats.itemCount == 1001)
        #expect(stats.mapBytesSize > 128 << 10)
        #expect(stats.mapBytesUsed <= stats.mapBytesSize)
    }

    @Test func newerFormatIsRefusedOlderIsMigratedExplicitly() throws {
        defer { cleanup() }
        let item = Fixture.item(data: "current")
        let current = LMDBContentStore.currentFormatVersion
        do { let s = try LMDBContentStore(directory: dir); try s.put([item]); s.close() }  // the current format

        var next = LMDBStoreOptions()
        next.formatVersion = current + 1
        next.migrations = [current: StoreMigration { t throws(StoreError) in
            try t.put(table: "kv", key: Array("test".utf8) + [0] + Array("migrated".utf8), value: [1])
        }]
        #expect(throws: StoreError.migrationRequired("")) { try LMDBContentStore(directory: dir, options: next) }
        next.migrateOlderFormat = true
        do {
            let s = try LMDBContentStore(directory: dir, options: next)
            #expect(try s.statistics().formatVersion == current + 1)
            #expect(try s.value(namespace: "test", key: Array("migrated".utf8)) == [1])
            #expect(try s.hasItem(item.id))
            #expect(try s.itemBytes(item.id) == item.serialized())
            s.close()
        }
        // Now a newer format is on disk: this build must refuse it rather than misread it.
        #expect(throws: StoreError.formatTooNew("")) { try LMDBContentStore(directory: dir) }
    }

    /// Format 1 kept one `body` row per item; the registered migration packs them into segments and rebuilds `ids`
    /// from them. The format-1 rows are written raw (as the format-1 writer did; its `items` table is not reachable
    /// through format 2's table map, and the migration drops it when present) inside the migration transaction, then
    /// the real migration runs. A real format-1 store is checked with `aonode-store-tool check DIR --migrate`.
    @Test func format1BodiesAreMigratedToSegments() throws {
        defer { cleanup() }
        // 1,100 items of ~1 KiB: the migration must cut them into two segments (1 MiB each at most).
        let key = Fixture.key(3)
        let items = (0..<1100).map { n in
            Fixture.item(key: key, tags: [DataItemTag("Half", "\(n % 2)")], data: String(repeating: "\(n % 10)", count: 900) + "\(n)")
        }
        var v1 = LMDBStoreOptions()
        v1.formatVersion = 1
        do { let s = try LMDBContentStore(directory: dir, options: v1); s.close() }   // an empty format-1 store

        var migrate = LMDBStoreOptions()
        migrate.migrateOlderFormat = true
        let realMigration = try #require(LMDBContentStore.migrations[1])
        migrate.migrations = [1: StoreMigration { t throws(StoreError) in
            var bytes: UInt64 = 0
            for (i, item) in items.enumerated() {
                let seq = SequenceKey.bytes(UInt64(i + 1)), raw = item.serialized()
                try t.put(table: "body", key: seq, value: item.id.bytes + raw)
                try t.put(table: "owner", key: item.ownerAddress.bytes, value: seq)
                for tag in item.tags { try t.put(table: "tag", key: IndexKey.tag(name: tag.name, value: tag.value), value: seq) }
                bytes += UInt64(raw.count)
            }
            try t.put(table: "meta", key: Array("next-sequence".utf8), value: SequenceKey.bytes(UInt64(items.count + 1)))
            try t.put(table: "meta", key: Array("item-bytes".utf8), value: SequenceKey.bytes(bytes))
            try realMigration.apply(t)
        }]
        #expect(throws: StoreError.migrationRequired("")) { try LMDBContentStore(directory: dir) }
        let store = try LMDBContentStore(directory: dir, options: migrate); defer { store.close() }
        #expect(try store.statistics().formatVersion == 2)
        #expect(try store.statistics().itemCount == items.count)
        for item in items { #expect(try store.itemBytes(item.id) == item.serialized()) }
        #expect(try store.itemBytes(items.map(\.id)) == items.map { $0.serialized() })
        // The unfiltered query walks the sequences through both segments, in both orders.
        #expect(try allPages(store, TransactionQuery(first: 100, order: .oldestFirst)) == items.map(\.id))
        #expect(try allPages(store, TransactionQuery(first: 100)) == items.map(\.id).reversed())
        #expect(try allPages(store, TransactionQuery(tags: [TagFilter("Half", ["1"])], first: 100, order: .oldestFirst))
                == items.enumerated().filter { $0.offset % 2 == 1 }.map(\.element.id))
        // Writing continues after the migrated items.
        let late = Fixture.item(key: key, data: "after migration")
        try store.put([late])
        #expect(try store.transactions(TransactionQuery(first: 2)).ids == [late.id, items.last!.id])
    }

    /// A batch larger than one segment, an item larger than a segment, and single puts all read back, and the
    /// unfiltered query pages across segment boundaries in both orders.
    @Test func bodiesSpanningSegmentsReadBack() throws {
        defer { cleanup() }
        let key = Fixture.key(4)
        let big = Fixture.item(key: key, data: String(repeating: "b", count: 1_200_000))
        let batch = (0..<1500).map { Fixture.item(key: key, data: String(repeating: "\($0 % 7)", count: 1000) + "\($0)") }
        let singles = (0..<5).map { Fixture.item(key: key, data: "single \($0)") }
        let all = batch + [big] + singles
        let store = try LMDBContentStore(directory: dir); defer { store.close() }
        try store.put(Array(batch[0..<700]) + [big] + Array(batch[700...]))
        for s in singles { try store.put([s]) }
        let order = Array(batch[0..<700]) + [big] + Array(batch[700...]) + singles
        #expect(Set(all.map(\.id)) == Set(order.map(\.id)))
        for item in order { #expect(try store.itemBytes(item.id) == item.serialized()) }
        #expect(try store.itemBytes(order.reversed().map(\.id)) == order.reversed().map { $0.serialized() })
        #expect(try allPages(store, TransactionQuery(first: 100, order: .oldestFirst)) == order.map(\.id))
        #expect(try allPages(store, TransactionQuery(first: 100)) == order.map(\.id).reversed())
        #expect(try store.statistics().itemBytes == order.reduce(0) { $0 + $1.serialized().count })
    }

    func allPages(_ store: LMDBContentStore, _ query: TransactionQuery) throws -> [MessageID] {
        var out: [MessageID] = [], q = query
        while true {
            let page = try store.transactions(q)
            out += page.ids
            guard page.hasNextPage, let last = page.edges.last else { return out }
            q.after = last.cursor
        }
    }

    /// The store's comparator (shim.h) must give LMDB's own default order, or a store written by one build would be
    /// misread by another. LMDB itself orders random keys of the lengths the store uses (and the awkward ones around
    /// them, prefixes included) with its default comparator; walking them back, each pair must compare as LMDB put them,
    /// and equal keys as equal.
    @Test func keyComparatorGivesLMDBsDefaultOrder() throws {
        defer { cleanup() }
        var env: OpaquePointer?
        #expect(mdb_env_create(&env) == 0)
        defer { mdb_env_close(env) }
        #expect(mdb_env_set_mapsize(env, 64 << 20) == 0)
        #expect(mdb_env_open(env, dir, 0, 0o600) == 0)
        var txn: OpaquePointer?
        #expect(mdb_txn_begin(env, nil, 0, &txn) == 0)
        defer { mdb_txn_abort(txn) }
        var dbi: MDB_dbi = 0
        #expect(mdb_dbi_open(txn, nil, 0, &dbi) == 0)   // the default comparator: no mdb_set_compare
        var rng = SplitMix64(seed: 42)
        let lengths = [1, 2, 7, 8, 9, 15, 16, 31, 32, 33, 40, 41]   // LMDB refuses empty keys
        var keys: [[UInt8]] = []
        for i in 0..<3000 {
            // Few byte values, so that keys often share long prefixes and one is often a prefix of another.
            var k = (0..<lengths[i % lengths.count]).map { _ in UInt8(truncatingIfNeeded: rng.next() % 3) &* 0x7f }
            if i % 5 == 0, let prior = keys.randomElement(using: &rng) { k = prior + k.prefix(Int(rng.next() % 3)) }
            keys.append(k)
        }
        for k in keys {
            var key = k, value: [UInt8] = [1]
            key.withUnsafeMutableBytes { kp in value.withUnsafeMutableBytes { vp in
                var mk = MDB_val(mv_size: kp.count, mv_data: kp.baseAddress), mv = MDB_val(mv_size: 1, mv_data: vp.baseAddress)
                #expect(mdb_put(txn, dbi, &mk, &mv, 0) == 0)
            } }
        }
        var cursor: OpaquePointer?
        #expect(mdb_cursor_open(txn, dbi, &cursor) == 0)
        defer { mdb_cursor_close(cursor) }
        var stored: [[UInt8]] = []
        var k = MDB_val(), v = MDB_val()
        var rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
        while rc == 0 {
            stored.append(Array(UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size)))
            rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
        }
        #expect(rc == MDB_NOTFOUND)
        #expect(stored.count == Set(keys).count)
        func compare(_ a: [UInt8], _ b: [UInt8]) -> Int32 {
            var a = a, b = b
            return a.withUnsafeMutableBytes { ap in b.withUnsafeMutableBytes { bp in
                var x = MDB_val(mv_size: ap.count, mv_data: ap.baseAddress), y = MDB_val(mv_size: bp.count, mv_data: bp.baseAddress)
                return aonode_compare_keys(&x, &y)
            } }
        }
        var misordered = 0
        for i in 1..<stored.count where compare(stored[i - 1], stored[i]) >= 0 || compare(stored[i], stored[i - 1]) <= 0 { misordered += 1 }
        for i in stride(from: 0, to: stored.count, by: 7) where compare(stored[i], stored[i]) != 0 { misordered += 1 }
        #expect(misordered == 0)
        // Far-apart pairs too, not only neighbours: the order is total.
        for _ in 0..<2000 {
            let i = Int(rng.next() % UInt64(stored.count)), j = Int(rng.next() % UInt64(stored.count))
            let c = compare(stored[i], stored[j])
            #expect(i < j ? c < 0 : i > j ? c > 0 : c == 0)
        }
    }

    @Test func garbageDataFileIsCorrupt() throws {
        defer { cleanup() }
        var rng = SplitMix64(seed: 5)
        let garbage = (0..<(64 << 10)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        #expect(FileManager.default.createFile(atPath: dir + "/data.mdb", contents: Data(garbage)))
        #expect(throws: StoreError.corrupt("")) { try LMDBContentStore(directory: dir) }
    }

    @Test func truncatedDataFileIsCorruptNotACrash() throws {
        defer { cleanup() }
        do {
            let s = try LMDBContentStore(directory: dir)
            try s.put((0..<300).map { Fixture.item(data: String(repeating: "t", count: 1000) + "\($0)") })
            s.close()
        }
        let path = dir + "/data.mdb"
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        #expect(truncate(path, off_t(size / 2)) == 0)
        #expect(throws: StoreError.corrupt("")) { try LMDBContentStore(directory: dir) }
        #expect(truncate(path, 100) == 0)
        #expect(throws: StoreError.corrupt("")) { try LMDBContentStore(directory: dir) }
    }

    @Test func readOnlyDirectoryIsPermissionDenied() throws {
        defer { _ = chmod(dir, 0o755); runTool("/usr/bin/chattr", ["-i", dir]); cleanup() }
        #expect(chmod(dir, 0o555) == 0)
        // root ignores mode bits; the immutable attribute stops root too (where the file system supports it).
        if geteuid() == 0 { runTool("/usr/bin/chattr", ["+i", dir]) }
        guard !FileManager.default.createFile(atPath: dir + "/probe", contents: nil) else {
            Issue.record("cannot make a read-only directory here (not root and chmod ignored?)"); return
        }
        #expect(throws: StoreError.permissionDenied("")) { try LMDBContentStore(directory: dir) }
        #expect(throws: StoreError.permissionDenied("")) { try LMDBContentStore(directory: dir + "/sub") }
    }

    @Test func backupIsAConsistentCompactedCopyOfALiveStore() throws {
        defer { cleanup() }
        let backupDir = temporaryDirectory("backup")
        defer { try? FileManager.default.removeItem(atPath: backupDir) }
        let store = try LMDBContentStore(directory: dir)
        let items = (0..<200).map { Fixture.item(tags: [Tag("B", "\($0 % 3)")], data: "backup \($0)") }
        try store.put(items)
        try store.write(WriteBatch(keyValues: [.put(namespace: "election", key: [1], value: [2])]))
        try store.backup(toDirectory: backupDir)
        #expect(throws: StoreError.io("")) { try store.backup(toDirectory: backupDir) }  // never overwrite a backup
        try store.put([Fixture.item(data: "after the backup")])  // the live store keeps going
        store.close()
        let copy = try LMDBContentStore(directory: backupDir); defer { copy.close() }
        #expect(try copy.statistics().itemCount == 200)
        #expect(try copy.itemBytes(items[123].id) == items[123].serialized())
        #expect(try copy.transactions(TransactionQuery(tags: [TagFilter("B", ["2"])], first: 100)).ids.count == 66)
        #expect(try copy.value(namespace: "election", key: [1]) == [2])
    }
}

/// State shared with a reader thread (the test only needs eventual visibility of `stop`).
final class ReaderState: @unchecked Sendable {
    private let lock = NSLock()
    private var _stop = false, _errors = 0, _reads = 0
    var stop: Bool { get { lock.withLock { _stop } } set { lock.withLock { _stop = newValue } } }
    var errors: Int { get { lock.withLock { _errors } } set { lock.withLock { _errors = newValue } } }
    var reads: Int { get { lock.withLock { _reads } } set { lock.withLock { _reads = newValue } } }
}

@discardableResult
func runTool(_ path: String, _ args: [String]) -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return -1 }
    p.waitUntilExit()
    return p.terminationStatus
}
