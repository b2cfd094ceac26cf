// transport-bench: the transport benchmark driven by scripts/bench/transport. Two processes over loopback:
//   transport-bench server PORT       listens on 127.0.0.1:PORT, counts bulk frames, answers "done" frames
//   transport-bench client PORT       measures 256 KiB throughput, 1 KiB frames/s, ping RTT, raw AEAD speed
import AOCore
import AOTransport
import AOTransportUV
import Foundation
import Logging

let serverKey = Ed25519PrivateKey(seed: [UInt8](repeating: 1, count: 32))!
let clientKey = Ed25519PrivateKey(seed: [UInt8](repeating: 2, count: 32))!
let bulkChannel: UInt16 = 1, doneChannel: UInt16 = 3

var logger = Logger(label: "transport-bench")
logger.logLevel = .warning

func nowNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

let args = CommandLine.arguments
guard args.count >= 3, let port = UInt16(args[2]) else {
    print("usage: transport-bench server|client PORT"); exit(2)
}

final class Counter: @unchecked Sendable {
    let lock = NSLock(); var frames = 0; var bytes = 0
    func add(_ n: Int) { lock.lock(); frames += 1; bytes += n; lock.unlock() }
    func take() -> (Int, Int) { lock.lock(); defer { frames = 0; bytes = 0; lock.unlock() }; return (frames, bytes) }
}

if args[1] == "server" {
    let t = UVTransport(key: serverKey, logger: logger)
    _ = try t.listen(on: Endpoint(host: "127.0.0.1", port: port))
    print("listening"); fflush(stdout)
    let counter = Counter()
    for await e in t.events {
        if case .frameReceived(let peer, let f) = e {
            if f.channel == doneChannel {
                let (frames, bytes) = counter.take()
                var reply: [UInt8] = []
                FrameCodec.appendUInt64(UInt64(frames), to: &reply); FrameCodec.appendUInt64(UInt64(bytes), to: &reply)
                t.send(Frame(channel: doneChannel, payload: reply), to: peer)
            } else {
                counter.add(f.payload.count)
            }
        }
    }
    exit(0)
}

// client
let t = UVTransport(key: clientKey, logger: logger)
let server = serverKey.nodeID
final class Inbox: @unchecked Sendable {
    let lock = NSLock(); var replies: [[UInt8]] = []; var connected = false; var finished = false
    func finish() { lock.lock(); finished = true; lock.unlock() }
    var isFinished: Bool { lock.lock(); defer { lock.unlock() }; return finished }
    func put(_ b: [UInt8]) { lock.lock(); replies.append(b); lock.unlock() }
    func take() -> [UInt8]? { lock.lock(); defer { lock.unlock() }; return replies.isEmpty ? nil : replies.removeFirst() }
    func setConnected() { lock.lock(); connected = true; lock.unlock() }
    var isConnected: Bool { lock.lock(); defer { lock.unlock() }; return connected }
}
let inbox = Inbox()
Task {
    for await e in t.events {
        switch e {
        case .connected: inbox.setConnected()
        case .frameReceived(_, let f) where f.channel == doneChannel: inbox.put(f.payload)
        case .disconnected(_, _, let r), .connectFailed(_, let r):
            if !inbox.isFinished { print("connection lost: \(r)"); exit(1) }
        default: break
        }
    }
}
for attempt in 0..<100 {
    t.connect(to: Endpoint(host: "127.0.0.1", port: port), expecting: server, persistent: false)
    for _ in 0..<50 where !inbox.isConnected { try await Task.sleep(nanoseconds: 2_000_000) }
    if inbox.isConnected { break }
    if attempt == 99 { print("could not connect"); exit(1) }
}

/// Sends `count` frames of `size` bytes, then a done frame, and waits for the server's count.
func bulk(size: Int, count: Int) async -> (seconds: Double, bytes: Int) {
    let payload = [UInt8](repeating: 0xA5, count: size)
    let start = nowNanoseconds()
    for _ in 0..<count {
        if t.send(Frame(channel: bulkChannel, payload: payload), to: server) == .backpressure { await t.awaitWritable(server) }
    }
    t.send(Frame(channel: doneChannel, payload: []), to: server)
    var reply: [UInt8]?
    while reply == nil { reply = inbox.take(); if reply == nil { try? await Task.sleep(nanoseconds: 200_000) } }
    let seconds = Double(nowNanoseconds() - start) / 1e9
    let frames = Int(FrameCodec.readUInt64(reply!, 0)), bytes = Int(FrameCodec.readUInt64(reply!, 8))
    precondition(frames == count && bytes == count * size, "server saw \(frames) frames / \(bytes) bytes")
    return (seconds, bytes)
}

_ = await bulk(size: 256 << 10, count: 64)  // warm-up
let big = await bulk(size: 256 << 10, count: 2048)
let bigMBps = Double(big.bytes) / big.seconds / 1e6
let small = await bulk(size: 1024, count: 200_000)
let smallFps = 200_000 / small.seconds

var rtts: [UInt64] = []
for _ in 0..<2000 { if let r = await t.ping(server) { rtts.append(r) } }
rtts.sort()
let p50 = Double(rtts[rtts.count / 2]) / 1e3, p99 = Double(rtts[rtts.count * 99 / 100]) / 1e3

// Raw XChaCha20-Poly1305 on one core, same chunk size, same primitive the session uses.
_ = AEADBaseline.sealInPlace(chunkBytes: 256 << 10, iterations: 64)
let aeadStart = nowNanoseconds()
let sealed = AEADBaseline.sealInPlace(chunkBytes: 256 << 10, iterations: 2048)
let aeadMBps = Double(sealed) / (Double(nowNanoseconds() - aeadStart) / 1e9) / 1e6

print(String(format: "256 KiB frames:   %8.1f MB/s  (%d frames, %.2f s)", bigMBps, 2048, big.seconds))
print(String(format: "1 KiB frames:     %8.0f frames/s (%.1f MB/s)", smallFps, smallFps * 1024 / 1e6))
print(String(format: "ping RTT:         p50 %.1f us, p99 %.1f us (%d pings)", p50, p99, rtts.count))
print(String(format: "raw XChaCha20-Poly1305 (1 core, 256 KiB): %8.1f MB/s", aeadMBps))
print(String(format: "transport / raw AEAD (256 KiB): %.0f%% (target >= 50%%)", 100 * bigMBps / aeadMBps))
inbox.finish()
await t.shutdown()
exit(0)
