import Synchronization

/// Per-client token buckets (pure: time is an input, in nanoseconds on any monotonic clock).
///
/// Each client key (the remote IP address) has a bucket of `burst` tokens that refills at `ratePerSecond`. A request
/// takes one token; with none left it is refused with the time until the next token. The table holds at most
/// `clientsMax` buckets: when a new client would exceed it, buckets that have refilled completely are dropped
/// (forgetting them changes nothing), then the least recently seen ones.
public struct TokenBucketTable: Sendable {
    public struct Settings: Sendable, Equatable {
        /// Sustained requests per second per client.
        public var ratePerSecond: Double
        /// Requests a client may make at once after being idle.
        public var burst: Double
        public init(ratePerSecond: Double, burst: Double) {
            precondition(ratePerSecond > 0 && burst >= 1, "rate limit needs ratePerSecond > 0 and burst >= 1")
            self.ratePerSecond = ratePerSecond; self.burst = burst
        }
    }

    public enum Decision: Sendable, Equatable {
        case allowed
        /// Refused; a token is available again after this many nanoseconds.
        case refused(retryAfterNanoseconds: UInt64)
    }

    struct Bucket: Sendable { var tokens: Double; var updatedNanoseconds: UInt64 }

    public let settings: Settings
    public let clientsMax: Int
    private(set) var buckets: [String: Bucket] = [:]

    public init(settings: Settings, clientsMax: Int = HTTPLimits.rateLimitClientsMax) {
        precondition(clientsMax >= 1)
        self.settings = settings; self.clientsMax = clientsMax
    }

    public var clientCount: Int { buckets.count }

    /// MUST be called once per request subject to the limit; `nowNanoseconds` never decreases between calls.
    public mutating func onRequest(client: String, nowNanoseconds now: UInt64) -> Decision {
        var bucket = buckets[client] ?? Bucket(tokens: settings.burst, updatedNanoseconds: now)
        let elapsed = Double(now &- min(now, bucket.updatedNanoseconds)) / 1e9
        bucket.tokens = min(settings.burst, bucket.tokens + elapsed * settings.ratePerSecond)
        bucket.updatedNanoseconds = now
        let decision: Decision
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            decision = .allowed
        } else {
            let wait = (1 - bucket.tokens) / settings.ratePerSecond
            decision = .refused(retryAfterNanoseconds: UInt64((wait * 1e9).rounded(.up)))
        }
        if buckets[client] == nil, buckets.count >= clientsMax { evict(now: now) }
        buckets[client] = bucket
        return decision
    }

    private mutating func evict(now: UInt64) {
        // Full buckets carry no information: a new bucket for that client would be full too.
        buckets = buckets.filter { _, b in
            b.tokens + Double(now &- min(now, b.updatedNanoseconds)) / 1e9 * settings.ratePerSecond < settings.burst
        }
        if buckets.count >= clientsMax {
            let excess = buckets.count - clientsMax + 1
            let oldest = buckets.sorted { $0.value.updatedNanoseconds < $1.value.updatedNanoseconds }.prefix(excess)
            for (key, _) in oldest { buckets[key] = nil }
        }
    }
}

/// The shared, locked token-bucket table the server uses (one per limited route class).
final class RateLimiter: Sendable {
    private let table: Mutex<TokenBucketTable>
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant

    init(settings: TokenBucketTable.Settings, clientsMax: Int = HTTPLimits.rateLimitClientsMax) {
        table = Mutex(TokenBucketTable(settings: settings, clientsMax: clientsMax))
        start = clock.now
    }

    func check(client: String) -> TokenBucketTable.Decision {
        let elapsed = clock.now - start
        let (seconds, attoseconds) = elapsed.components
        let now = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
        return table.withLock { $0.onRequest(client: client, nowNanoseconds: now) }
    }
}

/// Request counters of the HTTP layer: answers per (route, status) and errors per code. The node shell owns
/// metrics (CONVENTIONS C14); `GET /metrics` appends these to the node's own text so bad input is counted, not
/// only logged. Bounded: routes, statuses and codes are fixed sets.
public final class HTTPCounters: Sendable {
    private let state = Mutex<(answers: [String: UInt64], errors: [String: UInt64])>(([:], [:]))

    public init() {}

    func count(route: String, status: Int, errorCode: String?) {
        state.withLock { s in
            s.answers["\(route)|\(status)", default: 0] += 1
            if let errorCode { s.errors[errorCode, default: 0] += 1 }
        }
    }

    /// (route, status, count) in a stable order.
    public var answers: [(route: String, status: Int, count: UInt64)] {
        state.withLock { $0.answers }.sorted { $0.key < $1.key }.map { key, n in
            let parts = key.split(separator: "|")
            return (String(parts[0]), Int(parts[1]) ?? 0, n)
        }
    }

    /// Errors per stable code, in a stable order.
    public var errors: [(code: String, count: UInt64)] {
        state.withLock { $0.errors }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Prometheus text exposition of both counters.
    public var prometheusText: String {
        var out = "# HELP aonode_http_responses_total HTTP answers by route and status.\n"
        out += "# TYPE aonode_http_responses_total counter\n"
        for a in answers { out += "aonode_http_responses_total{route=\"\(a.route)\",status=\"\(a.status)\"} \(a.count)\n" }
        out += "# HELP aonode_http_errors_total HTTP error answers by stable error code.\n"
        out += "# TYPE aonode_http_errors_total counter\n"
        for e in errors { out += "aonode_http_errors_total{code=\"\(e.code)\"} \(e.count)\n" }
        return out
    }
}
