import AOCore

/// Why a frame was refused. Decoding never traps on hostile input; every failure is one of these.
public struct SchedulingWireError: Error, Hashable, Sendable, CustomStringConvertible {
    enum Kind: Hashable, Sendable { case truncated, badTag, tooLarge, badValue, trailingBytes }
    let kind: Kind
    public let detail: String
    /// The frame ended inside a field.
    public static func truncated(_ d: String) -> Self { Self(kind: .truncated, detail: d) }
    /// A kind/enum tag byte had no meaning.
    public static func badTag(_ d: String) -> Self { Self(kind: .badTag, detail: d) }
    /// A count or length exceeded its `SchedulingLimits` bound.
    public static func tooLarge(_ d: String) -> Self { Self(kind: .tooLarge, detail: d) }
    /// A value was out of range (e.g. an overlong varint, invalid UTF-8).
    public static func badValue(_ d: String) -> Self { Self(kind: .badValue, detail: d) }
    /// Bytes were left after the frame's last field.
    public static func trailingBytes(_ d: String) -> Self { Self(kind: .trailingBytes, detail: d) }
    public var description: String { "\(kind): \(detail)" }
    public static func == (l: Self, r: Self) -> Bool { l.kind == r.kind }
    public func hash(into h: inout Hasher) { h.combine(kind) }
}

/// Compact binary writer: LEB128 varints for integers, raw 32-byte ids, length-prefixed byte strings.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    public init() {}
    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    public mutating func id(_ v: ID32) { bytes += v.bytes }
    public mutating func blob(_ v: [UInt8]) { varint(UInt64(v.count)); bytes += v }
    public mutating func bool(_ v: Bool) { u8(v ? 1 : 0) }
    /// Bytes already encoded by a writer (copied as they are).
    public mutating func raw(_ v: ArraySlice<UInt8>) { bytes += v }

    mutating func writeAssignmentFields(_ f: AssignmentFields) {
        id(f.process.raw); varint(f.slot)
        if let m = f.message { u8(1); id(m.raw) } else { u8(0) }
        id(f.hashChain); varint(f.blockHeight); varint(f.timestampMs); varint(f.term)
        if let k = f.outboxKey { u8(1); id(k.fromProcess.raw); blob(Array(k.reference.utf8)) } else { u8(0) }
    }
    mutating func writeSealed(_ s: SealedAssignment) {
        writeAssignmentFields(s.fields); id(s.signer.raw); blob(s.signature); id(s.id.raw)
    }
    mutating func writeEntry(_ e: LogEntry) {
        varint(e.term); varint(e.index)
        switch e.payload {
        case .noop: u8(0)
        case .configuration(let ms): u8(1); varint(UInt64(ms.count)); for m in ms { id(m.raw) }
        case .assignment(let s): u8(2); writeSealed(s)
        }
    }
    /// Writes `m` without `from`/`to` (the envelope's sender and receiver) or the group (the envelope item's).
    mutating func writeRaft(_ m: RaftMessage) {
        varint(m.term)
        switch m.kind {
        case .preVote(let li, let lt): u8(0); varint(li); varint(lt)
        case .preVoteResponse(let r): u8(1); bool(r)
        case .vote(let li, let lt, let t): u8(2); varint(li); varint(lt); bool(t)
        case .voteResponse(let r): u8(3); bool(r)
        case .append(let pi, let pt, let es, let c):
            u8(4); varint(pi); varint(pt); varint(c); varint(UInt64(es.count)); for e in es { writeEntry(e) }
        case .appendResponse(let i, let r, let h): u8(5); varint(i); bool(r); varint(h)
        case .heartbeat(let c, let q): u8(6); varint(c); bool(q)
        case .heartbeatResponse: u8(7)
        case .timeoutNow: u8(8)
        case .wake: u8(9)
        }
    }
}

/// The matching reader; every method throws `SchedulingWireError` instead of trapping.
public struct WireReader {
    let bytes: [UInt8]
    public private(set) var offset = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var isAtEnd: Bool { offset == bytes.count }

    public mutating func u8(_ what: String) throws(SchedulingWireError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(what) }
        defer { offset += 1 }
        return bytes[offset]
    }
    public mutating func varint(_ what: String) throws(SchedulingWireError) -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            let b = try u8(what)
            if shift == 63 && b > 1 { throw .badValue("\(what): varint overflows 64 bits") }
            v |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return v }
            shift += 7
            if shift > 63 { throw .badValue("\(what): varint longer than 10 bytes") }
        }
    }
    public mutating func id(_ what: String) throws(SchedulingWireError) -> ID32 {
        guard bytes.count - offset >= 32 else { throw .truncated(what) }
        defer { offset += 32 }
        return ID32(bytes: bytes[offset..<offset + 32])!
    }
    public mutating func blob(_ what: String, max: Int) throws(SchedulingWireError) -> [UInt8] {
        let n = try varint(what)
        guard n <= UInt64(max) else { throw .tooLarge("\(what): \(n) bytes > \(max)") }
        guard bytes.count - offset >= Int(n) else { throw .truncated(what) }
        defer { offset += Int(n) }
        return Array(bytes[offset..<offset + Int(n)])
    }
    public mutating func bool(_ what: String) throws(SchedulingWireError) -> Bool {
        switch try u8(what) { case 0: return false; case 1: return true; default: throw .badValue("\(what): not a bool") }
    }
    mutating func count(_ what: String, max: Int) throws(SchedulingWireError) -> Int {
        let n = try varint(what)
        guard n <= UInt64(max) else { throw .tooLarge("\(what): \(n) > \(max)") }
        return Int(n)
    }

    mutating func readAssignmentFields() throws(SchedulingWireError) -> AssignmentFields {
        let p = ProcessID(raw: try id("process")), slot = try varint("slot")
        let msg: MessageID? = try bool("has message") ? MessageID(raw: try id("message")) : nil
        let hc = try id("hash chain"), bh = try varint("block height"), ts = try varint("timestamp"), t = try varint("term")
        var key: OutboxKey?
        if try bool("has outbox key") {
            let fp = ProcessID(raw: try id("from process"))
            guard let r = String(validating: try blob("reference", max: 3072), as: UTF8.self) else { throw .badValue("reference is not UTF-8") }
            key = OutboxKey(fromProcess: fp, reference: r)
        }
        return AssignmentFields(process: p, slot: slot, message: msg, hashChain: hc, blockHeight: bh, timestampMs: ts, term: t, outboxKey: key)
    }
    mutating func readSealed() throws(SchedulingWireError) -> SealedAssignment {
        let f = try readAssignmentFields()
        let signer = NodeID(raw: try id("signer"))
        let sig = try blob("signature", max: SchedulingLimits.signatureBytesMax)
        return SealedAssignment(fields: f, signer: signer, signature: sig, id: MessageID(raw: try id("assignment id")))
    }
    mutating func readEntry() throws(SchedulingWireError) -> LogEntry {
        let t = try varint("entry term"), i = try varint("entry index")
        switch try u8("payload") {
        case 0: return LogEntry(term: t, index: i, payload: .noop)
        case 1:
            let n = try count("members", max: SchedulingLimits.configurationMembersMax)
            var ms: [NodeID] = []
            for _ in 0..<n { ms.append(NodeID(raw: try id("member"))) }
            return LogEntry(term: t, index: i, payload: .configuration(ms))
        case 2: return LogEntry(term: t, index: i, payload: .assignment(try readSealed()))
        case let b: throw .badTag("payload \(b)")
        }
    }
    mutating func readRaft(from: NodeID, to: NodeID) throws(SchedulingWireError) -> RaftMessage {
        let term = try varint("term")
        let kind: RaftMessage.Kind
        switch try u8("raft kind") {
        case 0: kind = .preVote(lastIndex: try varint("last index"), lastTerm: try varint("last term"))
        case 1: kind = .preVoteResponse(reject: try bool("reject"))
        case 2: kind = .vote(lastIndex: try varint("last index"), lastTerm: try varint("last term"), transfer: try bool("transfer"))
        case 3: kind = .voteResponse(reject: try bool("reject"))
        case 4:
            let pi = try varint("prev index"), pt = try varint("prev term"), c = try varint("commit")
            let n = try count("entries", max: SchedulingLimits.entriesPerAppendMax)
            var es: [LogEntry] = []
            for _ in 0..<n { es.append(try readEntry()) }
            // Entries must be contiguous after prevIndex: the core asserts it, so refuse it here as bad input.
            for (k, e) in es.enumerated() where e.index != pi &+ UInt64(k) &+ 1 { throw .badValue("entries not contiguous") }
            kind = .append(prevIndex: pi, prevTerm: pt, entries: es, commit: c)
        case 5: kind = .appendResponse(index: try varint("index"), reject: try bool("reject"), hint: try varint("hint"))
        case 6: kind = .heartbeat(commit: try varint("commit"), quiesce: try bool("quiesce"))
        case 7: kind = .heartbeatResponse
        case 8: kind = .timeoutNow
        case 9: kind = .wake
        case let b: throw .badTag("raft kind \(b)")
        }
        return RaftMessage(from: from, to: to, term: term, kind: kind)
    }
}
