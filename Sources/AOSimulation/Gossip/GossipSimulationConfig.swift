import AOCore
import AOGossip

/// Everything that determines a gossip simulation run. Two runs with equal configurations (the seed included)
/// produce the same events, the same report and the same digest, bit for bit.
public struct GossipSimulationConfig: Sendable, Equatable {
    public var seed: UInt64 = 1
    public var nodes = 100
    /// Probability that a frame is lost (each frame, independently).
    public var loss = 0.05
    /// Probability that a frame is delivered twice.
    public var duplication = 0.01
    /// Frames arrive after a uniform delay in this range (so they reorder freely).
    public var delayTicksMin: Tick = 1
    public var delayTicksMax: Tick = 5
    /// Fraction of nodes that crash during the fault phase and restart (with a fresh core, the store kept).
    public var churn = 0.10
    public var downTicksMin: Tick = 50
    public var downTicksMax: Tick = 300
    /// Fraction of nodes that misbehave. Half send invalid items, half drop everything (see `adversaryKind`).
    public var adversaries = 0.0
    public var adversaryKind: GossipAdversaryKind = .mixed
    /// How often an invalid-item attacker injects a forged item to each of its peers.
    public var attackEveryTicks: Tick = 20
    /// Partition episodes during the fault phase; each splits the nodes into two random halves.
    public var partitions = 1
    public var partitionTicks: Tick = 150
    /// Ticks before the faults start: nodes join (staggered over the first half) and meshes form.
    public var warmupTicks: Tick = 300
    /// The fault phase: items are published, frames lost, nodes crash, the network partitions.
    public var faultTicks: Tick = 1000
    /// After the heal (faults off, every crashed node restarted): the run must reach full delivery within this.
    public var healTicksMax: Tick = 1500
    /// Ticks the run continues after the heal even when delivery is complete, so scores and views settle.
    public var settleTicks: Tick = 150
    /// Items published during the fault phase, by random live honest nodes.
    public var messages = 100
    /// Every `largeEvery`-th item is large (0: none).
    public var largeEvery = 5
    public var largeItemBytes = 64 * 1024
    public var smallItemBytes = 256
    /// Ticks after a crash or a partition before the peers notice the broken connection.
    public var failureDetectionTicks: Tick = 5
    /// Publish signed node announcements on the global topic (membership's `.announce`).
    public var announcements = true
    /// Nodes the others know from their configuration.
    public var contactCount = 8
    public var gossip = GossipParameters()
    public var membership = MembershipParameters()

    public init() {}

    /// One line with every parameter that shapes the run, printed at the start of each run.
    public var summary: String {
        "SEED=\(seed) nodes=\(nodes) loss=\(loss) duplication=\(duplication) delay=\(delayTicksMin)...\(delayTicksMax) "
            + "churn=\(churn) down=\(downTicksMin)...\(downTicksMax) adversaries=\(adversaries) kind=\(adversaryKind.rawValue) "
            + "partitions=\(partitions)x\(partitionTicks) warmup=\(warmupTicks) ticks=\(faultTicks) heal-max=\(healTicksMax) "
            + "messages=\(messages) large-every=\(largeEvery) large-bytes=\(largeItemBytes) small-bytes=\(smallItemBytes) "
            + "D=\(gossip.meshDegree) D_lo=\(gossip.meshDegreeLow) D_hi=\(gossip.meshDegreeHigh) D_lazy=\(gossip.lazyDegree) "
            + "active=\(membership.activeViewMax) passive=\(membership.passiveViewMax)"
    }
}

public enum GossipAdversaryKind: String, Sendable, Equatable, CaseIterable {
    /// Half the adversaries send invalid items, half drop everything.
    case mixed
    /// All adversaries inject invalid items (bad signatures, some under genuine ids) and relay the rest.
    case invalid
    /// All adversaries keep their connections and mesh links but send no payload, IHAVE, IWANT or IDONTWANT.
    case dropper
}
