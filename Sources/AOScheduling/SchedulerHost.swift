import AOCore

/// Settings of a `SchedulerHost`, in ticks (the node shell's tick is 50 ms by default).
public struct SchedulerHostSettings: Hashable, Sendable {
    public var raft = RaftSettings()
    /// `Scheduler-Replicas` when the process does not say: 3 tolerates one failure.
    public var replicasDefault = 3
    /// Every host sends `alive` to every scheduler peer this often, whatever the number of groups.
    public var livenessIntervalTicks: UInt64 = 2
    /// A peer not heard from for longer than this is suspected dead: the quiescent groups it leads wake up.
    public var livenessTimeoutTicks: UInt64 = 6
    /// A node retries forwarding an accepted, unassigned message this often.
    public var submissionRetryTicks: UInt64 = 6
    /// An open certificate round re-asks the members this often.
    public var certificateRetryTicks: UInt64 = 4
    /// The height used when the shell knows no Arweave height (from the network configuration, DESIGN.md §2).
    public var blockHeightDefault: UInt64 = 0
    public init() {}
}

/// A durable group as the shell stored it: what `HostReady.writes` wrote, and the applied index.
public struct DurableGroup: Hashable, Sendable {
    public var process: ProcessID
    public var bootstrapMembers: [NodeID]
    public var hardState: HardState
    public var log: [LogEntry]
    public var applied: LogIndex
    public init(process: ProcessID, bootstrapMembers: [NodeID], hardState: HardState, log: [LogEntry], applied: LogIndex) {
        self.process = process; self.bootstrapMembers = bootstrapMembers; self.hardState = hardState; self.log = log; self.applied = applied
    }
}

/// What one group must persist: truncate the stored log at `entries.first!.index`, append `entries`, store
/// `hardState`.
public struct GroupWrite: Hashable, Sendable {
    public var process: ProcessID
    public var bootstrapMembers: [NodeID]
    public var hardState: HardState?
    public var entries: [LogEntry]
}

/// Assignments a group committed, in slot order, and the log index the shell records as applied.
public struct GroupCommit: Hashable, Sendable {
    public var process: ProcessID
    public var assignments: [SealedAssignment]
    public var appliedIndex: LogIndex
}

/// One step's work for the node shell. The shell MUST, in order:
/// 1. persist every `writes` item durably (persist BEFORE send);
/// 2. send `envelopes` (each to its peer; encode with `HostEnvelope.encoded()`);
/// 3. record `commits` (committed assignments, durable since step 1 or earlier) with their applied index, and
///    publish `certificates`, report `equivocations`, and drop `submissionsAssigned` from its durable pending list;
/// 4. call `advance(_:)` before the next `ready()`.
/// Events may be fed to the host between `advance` and the next `ready()`, never between `ready()` and `advance`.
public struct HostReady: Sendable {
    public var writes: [GroupWrite] = []
    public var envelopes: [(to: NodeID, envelope: HostEnvelope)] = []
    public var commits: [GroupCommit] = []
    public var certificates: [QuorumCertificate] = []
    public var equivocations: [EquivocationProof] = []
    public var submissionsAssigned: [(process: ProcessID, message: MessageID, slot: Slot)] = []
    public var isEmpty: Bool {
        writes.isEmpty && envelopes.isEmpty && commits.isEmpty && certificates.isEmpty && equivocations.isEmpty
            && submissionsAssigned.isEmpty
    }
}

/// Why a submission was refused.
public struct SubmissionError: Error, Hashable, Sendable {
    enum Kind: Hashable, Sendable { case tooManyPending }
    let kind: Kind
    /// `SchedulingLimits.pendingSubmissionCountMax` submissions are already waiting; the client should retry later.
    public static let tooManyPending = SubmissionError(kind: .tooManyPending)
}

/// Counters a host keeps for metrics and the simulator's report.
public struct SchedulerHostCounters: Hashable, Sendable {
    public var envelopesRefused = 0
    public var itemsFromUnadmitted = 0
    public var invalidAssignmentSignatures = 0
    public var invalidCertificateShares = 0
    public var forwardsDropped = 0
    public var groupsWokenByLiveness = 0
}

/// All scheduling groups of one node: one Raft group per process this node is a member of, the forwarding of
/// accepted messages to the leader (retried until assigned), node-level liveness, quorum certificates, and the
/// equivocation detector.
///
/// Cost model: a quiescent group is not in `active` and is not visited by `onTick`; the only per-tick work is over
/// active groups, due submissions and the fixed liveness schedule (one `alive` per peer per interval). Outgoing items
/// are coalesced into one envelope per peer per step. So a node with 10,000 idle groups sends the same bytes per tick
/// as one with 10 (a simulator test checks it).
///
/// Membership: a process's bootstrap members are the top `Scheduler-Replicas` admitted nodes by rendezvous hashing
/// (DESIGN.md §5: admission is the network configuration, the same at every node, so every node bootstraps the same
/// group; self-made keys are never admitted). The leader then moves the configuration, one server at a time through the
/// log, toward the top nodes among the admitted *and announced* ones. Items from non-admitted peers are dropped.
///
/// Determinism: iteration over sets is always in sorted order, so a seed replays bit for bit.
public struct SchedulerHost: Sendable {
    public let nodeID: NodeID
    let signer: any SchedulingSigner & Sendable
    public let settings: SchedulerHostSettings
    public let admitted: Set<NodeID>
    public private(set) var announced: Set<NodeID>

    public private(set) var groups: [ProcessID: SchedulerGroup] = [:]
    public private(set) var replicas: [ProcessID: Int] = [:]
    /// Groups that need `tick`: not quiescent (or holding an open certificate round).
    public private(set) var active: Set<ProcessID> = []
    var dirty: Set<ProcessID> = []
    var leaderOf: [NodeID: Set<ProcessID>] = [:]
    var knownLeader: [ProcessID: NodeID] = [:]
    var reconfigure: Set<ProcessID> = []

    struct PendingKey: Hashable, Comparable {
        var process: ProcessID; var message: MessageID
        static func < (l: Self, r: Self) -> Bool { (l.process, l.message) < (r.process, r.message) }
    }
    /// `arrival` orders one node's submissions; `lastTarget` is where the last attempt went (this node's own id when
    /// it appended the message as leader; nil before the first attempt), `toLeader` whether that target was the
    /// leader this node knew then (a forward to any other node may be dropped or relayed out of order).
    struct Pending {
        var outboxKey: OutboxKey?; var nextAttempt: Tick; var attempts: Int; var arrival: UInt64
        /// The arrival of this node's previous submission for the same process (nil for the first).
        var previousArrival: UInt64?
        var lastTarget: NodeID? = nil; var toLeader = false
    }
    var pending: [PendingKey: Pending] = [:]
    /// Per process, this node's submissions in arrival order. Lazily compacted: an entry no longer in `pending`
    /// (assigned) is dropped the next time the process's order is read.
    var arrivalOrder: [ProcessID: [MessageID]] = [:]
    var nextArrival: UInt64 = 0
    var lastArrival: [ProcessID: UInt64] = [:]
    /// Per process: every still-pending submission that arrived at or before `through` last went to `target` (this
    /// node's own id: appended here as leader) while `target` was the known leader. It lets `attempt` skip the walk
    /// over earlier submissions in the common case (a new message to the same leader as the ones before it), which
    /// otherwise costs O(in flight) per submission. Any forward or local append that breaks it clears it.
    var routedPrefix: [ProcessID: (target: NodeID, through: UInt64)] = [:]
    var leaderHint: [ProcessID: NodeID] = [:]
    /// Leader-only and volatile: who to tell when a forwarded message commits.
    var origins: [ProcessID: [MessageID: Set<NodeID>]] = [:]

    struct CertificateRound { var subject: CertificateSubject; var shares: [NodeID: [UInt8]]; var configuration: [NodeID] }
    var certificateRound: [ProcessID: CertificateRound] = [:]
    var certifyNext: [ProcessID: SealedAssignment] = [:]
    var lastCertifiedSlot: [ProcessID: Slot] = [:]
    var certifyWaiting: [ProcessID: (CertificateSubject, NodeID)] = [:]

    public private(set) var detector = EquivocationDetector()
    var lastHeard: [NodeID: Tick] = [:]
    let incarnation: UInt64
    var peerIncarnation: [NodeID: UInt64] = [:]
    public private(set) var suspected: Set<NodeID> = []
    public private(set) var counters = SchedulerHostCounters()

    var outbox: [NodeID: [HostItem]] = [:]
    var awaitingAdvance = false
    var out = HostReady()
    public private(set) var now: Tick = 0
    var clockMs: UInt64 = 0
    var blockHeight: UInt64

    /// A host with no groups yet. `admitted` is the network configuration's scheduler set.
    /// `incarnation` MUST change at every start of the node (e.g. a durable boot counter).
    public init(signer: any SchedulingSigner & Sendable, admitted: Set<NodeID>, announced: Set<NodeID>? = nil,
                settings: SchedulerHostSettings = SchedulerHostSettings(), now: Tick = 0, incarnation: UInt64 = 0) {
        self.nodeID = signer.nodeID; self.signer = signer; self.settings = settings; self.incarnation = incarnation
        self.admitted = admitted; self.announced = announced ?? admitted
        self.blockHeight = settings.blockHeightDefault
        self.now = now
        for p in admitted where p != nodeID { lastHeard[p] = now }
    }

    /// A host restarted from the shell's durable state: its groups (quiescent until a message or request wakes
    /// them) and the accepted, not yet assigned submissions (retried at once).
    public init(signer: any SchedulingSigner & Sendable, admitted: Set<NodeID>, announced: Set<NodeID>? = nil,
                settings: SchedulerHostSettings = SchedulerHostSettings(), now: Tick, incarnation: UInt64, restoring durable: [DurableGroup],
                replicas: [ProcessID: Int], submissions: [(ProcessID, MessageID, OutboxKey?)], rng: inout some RandomNumberGenerator) {
        self.init(signer: signer, admitted: admitted, announced: announced, settings: settings, now: now, incarnation: incarnation)
        self.replicas = replicas
        for d in durable.sorted(by: { $0.process < $1.process }) {
            let raft = RaftCore(id: nodeID, members: d.bootstrapMembers, settings: settings.raft, hardState: d.hardState,
                                log: d.log, applied: d.applied, rng: &rng)
            groups[d.process] = SchedulerGroup(process: d.process, raft: raft)
            dirty.insert(d.process)
        }
        // A group this node is a bootstrap member of but never wrote (it crashed before its first batch) starts fresh:
        // with nothing durable it has voted for no one and holds no entry, so a fresh member is what it is.
        for p in replicas.keys.sorted() where groups[p] == nil && bootstrapMembers(of: p).contains(nodeID) {
            groups[p] = SchedulerGroup(process: p, raft: RaftCore(id: nodeID, members: bootstrapMembers(of: p), settings: settings.raft, rng: &rng))
            active.insert(p); dirty.insert(p)
        }
        // `submissions` come in the order they were accepted (the shell stores an arrival sequence), which is the
        // order they are assigned in.
        for (p, m, k) in submissions { addPending(PendingKey(process: p, message: m), outboxKey: k) }
    }

    // MARK: queries

    public func bootstrapMembers(of process: ProcessID) -> [NodeID] {
        let r = min(max(replicas[process] ?? settings.replicasDefault, 1), SchedulingLimits.groupMembersMax)
        return Rendezvous.members(process: process, candidates: admitted, count: r)
    }
    public var pendingSubmissionCount: Int { pending.count }
    /// The submissions still being retried (for reports).
    public var pendingSubmissions: [(ProcessID, MessageID, attempts: Int)] { pending.keys.sorted().map { ($0.process, $0.message, pending[$0]!.attempts) } }
    public func isPending(_ process: ProcessID, _ message: MessageID) -> Bool { pending[PendingKey(process: process, message: message)] != nil }

    // MARK: events

    /// MUST be invoked when this node learns a process (its spawn item): registers its replica count and, when this
    /// node is a bootstrap member, creates the group.
    ///
    /// `clockMs` (the wall clock, ms) matters when this node becomes the group's first leader at once: the process's
    /// own assignment (slot 0) takes its timestamp from the host's clock, which must not still be 0 on a node that
    /// has not ticked yet.
    public mutating func onProcess(_ process: ProcessID, replicas r: Int?, clockMs: UInt64 = 0, rng: inout some RandomNumberGenerator) {
        self.clockMs = max(self.clockMs, clockMs)
        replicas[process] = min(max(r ?? settings.replicasDefault, 1), SchedulingLimits.groupMembersMax)
        let members = bootstrapMembers(of: process)
        if groups[process] != nil {
            groups[process]!.raft.setBootstrapMembers(members)
        } else if members.contains(nodeID) {
            groups[process] = SchedulerGroup(process: process, raft: RaftCore(id: nodeID, members: members, settings: settings.raft, rng: &rng))
            active.insert(process); dirty.insert(process)
            // The top-ranked member campaigns at once, so a new process has a leader within a round trip instead of an
            // election timeout (PreVote makes this harmless if it is late or behind).
            if members.first == nodeID { groups[process]!.raft.campaignNow(rng: &rng) }
        }
    }

    /// MUST be invoked when the set of announced scheduler nodes changes (gossip). Leaders move their groups'
    /// configurations toward the rendezvous choice over admitted ∩ announced, one server at a time.
    public mutating func onSchedulersAnnounced(_ nodes: Set<NodeID>) {
        announced = nodes
        for (p, g) in groups.sorted(by: { $0.key < $1.key }) where g.raft.role == .leader {
            reconfigure.insert(p); wakeGroup(p, leaderSuspected: false)
        }
    }

    /// MUST be invoked when the shell learns a newer Arweave height (optional gateway).
    public mutating func onBlockHeight(_ height: UInt64) { blockHeight = max(blockHeight, height) }

    /// MUST be invoked once the shell holds `message` for `process` durably (and answered the client 202). The
    /// host forwards it to the leader and retries until it is assigned; the shell keeps it in its durable pending
    /// list until `HostReady.submissionsAssigned` names it, and passes that list back on restart.
    public mutating func onSubmit(_ process: ProcessID, message: MessageID, outboxKey: OutboxKey? = nil, now: Tick,
                                  clockMs: UInt64) throws(SubmissionError) {
        self.now = max(self.now, now); self.clockMs = max(self.clockMs, clockMs)
        let key = PendingKey(process: process, message: message)
        if pending[key] != nil { return }
        guard pending.count < SchedulingLimits.pendingSubmissionCountMax else { throw .tooManyPending }
        addPending(key, outboxKey: outboxKey)
        attempt(key)
    }

    mutating func addPending(_ key: PendingKey, outboxKey: OutboxKey?) {
        guard pending[key] == nil else { return }
        pending[key] = Pending(outboxKey: outboxKey, nextAttempt: now, attempts: 0, arrival: nextArrival,
                               previousArrival: lastArrival[key.process])
        lastArrival[key.process] = nextArrival
        nextArrival += 1
        arrivalOrder[key.process, default: []].append(key.message)
    }

    /// The still-pending submissions of `process` that arrived before `message`, oldest first; compacts the order.
    mutating func pendingBefore(_ process: ProcessID, _ message: MessageID) -> [MessageID] {
        guard let order = arrivalOrder[process] else { return [] }
        let live = order.filter { pending[PendingKey(process: process, message: $0)] != nil }
        if live.isEmpty { forgetArrivals(process) } else if live.count != order.count { arrivalOrder[process] = live }
        guard let i = live.firstIndex(of: message) else { return [] }
        return Array(live[..<i])
    }

    /// With nothing of `process` pending, its order and routing state go (the next submission has no predecessor).
    mutating func forgetArrivals(_ process: ProcessID) {
        arrivalOrder[process] = nil; lastArrival[process] = nil; routedPrefix[process] = nil
    }

    /// Whether every still-pending submission of `key.process` that arrived before `pend` is known to have gone to
    /// `target` as the known leader already (see `routedPrefix`), so `attempt` need not walk them.
    func earlierAlreadyRouted(_ key: PendingKey, _ pend: Pending, to target: NodeID) -> Bool {
        guard let previous = pend.previousArrival else { return true }
        guard let r = routedPrefix[key.process] else { return false }
        return r.target == target && r.through >= previous
    }

    /// Records that every still-pending submission of `process` up to `arrival` went to `target` as the known leader.
    mutating func markRouted(_ process: ProcessID, to target: NodeID, through arrival: UInt64) {
        let old = routedPrefix[process]
        routedPrefix[process] = (target, old?.target == target ? max(old!.through, arrival) : arrival)
    }

    /// MUST be invoked once per tick with the shell's tick count and wall clock (ms, used for AO's Timestamp).
    public mutating func onTick(now: Tick, clockMs: UInt64, rng: inout some RandomNumberGenerator) {
        self.now = now; self.clockMs = max(self.clockMs, clockMs)
        // Node-level liveness: a fixed schedule, independent of the number of groups.
        let peers = admitted.intersection(announced).subtracting([nodeID]).sorted()
        if now % settings.livenessIntervalTicks == 0 { for p in peers { outbox[p, default: []].append(.alive(incarnation: incarnation)) } }
        for p in peers where !suspected.contains(p) {
            if now > (lastHeard[p] ?? 0) + settings.livenessTimeoutTicks {
                suspected.insert(p)
                for g in (leaderOf[p] ?? []).sorted() { suspectLeader(of: g, p) }
            }
        }
        for p in active.sorted() {
            guard groups[p] != nil else { continue }
            let holdAwake = certificateRound[p] != nil || certifyNext[p] != nil || reconfigure.contains(p)
            groups[p]!.raft.tick(mayQuiesce: !holdAwake, rng: &rng)
            dirty.insert(p)
            if groups[p]!.raft.role == .leader {
                startCertificateRound(p)
                if now % settings.certificateRetryTicks == 0, let round = certificateRound[p] {
                    for m in round.configuration where m != nodeID && round.shares[m] == nil { outbox[m, default: []].append(.certifyRequest(round.subject)) }
                }
                if reconfigure.contains(p) { reconfigureStep(p) }
            }
        }
        if now % 20 == 0 {  // drop assigned messages from the arrival orders of processes that saw no attempt since
            for p in arrivalOrder.keys.sorted() {
                let live = arrivalOrder[p]!.filter { pending[PendingKey(process: p, message: $0)] != nil }
                if live.isEmpty { forgetArrivals(p) } else { arrivalOrder[p] = live }
            }
        }
        // Oldest first, so a retry round keeps each process's arrival order.
        let due = pending.filter { $0.value.nextAttempt <= now }.sorted { $0.value.arrival < $1.value.arrival }.map(\.key)
        for k in due { attempt(k) }
    }

    /// MUST be invoked for every envelope received from the authenticated peer `from`.
    public mutating func onEnvelope(_ bytes: [UInt8], from: NodeID, rng: inout some RandomNumberGenerator) {
        guard admitted.contains(from) else { counters.itemsFromUnadmitted += 1; return }
        let envelope: HostEnvelope
        do { envelope = try HostEnvelope.decode(bytes, from: from, to: nodeID) } catch { counters.envelopesRefused += 1; return }
        onEnvelope(envelope, from: from, rng: &rng)
    }

    public mutating func onEnvelope(_ envelope: HostEnvelope, from: NodeID, rng: inout some RandomNumberGenerator) {
        guard admitted.contains(from) else { counters.itemsFromUnadmitted += 1; return }
        lastHeard[from] = now
        suspected.remove(from)
        for item in envelope.items {
            switch item {
            case .alive(let i):
                // A new incarnation means the peer restarted: it leads nothing any more.
                if let old = peerIncarnation[from], old != i {
                    for g in (leaderOf[from] ?? []).sorted() { suspectLeader(of: g, from) }
                }
                peerIncarnation[from] = i
            case .raft(let p, let m): onRaft(p, m, rng: &rng)
            case .forward(let p, let m, let k, let origin): onForward(p, m, k, origin: origin, from: from)
            case .assigned(let p, let m, let s):
                leaderHint[p] = from
                if pending.removeValue(forKey: PendingKey(process: p, message: m)) != nil { out.submissionsAssigned.append((p, m, s)) }
            case .certifyRequest(let s): onCertifyRequest(s, from: from)
            case .certificateShare(let s, let sig): onCertificateShare(s, sig, from: from)
            }
        }
    }

    /// Asks a group's leader to hand over (operators, tests, and the host itself before removing a leader).
    public mutating func transferLeadership(_ process: ProcessID, to target: NodeID) {
        guard groups[process] != nil else { return }
        groups[process]!.raft.transferLeadership(to: target)
        dirty.insert(process); active.insert(process)
    }

    /// Starts an election in a group now (tests, operators).
    public mutating func campaign(_ process: ProcessID, rng: inout some RandomNumberGenerator) {
        guard groups[process] != nil else { return }
        groups[process]!.raft.campaignNow(rng: &rng)
        dirty.insert(process); active.insert(process)
    }

    /// One line of a group's state, for simulator failure reports.
    public func debugDescription(_ p: ProcessID) -> String {
        guard let g = groups[p] else { return "\(p): no group" }
        let r = g.raft
        return "\(p.base64URL.prefix(6)) role=\(r.role) term=\(r.term) leader=\(r.leader.map { String($0.base64URL.prefix(6)) } ?? "-") "
            + "quiesced=\(r.quiesced) last=\(r.lastIndex)/\(r.lastTerm) commit=\(r.commit) members=\(r.members.map { String($0.base64URL.prefix(6)) }) "
            + "match=\(r.matchIndexes.map { "\($0.key.base64URL.prefix(6)):\($0.value)" }.sorted()) round=\(certificateRound[p].map { "\($0.subject.slot) shares \($0.shares.count)" } ?? "-") "
            + "next=\(certifyNext[p]?.fields.slot.description ?? "-") reconf=\(reconfigure.contains(p)) transferee=\(r.leadTransferee.map { String($0.base64URL.prefix(6)) } ?? "-")"
    }

    // MARK: internals

    mutating func suspectLeader(of p: ProcessID, _ node: NodeID) {
        guard groups[p] != nil else { return }
        if groups[p]!.raft.quiesced { counters.groupsWokenByLiveness += 1 }
        groups[p]!.raft.leaderSuspected(node)
        active.insert(p); dirty.insert(p)
    }

    mutating func wakeGroup(_ p: ProcessID, leaderSuspected: Bool) {
        guard groups[p] != nil else { return }
        if groups[p]!.raft.quiesced {
            groups[p]!.raft.wake()
            if leaderSuspected { counters.groupsWokenByLiveness += 1 }
        }
        active.insert(p); dirty.insert(p)
    }

    mutating func onRaft(_ p: ProcessID, _ m: RaftMessage, rng: inout some RandomNumberGenerator) {
        if groups[p] == nil {
            // A member we did not know we were (a configuration change added us, or we have not seen the spawn yet):
            // join as a learner; the leader's log tells us the configuration.
            let members = replicas[p] != nil ? bootstrapMembers(of: p) : []
            groups[p] = SchedulerGroup(process: p, raft: RaftCore(id: nodeID, members: members, settings: settings.raft, rng: &rng))
        }
        if case .append(_, _, let entries, _) = m.kind {
            for e in entries {
                guard let a = e.assignment else { continue }
                guard signer.verify(a) else { counters.invalidAssignmentSignatures += 1; return }
                if let proof = detector.observe(a) { out.equivocations.append(proof) }
            }
        }
        let g = groups[p]!
        // The lease of a quiescent follower is node-level liveness, not heartbeats: if the leader's node has missed
        // its `alive` beats, honour the (pre)vote instead of waiting a whole timeout to suspect the leader ourselves.
        switch m.kind {
        case .preVote, .vote:
            if let l = g.raft.leader, l != nodeID, l != m.from, now > (lastHeard[l] ?? 0) + 2 * settings.livenessIntervalTicks {
                groups[p]!.raft.leaderSuspected(l)
            }
        default: break
        }
        groups[p]!.raft.onMessage(m, rng: &rng)
        dirty.insert(p); active.insert(p)
    }

    /// Forwards (or, on the leader, assigns) one pending submission. Per process, one node's submissions are
    /// assigned in the order it accepted them: before `key` goes anywhere, the earlier submissions still pending
    /// go first to the same place unless their last forward already went there (over one connection, in order).
    /// Without this a message forwarded to a leader that just died would be retried after later messages that
    /// reached the new leader, and be assigned after them.
    mutating func attempt(_ key: PendingKey) {
        guard var pend = pending[key] else { return }
        pend.nextAttempt = now + settings.submissionRetryTicks
        pend.attempts += 1
        pending[key] = pend
        let p = key.process
        if let g = groups[p] {
            if g.raft.role == .leader {
                let skipEarlier = earlierAlreadyRouted(key, pend, to: nodeID)
                routedPrefix[p] = nil
                var allAppended = true
                if !skipEarlier {
                    for m in pendingBefore(p, key.message) where pending[PendingKey(process: p, message: m)]?.lastTarget != nodeID {
                        allAppended = assignLocally(PendingKey(process: p, message: m)) && allAppended
                    }
                }
                if assignLocally(key) && allAppended { markRouted(p, to: nodeID, through: pend.arrival) }
                return
            }
            if g.raft.quiesced && g.raft.leader == nil { wakeGroup(p, leaderSuspected: false) }
        }
        let members = bootstrapMembers(of: p).filter { $0 != nodeID }
        let guess = groups[p]?.raft.leader ?? leaderHint[p]
        var target: NodeID?
        if let guess, guess != nodeID, pend.attempts % 2 == 1 { target = guess }
        else if !members.isEmpty { target = members[pend.attempts % members.count] }
        guard let target else { return }
        // An earlier submission already went ahead over the same connection only if it went to this same node while
        // that node was (and still is) the known leader; otherwise it may have been dropped or relayed, so it goes again.
        let toLeader = target == guess
        if !(toLeader && earlierAlreadyRouted(key, pend, to: target)) {
            for m in pendingBefore(p, key.message) {
                let earlier = PendingKey(process: p, message: m)
                guard let e = pending[earlier], !(e.lastTarget == target && e.toLeader && toLeader) else { continue }
                forward(earlier, to: target, toLeader: toLeader)
            }
        }
        forward(key, to: target, toLeader: toLeader)
        if toLeader { markRouted(p, to: target, through: pend.arrival) }
    }

    mutating func forward(_ key: PendingKey, to target: NodeID, toLeader: Bool) {
        guard var pend = pending[key] else { return }
        pend.lastTarget = target
        pend.toLeader = toLeader
        pending[key] = pend
        if !toLeader || routedPrefix[key.process]?.target != target { routedPrefix[key.process] = nil }
        outbox[target, default: []].append(.forward(key.process, key.message, pend.outboxKey, origin: nodeID))
    }

    /// On the leader: appends the submission to the group's log (a duplicate that is already committed is done).
    /// Returns false when the group could not take it (not leader, busy): it stays pending and unmarked.
    @discardableResult
    mutating func assignLocally(_ key: PendingKey) -> Bool {
        guard let pend = pending[key] else { return true }
        let p = key.process
        let outcome = groups[p]!.assign(message: key.message, outboxKey: pend.outboxKey, clockMs: clockMs, blockHeight: blockHeight, signer: signer)
        dirty.insert(p); active.insert(p)
        switch outcome {
        case .duplicate(let slot, true): pending[key] = nil; out.submissionsAssigned.append((p, key.message, slot)); return true
        case .appended, .duplicate: pending[key]!.lastTarget = nodeID; return true
        case .notLeader, .busy:  // retried; not marked, so it goes ahead of later messages then
            routedPrefix[p] = nil
            return false
        }
    }

    mutating func onForward(_ p: ProcessID, _ m: MessageID, _ k: OutboxKey?, origin: NodeID, from: NodeID) {
        guard groups[p] != nil else { counters.forwardsDropped += 1; return }
        let outcome = groups[p]!.assign(message: m, outboxKey: k, clockMs: clockMs, blockHeight: blockHeight, signer: signer)
        let g = groups[p]!
        dirty.insert(p)
        switch outcome {
        case .appended:
            active.insert(p)
            if origin != nodeID { origins[p, default: [:]][m, default: []].insert(origin) }
        case .duplicate(let slot, let committed):
            if committed {
                if origin != nodeID { outbox[origin, default: []].append(.assigned(p, m, slot)) }
            } else if origin != nodeID { origins[p, default: [:]][m, default: []].insert(origin) }
        case .notLeader(let leader):
            if let leader, leader != nodeID, from == origin {
                outbox[leader, default: []].append(.forward(p, m, k, origin: origin))  // one relay hop at most
            } else {
                counters.forwardsDropped += 1
                if g.raft.quiesced { wakeGroup(p, leaderSuspected: false) }
            }
        case .busy:
            counters.forwardsDropped += 1
        }
    }

    mutating func onCertifyRequest(_ s: CertificateSubject, from: NodeID) {
        guard let g = groups[s.process] else { return }
        if let (e, a) = g.assignment(atSlot: s.slot), e.index <= g.raft.applied {
            if a.id == s.assignment { outbox[from, default: []].append(.certificateShare(s, signer.signCertificate(s))) }
            return
        }
        certifyWaiting[s.process] = (s, from)
    }

    mutating func onCertificateShare(_ s: CertificateSubject, _ sig: [UInt8], from: NodeID) {
        guard var round = certificateRound[s.process], round.subject == s, round.configuration.contains(from) else { return }
        guard signer.verifyCertificateShare(s, signer: from, signature: sig) else { counters.invalidCertificateShares += 1; return }
        round.shares[from] = sig
        certificateRound[s.process] = round
        maybeCompleteCertificate(s.process)
    }

    mutating func maybeCompleteCertificate(_ p: ProcessID) {
        guard let round = certificateRound[p], round.shares.count >= round.configuration.count / 2 + 1 else { return }
        out.certificates.append(QuorumCertificate(subject: round.subject, configuration: round.configuration, signatures: round.shares))
        lastCertifiedSlot[p] = round.subject.slot
        certificateRound[p] = nil
        startCertificateRound(p)
    }

    mutating func startCertificateRound(_ p: ProcessID) {
        guard certificateRound[p] == nil, let a = certifyNext[p], let g = groups[p], g.raft.role == .leader else { return }
        certifyNext[p] = nil
        if let last = lastCertifiedSlot[p], last >= a.fields.slot { return }
        let s = CertificateSubject(process: p, slot: a.fields.slot, assignment: a.id)
        let config = g.raft.members
        certificateRound[p] = CertificateRound(subject: s, shares: [nodeID: signer.signCertificate(s)], configuration: config)
        for m in config where m != nodeID { outbox[m, default: []].append(.certifyRequest(s)) }
        active.insert(p)
        maybeCompleteCertificate(p)
    }

    mutating func reconfigureStep(_ p: ProcessID) {
        guard let g = groups[p], g.raft.role == .leader else { reconfigure.remove(p); return }
        let r = replicas[p] ?? settings.replicasDefault
        let desired = Rendezvous.members(process: p, candidates: admitted.intersection(announced), count: r)
        let current = g.raft.members
        if Set(desired) == Set(current) || desired.isEmpty { reconfigure.remove(p); return }
        guard g.raft.canChangeConfiguration else { return }
        if let add = desired.first(where: { !current.contains($0) }), current.count < max(r, desired.count) || !current.contains(where: { !desired.contains($0) }) {
            _ = groups[p]!.raft.proposeConfiguration(current + [add])
        } else if let remove = current.first(where: { !desired.contains($0) }) {
            if remove == nodeID {
                if let target = desired.first(where: { current.contains($0) }) { groups[p]!.raft.transferLeadership(to: target) }
            } else {
                _ = groups[p]!.raft.proposeConfiguration(current.filter { $0 != remove })
            }
        } else if let add = desired.first(where: { !current.contains($0) }) {
            _ = groups[p]!.raft.proposeConfiguration(current + [add])
        }
        dirty.insert(p)
    }

    // MARK: Ready

    /// Collects the work of every group touched since the last call (see `HostReady` for the contract).
    public mutating func ready() -> HostReady {
        precondition(!awaitingAdvance, "ready() called twice without advance() on host \(nodeID)")
        // A group may be touched again while its batch is handled (a new leader writes slot 0), so loop until calm.
        // Each group's Raft batch is released at once: the whole HostReady is persisted before any of it is sent,
        // which is the order Raft needs, and a crash before that loses the host's memory as well.
        while !dirty.isEmpty {
            let batch = dirty.sorted()
            dirty = []
            for p in batch {
                guard groups[p] != nil else { continue }
                if groups[p]!.raft.hasReady {
                    let r = groups[p]!.raft.ready()
                    groups[p]!.raft.advance(r)
                    groups[p]!.reindex()
                    let g = groups[p]!
                    if !r.entries.isEmpty || r.hardState != nil {
                        out.writes.append(GroupWrite(process: p, bootstrapMembers: g.raft.bootstrapMembers, hardState: r.hardState, entries: r.entries))
                    }
                    for m in r.messages { outbox[m.to, default: []].append(.raft(p, m)) }
                    if let s = r.softState { noteSoftState(p, s) }
                    if !r.committedEntries.isEmpty { apply(p, r.committedEntries) }
                }
                let g2 = groups[p]!
                if g2.raft.quiesced && certificateRound[p] == nil && certifyNext[p] == nil && !g2.raft.hasReady { active.remove(p) } else { active.insert(p) }
            }
        }
        for (to, items) in outbox.sorted(by: { $0.key < $1.key }) where !items.isEmpty {
            out.envelopes.append((to, HostEnvelope(items: items)))
        }
        outbox = [:]
        let r = out
        out = HostReady()
        awaitingAdvance = true
        return r
    }

    /// MUST be called once the shell carried out `ready` (persisted, sent, recorded).
    public mutating func advance(_ ready: HostReady) {
        precondition(awaitingAdvance, "advance() without ready() on host \(nodeID)")
        awaitingAdvance = false
    }

    mutating func noteSoftState(_ p: ProcessID, _ s: SoftState) {
        if let old = knownLeader[p] { leaderOf[old]?.remove(p) }
        knownLeader[p] = s.leader
        if let l = s.leader, l != nodeID { leaderOf[l, default: []].insert(p) }
        if s.role == .leader {
            // The process's own assignment is slot 0: the first leader writes it before anything else.
            if let g = groups[p], g.chainTip() == nil {
                _ = groups[p]!.assign(message: nil, outboxKey: nil, clockMs: clockMs, blockHeight: blockHeight, signer: signer)
                dirty.insert(p)
            }
            if let g = groups[p], Set(g.raft.members) != Set(Rendezvous.members(process: p, candidates: admitted.intersection(announced), count: replicas[p] ?? settings.replicasDefault)) {
                reconfigure.insert(p)
            }
            // A new leader certifies what is committed, so a certificate exists even if the old leader died mid-round.
            if let tip = groups[p]?.chainTip(), let g = groups[p], let (e, _) = g.assignment(atSlot: tip.fields.slot), e.index <= g.raft.commit {
                certifyNext[p] = tip
                startCertificateRound(p)
            }
        } else {
            origins[p] = nil; certificateRound[p] = nil; certifyNext[p] = nil; reconfigure.remove(p)
        }
    }

    mutating func apply(_ p: ProcessID, _ entries: [LogEntry]) {
        var assignments: [SealedAssignment] = []
        for e in entries {
            guard let a = e.assignment else { continue }
            assignments.append(a)
            let m = a.fields.message ?? MessageID(p)
            if pending.removeValue(forKey: PendingKey(process: p, message: m)) != nil { out.submissionsAssigned.append((p, m, a.fields.slot)) }
            if let who = origins[p]?.removeValue(forKey: m) {
                for o in who.sorted() where o != nodeID { outbox[o, default: []].append(.assigned(p, m, a.fields.slot)) }
            }
        }
        out.commits.append(GroupCommit(process: p, assignments: assignments, appliedIndex: entries.last!.index))
        guard let last = assignments.last, let g = groups[p] else { return }
        if g.raft.role == .leader {
            certifyNext[p] = last
            startCertificateRound(p)
        }
        if let (s, leader) = certifyWaiting[p], s.slot <= last.fields.slot {
            certifyWaiting[p] = nil
            if let (e, a) = g.assignment(atSlot: s.slot), e.index <= entries.last!.index, a.id == s.assignment {
                outbox[leader, default: []].append(.certificateShare(s, signer.signCertificate(s)))
            }
        }
    }
}
