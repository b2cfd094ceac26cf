import AOCore

/// Every bound of the scheduling layer, in one place (CONVENTIONS.md C11). Units are last in the names.
public enum SchedulingLimits {
    /// Entries carried by one append message: bounds a frame (an assignment entry is ~250 bytes encoded, so ~64 KiB)
    /// while still letting a lagging follower catch up by thousands of entries per round trip.
    public static let entriesPerAppendMax = 256
    /// Members of one group. `Scheduler-Replicas` above this is clamped: Raft's commit latency grows with the group
    /// and 7 already tolerates 3 failures.
    public static let groupMembersMax = 7
    /// Submissions a leader queues while it cannot append (transfer in progress); more are dropped and retried by
    /// their submitters, who keep the durable copy.
    public static let proposalQueueCountMax = 4096
    /// Submissions a host keeps retrying at once. The shell keeps the durable list; a submission beyond this is
    /// refused with a typed error so the client sees back-pressure instead of a silent drop.
    public static let pendingSubmissionCountMax = 100_000
    /// Open certificate rounds per group: bounds memory when followers never answer.
    public static let certificateRoundsPerGroupMax = 64
    /// Bytes of one decoded wire envelope (a coalesced batch to one peer). Larger frames are refused by the decoder.
    public static let envelopeBytesMax = 8 << 20
    /// Group messages in one envelope: bounds decoder work on hostile input.
    public static let envelopeMessagesMax = 65_536
    /// Members listed in a configuration entry on the wire (a hostile peer cannot make us allocate more).
    public static let configurationMembersMax = 64
    /// Signature bytes accepted in an assignment or certificate share (ed25519 is 64, Arweave RSA-4096 is 512).
    public static let signatureBytesMax = 512
    /// Equivocation proofs a detector keeps; older ones have been reported already.
    public static let equivocationProofsMax = 1024
}
