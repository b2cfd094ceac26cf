import AOCore
import AOScheduling
import Testing
@testable import AOSimulation

/// Fixed seeds of the scheduling simulator (the swarm runs thousands: scripts/sim-sched-swarm). Each run has
/// crashes (also between persist and send), restarts, partitions, loss, duplication and reordering; the simulator
/// checks the invariants every tick and after a fault-free settle phase.
@Suite struct SchedulingSimulationTests {
    @Test(arguments: [UInt64(1), 2, 3, 42])
    func fixedSeedHoldsTheInvariants(seed: UInt64) {
        var c = SchedSimConfig()
        c.seed = seed; c.ticks = 600; c.processes = 6
        let report = SchedulingSimulation(config: c).run()
        let ok = report.violations.isEmpty
        #expect(ok, "\(report)")
        #expect(report.messagesAcknowledged > 50)
        #expect(report.slotsCommitted >= report.messagesAcknowledged / 2)
        #expect(report.commitRecordsChecked > report.slotsCommitted)  // every node's commits were checked, not just one
        #expect(report.leaderChecks > 0)
    }

    @Test func aSeedReplaysBitForBit() {
        var c = SchedSimConfig()
        c.seed = 77; c.ticks = 300; c.processes = 4
        let a = SchedulingSimulation(config: c).run(), b = SchedulingSimulation(config: c).run()
        #expect(a.description == b.description)
        #expect(a.bytesSent == b.bytesSent && a.packetsSent == b.packetsSent)
    }

    @Test func heavyFaultsStillSafe() {
        var c = SchedSimConfig()
        c.seed = 9; c.ticks = 500; c.processes = 4; c.nodes = 3
        c.lossPercent = 20; c.duplicatePercent = 10; c.delayTicksMax = 8; c.crashPerMille = 15; c.crashAfterPersistPerMille = 20
        c.partitionPerMille = 15
        let report = SchedulingSimulation(config: c).run()
        let ok = report.violations.isEmpty
        #expect(ok, "\(report)")
        #expect(report.crashes > 2)
    }

    @Test func singleReplicaProcessesWork() {
        var c = SchedSimConfig()
        c.seed = 5; c.ticks = 300; c.processes = 4; c.replicas = 1; c.nodes = 3
        let report = SchedulingSimulation(config: c).run()
        let ok = report.violations.isEmpty
        #expect(ok, "\(report)")
        #expect(report.slotsCommitted > 20)
    }

    /// Quiescence: once idle, 10,000 groups cost exactly what 10 cost per tick: the same envelopes, items, bytes and
    /// writes (only node-level liveness beats remain), and no group is active.
    @Test func tenThousandQuiescentGroupsCostWhatTenCost() {
        func idleTraffic(processes: Int) -> [SchedulingSimulation.TickTraffic] {
            var c = SchedSimConfig()
            c.seed = 11; c.nodes = 3; c.processes = processes; c.checkLeadersEveryTick = false
            let sim = SchedulingSimulation(config: c)
            let quiet = sim.runUntilQuiet(maxTicks: 400)
            #expect(quiet, "groups did not quiesce (\(processes) processes)")
            // Let the last quiesce heartbeats land, then align to the liveness schedule so both runs see the same phase.
            for _ in 0..<20 { sim.step() }
            while sim.now % 10 != 0 { sim.step() }
            return sim.measureIdleTraffic(ticks: 20)
        }
        let few = idleTraffic(processes: 10), many = idleTraffic(processes: 10_000)
        #expect(few == many)
        #expect(few.allSatisfy { $0.activeGroups == 0 && $0.writes == 0 && $0.commits == 0 })
        #expect(few.contains { $0.envelopes > 0 })  // liveness beats are there, and are all there is
    }

    /// One node's submissions for one process are assigned in the order it accepted them, also across a failover:
    /// the first message goes to the leader just before it dies; the next two are accepted once the origin knows the
    /// new leader. Without re-forwarding the earlier message ahead of the later ones, it would be retried after them
    /// and take a later slot. Run with each follower as the origin (one of them usually becomes the new leader).
    @Test(arguments: [1, 2]) func oneNodesSubmissionsKeepTheirOrderAcrossAFailover(originOffset: Int) throws {
        var c = SchedSimConfig()
        c.seed = 7; c.nodes = 3; c.processes = 1; c.replicas = 3
        c.submitPerMille = 0; c.crashPerMille = 0; c.crashAfterPersistPerMille = 0; c.partitionPerMille = 0
        c.lossPercent = 0; c.duplicatePercent = 0; c.delayTicksMax = 1; c.restartTicksMax = 100_000
        let sim = SchedulingSimulation(config: c)
        let p = sim.processes[0]
        func leader() -> Int? { sim.nodes.indices.first { sim.nodes[$0].host?.groups[p]?.raft.role == .leader } }
        while leader() == nil && sim.now < 500 { sim.step() }
        let old = try #require(leader(), "no first leader")
        _ = sim.runUntilQuiet(maxTicks: 200)
        sim.faultsOn = true  // every fault rate is 0: only the scripted crash happens, and no restart
        let origin = (old + originOffset) % 3
        let ids = (1...3).map { MessageID(bytes: SHA2.sha256(Array("ordered-\($0)".utf8)))! }
        sim.crash(old, afterPersist: false)
        sim.submit(p, ids[0], nil, at: origin)
        // The origin learns of the new leader (or becomes it).
        func originsLeader() -> NodeID? { sim.nodes[origin].host?.groups[p]?.raft.leader }
        while (originsLeader() == nil || originsLeader() == sim.nodeIDs[old]) && sim.now < 2000 { sim.step() }
        try #require(originsLeader() != nil && originsLeader() != sim.nodeIDs[old], "no new leader")
        sim.submit(p, ids[1], nil, at: origin)
        sim.submit(p, ids[2], nil, at: origin)
        while ids.contains(where: { sim.messageSlot[p]?[$0] == nil }) && sim.now < 4000 && sim.report.violations.isEmpty { sim.step() }
        let slots = ids.map { sim.messageSlot[p]?[$0] }
        #expect(sim.report.violations.isEmpty, "\(sim.report.violations)")
        #expect(slots.allSatisfy { $0 != nil } && slots[0]! < slots[1]! && slots[1]! < slots[2]!, "slots in submission order: \(slots)")
    }
}
