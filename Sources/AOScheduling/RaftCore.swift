import AOCore

/// Timing and feature settings of one Raft group, in ticks. The node shell picks the tick length (50 ms by
/// default, see docs/SCHEDULING.md), so 10 ticks of election timeout is 0.5–1 s after randomisation.
public struct RaftSettings: Hashable, Sendable {
    /// A follower campaigns after a random timeout in [electionTimeoutTicks, 2 × electionTimeoutTicks).
    public var electionTimeoutTicks: UInt64 = 10
    /// An active leader heartbeats every this many ticks. Must be well below the election timeout.
    public var heartbeatIntervalTicks: UInt64 = 2
    /// PreVote (thesis §9.6): a partitioned member cannot inflate terms and disrupt the group when it returns.
    public var preVote = true
    /// CheckQuorum: a leader that has not heard from a majority for an election timeout steps down, and members
    /// that heard from a leader within the timeout ignore (pre)votes (the leader lease).
    public var checkQuorum = true
    public init() {}
    public init(electionTimeoutTicks: UInt64, heartbeatIntervalTicks: UInt64) {
        precondition(heartbeatIntervalTicks < electionTimeoutTicks, "heartbeat must be shorter than the election timeout")
        self.electionTimeoutTicks = electionTimeoutTicks; self.heartbeatIntervalTicks = heartbeatIntervalTicks
    }
}

/// Role and leader as last reported; Ready carries it when it changes.
public struct SoftState: Hashable, Sendable {
    public var role: RaftRole
    public var leader: NodeID?
    public var quiesced: Bool
}

/// One batch of work for the shell, as etcd's `Ready`. The shell MUST, in this order:
/// 1. persist `hardState` (if not nil) and `entries` (truncate the stored log at `entries.first.index`, then append)
///    durably — persist BEFORE send;
/// 2. only then send `messages` (in any order; the network reorders anyway);
/// 3. apply `committedEntries` in order (they are durable: either persisted earlier or in step 1);
/// 4. call `advance(_:)` with this batch before asking for the next one.
/// A crash anywhere in between is safe: what was not persisted was never sent.
public struct RaftReady: Hashable, Sendable {
    /// Persist BEFORE send. nil when unchanged since the last batch.
    public var hardState: HardState?
    /// Persist BEFORE send: replaces the stored suffix from `entries.first!.index` on.
    public var entries: [LogEntry]
    /// Send only after `hardState` and `entries` are durable.
    public var messages: [RaftMessage]
    /// Apply in order (after step 1).
    public var committedEntries: [LogEntry]
    /// Role/leader changes, for the host's indexes and status pages. Not durable.
    public var softState: SoftState?

    public var isEmpty: Bool {
        hardState == nil && entries.isEmpty && messages.isEmpty && committedEntries.isEmpty && softState == nil
    }
}

/// A pure Raft core for one scheduling group: leader election with PreVote and CheckQuorum, log replication,
/// commit at a majority, single-server membership changes through the log, leader transfer, and quiescence.
///
/// It follows the Raft paper and Ongaro's thesis and etcd-io/raft's shape (a `Ready` batch, explicit `advance`),
/// written from the papers, not from etcd's code. Deviations and additions:
/// - **Quiescence** (after CockroachDB's quiesced ranges): when the leader's whole log is committed in its own term and
///   every member acknowledged it, the leader sends one `heartbeat(quiesce: true)` and goes silent; followers whose
///   log ends at that commit stop their election timers. A quiescent group sends nothing and does nothing per tick.
///   Any Raft message for the group (except an accepted quiesce heartbeat), a proposal, a leader transfer, or the
///   host's `wake()` (a client request, or the node-level liveness detector declaring the leader dead) unquiesces a
///   member. A follower woken by anything but the leader sends the leader `wake`, so one member's doubt brings the
///   heartbeats back and the lease of every member is refreshed before anyone could win a PreVote.
///   Liveness: a quiescent group's log is identical and fully committed at every member, so nothing is lost by
///   waiting; progress needs either new work (which wakes the group through `wake()` / a message) or a leader
///   failure, which the host's per-peer liveness heartbeats detect (their cost is per peer pair, not per group).
/// - **Configuration applies on append** (thesis §4.1), one server at a time; a leader proposes a change only once it
///   has committed an entry of its own term and no other change is uncommitted (the thesis's fix to the
///   single-server bug). A leader never removes itself: the host transfers leadership first.
/// - The leader counts its own log as durable when computing commit: its entries are persisted in the same Ready
///   before any message (which could carry the commit) is sent, and before committed entries are applied.
///
/// Every `on…`/`tick` method MUST be invoked when its event happens; then the shell takes `ready()` and follows the
/// `RaftReady` contract. The core holds the whole log in memory (compaction is future work; see docs/SCHEDULING.md).
public struct RaftCore: Sendable {
    public let id: NodeID
    public let settings: RaftSettings

    public private(set) var term: Term = 0
    public private(set) var vote: NodeID?
    /// log[i - 1] has index i.
    public private(set) var log: [LogEntry] = []
    public private(set) var commit: LogIndex = 0
    public private(set) var applied: LogIndex = 0
    public private(set) var role: RaftRole = .follower
    public private(set) var leader: NodeID?
    public private(set) var quiesced = false
    /// Current members (voters), from the latest configuration entry in the log, or the bootstrap list.
    public private(set) var members: [NodeID]
    public private(set) var bootstrapMembers: [NodeID]
    private(set) var configurationIndex: LogIndex = 0

    var electionElapsed: UInt64 = 0
    var heartbeatElapsed: UInt64 = 0
    var randomizedElectionTimeout: UInt64
    var votes: [NodeID: Bool] = [:]
    public private(set) var leadTransferee: NodeID?
    var transferElapsed: UInt64 = 0

    struct Progress: Sendable { var match: LogIndex = 0; var next: LogIndex = 1; var recentActive = false }
    var progress: [NodeID: Progress] = [:]

    var messages: [RaftMessage] = []
    /// A proposal or a commit advance wants every follower told; `ready()` sends one append per follower for all
    /// of them. A busy leader proposes many entries and takes many acknowledgements between two batches: sent
    /// one by one, each proposal was an append of one entry to every follower (and an acknowledgement from each),
    /// and each acknowledgement that moved the commit index another round of appends.
    var broadcastPending = false
    var unstableFrom: LogIndex = 1
    var persistedHardState = HardState()
    var lastSoftState: SoftState
    /// Lowest index truncated since `takeTruncationFloor()` was last called (indexes built on the log use it).
    var truncationFloor: LogIndex?

    /// A fresh member with an empty log. `members` is the bootstrap configuration (from rendezvous hashing over the
    /// admitted set); an empty list makes a learner that waits for a leader to tell it the configuration.
    public init(id: NodeID, members: [NodeID], settings: RaftSettings = RaftSettings(),
                rng: inout some RandomNumberGenerator) {
        self.id = id; self.settings = settings
        self.members = members; self.bootstrapMembers = members
        self.randomizedElectionTimeout = settings.electionTimeoutTicks
        self.lastSoftState = SoftState(role: .follower, leader: nil, quiesced: false)
        resetRandomizedTimeout(&rng)
    }

    /// A member restarted from its durable state: hard state, the stored log, and the index it had applied.
    /// It starts as a quiescent follower with no known leader: it costs nothing until a message or `wake()` arrives.
    public init(id: NodeID, members: [NodeID], settings: RaftSettings = RaftSettings(), hardState: HardState,
                log: [LogEntry], applied: LogIndex, rng: inout some RandomNumberGenerator) {
        self.init(id: id, members: members, settings: settings, rng: &rng)
        for (i, e) in log.enumerated() { precondition(e.index == LogIndex(i + 1), "stored log is not contiguous at \(i + 1)") }
        self.term = hardState.term; self.vote = hardState.vote; self.log = log
        self.commit = min(hardState.commit, LogIndex(log.count))
        self.applied = min(applied, commit)
        self.unstableFrom = LogIndex(log.count) + 1
        self.persistedHardState = HardState(term: term, vote: vote, commit: commit)
        self.quiesced = true
        self.lastSoftState = SoftState(role: .follower, leader: nil, quiesced: true)
        recomputeConfiguration()
    }

    // MARK: log helpers

    public var lastIndex: LogIndex { LogIndex(log.count) }
    public var lastTerm: Term { log.last?.term ?? 0 }
    public func termAt(_ index: LogIndex) -> Term? {
        if index == 0 { return 0 }
        guard index <= lastIndex else { return nil }
        return log[Int(index - 1)].term
    }
    public func entry(at index: LogIndex) -> LogEntry? {
        guard index >= 1, index <= lastIndex else { return nil }
        return log[Int(index - 1)]
    }
    var quorum: Int { members.count / 2 + 1 }
    public var isMember: Bool { members.contains(id) }
    public var hardState: HardState { HardState(term: term, vote: vote, commit: commit) }
    /// Match index per member, as the leader knows it (empty elsewhere). For tests and status pages.
    public var matchIndexes: [NodeID: LogIndex] { progress.mapValues(\.match) }

    /// Returns and clears the lowest index truncated since the previous call.
    public mutating func takeTruncationFloor() -> LogIndex? {
        defer { truncationFloor = nil }
        return truncationFloor
    }

    mutating func resetRandomizedTimeout(_ rng: inout some RandomNumberGenerator) {
        let t = settings.electionTimeoutTicks
        randomizedElectionTimeout = t + UInt64.random(in: 0..<t, using: &rng)
    }

    mutating func send(_ to: NodeID, _ kind: RaftMessage.Kind, term: Term? = nil) {
        messages.append(RaftMessage(from: id, to: to, term: term ?? self.term, kind: kind))
    }

    // MARK: role changes

    mutating func becomeFollower(term newTerm: Term, leader newLeader: NodeID?, rng: inout some RandomNumberGenerator) {
        if newTerm != term { term = newTerm; vote = nil }
        role = .follower; leader = newLeader
        electionElapsed = 0; heartbeatElapsed = 0
        votes = [:]; progress = [:]; leadTransferee = nil
        resetRandomizedTimeout(&rng)
    }

    mutating func becomeLeader() {
        precondition(role == .candidate, "only a candidate becomes leader (role \(role), term \(term))")
        role = .leader; leader = id
        electionElapsed = 0; heartbeatElapsed = 0; leadTransferee = nil; quiesced = false
        progress = [:]
        for m in members where m != id { progress[m] = Progress(match: 0, next: lastIndex + 1, recentActive: true) }
        // The first leader writes the bootstrap configuration into the log, so members added later learn the whole
        // history from the log alone; later leaders append a no-op to commit their term (§5.4.2).
        appendLocal(configurationIndex == 0 ? .configuration(members) : .noop)
        bcastAppend()
    }

    /// Sets the bootstrap members of a member created before it knew them (it learned the process later). Ignored
    /// once the log holds a configuration.
    public mutating func setBootstrapMembers(_ ms: [NodeID]) {
        bootstrapMembers = ms
        if configurationIndex == 0 { members = ms }
    }

    enum CampaignKind { case preVote, election, transfer }

    /// Starts an election: PreVote first when enabled; `.election` after a won PreVote; `.transfer` after a
    /// `timeoutNow` (skips PreVote, and its votes are honoured by members still inside the old leader's lease).
    mutating func campaign(_ kind: CampaignKind, rng: inout some RandomNumberGenerator) {
        // A non-member (a learner, or a removed member) never campaigns; it goes dormant until a message arrives.
        guard isMember else { quiesced = true; electionElapsed = 0; return }
        quiesced = false
        if kind == .preVote && settings.preVote {
            role = .preCandidate; leader = nil; votes = [id: true]
            electionElapsed = 0; resetRandomizedTimeout(&rng)
            if votes.count >= quorum { campaign(.election, rng: &rng); return }
            for m in members where m != id { send(m, .preVote(lastIndex: lastIndex, lastTerm: lastTerm), term: term + 1) }
            return
        }
        term += 1; vote = id; role = .candidate; leader = nil; votes = [id: true]
        electionElapsed = 0; resetRandomizedTimeout(&rng)
        if votes.count >= quorum { becomeLeader(); return }
        for m in members where m != id { send(m, .vote(lastIndex: lastIndex, lastTerm: lastTerm, transfer: kind == .transfer)) }
    }

    // MARK: events

    /// MUST be invoked once per tick. `mayQuiesce` lets the owner hold the group awake (e.g. a certificate round is
    /// open). A quiescent member does nothing here.
    public mutating func tick(mayQuiesce: Bool = true, rng: inout some RandomNumberGenerator) {
        if quiesced { return }
        switch role {
        case .leader:
            heartbeatElapsed += 1; electionElapsed += 1
            if leadTransferee != nil {
                transferElapsed += 1
                if transferElapsed >= settings.electionTimeoutTicks { leadTransferee = nil }
            }
            if electionElapsed >= settings.electionTimeoutTicks {
                electionElapsed = 0
                if settings.checkQuorum {
                    let active = 1 + progress.filter { members.contains($0.key) && $0.value.recentActive }.count
                    for k in progress.keys { progress[k]!.recentActive = false }
                    if active < quorum && members.count > 1 {
                        becomeFollower(term: term, leader: nil, rng: &rng)
                        return
                    }
                }
            }
            if mayQuiesce && tryQuiesce() { return }
            if heartbeatElapsed >= settings.heartbeatIntervalTicks {
                heartbeatElapsed = 0
                bcastHeartbeat(quiesce: false)
            }
        case .follower, .preCandidate, .candidate:
            electionElapsed += 1
            if electionElapsed >= randomizedElectionTimeout {
                campaign(.preVote, rng: &rng)
            }
        }
    }

    /// Wakes a quiescent member: a client request arrived for the group, or the host's liveness detector says the
    /// leader's node is gone. A follower tells its leader (`wake`), so the leader resumes heartbeats.
    public mutating func wake() {
        guard quiesced else { return }
        quiesced = false
        electionElapsed = 0; heartbeatElapsed = 0
        if role == .leader {
            for k in progress.keys { progress[k]!.recentActive = false }
            bcastHeartbeat(quiesce: false)
        } else if let leader, leader != id {
            send(leader, .wake)
        }
    }

    /// The host's node-level liveness detector suspects the node of this group's leader is gone. The follower drops
    /// the leader (so it grants PreVotes: its lease is over) and campaigns without waiting a full timeout, since the
    /// liveness timeout already waited. The surviving members detect the death at about the same tick, so instead of
    /// random timeouts (which split the vote one time in a few in a 3-member group) they campaign in rank order:
    /// the k-th member of the configuration (the suspected leader left out) waits k × electionTimeoutTicks / 2
    /// ticks, so the first ranked one normally wins before the next one starts. Wakes a quiescent member. A false
    /// suspicion is harmless: members that still hear the leader keep their lease and reject the PreVote.
    public mutating func leaderSuspected(_ node: NodeID) {
        guard role != .leader, leader == node else { return }
        quiesced = false
        leader = nil
        let rank = UInt64(members.filter { $0 != node }.firstIndex(of: id) ?? 0)
        randomizedElectionTimeout = settings.electionTimeoutTicks + rank * max(1, settings.electionTimeoutTicks / 2)
        electionElapsed = max(electionElapsed, settings.electionTimeoutTicks - 1)
    }

    /// Starts an election now (tests and operators; `campaign 1` in transcripts).
    public mutating func campaignNow(rng: inout some RandomNumberGenerator) {
        if role != .leader { campaign(.preVote, rng: &rng) }
    }

    /// MUST be invoked for every Raft message addressed to this member.
    public mutating func onMessage(_ m: RaftMessage, rng: inout some RandomNumberGenerator) {
        precondition(m.to == id, "message for \(m.to) delivered to \(id)")
        // A quiesce heartbeat is the one message that leaves a member quiescent.
        let isQuiesce: Bool = { if case .heartbeat(_, true) = m.kind { return true }; return false }()
        if quiesced && !isQuiesce {
            quiesced = false; electionElapsed = 0; heartbeatElapsed = 0
            if role == .leader { for k in progress.keys { progress[k]!.recentActive = false } }
            else if let leader, leader != id, leader != m.from { send(leader, .wake) }
        }

        // Term rules (Raft §5.1, with PreVote and the CheckQuorum lease).
        if m.term > term {
            switch m.kind {
            case .preVote, .vote:
                var transfer = false
                if case .vote(_, _, let t) = m.kind { transfer = t }
                let inLease = settings.checkQuorum && leader != nil && (quiesced || electionElapsed < settings.electionTimeoutTicks)
                if inLease && !transfer { return }  // ignore: we have a live leader
            default: break
            }
            switch m.kind {
            case .preVote: break  // never changes our term
            case .preVoteResponse(let reject) where !reject: break  // a grant carries the future term
            case .append, .heartbeat, .timeoutNow:
                becomeFollower(term: m.term, leader: m.from, rng: &rng)
            default:
                becomeFollower(term: m.term, leader: nil, rng: &rng)
            }
        } else if m.term < term {
            switch m.kind {
            case .append, .heartbeat:
                // Tell a stale leader about the newer term so it steps down (needed with CheckQuorum/PreVote, where
                // its own vote requests would otherwise be ignored).
                send(m.from, .appendResponse(index: 0, reject: false, hint: 0))
            case .preVote:
                send(m.from, .preVoteResponse(reject: true))
            default: break
            }
            return
        }

        switch m.kind {
        case .preVote(let li, let lt), .vote(let li, let lt, _):
            let isPre: Bool = { if case .preVote = m.kind { return true }; return false }()
            let canVote = vote == m.from || (vote == nil && leader == nil) || (isPre && m.term > term)
            let upToDate = lt > lastTerm || (lt == lastTerm && li >= lastIndex)
            if canVote && upToDate {
                if isPre {
                    send(m.from, .preVoteResponse(reject: false), term: m.term)
                } else {
                    electionElapsed = 0; vote = m.from
                    send(m.from, .voteResponse(reject: false))
                }
            } else {
                send(m.from, isPre ? .preVoteResponse(reject: true) : .voteResponse(reject: true))
            }
            return
        case .wake:
            return  // the unquiesce above was its whole point
        default: break
        }

        switch role {
        case .leader: stepLeader(m)
        case .preCandidate, .candidate: stepCandidate(m, rng: &rng)
        case .follower: stepFollower(m, rng: &rng)
        }
    }

    mutating func stepLeader(_ m: RaftMessage) {
        guard progress[m.from] != nil else { return }
        progress[m.from]!.recentActive = true
        switch m.kind {
        case .appendResponse(let index, let reject, let hint):
            if reject {
                // Back up to just after the follower's last entry (its hint), never below what it matched.
                // A rejection at or below `match` is stale (reordered) and ignored.
                let p = progress[m.from]!
                if index > p.match {
                    progress[m.from]!.next = max(p.match + 1, min(index, hint + 1))
                    sendAppend(to: m.from)
                }
            } else if index > progress[m.from]!.match {
                progress[m.from]!.match = index
                progress[m.from]!.next = max(progress[m.from]!.next, index + 1)
                if maybeCommit() { broadcastPending = true } else if progress[m.from]!.next <= lastIndex { sendAppend(to: m.from) }
                if leadTransferee == m.from && progress[m.from]!.match == lastIndex { send(m.from, .timeoutNow) }
            }
        case .heartbeatResponse:
            if progress[m.from]!.match < lastIndex { sendAppend(to: m.from) }
        default: break
        }
    }

    mutating func stepCandidate(_ m: RaftMessage, rng: inout some RandomNumberGenerator) {
        switch m.kind {
        case .append, .heartbeat, .timeoutNow:
            becomeFollower(term: m.term, leader: m.from, rng: &rng)
            stepFollower(m, rng: &rng)
        case .preVoteResponse(let reject) where role == .preCandidate:
            tally(m.from, granted: !reject, rng: &rng)
        case .voteResponse(let reject) where role == .candidate:
            tally(m.from, granted: !reject, rng: &rng)
        default: break
        }
    }

    mutating func tally(_ from: NodeID, granted: Bool, rng: inout some RandomNumberGenerator) {
        guard members.contains(from) else { return }
        votes[from] = granted
        let yes = votes.values.filter { $0 }.count, no = votes.values.filter { !$0 }.count
        if yes >= quorum {
            if role == .preCandidate { campaign(.election, rng: &rng) } else { becomeLeader() }
        } else if no >= quorum {
            becomeFollower(term: term, leader: nil, rng: &rng)
        }
    }

    mutating func stepFollower(_ m: RaftMessage, rng: inout some RandomNumberGenerator) {
        switch m.kind {
        case .append(let prevIndex, let prevTerm, let entries, let leaderCommit):
            leader = m.from; electionElapsed = 0
            handleAppend(from: m.from, prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, leaderCommit: leaderCommit)
        case .heartbeat(let leaderCommit, let quiesce):
            leader = m.from; electionElapsed = 0
            if leaderCommit > commit && leaderCommit <= lastIndex { commit = leaderCommit }
            if quiesce && leaderCommit == lastIndex && commit == lastIndex {
                quiesced = true  // silent: the leader assumes we went quiet
            } else {
                send(m.from, .heartbeatResponse)
            }
        case .timeoutNow:
            leader = m.from
            campaign(.transfer, rng: &rng)
        default: break
        }
    }

    mutating func handleAppend(from: NodeID, prevIndex: LogIndex, prevTerm: Term, entries: [LogEntry], leaderCommit: LogIndex) {
        if prevIndex < commit {
            // Already committed here; everything up to commit matches by the Log Matching property.
            send(from, .appendResponse(index: commit, reject: false, hint: 0))
            return
        }
        guard termAt(prevIndex) == prevTerm else {
            send(from, .appendResponse(index: prevIndex, reject: true, hint: min(lastIndex, prevIndex > 0 ? prevIndex - 1 : 0)))
            return
        }
        var newLast = prevIndex
        for e in entries {
            precondition(e.index == newLast + 1, "append entries not contiguous at \(e.index)")
            if let t = termAt(e.index) {
                if t != e.term {
                    precondition(e.index > commit, "leader asked to overwrite committed index \(e.index) (commit \(commit))")
                    truncate(from: e.index)
                    appendEntry(e)
                }
            } else {
                appendEntry(e)
            }
            newLast = e.index
        }
        if leaderCommit > commit { commit = min(leaderCommit, newLast) }
        send(from, .appendResponse(index: newLast, reject: false, hint: 0))
    }

    mutating func truncate(from index: LogIndex) {
        log.removeSubrange(Int(index - 1)...)
        unstableFrom = min(unstableFrom, index)
        truncationFloor = min(truncationFloor ?? index, index)
        if configurationIndex >= index { recomputeConfiguration() }
    }

    mutating func appendEntry(_ e: LogEntry) {
        log.append(e)
        if case .configuration(let ms) = e.payload { applyConfiguration(ms, at: e.index) }
    }

    mutating func recomputeConfiguration() {
        members = bootstrapMembers; configurationIndex = 0
        for e in log.reversed() { if case .configuration(let ms) = e.payload { members = ms; configurationIndex = e.index; break } }
        if role == .leader { syncProgressToMembers() }
    }

    mutating func applyConfiguration(_ ms: [NodeID], at index: LogIndex) {
        members = ms; configurationIndex = index
        if role == .leader { syncProgressToMembers() }
    }

    mutating func syncProgressToMembers() {
        for m in members where m != id && progress[m] == nil { progress[m] = Progress(match: 0, next: lastIndex + 1, recentActive: true) }
        for k in progress.keys where !members.contains(k) { progress[k] = nil }
    }

    mutating func appendLocal(_ payload: EntryPayload) {
        if case .configuration = payload, configurationIndex != 0 { preconditionFailure("configuration appended outside proposeConfiguration") }
        appendEntry(LogEntry(term: term, index: lastIndex + 1, payload: payload))
        _ = maybeCommit()
    }

    /// Commit the highest index a majority (the leader included) holds, if it is of the leader's term (§5.4.2).
    mutating func maybeCommit() -> Bool {
        var matches = members.map { $0 == id ? lastIndex : (progress[$0]?.match ?? 0) }
        matches.sort(by: >)
        guard matches.count >= quorum else { return false }
        let candidate = matches[quorum - 1]
        if candidate > commit && termAt(candidate) == term { commit = candidate; return true }
        return false
    }

    mutating func sendAppend(to peer: NodeID) {
        guard let p = progress[peer] else { return }
        let prev = p.next - 1
        let upper = min(lastIndex, prev + LogIndex(SchedulingLimits.entriesPerAppendMax))
        let entries = prev < upper ? Array(log[Int(prev)..<Int(upper)]) : []
        send(peer, .append(prevIndex: prev, prevTerm: termAt(prev) ?? 0, entries: entries, commit: commit))
        if !entries.isEmpty { progress[peer]!.next = upper + 1 }  // optimistic pipelining
    }

    mutating func bcastAppend() {
        for m in members where m != id { sendAppend(to: m) }
    }

    mutating func bcastHeartbeat(quiesce: Bool) {
        for m in members where m != id {
            let c = min(progress[m]?.match ?? 0, commit)
            send(m, .heartbeat(commit: c, quiesce: quiesce))
        }
    }

    /// Quiesce when there is nothing to say: everything is committed in this term and every member has it all.
    mutating func tryQuiesce() -> Bool {
        guard role == .leader, !quiesced, !broadcastPending, leadTransferee == nil, lastTerm == term, commit == lastIndex else { return false }
        for m in members where m != id { guard progress[m]?.match == lastIndex else { return false } }
        bcastHeartbeat(quiesce: true)
        quiesced = true
        return true
    }

    // MARK: proposals

    /// Appends `payload` as the leader. Returns false when this member cannot take it now (not the leader, or a
    /// leader transfer is under way); the caller retries or forwards.
    public mutating func propose(_ payload: EntryPayload) -> Bool {
        guard role == .leader, leadTransferee == nil else { return false }
        if case .configuration = payload { preconditionFailure("use proposeConfiguration") }
        if quiesced { wake() }
        appendLocal(payload)
        broadcastPending = true
        return true
    }

    /// Whether the leader may propose a membership change now (committed in its term, none pending).
    public var canChangeConfiguration: Bool {
        role == .leader && leadTransferee == nil && termAt(commit) == term && configurationIndex <= commit
    }

    /// Proposes a single-server membership change. Refused (false) unless `canChangeConfiguration`, `newMembers`
    /// differs from `members` by exactly one server, and the leader stays a member.
    public mutating func proposeConfiguration(_ newMembers: [NodeID]) -> Bool {
        guard canChangeConfiguration, newMembers.contains(id) else { return false }
        let old = Set(members), new = Set(newMembers)
        guard new.count == newMembers.count, old.symmetricDifference(new).count == 1,
              newMembers.count <= SchedulingLimits.groupMembersMax else { return false }
        if quiesced { wake() }
        appendEntry(LogEntry(term: term, index: lastIndex + 1, payload: .configuration(newMembers)))
        _ = maybeCommit()
        bcastAppend()
        return true
    }

    /// Hands leadership to `target` (thesis §3.10): stop taking proposals, bring it up to date, send `timeoutNow`.
    /// Aborted after an election timeout.
    public mutating func transferLeadership(to target: NodeID) {
        guard role == .leader, target != id, members.contains(target) else { return }
        if quiesced { wake() }
        leadTransferee = target; transferElapsed = 0
        if progress[target]!.match == lastIndex { send(target, .timeoutNow) } else { sendAppend(to: target) }
    }

    // MARK: Ready

    var softState: SoftState { SoftState(role: role, leader: leader, quiesced: quiesced) }

    public var hasReady: Bool {
        !messages.isEmpty || broadcastPending || unstableFrom <= lastIndex || applied < commit || hardState != persistedHardState
            || softState != lastSoftState
    }

    /// The next batch (see `RaftReady` for the contract). Messages are moved out; the rest is released by `advance`.
    public mutating func ready() -> RaftReady {
        if broadcastPending {
            broadcastPending = false
            if role == .leader { bcastAppend() }   // a leader that stepped down since has nothing to send
        }
        let hs = hardState
        let r = RaftReady(
            hardState: hs != persistedHardState ? hs : nil,
            entries: unstableFrom <= lastIndex ? Array(log[Int(unstableFrom - 1)...]) : [],
            messages: messages,
            committedEntries: applied < commit ? Array(log[Int(applied)..<Int(commit)]) : [],
            softState: softState != lastSoftState ? softState : nil)
        messages = []
        return r
    }

    /// MUST be called after the shell carried out `r` (persisted, sent, applied).
    public mutating func advance(_ r: RaftReady) {
        if let hs = r.hardState { persistedHardState = hs }
        if let last = r.entries.last, last.index >= unstableFrom - 1 { unstableFrom = max(unstableFrom, last.index + 1) }
        if let last = r.committedEntries.last { applied = max(applied, last.index) }
        if let s = r.softState { lastSoftState = s }
    }
}
