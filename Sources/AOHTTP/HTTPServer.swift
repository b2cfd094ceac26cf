import AOCore
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// Settings an operator may change. Defaults are safe for a public node.
public struct HTTPServerSettings: Sendable {
    /// Address to bind. Tests use 127.0.0.1 with port 0 (an ephemeral port; `AOHTTPServer.run(onListening:)` tells
    /// which).
    public var host: String = "127.0.0.1"
    public var port: Int = 0
    /// Body limit of `POST /` (data items of every kind, modules included).
    public var submitBodyBytesMax: Int = HTTPLimits.submitBodyBytesDefault
    /// Token bucket per remote address on `POST /`; nil disables it (a trusted, private node).
    /// Default: 20 items/s sustained, bursts of 100 (aoconnect scripts send bursts; a flood is still bounded).
    public var submitRateLimit: TokenBucketTable.Settings? = .init(ratePerSecond: 20, burst: 100)
    /// Token bucket per remote address on `POST /dry-run` (each one is a WASM evaluation). AO's CU answers 429 too.
    public var dryRunRateLimit: TokenBucketTable.Settings? = .init(ratePerSecond: 5, burst: 20)
    /// A connection with no complete request part for this long is closed (covers clients that trickle headers).
    public var idleTimeout: Duration = .seconds(30)
    /// The whole request body must arrive within this time after the handler starts reading it, else the
    /// connection is closed (covers clients that trickle a body: the idle timeout resets on every chunk).
    public var bodyReadTimeout: Duration = .seconds(30)
    /// A node query taking longer is abandoned (cancelled) and the client gets 503 `timed_out`.
    public var handlerTimeout: Duration = .seconds(60)
    /// A response the client does not read within this time is dropped with the connection.
    public var responseWriteTimeout: Duration = .seconds(60)
    /// Open connections at most; more wait in the listen backlog. Bounds file descriptors and memory.
    public var connectionsMax: Int = 1024
    /// `Access-Control-Allow-Origin` on every answer (AO's SU allows any origin; browsers run aoconnect). nil: none.
    public var corsAllowOrigin: String? = "*"

    public init() {}
}

/// The request context: Hummingbird's core storage plus the connection, for the client's address and for closing
/// a connection that misbehaves.
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The rate-limit key: the peer's IP address (without port). Behind a reverse proxy all clients share one key;
    /// such a deployment should set the limits on the proxy.
    var remoteHost: String { channel.remoteAddress?.ipAddress ?? "unknown" }
}

/// The HTTP API server: a Hummingbird application over a `NodeQueries`.
///
/// ```swift
/// let server = AOHTTPServer(queries: node, settings: settings, logger: logger)
/// try await server.run { port in print("listening on \(port)") }   // until the task is cancelled
/// ```
/// It conforms to swift-service-lifecycle's `Service` through `application`, so the node shell may put
/// `server.application` into its own `ServiceGroup` for graceful shutdown instead of calling `run`.
public struct AOHTTPServer<Queries: NodeQueries>: Sendable {
    public let settings: HTTPServerSettings
    let api: APIResponder<Queries>
    let logger: Logger
    /// Answers per route and status, errors per code; also appended to `GET /metrics`.
    public let counters = HTTPCounters()

    public init(queries: Queries, settings: HTTPServerSettings = .init(), logger: Logger = Logger(label: "aonode.http")) {
        self.settings = settings
        self.logger = logger
        self.api = APIResponder(queries: queries, settings: settings, logger: logger, counters: counters)
    }

    /// The Hummingbird application. `onListening` receives the bound port once the server accepts connections.
    public func application(onListening: @escaping @Sendable (Int) async -> Void = { _ in })
        -> some ApplicationProtocol
    {
        var http1 = HTTP1Channel.Configuration(idleTimeout: .nanoseconds(Int64(settings.idleTimeout.nanoseconds)))
        http1.httpDecoder = .init(maxHeaderFieldSize: HTTPLimits.headerBytesMax, maxHeaderListSize: HTTPLimits.headerBytesMax,
                                  maxHeaderFieldCount: HTTPLimits.headerFieldsMax)
        return Application(
            responder: api,
            server: .http1(configuration: http1),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "aonode",
                                 availableConnectionsDelegate: MaximumAvailableConnections(settings.connectionsMax)),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Runs the server until the calling task is cancelled or the process gets SIGINT/SIGTERM.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await application(onListening: onListening).runService()
    }

    /// Runs the server until the calling task is cancelled, without installing signal handlers: for a host (the
    /// node) that handles SIGINT/SIGTERM itself and shuts the server down as one step of its own graceful stop.
    public func runUntilCancelled(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await application(onListening: onListening).run()
    }
}

extension Duration {
    var nanoseconds: UInt64 {
        let (s, atto) = components
        return UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
    }
}

/// Runs `operation` with a deadline. On timeout the operation's task is cancelled and `APIError.timedOut` is thrown
/// at once, without waiting for an operation that ignores cancellation (a stuck node call must not hold the
/// request). Cancelling the caller cancels the operation.
func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.state.withLock { $0.continuation = continuation }
            let work = Task {
                do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
            }
            let timer = Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { race.finish(.failure(APIError.timedOut)) }
            }
            let alreadyDone = race.state.withLock { s -> Bool in
                s.work = work; s.timer = timer
                return s.continuation == nil
            }
            if alreadyDone { timer.cancel() }
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The shared state of one `withDeadline` race: whoever finishes first resumes the caller.
private final class DeadlineRace<T: Sendable>: Sendable {
    let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, work: Task<Void, Never>?, timer: Task<Void, Never>?)>(
        (nil, nil, nil))
    /// Resumes once; returns false if already resumed.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (c, work, timer) = state.withLock { s in
            let taken = (s.continuation, s.work, s.timer)
            s.continuation = nil
            return taken
        }
        guard let c else { return false }
        timer?.cancel()
        if case .failure = result { work?.cancel() }
        c.resume(with: result)
        return true
    }
}
