import AOCore
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// Translates HTTP requests into `NodeQueries` calls and their answers into AO's JSON shapes. No node logic here:
/// parse and bound the input, call the node, render the value, map rejections to JSON errors.
struct APIResponder<Queries: NodeQueries>: HTTPResponder {
    typealias Context = APIRequestContext

    let queries: Queries
    let settings: HTTPServerSettings
    let logger: Logger
    let submitLimiter: RateLimiter?
    let dryRunLimiter: RateLimiter?
    let counters: HTTPCounters

    init(queries: Queries, settings: HTTPServerSettings, logger: Logger, counters: HTTPCounters) {
        self.queries = queries
        self.counters = counters
        self.settings = settings
        self.logger = logger
        submitLimiter = settings.submitRateLimit.map { RateLimiter(settings: $0) }
        dryRunLimiter = settings.dryRunRateLimit.map { RateLimiter(settings: $0) }
    }

    /// A request body bigger than the limit by more than this is not drained: the connection stops reading and
    /// closes after the error answer, so an oversize upload cannot keep the server busy.
    static var drainBytesMax: Int { 64 * 1024 }

    func respond(to request: Request, context: Context) async throws -> Response {
        var response = Response(status: .internalServerError)
        var failure: APIError? = nil
        let matched = Route.match(method: request.method.rawValue, path: request.uri.path)
        do {
            response = try await route(request, context: context)
        } catch let error as APIError {
            failure = error
        } catch let error as NodeQueryError {
            failure = .from(error)
        } catch is CancellationError {
            failure = .timedOut
        } catch {
            logger.warning("node query failed", metadata: ["http.path": "\(request.uri.path)", "error": "\(error)"])
            failure = .internalError
        }
        if let failure {
            if failure.status >= 500 {
                logger.info("http error", metadata: ["http.path": "\(request.uri.path)", "error": "\(failure)"])
            }
            response = errorResponse(failure)
        }
        let routeName: String
        switch matched {
        case .route(let r): routeName = r.name
        case .methodNotAllowed: routeName = "method_not_allowed"
        case .notFound: routeName = "unmatched"
        }
        counters.count(route: routeName, status: response.status.code,
                       errorCode: failure?.code ?? (response.status.code == 405 ? "method_not_allowed" : nil))
        if let origin = settings.corsAllowOrigin { response.headers[.accessControlAllowOrigin] = origin }
        if request.method == .head {
            response.body = ResponseBody()
        } else {
            response.body = withWriteDeadline(response.body, channel: context.channel)
        }
        return response
    }

    // MARK: plumbing

    func errorResponse(_ error: APIError) -> Response {
        var response = json(error.json, status: error.status)
        if let s = error.retryAfterSeconds { response.headers[.retryAfter] = String(max(HTTPLimits.retryAfterSecondsMin, s)) }
        return response
    }

    func json(_ value: JSONValue, status: Int = 200) -> Response {
        bytes(value.serializedBytes, contentType: "application/json; charset=utf-8", status: status)
    }

    /// A buffered response. `respond` writes it under `responseWriteTimeout`.
    func bytes(_ body: [UInt8], contentType: String, status: Int = 200, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: contentType]
        headers.append(contentsOf: extra)
        return Response(status: .init(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Wraps a body so that a client that does not read it within `responseWriteTimeout` loses its connection
    /// (the idle timeout does not run while a response is being written).
    func withWriteDeadline(_ body: ResponseBody, channel: any Channel) -> ResponseBody {
        let timeout = TimeAmount.nanoseconds(Int64(settings.responseWriteTimeout.nanoseconds))
        return ResponseBody(contentLength: body.contentLength) { writer in
            let scheduled = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
            defer { scheduled.cancel() }
            let copy = body
            try await copy.write(writer)
        }
    }

    /// Reads the whole body, at most `limit` bytes, within `bodyReadTimeout`.
    func readBody(_ request: Request, context: Context, limit: Int) async throws -> [UInt8] {
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        if let declared, declared > limit {
            if declared - limit > Self.drainBytesMax { context.channel.close(mode: .input, promise: nil) }
            throw APIError.bodyTooLarge(limit: limit)
        }
        let timedOut = Atomic<Bool>(false)
        let channel = context.channel
        let deadline = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(settings.bodyReadTimeout.nanoseconds))) {
            timedOut.store(true, ordering: .sequentiallyConsistent)
            channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        var out: [UInt8] = []
        out.reserveCapacity(min(declared ?? 0, limit))
        do {
            for try await chunk in request.body {
                guard out.count + chunk.readableBytes <= limit else {
                    if declared == nil || declared! - out.count > Self.drainBytesMax {
                        channel.close(mode: .input, promise: nil)
                    }
                    throw APIError.bodyTooLarge(limit: limit)
                }
                out.append(contentsOf: chunk.readableBytesView)
            }
        } catch let error as APIError {
            throw error
        } catch {
            if timedOut.load(ordering: .sequentiallyConsistent) { throw APIError.requestTimeout }
            throw APIError.invalidBody("The request body could not be read.")
        }
        if timedOut.load(ordering: .sequentiallyConsistent) { throw APIError.requestTimeout }
        if let declared, declared != out.count { throw APIError.invalidBody("The request body ended early.") }
        return out
    }

    /// Calls the node under the handler timeout.
    func node<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withDeadline(settings.handlerTimeout, operation)
    }

    func rateLimit(_ limiter: RateLimiter?, _ context: Context) throws(APIError) {
        guard let limiter else { return }
        if case .refused(let ns) = limiter.check(client: context.remoteHost) {
            let seconds = Int((Double(ns) / 1e9).rounded(.up))
            throw .rateLimited(retryAfterSeconds: max(HTTPLimits.retryAfterSecondsMin, seconds))
        }
    }

    // MARK: routing

    func route(_ request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        guard path.utf8.count <= HTTPLimits.pathBytesMax else {
            throw APIError.queryTooLarge("The path is longer than \(HTTPLimits.pathBytesMax) bytes.")
        }
        if request.method == .options { return preflight() }
        let query = try QueryParameters(parsing: request.uri.query)
        switch Route.match(method: request.method.rawValue, path: path) {
        case .notFound: throw APIError.routeNotFound(path)
        case .methodNotAllowed(let allowed):
            var r = errorResponse(.methodNotAllowed(request.method.rawValue, allowed: allowed))
            r.headers[.allow] = allowed.joined(separator: ", ")
            return r
        case .route(let route):
            switch route {
            case .submit, .dryRun, .graphql: break  // they read their body under their own limit
            default:
                // No other route reads a body; a big one is refused rather than drained.
                if let declared = request.headers[.contentLength].flatMap(Int.init), declared > HTTPLimits.otherBodyBytesMax {
                    context.channel.close(mode: .input, promise: nil)
                    throw APIError.bodyTooLarge(limit: HTTPLimits.otherBodyBytesMax)
                }
                if request.headers[.transferEncoding] != nil { context.channel.close(mode: .input, promise: nil) }
            }
            return try await handle(route, request: request, query: query, context: context)
        }
    }

    func preflight() -> Response {
        var r = Response(status: .noContent)
        r.headers[.accessControlAllowMethods] = "GET, POST, OPTIONS"
        r.headers[.accessControlAllowHeaders] = "Content-Type, Accept, X-Max-Age"
        r.headers[.accessControlMaxAge] = "86400"
        return r
    }

    func handle(_ route: Route, request: Request, query: QueryParameters, context: Context) async throws -> Response {
        let q = queries
        switch route {
        case .submit:
            return try await submit(request, query: query, context: context)

        case .schedulerLocation:
            let process = try query.id("process-id").map(ProcessID.init(raw:))
            let location = try await node { try await q.schedulerLocation(process: process) }
            if let base = location.redirectBaseURL {
                var trimmed = base
                while trimmed.hasSuffix("/") { trimmed.removeLast() }
                return Response(status: .temporaryRedirect, headers: [.location: trimmed + request.uri.string])
            }
            return json(AOShapes.schedulerLocation(location))

        case .timestamp:
            let process = try query.id("process-id").map(ProcessID.init(raw:))
            return json(AOShapes.schedulerClock(try await node { try await q.currentTime(process: process) }))

        case .suLookup(let idText):
            return try await suLookup(idText, query: query)

        case .latest(let text):
            let process = ProcessID(raw: try pathID(text, "process id"))
            guard let entry = try await node({ try await q.latestAssignment(process: process) }) else {
                throw APIError(status: 404, code: "not_found", message: "Latest message not available")
            }
            return json(AOShapes.suEntry(entry, showAnchor: query.has("show-anchor")))

        case .processInfo(let text):
            let process = ProcessID(raw: try pathID(text, "process id"))
            guard let info = try await node({ try await q.processInfo(process: process) }) else {
                throw APIError.from(.unknownProcess(process))
            }
            return json(AOShapes.processInfo(info))

        case .result(let text):
            let message = MessageID(raw: try pathID(text, "message id"))
            let process = ProcessID(raw: try query.requiredID("process-id"))
            return json(AOShapes.result(try await node { try await q.result(message: message, process: process) }))

        case .results(let text):
            let process = ProcessID(raw: try pathID(text, "process id"))
            let rq = try resultsQuery(process, query, cron: false)
            return json(AOShapes.resultsConnection(try await node { try await q.results(rq) }, sort: rq.sort))

        case .cron(let text):
            let process = ProcessID(raw: try pathID(text, "process id"))
            let rq = try resultsQuery(process, query, cron: true)
            return json(AOShapes.resultsConnection(try await node { try await q.cronResults(rq) }, sort: .ascending))

        case .dryRun:
            try rateLimit(dryRunLimiter, context)
            let process = ProcessID(raw: try query.requiredID("process-id"))
            let to = try query.id("to").map(MessageID.init(raw:))
            var maxAge: UInt64? = nil
            if let text = request.headers[.init("X-Max-Age")!] {
                guard let v = UInt64(text) else { throw APIError.invalidQuery("X-Max-Age must be a whole number of ms.") }
                maxAge = v
            }
            let body = try await readBody(request, context: context, limit: HTTPLimits.dryRunBodyBytesMax)
            let message = try DryRunBody.parse(body)
            let dr = DryRunRequest(process: process, to: to, maxAgeMs: maxAge, message: message)
            return json(AOShapes.result(try await node { try await q.dryRun(dr) }))

        case .state(let text):
            let process = ProcessID(raw: try pathID(text, "process id"))
            let to = try query.unsigned("to")
            let snapshot = try await node { try await q.state(process: process, to: to) }
            return bytes(snapshot.memory, contentType: "application/octet-stream", headers: [
                .init("Last-Timestamp")!: String(snapshot.timestamp),
                .init("Last-Ordinate")!: snapshot.ordinate,
                .init("Last-Block-Height")!: String(snapshot.blockHeight),
            ])

        case .raw(let text), .item(let text):
            let id = MessageID(raw: try pathID(text, "id"))
            guard let stored = try await node({ try await q.storedItem(id: id) }) else {
                throw APIError.from(.notFound("No item \(id.base64URL) on this node."))
            }
            if case .item = route { return bytes(stored.bytes, contentType: "application/octet-stream") }
            let type = stored.view.tags.first { $0.nameString.lowercased() == "content-type" }?.valueString
            let safeType = type.flatMap { t in t.utf8.count <= 256 && t.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F } ? t : nil }
            return bytes(stored.view.data, contentType: safeType ?? "application/octet-stream")

        case .graphql:
            let body = try await readBody(request, context: context, limit: HTTPLimits.graphqlBodyBytesMax)
            return try await graphql(body)

        case .health:
            let report = try await node { await q.health() }
            return json(AOShapes.health(report), status: report.healthy ? 200 : 503)

        case .metrics:
            let text = try await node { await q.metricsText() } + counters.prometheusText
            return bytes(Array(text.utf8), contentType: "text/plain; version=0.0.4; charset=utf-8")

        case .peers:
            return json(AOShapes.peers(try await node { try await q.peers() }))

        case .schedulerGroup(let text):
            let process = ProcessID(raw: try pathID(text, "process id"))
            return json(AOShapes.schedulerGroup(try await node { try await q.schedulerGroup(process: process) }))

        case .attestation(let text):
            let message = MessageID(raw: try pathID(text, "message id"))
            let process = ProcessID(raw: try query.requiredID("process-id"))
            let (attestations, result) = try await node {
                (try await q.attestations(message: message, process: process),
                 try await q.attestedResultBytes(message: message, process: process))
            }
            return json(AOShapes.attestations(attestations, result: result))
        }
    }

    // MARK: POST /

    func submit(_ request: Request, query: QueryParameters, context: Context) async throws -> Response {
        try rateLimit(submitLimiter, context)
        let q = queries
        let processParam = query["process-id"], assignParam = query["assign"]
        if processParam != nil || assignParam != nil {
            guard processParam != nil, assignParam != nil else {
                throw APIError(status: 400, code: "missing_parameter",
                               message: "If sending assign or process-id, you must send both.")
            }
            let process = ProcessID(raw: try query.requiredID("process-id"))
            let message = MessageID(raw: try query.requiredID("assign"))
            let exclude = (query["exclude"] ?? "").split(separator: ",").map { String($0) }.filter { !$0.isEmpty }
            guard exclude.count <= 16 else { throw APIError.invalidQuery("exclude lists at most 16 fields.") }
            let ar = AssignRequest(process: process, message: message, baseLayer: query.has("base-layer"), exclude: exclude)
            let receipt = try await node { try await q.assign(ar) }
            return json(AOShapes.submitReceipt(receipt), status: 202)
        }
        let body = try await readBody(request, context: context, limit: settings.submitBodyBytesMax)
        guard !body.isEmpty else { throw APIError.invalidBody("POST / needs a binary ANS-104 data item as its body.") }
        let receipt = try await node { try await q.submit(item: body) }
        return json(AOShapes.submitReceipt(receipt), status: 202)
    }

    // MARK: SU GET /{id}

    func suLookup(_ idText: String, query: QueryParameters) async throws -> Response {
        let q = queries
        let id = try pathID(idText, "id")
        // `process-id` (AO's SU) or `proc-id` (HyperBEAM); both optional here, as older SUs had it.
        let hint = try (query.id("process-id") ?? query.id("proc-id")).map(ProcessID.init(raw:))
        let showAnchor = query.has("show-anchor")
        let nonceMode = query.has("from-nonce") || query.has("to-nonce")
        // Parse paging first: a malformed query is a 400 even when the id turns out to be a message.
        let range: AssignmentQuery.Range
        if nonceMode {
            var after: Int64? = nil
            if let text = query["from-nonce"] {
                guard let v = Int64(text), v >= -1 else {
                    throw APIError.invalidQuery("from-nonce must be -1 or a non-negative integer, got \(APIError.quoteShort(text)).")
                }
                after = v
            }
            range = .nonce(after: after, through: try query.unsigned("to-nonce"))
        } else {
            range = .timestamp(after: try query.unsigned("from"), through: try query.unsigned("to"))
        }
        let limit = try query.limit(default: HTTPLimits.assignmentPageLimitDefault, max: HTTPLimits.assignmentPageLimitMax)

        if let entry = try await node({ try await q.scheduledEntry(id: id, process: hint) }) {
            return json(AOShapes.suEntry(entry, showAnchor: showAnchor))
        }
        let aq = AssignmentQuery(process: ProcessID(raw: id), range: range, limit: limit)
        let page: AssignmentPage
        do {
            page = try await node { try await q.assignments(aq) }
        } catch let e as NodeQueryError where e.kind == .unknownProcess {
            throw APIError(status: 404, code: "not_found", message: "Message or Process not found")
        }
        guard page.entries.count <= limit else {
            logger.warning("node returned more entries than the limit", metadata: ["process.id": "\(aq.process)"])
            throw APIError.internalError
        }
        do {
            return json(try AOShapes.suPage(page, nonceMode: nonceMode, showAnchor: showAnchor))
        } catch {
            logger.warning("assignment without Nonce/Timestamp tag", metadata: ["process.id": "\(aq.process)"])
            throw APIError.internalError
        }
    }

    // MARK: CU paging

    func resultsQuery(_ process: ProcessID, _ query: QueryParameters, cron: Bool) throws(APIError) -> ResultsQuery {
        func cursor(_ name: String) throws(APIError) -> ResultsCursor? {
            guard let text = query[name] else { return nil }
            guard let c = AOShapes.decodeCursor(text) else {
                throw .invalidQuery("\(name) must be a cursor from a previous page or a timestamp in ms.")
            }
            return c
        }
        let from = try cursor("from"), to = try cursor("to")
        var sort = SortOrder.ascending
        if !cron, let text = query["sort"] {
            guard let s = SortOrder(rawValue: text.uppercased()) else { throw .invalidQuery("sort must be ASC or DESC.") }
            sort = s
        }
        // A sort stored in the cursor wins over the parameter (AO's CU); /cron is always ascending.
        if !cron, let s = from?.sort ?? to?.sort { sort = s }
        let limit = cron
            ? try query.limit(default: HTTPLimits.cronPageLimitDefault, max: HTTPLimits.cronPageLimitMax)
            : try query.limit(default: HTTPLimits.resultsPageLimitDefault, max: HTTPLimits.resultsPageLimitMax)
        return ResultsQuery(process: process, from: from, to: to, sort: sort, limit: limit)
    }

    // MARK: GraphQL

    func graphql(_ body: [UInt8]) async throws -> Response {
        func failure(_ message: String) -> Response {
            // Both our error shape and GraphQL's `errors` list, so either kind of client reads it.
            json(.object([("error", .object([("code", "graphql_error"), ("message", .string(message))])),
                          ("errors", .array([.object([("message", .string(message))])]))]), status: 400)
        }
        let request: JSONValue
        do { request = try JSONValue.parse(body) } catch { return failure("The body must be JSON: \(error.description).") }
        guard case .string(let text)? = request["query"] else { return failure("The body needs a \"query\" string.") }
        let variables = request["variables"]
        if let v = variables, !v.isNull, !({ if case .object = v { return true }; return false }()) {
            return failure("\"variables\" must be an object.")
        }
        var out: [(String, JSONValue)] = []
        do {
            let op = try GraphQL.parse(text)
            for field in op.selections {
                var args: [(String, JSONValue)] = []
                for (n, v) in field.arguments {
                    args.append((n, try GraphQL.resolve(v, variables: variables, defaults: op.variableDefaults)))
                }
                switch field.name {
                case "__typename":
                    out.append((field.responseKey, "Query"))
                case "transactions":
                    let tq = try GraphQL.transactionsQuery(args)
                    let q = queries
                    let page = try await node { try await q.transactions(tq) }
                    out.append((field.responseKey, try GraphQL.project(GraphQL.connection(page), field.selections,
                                                                       typePath: "transactions")))
                case "transaction":
                    guard args.count == 1, args[0].0 == "id", case .string(let idText) = args[0].1,
                          let id = MessageID(base64URL: idText) else {
                        throw GraphQL.Failure(message: "transaction takes one argument, id: a 43-character id.")
                    }
                    let q = queries
                    let page = try await node { try await q.transactions(TransactionsQuery(ids: [id], first: 1)) }
                    let node = page.edges.first.map { GraphQL.transactionNode($0) } ?? .null
                    out.append((field.responseKey, try GraphQL.project(node, field.selections, typePath: "transaction")))
                default:
                    throw GraphQL.Failure(message: "Cannot query field \(APIError.quoteShort(field.name)) on Query "
                                          + "(supported: transactions, transaction).")
                }
            }
        } catch let f as GraphQL.Failure {
            return failure(f.message)
        }
        return json(.object([("data", .object(out))]))
    }
}

/// Parses AO's dry-run body: `{Id, Signature, Owner, Target, Data, Anchor, Tags:[{name,value}], Timestamp,
/// Block-Height}`, all optional; unknown keys are dropped (the CU's strict message schema strips them).
enum DryRunBody {
    static func parse(_ body: [UInt8]) throws(APIError) -> DryRunMessage {
        let value: JSONValue
        do { value = try JSONValue.parse(body) } catch { throw .invalidBody("The dry-run body must be JSON: \(error.description).") }
        guard case .object(let pairs) = value else { throw .invalidBody("The dry-run body must be a JSON object.") }
        var m = DryRunMessage()
        func string(_ key: String, _ v: JSONValue) throws(APIError) -> String? {
            switch v {
            case .null: return nil
            case .string(let s): return s
            case .integer(let i): return String(i)
            default: throw .invalidBody("\(key) must be a string.")
            }
        }
        func number(_ key: String, _ v: JSONValue) throws(APIError) -> UInt64? {
            switch v {
            case .null: return nil
            case .integer(let i) where i >= 0: return UInt64(i)
            case .string(let s): if let n = UInt64(s) { return n }
            default: break
            }
            throw .invalidBody("\(key) must be a non-negative integer.")
        }
        for (key, v) in pairs {
            switch key {
            case "Id": m.id = try string(key, v)
            case "Signature": m.signature = try string(key, v)
            case "Owner": m.owner = try string(key, v)
            case "Target": m.target = try string(key, v)
            case "Data": m.data = try string(key, v)
            case "Anchor": m.anchor = try string(key, v)
            case "Timestamp": m.timestamp = try number(key, v)
            case "Block-Height": m.blockHeight = try number(key, v)
            case "Tags":
                if v.isNull { continue }
                guard case .array(let items) = v else { throw .invalidBody("Tags must be a list of {name, value}.") }
                guard items.count <= HTTPLimits.dryRunTagsCountMax else {
                    throw .invalidBody("Tags has more than \(HTTPLimits.dryRunTagsCountMax) entries.")
                }
                for item in items {
                    guard case .string(let n)? = item["name"], case .string(let val)? = item["value"] else {
                        throw .invalidBody("Each tag must be {\"name\": string, \"value\": string}.")
                    }
                    m.tags.append(Tag(n, val))
                }
            default: continue
            }
        }
        return m
    }
}
