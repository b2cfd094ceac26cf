import AOCore
import AOGossip

/// What the simulated network delivers at a tick.
enum GossipSimEvent {
    /// A frame. `toIncarnation` is the receiver's incarnation when it was sent: a node that crashed since never sees it.
    case frame(from: Int, to: Int, toIncarnation: Int, message: PeerMessage)
    /// The end of a connection attempt (success or failure is decided when it arrives).
    case connectResult(from: Int, fromIncarnation: Int, to: Int)
    /// `at` learns that its connection to `peer` is gone (a close by the other side, a crash, a partition).
    case connectionLost(at: Int, incarnation: Int, peer: Int)
}

/// A min-heap of events ordered by (tick, insertion sequence): equal ticks pop in the order they were scheduled, so
/// the order never depends on anything but the seed.
struct GossipEventQueue {
    private var heap: [(tick: Tick, seq: UInt64, event: GossipSimEvent)] = []
    private var seq: UInt64 = 0
    var count: Int { heap.count }

    mutating func push(_ tick: Tick, _ event: GossipSimEvent) {
        seq += 1
        heap.append((tick, seq, event))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard less(i, parent) else { break }
            heap.swapAt(i, parent); i = parent
        }
    }

    /// Pops the earliest event if it is due at or before `tick`.
    mutating func pop(dueBy tick: Tick) -> GossipSimEvent? {
        guard let first = heap.first, first.tick <= tick else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && less(l, m) { m = l }
                if r < heap.count && less(r, m) { m = r }
                if m == i { break }
                heap.swapAt(i, m); i = m
            }
        }
        return first.event
    }

    private func less(_ a: Int, _ b: Int) -> Bool { (heap[a].tick, heap[a].seq) < (heap[b].tick, heap[b].seq) }
}

/// The stand-in for signatures in the simulator: a keyed 64-bit checksum of the id and the payload length. Honest
/// nodes make valid ones; attackers cannot (they write random bytes). Cheap, so hundreds of nodes validate 64 KiB
/// items without hashing them. The real shell verifies ANS-104 signatures instead.
enum GossipSimSignature {
    static let networkKey: UInt64 = 0x6A09_E667_F3BC_C908

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func checksum(id: MessageID, count: Int) -> UInt64 {
        var h = networkKey
        for w in [id.raw.a, id.raw.b, id.raw.c, id.raw.d, UInt64(count)] { h = mix(h ^ w) }
        return h
    }

    static let headerBytes = 9  // kind byte + 8-byte checksum

    /// A payload of `count` bytes (at least the header) for `kind` (1 data item, 2 announcement).
    static func payload(kind: UInt8, id: MessageID, count: Int, body: [UInt8] = [], valid: Bool, rng: inout Xoshiro256) -> [UInt8] {
        let total = max(count, headerBytes + body.count)
        var p = [UInt8](repeating: 0, count: total)
        p[0] = kind
        let sum = valid ? checksum(id: id, count: total) : rng.next()
        for i in 0..<8 { p[1 + i] = UInt8(truncatingIfNeeded: sum >> UInt64(56 - 8 * i)) }
        for (i, b) in body.enumerated() { p[headerBytes + i] = b }
        return p
    }

    static func isValid(id: MessageID, payload: [UInt8]) -> Bool {
        guard payload.count >= headerBytes, payload[0] == 1 || payload[0] == 2 else { return false }
        var sum: UInt64 = 0
        for i in 0..<8 { sum = sum << 8 | UInt64(payload[1 + i]) }
        return sum == checksum(id: id, count: payload.count)
    }

    static func id(_ a: UInt64, _ b: UInt64) -> MessageID {
        var g = SplitMix64(seed: a ^ mix(b))
        return MessageID(raw: ID32(bytes: (0..<4).flatMap { _ in withUnsafeBytes(of: g.next().bigEndian, Array.init) })!)
    }
}
