import AOCore

/// The API's routes, matched by hand so that precedence is explicit and tested (`Route.match`): fixed names
/// (`/timestamp`, `/health`, `/metrics`, `/peers`, `/graphql`, `/dry-run`, and the first segments `processes`,
/// `result`, `results`, `state`, `cron`, `raw`, `items`, `attestation`) always win over an id in the same position. Ids are
/// 43 characters, so no fixed name can be an id; the precedence still matters for the error a client gets
/// (`/timestamp` must never answer "invalid id").
public enum Route: Equatable, Sendable {
    /// GET `/`: scheduler address and time (SU).
    case schedulerLocation
    /// POST `/`: a data item, or an assignment with `process-id` and `assign` (MU/SU).
    case submit
    /// GET `/timestamp` (SU).
    case timestamp
    /// GET `/{id}`: one entry by message or assignment id, or a process's schedule page (SU).
    case suLookup(id: String)
    /// GET `/{process}/latest` (SU).
    case latest(process: String)
    /// GET `/processes/{process}` (SU).
    case processInfo(process: String)
    /// GET `/result/{message}?process-id=` (CU).
    case result(message: String)
    /// GET `/results/{process}` (CU).
    case results(process: String)
    /// POST `/dry-run?process-id=` (CU).
    case dryRun
    /// GET `/state/{process}` (CU).
    case state(process: String)
    /// GET `/cron/{process}` (CU).
    case cron(process: String)
    /// GET `/raw/{id}`: the item's data (gateway).
    case raw(id: String)
    /// GET `/items/{id}`: the whole ANS-104 item (native; what peers and tests fetch).
    case item(id: String)
    /// POST `/graphql` (gateway subset).
    case graphql
    /// GET `/health`, `/metrics`, `/peers` (native).
    case health, metrics, peers
    /// GET `/processes/{process}/scheduler` (native).
    case schedulerGroup(process: String)
    /// GET `/attestation/{message}?process-id=`: result attestations for light clients (native).
    case attestation(message: String)

    public enum Match: Equatable, Sendable {
        case route(Route)
        case methodNotAllowed(allowed: [String])
        case notFound
    }

    /// Matches a method (upper case; HEAD is matched as GET) and a path (without the query).
    /// Empty segments are ignored, so a trailing slash is harmless.
    public static func match(method: String, path: String) -> Match {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let get = method == "GET" || method == "HEAD"
        let post = method == "POST"
        func only(_ isAllowed: Bool, _ allowed: String, _ route: Route) -> Match {
            isAllowed ? .route(route) : .methodNotAllowed(allowed: [allowed])
        }
        switch segments.count {
        case 0:
            if get { return .route(.schedulerLocation) }
            if post { return .route(.submit) }
            return .methodNotAllowed(allowed: ["GET", "POST"])
        case 1:
            switch segments[0] {
            case "timestamp": return only(get, "GET", .timestamp)
            case "health": return only(get, "GET", .health)
            case "metrics": return only(get, "GET", .metrics)
            case "peers": return only(get, "GET", .peers)
            case "graphql": return only(post, "POST", .graphql)
            case "dry-run": return only(post, "POST", .dryRun)
            // Fixed first segments of two-segment routes, with the id missing: not an SU id lookup.
            case "processes", "result", "results", "state", "cron", "raw", "items", "attestation": return .notFound
            default: return only(get, "GET", .suLookup(id: segments[0]))
            }
        case 2:
            let (first, second) = (segments[0], segments[1])
            switch first {
            case "processes": return only(get, "GET", .processInfo(process: second))
            case "result": return only(get, "GET", .result(message: second))
            case "results": return only(get, "GET", .results(process: second))
            case "state": return only(get, "GET", .state(process: second))
            case "cron": return only(get, "GET", .cron(process: second))
            case "raw": return only(get, "GET", .raw(id: second))
            case "items": return only(get, "GET", .item(id: second))
            case "attestation": return only(get, "GET", .attestation(message: second))
            default:
                if second == "latest" { return only(get, "GET", .latest(process: first)) }
                return .notFound
            }
        case 3:
            if segments[0] == "processes", segments[2] == "scheduler" {
                return only(get, "GET", .schedulerGroup(process: segments[1]))
            }
            return .notFound
        default:
            return .notFound
        }
    }

    /// A short name for logs and metrics labels.
    public var name: String {
        switch self {
        case .schedulerLocation: "scheduler_location"
        case .submit: "submit"
        case .timestamp: "timestamp"
        case .suLookup: "su_lookup"
        case .latest: "latest"
        case .processInfo: "process_info"
        case .result: "result"
        case .results: "results"
        case .dryRun: "dry_run"
        case .state: "state"
        case .cron: "cron"
        case .raw: "raw"
        case .item: "item"
        case .graphql: "graphql"
        case .health: "health"
        case .metrics: "metrics"
        case .peers: "peers"
        case .schedulerGroup: "scheduler_group"
        case .attestation: "attestation"
        }
    }
}

/// A parsed, bounded query string. Names and values are percent-decoded (`+` is a space, as in forms);
/// a name without `=` (e.g. `base-layer`) has the value "". The first occurrence of a name wins.
public struct QueryParameters: Sendable, Equatable {
    public private(set) var pairs: [(name: String, value: String)] = []

    public static func == (l: Self, r: Self) -> Bool {
        l.pairs.map { [$0.name, $0.value] } == r.pairs.map { [$0.name, $0.value] }
    }

    public init() {}

    /// Parses `query` (the text after `?`, possibly nil). Throws 414 past `HTTPLimits.queryBytesMax` or
    /// `queryParametersMax`, and 400 on bad percent-encoding or invalid UTF-8.
    public init(parsing query: String?) throws(APIError) {
        guard let query, !query.isEmpty else { return }
        guard query.utf8.count <= HTTPLimits.queryBytesMax else {
            throw .queryTooLarge("The query string is longer than \(HTTPLimits.queryBytesMax) bytes.")
        }
        let parts = query.split(separator: "&", omittingEmptySubsequences: true)
        guard parts.count <= HTTPLimits.queryParametersMax else {
            throw .queryTooLarge("The query string has more than \(HTTPLimits.queryParametersMax) parameters.")
        }
        for part in parts {
            let name: Substring, value: Substring
            if let eq = part.firstIndex(of: "=") {
                name = part[..<eq]; value = part[part.index(after: eq)...]
            } else {
                name = part; value = ""
            }
            guard let n = Self.percentDecode(name), let v = Self.percentDecode(value) else {
                throw .invalidQuery("The query string has invalid percent-encoding near \(APIError.quoteShort(String(part))).")
            }
            pairs.append((n, v))
        }
    }

    public subscript(name: String) -> String? { pairs.first { $0.name == name }?.value }
    public func has(_ name: String) -> Bool { pairs.contains { $0.name == name } }

    static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var it = Array(text.utf8)[...]
        while let c = it.popFirst() {
            switch c {
            case UInt8(ascii: "+"): bytes.append(0x20)
            case UInt8(ascii: "%"):
                guard it.count >= 2, let byte = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else {
                    return nil
                }
                bytes.append(byte); it = it.dropFirst(2)
            default: bytes.append(c)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    // MARK: typed accessors (each throws a 400 naming the parameter)

    /// An optional 43-character id.
    func id(_ name: String) throws(APIError) -> ID32? {
        guard let text = self[name] else { return nil }
        guard let id = ID32(base64URL: text) else { throw .invalidID(name, text) }
        return id
    }

    /// A required 43-character id.
    func requiredID(_ name: String) throws(APIError) -> ID32 {
        guard let id = try id(name) else { throw .missingParameter(name) }
        return id
    }

    /// An optional unsigned decimal integer (ms timestamps, nonces).
    func unsigned(_ name: String) throws(APIError) -> UInt64? {
        guard let text = self[name] else { return nil }
        guard !text.isEmpty, text.utf8.allSatisfy({ (48...57).contains($0) }), let v = UInt64(text) else {
            throw .invalidQuery("\(name) must be a non-negative decimal integer, got \(APIError.quoteShort(text)).")
        }
        return v
    }

    /// An optional page size in 1...max, or `defaultValue` when absent.
    func limit(_ name: String = "limit", default defaultValue: Int, max: Int) throws(APIError) -> Int {
        guard let v = try unsigned(name) else { return defaultValue }
        guard v >= 1, v <= UInt64(max) else { throw .invalidQuery("\(name) must be between 1 and \(max), got \(v).") }
        return Int(v)
    }
}

/// Parses a path segment as an id, or throws 400 `invalid_id` naming what it should be.
func pathID(_ text: String, _ what: String) throws(APIError) -> ID32 {
    guard let id = ID32(base64URL: text) else { throw .invalidID(what, text) }
    return id
}
