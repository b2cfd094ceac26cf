import AOCore
import Testing
@testable import AOScheduling

@Suite struct WireCodecTests {
    let a = NodeID(bytes: [UInt8](repeating: 1, count: 32))!
    let b = NodeID(bytes: [UInt8](repeating: 2, count: 32))!
    let p = ProcessID(bytes: [UInt8](repeating: 3, count: 32))!

    var sample: HostEnvelope {
        let signer = SimulatedSigner(nodeID: a)
        let sealed = signer.seal(AssignmentFields(process: p, slot: 7, message: MessageID(bytes: [UInt8](repeating: 4, count: 32))!,
                                                  hashChain: HashChain.first(process: p), blockHeight: 1_500_000, timestampMs: 1_711_676_638_471,
                                                  term: 3, outboxKey: OutboxKey(fromProcess: p, reference: "42")))
        let entries = [LogEntry(term: 3, index: 10, payload: .noop), LogEntry(term: 3, index: 11, payload: .configuration([a, b])),
                       LogEntry(term: 3, index: 12, payload: .assignment(sealed))]
        let subject = CertificateSubject(process: p, slot: 7, assignment: sealed.id)
        let kinds: [RaftMessage.Kind] = [
            .preVote(lastIndex: 5, lastTerm: 2), .preVoteResponse(reject: true), .vote(lastIndex: 5, lastTerm: 2, transfer: true),
            .voteResponse(reject: false), .append(prevIndex: 9, prevTerm: 3, entries: entries, commit: 9),
            .appendResponse(index: 12, reject: true, hint: 8), .heartbeat(commit: 12, quiesce: true), .heartbeatResponse, .timeoutNow, .wake,
        ]
        var items: [HostItem] = kinds.map { .raft(p, RaftMessage(from: a, to: b, term: 3, kind: $0)) }
        items += [.forward(p, MessageID(bytes: [UInt8](repeating: 5, count: 32))!, OutboxKey(fromProcess: p, reference: "r"), origin: a),
                  .forward(p, MessageID(bytes: [UInt8](repeating: 6, count: 32))!, nil, origin: b),
                  .assigned(p, MessageID(bytes: [UInt8](repeating: 5, count: 32))!, 99), .certifyRequest(subject),
                  .certificateShare(subject, signer.signCertificate(subject)), .alive(incarnation: 300)]
        return HostEnvelope(items: items)
    }

    /// A batch too large for one transport frame is cut into envelopes under the bound, every item kept in order.
    @Test func aLargeEnvelopeIsCutIntoFramesThatDecodeToTheSameItems() throws {
        let one = sample
        let many = HostEnvelope(items: Array(repeating: one.items, count: 400).flatMap { $0 })
        let whole = many.encoded()
        let bound = 16 * 1024
        #expect(whole.count > 4 * bound)
        let chunks = many.encodedChunks(bytesMax: bound)
        #expect(chunks.count >= whole.count / bound)
        #expect(chunks.allSatisfy { $0.count <= bound }, "\(chunks.map(\.count).max() ?? 0) bytes")
        let items = try chunks.flatMap { try HostEnvelope.decode($0, from: a, to: b).items }
        #expect(items == many.items)
        // Each chunk is, byte for byte, the plain encoding of its items (the cut copies encoded ranges).
        for chunk in chunks { #expect(try HostEnvelope(items: HostEnvelope.decode(chunk, from: a, to: b).items).encoded() == chunk) }
        // Under the bound, one envelope, byte for byte the plain encoding.
        #expect(one.encodedChunks(bytesMax: bound) == [one.encoded()])
        // An item larger than the bound goes alone.
        let tiny = many.encodedChunks(bytesMax: 8)
        #expect(tiny.count == many.items.count)
    }

    @Test func everyItemRoundTrips() throws {
        let env = sample
        let decoded = try HostEnvelope.decode(env.encoded(), from: a, to: b)
        #expect(decoded == env)
    }

    @Test func everyTruncationIsATypedError() {
        let bytes = sample.encoded()
        for n in 0..<bytes.count {
            #expect(throws: SchedulingWireError.self) { try HostEnvelope.decode(Array(bytes[..<n]), from: a, to: b) }
        }
        #expect(throws: SchedulingWireError.trailingBytes("")) { try HostEnvelope.decode(bytes + [0], from: a, to: b) }
    }

    @Test func hostileBytesNeverTrap() {
        // A cheap in-test fuzzer: random bytes and random single-byte mutations of a valid envelope.
        var rng = Xoshiro256(seed: 99)
        let valid = sample.encoded()
        var refused = 0
        for i in 0..<3000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int.random(in: 0..<200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = valid
                for _ in 0..<Int.random(in: 1...4, using: &rng) { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            }
            do { _ = try HostEnvelope.decode(bytes, from: a, to: b) } catch { refused += 1 }
        }
        #expect(refused > 1500)
    }

    @Test func limitsAreEnforced() {
        var w = WireWriter()
        w.u8(1); w.varint(UInt64(SchedulingLimits.envelopeMessagesMax) + 1)
        #expect(throws: SchedulingWireError.tooLarge("")) { try HostEnvelope.decode(w.bytes, from: a, to: b) }
        var v = WireWriter()
        v.u8(1); for _ in 0..<11 { v.u8(0xff) }
        #expect(throws: SchedulingWireError.badValue("")) { try HostEnvelope.decode(v.bytes, from: a, to: b) }
        var t = WireWriter()
        t.u8(1); t.varint(1); t.u8(77)
        #expect(throws: SchedulingWireError.badTag("")) { try HostEnvelope.decode(t.bytes, from: a, to: b) }
    }

    /// A pending submission's record keeps its arrival sequence; a record from before the sequence reads as 0, and
    /// trailing garbage is refused.
    @Test func pendingRecordsCarryTheirArrivalAndOldRecordsStillRead() throws {
        let key = OutboxKey(fromProcess: ProcessID(bytes: [UInt8](repeating: 3, count: 32))!, reference: "42")
        for k in [key, nil] as [OutboxKey?] {
            let record = DurableCodec.encode(pendingOutboxKey: k, arrival: 300)
            let back = try DurableCodec.decodePending(record)
            #expect(back.outboxKey == k && back.arrival == 300)
            let old = try DurableCodec.decodePending(DurableCodec.encode(outboxKey: k))
            #expect(old.outboxKey == k && old.arrival == 0)
            #expect(throws: SchedulingWireError.self) { try DurableCodec.decodePending(record + [0x01]) }
        }
    }
}


/// The process's own assignment (slot 0) carries the wall clock given with the process, even on a host that has
/// not ticked yet (a node that spawns a process right after it starts).
@Suite struct SlotZeroClockTests {
    @Test func slotZeroTakesTheClockGivenWithTheProcess() throws {
        let id = NodeID(bytes: [UInt8](repeating: 9, count: 32))!
        let p = ProcessID(bytes: [UInt8](repeating: 4, count: 32))!
        var rng = SystemRandomNumberGenerator()
        var host = SchedulerHost(signer: SimulatedSigner(nodeID: id), admitted: [id])
        host.onProcess(p, replicas: 1, clockMs: 1_700_000_000_123, rng: &rng)
        var committed: [SealedAssignment] = []
        for _ in 0..<5 where committed.isEmpty {
            let r = host.ready()
            committed += r.commits.flatMap(\.assignments)
            host.advance(r)
        }
        let slot0 = try #require(committed.first, "no slot 0 committed by a single-member group")
        #expect(slot0.fields.slot == 0 && slot0.fields.timestampMs == 1_700_000_000_123)
    }
}
