import AOCore
import Testing
@testable import AOGossip

@Suite struct MembershipCoreTests {
    static func record(_ i: Int) -> PeerRecord { PeerRecord(node: TranscriptHarness.nodeID(i), endpoints: ["127.0.0.1:\(4000 + i)"]) }

    /// Join: the newcomer connects to its contact, sends JOIN, the contact takes it in and answers; both report
    /// `.activated` for the other, and the contact forwards the join along its other active links.
    @Test func joinActivatesBothSides() {
        var rng = Xoshiro256(seed: 1)
        var contact = MembershipCore(me: Self.record(1))
        var newcomer = MembershipCore(me: Self.record(2))
        _ = contact.start(contacts: [], now: 0, rng: &rng)
        let start = newcomer.start(contacts: [Self.record(1)], now: 0, rng: &rng)
        #expect(start.contains(.connect(Self.record(1))))
        #expect(start.contains(.announce))
        let hello = newcomer.onConnectionEstablished(Self.record(1).node, now: 1)
        #expect(hello == [.send(to: Self.record(1).node, message: .join(Self.record(2)))])
        _ = contact.onConnectionEstablished(Self.record(2).node, now: 1)
        let joined = contact.onMessageReceived(.join(Self.record(2)), from: Self.record(2).node, now: 2, rng: &rng)
        #expect(joined.first == .send(to: Self.record(2).node, message: .neighborReply(accepted: true)), "the reply goes before gossip starts")
        #expect(joined.contains(.activated(Self.record(2).node)))
        let accepted = newcomer.onMessageReceived(.neighborReply(accepted: true), from: Self.record(1).node, now: 3, rng: &rng)
        #expect(accepted == [.activated(Self.record(1).node)])
        #expect(newcomer.activeView == [Self.record(1).node] && contact.activeView == [Self.record(2).node])
    }

    /// Simultaneous dials: the transport keeps one connection and drops the other, with what was queued on it.
    /// A replaced connection keeps the link (no `.deactivated`), confirms an active link with a high-priority
    /// NEIGHBOR that takes us back into a peer that never heard our JOIN, and re-sends a JOIN still unanswered.
    @Test func replacedConnectionKeepsTheLinkAndSaysItsLastWordAgain() {
        var rng = Xoshiro256(seed: 11)
        let (one, two) = (Self.record(1), Self.record(2))
        var contact = MembershipCore(me: one)
        var newcomer = MembershipCore(me: two)
        _ = contact.start(contacts: [], now: 0, rng: &rng)
        _ = newcomer.start(contacts: [one], now: 0, rng: &rng)
        #expect(newcomer.onConnectionEstablished(one.node, now: 1) == [.send(to: one.node, message: .join(two))])
        // The JOIN is lost with the dropped connection; the replacement sends it again.
        #expect(newcomer.onConnectionReplaced(one.node, now: 2) == [.send(to: one.node, message: .join(two))])
        _ = contact.onConnectionEstablished(two.node, now: 2)
        _ = contact.onMessageReceived(.join(two), from: two.node, now: 3, rng: &rng)
        _ = newcomer.onMessageReceived(.neighborReply(accepted: true), from: one.node, now: 3, rng: &rng)
        #expect(newcomer.isActive(one.node) && contact.isActive(two.node))

        // An active link replaced: nothing leaves the views, and the link is confirmed.
        let replaced = contact.onConnectionReplaced(two.node, now: 4)
        #expect(replaced == [.send(to: two.node, message: .neighbor(one, highPriority: true))])
        #expect(contact.isActive(two.node))
        // A peer that lost our side of the link (here: a fresh core) takes us in on that NEIGHBOR.
        var forgetful = MembershipCore(me: two)
        _ = forgetful.start(contacts: [], now: 0, rng: &rng)
        _ = forgetful.onConnectionEstablished(one.node, now: 4)
        let answer = forgetful.onMessageReceived(.neighbor(one, highPriority: true), from: one.node, now: 5, rng: &rng)
        #expect(answer.contains(.send(to: one.node, message: .neighborReply(accepted: true))))
        #expect(forgetful.isActive(one.node))
        // Its accepting reply is harmless to a side that had no NEIGHBOR pending.
        #expect(contact.onMessageReceived(.neighborReply(accepted: true), from: two.node, now: 6, rng: &rng).isEmpty)
        #expect(contact.isActive(two.node))
    }

    /// The contacts a node starts with are known peers: one gets the JOIN, the others wait in the passive view, and
    /// repair fills the active view from them. (Five real nodes once split 3 + 2 for good: each part's shuffles only
    /// knew that part.)
    @Test func otherContactsFillTheActiveViewThroughRepair() {
        var rng = Xoshiro256(seed: 13)
        var core = MembershipCore(me: Self.record(1))
        let contacts = (2...4).map(Self.record)
        let start = core.start(contacts: contacts, now: 0, rng: &rng)
        let joined = start.compactMap { d -> NodeID? in if case .connect(let r) = d { return r.node } else { return nil } }
        #expect(joined.count == 1)
        #expect(Set(core.passiveView) == Set(contacts.map(\.node)).subtracting(joined))
        // The join answered; the next ticks connect to the other contacts with NEIGHBOR until all are active.
        _ = core.onConnectionEstablished(joined[0], now: 1)
        _ = core.onMessageReceived(.neighborReply(accepted: true), from: joined[0], now: 1, rng: &rng)
        for now: Tick in 2...6 {
            for d in core.onTick(now: now, rng: &rng) {
                guard case .connect(let r) = d else { continue }
                // High priority while the active view is below activeViewMin (3).
                let high = core.activeCount < 3
                #expect(core.onConnectionEstablished(r.node, now: now) == [.send(to: r.node, message: .neighbor(Self.record(1), highPriority: high))])
                _ = core.onMessageReceived(.neighborReply(accepted: true), from: r.node, now: now, rng: &rng)
            }
        }
        #expect(Set(core.activeView) == Set(contacts.map(\.node)))
    }

    /// A full active view refuses a low-priority NEIGHBOR but must accept a high-priority one, evicting a peer
    /// (which is told, disconnected, and moved to the passive view).
    @Test func neighborPriority() {
        var rng = Xoshiro256(seed: 2)
        var p = MembershipParameters(); p.activeViewMax = 2; p.activeViewMin = 1; p.passiveViewMax = 4
        var core = MembershipCore(me: Self.record(1), parameters: p)
        _ = core.start(contacts: [], now: 0, rng: &rng)
        for i in 2...3 {
            _ = core.onConnectionEstablished(Self.record(i).node, now: 1)
            _ = core.onMessageReceived(.neighbor(Self.record(i), highPriority: false), from: Self.record(i).node, now: 1, rng: &rng)
        }
        #expect(core.activeCount == 2)
        _ = core.onConnectionEstablished(Self.record(4).node, now: 2)
        let low = core.onMessageReceived(.neighbor(Self.record(4), highPriority: false), from: Self.record(4).node, now: 2, rng: &rng)
        #expect(low.contains(.send(to: Self.record(4).node, message: .neighborReply(accepted: false))))
        #expect(core.activeCount == 2 && core.passiveView.contains(Self.record(4).node))
        let high = core.onMessageReceived(.neighbor(Self.record(4), highPriority: true), from: Self.record(4).node, now: 3, rng: &rng)
        #expect(high.contains(.send(to: Self.record(4).node, message: .neighborReply(accepted: true))))
        let evicted = high.compactMap { d -> NodeID? in if case .deactivated(let n) = d { return n } else { return nil } }
        #expect(evicted.count == 1)
        #expect(high.contains(.send(to: evicted[0], message: .disconnect)) && high.contains(.disconnect(evicted[0])))
        #expect(core.activeCount == 2 && core.isActive(Self.record(4).node) && core.passiveView.contains(evicted[0]))
    }

    /// A banned peer leaves both views and is refused afterwards.
    @Test func banRemovesAndRefuses() {
        var rng = Xoshiro256(seed: 3)
        var core = MembershipCore(me: Self.record(1))
        _ = core.start(contacts: [], now: 0, rng: &rng)
        _ = core.onConnectionEstablished(Self.record(2).node, now: 1)
        _ = core.onMessageReceived(.join(Self.record(2)), from: Self.record(2).node, now: 1, rng: &rng)
        let ban = core.onPeerBanned(Self.record(2).node, until: 100, now: 5, rng: &rng)
        #expect(ban.contains(.deactivated(Self.record(2).node)) && ban.contains(.disconnect(Self.record(2).node)))
        #expect(core.activeCount == 0 && !core.passiveView.contains(Self.record(2).node))
        let again = core.onConnectionEstablished(Self.record(2).node, now: 6)
        #expect(again == [.disconnect(Self.record(2).node)])
    }
}
