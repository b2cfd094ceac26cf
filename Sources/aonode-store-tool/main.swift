import AOCore
import AOStore
import AOStoreLMDB
import Foundation

// aonode-store-tool: helpers for the store's own tests and benchmarks (not a user command).
//   crash-writer DIR SEED   writes signed items in batches forever, printing "durable <batch> <id>..." after each
//                           batch's transaction committed; the crash test SIGKILLs it and checks the store.
//   check DIR [--migrate]   reads every item back through the unfiltered query and verifies it
//   bench [options]         the store benchmark (scripts/bench/store runs it in a release build).

/// Items per crash-writer batch (CrashTests.batchItemCount must match). A static, not a top-level `let`: top-level
/// globals of main.swift are initialised in order, after the code above them has run.
enum CrashWriter { static let batchItemCount = 40 }

setvbuf(stdout, nil, _IOLBF, 0)
let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "crash-writer":
    guard arguments.count == 3, let seed = UInt64(arguments[2]) else {
        FileHandle.standardError.write("usage: aonode-store-tool crash-writer DIR SEED\n".data(using: .utf8)!); exit(2)
    }
    crashWriter(directory: arguments[1], seed: seed)
case "stats":
    do {
        let store = try LMDBContentStore(directory: arguments[1])
        print(try store.statistics())
        print(try store.transactions(TransactionQuery(first: 3)).ids)
        print(try store.value(namespace: "crash", key: Array("batches".utf8)) ?? [])
    } catch { print("error \(error)") }
case "check":
    // check DIR [--migrate]: opens the store (migrating an older format when asked), pages through every item with
    // the unfiltered query and checks that each reads back, hashes to its id and verifies.
    guard arguments.count >= 2 else { print("usage: aonode-store-tool check DIR [--migrate]"); exit(2) }
    do {
        var options = LMDBStoreOptions()
        options.migrateOlderFormat = arguments.contains("--migrate")
        let store = try LMDBContentStore(directory: arguments[1], options: options)
        var query = TransactionQuery(first: 100), count = 0, bad = 0
        while true {
            let page = try store.transactions(query)
            for id in page.ids {
                count += 1
                if let item = try store.item(id), item.id == id, item.isSignatureValid { continue }
                bad += 1
            }
            guard page.hasNextPage, let last = page.edges.last else { break }
            query.after = last.cursor
        }
        let stats = try store.statistics()
        print("format \(stats.formatVersion): \(count) items paged (statistics: \(stats.itemCount)), \(bad) bad")
        store.close()
        exit(bad == 0 && count == stats.itemCount ? 0 : 1)
    } catch { print("error \(error)"); exit(1) }
case "bench":
    runBenchmark(Array(arguments.dropFirst()))
default:
    FileHandle.standardError.write("usage: aonode-store-tool crash-writer DIR SEED | check DIR [--migrate] | bench [--items N] [--dir DIR]\n".data(using: .utf8)!)
    exit(2)
}

/// The crash-test child. Batch b holds `CrashWriter.batchItemCount` items tagged Batch=b, their process-log entries
/// (slot = b * count + i), and the key-value counter crash/batches = b + 1, all in one transaction.
func crashWriter(directory: String, seed: UInt64) -> Never {
    let store: LMDBContentStore
    do {
        var options = LMDBStoreOptions()
        options.mapBytesInitial = 1 << 20  // tiny: the child also grows the map while being killed
        store = try LMDBContentStore(directory: directory, options: options)
    } catch { print("error \(error)"); exit(1) }
    let key = Ed25519PrivateKey(seed: [UInt8](repeating: 7, count: 32))!
    let process = ProcessID(raw: ID32(bytes: [UInt8](repeating: 0xcc, count: 32))!)
    var rng = SplitMix64(seed: seed)
    var batch = (try? store.value(namespace: "crash", key: Array("batches".utf8))).flatMap { $0 }.map { SequenceKey.value($0) } ?? 0
    print("ready \(batch)")
    while true {
        var items: [DataItem] = []
        for i in 0..<CrashWriter.batchItemCount {
            let data = (0..<1024).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            items.append(try! DataItem.create(signer: key, tags: [Tag("Batch", "\(batch)"), Tag("Index", "\(i)")], data: data))
        }
        let entries = items.enumerated().map { ProcessLogEntry(process: process, slot: batch * UInt64(CrashWriter.batchItemCount) + UInt64($0.offset), assignmentID: $0.element.id, messageID: $0.element.id) }
        do {
            try store.write(WriteBatch(items: items.map { ItemWrite(bytes: $0.serialized(), expectedID: $0.id) }, assignments: entries,
                                       keyValues: [.put(namespace: "crash", key: Array("batches".utf8), value: SequenceKey.bytes(batch + 1))]))
        } catch { print("error \(error)"); exit(1) }
        print("durable \(batch) " + items.map(\.id.base64URL).joined(separator: " "))
        batch += 1
    }
}

