import AOCore

/// # GossipCore: topic-based dissemination in the manner of gossipsub v1.1
///
/// A pure state machine (CONVENTIONS.md C1): events go in through `on…` methods, `GossipDirective`s come out, and
/// the shell executes them in the order returned. Time is the `now: Tick` argument, randomness the `rng` argument;
/// the core does no I/O, so the deterministic simulator runs hundreds of them in one thread and replays any run.
///
/// ## Terminology
/// - **Peer**: a node we hold a live connection to, as the membership core's active view reports it
///   (`onPeerConnected` / `onPeerDisconnected`). Gossip only ever talks to peers.
/// - **Topic**: `global` (node announcements, spawns) or one per process. A node subscribes to the topics it follows
///   and tells its peers; it only relays items of topics it follows.
/// - **Mesh**: per topic, a symmetric subset of the subscribed peers (degree kept within [D_lo, D_hi], steered to D)
///   over which new items are pushed eagerly. GRAFT adds a link, PRUNE removes it with a backoff.
/// - **Item**: one signed data item; its **id** is the data item id (`MessageID`), so the same item always has the
///   same id and duplicates are recognised without looking at the payload.
/// - **Seen cache**: ids seen recently (TTL and count bounded), so an item is validated, delivered and relayed at most
///   once. **Message cache**: recent payloads, kept to answer IWANT.
///
/// ## How an item travels
/// 1. Publishing (`publish`) or receiving a `publish` frame for an id not seen: the core marks it seen and asks the
///    shell to check it (`.validate`): signature, id = SHA-256(signature), schema, limits. The core never checks
///    signatures itself; it relays **only** items for which the shell answered `onValidationResult(.accept)`.
/// 2. On accept: `.deliver` to the shell (store it), then forward to the mesh peers not known to have it
///    (the sender, peers that sent it too, announced it or said IDONTWANT), at most `eagerPushCountMax` (D-2) of them,
///    which keeps the copies per node under the eager-push bound of D-1.
/// 3. Items of at least `largePayloadBytesMin` are not pushed: the core sends IHAVE to its mesh instead and peers pull
///    with IWANT, one announcer at a time; when a copy arrives, IDONTWANT goes to any other peer already asked, so a
///    late answer is not sent. Each node then receives about one copy (at most two when a promise times out and the
///    slow answer still arrives), instead of up to D.
/// 4. Every heartbeat, IHAVE gossip for the ids of the last `gossipWindowTicks` goes to D_lazy peers outside the mesh
///    (lazy repair: what the mesh lost to a dropped frame or a crashed peer is pulled). When a peer subscribes to a
///    topic (e.g. after (re)connecting), it gets an IHAVE of the whole message cache for that topic (catch-up).
///
/// ## Scores
/// Every peer has a score (see `PeerScoreParameters`): positive for first deliveries, negative for invalid items
/// (P4), unanswered IWANTs and grafts during backoff (P7), and for relaying nothing while others deliver plenty
/// (P3-like deficit: a peer that drops everything). Below `gossipThreshold` its IHAVEs are ignored and it gets no
/// gossip; below `banThreshold` the core emits `.disconnect(peer, bannedUntil:)` and refuses the peer until then.
/// Scores of disconnected peers are retained, so reconnecting does not launder them.
///
/// ## Deviations from gossipsub v1.1 and why
/// - The id travels next to the payload (aonode ids are data item ids; the validator checks they match).
/// - Large items are announce-and-pull (gossipsub v1.2 only adds IDONTWANT to eager push); pushing a 64 KiB item to
///   D peers that mostly have it already would cost D times the bytes.
/// - The deficit penalty counts relays of any kind (payload, IHAVE, IDONTWANT) from any connected peer, not just
///   mesh deliveries, so a dropper keeps losing score after it is pruned from the mesh and ends up banned.
/// - No flood publishing, no peer exchange in PRUNE (membership does peer exchange), no opportunistic grafting.
///
/// Further reading: the gossipsub v1.1 spec (libp2p/specs pubsub/gossipsub/gossipsub-v1.1.md) and its v1.2 IDONTWANT
/// extension; Vyzovitis et al., "GossipSub: Attack-Resilient Message Propagation in the Filecoin and ETH2.0 Networks".
public struct GossipCore: Sendable {
    public let selfID: NodeID
    public let parameters: GossipParameters

    public private(set) var subscriptions: Set<Topic> = []
    private var peers: [NodeID: PeerState] = [:]
    private var mesh: [Topic: [NodeID: Tick]] = [:]  // peer -> tick it joined the mesh
    private var backoff: [Topic: [NodeID: Tick]] = [:]  // no graft until this tick
    private var banned: [NodeID: Tick] = [:]
    private var seen: SeenCache
    private var pending: [MessageID: PendingItem] = [:]
    private var cache: [MessageID: CachedItem] = [:]
    private var cacheOrder: [MessageID] = []  // first-seen order; may hold ids already evicted
    private var cacheOrderHead = 0
    /// The same first-seen order, per topic: catch-up and heartbeat gossip read one topic's ids without walking
    /// every topic's (a node in 100 process topics walked the whole cache for each, on every heartbeat).
    private var topicOrder: [Topic: TopicOrder] = [:]
    private struct TopicOrder {
        var ids: [MessageID] = []
        var head = 0
    }
    private var cacheBytes = 0
    private var wants: [MessageID: Want] = [:]
    private var wantsEarliestDeadline: Tick = .max
    private var iwantBatch: UInt64 = 0  // numbers IWANT frames: a frame left unanswered is one broken promise
    private var nextHeartbeat: Tick?

    /// Counters for metrics and the simulator. They never influence behaviour.
    public private(set) var counters = GossipCounters()

    public init(selfID: NodeID, parameters: GossipParameters = GossipParameters()) {
        parameters.validate()
        self.selfID = selfID; self.parameters = parameters
        seen = SeenCache(ttlTicks: parameters.seenTTLTicks, countMax: GossipLimits.seenCountMax)
    }

    // MARK: - Inspection (tests, metrics, the simulator's invariant checkers)

    /// The mesh peers of `topic`, sorted.
    public func meshPeers(_ topic: Topic) -> [NodeID] { (mesh[topic] ?? [:]).keys.sorted() }
    /// Connected peers, sorted.
    public var connectedPeers: [NodeID] { peers.filter { $0.value.connected }.keys.sorted() }
    /// The current score of `peer`, nil when the core keeps no record of it.
    public func score(of peer: NodeID) -> Double? { peers[peer].map { score($0) } }
    /// The counters behind `peer`'s score (for metrics and diagnosis), nil when the core keeps no record of it.
    public func scoreCounters(of peer: NodeID) -> PeerScoreCounters? {
        peers[peer].map { PeerScoreCounters(firstDeliveries: $0.firstDeliveries, invalid: $0.invalid, deficit: $0.deficit,
                                            behaviour: $0.behaviour, seenFromOthers: $0.seenFromOthers, relayed: $0.relayed) }
    }
    /// True when `peer` is banned at `now`.
    public func isBanned(_ peer: NodeID, now: Tick) -> Bool { (banned[peer] ?? 0) > now }
    /// Peers banned at `now`, sorted.
    public func bannedPeers(now: Tick) -> [NodeID] { banned.filter { $0.value > now }.keys.sorted() }
    public func hasSeen(_ id: MessageID, now: Tick) -> Bool { seen.contains(id, now: now) }
    public var cachedItemCount: Int { cache.count }
    /// The mesh size of `topic` without sorting (the simulator checks it every tick).
    public func meshCount(_ topic: Topic) -> Int { mesh[topic]?.count ?? 0 }
    /// Unsorted, for cheap subset checks.
    public func isMeshPeer(_ peer: NodeID, topic: Topic) -> Bool { mesh[topic]?[peer] != nil }
    public func isConnected(_ peer: NodeID) -> Bool { peers[peer]?.connected == true }
    public var outstandingWantCount: Int { wants.count }
    public var pendingValidationCount: Int { pending.count }

    // MARK: - Local API

    /// Follows `topic`: tells every peer and grafts up to D of them. MUST be invoked before publishing or expecting
    /// items of the topic. Directives are interpreted in order.
    public mutating func subscribe(_ topic: Topic, now: Tick, rng: inout some RandomNumberGenerator) -> [GossipDirective] {
        var directives: [GossipDirective] = []
        guard subscriptions.count < GossipLimits.topicsPerPeerMax, subscriptions.insert(topic).inserted else { return directives }
        mesh[topic] = mesh[topic] ?? [:]
        for p in connectedPeers { directives.append(.send(to: p, message: .subscribe(topic))) }
        fillMesh(topic, target: parameters.meshDegree, now: now, rng: &rng, into: &directives)
        return directives
    }

    /// Stops following `topic`: prunes its mesh and tells every peer.
    public mutating func unsubscribe(_ topic: Topic, now: Tick) -> [GossipDirective] {
        var directives: [GossipDirective] = []
        guard subscriptions.remove(topic) != nil else { return directives }
        for p in meshPeers(topic) {
            directives.append(.send(to: p, message: .prune(topic: topic, backoffTicks: UInt32(clamping: parameters.pruneBackoffTicks))))
        }
        mesh[topic] = nil
        for p in connectedPeers { directives.append(.send(to: p, message: .unsubscribe(topic))) }
        return directives
    }

    /// Publishes an item this node created or accepted from a client. Precondition for the shell: the item is valid
    /// and stored (the core does not ask to validate or deliver it again). Ids already seen are ignored.
    public mutating func publish(topic: Topic, id: MessageID, payload: [UInt8], now: Tick,
                                 rng: inout some RandomNumberGenerator) -> [GossipDirective] {
        var directives: [GossipDirective] = []
        guard payload.count <= GossipLimits.payloadBytesMax, seen.insert(id, now: now) else { return directives }
        counters.published += 1
        wants[id] = nil
        insertCache(id, CachedItem(topic: topic, payload: payload, firstSeen: now, holders: []), now: now)
        var targets = meshPeers(topic)
        if !subscriptions.contains(topic) {  // fanout: up to D subscribed peers
            var candidates = connectedPeers.filter { peers[$0]!.topics.contains(topic) && score(peers[$0]!) >= 0 }
            candidates.shuffle(using: &rng)
            targets = Array(candidates.prefix(parameters.meshDegree)).sorted()
        }
        forward(id, to: targets, now: now, rng: &rng, into: &directives)
        return directives
    }

    /// Marks `id` as seen without delivering or relaying it. The shell MUST call this after a restart for items it
    /// already stores, so peers catching it up do not make it fetch and deliver them again.
    public mutating func markSeen(_ id: MessageID, now: Tick) { seen.insert(id, now: now) }

    /// Puts an item this node already stores back into the message cache after a restart (without delivering or
    /// relaying it), so the node can answer IWANT and announce it to peers that (re)connect.
    public mutating func restore(topic: Topic, id: MessageID, payload: [UInt8], now: Tick) {
        guard payload.count <= GossipLimits.payloadBytesMax, seen.insert(id, now: now) else { return }
        insertCache(id, CachedItem(topic: topic, payload: payload, firstSeen: now, holders: []), now: now)
    }

    // MARK: - Events

    /// MUST be invoked when `peer` enters the membership core's active view (a live, authenticated connection).
    /// Sends our subscriptions. A banned peer is disconnected again at once.
    public mutating func onPeerConnected(_ peer: NodeID, now: Tick) -> [GossipDirective] {
        var directives: [GossipDirective] = []
        guard peer != selfID else { return directives }
        if let until = banned[peer], until > now {
            directives.append(.disconnect(peer, bannedUntil: until))
            return directives
        }
        if peers[peer] == nil {
            if peers.count >= GossipLimits.scoredPeerCountMax { evictOneRetainedScore() }
            peers[peer] = PeerState(connectedAt: now)
        }
        peers[peer]!.connected = true
        peers[peer]!.connectedAt = now
        peers[peer]!.topics = []
        for t in subscriptions.sorted() { directives.append(.send(to: peer, message: .subscribe(t))) }
        return directives
    }

    /// MUST be invoked when `peer` leaves the active view or its connection closes. The score is retained.
    public mutating func onPeerDisconnected(_ peer: NodeID, now: Tick) -> [GossipDirective] {
        let directives: [GossipDirective] = []
        guard peers[peer]?.connected == true else { return directives }
        peers[peer]!.connected = false
        peers[peer]!.disconnectedAt = now
        peers[peer]!.topics = []
        for t in Array(mesh.keys) { mesh[t]![peer] = nil }
        return directives
    }

    /// MUST be invoked for every gossip frame received from a connected peer. Frames from peers that are not
    /// connected (a late frame after a disconnect) or banned are dropped.
    public mutating func onMessageReceived(_ message: GossipMessage, from peer: NodeID, now: Tick,
                                           rng: inout some RandomNumberGenerator) -> [GossipDirective] {
        var directives: [GossipDirective] = []
        guard !isBanned(peer, now: now) else { counters.droppedFromUnknownPeer += 1; return directives }
        guard peers[peer]?.connected == true else {
            // The connection closed while the frame was in flight. An answer to our own IWANT is still taken (the
            // bytes are here; asking someone else would cost them again); everything else is dropped.
            if case .publish(let t, let id, let payload) = message, peers[peer] != nil, wants[id]?.asked.contains(peer) == true {
                onPublish(t, id, payload, from: peer, now: now, into: &directives)
            } else {
                counters.droppedFromUnknownPeer += 1
            }
            return directives
        }
        switch message {
        case .publish(let t, _, _), .ihave(let t, _), .graft(let t):
            // A peer that sends items of a topic or grafts it follows it, even if its SUBSCRIBE was lost.
            if peers[peer]!.topics.count < GossipLimits.topicsPerPeerMax { peers[peer]!.topics.insert(t) }
        default: break
        }
        switch message {
        case .subscribe(let t): onSubscribe(t, from: peer, now: now, rng: &rng, into: &directives)
        case .unsubscribe(let t):
            peers[peer]!.topics.remove(t)
            mesh[t]?[peer] = nil
        case .publish(let t, let id, let payload): onPublish(t, id, payload, from: peer, now: now, into: &directives)
        case .ihave(let t, let ids): onIHave(t, ids, from: peer, now: now, into: &directives)
        case .iwant(let ids): onIWant(ids, from: peer, now: now, into: &directives)
        case .idontwant(let ids):
            peers[peer]!.relayed += Double(min(ids.count, parameters.ihaveIDsMax))
            for id in ids.prefix(parameters.ihaveIDsMax) {
                cache[id]?.holders.insert(peer)
                pending[id]?.holders.insert(peer)
            }
        case .graft(let t): onGraft(t, from: peer, now: now, into: &directives)
        case .prune(let t, let b):
            mesh[t]?[peer] = nil
            let wait = min(Tick(b), parameters.pruneBackoffTicks * 10)
            backoff[t, default: [:]][peer] = now + max(wait, parameters.pruneBackoffTicks)
        }
        return directives
    }

    /// MUST be invoked once for every `.validate` directive, with the shell's verdict: `.accept` (signature, id,
    /// schema and limits all good: deliver and relay), `.reject` (invalid: penalise every peer that sent exactly these
    /// bytes, and forget the id so that a genuine item with the same id can still arrive), or `.ignore` (valid but
    /// unwanted, e.g. already stored: neither relay nor penalise).
    public mutating func onValidationResult(id: MessageID, verdict: ValidationVerdict, now: Tick,
                                            rng: inout some RandomNumberGenerator) -> [GossipDirective] {
        var directives: [GossipDirective] = []
        guard let item = pending.removeValue(forKey: id) else { return directives }
        switch verdict {
        case .accept:
            counters.accepted += 1
            peers[item.from]?.firstDeliveries += 1  // credited only once the item proved valid
            insertCache(id, CachedItem(topic: item.topic, payload: item.payload, firstSeen: now, holders: item.holders), now: now)
            // Every other connected subscriber could have relayed this item; the deficit check compares against it.
            for (p, state) in peers where state.connected && p != item.from && state.topics.contains(item.topic) {
                peers[p]!.seenFromOthers += 1
            }
            directives.append(.deliver(topic: item.topic, id: id, payload: item.payload))
            forward(id, to: meshPeers(item.topic), now: now, rng: &rng, into: &directives)
        case .reject:
            counters.rejected += 1
            seen.remove(id)
            for p in item.senders.sorted() {
                peers[p]?.invalid += 1
                banIfBelowThreshold(p, now: now, into: &directives)
            }
        case .ignore:
            counters.ignored += 1
        }
        return directives
    }

    /// MUST be invoked every tick (or at least every time a timer could be due). Runs the heartbeat every
    /// `heartbeatTicks` (first one at a random offset, so nodes do not beat in lockstep) and re-asks for items whose
    /// IWANT went unanswered.
    public mutating func onTick(now: Tick, rng: inout some RandomNumberGenerator) -> [GossipDirective] {
        var directives: [GossipDirective] = []
        if nextHeartbeat == nil { nextHeartbeat = now + 1 + rng.next() % parameters.heartbeatTicks }
        if wantsEarliestDeadline <= now { followUpWants(now: now, into: &directives) }
        if let beat = nextHeartbeat, now >= beat {
            nextHeartbeat = now + parameters.heartbeatTicks
            heartbeat(now: now, rng: &rng, into: &directives)
        }
        return directives
    }

    // MARK: - Receiving

    private mutating func onSubscribe(_ t: Topic, from peer: NodeID, now: Tick, rng: inout some RandomNumberGenerator,
                                      into directives: inout [GossipDirective]) {
        guard peers[peer]!.topics.count < GossipLimits.topicsPerPeerMax,
              peers[peer]!.topics.insert(t).inserted, subscriptions.contains(t) else { return }
        if (mesh[t]?.count ?? 0) < parameters.meshDegree, score(peers[peer]!) >= 0, !inBackoff(t, peer, now: now) {
            mesh[t, default: [:]][peer] = now
            directives.append(.send(to: peer, message: .graft(t)))
        }
        // Catch-up: announce what the cache holds for this topic and the peer is not known to have, newest first.
        var ids: [MessageID] = []
        let catchUpIDsMax = parameters.ihaveIDsMax * 8
        if let order = topicOrder[t] {
            var i = order.ids.count - 1
            while i >= order.head, ids.count < catchUpIDsMax {
                let id = order.ids[i]; i -= 1
                if let item = cache[id], item.topic == t, !item.holders.contains(peer) { ids.append(id) }
            }
        }
        appendIHaves(t, ids, to: peer, into: &directives)
    }

    /// IHAVEs to `peer` announcing `ids`, `ihaveIDsMax` to a message; returns how many messages that took.
    @discardableResult
    private func appendIHaves(_ t: Topic, _ ids: [MessageID], to peer: NodeID, into directives: inout [GossipDirective]) -> Int {
        let starts = stride(from: 0, to: ids.count, by: parameters.ihaveIDsMax)
        for start in starts {
            directives.append(.send(to: peer, message: .ihave(topic: t, ids: Array(ids[start..<min(ids.count, start + parameters.ihaveIDsMax)]))))
        }
        return starts.underestimatedCount
    }

    private mutating func onPublish(_ t: Topic, _ id: MessageID, _ payload: [UInt8], from peer: NodeID, now: Tick,
                                    into directives: inout [GossipDirective]) {
        counters.payloadsReceived += 1
        counters.payloadBytesReceived += payload.count
        peers[peer]!.relayed += 1
        guard subscriptions.contains(t) else { counters.droppedUnsubscribed += 1; return }
        if let want = wants.removeValue(forKey: id) {
            // Fulfilled. Tell any other peer already asked that we no longer need it (cancels a slow answer).
            for p in want.asked where p != peer && peers[p]?.connected == true {
                directives.append(.send(to: p, message: .idontwant(ids: [id])))
            }
        }
        if cache[id] != nil { cache[id]!.holders.insert(peer); counters.duplicates += 1; return }
        if pending[id] != nil {
            counters.duplicates += 1
            if pending[id]!.payload == payload { pending[id]!.senders.insert(peer); pending[id]!.holders.insert(peer) }
            return
        }
        if !seen.insert(id, now: now) { counters.duplicates += 1; return }
        guard pending.count < GossipLimits.pendingValidationCountMax else {
            seen.remove(id); counters.droppedValidationBacklog += 1; return
        }
        pending[id] = PendingItem(topic: t, payload: payload, from: peer, senders: [peer], holders: [peer])
        directives.append(.validate(topic: t, id: id, payload: payload, from: peer))
    }

    private mutating func onIHave(_ t: Topic, _ ids: [MessageID], from peer: NodeID, now: Tick,
                                  into directives: inout [GossipDirective]) {
        peers[peer]!.ihaveThisHeartbeat += 1
        guard subscriptions.contains(t), peers[peer]!.ihaveThisHeartbeat <= parameters.ihaveMessagesPerHeartbeatMax,
              score(peers[peer]!) >= parameters.scoring.gossipThreshold else { counters.ihaveIgnored += 1; return }
        let accepted = ids.prefix(parameters.ihaveIDsMax)
        peers[peer]!.relayed += Double(accepted.count)
        var ask: [MessageID] = []
        for id in accepted {
            if cache[id] != nil { cache[id]!.holders.insert(peer); continue }
            if pending[id] != nil { pending[id]!.holders.insert(peer); continue }
            if seen.contains(id, now: now) { continue }
            if wants[id] != nil {
                if wants[id]!.announcers.count < 16, !wants[id]!.announcers.contains(peer) { wants[id]!.announcers.append(peer) }
                continue
            }
            guard wants.count < GossipLimits.wantCountMax else { break }
            let deadline = now + parameters.iwantFollowupTicks
            wants[id] = Want(topic: t, announcers: [peer], asked: [peer], current: peer, deadline: deadline, batch: iwantBatch + 1)
            wantsEarliestDeadline = min(wantsEarliestDeadline, deadline)
            ask.append(id)
        }
        if !ask.isEmpty {
            iwantBatch += 1
            counters.iwantSent += ask.count
            directives.append(.send(to: peer, message: .iwant(ids: ask)))
        }
    }

    private mutating func onIWant(_ ids: [MessageID], from peer: NodeID, now: Tick, into directives: inout [GossipDirective]) {
        guard score(peers[peer]!) >= parameters.scoring.gossipThreshold else { return }
        for id in ids.prefix(parameters.ihaveIDsMax) {
            guard var item = cache[id] else { continue }
            // An explicit IWANT overrides "known to have it" (the peer says it has not), up to 3 answers per peer, and
            // a repeat only once the peer's own follow-up timeout has passed (a replayed frame gets no second copy).
            if let last = item.served[peer], last.count >= 3 || now < last.at + parameters.iwantFollowupTicks { continue }
            item.served[peer] = (count: (item.served[peer]?.count ?? 0) + 1, at: now)
            item.holders.insert(peer)
            cache[id] = item
            counters.iwantServed += 1
            directives.append(.send(to: peer, message: .publish(topic: item.topic, id: id, payload: item.payload)))
        }
    }

    private mutating func onGraft(_ t: Topic, from peer: NodeID, now: Tick, into directives: inout [GossipDirective]) {
        let backoffTicks = UInt32(clamping: parameters.pruneBackoffTicks)
        guard subscriptions.contains(t) else {
            directives.append(.send(to: peer, message: .prune(topic: t, backoffTicks: backoffTicks))); return
        }
        if mesh[t]?[peer] != nil { return }
        if inBackoff(t, peer, now: now) {
            peers[peer]!.behaviour += 1
            directives.append(.send(to: peer, message: .prune(topic: t, backoffTicks: backoffTicks)))
            return
        }
        if score(peers[peer]!) < 0 || (mesh[t]?.count ?? 0) >= parameters.meshDegreeHigh {
            backoff[t, default: [:]][peer] = now + parameters.pruneBackoffTicks
            directives.append(.send(to: peer, message: .prune(topic: t, backoffTicks: backoffTicks)))
            return
        }
        mesh[t, default: [:]][peer] = now
    }

    // MARK: - Sending

    /// Sends a cached item on: the payload to small-item targets, an IHAVE to large-item targets. Skips peers known to
    /// have it, and pushes a payload to at most `eagerPushCountMax` (D-2) of the rest (a random choice), so the network
    /// carries fewer than D-1 copies per node on average, pulls and duplicated frames included.
    private mutating func forward(_ id: MessageID, to targets: [NodeID], now: Tick, rng: inout some RandomNumberGenerator,
                                  into directives: inout [GossipDirective]) {
        guard var item = cache[id] else { return }
        let large = item.payload.count >= parameters.largePayloadBytesMin
        var chosen = targets.filter { !item.holders.contains($0) && peers[$0]?.connected == true }
        if !large && chosen.count > parameters.eagerPushCountMax {
            chosen.shuffle(using: &rng)
            chosen = Array(chosen.prefix(parameters.eagerPushCountMax)).sorted()
        }
        for p in chosen {
            if large {
                directives.append(.send(to: p, message: .ihave(topic: item.topic, ids: [id])))
            } else {
                item.holders.insert(p)
                counters.payloadsSent += 1
                directives.append(.send(to: p, message: .publish(topic: item.topic, id: id, payload: item.payload)))
            }
        }
        cache[id] = item
    }

    private mutating func followUpWants(now: Tick, into directives: inout [GossipDirective]) {
        var earliest: Tick = .max
        var due: [MessageID] = []
        for (id, w) in wants { if w.deadline <= now { due.append(id) } else { earliest = min(earliest, w.deadline) } }
        var penalised: Set<UInt64> = []
        var retries: [NodeID: [MessageID]] = [:]
        for id in due.sorted() {
            var w = wants[id]!
            // A broken promise: announced, asked, never delivered. One per IWANT frame (as gossipsub tracks one id per
            // IWANT), and none when the connection closed meanwhile: that is a failure, not a lie.
            if let p = w.current, peers[p]?.connected == true, penalised.insert(w.batch).inserted {
                peers[p]!.behaviour += 1
                counters.brokenPromises += 1
            }
            let next = w.announcers.first { !w.asked.contains($0) && peers[$0]?.connected == true && !isBanned($0, now: now) }
            guard let p = next, w.asked.count < parameters.iwantAttemptsMax else { wants[id] = nil; continue }
            w.asked.append(p); w.current = p; w.deadline = now + parameters.iwantFollowupTicks
            earliest = min(earliest, w.deadline)
            wants[id] = w
            retries[p, default: []].append(id)
        }
        // One IWANT frame per peer for all its retries (one promise to keep or break).
        for p in retries.keys.sorted() {
            iwantBatch += 1
            var start = 0
            let ids = retries[p]!
            while start < ids.count {
                let chunk = Array(ids[start..<min(ids.count, start + parameters.ihaveIDsMax)])
                for id in chunk { wants[id]!.batch = iwantBatch }
                counters.iwantSent += chunk.count
                directives.append(.send(to: p, message: .iwant(ids: chunk)))
                start += parameters.ihaveIDsMax
            }
        }
        wantsEarliestDeadline = earliest
    }

    // MARK: - Heartbeat

    private mutating func heartbeat(now: Tick, rng: inout some RandomNumberGenerator, into directives: inout [GossipDirective]) {
        counters.heartbeats += 1
        let s = parameters.scoring
        // Decay, deficit, bans.
        for id in peers.keys.sorted() {
            var st = peers[id]!
            st.firstDeliveries *= s.firstDeliveryDecay
            st.invalid *= s.invalidDecay
            st.deficit *= s.deficitDecay
            st.behaviour *= s.behaviourDecay
            st.seenFromOthers *= s.relayCounterDecay
            st.relayed *= s.relayCounterDecay
            st.ihaveThisHeartbeat = 0
            if st.connected, now >= st.connectedAt + s.deficitActivationTicks,
               st.seenFromOthers >= s.deficitMessagesMin, st.relayed * 20 < st.seenFromOthers {
                if st.repairedAt.map({ now >= $0 + s.deficitActivationTicks * 4 }) ?? true {
                    // First suspicion: maybe the peer never got our SUBSCRIBE or GRAFT (frames can be lost when a
                    // connection breaks). Repeat them and judge again on fresh counters before penalising.
                    st.repairedAt = now
                    st.seenFromOthers = 0; st.relayed = 0
                    counters.relayRepairs += 1
                    for t in subscriptions.sorted() {
                        directives.append(.send(to: id, message: .subscribe(t)))
                        if mesh[t]?[id] != nil { directives.append(.send(to: id, message: .graft(t))) }
                    }
                } else {
                    st.deficit += 1
                }
            }
            peers[id] = st
            if st.connected { banIfBelowThreshold(id, now: now, into: &directives) }
            else if now >= st.disconnectedAt + s.retainScoreTicks { peers[id] = nil }
        }
        for (p, until) in banned where until <= now { banned[p] = nil }
        for t in Array(backoff.keys) { backoff[t] = backoff[t]!.filter { $0.value > now } }
        // Mesh maintenance.
        for t in subscriptions.sorted() {
            let backoffTicks = UInt32(clamping: parameters.pruneBackoffTicks)
            for p in meshPeers(t) where peers[p]?.connected != true || score(peers[p]!) < 0 {
                mesh[t]![p] = nil
                if peers[p]?.connected == true {
                    backoff[t, default: [:]][p] = now + parameters.pruneBackoffTicks
                    directives.append(.send(to: p, message: .prune(topic: t, backoffTicks: backoffTicks)))
                }
            }
            let count = mesh[t]?.count ?? 0
            if count < parameters.meshDegreeLow {
                fillMesh(t, target: parameters.meshDegree, now: now, rng: &rng, into: &directives)
            } else if count > parameters.meshDegreeHigh {
                var members = meshPeers(t)
                members.shuffle(using: &rng)
                let ranked = members.enumerated().sorted { a, b in
                    let sa = score(peers[a.element]!), sb = score(peers[b.element]!)
                    return sa != sb ? sa > sb : a.offset < b.offset
                }.map(\.element)
                for p in ranked.dropFirst(parameters.meshDegree) {
                    mesh[t]![p] = nil
                    backoff[t, default: [:]][p] = now + parameters.pruneBackoffTicks
                    directives.append(.send(to: p, message: .prune(topic: t, backoffTicks: backoffTicks)))
                }
            }
            emitGossip(t, now: now, rng: &rng, into: &directives)
        }
        seen.expire(now: now)
        expireCache(now: now)
    }

    private mutating func fillMesh(_ t: Topic, target: Int, now: Tick, rng: inout some RandomNumberGenerator,
                                   into directives: inout [GossipDirective]) {
        let have = mesh[t]?.count ?? 0
        guard have < target else { return }
        var candidates = connectedPeers.filter { p in
            mesh[t]?[p] == nil && peers[p]!.topics.contains(t) && score(peers[p]!) >= 0 && !inBackoff(t, p, now: now)
        }
        candidates.shuffle(using: &rng)
        for p in candidates.prefix(target - have) {
            mesh[t, default: [:]][p] = now
            directives.append(.send(to: p, message: .graft(t)))
        }
    }

    /// Heartbeat gossip: IHAVE for the ids first seen within the gossip window to up to D_lazy peers outside the
    /// mesh and, for ids older than `meshRepairDelayTicks`, to every mesh peer; each peer is told only of ids it is
    /// not known to hold (it sent them, announced them or got them from this node).
    private mutating func emitGossip(_ t: Topic, now: Tick, rng: inout some RandomNumberGenerator,
                                     into directives: inout [GossipDirective]) {
        // Holders are read once per id here, not once per id and peer below.
        var recent: [(id: MessageID, firstSeen: Tick, holders: Set<NodeID>)] = []
        if let order = topicOrder[t] {
            var i = order.ids.count - 1
            while i >= order.head {
                let id = order.ids[i]; i -= 1
                guard let item = cache[id], item.topic == t else { continue }
                if item.firstSeen + parameters.gossipWindowTicks < now { break }
                recent.append((id, item.firstSeen, item.holders))
            }
        }
        guard !recent.isEmpty else { return }
        let eligible = connectedPeers.filter { p in
            peers[p]!.topics.contains(t) && score(peers[p]!) >= parameters.scoring.gossipThreshold
        }
        let meshTargets = Set(eligible.filter { mesh[t]?[$0] != nil })
        var lazy = eligible.filter { !meshTargets.contains($0) }
        lazy.shuffle(using: &rng)
        let idsMax = parameters.ihaveIDsMax * parameters.ihaveMessagesPerHeartbeatSent
        let delay = parameters.meshRepairDelayTicks
        for p in (Array(meshTargets) + lazy.prefix(parameters.lazyDegree)).sorted() {
            let inMesh = meshTargets.contains(p)
            var ids: [MessageID] = []
            for r in recent where ids.count < idsMax {
                if (!inMesh || r.firstSeen + delay <= now) && !r.holders.contains(p) { ids.append(r.id) }
            }
            counters.ihaveSent += appendIHaves(t, ids, to: p, into: &directives)
        }
    }

    // MARK: - Helpers

    private func inBackoff(_ t: Topic, _ p: NodeID, now: Tick) -> Bool { (backoff[t]?[p] ?? 0) > now }

    private func score(_ st: PeerState) -> Double {
        let s = parameters.scoring
        var v = s.firstDeliveryWeight * min(st.firstDeliveries, s.firstDeliveriesCap)
        v -= s.invalidWeight * st.invalid * st.invalid
        v -= s.deficitWeight * st.deficit * st.deficit
        let excess = max(0, st.behaviour - s.behaviourThreshold)
        v -= s.behaviourWeight * excess * excess
        return v
    }

    private mutating func banIfBelowThreshold(_ p: NodeID, now: Tick, into directives: inout [GossipDirective]) {
        guard let st = peers[p], st.connected, score(st) < parameters.scoring.banThreshold else { return }
        let until = now + parameters.scoring.banTicks
        banned[p] = until
        counters.bans += 1
        _ = onPeerDisconnected(p, now: now)
        directives.append(.disconnect(p, bannedUntil: until))
    }

    private mutating func evictOneRetainedScore() {
        // The oldest disconnected record without a penalty goes first; penalised ones are kept as long as possible.
        let victim = peers.filter { !$0.value.connected }.min { a, b in
            let pa = score(a.value) < 0, pb = score(b.value) < 0
            return pa != pb ? !pa : (a.value.disconnectedAt, a.key) < (b.value.disconnectedAt, b.key)
        }
        if let v = victim { peers[v.key] = nil }
    }

    private mutating func insertCache(_ id: MessageID, _ item: CachedItem, now: Tick) {
        cache[id] = item
        cacheOrder.append(id)
        topicOrder[item.topic, default: TopicOrder()].ids.append(id)
        cacheBytes += item.payload.count
        expireCache(now: now)
    }

    /// Eviction goes in first-seen order, so the id evicted is the oldest of its topic: the front of its order.
    private mutating func dropOldest(_ id: MessageID, of t: Topic) {
        guard var order = topicOrder.removeValue(forKey: t) else { return }
        while order.head < order.ids.count, cache[order.ids[order.head]]?.topic != t || order.ids[order.head] == id {
            order.head += 1   // the evicted id, and any stale ones before it (an id evicted and seen again)
        }
        guard order.head < order.ids.count else { return }  // the topic has nothing cached: forget its order
        if order.head > 256 && order.head * 2 > order.ids.count { order.ids.removeFirst(order.head); order.head = 0 }
        topicOrder[t] = order
    }

    private mutating func expireCache(now: Tick) {
        while cacheOrderHead < cacheOrder.count {
            let id = cacheOrder[cacheOrderHead]
            guard let item = cache[id] else { cacheOrderHead += 1; continue }
            let old = item.firstSeen + parameters.messageCacheTicks <= now
            let full = cache.count > GossipLimits.messageCacheCountMax || cacheBytes > GossipLimits.messageCacheBytesMax
            guard old || full else { break }
            cache[id] = nil; cacheBytes -= item.payload.count; cacheOrderHead += 1
            dropOldest(id, of: item.topic)
        }
        if cacheOrderHead > 1024 && cacheOrderHead * 2 > cacheOrder.count {
            cacheOrder.removeFirst(cacheOrderHead); cacheOrderHead = 0
        }
    }
}

/// The shell's verdict on an item the core asked it to validate.
public enum ValidationVerdict: Sendable, Equatable {
    /// Valid: signature, id, schema and limits all check out. The core delivers and relays it.
    case accept
    /// Invalid. The core penalises every peer that sent exactly these bytes and relays nothing.
    case reject
    /// Valid but unwanted (e.g. already stored, or the topic's policy refuses it). No relay, no penalty.
    case ignore
}

/// What the core asks its shell to do, in order.
public enum GossipDirective: Equatable, Sendable {
    /// Send `message` to `to` over its live connection. Best effort: a lost frame is repaired by gossip.
    case send(to: NodeID, message: GossipMessage)
    /// Check the item (signature, id = SHA-256(signature), schema, limits) and answer with `onValidationResult`.
    case validate(topic: Topic, id: MessageID, payload: [UInt8], from: NodeID)
    /// A new valid item for a followed topic: store it and hand it to whoever consumes the topic. At most once per id
    /// while the id is in the seen cache.
    case deliver(topic: Topic, id: MessageID, payload: [UInt8])
    /// The peer's score fell below the ban threshold: close the connection (the membership core removes the peer from
    /// its views) and refuse it until `bannedUntil`.
    case disconnect(NodeID, bannedUntil: Tick)
}

/// Counters for metrics and the simulator's reports. Never read by the core's logic.
public struct GossipCounters: Sendable, Equatable {
    public var published = 0, accepted = 0, rejected = 0, ignored = 0
    public var payloadsReceived = 0, payloadBytesReceived = 0, payloadsSent = 0, duplicates = 0
    public var ihaveSent = 0, ihaveIgnored = 0, iwantSent = 0, iwantServed = 0, brokenPromises = 0
    public var heartbeats = 0, bans = 0, relayRepairs = 0
    public var droppedFromUnknownPeer = 0, droppedUnsubscribed = 0, droppedValidationBacklog = 0
}

/// The decayed counters a peer's score is computed from (see `PeerScoreParameters`).
public struct PeerScoreCounters: Sendable, Equatable {
    public var firstDeliveries, invalid, deficit, behaviour, seenFromOthers, relayed: Double
}

struct PeerState: Sendable {
    var connected = true
    var connectedAt: Tick
    var disconnectedAt: Tick = 0
    var topics: Set<Topic> = []
    var firstDeliveries = 0.0, invalid = 0.0, deficit = 0.0, behaviour = 0.0
    var seenFromOthers = 0.0, relayed = 0.0
    var repairedAt: Tick?
    var ihaveThisHeartbeat = 0
    init(connectedAt: Tick) { self.connectedAt = connectedAt }
}

struct PendingItem: Sendable {
    var topic: Topic
    var payload: [UInt8]
    var from: NodeID
    /// Peers that sent exactly these bytes (all are penalised if they are invalid).
    var senders: Set<NodeID>
    /// Peers known to have the item.
    var holders: Set<NodeID>
}

struct CachedItem: Sendable {
    var topic: Topic
    var payload: [UInt8]
    var firstSeen: Tick
    var holders: Set<NodeID>
    var served: [NodeID: (count: UInt8, at: Tick)] = [:]
}

struct Want: Sendable {
    var topic: Topic
    var announcers: [NodeID]
    var asked: [NodeID]
    var current: NodeID?
    var deadline: Tick
    var batch: UInt64
}
