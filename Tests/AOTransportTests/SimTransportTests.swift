import AOCore
import Testing
@testable import AOTransport

@Suite struct SimTransportTests {
    /// Three nodes, full mesh, each sending 200 frames to each other under loss/dup/reorder; returns the trace and
    /// the frames each received.
    func run(seed: UInt64) -> ([String], [[TransportEvent]]) {
        var config = SimNetworkConfiguration()
        config.lossPermille = 50; config.duplicatePermille = 30
        config.delayTicksMin = 1; config.delayTicksMax = 20; config.reorder = true
        let net = SimNetwork(seed: seed, configuration: config)
        let keys = (1...3).map { key(UInt8($0)) }
        let ts = keys.map { net.makeTransport(nodeID: $0.nodeID) }
        for (i, t) in ts.enumerated() { _ = try! t.listen(on: Endpoint(host: "n\(i)", port: 1)) }
        ts[0].connect(to: Endpoint(host: "n1", port: 1), expecting: keys[1].nodeID, persistent: false)
        ts[0].connect(to: Endpoint(host: "n2", port: 1), expecting: nil, persistent: false)
        ts[1].connect(to: Endpoint(host: "n2", port: 1), expecting: nil, persistent: false)
        net.advance(to: 100)
        var received = ts.map { $0.drainEvents() }
        for i in 0..<3 { for j in 0..<3 where i != j {
            for k in 0..<200 { #expect(ts[i].send(Frame(channel: 1, payload: [UInt8(i), UInt8(j), UInt8(k & 255)]), to: keys[j].nodeID) == .enqueued) }
        } }
        net.advance(to: 1000)
        for i in 0..<3 { received[i] += ts[i].drainEvents() }
        return (net.trace, received)
    }

    @Test func sameSeedSameTrace() {
        let (t1, r1) = run(seed: 42)
        let (t2, r2) = run(seed: 42)
        let (t3, _) = run(seed: 43)
        #expect(t1 == t2)
        #expect(r1 == r2)
        #expect(t1 != t3)
        #expect(t1.contains { $0.contains(" drop ") })  // the faults were exercised
        let frames = r1.map { $0.filter { if case .frameReceived = $0 { true } else { false } }.count }
        for n in frames { #expect(n > 300 && n < 480) }  // ~400 sent to each, 5% lost, 3% duplicated
    }

    @Test func fifoLinksKeepOrderAndPartitionsCut() {
        var config = SimNetworkConfiguration()
        config.delayTicksMin = 1; config.delayTicksMax = 50
        let net = SimNetwork(seed: 9, configuration: config)
        let a = net.makeTransport(nodeID: key(1).nodeID), b = net.makeTransport(nodeID: key(2).nodeID)
        _ = try! b.listen(on: Endpoint(host: "b", port: 1))
        a.connect(to: Endpoint(host: "b", port: 1), expecting: key(2).nodeID, persistent: false)
        net.advance(to: 200)
        #expect(a.drainEvents().first == .connected(peer: key(2).nodeID, endpoint: Endpoint(host: "b", port: 1)))
        #expect(b.connectedPeers == [key(1).nodeID])
        for k in 0..<100 { a.send(Frame(channel: 0, payload: [UInt8(k)]), to: key(2).nodeID) }
        net.advance(to: 1000)
        let got = b.drainEvents().compactMap { e -> UInt8? in if case .frameReceived(_, let f) = e { f.payload[0] } else { nil } }
        #expect(got == (0..<100).map { UInt8($0) })

        net.partition([[key(1).nodeID], [key(2).nodeID]])
        a.send(Frame(channel: 0, payload: [1]), to: key(2).nodeID)
        net.advance(to: 2000)
        #expect(b.drainEvents().isEmpty)
        net.heal()
        a.send(Frame(channel: 0, payload: [2]), to: key(2).nodeID)
        net.advance(to: 3000)
        #expect(b.drainEvents() == [.frameReceived(peer: key(1).nodeID, frame: Frame(channel: 0, payload: [2]))])

        // Wrong expected key: refused.
        let c = net.makeTransport(nodeID: key(3).nodeID)
        c.connect(to: Endpoint(host: "b", port: 1), expecting: key(9).nodeID, persistent: false)
        net.advance(to: 4000)
        #expect(c.drainEvents() == [.connectFailed(endpoint: Endpoint(host: "b", port: 1), reason: .unexpectedPeer)])
        #expect(c.counters[.unexpectedPeer] == 1)

        // Streams arrive whole and in order.
        let payload = (0..<700_000).map { UInt8(truncatingIfNeeded: $0 / 3) }
        a.sendStream(payload, channel: 2, to: key(2).nodeID)
        net.advance(to: 5000)
        var asm = StreamAssembler(); var whole: [UInt8]?
        for e in b.drainEvents() { if case .streamChunkReceived(_, let ch) = e { whole = asm.add(ch) ?? whole } }
        #expect(whole == payload)
    }
}
