import AOCore

/// A gossip topic. aonode has one `global` topic (node announcements, spawns) and one topic per process (its
/// messages, assignments and attestations), so a node only carries the traffic of the processes it follows.
public enum Topic: Hashable, Comparable, Sendable, CustomStringConvertible {
    case global
    case process(ProcessID)

    public var description: String {
        switch self {
        case .global: return "global"
        case .process(let p): return "process:\(p.base64URL)"
        }
    }

    public static func < (l: Topic, r: Topic) -> Bool {
        switch (l, r) {
        case (.global, .global): return false
        case (.global, .process): return true
        case (.process, .global): return false
        case (.process(let a), .process(let b)): return a < b
        }
    }
}

/// What a node tells another node in one frame. The transport carries the bytes of `encoded()`; the receiver
/// parses them with `PeerMessage(decoding:)`, which never traps on hostile input.
public enum PeerMessage: Equatable, Sendable {
    case gossip(GossipMessage)
    case membership(MembershipMessage)
}

/// The gossipsub-style control and data messages (one per frame; gossipsub batches them in one RPC, we let the
/// transport batch frames instead, which keeps each message small and its decoder simple).
public enum GossipMessage: Equatable, Sendable {
    /// The sender follows `topic` from now on.
    case subscribe(Topic)
    /// The sender no longer follows `topic`.
    case unsubscribe(Topic)
    /// A whole data item. `id` is the data item id; the receiver's validator MUST check that it matches the payload.
    case publish(topic: Topic, id: MessageID, payload: [UInt8])
    /// "I have these items; ask me for them" (lazy push). A promise: the sender must answer an IWANT for them.
    case ihave(topic: Topic, ids: [MessageID])
    /// "Send me these items" (pull), in answer to an IHAVE.
    case iwant(ids: [MessageID])
    /// "I already have these items; do not send them to me" (gossipsub v1.2), used for large items.
    case idontwant(ids: [MessageID])
    /// "Add me to your mesh for `topic`" (the sender has added the receiver to its own mesh).
    case graft(Topic)
    /// "I removed you from my mesh for `topic`; don't graft me again for `backoffTicks`".
    case prune(topic: Topic, backoffTicks: UInt32)
}

/// What a node needs to know to reach a peer: its node id (authenticated by the transport handshake) and the
/// endpoints it listens on. Unsigned on purpose: a wrong record costs one failed connection, since the handshake
/// proves the node key; the signed, long-lived record is `SignedNodeAnnouncement`.
public struct PeerRecord: Hashable, Sendable, CustomStringConvertible {
    public var node: NodeID
    public var endpoints: [String]
    public init(node: NodeID, endpoints: [String]) { self.node = node; self.endpoints = endpoints }
    public var description: String { "\(node.base64URL.prefix(8))@\(endpoints.joined(separator: ","))" }
}

/// HyParView's messages (Leitão, Pereira, Rodrigues 2007), plus nothing else.
public enum MembershipMessage: Equatable, Sendable {
    /// A new node asks the contact it connected to for a place in the overlay.
    case join(PeerRecord)
    /// The contact spreads the new node along random walks of `ttl` hops.
    case forwardJoin(PeerRecord, ttl: UInt8)
    /// "Take me into your active view." `highPriority` when the sender has no active peer at all: it must be accepted.
    case neighbor(PeerRecord, highPriority: Bool)
    /// The answer to `neighbor`.
    case neighborReply(accepted: Bool)
    /// "I removed you from my active view" (the sender then closes the connection).
    case disconnect
    /// A random walk that exchanges samples of the views, so passive views keep mixing.
    case shuffle(origin: PeerRecord, ttl: UInt8, records: [PeerRecord])
    /// The end of the walk answers the origin with a sample of its passive view.
    case shuffleReply([PeerRecord])
}

/// Why a frame could not be decoded. Every case is an operating error caused by the peer: the shell counts it and
/// penalises the sender; nothing traps.
public struct PeerWireError: Error, Equatable, Sendable, CustomStringConvertible {
    private enum Kind: Equatable, Sendable { case truncated, trailingBytes, unknownKind, unknownTopic, limit, badText, badVarint }
    private let kind: Kind
    /// The frame ended in the middle of a field.
    public static let truncated = PeerWireError(kind: .truncated)
    /// Bytes follow the end of the message.
    public static let trailingBytes = PeerWireError(kind: .trailingBytes)
    /// The first byte names no message kind.
    public static let unknownKind = PeerWireError(kind: .unknownKind)
    /// A topic tag is neither global nor process.
    public static let unknownTopic = PeerWireError(kind: .unknownTopic)
    /// A count or length is over one of `GossipLimits`.
    public static let limit = PeerWireError(kind: .limit)
    /// An endpoint is not UTF-8.
    public static let badText = PeerWireError(kind: .badText)
    /// A varint is longer than 10 bytes or overflows 64 bits.
    public static let badVarint = PeerWireError(kind: .badVarint)
    public var description: String { "PeerWireError.\(kind)" }
}

// MARK: - Encoding
//
// Layout: one kind byte, then fields. Counts and lengths are unsigned LEB128 varints; ids are 32 raw bytes;
// a topic is a tag byte (0 global, 1 process) followed by the 32-byte process id for a process topic.
// Kinds 1...8 are gossip, 16...22 membership; the numbers are part of the wire format and never reused.

private enum WireKind: UInt8 {
    case subscribe = 1, unsubscribe, publish, ihave, iwant, idontwant, graft, prune
    case join = 16, forwardJoin, neighbor, neighborReply, disconnect, shuffle, shuffleReply
}

extension PeerMessage {
    /// The frame bytes. Total: decoding them yields `self` again (tested), and the encoder never produces a message
    /// the decoder refuses, as long as the value respects `GossipLimits` (the core never builds one that does not).
    public func encoded() -> [UInt8] {
        var w = WireWriter()
        switch self {
        case .gossip(let g):
            switch g {
            case .subscribe(let t): w.byte(WireKind.subscribe.rawValue); w.topic(t)
            case .unsubscribe(let t): w.byte(WireKind.unsubscribe.rawValue); w.topic(t)
            case .publish(let t, let id, let payload):
                w.byte(WireKind.publish.rawValue); w.topic(t); w.id(id.raw); w.varint(UInt64(payload.count)); w.bytes(payload)
            case .ihave(let t, let ids): w.byte(WireKind.ihave.rawValue); w.topic(t); w.ids(ids)
            case .iwant(let ids): w.byte(WireKind.iwant.rawValue); w.ids(ids)
            case .idontwant(let ids): w.byte(WireKind.idontwant.rawValue); w.ids(ids)
            case .graft(let t): w.byte(WireKind.graft.rawValue); w.topic(t)
            case .prune(let t, let backoff): w.byte(WireKind.prune.rawValue); w.topic(t); w.varint(UInt64(backoff))
            }
        case .membership(let m):
            switch m {
            case .join(let r): w.byte(WireKind.join.rawValue); w.record(r)
            case .forwardJoin(let r, let ttl): w.byte(WireKind.forwardJoin.rawValue); w.record(r); w.byte(ttl)
            case .neighbor(let r, let high): w.byte(WireKind.neighbor.rawValue); w.record(r); w.byte(high ? 1 : 0)
            case .neighborReply(let ok): w.byte(WireKind.neighborReply.rawValue); w.byte(ok ? 1 : 0)
            case .disconnect: w.byte(WireKind.disconnect.rawValue)
            case .shuffle(let origin, let ttl, let records):
                w.byte(WireKind.shuffle.rawValue); w.record(origin); w.byte(ttl); w.records(records)
            case .shuffleReply(let records): w.byte(WireKind.shuffleReply.rawValue); w.records(records)
            }
        }
        return w.out
    }

    /// The size of `encoded()` without building it (the simulator accounts bytes this way for 64 KiB payloads).
    public var encodedByteCount: Int {
        if case .gossip(.publish(let t, _, let payload)) = self {
            return 1 + (t == .global ? 1 : 33) + 32 + varintByteCount(UInt64(payload.count)) + payload.count
        }
        return encoded().count
    }

    /// Parses one frame. Hostile input yields a `PeerWireError`, never a trap, and never an allocation larger than
    /// the frame itself (every count is checked against the bytes that remain before anything is reserved).
    public init(decoding bytes: [UInt8]) throws(PeerWireError) {
        guard bytes.count <= GossipLimits.peerMessageBytesMax else { throw .limit }
        var r = WireReader(bytes: bytes)
        guard let kind = WireKind(rawValue: try r.byte()) else { throw .unknownKind }
        switch kind {
        case .subscribe: self = .gossip(.subscribe(try r.topic()))
        case .unsubscribe: self = .gossip(.unsubscribe(try r.topic()))
        case .publish:
            let t = try r.topic(); let id = MessageID(raw: try r.id())
            let n = try r.varint()
            guard n <= UInt64(GossipLimits.payloadBytesMax) else { throw .limit }
            self = .gossip(.publish(topic: t, id: id, payload: try r.bytes(Int(n))))
        case .ihave: let t = try r.topic(); self = .gossip(.ihave(topic: t, ids: try r.ids()))
        case .iwant: self = .gossip(.iwant(ids: try r.ids()))
        case .idontwant: self = .gossip(.idontwant(ids: try r.ids()))
        case .graft: self = .gossip(.graft(try r.topic()))
        case .prune:
            let t = try r.topic(); let b = try r.varint()
            guard b <= UInt64(UInt32.max) else { throw .limit }
            self = .gossip(.prune(topic: t, backoffTicks: UInt32(b)))
        case .join: self = .membership(.join(try r.record()))
        case .forwardJoin: let rec = try r.record(); self = .membership(.forwardJoin(rec, ttl: try r.byte()))
        case .neighbor: let rec = try r.record(); self = .membership(.neighbor(rec, highPriority: try r.flag()))
        case .neighborReply: self = .membership(.neighborReply(accepted: try r.flag()))
        case .disconnect: self = .membership(.disconnect)
        case .shuffle:
            let origin = try r.record(); let ttl = try r.byte()
            self = .membership(.shuffle(origin: origin, ttl: ttl, records: try r.records()))
        case .shuffleReply: self = .membership(.shuffleReply(try r.records()))
        }
        guard r.atEnd else { throw .trailingBytes }
    }
}

func varintByteCount(_ v: UInt64) -> Int { var n = 1, x = v >> 7; while x != 0 { n += 1; x >>= 7 }; return n }

struct WireWriter {
    var out: [UInt8] = []
    mutating func byte(_ b: UInt8) { out.append(b) }
    mutating func bytes(_ b: [UInt8]) { out.append(contentsOf: b) }
    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }
    mutating func id(_ id: ID32) {
        for w in [id.a, id.b, id.c, id.d] { for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: w >> UInt64(s))) } }
    }
    mutating func topic(_ t: Topic) {
        switch t {
        case .global: byte(0)
        case .process(let p): byte(1); id(p.raw)
        }
    }
    mutating func ids(_ ids: [MessageID]) { varint(UInt64(ids.count)); for i in ids { id(i.raw) } }
    mutating func record(_ r: PeerRecord) {
        id(r.node.raw); varint(UInt64(r.endpoints.count))
        for e in r.endpoints { let u = Array(e.utf8); varint(UInt64(u.count)); bytes(u) }
    }
    mutating func records(_ rs: [PeerRecord]) { varint(UInt64(rs.count)); for r in rs { record(r) } }
}

struct WireReader {
    let bytes: [UInt8]
    var index = 0
    var atEnd: Bool { index == bytes.count }
    var remaining: Int { bytes.count - index }

    mutating func byte() throws(PeerWireError) -> UInt8 {
        guard index < bytes.count else { throw .truncated }
        defer { index += 1 }
        return bytes[index]
    }
    mutating func flag() throws(PeerWireError) -> Bool {
        switch try byte() { case 0: return false; case 1: return true; default: throw .limit }
    }
    mutating func bytes(_ n: Int) throws(PeerWireError) -> [UInt8] {
        guard n >= 0, n <= remaining else { throw .truncated }
        defer { index += n }
        return Array(bytes[index..<index + n])
    }
    mutating func varint() throws(PeerWireError) -> UInt64 {
        var result: UInt64 = 0
        for i in 0..<10 {
            let b = try byte()
            if i == 9 && b > 1 { throw .badVarint }
            result |= UInt64(b & 0x7F) << UInt64(7 * i)
            if b & 0x80 == 0 { return result }
        }
        throw .badVarint
    }
    mutating func id() throws(PeerWireError) -> ID32 {
        guard remaining >= 32 else { throw .truncated }
        defer { index += 32 }
        return ID32(bytes: bytes[index..<index + 32])!
    }
    mutating func topic() throws(PeerWireError) -> Topic {
        switch try byte() {
        case 0: return .global
        case 1: return .process(ProcessID(raw: try id()))
        default: throw .unknownTopic
        }
    }
    mutating func count(max: Int, elementBytesMin: Int) throws(PeerWireError) -> Int {
        let n = try varint()
        guard n <= UInt64(max) else { throw .limit }
        guard Int(n) * elementBytesMin <= remaining else { throw .truncated }
        return Int(n)
    }
    mutating func ids() throws(PeerWireError) -> [MessageID] {
        let n = try count(max: GossipLimits.idsPerMessageMax, elementBytesMin: 32)
        var out: [MessageID] = []; out.reserveCapacity(n)
        for _ in 0..<n { out.append(MessageID(raw: try id())) }
        return out
    }
    mutating func record() throws(PeerWireError) -> PeerRecord {
        let node = NodeID(raw: try id())
        let n = try count(max: GossipLimits.endpointsPerRecordMax, elementBytesMin: 1)
        var endpoints: [String] = []
        for _ in 0..<n {
            let len = try varint()
            guard len <= UInt64(GossipLimits.endpointBytesMax) else { throw .limit }
            let raw = try bytes(Int(len))
            guard let s = String(validating: raw, as: UTF8.self) else { throw .badText }
            endpoints.append(s)
        }
        return PeerRecord(node: node, endpoints: endpoints)
    }
    mutating func records() throws(PeerWireError) -> [PeerRecord] {
        let n = try count(max: GossipLimits.recordsPerMessageMax, elementBytesMin: 33)
        var out: [PeerRecord] = []; out.reserveCapacity(n)
        for _ in 0..<n { out.append(try record()) }
        return out
    }
}
