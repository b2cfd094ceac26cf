import Foundation
import AOCore
import AOGossip

/// How a simulated node behaves.
public enum GossipSimRole: String, Sendable {
    case honest
    /// Relays like an honest node but also injects invalid items (random ids, and garbage under genuine ids).
    case invalidSender
    /// Keeps its connections and mesh links (subscribe, graft) but sends nothing else: no payload, no IHAVE/IWANT.
    case dropper
}

final class GossipSimNode {
    let index: Int
    let id: NodeID
    let record: PeerRecord
    let role: GossipSimRole
    var up = false
    var incarnation = 0
    var gossip: GossipCore
    var membership: MembershipCore
    var rng: Xoshiro256
    /// The node's store: survives crashes. Item indices.
    var store: Set<Int> = []
    var links: Set<Int> = []
    var announceSequence: UInt64 = 0

    init(index: Int, id: NodeID, role: GossipSimRole, config: GossipSimulationConfig) {
        self.index = index; self.id = id; self.role = role
        record = PeerRecord(node: id, endpoints: ["sim:\(index)"])
        gossip = GossipCore(selfID: id, parameters: config.gossip)
        membership = MembershipCore(me: record, parameters: config.membership)
        rng = Xoshiro256(seed: config.seed ^ GossipSimSignature.mix(UInt64(index) &+ 0x5151))
    }
}

struct GossipSimItem {
    let id: MessageID
    let origin: Int
    let publishedAt: Tick
    let size: Int
    var large: Bool
}

/// A deterministic packet-level simulation of gossip + membership cores (CONVENTIONS.md C6): one thread, one seeded
/// generator for the network and the fault plan, one per node for the cores. Loss, duplication, delay (frames on one
/// connection keep their order, as TCP does; frames on different connections reorder freely), partitions, crashes and
/// restarts, and adversaries. Invariants run at the end of every tick. `run()` returns a report whose `digest` folds in
/// every delivery, so a replay from the same configuration can be compared bit for bit.
public final class GossipSimulation {
    public let config: GossipSimulationConfig
    private var rng: Xoshiro256
    private(set) var now: Tick = 0
    private var nodes: [GossipSimNode] = []
    private var indexOf: [NodeID: Int] = [:]
    private var queue = GossipEventQueue()
    private var linkClock: [Int: Tick] = [:]  // (from * n + to) -> last delivery tick, keeps per-connection FIFO
    private var side: [Bool]?  // partition sides; nil when whole
    private var faultsOn = false
    private var healTick: Tick = 0
    private let topic = Topic.global

    private var items: [GossipSimItem] = []
    private var itemIndex: [MessageID: Int] = [:]
    private var deliveredAt: [[Int32]] = []  // per item, per node: tick or -1
    private var copies: [[UInt16]] = []  // per item, per node: payload copies received
    private var missing = 0  // expected (honest node, item) pairs not yet delivered

    private var tallies = GossipInvariant.allCases.map { GossipInvariantTally(name: $0.name) }
    private var violations: [String] = []
    private var relayObservations: [(sender: Int, id: MessageID, payload: [UInt8])] = []
    private var deliveryObservations: [(node: Int, item: Int, fresh: Bool)] = []
    private var sendCounts: [UInt64: UInt8] = [:]
    private var sendObservations: [(key: UInt64, count: UInt8)] = []
    private var digest: UInt64 = 0xCBF2_9CE4_8422_2325

    private(set) var framesSent = 0, framesLost = 0, framesDuplicated = 0, framesUndeliverable = 0
    private var crashes = 0, restarts = 0, partitionsStarted = 0, attackFrames = 0
    private var fullDeliveryTick: Tick?
    private let debug = ProcessInfo.processInfo.environment["AO_SIM_DEBUG"] != nil

    private var ratioAtHeal = 0.0

    public init(config: GossipSimulationConfig) {
        precondition(config.nodes >= 2, "a gossip simulation needs at least two nodes")
        config.gossip.validate(); config.membership.validate()
        self.config = config
        rng = Xoshiro256(seed: config.seed)
        let adversaryCount = Int((Double(config.nodes) * config.adversaries).rounded())
        // Adversaries are drawn at random, never among the contacts (the configuration names trusted bootstrap nodes).
        var candidates = Array(min(config.contactCount, config.nodes - 1)..<config.nodes)
        candidates.shuffle(using: &rng)
        let bad = Array(candidates.prefix(adversaryCount)).sorted()
        var roles = [GossipSimRole](repeating: .honest, count: config.nodes)
        for (k, i) in bad.enumerated() {
            switch config.adversaryKind {
            case .invalid: roles[i] = .invalidSender
            case .dropper: roles[i] = .dropper
            case .mixed: roles[i] = k % 2 == 0 ? .invalidSender : .dropper
            }
        }
        for i in 0..<config.nodes {
            var g = SplitMix64(seed: UInt64(i) &* 0x9E37_79B9 &+ 17)
            let id = NodeID(raw: ID32(bytes: (0..<4).flatMap { _ in withUnsafeBytes(of: g.next().bigEndian, Array.init) })!)
            nodes.append(GossipSimNode(index: i, id: id, role: roles[i], config: config))
            indexOf[id] = i
        }
    }

    // MARK: - Plan

    private enum PlanAction { case start(Int), crash(Int), restart(Int), partitionStart, partitionEnd, publish, heal }

    private func makePlan() -> [Tick: [PlanAction]] {
        var plan: [Tick: [PlanAction]] = [:]
        let c = config
        let stagger = max(1, c.warmupTicks / 2)
        for i in 0..<c.nodes {
            let t = i < c.contactCount ? 0 : 1 + Tick(i) * stagger / Tick(c.nodes)
            plan[t, default: []].append(.start(i))
        }
        let faultStart = c.warmupTicks, heal = c.warmupTicks + c.faultTicks
        for _ in 0..<c.messages {
            plan[faultStart + rng.next() % max(1, c.faultTicks), default: []].append(.publish)
        }
        for i in 0..<c.nodes where Double(rng.next() >> 11) / Double(1 << 53) < c.churn {
            let crashAt = faultStart + rng.next() % max(1, c.faultTicks)
            let down = c.downTicksMin + rng.next() % max(1, c.downTicksMax - c.downTicksMin + 1)
            plan[crashAt, default: []].append(.crash(i))
            if crashAt + down < heal { plan[crashAt + down, default: []].append(.restart(i)) }
        }
        if c.partitions > 0 {
            let slot = c.faultTicks / Tick(c.partitions)
            for k in 0..<Tick(c.partitions) where slot > c.partitionTicks {
                let start = faultStart + k * slot + rng.next() % (slot - c.partitionTicks)
                plan[start, default: []].append(.partitionStart)
                plan[start + c.partitionTicks, default: []].append(.partitionEnd)
            }
        }
        plan[heal, default: []].append(.heal)
        return plan
    }

    // MARK: - Run

    /// Runs the whole scenario and returns its report. Deterministic: equal configurations give equal reports.
    public func run() -> GossipSimulationReport {
        let plan = makePlan()
        healTick = config.warmupTicks + config.faultTicks
        let end = healTick + config.healTicksMax
        while now <= end {
            if now == config.warmupTicks { faultsOn = true }
            for action in plan[now] ?? [] { apply(action) }
            while let e = queue.pop(dueBy: now) { process(e) }
            for n in nodes where n.up {
                runMembership(n, n.membership.onTick(now: now, rng: &n.rng))
                runGossip(n, n.gossip.onTick(now: now, rng: &n.rng))
                if n.role == .invalidSender && now >= config.warmupTicks && (now + Tick(n.index)) % config.attackEveryTicks == 0 {
                    attack(from: n)
                }
            }
            checkInvariants()
            if now >= healTick {
                if missing == 0 && fullDeliveryTick == nil { fullDeliveryTick = now }
                if fullDeliveryTick != nil && now >= healTick + config.settleTicks { break }
            }
            now += 1
        }
        return report()
    }

    private func apply(_ action: PlanAction) {
        switch action {
        case .start(let i): boot(nodes[i])
        case .crash(let i):
            let n = nodes[i]
            guard n.up else { return }
            crashes += 1
            n.up = false
            for p in n.links.sorted() { dropLink(i, p, notifyBoth: false) }
        case .restart(let i):
            guard !nodes[i].up else { return }
            restarts += 1
            boot(nodes[i])
        case .partitionStart:
            guard side == nil else { return }
            partitionsStarted += 1
            side = (0..<config.nodes).map { _ in rng.next() & 1 == 0 }
            for i in 0..<config.nodes { for j in nodes[i].links.sorted() where j > i && !sameSide(i, j) { dropLink(i, j, notifyBoth: true) } }
        case .partitionEnd: side = nil
        case .publish: publishItem()
        case .heal:
            faultsOn = false
            side = nil
            ratioAtHeal = deliveryRatio()
            for n in nodes where !n.up { restarts += 1; boot(n) }
        }
    }

    private func boot(_ n: GossipSimNode) {
        n.incarnation += 1
        n.up = true
        n.links = []
        n.gossip = GossipCore(selfID: n.id, parameters: config.gossip)
        n.membership = MembershipCore(me: n.record, parameters: config.membership)
        // A restarted node's store survives: the shell puts its items back into the seen and message caches.
        for k in n.store.sorted() {
            let item = items[k]
            n.gossip.restore(topic: topic, id: item.id, payload: payloadOf(k), now: now)
        }
        runGossip(n, n.gossip.subscribe(topic, now: now, rng: &n.rng))
        let contacts = nodes.prefix(config.contactCount).map(\.record)
        runMembership(n, n.membership.start(contacts: Array(contacts), now: now, rng: &n.rng))
    }

    private var payloads: [[UInt8]] = []
    private func payloadOf(_ k: Int) -> [UInt8] { payloads[k] }

    private func publishItem() {
        let live = nodes.filter { $0.up && $0.role == .honest && !$0.links.isEmpty }
        guard let n = live.randomElement(using: &rng) else { return }
        let k = items.count
        let large = config.largeEvery > 0 && (k + 1) % config.largeEvery == 0
        let size = large ? config.largeItemBytes : config.smallItemBytes
        let id = GossipSimSignature.id(config.seed, UInt64(k) &+ 0xDA7A)
        let payload = GossipSimSignature.payload(kind: 1, id: id, count: size, valid: true, rng: &rng)
        items.append(GossipSimItem(id: id, origin: n.index, publishedAt: now, size: payload.count, large: large))
        payloads.append(payload)
        itemIndex[id] = k
        deliveredAt.append([Int32](repeating: -1, count: config.nodes))
        copies.append([UInt16](repeating: 0, count: config.nodes))
        missing += nodes.filter { $0.role == .honest }.count - 1
        n.store.insert(k)
        deliveredAt[k][n.index] = Int32(now)
        runGossip(n, n.gossip.publish(topic: topic, id: id, payload: payload, now: now, rng: &n.rng))
    }

    private func attack(from n: GossipSimNode) {
        let forgeGenuine = rng.next() & 1 == 0 && !items.isEmpty
        let id = forgeGenuine ? items[Int(rng.next() % UInt64(items.count))].id
                              : GossipSimSignature.id(rng.next(), 0xBAD)
        let payload = GossipSimSignature.payload(kind: 1, id: id, count: config.smallItemBytes, valid: false, rng: &rng)
        for p in n.gossip.connectedPeers {
            attackFrames += 1
            send(from: n.index, to: indexOf[p]!, .gossip(.publish(topic: topic, id: id, payload: payload)), overLink: true)
        }
    }

    // MARK: - Directives

    private func runGossip(_ n: GossipSimNode, _ directives: [GossipDirective]) {
        for d in directives {
            switch d {
            case .send(let to, let message):
                if n.role == .dropper {
                    switch message { case .subscribe, .graft: break; default: continue }
                }
                guard let j = indexOf[to] else { continue }
                if case .publish(_, let id, let payload) = message, n.role == .honest {
                    relayObservations.append((n.index, id, payload))
                    if let k = itemIndex[id] {
                        let key = (UInt64(n.index) << 44) | (UInt64(n.incarnation & 0xFFF) << 32) | (UInt64(j) << 16) | UInt64(k & 0xFFFF)
                        let c = (sendCounts[key] ?? 0) &+ 1
                        sendCounts[key] = c
                        sendObservations.append((key, c))
                    }
                }
                send(from: n.index, to: j, .gossip(message), overLink: true)
            case .validate(_, let id, let payload, _):
                let ok = GossipSimSignature.isValid(id: id, payload: payload)
                runGossip(n, n.gossip.onValidationResult(id: id, verdict: ok ? .accept : .reject, now: now, rng: &n.rng))
            case .deliver(_, let id, let payload):
                deliver(n, id: id, payload: payload)
            case .disconnect(let peer, let until):
                if debug, let c = n.gossip.scoreCounters(of: peer) {
                    print("tick \(now) node \(n.index) (\(n.role)) bans \(indexOf[peer]!) (\(nodes[indexOf[peer]!].role)): \(c)")
                }
                runMembership(n, n.membership.onPeerBanned(peer, until: until, now: now, rng: &n.rng))
            }
        }
    }

    private func runMembership(_ n: GossipSimNode, _ directives: [MembershipDirective]) {
        for d in directives {
            switch d {
            case .connect(let rec):
                guard let j = indexOf[rec.node] else { continue }
                queue.push(now + delay() + delay(), .connectResult(from: n.index, fromIncarnation: n.incarnation, to: j))
            case .disconnect(let peer):
                guard let j = indexOf[peer], n.links.contains(j) else { continue }
                n.links.remove(j); nodes[j].links.remove(n.index)
                // The other side notices after the frames already sent (the close is graceful).
                queue.push(now + config.delayTicksMax + 1, .connectionLost(at: j, incarnation: nodes[j].incarnation, peer: n.index))
            case .send(let to, let message):
                // Droppers keep membership honest, so they stay connected and keep eating traffic.
                guard let j = indexOf[to] else { continue }
                send(from: n.index, to: j, .membership(message), overLink: true)
            case .sendTemporary(let rec, let message):
                guard let j = indexOf[rec.node] else { continue }
                send(from: n.index, to: j, .membership(message), overLink: false)
            case .activated(let peer):
                runGossip(n, n.gossip.onPeerConnected(peer, now: now))
            case .deactivated(let peer):
                runGossip(n, n.gossip.onPeerDisconnected(peer, now: now))
            case .announce:
                guard config.announcements else { continue }
                announce(n)
            }
        }
    }

    private func announce(_ n: GossipSimNode) {
        n.announceSequence += 1
        let a = NodeAnnouncement(node: n.id, publicKey: [UInt8](repeating: 0, count: 32), endpoints: n.record.endpoints,
                                 capabilities: n.index % 4 == 0 ? [.scheduler, .compute] : [.compute],
                                 sequence: n.announceSequence, ttlTicks: 60_000)
        var sig = [UInt8](repeating: 0, count: 64)
        var g = SplitMix64(seed: UInt64(n.index) ^ n.announceSequence)
        for i in 0..<64 { sig[i] = UInt8(truncatingIfNeeded: g.next()) }
        let signed = SignedNodeAnnouncement(announcement: a, signature: sig)
        let id = GossipSimSignature.id(UInt64(n.index) | 1 << 40, n.announceSequence)
        let payload = GossipSimSignature.payload(kind: 2, id: id, count: 0, body: signed.bytes, valid: true, rng: &n.rng)
        runGossip(n, n.gossip.publish(topic: topic, id: id, payload: payload, now: now, rng: &n.rng))
    }

    private func deliver(_ n: GossipSimNode, id: MessageID, payload: [UInt8]) {
        if payload.first == 2 {
            let body = Array(payload.dropFirst(GossipSimSignature.headerBytes))
            if let signed = try? SignedNodeAnnouncement(decoding: body) {
                n.membership.onAnnouncement(signed, now: now, rng: &n.rng)
            }
            return
        }
        guard let k = itemIndex[id] else {
            deliveryObservations.append((n.index, -1, true)); return
        }
        let fresh = n.store.insert(k).inserted
        deliveryObservations.append((n.index, k, fresh))
        if fresh {
            deliveredAt[k][n.index] = Int32(now)
            if n.role == .honest { missing -= 1 }
            digest = GossipSimSignature.mix(digest ^ (UInt64(k) << 32 | UInt64(n.index)) ^ now << 48)
        }
    }

    // MARK: - Network

    private func delay() -> Tick {
        config.delayTicksMin + rng.next() % (config.delayTicksMax - config.delayTicksMin + 1)
    }

    private func chance(_ p: Double) -> Bool { p > 0 && Double(rng.next() >> 11) / Double(1 << 53) < p }

    private func sameSide(_ a: Int, _ b: Int) -> Bool { side.map { $0[a] == $0[b] } ?? true }

    private func send(from: Int, to: Int, _ message: PeerMessage, overLink: Bool) {
        if overLink && !nodes[from].links.contains(to) { framesUndeliverable += 1; return }
        framesSent += 1
        if faultsOn && chance(config.loss) { framesLost += 1; return }
        let copiesCount = faultsOn && chance(config.duplication) ? 2 : 1
        if copiesCount == 2 { framesDuplicated += 1 }
        for _ in 0..<copiesCount {
            var at = now + delay()
            if overLink {
                let key = from * config.nodes + to
                at = max(at, linkClock[key] ?? 0)
                linkClock[key] = at
            }
            queue.push(at, .frame(from: from, to: to, toIncarnation: nodes[to].incarnation, message: message))
        }
    }

    private func dropLink(_ a: Int, _ b: Int, notifyBoth: Bool) {
        nodes[a].links.remove(b); nodes[b].links.remove(a)
        let t = now + config.failureDetectionTicks
        if nodes[b].up { queue.push(t, .connectionLost(at: b, incarnation: nodes[b].incarnation, peer: a)) }
        if notifyBoth && nodes[a].up { queue.push(t, .connectionLost(at: a, incarnation: nodes[a].incarnation, peer: b)) }
    }

    private func process(_ e: GossipSimEvent) {
        switch e {
        case .frame(let from, let to, let inc, let message):
            let n = nodes[to]
            guard n.up, n.incarnation == inc, sameSide(from, to) else { framesUndeliverable += 1; return }
            switch message {
            case .gossip(let g):
                if case .publish(_, let id, let payload) = g, let k = itemIndex[id], n.role == .honest,
                   GossipSimSignature.isValid(id: id, payload: payload) {
                    copies[k][to] &+= 1
                    if debug && items[k].large && copies[k][to] >= 3 {
                        print("tick \(now) node \(to) got copy \(copies[k][to]) of large item \(k) from \(from) inc \(n.incarnation) store=\(n.store.contains(k))")
                    }
                }
                runGossip(n, n.gossip.onMessageReceived(g, from: nodes[from].id, now: now, rng: &n.rng))
            case .membership(let m):
                runMembership(n, n.membership.onMessageReceived(m, from: nodes[from].id, now: now, rng: &n.rng))
            }
        case .connectResult(let from, let inc, let to):
            let a = nodes[from], b = nodes[to]
            guard a.up, a.incarnation == inc else { return }
            if b.up && sameSide(from, to) {
                let fresh = !a.links.contains(to)
                a.links.insert(to); b.links.insert(from)
                runMembership(a, a.membership.onConnectionEstablished(b.id, now: now))
                if fresh { runMembership(b, b.membership.onConnectionEstablished(a.id, now: now)) }
            } else {
                runMembership(a, a.membership.onConnectionFailed(b.id, now: now, rng: &a.rng))
            }
        case .connectionLost(let at, let inc, let peer):
            let n = nodes[at]
            guard n.up, n.incarnation == inc, !n.links.contains(peer) else { return }
            runMembership(n, n.membership.onConnectionLost(nodes[peer].id, now: now, rng: &n.rng))
        }
    }

    // MARK: - Invariants

    private func violation(_ inv: GossipInvariant, _ text: String) {
        tallies[inv.rawValue].violations += 1
        if violations.count < 20 { violations.append("tick \(now) \(inv.name): \(text)") }
    }

    private func checkInvariants() {
        // no-invalid-relayed
        tallies[GossipInvariant.noInvalidRelayed.rawValue].ticks += 1
        for o in relayObservations {
            tallies[GossipInvariant.noInvalidRelayed.rawValue].checks += 1
            if !GossipSimSignature.isValid(id: o.id, payload: o.payload) {
                violation(.noInvalidRelayed, "honest node \(o.sender) relayed invalid item \(o.id)")
            }
        }
        relayObservations.removeAll(keepingCapacity: true)
        // delivery-accounting
        tallies[GossipInvariant.deliveryAccounting.rawValue].ticks += 1
        for o in deliveryObservations {
            tallies[GossipInvariant.deliveryAccounting.rawValue].checks += 1
            if o.item < 0 { violation(.deliveryAccounting, "node \(o.node) delivered an unknown item"); continue }
            if !o.fresh { violation(.deliveryAccounting, "node \(o.node) delivered item \(o.item) twice") }
            if items[o.item].publishedAt > now { violation(.deliveryAccounting, "item \(o.item) delivered before it was published") }
            if !GossipSimSignature.isValid(id: items[o.item].id, payload: payloads[o.item]) {
                violation(.deliveryAccounting, "node \(o.node) delivered invalid item \(o.item)")
            }
        }
        deliveryObservations.removeAll(keepingCapacity: true)
        if now % 100 == 0 {
            tallies[GossipInvariant.deliveryAccounting.rawValue].checks += 1
            var recount = 0
            for k in 0..<items.count { for n in nodes where n.role == .honest && !n.store.contains(k) { recount += 1 } }
            if recount != missing { violation(.deliveryAccounting, "missing deliveries counted \(missing), recounted \(recount)") }
        }
        // duplicates-bound
        tallies[GossipInvariant.duplicatesBound.rawValue].ticks += 1
        for o in sendObservations {
            tallies[GossipInvariant.duplicatesBound.rawValue].checks += 1
            if o.count > 4 { violation(.duplicatesBound, "honest sender sent one payload \(o.count) times to one peer (key \(o.key))") }
        }
        sendObservations.removeAll(keepingCapacity: true)
        // view-bounds: counts for every live node, a full cross-check for one node per tick (round robin).
        tallies[GossipInvariant.viewBounds.rawValue].ticks += 1
        for n in nodes where n.up && n.role == .honest {
            tallies[GossipInvariant.viewBounds.rawValue].checks += 1
            if n.gossip.meshCount(topic) > config.gossip.meshDegreeHigh { violation(.viewBounds, "node \(n.index) mesh \(n.gossip.meshCount(topic)) > D_hi") }
            if n.membership.activeCount > config.membership.activeViewMax { violation(.viewBounds, "node \(n.index) active view over max") }
            if n.membership.passiveCount > config.membership.passiveViewMax { violation(.viewBounds, "node \(n.index) passive view over max") }
        }
        let n = nodes[Int(now % Tick(config.nodes))]
        if n.up && n.role == .honest {
            tallies[GossipInvariant.viewBounds.rawValue].checks += 1
            let connected = n.gossip.connectedPeers
            for p in n.gossip.meshPeers(topic) where !n.gossip.isConnected(p) { violation(.viewBounds, "node \(n.index) mesh peer not connected") }
            for p in connected where !n.membership.isActive(p) { violation(.viewBounds, "node \(n.index): gossip peer \(indexOf[p]!) not in the active view") }
            for p in n.membership.activeView where !n.gossip.isConnected(p) { violation(.viewBounds, "node \(n.index): active peer \(indexOf[p]!) not connected in gossip") }
            for p in connected where n.gossip.isBanned(p, now: now) { violation(.viewBounds, "node \(n.index) still connected to a banned peer") }
        }
    }

    // MARK: - Report

    private func deliveryRatio() -> Double {
        let honest = nodes.filter { $0.role == .honest }.count
        let expected = items.count * (honest - 1)
        return expected == 0 ? 1 : Double(expected - missing) / Double(expected)
    }

    private func report() -> GossipSimulationReport {
        var r = GossipSimulationReport(config: config)
        r.items = items.count
        r.largeItems = items.filter(\.large).count
        r.deliveryRatioAtHeal = ratioAtHeal
        r.deliveryRatio = deliveryRatio()
        r.missingDeliveries = missing
        r.ticksToFullDelivery = fullDeliveryTick.map { $0 - healTick }
        r.healTick = healTick
        r.endTick = now
        // Copies per node per item (honest receivers, excluding the origin, counting nodes that got at least one).
        var smallSum = 0, smallCount = 0, largeRatioSum = 0.0, largeCount = 0
        for (k, item) in items.enumerated() {
            for n in nodes where n.role == .honest && n.index != item.origin && copies[k][n.index] > 0 {
                let c = Int(copies[k][n.index])
                if item.large {
                    let ratio = Double(c * item.size) / Double(item.size)
                    r.largeBytesRatioMax = max(r.largeBytesRatioMax, ratio)
                    largeRatioSum += ratio; largeCount += 1
                } else {
                    r.copiesMax = max(r.copiesMax, c)
                    smallSum += c; smallCount += 1
                }
            }
        }
        r.copiesMean = smallCount == 0 ? 0 : Double(smallSum) / Double(smallCount)
        r.largeBytesRatioMean = largeCount == 0 ? 0 : largeRatioSum / Double(largeCount)
        // Attackers and honest bans.
        let threshold = config.gossip.scoring.banThreshold
        var scores: [Double] = []
        for a in nodes where a.role != .honest {
            r.attackers += 1
            var bannedBySomeone = false, seen = false, inMesh = false
            for h in nodes where h.role == .honest && h.up {
                if h.gossip.isBanned(a.id, now: now) { bannedBySomeone = true }
                if let s = h.gossip.score(of: a.id) { seen = true; scores.append(s) }
                if h.gossip.isMeshPeer(a.id, topic: topic) { inMesh = true }
            }
            if debug {
                let recs = nodes.filter { $0.role == .honest && $0.up }.compactMap { h in h.gossip.scoreCounters(of: a.id).map { (h.index, h.gossip.isConnected(a.id), $0) } }
                print("attacker \(a.index) \(a.role) banned=\(bannedBySomeone) records=\(recs.count) connected=\(recs.filter { $0.1 }.count)")
                for (h, c, x) in recs.prefix(3) { print("   at \(h) connected=\(c) \(x)") }
            }
            if bannedBySomeone { r.attackersBanned += 1 }
            if seen || bannedBySomeone { r.attackersObserved += 1 }
            if inMesh { r.attackersInHonestMesh += 1 }
        }
        r.attackerScoreMean = scores.isEmpty ? 0 : scores.reduce(0, +) / Double(scores.count)
        r.attackerScoreMax = scores.max() ?? 0
        r.banThreshold = threshold
        for h in nodes where h.role == .honest && h.up {
            for p in h.gossip.bannedPeers(now: now) where nodes[indexOf[p]!].role == .honest { r.honestBans += 1 }
        }
        r.invariants = tallies
        r.violations = violations
        r.digest = digest
        r.framesSent = framesSent; r.framesLost = framesLost; r.framesDuplicated = framesDuplicated
        r.framesUndeliverable = framesUndeliverable
        r.crashes = crashes; r.restarts = restarts; r.partitions = partitionsStarted; r.attackFrames = attackFrames
        return r
    }
}
