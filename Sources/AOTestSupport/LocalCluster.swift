import AOCore
import AOHTTP
import AONode
import AOScheduling
import AsyncHTTPClient
import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

public struct ClusterFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Real `aonode run` child processes on loopback: each with its own data dir, key, ports, and one network file
/// listing all of them as admitted schedulers. Used by the multi-process tests (AONodeTests) and the scheduling
/// benchmark (sched-node-bench): one library both depend on, since a test target cannot share sources with an executable.
public final class LocalCluster: @unchecked Sendable {
    public struct Member {
        public let key: Ed25519PrivateKey
        public let nodeID: NodeID
        public let dataDir: String
        public let keyPath: String
        public let peerPort: UInt16
        public let httpPort: UInt16
        public var process: Process?
        public var url: String { "http://127.0.0.1:\(httpPort)" }
    }

    public let binary: String
    public let root: String
    public let networkPath: String
    public private(set) var members: [Member]
    public let client: HTTPClient
    public let lock = NSLock()
    /// Added to every child's environment (e.g. AONODE_SUBMIT_RATE_LIMIT=off for benchmarks).
    public var environment: [String: String] = [:]
    public var logLevel = "info"

    /// The built `aonode`: $AONODE_BINARY, else next to the build products (release first, then debug); nil when absent.
    public static func findBinary(file: String = #filePath) -> String? {
        if let path = ProcessInfo.processInfo.environment["AONODE_BINARY"], FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        // Next to the running executable (the test bundle and the benchmark live beside `aonode`), then the
        // working directory's build (`swift test` runs in the package root), then the source tree's.
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("aonode").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        for config in ["release", "debug"] where FileManager.default.isExecutableFile(atPath: ".build/\(config)/aonode") {
            return FileManager.default.currentDirectoryPath + "/.build/\(config)/aonode"
        }
        var dir = URL(fileURLWithPath: file).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { break }
            dir = dir.deletingLastPathComponent()
        }
        for config in ["release", "debug"] {
            let p = dir.appendingPathComponent(".build/\(config)/aonode").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// A TCP port the kernel considers free now (bound to port 0, then closed).
    public static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClusterFailure("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw ClusterFailure("bind() failed") }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return UInt16(bigEndian: bound.sin_port)
    }

    public init(binary: String, count: Int, name: String) throws {
        self.binary = binary
        root = FileManager.default.temporaryDirectory.appendingPathComponent("aonode-\(name)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var members: [Member] = []
        var used = Set<UInt16>()
        for i in 0..<count {
            let dir = "\(root)/node\(i)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let key = Ed25519PrivateKey.generate()
            let keyPath = "\(dir)/key.json"
            try KeyFile.ed25519(key).write(path: keyPath)
            var ports: [UInt16] = []
            while ports.count < 2 {
                let p = try Self.freePort()
                if used.insert(p).inserted { ports.append(p) }
            }
            members.append(Member(key: key, nodeID: NodeID(raw: ID32(bytes: SHA2.sha256(key.publicKey))!), dataDir: "\(dir)/data",
                                  keyPath: keyPath, peerPort: ports[0], httpPort: ports[1], process: nil))
        }
        self.members = members
        networkPath = "\(root)/network.json"
        let network = NetworkConfiguration(name: name, blockHeight: 1_000_000, schedulers: members.map {
            NetworkConfiguration.Scheduler(publicKey: Base64URL.encode($0.key.publicKey), endpoint: "127.0.0.1:\($0.peerPort)", http: $0.url)
        })
        try network.write(path: networkPath)
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Starts member `i` (again, on the same data dir and ports after a kill).
    public func start(_ i: Int) throws {
        let m = members[i]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["run", "--data-dir", m.dataDir, "--key", m.keyPath, "--listen", "127.0.0.1:\(m.peerPort)",
                       "--http", "127.0.0.1:\(m.httpPort)", "--advertise-http", m.url, "--network", networkPath,
                       "--log-level", logLevel]
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let logPath = "\(root)/node\(i)/log.txt"
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        lock.withLock { members[i].process = p }
    }

    public func log(_ i: Int) -> String {
        (try? String(contentsOfFile: "\(root)/node\(i)/log.txt", encoding: .utf8)) ?? ""
    }

    /// A member that was started and is no longer running (it crashed), with the end of its log: a benchmark
    /// waiting for commits fails with it instead of waiting forever.
    public func crashedMember() -> (index: Int, logTail: String)? {
        for i in members.indices {
            guard let p = lock.withLock({ members[i].process }), !p.isRunning else { continue }
            return (i, log(i).split(separator: "\n").suffix(30).joined(separator: "\n"))
        }
        return nil
    }

    /// SIGKILL: no graceful shutdown, the store is left as the last committed write left it.
    public func kill(_ i: Int) {
        let p = lock.withLock { members[i].process }
        guard let p, p.isRunning else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        lock.withLock { members[i].process = nil }
    }

    /// SIGTERM to every member; one still running 15 s later gets SIGKILL.
    public func stopAll() {
        for i in members.indices {
            let p = lock.withLock { members[i].process }
            guard let p, p.isRunning else { continue }
            p.terminate()
        }
        let deadline = Date().addingTimeInterval(15)
        for i in members.indices {
            guard let p = lock.withLock({ members[i].process }) else { continue }
            while p.isRunning && Date() < deadline { usleep(50_000) }
            if p.isRunning { Glibc.kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
    }

    public func shutdown(keepFiles: Bool = false) async {
        // The client first: its idle keep-alive connections would hold up the nodes' graceful HTTP shutdown.
        try? await client.shutdown()
        stopAll()
        if !keepFiles { try? FileManager.default.removeItem(atPath: root) }
    }

    public func index(of node: NodeID) -> Int? { members.firstIndex { $0.nodeID == node } }

    // MARK: HTTP

    public func request(_ i: Int, _ method: String, _ path: String, body: [UInt8]? = nil, timeout: Int64 = 10) async throws
        -> (status: Int, body: [UInt8]) {
        var request = HTTPClientRequest(url: members[i].url + path)
        request.method = .init(rawValue: method)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/octet-stream")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await client.execute(request, timeout: .seconds(timeout))
        let buffer = try await response.body.collect(upTo: 64 * 1024 * 1024)
        return (Int(response.status.code), Array(buffer.readableBytesView))
    }

    public func post(_ i: Int, _ item: DataItem) async throws -> Int {
        try await request(i, "POST", "/", body: item.serialized()).status
    }

    public func json(_ i: Int, _ path: String) async throws -> JSONValue {
        let r = try await request(i, "GET", path)
        guard r.status == 200 else { throw ClusterFailure("GET \(path) on node \(i): \(r.status) \(String(decoding: r.body, as: UTF8.self))") }
        return try JSONValue.parse(r.body)
    }

    /// Waits until `GET /health` answers on member `i`.
    public func waitHealthy(_ i: Int, seconds: Double = 60) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let r = try? await request(i, "GET", "/health", timeout: 2), r.status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ClusterFailure("node \(i) did not answer /health within \(seconds) s; log:\n\(log(i).suffix(3000))")
    }

    public struct GroupView { public var leader: NodeID?; public var term: UInt64; public var lastSlot: UInt64? }

    public func group(_ i: Int, _ p: ProcessID) async throws -> GroupView {
        let j = try await json(i, "/processes/\(p.base64URL)/scheduler")
        let leader = j["leader"]?.stringValue.flatMap(ID32.init(base64URL:)).map(NodeID.init(raw:))
        func int(_ v: JSONValue?) -> UInt64? { if case .integer(let n)? = v { return UInt64(n) }; return nil }
        return GroupView(leader: leader, term: int(j["term"]) ?? 0, lastSlot: int(j["last_slot"]))
    }

    public struct LogEntry: Equatable {
        public var slot: UInt64; public var assignment: String; public var message: String?; public var hashChain: String; public var signer: String?
    }

    /// The whole process log as member `i` serves it (`GET /{process}?from-nonce=...&limit=1000` pages).
    public func processLog(_ i: Int, _ p: ProcessID, after: Int64 = -1) async throws -> [LogEntry] {
        var out: [LogEntry] = []
        var from: Int64 = after
        while true {
            let page = try await json(i, "/\(p.base64URL)?from-nonce=\(from)&limit=1000")
            let edges = page["edges"]?.arrayValue ?? []
            for e in edges {
                guard let a = e["node"]?["assignment"] else { throw ClusterFailure("edge without an assignment") }
                var tags: [String: String] = [:]
                for t in a["tags"]?.arrayValue ?? [] {
                    if let n = t["name"]?.stringValue, let v = t["value"]?.stringValue { tags[n] = v }
                }
                guard let id = a["id"]?.stringValue, let nonce = tags["Nonce"].flatMap(UInt64.init), let chain = tags["Hash-Chain"] else {
                    throw ClusterFailure("assignment without id, Nonce or Hash-Chain")
                }
                out.append(LogEntry(slot: nonce, assignment: id, message: tags["Message"], hashChain: chain,
                                    signer: a["owner"]?["address"]?.stringValue))
            }
            guard case .bool(true)? = page["page_info"]?["has_next_page"], let last = out.last else { return out }
            from = Int64(last.slot)
        }
    }

    /// The first slot at which a log breaks the hash chain or contiguity from 0, or nil when it is whole.
    public static func firstBrokenSlot(_ log: [LogEntry], process: ProcessID) -> UInt64? {
        var previous: (id: MessageID, chain: ID32)?
        for (i, e) in log.enumerated() {
            guard e.slot == UInt64(i) else { return UInt64(i) }
            let expected = previous.map { HashChain.next(previousAssignment: $0.id, previous: $0.chain) } ?? HashChain.first(process: process)
            guard e.hashChain == expected.base64URL, let chain = ID32(base64URL: e.hashChain),
                  let id = ID32(base64URL: e.assignment) else { return e.slot }
            previous = (MessageID(raw: id), chain)
        }
        return nil
    }
}

/// Items a test client signs: a module, a process on it, messages to the process.
public struct ClientItems {
    public let key = Ed25519PrivateKey.generate()
    public init() {}

    public func module() throws -> DataItem {
        try DataItem.create(signer: key, tags: [DataItemTag("Data-Protocol", "ao"), DataItemTag("Type", "Module"),
                                                DataItemTag("Module-Format", "wasm32-unknown-emscripten4"),
                                                DataItemTag("Input-Encoding", "JSON-1"), DataItemTag("Output-Encoding", "JSON-1")],
                            data: Array("(module)".utf8))
    }

    public func process(module: MessageID, replicas: Int = 3, nonce: String = UUID().uuidString) throws -> DataItem {
        try DataItem.create(signer: key, tags: [DataItemTag("Data-Protocol", "ao"), DataItemTag("Type", "Process"),
                                                DataItemTag("Module", module.base64URL),
                                                DataItemTag("Scheduler-Replicas", String(replicas)),
                                                DataItemTag("Nonce-Of-Test", nonce)])
    }

    public func message(to p: ProcessID, sequence: Int) throws -> DataItem {
        try DataItem.create(signer: key, target: p.raw, tags: [DataItemTag("Data-Protocol", "ao"), DataItemTag("Type", "Message"),
                                                             DataItemTag("Action", "Ping"),
                                                             DataItemTag("Sequence", String(sequence)),
                                                             DataItemTag("Run", UUID().uuidString)])
    }
}
