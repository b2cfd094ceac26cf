import AOCore
import AONode
import AOTransport
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `aonode testnet up|status|down`: N local nodes on 127.0.0.1, in the background, with their files in `--dir`
/// (docs/TESTNET.md).
public struct TestnetCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "testnet",
        abstract: "Start, inspect and stop a local testnet of N nodes on 127.0.0.1.",
        discussion: """
            A testnet lives in a directory (default ./aonode-testnet): testnet.json (nodes, ports, pids), network.json \
            (every node admitted as a scheduler), and node-<i>/ with each node's data/, node.log and node.pid. `down` \
            keeps the data; `up` on a stopped directory reuses the keys and data.
            """,
        subcommands: [TestnetUp.self, TestnetStatus.self, TestnetDown.self])

    public init() {}
}

/// The `--dir` option the three verbs share.
public struct TestnetDirectoryOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The testnet's directory.", valueName: "dir"))
    public var dir: String = "./aonode-testnet"
    public init() {}
}

public struct TestnetUp: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start N nodes in the background and wait until each answers GET /health.",
        discussion: """
            Creates the directory (or reuses a stopped testnet's keys and data), generates each node's ed25519 key, \
            picks free loopback ports (two per node: transport and HTTP), writes network.json and testnet.json, starts \
            `aonode run` for each node in its own session (it keeps running after this command exits) with the other \
            nodes as --peer, and waits for their /health. Over a partly running testnet (a node was killed or \
            crashed) it restarts only the stopped nodes, as they were, and they catch up; over a fully running one \
            it refuses. AONODE_* \
            environment variables are not passed to the nodes: a testnet is defined by its files and these flags. \
            --submit-rate-limit is kept in testnet.json, so restarted nodes get it again.
            """)

    @OptionGroup public var directory: TestnetDirectoryOption

    @Option(name: .long, help: "Number of nodes (1...\(TestnetLimits.nodesMax)).")
    public var nodes: Int = 3

    @Option(name: .long, help: ArgumentHelp("First port: node i uses base+2(i-1) (transport) and base+2(i-1)+1 (HTTP). (default: free ports from the kernel, kept across restarts when still free)", valueName: "port"))
    public var basePort: UInt16?

    @Option(name: .long, help: ArgumentHelp("The aonode executable to run. (default: this one)", valueName: "path"))
    public var binary: String?

    @Option(name: .long, help: ArgumentHelp("Seed of the nodes' randomness: node i gets seed+i. (default: from the OS)", valueName: "n"))
    public var seed: UInt64?

    @Option(name: .long, help: ArgumentHelp("The nodes' log level.", valueName: "level"))
    public var logLevel: String = "info"

    @Option(name: .long, help: ArgumentHelp("The nodes' protocol tick in milliseconds. (default: the node's)", valueName: "ms"))
    public var tickMs: UInt64?

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for every node's /health.", valueName: "s"))
    public var timeout: Double = 60

    @Option(name: .long, help: ArgumentHelp("The nodes' POST / limit per client address: off (benchmarks) or submissions per second. (default: the node's, 20)", valueName: "off|n"))
    public var submitRateLimit: String?

    public init() {}

    public func validate() throws {
        guard (1...TestnetLimits.nodesMax).contains(nodes) else {
            throw ValidationError("--nodes must be 1...\(TestnetLimits.nodesMax)")
        }
        guard logLevelNames.contains(logLevel) else {
            throw ValidationError("--log-level must be one of \(logLevelNames.joined(separator: ", "))")
        }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        if let submitRateLimit {
            do { _ = try NodeConfiguration.parseSubmitRateLimit(submitRateLimit) } catch {
                throw ValidationError("--submit-rate-limit \(error.reason)")
            }
        }
    }

    public func run() throws { try runStandard(execute) }

    public func execute(_ io: CommandOutput) throws {
        let d = TestnetDirectory(directory.dir)
        let fm = FileManager.default
        let previous = try d.loadState()
        if let previous {
            let running = previous.nodes.filter { node in node.pid.map { NodeProcess.isRunning(pid: $0, marker: node.dataDir) } ?? false }
            if running.count == previous.nodes.count, let first = running.first {
                throw CommandFailure("""
                    a testnet is running in \(d.path) (node \(first.index), pid \(first.pid!), all \(running.count) nodes up); \
                    stop it with: aonode testnet down --dir \(d.path)
                    """, exitCode: 2)
            }
            if !running.isEmpty {
                // Some nodes run, some stopped (killed, crashed): start the stopped ones again with their own keys,
                // data and ports; they catch up from their peers.
                return try restartStopped(previous, running: Set(running.map(\.index)), d, io)
            }
        }
        guard let binary = binary ?? NodeProcess.currentExecutable() else {
            throw CommandFailure("cannot find this executable's path; pass --binary", exitCode: 2)
        }
        guard fm.isExecutableFile(atPath: binary) else { throw CommandFailure("\(binary) is not an executable", exitCode: 2) }

        // Keys (reused when present) and directories.
        var keys: [Ed25519PrivateKey] = []
        for i in 1...nodes {
            do { try fm.createDirectory(atPath: d.dataDirectory(i), withIntermediateDirectories: true) } catch {
                throw CommandFailure("cannot create \(d.dataDirectory(i)): \(error)", exitCode: 2)
            }
            keys.append(try loadOrCreateNodeKey(d.keyFile(i)))
        }
        let previousPorts = (previous?.nodes ?? []).sorted { $0.index < $1.index }.compactMap { node -> (transport: UInt16, http: UInt16)? in
            guard let t = Endpoint(parsing: node.transport)?.port,
                  let h = Endpoint(parsing: String(node.http.dropFirst("http://".count)))?.port else { return nil }
            return (t, h)
        }
        let ports = try PortPicker.assign(count: nodes, base: basePort, previous: previousPorts)

        // network.json: every node is an admitted scheduler.
        var stateNodes: [TestnetState.Node] = []
        for i in 1...nodes {
            let key = keys[i - 1]
            stateNodes.append(TestnetState.Node(
                index: i, nodeID: key.nodeID.base64URL, publicKey: Base64URL.encode(key.publicKey), dataDir: d.dataDirectory(i),
                transport: "127.0.0.1:\(ports[i - 1].transport)", http: "http://127.0.0.1:\(ports[i - 1].http)",
                log: d.logFile(i), pid: nil))
        }
        let network = NetworkConfiguration(
            name: "aonode-testnet", blockHeight: 0,
            schedulers: stateNodes.map { .init(publicKey: $0.publicKey, endpoint: $0.transport, http: $0.http) })
        do { try network.write(path: d.networkFile) } catch { throw CommandFailure("cannot write \(d.networkFile): \(error)") }
        var state = TestnetState(binary: binary, network: d.networkFile, startedAt: ISO8601DateFormatter().string(from: Date()),
                                 nodes: stateNodes, submitRateLimit: submitRateLimit)
        try d.write(state)

        // Start the nodes.
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AONODE_") }
        io.out("starting \(nodes) node\(nodes == 1 ? "" : "s") in \(d.path)")
        for i in state.nodes.indices {
            let node = state.nodes[i]
            let arguments = nodeArguments(node, state: state, binary: binary, d)
            appendLogHeader(node.log, "=== \(state.startedAt) aonode testnet up: node \(node.index) ===")
            let pid: Int32
            do { pid = try NodeProcess.spawnDetached(arguments, environment: environment, log: node.log) } catch {
                stopStarted(state, d)
                throw error
            }
            state.nodes[i].pid = pid
            try? "\(pid)\n".write(toFile: d.pidFile(node.index), atomically: true, encoding: .utf8)
        }
        try d.write(state)

        try waitHealthy(state, indices: Set(state.nodes.map(\.index)), d, io)

        io.out("")
        io.out("testnet of \(state.nodes.count) node\(state.nodes.count == 1 ? "" : "s") is up in \(d.path)")
        for node in state.nodes {
            io.out("  node-\(node.index)  \(node.http)  transport \(node.transport)  pid \(node.pid!)  id \(node.nodeID)")
        }
        let first = state.nodes[0].http
        io.out("""

            Next:
              curl \(first)/health
              curl \(first)/peers
              curl \(first)/metrics
              aonode testnet status --dir \(d.path)
              aonode testnet down --dir \(d.path)
            Logs: \(d.path)/node-<i>/node.log
            """)
    }

    func nodeArguments(_ node: TestnetState.Node, state: TestnetState, binary: String, _ d: TestnetDirectory) -> [String] {
        var arguments = [binary, "run", "--data-dir", node.dataDir, "--listen", node.transport,
                         "--http", String(node.http.dropFirst("http://".count)),
                         "--network", d.networkFile, "--log-level", logLevel]
        for other in state.nodes where other.index != node.index { arguments += ["--peer", other.transport] }
        if let seed { arguments += ["--seed", String(seed &+ UInt64(node.index))] }
        if let tickMs { arguments += ["--tick-ms", String(tickMs)] }
        if let limit = state.submitRateLimit { arguments += ["--submit-rate-limit", limit] }
        return arguments
    }

    /// Starts the stopped nodes of a partly running testnet, as they were (same keys, data, ports, network).
    func restartStopped(_ previous: TestnetState, running: Set<Int>, _ d: TestnetDirectory, _ io: CommandOutput) throws {
        var state = previous
        if let submitRateLimit { state.submitRateLimit = submitRateLimit }  // given again: it wins; otherwise as stored
        let binary = binary ?? previous.binary
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AONODE_") }
        let stopped = state.nodes.indices.filter { !running.contains(state.nodes[$0].index) }
        io.out("restarting \(stopped.count) stopped node\(stopped.count == 1 ? "" : "s") of the testnet in \(d.path)")
        for i in stopped {
            let node = state.nodes[i]
            appendLogHeader(node.log, "=== \(ISO8601DateFormatter().string(from: Date())) aonode testnet up: restart node \(node.index) ===")
            let pid = try NodeProcess.spawnDetached(nodeArguments(node, state: state, binary: binary, d), environment: environment,
                                                    log: node.log)
            state.nodes[i].pid = pid
            try? "\(pid)\n".write(toFile: d.pidFile(node.index), atomically: true, encoding: .utf8)
        }
        try d.write(state)
        try waitHealthy(state, indices: Set(stopped.map { state.nodes[$0].index }), d, io)
        for i in stopped {
            let node = state.nodes[i]
            io.out("  node-\(node.index)  \(node.http)  pid \(node.pid!)  restarted")
        }
    }

    /// Waits until the nodes `indices` answer /health, reporting progress; fails with the log tail of a node that exits.
    func waitHealthy(_ state: TestnetState, indices: Set<Int>, _ d: TestnetDirectory, _ io: CommandOutput) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var up = Set<Int>()
        var lastAnswer: [Int: String] = [:]
        let watched = state.nodes.filter { indices.contains($0.index) }
        while up.count < watched.count {
            for node in watched where !up.contains(node.index) {
                if let exit = NodeProcess.reapIfExited(node.pid!) {
                    stopStarted(state, d)
                    throw CommandFailure("""
                        node \(node.index) \(exit) before answering /health; the others were stopped. \
                        Last lines of \(node.log):
                        \(NodeProcess.tail(node.log, lines: 15))
                        """)
                }
                switch LoopbackHTTP.get(node.http, "/health", timeoutSeconds: 1) {
                case .success(let r) where r.status == 200:
                    up.insert(node.index)
                    io.out("node \(up.count)/\(watched.count) up: node-\(node.index) \(node.http)")
                case .success(let r): lastAnswer[node.index] = "HTTP \(r.status) \(String(decoding: r.body.prefix(200), as: UTF8.self))"
                case .failure(let f): lastAnswer[node.index] = f.description
                }
            }
            if up.count == watched.count { break }
            if Date() > deadline {
                let waiting = watched.filter { !up.contains($0.index) }
                    .map { "node \($0.index) (\(lastAnswer[$0.index] ?? "no answer"); log \($0.log))" }
                throw CommandFailure("""
                    after \(Int(timeout)) s, not healthy: \(waiting.joined(separator: ", ")). The nodes keep running; \
                    inspect them with `aonode testnet status --dir \(d.path)`, stop them with `aonode testnet down --dir \(d.path)`
                    """)
            }
            usleep(100_000)
        }
    }

    private func appendLogHeader(_ path: String, _ line: String) {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { return }
        handle.seekToEndOfFile()
        handle.write(Data((line + "\n").utf8))
        handle.closeFile()
    }

    /// After a failed start: stop what was started, so no half testnet is left behind.
    private func stopStarted(_ state: TestnetState, _ d: TestnetDirectory) {
        _ = TestnetDown.stop(state, d, graceSeconds: 3)
        for node in state.nodes { if let pid = node.pid { _ = NodeProcess.reapIfExited(pid) } }  // our children
        var stopped = state
        for i in stopped.nodes.indices { stopped.nodes[i].pid = nil }
        try? d.write(stopped)
    }
}

public struct TestnetStatus: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show each node of the testnet: process, /health, /peers (and scheduler groups of D/processes).",
        discussion: """
            Reads testnet.json, checks each node's pid and asks its /health and /peers. For each process id listed in \
            D/processes (one a line) it also shows the scheduler group from GET /processes/<id>/scheduler. Exits with \
            status 1 when a node is down or unhealthy.
            """)

    @OptionGroup public var directory: TestnetDirectoryOption

    public init() {}

    public func run() throws { try runStandard(execute) }

    public func execute(_ io: CommandOutput) throws {
        let d = TestnetDirectory(directory.dir)
        guard let state = try d.loadState() else {
            throw CommandFailure("no testnet in \(d.path) (no testnet.json); start one with: aonode testnet up --dir \(d.path)", exitCode: 2)
        }
        io.out("testnet \(d.path): \(state.nodes.count) node\(state.nodes.count == 1 ? "" : "s"), started \(state.startedAt)")
        var rows = [["NODE", "PID", "PROCESS", "HEALTH", "PEERS", "HTTP", "TRANSPORT", "NODE ID"]]
        var bad = 0
        var indexByNodeID: [String: Int] = [:]
        for node in state.nodes { indexByNodeID[node.nodeID] = node.index }
        var live: [TestnetState.Node] = []
        for node in state.nodes {
            let running = node.pid.map { NodeProcess.isRunning(pid: $0, marker: node.dataDir) } ?? false
            var health = "-", peers = "-"
            if running {
                switch LoopbackHTTP.get(node.http, "/health") {
                case .success(let r):
                    let status = (r.json as? [String: Any])?["status"] as? String
                    health = status ?? "HTTP \(r.status)"
                    if r.status != 200 { bad += 1 } else { live.append(node) }
                case .failure: health = "no answer"; bad += 1
                }
                if case .success(let r) = LoopbackHTTP.get(node.http, "/peers"), r.status == 200,
                   let list = (r.json as? [String: Any])?["peers"] as? [[String: Any]] {
                    let connected = list.filter { $0["connected"] as? Bool ?? true }.count
                    peers = "\(connected)/\(state.nodes.count - 1)"
                }
            } else {
                bad += 1
            }
            rows.append(["node-\(node.index)", node.pid.map(String.init) ?? "-", running ? "running" : "DEAD", health, peers,
                         node.http, node.transport, String(node.nodeID.prefix(12)) + "…"])
        }
        io.out(Self.table(rows))

        let processes = d.listedProcesses()
        if !processes.isEmpty {
            io.out("")
            var groupRows = [["PROCESS", "LEADER", "TERM", "LAST SLOT", "MEMBERS", "ASKED"]]
            for process in processes {
                var row = [String(process.prefix(12)) + "…", "?", "?", "?", "?", "no live node answered"]
                for node in live {
                    guard case .success(let r) = LoopbackHTTP.get(node.http, "/processes/\(process)/scheduler"),
                          r.status == 200, let o = r.json as? [String: Any] else { continue }
                    func name(_ id: Any?) -> String {
                        guard let id = id as? String else { return "none" }
                        return indexByNodeID[id].map { "node-\($0)" } ?? String(id.prefix(8)) + "…"
                    }
                    let members = (o["members"] as? [Any] ?? []).map(name).joined(separator: ",")
                    row = [String(process.prefix(12)) + "…", name(o["leader"]), (o["term"] as? NSNumber)?.stringValue ?? "-",
                           (o["last_slot"] as? NSNumber)?.stringValue ?? "none", members, "node-\(node.index)"]
                    break
                }
                groupRows.append(row)
            }
            io.out(Self.table(groupRows))
        }
        if bad > 0 {
            throw CommandFailure("\(bad) of \(state.nodes.count) node\(state.nodes.count == 1 ? " is" : "s are") down or unhealthy")
        }
    }

    /// Left-aligned columns separated by two spaces.
    static func table(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.map(\.count).max() ?? 0)).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in c == row.count - 1 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

public struct TestnetDown: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "down",
        abstract: "Stop the testnet's nodes (SIGTERM, then SIGKILL after 10 s); keeps their data.",
        discussion: "`aonode testnet up` with the same --dir starts them again with the same keys and data.")

    @OptionGroup public var directory: TestnetDirectoryOption

    public init() {}

    public func run() throws { try runStandard(execute) }

    public func execute(_ io: CommandOutput) throws {
        let d = TestnetDirectory(directory.dir)
        guard var state = try d.loadState() else {
            throw CommandFailure("no testnet in \(d.path) (no testnet.json)", exitCode: 2)
        }
        let outcome = Self.stop(state, d, graceSeconds: TestnetLimits.stopGraceSeconds)
        for node in state.nodes {
            switch outcome[node.index] {
            case .terminated?: io.out("node-\(node.index): stopped (pid \(node.pid!))")
            case .killed?: io.out("node-\(node.index): killed with SIGKILL after \(Int(TestnetLimits.stopGraceSeconds)) s (pid \(node.pid!))")
            case .stillRunning?: io.out("node-\(node.index): still running after SIGKILL (pid \(node.pid!))")
            case nil: io.out("node-\(node.index): was not running")
            }
        }
        for i in state.nodes.indices { state.nodes[i].pid = nil }
        try d.write(state)
        let stuck = outcome.values.filter { $0 == .stillRunning }.count
        if stuck > 0 { throw CommandFailure("\(stuck) node(s) did not stop") }
        io.out("testnet in \(d.path) is down; data kept (aonode testnet up --dir \(d.path) restarts it)")
    }

    enum Outcome: Equatable { case terminated, killed, stillRunning }

    /// SIGTERM to every running node, wait up to `graceSeconds`, SIGKILL the rest; removes the pid files.
    /// Returns what happened to each node that was running, by index.
    static func stop(_ state: TestnetState, _ d: TestnetDirectory, graceSeconds: Double) -> [Int: Outcome] {
        var running: [Int: (pid: Int32, marker: String)] = [:]
        for node in state.nodes {
            // The pid file wins over testnet.json (it is written first); either must name a live node process.
            let pidText = try? String(contentsOfFile: d.pidFile(node.index), encoding: .utf8)
            let pid = pidText.flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? node.pid
            if let pid, NodeProcess.isRunning(pid: pid, marker: node.dataDir) { running[node.index] = (pid, node.dataDir) }
        }
        var outcome: [Int: Outcome] = [:]
        for (_, p) in running { kill(p.pid, SIGTERM) }
        func waitUntilStopped(_ seconds: Double) {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                for (index, p) in running where outcome[index] == nil {
                    _ = NodeProcess.reapIfExited(p.pid)  // our own children (a failed `up`)
                    if !NodeProcess.isRunning(pid: p.pid, marker: p.marker) { outcome[index] = .terminated }
                }
                if outcome.count == running.count { return }
                usleep(50_000)
            }
        }
        waitUntilStopped(graceSeconds)
        let remaining = running.filter { outcome[$0.key] == nil }
        if !remaining.isEmpty {
            for (index, p) in remaining { kill(p.pid, SIGKILL); outcome[index] = .killed }
            usleep(200_000)
            for (index, p) in remaining {
                _ = NodeProcess.reapIfExited(p.pid)
                if NodeProcess.isRunning(pid: p.pid, marker: p.marker) { outcome[index] = .stillRunning }
            }
        }
        for node in state.nodes { try? FileManager.default.removeItem(atPath: d.pidFile(node.index)) }
        return outcome
    }
}

extension TestnetUp: OutputCommand {}
extension TestnetStatus: OutputCommand {}
extension TestnetDown: OutputCommand {}
