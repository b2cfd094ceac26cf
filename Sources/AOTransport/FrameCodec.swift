/// The frame codec: records on the byte stream, and the typed frames inside them. Pure, no I/O, fuzzable alone.
///
/// ```
/// record   = length:u32be body[length]
/// frame    = version:u8 type:u8 payload          (plaintext; the body of a handshake record)
/// sealed   = counter:u64be ciphertext(frame) tag[16]   (the body of every record after the handshake)
/// ```
/// The length is checked against the connection's limit *before* any byte of the body is buffered, so a peer
/// cannot make us hold more than one maximum-size record. See docs/TRANSPORT.md for every frame's payload.

/// The frame types on the wire. Handshake types appear only before the session is established, the others only
/// after; anything else closes the connection with `.protocolViolation`.
public enum FrameType: UInt8, Sendable, CaseIterable {
    /// Handshake message 1 (initiator → responder): the initiator's X25519 ephemeral key.
    case hello = 0x01
    /// Handshake message 2 (responder → initiator): ephemeral key, then sealed node key and signature.
    case helloReply = 0x02
    /// Handshake message 3 (initiator → responder): sealed node key and signature.
    case helloFinish = 0x03
    /// An application frame: channel:u16be then the payload.
    case data = 0x10
    /// Keepalive request: an opaque u64 the peer echoes.
    case ping = 0x11
    /// Keepalive answer: the u64 of the ping.
    case pong = 0x12
    /// Polite close: reason:u16be. The connection ends after it.
    case close = 0x13
    /// Opens an inbound stream: id:u32be channel:u16be totalBytes:u64be.
    case streamOpen = 0x14
    /// The next chunk of a stream: id:u32be bytes. The stream ends when totalBytes have arrived.
    case streamChunk = 0x15
    /// The sender gave up on a stream: id:u32be.
    case streamAbort = 0x16
}

/// An application frame: what `Transport.send` carries. `channel` lets the node route frames to its cores
/// (gossip, scheduling, fetch) without parsing the payload.
public struct Frame: Sendable, Equatable {
    public var channel: UInt16
    public var payload: [UInt8]
    public init(channel: UInt16, payload: [UInt8]) { self.channel = channel; self.payload = payload }
}

/// A decoded plaintext frame: type plus payload (a slice of the record, not copied).
public struct PlainFrame: Sendable, Equatable {
    public var type: FrameType
    public var payload: ArraySlice<UInt8>
    public init(type: FrameType, payload: ArraySlice<UInt8>) { self.type = type; self.payload = payload }
}

/// Splits an arbitrary byte stream into records. Incremental: feed any chunking, get the same records.
///
/// MUST be fed bytes in the order they arrived. `limit` may change between records (the handshake limit is small,
/// the session limit large); a length above it is an error and the decoder is then unusable.
public struct RecordDecoder: Sendable {
    /// Bytes of records not complete yet (a partial small record, or a length prefix not checked yet), from `start`.
    private var buffer: [UInt8] = []
    private var start = 0
    private var failed = false
    /// Complete records taken out as soon as their bytes arrived (in `append`), in order, from `completedHead`.
    /// Everything here precedes `large`, which precedes `buffer`.
    private var completed: [[UInt8]] = []
    private var completedHead = 0
    private var completedBytes = 0
    /// A large record being received straight into its own array (no second copy of the body): once its length is
    /// known and the body is incomplete, the array is allocated at the body's full length and its bytes go here,
    /// up to `largeFilled`, instead of `buffer` (appended, or read in directly: `withLargeRecordSpace`). While it
    /// is set, `buffer` is empty.
    private var large: [UInt8]?
    private var largeLength = 0
    private var largeFilled = 0
    /// Records at least this long are collected in `large` (16 KiB by default: below that one copy is cheap).
    let largeRecordBytesMin: Int
    /// The largest record body accepted now. Checked when a record is returned (`next`); `append` takes out only
    /// records within the limit in force, so raising it between records (after the handshake) is safe.
    public var recordBytesLimit: Int

    /// - Parameter largeRecordBytesMin: records at least this long are received straight into their own array
    ///   (tests and the fuzzer lower it to exercise that path with small inputs).
    public init(recordBytesLimit: Int, largeRecordBytesMin: Int = 16 << 10) {
        precondition(recordBytesLimit > 0 && recordBytesLimit <= Wire.recordBytesHardMax, "bad record limit \(recordBytesLimit)")
        precondition(largeRecordBytesMin >= 1, "largeRecordBytesMin must be positive")
        self.recordBytesLimit = recordBytesLimit
        self.largeRecordBytesMin = largeRecordBytesMin
    }

    /// Bytes buffered but not yet returned as records.
    public var bufferedBytes: Int { buffer.count - start + (large == nil ? 0 : largeFilled) + completedBytes }

    /// Calls `body` with the unfilled rest of the large record being received, if any, so a reader can receive
    /// socket bytes straight into it; then `didFillLargeRecord(n)` says how many it wrote. Nil (and `body` is not
    /// called) when no large record is in progress: bytes then go through `append`. The space stays valid until
    /// the next mutating call on the decoder.
    public mutating func withLargeRecordSpace<R>(_ body: (UnsafeMutableRawBufferPointer) -> R) -> R? {
        guard large != nil, largeFilled < largeLength, !failed else { return nil }
        let filled = largeFilled
        return large!.withUnsafeMutableBytes { body(UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
    }

    /// Records that `count` bytes were written at the start of the space `withLargeRecordSpace` offered.
    public mutating func didFillLargeRecord(_ count: Int) {
        precondition(large != nil && count >= 0 && largeFilled + count <= largeLength, "filled past the large record")
        largeFilled += count
        finishLargeIfFull()
    }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        Array(bytes).withUnsafeBytes { append($0) }
    }

    /// Takes the bytes in: completes the large record in progress, takes out every complete record (copied once,
    /// straight from `bytes` when nothing was pending) and starts the next large record, so the reader can receive
    /// its rest directly.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes
        if large != nil {
            let take = min(largeLength - largeFilled, rest.count)
            let at = largeFilled
            large!.withUnsafeMutableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[at..<(at + take)]).copyMemory(from: UnsafeRawBufferPointer(rebasing: rest[0..<take])) }
            largeFilled += take
            finishLargeIfFull()
            rest = UnsafeRawBufferPointer(rebasing: rest[take...])
        }
        guard !rest.isEmpty else { return }
        if !failed && start == buffer.count {
            // Nothing pending: take the records out of `rest` where they lie; only an incomplete small record (or a
            // length `next` will refuse) is kept in `buffer`.
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20); start = 0
            var pos = 0
            while rest.count - pos >= Wire.lengthPrefixBytes {
                let length = Self.length(rest, pos)
                guard length > 0 && length <= recordBytesLimit else { break }
                let bodyStart = pos + Wire.lengthPrefixBytes
                if rest.count - bodyStart >= length {
                    completed.append(Array(UnsafeRawBufferPointer(rebasing: rest[bodyStart..<(bodyStart + length)]).assumingMemoryBound(to: UInt8.self)))
                    completedBytes += length
                    pos = bodyStart + length
                    continue
                }
                if length >= largeRecordBytesMin {
                    large = Self.largeRecord(length, UnsafeRawBufferPointer(rebasing: rest[bodyStart...]))
                    largeLength = length; largeFilled = rest.count - bodyStart
                    return
                }
                break
            }
            rest = UnsafeRawBufferPointer(rebasing: rest[pos...])
            guard !rest.isEmpty else { return }
        }
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start); start = 0
        }
        buffer.append(contentsOf: rest.assumingMemoryBound(to: UInt8.self))  // typed: a memcpy, not a byte loop
        extractFromBuffer()
    }

    /// The next complete record body, nil when more bytes are needed.
    /// Throws `.frameTooLarge` (length over the limit) or `.protocolViolation` (zero length).
    public mutating func next() throws(TransportError) -> [UInt8]? {
        precondition(!failed, "RecordDecoder used after it failed")
        if completedHead == completed.count { extractFromBuffer() }  // the limit may have been raised since
        if completedHead < completed.count {
            let body = completed[completedHead]
            completed[completedHead] = []
            completedHead += 1
            completedBytes -= body.count
            if completedHead == completed.count { completed.removeAll(keepingCapacity: true); completedHead = 0 }
            return body
        }
        guard large == nil else { return nil }
        // `extractFromBuffer` stopped here: an incomplete record, or a length to refuse.
        guard buffer.count - start >= Wire.lengthPrefixBytes else { return nil }
        let length = Self.length(buffer, start)
        guard length > 0 else { failed = true; throw TransportError(.protocolViolation, "zero-length record") }
        guard length <= recordBytesLimit else {
            failed = true
            throw TransportError(.frameTooLarge, "record of \(length) bytes over the limit of \(recordBytesLimit)")
        }
        return nil
    }

    // MARK: internals

    private static func length(_ b: UnsafeRawBufferPointer, _ i: Int) -> Int {
        Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
    }
    private static func length(_ b: [UInt8], _ i: Int) -> Int {
        Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
    }

    private mutating func finishLargeIfFull() {
        guard large != nil, largeFilled == largeLength else { return }
        completed.append(large!)
        completedBytes += largeLength
        large = nil
    }

    /// The array of a large record of `length` bytes whose first bytes are `have` (fewer than `length`): allocated
    /// at full length at once (the rest is written before the record is returned; UInt8 needs no initialization).
    private static func largeRecord(_ length: Int, _ have: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: length) { b, initialized in
            UnsafeMutableRawBufferPointer(b).copyMemory(from: have)
            initialized = length
        }
    }

    /// Takes complete records out of `buffer` and starts a large record there, stopping at an incomplete small
    /// record or a length to refuse (left for `next` to report).
    private mutating func extractFromBuffer() {
        guard !failed, large == nil else { return }
        while buffer.count - start >= Wire.lengthPrefixBytes {
            let length = Self.length(buffer, start)
            guard length > 0 && length <= recordBytesLimit else { return }
            let bodyStart = start + Wire.lengthPrefixBytes
            if buffer.count - bodyStart >= length {
                completed.append(Array(buffer[bodyStart..<(bodyStart + length)]))
                completedBytes += length
                start = bodyStart + length
                continue
            }
            if length >= largeRecordBytesMin {
                let have = buffer.count - bodyStart
                let record = buffer.withUnsafeBytes { Self.largeRecord(length, UnsafeRawBufferPointer(rebasing: $0[bodyStart...])) }
                large = record; largeLength = length; largeFilled = have
                buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20); start = 0
            }
            return
        }
        if start == buffer.count { buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20); start = 0 }
    }
}

/// Encoding and decoding of plaintext frames and their payloads.
public enum FrameCodec {
    /// Appends `length:u32be` for a body of `count` bytes.
    @inlinable public static func appendLength(_ count: Int, to out: inout [UInt8]) {
        precondition(count > 0 && count <= Wire.recordBytesHardMax, "record length \(count) out of range")
        appendUInt32(UInt32(count), to: &out)
    }

    /// A complete plaintext record (handshake records): length prefix + version + type + payload.
    public static func plainRecord(_ type: FrameType, _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Wire.lengthPrefixBytes + Wire.frameHeaderBytes + payload.count)
        appendLength(Wire.frameHeaderBytes + payload.count, to: &out)
        out.append(Wire.version); out.append(type.rawValue)
        out.append(contentsOf: payload)
        return out
    }

    /// Parses a plaintext frame (a handshake record body, or a decrypted session record).
    public static func decodeFrame(_ body: ArraySlice<UInt8>) throws(TransportError) -> PlainFrame {
        guard body.count >= Wire.frameHeaderBytes else { throw TransportError(.protocolViolation, "frame shorter than its header") }
        let version = body[body.startIndex]
        guard version == Wire.version else { throw TransportError(.unsupportedVersion, "wire version \(version), expected \(Wire.version)") }
        guard let type = FrameType(rawValue: body[body.startIndex + 1]) else {
            throw TransportError(.protocolViolation, "unknown frame type \(body[body.startIndex + 1])")
        }
        return PlainFrame(type: type, payload: body[(body.startIndex + 2)...])
    }

    // MARK: payloads

    public static func dataPayload(_ frame: Frame) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(2 + frame.payload.count)
        appendUInt16(frame.channel, to: &out); out.append(contentsOf: frame.payload)
        return out
    }

    public static func decodeData(_ p: ArraySlice<UInt8>) throws(TransportError) -> Frame {
        guard p.count >= 2 else { throw TransportError(.protocolViolation, "data frame without a channel") }
        return Frame(channel: readUInt16(p, p.startIndex), payload: Array(p[(p.startIndex + 2)...]))
    }

    public static func decodeUInt64Payload(_ p: ArraySlice<UInt8>, _ what: String) throws(TransportError) -> UInt64 {
        guard p.count == 8 else { throw TransportError(.protocolViolation, "\(what) payload of \(p.count) bytes, expected 8") }
        return readUInt64(p, p.startIndex)
    }

    public static func decodeClose(_ p: ArraySlice<UInt8>) throws(TransportError) -> CloseReason {
        guard p.count == 2 else { throw TransportError(.protocolViolation, "close payload of \(p.count) bytes, expected 2") }
        return CloseReason(rawValue: readUInt16(p, p.startIndex)) ?? .unknown
    }

    /// streamOpen: id, channel, total size.
    public static func decodeStreamOpen(_ p: ArraySlice<UInt8>) throws(TransportError) -> (id: UInt32, channel: UInt16, totalBytes: UInt64) {
        guard p.count == 14 else { throw TransportError(.protocolViolation, "streamOpen payload of \(p.count) bytes, expected 14") }
        let s = p.startIndex
        return (readUInt32(p, s), readUInt16(p, s + 4), readUInt64(p, s + 6))
    }

    public static func decodeStreamChunk(_ p: ArraySlice<UInt8>) throws(TransportError) -> (id: UInt32, bytes: ArraySlice<UInt8>) {
        guard p.count > 4 else { throw TransportError(.protocolViolation, "streamChunk without bytes") }
        return (readUInt32(p, p.startIndex), p[(p.startIndex + 4)...])
    }

    public static func decodeStreamAbort(_ p: ArraySlice<UInt8>) throws(TransportError) -> UInt32 {
        guard p.count == 4 else { throw TransportError(.protocolViolation, "streamAbort payload of \(p.count) bytes, expected 4") }
        return readUInt32(p, p.startIndex)
    }

    // MARK: integers (big-endian)

    @inlinable public static func appendUInt16(_ v: UInt16, to out: inout [UInt8]) {
        out.append(UInt8(v >> 8)); out.append(UInt8(truncatingIfNeeded: v))
    }
    @inlinable public static func appendUInt32(_ v: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(v >> 24)); out.append(UInt8(truncatingIfNeeded: v >> 16))
        out.append(UInt8(truncatingIfNeeded: v >> 8)); out.append(UInt8(truncatingIfNeeded: v))
    }
    @inlinable public static func appendUInt64(_ v: UInt64, to out: inout [UInt8]) {
        appendUInt32(UInt32(v >> 32), to: &out); appendUInt32(UInt32(truncatingIfNeeded: v), to: &out)
    }
    @inlinable public static func readUInt16<C: Collection>(_ b: C, _ i: C.Index) -> UInt16 where C.Element == UInt8, C.Index == Int {
        UInt16(b[i]) << 8 | UInt16(b[i + 1])
    }
    @inlinable public static func readUInt32<C: Collection>(_ b: C, _ i: C.Index) -> UInt32 where C.Element == UInt8, C.Index == Int {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }
    @inlinable public static func readUInt64<C: Collection>(_ b: C, _ i: C.Index) -> UInt64 where C.Element == UInt8, C.Index == Int {
        UInt64(readUInt32(b, i)) << 32 | UInt64(readUInt32(b, i + 4))
    }
}
