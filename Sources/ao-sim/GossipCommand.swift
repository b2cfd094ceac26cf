import AOSimulation
import ArgumentParser

/// `ao-sim gossip`: hundreds of gossip + membership cores over a lossy, partitioned, churning simulated network.
/// Prints the seed and every fault parameter first, the figures and targets last; exits non-zero when a target fails.
/// Replay any run with the same flags (the seed included): the output, `DIGEST=` included, is identical.
struct GossipCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gossip",
        abstract: "Simulate gossip and membership; check delivery, duplicates, bytes, bans and invariants.")

    @Option(help: "Number of nodes.") var nodes = 500
    @Option(help: "Seed of the run (default: a random one, printed).") var seed: UInt64?
    @Option(help: "Frame loss probability during the fault phase.") var loss = 0.05
    @Option(help: "Frame duplication probability during the fault phase.") var duplication = 0.01
    @Option(help: "Fraction of nodes that crash and restart during the fault phase.") var churn = 0.10
    @Option(help: "Fraction of nodes that misbehave.") var adversaries = 0.0
    @Option(help: "Adversary kind: mixed, invalid or dropper.") var adversaryKind = "mixed"
    @Option(help: "Ticks of the fault phase (items are published during it).") var ticks: UInt64 = 1000
    @Option(help: "Ticks of warm-up before the faults.") var warmup: UInt64 = 300
    @Option(help: "Ticks allowed after the heal to reach full delivery.") var healTicks: UInt64 = 1500
    @Option(help: "Items published during the fault phase.") var messages = 100
    @Option(help: "Every Nth item is large (0: none).") var largeEvery = 5
    @Option(help: "Size of a large item in bytes.") var largeBytes = 64 * 1024
    @Option(help: "Partition episodes during the fault phase.") var partitions = 1
    @Option(help: "Ticks each partition lasts.") var partitionTicks: UInt64 = 150
    @Option(help: "Minimum frame delay in ticks.") var delayMin: UInt64 = 1
    @Option(help: "Maximum frame delay in ticks.") var delayMax: UInt64 = 5
    @Option(help: "Mesh degree D (D_lo = D-2, D_hi = D+2, eager push to D-2).") var meshDegree = 6

    func validate() throws {
        guard nodes >= 2 else { throw ValidationError("--nodes must be at least 2") }
        guard (0...1).contains(loss), (0...1).contains(churn), (0...1).contains(adversaries), (0...1).contains(duplication)
        else { throw ValidationError("probabilities must lie in [0, 1]") }
        guard GossipAdversaryKind(rawValue: adversaryKind) != nil else { throw ValidationError("--adversary-kind: mixed, invalid or dropper") }
        guard delayMin >= 1, delayMin <= delayMax else { throw ValidationError("need 1 <= --delay-min <= --delay-max") }
        guard meshDegree >= 3 else { throw ValidationError("--mesh-degree must be at least 3") }
    }

    func run() throws {
        var c = GossipSimulationConfig()
        c.seed = seed ?? UInt64.random(in: 1...UInt64.max)
        c.nodes = nodes; c.loss = loss; c.duplication = duplication; c.churn = churn
        c.adversaries = adversaries; c.adversaryKind = GossipAdversaryKind(rawValue: adversaryKind)!
        c.faultTicks = ticks; c.warmupTicks = warmup; c.healTicksMax = healTicks
        c.messages = messages; c.largeEvery = largeEvery; c.largeItemBytes = largeBytes
        c.partitions = partitions; c.partitionTicks = partitionTicks
        c.delayTicksMin = delayMin; c.delayTicksMax = delayMax
        c.gossip.meshDegree = meshDegree; c.gossip.meshDegreeLow = meshDegree - 2; c.gossip.meshDegreeHigh = meshDegree + 2
        c.gossip.eagerPushCountMax = meshDegree - 2
        c.membership.activeViewMax = max(c.membership.activeViewMax, meshDegree + 4)
        print(c.summary)
        let report = GossipSimulation(config: c).run()
        print(report.text)
        if !report.passed { throw ExitCode(1) }
    }
}
