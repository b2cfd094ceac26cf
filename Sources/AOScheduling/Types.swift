import AOCore

/// A Raft term. It travels on every assignment as aonode's extra `Term` tag; AO's `Epoch` stays `"0"`.
public typealias Term = UInt64
/// A position in a group's replicated log (1-based; 0 means "before the first entry").
public typealias LogIndex = UInt64
/// A position in a process's schedule: AO's `Nonce`. The process's own assignment is slot 0.
public typealias Slot = UInt64

/// The durable part of a Raft member's state: what it MUST have persisted before any message it sends leaves.
public struct HardState: Hashable, Sendable {
    public var term: Term
    /// The candidate this member voted for in `term`, if any.
    public var vote: NodeID?
    /// The highest index known committed. Persisting it is optional for safety (it can be relearned) but makes
    /// restarts apply sooner.
    public var commit: LogIndex
    public init(term: Term = 0, vote: NodeID? = nil, commit: LogIndex = 0) {
        self.term = term; self.vote = vote; self.commit = commit
    }
}

/// The role of a member, as Raft names it; `preCandidate` is PreVote's trial round.
public enum RaftRole: String, Sendable, Hashable {
    case follower, preCandidate, candidate, leader
}

/// Deduplication key for outbox messages pushed by another process's scheduler: AO's MU and SU dedupe pushed
/// messages by the sending process and the sender's `Reference`, so a retried crank cannot be scheduled twice.
public struct OutboxKey: Hashable, Sendable {
    public var fromProcess: ProcessID
    public var reference: String
    public init(fromProcess: ProcessID, reference: String) { self.fromProcess = fromProcess; self.reference = reference }
}
