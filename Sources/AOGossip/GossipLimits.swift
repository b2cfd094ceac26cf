import AOCore

/// Hard limits of the gossip and membership wire format and state (CONVENTIONS.md C11). Each says why.
public enum GossipLimits {
    /// Largest item gossip carries inline: 16 MiB. Larger items are fetched by id (replication), because a frame of
    /// that size would hold a connection for too long and every mesh peer would buffer it.
    public static let payloadBytesMax = 16 * 1024 * 1024
    /// Largest frame the decoder accepts: one maximal payload plus its header.
    public static let peerMessageBytesMax = payloadBytesMax + 1024
    /// Ids in one IHAVE/IWANT/IDONTWANT: 5000, gossipsub's `MaxIHaveLength`; 160 KB of ids, a frame's worth.
    public static let idsPerMessageMax = 5000
    /// Endpoints in one peer record: a node listens on a few addresses (IPv4, IPv6, a DNS name), not dozens.
    public static let endpointsPerRecordMax = 8
    /// Bytes of one endpoint ("host:port"): a DNS name is at most 253 bytes.
    public static let endpointBytesMax = 255
    /// Records in one shuffle: the sample is a few active plus a few passive entries (HyParView's ka + kp + 1).
    public static let recordsPerMessageMax = 64
    /// Messages waiting for the shell's validation verdict: validation is a signature check; more than this in
    /// flight means the shell is behind, and new arrivals are ignored (not penalised) until it catches up.
    public static let pendingValidationCountMax = 4096
    /// Items the seen cache remembers: at 1,000 items/s with a 2-minute TTL, 120,000 ids of 40 bytes (about 5 MB).
    public static let seenCountMax = 131_072
    /// Items whose payload is kept to answer IWANT: bounded by count and by bytes, whichever is reached first.
    public static let messageCacheCountMax = 8192
    /// Payload bytes kept to answer IWANT: 256 MiB, a few seconds of a busy node's traffic.
    public static let messageCacheBytesMax = 256 * 1024 * 1024
    /// Ids the node is waiting for after an IHAVE (outstanding promises): an IHAVE flood cannot grow it further.
    public static let wantCountMax = 16_384
    /// Peers a node keeps scores for, connected or recently connected: the active view plus everyone banned recently.
    public static let scoredPeerCountMax = 4096
    /// Topics a node follows or tracks for a peer: a node follows the processes it serves, not every process.
    public static let topicsPerPeerMax = 1024
    /// Announcement records kept: one per node of the network; 65,536 nodes is beyond this version's ambitions.
    public static let announcementCountMax = 65_536
}

/// Gossipsub-style parameters. Defaults are for a tick of 10 ms (the node shell's default); the simulator uses them.
/// `validate()` checks the relationships between them at startup (a programmer error otherwise).
public struct GossipParameters: Sendable, Equatable {
    /// D: the mesh degree a heartbeat steers to. Eager push sends each new item to at most D-1 mesh peers.
    public var meshDegree = 6
    /// D_lo: below this many mesh peers, a heartbeat grafts up to D.
    public var meshDegreeLow = 4
    /// D_hi: above this many, a heartbeat prunes down to D; a GRAFT is refused when the mesh is this full.
    public var meshDegreeHigh = 8
    /// Mesh peers a node pushes a new item to, at most. The eager-push bound is D-1 (a node with a mesh of exactly D
    /// sends to all but the peer it got the item from); we push to D-2 so that IWANT pulls and frames the network
    /// duplicates still leave the mean copies per node under D-1 (at D-1 the mean sat at 4.75-4.99 of 5 in 500-node
    /// runs). Each node still gets about D-2 eager copies, plenty for delivery, and lazy repair covers the rest.
    public var eagerPushCountMax = 4
    /// D_lazy: peers outside the mesh that receive IHAVE gossip each heartbeat.
    public var lazyDegree = 6
    /// Ticks between heartbeats (mesh maintenance, gossip, score decay): 100 ms at 10 ms a tick.
    public var heartbeatTicks: Tick = 10
    /// How long an id stays in the seen cache: a duplicate arriving later than this is treated as new.
    public var seenTTLTicks: Tick = 12_000
    /// How long a payload stays in the message cache to answer IWANT and to catch up peers that (re)connect.
    public var messageCacheTicks: Tick = 6_000
    /// Heartbeat gossip announces ids first seen within this window (gossipsub's mcache_gossip windows).
    public var gossipWindowTicks: Tick = 30
    /// After sending IWANT, how long to wait for the payload before calling the promise broken and asking another
    /// announcer. Must exceed a network round trip.
    public var iwantFollowupTicks: Tick = 15
    /// How many announcers to ask in turn for one id before giving up until a new IHAVE arrives.
    public var iwantAttemptsMax = 4
    /// Items of at least this many bytes travel by announce-and-pull (IHAVE, IWANT, IDONTWANT) instead of eager push,
    /// so each node receives about one copy: payload bytes per node stay at most 2x the item size.
    public var largePayloadBytesMin = 16 * 1024
    /// How long a pruned peer must wait before grafting again.
    public var pruneBackoffTicks: Tick = 60
    /// Ids announced to a peer in one IHAVE, and the most announced on (re)connection in total.
    public var ihaveIDsMax = 512
    /// IHAVE messages accepted from one peer per heartbeat; more is spam and ignored.
    public var ihaveMessagesPerHeartbeatMax = 16
    /// IHAVE messages sent to one peer per heartbeat (each of up to `ihaveIDsMax` ids): a busy topic has more recent
    /// ids than one IHAVE holds, and an id never announced is never repaired. Below the receiver's limit above.
    public var ihaveMessagesPerHeartbeatSent = 4
    /// Mesh peers get heartbeat IHAVEs too (eager push reaches at most `eagerPushCountMax` of them, and in a small
    /// network every peer can be in the mesh, leaving no lazy peer to repair a miss), but only for ids first seen
    /// at least this long ago: an eager copy is usually still on its way before that, and a pull then is a duplicate.
    public var meshRepairDelayTicks: Tick = 5
    public var scoring = PeerScoreParameters()

    public init() {}

    /// Traps with the offending values when the parameters contradict each other.
    public func validate() {
        precondition(meshDegreeLow >= 1 && meshDegreeLow <= meshDegree && meshDegree <= meshDegreeHigh,
                     "mesh degrees must satisfy 1 <= D_lo <= D <= D_hi: \(meshDegreeLow), \(meshDegree), \(meshDegreeHigh)")
        precondition(heartbeatTicks >= 1, "heartbeatTicks must be positive")
        precondition(eagerPushCountMax >= 1 && eagerPushCountMax <= meshDegreeHigh, "eagerPushCountMax must lie in 1...D_hi")
        precondition(seenTTLTicks >= messageCacheTicks, "the seen TTL must outlive the message cache, or a cached item could be re-accepted")
        precondition(gossipWindowTicks <= messageCacheTicks, "gossip must not announce what the cache no longer holds")
        precondition(ihaveIDsMax <= GossipLimits.idsPerMessageMax, "ihaveIDsMax over the wire limit")
        precondition(largePayloadBytesMin <= GossipLimits.payloadBytesMax, "largePayloadBytesMin over payloadBytesMax")
        precondition(iwantAttemptsMax >= 1, "iwantAttemptsMax must be positive")
        precondition(ihaveMessagesPerHeartbeatSent >= 1 && ihaveMessagesPerHeartbeatSent <= ihaveMessagesPerHeartbeatMax,
                     "ihaveMessagesPerHeartbeatSent must lie in 1...ihaveMessagesPerHeartbeatMax (what a peer accepts)")
        precondition(meshRepairDelayTicks < gossipWindowTicks, "mesh repair must start within the gossip window")
        scoring.validate()
    }
}

/// Peer scoring in the manner of gossipsub v1.1 (P2 first deliveries, P3 mesh delivery deficit, P4 invalid messages,
/// P7 behaviour penalty), reduced to what aonode needs. Counters decay every heartbeat; the score is
///
///     score = firstDeliveryWeight * min(firstDeliveries, firstDeliveriesCap)
///           - invalidWeight * invalid^2 - deficitWeight * deficit^2
///           - behaviourWeight * max(0, behaviour - behaviourThreshold)^2
///
/// A peer below `gossipThreshold` gets no gossip and its IHAVEs are ignored; below `banThreshold` it is disconnected
/// and refused for `banTicks`.
public struct PeerScoreParameters: Sendable, Equatable {
    public var firstDeliveryWeight = 0.5
    public var firstDeliveriesCap = 20.0
    public var firstDeliveryDecay = 0.98
    /// One invalid message costs 30 points, two cost 120: below the ban threshold. Honest nodes never relay an
    /// invalid item (they validate first), so even one is strong evidence.
    public var invalidWeight = 30.0
    public var invalidDecay = 0.999
    /// Mesh delivery deficit: charged once per heartbeat while a mesh peer, in the mesh for `deficitActivationTicks`,
    /// relayed nothing although at least `deficitMessagesMin` items arrived from elsewhere (a dropper).
    public var deficitWeight = 4.0
    public var deficitDecay = 0.99
    public var deficitActivationTicks: Tick = 50
    public var deficitMessagesMin = 8.0
    /// Decay of the per-peer counters the deficit check compares (items seen from others vs relayed by the peer).
    public var relayCounterDecay = 0.99
    /// Broken promises (IWANT unanswered), grafts during backoff.
    public var behaviourWeight = 2.0
    public var behaviourThreshold = 4.0
    public var behaviourDecay = 0.95
    /// Below this, no gossip to or from the peer.
    public var gossipThreshold = -10.0
    /// Below this, the peer is disconnected and refused.
    public var banThreshold = -50.0
    /// How long a ban lasts (10 minutes at 10 ms a tick).
    public var banTicks: Tick = 60_000
    /// How long a disconnected peer's score is kept, so reconnecting does not launder penalties.
    public var retainScoreTicks: Tick = 60_000

    public init() {}

    public func validate() {
        precondition(banThreshold < gossipThreshold && gossipThreshold <= 0, "thresholds must satisfy ban < gossip <= 0")
        for d in [firstDeliveryDecay, invalidDecay, deficitDecay, behaviourDecay, relayCounterDecay] {
            precondition(d > 0 && d < 1, "decay factors must lie in (0, 1): \(d)")
        }
    }
}
