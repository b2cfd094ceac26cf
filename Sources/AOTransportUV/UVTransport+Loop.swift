import AOCore
import AOTransport
import CLibUV
import Foundation
import Logging

// Everything in this file runs on the loop thread.

@inline(__always) func asStream(_ p: UnsafeMutablePointer<uv_tcp_t>) -> UnsafeMutablePointer<uv_stream_t> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: uv_stream_t.self)
}
@inline(__always) func asHandle<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<uv_handle_t> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: uv_handle_t.self)
}
func uvError(_ code: Int32) -> String { String(cString: uv_strerror(code)) }

extension UVTransport {
    var now: UInt64 { uv_now(loop) }

    // MARK: callbacks (record, mark, return)

    func commandsPosted() {}  // the check handle runs right after this poll phase and drains the commands

    /// Queues an event for this iteration's batch.
    func emit(_ e: TransportEvent) {
        outbox.append(e)
        kickLoop()
    }

    /// Hands this iteration's events to the consumer as one batch (one wake-up).
    func flushEvents() {
        guard !outbox.isEmpty else { return }
        eventSink.yield(outbox)
        outbox = []
    }

    /// Makes the coming (or current) poll phase non-blocking so the check handle runs the recorded work promptly.
    @inline(__always) func kickLoop() {
        // Never restart it once closed at shutdown (a started closed handle would keep uv_run alive).
        if uv_is_active(asHandle(kick)) == 0 && uv_is_closing(asHandle(kick)) == 0 { uv_idle_start(kick) { _ in } }
    }

    /// The per-iteration drain: cores first (bytes that arrived), then completed writes, accepts, connects,
    /// commands, the periodic sweep, and finally one flush per connection.
    func drainWork() {
        let accepted = self.accepted; self.accepted = []
        for h in accepted { onAccepted(h) }
        let connects = connectResults; connectResults = []
        for (id, status) in connects { onConnectCompleted(id, status) }
        let ids = dirty; dirty = []
        for id in ids.sorted() { if let c = connections[id] { process(c, c.core.processReceived()) } }
        for id in ids.sorted() { if let c = connections[id], c.throttled { c.throttled = false; startReading(c) } }
        let writes = completedWrites; completedWrites = []
        for (id, req, status) in writes { onWriteCompleted(id, req, status) }
        lock.lock()
        let cmds = commands; commands = []
        lock.unlock()
        for c in cmds { run(c) }
        if sweepDue { sweepDue = false; sweep() }
        for c in connections.values where !c.pending.isEmpty || !c.outboundStreams.isEmpty { flush(c) }
        publishCounters()
        if shutdownDeadline != nil { continueShutdown() }
        flushEvents()
        // Work recorded by callbacks from now on kicks the loop again.
        if uv_is_active(asHandle(kick)) != 0 { uv_idle_stop(kick) }
    }

    func publishCounters() {
        lock.lock()
        sharedCounters = loopCounters
        lock.unlock()
    }

    // MARK: commands

    func run(_ command: Command) {
        switch command {
        case .listen(let endpoint, let box): box.put(startListening(endpoint))
        case .connect(let endpoint, let expecting, let persistent):
            guard shutdownDeadline == nil else { return }
            var intent = intents[endpoint] ?? DialIntent(endpoint: endpoint, expecting: expecting, persistent: persistent,
                                                        backoff: ReconnectBackoff(baseMilliseconds: limits.reconnectBaseMilliseconds,
                                                                                  maxMilliseconds: limits.reconnectMaxMilliseconds))
            intent.expecting = expecting; intent.persistent = persistent; intent.dueAt = nil
            intents[endpoint] = intent
            dial(endpoint)
        case .send(let id, let frame, let cost):
            guard let c = connections[id], c.core.isEstablished, !c.closing else { releaseQueued(id, cost); return }
            queue(c, c.core.sealFrame(frame), appBytes: cost)
            loopCounters.framesSent += 1
            loopCounters.bytesSent += frame.payload.count
        case .sendStream(let id, let channel, let payload):
            guard let c = connections[id], c.core.isEstablished, !c.closing else { return }
            c.outboundStreams.append(OutboundStream(id: c.core.allocateStreamID(), channel: channel, payload: payload))
        case .ping(let id, let pingID):
            guard let c = connections[id], c.core.isEstablished, !c.closing else { resumePing(pingID, nil); return }
            queue(c, c.core.sealPing(pingID << 1 | 1), appBytes: 0)  // odd ids: explicit pings; even: keepalive
            pingStarted[pingID] = uv_hrtime()
        case .closePeer(let peer):
            for (e, i) in intents where i.expecting == peer || i.lastPeer == peer { intents[e]?.persistent = false; intents[e]?.dueAt = nil }
            if let id = byPeer[peer], let c = connections[id] { closeConnection(c, .localClose, "closed by the node", flush: true) }
        case .closeConnection(let id, let reason):
            if let c = connections[id] { closeConnection(c, reason, "queue of \(c.queuedBytes) bytes over \(limits.writeQueueBytesMax)", flush: false) }
        case .shutdown:
            beginShutdown()
        case .resumeReading:
            resumeReading()
        }
    }

    // MARK: listen / accept / dial

    func socketAddress(_ endpoint: Endpoint) -> sockaddr_storage? {
        var storage = sockaddr_storage()
        let ok = withUnsafeMutablePointer(to: &storage) { p -> Bool in
            if endpoint.host.contains(":") {
                return uv_ip6_addr(endpoint.host, Int32(endpoint.port), UnsafeMutableRawPointer(p).assumingMemoryBound(to: sockaddr_in6.self)) == 0
            }
            return uv_ip4_addr(endpoint.host, Int32(endpoint.port), UnsafeMutableRawPointer(p).assumingMemoryBound(to: sockaddr_in.self)) == 0
        }
        return ok ? storage : nil
    }

    func endpointOf(_ storage: sockaddr_storage) -> Endpoint {
        var s = storage
        var name = [CChar](repeating: 0, count: 64)
        return withUnsafePointer(to: &s) { p -> Endpoint in
            if Int32(storage.ss_family) == AF_INET6 {
                let a = UnsafeRawPointer(p).assumingMemoryBound(to: sockaddr_in6.self)
                uv_ip6_name(a, &name, 64)
                return Endpoint(host: String(cString: name), port: UInt16(bigEndian: a.pointee.sin6_port))
            }
            let a = UnsafeRawPointer(p).assumingMemoryBound(to: sockaddr_in.self)
            uv_ip4_name(a, &name, 64)
            return Endpoint(host: String(cString: name), port: UInt16(bigEndian: a.pointee.sin_port))
        }
    }

    func startListening(_ endpoint: Endpoint) -> Result<Endpoint, TransportError> {
        guard listener == nil else { return .failure(TransportError(.ioError, "already listening")) }
        guard var addr = socketAddress(endpoint) else { return .failure(TransportError(.ioError, "not an IP literal: \(endpoint.host)")) }
        let h = UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)
        uv_tcp_init(loop, h)
        var rc = withUnsafePointer(to: &addr) { uv_tcp_bind(h, UnsafeRawPointer($0).assumingMemoryBound(to: sockaddr.self), 0) }
        if rc == 0 {
            rc = uv_listen(asStream(h), 511) { server, status in
                let t = UVTransport.from(server!.pointee.loop)
                guard status == 0 else { return }
                let client = UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)
                uv_tcp_init(server!.pointee.loop, client)
                if uv_accept(server, asStream(client)) == 0 { t.accepted.append(client); t.kickLoop() } else {
                    uv_close(asHandle(client)) { $0?.deallocate() }
                }
            }
        }
        guard rc == 0 else {
            uv_close(asHandle(h)) { $0?.deallocate() }
            return .failure(TransportError(.ioError, "listen on \(endpoint): \(uvError(rc))"))
        }
        listener = h
        var bound = sockaddr_storage()
        var len = Int32(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) { uv_tcp_getsockname(h, UnsafeMutableRawPointer($0).assumingMemoryBound(to: sockaddr.self), &len) }
        let e = endpointOf(bound)
        logger.info("listening", metadata: ["endpoint": "\(e)"])
        return .success(e)
    }

    func newConnection(_ h: UnsafeMutablePointer<uv_tcp_t>, _ direction: Connection.Direction, _ endpoint: Endpoint, expecting: NodeID?,
                       connecting: Bool) -> Connection {
        var secret = [UInt8](repeating: 0, count: 32)
        SystemEntropy.fill(&secret)
        let core = ConnectionCore(role: direction == .outbound ? .initiator : .responder, localKey: key, ephemeralSecret: secret,
                                  expectedPeer: expecting, prologue: configuration.prologue, limits: limits)
        let id = nextConnectionID; nextConnectionID += 1
        h.pointee.data = UnsafeMutableRawPointer(bitPattern: id)
        let c = Connection(id: id, handle: h, direction: direction, endpoint: endpoint, core: core, now: now,
                           handshakeTimeout: limits.handshakeTimeoutMilliseconds, connecting: connecting)
        connections[id] = c
        return c
    }

    func onAccepted(_ h: UnsafeMutablePointer<uv_tcp_t>) {
        var peerAddr = sockaddr_storage()
        var len = Int32(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &peerAddr) { uv_tcp_getpeername(h, UnsafeMutableRawPointer($0).assumingMemoryBound(to: sockaddr.self), &len) }
        let c = newConnection(h, .inbound, endpointOf(peerAddr), expecting: nil, connecting: false)
        loopCounters.connectionsAccepted += 1
        if connections.count > limits.connectionsMax || shutdownDeadline != nil {
            closeConnection(c, shutdownDeadline != nil ? .shutdown : .connectionLimit, "\(connections.count - 1) connections open", flush: false)
            return
        }
        uv_tcp_nodelay(h, 1)
        startReading(c)
    }

    func dial(_ endpoint: Endpoint) {
        guard let intent = intents[endpoint] else { return }
        guard var addr = socketAddress(endpoint) else {
            logger.info("dial refused: not an IP literal", metadata: ["endpoint": "\(endpoint)"])
            loopCounters.countClose(.ioError)
            emit(.connectFailed(endpoint: endpoint, reason: .ioError))
            intents[endpoint] = nil
            return
        }
        if connections.count >= limits.connectionsMax {
            loopCounters.countClose(.connectionLimit)
            emit(.connectFailed(endpoint: endpoint, reason: .connectionLimit))
            scheduleReconnect(endpoint)
            return
        }
        let h = UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)
        uv_tcp_init(loop, h)
        let c = newConnection(h, .outbound, endpoint, expecting: intent.expecting, connecting: true)
        loopCounters.connectionsDialed += 1
        let req = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
        req.pointee.data = UnsafeMutableRawPointer(bitPattern: c.id)
        let rc = withUnsafePointer(to: &addr) {
            uv_tcp_connect(req, h, UnsafeRawPointer($0).assumingMemoryBound(to: sockaddr.self)) { req, status in
                let t = UVTransport.from(req!.pointee.handle.pointee.loop)
                t.connectResults.append((Int(bitPattern: req!.pointee.data), status))
                t.kickLoop()
                req!.deallocate()
            }
        }
        if rc != 0 { req.deallocate(); closeConnection(c, .ioError, "connect: \(uvError(rc))", flush: false) }
    }

    func onConnectCompleted(_ id: Int, _ status: Int32) {
        guard let c = connections[id], !c.closing else { return }
        c.connecting = false
        guard status == 0 else { closeConnection(c, .ioError, "connect: \(uvError(status))", flush: false); return }
        uv_tcp_nodelay(c.handle, 1)
        startReading(c)
        process(c, c.core.start())
    }

    /// Starts (or restarts) reading, unless reading is paused for the event backlog or already active.
    func startReading(_ c: Connection) {
        c.reading = true
        guard !readingPaused, !c.readActive, !c.closing, !c.handleClosed else { return }
        let rc = uv_read_start(asStream(c.handle), { handle, _, buf in
            let t = UVTransport.from(handle!.pointee.loop)
            // A large record in progress is read straight into its own array (libuv reads right after this call,
            // before anything else touches the core); anything else goes through the shared read buffer.
            if let c = t.connections[Int(bitPattern: handle!.pointee.data)],
               let space = c.core.withDirectReceiveSpace({ $0 }), let base = space.baseAddress, space.count > 0 {
                buf!.pointee = uv_buf_init(base.assumingMemoryBound(to: CChar.self), UInt32(min(space.count, 1 << 30)))
            } else {
                buf!.pointee = uv_buf_init(t.readBuffer.assumingMemoryBound(to: CChar.self), UInt32(UVTransport.readBufferBytes))
            }
        }, { stream, nread, buf in
            let t = UVTransport.from(stream!.pointee.loop)
            let base: UnsafeMutablePointer<CChar>? = buf?.pointee.base
            let direct = base.map { UnsafeMutableRawPointer($0) != t.readBuffer } ?? false
            t.onRead(Int(bitPattern: stream!.pointee.data), nread, direct: direct)
        })
        if rc == 0 { c.readActive = true } else { closeConnection(c, .ioError, "read: \(uvError(rc))", flush: false) }
    }

    func stopReading(_ c: Connection) {
        guard c.readActive else { return }
        uv_read_stop(asStream(c.handle))
        c.readActive = false
    }

    /// The read callback: appends the bytes to the connection's receive buffer and marks it (C1).
    func onRead(_ id: Int, _ nread: Int, direct: Bool) {
        guard let c = connections[id], !c.closing else { return }
        if nread > 0 {
            if direct { c.core.receivedDirectly(nread) } else { c.core.appendReceived(UnsafeRawBufferPointer(start: readBuffer, count: nread)) }
            c.lastReceived = now
            loopCounters.bytesReceived += nread
            dirty.insert(id)
            kickLoop()
            // Flow control, not work: libuv may read many times per poll phase before the check phase processes
            // anything; cap what one connection buffers unprocessed (restarted after processing in drainWork).
            if readingPaused || c.core.bufferedBytes > limits.recordBytesMax + UVTransport.readBufferBytes {
                stopReading(c); c.throttled = true
            }
        } else if nread < 0 {
            // Process what arrived before the end first (a close frame may be in it).
            process(c, c.core.processReceived())
            guard !c.closing else { return }
            let eof = nread == Int(UV_EOF.rawValue)
            closeConnection(c, eof ? .endOfStream : .ioError, eof ? "peer closed the socket" : "read: \(uvError(Int32(nread)))", flush: false)
        }
    }

    // MARK: directives

    func process(_ c: Connection, _ directives: [ConnectionCore.Directive]) {
        for d in directives {
            if c.closing { return }
            switch d {
            case .write(let bytes): queue(c, bytes, appBytes: 0)
            case .established(let peer, _): onEstablished(c, peer)
            case .deliverFrame(let f):
                loopCounters.framesReceived += 1
                deliver(.frameReceived(peer: c.peer!, frame: f), bytes: f.payload.count)
            case .deliverStreamChunk(let chunk): deliver(.streamChunkReceived(peer: c.peer!, chunk: chunk), bytes: chunk.bytes.count)
            case .streamAborted(let id): emit(.streamAborted(peer: c.peer!, streamID: id))
            case .pong(let id):
                if id & 1 == 0, let peer = c.peer {
                    let rtt = uv_hrtime() &- (id >> 1)
                    lock.lock(); peers[peer]?.rttNanoseconds = rtt; lock.unlock()
                } else if id & 1 == 1 {
                    let pingID = id >> 1
                    if let start = pingStarted.removeValue(forKey: pingID) { resumePing(pingID, uv_hrtime() - start) }
                }
            case .close(let reason, let detail): closeConnection(c, reason, detail, flush: false)
            }
        }
    }

    /// Hands a payload-carrying event to the node and pauses every socket's reading when the unconsumed backlog
    /// passes `eventBacklogBytesMax` (the consumer resumes it via `.resumeReading` once it has caught up).
    func deliver(_ e: TransportEvent, bytes: Int) {
        emit(e)
        if backlog.yielded(bytes, max: limits.eventBacklogBytesMax) {
            readingPaused = true
            loopCounters.readPauses += 1
            logger.debug("event backlog full: reading paused", metadata: ["backlog.bytes": "\(backlog.pendingBytes)"])
            for c in connections.values { stopReading(c) }
        }
    }

    func resumeReading() {
        guard readingPaused else { return }
        readingPaused = false
        for c in connections.values where c.reading { startReading(c) }
    }

    func onEstablished(_ c: Connection, _ peer: NodeID) {
        c.peer = peer
        loopCounters.handshakesCompleted += 1
        var replaced = false
        if let otherID = byPeer[peer], let other = connections[otherID] {
            // Keep the connection dialled by the smaller NodeID; if both were dialled by the same side (a peer that
            // reconnected), keep the new one. Both ends compute the same answer.
            let dialerOf: (Connection) -> NodeID = { $0.direction == .outbound ? self.localNodeID : peer }
            let (dNew, dOld) = (dialerOf(c), dialerOf(other))
            let keepNew = dNew == dOld || dNew < dOld
            if !keepNew {
                closeConnection(c, .duplicateConnection, "already connected to this peer", flush: false)
                return
            }
            closeConnection(other, .duplicateConnection, "replaced by a newer connection", flush: false)
            replaced = true
        }
        byPeer[peer] = c.id
        if c.direction == .outbound, var intent = intents[c.endpoint] {
            intent.lastPeer = peer; intent.backoff.reset(); intent.dueAt = nil
            intents[c.endpoint] = intent
        }
        lock.lock()
        peers[peer] = PeerShared(connectionID: c.id, queuedBytes: 0)
        lock.unlock()
        logger.debug("connected", metadata: ["peer.id": "\(peer)", "endpoint": "\(c.endpoint)"])
        emit(replaced ? .reconnected(peer: peer, endpoint: c.endpoint) : .connected(peer: peer, endpoint: c.endpoint))
    }

    // MARK: writes

    func queue(_ c: Connection, _ bytes: [UInt8], appBytes: Int) {
        c.pending.append(bytes)
        c.pendingBytes += bytes.count
        c.pendingAppBytes += appBytes
    }

    /// Seals stream chunks while the queue has room, then writes everything pending as one `uv_write`.
    func flush(_ c: Connection) {
        guard !c.closing || c.closeAfterFlush, !c.handleClosed, !c.connecting else { return }
        while !c.outboundStreams.isEmpty && c.queuedBytes < limits.writeQueueBytesHigh && c.core.isEstablished {
            c.pending.append(c.outboundStreams[0].nextRecord(&c.core))
            c.pendingBytes += c.pending.last!.count
            if c.outboundStreams[0].isFinished { c.outboundStreams.removeFirst() }
        }
        guard !c.pending.isEmpty else { return }
        let w = WriteRequest(records: c.pending, appBytes: c.pendingAppBytes)
        c.inflightBytes += w.bytes
        c.pending = []; c.pendingBytes = 0; c.pendingAppBytes = 0
        w.request.pointee.data = Unmanaged.passRetained(w).toOpaque()
        let rc = uv_write(w.request, asStream(c.handle), w.buffers, UInt32(w.records.count)) { req, status in
            let w = Unmanaged<WriteRequest>.fromOpaque(req!.pointee.data).takeRetainedValue()
            let t = UVTransport.from(req!.pointee.handle.pointee.loop)
            t.completedWrites.append((Int(bitPattern: req!.pointee.handle.pointee.data), w, status))
            t.kickLoop()
        }
        if rc != 0 {
            _ = Unmanaged<WriteRequest>.fromOpaque(w.request.pointee.data).takeRetainedValue()
            c.inflightBytes -= w.bytes
            closeConnection(c, .ioError, "write: \(uvError(rc))", flush: false)
        }
    }

    func onWriteCompleted(_ id: Int, _ w: WriteRequest, _ status: Int32) {
        guard let c = connections[id] else { return }
        c.inflightBytes -= w.bytes
        c.lastWriteProgress = now
        releaseQueued(id, w.appBytes, peer: c.peer)
        if status != 0 {
            if !c.closing { closeConnection(c, .ioError, "write: \(uvError(status))", flush: false) }
            return
        }
        if c.closeAfterFlush && c.queuedBytes == 0 && c.pending.isEmpty { closeHandle(c) }
    }

    /// Gives back `bytes` of a peer's send budget and wakes writers when it is low enough.
    func releaseQueued(_ connectionID: Int, _ bytes: Int, peer: NodeID? = nil) {
        guard bytes > 0 else { return }
        let peer = peer ?? connections[connectionID]?.peer
        guard let peer else { return }
        var wake: [CheckedContinuation<Void, Never>] = []
        lock.lock()
        if var ps = peers[peer], ps.connectionID == connectionID {
            ps.queuedBytes -= bytes
            if ps.queuedBytes <= limits.writeQueueBytesHigh / 2 { wake = ps.writableWaiters; ps.writableWaiters = [] }
            peers[peer] = ps
        }
        lock.unlock()
        for w in wake { w.resume() }
    }

    // MARK: close

    func closeConnection(_ c: Connection, _ reason: CloseReason, _ detail: String, flush: Bool) {
        guard !c.closing else { return }
        c.closing = true
        loopCounters.countClose(reason)
        let peerText = c.peer.map { "\($0)" } ?? "unauthenticated"
        logger.info("connection closed", metadata: ["peer.id": "\(peerText)", "endpoint": "\(c.endpoint)",
                                                    "reason": "\(reason)", "detail": "\(detail)"])
        if let peer = c.peer, byPeer[peer] == c.id {
            byPeer[peer] = nil
            var wake: [CheckedContinuation<Void, Never>] = []
            lock.lock()
            if let ps = peers[peer], ps.connectionID == c.id { wake = ps.writableWaiters; peers[peer] = nil }
            lock.unlock()
            for w in wake { w.resume() }
            // A connection replaced by a newer one to the same peer: the newer one reports `.reconnected`.
            if reason != .duplicateConnection { emit(.disconnected(peer: peer, endpoint: c.endpoint, reason: reason)) }
        } else if c.peer == nil, c.direction == .outbound {
            emit(.connectFailed(endpoint: c.endpoint, reason: reason))
        }
        if c.direction == .outbound, reason != .localClose, reason != .duplicateConnection { scheduleReconnect(c.endpoint) }
        if reason == .duplicateConnection || reason == .localClose, c.direction == .outbound { intents[c.endpoint]?.dueAt = nil }
        // A persistent dial whose peer just dropped (from any connection) comes back.
        if let peer = c.peer, c.direction == .inbound {
            for (e, i) in intents where i.persistent && (i.lastPeer ?? i.expecting) == peer && i.dueAt == nil && reason != .duplicateConnection {
                if !connections.values.contains(where: { $0.endpoint == e && $0.direction == .outbound && !$0.closing }) { scheduleReconnect(e) }
            }
        }
        c.outboundStreams = []
        if flush, c.core.isEstablished {
            // The close frame goes last; the handle closes once the queue is empty (onWriteCompleted).
            let record = c.core.sealClose(reason)
            queue(c, record, appBytes: 0)
            c.closeAfterFlush = true
            self.flush(c)
            if c.queuedBytes == 0 { closeHandle(c) }
        } else {
            c.core.markClosed()
            closeHandle(c)
        }
    }

    func closeHandle(_ c: Connection) {
        guard !c.handleClosed else { return }
        c.handleClosed = true
        stopReading(c)
        uv_close(asHandle(c.handle)) { h in
            let t = UVTransport.from(h!.pointee.loop)
            let id = Int(bitPattern: h!.pointee.data)
            t.connections[id] = nil
            h!.deallocate()
        }
    }

    func scheduleReconnect(_ endpoint: Endpoint) {
        guard shutdownDeadline == nil, var intent = intents[endpoint] else { return }
        guard intent.persistent else { intents[endpoint] = nil; return }
        // Already connected to that peer (it dialled us, or a duplicate lost the tie-break): no redial until that
        // connection drops (closeConnection reschedules then).
        if let p = intent.lastPeer ?? intent.expecting, byPeer[p] != nil { intent.dueAt = nil; intents[endpoint] = intent; return }
        let delay = intent.backoff.nextDelay(using: &rng)
        intent.dueAt = now + delay
        intents[endpoint] = intent
        logger.debug("reconnect scheduled", metadata: ["endpoint": "\(endpoint)", "delay.ms": "\(delay)"])
    }

    // MARK: sweep (deadlines)

    func sweep() {
        let t = now
        for c in connections.values where !c.closing {
            if !c.core.isEstablished {
                if t >= c.handshakeDeadline {
                    closeConnection(c, .handshakeTimeout, "no handshake within \(limits.handshakeTimeoutMilliseconds) ms", flush: false)
                }
                continue
            }
            if t - c.lastReceived >= limits.idleTimeoutMilliseconds {
                closeConnection(c, .keepaliveTimeout, "silent for \(t - c.lastReceived) ms", flush: false); continue
            }
            if c.queuedBytes > 0 && t - c.lastWriteProgress >= limits.idleTimeoutMilliseconds {
                closeConnection(c, .writeQueueOverflow, "\(c.queuedBytes) bytes stuck for \(t - c.lastWriteProgress) ms", flush: false); continue
            }
            if c.queuedBytes == 0 { c.lastWriteProgress = t }
            if t - c.lastPingSent >= limits.pingIntervalMilliseconds {
                c.lastPingSent = t
                queue(c, c.core.sealPing(uv_hrtime() << 1), appBytes: 0)
            }
        }
        for (e, i) in intents where i.dueAt.map({ $0 <= t }) ?? false {
            intents[e]?.dueAt = nil
            dial(e)
        }
    }

    func resumePing(_ id: UInt64, _ rtt: UInt64?) {
        lock.lock()
        let w = pingWaiters.removeValue(forKey: id)
        lock.unlock()
        w?.resume(returning: rtt)
    }

    // MARK: shutdown

    func beginShutdown() {
        guard shutdownDeadline == nil else { return }
        shutdownDeadline = now + limits.shutdownFlushMilliseconds
        logger.info("shutting down", metadata: ["connections": "\(connections.count)"])
        if let l = listener { listener = nil; uv_close(asHandle(l)) { $0?.deallocate() } }
        intents = [:]
        for c in connections.values.sorted(by: { $0.id < $1.id }) {
            closeConnection(c, .shutdown, "node shutting down", flush: c.core.isEstablished)
        }
        continueShutdown()
    }

    func continueShutdown() {
        guard let deadline = shutdownDeadline else { return }
        let open = connections.values.filter { !$0.handleClosed }
        if now >= deadline { for c in open { closeHandle(c) } }
        guard open.isEmpty || now >= deadline else { return }
        // Stop the loop's own handles; uv_run returns once the connection handles' close callbacks ran.
        if !(uv_is_closing(asHandle(wakeup)) != 0) {
            lock.lock(); stopped = true
            let waiters = pingWaiters; pingWaiters = [:]
            var writers: [CheckedContinuation<Void, Never>] = []
            for (_, p) in peers { writers += p.writableWaiters }
            peers = [:]
            let pending = commands; commands = []
            lock.unlock()
            for (_, w) in waiters { w.resume(returning: nil) }
            for w in writers { w.resume() }
            for c in pending { if case .listen(_, let box) = c { box.put(.failure(TransportError(.shutdown, "shutting down"))) } }
            uv_close(asHandle(wakeup), nil)
            uv_close(asHandle(sweepTimer), nil)
            uv_check_stop(checkHandle)
            uv_close(asHandle(checkHandle), nil)
            uv_idle_stop(kick)
            uv_close(asHandle(kick), nil)
        }
    }

    /// Runs on the loop thread after `uv_run` returned: frees the loop and tells the waiters.
    func loopEnded() {
        publishCounters()
        uv_loop_close(loop)
        loop.deallocate(); wakeup.deallocate(); sweepTimer.deallocate(); checkHandle.deallocate(); kick.deallocate()
        readBuffer.deallocate()
        flushEvents()
        eventSink.finish()
        lock.lock()
        thread = nil; stopped = true; loopFinished = true
        let ks = shutdownContinuations; shutdownContinuations = []
        lock.unlock()
        for k in ks { k.resume() }
    }
}

/// The CSPRNG for ephemeral keys: the one ambient randomness in the transport, by design (keys must be secret).
enum SystemEntropy {
    static func fill(_ bytes: inout [UInt8]) {
        var g = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &g) }
    }
}
