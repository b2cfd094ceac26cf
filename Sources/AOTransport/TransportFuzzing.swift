import AOCore

/// The transport's fuzz harness, shared by the libFuzzer target (FuzzTesting/FuzzFrameCodec) and the regression
/// test that replays saved crash inputs, so both run exactly the same code.
///
/// The first input byte picks a target, the rest is the input:
/// 0: `RecordDecoder` (with a small, input-chosen large-record threshold) fed in chunks whose sizes come from the input; each record decoded as a plaintext frame and
///    its payload parsed by every payload decoder (handshake messages through a fresh responder `Handshake`).
/// 1: a responder `ConnectionCore` (the handshake parser) fed the bytes, chunked.
/// 2: an initiator that sent its hello, fed the bytes as the reply.
/// 3: an established session (fixed keys) fed the bytes: the sealed-record path (counter checks, AEAD, frames).
/// 4: an established responder fed frames sealed by the harness with the real session keys: `len:u8 type:u8
///    payload[len]` repeated, so the fuzzer reaches the post-decryption frame parsing (streams, ping, close), through
///    both open paths (in place, and payload decrypted into its own array; the first byte picks the threshold).
/// The contract under test: bad input yields a typed error or a close directive, never a crash or a hang.
public enum TransportFuzzing {
    /// Runs one fuzz input (see the type's doc for the selector byte).
    static let serverKey = Ed25519PrivateKey(seed: [UInt8](repeating: 2, count: 32))!
    static let clientKey = Ed25519PrivateKey(seed: [UInt8](repeating: 1, count: 32))!
    static let limits: TransportLimits = {
        var l = TransportLimits.default
        l.frameBytesMax = 4096; l.streamChunkBytesMax = 1024; l.streamBytesMax = 8192; l.streamsOpenMax = 2
        return l
    }()

    /// Folds decoded values so the optimizer keeps every decode (see decodeRecords).
    nonisolated(unsafe) static var sink = 0

    public static func run(_ bytes: [UInt8]) {
        guard let selector = bytes.first else { return }
        let input = Array(bytes.dropFirst())
        switch selector % 5 {
        case 0: decodeRecords(input)
        case 4: sealedFrames(input)
        case 1: feed(responder(), input)
        case 2:
            var c = ConnectionCore(role: .initiator, localKey: clientKey, ephemeralSecret: [UInt8](repeating: 5, count: 32), limits: limits)
            _ = c.start()
            feed(c, input)
        case 3: feed(established(), input)
        default: break
        }
    }

    static func responder() -> ConnectionCore {
        ConnectionCore(role: .responder, localKey: serverKey, ephemeralSecret: [UInt8](repeating: 6, count: 32), limits: limits)
    }

    /// A responder that completed a handshake with a fixed initiator, so the fuzzer explores post-handshake parsing.
    static let establishedTemplate: ConnectionCore = {
        var i = ConnectionCore(role: .initiator, localKey: clientKey, ephemeralSecret: [UInt8](repeating: 5, count: 32), limits: limits)
        var r = responder()
        var toR = i.start(), toI: [ConnectionCore.Directive] = []
        for _ in 0..<3 {
            for d in toR { if case .write(let b) = d { toI += r.onBytesReceived(b) } }
            toR = []
            for d in toI { if case .write(let b) = d { toR += i.onBytesReceived(b) } }
            toI = []
        }
        precondition(r.isEstablished, "fuzz template handshake failed")
        return r
    }()

    static func established() -> ConnectionCore { establishedTemplate }

    /// Both sides' handshake results for the fixed keys.
    static let sessionPair: (initiator: HandshakeResult, responder: HandshakeResult) = {
        var i = Handshake(role: .initiator, localKey: clientKey, ephemeralSecret: [UInt8](repeating: 5, count: 32))
        var r = Handshake(role: .responder, localKey: serverKey, ephemeralSecret: [UInt8](repeating: 6, count: 32))
        func body(_ d: Handshake.Directive) -> PlainFrame {
            guard case .send(let rec) = d, let f = try? FrameCodec.decodeFrame(rec[4...]) else { preconditionFailure("handshake") }
            return f
        }
        let m1 = body(i.start()[0])
        let r1 = try! r.onFrame(m1)
        let i2 = try! i.onFrame(body(r1[0]))
        let r3 = try! r.onFrame(body(i2[0]))
        guard case .established(let ri) = i2[1], case .established(let rr) = r3[0] else { preconditionFailure("handshake") }
        return (ri, rr)
    }()

    static func sealedFrames(_ input: [UInt8]) {
        var sender = sessionPair.initiator.cipher
        // An input-chosen split threshold (0...95 bytes) so records take both the in-place and the split open path,
        // including splits inside and across the first keystream block.
        var receiver = ConnectionCore(established: sessionPair.responder, limits: limits, splitRecordBytesMin: Int(input.first ?? 0) % 96)
        var i = 0
        while i + 2 <= input.count && !receiver.isClosed {
            let n = Int(input[i]), type = FrameType.allCases[Int(input[i + 1]) % FrameType.allCases.count]
            let end = min(input.count, i + 2 + n)
            let record = sender.sealRecord(type, body: Array(input[(i + 2)..<end]))
            _ = receiver.onBytesReceived(record)
            i = end
        }
    }

    static func feed(_ core: ConnectionCore, _ input: [UInt8]) {
        var core = core
        // Chunk sizes from the input's own bytes keep runs reproducible while exercising incremental decoding.
        var i = 0, step = 1
        while i < input.count && !core.isClosed {
            let n = min(input.count - i, step)
            _ = core.onBytesReceived(Array(input[i..<i + n]))
            i += n
            step = Int(input[i - 1] % 64) + 1
        }
    }

    static func decodeRecords(_ input: [UInt8]) {
        // A small large-record threshold, chosen by the input, so both decoder paths are exercised.
        var d = RecordDecoder(recordBytesLimit: 2048, largeRecordBytesMin: input.isEmpty ? 1 : Int(input[0] % 128) + 1)
        var i = 0
        do {
            while i < input.count {
                let n = min(input.count - i, Int(input[i] % 32) + 1)
                d.append(input[i..<i + n]); i += n
                while let record = try d.next() {
                    let f: PlainFrame
                    do { f = try FrameCodec.decodeFrame(record[...]) } catch { continue }
                    // Results are folded into `sink`: discarding them with `_ = try?` made swiftc 6.3.1 -O emit a
                    // copy into an already-released array (ASan heap-use-after-free; FailCases/crash-25f18588…).
                    do {
                        switch f.type {
                        case .data: sink &+= try FrameCodec.decodeData(f.payload).payload.count
                        case .ping, .pong: sink &+= Int(truncatingIfNeeded: try FrameCodec.decodeUInt64Payload(f.payload, "ping"))
                        case .close: sink &+= Int(try FrameCodec.decodeClose(f.payload).rawValue)
                        case .streamOpen: sink &+= Int(try FrameCodec.decodeStreamOpen(f.payload).totalBytes & 0xFFFF)
                        case .streamChunk: sink &+= try FrameCodec.decodeStreamChunk(f.payload).bytes.count
                        case .streamAbort: sink &+= Int(try FrameCodec.decodeStreamAbort(f.payload))
                        case .hello, .helloReply, .helloFinish:
                            var h = Handshake(role: .responder, localKey: serverKey, ephemeralSecret: [UInt8](repeating: 6, count: 32))
                            sink &+= try h.onFrame(f).count
                        }
                    } catch {
                        sink &+= Int(error.reason.rawValue)
                    }
                }
            }
        } catch {
            precondition(error.reason == .frameTooLarge || error.reason == .protocolViolation, "unexpected decoder error \(error)")
        }
    }
}
