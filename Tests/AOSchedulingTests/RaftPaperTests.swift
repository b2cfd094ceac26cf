import AOCore
import Testing
@testable import AOScheduling

/// Spec-sentence tests in the style of etcd-io/raft's raft_paper_test.go: each test quotes the Raft paper
/// ("In Search of an Understandable Consensus Algorithm", Ongaro & Ousterhout) or the thesis, and checks it.
@Suite struct RaftPaperTests {
    func elected() -> GroupCluster {
        var c = GroupCluster()
        c.addNodes(3)
        c.groups[1]!.raft.campaignNow(rng: &c.rng)
        c.stabilize()
        return c
    }

    /// §5.1: "If a server receives a request with a stale term number, it rejects the request." and "If a candidate or
    /// leader discovers that its term is out of date, it immediately reverts to follower state."
    @Test func staleTermIsRejectedAndStaleLeaderStepsDown() {
        var c = elected()
        let old = RaftMessage(from: GroupCluster.nodeID(1), to: GroupCluster.nodeID(2), term: 1,
                              kind: .append(prevIndex: 1, prevTerm: 1, entries: [], commit: 1))
        // n2 moves to term 5 (e.g. it saw a newer leader), then gets n1's stale append.
        c.groups[2]!.raft.becomeFollower(term: 5, leader: nil, rng: &c.rng)
        c.groups[2]!.raft.onMessage(old, rng: &c.rng)
        #expect(c.groups[2]!.raft.term == 5)
        c.stabilize()
        #expect(c.groups[1]!.raft.role == .follower)
        #expect(c.groups[1]!.raft.term == 5)
    }

    /// §5.2: "If a follower receives no communication over a period of time called the election timeout, then it
    /// assumes there is no viable leader and begins an election." With PreVote it first asks without raising its term.
    @Test func followerCampaignsAfterElectionTimeout() {
        var c = GroupCluster()
        c.addNodes(3)
        for _ in 0..<(2 * c.settings.electionTimeoutTicks) { c.tick(2) }
        #expect(c.groups[2]!.raft.role == .preCandidate)
        #expect(c.groups[2]!.raft.term == 0)
        c.stabilize()
        #expect(c.groups[2]!.raft.role == .leader)
        #expect(c.groups[2]!.raft.term == 1)
    }

    /// §5.2: "Each server will vote for at most one candidate in a given term, on a first-come-first-served basis",
    /// and the vote is durable: it is in the Ready's hard state before the response is sent, and survives a restart.
    @Test func atMostOneVotePerTermEvenAcrossRestart() {
        var c = GroupCluster()
        c.settings.preVote = false
        c.addNodes(3)
        c.groups[1]!.raft.campaignNow(rng: &c.rng)
        c.processReady()
        let vote = c.mailbox.first { $0.to == GroupCluster.nodeID(3) }!
        c.mailbox = []
        c.groups[3]!.raft.onMessage(vote, rng: &c.rng)
        let r = c.groups[3]!.raft.ready()
        #expect(r.hardState?.vote == GroupCluster.nodeID(1))
        #expect(r.messages.contains { if case .voteResponse(false) = $0.kind { return true }; return false })
        c.durable[3]!.hardState = r.hardState!
        c.crash(3); c.restart(3)
        let rival = RaftMessage(from: GroupCluster.nodeID(2), to: GroupCluster.nodeID(3), term: 1,
                                kind: .vote(lastIndex: 0, lastTerm: 0, transfer: false))
        c.groups[3]!.raft.onMessage(rival, rng: &c.rng)
        let r2 = c.groups[3]!.raft.ready()
        #expect(r2.messages.contains { if case .voteResponse(true) = $0.kind { return true }; return false })
    }

    /// §5.4.1: "the voter denies its vote if its own log is more up-to-date than that of the candidate."
    @Test func voterDeniesCandidateWithOlderLog() {
        var c = elected()
        _ = c.propose(1, message: "a")
        c.stabilize()
        var g = c.groups[2]!.raft
        let stale = RaftMessage(from: GroupCluster.nodeID(3), to: GroupCluster.nodeID(2), term: 9,
                                kind: .vote(lastIndex: 1, lastTerm: 1, transfer: true))
        g.onMessage(stale, rng: &c.rng)
        let out = g.ready().messages
        #expect(out.contains { if case .voteResponse(true) = $0.kind { return true }; return false })
        #expect(g.vote == nil)
    }

    /// §5.4.2: "Raft never commits log entries from previous terms by counting replicas. Only log entries from the
    /// leader's current term are committed by counting replicas."
    @Test func oldTermEntriesCommitOnlyWithACurrentTermEntry() {
        var rng = Xoshiro256(seed: 1)
        let ids = (1...3).map(GroupCluster.nodeID)
        let log = [LogEntry(term: 1, index: 1, payload: .configuration(ids)), LogEntry(term: 1, index: 2, payload: .noop)]
        var settings = RaftSettings(); settings.preVote = false
        var n1 = RaftCore(id: ids[0], members: ids, settings: settings, hardState: HardState(term: 2, vote: nil, commit: 1),
                          log: log, applied: 1, rng: &rng)
        n1.campaignNow(rng: &rng)
        for voter in ids[1...] { n1.onMessage(RaftMessage(from: voter, to: ids[0], term: 3, kind: .voteResponse(reject: false)), rng: &rng) }
        #expect(n1.role == .leader && n1.term == 3 && n1.lastIndex == 3)  // its term-3 no-op is index 3
        // n2 acknowledges only up to index 2, a term-1 entry: counting replicas must not commit it.
        n1.onMessage(RaftMessage(from: ids[1], to: ids[0], term: 3, kind: .appendResponse(index: 2, reject: false, hint: 0)), rng: &rng)
        #expect(n1.commit == 1)
        // Once the term-3 entry is on a majority, everything before it commits with it.
        n1.onMessage(RaftMessage(from: ids[1], to: ids[0], term: 3, kind: .appendResponse(index: 3, reject: false, hint: 0)), rng: &rng)
        #expect(n1.commit == 3)
    }

    /// §5.3: "If an existing entry conflicts with a new one (same index but different terms), delete the existing
    /// entry and all that follow it."
    @Test func conflictingSuffixIsReplaced() {
        var c = elected()
        c.partition([[1], [2, 3]])
        _ = c.propose(1, message: "lost")
        c.stabilize()
        c.groups[2]!.raft.campaignNow(rng: &c.rng)
        for _ in 0..<30 { c.tick(); c.stabilize() }
        let leader = c.live.first { c.groups[$0]!.raft.role == .leader && c.groups[$0]!.raft.term > 1 }!
        _ = c.propose(leader, message: "won")
        c.stabilize()
        c.blocked = []
        for _ in 0..<10 { c.tick(); c.stabilize() }
        let n1 = c.groups[1]!
        #expect(n1.raft.log.compactMap(\.assignment).compactMap(\.fields.message).map { c.names[$0]! } == ["won"])
        #expect(c.check() == "ok: 2 slots agree")
    }

    /// Thesis §4.1: a leader changes membership one server at a time, and only once an entry of its own term is
    /// committed and no other change is pending.
    @Test func singleServerChangesOnly() {
        var c = elected()
        var g = c.groups[1]!.raft
        let n4 = GroupCluster.nodeID(4), n5 = GroupCluster.nodeID(5)
        let two = g.proposeConfiguration(g.members + [n4, n5])         // two at once
        let me = g.id
        let removeSelf = g.proposeConfiguration(g.members.filter { $0 != me })  // removing itself
        let one = g.proposeConfiguration(g.members + [n4])
        let another = g.proposeConfiguration(g.members + [n5])         // one pending
        #expect(!two && !removeSelf && one && !another)
        c.groups[1]!.raft = g
    }
}

@Suite struct SlotAssignerTests {
    @Test func timestampAndBlockHeightNeverGoBackwards() {
        var c = GroupCluster()
        c.addNodes(1)
        c.groups[1]!.raft.campaignNow(rng: &c.rng)
        c.stabilize()
        c.clockMs = 5_000; c.blockHeight = 100
        _ = c.propose(1, message: "a")
        c.clockMs = 4_000; c.blockHeight = 90   // the clock and the gateway went backwards
        _ = c.propose(1, message: "b")
        c.clockMs = 6_000; c.blockHeight = 120
        _ = c.propose(1, message: "c")
        c.stabilize()
        let a = c.committed[1]!
        #expect(a.map(\.fields.slot) == [0, 1, 2, 3])
        #expect(a.map(\.fields.timestampMs) == [5_000, 5_000, 5_000, 6_000])
        #expect(a.map(\.fields.blockHeight) == [100, 100, 100, 120])
        #expect(HashChain.firstBrokenSlot(a) == nil)
        #expect(a[0].fields.message == nil && a[0].fields.hashChain == HashChain.first(process: c.process))
        #expect(a.allSatisfy { $0.fields.term == 1 })
    }

    @Test func aSingleReplicaGroupCommitsAlone() {
        var c = GroupCluster()
        c.addNodes(1)
        c.groups[1]!.raft.campaignNow(rng: &c.rng)
        #expect(c.propose(1, message: "a") == "appended slot=1 index=3")
        c.processReady()
        #expect(c.groups[1]!.raft.commit == 3)
        #expect(c.propose(1, message: nil) == "duplicate slot=0 committed=true")
    }
}
