// node-bench: end-to-end throughput and latency of a running aonode testnet (scripts/bench/node starts one).
//
//   node-bench --module .build/aonode-lua/process.wasm --post URL --read URL [--messages N] [--concurrency C]
//              [--latency-samples K]
//
// 1. publishes the Lua module and spawns a counter process at the POST node;
// 2. throughput: N signed `Action=Increment` messages POSTed with C concurrent clients; the clock stops when the
//    result of the last one is available at the READ node (a different node), and the counter is checked there;
// 3. latency: K messages one at a time, each from POST (at the POST node) until its result is readable at the READ
//    node (polled every 2 ms): p50/p99/max.
// Messages are signed before the clock starts (signing is the client's work, not the network's).
import AOCore
import AsyncHTTPClient
import Foundation
import NIOCore

struct Options {
    var module = ""
    var post = ""
    var read = ""
    var messages = 1000
    var concurrency = 32
    var latencySamples = 100

    init(_ args: [String]) throws {
        var i = 1
        func value() throws -> String {
            i += 1
            guard i < args.count else { throw BenchError("missing value for \(args[i - 1])") }
            return args[i]
        }
        while i < args.count {
            switch args[i] {
            case "--module": module = try value()
            case "--post": post = try value()
            case "--read": read = try value()
            case "--messages": messages = Int(try value()) ?? messages
            case "--concurrency": concurrency = Int(try value()) ?? concurrency
            case "--latency-samples": latencySamples = Int(try value()) ?? latencySamples
            case "-h", "--help":
                print("usage: node-bench --module WASM --post URL --read URL [--messages N] [--concurrency C] [--latency-samples K]")
                exit(0)
            default: throw BenchError("unknown argument \(args[i])")
            }
            i += 1
        }
        guard !module.isEmpty, !post.isEmpty, !read.isEmpty else { throw BenchError("--module, --post and --read are required") }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

let client = HTTPClient(eventLoopGroupProvider: .singleton)

func post(_ base: String, _ bytes: [UInt8]) async throws -> [String: Any] {
    var req = HTTPClientRequest(url: base + "/")
    req.method = .POST
    req.headers.add(name: "content-type", value: "application/octet-stream")
    req.body = .bytes(ByteBuffer(bytes: bytes))
    let res = try await client.execute(req, timeout: .seconds(60))
    let body = try await res.body.collect(upTo: 1 << 20)
    let json = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
    guard res.status.code == 202 || res.status.code == 200 else {
        throw BenchError("POST \(base) answered \(res.status.code): \(String(buffer: body))")
    }
    return json
}

func get(_ url: String) async throws -> (Int, [String: Any]) {
    let res = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
    let body = try await res.body.collect(upTo: 16 << 20)
    return (Int(res.status.code), (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:])
}

func waitFor(_ what: String, timeout: Duration = .seconds(120), every: Duration = .milliseconds(2),
             _ check: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await check() { return }
        try await Task.sleep(for: every)
    }
    throw BenchError("timed out waiting for \(what)")
}

func message(_ key: Ed25519PrivateKey, process: ProcessID, _ n: Int) throws -> DataItem {
    try DataItem.create(signer: key, target: process.raw, tags: [
        Tag("Data-Protocol", "ao"), Tag("Type", "Message"), Tag("Variant", "ao.TN.1"), Tag("Action", "Increment"),
        Tag("Bench-Seq", String(n)),
    ])
}

func resultOutput(_ json: [String: Any]) -> String? {
    if let o = json["Output"] as? [String: Any] { return (o["data"] as? String) ?? (o["print"] as? String) }
    return json["Output"] as? String
}

func percentile(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : s[min(s.count - 1, Int((Double(s.count - 1) * p).rounded()))]
}

func run() async throws {
    let o = try Options(CommandLine.arguments)
    let key = Ed25519PrivateKey.generate()
    guard let wasm = FileManager.default.contents(atPath: o.module) else { throw BenchError("cannot read \(o.module)") }
    let module = try DataItem.create(signer: key, tags: [
        Tag("Data-Protocol", "ao"), Tag("Type", "Module"), Tag("Variant", "ao.TN.1"),
        Tag("Module-Format", "wasm32-unknown-emscripten4"), Tag("Input-Encoding", "JSON-1.0"),
        Tag("Output-Encoding", "JSON-1.0"), Tag("Memory-Limit", "1-gb"), Tag("Compute-Limit", "9000000000000"),
        Tag("Content-Type", "application/wasm"),
    ], data: [UInt8](wasm))
    _ = try await post(o.post, module.serialized())
    let (_, location) = try await get(o.post + "/")
    guard let scheduler = location["address"] as? String else { throw BenchError("GET / at \(o.post) has no address") }
    let process = try DataItem.create(signer: key, tags: [
        Tag("Data-Protocol", "ao"), Tag("Type", "Process"), Tag("Variant", "ao.TN.1"), Tag("Module", module.id.base64URL),
        Tag("Scheduler", scheduler), Tag("Name", "node-bench"),
    ])
    _ = try await post(o.post, process.serialized())
    let pid = ProcessID(process.id)
    try await waitFor("the process at \(o.read)", every: .milliseconds(50)) {
        try await get(o.read + "/processes/\(pid.base64URL)").0 == 200
    }
    print("process \(pid.base64URL) spawned at \(o.post), known at \(o.read)")

    // Throughput.
    let items = try (0..<o.messages).map { try message(key, process: pid, $0) }
    let start = ContinuousClock.now
    var next = 0
    try await withThrowingTaskGroup(of: Void.self) { group in
        func launch() {
            guard next < items.count else { return }
            let bytes = items[next].serialized()
            next += 1
            group.addTask { _ = try await post(o.post, bytes) }
        }
        for _ in 0..<o.concurrency { launch() }
        while try await group.next() != nil { launch() }
    }
    let posted = ContinuousClock.now - start
    let last = items.last!.id.base64URL
    var final: [String: Any] = [:]
    try await waitFor("the result of the last message at \(o.read)", timeout: .seconds(600), every: .milliseconds(5)) {
        let (status, json) = try await get(o.read + "/result/\(last)?process-id=\(pid.base64URL)")
        final = json
        return status == 200
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let postSeconds = Double(posted.components.seconds) + Double(posted.components.attoseconds) / 1e18
    let counter = resultOutput(final)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
    print(String(format: "throughput: %d messages POSTed in %.2f s (%.0f/s accepted); all results at the read node after %.2f s: %.0f messages/s end to end",
                 o.messages, postSeconds, Double(o.messages) / postSeconds, seconds, Double(o.messages) / seconds))
    print("counter after the last message (read node): \(counter) (expected \(o.messages))")

    // Latency, one message at a time.
    var latencies: [Double] = []
    for n in 0..<o.latencySamples {
        let item = try message(key, process: pid, o.messages + n)
        let t0 = ContinuousClock.now
        _ = try await post(o.post, item.serialized())
        try await waitFor("a result", timeout: .seconds(60)) {
            try await get(o.read + "/result/\(item.id.base64URL)?process-id=\(pid.base64URL)").0 == 200
        }
        let d = ContinuousClock.now - t0
        latencies.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
    }
    print(String(format: "latency POST -> result at another node over %d messages: p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                 latencies.count, percentile(latencies, 0.5), percentile(latencies, 0.99), latencies.max() ?? 0))
}

// The client uses the shared singleton event loop group, which needs no shutdown.
do {
    try await run()
} catch {
    FileHandle.standardError.write(Data("node-bench: \(error)\n".utf8))
    exit(1)
}
