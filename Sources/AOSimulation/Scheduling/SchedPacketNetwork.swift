import AOCore

/// A small deterministic packet simulator for the scheduling simulation: per-packet loss, duplication and a random
/// delay (which reorders), plus symmetric partitions. (The gossip simulator has its own; they will be unified.)
public struct SchedPacketNetwork {
    public struct Packet { var deliverAt: Tick; var sequence: UInt64; var from: Int; var to: Int; var bytes: [UInt8] }
    public var lossPercent: UInt64
    public var duplicatePercent: UInt64
    public var delayTicksMax: UInt64
    var inFlight: [Packet] = []
    var sequence: UInt64 = 0
    /// blocked[a][b]: packets from a to b are dropped.
    var blocked: Set<[Int]> = []
    public private(set) var packetsSent = 0, packetsDropped = 0, packetsDuplicated = 0, bytesSent = 0

    public init(lossPercent: UInt64, duplicatePercent: UInt64, delayTicksMax: UInt64) {
        self.lossPercent = lossPercent; self.duplicatePercent = duplicatePercent; self.delayTicksMax = max(1, delayTicksMax)
    }

    public mutating func send(from: Int, to: Int, bytes: [UInt8], now: Tick, rng: inout some RandomNumberGenerator) {
        packetsSent += 1; bytesSent += bytes.count
        if blocked.contains([from, to]) || UInt64.random(in: 0..<100, using: &rng) < lossPercent { packetsDropped += 1; return }
        let copies = UInt64.random(in: 0..<100, using: &rng) < duplicatePercent ? 2 : 1
        if copies == 2 { packetsDuplicated += 1 }
        for _ in 0..<copies {
            sequence += 1
            inFlight.append(Packet(deliverAt: now + UInt64.random(in: 1...delayTicksMax, using: &rng), sequence: sequence,
                                   from: from, to: to, bytes: bytes))
        }
    }

    /// Packets due at `now`, in a deterministic order (delivery tick, then send order); a packet across a partition
    /// that formed while it was in flight is dropped.
    public mutating func due(now: Tick) -> [Packet] {
        var ready: [Packet] = [], later: [Packet] = []
        for p in inFlight { if p.deliverAt <= now { ready.append(p) } else { later.append(p) } }
        inFlight = later
        ready.sort { ($0.deliverAt, $0.sequence) < ($1.deliverAt, $1.sequence) }
        return ready.filter { p in
            if blocked.contains([p.from, p.to]) { packetsDropped += 1; return false }
            return true
        }
    }

    /// Splits the nodes into two sides: no packet crosses between them until `heal()`.
    public mutating func partition(_ sideA: [Int], _ sideB: [Int]) {
        for a in sideA { for b in sideB { blocked.insert([a, b]); blocked.insert([b, a]) } }
    }
    public mutating func heal() { blocked = [] }
    public var isPartitioned: Bool { !blocked.isEmpty }
    public var inFlightCount: Int { inFlight.count }
}
