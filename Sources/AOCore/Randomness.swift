/// Seeded, reproducible randomness for cores and the simulator (CONVENTIONS.md C3): cores never draw ambient
/// randomness; they take `inout some RandomNumberGenerator`, and the shells seed one of these from config.

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, passes BigCrush; used to seed and for per-node streams.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman, Vigna 2018): the simulator's main generator; seeded through SplitMix64 as its authors advise.
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    public init(seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
    }
    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 45)
        return result
    }
    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// A logical time step. Cores count every timeout in ticks; the shell maps ticks to wall time
/// (`Tick.milliseconds` in the node's configuration), the simulator advances them one by one.
public typealias Tick = UInt64
