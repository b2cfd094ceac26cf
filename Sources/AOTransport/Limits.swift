/// Every bound the transport enforces, in one place (CONVENTIONS.md C11). Units are last in the names.
///
/// `TransportLimits` is a value so tests can shrink the limits (a short handshake timeout for the slowloris test, a
/// small write queue for the stalled-reader test); `TransportLimits.default` is what a node runs with.
public struct TransportLimits: Sendable, Equatable {
    /// Largest application payload in one `.data` frame. 1 MiB: big enough for any gossip message or assignment
    /// batch and for 256 KiB stream chunks, small enough that a peer can make us buffer at most this much per
    /// connection before authenticating a frame. Larger payloads must go as streams.
    public var frameBytesMax: Int = 1 << 20

    /// Largest payload of one stream chunk. 256 KiB amortises the per-record AEAD and syscall cost (see the bench)
    /// while keeping the per-connection read buffer small.
    public var streamChunkBytesMax: Int = 256 << 10

    /// Largest total size of one stream (one data item). AO data items in practice stay far below this; the issue
    /// asks for at least 64 MiB. Configurable per node.
    public var streamBytesMax: Int = 64 << 20

    /// Inbound streams open at once per connection: bounds the reassembly state a peer can make us hold.
    public var streamsOpenMax: Int = 8

    /// Bytes queued for one peer (encrypted, not yet written to the socket) before the connection is closed with
    /// `.writeQueueOverflow`: a peer that stops reading must not make us hold unbounded memory.
    public var writeQueueBytesMax: Int = 16 << 20

    /// Above this many queued bytes `send` answers `.backpressure` (still accepted): callers slow down.
    public var writeQueueBytesHigh: Int = 4 << 20

    /// Received payload bytes (frames and stream chunks) waiting in `events` for the node to consume. Above it the
    /// transport stops reading from every socket until the backlog halves, so a slow consumer pushes back on peers
    /// through TCP instead of growing memory. 64 MiB: one maximum stream in flight.
    public var eventBacklogBytesMax: Int = 64 << 20

    /// Milliseconds a connection may take from accept/connect to a completed handshake (slowloris bound).
    public var handshakeTimeoutMilliseconds: UInt64 = 5_000

    /// Keepalive ping interval in milliseconds, and the silence after which a connection is declared dead.
    public var pingIntervalMilliseconds: UInt64 = 5_000
    public var idleTimeoutMilliseconds: UInt64 = 20_000

    /// Connections (inbound + outbound, handshaking or established) one node holds at once.
    public var connectionsMax: Int = 512

    /// Reconnect backoff for persistent dials: base, cap (milliseconds); jitter is drawn from a seeded generator.
    public var reconnectBaseMilliseconds: UInt64 = 100
    public var reconnectMaxMilliseconds: UInt64 = 30_000

    /// Milliseconds `shutdown` waits for write queues to flush before closing anyway.
    public var shutdownFlushMilliseconds: UInt64 = 2_000

    public init() {}
    public static let `default` = TransportLimits()

    /// The largest encrypted record body a connection accepts after the handshake: the biggest plaintext frame
    /// (a data frame or a stream chunk with its small header) plus the record overhead.
    public var recordBytesMax: Int {
        max(frameBytesMax + Wire.dataHeaderBytes, streamChunkBytesMax + Wire.streamChunkHeaderBytes)
            + Wire.frameHeaderBytes + Wire.sealOverheadBytes
    }

    /// Checks the relationships between limits (C11): called by every transport at start-up.
    public func validate() {
        precondition(frameBytesMax >= 1024, "frameBytesMax too small: \(frameBytesMax)")
        precondition(frameBytesMax <= Wire.recordBytesHardMax - 64, "frameBytesMax exceeds the wire's hard maximum")
        precondition(streamChunkBytesMax >= 1024 && streamChunkBytesMax <= frameBytesMax,
                     "streamChunkBytesMax must be in 1 KiB...frameBytesMax")
        precondition(streamBytesMax >= streamChunkBytesMax, "streamBytesMax < streamChunkBytesMax")
        precondition(writeQueueBytesHigh < writeQueueBytesMax, "writeQueueBytesHigh must be below writeQueueBytesMax")
        precondition(writeQueueBytesMax >= recordBytesMax + Wire.lengthPrefixBytes,
                     "writeQueueBytesMax must hold at least one full record")
        precondition(streamsOpenMax >= 1 && connectionsMax >= 1, "counts must be positive")
        precondition(eventBacklogBytesMax >= frameBytesMax, "eventBacklogBytesMax must hold one maximum frame")
        precondition(idleTimeoutMilliseconds > pingIntervalMilliseconds, "idle timeout must exceed the ping interval")
        precondition(reconnectBaseMilliseconds >= 1 && reconnectMaxMilliseconds >= reconnectBaseMilliseconds,
                     "reconnect backoff bounds out of order")
    }
}

/// Fixed sizes of the wire format (docs/TRANSPORT.md). Not tunable: changing one is a new wire version.
public enum Wire {
    /// The wire version carried in every frame's first byte. A peer speaking another version is refused.
    public static let version: UInt8 = 1
    /// The big-endian UInt32 before every record.
    public static let lengthPrefixBytes = 4
    /// Version and type bytes at the start of every plaintext frame.
    public static let frameHeaderBytes = 2
    /// Explicit 8-byte counter before the ciphertext, plus the 16-byte Poly1305 tag after it.
    public static let sealOverheadBytes = 8 + 16
    /// Channel (UInt16) at the start of a data frame's body.
    public static let dataHeaderBytes = 2
    /// Stream id (UInt32) before a chunk's bytes.
    public static let streamChunkHeaderBytes = 4
    /// No record is ever longer than this, whatever the limits say: 16 MiB keeps a UInt32 length from naming 4 GiB.
    public static let recordBytesHardMax = 16 << 20
    /// Records before the handshake completes are tiny (≤ 2 + 32 + 112 bytes); anything longer is garbage, and a
    /// small bound keeps an unauthenticated peer from making us buffer a large record.
    public static let handshakeRecordBytesMax = 256
}
