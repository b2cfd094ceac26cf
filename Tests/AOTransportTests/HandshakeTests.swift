import AOCore
import Testing
@testable import AOTransport

@Suite struct HandshakeTests {
    @Test func bothSidesAuthenticateAndAgree() throws {
        var p = CorePair()
        p.pump()
        #expect(p.established)
        #expect(p.initiator.peer == key(2).nodeID)
        #expect(p.responder.peer == key(1).nodeID)
        #expect(p.initiatorOut == [.established(peer: key(2).nodeID, publicKey: key(2).publicKey)])
        #expect(p.responderOut == [.established(peer: key(1).nodeID, publicKey: key(1).publicKey)])
        // Frames flow both ways, in order, bytes intact.
        for i in 0..<50 {
            let f = Frame(channel: UInt16(i), payload: (0..<i * 37).map { UInt8(truncatingIfNeeded: $0 * 7 + i) })
            p.toResponder.append(p.initiator.sealFrame(f))
            p.toInitiator.append(p.responder.sealFrame(f))
            p.pump()
            #expect(p.responderOut.last == .deliverFrame(f))
            #expect(p.initiatorOut.last == .deliverFrame(f))
        }
    }

    @Test func sessionKeysAreFreshPerConnection() throws {
        func transcript(_ e1: UInt8, _ e2: UInt8) -> [UInt8] {
            var i = Handshake(role: .initiator, localKey: key(1), ephemeralSecret: ephemeral(e1))
            var r = Handshake(role: .responder, localKey: key(2), ephemeralSecret: ephemeral(e2))
            guard case .send(let m1) = i.start()[0] else { return [] }
            let r1 = try! r.onFrame(FrameCodec.decodeFrame(m1[4...]))
            guard case .send(let m2) = r1[0] else { return [] }
            let i2 = try! i.onFrame(FrameCodec.decodeFrame(m2[4...]))
            guard case .send(let m3) = i2[0], case .established(let ri) = i2[1] else { return [] }
            let r3 = try! r.onFrame(FrameCodec.decodeFrame(m3[4...]))
            guard case .established(let rr) = r3[0] else { return [] }
            #expect(ri.transcriptHash == rr.transcriptHash)
            return ri.transcriptHash
        }
        let a = transcript(1, 2), b = transcript(3, 2), c = transcript(1, 4)
        #expect(a.count == 32 && a != b && a != c && b != c)
    }

    @Test func dialerRefusesAnUnexpectedKey() {
        var p = CorePair(expecting: key(9).nodeID)
        p.pump()
        #expect(closeReason(p.initiatorOut) == .unexpectedPeer)
        #expect(!p.initiator.isEstablished)
        // The dialer never sent its identity: the responder is still waiting for message 3.
        #expect(!p.responder.isEstablished)
    }

    @Test func dialerAcceptsTheExpectedKey() {
        var p = CorePair(expecting: key(2).nodeID)
        p.pump()
        #expect(p.established)
    }

    @Test func differentProloguesNeverConnect() {
        var p = CorePair(prologueI: Array("net-a".utf8), prologueR: Array("net-b".utf8))
        p.pump()
        #expect(closeReason(p.initiatorOut) == .handshakeFailed)
    }

    @Test func selfConnectionIsRefused() {
        var p = CorePair(initiatorKey: key(1), responderKey: key(1))
        p.pump()
        #expect(closeReason(p.initiatorOut) == .selfConnection)
    }

    @Test func replayedHandshakeMessagesFail() throws {
        // Record a full handshake, then replay the initiator's messages 1 and 3 to a responder whose ephemeral key
        // is fresh (as every real one is): message 3 signs the old transcript and is refused.
        var rec = CorePair()
        let hello = rec.toResponder.removeFirst()
        rec.collect(rec.responder.onBytesReceived(hello), fromInitiator: false)
        let m2 = rec.toInitiator.removeFirst()
        rec.collect(rec.initiator.onBytesReceived(m2), fromInitiator: true)
        let m3 = rec.toResponder.removeFirst()
        #expect(rec.initiator.isEstablished)
        var victim = ConnectionCore(role: .responder, localKey: key(2), ephemeralSecret: ephemeral(55))
        _ = victim.onBytesReceived(hello)
        #expect(closeReason(victim.onBytesReceived(m3)) == .handshakeFailed)
        #expect(!victim.isEstablished)
        // And a replayed message 2 to an initiator with a fresh ephemeral key fails too.
        var fresh = ConnectionCore(role: .initiator, localKey: key(1), ephemeralSecret: ephemeral(66))
        _ = fresh.start()
        #expect(closeReason(fresh.onBytesReceived(m2)) == .handshakeFailed)
    }

    @Test func reflectedReplyFails() {
        // An attacker answers an initiator's hello by reflecting a responder-role reply signed by the initiator's
        // own key: refused as a self-connection. And a reply whose sealed part was altered fails authentication.
        var p = CorePair()
        let hello = p.toResponder.removeFirst()
        var mirror = ConnectionCore(role: .responder, localKey: key(1), ephemeralSecret: ephemeral(3))
        var reply: [UInt8] = []
        for d in mirror.onBytesReceived(hello) { if case .write(let b) = d { reply = b } }
        #expect(closeReason(p.initiator.onBytesReceived(reply)) == .selfConnection)

        var q = CorePair()
        let h2 = q.toResponder.removeFirst()
        var m2: [UInt8] = []
        for d in q.responder.onBytesReceived(h2) { if case .write(let b) = d { m2 = b } }
        m2[60] ^= 1
        #expect(closeReason(q.initiator.onBytesReceived(m2)) == .handshakeFailed)
    }

    @Test func garbageBeforeHandshakeCloses() {
        var r = ConnectionCore(role: .responder, localKey: key(2), ephemeralSecret: ephemeral(2))
        #expect(closeReason(r.onBytesReceived(Array("GET / HTTP/1.1\r\n\r\n".utf8))) == .frameTooLarge)
        var r2 = ConnectionCore(role: .responder, localKey: key(2), ephemeralSecret: ephemeral(2))
        #expect(closeReason(r2.onBytesReceived([0, 0, 0, 3, 1, 0x10, 0])) == .protocolViolation)
        var r3 = ConnectionCore(role: .responder, localKey: key(2), ephemeralSecret: ephemeral(2))
        #expect(closeReason(r3.onBytesReceived([0, 0, 0, 3, 9, 0x01, 0])) == .unsupportedVersion)
        #expect(r3.onBytesReceived([1, 2, 3]).isEmpty)  // closed: input ignored
    }

    @Test func tamperedReplayedReorderedAndOversizeFramesClose() {
        func established() -> CorePair { var p = CorePair(); p.pump(); return p }
        var p = established()
        var rec = p.initiator.sealFrame(Frame(channel: 1, payload: [1, 2, 3]))
        rec[rec.count - 3] ^= 0x40
        #expect(closeReason(p.responder.onBytesReceived(rec)) == .tamperedFrame)

        p = established()
        let r1 = p.initiator.sealFrame(Frame(channel: 1, payload: [1]))
        #expect(closeReason(p.responder.onBytesReceived(r1)) == nil)
        #expect(closeReason(p.responder.onBytesReceived(r1)) == .replayedFrame)

        p = established()
        let a = p.initiator.sealFrame(Frame(channel: 1, payload: [1]))
        let b = p.initiator.sealFrame(Frame(channel: 1, payload: [2]))
        _ = a
        #expect(closeReason(p.responder.onBytesReceived(b)) == .reorderedFrame)

        p = established()
        // A length prefix above recordBytesMax, sent after the handshake.
        var big: [UInt8] = []
        FrameCodec.appendUInt32(UInt32(TransportLimits.default.recordBytesMax + 1), to: &big)
        #expect(closeReason(p.responder.onBytesReceived(big)) == .frameTooLarge)

        p = established()
        // Garbage after the handshake: a plausible length with random bytes fails the tag or the counter.
        var garbage: [UInt8] = [0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 0]
        garbage += [UInt8](repeating: 0xAA, count: 32)
        #expect(closeReason(p.responder.onBytesReceived(garbage)) == .tamperedFrame)

        p = established()
        let hello = FrameCodec.plainRecord(.hello, ephemeral(5))
        #expect(closeReason(p.responder.onBytesReceived(hello)) != nil)
    }

    @Test func pingPongAndClose() {
        var p = CorePair(); p.pump()
        p.toResponder.append(p.initiator.sealPing(42)); p.pump()
        #expect(p.initiatorOut.last == .pong(42))
        p.toResponder.append(p.initiator.sealClose(.shutdown)); p.pump()
        #expect(closeReason(p.responderOut) == .remoteClose)
        #expect(p.initiator.isClosed && p.responder.isClosed)
    }

    @Test func streamsArriveInChunksAndAssembleOnce() {
        var limits = TransportLimits.default
        limits.streamChunkBytesMax = 4096
        limits.streamBytesMax = 1 << 20
        var p = CorePair(limits: limits); p.pump()
        let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 31) }
        var s = OutboundStream(id: p.initiator.allocateStreamID(), channel: 5, payload: payload)
        while !s.isFinished { p.toResponder.append(s.nextRecord(&p.initiator)) }
        p.pump()
        var asm = StreamAssembler()
        var whole: [UInt8]?
        var chunks = 0
        for d in p.responderOut { if case .deliverStreamChunk(let c) = d { chunks += 1; #expect(c.channel == 5); whole = asm.add(c) ?? whole } }
        #expect(chunks == (100_000 + 4095) / 4096)
        #expect(whole == payload)

        // Over streamBytesMax is refused at open.
        var q = CorePair(limits: limits); q.pump()
        let rec = q.initiator.sealStreamOpen(id: 1, channel: 0, totalBytes: UInt64(limits.streamBytesMax + 1))
        #expect(closeReason(q.responder.onBytesReceived(rec)) == .streamViolation)
        // A chunk for an unknown stream.
        var r = CorePair(limits: limits); r.pump()
        let chunk = [UInt8](repeating: 1, count: 10).withUnsafeBytes { r.initiator.sealStreamChunk(id: 9, bytes: $0) }
        #expect(closeReason(r.responder.onBytesReceived(chunk)) == .streamViolation)
    }
}

/// `openRecordSplitting` decrypts a payload straight into its own array; it must agree with the plain AEAD open for
/// every size around the keystream block boundaries and refuse any tampered byte.
@Suite struct SplitOpenTests {
    static let sendKey = [UInt8](repeating: 7, count: 32), receiveKey = [UInt8](repeating: 9, count: 32)

    func frames() -> [(FrameType, [UInt8], [UInt8])] {
        var out: [(FrameType, [UInt8], [UInt8])] = []
        for n in [0, 1, 2, 57, 58, 59, 60, 61, 63, 64, 65, 123, 124, 125, 128, 1000, 4096, 70_001] {
            let body = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ n) }
            out.append((.data, [0x12, 0x34], body))
            if n > 0 { out.append((.streamChunk, [0, 0, 0, 7], body)) }
        }
        out.append((.ping, [], [1, 2, 3, 4, 5, 6, 7, 8]))
        return out
    }

    @Test func splitOpenAgreesWithThePlainOpen() throws {
        for threshold in [0, 100, 5000] {
            var sender = SessionCipher(sendKey: Self.sendKey, receiveKey: Self.receiveKey)
            var plain = SessionCipher(sendKey: Self.receiveKey, receiveKey: Self.sendKey)
            var split = plain
            for (type, header, body) in frames() {
                let record = Array(sender.sealRecord(type, header: header, body: body).dropFirst(4))
                var a = record, b = record
                let expected = try plain.openRecord(&a)
                #expect(expected.type == type && Array(expected.payload) == header + body)
                switch try split.openRecordSplitting(&b, splitBytesMin: threshold) {
                case .frame(let f):
                    #expect(f == expected)
                    #expect(record.count - Wire.sealOverheadBytes < threshold || (type != .data && type != .streamChunk))
                case .split(let t, let h, let bytes):
                    #expect(t == type && h == header && bytes == body)
                    #expect(record.count - Wire.sealOverheadBytes >= threshold)
                }
            }
        }
    }

    @Test func splitOpenRefusesEveryTamperedByte() {
        var sender = SessionCipher(sendKey: Self.sendKey, receiveKey: Self.receiveKey)
        let record = Array(sender.sealRecord(.data, header: [0, 1], body: [UInt8](repeating: 5, count: 200)).dropFirst(4))
        for i in 8..<record.count {  // every ciphertext and tag byte (the counter bytes fail the counter check)
            var r = record
            r[i] ^= 0x01
            var receiver = SessionCipher(sendKey: Self.receiveKey, receiveKey: Self.sendKey)
            var reason: CloseReason?
            do { _ = try receiver.openRecordSplitting(&r) } catch { reason = error.reason }
            #expect(reason == .tamperedFrame, "byte \(i)")
        }
    }
}
