import AOCore

/// A TCP-style address. The simulator uses the same type with made-up hosts.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: UInt16
    public init(host: String, port: UInt16) { self.host = host; self.port = port }
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// What a transport tells the node. Events of one peer arrive in the order they happened.
public enum TransportEvent: Sendable, Equatable {
    /// A connection completed its handshake; `peer` is authenticated. `endpoint` is the remote address.
    case connected(peer: NodeID, endpoint: Endpoint)
    /// An application frame from an authenticated peer.
    case frameReceived(peer: NodeID, frame: Frame)
    /// A chunk of an inbound stream (large payload), in order.
    case streamChunkReceived(peer: NodeID, chunk: StreamChunk)
    /// The peer abandoned a stream.
    case streamAborted(peer: NodeID, streamID: UInt32)
    /// An established connection ended.
    case disconnected(peer: NodeID, endpoint: Endpoint, reason: CloseReason)
    /// A dial ended before a handshake completed (refused, timed out, wrong key...).
    case connectFailed(endpoint: Endpoint, reason: CloseReason)
}

/// The answer of `send`: accepted, accepted but slow down, or no connection to that peer.
public enum SendResult: Sendable, Equatable {
    /// Queued for the peer.
    case enqueued
    /// Queued, but the peer's queue is above `writeQueueBytesHigh`: the caller should wait (`awaitWritable`) or shed.
    case backpressure
    /// No established connection to that peer (or it is closing): nothing was queued.
    case notConnected
}

/// The seam between the node shell and the network (CONVENTIONS.md C5): `UVTransport` (libuv, real sockets) and
/// `SimTransport` (seeded in-memory network) implement it.
///
/// Contract:
/// - Methods are thread-safe and never block on the network; effects are reported as `TransportEvent`s.
/// - A peer is a `NodeID` authenticated by the handshake; at most one connection per peer is kept (ties between
///   simultaneous dials are broken deterministically, the loser closed with `.duplicateConnection`).
/// - `send` never splits or merges frames; frames to one peer arrive in order, once, or the connection closes.
/// - Payloads above `frameBytesMax` MUST go through `sendStream`.
public protocol Transport: AnyObject, Sendable {
    /// The local node's identity (SHA-256 of its ed25519 public key).
    var localNodeID: NodeID { get }
    /// Every event, in order. One consumer. Consuming is what frees the inbound budget: a transport stops reading
    /// from its sockets while more than `eventBacklogBytesMax` of received payload waits here.
    var events: TransportEvents { get }
    /// Starts accepting connections; returns the bound endpoint (port 0 picks an ephemeral port).
    func listen(on endpoint: Endpoint) throws(TransportError) -> Endpoint
    /// Dials `endpoint`. With `expecting`, the handshake refuses any other key. `persistent` dials are retried
    /// with exponential backoff and seeded jitter whenever they fail or drop, until `close(peer)` or shutdown.
    func connect(to endpoint: Endpoint, expecting peer: NodeID?, persistent: Bool)
    /// Queues one frame for an authenticated peer.
    @discardableResult func send(_ frame: Frame, to peer: NodeID) -> SendResult
    /// Queues a large payload as a chunked stream (held once, sealed chunk by chunk as the queue drains).
    @discardableResult func sendStream(_ payload: [UInt8], channel: UInt16, to peer: NodeID) -> SendResult
    /// Closes the connection to `peer` (after flushing what is queued) and stops reconnecting to it.
    func close(_ peer: NodeID)
    /// Stops listening, flushes and closes every connection, and ends `events`.
    func shutdown() async
    /// A snapshot of the counters (closes per reason, frames, bytes).
    var counters: TransportCounters { get }
}

/// The event sequence of a transport: an `AsyncStream` whose iterator reports each consumed event back to the
/// transport, so the transport can bound what waits unconsumed (and pause reading from sockets until it drains).
public struct TransportEvents: AsyncSequence, Sendable {
    public typealias Element = TransportEvent
    let stream: AsyncStream<TransportEvent>
    let consumed: @Sendable (TransportEvent) -> Void

    public init(_ stream: AsyncStream<TransportEvent>, consumed: @escaping @Sendable (TransportEvent) -> Void = { _ in }) {
        self.stream = stream; self.consumed = consumed
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<TransportEvent>.AsyncIterator
        let consumed: @Sendable (TransportEvent) -> Void
        public mutating func next() async -> TransportEvent? {
            guard let e = await base.next() else { return nil }
            consumed(e)
            return e
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: stream.makeAsyncIterator(), consumed: consumed) }

    /// Payload bytes an event holds (what the backlog bound counts).
    public static func payloadBytes(_ e: TransportEvent) -> Int {
        switch e {
        case .frameReceived(_, let f): f.payload.count
        case .streamChunkReceived(_, let c): c.bytes.count
        default: 0
        }
    }
}
