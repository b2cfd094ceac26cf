import AOCore

/// # MembershipCore: who a node talks to, in the manner of HyParView
///
/// A pure state machine (CONVENTIONS.md C1) that keeps two views of the network:
/// - the **active view**: a small set (at most `activeViewMax`) of peers with a live connection, symmetric (if A has B,
///   B has A). Gossip runs only over it: every change is reported as `.activated` / `.deactivated`, which the shell
///   passes on to `GossipCore.onPeerConnected` / `onPeerDisconnected`.
/// - the **passive view**: a larger set (at most `passiveViewMax`) of known nodes without a connection, the reserve
///   from which a failed active peer is replaced.
///
/// ## Protocol (Leitão, Pereira, Rodrigues, "HyParView", DSN 2007)
/// - **Join**: a new node connects to a contact (bootstrap peer from config) and sends JOIN. The contact takes it into
///   its active view and sends FORWARDJOIN along every other active link; each walk runs `activeRandomWalkLength`
///   hops, and the node where it ends connects to the newcomer with a high-priority NEIGHBOR; at hop
///   `passiveRandomWalkLength` the newcomer enters a passive view.
/// - **Repair**: when an active peer fails (connection lost or refused), the node connects to a random passive entry
///   and sends NEIGHBOR, high priority when its active view is nearly empty (then the other side must accept,
///   evicting a random active peer of its own), low priority otherwise (accepted only when there is room).
/// - **Shuffle**: every `shuffleTicks`, a sample of both views and the node itself walks `shuffleWalkLength` hops; the
///   end answers with a sample of its passive view; both merge what they got into their passive views.
/// - **Announcements**: a signed `NodeAnnouncement` (address, endpoints, capabilities, TTL) is published on the global
///   gossip topic every `announceTicks` (`.announce` asks the shell to sign a fresh one). The shell verifies those it
///   receives and hands them to `onAnnouncement`; the core keeps them until their TTL runs out and adds their nodes
///   to the passive view. Signing and verifying are the shell's job; the core treats the signed bytes as opaque.
///
/// ## Deviations from the paper and why
/// - **Rotation**: every `rotationTicks` a node with a full active view drops one random active peer to its passive
///   view and lets repair connect a random passive one. After a partition heals, the passive views still name nodes
///   on the other side, so rotation reconnects the halves; plain HyParView never would.
/// - Failed passive entries are not dropped at once but retried with exponential backoff and dropped after
///   `passiveFailuresMax` failures, so a partition does not erase all knowledge of the other side.
/// - NEIGHBOR is high priority while the active view holds fewer than `activeViewMin` peers (the paper: when empty), so
///   nodes do not linger with a single link.
/// - Ids are node ids (SHA-256 of the node key); the transport handshake authenticates them, so a lie in a peer record
///   costs one failed connection.
public struct MembershipCore: Sendable {
    public let me: PeerRecord
    public let parameters: MembershipParameters

    private var active: [NodeID: PeerRecord] = [:]
    private var passive: [NodeID: PassiveEntry] = [:]
    private var pending: [NodeID: PendingConnect] = [:]
    private var connections: Set<NodeID> = []
    private var banned: [NodeID: Tick] = [:]
    private var contacts: [PeerRecord] = []
    private var announcements: [NodeID: StoredAnnouncement] = [:]
    private var nextShuffle: Tick = 0, nextRotation: Tick = 0, nextAnnounce: Tick = 0, nextContactAttempt: Tick = 0
    private var lastRepairAttempt: Tick?
    private var started = false

    public init(me: PeerRecord, parameters: MembershipParameters = MembershipParameters()) {
        parameters.validate()
        self.me = me; self.parameters = parameters
    }

    // MARK: - Inspection

    public var activeView: [NodeID] { active.keys.sorted() }
    public var passiveView: [NodeID] { passive.keys.sorted() }
    public var activeCount: Int { active.count }
    public var passiveCount: Int { passive.count }
    public func isActive(_ peer: NodeID) -> Bool { active[peer] != nil }
    public func isBanned(_ peer: NodeID, now: Tick) -> Bool { (banned[peer] ?? 0) > now }
    /// Announcements still within their TTL, sorted by node.
    public func announcements(now: Tick) -> [SignedNodeAnnouncement] {
        announcements.filter { $0.value.expiresAt > now }.sorted { $0.key < $1.key }.map(\.value.signed)
    }

    // MARK: - Events

    /// MUST be invoked once when the node starts. Connects to a random contact to join and asks for an announcement.
    public mutating func start(contacts: [PeerRecord], now: Tick, rng: inout some RandomNumberGenerator) -> [MembershipDirective] {
        var directives: [MembershipDirective] = []
        precondition(!started, "MembershipCore.start called twice")
        started = true
        self.contacts = contacts.filter { $0.node != me.node }
        nextShuffle = now + 1 + rng.next() % parameters.shuffleTicks
        nextRotation = now + parameters.rotationTicks / 2 + rng.next() % parameters.rotationTicks
        nextAnnounce = now + parameters.announceTicks
        directives.append(.announce)
        joinViaContact(now: now, rng: &rng, into: &directives)
        // The other contacts are known peers: in the passive view, repair tries them while the active view has room.
        // Without this, nodes that joined through different contacts in a small network could form active views that
        // never meet (seen: five nodes split 3 + 2 for good, an item published in one part never reached the other),
        // since shuffles only exchange what each part already knows.
        for c in self.contacts where pending[c.node] == nil { addPassive(c, now: now, retryAfter: now, rng: &rng) }
        return directives
    }

    /// MUST be invoked when a connection to `peer` is up (`outbound`: we opened it after a `.connect`).
    public mutating func onConnectionEstablished(_ peer: NodeID, now: Tick) -> [MembershipDirective] {
        var directives: [MembershipDirective] = []
        connections.insert(peer)
        if isBanned(peer, now: now) { close(peer, into: &directives); return directives }
        guard let p = pending[peer], !p.sent else { return directives }
        sendPending(p, to: peer, into: &directives)
        return directives
    }

    /// Sends the JOIN or NEIGHBOR a pending connect was opened for.
    private mutating func sendPending(_ p: PendingConnect, to peer: NodeID, into directives: inout [MembershipDirective]) {
        pending[peer]!.sent = true
        switch p.purpose {
        case .join: directives.append(.send(to: peer, message: .join(me)))
        case .neighbor(let high): directives.append(.send(to: peer, message: .neighbor(me, highPriority: high)))
        }
    }

    /// MUST be invoked when the transport swapped the connection to `peer` for another one (both sides dialled at
    /// once and one connection was kept): the peer is still connected, but frames queued on the dropped connection
    /// may be lost in either direction. So the link's last word is said again: a JOIN or NEIGHBOR still waiting for
    /// its reply is re-sent, and an active link is confirmed with a high-priority NEIGHBOR (which the peer accepts,
    /// taking us back into its active view if it never heard our JOIN). Nothing is dropped from the views.
    public mutating func onConnectionReplaced(_ peer: NodeID, now: Tick) -> [MembershipDirective] {
        var directives: [MembershipDirective] = []
        connections.insert(peer)
        if isBanned(peer, now: now) { close(peer, into: &directives); return directives }
        if let p = pending[peer] {
            sendPending(p, to: peer, into: &directives)
        } else if active[peer] != nil {
            directives.append(.send(to: peer, message: .neighbor(me, highPriority: true)))
        }
        return directives
    }

    /// MUST be invoked when a `.connect` failed (refused, timed out, handshake failed).
    public mutating func onConnectionFailed(_ peer: NodeID, now: Tick, rng: inout some RandomNumberGenerator) -> [MembershipDirective] {
        var directives: [MembershipDirective] = []
        if let p = pending.removeValue(forKey: peer) {
            if case .join = p.purpose { nextContactAttempt = now + parameters.connectRetryTicksMin }
            noteFailure(peer, record: p.record, now: now, rng: &rng)
        }
        repair(now: now, rng: &rng, into: &directives)
        return directives
    }

    /// MUST be invoked when a live connection to `peer` closed, for whatever reason.
    public mutating func onConnectionLost(_ peer: NodeID, now: Tick, rng: inout some RandomNumberGenerator) -> [MembershipDirective] {
        var directives: [MembershipDirective] = []
        connections.remove(peer)
        if let p = pending.removeValue(forKey: peer) { noteFailure(peer, record: p.record, now: now, rng: &rng) }
        if let rec = active.removeValue(forKey: peer) {
            directives.append(.deactivated(peer))
            addPassive(rec, now: now, retryAfter: now + parameters.connectRetryTicksMin, rng: &rng)
        }
        repair(now: now, rng: &rng, into: &directives)
        return directives
    }

    /// MUST be invoked for every membership frame. `from` is the authenticated sender.
    public mutating func onMessageReceived(_ message: MembershipMessage, from peer: NodeID, now: Tick,
                                           rng: inout some RandomNumberGenerator) -> [MembershipDirective] {
        var directives: [MembershipDirective] = []
        guard peer != me.node else { return directives }
        if isBanned(peer, now: now) {
            if connections.contains(peer) { close(peer, into: &directives) }
            return directives
        }
        switch message {
        case .join(let rec):
            guard connections.contains(peer), rec.node == peer else { return directives }
            // The reply goes first: the peer must take us into its active view before our gossip frames arrive.
            directives.append(.send(to: peer, message: .neighborReply(accepted: true)))
            addActive(rec, now: now, rng: &rng, into: &directives)
            for p in activeView where p != peer {
                directives.append(.send(to: p, message: .forwardJoin(rec, ttl: parameters.activeRandomWalkLength)))
            }
        case .forwardJoin(let rec, let ttl):
            guard rec.node != me.node, !isBanned(rec.node, now: now) else { return directives }
            let others = activeView.filter { $0 != peer && $0 != rec.node }
            if ttl == 0 || active.count <= 1 || others.isEmpty {
                if active[rec.node] == nil && pending[rec.node] == nil {
                    connect(rec, purpose: .neighbor(highPriority: true), now: now, into: &directives)
                }
            } else {
                if ttl == parameters.passiveRandomWalkLength { addPassive(rec, now: now, retryAfter: now, rng: &rng) }
                let next = others.randomElement(using: &rng)!
                directives.append(.send(to: next, message: .forwardJoin(rec, ttl: ttl - 1)))
            }
        case .neighbor(let rec, let high):
            guard connections.contains(peer), rec.node == peer else { return directives }
            if active[peer] != nil {
                directives.append(.send(to: peer, message: .neighborReply(accepted: true)))
            } else if high || active.count < parameters.activeViewMax {
                directives.append(.send(to: peer, message: .neighborReply(accepted: true)))
                addActive(rec, now: now, rng: &rng, into: &directives)
            } else {
                directives.append(.send(to: peer, message: .neighborReply(accepted: false)))
                addPassive(rec, now: now, retryAfter: now, rng: &rng)
            }
        case .neighborReply(let accepted):
            guard let p = pending.removeValue(forKey: peer) else { return directives }
            if accepted {
                addActive(p.record, now: now, rng: &rng, into: &directives)
            } else {
                if connections.contains(peer) && active[peer] == nil { close(peer, into: &directives) }
                addPassive(p.record, now: now, retryAfter: now + parameters.connectRetryTicksMin * 4, rng: &rng)
                if case .join = p.purpose { nextContactAttempt = now + parameters.connectRetryTicksMin }
                repair(now: now, rng: &rng, into: &directives)
            }
        case .disconnect:
            if let rec = active.removeValue(forKey: peer) {
                directives.append(.deactivated(peer))
                addPassive(rec, now: now, retryAfter: now + parameters.connectRetryTicksMin, rng: &rng)
                repair(now: now, rng: &rng, into: &directives)
            }
        case .shuffle(let origin, let ttl, let records):
            guard origin.node != me.node else { return directives }
            let others = activeView.filter { $0 != peer && $0 != origin.node }
            if ttl > 1 && !others.isEmpty {
                directives.append(.send(to: others.randomElement(using: &rng)!,
                                        message: .shuffle(origin: origin, ttl: ttl - 1, records: records)))
            } else {
                var sample = passiveView.filter { $0 != origin.node }
                sample.shuffle(using: &rng)
                let reply = sample.prefix(records.count).map { passive[$0]!.record }
                directives.append(.sendTemporary(to: origin, message: .shuffleReply(reply)))
                for r in records.prefix(GossipLimits.recordsPerMessageMax) { addPassive(r, now: now, retryAfter: now, rng: &rng) }
            }
        case .shuffleReply(let records):
            for r in records.prefix(GossipLimits.recordsPerMessageMax) { addPassive(r, now: now, retryAfter: now, rng: &rng) }
        }
        return directives
    }

    /// MUST be invoked when gossip banned `peer` (`GossipDirective.disconnect`). Drops it from both views and refuses
    /// it until `until`.
    public mutating func onPeerBanned(_ peer: NodeID, until: Tick, now: Tick, rng: inout some RandomNumberGenerator) -> [MembershipDirective] {
        var directives: [MembershipDirective] = []
        banned[peer] = until
        passive[peer] = nil
        pending[peer] = nil
        if active.removeValue(forKey: peer) != nil {
            directives.append(.send(to: peer, message: .disconnect))
            directives.append(.deactivated(peer))
        }
        if connections.contains(peer) { close(peer, into: &directives) }
        repair(now: now, rng: &rng, into: &directives)
        return directives
    }

    /// MUST be invoked with every announcement the shell received and verified (signature by the key that hashes to
    /// the node id). Keeps the newest per node until its TTL runs out; returns true when it was new (the shell then
    /// stores it).
    @discardableResult
    public mutating func onAnnouncement(_ signed: SignedNodeAnnouncement, now: Tick, rng: inout some RandomNumberGenerator) -> Bool {
        let a = signed.announcement
        guard a.node != me.node else { return false }
        if let old = announcements[a.node], old.signed.announcement.sequence >= a.sequence, old.expiresAt > now { return false }
        if announcements[a.node] == nil && announcements.count >= GossipLimits.announcementCountMax {
            if let victim = announcements.min(by: { ($0.value.expiresAt, $0.key) < ($1.value.expiresAt, $1.key) }) {
                announcements[victim.key] = nil
            }
        }
        announcements[a.node] = StoredAnnouncement(signed: signed, expiresAt: now + Tick(a.ttlTicks))
        if active[a.node] == nil, !isBanned(a.node, now: now) { addPassive(a.record, now: now, retryAfter: now, rng: &rng) }
        return true
    }

    /// MUST be invoked every tick. Shuffles, rotates, re-announces, repairs and retries the contacts when alone.
    public mutating func onTick(now: Tick, rng: inout some RandomNumberGenerator) -> [MembershipDirective] {
        var directives: [MembershipDirective] = []
        guard started else { return directives }
        if now >= nextAnnounce {
            nextAnnounce = now + parameters.announceTicks
            directives.append(.announce)
            announcements = announcements.filter { $0.value.expiresAt > now }
            banned = banned.filter { $0.value > now }
        }
        if now >= nextShuffle {
            nextShuffle = now + parameters.shuffleTicks
            shuffle(now: now, rng: &rng, into: &directives)
        }
        if now >= nextRotation {
            nextRotation = now + parameters.rotationTicks
            if active.count >= parameters.activeViewMax, let victim = activeView.randomElement(using: &rng),
               passive.values.contains(where: { $0.retryAfter <= now }) {
                let rec = active.removeValue(forKey: victim)!
                directives.append(.send(to: victim, message: .disconnect))
                close(victim, into: &directives)
                directives.append(.deactivated(victim))
                addPassive(rec, now: now, retryAfter: now + parameters.rotationTicks, rng: &rng)
            }
        }
        for (peer, p) in pending.sorted(by: { $0.key < $1.key }) where now >= p.since + parameters.connectTimeoutTicks {
            // No answer (a lost frame or a dead node): give up on this attempt and close what was opened.
            pending[peer] = nil
            if connections.contains(peer) && active[peer] == nil { close(peer, into: &directives) }
            if case .join = p.purpose { nextContactAttempt = now + parameters.connectRetryTicksMin }
            noteFailure(peer, record: p.record, now: now, rng: &rng)
        }
        repair(now: now, rng: &rng, into: &directives)
        return directives
    }

    // MARK: - Helpers

    /// Closes the connection (the shell does not report our own closes back as `onConnectionLost`).
    private mutating func close(_ peer: NodeID, into directives: inout [MembershipDirective]) {
        connections.remove(peer)
        directives.append(.disconnect(peer))
    }

    private mutating func joinViaContact(now: Tick, rng: inout some RandomNumberGenerator, into directives: inout [MembershipDirective]) {
        let candidates = contacts.filter { !isBanned($0.node, now: now) && pending[$0.node] == nil && active[$0.node] == nil }
        guard let c = candidates.randomElement(using: &rng) else { return }
        nextContactAttempt = now + parameters.contactRetryTicks
        connect(c, purpose: .join, now: now, into: &directives)
    }

    private mutating func connect(_ rec: PeerRecord, purpose: PendingConnect.Purpose, now: Tick, into directives: inout [MembershipDirective]) {
        guard rec.node != me.node else { return }
        let p = PendingConnect(record: rec, purpose: purpose, since: now, sent: false)
        pending[rec.node] = p
        if connections.contains(rec.node) {
            sendPending(p, to: rec.node, into: &directives)
        } else {
            directives.append(.connect(rec))
        }
    }

    private mutating func addActive(_ rec: PeerRecord, now: Tick, rng: inout some RandomNumberGenerator,
                                    into directives: inout [MembershipDirective]) {
        guard rec.node != me.node, active[rec.node] == nil else { return }
        if active.count >= parameters.activeViewMax, let victim = activeView.randomElement(using: &rng) {
            let old = active.removeValue(forKey: victim)!
            directives.append(.send(to: victim, message: .disconnect))
            close(victim, into: &directives)
            directives.append(.deactivated(victim))
            addPassive(old, now: now, retryAfter: now + parameters.connectRetryTicksMin, rng: &rng)
        }
        passive[rec.node] = nil
        pending[rec.node] = nil
        active[rec.node] = rec
        directives.append(.activated(rec.node))
    }

    private mutating func addPassive(_ rec: PeerRecord, now: Tick, retryAfter: Tick, rng: inout some RandomNumberGenerator) {
        guard rec.node != me.node, active[rec.node] == nil, !isBanned(rec.node, now: now) else { return }
        if var e = passive[rec.node] {
            e.record = rec; e.retryAfter = max(e.retryAfter, retryAfter); passive[rec.node] = e; return
        }
        if passive.count >= parameters.passiveViewMax {
            // Evict the entry that failed most; among equals, a random one.
            let worst = passive.values.map(\.failures).max() ?? 0
            let victims = passive.filter { $0.value.failures == worst }.keys.sorted()
            passive[victims.randomElement(using: &rng)!] = nil
        }
        passive[rec.node] = PassiveEntry(record: rec, failures: 0, retryAfter: retryAfter)
    }

    private mutating func noteFailure(_ peer: NodeID, record: PeerRecord, now: Tick, rng: inout some RandomNumberGenerator) {
        if passive[peer] == nil { addPassive(record, now: now, retryAfter: now, rng: &rng) }
        guard var e = passive[peer] else { return }
        e.failures += 1
        if e.failures >= parameters.passiveFailuresMax { passive[peer] = nil; return }
        let backoff = min(parameters.connectRetryTicksMax, parameters.connectRetryTicksMin << Tick(min(e.failures, 20)))
        e.retryAfter = now + backoff / 2 + rng.next() % (backoff / 2 + 1)  // jittered, from the passed-in generator
        passive[peer] = e
    }

    private mutating func repair(now: Tick, rng: inout some RandomNumberGenerator, into directives: inout [MembershipDirective]) {
        guard started, lastRepairAttempt != now else { return }
        let neighborPending = pending.values.filter { if case .neighbor = $0.purpose { return true } else { return false } }.count
        guard active.count + neighborPending < parameters.activeViewMax, pending.count < parameters.pendingConnectsMax else { return }
        let candidates = passive.filter { $0.value.retryAfter <= now && pending[$0.key] == nil && !isBanned($0.key, now: now) }.keys.sorted()
        if let pick = candidates.randomElement(using: &rng) {
            lastRepairAttempt = now
            connect(passive[pick]!.record, purpose: .neighbor(highPriority: active.count < parameters.activeViewMin), now: now,
                    into: &directives)
        } else if active.isEmpty, pending.isEmpty, now >= nextContactAttempt {
            lastRepairAttempt = now
            joinViaContact(now: now, rng: &rng, into: &directives)
        }
    }

    private mutating func shuffle(now: Tick, rng: inout some RandomNumberGenerator, into directives: inout [MembershipDirective]) {
        guard let target = activeView.randomElement(using: &rng) else { return }
        var a = activeView.filter { $0 != target }; a.shuffle(using: &rng)
        var p = passiveView; p.shuffle(using: &rng)
        let sample = [me] + a.prefix(parameters.shuffleActiveCount).map { active[$0]! }
            + p.prefix(parameters.shufflePassiveCount).map { passive[$0]!.record }
        directives.append(.send(to: target, message: .shuffle(origin: me, ttl: parameters.shuffleWalkLength, records: sample)))
    }
}

/// HyParView parameters. Defaults suit networks of up to a few thousand nodes at 10 ms a tick.
public struct MembershipParameters: Sendable, Equatable {
    /// Active view size: the connections gossip runs over. Must hold a full gossip mesh (D_hi) plus a few peers for
    /// lazy gossip. HyParView uses log(n)+1; gossipsub needs more.
    public var activeViewMax = 10
    /// Below this many active peers, NEIGHBOR requests are high priority (must be accepted).
    public var activeViewMin = 3
    /// Passive view size: HyParView's k * activeViewMax with k = 6.
    public var passiveViewMax = 60
    /// ARWL: hops of a FORWARDJOIN walk.
    public var activeRandomWalkLength: UInt8 = 6
    /// PRWL: the hop at which the newcomer enters a passive view.
    public var passiveRandomWalkLength: UInt8 = 3
    public var shuffleTicks: Tick = 100
    public var shuffleActiveCount = 3
    public var shufflePassiveCount = 4
    public var shuffleWalkLength: UInt8 = 4
    /// Active view rotation period (see the type's essay): 5 s at 10 ms a tick.
    public var rotationTicks: Tick = 500
    /// Connection attempts in flight at once.
    public var pendingConnectsMax = 2
    /// Backoff after a failed attempt doubles from min to max (with jitter from the passed-in generator).
    public var connectRetryTicksMin: Tick = 20
    public var connectRetryTicksMax: Tick = 1280
    /// How long a connection attempt may wait for its answer (connect plus NEIGHBOR/JOIN reply) before it counts as failed.
    public var connectTimeoutTicks: Tick = 60
    /// Failed attempts after which a passive entry is forgotten.
    public var passiveFailuresMax = 8
    /// How often to retry the contacts while the node has no peer at all.
    public var contactRetryTicks: Tick = 100
    /// How often the node re-announces itself (60 s at 10 ms a tick); the announcement TTL should be several times it.
    public var announceTicks: Tick = 6000

    public init() {}

    public func validate() {
        precondition(activeViewMin >= 1 && activeViewMin <= activeViewMax, "need 1 <= activeViewMin <= activeViewMax")
        precondition(passiveViewMax >= activeViewMax, "the passive view must be at least as large as the active view")
        precondition(passiveRandomWalkLength <= activeRandomWalkLength, "PRWL must not exceed ARWL")
        precondition(shuffleActiveCount + shufflePassiveCount + 1 <= GossipLimits.recordsPerMessageMax, "shuffle sample over the wire limit")
        precondition(connectRetryTicksMin >= 2 && connectRetryTicksMin <= connectRetryTicksMax, "connect retry bounds")
        precondition(pendingConnectsMax >= 1 && shuffleTicks >= 1 && rotationTicks >= 1 && announceTicks >= 1, "periods must be positive")
    }
}

/// What the membership core asks its shell to do, in order.
public enum MembershipDirective: Equatable, Sendable {
    /// Open a connection to the node; answer with `onConnectionEstablished` or `onConnectionFailed`.
    case connect(PeerRecord)
    /// Close the connection to the node, after flushing frames queued for it before this directive. The shell does not
    /// report this close back with `onConnectionLost`; the other side gets its `onConnectionLost`.
    case disconnect(NodeID)
    /// Send a membership frame over the live connection to the node (dropped if there is none).
    case send(to: NodeID, message: MembershipMessage)
    /// Send one frame to a node we may not be connected to (a shuffle reply): open, send, close.
    case sendTemporary(to: PeerRecord, message: MembershipMessage)
    /// For the gossip core: the node entered the active view (`GossipCore.onPeerConnected`).
    case activated(NodeID)
    /// For the gossip core: the node left the active view (`GossipCore.onPeerDisconnected`).
    case deactivated(NodeID)
    /// For the shell: sign a fresh announcement (next sequence), publish it on the global topic, and hand it back to
    /// nobody (the core learns others' announcements only).
    case announce
}

struct PassiveEntry: Sendable {
    var record: PeerRecord
    var failures: Int
    var retryAfter: Tick
}

struct PendingConnect: Sendable {
    enum Purpose: Sendable { case join, neighbor(highPriority: Bool) }
    var record: PeerRecord
    var purpose: Purpose
    var since: Tick
    var sent: Bool
}

struct StoredAnnouncement: Sendable {
    var signed: SignedNodeAnnouncement
    var expiresAt: Tick
}
