import AOCore
import AOTestSupport
import AOHTTP
import AONode
import AOScheduling
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Collects what the senders saw: every message answered 202, and the ones that failed.
actor SubmissionLedger {
    var accepted: [String] = []
    var refused = 0
    var failed = 0
    func record(_ id: MessageID, status: Int) {
        if status == 202 { accepted.append(id.base64URL) } else { refused += 1 }
    }
    func recordFailure() { failed += 1 }
}

/// Three real `aonode` processes on loopback schedule one process with `Scheduler-Replicas: 3`. Messages go in
/// continuously through all three nodes' `POST /`; the leader is SIGKILLed; a new leader goes on assigning; the
/// old leader restarts on its data dir and catches up through the Raft log; then the three logs are identical,
/// contiguous from slot 0, with a valid hash chain, and every 202 message is assigned exactly once.
@Suite("Scheduler failover (3 aonode processes)", .serialized)
struct SchedulerFailoverTests {
    @Test("SIGKILL of the leader: a new leader assigns, the old one catches up, logs agree")
    func leaderKilled() async throws {
        guard let binary = LocalCluster.findBinary() else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("the aonode binary is not built (.build/release/aonode or .build/debug/aonode); build it first")
            } else {
                print("SKIPPED SchedulerFailoverTests: build `aonode` first (swift build -c release --product aonode)")
            }
            return
        }
        let cluster = try LocalCluster(binary: binary, count: 3, name: "failover")
        var passed = false
        defer { if !passed { print("SchedulerFailoverTests: node logs kept in \(cluster.root)") } }
        do {
            try await run(cluster)
            passed = true
            await cluster.shutdown(keepFiles: false)
        } catch {
            await cluster.shutdown(keepFiles: true)
            throw error
        }
    }

    func run(_ cluster: LocalCluster) async throws {
        for i in 0..<3 { try cluster.start(i) }
        for i in 0..<3 { try await cluster.waitHealthy(i) }

        // Spawn: a module item, then a process on it, through node 0.
        let client = ClientItems()
        let module = try client.module()
        #expect(try await cluster.post(0, module) == 202)
        let processItem = try client.process(module: module.id, replicas: 3)
        #expect(try await cluster.post(0, processItem) == 202)
        let p = ProcessID(processItem.id)

        // Every node learns the process (gossip) and the same leader.
        let leader = try await waitForLeader(cluster, p, nodes: [0, 1, 2], excluding: nil, seconds: 30)
        let leaderIndex = try #require(cluster.index(of: leader))

        // Senders: one task per node, ~10 messages a second each (under the default per-client rate limit).
        let ledger = SubmissionLedger()
        let stop = ManagedAtomicFlag()
        let senders = (0..<3).map { node in
            Task {
                var sequence = 0
                while !stop.isSet {
                    sequence += 1
                    if let m = try? client.message(to: p, sequence: node * 1_000_000 + sequence) {
                        do {
                            let status = try await cluster.post(node, m)
                            await ledger.record(m.id, status: status)
                        } catch { await ledger.recordFailure() }
                    }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
        }

        try await Task.sleep(for: .seconds(3))
        let survivors = (0..<3).filter { $0 != leaderIndex }
        let before = try await cluster.group(survivors[0], p)
        let killedAt = Date()
        cluster.kill(leaderIndex)

        // A new leader, among the survivors, commits a slot past what was there at the kill.
        let newLeader = try await waitForLeader(cluster, p, nodes: survivors, excluding: leader, seconds: 30)
        let beforeSlot = before.lastSlot ?? 0
        try await waitUntil(seconds: 30, "a slot committed after the kill") {
            (try? await cluster.group(survivors[0], p))?.lastSlot ?? 0 > beforeSlot + 1
        }
        print("SchedulerFailoverTests: failover to \(newLeader.base64URL.prefix(8)) in \(String(format: "%.2f", Date().timeIntervalSince(killedAt))) s (with the cluster under test load)")
        #expect(newLeader != leader)

        try await Task.sleep(for: .seconds(2))
        // The old leader restarts on its data dir and catches up through the Raft log.
        try cluster.start(leaderIndex)
        try await cluster.waitHealthy(leaderIndex)
        try await Task.sleep(for: .seconds(3))
        stop.set()
        for s in senders { await s.value }

        let accepted = await ledger.accepted
        #expect(accepted.count > 50, "too few messages went in: \(accepted.count)")

        // All three logs converge: same last slot, covering every accepted message.
        let acceptedSet = Set(accepted)
        try await waitUntil(seconds: 60, "all three logs hold every accepted message") {
            var lasts: [UInt64?] = []
            for i in 0..<3 { lasts.append((try? await cluster.group(i, p))?.lastSlot) }
            guard let first = lasts[0], lasts.allSatisfy({ $0 == first }) else { return false }
            // slots 1... are messages (slot 0 is the process); every accepted one must be there
            return first >= UInt64(acceptedSet.count)
        }

        var logs: [[LocalCluster.LogEntry]] = []
        for i in 0..<3 { logs.append(try await cluster.processLog(i, p)) }
        for i in 0..<3 {
            #expect(LocalCluster.firstBrokenSlot(logs[i], process: p) == nil, "node \(i): hash chain or contiguity broken")
            #expect(logs[i].first?.slot == 0)
        }
        #expect(logs[0] == logs[1], "nodes 0 and 1 disagree")
        #expect(logs[0] == logs[2], "nodes 0 and 2 disagree")
        if let differing = zip(logs[0], logs[leaderIndex]).first(where: { $0.0 != $0.1 }) {
            Issue.record("restarted node differs at slot \(differing.0.slot)")
        }

        let messages = logs[0].dropFirst().compactMap(\.message)
        let counts = Dictionary(messages.map { ($0, 1) }, uniquingKeysWith: +)
        #expect(counts.values.allSatisfy { $0 == 1 }, "a message was assigned twice")
        let missing = acceptedSet.subtracting(counts.keys)
        #expect(missing.isEmpty, "\(missing.count) accepted (202) messages were never assigned")
        #expect(logs[0].count == messages.count + 1, "log entries other than slot 0 without a message")

        // Equivocation by gossip: two different assignments for slot 1, one signer (an admitted key), one term, posted
        // to node 0; nodes 1 and 2 receive them by gossip, detect and count them, and keep their logs.
        for n in 0..<2 {
            let other = try client.message(to: p, sequence: -1 - n)
            let fields = AssignmentFields(process: p, slot: 1, message: other.id,
                                          hashChain: HashChain.first(process: p), blockHeight: 1_000_000,
                                          timestampMs: 1, term: 999_999)
            // Signed as AssignmentSigner.seal does: the Assignment tags in AO's order, node 0's key.
            let item = try DataItem.create(signer: cluster.members[0].key,
                                           tags: fields.assignmentTags.map { DataItemTag($0.name, $0.value) })
            #expect(try await cluster.post(0, item) == 202)
        }
        try await waitUntil(seconds: 20, "nodes 1 and 2 count the equivocation and the conflict") {
            for i in 1..<3 {
                guard let m = try? await cluster.request(i, "GET", "/metrics") else { return false }
                let text = String(decoding: m.body, as: UTF8.self)
                func value(_ name: String) -> Int {
                    text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
                }
                if value("aonode_equivocations_total") < 1 || value("aonode_conflicting_assignments_total") < 1 { return false }
            }
            return true
        }
        #expect(cluster.log(1).contains("equivocation detected"))
        #expect(try await cluster.processLog(1, p) == logs[1], "node 1's log changed after the forged assignments")

        let failed = await ledger.failed
        print("SchedulerFailoverTests: \(accepted.count) messages accepted, \(failed) sends failed (node down), log of \(logs[0].count) slots")
    }

    func waitForLeader(_ cluster: LocalCluster, _ p: ProcessID, nodes: [Int], excluding: NodeID?, seconds: Double) async throws -> NodeID {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            var seen: [NodeID?] = []
            for i in nodes { seen.append((try? await cluster.group(i, p))?.leader) }
            if let l = seen.first ?? nil, l != excluding, seen.allSatisfy({ $0 == l }) { return l }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ClusterFailure("no agreed leader on nodes \(nodes) within \(seconds) s")
    }

    func waitUntil(seconds: Double, _ what: String, _ condition: () async -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ClusterFailure("timed out after \(seconds) s waiting for: \(what)")
    }
}

/// A stop flag the sender tasks poll.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
