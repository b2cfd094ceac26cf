import Testing
@testable import AOSimulation

/// Fixed seeds of issue #6's scenarios, scaled down so each runs in a few seconds in a debug build. The full-size
/// runs (500 nodes) are `scripts/sim-gossip-swarm` and `ao-sim gossip --nodes 500 ...`; docs/GOSSIP.md has numbers.
@Suite struct GossipSimulationTests {
    /// Stated bound: after the heal, every honest node holds every item within this many ticks.
    static let healBoundTicks: UInt64 = 300

    static func config(seed: UInt64, nodes: Int = 60, adversaries: Double = 0) -> GossipSimulationConfig {
        var c = GossipSimulationConfig()
        c.seed = seed; c.nodes = nodes
        c.loss = 0.05; c.churn = 0.10; c.duplication = 0.01
        c.adversaries = adversaries
        c.warmupTicks = 250; c.faultTicks = 600; c.messages = 40; c.largeEvery = 4
        c.healTicksMax = healBoundTicks; c.settleTicks = 100
        return c
    }

    static func check(_ r: GossipSimulationReport) {
        print(r.config.summary + "\n" + r.text)
        for t in r.targets { #expect(t.ok, "SEED=\(r.config.seed) target \(t.name): \(t.detail)") }
        #expect(r.deliveryRatio == 1)
        #expect(r.copiesMean <= Double(r.copiesBound))
        #expect(r.largeItems == 0 || r.largeBytesRatioMax <= 2)
        #expect(r.framesLost > 0 && r.crashes > 0, "the faults must actually happen")
        for i in r.invariants { #expect(i.checks > 0 && i.violations == 0, "\(i)") }
    }

    @Test(arguments: [UInt64(11), 12, 13])
    func lossChurnPartition(seed: UInt64) {
        let r = GossipSimulation(config: Self.config(seed: seed)).run()
        Self.check(r)
        #expect(r.partitions == 1)
        #expect((r.ticksToFullDelivery ?? .max) <= Self.healBoundTicks)
    }

    @Test(arguments: [UInt64(21), 22])
    func thirtyPercentAttackers(seed: UInt64) {
        let r = GossipSimulation(config: Self.config(seed: seed, adversaries: 0.3)).run()
        Self.check(r)
        #expect(r.attackers == 18)
        #expect(r.attackersBanned == r.attackersObserved && r.attackersObserved > 0)
        #expect(r.honestBans == 0)
    }

    /// Replay: the same configuration gives the same report, digest included, bit for bit.
    @Test func replaysFromSeed() {
        var c = Self.config(seed: 7, nodes: 30, adversaries: 0.2)
        c.messages = 20
        let a = GossipSimulation(config: c).run(), b = GossipSimulation(config: c).run()
        #expect(a == b)
        #expect(a.text == b.text)
        c.seed = 8
        let other = GossipSimulation(config: c).run()
        #expect(other.digest != a.digest)
    }
}
