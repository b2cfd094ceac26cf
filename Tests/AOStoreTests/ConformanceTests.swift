import AOCore
import AOStore
import Foundation
import Testing

/// The one store suite, run against every `ContentStore` implementation.
@Suite("ContentStore conformance")
struct ConformanceTests {
    @Test(arguments: StoreFactory.all)
    func putAndGetByContentHash(_ factory: StoreFactory) throws {
        let (store, cleanup) = try factory.make(); defer { cleanup() }
        let a = Fixture.item(tags: [Tag("Type", "Message")], data: "hello")
        let b = Fixture.item(key: Fixture.key(2), target: Fixture.id32(7), data: "world")
        let receipt = try store.put([a, b])
        #expect(receipt.items == [.stored(a.id), .stored(b.id)])
        #expect(try store.itemBytes(a.id) == a.serialized())
        #expect(try store.item(b.id) == b)
        #expect(try store.item(b.id)?.id == b.id)
        #expect(try store.hasItem(a.id))
        // The id is the content hash, whatever the caller claims: put without a claim stores under the real id.
        let c = Fixture.item(data: "no claim")
        #expect(try store.put(c.serialized()) == .stored(c.id))
        let stats = try store.statistics()
        #expect(stats.itemCount == 3)
        #expect(stats.itemBytes == [a, b, c].reduce(0) { $0 + $1.serialized().count })
    }

    @Test(arguments: StoreFactory.all)
    func rePutIsANoOp(_ factory: StoreFactory) throws {
        let (store, cleanup) = try factory.make(); defer { cleanup() }
        let a = Fixture.item(data: "once")
        #expect(try store.put([a, a]).items == [.stored(a.id), .alreadyStored(a.id)])
        #expect(try store.put([a]).items == [.alreadyStored(a.id)])
        #expect(try store.statistics().itemCount == 1)
        #expect(try store.transactions(TransactionQuery()).ids == [a.id])
    }

    @Test(arguments: StoreFactory.all)
    func refusesMismatchAndGarbageAtomically(_ factory: StoreFactory) throws {
        let (store, cleanup) = try factory.make(); defer { cleanup() }
        let good = Fixture.item(data: "good"), other = Fixture.item(data: "other")
        let lie = WriteBatch(items: [ItemWrite(bytes: good.serialized()), ItemWrite(bytes: other.serialized(), expectedID: good.id)])
        #expect(throws: StoreError.idMismatch("")) { try store.write(lie) }
        let garbage = WriteBatch(items: [ItemWrite(bytes: good.serialized()), ItemWrite(bytes: [2, 0, 1, 2, 3])])
        #expect(throws: StoreError.malformedItem("")) { try store.write(garbage) }
        var truncated = other.serialized(); truncated.removeLast(other.data.count + 5)
        #expect(throws: StoreError.malformedItem("")) { try store.put(truncated) }
        #expect(try store.hasItem(good.id) == false)
        #expect(try store.statistics().itemCount == 0)
    }

    @Test(arguments: StoreFactory.all)
    func missingKeysAreNilNotErrors(_ factory: StoreFactory) throws {
        let (store, cleanup) = try factory.make(); defer { cleanup() }
        let p = Fixture.process(1)
        #expect(try store.itemBytes(Fixture.message(9)) == nil)
        #expect(try store.item(Fixture.message(9)) == nil)
        #expect(try store.hasItem(Fixture.message(9)) == false)
        #expect(try store.assignment(process: p, slot: 0) == nil)
        #expect(try store.processLog(process: p, from: 0, through: .max, limit: 10).isEmpty)
        #expect(try store.latestSlot(process: p) == nil)
        #expect(try store.checkpoint(process: p, slot: 3) == nil)
        #expect(try store.latestCheckpoint(process: p, atOrBefore: .max) == nil)
        #expect(try store.latestCheckpointSlot(process: p, atOrBefore: .max) == nil)
        #expect(try store.result(process: p, slot: 3) == nil)
        #expect(try store.value(namespace: "election", key: [1]) == nil)
        #expect(try store.values(namespace: "election", from: [], limit: 10).isEmpty)
        let page = try store.transactions(TransactionQuery(tags: [TagFilter("Type", ["Nothing"])]))
        #expect(page.edges.isEmpty && !page.hasNextPage)
    }

    @Test(arguments: StoreFactory.all)
    func pagesInIngestOrderWithStableCursors(_ factory: StoreFactory) throws {
        let (store, cleanup) = try factory.make(); defer { cleanup() }
        let items = (0..<25).map { Fixture.item(tags: [Tag("N", "\($0)")], data: "item \($0)") }
        for chunk in stride(from: 0, to: 25, by: 7) { try store.put(Array(items[chunk..<min(chunk + 7, 25)])) }
        for order in [TransactionQuery.Order.newestFirst, .oldestFirst] {
            var seen: [MessageID] = []
            var after: QueryCursor? = nil
            var pages = 0
            repeat {
                let page = try store.transactions(TransactionQuery(first: 10, after: after, order: order))
                seen += page.ids
                pages += 1
                #expect(page.hasNextPage == (seen.count < 25))
                // Cursors survive a round trip through their text form.
                after = try page.edges.last.map { try QueryCursor(text: $0.cursor.text) }
                if !page.hasNextPage { break }
                // Items added while paging land at the newest end and never shift the pages of an older cursor.
                if pages == 1 && order == .newestFirst { try store.put([Fixture.item(data: "late")]) }
            } while true
            let expected = order == .newestFirst ? items.reversed().map(\.id) : items.map(\.id) + [Fixture.item(data: "late").id]
            #expect(seen == expected)
            #expect(pages == 3)
        }
        #expect(throws: StoreError.invalidCursor("")) { try QueryCursor(text: "bogus") }
        #expect(throws: StoreError.invalidQuery("")) { try store.transactions(TransactionQuery(first: 0)) }
        #expect(throws: StoreError.invalidQuery("")) { try store.transactions(TransactionQuery(first: 101)) }
        #expect(throws: StoreError.invalidQuery("")) { try store.transactions(TransactionQuery(tags: [TagFilter("A", [])])) }
    }

    /// Many items sharing index keys, in one batch and across batches: the LMDB store writes a batch's entries for
    /// a key in one MDB_MULTIPLE put, and a key's duplicates outgrow the leaf they start in (LMDB moves them from a
    /// sub-page into their own tree at a few hundred). Every query must still list every item once, in ingest order;
    /// repeats (in the batch and from an earlier one) add no entries.
    @Test(arguments: StoreFactory.all)
    func sharedIndexKeysAcrossLargeBatchesListEveryItemOnce(_ factory: StoreFactory) throws {
        let (store, cleanup) = try factory.make(); defer { cleanup() }
        let keys = [Fixture.key(1), Fixture.key(2)]
        let target = Fixture.id32(77)
        let items = (0..<1500).map { n in
            Fixture.item(key: keys[n % 2], target: n % 3 == 0 ? target : nil,
                         tags: [Tag("App", "x"), Tag("N", "\(n)"), Tag("App", "x")], data: "shared \(n)")
        }
        try store.put(Array(items[0..<700]))
        try store.put([items[700]])
        let receipt = try store.put(Array(items[701..<1500]) + [items[5], items[900]])
        #expect(receipt.items.suffix(2) == [.alreadyStored(items[5].id), .alreadyStored(items[900].id)])
        func all(_ query: (QueryCursor?) -> TransactionQuery) throws -> [MessageID] {
            var seen: [MessageID] = [], after: QueryCursor? = nil
            repeat {
                let page = try store.transactions(query(after))
                seen += page.ids
                after = page.edges.last?.cursor
                if !page.hasNextPage { return seen }
            } while true
        }
        #expect(try all { TransactionQuery(tags: [TagFilter("App", ["x"])], first: 100, after: $0, order: .oldestFirst) } == items.map(\.id))
        for (i, k) in keys.enumerated() {
            let expected = items.enumerated().filter { $0.offset % 2 == i }.map(\.element.id)
            #expect(try all { TransactionQuery(owners: [k.address], first: 100, after: $0, order: .oldestFirst) } == expected)
        }
        let targeted = items.enumerated().filter { $0.offset % 3 == 0 }.map(\.element.id)
        #expect(try all { TransactionQuery(recipients: [target], first: 100, after: $0, order: .oldestFirst) } == targeted)
        #expect(try store.transactions(TransactionQuery(tags: [TagFilter("N", ["1234"])])).ids == [items[1234].id])
        #expect(try store.statistics().itemCount == 1500)
    }

    /// A batch large enough that the LMDB store parses it on another thread while it writes (PreparePipeline):
    /// the outcome must be what one-thread parsing gives. A bad item anywhere fails the batch with the first bad
    /// item's error and writes nothing; so does a bad key-value write; a good one is stored whole, growing the map
    /// (the conformance store starts at 1 MiB, so the transaction is retried and reads the parsed items again).
    @Test(arguments: StoreFactory.all)
    func aLargeBatchIsAllOrNothingWithTheFirstBadItemsError(_ factory: StoreFactory) throws {
        let (store, cleanup) = try factory.make(); defer { cleanup() }
        let good = LargeBatch.items.map { ItemWrite(bytes: $0.serialized(), expectedID: $0.id) }
        var bad = good
        let wrongID = Fixture.message(0xEE)
        bad[9_000] = ItemWrite(bytes: good[9_000].bytes, expectedID: wrongID)
        bad[12_000] = ItemWrite(bytes: Array(good[12_000].bytes.prefix(40)))
        do {
            try store.write(WriteBatch(items: bad))
            Issue.record("a batch with bad items was written")
        } catch {
            #expect(error == StoreError.idMismatch(""), "\(error)")
            #expect(error.description.contains("\(wrongID)"), "the first bad item's error, got \(error)")
        }
        var badValue = WriteBatch(items: good)
        badValue.keyValues = [.put(namespace: "test", key: [1], value: [UInt8](repeating: 0, count: StoreLimits.keyValueValueBytesMax + 1))]
        #expect(throws: StoreError.limitExceeded("")) { try store.write(badValue) }
        #expect(try store.statistics().itemCount == 0)
        #expect(try store.hasItem(LargeBatch.items[0].id) == false)

        let receipt = try store.write(WriteBatch(items: good))
        #expect(receipt.items == LargeBatch.items.map { .stored($0.id) })
        #expect(try store.statistics().itemCount == LargeBatch.items.count)
        for i in [0, 4_095, 4_096, 9_000, 12_000, LargeBatch.items.count - 1] {
            #expect(try store.itemBytes(LargeBatch.items[i].id) == good[i].bytes)
        }
        let page = try store.transactions(TransactionQuery(tags: [TagFilter("Large", ["yes"])], first: 100, order: .oldestFirst))
        #expect(page.ids == LargeBatch.items.prefix(100).map(\.id))
        #expect(try store.write(WriteBatch(items: good)).items == LargeBatch.items.map { .alreadyStored($0.id) })
    }

    @Test(arguments: StoreFactory.all)
    func indexesAnswerLikeABruteForceFilter(_ factory: StoreFactory) throws {
        let (store, cleanup) = try factory.make(); defer { cleanup() }
        var rng = SplitMix64(seed: 42)
        let keys = (1...3).map { Fixture.key(UInt8($0)) }
        let targets = (1...3).map { Fixture.id32(UInt8(100 + $0)) }
        var items: [DataItem] = []
        for n in 0..<120 {
            let k = keys[Int(rng.next() % 3)]
            let t: ID32? = rng.next() % 4 == 0 ? nil : targets[Int(rng.next() % 3)]
            var tags = [Tag("Type", rng.next() % 2 == 0 ? "Message" : "Process"), Tag("Color", ["red", "green", "blue"][Int(rng.next() % 3)])]
            if n % 5 == 0 { tags.append(Tag("Color", "red")) }  // a repeated tag name (and sometimes a repeated tag)
            items.append(Fixture.item(key: k, target: t, tags: tags, data: "n\(n)"))
        }
        for chunk in stride(from: 0, to: items.count, by: 17) { try store.put(Array(items[chunk..<min(chunk + 17, items.count)])) }

        func expected(_ q: TransactionQuery) -> [MessageID] {
            let hits = items.filter { i in
                (q.ids.isEmpty || q.ids.contains(i.id)) && (q.owners.isEmpty || q.owners.contains(i.ownerAddress))
                    && (q.recipients.isEmpty || i.target.map { q.recipients.contains($0) } ?? false)
                    && q.tags.allSatisfy { f in i.tags.contains { $0.name == f.name && f.values.contains($0.value) } }
            }.map(\.id)
            return q.order == .newestFirst ? hits.reversed() : hits
        }
        func all(_ q: TransactionQuery) throws -> [MessageID] {
            var q = q, out: [MessageID] = []
            while true {
                let page = try store.transactions(q)
                out += page.ids
                guard page.hasNextPage else { return out }
                q.after = page.edges.last!.cursor
            }
        }
        let queries: [TransactionQuery] = [
            TransactionQuery(owners: [keys[0].address]),
            TransactionQuery(owners: [keys[0].address, keys[2].address], first: 7),
            TransactionQuery(recipients: [targets[1]], first: 9, order: .oldestFirst),
            TransactionQuery(tags: [TagFilter("Color", ["red"])], first: 13),
            TransactionQuery(tags: [TagFilter("Color", ["red", "blue"]), TagFilter("Type", ["Process"])], first: 5),
            TransactionQuery(owners: [keys[1].address], recipients: [targets[0], targets[2]], tags: [TagFilter("Type", ["Message"])], first: 3),
            TransactionQuery(ids: [items[3].id, items[50].id, items[99].id, Fixture.message(1)], tags: [TagFilter("Color", ["red", "green"])], first: 2),
            TransactionQuery(ids: items.prefix(30).map(\.id), first: 4, order: .oldestFirst),
            TransactionQuery(tags: [TagFilter("Color", ["purple"])]),
        ]
        for q in queries {
            let want = expected(q)
            #expect(try all(q) == want, "query \(q)")
        }
    }

    @Test(arguments: StoreFactory.all)
    func processLogsRangeScansAndConflicts(_ factory: StoreFactory) throws {
        let (store, cleanup) = try factory.make(); defer { cleanup() }
        let p = Fixture.process(1), q = Fixture.process(2)
        let entries = (0..<50).map { ProcessLogEntry(process: p, slot: UInt64($0), assignmentID: Fixture.message(UInt8($0)), messageID: Fixture.message(UInt8(100 + $0))) }
        try store.write(WriteBatch(assignments: entries))
        try store.write(WriteBatch(assignments: [ProcessLogEntry(process: q, slot: 7, assignmentID: Fixture.message(200), messageID: Fixture.message(201))]))
        #expect(try store.latestSlot(process: p) == 49)
        #expect(try store.latestSlot(process: q) == 7)
        #expect(try store.latestSlot(process: Fixture.process(3)) == nil)
        #expect(try store.processLog(process: p, from: 10, through: 14, limit: 100) == Array(entries[10...14]))
        #expect(try store.processLog(process: p, from: 45, through: .max, limit: 3) == Array(entries[45...47]))
        #expect(try store.processLog(process: q, from: 0, through: .max, limit: 100).map(\.slot) == [7])
        #expect(try store.assignment(process: p, slot: 20) == entries[20])
        // Re-writing the same entry is a no-op; a different one at a taken slot is refused, and the whole batch with it.
        try store.write(WriteBatch(assignments: [entries[3]]))
        let newcomer = Fixture.item(data: "in a refused batch")
        let equivocation = ProcessLogEntry(process: p, slot: 3, assignmentID: Fixture.message(250), messageID: Fixture.message(251))
        #expect(throws: StoreError.conflict("")) {
            try store.write(WriteBatch(items: [ItemWrite(bytes: newcomer.serialized())], assignments: [equivocation],
                                       keyValues: [.put(namespace: "votes", key: [1], value: [1])]))
        }
        #expect(try store.hasItem(newcomer.id) == false)
        #expect(try store.value(namespace: "votes", key: [1]) == nil)
        #expect(try store.assignment(process: p, slot: 3) == entries[3])
        #expect(throws: StoreError.invalidQuery("")) { try store.processLog(process: p, from: 0, through: 9, limit: 0) }
    }

    @Test(arguments: StoreFactory.all)
    func checkpointsAndResults(_ factory: StoreFactory) throws {
        let (store, cleanup) = try factory.make(); defer { cleanup() }
        let p = Fixture.process(1), q = Fixture.process(2)
        let big = [UInt8](repeating: 0xab, count: 3 << 20)  // bigger than the initial LMDB map: forces growth
        try store.write(WriteBatch(checkpoints: [SlotBlob(process: p, slot: 10, bytes: [1]), SlotBlob(process: p, slot: 20, bytes: big),
                                                 SlotBlob(process: q, slot: 5, bytes: [3])],
                                   results: [SlotBlob(process: p, slot: 10, bytes: [9])]))
        #expect(try store.latestCheckpoint(process: p, atOrBefore: 15)?.slot == 10)
        #expect(try store.latestCheckpoint(process: p, atOrBefore: 20)?.bytes == big)
        #expect(try store.latestCheckpoint(process: p, atOrBefore: .max)?.slot == 20)
        #expect(try store.latestCheckpoint(process: p, atOrBefore: 9) == nil)
        #expect(try store.latestCheckpoint(process: q, atOrBefore: 4) == nil)
        #expect(try store.latestCheckpoint(process: Fixture.process(0), atOrBefore: .max) == nil)
        // The slot-only lookup agrees with the full one at every boundary.
        for (process, slot) in [(p, UInt64(15)), (p, 20), (p, 19), (p, .max), (p, 9), (q, 4), (q, 5), (Fixture.process(0), .max)] {
            #expect(try store.latestCheckpointSlot(process: process, atOrBefore: slot) == store.latestCheckpoint(process: process, atOrBefore: slot)?.slot)
        }
        #expect(try store.latestCheckpointSlot(process: p, atOrBefore: 19) == 10)
        #expect(try store.checkpoint(process: q, slot: 5) == [3])
        #expect(try store.result(process: p, slot: 10) == [9])
        try store.write(WriteBatch(results: [SlotBlob(process: p, slot: 10, bytes: [8])]))
        #expect(try store.result(process: p, slot: 10) == [8])
        let stats = try store.statistics()
        #expect(stats.checkpointCount == 3 && stats.resultCount == 1)
    }

    @Test(arguments: StoreFactory.all)
    func keyValueNamespaces(_ factory: StoreFactory) throws {
        let (store, cleanup) = try factory.make(); defer { cleanup() }
        let raft = "raft/p1"
        try store.write(WriteBatch(keyValues: (0..<20).map { .put(namespace: raft, key: SequenceKey.bytes(UInt64($0)), value: [UInt8($0)]) }
                                   + [.put(namespace: "raft", key: [0xff], value: [1]), .put(namespace: "election", key: Array("term".utf8), value: [5])]))
        #expect(try store.value(namespace: "election", key: Array("term".utf8)) == [5])
        #expect(try store.values(namespace: raft, from: SequenceKey.bytes(15), limit: 100).map(\.value) == [[15], [16], [17], [18], [19]])
        #expect(try store.values(namespace: "raft", from: [], limit: 100).map(\.key) == [[0xff]])  // no bleed from "raft/p1"
        try store.write(WriteBatch(keyValues: [.deleteRange(namespace: raft, from: SequenceKey.bytes(5), to: SequenceKey.bytes(8)),
                                               .deleteRange(namespace: raft, from: SequenceKey.bytes(17), to: nil),
                                               .delete(namespace: "election", key: Array("term".utf8))]))
        #expect(try store.values(namespace: raft, from: [], limit: 100).map(\.value) == [[0], [1], [2], [3], [4], [8], [9], [10], [11], [12], [13], [14], [15], [16]])
        #expect(try store.value(namespace: "election", key: Array("term".utf8)) == nil)
        #expect(try store.value(namespace: "raft", key: [0xff]) == [1])
        #expect(throws: StoreError.limitExceeded("")) { try store.write(WriteBatch(keyValues: [.put(namespace: "", key: [1], value: [])])) }
        #expect(throws: StoreError.limitExceeded("")) { try store.write(WriteBatch(keyValues: [.put(namespace: "a", key: [UInt8](repeating: 1, count: 600), value: [])])) }
    }

    @Test(arguments: StoreFactory.all)
    func groupCommitMergesCallersAndIsolatesBadOnes(_ factory: StoreFactory) async throws {
        let (store, cleanup) = try factory.make(); defer { cleanup() }
        let committer = GroupCommitter(store: store, itemCountMax: 64)
        let items = (0..<300).map { Fixture.item(data: "gc \($0)") }
        let results = try await withThrowingTaskGroup(of: ItemWriteOutcome.self) { group in
            for i in items {
                group.addTask { try await committer.commit(WriteBatch(items: [ItemWrite(bytes: i.serialized(), expectedID: i.id)])).items[0] }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(results) == Set(items.map { ItemWriteOutcome.stored($0.id) }))
        // One bad request among good ones fails alone.
        let good = Fixture.item(data: "good neighbour")
        let bad = Task { try await committer.commit(WriteBatch(items: [ItemWrite(bytes: [9, 9, 9])])) }
        let fine = Task { try await committer.commit(WriteBatch(items: [ItemWrite(bytes: good.serialized())])) }
        await #expect(throws: StoreError.malformedItem("")) { try await bad.value }
        #expect(try await fine.value.items == [.stored(good.id)])
        // The blocking form: durable (readable) when it returns.
        let waited = Fixture.item(data: "waited for")
        #expect(try committer.commitWaiting(WriteBatch(items: [ItemWrite(bytes: waited.serialized())])).items == [.stored(waited.id)])
        #expect(try store.hasItem(waited.id))
        committer.close()
        await #expect(throws: StoreError.closed("")) { try await committer.commit(WriteBatch()) }
        #expect(throws: StoreError.closed("")) { try committer.commitWaiting(WriteBatch()) }
        #expect(try store.statistics().itemCount == 302)
    }
}

@Suite struct ProcessLogEntryTests {
    /// `aonode store import` fills the process log from assignment items. The process's own assignment (Nonce 0)
    /// names no Message (ao-protocol.md): its message is the process item. It used to give no entry, so an imported
    /// schedule had no slot 0 and its process could not be evaluated.
    @Test func theProcesssOwnAssignmentNamesTheProcessAsItsMessage() throws {
        let key = Ed25519PrivateKey.generate()
        let process = ProcessID(raw: ID32(bytes: SHA2.sha256(Array("process".utf8)))!)
        let message = MessageID(raw: ID32(bytes: SHA2.sha256(Array("message".utf8)))!)
        func assignment(_ nonce: String, message: MessageID?) throws -> DataItem {
            try DataItem.create(signer: key, tags: [DataItemTag("Process", process.base64URL), DataItemTag("Epoch", "0"),
                                                    DataItemTag("Nonce", nonce), DataItemTag("Type", "Assignment")]
                                    + (message.map { [DataItemTag("Message", $0.base64URL)] } ?? []), data: [])
        }
        let zero = try assignment("0", message: nil)
        #expect(processLogEntry(ofAssignment: zero) == ProcessLogEntry(process: process, slot: 0, assignmentID: zero.id, messageID: MessageID(process)))
        let one = try assignment("1", message: message)
        #expect(processLogEntry(ofAssignment: one)?.messageID == message)
        #expect(processLogEntry(ofAssignment: try assignment("2", message: nil)) == nil, "only slot 0 may omit Message")
    }
}

@Suite struct GreatestKeyTests {
    /// The in-memory doubles' "nearest checkpoint at or before" for both the full and the slot-only lookup.
    @Test func theGreatestKeyAtOrBelowABound() {
        let slots: [UInt64: String] = [3: "a", 10: "b", 11: "c", 40: "d"]
        #expect(slots.greatestKey(atOrBelow: 2) == nil)
        #expect(slots.greatestKey(atOrBelow: 3) == 3)
        #expect(slots.greatestKey(atOrBelow: 39) == 11)
        #expect(slots.greatestKey(atOrBelow: .max) == 40)
        #expect([UInt64: String]().greatestKey(atOrBelow: .max) == nil)
    }
}

/// 16,384 small signed items (the size from which the LMDB store pipelines parsing), signed once for all tests.
enum LargeBatch {
    static let items: [DataItem] = (0..<16_384).map { n in
        Fixture.item(key: Fixture.key(UInt8(1 + n % 4)), tags: [Tag("Large", "yes"), Tag("N", "\(n)")], data: "large \(n)")
    }
}
