import AOClient
import AOCore
import AONode
import AOTransport
import Foundation
import Logging
import Testing
@testable import AONodeCLI

/// The client verbs against a real `Node` started in-process (real LMDB in a temp dir, real sockets on 127.0.0.1,
/// the project's Lua module evaluated by WasmKit): publish, spawn, send --wait, result (one node and light client),
/// dry-run, status.
///
/// Needs `.build/aonode-lua/process.wasm` (scripts/build-lua-module) or `$AONODE_LUA_MODULE`: skipped without it,
/// except under `CI=true`, where a missing module fails (as the Lua tests in AOComputeTests do).
@Suite(.serialized) struct ClientEndToEndTests {
    static var luaModulePath: String {
        if let p = ProcessInfo.processInfo.environment["AONODE_LUA_MODULE"], !p.isEmpty { return p }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/aonode-lua/process.wasm").path
    }
    static var shouldRun: Bool {
        FileManager.default.fileExists(atPath: luaModulePath) || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    /// Starts one node (ports 0, a temp data dir), runs `body` with its URL, shuts it down.
    static func withNode(_ body: (String, NodeEndpoints, URL) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aonode-client-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = NodeConfiguration()
        config.dataDirectory = dir.appendingPathComponent("node").path
        config.listen = Endpoint(host: "127.0.0.1", port: 0)
        config.http = Endpoint(host: "127.0.0.1", port: 0)
        config.tickMilliseconds = 20
        var logger = Logger(label: "client-e2e")
        logger.logLevel = .warning
        let node = try Node(configuration: config, logger: logger)
        let endpoints = try await node.start()
        do {
            try await body("http://\(endpoints.http.host):\(endpoints.http.port)", endpoints, dir)
        } catch {
            await node.shutdown()
            throw error
        }
        await node.shutdown()
    }

    static func run(_ args: [String]) async throws -> CommandHarness.Captured {
        let (out, failure) = try await CommandHarness.runAsync(args)
        if let failure { throw TestFailure("aonode \(args.joined(separator: " ")) failed: \(failure)\n\(out.out)") }
        return out
    }

    struct TestFailure: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

    /// Polls until the node knows the process (a spawn is acknowledged before it is scheduled).
    static func waitUntilKnown(_ url: String, _ pid: ProcessID) async throws {
        let client = NodeClient(baseURLString: url, timeout: .seconds(10))
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do { _ = try await client.processInfo(pid); return } catch {
                guard error.isRetryable, ContinuousClock.now < deadline else { throw error }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Publish, spawn, send and status against a real node (no evaluation needed: any WASM binary is a module item).
    @Test func publishSpawnSendAndStatusAgainstARealNode() async throws {
        try await Self.withNode { url, endpoints, dir in
            let key = dir.appendingPathComponent("me.json").path
            _ = try CommandHarness.run(["keygen", "--out", key])
            // The smallest valid WASM binary: magic and version.
            let wasm = dir.appendingPathComponent("empty.wasm")
            try Data([0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00]).write(to: wasm)

            let published = try await Self.run(["module", "publish", "--node", url, "--key", key, "--file", wasm.path,
                                                 "--format", "em2", "--memory-limit", "1048576"])
            let module = try #require(published.out.first.flatMap(MessageID.init(base64URL:)))
            // The node stored exactly the Module item AO's tools expect.
            let moduleItem = try DataItem(parsing: try await NodeClient(baseURLString: url).rawItem(module))
            let aoModule = try AOModule(moduleItem)
            #expect(aoModule.moduleFormat == "wasm32-unknown-emscripten2" && aoModule.inputEncoding == "JSON-1"
                    && aoModule.outputEncoding == "JSON-1" && aoModule.memoryLimit == "1048576-b")
            #expect(moduleItem.data == [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00])

            let spawned = try await Self.run(["spawn", "--node", url, "--key", key, "--module", module.base64URL,
                                              "--tag", "Name=e2e", "--replicas", "1"])
            let pid = try #require(spawned.out.first.flatMap(ProcessID.init(base64URL:)))
            let processItem = try AOProcess(DataItem(parsing: try await NodeClient(baseURLString: url).rawItem(MessageID(pid))))
            #expect(processItem.module == module && processItem.scheduler == Address(raw: endpoints.nodeID.raw)
                    && processItem.schedulerReplicas == 1)
            try await Self.waitUntilKnown(url, pid)

            let sent = try await Self.run(["send", "--node", url, "--key", key, "--process", pid.base64URL,
                                           "--action", "Ping", "--tag", "Note=hi", "--data", "hello"])
            let mid = try #require(sent.out.first.flatMap(MessageID.init(base64URL:)))
            let messageItem = try AOMessage(DataItem(parsing: try await NodeClient(baseURLString: url).rawItem(mid)))
            #expect(messageItem.process == pid && messageItem.action == "Ping" && messageItem.item.data == Array("hello".utf8))
            // Sending the same content again is a new message (fresh anchor), not a duplicate.
            let again = try await Self.run(["send", "--node", url, "--key", key, "--process", pid.base64URL,
                                            "--action", "Ping", "--tag", "Note=hi", "--data", "hello"])
            #expect(again.out.first != sent.out.first)

            let status = try await Self.run(["status", "--node", url, "--process", pid.base64URL])
            #expect(status.out.first == "node: \(endpoints.nodeID.base64URL) at \(url)")
            #expect(status.out.contains { $0.hasPrefix("health: ") })
            #expect(status.out.contains("  members: \(endpoints.nodeID.base64URL)"), "\(status.out)")
        }
    }

    @Test func nodeErrorsComeBackAsOneLineWithTheNodesCode() async throws {
        try await Self.withNode { url, _, _ in
            let unknown = ProcessID(raw: ID32(bytes: SHA2.sha256([77]))!).base64URL
            let (out, failure) = try await CommandHarness.runAsync(["status", "--node", url, "--process", unknown])
            #expect(out.out.first?.hasPrefix("node: ") == true)
            let e = try #require(failure as? NodeClientError)
            #expect(e.status == 404 && e.code == "unknown_process", "\(e)")
            #expect(e.description.hasPrefix(url + "/processes/") && !e.description.contains("\n"))
        }
    }
}
