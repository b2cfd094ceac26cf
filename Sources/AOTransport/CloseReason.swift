/// Why a connection ended. Every close goes through exactly one reason, is logged with it and counted per reason
/// (`TransportCounters`), so an operator can tell a misbehaving peer from a flaky network.
///
/// The raw value is sent in the `close` frame when we close politely, so it is part of the wire format.
public enum CloseReason: UInt16, Sendable, CaseIterable, CustomStringConvertible {
    /// The local node asked to close this connection (`Transport.close`).
    case localClose = 1
    /// The peer sent a `close` frame.
    case remoteClose = 2
    /// The peer closed the socket (EOF) without a `close` frame.
    case endOfStream = 3
    /// A socket error (reset, refused, unreachable).
    case ioError = 4
    /// The handshake did not complete in `handshakeTimeoutMilliseconds` (slowloris, or a dead peer).
    case handshakeTimeout = 5
    /// A handshake message failed to decrypt, or its signature did not verify: not the key it claims, or a
    /// replayed/reflected handshake (the transcript hash differs).
    case handshakeFailed = 6
    /// The peer authenticated with a key other than the one the dialer expected.
    case unexpectedPeer = 7
    /// The peer authenticated with our own key (we dialled ourselves, or a reflection).
    case selfConnection = 8
    /// Bytes that are not a valid frame: a malformed header, an unknown or out-of-place frame type, a short body.
    case protocolViolation = 9
    /// A frame whose wire version this node does not speak.
    case unsupportedVersion = 10
    /// A length prefix above the limit for the connection's state.
    case frameTooLarge = 11
    /// An encrypted frame failed authentication (altered ciphertext, tag, or header).
    case tamperedFrame = 12
    /// An encrypted frame carried a counter already used (a replay).
    case replayedFrame = 13
    /// An encrypted frame carried a counter ahead of the next expected one (reordered or dropped frames).
    case reorderedFrame = 14
    /// The peer did not read fast enough: our queue for it passed `writeQueueBytesMax`.
    case writeQueueOverflow = 15
    /// Nothing arrived for `idleTimeoutMilliseconds`, pings included.
    case keepaliveTimeout = 16
    /// The node already holds `connectionsMax` connections.
    case connectionLimit = 17
    /// A second connection to a peer we already had; the deterministic tie-break closed this one.
    case duplicateConnection = 18
    /// A stream broke its rules (unknown id, chunk past its declared size, too many open, over `streamBytesMax`).
    case streamViolation = 19
    /// The node is shutting down.
    case shutdown = 20
    /// A close frame carried a reason code we do not know (kept so the counter is not lost).
    case unknown = 0xFFFF

    public var description: String {
        switch self {
        case .localClose: "local-close"
        case .remoteClose: "remote-close"
        case .endOfStream: "end-of-stream"
        case .ioError: "io-error"
        case .handshakeTimeout: "handshake-timeout"
        case .handshakeFailed: "handshake-failed"
        case .unexpectedPeer: "unexpected-peer"
        case .selfConnection: "self-connection"
        case .protocolViolation: "protocol-violation"
        case .unsupportedVersion: "unsupported-version"
        case .frameTooLarge: "frame-too-large"
        case .tamperedFrame: "tampered-frame"
        case .replayedFrame: "replayed-frame"
        case .reorderedFrame: "reordered-frame"
        case .writeQueueOverflow: "write-queue-overflow"
        case .keepaliveTimeout: "keepalive-timeout"
        case .connectionLimit: "connection-limit"
        case .duplicateConnection: "duplicate-connection"
        case .streamViolation: "stream-violation"
        case .shutdown: "shutdown"
        case .unknown: "unknown"
        }
    }
}

/// An operating error of the transport (C10 kind 2): the connection it happened on is closed with `reason`.
public struct TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The close reason this error maps to.
    public let reason: CloseReason
    /// A human sentence for the log.
    public let detail: String
    public init(_ reason: CloseReason, _ detail: String) { self.reason = reason; self.detail = detail }
    public var description: String { "\(reason): \(detail)" }
    public static func == (l: Self, r: Self) -> Bool { l.reason == r.reason }
}

/// Close counts per reason. The shells own one, bump it on every close, and expose a snapshot.
public struct TransportCounters: Sendable, Equatable {
    public private(set) var closes: [CloseReason: Int] = [:]
    public var connectionsAccepted = 0
    public var connectionsDialed = 0
    public var handshakesCompleted = 0
    public var framesSent = 0
    public var framesReceived = 0
    public var bytesSent = 0
    public var bytesReceived = 0
    /// Times reading was paused because the node did not consume events fast enough.
    public var readPauses = 0
    public init() {}
    public mutating func countClose(_ reason: CloseReason) { closes[reason, default: 0] += 1 }
    public subscript(reason: CloseReason) -> Int { closes[reason] ?? 0 }
}
