import AOCore
import Testing
@testable import AOGossip

@Suite struct GossipWireTests {
    static func id(_ n: UInt64) -> MessageID {
        var g = SplitMix64(seed: n)
        return MessageID(raw: ID32(bytes: (0..<4).flatMap { _ in withUnsafeBytes(of: g.next().bigEndian, Array.init) })!)
    }
    static let process = Topic.process(ProcessID(id(99)))
    static let record = PeerRecord(node: NodeID(raw: id(7).raw), endpoints: ["127.0.0.1:4000", "[::1]:4000"])

    static let samples: [PeerMessage] = [
        .gossip(.subscribe(.global)), .gossip(.unsubscribe(process)),
        .gossip(.publish(topic: process, id: id(1), payload: [1, 2, 3])),
        .gossip(.publish(topic: .global, id: id(2), payload: [UInt8](repeating: 7, count: 70_000))),
        .gossip(.ihave(topic: .global, ids: (0..<5).map(id))), .gossip(.iwant(ids: [id(3)])), .gossip(.idontwant(ids: [])),
        .gossip(.graft(process)), .gossip(.prune(topic: .global, backoffTicks: 600)),
        .membership(.join(record)), .membership(.forwardJoin(record, ttl: 6)),
        .membership(.neighbor(record, highPriority: true)), .membership(.neighborReply(accepted: false)),
        .membership(.disconnect), .membership(.shuffle(origin: record, ttl: 4, records: [record, record])),
        .membership(.shuffleReply([])),
    ]

    @Test(arguments: samples) func roundTrips(_ m: PeerMessage) throws {
        let bytes = m.encoded()
        #expect(try PeerMessage(decoding: bytes) == m)
        #expect(m.encodedByteCount == bytes.count)
    }

    @Test func rejectsTruncationAndTrailingBytes() {
        for m in Self.samples {
            let bytes = m.encoded()
            for cut in 0..<min(bytes.count, 80) {
                #expect(throws: PeerWireError.self) { try PeerMessage(decoding: Array(bytes.prefix(cut))) }
            }
            #expect(throws: PeerWireError.trailingBytes) { try PeerMessage(decoding: bytes + [0]) }
        }
    }

    @Test func typedErrors() {
        #expect(throws: PeerWireError.unknownKind) { try PeerMessage(decoding: [99]) }
        #expect(throws: PeerWireError.unknownTopic) { try PeerMessage(decoding: [1, 5]) }
        // An IHAVE claiming 5001 ids is over the limit before any id is read.
        #expect(throws: PeerWireError.limit) { try PeerMessage(decoding: [4, 0, 0x89, 0x27]) }
        // A count larger than the bytes left is truncation, not an allocation.
        #expect(throws: PeerWireError.truncated) { try PeerMessage(decoding: [5, 0xE8, 0x07]) }
        #expect(throws: PeerWireError.badVarint) { try PeerMessage(decoding: [8, 0] + [UInt8](repeating: 0xFF, count: 11)) }
        #expect(throws: PeerWireError.limit) { try PeerMessage(decoding: [19, 2]) }  // a flag must be 0 or 1
    }

    /// Fuzz-style: random bytes and random mutations of valid frames never trap; they decode or throw a typed error,
    /// and whatever decodes re-encodes to the same bytes.
    @Test func randomBytesNeverTrap() {
        var rng = Xoshiro256(seed: 0xF022)
        let seeds = Self.samples.map { $0.encoded() }.filter { $0.count < 2000 }
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                bytes = seeds[Int(rng.next() % UInt64(seeds.count))]
                for _ in 0..<(1 + rng.next() % 3) where !bytes.isEmpty {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            if let m = try? PeerMessage(decoding: bytes) { #expect(m.encoded() == bytes, "non-canonical decode of \(bytes)") }
        }
    }

    @Test func announcementRoundTrip() throws {
        let key = Ed25519PrivateKey(seed: [UInt8](repeating: 3, count: 32))!
        let a = NodeAnnouncement(node: key.nodeID, publicKey: key.publicKey, endpoints: ["10.0.0.1:7000"],
                                 capabilities: [.scheduler, .compute], sequence: 9, ttlTicks: 60_000)
        let signed = SignedNodeAnnouncement(announcement: a, signature: key.sign(a.signingBytes()))
        let parsed = try SignedNodeAnnouncement(decoding: signed.bytes)
        #expect(parsed.announcement == a)
        // The shell's check: the signature covers the signed bytes, under the announced key.
        #expect(Ed25519.verify(signature: Array(parsed.signature), message: Array(parsed.signedBytes), publicKey: parsed.announcement.publicKey))
        var tampered = signed.bytes; tampered[30] ^= 1
        let t = try? SignedNodeAnnouncement(decoding: tampered)
        #expect(t == nil || !Ed25519.verify(signature: Array(t!.signature), message: Array(t!.signedBytes), publicKey: t!.announcement.publicKey))
        #expect(throws: PeerWireError.self) { try SignedNodeAnnouncement(decoding: Array(signed.bytes.prefix(40))) }
    }
}

extension PeerMessage: CustomTestStringConvertible {
    public var testDescription: String { String("\(self)".prefix(60)) }
}
