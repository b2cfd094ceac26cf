import AOCore
import AOStore
import AOStoreLMDB
import ArgumentParser
import Foundation

/// `aonode store …`: inspect and maintain a node's permaweb replica (the LMDB store in `<data-dir>/store`).
public struct StoreCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Inspect and maintain the node's replica of the permaweb (the LMDB store).",
        discussion: """
            The store lives in <data-dir>/store (LMDB: data.mdb and lock.mdb). These commands may run while the node \
            runs: LMDB lets several processes share one environment, and every write is its own durable transaction. \
            Items are content-addressed (id = SHA-256 of the signature) and never deleted. See docs/STORE.md.
            """,
        subcommands: [StoreImport.self, StoreGet.self, StoreExport.self, StoreStats.self, StoreBackup.self]
    )
    public init() {}
}

/// Options every store verb shares.
struct StoreLocation: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The node's data directory; the store is its 'store' subdirectory.")
    var dataDir = "./aonode-data"

    @Flag(help: "Upgrade a store written by an older aonode to this format (take a backup first).")
    var migrate = false

    var storeDirectory: String { (dataDir as NSString).appendingPathComponent("store") }

    /// Opens the store; `create` false refuses a directory without a store rather than making an empty one.
    func open(create: Bool = false) throws -> LMDBContentStore {
        if !create && !FileManager.default.fileExists(atPath: storeDirectory + "/data.mdb") {
            throw CommandFailure("no store in \(storeDirectory) (wrong --data-dir?)")
        }
        var options = LMDBStoreOptions()
        options.migrateOlderFormat = migrate
        do { return try LMDBContentStore(directory: storeDirectory, options: options) } catch { throw storeFailure(error) }
    }
}

/// A store error as the CLI prints it ("error: <kind>: <detail>", exit status 1).
func storeFailure(_ error: StoreError) -> CommandFailure { CommandFailure(error.description) }

struct StoreImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import an ANS-104 bundle or a single data item into the store.",
        discussion: """
            FILE holds either a binary ANS-104 bundle (as `store export` writes) or one data item. Every item's \
            signature is verified first; one bad item refuses the whole import. Items already in the store are \
            skipped. AO assignments (Type=Assignment with Process, Nonce and Message tags) also fill the process log.
            """)

    @OptionGroup var location: StoreLocation
    @Argument(help: "The bundle or data item file.") var file: String
    @Flag(help: "Skip signature verification (only for items that were verified before).") var noVerify = false

    func run() throws { try runStandard(execute) }

    func execute(_ io: CommandOutput) throws {
        let bytes = try readFile(file, what: "item or bundle")
        let items: [DataItem]
        do { items = ItemBundle.looksLikeBundle(bytes) ? try ItemBundle.parse(bytes) : [try parseItem(bytes)] } catch {
            throw storeFailure(error)
        }
        if !noVerify {
            for item in items {
                do { try item.verify() } catch { throw CommandFailure("item \(item.id) does not verify: \(error); nothing imported") }
            }
        }
        let store = try location.open(create: true); defer { store.close() }
        var stored = 0, entries = 0
        for start in stride(from: 0, to: items.count, by: StoreLimits.groupCommitItemCountMax) {
            let chunk = items[start..<min(start + StoreLimits.groupCommitItemCountMax, items.count)]
            let log = chunk.compactMap { processLogEntry(ofAssignment: $0) }
            do {
                let receipt = try store.write(WriteBatch(items: chunk.map { ItemWrite(bytes: $0.serialized(), expectedID: $0.id) }, assignments: log))
                stored += receipt.items.filter { if case .stored = $0 { return true } else { return false } }.count
                entries += log.count
            } catch { throw storeFailure(error) }
        }
        io.out("imported \(items.count) item(s) from \(file): \(stored) new, \(items.count - stored) already stored; \(entries) process-log entr\(entries == 1 ? "y" : "ies")")
    }
}

struct StoreGet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Show a data item, or write its raw bytes to a file.",
        discussion: "Without --out, prints the item's id, owner address, target, tags and data size.")

    @OptionGroup var location: StoreLocation
    @Argument(help: "The item id (43 base64url characters).") var id: String
    @Option(help: "Write the item's raw ANS-104 bytes to this file.") var out: String?

    func run() throws { try runStandard(execute) }

    func execute(_ io: CommandOutput) throws {
        guard let mid = MessageID(base64URL: id) else { throw CommandFailure("not an item id (43 base64url characters): \(id)") }
        let store = try location.open(); defer { store.close() }
        let found: [UInt8]?
        do { found = try store.itemBytes(mid) } catch { throw storeFailure(error) }
        guard let bytes = found else { throw CommandFailure("no item \(id) in \(location.storeDirectory)") }
        if let out {
            try writeNewFile(out, bytes)
            io.out("wrote \(bytes.count) bytes of \(id) to \(out)")
            return
        }
        let item: DataItem
        do { item = try parseItem(bytes) } catch { throw storeFailure(error) }
        io.out("id:     \(item.id)")
        io.out("owner:  \(item.ownerAddress)")
        io.out("target: \(item.target.map(\.base64URL) ?? "-")")
        io.out("signature type: \(item.signatureType)")
        io.out("size:   \(bytes.count) bytes (data \(item.data.count))")
        for t in item.tags { io.out("tag:    \(t.nameString) = \(t.valueString)") }
    }
}

struct StoreExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a process's items and assignments as one ANS-104 bundle.",
        discussion: """
            The bundle holds the process's spawn item (when stored), then for each slot in order its assignment and \
            its message. `store import` of the bundle into another store rebuilds the items and the process log. \
            Items the log names but the store lacks are reported and left out.
            """)

    @OptionGroup var location: StoreLocation
    @Option(help: "The process id.") var process: String
    @Option(help: "The bundle file to write.") var out: String

    func run() throws { try runStandard(execute) }

    func execute(_ io: CommandOutput) throws {
        guard let pid = ProcessID(base64URL: process) else { throw CommandFailure("not a process id: \(process)") }
        let store = try location.open(); defer { store.close() }
        do {
            var items: [DataItem] = []
            var seen = Set<MessageID>()
            var missing = 0
            func add(_ id: MessageID) throws(StoreError) {
                guard seen.insert(id).inserted else { return }
                if let item = try store.item(id) { items.append(item) } else { missing += 1 }
            }
            try add(MessageID(pid))
            var from: UInt64 = 0
            var slots = 0
            while true {
                let page = try store.processLog(process: pid, from: from, through: .max, limit: StoreLimits.scanPageCountMax)
                for e in page { try add(e.assignmentID); try add(e.messageID) }
                slots += page.count
                guard let last = page.last, page.count == StoreLimits.scanPageCountMax, last.slot < .max else { break }
                from = last.slot + 1
            }
            guard !items.isEmpty else { throw CommandFailure("nothing stored for process \(process)") }
            try writeNewFile(out, ItemBundle.serialize(items))
            io.out("wrote \(items.count) item(s) (\(slots) slot(s)) of \(process) to \(out)")
            if missing > 0 { io.err("warning: \(missing) item(s) named by the process log are not in the store") }
        } catch let e as StoreError { throw storeFailure(e) }
    }
}

struct StoreStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Print counts, sizes and map use of the store.")

    @OptionGroup var location: StoreLocation

    func run() throws { try runStandard(execute) }

    func execute(_ io: CommandOutput) throws {
        let store = try location.open(); defer { store.close() }
        let s: StoreStatistics
        do { s = try store.statistics() } catch { throw storeFailure(error) }
        let file = (try? FileManager.default.attributesOfItem(atPath: location.storeDirectory + "/data.mdb")[.size] as? Int) ?? 0
        io.out("store:            \(location.storeDirectory) (format \(s.formatVersion))")
        io.out("items:            \(s.itemCount) (\(s.itemBytes) bytes)")
        io.out("process log:      \(s.processLogEntryCount) entries")
        io.out("checkpoints:      \(s.checkpointCount)")
        io.out("results:          \(s.resultCount)")
        io.out("key-value:        \(s.keyValueCount) entries")
        io.out("map used:         \(s.mapBytesUsed) of \(s.mapBytesSize) bytes (\(s.mapBytesSize == 0 ? 0 : s.mapBytesUsed * 100 / s.mapBytesSize)%; grows on its own)")
        io.out("data file:        \(file) bytes")
    }
}

struct StoreBackup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent, compacted copy of the store (safe while the node runs).",
        discussion: """
            Uses LMDB's copy with compaction (mdb_env_copy2, MDB_CP_COMPACT) inside one read transaction, so the copy \
            is one committed state even while the node keeps writing. DIR must not already hold a store. Restore by \
            pointing a node's --data-dir at a directory whose 'store' subdirectory is the copy.
            """)

    @OptionGroup var location: StoreLocation
    @Option(help: "The directory to write the copy into (created if missing; must not hold a data.mdb).") var out: String

    func run() throws { try runStandard(execute) }

    func execute(_ io: CommandOutput) throws {
        let store = try location.open(); defer { store.close() }
        do { try store.backup(toDirectory: out) } catch { throw storeFailure(error) }
        let size = (try? FileManager.default.attributesOfItem(atPath: out + "/data.mdb")[.size] as? Int) ?? 0
        io.out("backed up \(location.storeDirectory) to \(out) (\(size) bytes)")
    }
}
