import AOCore
import AOTestSupport
import AOStore
import AOStoreLMDB
import Dispatch
import Foundation

/// The store benchmark (scripts/bench/store). Every number it prints is measured here, on this machine:
/// 1. raw libsodium ed25519 verify rate, one thread and two threads (the physical limit of verified ingest);
/// 2. durable ingest of already-verified 1 KiB signed items, in group-commit batches (each batch synced);
/// 3. ingest with signature verification on both cores, pipelined with the writer through `GroupCommitter`;
/// 4. random get by id, one thread, one read transaction per get (ids drawn beforehand; then drawn in the loop);
/// 5. first page (100) of tag queries over the whole store.
func runBenchmark(_ args: [String]) {
    var itemCount = 1_000_000, verifyCount = 50_000, getCount = 1_000_000, batch = StoreLimits.groupCommitItemCountMax
    var dir = NSTemporaryDirectory() + "aonode-store-bench"
    var i = 0
    while i < args.count {
        let v = i + 1 < args.count ? args[i + 1] : ""
        switch args[i] {
        case "--items": itemCount = Int(v) ?? itemCount
        case "--verify-items": verifyCount = Int(v) ?? verifyCount
        case "--gets": getCount = Int(v) ?? getCount
        case "--batch": batch = Int(v) ?? batch
        case "--dir": dir = v
        default: print("unknown option \(args[i])"); exit(2)
        }
        i += 2
    }
    try? FileManager.default.removeItem(atPath: dir)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    func rate(_ n: Int, _ s: Double) -> String { String(format: "%.0f", Double(n) / s) }

    print(MachineGauge.summary { DispatchTime.now().uptimeNanoseconds })
    // Items: ~1 KiB each, 100 owners, tags App-Name (all), Group (1000 groups of ~1000), Type.
    print("generating \(itemCount) signed 1 KiB items (2 threads)...")
    let keys = (0..<100).map { Ed25519PrivateKey(seed: [UInt8](repeating: UInt8($0), count: 31) + [1])! }
    let generated = UnsafeMutableBufferPointer<[UInt8]>.allocate(capacity: itemCount)
    generated.initialize(repeating: [])
    let t0 = now()
    DispatchQueue.concurrentPerform(iterations: 2) { part in
        var rng = SplitMix64(seed: UInt64(part + 1))
        for n in stride(from: part, to: itemCount, by: 2) {
            let data = (0..<860).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let item = try! DataItem.create(signer: keys[n % 100], tags: [Tag("App-Name", "bench"), Tag("Group", "\(n % 1000)"), Tag("Type", "Message")], data: data)
            generated[n] = item.serialized()
        }
    }
    let items = Array(generated)
    generated.deallocate()
    let ids = items.map { try! parseItem($0).id }
    print(String(format: "  generated in %.1f s; item size %d bytes", now() - t0, items[0].count))

    // 1. Raw verify rate.
    let sample = Array(items.prefix(20_000)).map { try! parseItem($0) }
    let messages = sample.map { $0.signingMessage() }
    var t = now()
    for (k, item) in sample.enumerated() { precondition(Ed25519.verify(signature: item.signature, message: messages[k], publicKey: item.owner)) }
    let raw1 = Double(sample.count) / (now() - t)
    t = now()
    DispatchQueue.concurrentPerform(iterations: 2) { part in
        for k in stride(from: part, to: sample.count, by: 2) { precondition(Ed25519.verify(signature: sample[k].signature, message: messages[k], publicKey: sample[k].owner)) }
    }
    let raw2 = Double(sample.count) / (now() - t)
    print(String(format: "raw libsodium ed25519 verify: %.0f/s one thread, %.0f/s two threads", raw1, raw2))

    // 2. Durable ingest of verified items.
    do {
        let store = try LMDBContentStore(directory: dir + "/main")
        let written0 = writtenBytes(), cpu0 = cpuSeconds()
        var lastQuarter: (items: Int, bytes: Int, seconds: Double)?
        t = now()
        for start in stride(from: 0, to: itemCount, by: batch) {
            if lastQuarter == nil && start >= itemCount * 3 / 4 { lastQuarter = (start, writtenBytes(), now()) }
            let chunk = items[start..<min(start + batch, itemCount)]
            try store.write(WriteBatch(items: chunk.map { ItemWrite(bytes: $0) }))
        }
        let s = now() - t
        let written = writtenBytes() - written0, cpu = cpuSeconds() - cpu0
        if let q = lastQuarter, itemCount > q.items {
            let n = itemCount - q.items
            print(String(format: "  last quarter (%d items): %.0f items/s, %d bytes written per item", n, Double(n) / (now() - q.seconds - 0), (writtenBytes() - q.bytes) / n))
        }
        for s in try store.tableStatistics() where s.entries > 0 {
            print("  table \(s.table): \(s.entries) entries, depth \(s.depth), \(s.branchPages) branch + \(s.leafPages) leaf + \(s.overflowPages) overflow pages")
        }
        print("durable ingest (verified items, \(batch) per synced transaction): \(rate(itemCount, s)) items/s (\(itemCount) items in \(String(format: "%.1f", s)) s; \(written >> 20) MiB written to storage = \(written / max(itemCount, 1)) bytes per item; \(String(format: "%.1f", cpu * 1e6 / Double(itemCount))) µs of CPU per item, all threads)")

        // 4. Random gets, one thread. The ids are drawn before the clock starts, into the order the gets take them:
        // a server has the id in hand (it just parsed the request). Drawing each one inside the loop, as this did
        // until 2026-12-08, adds a cache miss on the benchmark's own 32 MB id array to every get; that variant is
        // printed second, for comparison with older numbers.
        var rng = SplitMix64(seed: 9)
        let drawn = (0..<getCount).map { _ in ids[Int(rng.next() % UInt64(itemCount))] }
        var bytes = 0
        /// `getCount` gets of `nextID()`: wall seconds and CPU seconds.
        func timedGets(_ nextID: () -> MessageID) throws -> (wall: Double, cpu: Double) {
            let cpu0 = cpuSeconds(), t0 = now()
            for _ in 0..<getCount { bytes &+= try store.itemBytes(nextID())!.count }
            return (now() - t0, cpuSeconds() - cpu0)
        }
        var next = 0
        let g = try timedGets { defer { next += 1 }; return drawn[next] }
        print("random get by id (one thread, one read transaction per get): \(rate(getCount, g.wall)) gets/s (\(bytes / getCount) bytes each; \(String(format: "%.2f", g.cpu * 1e6 / Double(getCount))) µs of CPU per get = \(rate(getCount, g.cpu)) gets per CPU-second)")
        let inLoop = try timedGets { ids[Int(rng.next() % UInt64(itemCount))] }
        print("  the same, each id drawn inside the timed loop (as before 2026-12-08): \(rate(getCount, inLoop.wall)) gets/s (\(String(format: "%.2f", inLoop.cpu * 1e6 / Double(getCount))) µs of CPU per get)")

        // 5. Tag queries, first page of 100.
        var times: [Double] = []
        for q in 0..<200 {
            let query: TransactionQuery
            switch q % 4 {
            case 0: query = TransactionQuery(tags: [TagFilter("Group", ["\(q * 7 % 1000)"])], first: 100)
            case 1: query = TransactionQuery(tags: [TagFilter("App-Name", ["bench"])], first: 100)
            case 2: query = TransactionQuery(owners: [keys[q % 100].address], tags: [TagFilter("Group", ["\((q % 100) + 100 * (q % 10))"])], first: 100)
            default: query = TransactionQuery(tags: [TagFilter("App-Name", ["bench"]), TagFilter("Type", ["Message"]), TagFilter("Group", ["\(q % 1000)", "\((q + 1) % 1000)"])], first: 100)
            }
            t = now()
            let page = try store.transactions(query)
            times.append((now() - t) * 1000)
            precondition(page.edges.count == 100 || q % 4 == 2 || itemCount < 100_000, "query \(q) returned \(page.edges.count)")
        }
        times.sort()
        let stats = try store.statistics()
        print(String(format: "tag query, first page of 100 over %d items: median %.3f ms, p99 %.3f ms, max %.3f ms", stats.itemCount, times[times.count / 2], times[times.count * 99 / 100], times.last!))
        print("store: \(stats.itemBytes >> 20) MiB of items, map used \(stats.mapBytesUsed >> 20) MiB")
        store.close()
    } catch { print("error: \(error)"); exit(1) }

    // 3. Ingest with verification on both cores, pipelined with the group-commit writer.
    do {
        let n = min(verifyCount, itemCount)
        let store = try LMDBContentStore(directory: dir + "/verified")
        let committer = GroupCommitter(store: store)
        let done = DispatchSemaphore(value: 0)
        let failures = Failures()
        let chunkCount = 2048
        t = now()
        var submitted = 0
        for start in stride(from: 0, to: n, by: chunkCount) {
            let chunk = Array(items[start..<min(start + chunkCount, n)])
            DispatchQueue.concurrentPerform(iterations: 2) { part in
                for k in stride(from: part, to: chunk.count, by: 2) {
                    guard let item = try? DataItem(parsing: chunk[k]), item.isSignatureValid else { failures.add(); continue }
                }
            }
            committer.submit(WriteBatch(items: chunk.map { ItemWrite(bytes: $0) })) { r in
                if case .failure = r { failures.add() }
                done.signal()
            }
            submitted += 1
        }
        for _ in 0..<submitted { done.wait() }
        let s = now() - t
        committer.close()
        let r = Double(n) / s
        print(String(format: "durable ingest with verification on both cores: %.0f items/s = %.0f%% of raw two-thread verify (%d items, %d failures)", r, 100 * r / raw2, n, failures.count))
        store.close()
    } catch { print("error: \(error)"); exit(1) }
}

/// CPU seconds (user + system) this process used so far, all threads: unlike wall time, not diluted by other load.
func cpuSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Bytes this process caused to be written to storage so far (Linux /proc/self/io write_bytes; 0 elsewhere).
func writtenBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/io", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix("write_bytes:") {
        return Int(line.dropFirst("write_bytes:".count).trimmingCharacters(in: .whitespaces)) ?? 0
    }
    return 0
}

final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.withLock { n += 1 } }
    var count: Int { lock.withLock { n } }
}
