import AOCore
import AOTransport
import CLibUV
import Foundation
import Logging

/// The real `Transport`: TCP over libuv, authenticated and encrypted by `ConnectionCore`.
///
/// Threading (C1): one libuv event-loop thread owns every socket and every `ConnectionCore`. libuv callbacks only
/// record what happened (bytes appended to a connection's receive buffer, a completed write, an accepted socket) and
/// mark work; a `uv_check` handle, which runs once per loop iteration after I/O polling, drains that work: it steps
/// the cores, executes their directives in order, runs posted commands, and flushes each connection's writes as
/// one `uv_write`. Other threads talk to the loop only by posting commands under a lock and waking it with
/// `uv_async_send`; the loop talks back through `events` (an `AsyncStream`).
///
/// libuv caveats repeated here (C13): handles must stay at a fixed address until their close callback ran (so they
/// are heap-allocated and freed in `closeCompleted`); a `uv_write` buffer must live until its write callback (the
/// `WriteRequest` box holds it); after `uv_close`, pending writes complete with `UV_ECANCELED`; `uv_async_send`
/// coalesces wake-ups, so the command queue, not the count of wake-ups, is the truth; only IP literals are dialled
/// (no DNS on the loop thread).
///
/// Bounds: `connectionsMax` connections; a handshake deadline (slowloris); a per-peer write queue that answers
/// `.backpressure` above `writeQueueBytesHigh` and closes the connection above `writeQueueBytesMax`, or when a
/// non-empty queue makes no progress for `idleTimeoutMilliseconds`; keepalive pings every `pingIntervalMilliseconds`
/// and a close after `idleTimeoutMilliseconds` of silence. Each close is logged with its reason and counted.
///
/// Lifetime: the loop thread keeps the transport alive until `shutdown()` completes; call it.
public final class UVTransport: Transport, @unchecked Sendable {
    public struct Configuration: Sendable {
        public var limits: TransportLimits = .default
        /// Bytes both sides must agree on (the network id): peers of other networks fail the handshake.
        public var prologue: [UInt8] = []
        /// Seeds the reconnect jitter (C3: randomness is an input).
        public var jitterSeed: UInt64 = 0
        /// How often the loop checks deadlines (handshake, keepalive, reconnects), in milliseconds.
        public var sweepIntervalMilliseconds: UInt64 = 25
        public init() {}
    }

    public let localNodeID: NodeID
    public let events: TransportEvents
    let key: Ed25519PrivateKey
    let configuration: Configuration
    var limits: TransportLimits { configuration.limits }
    let logger: Logger
    let eventSink: AsyncStream<[TransportEvent]>.Continuation
    /// Loop thread: events of this iteration, yielded as one batch at the end of `drainWork`.
    var outbox: [TransportEvent] = []

    // MARK: state shared with other threads (under `lock`)

    struct PeerShared {
        var connectionID: Int
        /// Bytes of application frames posted for this peer and not yet written to the socket.
        var queuedBytes: Int
        var closing = false
        var writableWaiters: [CheckedContinuation<Void, Never>] = []
        /// Round-trip time of the last keepalive ping, nanoseconds.
        var rttNanoseconds: UInt64?
    }
    let lock = NSLock()
    var commands: [Command] = []
    var peers: [NodeID: PeerShared] = [:]
    var sharedCounters = TransportCounters()
    var pingWaiters: [UInt64: CheckedContinuation<UInt64?, Never>] = [:]
    /// Loop thread: hrtime at which each explicit ping was sent.
    var pingStarted: [UInt64: UInt64] = [:]
    var nextPingID: UInt64 = 1
    /// Set (under the lock) when the loop stops taking commands; `loopFinished` when its thread is done.
    var stopped = false
    var loopFinished = false
    /// Callers of `shutdown()` waiting for the loop thread to finish (under the lock).
    var shutdownContinuations: [CheckedContinuation<Void, Never>] = []

    // MARK: loop-thread state

    let loop: UnsafeMutablePointer<uv_loop_t>
    let wakeup: UnsafeMutablePointer<uv_async_t>
    let sweepTimer: UnsafeMutablePointer<uv_timer_t>
    let checkHandle: UnsafeMutablePointer<uv_check_t>
    /// Started whenever a callback records work outside the poll phase (a write that completed synchronously has
    /// its callback run from libuv's pending queue at the start of the next iteration, a timer fires before the
    /// poll): an active idle handle makes that poll return at once, so the check handle drains the work now
    /// instead of after the next unrelated wake-up (up to a sweep interval later).
    let kick: UnsafeMutablePointer<uv_idle_t>
    var listener: UnsafeMutablePointer<uv_tcp_t>?
    var connections: [Int: Connection] = [:]
    var byPeer: [NodeID: Int] = [:]
    var dirty: Set<Int> = []
    var completedWrites: [(Int, WriteRequest, Int32)] = []
    var accepted: [UnsafeMutablePointer<uv_tcp_t>] = []
    var connectResults: [(Int, Int32)] = []
    var sweepDue = false
    /// Loop thread: reading is stopped on every socket until the event backlog drains.
    var readingPaused = false
    var nextConnectionID = 1
    var loopCounters = TransportCounters()
    var intents: [Endpoint: DialIntent] = [:]
    var rng: Xoshiro256
    var shutdownDeadline: UInt64?
    let readBuffer: UnsafeMutableRawPointer
    /// One read's buffer (shared: the read callback copies out at once). 64 KiB bounds what a single read adds.
    static let readBufferBytes = 64 << 10
    var thread: Thread?
    let backlog: EventBacklog

    /// Starts the event-loop thread. `logger` is used as given (the library never bootstraps logging, C14).
    public init(key: Ed25519PrivateKey, configuration: Configuration = .init(), logger: Logger) {
        configuration.limits.validate()
        self.key = key
        self.localNodeID = key.nodeID
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "node.id"] = "\(key.nodeID.description.prefix(8))"
        self.logger = logger
        let (stream, sink) = AsyncStream<[TransportEvent]>.makeStream()
        eventSink = sink
        let backlog = EventBacklog()
        self.backlog = backlog
        let lowWater = configuration.limits.eventBacklogBytesMax / 2
        // Runs on the consumer's task: when a paused backlog drains to half, ask the loop to read again.
        events = TransportEvents(batches: stream) { [backlog] e in
            let n = TransportEvents.payloadBytes(e)
            if n > 0, backlog.consumed(n, lowWater: lowWater) { backlog.resume?() }
        }
        rng = Xoshiro256(seed: configuration.jitterSeed)
        loop = .allocate(capacity: 1)
        wakeup = .allocate(capacity: 1)
        sweepTimer = .allocate(capacity: 1)
        checkHandle = .allocate(capacity: 1)
        kick = .allocate(capacity: 1)
        readBuffer = .allocate(byteCount: UVTransport.readBufferBytes, alignment: 16)
        precondition(uv_loop_init(loop) == 0, "uv_loop_init failed")
        loop.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        uv_async_init(loop, wakeup) { h in UVTransport.from(h!.pointee.loop).commandsPosted() }
        uv_timer_init(loop, sweepTimer)
        uv_timer_start(sweepTimer, { h in let t = UVTransport.from(h!.pointee.loop); t.sweepDue = true; t.kickLoop() },
                       configuration.sweepIntervalMilliseconds, configuration.sweepIntervalMilliseconds)
        uv_check_init(loop, checkHandle)
        uv_check_start(checkHandle) { h in UVTransport.from(h!.pointee.loop).drainWork() }
        uv_idle_init(loop, kick)
        backlog.resume = { [weak self] in self?.post(.resumeReading) }
        let t = Thread { [self] in
            uv_run(loop, UV_RUN_DEFAULT)
            loopEnded()
        }
        t.name = "aonode-uv"
        t.stackSize = 1 << 20
        thread = t
        t.start()
    }

    static func from(_ loop: UnsafeMutablePointer<uv_loop_t>?) -> UVTransport {
        Unmanaged<UVTransport>.fromOpaque(loop!.pointee.data).takeUnretainedValue()
    }

    // MARK: public API (any thread)

    public var counters: TransportCounters { lock.lock(); defer { lock.unlock() }; return sharedCounters }

    public func listen(on endpoint: Endpoint) throws(TransportError) -> Endpoint {
        let box = ResultBox<Result<Endpoint, TransportError>>()
        post(.listen(endpoint, box))
        switch box.wait() {
        case .success(let e): return e
        case .failure(let e): throw e
        }
    }

    public func connect(to endpoint: Endpoint, expecting peer: NodeID?, persistent: Bool) {
        post(.connect(endpoint, peer, persistent))
    }

    @discardableResult public func send(_ frame: Frame, to peer: NodeID) -> SendResult {
        precondition(frame.payload.count <= limits.frameBytesMax, "frame of \(frame.payload.count) bytes over frameBytesMax; use sendStream")
        let cost = SessionCipher.recordBytes(frameBytes: Wire.frameHeaderBytes + Wire.dataHeaderBytes + frame.payload.count)
        return enqueueSend(peer, cost) { .send($0, frame, cost) }
    }

    @discardableResult public func sendStream(_ payload: [UInt8], channel: UInt16, to peer: NodeID) -> SendResult {
        precondition(!payload.isEmpty && payload.count <= limits.streamBytesMax, "stream of \(payload.count) bytes outside 1...streamBytesMax")
        lock.lock()
        guard let ps = peers[peer], !ps.closing, !stopped else { lock.unlock(); return .notConnected }
        let queued = ps.queuedBytes
        commands.append(.sendStream(ps.connectionID, channel, payload))
        uv_async_send(wakeup)
        lock.unlock()
        return queued > limits.writeQueueBytesHigh ? .backpressure : .enqueued
    }

    private func enqueueSend(_ peer: NodeID, _ cost: Int, _ command: (Int) -> Command) -> SendResult {
        lock.lock()
        guard var ps = peers[peer], !ps.closing, !stopped else { lock.unlock(); return .notConnected }
        if ps.queuedBytes + cost > limits.writeQueueBytesMax {
            ps.closing = true
            peers[peer] = ps
            commands.append(.closeConnection(ps.connectionID, .writeQueueOverflow))
            uv_async_send(wakeup)
            lock.unlock()
            return .notConnected
        }
        ps.queuedBytes += cost
        peers[peer] = ps
        commands.append(command(ps.connectionID))
        uv_async_send(wakeup)
        lock.unlock()
        return ps.queuedBytes > limits.writeQueueBytesHigh ? .backpressure : .enqueued
    }

    /// Returns when the peer's queue is below `writeQueueBytesHigh / 2`, or the peer is gone.
    public func awaitWritable(_ peer: NodeID) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            lock.lock()
            if var ps = peers[peer], !ps.closing, ps.queuedBytes > limits.writeQueueBytesHigh / 2 {
                ps.writableWaiters.append(c); peers[peer] = ps
                lock.unlock()
            } else {
                lock.unlock()
                c.resume()
            }
        }
    }

    /// Bytes queued for `peer` (application frames), nil when not connected.
    public func queuedBytes(_ peer: NodeID) -> Int? { lock.lock(); defer { lock.unlock() }; return peers[peer]?.queuedBytes }

    /// Peers with an established connection.
    public var connectedPeers: [NodeID] { lock.lock(); defer { lock.unlock() }; return peers.keys.sorted() }

    /// Sends a keepalive ping now and returns the round-trip time in nanoseconds (nil if the peer is gone first).
    public func ping(_ peer: NodeID) async -> UInt64? {
        await withCheckedContinuation { (c: CheckedContinuation<UInt64?, Never>) in
            lock.lock()
            guard let ps = peers[peer], !ps.closing, !stopped else { lock.unlock(); c.resume(returning: nil); return }
            let id = nextPingID; nextPingID += 1
            pingWaiters[id] = c
            commands.append(.ping(ps.connectionID, id))
            uv_async_send(wakeup)
            lock.unlock()
        }
    }

    public func close(_ peer: NodeID) { post(.closePeer(peer)) }

    /// Round-trip time of the last keepalive ping to `peer`, in nanoseconds.
    public func rtt(_ peer: NodeID) -> UInt64? { lock.lock(); defer { lock.unlock() }; return peers[peer]?.rttNanoseconds }

    public func shutdown() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            lock.lock()
            if loopFinished { lock.unlock(); c.resume(); return }
            shutdownContinuations.append(c)
            if !stopped {
                commands.append(.shutdown)
                uv_async_send(wakeup)
            }
            lock.unlock()
        }
    }

    /// Appends a command and wakes the loop, under the lock: the loop closes its async handle only after setting
    /// `stopped` under the same lock, so a wake-up never touches a closed handle.
    func post(_ c: Command) {
        lock.lock()
        if stopped {
            lock.unlock()
            if case .listen(_, let box) = c { box.put(.failure(TransportError(.shutdown, "transport is shut down"))) }
            return
        }
        commands.append(c)
        uv_async_send(wakeup)
        lock.unlock()
    }
}

/// A one-shot result handed from the loop thread to a blocked caller.
final class ResultBox<T>: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private var value: T?
    func put(_ v: T) { value = v; semaphore.signal() }
    func wait() -> T { semaphore.wait(); return value! }
}

/// Work posted to the loop thread.
enum Command {
    case listen(Endpoint, ResultBox<Result<Endpoint, TransportError>>)
    case connect(Endpoint, NodeID?, Bool)
    case send(Int, Frame, Int)
    case sendStream(Int, UInt16, [UInt8])
    case ping(Int, UInt64)
    case closePeer(NodeID)
    case closeConnection(Int, CloseReason)
    case shutdown
    case resumeReading
}

/// Payload bytes yielded to `events` and not yet consumed; shared by the loop (adds) and the consumer (subtracts).
final class EventBacklog: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes = 0
    private var paused = false
    /// Set once at start-up: posts `.resumeReading` to the loop.
    var resume: (@Sendable () -> Void)?
    /// Loop thread: adds `n`; true when the backlog just crossed `max` (the loop should pause reading).
    func yielded(_ n: Int, max: Int) -> Bool {
        lock.lock(); defer { lock.unlock() }
        bytes += n
        if !paused && bytes > max { paused = true; return true }
        return false
    }
    /// Consumer: subtracts `n`; true when a paused backlog just fell to `lowWater` (reading should resume).
    func consumed(_ n: Int, lowWater: Int) -> Bool {
        lock.lock(); defer { lock.unlock() }
        bytes -= n
        if paused && bytes <= lowWater { paused = false; return true }
        return false
    }
    var isPaused: Bool { lock.lock(); defer { lock.unlock() }; return paused }
    var pendingBytes: Int { lock.lock(); defer { lock.unlock() }; return bytes }
}

/// A dial the node asked for; persistent ones come back after failures with backoff.
struct DialIntent {
    var endpoint: Endpoint
    var expecting: NodeID?
    var persistent: Bool
    var backoff: ReconnectBackoff
    /// When the next attempt is due (loop milliseconds), nil while a connection exists or is being made.
    var dueAt: UInt64?
    var lastPeer: NodeID?
}

/// Buffers of one `uv_write`: kept alive until its callback.
final class WriteRequest {
    let records: [[UInt8]]
    let bytes: Int
    let appBytes: Int
    let request: UnsafeMutablePointer<uv_write_t>
    let buffers: UnsafeMutablePointer<uv_buf_t>
    init(records: [[UInt8]], appBytes: Int) {
        self.records = records
        self.bytes = records.reduce(0) { $0 + $1.count }
        self.appBytes = appBytes
        request = .allocate(capacity: 1)
        buffers = .allocate(capacity: records.count)
        for (i, r) in records.enumerated() {
            // The arrays are immutable and owned by this object, so their storage stays put until deinit.
            let base = r.withUnsafeBufferPointer { UnsafeMutablePointer(mutating: $0.baseAddress!) }
            buffers[i] = uv_buf_init(UnsafeMutableRawPointer(base).assumingMemoryBound(to: CChar.self), UInt32(r.count))
        }
    }
    deinit { request.deallocate(); buffers.deallocate() }
}

/// One TCP connection on the loop thread.
final class Connection {
    enum Direction { case inbound, outbound }
    let id: Int
    let handle: UnsafeMutablePointer<uv_tcp_t>
    let direction: Direction
    var endpoint: Endpoint
    var core: ConnectionCore
    var peer: NodeID?
    var pending: [[UInt8]] = []
    var pendingBytes = 0
    var pendingAppBytes = 0
    var inflightBytes = 0
    var outboundStreams: [OutboundStream] = []
    var handshakeDeadline: UInt64
    var lastReceived: UInt64
    var lastPingSent: UInt64
    var lastWriteProgress: UInt64
    var connecting: Bool
    var closing = false
    var closeAfterFlush = false
    /// The node wants bytes from this socket (set once connected/accepted).
    var reading = false
    /// `uv_read_start` is in effect.
    var readActive = false
    /// Reading stopped until this iteration's bytes are processed (see `onRead`).
    var throttled = false
    var handleClosed = false
    init(id: Int, handle: UnsafeMutablePointer<uv_tcp_t>, direction: Direction, endpoint: Endpoint, core: ConnectionCore, now: UInt64,
         handshakeTimeout: UInt64, connecting: Bool) {
        self.id = id; self.handle = handle; self.direction = direction; self.endpoint = endpoint; self.core = core
        handshakeDeadline = now + handshakeTimeout
        lastReceived = now; lastPingSent = now; lastWriteProgress = now
        self.connecting = connecting
    }
    var queuedBytes: Int { pendingBytes + inflightBytes }
}
