/// One invariant checker's tally: how many ticks it ran, how many observations it examined, how many failed.
/// A checker that examined nothing proves nothing, so a run fails when any checker's `checks` is zero.
public struct GossipInvariantTally: Sendable, Equatable {
    public let name: String
    public var ticks = 0
    public var checks = 0
    public var violations = 0
    public init(name: String) { self.name = name }
}

/// The invariants the gossip simulation checks at the end of every tick. Each names what would be wrong.
enum GossipInvariant: Int, CaseIterable {
    /// An honest node sent a payload that fails validation (it relayed an invalid item).
    case noInvalidRelayed
    /// A node delivered an item that is invalid, unknown, not yet published, or that it had delivered before.
    case deliveryAccounting
    /// An honest node sent the same payload to the same peer more than 1 + 3 times in one incarnation (one eager push
    /// plus at most three IWANT answers), or a node received more copies of an item than its peers could send.
    case duplicatesBound
    /// A mesh over D_hi, an active or passive view over its maximum, a mesh peer that is not connected, or gossip and
    /// membership disagreeing about who is connected.
    case viewBounds

    var name: String {
        switch self {
        case .noInvalidRelayed: return "no-invalid-relayed"
        case .deliveryAccounting: return "delivery-accounting"
        case .duplicatesBound: return "duplicates-bound"
        case .viewBounds: return "view-bounds"
        }
    }
}
