import AOCore

/// What `SchedulerGroup.assign` did with a message.
public enum AssignOutcome: Hashable, Sendable {
    /// Appended at `slot` (log index `index`); committed later, at a majority.
    case appended(slot: Slot, index: LogIndex)
    /// Already in this leader's log (same message id, or same outbox key): at most once per process.
    case duplicate(slot: Slot, committed: Bool)
    /// This member is not the leader; `leader` is its best guess.
    case notLeader(leader: NodeID?)
    /// The leader cannot take proposals now (a leader transfer is under way). Retry.
    case busy
}

/// One process's scheduling group at one member: the Raft core plus the slot assigner the leader runs.
///
/// The slot assigner is the AO scheduler (ao-protocol.md §2.5, §2.6): for each new message it gives the next slot
/// (the process's own assignment is slot 0, written by the first leader before anything else), a timestamp that never
/// goes backwards (max of the injected clock and the previous assignment's), the Block-Height (max of the leader's
/// known height and the previous one: DESIGN.md §2), and the Hash-Chain over the previous assignment's id. It reads
/// all of that from the tip of its own log, so a new leader continues exactly where the log ends: the Raft leader's
/// log holds every committed entry (Leader Completeness), and uncommitted ones of older terms become its own.
///
/// Dedupe: a message id at most once per process, and an outbox message at most once per (From-Process, Reference).
/// The leader checks its whole log (committed or not) through an index that is validated against the log on
/// lookup, so entries truncated by a new leader never block a retry.
public struct SchedulerGroup: Sendable {
    public let process: ProcessID
    public internal(set) var raft: RaftCore

    var messageIndex: [MessageID: LogIndex] = [:]
    var outboxIndex: [OutboxKey: LogIndex] = [:]
    var slotIndex: [Slot: LogIndex] = [:]
    var indexedThrough: LogIndex = 0

    public init(process: ProcessID, raft: RaftCore) {
        self.process = process; self.raft = raft
        reindex()
    }

    /// Brings the dedupe/slot indexes up to date with the log (cheap: only new or truncated entries).
    mutating func reindex() {
        if let floor = raft.takeTruncationFloor() { indexedThrough = min(indexedThrough, floor - 1) }
        while indexedThrough < raft.lastIndex {
            indexedThrough += 1
            guard let a = raft.entry(at: indexedThrough)?.assignment else { continue }
            let f = a.fields
            if let m = f.message { messageIndex[m] = indexedThrough }
            if let k = f.outboxKey { outboxIndex[k] = indexedThrough }
            slotIndex[f.slot] = indexedThrough
        }
    }

    /// The assignment at `slot` in this member's log, if any (committed or not).
    public func assignment(atSlot slot: Slot) -> (entry: LogEntry, assignment: SealedAssignment)? {
        guard let i = slotIndex[slot], let e = raft.entry(at: i), let a = e.assignment, a.fields.slot == slot else { return nil }
        return (e, a)
    }

    func lookup(message: MessageID?, outboxKey: OutboxKey?) -> (slot: Slot, index: LogIndex)? {
        if message == nil || message == MessageID(process) {
            if let (e, a) = assignment(atSlot: 0) { return (a.fields.slot, e.index) }
            return nil
        }
        if let m = message, let i = messageIndex[m], let a = raft.entry(at: i)?.assignment, a.fields.message == m {
            return (a.fields.slot, i)
        }
        if let k = outboxKey, let i = outboxIndex[k], let a = raft.entry(at: i)?.assignment, a.fields.outboxKey == k {
            return (a.fields.slot, i)
        }
        return nil
    }

    /// The last assignment in this member's log.
    public func chainTip() -> SealedAssignment? {
        var i = raft.lastIndex
        while i > 0 {
            if let a = raft.entry(at: i)?.assignment { return a }
            i -= 1
        }
        return nil
    }

    /// The leader's slot assigner. `message` nil (or the process id) asks for the process's own assignment.
    /// `clockMs` and `blockHeight` are the shell's inputs (wall clock and the latest known Arweave height).
    public mutating func assign(message: MessageID?, outboxKey: OutboxKey?, clockMs: UInt64, blockHeight: UInt64,
                                signer: some SchedulingSigner) -> AssignOutcome {
        reindex()
        guard raft.role == .leader else { return .notLeader(leader: raft.leader) }
        guard raft.leadTransferee == nil else { return .busy }
        if let hit = lookup(message: message, outboxKey: outboxKey) {
            return .duplicate(slot: hit.slot, committed: hit.index <= raft.commit)
        }
        var tip = chainTip()
        if tip == nil {
            // Slot 0 is the process's own assignment (aop-6); it comes first whatever was asked.
            let genesis = AssignmentFields(process: process, slot: 0, message: nil, hashChain: HashChain.first(process: process),
                                           blockHeight: blockHeight, timestampMs: clockMs, term: raft.term)
            let sealed = signer.seal(genesis)
            guard raft.propose(.assignment(sealed)) else { return .busy }
            reindex()
            if message == nil || message == MessageID(process) { return .appended(slot: 0, index: raft.lastIndex) }
            tip = sealed
        }
        let prev = tip!
        let fields = AssignmentFields(
            process: process, slot: prev.fields.slot + 1, message: message,
            hashChain: HashChain.next(previousAssignment: prev.id, previous: prev.fields.hashChain),
            blockHeight: max(blockHeight, prev.fields.blockHeight), timestampMs: max(clockMs, prev.fields.timestampMs),
            term: raft.term, outboxKey: outboxKey)
        guard raft.propose(.assignment(signer.seal(fields))) else { return .busy }
        reindex()
        return .appended(slot: fields.slot, index: raft.lastIndex)
    }
}
