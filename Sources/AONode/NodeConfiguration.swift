import AOCore
import AOTransport
import Foundation

/// Everything a node needs to start, validated once (DESIGN.md §8: defaults < file < environment < flags; the
/// layering itself is `ConfigurationLoader`). Immutable once the node runs.
public struct NodeConfiguration: Sendable, Equatable {
    /// The node's directory: the LMDB store (`store/`), the node key (`node-key.json`) unless `keyFile` says
    /// otherwise, and nothing else.
    public var dataDirectory: String = "./aonode-data"
    /// The node's ed25519 JWK. Default `<dataDirectory>/node-key.json`, generated (0600) on first start.
    public var keyFile: String?
    /// Where the peer transport listens.
    public var listen = Endpoint(host: "127.0.0.1", port: 7946)
    /// What peers are told to dial (differs from `listen` behind NAT or on 0.0.0.0). Default: `listen`.
    public var advertise: Endpoint?
    /// Where the HTTP API listens.
    public var http = Endpoint(host: "127.0.0.1", port: 8734)
    /// The URL other nodes and clients use for this node's HTTP API (`Scheduler-Location` `Url`, redirects).
    /// Default `http://<http.host>:<http.port>`.
    public var advertiseHTTP: String?
    /// Bootstrap peers (their transport endpoints).
    public var peers: [Endpoint] = []
    /// The network configuration file (JSON, `NetworkConfiguration`): the admitted schedulers. Without one the node
    /// is a network of one: it admits only itself.
    public var networkFile: String?
    /// The shell's tick: the unit of every protocol timer (Raft elections, gossip heartbeats, membership).
    public var tickMilliseconds: UInt64 = 50
    /// swift-log level name: trace, debug, info, notice, warning, error, critical.
    public var logLevel: String = "info"
    /// Largest data item `POST /` accepts (modules are the big ones).
    public var itemBytesMax: Int = 64 << 20
    /// Compute checkpoints: every this many evaluated messages of a process.
    public var checkpointEveryMessages: Int = 1000
    /// Seed of the node's protocol randomness (elections, gossip). Default: fresh from the OS at start.
    public var randomSeed: UInt64?
    /// `POST /` submissions accepted per second from one client address (a token bucket with a burst of
    /// `submitRateBurst`); nil = no limit (benchmarks drive a node from one address). Default 20/s.
    public var submitRateLimit: Double? = 20

    public init() {}

    public var effectiveAdvertise: Endpoint { advertise ?? listen }
    public var effectiveKeyFile: String { keyFile ?? (dataDirectory as NSString).appendingPathComponent("node-key.json") }
    public var storeDirectory: String { (dataDirectory as NSString).appendingPathComponent("store") }
    public var effectiveAdvertiseHTTP: String { advertiseHTTP ?? "http://\(http)" }
    /// The submit limit's burst: five seconds' worth (100 at the default 20/s), at least 1.
    public var submitRateBurst: Double? { submitRateLimit.map { max(1, 5 * $0) } }

    /// Largest `--submit-rate-limit` (per second); beyond it, say `off`.
    public static let submitRateLimitMax: Double = 1_000_000

    /// Parses a `--submit-rate-limit` value: `off` (no limit) or a number of submissions per second, more than 0 and at
    /// most `submitRateLimitMax`. Throws the reason (the caller names the setting and the source).
    public static func parseSubmitRateLimit(_ text: String) throws(ConfigurationError) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.lowercased() == "off" { return nil }
        guard let n = Double(t), n.isFinite else {
            throw ConfigurationError("submit-rate-limit", "\"\(text)\" is neither off nor a number of submissions per second")
        }
        guard n > 0, n <= submitRateLimitMax else {
            throw ConfigurationError("submit-rate-limit", "must be more than 0 and at most \(Int(submitRateLimitMax)) per second (or off)")
        }
        return n
    }

    /// Checks the values that have rules beyond their type. Throws a `ConfigurationError` naming the setting.
    public func validate() throws(ConfigurationError) {
        if dataDirectory.isEmpty { throw ConfigurationError("data-dir", "must not be empty") }
        if tickMilliseconds < 1 || tickMilliseconds > 10_000 { throw ConfigurationError("tick-ms", "must be 1...10000") }
        if itemBytesMax < 1024 { throw ConfigurationError("item-bytes-max", "must be at least 1024") }
        if checkpointEveryMessages < 1 { throw ConfigurationError("checkpoint-every", "must be at least 1") }
        if http.port == listen.port && http.host == listen.host && listen.port != 0 {
            throw ConfigurationError("http", "must not be the same address as --listen (\(listen))")
        }
        if advertise?.port == 0 { throw ConfigurationError("advertise", "needs a port other than 0") }
        if let rate = submitRateLimit, !(rate > 0 && rate <= Self.submitRateLimitMax) {
            throw ConfigurationError("submit-rate-limit", "must be more than 0 and at most \(Int(Self.submitRateLimitMax)) per second (or off)")
        }
    }
}

/// A configuration value that is wrong, with the setting's name (as its command-line flag) and why.
public struct ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    public var setting: String
    public var reason: String
    public init(_ setting: String, _ reason: String) { self.setting = setting; self.reason = reason }
    public var description: String { "invalid configuration: --\(setting) \(reason)" }
}

extension Endpoint {
    /// Parses `host:port` or `[v6]:port`. Nil when it is not one.
    public init?(parsing text: String) {
        var host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = UInt16(portText) else { return nil }
        if host == "localhost" { host = "127.0.0.1" }
        self.init(host: String(host), port: port)
    }
}

/// The network's configuration, the same file at every node (DESIGN.md §5): who may schedule. Self-made keys are
/// never admitted, so they cannot take over a group. JSON:
/// `{"name":"testnet","blockHeight":1500000,"schedulers":[{"publicKey":"<b64url ed25519>","endpoint":"127.0.0.1:7946","http":"http://127.0.0.1:8734"}]}`
public struct NetworkConfiguration: Codable, Sendable, Equatable {
    public struct Scheduler: Codable, Sendable, Equatable {
        /// The node's ed25519 public key, base64url (the node id is its SHA-256).
        public var publicKey: String
        /// Its transport endpoint, when known in advance (testnets); otherwise learned from announcements.
        public var endpoint: String?
        /// Its HTTP base URL, when known (redirects, `Scheduler-Location`).
        public var http: String?
        public init(publicKey: String, endpoint: String? = nil, http: String? = nil) {
            self.publicKey = publicKey; self.endpoint = endpoint; self.http = http
        }
        public var publicKeyBytes: [UInt8]? { Base64URL.decode(publicKey).flatMap { $0.count == 32 ? $0 : nil } }
        public var nodeID: NodeID? { publicKeyBytes.map { NodeID(raw: ID32(bytes: SHA2.sha256($0))!) } }
    }
    public var name: String
    /// `Block-Height` stamped on assignments when no gateway height is known (DESIGN.md §2).
    public var blockHeight: UInt64
    public var schedulers: [Scheduler]
    public init(name: String, blockHeight: UInt64 = 0, schedulers: [Scheduler]) {
        self.name = name; self.blockHeight = blockHeight; self.schedulers = schedulers
    }

    public static func load(path: String) throws(ConfigurationError) -> NetworkConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("network", "file \(path) cannot be read")
        }
        let config: NetworkConfiguration
        do { config = try JSONDecoder().decode(NetworkConfiguration.self, from: data) } catch {
            throw ConfigurationError("network", "file \(path) is not a network configuration: \(error)")
        }
        for (i, s) in config.schedulers.enumerated() {
            if s.publicKeyBytes == nil { throw ConfigurationError("network", "scheduler \(i): publicKey is not 32 base64url bytes") }
            if let e = s.endpoint, Endpoint(parsing: e) == nil { throw ConfigurationError("network", "scheduler \(i): bad endpoint \(e)") }
        }
        return config
    }

    public func write(path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
