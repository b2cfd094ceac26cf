// node-bench: end-to-end throughput and latency of a running aonode testnet (scripts/bench/node starts one).
//
//   node-bench --module .build/aonode-lua/process.wasm --post URL --read URL [--messages N] [--concurrency C]
//              [--latency-samples K]
//
// 1. publishes the Lua module and spawns a counter process at the POST node;
//    and waits until the process's own result (slot 0: module compiled, process instantiated) is at the READ node;
// 2. throughput: N signed `Action=Increment` messages POSTed with C concurrent clients; the clock stops when the
//    READ node (a different node) has evaluated all of them: its newest result (`GET /results/P?sort=DESC&limit=1`,
//    polled every 10 ms) shows the counter at N;
// 3. latency: K messages one at a time, each from POST (at the POST node) until its result is readable at the READ
//    node (`GET /result` polled every 2 ms; it answers 404 until the message is assigned there, then waits for the
//    evaluation): p50/p99/max.
// Messages are signed before the clock starts (signing is the client's work, not the network's). Progress goes to
// standard error; the numbers to standard output, line-buffered (so a run cut short by a timeout still shows them).
import AOCore
import AOTestSupport
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

func waitFor(_ what: @autoclosure () -> String, timeout: Duration = .seconds(120), every: Duration = .milliseconds(2),
             _ check: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await check() { return }
        try await Task.sleep(for: every)
    }
    throw BenchError("timed out waiting for \(what())")
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

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

let began = ContinuousClock.now

/// A progress line on standard error, with the time since start.
func progress(_ text: String) {
    FileHandle.standardError.write(Data(String(format: "[%7.2f s] %@\n", seconds(ContinuousClock.now - began), text).utf8))
}

/// The counter in the READ node's newest evaluated result of `pid` (nil before any Increment was evaluated there).
func newestCounter(_ base: String, _ pid: ProcessID) async throws -> Int? {
    let (status, json) = try await get(base + "/results/\(pid.base64URL)?sort=DESC&limit=1")
    guard status == 200, let edges = json["edges"] as? [[String: Any]], let node = edges.first?["node"] as? [String: Any] else {
        return nil
    }
    return resultOutput(node).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
}

func run() async throws {
    setvbuf(stdout, nil, _IOLBF, 0)
    let o = try Options(CommandLine.arguments)
    let key = Ed25519PrivateKey.generate()
    guard let wasm = FileManager.default.contents(atPath: o.module) else { throw BenchError("cannot read \(o.module)") }
    let module = try DataItem.create(signer: key, tags: [
        Tag("Data-Protocol", "ao"), Tag("Type", "Module"), Tag("Variant", "ao.TN.1"),
        // scripts/build-lua-module builds an emscripten2-format module (as ComputeNodeTests publish it).
        Tag("Module-Format", "wasm32-unknown-emscripten2"), Tag("Input-Encoding", "JSON-1"),
        Tag("Output-Encoding", "JSON-1"), Tag("Content-Type", "application/wasm"),
    ], data: [UInt8](wasm))
    progress("publishing the module (\(wasm.count) bytes) at \(o.post)")
    _ = try await post(o.post, module.serialized())
    let process = try DataItem.create(signer: key, tags: [
        Tag("Data-Protocol", "ao"), Tag("Type", "Process"), Tag("Variant", "ao.TN.1"), Tag("Module", module.id.base64URL),
        Tag("Name", "node-bench"), Tag("Content-Type", "text/plain"),
    ], data: Array(" ".utf8))
    progress("spawning the counter process at \(o.post)")
    _ = try await post(o.post, process.serialized())
    let pid = ProcessID(process.id)
    // The process's own result at the READ node: it has the process, the module compiled and the process instantiated.
    var lastAnswer = ""
    try await waitFor("the process's own result at \(o.read) (last answer: \(lastAnswer))", every: .milliseconds(50)) {
        let (status, json) = try await get(o.read + "/result/\(pid.base64URL)?process-id=\(pid.base64URL)")
        lastAnswer = "\(status) \(json)"
        if status == 200, let e = json["Error"], !(e is NSNull) { throw BenchError("the process failed to start at \(o.read): \(json)") }
        return status == 200
    }
    progress("process \(pid.base64URL) spawned at \(o.post), evaluated at \(o.read)")
    print(MachineGauge.summary { DispatchTime.now().uptimeNanoseconds })
    print("process \(pid.base64URL): POST at \(o.post), results read at \(o.read)")

    // Throughput.
    let signStart = ContinuousClock.now
    let items = try (0..<o.messages).map { try message(key, process: pid, $0).serialized() }
    let signSeconds = seconds(ContinuousClock.now - signStart)
    progress(String(format: "signed %d messages in %.2f s (%.0f/s, not counted)", o.messages, signSeconds, Double(o.messages) / signSeconds))
    let start = ContinuousClock.now
    var next = 0
    var accepts: [Double] = []
    accepts.reserveCapacity(items.count)
    try await withThrowingTaskGroup(of: Double.self) { group in
        func launch() {
            guard next < items.count else { return }
            let bytes = items[next]
            next += 1
            group.addTask {
                let t0 = ContinuousClock.now
                _ = try await post(o.post, bytes)
                return seconds(ContinuousClock.now - t0) * 1000
            }
        }
        for _ in 0..<o.concurrency { launch() }
        while let ms = try await group.next() {
            accepts.append(ms)
            if accepts.count % max(1, o.messages / 10) == 0 { progress("\(accepts.count)/\(o.messages) POSTed") }
            launch()
        }
    }
    let postSeconds = seconds(ContinuousClock.now - start)
    progress(String(format: "all %d POSTed in %.2f s; waiting for the read node to evaluate them", o.messages, postSeconds))
    var counter = 0
    var lastReport = ContinuousClock.now
    try await waitFor("the counter to reach \(o.messages) at \(o.read) (at \(counter))", timeout: .seconds(600), every: .milliseconds(10)) {
        counter = try await newestCounter(o.read, pid) ?? 0
        if ContinuousClock.now - lastReport > .seconds(2) { lastReport = .now; progress("read node counter \(counter)/\(o.messages)") }
        return counter >= o.messages
    }
    let elapsed = seconds(ContinuousClock.now - start)
    print(String(format: "throughput: %d messages, concurrency %d: POSTed (accepted) in %.2f s = %.0f/s; all evaluated at the read node after %.2f s = %.0f messages/s end to end",
                 o.messages, o.concurrency, postSeconds, Double(o.messages) / postSeconds, elapsed, Double(o.messages) / elapsed))
    print(String(format: "  POST accept latency under load: p50 %.1f ms, p99 %.1f ms; counter at the read node: %d (expected %d)",
                 percentile(accepts, 0.5), percentile(accepts, 0.99), counter, o.messages))
    guard counter == o.messages else { throw BenchError("the counter is \(counter), expected \(o.messages)") }

    // Latency, one message at a time.
    var latencies: [Double] = [], acceptOnly: [Double] = []
    for n in 0..<o.latencySamples {
        let item = try message(key, process: pid, o.messages + n)
        let bytes = item.serialized()
        let t0 = ContinuousClock.now
        _ = try await post(o.post, bytes)
        let accepted = ContinuousClock.now
        var final: [String: Any] = [:]
        try await waitFor("the result of latency message \(n) at \(o.read)", timeout: .seconds(60)) {
            let (status, json) = try await get(o.read + "/result/\(item.id.base64URL)?process-id=\(pid.base64URL)")
            final = json
            return status == 200
        }
        let d = ContinuousClock.now - t0
        latencies.append(seconds(d) * 1000)
        acceptOnly.append(seconds(accepted - t0) * 1000)
        let value = resultOutput(final).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard value == o.messages + n + 1 else { throw BenchError("latency message \(n): counter \(value.map(String.init) ?? "?"), expected \(o.messages + n + 1)") }
    }
    if !latencies.isEmpty {
        print(String(format: "latency POST -> result at the read node, %d messages one at a time: p50 %.1f ms, p99 %.1f ms, max %.1f ms (of which POST accepted: p50 %.1f ms)",
                     latencies.count, percentile(latencies, 0.5), percentile(latencies, 0.99), latencies.max() ?? 0,
                     percentile(acceptOnly, 0.5)))
    }
}

// The client uses the shared singleton event loop group, which needs no shutdown.
do {
    try await run()
} catch {
    FileHandle.standardError.write(Data("node-bench: \(error)\n".utf8))
    exit(1)
}
