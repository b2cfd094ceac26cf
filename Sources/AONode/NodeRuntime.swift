import AOCore
import AOGossip
import AOHTTP
import AOScheduling
import AOStore
import AOStoreLMDB
import AOTransport
import Foundation
import Logging

/// The frame channels of the peer transport: one per protocol, so each decoder only ever sees its own bytes.
public enum PeerChannel: UInt16, Sendable {
    /// `PeerMessage`: gossip and membership (AOGossip).
    case peer = 1
    /// `HostEnvelope`: scheduling (AOScheduling).
    case scheduling = 2
    /// `ReplicationMessage`: fetch by id, process log sync (Replication.swift).
    case replication = 3
}

/// KV namespaces of the node's own protocol state in the store.
enum StateNamespace {
    /// process id -> group record (`DurableCodec.encode(hardState:bootstrapMembers:applied:)`).
    static let group = "sched.group"
    /// process id ++ log index (8 bytes BE) -> `DurableCodec.encode(entry)`.
    static let log = "sched.log"
    /// process id ++ message id -> outbox key: submissions accepted (202) and not yet known assigned.
    static let pending = "sched.pending"
    /// process id -> replicas (varint text): every process this node knows.
    static let processes = "node.processes"
    /// "incarnation" -> decimal boot counter.
    static let node = "node.meta"
}

/// Why the runtime refused a submission.
public enum AcceptError: Error, Sendable, Equatable {
    case unknownProcess(ProcessID)
    case tooManyPending
    case notAuthorised(String)
    case store(String)
}

/// The node's event loop: one actor that owns the pure cores (membership, gossip, scheduling) and executes their
/// directives against the transport and the store. Transport events, ticks and API calls are all messages to
/// this actor, so the cores are only ever touched from one place, in order.
///
/// Persist before send: scheduling writes (Raft hard state and log) are committed to LMDB inside `flush()` (the
/// actor awaits the group committer) before any envelope of the same batch is handed to the transport.
public actor NodeRuntime {
    public let nodeID: NodeID
    public let key: Ed25519PrivateKey
    let configuration: NodeConfiguration
    let network: NetworkConfiguration
    let store: LMDBContentStore
    let committer: GroupCommitter
    let transport: any Transport
    let signer: AssignmentSigner
    let logger: Logger
    let admitted: Set<NodeID>
    /// Transport endpoints of admitted schedulers, from the network configuration.
    let schedulerEndpoints: [NodeID: Endpoint]
    /// HTTP base URLs of admitted schedulers, from the network configuration.
    let schedulerHTTP: [NodeID: String]

    var membership: MembershipCore
    var gossip: GossipCore
    var scheduler: SchedulerHost
    var rng: Xoshiro256
    var tick: Tick = 0
    var started = false
    var stopping = false

    /// Connected peers (authenticated), with their remote endpoint.
    var connected: [NodeID: Endpoint] = [:]
    /// Peers the membership core asked us to dial, by the endpoint dialled (to answer `onConnectionFailed`).
    var membershipDials: [Endpoint: NodeID] = [:]
    /// One-shot frames to deliver once a connection to the node is up (membership `sendTemporary`).
    var temporaryFrames: [NodeID: [[UInt8]]] = [:]
    /// Inbound streams being reassembled: (peer, stream id) -> bytes so far.
    var streams: [NodeID: [UInt32: [UInt8]]] = [:]
    /// Known processes and their replica counts.
    var processes: [ProcessID: Int] = [:]
    /// The highest log index this node stored per group (to truncate on conflicting appends).
    var storedLastIndex: [ProcessID: LogIndex] = [:]
    /// Group records as last written.
    var groupRecords: [ProcessID: (hardState: HardState, members: [NodeID], applied: LogIndex)] = [:]
    /// Assignments received by gossip that do not yet extend this node's log (a gap): slot -> item.
    var heldAssignments: [ProcessID: [UInt64: DataItem]] = [:]
    /// Leader seen at the last flush, per group (to notice leadership changes).
    var lastLeader: [ProcessID: NodeID] = [:]
    /// Equivocation detector over assignments received by gossip (the host's own detector sees Raft appends).
    var gossipDetector = EquivocationDetector()
    var flushScheduled = false
    /// A flush is running (possibly waiting for its write): see `flush()`.
    var flushing = false
    /// Items delivered by gossip and not written yet: they ride in the next synchronous write on the actor (the flush's
    /// one LMDB transaction, or any other), so a burst of deliveries shares one fsync instead of paying one each. Every
    /// write on the actor takes them first (`takeDeferred`), so an assignment or process-log entry is never durable
    /// before the bodies delivered ahead of it.
    var deferredItems: [ItemWrite] = []
    var deferredIDs: Set<MessageID> = []
    var announcementSequence: UInt64 = 0
    /// The arrival sequence of the next accepted submission, stored with its pending record (restart order).
    var nextArrival: UInt64 = 1
    public private(set) var counters = NodeCounters()

    /// Hooks the other services install (compute, replication). Called on the actor; must not block.
    var onAssignmentsStored: [@Sendable (ProcessID, UInt64) -> Void] = []
    var onLeadershipChanged: [@Sendable (ProcessID, Bool) -> Void] = []
    /// Items newly durable in a write of the actor (compute resumes a process paused for one of them).
    var onItemsStored: [@Sendable (WriteReceipt) -> Void] = []
    var replicationHandler: (@Sendable (NodeID, [UInt8]) -> Void)?
    /// Replication's fetch of a process a submission names (`NodeAPI.submit` asks before answering unknownProcess).
    var processFetcher: (@Sendable (ProcessID) async -> Bool)?
    /// Benchmarks: one line "<item id> <unix µs>" per gossip delivery made durable, when the environment variable
    /// AONODE_DELIVERY_TRACE names a file.
    let deliveryTrace = DeliveryTrace.fromEnvironment()
    var peerConnectedHandlers: [@Sendable (NodeID) -> Void] = []

    init(configuration: NodeConfiguration, network: NetworkConfiguration, key: Ed25519PrivateKey, store: LMDBContentStore,
         transport: any Transport, logger: Logger, seed: UInt64) throws {
        self.configuration = configuration
        self.network = network
        self.key = key
        self.store = store
        self.committer = GroupCommitter(store: store)
        self.transport = transport
        self.logger = logger
        let admittedKeys = network.schedulers.compactMap(\.publicKeyBytes)
        self.signer = AssignmentSigner(key: key, admittedKeys: admittedKeys)
        self.nodeID = signer.nodeID
        var endpoints: [NodeID: Endpoint] = [:], http: [NodeID: String] = [:]
        for s in network.schedulers {
            guard let id = s.nodeID else { continue }
            if let e = s.endpoint.flatMap(Endpoint.init(parsing:)) { endpoints[id] = e }
            if let h = s.http { http[id] = h }
        }
        self.schedulerEndpoints = endpoints
        self.schedulerHTTP = http
        self.admitted = Set(network.schedulers.compactMap(\.nodeID))
        self.rng = Xoshiro256(seed: seed)
        let me = PeerRecord(node: signer.nodeID, endpoints: [configuration.effectiveAdvertise.description])
        self.membership = MembershipCore(me: me)
        self.gossip = GossipCore(selfID: signer.nodeID)

        // Restore the scheduling state written before the last stop or crash.
        let incarnation = (try Self.readIncarnation(store)) + 1
        var processes: [ProcessID: Int] = [:]
        for kv in try Self.scan(store, StateNamespace.processes) {
            guard let p = ProcessID(bytes: kv.key) else { continue }
            processes[p] = Int(String(decoding: kv.value, as: UTF8.self)) ?? AOProcess.schedulerReplicasDefaultCount
        }
        var durable: [DurableGroup] = []
        var lastIndex: [ProcessID: LogIndex] = [:]
        var records: [ProcessID: (hardState: HardState, members: [NodeID], applied: LogIndex)] = [:]
        for kv in try Self.scan(store, StateNamespace.group) {
            guard let p = ProcessID(bytes: kv.key) else { continue }
            let g = try DurableCodec.decodeGroupState(kv.value)
            var log: [LogEntry] = []
            for e in try Self.scan(store, StateNamespace.log, prefix: p.bytes) {
                let entry = try DurableCodec.decodeEntry(e.value)
                guard entry.index == UInt64(log.count) + 1 else { break }  // a hole is never written; stop defensively
                log.append(entry)
            }
            lastIndex[p] = UInt64(log.count)
            records[p] = (g.hardState, g.bootstrapMembers, g.applied)
            durable.append(DurableGroup(process: p, bootstrapMembers: g.bootstrapMembers, hardState: g.hardState, log: log,
                                        applied: min(g.applied, UInt64(log.count))))
        }
        // Pending submissions go back to the scheduler in the order they were accepted (their arrival sequence).
        var restored: [(arrival: UInt64, process: ProcessID, message: MessageID, outboxKey: OutboxKey?)] = []
        for kv in try Self.scan(store, StateNamespace.pending) where kv.key.count == 64 {
            let p = ProcessID(bytes: kv.key[0..<32])!, m = MessageID(bytes: kv.key[32..<64])!
            let record = try DurableCodec.decodePending(kv.value)
            restored.append((record.arrival, p, m, record.outboxKey))
        }
        restored.sort { ($0.arrival, $0.process, $0.message) < ($1.arrival, $1.process, $1.message) }
        let submissions = restored.map { ($0.process, $0.message, $0.outboxKey) }
        self.nextArrival = (restored.last?.arrival ?? 0) + 1
        var settings = SchedulerHostSettings()
        settings.blockHeightDefault = network.blockHeight
        var r = rng
        self.scheduler = SchedulerHost(signer: signer, admitted: admitted, settings: settings, now: 0,
                                       incarnation: incarnation, restoring: durable, replicas: processes,
                                       submissions: submissions, rng: &r)
        self.rng = r
        self.processes = processes
        self.storedLastIndex = lastIndex
        self.groupRecords = records
        _ = try store.write(WriteBatch(keyValues: [.put(namespace: StateNamespace.node, key: Array("incarnation".utf8),
                                                         value: Array(String(incarnation).utf8))]))
        if !durable.isEmpty || !submissions.isEmpty {
            logger.info("restored scheduling state", metadata: ["groups": "\(durable.count)", "pending": "\(submissions.count)",
                                                                 "processes": "\(processes.count)", "incarnation": "\(incarnation)"])
        }
    }

    static func readIncarnation(_ store: LMDBContentStore) throws -> UInt64 {
        guard let v = try store.value(namespace: StateNamespace.node, key: Array("incarnation".utf8)) else { return 0 }
        return UInt64(String(decoding: v, as: UTF8.self)) ?? 0
    }

    static func scan(_ store: LMDBContentStore, _ namespace: String, prefix: [UInt8] = []) throws -> [KeyValue] {
        var out: [KeyValue] = []
        var from = prefix
        while true {
            let page = try store.values(namespace: namespace, from: from, limit: 1024)
            for kv in page {
                guard kv.key.starts(with: prefix) else { return out }
                out.append(kv)
            }
            guard page.count == 1024, let last = page.last else { return out }
            from = last.key + [0]
        }
    }

    // MARK: start / stop

    /// Subscribes to the topics of known processes, dials the bootstrap peers and scheduler peers, starts the
    /// event pump and the ticker.
    func start() {
        guard !started else { return }
        started = true
        var r = rng
        apply(gossip: gossip.subscribe(.global, now: tick, rng: &r))
        for p in processes.keys.sorted() { apply(gossip: gossip.subscribe(.process(p), now: tick, rng: &r)) }
        rng = r
        // Bootstrap peers are dialled without an expected key (we only know their address); the first one up
        // becomes the membership core's contact. Retried by `redialBootstrap` until one answers.
        for e in configuration.peers { transport.connect(to: e, expecting: nil, persistent: false) }
        // Scheduler peers: a full mesh among admitted schedulers (the admitted set is small by design). The node
        // with the smaller id dials, so each pair has one persistent dial.
        for (id, e) in schedulerEndpoints.sorted(by: { $0.key < $1.key }) where id != nodeID && nodeID < id {
            transport.connect(to: e, expecting: id, persistent: true)
        }
        let contacts = schedulerEndpoints.filter { $0.key != nodeID }.sorted { $0.key < $1.key }
            .map { PeerRecord(node: $0.key, endpoints: [$0.value.description]) }
        if !contacts.isEmpty || configuration.peers.isEmpty { startMembership(contacts: contacts) }
        Task { await self.pumpEvents() }
        Task { await self.runTicker() }
        scheduleFlush()
    }

    var membershipStarted = false

    func startMembership(contacts: [PeerRecord]) {
        guard !membershipStarted else { return }
        membershipStarted = true
        var r = rng
        let directives = membership.start(contacts: contacts, now: tick, rng: &r)
        rng = r
        apply(membership: directives)
    }

    /// Until membership has a contact, the bootstrap peers are dialled again every few seconds.
    func redialBootstrap() {
        guard !membershipStarted, tick % max(1, 2000 / configuration.tickMilliseconds) == 0 else { return }
        for e in configuration.peers { transport.connect(to: e, expecting: nil, persistent: false) }
    }

    func pumpEvents() async {
        for await event in transport.events {
            if stopping { break }
            handle(event)
        }
    }

    func runTicker() async {
        let interval = Duration.milliseconds(Int64(configuration.tickMilliseconds))
        while !stopping {
            try? await Task.sleep(for: interval)
            if stopping { break }
            onTick()
        }
    }

    func stop() {
        stopping = true
        writeDeferred()  // items delivered by gossip and not written yet are kept
    }

    // MARK: transport events

    /// A connection to `peer` is up (new or replacing one): frames held for it go out, and its watchers hear.
    private func peerReachable(_ peer: NodeID) {
        for frame in temporaryFrames.removeValue(forKey: peer) ?? [] {
            transport.send(Frame(channel: PeerChannel.peer.rawValue, payload: frame), to: peer)
        }
        for h in peerConnectedHandlers { h(peer) }
    }

    /// A membership dial that reached `peer` is done (before the membership core hears of the connection).
    private func membershipDialReached(_ peer: NodeID) {
        if let dialled = membershipDials.first(where: { $0.value == peer })?.key { membershipDials[dialled] = nil }
    }

    func handle(_ event: TransportEvent) {
        switch event {
        case .connected(let peer, let endpoint):
            connected[peer] = endpoint
            counters.connections += 1
            logger.debug("peer connected", metadata: ["peer": "\(peer.base64URL.prefix(8))", "endpoint": "\(endpoint)"])
            membershipDialReached(peer)
            if !membershipStarted && configuration.peers.contains(endpoint) {
                startMembership(contacts: [PeerRecord(node: peer, endpoints: [endpoint.description])])
            }
            apply(membership: membership.onConnectionEstablished(peer, now: tick))
            peerReachable(peer)
        case .reconnected(let peer, let endpoint):
            // The same link on a new connection (simultaneous dials; treating it as a loss dropped the link from
            // both active views): say the link's last word again instead of starting over, and let gossip re-send
            // its subscriptions (what was queued on the dropped connection may be lost; IHAVE repairs lost items).
            connected[peer] = endpoint
            streams[peer] = nil  // an inbound stream of the old connection will not continue on this one
            counters.connectionsReplaced += 1
            logger.debug("peer reconnected", metadata: ["peer": "\(peer.base64URL.prefix(8))", "endpoint": "\(endpoint)"])
            membershipDialReached(peer)
            apply(membership: membership.onConnectionReplaced(peer, now: tick))
            if membership.isActive(peer) {
                apply(gossip: gossip.onPeerDisconnected(peer, now: tick))
                apply(gossip: gossip.onPeerConnected(peer, now: tick))
            }
            peerReachable(peer)
        case .disconnected(let peer, _, let reason):
            connected[peer] = nil
            streams[peer] = nil
            logger.debug("peer disconnected", metadata: ["peer": "\(peer.base64URL.prefix(8))", "reason": "\(reason)"])
            var r = rng
            apply(membership: membership.onConnectionLost(peer, now: tick, rng: &r))
            apply(gossip: gossip.onPeerDisconnected(peer, now: tick))
            rng = r
        case .connectFailed(let endpoint, _):
            if let peer = membershipDials.removeValue(forKey: endpoint) {
                var r = rng
                apply(membership: membership.onConnectionFailed(peer, now: tick, rng: &r))
                rng = r
            }
        case .frameReceived(let peer, let frame):
            receive(channel: frame.channel, payload: frame.payload, from: peer)
        case .streamChunkReceived(let peer, let chunk):
            var buffer = streams[peer]?[chunk.streamID] ?? []
            if buffer.isEmpty { buffer.reserveCapacity(Int(min(chunk.totalBytes, UInt64(configuration.itemBytesMax) + 65536))) }
            buffer += chunk.bytes
            if chunk.isLast {
                streams[peer]?[chunk.streamID] = nil
                receive(channel: chunk.channel, payload: buffer, from: peer)
            } else {
                streams[peer, default: [:]][chunk.streamID] = buffer
            }
        case .streamAborted(let peer, let id):
            streams[peer]?[id] = nil
        }
        scheduleFlush()
    }

    func receive(channel: UInt16, payload: [UInt8], from peer: NodeID) {
        switch PeerChannel(rawValue: channel) {
        case .peer:
            let message: PeerMessage
            do { message = try PeerMessage(decoding: payload) } catch {
                counters.badFrames += 1
                logger.notice("undecodable peer frame", metadata: ["peer": "\(peer.base64URL.prefix(8))", "error": "\(error)"])
                return
            }
            var r = rng
            switch message {
            case .gossip(let g): apply(gossip: gossip.onMessageReceived(g, from: peer, now: tick, rng: &r))
            case .membership(let m): apply(membership: membership.onMessageReceived(m, from: peer, now: tick, rng: &r))
            }
            rng = r
        case .scheduling:
            var r = rng
            scheduler.onEnvelope(payload, from: peer, rng: &r)
            rng = r
        case .replication:
            replicationHandler?(peer, payload)
        case nil:
            counters.badFrames += 1
        }
    }

    // MARK: ticks

    func onTick() {
        tick += 1
        redialBootstrap()
        var r = rng
        if membershipStarted { apply(membership: membership.onTick(now: tick, rng: &r)) }
        apply(gossip: gossip.onTick(now: tick, rng: &r))
        scheduler.onTick(now: tick, clockMs: Self.clockMs(), rng: &r)
        rng = r
        scheduleFlush()
    }

    static func clockMs() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

    // MARK: directives

    func apply(membership directives: [MembershipDirective]) {
        for d in directives {
            switch d {
            case .connect(let record):
                if connected[record.node] != nil {
                    apply(membership: membership.onConnectionEstablished(record.node, now: tick))
                    continue
                }
                guard let e = record.endpoints.lazy.compactMap(Endpoint.init(parsing:)).first else {
                    var r = rng
                    apply(membership: membership.onConnectionFailed(record.node, now: tick, rng: &r))
                    rng = r
                    continue
                }
                membershipDials[e] = record.node
                transport.connect(to: e, expecting: record.node, persistent: false)
            case .disconnect(let peer):
                // Scheduler peers stay connected for scheduling; only the gossip overlay drops them.
                if admitted.contains(peer) && schedulerEndpoints[peer] != nil { continue }
                transport.close(peer)
            case .send(let to, let message):
                sendPeer(.membership(message), to: to)
            case .sendTemporary(let record, let message):
                let bytes = PeerMessage.membership(message).encoded()
                if connected[record.node] != nil {
                    transport.send(Frame(channel: PeerChannel.peer.rawValue, payload: bytes), to: record.node)
                } else if let e = record.endpoints.lazy.compactMap(Endpoint.init(parsing:)).first {
                    temporaryFrames[record.node, default: []].append(bytes)
                    transport.connect(to: e, expecting: record.node, persistent: false)
                }
            case .activated(let peer):
                apply(gossip: gossip.onPeerConnected(peer, now: tick))
            case .deactivated(let peer):
                apply(gossip: gossip.onPeerDisconnected(peer, now: tick))
            case .announce:
                announce()
            }
        }
    }

    func apply(gossip directives: [GossipDirective]) {
        for d in directives {
            switch d {
            case .send(let to, let message):
                sendPeer(.gossip(message), to: to)
            case .validate(let topic, let id, let payload, let from):
                let verdict = validate(topic: topic, id: id, payload: payload)
                if verdict == .reject {
                    counters.gossipRejected += 1
                    logger.notice("invalid gossip item", metadata: ["peer": "\(from.base64URL.prefix(8))", "id": "\(id.base64URL)"])
                }
                var r = rng
                let next = gossip.onValidationResult(id: id, verdict: verdict, now: tick, rng: &r)
                rng = r
                apply(gossip: next)
            case .deliver(_, _, let payload):
                guard let item = try? DataItem(parsing: payload) else { continue }
                counters.gossipDelivered += 1
                delivered(item, bytes: payload)
            case .disconnect(let peer, let until):
                logger.warning("banning peer", metadata: ["peer": "\(peer.base64URL.prefix(8))", "until": "\(until)"])
                var r = rng
                apply(membership: membership.onPeerBanned(peer, until: until, now: tick, rng: &r))
                rng = r
                if !(admitted.contains(peer) && schedulerEndpoints[peer] != nil) { transport.close(peer) }
            }
        }
    }

    /// Payloads up to this go as one frame; larger ones as a stream (the transport's frame bound, less headroom).
    static let frameBytes = TransportLimits.default.frameBytesMax - 1024

    /// Sends `bytes` on `channel`: one frame, or a stream when larger than a frame.
    @discardableResult
    func send(_ bytes: [UInt8], channel: PeerChannel, to peer: NodeID) -> SendResult {
        bytes.count > Self.frameBytes
            ? transport.sendStream(bytes, channel: channel.rawValue, to: peer)
            : transport.send(Frame(channel: channel.rawValue, payload: bytes), to: peer)
    }

    func sendPeer(_ message: PeerMessage, to peer: NodeID) { send(message.encoded(), channel: .peer, to: peer) }

    /// Sends a scheduling envelope in frames under the transport's bound (a batch for one peer can outgrow one);
    /// an item too large for a frame on its own goes as a stream.
    func sendScheduling(_ envelope: HostEnvelope, to peer: NodeID) {
        for chunk in envelope.encodedChunks(bytesMax: Self.frameBytes) { send(chunk, channel: .scheduling, to: peer) }
    }

    /// Sends bytes on the replication channel (streams when large).
    func sendReplication(_ bytes: [UInt8], to peer: NodeID) -> Bool {
        send(bytes, channel: .replication, to: peer) != .notConnected
    }

    func announce() {
        announcementSequence += 1
        // Announcements travel as data items signed by the node key (type Node-Announcement), so everything on
        // gossip is a data item with a data item id; validation checks the owner is the announced node.
        let tags = [Tag("Data-Protocol", "aonode"), Tag("Type", "Node-Announcement"),
                    Tag("Endpoint", configuration.effectiveAdvertise.description),
                    Tag("Http", configuration.effectiveAdvertiseHTTP),
                    Tag("Scheduler", admitted.contains(nodeID) ? "1" : "0"),
                    Tag("Sequence", String(announcementSequence)), Tag("Time", String(Self.clockMs()))]
        guard let item = try? DataItem.create(signer: key, tags: tags) else { return }
        publish(item, bytes: item.serialized(), topic: .global)
    }

    // MARK: validation and delivery

    func validate(topic: Topic, id: MessageID, payload: [UInt8]) -> ValidationVerdict {
        // An assignment this node signed or already verified (a Raft append), byte for byte, on its process's topic:
        // valid without parsing and checking the signature again.
        if case .process(let p) = topic, let known = signer.cache.bytes(id), known.process == p, known.bytes == payload {
            return deferredIDs.contains(id) || (try? store.hasItem(id)) == true ? .ignore : .accept
        }
        guard payload.count <= configuration.itemBytesMax + 65536,
              let item = try? DataItem(parsing: payload), item.id == id, (try? item.verify()) != nil else { return .reject }
        if item.tag("Type") == "Node-Announcement" {
            return .accept
        }
        if case .process(let p) = topic, item.tag("Type") == "Assignment" {
            // An assignment must be signed by an admitted scheduler and name the topic's process.
            guard item.tag("Process") == p.base64URL, admitted.contains(NodeIdentity.nodeID(publicKey: item.owner)) else { return .reject }
        }
        if deferredIDs.contains(id) || (try? store.hasItem(id)) == true { return .ignore }
        return .accept
    }

    /// A valid item arrived by gossip (or replication): store it and act on its kind.
    func delivered(_ item: DataItem, bytes: [UInt8]) {
        switch item.tag("Type") {
        case "Node-Announcement":
            return  // kept only in the membership view for now
        case "Process":
            guard let process = try? AOProcess(item) else { return }
            storeQuietly(bytes, id: item.id)
            register(process)
        case "Assignment":
            receivedAssignment(item, bytes: bytes)
        case "Message", "Module":
            // Deferred into the next write on the actor (the flush scheduled for this event): an assignment of this
            // message (or a process using this module) is stored in that write or a later one, never before it,
            // and compute reads the body only after an assignment is stored.
            deferStore(bytes, id: item.id)
        default:
            storeDelivered(bytes, id: item.id)
        }
    }

    /// Other items from gossip (plain data items: nothing in the node reads them back at once) are written through
    /// the group committer (many deliveries share one LMDB commit and fsync) instead of one synchronous transaction
    /// each; gossip has already relayed them (they were validated), and nothing on the actor waits for the write. The delivery trace (`AONODE_DELIVERY_TRACE`)
    /// records when each one became durable.
    func storeDelivered(_ bytes: [UInt8], id: MessageID) {
        let store = self.store, trace = deliveryTrace
        committer.submit(WriteBatch(items: [ItemWrite(bytes: bytes, expectedID: id)])) { result in
            switch result {
            case .success:
                trace?.record(id)
            case .failure:
                // The committer is closed or full: write directly (LMDB serialises writers).
                if (try? store.write(WriteBatch(items: [ItemWrite(bytes: bytes, expectedID: id)]))) != nil { trace?.record(id) }
            }
        }
    }

    func storeQuietly(_ bytes: [UInt8], id: MessageID) {
        var batch = WriteBatch(items: [ItemWrite(bytes: bytes, expectedID: id)])
        let deferred = takeDeferred(into: &batch)
        do {
            _ = try writeInOrder(batch)
            recordDeferred(deferred)
        } catch {
            restoreDeferred(deferred)
            counters.storeErrors += 1
            logger.error("store write failed", metadata: ["id": "\(id.base64URL)", "error": "\(error)"])
        }
    }

    func deferStore(_ bytes: [UInt8], id: MessageID) {
        guard deferredIDs.insert(id).inserted else { return }
        deferredItems.append(ItemWrite(bytes: bytes, expectedID: id))
        scheduleFlush()
    }

    /// Moves the deferred items to the front of `batch` (so they are durable no later than what follows them).
    func takeDeferred(into batch: inout WriteBatch) -> [ItemWrite] {
        guard !deferredItems.isEmpty else { return [] }
        let taken = deferredItems
        batch.items = taken + batch.items
        deferredItems = []
        deferredIDs = []
        return taken
    }

    /// The deferred items of a write that committed: traced as delivered (AONODE_DELIVERY_TRACE).
    func recordDeferred(_ taken: [ItemWrite]) {
        guard let trace = deliveryTrace else { return }
        for w in taken { if let id = w.expectedID { trace.record(id) } }
    }

    /// The deferred items of a write that failed go back in the queue for the next one.
    func restoreDeferred(_ taken: [ItemWrite]) {
        guard !taken.isEmpty else { return }
        deferredItems = taken + deferredItems
        for w in taken { if let id = w.expectedID { deferredIDs.insert(id) } }
    }

    /// Writes the deferred items on their own (a flush that had nothing else to write).
    func writeDeferred() {
        guard !deferredItems.isEmpty else { return }
        var batch = WriteBatch()
        let taken = takeDeferred(into: &batch)
        do {
            _ = try writeInOrder(batch)
            recordDeferred(taken)
        } catch {
            restoreDeferred(taken)
            counters.storeErrors += 1
            logger.error("store write failed", metadata: ["items": "\(taken.count)", "error": "\(error)"])
        }
    }

    /// Registers a process: remembered durably, its topic followed, its scheduling group created if this node
    /// is a bootstrap member.
    func register(_ process: AOProcess) {
        let p = process.id
        guard processes[p] == nil else { return }
        let replicas = process.schedulerReplicas
        processes[p] = replicas
        do {
            _ = try writeInOrder(WriteBatch(keyValues: [.put(namespace: StateNamespace.processes, key: p.bytes,
                                                             value: Array(String(replicas).utf8))]))
        } catch {
            counters.storeErrors += 1
            logger.error("cannot record process", metadata: ["process": "\(p.base64URL)", "error": "\(error)"])
        }
        var r = rng
        scheduler.onProcess(p, replicas: replicas, clockMs: Self.clockMs(), rng: &r)
        apply(gossip: gossip.subscribe(.process(p), now: tick, rng: &r))
        rng = r
        logger.info("process registered", metadata: ["process": "\(p.base64URL)", "replicas": "\(replicas)",
                                                     "member": "\(scheduler.groups[p] != nil)"])
        scheduleFlush()
    }

    /// An assignment from gossip: stored as an item; appended to the process log when it extends it (hash chain
    /// checked), held otherwise until the gap is filled.
    func receivedAssignment(_ item: DataItem, bytes: [UInt8]) {
        // Assignments on the global topic are not checked by `validate` (only process topics are): check here.
        guard admitted.contains(NodeIdentity.nodeID(publicKey: item.owner)), let a = try? AOAssignment(item) else {
            counters.gossipRejected += 1
            return
        }
        // A member already holds this exact assignment in its Raft log (the leader publishes only committed ones): the
        // flush that applies the commit stores it with its process-log entry, and the host's detector saw it in the
        // append. Storing it here too cost a synchronous write per slot at every follower.
        if let (_, mine) = scheduler.groups[a.process]?.assignment(atSlot: a.nonce), mine.id == item.id { return }
        deferStore(bytes, id: item.id)
        checkConflicts(item, a)
        heldAssignments[a.process, default: [:]][a.nonce] = item
        drainHeld(a.process)
    }

    /// Two different assignments for one (process, slot): signed by one scheduler in one term, it is an equivocation
    /// (the detector keeps the proof); against the slot already in this node's log (committed), it is a fork. Both
    /// are counted and logged at critical level; the log keeps what it has.
    func checkConflicts(_ item: DataItem, _ a: AOAssignment) {
        let signer = NodeIdentity.nodeID(publicKey: item.owner)
        if let term = item.tag("Term").flatMap(UInt64.init), let chain = ID32(base64URL: a.hashChain) {
            let fields = AssignmentFields(process: a.process, slot: a.nonce, message: a.message, hashChain: chain,
                                          blockHeight: a.blockHeight, timestampMs: a.timestamp, term: term)
            let sealed = SealedAssignment(fields: fields, signer: signer, signature: item.signature, id: item.id)
            if let proof = gossipDetector.observe(sealed) {
                counters.equivocations += 1
                logger.critical("equivocation detected (gossip)", metadata: [
                    "process": "\(a.process.base64URL)", "slot": "\(a.nonce)", "term": "\(term)",
                    "signer": "\(signer.base64URL)", "first": "\(proof.first.id.base64URL)", "second": "\(proof.second.id.base64URL)"])
            }
        }
        if let stored = try? store.assignment(process: a.process, slot: a.nonce), stored.assignmentID != item.id {
            counters.conflictingAssignments += 1
            logger.critical("conflicting assignment for a slot in the log", metadata: [
                "process": "\(a.process.base64URL)", "slot": "\(a.nonce)", "signer": "\(signer.base64URL)",
                "stored": "\(stored.assignmentID.base64URL)", "received": "\(item.id.base64URL)"])
        }
    }

    func drainHeld(_ p: ProcessID) {
        guard var held = heldAssignments[p], !held.isEmpty else { return }
        var next = ((try? store.latestSlot(process: p)) ?? nil).map { $0 + 1 } ?? 0
        var batch = WriteBatch()
        var last: UInt64?
        var previous: (id: MessageID, chain: ID32)?
        if next > 0, let entry = try? store.assignment(process: p, slot: next - 1),
           let prevItem = try? store.item(entry.assignmentID), let prev = try? AOAssignment(prevItem) {
            previous = ID32(base64URL: prev.hashChain).map { (prevItem.id, $0) }
        }
        while let item = held.removeValue(forKey: next) {
            guard let a = try? AOAssignment(item) else { break }
            let expected = previous.map { HashChain.next(previousAssignment: $0.id, previous: $0.chain) } ?? HashChain.first(process: p)
            guard a.hashChain == expected.base64URL, let chain = ID32(base64URL: a.hashChain) else {
                counters.hashChainMismatches += 1
                logger.warning("assignment does not extend the hash chain", metadata: ["process": "\(p.base64URL)", "slot": "\(next)"])
                break
            }
            batch.assignments.append(ProcessLogEntry(process: p, slot: next, assignmentID: item.id,
                                                     messageID: a.message ?? MessageID(p)))
            previous = (item.id, chain)
            last = next
            next += 1
        }
        held = held.filter { $0.key >= next }
        heldAssignments[p] = held.isEmpty ? nil : held
        guard let last else { return }
        let deferred = takeDeferred(into: &batch)
        do {
            _ = try writeInOrder(batch)
            recordDeferred(deferred)
            for h in onAssignmentsStored { h(p, last) }
        } catch {
            restoreDeferred(deferred)
            counters.storeErrors += 1
            logger.error("cannot append process log", metadata: ["process": "\(p.base64URL)", "error": "\(error)"])
        }
    }

    // MARK: submissions

    /// Accepts an item a client (or the cranker) submitted: stores it durably, then publishes it and, for a
    /// message, hands it to scheduling. Returns once the item is durable.
    func accept(_ item: DataItem, bytes: [UInt8], outboxKey: OutboxKey? = nil) async throws(AcceptError) -> UInt64 {
        let kind = item.tag("Type")
        var batch = WriteBatch(items: [ItemWrite(bytes: bytes, expectedID: item.id)])
        var process: ProcessID?
        if kind == "Message", let target = item.target {
            let p = ProcessID(raw: target)
            guard processes[p] != nil else { throw .unknownProcess(p) }
            if let from = item.tag("From-Process").flatMap(ProcessID.init(base64URL:)) {
                // A pushed message: only a member of the sending process's group may push for it.
                let signer = NodeIdentity.nodeID(publicKey: item.owner)
                guard scheduler.bootstrapMembers(of: from).contains(signer) || admitted.contains(signer) else {
                    throw .notAuthorised("pushed by a node outside the sending process's scheduling group")
                }
            }
            process = p
            batch.keyValues.append(.put(namespace: StateNamespace.pending, key: p.bytes + item.id.bytes,
                                        value: DurableCodec.encode(pendingOutboxKey: outboxKey, arrival: nextArrival)))
            nextArrival += 1
        }
        do { noteStored(try await committer.commit(batch)) } catch { throw .store("\(error)") }
        let now = Self.clockMs()
        if let p = process {
            do { try scheduler.onSubmit(p, message: item.id, outboxKey: outboxKey, now: tick, clockMs: now) } catch {
                throw .tooManyPending
            }
            publish(item, bytes: bytes, topic: .process(p))
            counters.submissionsAccepted += 1
        } else if kind == "Process", let proc = try? AOProcess(item) {
            register(proc)
            publish(item, bytes: bytes, topic: .global)
        } else {
            publish(item, bytes: bytes, topic: .global)
        }
        scheduleFlush()
        return now
    }

    func publish(_ item: DataItem, bytes: [UInt8], topic: Topic) { publish(id: item.id, bytes: bytes, topic: topic) }

    func publish(id: MessageID, bytes: [UInt8], topic: Topic) {
        var r = rng
        let directives = gossip.publish(topic: topic, id: id, payload: bytes, now: tick, rng: &r)
        rng = r
        apply(gossip: directives)
        counters.gossipPublished += 1
    }

    // MARK: flush (the Ready contract)

    func scheduleFlush() {
        guard !flushScheduled, !flushing else { return }  // a running flush takes ready() again before it ends
        flushScheduled = true
        Task { await self.flush() }
    }

    /// Drains the scheduling host: persist, send, record, advance (SchedulerHost's `HostReady` contract).
    ///
    /// The write goes through the group committer and the actor waits for it without blocking: while the fsync
    /// runs, the actor goes on taking transport events, ticks and submissions (they change the cores' memory only;
    /// whatever they want sent waits in the host for the next `ready()`, which this loop takes after the write, so
    /// nothing leaves before it is durable), and the write is merged with the accept path's group commit. One flush
    /// runs at a time (`flushing`); the others' work is picked up by its next turn of the loop.
    func flush() async {
        flushScheduled = false
        guard !flushing else { return }
        flushing = true
        defer { flushing = false }
        while true {
            let ready = scheduler.ready()
            if ready.isEmpty { scheduler.advance(ready); writeDeferred(); break }
            var batch = WriteBatch()
            for w in ready.writes { persist(w, into: &batch) }
            var stored: [(ProcessID, UInt64)] = []
            var leaderItems: [(ProcessID, MessageID, [UInt8])] = []
            for c in ready.commits {
                for a in c.assignments {
                    guard let bytes = signer.itemBytes(a) else {
                        logger.error("committed assignment from an unknown signer", metadata: ["slot": "\(a.fields.slot)"])
                        continue
                    }
                    batch.items.append(ItemWrite(bytes: bytes, expectedID: a.id))
                    batch.assignments.append(ProcessLogEntry(process: c.process, slot: a.fields.slot, assignmentID: a.id,
                                                             messageID: a.fields.message ?? MessageID(c.process)))
                    if a.signer == nodeID { leaderItems.append((c.process, a.id, bytes)) }
                }
                if let last = c.assignments.last { stored.append((c.process, last.fields.slot)) }
                var rec = groupRecords[c.process] ?? (HardState(), scheduler.bootstrapMembers(of: c.process), 0)
                rec.applied = max(rec.applied, c.appliedIndex)
                groupRecords[c.process] = rec
                batch.keyValues.append(.put(namespace: StateNamespace.group, key: c.process.bytes,
                                            value: DurableCodec.encode(hardState: rec.hardState, bootstrapMembers: rec.members,
                                                                       applied: rec.applied)))
            }
            for s in ready.submissionsAssigned {
                batch.keyValues.append(.delete(namespace: StateNamespace.pending, key: s.process.bytes + s.message.bytes))
            }
            let deferred = takeDeferred(into: &batch)
            if !batch.isEmpty {
                do { _ = try await commitFlush(batch); recordDeferred(deferred) } catch {
                    restoreDeferred(deferred)
                    // Persist before send: if the write failed nothing of this batch may leave. Stop the node's
                    // scheduling rather than send unpersisted state.
                    counters.storeErrors += 1
                    logger.critical("cannot persist scheduling state; stopping", metadata: ["error": "\(error)"])
                    stopping = true
                    return
                }
            }
            for (to, envelope) in ready.envelopes { sendScheduling(envelope, to: to) }
            counters.slotsCommitted += ready.commits.reduce(0) { $0 + $1.assignments.count }
            counters.equivocations += ready.equivocations.count
            for e in ready.equivocations {
                logger.critical("equivocation detected", metadata: ["signer": "\(e.signer.base64URL)", "slot": "\(e.first.fields.slot)"])
            }
            scheduler.advance(ready)
            for (p, id, bytes) in leaderItems { publish(id: id, bytes: bytes, topic: .process(p)) }
            for (p, slot) in stored {
                heldAssignments[p] = heldAssignments[p]?.filter { $0.key > slot }
                for h in onAssignmentsStored { h(p, slot) }
            }
        }
        noticeLeadershipChanges()
    }

    /// The flush's write: through the group committer (FIFO with every other write of the actor, see
    /// `writeInOrder`); directly when the committer is closed (shutdown), as before.
    func commitFlush(_ batch: WriteBatch) async throws(StoreError) -> WriteReceipt {
        let receipt: WriteReceipt
        do { receipt = try await committer.commit(batch) } catch { receipt = try directWhenClosed(error, batch) }
        noteStored(receipt)
        return receipt
    }

    /// Hands a write's receipt to the `itemsStored` hooks (they pick the newly stored items only if they wait for
    /// any: this runs on every write of the actor).
    func noteStored(_ receipt: WriteReceipt) {
        for h in onItemsStored { h(receipt) }
    }

    /// A synchronous write of the actor (it blocks, as a direct LMDB write would). While a flush's write is in the
    /// group committer, this one queues behind it there, so the order of the actor's writes is the order they
    /// were made in: a message body deferred into the flush's batch is durable before an assignment of it that
    /// `drainHeld` writes afterwards. Without a flush in flight it is a direct write.
    func writeInOrder(_ batch: WriteBatch) throws(StoreError) -> WriteReceipt {
        let receipt: WriteReceipt
        if !flushing {
            receipt = try store.write(batch)
        } else {
            do { receipt = try committer.commitWaiting(batch) } catch { receipt = try directWhenClosed(error, batch) }
        }
        noteStored(receipt)
        return receipt
    }

    /// After a committer failure: the direct write when the committer is closed (shutdown), else the failure.
    private func directWhenClosed(_ error: StoreError, _ batch: WriteBatch) throws(StoreError) -> WriteReceipt {
        guard error.isSameKind(as: .closed("")) else { throw error }
        return try store.write(batch)
    }

    func persist(_ w: GroupWrite, into batch: inout WriteBatch) {
        var rec = groupRecords[w.process] ?? (HardState(), w.bootstrapMembers, 0)
        rec.members = w.bootstrapMembers
        if let hs = w.hardState { rec.hardState = hs }
        groupRecords[w.process] = rec
        batch.keyValues.append(.put(namespace: StateNamespace.group, key: w.process.bytes,
                                    value: DurableCodec.encode(hardState: rec.hardState, bootstrapMembers: rec.members,
                                                               applied: rec.applied)))
        if let first = w.entries.first {
            let old = storedLastIndex[w.process] ?? 0
            if first.index <= old {
                batch.keyValues.append(.deleteRange(namespace: StateNamespace.log, from: w.process.bytes + Self.be(first.index),
                                                    to: w.process.bytes + Self.be(old + 1)))
            }
            for e in w.entries {
                batch.keyValues.append(.put(namespace: StateNamespace.log, key: w.process.bytes + Self.be(e.index),
                                            value: DurableCodec.encode(e)))
            }
            storedLastIndex[w.process] = w.entries.last!.index
        }
    }

    static func be(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> UInt64(56 - 8 * $0)) } }

    func noticeLeadershipChanges() {
        for (p, g) in scheduler.groups {
            let leader = g.raft.leader
            if lastLeader[p] != leader {
                let was = lastLeader[p] == nodeID, now = leader == nodeID
                lastLeader[p] = leader
                if leader != nil { counters.leaderChanges += 1 }
                if was != now {
                    logger.info(now ? "became scheduler" : "no longer scheduler", metadata: ["process": "\(p.base64URL)"])
                    for h in onLeadershipChanged { h(p, now) }
                }
            }
        }
    }

    // MARK: queries for the API and services

    func isKnown(_ p: ProcessID) -> Bool { processes[p] != nil }
    func isLeader(of p: ProcessID) -> Bool { scheduler.groups[p]?.raft.role == .leader }
    func leader(of p: ProcessID) -> NodeID? { scheduler.groups[p]?.raft.leader }
    func httpURL(of node: NodeID) -> String? { node == nodeID ? configuration.effectiveAdvertiseHTTP : schedulerHTTP[node] }
    func knownProcesses() -> [ProcessID] { processes.keys.sorted() }
    func connectedPeers() -> [NodeID: Endpoint] { connected }
    func addHooks(assignmentsStored: (@Sendable (ProcessID, UInt64) -> Void)? = nil,
                  leadershipChanged: (@Sendable (ProcessID, Bool) -> Void)? = nil,
                  peerConnected: (@Sendable (NodeID) -> Void)? = nil,
                  itemsStored: (@Sendable (WriteReceipt) -> Void)? = nil) {
        if let assignmentsStored { onAssignmentsStored.append(assignmentsStored) }
        if let itemsStored { onItemsStored.append(itemsStored) }
        if let leadershipChanged { onLeadershipChanged.append(leadershipChanged) }
        if let peerConnected { peerConnectedHandlers.append(peerConnected) }
    }
    func setReplicationHandler(_ h: @escaping @Sendable (NodeID, [UInt8]) -> Void) { replicationHandler = h }
    func setProcessFetcher(_ f: @escaping @Sendable (ProcessID) async -> Bool) { processFetcher = f }
    /// Asks replication for a process this node has not heard of (short timeout); true once it is known.
    func fetchUnknownProcess(_ p: ProcessID) async -> Bool {
        if processes[p] != nil { return true }
        guard let f = processFetcher else { return false }
        return await f(p)
    }
    func isStopping() -> Bool { stopping }
    /// Processes with gossiped assignments held behind a gap, and the first slot missing (where a sync starts).
    func heldGaps() -> [(ProcessID, UInt64)] {
        heldAssignments.keys.sorted().compactMap { p -> (ProcessID, UInt64)? in
            guard heldAssignments[p]?.isEmpty == false else { return nil }
            let next = ((try? store.latestSlot(process: p)) ?? nil).map { $0 + 1 } ?? 0
            return (p, next)
        }
    }
    /// Feeds an item fetched by replication through the same path as a gossip delivery (after validation).
    func ingestFetched(_ bytes: [UInt8]) -> Bool {
        guard let item = try? DataItem(parsing: bytes), (try? item.verify()) != nil else { return false }
        if item.tag("Type") == "Assignment" {
            guard admitted.contains(NodeIdentity.nodeID(publicKey: item.owner)) else { return false }
        }
        gossip.markSeen(item.id, now: tick)
        delivered(item, bytes: bytes)
        return true
    }

    public struct GroupSnapshot: Sendable {
        public var members: [NodeID]
        public var leader: NodeID?
        public var term: UInt64
        public var role: String
    }
    func groupSnapshot(_ p: ProcessID) -> GroupSnapshot? {
        guard processes[p] != nil else { return nil }
        if let g = scheduler.groups[p] {
            return GroupSnapshot(members: g.raft.members, leader: g.raft.leader, term: g.raft.term, role: g.raft.role.rawValue)
        }
        return GroupSnapshot(members: scheduler.bootstrapMembers(of: p), leader: nil, term: 0, role: "observer")
    }
    /// `GET /peers`: every connected peer with its gossip score, whether it is in the overlay (membership's active
    /// view) and in the global topic's mesh, read in one step so the fields agree.
    func peerInfos() -> [PeerInfo] {
        let overlay = Set(membership.activeView), globalMesh = Set(gossip.meshPeers(.global))
        return connected.keys.sorted().map {
            PeerInfo(node: $0, address: connected[$0]!.description, connected: true, score: gossip.score(of: $0),
                     overlay: overlay.contains($0), globalMesh: globalMesh.contains($0))
        }
    }
    func snapshotCounters() -> (NodeCounters, GossipCounters, SchedulerHostCounters, Int) {
        (counters, gossip.counters, scheduler.counters, scheduler.pendingSubmissionCount)
    }
}

/// Counters of the node shell (metrics and `/health`).
public struct NodeCounters: Sendable, Equatable {
    public var connections = 0, badFrames = 0, storeErrors = 0
    public var gossipPublished = 0, gossipDelivered = 0, gossipRejected = 0
    public var submissionsAccepted = 0, slotsCommitted = 0, leaderChanges = 0, equivocations = 0
    public var hashChainMismatches = 0
    /// Gossiped assignments that differ from the one this node's log holds for the same slot.
    public var conflictingAssignments = 0
    /// Connections the transport replaced by another to the same peer (simultaneous dials), kept as the same link.
    public var connectionsReplaced = 0
}

extension NodeRuntime {
    /// Waits for queued group commits and stops the committer (shutdown).
    func closeCommitter() { committer.close() }
}

/// Appends "<item id> <unix time in µs>" lines to a file, one write(2) each (no buffer to lose on SIGKILL). Only
/// for benchmarks: set AONODE_DELIVERY_TRACE=<file>.
final class DeliveryTrace: @unchecked Sendable {
    let fd: Int32
    init?(path: String) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        if fd < 0 { return nil }
    }
    static func fromEnvironment() -> DeliveryTrace? {
        guard let path = ProcessInfo.processInfo.environment["AONODE_DELIVERY_TRACE"], !path.isEmpty else { return nil }
        return DeliveryTrace(path: path)
    }
    func record(_ id: MessageID) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let micros = Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
        let line = Array("\(id.base64URL) \(micros)\n".utf8)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
    deinit { close(fd) }
}
