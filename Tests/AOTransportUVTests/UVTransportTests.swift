import AOCore
import AOTransport
@testable import AOTransportUV
import Foundation
import Logging
import Testing

/// Real sockets on 127.0.0.1, ephemeral ports. Serialized: the machine has two cores and these tests time things.
@Suite(.serialized) struct UVTransportTests {
    func pair(_ logs: LogCapture, limits: TransportLimits = .default) throws -> (UVTransport, UVTransport, Endpoint) {
        var config = UVTransport.Configuration(); config.limits = limits
        let a = UVTransport(key: key(1), configuration: config, logger: logs.logger("a"))
        let b = UVTransport(key: key(2), configuration: config, logger: logs.logger("b"))
        let e = try a.listen(on: loopback)
        #expect(e.port != 0)
        return (a, b, e)
    }

    static func payload(_ i: Int, from sender: UInt8) -> [UInt8] {
        let n = 8 + (i * 7919) % 120
        return (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i &+ Int(sender)) }
    }

    @Test func hundredThousandFramesEachWay() async throws {
        let logs = LogCapture()
        let (a, b, endpoint) = try pair(logs)
        let count = 100_000
        final class Checker: @unchecked Sendable {
            let lock = NSLock(); var next = 0; var bad = 0; var bytes = 0
            let sender: UInt8
            init(_ s: UInt8) { sender = s }
            func check(_ f: Frame) {
                lock.lock(); defer { lock.unlock() }
                let i = Int(f.channel) | (next & ~0xFFFF)
                if f.channel != UInt16(truncatingIfNeeded: next) || f.payload != UVTransportTests.payload(next, from: sender) { bad += 1 }
                _ = i
                next += 1; bytes += f.payload.count
            }
            var received: Int { lock.lock(); defer { lock.unlock() }; return next }
        }
        let atA = Checker(2), atB = Checker(1)
        let la = EventLog(a, keepFrames: false) { _, f in atA.check(f) }
        let lb = EventLog(b, keepFrames: false) { _, f in atB.check(f) }
        b.connect(to: endpoint, expecting: a.localNodeID, persistent: false)
        #expect(await lb.wait(isConnected(a.localNodeID)))
        #expect(await la.wait(isConnected(b.localNodeID)))

        @Sendable func pump(_ t: UVTransport, _ to: NodeID, _ me: UInt8) async {
            for i in 0..<count {
                let r = t.send(Frame(channel: UInt16(truncatingIfNeeded: i), payload: Self.payload(i, from: me)), to: to)
                #expect(r != .notConnected)
                if r == .backpressure { await t.awaitWritable(to) }
            }
        }
        async let s1: Void = pump(a, b.localNodeID, 1)
        async let s2: Void = pump(b, a.localNodeID, 2)
        _ = await (s1, s2)
        #expect(await eventually(40) { atA.received == count && atB.received == count })
        #expect(atA.bad == 0 && atB.bad == 0)
        #expect(atA.received == count && atB.received == count)
        #expect(a.counters.framesSent == count && b.counters.framesReceived == count)
        await b.shutdown(); await a.shutdown()
        #expect(a.counters.closes.keys.allSatisfy { $0 == .shutdown || $0 == .remoteClose })
    }

    @Test func twoHundredConcurrentConnections() async throws {
        let logs = LogCapture()
        var config = UVTransport.Configuration()
        config.limits.connectionsMax = 256
        let server = UVTransport(key: key(1), configuration: config, logger: logs.logger("server"))
        let endpoint = try server.listen(on: loopback)
        // The server echoes every frame back to its sender.
        let echo = EventLog(server, keepFrames: false) { [server] p, f in server.send(f, to: p) }
        let clients = (0..<200).map { i in UVTransport(key: key(UInt8(10 + i)), logger: logs.logger("c\(i)")) }
        let logsC = clients.map { EventLog($0) }
        for c in clients { c.connect(to: endpoint, expecting: server.localNodeID, persistent: false) }
        for (i, l) in logsC.enumerated() { #expect(await l.wait(isConnected(server.localNodeID)), "client \(i)") }
        #expect(await eventually { server.connectedPeers.count == 200 })
        for (i, c) in clients.enumerated() { c.send(Frame(channel: UInt16(i), payload: [UInt8(i), 1, 2, 3]), to: server.localNodeID) }
        for (i, l) in logsC.enumerated() {
            let ok = await l.wait { $0.contains { if case .frameReceived(_, let f) = $0 { f == Frame(channel: UInt16(i), payload: [UInt8(i), 1, 2, 3]) } else { false } } }
            #expect(ok, "echo to client \(i)")
        }
        for c in clients { await c.shutdown() }
        #expect(await eventually { server.connectedPeers.isEmpty })
        #expect(server.counters.handshakesCompleted == 200)
        // The loop publishes its counters after the iteration that dropped the peer, so wait for them to land.
        #expect(await eventually { server.counters[.remoteClose] == 200 }, "close reasons: \(server.counters.closes)")
        _ = echo
        await server.shutdown()
    }

    @Test func connectionCapRefusesTheExtra() async throws {
        let logs = LogCapture()
        var config = UVTransport.Configuration()
        config.limits.connectionsMax = 2
        let server = UVTransport(key: key(1), configuration: config, logger: logs.logger("server"))
        let endpoint = try server.listen(on: loopback)
        let clients = (0..<3).map { i in UVTransport(key: key(UInt8(50 + i)), logger: logs.logger("c\(i)")) }
        let cl = clients.map { EventLog($0) }
        for c in clients.prefix(2) { c.connect(to: endpoint, expecting: nil, persistent: false) }
        #expect(await cl[0].wait(isConnected(server.localNodeID)))
        #expect(await cl[1].wait(isConnected(server.localNodeID)))
        clients[2].connect(to: endpoint, expecting: nil, persistent: false)
        #expect(await cl[2].wait { $0.contains { if case .connectFailed = $0 { true } else { false } } })
        #expect(await eventually { server.counters[.connectionLimit] == 1 })
        #expect(logs.contains("reason=connection-limit"))
        for c in clients { await c.shutdown() }
        await server.shutdown()
    }

    @Test func wrongKeyIsRefused() async throws {
        let logs = LogCapture()
        let (a, b, endpoint) = try pair(logs)
        let lb = EventLog(b)
        b.connect(to: endpoint, expecting: key(99).nodeID, persistent: false)
        #expect(await lb.wait { $0.contains(.connectFailed(endpoint: endpoint, reason: .unexpectedPeer)) })
        #expect(await eventually { b.counters[.unexpectedPeer] == 1 })
        #expect(logs.contains("reason=unexpected-peer"))
        #expect(a.connectedPeers.isEmpty)
        // The right key still works afterwards.
        b.connect(to: endpoint, expecting: a.localNodeID, persistent: false)
        #expect(await lb.wait(isConnected(a.localNodeID)))
        await b.shutdown(); await a.shutdown()
    }

    /// Each misbehaviour ends that connection with its reason, logged and counted, and the node keeps serving.
    @Test(arguments: Misbehaviour.allCases)
    func misbehavingPeerIsClosed(_ m: Misbehaviour) async throws {
        let logs = LogCapture()
        var limits = TransportLimits.default
        limits.handshakeTimeoutMilliseconds = 300
        limits.frameBytesMax = 64 << 10
        limits.streamChunkBytesMax = 64 << 10
        limits.writeQueueBytesHigh = 128 << 10
        limits.writeQueueBytesMax = 256 << 10
        if m == .silentAfterHandshake { limits.pingIntervalMilliseconds = 100; limits.idleTimeoutMilliseconds = 400 }
        var config = UVTransport.Configuration(); config.limits = limits
        let server = UVTransport(key: key(1), configuration: config, logger: logs.logger("server"))
        let sl = EventLog(server, keepFrames: true)
        let endpoint = try server.listen(on: loopback)
        let raw = RawPeer(port: endpoint.port, receiveBufferBytes: m == .stopsReading ? 4096 : nil)
        let expected: CloseReason
        switch m {
        case .garbageBeforeHandshake:
            raw.write(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)); expected = .frameTooLarge
        case .unknownFrameBeforeHandshake:
            raw.write([0, 0, 0, 3, 1, 0x77, 0]); expected = .protocolViolation
        case .slowloris:
            raw.write([0, 0]); expected = .handshakeTimeout  // half a length prefix, then nothing
        case .tamperedCiphertext:
            #expect(raw.handshake())
            var r = raw.core.sealFrame(Frame(channel: 1, payload: [1, 2, 3, 4, 5, 6, 7, 8]))
            r[r.count - 20] ^= 0x01
            raw.write(r); expected = .tamperedFrame
        case .replayedFrame:
            #expect(raw.handshake())
            let r = raw.core.sealFrame(Frame(channel: 1, payload: [9]))
            raw.write(r); raw.write(r); expected = .replayedFrame
        case .overLimitFrame:
            #expect(raw.handshake())
            var r: [UInt8] = []
            FrameCodec.appendUInt32(UInt32(limits.recordBytesMax + 1), to: &r)
            raw.write(r + [UInt8](repeating: 0, count: 1000)); expected = .frameTooLarge
        case .garbageAfterHandshake:
            #expect(raw.handshake())
            raw.write([0, 0, 0, 40] + [UInt8](repeating: 0xAA, count: 40)); expected = .reorderedFrame
        case .silentAfterHandshake:
            #expect(raw.handshake()); expected = .keepaliveTimeout  // never answers the server's pings
        case .stopsReading:
            #expect(raw.handshake())
            let peer = key(200).nodeID
            #expect(await sl.wait(isConnected(peer)))
            let big = Frame(channel: 1, payload: [UInt8](repeating: 0x55, count: 60 << 10))
            var result = SendResult.enqueued
            for _ in 0..<10_000 where result != .notConnected {
                result = server.send(big, to: peer)
                if result == .backpressure { try await Task.sleep(nanoseconds: 2_000_000) }
            }
            #expect(result == .notConnected)
            expected = .writeQueueOverflow
        }
        #expect(await eventually { server.counters[expected] == 1 }, "\(m): \(server.counters.closes)")
        #expect(logs.contains("reason=\(expected)"), "\(m)")
        if m != .stopsReading { #expect(raw.waitClosed(), "\(m): socket not closed") }
        // The node keeps serving others.
        let good = UVTransport(key: key(3), logger: logs.logger("good"))
        let gl = EventLog(good)
        good.connect(to: endpoint, expecting: server.localNodeID, persistent: false)
        #expect(await gl.wait(isConnected(server.localNodeID)))
        good.send(Frame(channel: 7, payload: [42]), to: server.localNodeID)
        #expect(await sl.wait { $0.contains(.frameReceived(peer: key(3).nodeID, frame: Frame(channel: 7, payload: [42]))) })
        await good.shutdown()
        await server.shutdown()
    }

    enum Misbehaviour: CaseIterable, Sendable {
        case garbageBeforeHandshake, unknownFrameBeforeHandshake, slowloris, tamperedCiphertext, replayedFrame,
             overLimitFrame, garbageAfterHandshake, silentAfterHandshake, stopsReading
    }

    @Test func slowConsumerPausesReadingThenEverythingArrives() async throws {
        let logs = LogCapture()
        var limits = TransportLimits.default
        limits.frameBytesMax = 256 << 10
        limits.streamChunkBytesMax = 256 << 10
        limits.eventBacklogBytesMax = 1 << 20
        var config = UVTransport.Configuration(); config.limits = limits
        let a = UVTransport(key: key(1), configuration: config, logger: logs.logger("a"))
        let b = UVTransport(key: key(2), configuration: config, logger: logs.logger("b"))
        let endpoint = try a.listen(on: loopback)
        let lb = EventLog(b)
        b.connect(to: endpoint, expecting: a.localNodeID, persistent: false)
        #expect(await lb.wait(isConnected(a.localNodeID)))
        // a's node consumes nothing yet: b's frames pile up until a stops reading.
        let count = 100
        let sender = Task {
            for i in 0..<count {
                if b.send(Frame(channel: UInt16(i), payload: [UInt8](repeating: UInt8(i), count: 64 << 10)), to: a.localNodeID) == .backpressure {
                    await b.awaitWritable(a.localNodeID)
                }
            }
        }
        #expect(await eventually { a.counters.readPauses == 1 })
        try await Task.sleep(nanoseconds: 200_000_000)
        // Overshoot is at most what one connection had read but not yet processed when the pause began.
        #expect(a.backlog.pendingBytes <= limits.eventBacklogBytesMax + limits.recordBytesMax + UVTransport.readBufferBytes)
        // Now consume: reading resumes and every frame arrives, in order.
        final class Seen: @unchecked Sendable { let lock = NSLock(); var channels: [UInt16] = []
            func add(_ c: UInt16) { lock.lock(); channels.append(c); lock.unlock() }
            var all: [UInt16] { lock.lock(); defer { lock.unlock() }; return channels } }
        let seen = Seen()
        let la = EventLog(a, keepFrames: false) { _, f in seen.add(f.channel) }
        await sender.value
        #expect(await eventually(30) { seen.all.count == count })
        #expect(seen.all == (0..<count).map { UInt16($0) })
        _ = la
        await b.shutdown(); await a.shutdown()
    }

    @Test func simultaneousDialsKeepOneConnection() async throws {
        let logs = LogCapture()
        let a = UVTransport(key: key(1), logger: logs.logger("a"))
        let b = UVTransport(key: key(2), logger: logs.logger("b"))
        let ea = try a.listen(on: loopback), eb = try b.listen(on: loopback)
        let la = EventLog(a), lb = EventLog(b)
        a.connect(to: eb, expecting: b.localNodeID, persistent: true)
        b.connect(to: ea, expecting: a.localNodeID, persistent: true)
        #expect(await la.wait(isConnected(b.localNodeID)))
        #expect(await lb.wait(isConnected(a.localNodeID)))
        try await Task.sleep(nanoseconds: 300_000_000)  // let any duplicate settle
        #expect(a.connectedPeers == [b.localNodeID] && b.connectedPeers == [a.localNodeID])
        a.send(Frame(channel: 1, payload: [1]), to: b.localNodeID)
        b.send(Frame(channel: 1, payload: [2]), to: a.localNodeID)
        #expect(await lb.wait { $0.contains(.frameReceived(peer: a.localNodeID, frame: Frame(channel: 1, payload: [1]))) })
        #expect(await la.wait { $0.contains(.frameReceived(peer: b.localNodeID, frame: Frame(channel: 1, payload: [2]))) })
        // No reconnect storm: a handful of connections at most.
        #expect(a.counters.connectionsDialed + b.counters.connectionsDialed <= 4)
        await a.shutdown(); await b.shutdown()
    }

    /// A peer that dials again while its connection is up moves the link to the new connection. The dialler decides
    /// (its handshake completes first), so it hears one `.reconnected` and never `.disconnected`. The other end hears
    /// `.reconnected` too, or, when the old socket's close reaches it before the new handshake's last message,
    /// `.disconnected` then `.connected`. Either way frames flow on the new connection.
    @Test func aRedialReplacesTheConnectionAsOneReconnectedEvent() async throws {
        let logs = LogCapture()
        let (a, b, endpoint) = try pair(logs)
        let la = EventLog(a), lb = EventLog(b)
        b.connect(to: endpoint, expecting: a.localNodeID, persistent: false)
        #expect(await la.wait(isConnected(b.localNodeID)))
        #expect(await lb.wait(isConnected(a.localNodeID)))
        b.connect(to: endpoint, expecting: a.localNodeID, persistent: false)  // the same side dials again: the new one wins
        let reconnected: (NodeID) -> ([TransportEvent]) -> Bool = { peer in
            { $0.contains { if case .reconnected(let p, _) = $0 { p == peer } else { false } } }
        }
        let isDisconnect: (TransportEvent) -> Bool = { if case .disconnected = $0 { true } else { false } }
        let isConnect: (TransportEvent) -> Bool = { if case .connected = $0 { true } else { false } }
        #expect(await lb.wait(reconnected(a.localNodeID)))
        #expect(!lb.all.contains(where: isDisconnect) && lb.all.filter(isConnect).count == 1)
        #expect(await la.wait { reconnected(b.localNodeID)($0) || $0.filter(isConnect).count == 2 })
        #expect(await eventually { a.connectedPeers == [b.localNodeID] && b.connectedPeers == [a.localNodeID] })
        b.send(Frame(channel: 1, payload: [7]), to: a.localNodeID)
        #expect(await la.wait { $0.contains(.frameReceived(peer: b.localNodeID, frame: Frame(channel: 1, payload: [7]))) })
        await b.shutdown(); await a.shutdown()
    }

    @Test func pingMeasuresRTTAndStreamsCarryLargePayloads() async throws {
        let logs = LogCapture()
        let (a, b, endpoint) = try pair(logs)
        let la = EventLog(a)
        let lb = EventLog(b)
        b.connect(to: endpoint, expecting: a.localNodeID, persistent: false)
        #expect(await la.wait(isConnected(b.localNodeID)))
        let rtt = await b.ping(a.localNodeID)
        #expect(rtt != nil && rtt! > 0 && rtt! < 2_000_000_000)
        // 64 MiB stream, checked whole.
        let size = 64 << 20
        var payload = [UInt8](repeating: 0, count: size)
        for i in stride(from: 0, to: size, by: 4096) { payload[i] = UInt8(truncatingIfNeeded: i >> 12) }
        payload[size - 1] = 0xEE
        #expect(b.sendStream(payload, channel: 3, to: a.localNodeID) != .notConnected)
        final class Assembly: @unchecked Sendable { var asm = StreamAssembler(); var whole: [UInt8]?; var chunks = 0 }
        let box = Assembly()
        #expect(await la.wait(timeout: 60) { events in
            for e in events.dropFirst(box.chunks) {
                box.chunks += 1
                if case .streamChunkReceived(_, let c) = e, let w = box.asm.add(c) { box.whole = w }
            }
            return box.whole != nil
        })
        #expect(box.whole?.count == size)
        #expect(box.whole == payload)
        _ = lb
        await b.shutdown(); await a.shutdown()
    }

    @Test func persistentDialReconnectsAfterThePeerReturns() async throws {
        let logs = LogCapture()
        var config = UVTransport.Configuration()
        config.limits.reconnectBaseMilliseconds = 20
        config.limits.reconnectMaxMilliseconds = 200
        config.jitterSeed = 5
        let a = UVTransport(key: key(1), configuration: config, logger: logs.logger("a"))
        let endpoint = try a.listen(on: loopback)
        let b = UVTransport(key: key(2), configuration: config, logger: logs.logger("b"))
        let lb = EventLog(b)
        b.connect(to: endpoint, expecting: a.localNodeID, persistent: true)
        #expect(await lb.wait(isConnected(a.localNodeID)))
        await a.shutdown()
        #expect(await lb.wait { $0.contains { if case .disconnected(_, _, .remoteClose) = $0 { true } else { false } } })
        // A new node with the same key on the same port: b comes back by itself.
        let a2 = UVTransport(key: key(1), configuration: config, logger: logs.logger("a2"))
        _ = try a2.listen(on: endpoint)
        #expect(await lb.wait { $0.filter { if case .connected = $0 { true } else { false } }.count == 2 })
        #expect(b.counters[.ioError] >= 0)
        await b.shutdown(); await a2.shutdown()
    }

    @Test func gracefulShutdownFlushesQueuedFrames() async throws {
        let logs = LogCapture()
        let (a, b, endpoint) = try pair(logs)
        final class Count: @unchecked Sendable { let lock = NSLock(); var n = 0; func add() { lock.lock(); n += 1; lock.unlock() }; var value: Int { lock.lock(); defer { lock.unlock() }; return n } }
        let got = Count()
        let la = EventLog(a, keepFrames: false) { _, _ in got.add() }
        let lb = EventLog(b)
        b.connect(to: endpoint, expecting: a.localNodeID, persistent: false)
        #expect(await la.wait(isConnected(b.localNodeID)))
        for i in 0..<2_000 { b.send(Frame(channel: 0, payload: [UInt8](repeating: UInt8(i & 255), count: 1000)), to: a.localNodeID) }
        await b.shutdown()  // immediately: everything queued must still arrive, then the close frame
        #expect(await la.wait { $0.contains { if case .disconnected(_, _, .remoteClose) = $0 { true } else { false } } })
        #expect(got.value == 2_000)
        _ = lb
        await a.shutdown()
    }
}
