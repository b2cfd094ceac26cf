import AOCore
import Foundation
import Testing
@testable import AOCompute

@Suite struct EvaluatorTests {
    static func process(_ id: String, tags: [ComputeTag] = []) -> ProcessDefinition {
        ProcessDefinition(id: id, owner: "OWNER", tags: tags, moduleID: "MODULE", moduleOwner: "MOD-OWNER", moduleTags: [],
                          timestamp: 1_700_000_000_000, blockHeight: 1000)
    }

    static func messages(_ pid: String, _ data: [String], from slot: Int64 = 0) -> [ScheduledMessage] {
        data.enumerated().map { i, d in
            ScheduledMessage(slot: slot + Int64(i), timestamp: 1_700_000_000_000 + Int64(i) * 1000, blockHeight: 1000,
                             hashChain: "HC\(i)", id: "MSG\(slot + Int64(i))", owner: "USER", target: pid, data: d,
                             tags: [ComputeTag("Action", "Eval"), ComputeTag("From", "spoof")])
        }
    }

    @Test func messageAndEnvObjectsHaveTheCUShape() throws {
        let m = ScheduledMessage(slot: 5, epoch: 0, timestamp: 17, blockHeight: 1393008, hashChain: "H", id: "I", signature: "S",
                                 owner: "MU", target: "P", anchor: "A", data: "D",
                                 tags: [ComputeTag("From-Process", "PARENT"), ComputeTag("Owner", "x"), ComputeTag("Action", "Ping")])
        #expect(m.json().serialized() == #"{"Id":"I","Signature":"S","Data":"D","Owner":"MU","Target":"P","Anchor":"A","From":"PARENT","Forwarded-By":"MU","Tags":[{"name":"From-Process","value":"PARENT"},{"name":"Action","value":"Ping"}],"Epoch":0,"Nonce":5,"Timestamp":17,"Block-Height":1393008,"Hash-Chain":"H","Cron":false,"Read-Only":false}"#)
        let p = Self.process("P", tags: [ComputeTag("Name", "n")])
        #expect(p.envJSON == #"{"Process":{"Id":"P","Owner":"OWNER","Tags":[{"name":"Name","value":"n"}]},"Module":{"Id":"MODULE","Owner":"MOD-OWNER","Tags":[]}}"#)
    }

    @Test func resultsAreCachedAndResumeFromCheckpoint() throws {
        let module = try ProcessModule(bytes: try TestModules.wasm32(), format: .emscripten2)
        let store = MemoryComputeStore()
        let ev = Evaluator(store: store, policy: CheckpointPolicy(everyMessages: 2, everyComputeSeconds: 1e9))
        let p = Self.process("P1")
        let msgs = Self.messages("P1", ["i", "i", "e", "i", "i"])
        let first = try ev.evaluate(process: p, module: module, messages: Array(msgs[0..<3]))
        #expect(first.map(\.output) == [.number(1), .number(2), nil])
        #expect(first[2].error == .string("boom"))
        #expect(store.checkpointCount == 1)
        // A fresh evaluator on the same store: slots 0-2 come from the cache, 3-4 resume from the slot-1 checkpoint.
        let again = Evaluator(store: store, policy: CheckpointPolicy(everyMessages: 2, everyComputeSeconds: 1e9))
        let all = try again.evaluate(process: p, module: module, messages: msgs)
        #expect(all.map(\.output) == [.number(1), .number(2), nil, .number(3), .number(4)])
        // An uninterrupted run ends in the same state.
        let straight = Evaluator(store: MemoryComputeStore(), policy: CheckpointPolicy(everyMessages: 1000))
        _ = try straight.evaluate(process: p, module: module, messages: msgs)
        #expect(straight.stateHash(process: "P1")?.hash == again.stateHash(process: "P1")?.hash)
        #expect(straight.stateHash(process: "P1")?.slot == 4)
    }

    @Test func dryRunLeavesStateUnchanged() throws {
        let module = try ProcessModule(bytes: try TestModules.wasm64(), format: .wasm64)
        let ev = Evaluator(store: MemoryComputeStore())
        let p = Self.process("P2")
        let msgs = Self.messages("P2", ["i", "i"])
        _ = try ev.evaluate(process: p, module: module, messages: msgs)
        let before = ev.stateHash(process: "P2")
        let dry = try ev.dryRun(process: p, module: module, messages: msgs, message: Self.messages("P2", ["i"], from: 99)[0])
        #expect(dry.output == .number(3))
        #expect(ev.stateHash(process: "P2")?.hash == before?.hash)
        let next = try ev.evaluate(process: p, module: module, messages: Self.messages("P2", ["i", "i", "i"]))
        #expect(next.last?.output == .number(3))
    }

    /// The race behind a dry-run's "slot 1 does not follow -1": the caller saw the live state at slot 1, and an
    /// evaluation moved it on before the state was read. With `state(through:messagesFrom:)` the evaluator decides
    /// under its lock: it asks for messages only when it rebuilds, and then from the nearest checkpoint.
    @Test func stateThroughAsksForMessagesOnlyWhenItRebuilds() throws {
        let module = try ProcessModule(bytes: try TestModules.wasm32(), format: .emscripten2)
        let store = CheckpointReadCountingStore()
        let ev = Evaluator(store: store, policy: CheckpointPolicy(everyMessages: 2, everyComputeSeconds: 1e9))
        let p = Self.process("P7")
        let msgs = Self.messages("P7", ["i", "i", "i", "i"])
        _ = try ev.evaluate(process: p, module: module, messages: Array(msgs[0...1]))  // live at 1, checkpoint at 1
        let atOne = try ev.state(process: p, module: module, through: 1) { first in
            Issue.record("live state at slot 1: no messages needed, asked from \(first)"); return []
        }
        #expect(atOne.slot == 1)
        // The live state moves on (the next message) before the next read of slot 1's state.
        _ = try ev.evaluate(process: p, module: module, messages: msgs)
        #expect(ev.liveSlot(process: "P7") == 3)
        var asked: [Int64] = []
        let blobReadsBefore = store.blobReads
        let again = try ev.state(process: p, module: module, through: 1) { first in asked.append(first); return Array(msgs[Int(first)...1]) }
        #expect(asked == [1])  // the checkpoint at slot 1 is the state itself: only slot 1 is asked for
        #expect(again.image.bytes == atOne.image.bytes)
        #expect(store.blobReads - blobReadsBefore == 1)  // deciding where to start reads the slot alone; the rebuild reads the image once
        // Slot 0 has no checkpoint at or below it: the messages from slot 0.
        asked = []
        let zero = try ev.state(process: p, module: module, through: 0) { first in asked.append(first); return Array(msgs[Int(first)...0]) }
        #expect(asked == [0] && zero.slot == 0)
        // A reader that gives the wrong range is refused with a clear error, not a wrong state.
        #expect(throws: ComputeError.self) {
            _ = try ev.state(process: p, module: module, through: 2) { _ in Array(msgs[0...1]) }  // stops short of slot 2
        }
        let dry = try ev.dryRun(process: p, module: module, through: 1, messagesFrom: { first in Array(msgs[Int(first)...1]) },
                                message: Self.messages("P7", ["i"], from: 99)[0])
        #expect(dry.output == .number(3))  // the counter after two messages, plus the dry-run's
        #expect(ev.liveSlot(process: "P7") == 3)
    }

    /// A `MemoryComputeStore` that counts reads of checkpoint blobs (memory images, megabytes each in real processes).
    final class CheckpointReadCountingStore: ComputeStore, @unchecked Sendable {
        let inner = MemoryComputeStore()
        private let lock = NSLock()
        private var reads = 0
        var blobReads: Int { lock.withLock { reads } }
        func result(process: String, slot: Int64) throws(ComputeError) -> [UInt8]? { try inner.result(process: process, slot: slot) }
        func putResult(process: String, slot: Int64, _ encoded: [UInt8]) throws(ComputeError) {
            try inner.putResult(process: process, slot: slot, encoded)
        }
        func checkpoint(process: String, atOrBelow slot: Int64) throws(ComputeError) -> (slot: Int64, bytes: [UInt8])? {
            lock.withLock { reads += 1 }
            return try inner.checkpoint(process: process, atOrBelow: slot)
        }
        func checkpointSlot(process: String, atOrBelow slot: Int64) throws(ComputeError) -> Int64? {
            try inner.checkpointSlot(process: process, atOrBelow: slot)
        }
        func putCheckpoint(process: String, slot: Int64, _ encoded: [UInt8]) throws(ComputeError) {
            try inner.putCheckpoint(process: process, slot: slot, encoded)
        }
        func putCronResult(process: String, position: CronPosition, _ encoded: [UInt8]) throws(ComputeError) {
            try inner.putCronResult(process: process, position: position, encoded)
        }
    }

    /// The attestation memory hash of a snapshot, from scratch (the definition, not the runner's incremental hasher).
    static func memoryHash(_ bytes: [UInt8]) -> [UInt8] { MemoryCommitment.hash(memory: bytes) }

    @Test func afterEachSeesEveryNewSlotAndPastStatesAreRebuilt() throws {
        let module = try ProcessModule(bytes: try TestModules.wasm32(), format: .emscripten2)
        let ev = Evaluator(store: MemoryComputeStore(), policy: CheckpointPolicy(everyMessages: 2, everyComputeSeconds: 1e9))
        let p = Self.process("P5")
        let msgs = Self.messages("P5", ["i", "i", "i", "i"])
        var seen: [Int64] = []
        var hashes: [Int64: [UInt8]] = [:]
        _ = try ev.evaluate(process: p, module: module, messages: msgs) { m, r, runner in
            seen.append(m.slot)
            hashes[m.slot] = runner.attestationMemoryHash()
            #expect(hashes[m.slot] == Self.memoryHash(runner.snapshot().bytes))
            #expect(r.resultHash.count == 32)
        }
        #expect(seen == [0, 1, 2, 3])
        // Cached slots do not call it again.
        _ = try ev.evaluate(process: p, module: module, messages: msgs) { m, _, _ in seen.append(m.slot) }
        #expect(seen.count == 4)
        // The state after slot 2 while the live runner is at 3: rebuilt from the slot-1 checkpoint plus slot 2.
        let past = try ev.state(process: p, module: module, messages: [msgs[2]])
        #expect(past.slot == 2)
        #expect(Self.memoryHash(past.image.bytes) == hashes[2])
        #expect(ev.liveSlot(process: "P5") == 3)
        let boot = try ev.state(process: p, module: module, messages: [msgs[0]])
        #expect(Self.memoryHash(boot.image.bytes) == hashes[0])
        let now = try ev.state(process: p, module: module, messages: [msgs[3]])
        #expect(Self.memoryHash(now.image.bytes) == hashes[3])
    }

    @Test func differentProcessesEvaluateConcurrently() throws {
        let m32 = try ProcessModule(bytes: try TestModules.wasm32(), format: .emscripten2)
        let m64 = try ProcessModule(bytes: try TestModules.wasm64(), format: .wasm64)
        let ev = Evaluator(store: MemoryComputeStore())
        let jobs = [(Self.process("A"), m32, Self.messages("A", ["i", "i", "i"])),
                    (Self.process("B"), m64, Self.messages("B", ["i", "j", "i"])),
                    (Self.process("C"), m32, Self.messages("C", ["t", "i"]))]
        let results = ev.evaluateConcurrently(jobs)
        #expect(try results[0].get().last?.output == .number(3))
        #expect(try results[1].get().map(\.output) == [.number(1), .string("caught"), .number(2)])
        #expect(try results[2].get().last?.output == .number(1))
    }

    @Test func cronIntervalsParseAndFireAsTheCUDoes() throws {
        let tags = [ComputeTag("Cron-Interval", "2-seconds"), ComputeTag("Cron-Tag-Action", "Tick"),
                    ComputeTag("Cron-Interval", "10-blocks"), ComputeTag("Cron-Tag-Action", "Block")]
        let s = try CronSchedule(processTags: tags)
        #expect(s.entries.map(\.value) == [2, 10])
        #expect(s.entries[0].tags == [ComputeTag("Action", "Tick")])
        #expect(throws: CronSchedule.ParseError.self) { try CronSchedule(processTags: [ComputeTag("Cron-Tag-X", "y")]) }
        #expect(throws: CronSchedule.ParseError.self) { try CronSchedule(processTags: [ComputeTag("Cron-Interval", "500-ms")]) }
        let p = Self.process("P", tags: tags)
        // Origin 1_700_000_000 s; between +0 s and +5 s the 2 s cron fires at +2 and +4 (never at the origin).
        let crons = s.messagesBetween(process: p, leftTimestamp: 1_700_000_000_000, rightTimestamp: 1_700_000_005_000, blockHeight: 7)
        #expect(crons.map { $0["Timestamp"] } == [.number(1_700_000_002_000), .number(1_700_000_004_000)])
        #expect(crons[0].serialized() == #"{"Owner":"OWNER","Target":"P","From":"OWNER","Tags":[{"name":"Action","value":"Tick"}],"Timestamp":1700000002000,"Block-Height":7,"Cron":true,"Read-Only":false}"#)
    }
}
