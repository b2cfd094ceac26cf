import AOTransport
import Foundation
import Testing
@testable import AONode

/// The layering defaults < file < environment < flags, and the errors each layer gives for a bad value.
@Suite struct ConfigurationLoaderTests {
    static func file(_ json: String, path: String = "/etc/aonode/node.json") -> ConfigurationLoader.File {
        ConfigurationLoader.File(path: path, bytes: Array(json.utf8))
    }

    static func load(file: String? = nil, env: [String: String] = [:], flags: ConfigurationFlags = ConfigurationFlags())
        throws(ConfigurationError) -> LoadedConfiguration
    {
        try ConfigurationLoader.load(file: file.map { Self.file($0) }, environment: env, flags: flags)
    }

    /// The loader's error for these inputs (fails the test when loading succeeds).
    static func error(file: String? = nil, env: [String: String] = [:], flags: ConfigurationFlags = ConfigurationFlags()) -> ConfigurationError? {
        do { _ = try load(file: file, env: env, flags: flags) } catch { return error }
        Issue.record("expected a configuration error")
        return nil
    }

    @Test func nothingGivenIsTheDefaults() throws {
        let loaded = try Self.load()
        #expect(loaded.configuration == NodeConfiguration())
        #expect(loaded.sources.isEmpty)
        #expect(loaded.source(of: .listen) == .defaults)
    }

    @Test func eachLayerOverridesTheOneBelow() throws {
        let file = """
            {"data-dir": "data", "listen": "127.0.0.1:7001", "http": "127.0.0.1:8001", "tick-ms": 20,
             "peers": ["127.0.0.1:7002", "localhost:7003"], "log-level": "debug", "seed": 7, "key": "/keys/k.json",
             "network": "net.json", "item-bytes-max": "2048", "checkpoint-every": 10, "advertise": null}
            """
        let env = ["AONODE_LISTEN": "127.0.0.1:7101", "AONODE_TICK_MS": "30", "AONODE_PEERS": "10.0.0.1:7946, 10.0.0.2:7946",
                   "PATH": "/bin"]
        var flags = ConfigurationFlags()
        flags.listen = "0.0.0.0:7201"
        flags.advertise = "192.0.2.1:7201"
        flags.advertiseHTTP = "https://node.example/"
        let loaded = try Self.load(file: file, env: env, flags: flags)
        let c = loaded.configuration
        // Flags beat environment beats file beats defaults.
        #expect(c.listen == Endpoint(host: "0.0.0.0", port: 7201))
        #expect(loaded.source(of: .listen) == .flag)
        #expect(c.tickMilliseconds == 30)
        #expect(loaded.source(of: .tickMs) == .environment(variable: "AONODE_TICK_MS"))
        #expect(c.peers == [Endpoint(host: "10.0.0.1", port: 7946), Endpoint(host: "10.0.0.2", port: 7946)])  // replaced, not appended
        #expect(c.http == Endpoint(host: "127.0.0.1", port: 8001))
        #expect(loaded.source(of: .http) == .file(path: "/etc/aonode/node.json"))
        #expect(c.logLevel == "debug")
        #expect(c.randomSeed == 7)
        #expect(c.itemBytesMax == 2048)
        #expect(c.checkpointEveryMessages == 10)
        #expect(c.advertise == Endpoint(host: "192.0.2.1", port: 7201))
        #expect(c.advertiseHTTP == "https://node.example")
        #expect(loaded.source(of: .advertise) == .flag)
        // Relative paths in the file are relative to the file; absolute ones are kept.
        #expect(c.dataDirectory == "/etc/aonode/data")
        #expect(c.networkFile == "/etc/aonode/net.json")
        #expect(c.keyFile == "/keys/k.json")
        // Untouched settings keep their defaults.
        #expect(c.effectiveAdvertiseHTTP == "https://node.example")
        #expect(loaded.source(of: .seed) == .file(path: "/etc/aonode/node.json"))
    }

    @Test func everySettingHasAnEnvironmentVariable() throws {
        #expect(ConfigurationSetting.dataDir.environmentVariable == "AONODE_DATA_DIR")
        #expect(ConfigurationSetting.advertiseHTTP.environmentVariable == "AONODE_ADVERTISE_HTTP")
        let env = ["AONODE_DATA_DIR": "/var/aonode", "AONODE_KEY": "/k", "AONODE_LISTEN": "127.0.0.1:1",
                   "AONODE_ADVERTISE": "127.0.0.1:2", "AONODE_HTTP": "127.0.0.1:3", "AONODE_ADVERTISE_HTTP": "http://h:3",
                   "AONODE_PEERS": "127.0.0.1:4", "AONODE_NETWORK": "n.json", "AONODE_TICK_MS": "5",
                   "AONODE_LOG_LEVEL": "WARNING", "AONODE_ITEM_BYTES_MAX": "4096", "AONODE_CHECKPOINT_EVERY": "3",
                   "AONODE_SEED": "18446744073709551615", "AONODE_SUBMIT_RATE_LIMIT": "off"]
        #expect(Set(env.keys) == Set(ConfigurationSetting.allCases.map(\.environmentVariable)))
        let loaded = try Self.load(env: env)
        #expect(loaded.sources.count == ConfigurationSetting.allCases.count)
        let c = loaded.configuration
        #expect(c.dataDirectory == "/var/aonode" && c.keyFile == "/k" && c.networkFile == "n.json")  // env paths: as given
        #expect(c.listen.port == 1 && c.advertise?.port == 2 && c.http.port == 3 && c.peers.map(\.port) == [4])
        #expect(c.advertiseHTTP == "http://h:3" && c.tickMilliseconds == 5 && c.logLevel == "warning")
        #expect(c.itemBytesMax == 4096 && c.checkpointEveryMessages == 3 && c.randomSeed == .max)
        #expect(c.submitRateLimit == nil)
    }

    @Test func badValuesNameTheSettingAndTheirSource() {
        let fromEnv = Self.error(env: ["AONODE_LISTEN": "7946"])
        #expect(fromEnv?.setting == "listen")
        #expect(fromEnv?.description == "invalid configuration: --listen (environment AONODE_LISTEN): \"7946\" is not HOST:PORT (or [IPv6]:PORT)")

        var flags = ConfigurationFlags()
        flags.tickMs = "fast"
        let fromFlag = Self.error(flags: flags)
        #expect(fromFlag?.setting == "tick-ms")
        #expect(fromFlag?.reason.hasPrefix("(flag):") == true)

        let fromFile = Self.error(file: #"{"seed": -1}"#)
        #expect(fromFile?.setting == "seed")
        #expect(fromFile?.reason.contains("file /etc/aonode/node.json") == true)

        #expect(Self.error(file: #"{"peers": "127.0.0.1:1"}"#)?.setting == "peers")  // a list in files
        #expect(Self.error(file: #"{"listen": 7946}"#)?.reason.contains("must be a string") == true)
        #expect(Self.error(file: #"{"tick-ms": 2.5}"#)?.setting == "tick-ms")
        #expect(Self.error(file: #"{"tick-ms": true}"#)?.setting == "tick-ms")
        #expect(Self.error(env: ["AONODE_LOG_LEVEL": "loud"])?.setting == "log-level")
        #expect(Self.error(env: ["AONODE_ADVERTISE_HTTP": "node.example:80"])?.setting == "advertise-http")
        #expect(Self.error(env: ["AONODE_PEERS": "127.0.0.1:0"])?.setting == "peers")
        #expect(Self.error(env: ["AONODE_DATA_DIR": ""])?.setting == "data-dir")
        #expect(Self.error(env: ["AONODE_SEED": "18446744073709551616"])?.setting == "seed")
    }

    @Test func unknownFileKeysAndMalformedFilesAreErrors() {
        let unknown = Self.error(file: #"{"listen": "127.0.0.1:1", "lsten": "127.0.0.1:2"}"#)
        #expect(unknown?.setting == "config")
        #expect(unknown?.reason.contains("unknown key \"lsten\"") == true)
        #expect(unknown?.reason.contains("data-dir") == true)  // lists the known keys
        #expect(Self.error(file: "[1, 2]")?.setting == "config")
        #expect(Self.error(file: "{\"listen\": ")?.setting == "config")
    }

    @Test func validationErrorsSayWhichLayerSetTheValue() {
        // tick-ms parses but is out of range: validate() names it, the loader adds where it came from.
        let e = Self.error(env: ["AONODE_TICK_MS": "0"])
        #expect(e?.setting == "tick-ms")
        #expect(e?.description == "invalid configuration: --tick-ms must be 1...10000 (from environment AONODE_TICK_MS)")
        var flags = ConfigurationFlags()
        flags.http = "127.0.0.1:7946"  // the default --listen
        #expect(Self.error(flags: flags)?.reason.contains("(from flag)") == true)
    }

    @Test func unknownAONODEVariablesAreWarningsNotErrors() throws {
        let loaded = try Self.load(env: ["AONODE_LISTN": "x", "AONODE_LISTEN": "127.0.0.1:9"])
        #expect(loaded.warnings == ["ignoring unknown environment variable AONODE_LISTN"])
        #expect(loaded.configuration.listen.port == 9)
    }

    @Test func theConfigFileIsNamedByFlagOrEnvironment() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aonode-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("node.json").path
        try #"{"listen": "127.0.0.1:7301", "data-dir": "d"}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let viaEnv = try ConfigurationLoader.load(environment: ["AONODE_CONFIG": path], flags: ConfigurationFlags())
        #expect(viaEnv.configuration.listen.port == 7301)
        #expect(viaEnv.configuration.dataDirectory == dir.appendingPathComponent("d").path)
        var flags = ConfigurationFlags()
        flags.config = dir.appendingPathComponent("missing.json").path
        do {
            _ = try ConfigurationLoader.load(environment: ["AONODE_CONFIG": path], flags: flags)  // the flag wins
            Issue.record("a missing --config file must be an error")
        } catch {
            #expect(error.setting == "config")
            #expect(error.reason.contains("missing.json"))
        }
    }

    @Test func submitRateLimitIsLayeredAndValidated() throws {
        // Default: 20/s with a burst of 100, as the HTTP layer had it.
        let defaults = try Self.load().configuration
        #expect(defaults.submitRateLimit == 20 && defaults.submitRateBurst == 100)
        // File (number or string) < environment < flag; "off" (any case) lifts the limit.
        #expect(try Self.load(file: #"{"submit-rate-limit": 50}"#).configuration.submitRateLimit == 50)
        #expect(try Self.load(file: #"{"submit-rate-limit": "off"}"#).configuration.submitRateLimit == nil)
        let env = try Self.load(file: #"{"submit-rate-limit": 50}"#, env: ["AONODE_SUBMIT_RATE_LIMIT": "OFF"])
        #expect(env.configuration.submitRateLimit == nil && env.configuration.submitRateBurst == nil)
        #expect(env.source(of: .submitRateLimit) == .environment(variable: "AONODE_SUBMIT_RATE_LIMIT"))
        var flags = ConfigurationFlags()
        flags.submitRateLimit = "0.5"
        let flag = try Self.load(file: #"{"submit-rate-limit": "off"}"#, env: ["AONODE_SUBMIT_RATE_LIMIT": "off"], flags: flags)
        #expect(flag.configuration.submitRateLimit == 0.5 && flag.configuration.submitRateBurst == 2.5)
        #expect(flag.source(of: .submitRateLimit) == .flag)
        #expect(try Self.load(env: ["AONODE_SUBMIT_RATE_LIMIT": "0.1"]).configuration.submitRateBurst == 1)  // at least 1

        // Bad values: named, with their source and the rule.
        let word = Self.error(env: ["AONODE_SUBMIT_RATE_LIMIT": "fast"])
        #expect(word?.description == "invalid configuration: --submit-rate-limit (environment AONODE_SUBMIT_RATE_LIMIT): \"fast\" is neither off nor a number of submissions per second")
        flags.submitRateLimit = "0"
        #expect(Self.error(flags: flags)?.description == "invalid configuration: --submit-rate-limit (flag): must be more than 0 and at most 1000000 per second (or off)")
        for bad in ["-3", "nan", "inf", "2000000", ""] {
            flags.submitRateLimit = bad
            #expect(Self.error(flags: flags)?.setting == "submit-rate-limit", "\(bad) must be refused")
        }
        #expect(Self.error(file: #"{"submit-rate-limit": true}"#)?.reason.contains("must be \"off\" or a number") == true)
        #expect(Self.error(file: #"{"submit-rate-limit": -1}"#)?.setting == "submit-rate-limit")
        // A configuration built in code is checked by validate() too.
        var c = NodeConfiguration()
        c.submitRateLimit = 0
        #expect(throws: ConfigurationError.self) { try c.validate() }
        c.submitRateLimit = nil
        try c.validate()
    }
}
