import AONode
import AOTransport
import ArgumentParser
import Foundation
import Logging

/// `aonode run`: one node in the foreground until SIGINT/SIGTERM. (Minimal version: the configuration layering
/// of file and environment comes with `ConfigurationLoader`.)
public struct RunCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one aonode in the foreground (Ctrl-C or SIGTERM stops it gracefully).",
        discussion: """
            Every setting has a default, so `aonode run` alone starts a single-node network in ./aonode-data with \
            a generated key, peers on 127.0.0.1:7946 and HTTP on 127.0.0.1:8734. Port 0 picks a free port.
            """)

    @Option(name: .customLong("data-dir"), help: "The node's directory (store and key). Default ./aonode-data.")
    var dataDir: String?
    @Option(help: "The ed25519 node key (JWK). Default <data-dir>/node-key.json, generated on first start.")
    var key: String?
    @Option(help: "Where the peer transport listens, HOST:PORT. Default 127.0.0.1:7946.") var listen: String?
    @Option(help: "The HOST:PORT peers dial (when it differs from --listen). Default: the bound listen address.")
    var advertise: String?
    @Option(help: "Where the HTTP API listens, HOST:PORT. Default 127.0.0.1:8734.") var http: String?
    @Option(name: .customLong("advertise-http"), help: "The URL clients and peers use for this node's HTTP API.")
    var advertiseHTTP: String?
    @Option(name: .customLong("peer"), help: "A bootstrap peer's HOST:PORT (repeat for more).") var peers: [String] = []
    @Option(help: "The network configuration (JSON: admitted schedulers). Default: a network of this node alone.")
    var network: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical. Default info.")
    var logLevel: String?
    @Option(name: .customLong("tick-ms"), help: "The protocol tick in milliseconds. Default 50.") var tickMs: UInt64?
    @Option(help: "Seed of the node's protocol randomness (testing). Default: random.") var seed: UInt64?

    public init() {}

    func endpoint(_ text: String?, _ flag: String) throws -> Endpoint? {
        guard let text else { return nil }
        guard let e = Endpoint(parsing: text) else { throw ValidationError("--\(flag) \(text) is not HOST:PORT") }
        return e
    }

    func makeConfiguration() throws -> NodeConfiguration {
        var c = NodeConfiguration()
        if let dataDir { c.dataDirectory = dataDir }
        c.keyFile = key
        if let e = try endpoint(listen, "listen") { c.listen = e }
        c.advertise = try endpoint(advertise, "advertise")
        if let e = try endpoint(http, "http") { c.http = e }
        c.advertiseHTTP = advertiseHTTP
        c.peers = try peers.map { try endpoint($0, "peer")! }
        c.networkFile = network
        if let logLevel { c.logLevel = logLevel }
        if let tickMs { c.tickMilliseconds = tickMs }
        c.randomSeed = seed
        do { try c.validate() } catch { throw ValidationError(error.description) }
        return c
    }

    public func run() async throws {
        let config = try makeConfiguration()
        guard let level = Logger.Level(rawValue: config.logLevel) else {
            throw ValidationError("--log-level \(config.logLevel) is not one of trace, debug, info, notice, warning, error, critical")
        }
        var logger = Logger(label: "aonode")
        logger.logLevel = level
        let node: Node
        let endpoints: NodeEndpoints
        do {
            node = try Node(configuration: config, logger: logger)
            endpoints = try await node.start()
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        print("""
            aonode running
              node id     \(endpoints.nodeID.base64URL)
              public key  \(endpoints.publicKey)
              transport   \(endpoints.transport)
              http        http://\(endpoints.http)
              data dir    \(config.dataDirectory)
              key file    \(config.effectiveKeyFile)\(endpoints.keyGenerated ? " (generated)" : "")
            """)
        fflush(stdout)
        await node.runUntilSignalled()
    }
}
