import AOCore

/// AO's legacy Hash-Chain (ao-protocol.md §2.6), exactly as the SU writes it and the CU checks it:
///
///     HC(first) = SHA256( decode(process_id) )                          // the process's own assignment, slot 0
///     HC(n)     = SHA256( decode(prev_assignment_id) || decode(HC(n-1)) )
///
/// over the raw 32-byte values. "prev" is the previous item of the same process's schedule, the process's own
/// assignment included. HyperBEAM's `SHA256(prevHC ‖ msgId)` is a different chain and is not used here.
public enum HashChain {
    /// The chain value of the process's own assignment (slot 0).
    public static func first(process: ProcessID) -> ID32 {
        ID32(bytes: SHA2.sha256(process.bytes))!
    }

    /// The chain value of the item after the one with id `previousAssignment` and chain value `previous`.
    public static func next(previousAssignment: MessageID, previous: ID32) -> ID32 {
        ID32(bytes: SHA2.sha256(previousAssignment.bytes + previous.bytes))!
    }

    /// Checks that `assignments` (a contiguous run of one process's schedule) link: each chain value follows from
    /// the one before. When the run starts at slot 0 its first value must be `first(process:)`. Returns the slot
    /// of the first broken link, or nil when the run is valid.
    public static func firstBrokenSlot(_ assignments: [SealedAssignment]) -> Slot? {
        for (i, a) in assignments.enumerated() {
            if i == 0 {
                if a.fields.slot == 0 && a.fields.hashChain != first(process: a.fields.process) { return 0 }
                continue
            }
            let p = assignments[i - 1]
            if a.fields.slot != p.fields.slot + 1 || a.fields.process != p.fields.process { return a.fields.slot }
            if a.fields.hashChain != next(previousAssignment: p.id, previous: p.fields.hashChain) { return a.fields.slot }
        }
        return nil
    }
}
