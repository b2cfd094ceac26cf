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
    /// The link to `peer` moved to a new connection (from `endpoint`), which replaced the established one: both ends
    /// dialled at once, or the peer dialled again while its old connection still looked alive. The peer was never
    /// unreachable, so no `.disconnected` is emitted for the old connection; frames queued on it may be lost.
    case reconnected(peer: NodeID, endpoint: Endpoint)
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
///
/// A transport may hand events over in batches (`init(batches:consumed:)`): one stream element per loop iteration
/// instead of one per frame, so a busy connection costs one consumer wake-up per batch, not per frame. The iterator
/// flattens them; the consumer still sees single events, in order, each reported to `consumed` as it is taken.
public struct TransportEvents: AsyncSequence, Sendable {
    public typealias Element = TransportEvent
    private enum Source: Sendable {
        case single(AsyncStream<TransportEvent>)
        case batched(AsyncStream<[TransportEvent]>)
    }
    private let source: Source
    let consumed: @Sendable (TransportEvent) -> Void

    public init(_ stream: AsyncStream<TransportEvent>, consumed: @escaping @Sendable (TransportEvent) -> Void = { _ in }) {
        self.source = .single(stream); self.consumed = consumed
    }

    /// Events delivered in batches (each batch in order; batches in order).
    public init(batches: AsyncStream<[TransportEvent]>, consumed: @escaping @Sendable (TransportEvent) -> Void = { _ in }) {
        self.source = .batched(batches); self.consumed = consumed
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var single: AsyncStream<TransportEvent>.AsyncIterator?
        var batched: AsyncStream<[TransportEvent]>.AsyncIterator?
        /// The rest of the current batch, reversed: `popLast` hands events out in order and drops the iterator's
        /// reference to each payload as soon as it is taken.
        var pending: [TransportEvent] = []
        let consumed: @Sendable (TransportEvent) -> Void
        public mutating func next() async -> TransportEvent? {
            await next(isolation: nil)
        }

        /// Runs on the caller's actor (SE-0421): a `for await` loop on an actor does not hop to the global executor
        /// and back for every event (that hop, two thread wake-ups per event, cost more than the event itself).
        public mutating func next(isolation actor: isolated (any Actor)?) async -> TransportEvent? {
            if single != nil {
                guard let e = await single!.next(isolation: actor) else { return nil }
                consumed(e)
                return e
            }
            while pending.isEmpty {
                guard let batch = await batched!.next(isolation: actor) else { return nil }
                pending = batch.reversed()
            }
            let e = pending.removeLast()
            consumed(e)
            return e
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        switch source {
        case .single(let s): AsyncIterator(single: s.makeAsyncIterator(), batched: nil, consumed: consumed)
        case .batched(let b): AsyncIterator(single: nil, batched: b.makeAsyncIterator(), consumed: consumed)
        }
    }

    /// Payload bytes an event holds (what the backlog bound counts).
    public static func payloadBytes(_ e: TransportEvent) -> Int {
        switch e {
        case .frameReceived(_, let f): f.payload.count
        case .streamChunkReceived(_, let c): c.bytes.count
        default: 0
        }
    }
}
