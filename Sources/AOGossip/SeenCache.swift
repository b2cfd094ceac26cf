import AOCore

/// The set of message ids a node has seen recently: bounded in time (`ttlTicks`) and in count (`countMax`).
///
/// Contract: `insert(id, now:)` returns true exactly when `id` is not currently remembered, and then remembers it until
/// `now + ttlTicks` (exclusive), or until `countMax` newer ids push it out, whichever comes first. Entries are kept in
/// insertion order (the TTL is constant, so insertion order is expiry order), which makes expiry and eviction O(1)
/// amortised. Time must not go backwards between calls (a precondition).
///
/// Why bounded by count too: a flood of distinct ids must not grow memory without limit. The price: under such a
/// flood an old id can be forgotten early and accepted again; validation and the store's own dedupe catch that.
public struct SeenCache: Sendable {
    public let ttlTicks: Tick
    public let countMax: Int
    private var expiry: [MessageID: (expiresAt: Tick, generation: UInt64)] = [:]
    private var order: [(id: MessageID, expiresAt: Tick, generation: UInt64)] = []
    private var generation: UInt64 = 0  // tells a live order entry from a stale one left by `remove`
    private var head = 0
    private var lastNow: Tick = 0

    public init(ttlTicks: Tick, countMax: Int) {
        precondition(ttlTicks > 0 && countMax > 0, "SeenCache needs a positive TTL and capacity")
        self.ttlTicks = ttlTicks; self.countMax = countMax
    }

    public var count: Int { expiry.count }

    /// True when `id` is remembered at `now`.
    public func contains(_ id: MessageID, now: Tick) -> Bool {
        guard let e = expiry[id] else { return false }
        return e.expiresAt > now
    }

    /// Remembers `id`; returns true when it was not remembered (i.e. the caller sees it for the first time).
    @discardableResult
    public mutating func insert(_ id: MessageID, now: Tick) -> Bool {
        expire(now: now)
        if let e = expiry[id], e.expiresAt > now { return false }
        if expiry.count >= countMax { evictOldest() }
        generation += 1
        expiry[id] = (now + ttlTicks, generation)
        order.append((id, now + ttlTicks, generation))
        return true
    }

    /// Forgets `id` now (the core does this when an item fails validation, so that a forged payload carrying a genuine
    /// id cannot shadow the genuine item).
    public mutating func remove(_ id: MessageID) { expiry[id] = nil }

    /// Forgets every id whose time is up. Called by `insert`; the core also calls it each heartbeat.
    public mutating func expire(now: Tick) {
        precondition(now >= lastNow, "SeenCache: time went backwards (\(lastNow) -> \(now))")
        lastNow = now
        while head < order.count, order[head].expiresAt <= now { dropHead() }
        compact()
    }

    private mutating func evictOldest() {
        while head < order.count {
            let stale = expiry[order[head].id]?.generation != order[head].generation
            dropHead()
            if !stale { return }
        }
    }

    private mutating func dropHead() {
        let entry = order[head]
        if expiry[entry.id]?.generation == entry.generation { expiry[entry.id] = nil }
        head += 1
    }

    private mutating func compact() {
        if head > 1024 && head * 2 > order.count { order.removeFirst(head); head = 0 }
    }
}
