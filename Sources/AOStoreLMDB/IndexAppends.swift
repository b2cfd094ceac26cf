import AOCore
import CLMDB

/// One write batch's entries for one index table (`owner`, `target` or `tag`), grouped by key.
///
/// Why: appending each item's entries as it comes meant one `mdb_put` per (item, key), and each found the key again
/// from the root of the table and then the end of the key's duplicate tree: a quarter of a large ingest's CPU when
/// many items share keys (an owner, `App-Name`, `Type`). Grouped, each key is found once per batch, the keys go in
/// sorted order (one cursor walks the table forward), and a key's new sequences go in as one MDB_MULTIPLE put.
///
/// Sequences grow through the batch and past every earlier batch's, so each key's list is ascending and after every
/// value the table holds for it, as MDB_APPENDDUP requires. Same keys, same values as one put at a time.
struct IndexAppends {
    /// Big-endian sequences per key, in the order they were added.
    private var sequences: [ID32: [UInt64]] = [:]

    mutating func add(_ key: ID32, _ seq: UInt64) { sequences[key, default: []].append(seq.bigEndian) }

    func write(_ t: Transaction, _ table: DBI) throws(LMDBError) {
        guard !sequences.isEmpty else { return }
        let c = try t.cursor(table); defer { c.close() }
        for key in sequences.keys.sorted() {
            var values = sequences[key]!
            let result = values.withUnsafeMutableBytes { raw in Result { () throws(LMDBError) in try c.appendDuplicates(key: key, values: raw) } }
            try result.get()
        }
    }
}
