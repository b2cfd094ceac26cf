import AOCore
import AOScheduling

/// Fault and workload parameters of one scheduling simulation run. Everything random derives from `seed`, so a run
/// is replayed bit for bit by passing the same values (`ao-sim sched --seed S ...`).
public struct SchedSimConfig: Sendable, CustomStringConvertible {
    public var seed: UInt64 = 1
    public var nodes = 5
    public var processes = 12
    public var replicas = 3
    /// Ticks with faults and traffic; then a settle phase without faults checks that everything acknowledged is
    /// assigned and that every group goes quiet.
    public var ticks: UInt64 = 2000
    public var settleTicksMax: UInt64 = 3000
    /// Chance per tick (per mille) that a client submits a new message to a random live node.
    public var submitPerMille: UInt64 = 300
    /// Chance (percent) that a client also submits the same message to a second node (dedupe by id).
    public var resubmitPercent: UInt64 = 10
    /// Chance (percent) that a message is an outbox push with a (From-Process, Reference) key, and that such a push
    /// is re-sent later as a *different* data item with the same key (dedupe by key).
    public var outboxPercent: UInt64 = 20
    public var lossPercent: UInt64 = 5
    public var duplicatePercent: UInt64 = 3
    public var delayTicksMax: UInt64 = 3
    /// Chance per tick (per mille) that a random live node crashes (volatile state lost, durable state kept).
    public var crashPerMille: UInt64 = 3
    /// A crashed node restarts after a random 1...restartTicksMax ticks.
    public var restartTicksMax: UInt64 = 80
    /// Chance (per mille) that a node handling a batch crashes after persisting it and before sending anything.
    public var crashAfterPersistPerMille: UInt64 = 1
    /// Chance per tick (per mille) that a random partition forms (if none), lasting 1...partitionTicksMax ticks.
    public var partitionPerMille: UInt64 = 3
    public var partitionTicksMax: UInt64 = 120
    /// Checking "one leader per term" scans every group on every node each tick; large runs turn it off.
    public var checkLeadersEveryTick = true

    public init() {}

    public var description: String {
        "SEED=\(seed) nodes=\(nodes) processes=\(processes) replicas=\(replicas) ticks=\(ticks) submit=\(submitPerMille)/1000 "
            + "resubmit=\(resubmitPercent)% outbox=\(outboxPercent)% loss=\(lossPercent)% dup=\(duplicatePercent)% "
            + "delay<=\(delayTicksMax) crash=\(crashPerMille)/1000 restart<=\(restartTicksMax) "
            + "crashAfterPersist=\(crashAfterPersistPerMille)/1000 partition=\(partitionPerMille)/1000 partitionTicks<=\(partitionTicksMax)"
    }
}

/// What a run found. `violations` is empty for a passing run.
public struct SchedSimReport: Sendable, CustomStringConvertible {
    public var config: SchedSimConfig
    public var violations: [String] = []
    public var ticksRun: UInt64 = 0
    public var messagesAcknowledged = 0
    public var outboxDuplicatesSent = 0
    public var slotsCommitted = 0
    public var commitRecordsChecked = 0
    public var leaderChecks = 0
    public var leadersSeen = 0
    public var crashes = 0
    public var crashesAfterPersist = 0
    public var restarts = 0
    public var partitions = 0
    public var certificates = 0
    public var equivocations = 0
    public var packetsSent = 0, packetsDropped = 0, packetsDuplicated = 0, bytesSent = 0
    public var failoverTicks: [UInt64] = []
    public var quiescentAfterSettleTicks: UInt64 = 0
    public var livenessWakes = 0

    public var failoverMedianTicks: UInt64? {
        guard !failoverTicks.isEmpty else { return nil }
        return failoverTicks.sorted()[failoverTicks.count / 2]
    }

    public var description: String {
        var s = "\(config)\n"
        s += "ticks=\(ticksRun) acked=\(messagesAcknowledged) outboxRepushes=\(outboxDuplicatesSent) slotsCommitted=\(slotsCommitted) "
        s += "commitChecks=\(commitRecordsChecked) leaderChecks=\(leaderChecks) leaders=\(leadersSeen) certificates=\(certificates)\n"
        s += "crashes=\(crashes) (afterPersist=\(crashesAfterPersist)) restarts=\(restarts) partitions=\(partitions) "
        s += "livenessWakes=\(livenessWakes) equivocations=\(equivocations)\n"
        s += "packets=\(packetsSent) dropped=\(packetsDropped) duplicated=\(packetsDuplicated) bytes=\(bytesSent)\n"
        let f = failoverTicks.sorted()
        s += "failover samples=\(f.count) medianTicks=\(failoverMedianTicks.map(String.init) ?? "-") maxTicks=\(f.last.map(String.init) ?? "-")\n"
        s += "quiescentAfterSettle=\(quiescentAfterSettleTicks) ticks\n"
        s += violations.isEmpty ? "OK" : "VIOLATIONS (\(violations.count)):\n" + violations.prefix(20).joined(separator: "\n")
        return s
    }
}

/// The deterministic scheduling simulator (our VOPR for issue #7): N `SchedulerHost`s in one thread over
/// `SchedPacketNetwork`, an in-memory durable store per node, crashes (volatile state lost; also between persist and
/// send), restarts, partitions, loss, duplication and reordering. Invariants are checked as they can break:
/// 1. never two different assignments (messages) at the same (process, slot), across all nodes and all time;
/// 2. each node's committed slots of a process are contiguous from 0 and the hash chain links them (timestamps and
///    block heights never go backwards);
/// 3. at most one leader per group and term (every tick);
/// 4. every acknowledged message is eventually assigned exactly once (no message id twice; one per outbox key),
///    checked after a settle phase without faults, which also checks that every group goes quiet.
public final class SchedulingSimulation {
    public let config: SchedSimConfig
    public private(set) var report: SchedSimReport
    var rng: Xoshiro256
    public private(set) var now: Tick = 0
    public let nodeIDs: [NodeID]
    let nodeIndex: [NodeID: Int]
    public private(set) var processes: [ProcessID] = []
    var network: SchedPacketNetwork
    let hostSettings: SchedulerHostSettings

    struct Durable {
        var groups: [ProcessID: DurableGroup] = [:]
        /// Accepted, unassigned submissions with their arrival sequence (the shell's pending records).
        var submissions: [String: (arrival: UInt64, process: ProcessID, message: MessageID, outboxKey: OutboxKey?)] = [:]
        var nextArrival: UInt64 = 0
        var committedTip: [ProcessID: SealedAssignment] = [:]
    }
    struct Node { var host: SchedulerHost?; var durable = Durable(); var restartAt: Tick = 0 }
    var nodes: [Node] = []

    var globalSlots: [ProcessID: [Slot: SealedAssignment]] = [:]
    var messageSlot: [ProcessID: [MessageID: Slot]] = [:]
    var outboxSlot: [ProcessID: [OutboxKey: Slot]] = [:]
    var leaders: [ProcessID: [Term: Int]] = [:]
    var acked: [(ProcessID, MessageID, OutboxKey?)] = []
    var messageCounter: UInt64 = 0
    var partitionUntil: Tick = 0
    var failoverWatch: [ProcessID: (start: Tick, term: Term)] = [:]
    var faultsOn = true

    public init(config: SchedSimConfig, hostSettings: SchedulerHostSettings = SchedulerHostSettings()) {
        self.config = config
        self.report = SchedSimReport(config: config)
        self.rng = Xoshiro256(seed: config.seed)
        self.hostSettings = hostSettings
        nodeIDs = (0..<config.nodes).map { NodeID(bytes: SHA2.sha256(Array("sim-node-\($0)".utf8)))! }
        nodeIndex = Dictionary(uniqueKeysWithValues: nodeIDs.enumerated().map { ($1, $0) })
        network = SchedPacketNetwork(lossPercent: config.lossPercent, duplicatePercent: config.duplicatePercent,
                                     delayTicksMax: config.delayTicksMax)
        let admitted = Set(nodeIDs)
        for id in nodeIDs {
            nodes.append(Node(host: SchedulerHost(signer: SimulatedSigner(nodeID: id), admitted: admitted, settings: hostSettings)))
        }
        processes = (0..<config.processes).map { ProcessID(bytes: SHA2.sha256(Array("sim-process-\(config.seed)-\($0)".utf8)))! }
        for i in nodes.indices { for p in processes { nodes[i].host!.onProcess(p, replicas: config.replicas, rng: &rng) } }
    }

    func violation(_ s: String) { report.violations.append("tick \(now): \(s)") }

    // MARK: run

    /// Runs the fault phase and the settle phase; returns the report.
    public func run() -> SchedSimReport {
        while now < config.ticks && report.violations.isEmpty { step() }
        settle()
        finishReport()
        return report
    }

    /// One tick: faults, client traffic, deliveries, host ticks, batches, invariants.
    public func step() {
        now += 1
        lastTick = TickTraffic()
        if faultsOn { injectFaults() }
        for i in nodes.indices where nodes[i].host == nil && faultsOn == false || (nodes[i].host == nil && nodes[i].restartAt <= now) {
            restart(i)
        }
        if faultsOn && UInt64.random(in: 0..<1000, using: &rng) < config.submitPerMille { submitNew() }
        for p in network.due(now: now) where nodes[p.to].host != nil {
            nodes[p.to].host!.onEnvelope(p.bytes, from: nodeIDs[p.from], rng: &rng)
        }
        for i in nodes.indices where nodes[i].host != nil {
            nodes[i].host!.onTick(now: now, clockMs: 1_700_000_000_000 + now * 50, rng: &rng)
        }
        for i in nodes.indices where nodes[i].host != nil { drain(i) }
        if config.checkLeadersEveryTick { checkLeaders() }
        watchFailovers()
    }

    func injectFaults() {
        let up = nodes.indices.filter { nodes[$0].host != nil }
        if !up.isEmpty && UInt64.random(in: 0..<1000, using: &rng) < config.crashPerMille {
            crash(up[Int.random(in: 0..<up.count, using: &rng)], afterPersist: false)
        }
        if network.isPartitioned && now >= partitionUntil { network.heal() }
        if !network.isPartitioned && UInt64.random(in: 0..<1000, using: &rng) < config.partitionPerMille {
            var all = Array(nodes.indices)
            all.shuffle(using: &rng)
            let cut = Int.random(in: 1..<max(2, all.count), using: &rng)
            network.partition(Array(all[..<cut]), Array(all[cut...]))
            partitionUntil = now + UInt64.random(in: 1...config.partitionTicksMax, using: &rng)
            report.partitions += 1
        }
    }

    func crash(_ i: Int, afterPersist: Bool) {
        guard let host = nodes[i].host else { return }
        for (p, g) in host.groups.sorted(by: { $0.key < $1.key }) where g.raft.role == .leader && failoverWatch[p] == nil {
            failoverWatch[p] = (now, g.raft.term)
        }
        nodes[i].host = nil
        nodes[i].restartAt = now + UInt64.random(in: 1...config.restartTicksMax, using: &rng)
        report.crashes += 1
        if afterPersist { report.crashesAfterPersist += 1 }
    }

    func restart(_ i: Int) {
        let d = nodes[i].durable
        let subs = d.submissions.values.sorted { $0.arrival < $1.arrival }.map { ($0.process, $0.message, $0.outboxKey) }
        nodes[i].host = SchedulerHost(
            signer: SimulatedSigner(nodeID: nodeIDs[i]), admitted: Set(nodeIDs), settings: hostSettings, now: now,
            incarnation: UInt64(report.restarts + 1),
            restoring: d.groups.values.sorted { $0.process < $1.process },
            replicas: Dictionary(uniqueKeysWithValues: processes.map { ($0, config.replicas) }), submissions: subs, rng: &rng)
        report.restarts += 1
    }

    func submitNew() {
        let up = nodes.indices.filter { nodes[$0].host != nil }
        guard !up.isEmpty else { return }
        messageCounter += 1
        let p = processes[Int.random(in: 0..<processes.count, using: &rng)]
        let m = MessageID(bytes: SHA2.sha256(Array("sim-message-\(config.seed)-\(messageCounter)".utf8)))!
        var key: OutboxKey?
        if UInt64.random(in: 0..<100, using: &rng) < config.outboxPercent {
            let from = processes[Int.random(in: 0..<processes.count, using: &rng)]
            key = OutboxKey(fromProcess: from, reference: String(messageCounter))
        }
        submit(p, m, key, at: up[Int.random(in: 0..<up.count, using: &rng)])
        if UInt64.random(in: 0..<100, using: &rng) < config.resubmitPercent {
            submit(p, m, key, at: up[Int.random(in: 0..<up.count, using: &rng)])
        }
        // A crank retry re-signs the pushed message: a different id with the same (From-Process, Reference).
        if let key, UInt64.random(in: 0..<100, using: &rng) < 30 {
            let m2 = MessageID(bytes: SHA2.sha256(m.bytes))!
            report.outboxDuplicatesSent += 1
            submit(p, m2, key, at: up[Int.random(in: 0..<up.count, using: &rng)])
        }
    }

    func submit(_ p: ProcessID, _ m: MessageID, _ key: OutboxKey?, at i: Int) {
        do {
            try nodes[i].host!.onSubmit(p, message: m, outboxKey: key, now: now, clockMs: 1_700_000_000_000 + now * 50)
        } catch {
            return  // refused: not acknowledged to the client
        }
        // Durable at the node, so acknowledged (202) to the client.
        let id = p.base64URL + m.base64URL
        if nodes[i].durable.submissions[id] == nil {
            nodes[i].durable.submissions[id] = (nodes[i].durable.nextArrival, p, m, key)
            nodes[i].durable.nextArrival += 1
        }
        acked.append((p, m, key))
        report.messagesAcknowledged += 1
    }

    /// Carries out one host batch with the Ready contract: persist, (maybe crash), send, record.
    func drain(_ i: Int) {
        guard nodes[i].host != nil else { return }
        let r = nodes[i].host!.ready()
        for w in r.writes {
            // Mutated in place: copying a stored log out and back would make every write O(log length).
            if nodes[i].durable.groups[w.process] == nil {
                nodes[i].durable.groups[w.process] = DurableGroup(process: w.process, bootstrapMembers: w.bootstrapMembers,
                                                                  hardState: HardState(), log: [], applied: 0)
            }
            nodes[i].durable.groups[w.process]!.bootstrapMembers = w.bootstrapMembers
            if let hs = w.hardState { nodes[i].durable.groups[w.process]!.hardState = hs }
            if let first = w.entries.first {
                let count = nodes[i].durable.groups[w.process]!.log.count
                precondition(first.index >= 1 && Int(first.index) <= count + 1, "write leaves a hole in the stored log")
                nodes[i].durable.groups[w.process]!.log.removeSubrange(Int(first.index - 1)...)
                nodes[i].durable.groups[w.process]!.log += w.entries
            }
        }
        if faultsOn && !r.envelopes.isEmpty && UInt64.random(in: 0..<1000, using: &rng) < config.crashAfterPersistPerMille {
            crash(i, afterPersist: true)
            return
        }
        lastTick.writes += r.writes.count
        lastTick.commits += r.commits.count
        for (to, env) in r.envelopes {
            guard let j = nodeIndex[to] else { violation("envelope to unknown node"); continue }
            let bytes = env.encoded()
            lastTick.envelopes += 1; lastTick.items += env.items.count; lastTick.bytes += bytes.count
            network.send(from: i, to: j, bytes: bytes, now: now, rng: &rng)
        }
        for c in r.commits { recordCommit(node: i, c) }
        report.certificates += r.certificates.count
        report.equivocations += r.equivocations.count
        for e in r.equivocations { violation("equivocation reported against \(e.signer) at slot \(e.first.fields.slot) in an honest run") }
        for s in r.submissionsAssigned { nodes[i].durable.submissions[s.process.base64URL + s.message.base64URL] = nil }
        nodes[i].host!.advance(r)
        lastTick.activeGroups += nodes[i].host!.active.count
    }

    func recordCommit(node i: Int, _ c: GroupCommit) {
        let p = c.process
        nodes[i].durable.groups[p]?.applied = c.appliedIndex
        for a in c.assignments {
            report.commitRecordsChecked += 1
            let f = a.fields
            guard f.process == p else { violation("assignment for \(f.process) in group \(p)"); continue }
            if !SimulatedSigner(nodeID: a.signer).verify(a) { violation("bad signature on committed slot \(f.slot)") }
            // Invariant 1: one assignment per (process, slot), ever.
            if let existing = globalSlots[p]?[f.slot] {
                if existing.id != a.id {
                    violation("two assignments at (\(p), slot \(f.slot)): messages \(String(describing: existing.fields.message)) and \(String(describing: f.message))")
                }
            } else {
                globalSlots[p, default: [:]][f.slot] = a
                report.slotsCommitted += 1
                let m = f.message ?? MessageID(p)
                if let s = messageSlot[p]?[m], s != f.slot { violation("message \(m) assigned twice (slots \(s) and \(f.slot))") }
                messageSlot[p, default: [:]][m] = f.slot
                if let k = f.outboxKey {
                    if let s = outboxSlot[p]?[k], s != f.slot { violation("outbox key \(k.reference) assigned twice (slots \(s), \(f.slot))") }
                    outboxSlot[p, default: [:]][k] = f.slot
                }
            }
            // Invariant 2: contiguous from 0 at this node, hash chain, monotone time and height.
            if let tip = nodes[i].durable.committedTip[p] {
                if f.slot <= tip.fields.slot { continue }  // re-applied after a restart; checked against the global map
                if f.slot != tip.fields.slot + 1 { violation("node \(i) committed slot \(f.slot) after \(tip.fields.slot)") }
                if f.hashChain != HashChain.next(previousAssignment: tip.id, previous: tip.fields.hashChain) {
                    violation("hash chain broken at (\(p), slot \(f.slot))")
                }
                if f.timestampMs < tip.fields.timestampMs { violation("timestamp went backwards at slot \(f.slot)") }
                if f.blockHeight < tip.fields.blockHeight { violation("block height went backwards at slot \(f.slot)") }
            } else {
                if f.slot != 0 { violation("node \(i) first committed slot of \(p) is \(f.slot), not 0") }
                if f.message != nil { violation("slot 0 of \(p) is not the process's own assignment") }
                if f.hashChain != HashChain.first(process: p) { violation("slot 0 hash chain of \(p) wrong") }
            }
            nodes[i].durable.committedTip[p] = a
        }
    }

    func checkLeaders() {
        for i in nodes.indices {
            guard let host = nodes[i].host else { continue }
            for (p, g) in host.groups where g.raft.role == .leader {
                report.leaderChecks += 1
                if let other = leaders[p]?[g.raft.term] {
                    if other != i { violation("two leaders of \(p) in term \(g.raft.term): nodes \(other) and \(i)") }
                } else {
                    leaders[p, default: [:]][g.raft.term] = i
                    report.leadersSeen += 1
                }
            }
        }
    }

    /// What the hosts emitted in one tick, summed over nodes: the quiescence cost measure.
    public struct TickTraffic: Hashable, Sendable {
        public var envelopes = 0, items = 0, bytes = 0, writes = 0, commits = 0, activeGroups = 0
    }
    /// Traffic of the current tick (reset at the start of each `step`).
    public private(set) var lastTick = TickTraffic()

    /// Runs fault-free steps until every host has no active group (all quiescent); false if `maxTicks` pass first.
    public func runUntilQuiet(maxTicks: UInt64) -> Bool {
        faultsOn = false
        let start = now
        while now < start + maxTicks {
            step()
            if nodes.allSatisfy({ $0.host?.active.isEmpty ?? true }) { return true }
        }
        return false
    }

    /// Runs `ticks` fault-free steps without traffic and returns what each tick emitted.
    public func measureIdleTraffic(ticks: Int) -> [TickTraffic] {
        faultsOn = false
        return (0..<ticks).map { _ in step(); return lastTick }
    }

    /// The live hosts (for tests).
    public var hosts: [SchedulerHost] { nodes.compactMap(\.host) }

    /// Set to print every node's view of the watched groups each tick (debugging a slow failover).
    public var traceFailovers = false

    func watchFailovers() {
        for (p, w) in failoverWatch.sorted(by: { $0.key < $1.key }) {
            if traceFailovers {
                for j in nodes.indices { print("t=\(now) node \(j) \(nodes[j].host.map { $0.debugDescription(p) } ?? "down")") }
            }
            for n in nodes {
                guard let g = n.host?.groups[p], g.raft.role == .leader, g.raft.term > w.term,
                      g.raft.termAt(g.raft.commit) == g.raft.term else { continue }
                if faultsOn { report.failoverTicks.append(now - w.start) }
                failoverWatch[p] = nil
                break
            }
        }
    }

    /// No more faults: heal, restart everyone, stop traffic; then every acknowledged message must get assigned and
    /// every group must go quiet.
    func settle() {
        faultsOn = false
        network.heal()
        network.lossPercent = 0; network.duplicatePercent = 0
        failoverWatch = [:]
        let start = now
        while now < start + config.settleTicksMax && report.violations.isEmpty {
            step()
            if allAssigned() { break }
        }
        if report.violations.isEmpty {
            let missing = acked.filter { (p, m, key) in messageSlot[p]?[m] == nil && !(key.map { outboxSlot[p]?[$0] != nil } ?? false) }
            for (p, m, _) in missing.prefix(5) { violation("acknowledged message \(m) of \(p) never assigned") }
            if missing.count > 5 { violation("... \(missing.count) acknowledged messages never assigned in all") }
            for i in nodes.indices where !(nodes[i].host?.pendingSubmissionCount == 0) {
                violation("node \(i) still retries \(nodes[i].host?.pendingSubmissionCount ?? -1) submissions after settling")
                for (p, m, n) in (nodes[i].host?.pendingSubmissions ?? []).prefix(2) {
                    report.violations.append("  pending \(m) attempts \(n) assignedAt=\(String(describing: messageSlot[p]?[m])) key=\(String(describing: acked.first { $0.1 == m }?.2))")
                    for j in nodes.indices { if let h = nodes[j].host { report.violations.append("    node \(j) \(h.debugDescription(p))") } }
                }
            }
        }
        // Quiescence: with nothing to do, every group stops sending (liveness heartbeats aside).
        let quietStart = now
        while now < quietStart + 1000 && report.violations.isEmpty {
            step()
            if nodes.allSatisfy({ $0.host?.active.isEmpty ?? true }) { break }
        }
        report.quiescentAfterSettleTicks = now - quietStart
        if !nodes.allSatisfy({ $0.host?.active.isEmpty ?? true }) {
            let busy = nodes.indices.map { nodes[$0].host?.active.count ?? 0 }
            violation("groups did not quiesce within 1000 ticks of settling (active per node: \(busy))")
            for i in nodes.indices { if let h = nodes[i].host { for p in h.active.sorted().prefix(3) { report.violations.append("  node \(i) \(h.debugDescription(p))") } } }
        }
    }

    func allAssigned() -> Bool {
        guard nodes.allSatisfy({ $0.host?.pendingSubmissionCount == 0 }) else { return false }
        for (p, m, key) in acked {
            if messageSlot[p]?[m] == nil && !(key.map { outboxSlot[p]?[$0] != nil } ?? false) { return false }
        }
        return true
    }

    func finishReport() {
        report.ticksRun = now
        report.packetsSent = network.packetsSent; report.packetsDropped = network.packetsDropped
        report.packetsDuplicated = network.packetsDuplicated; report.bytesSent = network.bytesSent
        report.livenessWakes = nodes.compactMap { $0.host?.counters.groupsWokenByLiveness }.reduce(0, +)
    }
}
