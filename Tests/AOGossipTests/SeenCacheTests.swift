import AOCore
import Testing
@testable import AOGossip

/// Property test: the bounded seen cache against a dumb reference (a dictionary scanned in full), over random
/// operation sequences with time moving forward.
@Suite struct SeenCacheTests {
    struct Reference {
        let ttl: Tick, countMax: Int
        var entries: [(id: MessageID, expiresAt: Tick)] = []
        mutating func insert(_ id: MessageID, now: Tick) -> Bool {
            entries.removeAll { $0.expiresAt <= now }
            if entries.contains(where: { $0.id == id }) { return false }
            if entries.count >= countMax { entries.removeFirst() }
            entries.append((id, now + ttl))
            return true
        }
        mutating func remove(_ id: MessageID) { entries.removeAll { $0.id == id } }
        func contains(_ id: MessageID, now: Tick) -> Bool { entries.contains { $0.id == id && $0.expiresAt > now } }
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func matchesReference(seed: UInt64) {
        var rng = Xoshiro256(seed: seed)
        let ttl = Tick(1 + rng.next() % 40), cap = Int(1 + rng.next() % 30)
        var cache = SeenCache(ttlTicks: ttl, countMax: cap)
        var ref = Reference(ttl: ttl, countMax: cap)
        var now: Tick = 0
        for _ in 0..<5000 {
            now += rng.next() % 3
            let id = GossipWireTests.id(rng.next() % 60)
            switch rng.next() % 10 {
            case 0: cache.remove(id); ref.remove(id)
            case 1...3: #expect(cache.contains(id, now: now) == ref.contains(id, now: now))
            default:
                let got = cache.insert(id, now: now), want = ref.insert(id, now: now)
                #expect(got == want, "seed \(seed) now \(now)")
            }
            #expect(cache.count <= cap)
        }
    }

    @Test func forgetsAfterTTL() {
        var c = SeenCache(ttlTicks: 10, countMax: 100)
        let a = GossipWireTests.id(1)
        let first = c.insert(a, now: 0), second = c.insert(a, now: 9)
        #expect(first)
        #expect(!second)
        #expect(c.contains(a, now: 9))
        #expect(!c.contains(a, now: 10))
        let again = c.insert(a, now: 10)
        #expect(again)
    }
}
