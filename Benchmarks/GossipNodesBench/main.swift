// Gossip over real nodes: N `aonode run` child processes on 127.0.0.1, items POSTed at a fixed rate spread over the
// nodes, then delivery, latency, copies and bytes measured from the nodes themselves.
//
//   gossip-nodes-bench --aonode PATH [--nodes 10] [--items 10000] [--rate 1000] [--size 256] [--keep]
//
// How "stored at node X at time T" is observed: each node runs with AONODE_DELIVERY_TRACE=<file> and appends
// "<item id> <unix µs>" when a gossiped item's store write has committed (NodeRuntime.storeDelivered). The
// publish time is taken by this driver just before it sends the POST. All processes share one machine and one
// realtime clock, so the difference is publish-to-durable latency; it includes the driver's HTTP request, the
// origin's group commit and every hop, and the error of the two clock reads is microseconds. The origin node
// stores in its POST handler (no trace line): its own copy counts as delivered when the POST answered 2xx, and
// only the other N-1 nodes enter the latency figures.
import AOCore
import AOTestSupport
import AsyncHTTPClient
import Foundation
import NIOCore

struct Options {
    var aonode = ""
    var nodes = 10
    var items = 10_000
    var rate = 1_000
    var size = 256
    var keep = false
    var tickMs = 50
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let a = args.next() {
        switch a {
        case "--aonode": o.aonode = args.next() ?? ""
        case "--nodes": o.nodes = Int(args.next() ?? "") ?? o.nodes
        case "--items": o.items = Int(args.next() ?? "") ?? o.items
        case "--rate": o.rate = Int(args.next() ?? "") ?? o.rate
        case "--size": o.size = Int(args.next() ?? "") ?? o.size
        case "--tick-ms": o.tickMs = Int(args.next() ?? "") ?? o.tickMs
        case "--keep": o.keep = true
        default:
            FileHandle.standardError.write(Data("unknown argument \(a)\n".utf8)); exit(2)
        }
    }
    if o.aonode.isEmpty {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        o.aonode = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("aonode").path
    }
    return o
}

func nowMicros() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
}

func freePort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
            guard bind(fd, p, length) == 0 else { return -1 }
            return getsockname(fd, p, &length)
        }
    }
    return UInt16(bigEndian: address.sin_port)
}

struct NodeProc {
    var dir: String
    var transportPort: UInt16
    var httpPort: UInt16
    var process: Process
    var url: String { "http://127.0.0.1:\(httpPort)" }
    var trace: String { dir + "/deliveries.txt" }
}

final class Recorder: @unchecked Sendable {
    let lock = NSLock()
    var sent: [Int64]
    var acked: [Int64]
    var failures = 0
    var firstError: String?
    init(count: Int) { sent = Array(repeating: 0, count: count); acked = Array(repeating: 0, count: count) }
}

func get(_ client: HTTPClient, _ url: String) async throws -> (UInt, [UInt8]) {
    let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
    let body = try await response.body.collect(upTo: 16 << 20)
    return (response.status.code, Array(body.readableBytesView))
}

func metrics(_ client: HTTPClient, _ node: NodeProc) async -> [String: Int] {
    guard let (_, body) = try? await get(client, node.url + "/metrics") else { return [:] }
    var out: [String: Int] = [:]
    for line in String(decoding: body, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
        let parts = line.split(separator: " ")
        if parts.count == 2, let v = Int(parts[1]) { out[String(parts[0])] = v }
    }
    return out
}

func percentile(_ sorted: [Int64], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let i = min(sorted.count - 1, Int((p * Double(sorted.count - 1)).rounded()))
    return Double(sorted[i]) / 1000
}

setvbuf(stdout, nil, _IOLBF, 0)
let o = parseOptions()
guard FileManager.default.isExecutableFile(atPath: o.aonode) else {
    print("aonode binary not found at \(o.aonode) (swift build -c release --product aonode)"); exit(2)
}
let root = NSTemporaryDirectory() + "gossip-nodes-\(getpid())"
try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
print("gossip-nodes: \(o.nodes) aonode processes on 127.0.0.1, \(o.items) items of \(o.size) bytes of data at \(o.rate)/s, tick \(o.tickMs) ms")
print("load average before: \(MachineGauge.loadAverage()) (shared machine, \(ProcessInfo.processInfo.activeProcessorCount) cores)")
print(MachineGauge.summary { DispatchTime.now().uptimeNanoseconds })

// Start the nodes: node 1 first, the others bootstrap through it.
var nodes: [NodeProc] = []
for i in 0..<o.nodes {
    let dir = root + "/node\(i + 1)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let tp = freePort(), hp = freePort()
    let p = Process()
    p.executableURL = URL(fileURLWithPath: o.aonode)
    var args = ["run", "--data-dir", dir, "--listen", "127.0.0.1:\(tp)", "--http", "127.0.0.1:\(hp)",
                "--log-level", "notice", "--tick-ms", "\(o.tickMs)"]
    if i > 0 { args += ["--peer", "127.0.0.1:\(nodes[0].transportPort)"] }
    p.arguments = args
    var env = ProcessInfo.processInfo.environment
    env["AONODE_DELIVERY_TRACE"] = dir + "/deliveries.txt"
    env["AONODE_SUBMIT_RATE_LIMIT"] = "off"  // one client address sends 1000/s
    p.environment = env
    _ = FileManager.default.createFile(atPath: dir + "/node.log", contents: nil)
    let log = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/node.log"))
    p.standardOutput = log; p.standardError = log
    try p.run()
    nodes.append(NodeProc(dir: dir, transportPort: tp, httpPort: hp, process: p))
}
func stopAll() {
    for n in nodes where n.process.isRunning { n.process.terminate() }
    let deadline = Date().addingTimeInterval(10)
    for n in nodes {
        while n.process.isRunning && Date() < deadline { usleep(50_000) }
        if n.process.isRunning { kill(n.process.processIdentifier, SIGKILL); n.process.waitUntilExit() }
    }
    if !o.keep { try? FileManager.default.removeItem(atPath: root) }
}

var configuration = HTTPClient.Configuration()
configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 32)
let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)

// Wait until every node answers and has peers, then let the gossip mesh settle (a few heartbeats).
let peersMin = min(3, o.nodes - 1)
let readyDeadline = Date().addingTimeInterval(90)
for n in nodes {
    while true {
        if let (status, body) = try? await get(client, n.url + "/health"), status == 200,
           let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
           let checks = json["checks"] as? [String: Any], let peers = (checks["peers"] as? String).flatMap(Int.init),
           peers >= peersMin { break }
        if Date() > readyDeadline { print("FAIL: node \(n.dir) not ready"); try? await client.shutdown().get(); stopAll(); exit(1) }
        try await Task.sleep(for: .milliseconds(200))
    }
}
try await Task.sleep(for: .seconds(3))
var before: [[String: Int]] = []
for n in nodes { before.append(await metrics(client, n)) }

// Pre-sign the items (the publish loop only sends).
let key = Ed25519PrivateKey.generate()
var items: [(MessageID, [UInt8])] = []
items.reserveCapacity(o.items)
var rng = SystemRandomNumberGenerator()
for k in 0..<o.items {
    let data = (0..<o.size).map { _ in UInt8.random(in: 0...255, using: &rng) }
    let item = try DataItem.create(signer: key, tags: [Tag("Content-Type", "application/octet-stream"), Tag("Bench-Seq", "\(k)")],
                                   data: data)
    items.append((item.id, item.serialized()))
}
let itemBytes = items.first?.1.count ?? 0
print("signed \(o.items) items; publishing")

// Publish at the fixed rate, item k at node k mod N.
let recorder = Recorder(count: o.items)
let start = nowMicros()
let interval = 1_000_000 / Int64(o.rate)
await withTaskGroup(of: Void.self) { group in
    for k in 0..<o.items {
        let due = start + Int64(k) * interval
        let wait = due - nowMicros()
        if wait > 0 { try? await Task.sleep(for: .microseconds(wait)) }
        let url = nodes[k % nodes.count].url + "/", bytes = items[k].1
        group.addTask {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/octet-stream")
            request.body = .bytes(ByteBuffer(bytes: bytes))
            let sent = nowMicros()
            do {
                let response = try await client.execute(request, timeout: .seconds(30))
                _ = try await response.body.collect(upTo: 1 << 20)
                let acked = nowMicros()
                recorder.lock.withLock {
                    recorder.sent[k] = sent
                    if (200..<300).contains(response.status.code) { recorder.acked[k] = acked } else {
                        recorder.failures += 1
                        if recorder.firstError == nil { recorder.firstError = "HTTP \(response.status.code)" }
                    }
                }
            } catch {
                recorder.lock.withLock {
                    recorder.sent[k] = sent; recorder.failures += 1
                    if recorder.firstError == nil { recorder.firstError = "\(error)" }
                }
            }
        }
    }
}
let publishSeconds = Double(nowMicros() - start) / 1e6
print(String(format: "published %d items in %.2f s (%.0f/s); POST failures %d", o.items, publishSeconds,
             Double(o.items) / publishSeconds, recorder.failures)
      + (recorder.firstError.map { " (first: \($0))" } ?? ""))

// Wait for the deliveries (trace lines) to stop growing or to be complete; at most 60 s.
func traceLines() -> Int {
    nodes.reduce(0) { acc, n in
        acc + ((try? Data(contentsOf: URL(fileURLWithPath: n.trace)))?.reduce(0) { $0 + ($1 == 10 ? 1 : 0) } ?? 0)
    }
}
let wanted = o.items * (o.nodes - 1)
let waitDeadline = Date().addingTimeInterval(60)
var last = -1, stableSince = Date()
while Date() < waitDeadline {
    let n = traceLines()
    if n >= wanted { break }
    if n != last { last = n; stableSince = Date() } else if Date().timeIntervalSince(stableSince) > 15 { break }
    try await Task.sleep(for: .milliseconds(500))
}
print("load average after publishing: \(MachineGauge.loadAverage())")

// Latency and delivery from the traces.
var index: [MessageID: Int] = [:]
for (k, it) in items.enumerated() { index[it.0] = k }
var latencies: [Int64] = [], fromAck: [Int64] = []
latencies.reserveCapacity(wanted)
var delivered = 0, duplicateLines = 0
var perNodeMissing: [Int] = []
for (ni, n) in nodes.enumerated() {
    let text = (try? String(contentsOfFile: n.trace, encoding: .utf8)) ?? ""
    var seen = Set<Int>()
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ")
        guard parts.count == 2, let id = MessageID(base64URL: String(parts[0])), let k = index[id],
              let t = Int64(parts[1]) else { continue }
        guard k % nodes.count != ni else { continue }  // the origin stores in its POST handler
        guard seen.insert(k).inserted else { duplicateLines += 1; continue }
        let (sent, acked) = recorder.lock.withLock { (recorder.sent[k], recorder.acked[k]) }
        if sent > 0 { latencies.append(t - sent) }
        if acked > 0 { fromAck.append(t - acked) }
    }
    delivered += seen.count
    perNodeMissing.append(o.items - o.items / nodes.count - (ni < o.items % nodes.count ? 1 : 0) - seen.count)
}
let originAcks = recorder.lock.withLock { recorder.acked.filter { $0 > 0 }.count }
let pairs = o.items * o.nodes
latencies.sort()
fromAck.sort()
print(String(format: "delivery: %d / %d (item, node) pairs = %.3f%% (origin copies by POST 2xx: %d; others by gossip: %d of %d)",
             delivered + originAcks, pairs, 100 * Double(delivered + originAcks) / Double(pairs), originAcks, delivered,
             o.items * (o.nodes - 1)))
print("missing per node: \(perNodeMissing)")
print(String(format: "publish-to-store latency at the other nodes (ms): p50 %.2f  p99 %.2f  max %.2f  (n=%d)",
             percentile(latencies, 0.5), percentile(latencies, 0.99), percentile(latencies, 1.0), latencies.count))
print(String(format: "origin-ack-to-store at the other nodes (ms; gossip alone, the origin publishes just before it answers): p50 %.2f  p99 %.2f  max %.2f",
             percentile(fromAck, 0.5), percentile(fromAck, 0.99), percentile(fromAck, 1.0)))
let acks = recorder.lock.withLock { zip(recorder.sent, recorder.acked).filter { $0.1 > 0 }.map { $0.1 - $0.0 } }.sorted()
print(String(format: "POST round trip at the origin (ms): p50 %.2f  p99 %.2f  max %.2f",
             percentile(acks, 0.5), percentile(acks, 0.99), percentile(acks, 1.0)))

// Copies and bytes from the nodes' counters (differences over the run).
var copies: [Double] = []
var bytesSent = 0, duplicates = 0, received = 0, accepted = 0, backlogDrops = 0, brokenPromises = 0, readPauses = 0
for (i, n) in nodes.enumerated() {
    let after = await metrics(client, n)
    func d(_ k: String) -> Int { (after[k] ?? 0) - (before[i][k] ?? 0) }
    let r = d("aonode_gossip_payloads_received_total"), a = d("aonode_gossip_accepted_total")
    received += r; accepted += a; duplicates += d("aonode_gossip_duplicates_total")
    bytesSent += d("aonode_transport_bytes_sent_total")
    backlogDrops += d("aonode_gossip_dropped_validation_backlog_total")
    brokenPromises += d("aonode_gossip_broken_promises_total")
    readPauses += d("aonode_transport_read_pauses_total")
    if a > 0 { copies.append(Double(r) / Double(a)) }
}
let mean = copies.isEmpty ? .nan : copies.reduce(0, +) / Double(copies.count)
print(String(format: "copies received per node per item: mean %.2f  max %.2f (target <= D-1 = 5); duplicates %d in total, %.2f per item per node",
             mean, copies.max() ?? .nan, duplicates, Double(duplicates) / Double(max(1, accepted))))
let deliveredBytes = delivered * itemBytes
print(String(format: "transport bytes sent per delivered item byte: %.2f (%d bytes sent, %d delivered over gossip, items of %d bytes)",
             Double(bytesSent) / Double(max(1, deliveredBytes)), bytesSent, deliveredBytes, itemBytes))
print("overload signs (sum over nodes): items dropped by a full validation backlog \(backlogDrops), broken IWANT promises \(brokenPromises), transport read pauses \(readPauses)")
if duplicateLines > 0 { print("note: \(duplicateLines) repeated trace lines (an item stored twice at a node)") }

try? await client.shutdown().get()
stopAll()
let ok = delivered + originAcks == pairs
print(ok ? "delivery: 100% (target met)" : "delivery: below 100% (target missed)")
