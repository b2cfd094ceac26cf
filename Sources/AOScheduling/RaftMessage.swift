import AOCore

/// What a log entry carries. aonode's log holds assignments; `noop` is the entry a new leader appends to commit its
/// term (Raft §5.4.2); `configuration` changes the group's members through the log (one server at a time).
public enum EntryPayload: Hashable, Sendable {
    case noop
    case configuration([NodeID])
    case assignment(SealedAssignment)
}

public struct LogEntry: Hashable, Sendable {
    public var term: Term
    public var index: LogIndex
    public var payload: EntryPayload
    public init(term: Term, index: LogIndex, payload: EntryPayload) {
        self.term = term; self.index = index; self.payload = payload
    }
    public var assignment: SealedAssignment? {
        if case .assignment(let a) = payload { return a }
        return nil
    }
}

/// One Raft message between two members of one group. The host adds the group (the process id) and coalesces all
/// messages to one peer into one envelope (`HostEnvelope`).
public struct RaftMessage: Hashable, Sendable {
    public var from: NodeID
    public var to: NodeID
    /// The sender's term, except on `preVote` (the term the sender would campaign in) and a granted
    /// `preVoteResponse` (the term it grants).
    public var term: Term
    public var kind: Kind

    public enum Kind: Hashable, Sendable {
        /// PreVote (Raft thesis §9.6): "would you vote for me in `term`?" Changes no one's term.
        case preVote(lastIndex: LogIndex, lastTerm: Term)
        case preVoteResponse(reject: Bool)
        /// `transfer`: sent by a leader-transfer target; bypasses the leader lease.
        case vote(lastIndex: LogIndex, lastTerm: Term, transfer: Bool)
        case voteResponse(reject: Bool)
        case append(prevIndex: LogIndex, prevTerm: Term, entries: [LogEntry], commit: LogIndex)
        /// `index`: the follower's last matching index (accepted) or the rejected `prevIndex`;
        /// `hint`: on reject, the follower's last index, so the leader backs up in one step.
        case appendResponse(index: LogIndex, reject: Bool, hint: LogIndex)
        /// `commit` is at most the follower's known match, so a heartbeat never commits entries the follower lacks.
        /// `quiesce`: the leader is going quiet; a follower whose log ends at `commit` stops its election timer.
        case heartbeat(commit: LogIndex, quiesce: Bool)
        case heartbeatResponse
        /// Leader transfer: "campaign now".
        case timeoutNow
        /// A member woke a quiescent group (it got a request or a peer's message): the leader resumes heartbeats.
        case wake
    }

    public init(from: NodeID, to: NodeID, term: Term, kind: Kind) {
        self.from = from; self.to = to; self.term = term; self.kind = kind
    }

    public var isHeartbeatTraffic: Bool {
        switch kind { case .heartbeat, .heartbeatResponse: return true; default: return false }
    }
}
