import AOCore
import AONode
import AOTransport
import ArgumentParser
import Foundation
import Testing
@testable import AONodeCLI
#if canImport(Glibc)
import Glibc
#endif

/// The testnet verbs' pieces that need no running node: ports, files, process handling, the HTTP reader, and `run`'s
/// flags. The end-to-end run of real nodes is in AONodeTests (TestnetEndToEndTests).
@Suite struct TestnetCommandTests {
    static func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aonode-testnet-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }

    // MARK: ports

    @Test func freePortsAreDistinctAndBindable() throws {
        let ports = try PortPicker.freePorts(8)
        #expect(Set(ports).count == 8)
        #expect(ports.allSatisfy { $0 > 0 && PortPicker.isFree($0) })
    }

    @Test func aPortInUseIsRefused() throws {
        // Hold a listening socket on a port and ask for it.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(listen(fd, 1) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = UInt16(bigEndian: address.sin_port)
        #expect(!PortPicker.isFree(port))
        #expect(throws: CommandFailure.self) { try PortPicker.assign(count: 1, base: port, previous: []) }
        #expect(throws: CommandFailure.self) { try PortPicker.assign(count: 2, base: port - 2, previous: []) }
        #expect(throws: CommandFailure.self) { try PortPicker.assign(count: 2, base: 65534, previous: []) }
        // Previous ports are dropped when taken, kept when free.
        let free = try PortPicker.freePorts(2)
        let pairs = try PortPicker.assign(count: 3, base: nil, previous: [(free[0], free[1]), (port, port &+ 1)])
        #expect(pairs[0].transport == free[0] && pairs[0].http == free[1])
        #expect(pairs[1].transport != port && pairs[1].http != port)
        let all = pairs.flatMap { [$0.transport, $0.http] }
        #expect(Set(all).count == 6)
    }

    // MARK: files and processes

    static func state(_ d: TestnetDirectory, pids: [Int32?]) -> TestnetState {
        TestnetState(binary: "/bin/false", network: d.networkFile, startedAt: "2026-01-01T00:00:00Z", nodes: pids.enumerated().map { i, pid in
            TestnetState.Node(index: i + 1, nodeID: String(repeating: "A", count: 43), publicKey: "pk", dataDir: d.dataDirectory(i + 1),
                              transport: "127.0.0.1:\(1 + 2 * i)", http: "http://127.0.0.1:\(2 + 2 * i)", log: d.logFile(i + 1), pid: pid)
        })
    }

    @Test func stateFileRoundTripsAndDeadNodesShowInStatus() throws {
        let path = try Self.tempDir(); defer { try? FileManager.default.removeItem(atPath: path) }
        let d = TestnetDirectory(path)
        // pid 1 is alive but is not a node of this testnet (its command line lacks the data dir): dead for us.
        let state = Self.state(d, pids: [1, nil])
        try d.write(state)
        #expect(try d.loadState() == state)
        #expect(!NodeProcess.isRunning(pid: 1, marker: d.dataDirectory(1)))

        let (status, failure) = try CommandHarness.run(["testnet", "status", "--dir", path])
        #expect(failure?.message == "2 of 2 nodes are down or unhealthy")
        let table = status.out.joined(separator: "\n")
        #expect(table.contains("NODE"))
        #expect(table.components(separatedBy: "DEAD").count == 3)

        let (down, downFailure) = try CommandHarness.run(["testnet", "down", "--dir", path])
        #expect(downFailure == nil)
        #expect(down.out.contains("node-1: was not running"))
        #expect(try d.loadState()?.nodes.allSatisfy { $0.pid == nil } == true)

        let (_, missing) = try CommandHarness.run(["testnet", "status", "--dir", path + "/nowhere"])
        #expect(missing?.exitCode == 2)
    }

    @Test func upRefusesARunningTestnetAndDownStopsIt() throws {
        let path = try Self.tempDir(); defer { try? FileManager.default.removeItem(atPath: path) }
        let d = TestnetDirectory(path)
        try FileManager.default.createDirectory(atPath: d.nodeDirectory(1), withIntermediateDirectories: true)
        // A detached stand-in for a node: its command line carries the data dir, as `aonode run --data-dir` does; on
        // SIGTERM it stops its sleep too, so nothing is left behind.
        let pid = try NodeProcess.spawnDetached(["/bin/sh", "-c", "trap 'kill $!; exit 0' TERM; sleep 60 & wait", d.dataDirectory(1)], environment: [:],
                                                log: d.logFile(1))
        // Under the full suite's load this once read false right after the spawn; give /proc a moment, and say what
        // it showed if it stays false.
        var running = NodeProcess.isRunning(pid: pid, marker: d.dataDirectory(1))
        for _ in 0..<100 where !running {
            usleep(50_000)
            running = NodeProcess.isRunning(pid: pid, marker: d.dataDirectory(1))
        }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? "none"
        let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { String(decoding: $0, as: UTF8.self) } ?? "none"
        let exit = running ? "none" : (NodeProcess.reapIfExited(pid) ?? "none")
        #expect(running, "pid \(pid): stat \(stat), cmdline \(cmdline), exit \(exit)")
        try d.write(Self.state(d, pids: [pid]))
        try "\(pid)\n".write(toFile: d.pidFile(1), atomically: true, encoding: .utf8)

        let (_, refused) = try CommandHarness.run(["testnet", "up", "--nodes", "1", "--dir", path, "--binary", "/bin/false"])
        #expect(refused?.exitCode == 2)
        #expect(refused?.message.contains("a testnet is running") == true)

        let (down, failure) = try CommandHarness.run(["testnet", "down", "--dir", path])
        #expect(failure == nil)
        #expect(down.out.first == "node-1: stopped (pid \(pid))")
        _ = NodeProcess.reapIfExited(pid)  // it is this test process's child
        #expect(!NodeProcess.isRunning(pid: pid, marker: d.dataDirectory(1)))
        #expect(!FileManager.default.fileExists(atPath: d.pidFile(1)))
    }

    @Test func upWritesKeysAndNetworkAndReportsANodeThatDies() throws {
        let path = try Self.tempDir(); defer { try? FileManager.default.removeItem(atPath: path) }
        let d = TestnetDirectory(path)
        // /bin/false exits at once: `up` must say so with the log, stop the others and leave no pid behind.
        let (_, failure) = try CommandHarness.run(["testnet", "up", "--nodes", "3", "--dir", path, "--binary", "/bin/false",
                                                   "--timeout", "20"])
        let message = try #require(failure?.message)
        #expect(message.contains("exited with status 1 before answering /health"))
        let state = try #require(try d.loadState())
        #expect(state.nodes.count == 3)
        #expect(state.nodes.allSatisfy { $0.pid == nil })
        let network = try NetworkConfiguration.load(path: d.networkFile)
        #expect(network.schedulers.count == 3)
        for (node, scheduler) in zip(state.nodes, network.schedulers) {
            guard case .ed25519(let key) = try KeyFile.load(path: d.keyFile(node.index)) else { Issue.record("not ed25519"); continue }
            #expect(scheduler.publicKey == Base64URL.encode(key.publicKey))
            #expect(scheduler.nodeID?.base64URL == node.nodeID)
            #expect(scheduler.endpoint == node.transport && scheduler.http == node.http)
            #expect(FileManager.default.fileExists(atPath: node.log))
        }
        let ports = state.nodes.flatMap { [Endpoint(parsing: $0.transport)!.port, Endpoint(parsing: String($0.http.dropFirst(7)))!.port] }
        #expect(Set(ports).count == 6)

        // A second `up` reuses the keys (same node ids) and, the ports being free, the same ports.
        _ = try CommandHarness.run(["testnet", "up", "--nodes", "3", "--dir", path, "--binary", "/bin/false"])
        let again = try #require(try d.loadState())
        #expect(again.nodes.map(\.nodeID) == state.nodes.map(\.nodeID))
        #expect(again.nodes.map(\.transport) == state.nodes.map(\.transport))
    }

    @Test func theSubmitRateLimitReachesEveryNodeAndSurvivesARestart() throws {
        let path = try Self.tempDir(); defer { try? FileManager.default.removeItem(atPath: path) }
        let d = TestnetDirectory(path)
        // A stand-in `aonode` that logs its arguments and exits: `up` fails, and the node's log (quoted in the failure)
        // shows what the node was started with.
        let script = path + "/fake-aonode"
        try "#!/bin/sh\necho \"args: $*\"\nexit 1\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let (_, failure) = try CommandHarness.run(["testnet", "up", "--nodes", "2", "--dir", path, "--binary", script,
                                                   "--submit-rate-limit", "off", "--timeout", "20"])
        #expect(failure?.message.contains("--submit-rate-limit off") == true)
        #expect(try d.loadState()?.submitRateLimit == "off")

        // Node 1 runs, node 2 is stopped: `up` without the flag restarts node 2 with the stored limit.
        var state = try #require(try d.loadState())
        let pid = try NodeProcess.spawnDetached(["/bin/sh", "-c", "trap 'kill $!; exit 0' TERM; sleep 60 & wait", d.dataDirectory(1)],
                                                environment: [:], log: d.logFile(1))
        defer { if NodeProcess.isRunning(pid: pid, marker: d.dataDirectory(1)) { kill(pid, SIGKILL) }; _ = NodeProcess.reapIfExited(pid) }
        state.nodes[0].pid = pid
        try d.write(state)
        try? FileManager.default.removeItem(atPath: d.logFile(2))
        let (_, restart) = try CommandHarness.run(["testnet", "up", "--dir", path, "--binary", script, "--timeout", "20"])
        #expect(restart?.message.contains("node 2 exited") == true)
        let log = try String(contentsOfFile: d.logFile(2), encoding: .utf8)
        #expect(log.contains("restart node 2"))
        #expect(log.contains("--submit-rate-limit off"))
    }

    @Test func upValidatesItsFlags() {
        #expect(throws: (any Error).self) { try AONodeCommand.parseAsRoot(["testnet", "up", "--nodes", "0"]) }
        #expect(throws: (any Error).self) { try AONodeCommand.parseAsRoot(["testnet", "up", "--nodes", "33"]) }
        #expect(throws: (any Error).self) { try AONodeCommand.parseAsRoot(["testnet", "up", "--log-level", "loud"]) }
        #expect(throws: (any Error).self) { try AONodeCommand.parseAsRoot(["testnet", "up", "--submit-rate-limit", "0"]) }
        #expect(throws: (any Error).self) { try AONodeCommand.parseAsRoot(["testnet", "up", "--submit-rate-limit", "many"]) }
        #expect((try? AONodeCommand.parseAsRoot(["testnet", "up", "--submit-rate-limit", "off"])) != nil)
        #expect((try? AONodeCommand.parseAsRoot(["testnet", "up", "--submit-rate-limit", "500"])) != nil)
    }

    // MARK: the loopback HTTP reader

    @Test func httpResponsesAreParsedByLengthOrChunks() {
        let plain = Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".utf8)
        #expect(LoopbackHTTP.parse(plain, complete: false) == LoopbackHTTP.Response(status: 200, body: Array("hello".utf8)))
        #expect(LoopbackHTTP.parse(Array(plain.dropLast()), complete: false) == nil)  // not all there yet
        let chunked = Array("HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n".utf8)
        #expect(LoopbackHTTP.parse(chunked, complete: false) == LoopbackHTTP.Response(status: 503, body: Array("abcde".utf8)))
        #expect(LoopbackHTTP.parse(Array(chunked.prefix(60)), complete: false) == nil)
        let unframed = Array("HTTP/1.0 200 OK\r\n\r\n{}".utf8)
        #expect(LoopbackHTTP.parse(unframed, complete: false) == nil)
        #expect(LoopbackHTTP.parse(unframed, complete: true)?.body == Array("{}".utf8))
        #expect(LoopbackHTTP.parse(Array("SSH-2.0\r\n\r\n".utf8), complete: true) == nil)
    }

    @Test func httpGetToAClosedPortFails() throws {
        let port = try PortPicker.freePorts(1)[0]
        guard case .failure(let f) = LoopbackHTTP.get("http://127.0.0.1:\(port)", "/health") else {
            Issue.record("nothing listens there"); return
        }
        #expect(f.description.contains("connect"))
        guard case .failure = LoopbackHTTP.get("ftp://x", "/") else { Issue.record("not http"); return }
    }

    // MARK: run's flags

    @Test func runFlagsAreTheTopLayer() throws {
        let command = try #require(try AONodeCommand.parseAsRoot([
            "run", "--data-dir", "/tmp/n1", "--listen", "127.0.0.1:7001", "--http", "127.0.0.1:8001", "--peer", "127.0.0.1:7002",
            "--peer", "127.0.0.1:7003", "--tick-ms", "25", "--seed", "9", "--log-level", "debug",
        ]) as? RunCommand)
        let loaded = try command.loadConfiguration(environment: ["AONODE_LISTEN": "127.0.0.1:9999", "AONODE_NETWORK": "/n.json"])
        let c = loaded.configuration
        #expect(c.dataDirectory == "/tmp/n1" && c.listen.port == 7001 && c.http.port == 8001)
        #expect(c.peers.map(\.port) == [7002, 7003])
        #expect(c.tickMilliseconds == 25 && c.randomSeed == 9 && c.logLevel == "debug")
        #expect(c.networkFile == "/n.json")  // from the environment: no flag given
        #expect(c.submitRateLimit == 20)  // the default

        let unlimited = try #require(try AONodeCommand.parseAsRoot(["run", "--submit-rate-limit", "off"]) as? RunCommand)
        #expect(try unlimited.loadConfiguration(environment: ["AONODE_SUBMIT_RATE_LIMIT": "5"]).configuration.submitRateLimit == nil)

        let bad = try #require(try AONodeCommand.parseAsRoot(["run", "--listen", "nowhere"]) as? RunCommand)
        do {
            _ = try bad.loadConfiguration(environment: [:])
            Issue.record("a bad --listen must fail")
        } catch let f as CommandFailure {
            #expect(f.exitCode == 2)
            #expect(f.message == "invalid configuration: --listen (flag): \"nowhere\" is not HOST:PORT (or [IPv6]:PORT)")
        }
    }

    @Test func runHelpExplainsLayeringAndDefaults() {
        let help = AONodeCommand.helpMessage(for: RunCommand.self, columns: 200)
        for text in ["--data-dir", "--listen", "--advertise", "--http", "--advertise-http", "--peer", "--key", "--network",
                     "--config", "--log-level", "--tick-ms", "--seed", "AONODE_CONFIG", "AONODE_DATA_DIR",
                     "--submit-rate-limit", "defaults < the config file", "(default: 127.0.0.1:7946)", "(default: 127.0.0.1:8734)", "(default: 50)"] {
            #expect(help.contains(text), "help lacks \(text)")
        }
    }

    @Test func theStartBannerNamesEverythingAUserNeeds() throws {
        var c = NodeConfiguration()
        c.dataDirectory = "/var/aonode"
        let key = Ed25519PrivateKey.generate()
        let endpoints = NodeEndpoints(nodeID: key.nodeID, publicKey: Base64URL.encode(key.publicKey),
                                      transport: Endpoint(host: "127.0.0.1", port: 7001), http: Endpoint(host: "127.0.0.1", port: 8001))
        let banner = RunCommand.startBanner(configuration: c, endpoints: endpoints, keyGenerated: true)
        #expect(banner.contains("node id     \(key.nodeID.base64URL)"))
        #expect(banner.contains("public key  \(Base64URL.encode(key.publicKey))"))
        #expect(banner.contains("transport   127.0.0.1:7001"))
        #expect(banner.contains("http        http://127.0.0.1:8001"))
        #expect(banner.contains("data dir    /var/aonode"))
        #expect(banner.contains("key file    /var/aonode/node-key.json (generated)"))
    }
}
