import AOCore
import CLMDB

// Typed LMDB bindings: raw C calls → Environment / Transaction / Cursor / DBI. Internal to AOStoreLMDB.
//
// lmdb.h caveats this layer and LMDBContentStore keep (repeated here because breaking them corrupts data or hangs):
// - Only one write transaction at a time in an environment; it must begin and end on the same thread. We run every
//   write transaction inside one call, under the store's writer lock.
// - The environment is opened with MDB_NOTLS: a read transaction is not tied to a thread, so reset read transactions
//   can be pooled and renewed by any thread. A read transaction must still be used by one thread at a time.
// - Read transactions must be short: a long-lived reader pins old pages and the file grows. Ours live for one call.
// - Never open the same environment twice in one process (the lock file's state would be corrupted on close); the
//   store guards this with a registry keyed by (device, inode) of the directory.
// - mdb_env_set_mapsize may only be called when no transaction is active in this process: the store takes an
//   exclusive lock that every reader holds shared.
// - Values returned by get/cursor point into the map and are valid only until the transaction ends or the next
//   write in it; callers copy what they keep.
// - Do not use LMDB on remote file systems, and do not fork with an open environment.

/// An LMDB return code other than success.
struct LMDBError: Error {
    let code: Int32
    var message: String { String(cString: mdb_strerror(code)) }
    static let notFound = MDB_NOTFOUND
    static let keyExists = MDB_KEYEXIST
    static let mapFull = MDB_MAP_FULL
    static let mapResized = MDB_MAP_RESIZED
}

@inline(__always) func lmdbCheck(_ rc: Int32) throws(LMDBError) { if rc != 0 { throw LMDBError(code: rc) } }

/// Calls `body` with an MDB_val pointing at `bytes` (valid only inside `body`).
@inline(__always) func withVal<R>(_ bytes: [UInt8], _ body: (inout MDB_val) -> R) -> R {
    bytes.withUnsafeBytes { (b: UnsafeRawBufferPointer) -> R in
        var v = MDB_val(mv_size: b.count, mv_data: UnsafeMutableRawPointer(mutating: b.baseAddress))
        return body(&v)
    }
}

/// Calls `body` with an MDB_val over the 32 big-endian bytes of `id`, built on the stack (no allocation: this is on
/// every get's path).
@inline(__always) func withIDVal<R>(_ id: ID32, _ body: (inout MDB_val) throws(LMDBError) -> R) throws(LMDBError) -> R {
    var big = (id.a.bigEndian, id.b.bigEndian, id.c.bigEndian, id.d.bigEndian)
    return try withUnsafeMutableBytes(of: &big) { (raw) throws(LMDBError) -> R in
        var v = MDB_val(mv_size: 32, mv_data: raw.baseAddress)
        return try body(&v)
    }
}

/// Calls `body` with an MDB_val over the 8 big-endian bytes of `seq` (a `SequenceKey`), built on the stack.
@inline(__always) func withSequenceVal<R>(_ seq: UInt64, _ body: (inout MDB_val) throws(LMDBError) -> R) throws(LMDBError) -> R {
    var big = seq.bigEndian
    return try withUnsafeMutableBytes(of: &big) { (raw) throws(LMDBError) -> R in
        var v = MDB_val(mv_size: 8, mv_data: raw.baseAddress)
        return try body(&v)
    }
}

extension MDB_val {
    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: mv_data, count: mv_size) }
}

extension UnsafeRawBufferPointer {
    /// The big-endian unsigned integer of `count` bytes at `offset` (caller checked the bounds).
    @inline(__always) func bigEndian32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    @inline(__always) func bigEndian64(at offset: Int) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}

/// An environment handle (MDB_env*). Not thread-confined; see the caveats above.
final class Environment {
    let handle: OpaquePointer

    /// Creates and opens the environment in `directory` (which must exist).
    init(directory: String, mapBytes: Int, databaseCountMax: UInt32, flags: UInt32) throws(LMDBError) {
        var env: OpaquePointer?
        try lmdbCheck(mdb_env_create(&env))
        handle = env!
        do {
            try lmdbCheck(mdb_env_set_maxdbs(handle, databaseCountMax))
            try lmdbCheck(mdb_env_set_mapsize(handle, mapBytes))
            try lmdbCheck(mdb_env_open(handle, directory, flags, 0o644))
        } catch {
            mdb_env_close(handle)
            throw error
        }
    }

    func close() { mdb_env_close(handle) }

    var info: MDB_envinfo { var i = MDB_envinfo(); mdb_env_info(handle, &i); return i }
    var pageBytes: Int { var s = MDB_stat(); mdb_env_stat(handle, &s); return Int(s.ms_psize) }
    func setMapSize(_ bytes: Int) throws(LMDBError) { try lmdbCheck(mdb_env_set_mapsize(handle, bytes)) }
    func copyCompacted(to directory: String) throws(LMDBError) {
        try lmdbCheck(mdb_env_copy2(handle, directory, UInt32(MDB_CP_COMPACT)))
    }

    func beginWrite() throws(LMDBError) -> Transaction {
        var t: OpaquePointer?
        try lmdbCheck(mdb_txn_begin(handle, nil, 0, &t))
        return Transaction(handle: t!)
    }

    func beginRead() throws(LMDBError) -> Transaction {
        var t: OpaquePointer?
        try lmdbCheck(mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &t))
        return Transaction(handle: t!)
    }
}

/// A named database inside the environment.
struct DBI { let raw: MDB_dbi }

/// A transaction handle. Value type over the C pointer: the owner ends it exactly once (commit, abort or reset).
struct Transaction {
    let handle: OpaquePointer

    func commit() throws(LMDBError) { try lmdbCheck(mdb_txn_commit(handle)) }  // frees the txn even on failure
    func abort() { mdb_txn_abort(handle) }
    func reset() { mdb_txn_reset(handle) }
    func renew() throws(LMDBError) { try lmdbCheck(mdb_txn_renew(handle)) }

    func open(_ name: String, flags: Int32) throws(LMDBError) -> DBI {
        var d: MDB_dbi = 0
        try lmdbCheck(mdb_dbi_open(handle, name, UInt32(flags), &d))
        // Before any data access, as lmdb.h requires: the default order, compared faster (shim.h).
        try lmdbCheck(mdb_set_compare(handle, d, aonode_compare_keys))
        if flags & MDB_DUPSORT != 0 { try lmdbCheck(mdb_set_dupsort(handle, d, aonode_compare_keys)) }
        return DBI(raw: d)
    }

    /// The value under `key`, pointing into the map (valid until the transaction ends or writes), or nil.
    func get(_ dbi: DBI, _ key: [UInt8]) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var v = MDB_val()
        let rc = withVal(key) { (k: inout MDB_val) in mdb_get(handle, dbi.raw, &k, &v) }
        if rc == MDB_NOTFOUND { return nil }
        try lmdbCheck(rc)
        return v.buffer
    }

    /// The value under the raw `key`, pointing into the map, or nil (no allocation).
    @inline(__always) func get(_ dbi: DBI, raw key: inout MDB_val) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var v = MDB_val()
        let rc = mdb_get(handle, dbi.raw, &key, &v)
        if rc == MDB_NOTFOUND { return nil }
        try lmdbCheck(rc)
        return v.buffer
    }

    /// Puts `value`; with MDB_NOOVERWRITE returns the existing value (and writes nothing) when the key exists.
    @discardableResult
    func put(_ dbi: DBI, _ key: [UInt8], _ value: [UInt8], flags: Int32 = 0) throws(LMDBError) -> UnsafeRawBufferPointer? {
        let rc = withVal(key) { (k: inout MDB_val) -> (Int32, MDB_val) in
            withVal(value) { (v: inout MDB_val) in (mdb_put(handle, dbi.raw, &k, &v, UInt32(flags)), v) }
        }
        if rc.0 == MDB_KEYEXIST && flags & MDB_NOOVERWRITE != 0 { return rc.1.buffer }
        try lmdbCheck(rc.0)
        return nil
    }

    /// Reserves `count` bytes under `key` (MDB_RESERVE | `flags`) for the caller to fill before the next write.
    func reserve(_ dbi: DBI, _ key: [UInt8], count: Int, flags: Int32) throws(LMDBError) -> UnsafeMutableRawBufferPointer {
        var v = MDB_val(mv_size: count, mv_data: nil)
        let rc = withVal(key) { (k: inout MDB_val) in mdb_put(handle, dbi.raw, &k, &v, UInt32(MDB_RESERVE | flags)) }
        try lmdbCheck(rc)
        return UnsafeMutableRawBufferPointer(start: v.mv_data, count: count)
    }

    /// Reserves `count` bytes under a new `key` (MDB_RESERVE | MDB_NOOVERWRITE) for the caller to fill before the
    /// next write; nil when the key exists.
    func reserveNew(_ dbi: DBI, _ key: [UInt8], count: Int) throws(LMDBError) -> UnsafeMutableRawBufferPointer? {
        var v = MDB_val(mv_size: count, mv_data: nil)
        let rc = withVal(key) { (k: inout MDB_val) in
            mdb_put(handle, dbi.raw, &k, &v, UInt32(MDB_RESERVE | MDB_NOOVERWRITE))
        }
        if rc == MDB_KEYEXIST { return nil }
        try lmdbCheck(rc)
        return UnsafeMutableRawBufferPointer(start: v.mv_data, count: count)
    }

    /// Deletes `key` (all its values); false when absent.
    @discardableResult
    func delete(_ dbi: DBI, _ key: [UInt8]) throws(LMDBError) -> Bool {
        let rc = withVal(key) { (k: inout MDB_val) in mdb_del(handle, dbi.raw, &k, nil) }
        if rc == MDB_NOTFOUND { return false }
        try lmdbCheck(rc)
        return true
    }

    func cursor(_ dbi: DBI) throws(LMDBError) -> Cursor {
        var c: OpaquePointer?
        try lmdbCheck(mdb_cursor_open(handle, dbi.raw, &c))
        return Cursor(handle: c!)
    }

    func entryCount(_ dbi: DBI) -> Int {
        var s = MDB_stat()
        return mdb_stat(handle, dbi.raw, &s) == 0 ? Int(s.ms_entries) : 0
    }
}

/// A cursor; closed by its owner (read cursors before their transaction ends).
struct Cursor {
    let handle: OpaquePointer

    func close() { mdb_cursor_close(handle) }

    /// Runs a cursor operation; nil when it finds nothing. Buffers are valid until the next operation or write.
    func get(_ op: MDB_cursor_op, key: [UInt8]? = nil, value: [UInt8]? = nil) throws(LMDBError)
        -> (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)? {
        var k = MDB_val(), v = MDB_val()
        let rc: Int32
        switch (key, value) {
        case (nil, nil): rc = mdb_cursor_get(handle, &k, &v, op)
        case (let kb?, nil):
            rc = withVal(kb) { (kk: inout MDB_val) in
                let r = mdb_cursor_get(handle, &kk, &v, op); k = kk; return r
            }
        case (let kb?, let vb?):
            rc = withVal(kb) { (kk: inout MDB_val) in
                withVal(vb) { (vv: inout MDB_val) in
                    let r = mdb_cursor_get(handle, &kk, &vv, op); k = kk; v = vv; return r
                }
            }
        case (nil, .some): preconditionFailure("cursor value without key")
        }
        if rc == MDB_NOTFOUND { return nil }
        try lmdbCheck(rc)
        return (k.buffer, v.buffer)
    }

    /// Runs a cursor operation positioned by the raw `key` (no allocation); nil when it finds nothing.
    @inline(__always) func get(_ op: MDB_cursor_op, raw key: inout MDB_val) throws(LMDBError)
        -> (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)? {
        var k = key, v = MDB_val()
        let rc = mdb_cursor_get(handle, &k, &v, op)
        if rc == MDB_NOTFOUND { return nil }
        try lmdbCheck(rc)
        return (k.buffer, v.buffer)
    }

    /// Appends `values` (8 bytes each, ascending, each greater than every value already under `key`) as the last
    /// duplicates of `key` in one call: MDB_MULTIPLE (a DUPFIXED table) with MDB_APPENDDUP, which fills duplicate
    /// pages completely instead of splitting them, and finds the key once for all of them.
    func appendDuplicates(key: ID32, values: UnsafeMutableRawBufferPointer) throws(LMDBError) {
        let count = values.count / 8
        precondition(count > 0 && values.count == count * 8, "appendDuplicates takes whole 8-byte values")
        let rc = try withIDVal(key) { (k: inout MDB_val) -> Int32 in
            // MDB_MULTIPLE reads an array of two MDB_val: the first element (its size, where the array starts) and the
            // count; LMDB writes back into the second how many it stored.
            var data = (MDB_val(mv_size: 8, mv_data: values.baseAddress), MDB_val(mv_size: count, mv_data: nil))
            let rc = withUnsafeMutablePointer(to: &data) { p in
                p.withMemoryRebound(to: MDB_val.self, capacity: 2) { mdb_cursor_put(handle, &k, $0, UInt32(MDB_MULTIPLE | MDB_APPENDDUP)) }
            }
            return rc == 0 && data.1.mv_size != count ? MDB_CORRUPTED : rc  // a short count with success: not a state LMDB documents
        }
        try lmdbCheck(rc)
    }

    /// Number of duplicates at the current key (DUPSORT).
    func duplicateCount() -> Int { var n: Int = 0; return mdb_cursor_count(handle, &n) == 0 ? n : 0 }

    func deleteCurrent() throws(LMDBError) { try lmdbCheck(mdb_cursor_del(handle, 0)) }
}
