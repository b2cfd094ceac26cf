import AOCore

/// The bytes a node shell stores for its scheduling groups (Raft log entries, hard state, the outbox key of a
/// pending submission). Same encoding as the wire (`WireWriter`), so a stored entry and a replicated one are the
/// same bytes; decoding hostile or corrupt bytes throws `SchedulingWireError`, never traps.
public enum DurableCodec {
    public static func encode(_ entry: LogEntry) -> [UInt8] {
        var w = WireWriter(); w.writeEntry(entry); return w.bytes
    }
    public static func decodeEntry(_ bytes: [UInt8]) throws(SchedulingWireError) -> LogEntry {
        var r = WireReader(bytes)
        let e = try r.readEntry()
        guard r.isAtEnd else { throw .trailingBytes("log entry") }
        return e
    }

    /// Hard state plus the group's bootstrap members and applied index: one record per group.
    public static func encode(hardState: HardState, bootstrapMembers: [NodeID], applied: LogIndex) -> [UInt8] {
        var w = WireWriter()
        w.varint(hardState.term)
        if let v = hardState.vote { w.u8(1); w.id(v.raw) } else { w.u8(0) }
        w.varint(hardState.commit)
        w.varint(applied)
        w.varint(UInt64(bootstrapMembers.count))
        for m in bootstrapMembers { w.id(m.raw) }
        return w.bytes
    }
    public static func decodeGroupState(_ bytes: [UInt8]) throws(SchedulingWireError)
        -> (hardState: HardState, bootstrapMembers: [NodeID], applied: LogIndex) {
        var r = WireReader(bytes)
        let term = try r.varint("term")
        let vote: NodeID? = try r.bool("has vote") ? NodeID(raw: try r.id("vote")) : nil
        let commit = try r.varint("commit"), applied = try r.varint("applied")
        let n = try r.count("members", max: SchedulingLimits.configurationMembersMax)
        var members: [NodeID] = []
        for _ in 0..<n { members.append(NodeID(raw: try r.id("member"))) }
        guard r.isAtEnd else { throw .trailingBytes("group state") }
        return (HardState(term: term, vote: vote, commit: commit), members, applied)
    }

    public static func encode(outboxKey: OutboxKey?) -> [UInt8] {
        var w = WireWriter()
        if let k = outboxKey { w.u8(1); w.id(k.fromProcess.raw); w.blob(Array(k.reference.utf8)) } else { w.u8(0) }
        return w.bytes
    }
    public static func decodeOutboxKey(_ bytes: [UInt8]) throws(SchedulingWireError) -> OutboxKey? {
        var r = WireReader(bytes)
        return try readOutboxKey(&r)
    }

    /// A pending submission's record: its outbox key and the node's arrival sequence, so a restart forwards the
    /// submissions in the order they were accepted. A record written before the sequence existed reads as arrival 0.
    public static func encode(pendingOutboxKey outboxKey: OutboxKey?, arrival: UInt64) -> [UInt8] {
        var w = WireWriter()
        w.varint(arrival)
        return encode(outboxKey: outboxKey) + w.bytes
    }
    public static func decodePending(_ bytes: [UInt8]) throws(SchedulingWireError) -> (outboxKey: OutboxKey?, arrival: UInt64) {
        var r = WireReader(bytes)
        let key = try readOutboxKey(&r)
        let arrival = r.isAtEnd ? 0 : try r.varint("arrival")
        guard r.isAtEnd else { throw .trailingBytes("pending submission") }
        return (key, arrival)
    }

    static func readOutboxKey(_ r: inout WireReader) throws(SchedulingWireError) -> OutboxKey? {
        guard try r.bool("has outbox key") else { return nil }
        let p = ProcessID(raw: try r.id("from process"))
        guard let ref = String(validating: try r.blob("reference", max: 3072), as: UTF8.self) else {
            throw .badValue("reference is not UTF-8")
        }
        return OutboxKey(fromProcess: p, reference: ref)
    }
}
