/// What a gossip simulation run measured, the targets it checks, and a printable form.
public struct GossipSimulationReport: Sendable, Equatable {
    public let config: GossipSimulationConfig
    public var items = 0, largeItems = 0
    /// Fraction of (honest node, item) pairs delivered, at the heal and at the end.
    public var deliveryRatioAtHeal = 0.0, deliveryRatio = 0.0
    public var missingDeliveries = 0
    /// Ticks from the heal until every honest node held every item (nil: never within `healTicksMax`).
    public var ticksToFullDelivery: UInt64?
    public var healTick: UInt64 = 0, endTick: UInt64 = 0
    /// Payload copies an honest node received per small item (nodes that received at least one, origin excluded).
    public var copiesMax = 0, copiesMean = 0.0
    /// Payload bytes an honest node received per large item, divided by the item size.
    public var largeBytesRatioMax = 0.0, largeBytesRatioMean = 0.0
    public var attackers = 0, attackersObserved = 0, attackersBanned = 0, attackersInHonestMesh = 0
    /// Scores honest nodes hold for attackers (mean, and the most lenient one) against the ban threshold.
    public var attackerScoreMean = 0.0, attackerScoreMax = 0.0, banThreshold = 0.0
    /// (honest node, honest peer) pairs where one banned the other at the end.
    public var honestBans = 0
    public var invariants: [GossipInvariantTally] = []
    public var violations: [String] = []
    public var digest: UInt64 = 0
    public var framesSent = 0, framesLost = 0, framesDuplicated = 0, framesUndeliverable = 0
    public var crashes = 0, restarts = 0, partitions = 0, attackFrames = 0

    public init(config: GossipSimulationConfig) { self.config = config }

    /// The eager-push bound: a node forwards a new item to its mesh peers except the one it came from, so at mesh
    /// degree D the network carries at most D-1 copies per node per item on average.
    public var copiesBound: Int { config.gossip.meshDegree - 1 }

    /// Each target with whether it held and the figures behind it.
    public var targets: [(name: String, ok: Bool, detail: String)] {
        var t: [(String, Bool, String)] = []
        t.append(("delivery", deliveryRatio == 1 && ticksToFullDelivery != nil,
                  "ratio \(fmt(deliveryRatio)) (\(missingDeliveries) missing), full after \(ticksToFullDelivery.map(String.init) ?? "never") ticks <= \(config.healTicksMax)"))
        t.append(("copies", copiesMean <= Double(copiesBound),
                  "mean \(fmt(copiesMean)) max \(copiesMax) per node per item, bound D-1 = \(copiesBound) on the mean"))
        if largeItems > 0 {
            t.append(("large-bytes", largeBytesRatioMax <= 2, "max \(fmt(largeBytesRatioMax))x mean \(fmt(largeBytesRatioMean))x the item size, bound 2x"))
        }
        if attackers > 0 {
            t.append(("attackers-banned", attackersBanned == attackersObserved,
                      "\(attackersBanned)/\(attackersObserved) observed attackers banned (of \(attackers)); score mean \(fmt(attackerScoreMean)) max \(fmt(attackerScoreMax)) vs ban threshold \(fmt(banThreshold))"))
        }
        t.append(("honest-bans", honestBans == 0, "\(honestBans) honest peers banned by honest nodes"))
        let silent = invariants.filter { $0.checks == 0 }.map(\.name)
        let broken = invariants.filter { $0.violations > 0 }.map(\.name)
        t.append(("invariants", silent.isEmpty && broken.isEmpty,
                  silent.isEmpty ? (broken.isEmpty ? "all held" : "violated: \(broken.joined(separator: ","))") : "never ran: \(silent.joined(separator: ","))"))
        return t
    }

    public var passed: Bool { targets.allSatisfy(\.ok) }

    public var text: String {
        var lines: [String] = []
        lines.append("items=\(items) (large \(largeItems)) frames sent=\(framesSent) lost=\(framesLost) duplicated=\(framesDuplicated) undeliverable=\(framesUndeliverable) crashes=\(crashes) restarts=\(restarts) partitions=\(partitions) attack-frames=\(attackFrames)")
        lines.append("delivery ratio at heal (tick \(healTick)) \(fmt(deliveryRatioAtHeal)), after heal \(fmt(deliveryRatio)); ticks to full delivery after heal: \(ticksToFullDelivery.map(String.init) ?? "never") (bound \(config.healTicksMax)); run ended at tick \(endTick)")
        lines.append("copies received per node per item: max \(copiesMax) mean \(fmt(copiesMean)) (D-1 = \(copiesBound))")
        if largeItems > 0 { lines.append("payload bytes per node per >=\(config.largeItemBytes / 1024) KiB item: max \(fmt(largeBytesRatioMax))x mean \(fmt(largeBytesRatioMean))x the item size (bound 2x)") }
        if attackers > 0 {
            lines.append("attackers \(attackers): observed \(attackersObserved), banned \(attackersBanned), still in an honest mesh \(attackersInHonestMesh); scores held by honest nodes: mean \(fmt(attackerScoreMean)) max \(fmt(attackerScoreMax)), ban threshold \(fmt(banThreshold))")
        }
        lines.append("honest peers banned by honest nodes: \(honestBans)")
        for i in invariants { lines.append("invariant \(i.name): ran \(i.ticks) ticks, \(i.checks) checks, \(i.violations) violations") }
        for v in violations { lines.append("VIOLATION \(v)") }
        for t in targets { lines.append("target \(t.name): \(t.ok ? "ok" : "FAILED") - \(t.detail)") }
        lines.append("DIGEST=\(String(digest, radix: 16))")
        lines.append(passed ? "RESULT=pass SEED=\(config.seed)" : "RESULT=FAIL SEED=\(config.seed)")
        return lines.joined(separator: "\n")
    }

    private func fmt(_ x: Double) -> String {
        let r = (x * 1000).rounded() / 1000
        return "\(r)"
    }
}

extension GossipInvariantTally: CustomStringConvertible {
    public var description: String { "\(name): \(ticks) ticks, \(checks) checks, \(violations) violations" }
}
