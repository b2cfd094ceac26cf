import AOCore
import AOHTTP
import AOStore
import AOStoreLMDB
import AOTransport
import AOTransportUV
import Dispatch
import Foundation
import Logging

/// Where a started node can be reached, printed by `aonode run` and written by `aonode testnet up`.
public struct NodeEndpoints: Sendable, Equatable {
    public var nodeID: NodeID
    /// base64url ed25519 public key (what the network configuration lists).
    public var publicKey: String
    public var transport: Endpoint
    public var http: Endpoint
    /// True when the key file did not exist and the node generated it.
    public var keyGenerated: Bool
    public init(nodeID: NodeID, publicKey: String, transport: Endpoint, http: Endpoint, keyGenerated: Bool = false) {
        self.nodeID = nodeID; self.publicKey = publicKey; self.transport = transport; self.http = http
        self.keyGenerated = keyGenerated
    }
}

/// Why a node could not start.
public struct NodeStartError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ d: String) { description = d }
}

/// One aonode: store, transport, gossip, scheduling, compute and the HTTP API, started together.
public final class Node: @unchecked Sendable {
    public let configuration: NodeConfiguration
    let logger: Logger
    private let lock = NSLock()
    private var parts: Parts?
    private var httpTask: Task<Void, Never>?
    private var stopped = false

    struct Parts {
        var store: LMDBContentStore
        var transport: UVTransport
        var runtime: NodeRuntime
        var compute: ComputeService
        var api: NodeAPI
        var replication: Replication
        var endpoints: NodeEndpoints
    }

    /// The node's metrics registry (`GET /metrics`).
    public let metrics: NodeMetrics

    /// `metrics`: a registry of the node's own by default (several nodes in one process keep their numbers apart);
    /// `aonode run` passes `NodeMetrics()`, the process registry swift-metrics reports into.
    public init(configuration: NodeConfiguration, logger: Logger, metrics: NodeMetrics = .isolated()) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
    }

    /// The running node's runtime (tests and benchmarks inspect it).
    public var runtime: NodeRuntime? { lock.withLock { parts?.runtime } }
    public var endpoints: NodeEndpoints? { lock.withLock { parts?.endpoints } }

    /// Opens the store, binds the transport and HTTP listeners (port 0 picks one), dials the bootstrap peers.
    public func start() async throws -> NodeEndpoints {
        var config = configuration
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true) } catch {
            throw NodeStartError("cannot create the data directory \(config.dataDirectory): \(error.localizedDescription)")
        }
        // The node key: generated once, kept 0600.
        let keyPath = config.effectiveKeyFile
        var generated = false
        if !fm.fileExists(atPath: keyPath) {
            do { try KeyFile.ed25519(Ed25519PrivateKey.generate()).write(path: keyPath) } catch {
                throw NodeStartError("cannot write a new node key to \(keyPath): \(error)")
            }
            generated = true
        }
        let key: Ed25519PrivateKey
        do {
            guard case .ed25519(let k) = try KeyFile.load(path: keyPath) else {
                throw NodeStartError("\(keyPath) is an RSA wallet; a node key must be ed25519 (aonode keygen)")
            }
            key = k
        } catch let e as NodeStartError { throw e } catch {
            throw NodeStartError("cannot read the node key \(keyPath): \(error)")
        }
        let publicKey = Base64URL.encode(key.publicKey)

        let store: LMDBContentStore
        do {
            try fm.createDirectory(atPath: config.storeDirectory, withIntermediateDirectories: true)
            store = try LMDBContentStore(directory: config.storeDirectory)
        } catch {
            throw NodeStartError("cannot open the store in \(config.storeDirectory): \(error)")
        }

        let transport = UVTransport(key: key, configuration: .init(), logger: logger.with(label: "transport"))
        let bound: Endpoint
        do { bound = try transport.listen(on: config.listen) } catch {
            await transport.shutdown(); store.close()
            throw NodeStartError("cannot listen on \(config.listen): \(error)")
        }
        config.listen = bound
        if config.advertise == nil || config.advertise?.port == 0 {
            config.advertise = Endpoint(host: config.advertise?.host ?? bound.host, port: bound.port)
        }

        // HTTP first, so the advertised HTTP URL is known (port 0 binds a free port).
        let httpPort = AsyncPortBox()
        var network: NetworkConfiguration
        if let file = config.networkFile {
            network = try NetworkConfiguration.load(path: file)
            if !network.schedulers.contains(where: { $0.publicKey == publicKey }) {
                logger.notice("this node is not an admitted scheduler in the network configuration; it will follow, not schedule",
                              metadata: ["network": "\(network.name)"])
            }
        } else {
            network = NetworkConfiguration(name: "local", schedulers: [.init(publicKey: publicKey, endpoint: bound.description)])
        }

        // The API needs the runtime and the runtime the resolved HTTP URL: bind HTTP, then build the rest.
        let apiBox = APIBox()
        var settings = HTTPServerSettings()
        settings.host = config.http.host
        settings.port = Int(config.http.port)
        settings.submitBodyBytesMax = config.itemBytesMax
        settings.submitRateLimit = config.submitRateLimit.map { .init(ratePerSecond: $0, burst: config.submitRateBurst ?? 1) }
        let server = AOHTTPServer(queries: apiBox, settings: settings, logger: logger.with(label: "http"))
        let task = Task {
            do { try await server.runUntilCancelled(onListening: { port in await httpPort.set(port) }) } catch {
                self.logger.error("HTTP server stopped", metadata: ["error": "\(error)"])
                await httpPort.set(-1)
            }
        }
        let port = await httpPort.wait()
        guard port > 0 else {
            task.cancel(); await transport.shutdown(); store.close()
            throw NodeStartError("cannot listen for HTTP on \(config.http)")
        }
        config.http = Endpoint(host: config.http.host, port: UInt16(port))

        let seed = config.randomSeed ?? UInt64.random(in: 0...UInt64.max)
        let runtime: NodeRuntime
        do {
            runtime = try NodeRuntime(configuration: config, network: network, key: key, store: store, transport: transport,
                                      logger: logger.with(label: "node"), seed: seed)
        } catch {
            task.cancel(); await transport.shutdown(); store.close()
            throw NodeStartError("cannot restore the node's state from the store: \(error)")
        }
        let compute = ComputeService(store: store, key: key, configuration: config, logger: logger.with(label: "compute"),
                                     metrics: metrics)
        let replication = Replication(runtime: runtime, store: store, logger: logger.with(label: "replication"))
        // Set before the compute service starts its workers (they read it without a lock).
        compute.fetchMissing = { [weak replication] ids in
            guard let replication else { return }
            Task { await replication.fetchInBackground(ids) }
        }
        await compute.attach(runtime: runtime)
        await replication.attach()
        let metricsSource = NodeMetricsSource(metrics: metrics, runtime: runtime, store: store, transport: transport,
                                              http: server.counters, replication: replication)
        let api = NodeAPI(runtime: runtime, store: store, compute: compute, configuration: config, network: network,
                          logger: logger.with(label: "api"), metrics: { await metricsSource.text() })
        apiBox.set(api)
        await runtime.start()

        let endpoints = NodeEndpoints(nodeID: runtime.nodeID, publicKey: publicKey, transport: bound,
                                      http: config.http, keyGenerated: generated)
        lock.withLock {
            parts = Parts(store: store, transport: transport, runtime: runtime, compute: compute, api: api,
                          replication: replication, endpoints: endpoints)
            httpTask = task
        }
        logger.info("node started", metadata: ["node": "\(runtime.nodeID.base64URL)", "transport": "\(bound)",
                                               "http": "\(config.http)", "network": "\(network.name)",
                                               "schedulers": "\(network.schedulers.count)"])
        return endpoints
    }

    /// Suspends until SIGINT or SIGTERM, then shuts down gracefully.
    public func runUntilSignalled() async {
        let signals = SignalWaiter()
        await signals.wait()
        logger.notice("signal received: shutting down")
        await shutdown()
    }

    /// Graceful shutdown: stop the protocol loop, flush and close the transport, checkpoint live processes, stop
    /// HTTP, close the store. Accepted items are already durable (they were acknowledged only after commit).
    public func shutdown() async {
        let (p, task): (Parts?, Task<Void, Never>?) = lock.withLock {
            if stopped { return (nil, nil) }
            stopped = true
            return (parts, httpTask)
        }
        guard let p else { return }
        await p.runtime.stop()
        await p.replication.stop()
        await p.transport.shutdown()
        p.compute.shutdown()
        task?.cancel()
        _ = await task?.value
        await p.runtime.closeCommitter()
        p.store.close()
        logger.info("node stopped")
    }
}

extension Logger {
    func with(label suffix: String) -> Logger {
        var l = self
        l[metadataKey: "component"] = "\(suffix)"
        return l
    }
}

/// The HTTP server is built before the API object exists (its port is part of the node's configuration); this
/// box forwards to the API once set, answering "starting" until then.
final class APIBox: NodeQueries, @unchecked Sendable {
    private let lock = NSLock()
    private var api: NodeAPI?
    func set(_ a: NodeAPI) { lock.withLock { api = a } }
    func get() throws -> NodeAPI {
        guard let a = lock.withLock({ api }) else { throw NodeQueryError.unavailable("The node is starting.") }
        return a
    }
    func submit(item: [UInt8]) async throws -> SubmitReceipt { try await get().submit(item: item) }
    func assign(_ request: AssignRequest) async throws -> SubmitReceipt { try await get().assign(request) }
    func schedulerLocation(process: ProcessID?) async throws -> SchedulerLocation { try await get().schedulerLocation(process: process) }
    func currentTime(process: ProcessID?) async throws -> SchedulerClock { try await get().currentTime(process: process) }
    func scheduledEntry(id: ID32, process: ProcessID?) async throws -> ScheduledEntry? { try await get().scheduledEntry(id: id, process: process) }
    func assignments(_ query: AssignmentQuery) async throws -> AssignmentPage { try await get().assignments(query) }
    func latestAssignment(process: ProcessID) async throws -> ScheduledEntry? { try await get().latestAssignment(process: process) }
    func processInfo(process: ProcessID) async throws -> ProcessDetails? { try await get().processInfo(process: process) }
    func result(message: MessageID, process: ProcessID) async throws -> EvaluationResult { try await get().result(message: message, process: process) }
    func results(_ query: ResultsQuery) async throws -> ResultsPage { try await get().results(query) }
    func cronResults(_ query: ResultsQuery) async throws -> ResultsPage { try await get().cronResults(query) }
    func dryRun(_ request: DryRunRequest) async throws -> EvaluationResult { try await get().dryRun(request) }
    func state(process: ProcessID, to timestamp: UInt64?) async throws -> ProcessStateSnapshot { try await get().state(process: process, to: timestamp) }
    func storedItem(id: MessageID) async throws -> StoredItem? { try await get().storedItem(id: id) }
    func attestations(message: MessageID, process: ProcessID) async throws -> [ResultAttestation] {
        try await get().attestations(message: message, process: process)
    }
    func transactions(_ query: TransactionsQuery) async throws -> TransactionsPage { try await get().transactions(query) }
    func health() async -> HealthReport {
        guard let a = try? get() else { return HealthReport(healthy: false, checks: [("state", "starting")]) }
        return await a.health()
    }
    func peers() async throws -> [PeerInfo] { try await get().peers() }
    func schedulerGroup(process: ProcessID) async throws -> SchedulerGroupStatus { try await get().schedulerGroup(process: process) }
    func metricsText() async -> String {
        guard let a = try? get() else { return "" }
        return await a.metricsText()
    }
}

/// A one-shot value set from another task (the HTTP port once bound).
actor AsyncPortBox {
    private var value: Int?
    private var waiters: [CheckedContinuation<Int, Never>] = []
    func set(_ v: Int) {
        guard value == nil else { return }
        value = v
        for w in waiters { w.resume(returning: v) }
        waiters = []
    }
    func wait() async -> Int {
        if let value { return value }
        return await withCheckedContinuation { waiters.append($0) }
    }
}

/// Waits for SIGINT or SIGTERM (dispatch signal sources; the default actions are disabled while waiting).
final class SignalWaiter: @unchecked Sendable {
    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let queue = DispatchQueue(label: "aonode.signals")
            var sources: [DispatchSourceSignal] = []
            let once = NSLock()
            var done = false
            for s in [SIGINT, SIGTERM] {
                signal(s, SIG_IGN)
                let src = DispatchSource.makeSignalSource(signal: s, queue: queue)
                src.setEventHandler {
                    let first = once.withLock { () -> Bool in if done { return false }; done = true; return true }
                    if first { for x in sources { x.cancel() }; c.resume() }
                }
                src.resume()
                sources.append(src)
            }
            queue.sync { _ = sources }
        }
    }
}
