import AOCore

/// One chunk of an inbound stream, delivered as it arrives (the receiver never buffers a whole stream for us; the
/// application may assemble it once with `StreamAssembler`).
public struct StreamChunk: Sendable, Equatable {
    public var streamID: UInt32
    public var channel: UInt16
    /// Offset of `bytes` in the stream.
    public var offset: UInt64
    /// The stream's declared total size.
    public var totalBytes: UInt64
    public var bytes: [UInt8]
    /// True for the chunk that completes the stream.
    public var isLast: Bool { offset + UInt64(bytes.count) == totalBytes }
    public init(streamID: UInt32, channel: UInt16, offset: UInt64, totalBytes: UInt64, bytes: [UInt8]) {
        self.streamID = streamID; self.channel = channel; self.offset = offset; self.totalBytes = totalBytes; self.bytes = bytes
    }
}

/// The per-connection protocol core: record framing, the handshake, the session cipher, keepalive answers and
/// stream validation, as one pure state machine. The libuv shell and tests drive it; it never touches a socket.
///
/// Life: `handshaking` → `established` → `closed`. In `handshaking` only handshake frames are accepted and records
/// are limited to `Wire.handshakeRecordBytesMax`; in `established` every record must be sealed under the session
/// cipher and is limited to `TransportLimits.recordBytesMax`. Any violation yields one `.close` directive with a
/// typed reason, after which the core ignores input. Timeouts (handshake, keepalive) are the shell's: it owns time.
public struct ConnectionCore: Sendable {
    /// What the core asks its shell to do, in order.
    public enum Directive: Sendable, Equatable {
        /// Queue these bytes (a complete record) for the socket.
        case write([UInt8])
        /// The handshake completed: the peer is `peer`.
        case established(peer: NodeID, publicKey: [UInt8])
        /// An application frame arrived.
        case deliverFrame(Frame)
        /// A stream chunk arrived (validated: in order, within its declared size).
        case deliverStreamChunk(StreamChunk)
        /// The peer abandoned a stream; discard what was assembled.
        case streamAborted(UInt32)
        /// A pong for ping `id` arrived (the shell measures RTT).
        case pong(UInt64)
        /// Close the connection for `reason`; the core ignores further input. The peer broke a rule (or closed),
        /// so the shell closes the socket without writing more.
        case close(CloseReason, detail: String)
    }

    private enum State: Sendable { case handshaking, established, closed }

    private struct InboundStream: Sendable { var channel: UInt16; var totalBytes: UInt64; var receivedBytes: UInt64 }

    public let limits: TransportLimits
    private var state: State = .handshaking
    private var decoder: RecordDecoder
    private var handshake: Handshake
    private var cipher: SessionCipher?
    private var inboundStreams: [UInt32: InboundStream] = [:]
    private var nextStreamID: UInt32 = 1
    public private(set) var peer: NodeID?
    /// Records received and opened after the handshake (for counters).
    public private(set) var framesReceived = 0
    /// Sealed records at least this long have their payload decrypted straight into its own array
    /// (`SessionCipher.openRecordSplitting`); shorter ones are decrypted in place and copied (cheaper when small).
    /// The fuzz harness lowers it so small inputs take both paths.
    let splitRecordBytesMin: Int

    public init(role: Handshake.Role, localKey: Ed25519PrivateKey, ephemeralSecret: [UInt8], expectedPeer: NodeID? = nil,
                prologue: [UInt8] = [], limits: TransportLimits = .default) {
        self.limits = limits
        self.splitRecordBytesMin = ConnectionCore.defaultSplitRecordBytesMin
        self.decoder = RecordDecoder(recordBytesLimit: Wire.handshakeRecordBytesMax)
        self.handshake = Handshake(role: role, localKey: localKey, ephemeralSecret: ephemeralSecret, expectedPeer: expectedPeer, prologue: prologue)
    }

    /// A core already past its handshake (the fuzz harness and tests that need a session without the exchange).
    init(established result: HandshakeResult, limits: TransportLimits, splitRecordBytesMin: Int = ConnectionCore.defaultSplitRecordBytesMin) {
        self.limits = limits
        self.splitRecordBytesMin = splitRecordBytesMin
        self.decoder = RecordDecoder(recordBytesLimit: limits.recordBytesMax)
        self.handshake = Handshake(role: .responder, localKey: Ed25519PrivateKey(seed: [UInt8](repeating: 0, count: 32))!,
                                   ephemeralSecret: [UInt8](repeating: 1, count: 32))
        self.cipher = result.cipher
        self.peer = result.peer
        self.state = .established
    }

    /// 4 KiB: below it the copy costs less than the extra keystream set-up (measured with the transport bench).
    static let defaultSplitRecordBytesMin = 4 << 10

    public var isEstablished: Bool { state == .established }
    public var isClosed: Bool { state == .closed }
    public var role: Handshake.Role { handshake.role }

    /// MUST be invoked once when the socket is connected: the initiator's first message (the responder writes nothing).
    public mutating func start() -> [Directive] {
        guard handshake.role == .initiator else { return [] }
        return handshake.start().map { d in
            if case .send(let bytes) = d { return .write(bytes) }
            preconditionFailure("handshake established on start")
        }
    }

    /// MUST be invoked with every byte read from the socket, in order, in any chunking.
    public mutating func onBytesReceived(_ bytes: UnsafeRawBufferPointer) -> [Directive] {
        guard state != .closed else { return [] }
        decoder.append(bytes)
        return drain()
    }

    public mutating func onBytesReceived(_ bytes: [UInt8]) -> [Directive] {
        bytes.withUnsafeBytes { onBytesReceived($0) }
    }

    /// Buffers bytes read from the socket without processing them (the libuv read callback does only this, C1);
    /// `processReceived` then turns them into directives.
    public mutating func appendReceived(_ bytes: UnsafeRawBufferPointer) {
        guard state != .closed else { return }
        decoder.append(bytes)
    }

    /// The unfilled rest of a large record being received, for the shell to read socket bytes straight into (no copy
    /// through a read buffer); nil when bytes must go through `appendReceived`. After writing, the shell MUST call
    /// `receivedDirectly` with the count before any other call on the core.
    public mutating func withDirectReceiveSpace<R>(_ body: (UnsafeMutableRawBufferPointer) -> R) -> R? {
        guard state != .closed else { return nil }
        return decoder.withLargeRecordSpace(body)
    }

    /// `count` bytes were read into the space `withDirectReceiveSpace` offered.
    public mutating func receivedDirectly(_ count: Int) {
        guard state != .closed else { return }
        decoder.didFillLargeRecord(count)
    }

    /// Processes what `appendReceived` buffered. MUST be invoked after one or more `appendReceived` calls.
    public mutating func processReceived() -> [Directive] {
        guard state != .closed else { return [] }
        return drain()
    }

    /// Bytes buffered and not yet processed.
    public var bufferedBytes: Int { decoder.bufferedBytes }

    private mutating func drain() -> [Directive] {
        var directives: [Directive] = []
        do {
            while state != .closed, var record = try decoder.next() {
                switch state {
                case .handshaking:
                    let frame = try FrameCodec.decodeFrame(record[...])
                    for d in try handshake.onFrame(frame) {
                        switch d {
                        case .send(let bytes): directives.append(.write(bytes))
                        case .established(let result):
                            cipher = result.cipher
                            peer = result.peer
                            state = .established
                            decoder.recordBytesLimit = limits.recordBytesMax
                            directives.append(.established(peer: result.peer, publicKey: result.peerPublicKey))
                        }
                    }
                case .established:
                    switch try cipher!.openRecordSplitting(&record, splitBytesMin: splitRecordBytesMin) {
                    case .frame(let frame):
                        framesReceived += 1
                        try onSessionFrame(frame, &directives)
                    case .split(let type, let header, let body):
                        framesReceived += 1
                        try onSplitFrame(type, header, body, &directives)
                    }
                case .closed:
                    break
                }
            }
        } catch {
            state = .closed
            directives.append(.close(error.reason, detail: error.detail))
        }
        return directives
    }

    private mutating func onSessionFrame(_ frame: PlainFrame, _ directives: inout [Directive]) throws(TransportError) {
        switch frame.type {
        case .data:
            let f = try FrameCodec.decodeData(frame.payload)
            guard f.payload.count <= limits.frameBytesMax else {
                throw TransportError(.frameTooLarge, "data frame of \(f.payload.count) bytes over \(limits.frameBytesMax)")
            }
            directives.append(.deliverFrame(f))
        case .ping:
            let id = try FrameCodec.decodeUInt64Payload(frame.payload, "ping")
            directives.append(.write(sealPong(id)))
        case .pong:
            directives.append(.pong(try FrameCodec.decodeUInt64Payload(frame.payload, "pong")))
        case .close:
            let reason = try FrameCodec.decodeClose(frame.payload)
            state = .closed
            directives.append(.close(.remoteClose, detail: "peer closed: \(reason)"))
        case .streamOpen:
            let (id, channel, total) = try FrameCodec.decodeStreamOpen(frame.payload)
            guard inboundStreams[id] == nil else { throw TransportError(.streamViolation, "stream \(id) opened twice") }
            guard inboundStreams.count < limits.streamsOpenMax else {
                throw TransportError(.streamViolation, "more than \(limits.streamsOpenMax) streams open")
            }
            guard total > 0 && total <= UInt64(limits.streamBytesMax) else {
                throw TransportError(.streamViolation, "stream of \(total) bytes outside 1...\(limits.streamBytesMax)")
            }
            inboundStreams[id] = InboundStream(channel: channel, totalBytes: total, receivedBytes: 0)
        case .streamChunk:
            let (id, bytes) = try FrameCodec.decodeStreamChunk(frame.payload)
            try onStreamChunk(id, Array(bytes), &directives)
        case .streamAbort:
            let id = try FrameCodec.decodeStreamAbort(frame.payload)
            guard inboundStreams.removeValue(forKey: id) != nil else { throw TransportError(.streamViolation, "abort of unknown stream \(id)") }
            directives.append(.streamAborted(id))
        case .hello, .helloReply, .helloFinish:
            throw TransportError(.protocolViolation, "handshake frame \(frame.type) after the handshake")
        }
    }

    /// A data frame or stream chunk whose bytes were decrypted into their own array (`openRecordSplitting`): the
    /// same checks as `onSessionFrame`, without copying the payload.
    private mutating func onSplitFrame(_ type: FrameType, _ header: [UInt8], _ body: [UInt8],
                                       _ directives: inout [Directive]) throws(TransportError) {
        switch type {
        case .data:
            guard body.count <= limits.frameBytesMax else {
                throw TransportError(.frameTooLarge, "data frame of \(body.count) bytes over \(limits.frameBytesMax)")
            }
            directives.append(.deliverFrame(Frame(channel: FrameCodec.readUInt16(header, 0), payload: body)))
        case .streamChunk:
            try onStreamChunk(FrameCodec.readUInt32(header, 0), body, &directives)
        default:
            preconditionFailure("only data frames and stream chunks are split")
        }
    }

    private mutating func onStreamChunk(_ id: UInt32, _ bytes: [UInt8], _ directives: inout [Directive]) throws(TransportError) {
        guard var s = inboundStreams[id] else { throw TransportError(.streamViolation, "chunk for unknown stream \(id)") }
        guard bytes.count <= limits.streamChunkBytesMax, s.receivedBytes + UInt64(bytes.count) <= s.totalBytes else {
            throw TransportError(.streamViolation, "chunk of \(bytes.count) bytes overruns stream \(id)")
        }
        let chunk = StreamChunk(streamID: id, channel: s.channel, offset: s.receivedBytes, totalBytes: s.totalBytes, bytes: bytes)
        s.receivedBytes += UInt64(bytes.count)
        if s.receivedBytes == s.totalBytes { inboundStreams[id] = nil } else { inboundStreams[id] = s }
        directives.append(.deliverStreamChunk(chunk))
    }

    // MARK: sealing (only when established)

    private mutating func sealing() -> SessionCipher {
        precondition(state == .established, "sealing on a connection that is not established (\(state))")
        return cipher!
    }

    /// A sealed record carrying an application frame. Precondition: established, payload within `frameBytesMax`.
    public mutating func sealFrame(_ frame: Frame) -> [UInt8] {
        precondition(frame.payload.count <= limits.frameBytesMax, "frame of \(frame.payload.count) bytes over frameBytesMax; use a stream")
        _ = sealing()
        var header: [UInt8] = []
        FrameCodec.appendUInt16(frame.channel, to: &header)
        return frame.payload.withUnsafeBytes { cipher!.sealRecord(.data, header: header, body: $0) }
    }

    public mutating func sealPing(_ id: UInt64) -> [UInt8] {
        _ = sealing()
        var b: [UInt8] = []; FrameCodec.appendUInt64(id, to: &b)
        return cipher!.sealRecord(.ping, body: b)
    }

    public mutating func sealPong(_ id: UInt64) -> [UInt8] {
        _ = sealing()
        var b: [UInt8] = []; FrameCodec.appendUInt64(id, to: &b)
        return cipher!.sealRecord(.pong, body: b)
    }

    /// The polite close frame. The core is closed afterwards.
    public mutating func sealClose(_ reason: CloseReason) -> [UInt8] {
        _ = sealing()
        var b: [UInt8] = []; FrameCodec.appendUInt16(reason.rawValue, to: &b)
        let record = cipher!.sealRecord(.close, body: b)
        state = .closed
        return record
    }

    /// Marks the core closed (the shell closed the socket for its own reason).
    public mutating func markClosed() { state = .closed }

    /// Allocates the next outbound stream id.
    public mutating func allocateStreamID() -> UInt32 {
        defer { nextStreamID &+= 1; if nextStreamID == 0 { nextStreamID = 1 } }
        return nextStreamID
    }

    public mutating func sealStreamOpen(id: UInt32, channel: UInt16, totalBytes: UInt64) -> [UInt8] {
        _ = sealing()
        var b: [UInt8] = []
        FrameCodec.appendUInt32(id, to: &b); FrameCodec.appendUInt16(channel, to: &b); FrameCodec.appendUInt64(totalBytes, to: &b)
        return cipher!.sealRecord(.streamOpen, body: b)
    }

    public mutating func sealStreamChunk(id: UInt32, bytes: UnsafeRawBufferPointer) -> [UInt8] {
        precondition(bytes.count > 0 && bytes.count <= limits.streamChunkBytesMax, "chunk of \(bytes.count) bytes")
        _ = sealing()
        var h: [UInt8] = []; FrameCodec.appendUInt32(id, to: &h)
        return cipher!.sealRecord(.streamChunk, header: h, body: bytes)
    }

    public mutating func sealStreamAbort(id: UInt32) -> [UInt8] {
        _ = sealing()
        var b: [UInt8] = []; FrameCodec.appendUInt32(id, to: &b)
        return cipher!.sealRecord(.streamAbort, body: b)
    }
}

/// An outbound stream: the payload is held once (the caller's array, shared, not copied) and sealed a chunk at a
/// time as the write queue has room, so a 64 MiB item never sits in the queue twice.
public struct OutboundStream: Sendable {
    public let id: UInt32
    public let channel: UInt16
    public let payload: [UInt8]
    public private(set) var offset = 0
    private var opened = false

    public init(id: UInt32, channel: UInt16, payload: [UInt8]) {
        precondition(!payload.isEmpty, "empty stream")
        self.id = id; self.channel = channel; self.payload = payload
    }

    public var isFinished: Bool { offset == payload.count }

    /// The next record to write: the open frame first, then chunks. Precondition: not finished.
    public mutating func nextRecord(_ core: inout ConnectionCore) -> [UInt8] {
        precondition(!isFinished, "stream \(id) already finished")
        if !opened {
            opened = true
            return core.sealStreamOpen(id: id, channel: channel, totalBytes: UInt64(payload.count))
        }
        let n = min(core.limits.streamChunkBytesMax, payload.count - offset)
        let record = payload.withUnsafeBytes { core.sealStreamChunk(id: id, bytes: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + n])) }
        offset += n
        return record
    }
}

/// Assembles the chunks of inbound streams into whole payloads, with one buffer per stream reserved at its
/// declared size (bounded by the transport's `streamBytesMax`, which the core already enforced).
public struct StreamAssembler: Sendable {
    private var open: [UInt32: [UInt8]] = [:]
    public init() {}
    /// Adds a chunk; returns the whole payload when the chunk is the last one.
    public mutating func add(_ chunk: StreamChunk) -> [UInt8]? {
        if chunk.offset == 0 {
            var b = [UInt8](); b.reserveCapacity(Int(chunk.totalBytes)); open[chunk.streamID] = b
        }
        precondition(open[chunk.streamID]?.count == Int(chunk.offset), "chunk out of order; the core validates order")
        open[chunk.streamID]!.append(contentsOf: chunk.bytes)
        if chunk.isLast { return open.removeValue(forKey: chunk.streamID) }
        return nil
    }
    public mutating func abort(_ id: UInt32) { open[id] = nil }
}

/// Reconnect delays: exponential from `base` to `max` milliseconds, plus jitter in [0, delay/2) drawn from the
/// caller's seeded generator so a simulator run replays exactly (C3).
public struct ReconnectBackoff: Sendable {
    public let baseMilliseconds: UInt64
    public let maxMilliseconds: UInt64
    public private(set) var attempt: UInt32 = 0
    public init(baseMilliseconds: UInt64, maxMilliseconds: UInt64) {
        precondition(baseMilliseconds >= 1 && maxMilliseconds >= baseMilliseconds)
        self.baseMilliseconds = baseMilliseconds; self.maxMilliseconds = maxMilliseconds
    }
    /// The delay before the next attempt; each call doubles the base delay up to the cap.
    public mutating func nextDelay<R: RandomNumberGenerator>(using rng: inout R) -> UInt64 {
        let shift = min(attempt, 32)
        let delay = min(maxMilliseconds, baseMilliseconds << UInt64(shift))
        attempt &+= 1
        let jitter = delay / 2 == 0 ? 0 : UInt64.random(in: 0..<(delay / 2), using: &rng)
        return min(maxMilliseconds, delay + jitter)
    }
    /// A successful connection resets the backoff.
    public mutating func reset() { attempt = 0 }
}
