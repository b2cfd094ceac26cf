import AOCore

/// What a node can do for the network, announced so that others can pick it (e.g. for a scheduling group).
public struct NodeCapabilities: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Admitted to schedule processes (DESIGN.md section 5).
    public static let scheduler = NodeCapabilities(rawValue: 1 << 0)
    /// Evaluates processes and serves results.
    public static let compute = NodeCapabilities(rawValue: 1 << 1)
    /// Serves the HTTP API to clients.
    public static let gateway = NodeCapabilities(rawValue: 1 << 2)
}

/// A node's self-description, spread on the global topic and kept (by the membership core and the store) until its
/// time-to-live runs out. The shell signs `signingBytes()` with the node key and publishes a `SignedNodeAnnouncement`;
/// receivers verify it in the shell (the key must hash to `node`) before the core sees it. A newer `sequence` from the
/// same node replaces an older one.
public struct NodeAnnouncement: Hashable, Sendable {
    public var node: NodeID
    /// The 32-byte ed25519 public key; `node` must be its SHA-256 (the shell checks).
    public var publicKey: [UInt8]
    public var endpoints: [String]
    public var capabilities: NodeCapabilities
    /// Increases with every announcement the node signs.
    public var sequence: UInt64
    /// How long receivers keep it, in ticks from receipt (the network fixes the tick length). The node re-announces
    /// well before it runs out.
    public var ttlTicks: UInt32

    public init(node: NodeID, publicKey: [UInt8], endpoints: [String], capabilities: NodeCapabilities, sequence: UInt64, ttlTicks: UInt32) {
        self.node = node; self.publicKey = publicKey; self.endpoints = endpoints
        self.capabilities = capabilities; self.sequence = sequence; self.ttlTicks = ttlTicks
    }

    /// The reachability part, as membership messages carry it.
    public var record: PeerRecord { PeerRecord(node: node, endpoints: endpoints) }

    /// The canonical bytes the node signs: a domain tag, then the fields in a fixed order.
    public func signingBytes() -> [UInt8] {
        var w = WireWriter()
        w.bytes(Array(NodeAnnouncement.domain.utf8))
        w.record(record)
        w.bytes(publicKey)
        w.varint(UInt64(capabilities.rawValue)); w.varint(sequence); w.varint(UInt64(ttlTicks))
        return w.out
    }

    static let domain = "aonode-announcement-v1:"
}

/// A signed announcement as it travels: `bytes` = `signingBytes()` followed by the 64-byte signature. The core keeps
/// and relays the bytes as they came (opaque) next to the parsed fields; it never signs or verifies.
public struct SignedNodeAnnouncement: Hashable, Sendable {
    public let announcement: NodeAnnouncement
    public let bytes: [UInt8]
    public static let signatureBytesCount = 64

    /// The signature: the last 64 bytes.
    public var signature: ArraySlice<UInt8> { bytes.suffix(Self.signatureBytesCount) }
    /// What the signature covers.
    public var signedBytes: ArraySlice<UInt8> { bytes.dropLast(Self.signatureBytesCount) }

    /// Assembles the wire form from fields and a signature made by the shell over `announcement.signingBytes()`.
    public init(announcement: NodeAnnouncement, signature: [UInt8]) {
        precondition(signature.count == Self.signatureBytesCount, "an ed25519 signature has 64 bytes")
        self.announcement = announcement
        bytes = announcement.signingBytes() + signature
    }

    /// Parses the fields without checking the signature (the shell does that). Hostile bytes give a typed error.
    public init(decoding bytes: [UInt8]) throws(PeerWireError) {
        guard bytes.count <= 4096 else { throw .limit }
        let domain = Array(NodeAnnouncement.domain.utf8)
        guard bytes.count >= domain.count + Self.signatureBytesCount else { throw .truncated }
        guard Array(bytes.prefix(domain.count)) == domain else { throw .unknownKind }
        var r = WireReader(bytes: Array(bytes.dropLast(Self.signatureBytesCount)))
        r.index = domain.count
        let record = try r.record()
        let key = try r.bytes(32)
        let caps = try r.varint(), seq = try r.varint(), ttl = try r.varint()
        guard caps <= UInt64(UInt32.max), ttl <= UInt64(UInt32.max) else { throw .limit }
        guard r.atEnd else { throw .trailingBytes }
        announcement = NodeAnnouncement(node: record.node, publicKey: key, endpoints: record.endpoints,
                                        capabilities: NodeCapabilities(rawValue: UInt32(caps)), sequence: seq, ttlTicks: UInt32(ttl))
        self.bytes = bytes
    }
}
