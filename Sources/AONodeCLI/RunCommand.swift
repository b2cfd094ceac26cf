import AONode
import ArgumentParser
import Foundation
import Logging

/// `aonode run`: one node in the foreground until SIGINT/SIGTERM. Flags are the top configuration layer
/// (`ConfigurationLoader`: defaults < file < environment < flags); values are parsed by the loader so a bad value is
/// reported the same way whichever layer it came from, as one line and exit status 2.
public struct RunCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a node in the foreground until SIGINT or SIGTERM.",
        discussion: """
            Settings come from four layers, lowest to highest: built-in defaults < the config file (--config or \
            AONODE_CONFIG; JSON with keys named like the flags, e.g. {"listen":"0.0.0.0:7946","peers":["10.0.0.2:7946"]}; \
            relative paths in it are relative to the file) < environment variables (AONODE_ + the flag name in upper \
            case with _ for -, e.g. AONODE_DATA_DIR, AONODE_LISTEN; AONODE_PEERS is comma-separated) < these flags. A \
            higher layer replaces a setting entirely (peers included). docs/CONFIGURATION.md lists every setting.

            On start the node prints its id, public key, transport endpoint, HTTP URL, data directory and key file \
            (generated, mode 0600, on first start) on standard output; logs go to standard error.
            """)

    @Option(name: .long, help: ArgumentHelp("A JSON config file (the layer below the environment and flags).", valueName: "file"))
    public var config: String?

    @Option(name: .long, help: ArgumentHelp("The node's directory: store/ and node-key.json. (default: ./aonode-data)", valueName: "dir"))
    public var dataDir: String?

    @Option(name: .long, help: ArgumentHelp("Where the peer transport listens; port 0 picks one. (default: 127.0.0.1:7946)", valueName: "host:port"))
    public var listen: String?

    @Option(name: .long, help: ArgumentHelp("The transport address peers are told to dial, when it differs from --listen (NAT, 0.0.0.0). (default: --listen)", valueName: "host:port"))
    public var advertise: String?

    @Option(name: .long, help: ArgumentHelp("Where the HTTP API listens; port 0 picks one. (default: 127.0.0.1:8734)", valueName: "host:port"))
    public var http: String?

    @Option(name: .customLong("advertise-http"), help: ArgumentHelp("The HTTP base URL other nodes and clients use for this node. (default: http://<--http>)", valueName: "url"))
    public var advertiseHTTP: String?

    @Option(name: .customLong("peer"), help: ArgumentHelp("A bootstrap peer's transport endpoint; repeat for several. (default: none)", valueName: "host:port"))
    public var peers: [String] = []

    @Option(name: .long, help: ArgumentHelp("The node's ed25519 JWK key file, generated if missing. (default: <data-dir>/node-key.json)", valueName: "file"))
    public var key: String?

    @Option(name: .long, help: ArgumentHelp("The network configuration (admitted schedulers). (default: none: a network of one)", valueName: "file"))
    public var network: String?

    @Option(name: .long, help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical. (default: info)", valueName: "level"))
    public var logLevel: String?

    @Option(name: .long, help: ArgumentHelp("The protocol tick in milliseconds, 1...10000. (default: 50)", valueName: "ms"))
    public var tickMs: String?

    @Option(name: .long, help: ArgumentHelp("Largest data item POST / accepts, in bytes. (default: 67108864)", valueName: "bytes"))
    public var itemBytesMax: String?

    @Option(name: .long, help: ArgumentHelp("Checkpoint a process's memory every this many evaluated messages. (default: 1000)", valueName: "n"))
    public var checkpointEvery: String?

    @Option(name: .long, help: ArgumentHelp("Seed of the node's protocol randomness, for reproducible runs. (default: from the OS)", valueName: "n"))
    public var seed: String?

    @Option(name: .long, help: ArgumentHelp("POST / submissions accepted per second from one client address (burst: 5 s worth), or off. (default: 20)", valueName: "off|n"))
    public var submitRateLimit: String?

    public init() {}

    /// The flags as the loader's top layer (unparsed).
    public var flags: ConfigurationFlags {
        var f = ConfigurationFlags()
        f.config = config; f.dataDir = dataDir; f.listen = listen; f.advertise = advertise; f.http = http
        f.advertiseHTTP = advertiseHTTP; f.peers = peers.isEmpty ? nil : peers; f.key = key; f.network = network
        f.logLevel = logLevel; f.tickMs = tickMs; f.itemBytesMax = itemBytesMax; f.checkpointEvery = checkpointEvery
        f.seed = seed; f.submitRateLimit = submitRateLimit
        return f
    }

    /// Layers the configuration from the flags and `environment`; a bad value is a `CommandFailure` with status 2.
    public func loadConfiguration(environment: [String: String]) throws -> LoadedConfiguration {
        do { return try ConfigurationLoader.load(environment: environment, flags: flags) } catch {
            throw CommandFailure(error.description, exitCode: 2)
        }
    }

    public func run() async throws {
        let io = CommandOutput.standard
        do { try await execute(io, environment: ProcessInfo.processInfo.environment) } catch let f as CommandFailure {
            io.err("error: \(f.message)")
            throw ExitCode(f.exitCode)
        }
    }

    func execute(_ io: CommandOutput, environment: [String: String]) async throws {
        let loaded = try loadConfiguration(environment: environment)
        let configuration = loaded.configuration
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSetup.bootstrapOnce(level: level)
        NodeMetrics.bootstrapMetricsSystem()
        var logger = Logger(label: "aonode")
        logger.logLevel = level
        for warning in loaded.warnings { logger.warning("\(warning)") }

        let node: Node
        let endpoints: NodeEndpoints
        do {
            node = try Node(configuration: configuration, logger: logger, metrics: NodeMetrics())
            endpoints = try await node.start()
        } catch let e as ConfigurationError {
            throw CommandFailure(e.description, exitCode: 2)
        } catch {
            throw CommandFailure("the node did not start: \(error)", exitCode: 1)
        }
        io.out(Self.startBanner(configuration: configuration, endpoints: endpoints, keyGenerated: endpoints.keyGenerated))
        fflush(stdout)  // stdout is a log file under `testnet up`: the block must be there before the first request
        await node.runUntilSignalled()
    }

    /// The block `run` prints once the node listens.
    static func startBanner(configuration c: NodeConfiguration, endpoints e: NodeEndpoints, keyGenerated: Bool) -> String {
        func absolute(_ path: String) -> String {
            path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
        }
        var transport = "\(e.transport)"
        if let advertise = c.advertise { transport += " (advertised as \(advertise))" }
        let httpURL = "http://\(e.http)"
        var http = httpURL
        if let advertised = c.advertiseHTTP, advertised != httpURL { http += " (advertised as \(advertised))" }
        return """
            aonode is running
              node id     \(e.nodeID.base64URL)
              public key  \(e.publicKey)
              transport   \(transport)
              http        \(http)
              data dir    \(absolute(c.dataDirectory))
              key file    \(absolute(c.effectiveKeyFile))\(keyGenerated ? " (generated)" : "")
              network     \(c.networkFile.map(absolute) ?? "none (a network of one)")
            Stop with Ctrl-C (SIGINT) or SIGTERM.
            """
    }
}

/// swift-log is bootstrapped once per process (a second bootstrap is a programmer error in swift-log).
enum LoggingSetup {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var done = false

    /// Standard error, at `level`. Later calls do nothing.
    static func bootstrapOnce(level: Logger.Level) {
        lock.lock(); defer { lock.unlock() }
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
