import AOCore

/// One item of a host-to-host envelope. All items a host has for one peer in one step travel in one envelope, so
/// the heartbeats of every busy group between two nodes are coalesced into one frame (as CockroachDB does).
public enum HostItem: Hashable, Sendable {
    /// A Raft message of the group of `ProcessID`.
    case raft(ProcessID, RaftMessage)
    /// "Please assign this message": from the node that accepted it (`origin`) to a member, maybe relayed once to
    /// the leader. Retried by the origin until it learns the message is assigned.
    case forward(ProcessID, MessageID, OutboxKey?, origin: NodeID)
    /// From the leader to a forward's origin: the message is committed at `slot`.
    case assigned(ProcessID, MessageID, Slot)
    /// From the leader: sign a certificate share over `subject` once it is committed at your end.
    case certifyRequest(CertificateSubject)
    /// A member's signature over `subject`, to the leader.
    case certificateShare(CertificateSubject, [UInt8])
    /// Node-level liveness: sent to every scheduler peer on a fixed schedule, whatever the number of groups.
    /// `incarnation` changes when the node restarts, so peers notice a restart faster than the liveness timeout
    /// (a restarted leader has lost its role; its quiescent groups must elect).
    case alive(incarnation: UInt64)
}

/// A coalesced batch of items from one host to another, with a compact binary encoding. The sender and receiver
/// are the transport's authenticated peers, so they are not repeated inside.
public struct HostEnvelope: Hashable, Sendable {
    public var items: [HostItem]
    public init(items: [HostItem]) { self.items = items }

    public func encoded() -> [UInt8] { encoded(recordingBounds: false).bytes }

    /// The encoding and, when asked, its item boundaries: where the header ends, then where each item ends (so
    /// chunks are cut without encoding any item twice).
    private func encoded(recordingBounds: Bool) -> (bytes: [UInt8], bounds: [Int]) {
        var w = WireWriter()
        w.u8(1)  // format version
        w.varint(UInt64(items.count))
        var bounds: [Int] = []
        if recordingBounds { bounds.reserveCapacity(items.count + 1); bounds.append(w.bytes.count) }
        for item in items {
            switch item {
            case .raft(let p, let m): w.u8(0); w.id(p.raw); w.writeRaft(m)
            case .forward(let p, let m, let k, let o):
                w.u8(1); w.id(p.raw); w.id(m.raw); w.id(o.raw)
                if let k { w.u8(1); w.id(k.fromProcess.raw); w.blob(Array(k.reference.utf8)) } else { w.u8(0) }
            case .assigned(let p, let m, let s): w.u8(2); w.id(p.raw); w.id(m.raw); w.varint(s)
            case .certifyRequest(let s): w.u8(3); w.id(s.process.raw); w.varint(s.slot); w.id(s.assignment.raw)
            case .certificateShare(let s, let sig):
                w.u8(4); w.id(s.process.raw); w.varint(s.slot); w.id(s.assignment.raw); w.blob(sig)
            case .alive(let i): w.u8(5); w.varint(i)
            }
            if recordingBounds { bounds.append(w.bytes.count) }
        }
        return (w.bytes, bounds)
    }

    /// The envelope encoded as one or more envelopes of at most `bytesMax` bytes each (items in order, none split),
    /// for a transport whose frames are bounded: a flush that waited on a slow fsync can coalesce more appends for
    /// one peer than a frame holds. An item too large for `bytesMax` on its own goes alone in its envelope (the
    /// caller sends that one as a stream). Items are encoded once; chunks copy their byte ranges.
    public func encodedChunks(bytesMax: Int) -> [[UInt8]] {
        let (whole, bounds) = encoded(recordingBounds: true)
        guard whole.count > bytesMax, items.count > 1 else { return [whole] }
        // A chunk's header: the version byte and its item count (a varint of at most 3 bytes under
        // envelopeMessagesMax).
        let headerBytesMax = 4
        var chunks: [[UInt8]] = []
        func cut(_ range: Range<Int>, count: Int) {
            var w = WireWriter()
            w.u8(1); w.varint(UInt64(count)); w.raw(whole[range])
            chunks.append(w.bytes)
        }
        var chunkStart = bounds[0], itemStart = chunkStart, count = 0
        for end in bounds.dropFirst() {
            if count > 0 && headerBytesMax + end - chunkStart > bytesMax {
                cut(chunkStart..<itemStart, count: count)
                chunkStart = itemStart; count = 0
            }
            count += 1; itemStart = end
        }
        cut(chunkStart..<itemStart, count: count)
        return chunks
    }

    /// Decodes an envelope `from` → `to`. Hostile bytes give a `SchedulingWireError`, never a trap.
    public static func decode(_ bytes: [UInt8], from: NodeID, to: NodeID) throws(SchedulingWireError) -> HostEnvelope {
        guard bytes.count <= SchedulingLimits.envelopeBytesMax else { throw .tooLarge("envelope of \(bytes.count) bytes") }
        var r = WireReader(bytes)
        guard try r.u8("version") == 1 else { throw .badValue("unknown envelope version") }
        let n = try r.count("items", max: SchedulingLimits.envelopeMessagesMax)
        var items: [HostItem] = []
        items.reserveCapacity(min(n, 1024))
        for _ in 0..<n {
            switch try r.u8("item kind") {
            case 0: items.append(.raft(ProcessID(raw: try r.id("group")), try r.readRaft(from: from, to: to)))
            case 1:
                let p = ProcessID(raw: try r.id("process")), m = MessageID(raw: try r.id("message")), o = NodeID(raw: try r.id("origin"))
                var key: OutboxKey?
                if try r.bool("has outbox key") {
                    let fp = ProcessID(raw: try r.id("from process"))
                    guard let ref = String(validating: try r.blob("reference", max: 3072), as: UTF8.self) else { throw .badValue("reference is not UTF-8") }
                    key = OutboxKey(fromProcess: fp, reference: ref)
                }
                items.append(.forward(p, m, key, origin: o))
            case 2: items.append(.assigned(ProcessID(raw: try r.id("process")), MessageID(raw: try r.id("message")), try r.varint("slot")))
            case 3:
                items.append(.certifyRequest(CertificateSubject(process: ProcessID(raw: try r.id("process")), slot: try r.varint("slot"),
                                                                assignment: MessageID(raw: try r.id("assignment")))))
            case 4:
                let s = CertificateSubject(process: ProcessID(raw: try r.id("process")), slot: try r.varint("slot"),
                                           assignment: MessageID(raw: try r.id("assignment")))
                items.append(.certificateShare(s, try r.blob("signature", max: SchedulingLimits.signatureBytesMax)))
            case 5: items.append(.alive(incarnation: try r.varint("incarnation")))
            case let b: throw .badTag("item kind \(b)")
            }
        }
        guard r.isAtEnd else { throw .trailingBytes("\(bytes.count - r.offset) bytes after the last item") }
        return HostEnvelope(items: items)
    }
}
