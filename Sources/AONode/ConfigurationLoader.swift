import AOTransport
import Foundation

/// Builds the one immutable `NodeConfiguration` a node runs with from four layers, lowest to highest (DESIGN.md §8):
/// **defaults < config file < environment < flags**. A setting given in a higher layer replaces the lower one entirely
/// (`peers` too: flags' peers replace the file's, they are not appended). The result is validated once.
///
/// Every setting has one name used three ways (see `ConfigurationSetting`): the flag `--listen`, the file key
/// `"listen"`, the environment variable `AONODE_LISTEN`. The file is a JSON object with those keys; an unknown key is
/// an error, so a typo never silently falls back to a default. Unknown `AONODE_*` environment variables are ignored
/// (other tools share the prefix); they are listed in `LoadedConfiguration.warnings`.
///
/// `load(file:environment:flags:)` is a pure function of its inputs (the file's bytes, the environment as a
/// dictionary, the flags) so the layering is unit-tested without touching the process; `load(environment:flags:)`
/// reads the file named by `--config` / `AONODE_CONFIG` and calls it.
///
/// Errors are `ConfigurationError`s naming the setting (as its flag) and where the bad value came from:
/// `invalid configuration: --listen (environment AONODE_LISTEN): "7946" is not HOST:PORT`.
public enum ConfigurationLoader {
    /// Where a value came from.
    public enum Source: Sendable, Equatable, CustomStringConvertible {
        case defaults
        case file(path: String)
        case environment(variable: String)
        case flag

        public var description: String {
            switch self {
            case .defaults: "default"
            case .file(let path): "file \(path)"
            case .environment(let variable): "environment \(variable)"
            case .flag: "flag"
            }
        }
    }

    /// The config file's path and bytes (read by the caller, so loading stays pure).
    public struct File: Sendable, Equatable {
        public var path: String
        public var bytes: [UInt8]
        public init(path: String, bytes: [UInt8]) { self.path = path; self.bytes = bytes }
    }

    /// The environment variable naming the config file when `--config` is not given.
    public static let configEnvironmentVariable = "AONODE_CONFIG"

    /// Reads the config file named by `flags.config`, else `environment["AONODE_CONFIG"]` (if any), then `load`.
    public static func load(environment: [String: String], flags: ConfigurationFlags) throws(ConfigurationError) -> LoadedConfiguration {
        var file: File?
        if let path = flags.config ?? environment[configEnvironmentVariable] {
            let source = flags.config != nil ? "flag" : "environment \(configEnvironmentVariable)"
            if path.isEmpty { throw ConfigurationError("config", "(\(source)): the path is empty") }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigurationError("config", "(\(source)): cannot read \(path)")
            }
            file = File(path: path, bytes: [UInt8](data))
        }
        return try load(file: file, environment: environment, flags: flags)
    }

    /// Layers defaults, `file`, `environment` and `flags` (in that order) and validates the result.
    public static func load(file: File?, environment: [String: String], flags: ConfigurationFlags) throws(ConfigurationError) -> LoadedConfiguration {
        var loaded = LoadedConfiguration()
        if let file { try applyFile(file, to: &loaded) }
        try applyEnvironment(environment, to: &loaded)
        try applyFlags(flags, to: &loaded)
        do { try loaded.configuration.validate() } catch {
            // Say which layer set the offending value, so the user knows which one to fix.
            let source = ConfigurationSetting(rawValue: error.setting).flatMap { loaded.sources[$0] } ?? .defaults
            throw ConfigurationError(error.setting, "\(error.reason) (from \(source))")
        }
        return loaded
    }

    // MARK: layers

    static func applyFile(_ file: File, to loaded: inout LoadedConfiguration) throws(ConfigurationError) {
        let object: [String: FileValue]
        do { object = try JSONDecoder().decode([String: FileValue].self, from: Data(file.bytes)) } catch {
            throw ConfigurationError("config", "file \(file.path) is not a JSON object of settings: \(describe(error))")
        }
        let base = (file.path as NSString).deletingLastPathComponent
        // Sorted so that the first error reported does not depend on dictionary order.
        for key in object.keys.sorted() {
            guard let setting = ConfigurationSetting(rawValue: key) else {
                let known = ConfigurationSetting.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigurationError("config", "file \(file.path): unknown key \"\(key)\" (known keys: \(known))")
            }
            let source = Source.file(path: file.path)
            let raw: RawValue
            switch (object[key]!, setting) {
            case (.null, _): continue  // null = not set here
            case (.list(let l), .peers): raw = .list(l)
            case (_, .peers): throw setting.error(source, "must be an array of \"HOST:PORT\" strings")
            case (.string(let s), _): raw = .text(s)
            case (.integer(let n), _) where setting.isInteger || setting == .submitRateLimit: raw = .text(n)
            case (.integer, _), (.other, _), (.list, _):
                throw setting.error(source, setting.isInteger ? "must be a whole number (or a string holding one)"
                                    : setting == .submitRateLimit ? "must be \"off\" or a number (a whole JSON number or a string)"
                                    : "must be a string")
            }
            try loaded.apply(setting, raw, from: source, relativeTo: setting.isPath ? base : nil)
        }
    }

    /// One value of the config file's object, as far as the loader cares.
    enum FileValue: Decodable {
        case null, string(String), integer(String), list([String]), other
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null; return }
            if let s = try? c.decode(String.self) { self = .string(s); return }
            if (try? c.decode(Bool.self)) != nil { self = .other; return }
            if let n = try? c.decode(UInt64.self) { self = .integer(String(n)); return }
            if let n = try? c.decode(Int64.self) { self = .integer(String(n)); return }  // negative: the setting says why not
            if let l = try? c.decode([String].self) { self = .list(l); return }
            self = .other
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): context.underlyingError.map { "\($0.localizedDescription)" } ?? context.debugDescription
        case DecodingError.typeMismatch(_, let context): context.debugDescription
        default: "\(error)"
        }
    }

    static func applyEnvironment(_ environment: [String: String], to loaded: inout LoadedConfiguration) throws(ConfigurationError) {
        let known = Set(ConfigurationSetting.allCases.map(\.environmentVariable) + [configEnvironmentVariable])
        for (name, _) in environment where name.hasPrefix("AONODE_") && !known.contains(name) {
            loaded.warnings.append("ignoring unknown environment variable \(name)")
        }
        loaded.warnings.sort()
        for setting in ConfigurationSetting.allCases {
            guard let value = environment[setting.environmentVariable] else { continue }
            let raw: RawValue = setting == .peers
                ? .list(value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
                : .text(value)
            try loaded.apply(setting, raw, from: .environment(variable: setting.environmentVariable), relativeTo: nil)
        }
    }

    static func applyFlags(_ flags: ConfigurationFlags, to loaded: inout LoadedConfiguration) throws(ConfigurationError) {
        for setting in ConfigurationSetting.allCases {
            let raw: RawValue?
            if setting == .peers {
                raw = flags.peers.map { .list($0) }
            } else {
                raw = flags[setting].map { .text($0) }
            }
            if let raw { try loaded.apply(setting, raw, from: .flag, relativeTo: nil) }
        }
    }

    enum RawValue { case text(String), list([String]) }
}

/// The settings, named as their flags (`--data-dir`) and file keys (`"data-dir"`); the environment variable is
/// `AONODE_` + the name in upper case with `_` for `-` (`AONODE_DATA_DIR`). docs/CONFIGURATION.md lists them.
public enum ConfigurationSetting: String, CaseIterable, Sendable {
    case dataDir = "data-dir"
    case key
    case listen
    case advertise
    case http
    case advertiseHTTP = "advertise-http"
    case peers
    case network
    case tickMs = "tick-ms"
    case logLevel = "log-level"
    case itemBytesMax = "item-bytes-max"
    case checkpointEvery = "checkpoint-every"
    case seed
    case submitRateLimit = "submit-rate-limit"

    public var environmentVariable: String { "AONODE_" + rawValue.uppercased().replacingOccurrences(of: "-", with: "_") }

    /// Paths in a config file are relative to the file's directory.
    var isPath: Bool { self == .dataDir || self == .key || self == .network }
    var isInteger: Bool { self == .tickMs || self == .itemBytesMax || self == .checkpointEvery || self == .seed }

    func error(_ source: ConfigurationLoader.Source, _ reason: String) -> ConfigurationError {
        ConfigurationError(rawValue, "(\(source)): \(reason)")
    }
}

/// The `swift-log` level names `--log-level` accepts.
public let logLevelNames = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

/// The top layer: what the command line said, unparsed (the loader parses, so a bad flag value is reported the same
/// way as a bad file or environment value). Nil = not given.
public struct ConfigurationFlags: Sendable, Equatable {
    public var config: String?
    public var dataDir: String?
    public var key: String?
    public var listen: String?
    public var advertise: String?
    public var http: String?
    public var advertiseHTTP: String?
    /// Nil = not given; an empty list is not expressible on a command line but means "no peers" here.
    public var peers: [String]?
    public var network: String?
    public var tickMs: String?
    public var logLevel: String?
    public var itemBytesMax: String?
    public var checkpointEvery: String?
    public var seed: String?
    public var submitRateLimit: String?

    public init() {}

    subscript(setting: ConfigurationSetting) -> String? {
        switch setting {
        case .dataDir: dataDir
        case .key: key
        case .listen: listen
        case .advertise: advertise
        case .http: http
        case .advertiseHTTP: advertiseHTTP
        case .peers: peers?.joined(separator: ",")
        case .network: network
        case .tickMs: tickMs
        case .logLevel: logLevel
        case .itemBytesMax: itemBytesMax
        case .checkpointEvery: checkpointEvery
        case .seed: seed
        case .submitRateLimit: submitRateLimit
        }
    }
}

/// The validated configuration and where each setting came from.
public struct LoadedConfiguration: Sendable, Equatable {
    public var configuration = NodeConfiguration()
    /// The layer that set each setting last; settings absent here kept their default.
    public var sources: [ConfigurationSetting: ConfigurationLoader.Source] = [:]
    /// Non-fatal notes (unknown `AONODE_*` variables), for the caller to log.
    public var warnings: [String] = []

    public func source(of setting: ConfigurationSetting) -> ConfigurationLoader.Source { sources[setting] ?? .defaults }

    mutating func apply(_ setting: ConfigurationSetting, _ raw: ConfigurationLoader.RawValue,
                        from source: ConfigurationLoader.Source, relativeTo base: String?) throws(ConfigurationError) {
        func text() -> String {
            switch raw {
            case .text(let t): t
            case .list(let l): l.joined(separator: ",")
            }
        }
        func fail(_ reason: String) -> ConfigurationError { setting.error(source, reason) }
        func path() throws(ConfigurationError) -> String {
            let p = text()
            if p.isEmpty { throw fail("must not be empty") }
            guard let base, !base.isEmpty, !p.hasPrefix("/") else { return p }
            return (base as NSString).appendingPathComponent(p)
        }
        func endpoint() throws(ConfigurationError) -> Endpoint {
            let t = text()
            guard let e = Endpoint(parsing: t) else { throw fail("\"\(t)\" is not HOST:PORT (or [IPv6]:PORT)") }
            return e
        }
        func unsigned(_ max: UInt64 = .max) throws(ConfigurationError) -> UInt64 {
            let t = text().trimmingCharacters(in: .whitespaces)
            guard let n = UInt64(t) else { throw fail("\"\(t)\" is not a whole number (0 or more)") }
            guard n <= max else { throw fail("\(n) is too large (at most \(max))") }
            return n
        }
        var c = configuration
        switch setting {
        case .dataDir: c.dataDirectory = try path()
        case .key: c.keyFile = try path()
        case .network: c.networkFile = try path()
        case .listen: c.listen = try endpoint()
        case .advertise: c.advertise = try endpoint()
        case .http: c.http = try endpoint()
        case .advertiseHTTP:
            let t = text()
            guard let url = URL(string: t), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  let host = url.host, !host.isEmpty else {
                throw fail("\"\(t)\" is not an http:// or https:// URL with a host")
            }
            c.advertiseHTTP = t.hasSuffix("/") ? String(t.dropLast()) : t
        case .peers:
            let list: [String]
            switch raw {
            case .text(let t): list = t.split(separator: ",").map(String.init)
            case .list(let l): list = l
            }
            var peers: [Endpoint] = []
            for p in list {
                guard let e = Endpoint(parsing: p) else { throw fail("\"\(p)\" is not HOST:PORT") }
                if e.port == 0 { throw fail("\"\(p)\" needs a port other than 0") }
                peers.append(e)
            }
            c.peers = peers
        case .tickMs: c.tickMilliseconds = try unsigned()
        case .logLevel:
            let t = text().lowercased()
            guard logLevelNames.contains(t) else {
                throw fail("\"\(text())\" is not a log level (\(logLevelNames.joined(separator: ", ")))")
            }
            c.logLevel = t
        case .itemBytesMax: c.itemBytesMax = Int(try unsigned(UInt64(Int.max)))
        case .checkpointEvery: c.checkpointEveryMessages = Int(try unsigned(UInt64(Int.max)))
        case .seed: c.randomSeed = try unsigned()
        case .submitRateLimit:
            do { c.submitRateLimit = try NodeConfiguration.parseSubmitRateLimit(text()) } catch { throw fail(error.reason) }
        }
        configuration = c
        sources[setting] = source
    }
}
