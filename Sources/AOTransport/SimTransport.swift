import AOCore

/// Fault parameters of the simulated network. Probabilities in per-mille so configs stay integers.
public struct SimNetworkConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// Chance a frame (or a whole stream) is lost.
    public var lossPermille: UInt32 = 0
    /// Chance a frame is delivered twice.
    public var duplicatePermille: UInt32 = 0
    /// Delivery delay range, in ticks.
    public var delayTicksMin: Tick = 1
    public var delayTicksMax: Tick = 1
    /// When false each link is FIFO (like one TCP connection); when true frames may overtake each other.
    public var reorder = false
    /// Connections each node accepts.
    public var connectionsMax = 512
    public init() {}
    public var description: String {
        "loss=\(lossPermille)‰ dup=\(duplicatePermille)‰ delay=\(delayTicksMin)...\(delayTicksMax) reorder=\(reorder)"
    }
}

/// A seeded in-memory network for the deterministic simulator (C6): one thread, logical ticks, every fault drawn
/// from one xoshiro256** stream, so the same seed gives the same delivery trace bit for bit.
///
/// Drive it with `advance(to:)`; then take each node's events with `SimTransport.drainEvents()`. Not thread-safe by
/// design: the simulator is single-threaded (the `Sendable` conformance of `SimTransport` is for the protocol only).
public final class SimNetwork: @unchecked Sendable {
    public let seed: UInt64
    public let configuration: SimNetworkConfiguration
    public private(set) var now: Tick = 0
    /// One line per delivered or dropped packet; compare traces to check determinism.
    public private(set) var trace: [String] = []

    private var rng: Xoshiro256
    private var nodes: [NodeID: SimTransport] = [:]
    private var listeners: [Endpoint: NodeID] = [:]
    private var inFlight: [Packet] = []
    private var sequence: UInt64 = 0
    private var linkTail: [Link: Tick] = [:]
    private var partitionOf: [NodeID: Int] = [:]

    struct Link: Hashable { var from: NodeID; var to: NodeID }

    enum Payload {
        case dial(endpoint: Endpoint, expecting: NodeID?)
        case accepted(endpoint: Endpoint)
        case frame(Frame)
        case chunk(StreamChunk)
        case close(CloseReason)
    }

    struct Packet {
        var deliverAt: Tick
        var sequence: UInt64
        var from: NodeID
        var to: NodeID?
        var payload: Payload
    }

    public init(seed: UInt64, configuration: SimNetworkConfiguration = .init()) {
        precondition(configuration.delayTicksMin <= configuration.delayTicksMax, "delay range out of order")
        self.seed = seed
        self.configuration = configuration
        self.rng = Xoshiro256(seed: seed)
    }

    /// Creates the transport of a node with `nodeID` (use `Ed25519PrivateKey.nodeID`).
    public func makeTransport(nodeID: NodeID) -> SimTransport {
        precondition(nodes[nodeID] == nil, "node \(nodeID) already on the network")
        let t = SimTransport(network: self, nodeID: nodeID)
        nodes[nodeID] = t
        return t
    }

    /// Splits the network: nodes in different groups cannot reach each other; nodes in no group reach only others
    /// in no group. Frames in flight across the cut are dropped on arrival.
    public func partition(_ groups: [[NodeID]]) {
        partitionOf = [:]
        for (i, g) in groups.enumerated() { for n in g { partitionOf[n] = i + 1 } }
        record("partition \(groups.map { $0.map { String($0.description.prefix(6)) }.joined(separator: ",") }.joined(separator: "|"))")
    }

    public func heal() { partitionOf = [:]; record("heal") }

    func reachable(_ a: NodeID, _ b: NodeID) -> Bool { partitionOf[a, default: 0] == partitionOf[b, default: 0] }

    /// Delivers every packet due at or before `tick`, in (due tick, send order) order.
    public func advance(to tick: Tick) {
        precondition(tick >= now, "time goes forward")
        while true {
            guard let i = nextDueIndex(tick) else { break }
            let p = inFlight.remove(at: i)
            now = p.deliverAt
            deliver(p)
        }
        now = tick
    }

    private func nextDueIndex(_ tick: Tick) -> Int? {
        var best: Int?
        for (i, p) in inFlight.enumerated() where p.deliverAt <= tick {
            if let b = best, (inFlight[b].deliverAt, inFlight[b].sequence) < (p.deliverAt, p.sequence) { continue }
            best = i
        }
        return best
    }

    /// Packets still in flight.
    public var inFlightCount: Int { inFlight.count }

    // MARK: internals used by SimTransport

    func listen(_ node: NodeID, _ endpoint: Endpoint) throws(TransportError) {
        if let owner = listeners[endpoint], owner != node { throw TransportError(.ioError, "address \(endpoint) in use") }
        listeners[endpoint] = node
    }

    func endpoint(of node: NodeID) -> Endpoint {
        listeners.first { $0.value == node }?.key ?? Endpoint(host: "sim", port: 0)
    }

    private func drawDelay() -> Tick {
        configuration.delayTicksMin + Tick.random(in: 0...(configuration.delayTicksMax - configuration.delayTicksMin), using: &rng)
    }

    private func chance(_ permille: UInt32) -> Bool {
        permille > 0 && UInt32.random(in: 0..<1000, using: &rng) < permille
    }

    private func schedule(from: NodeID, to: NodeID?, _ payload: Payload, fifo: Bool, delay: Tick? = nil) {
        var at = now + (delay ?? drawDelay())
        if fifo, let to {
            let link = Link(from: from, to: to)
            at = max(at, linkTail[link] ?? 0)
            linkTail[link] = at
        }
        sequence += 1
        inFlight.append(Packet(deliverAt: at, sequence: sequence, from: from, to: to, payload: payload))
    }

    func dial(from: NodeID, endpoint: Endpoint, expecting: NodeID?) {
        schedule(from: from, to: nil, .dial(endpoint: endpoint, expecting: expecting), fifo: false)
    }

    func sendFrame(from: NodeID, to: NodeID, _ frame: Frame) {
        let fifo = !configuration.reorder
        if chance(configuration.lossPermille) { record("t=\(now) drop \(short(from))->\(short(to)) ch=\(frame.channel) n=\(frame.payload.count)"); return }
        schedule(from: from, to: to, .frame(frame), fifo: fifo)
        if chance(configuration.duplicatePermille) { schedule(from: from, to: to, .frame(frame), fifo: fifo) }
    }

    func sendStream(from: NodeID, to: NodeID, id: UInt32, channel: UInt16, payload: [UInt8], chunkBytes: Int) {
        // A stream shares one fate: lost whole or delivered whole, in order (chunks of one TCP connection).
        if chance(configuration.lossPermille) { record("t=\(now) drop-stream \(short(from))->\(short(to)) n=\(payload.count)"); return }
        let delay = drawDelay()
        var offset = 0
        while offset < payload.count {
            let n = min(chunkBytes, payload.count - offset)
            let chunk = StreamChunk(streamID: id, channel: channel, offset: UInt64(offset), totalBytes: UInt64(payload.count),
                                    bytes: Array(payload[offset..<offset + n]))
            schedule(from: from, to: to, .chunk(chunk), fifo: true, delay: delay)
            offset += n
        }
    }

    func sendClose(from: NodeID, to: NodeID, _ reason: CloseReason) {
        schedule(from: from, to: to, .close(reason), fifo: true)
    }

    private func deliver(_ p: Packet) {
        switch p.payload {
        case .dial(let endpoint, let expecting):
            guard let dialer = nodes[p.from] else { return }
            guard let targetID = listeners[endpoint], let target = nodes[targetID], reachable(p.from, targetID) else {
                record("t=\(now) dial-failed \(short(p.from))->\(endpoint)")
                dialer.onDialFailed(endpoint, .ioError); return
            }
            if targetID == p.from { record("t=\(now) dial-self \(short(p.from))"); dialer.onDialFailed(endpoint, .selfConnection); return }
            if let expecting, expecting != targetID {
                record("t=\(now) dial-unexpected \(short(p.from))->\(short(targetID))")
                dialer.onDialFailed(endpoint, .unexpectedPeer); return
            }
            if target.connected.count >= configuration.connectionsMax {
                record("t=\(now) dial-limit \(short(p.from))->\(short(targetID))")
                dialer.onDialFailed(endpoint, .connectionLimit); return
            }
            if target.connected[p.from] != nil || dialer.connected[targetID] != nil {
                record("t=\(now) dial-duplicate \(short(p.from))->\(short(targetID))")
                dialer.onDialFailed(endpoint, .duplicateConnection); return
            }
            record("t=\(now) accept \(short(targetID))<-\(short(p.from))")
            target.onConnected(p.from, Endpoint(host: "sim", port: UInt16(truncatingIfNeeded: p.from.raw.a)))
            schedule(from: targetID, to: p.from, .accepted(endpoint: endpoint), fifo: true)
        case .accepted(let endpoint):
            guard let to = p.to, let dialer = nodes[to] else { return }
            guard reachable(p.from, to) else { record("t=\(now) cut-accept \(short(p.from))->\(short(to))"); dialer.onDialFailed(endpoint, .ioError); return }
            record("t=\(now) connected \(short(to))->\(short(p.from))")
            dialer.onConnected(p.from, endpoint)
        case .frame(let frame):
            guard let to = p.to, let target = nodes[to] else { return }
            guard reachable(p.from, to) else { record("t=\(now) cut \(short(p.from))->\(short(to)) ch=\(frame.channel)"); return }
            guard target.connected[p.from] != nil else { record("t=\(now) stale \(short(p.from))->\(short(to))"); return }
            record("t=\(now) frame \(short(p.from))->\(short(to)) ch=\(frame.channel) n=\(frame.payload.count) h=\(fingerprint(frame.payload))")
            target.enqueue(.frameReceived(peer: p.from, frame: frame))
        case .chunk(let chunk):
            guard let to = p.to, let target = nodes[to], reachable(p.from, to), target.connected[p.from] != nil else { return }
            record("t=\(now) chunk \(short(p.from))->\(short(to)) s=\(chunk.streamID) off=\(chunk.offset) n=\(chunk.bytes.count)")
            target.enqueue(.streamChunkReceived(peer: p.from, chunk: chunk))
        case .close(let reason):
            guard let to = p.to, let target = nodes[to], let endpoint = target.connected[p.from] else { return }
            record("t=\(now) close \(short(p.from))->\(short(to)) \(reason)")
            target.onDisconnected(p.from, endpoint, .remoteClose)
            _ = reason
        }
    }

    private func record(_ line: String) { trace.append(line) }
    private func short(_ n: NodeID) -> String { String(n.description.prefix(6)) }
    private func fingerprint(_ b: [UInt8]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in b { h = (h ^ UInt64(x)) &* 0x100_0000_01b3 }
        return String(h & 0xffff_ffff, radix: 16)
    }
}

/// A node's view of the `SimNetwork`: the `Transport` seam with simulated delivery. Connections are established
/// without crypto (the simulator tests protocols above the transport; the handshake has its own tests).
public final class SimTransport: Transport, @unchecked Sendable {
    public let localNodeID: NodeID
    unowned let network: SimNetwork
    var connected: [NodeID: Endpoint] = [:]
    private var pending: [TransportEvent] = []
    private var continuation: AsyncStream<TransportEvent>.Continuation?
    private var stream: TransportEvents?
    private var nextStreamID: UInt32 = 1
    private var isShutDown = false
    public private(set) var counters = TransportCounters()
    public var limits = TransportLimits.default

    init(network: SimNetwork, nodeID: NodeID) { self.network = network; self.localNodeID = nodeID }

    /// Events since the last call, in order (the simulator's way to read them; deterministic).
    public func drainEvents() -> [TransportEvent] { defer { pending = [] }; return pending }

    public var events: TransportEvents {
        if let stream { return stream }
        let (s, c) = AsyncStream<TransportEvent>.makeStream()
        stream = TransportEvents(s); continuation = c
        return stream!
    }

    /// Peers with an established connection.
    public var connectedPeers: [NodeID] { connected.keys.sorted() }

    func enqueue(_ e: TransportEvent) {
        guard !isShutDown else { return }
        if case .frameReceived = e { counters.framesReceived += 1 }
        pending.append(e); continuation?.yield(e)
    }

    func onConnected(_ peer: NodeID, _ endpoint: Endpoint) {
        connected[peer] = endpoint
        counters.handshakesCompleted += 1
        enqueue(.connected(peer: peer, endpoint: endpoint))
    }

    func onDialFailed(_ endpoint: Endpoint, _ reason: CloseReason) {
        counters.countClose(reason)
        enqueue(.connectFailed(endpoint: endpoint, reason: reason))
    }

    func onDisconnected(_ peer: NodeID, _ endpoint: Endpoint, _ reason: CloseReason) {
        guard connected.removeValue(forKey: peer) != nil else { return }
        counters.countClose(reason)
        enqueue(.disconnected(peer: peer, endpoint: endpoint, reason: reason))
    }

    public func listen(on endpoint: Endpoint) throws(TransportError) -> Endpoint {
        try network.listen(localNodeID, endpoint)
        return endpoint
    }

    /// Persistent reconnects are the shell's business in the simulator; `persistent` is ignored here.
    public func connect(to endpoint: Endpoint, expecting peer: NodeID?, persistent: Bool) {
        counters.connectionsDialed += 1
        network.dial(from: localNodeID, endpoint: endpoint, expecting: peer)
    }

    @discardableResult public func send(_ frame: Frame, to peer: NodeID) -> SendResult {
        precondition(frame.payload.count <= limits.frameBytesMax, "frame over frameBytesMax; use sendStream")
        guard connected[peer] != nil, !isShutDown else { return .notConnected }
        counters.framesSent += 1
        counters.bytesSent += frame.payload.count
        network.sendFrame(from: localNodeID, to: peer, frame)
        return .enqueued
    }

    @discardableResult public func sendStream(_ payload: [UInt8], channel: UInt16, to peer: NodeID) -> SendResult {
        precondition(!payload.isEmpty && payload.count <= limits.streamBytesMax, "stream size out of range")
        guard connected[peer] != nil, !isShutDown else { return .notConnected }
        let id = nextStreamID; nextStreamID &+= 1
        network.sendStream(from: localNodeID, to: peer, id: id, channel: channel, payload: payload, chunkBytes: limits.streamChunkBytesMax)
        return .enqueued
    }

    public func close(_ peer: NodeID) {
        guard let endpoint = connected[peer] else { return }
        network.sendClose(from: localNodeID, to: peer, .localClose)
        onDisconnected(peer, endpoint, .localClose)
    }

    public func shutdown() async {
        for peer in connected.keys.sorted() {
            network.sendClose(from: localNodeID, to: peer, .shutdown)
            onDisconnected(peer, connected[peer]!, .shutdown)
        }
        isShutDown = true
        continuation?.finish()
    }
}
