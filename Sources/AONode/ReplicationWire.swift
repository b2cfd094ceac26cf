import AOCore

/// Limits of the replication protocol (channel 3). Every count and size a peer sends is checked against these
/// before anything is allocated.
enum ReplicationLimits {
    /// Ids in one `want` (a missing process, a few missing message bodies: small by nature).
    static let wantIDsMax = 256
    /// Items in one `items` answer: a sync page holds at most `syncSlotsMax` assignments and their messages.
    static let itemsMax = 2 * syncSlotsMax + 16
    /// Slots one sync request may ask for (a page; the requester asks again while it is behind).
    static let syncSlotsMax = 256
    /// Bytes of items an answer carries before the responder stops adding (one item may exceed it alone, up to
    /// the node's item limit), so an answer never approaches the transport's 64 MiB stream limit.
    static let answerBytesMax = 8 << 20
    /// Bytes one `want` is answered with in total (all pages): what a peer asks beyond it is answered `notFound`
    /// (it asks again or elsewhere), so 256 ids of large items cannot make a node queue gigabytes for one peer.
    static let wantAnswerBytesMax = 64 << 20
    /// Processes in one summary (each entry is 72 bytes: 288 KiB at most).
    static let summaryProcessesMax = 4096
    /// One item's bytes on the wire: the transport stream limit (64 MiB) bounds it again.
    static let itemBytesMax = 64 << 20
}

/// Why bytes on the replication channel did not decode (the sender is counted and ignored, never trusted).
struct ReplicationWireError: Error, Equatable, CustomStringConvertible {
    enum Kind: Equatable {
        case empty, unknownKind(UInt8), truncated, countTooLarge(Int), itemTooLarge(Int), trailingBytes(Int), badFlag(UInt8)
    }
    let kind: Kind
    /// No bytes at all.
    static let empty = ReplicationWireError(kind: .empty)
    /// The first byte names no message kind.
    static func unknownKind(_ k: UInt8) -> Self { .init(kind: .unknownKind(k)) }
    /// The bytes end before the message does.
    static let truncated = ReplicationWireError(kind: .truncated)
    /// A count above its limit (`ReplicationLimits`).
    static func countTooLarge(_ n: Int) -> Self { .init(kind: .countTooLarge(n)) }
    /// An item length above `ReplicationLimits.itemBytesMax`.
    static func itemTooLarge(_ n: Int) -> Self { .init(kind: .itemTooLarge(n)) }
    /// A flag byte other than 0 or 1 (one encoding per message, so a decoded message re-encodes to its bytes).
    static func badFlag(_ b: UInt8) -> Self { .init(kind: .badFlag(b)) }
    /// Bytes left after a complete message.
    static func trailingBytes(_ n: Int) -> Self { .init(kind: .trailingBytes(n)) }
    var description: String { "replication wire: \(kind)" }
}

/// One process in a summary: how many slots the sender has (0: none) and the id of its last assignment.
struct ProcessTip: Equatable, Sendable {
    var process: ProcessID
    /// Slots held, contiguous from 0 (latest slot + 1).
    var slotCount: UInt64
    /// The assignment id at slot `slotCount - 1` (zero bytes when `slotCount == 0`): two nodes with the same count
    /// and different tips have diverging logs, which must never happen (counted as `tipMismatches`).
    var tip: ID32
}

/// The replication protocol: requests carry an id the answer repeats. Layout: one kind byte, then fixed-width
/// big-endian integers, 32-byte ids, and u32-length-prefixed item bytes.
enum ReplicationMessage: Equatable, Sendable {
    /// Send me these items (by data item id).
    case want(request: UInt64, ids: [MessageID])
    /// Items answering a `want` or a `sync` (for a sync: in slot order, each slot's message before its assignment).
    /// `more` is true when the responder stopped early (limit or bytes) and has further slots.
    case items(request: UInt64, items: [[UInt8]], more: Bool)
    /// These ids of a `want` are not in the responder's store.
    case notFound(request: UInt64, ids: [MessageID])
    /// Send me the log of `process` from `fromSlot`, at most `limit` slots.
    case sync(request: UInt64, process: ProcessID, fromSlot: UInt64, limit: UInt32)
    /// What the sender has, per process (anti-entropy).
    case summary([ProcessTip])

    static let kindWant: UInt8 = 1, kindItems: UInt8 = 2, kindNotFound: UInt8 = 3, kindSync: UInt8 = 4, kindSummary: UInt8 = 5

    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) } }
        func u64(_ v: UInt64) { for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(s))) } }
        switch self {
        case .want(let r, let ids):
            out.append(Self.kindWant); u64(r); u32(UInt32(ids.count)); for id in ids { out += id.bytes }
        case .items(let r, let items, let more):
            out.reserveCapacity(16 + items.reduce(0) { $0 + $1.count + 4 })
            out.append(Self.kindItems); u64(r); out.append(more ? 1 : 0); u32(UInt32(items.count))
            for i in items { u32(UInt32(i.count)); out += i }
        case .notFound(let r, let ids):
            out.append(Self.kindNotFound); u64(r); u32(UInt32(ids.count)); for id in ids { out += id.bytes }
        case .sync(let r, let p, let from, let limit):
            out.append(Self.kindSync); u64(r); out += p.bytes; u64(from); u32(limit)
        case .summary(let tips):
            out.append(Self.kindSummary); u32(UInt32(tips.count))
            for t in tips { out += t.process.bytes; u64(t.slotCount); out += t.tip.bytes }
        }
        return out
    }

    init(decoding bytes: [UInt8]) throws(ReplicationWireError) {
        var r = Reader(bytes: bytes)
        guard let kind = r.byte() else { throw .empty }
        switch kind {
        case Self.kindWant, Self.kindNotFound:
            let request = try r.u64()
            let n = try r.count(max: ReplicationLimits.wantIDsMax, unitBytes: 32)
            var ids: [MessageID] = []
            ids.reserveCapacity(n)
            for _ in 0..<n { ids.append(MessageID(raw: try r.id())) }
            self = kind == Self.kindWant ? .want(request: request, ids: ids) : .notFound(request: request, ids: ids)
        case Self.kindItems:
            let request = try r.u64()
            guard let more = r.byte() else { throw .truncated }
            guard more <= 1 else { throw .badFlag(more) }
            let n = try r.count(max: ReplicationLimits.itemsMax, unitBytes: 4)
            var items: [[UInt8]] = []
            items.reserveCapacity(n)
            for _ in 0..<n {
                let length = Int(try r.u32())
                guard length <= ReplicationLimits.itemBytesMax else { throw .itemTooLarge(length) }
                items.append(try r.take(length))
            }
            self = .items(request: request, items: items, more: more != 0)
        case Self.kindSync:
            let request = try r.u64()
            let p = ProcessID(raw: try r.id())
            let from = try r.u64()
            let limit = try r.u32()
            self = .sync(request: request, process: p, fromSlot: from, limit: limit)
        case Self.kindSummary:
            let n = try r.count(max: ReplicationLimits.summaryProcessesMax, unitBytes: 72)
            var tips: [ProcessTip] = []
            tips.reserveCapacity(n)
            for _ in 0..<n { tips.append(ProcessTip(process: ProcessID(raw: try r.id()), slotCount: try r.u64(), tip: try r.id())) }
            self = .summary(tips)
        default:
            throw .unknownKind(kind)
        }
        guard r.remaining == 0 else { throw .trailingBytes(r.remaining) }
    }

    struct Reader {
        let bytes: [UInt8]
        var offset = 0
        var remaining: Int { bytes.count - offset }
        mutating func byte() -> UInt8? {
            guard offset < bytes.count else { return nil }
            defer { offset += 1 }
            return bytes[offset]
        }
        mutating func take(_ n: Int) throws(ReplicationWireError) -> [UInt8] {
            guard n >= 0, remaining >= n else { throw .truncated }
            defer { offset += n }
            return Array(bytes[offset..<offset + n])
        }
        mutating func u32() throws(ReplicationWireError) -> UInt32 {
            guard remaining >= 4 else { throw .truncated }
            var v: UInt32 = 0
            for i in 0..<4 { v = v << 8 | UInt32(bytes[offset + i]) }
            offset += 4
            return v
        }
        mutating func u64() throws(ReplicationWireError) -> UInt64 {
            guard remaining >= 8 else { throw .truncated }
            var v: UInt64 = 0
            for i in 0..<8 { v = v << 8 | UInt64(bytes[offset + i]) }
            offset += 8
            return v
        }
        mutating func id() throws(ReplicationWireError) -> ID32 {
            guard remaining >= 32, let id = ID32(bytes: bytes[offset..<offset + 32]) else { throw .truncated }
            offset += 32
            return id
        }
        /// A count checked against its limit and against the bytes left (each element needs `unitBytes` at least),
        /// before anything is reserved.
        mutating func count(max: Int, unitBytes: Int) throws(ReplicationWireError) -> Int {
            let n = Int(try u32())
            guard n <= max else { throw .countTooLarge(n) }
            guard n * unitBytes <= remaining else { throw .truncated }
            return n
        }
    }
}
