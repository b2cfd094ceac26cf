import AOCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// An HTTP client for one aonode (or any AO MU/SU/CU that speaks the same routes; docs/HTTP-API.md).
///
/// All clients share AsyncHTTPClient's process-wide `HTTPClient.shared` unless given another, so nothing needs
/// shutting down. Every call has a deadline (`timeout`, per request). Failures are `NodeClientError`s that name the
/// node's URL and carry the JSON error code and sentence the node sent.
///
/// Bodies are returned as bytes (`JSONBody`), parsed on demand with Foundation's `JSONSerialization`, so values stay
/// `Sendable` and the exact bytes a node sent are available for printing and hashing.
public struct NodeClient: Sendable {
    /// The node's base URL without a trailing slash, e.g. `http://127.0.0.1:8734`.
    public let baseURL: String
    /// Per-request deadline.
    public let timeout: Duration
    let http: HTTPClient

    /// Largest response body read (a whole module item can be big; `/state` is not fetched here).
    public static let responseBytesMax = 256 << 20

    public init(baseURL: URL, timeout: Duration = .seconds(30), httpClient: HTTPClient = .shared) {
        self.init(baseURLString: baseURL.absoluteString, timeout: timeout, httpClient: httpClient)
    }

    public init(baseURLString: String, timeout: Duration = .seconds(30), httpClient: HTTPClient = .shared) {
        var base = baseURLString
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.timeout = timeout
        self.http = httpClient
    }

    // MARK: MU / SU

    /// `POST /` with a signed ANS-104 item. The node answers once the item is durable in its store.
    public func submit(_ itemBytes: [UInt8]) async throws(NodeClientError) -> SubmitReceipt {
        let body = try await request(.POST, "/", body: itemBytes, headers: [("Content-Type", "application/octet-stream")],
                                     expect: [200, 201, 202])
        let o = try object(body, "/")
        guard let idText = o["id"] as? String, let id = MessageID(base64URL: idText) else {
            throw error(.badResponse, "/", "the receipt has no 43-character id")
        }
        return SubmitReceipt(id: id, timestamp: (o["timestamp"] as? NSNumber)?.uint64Value)
    }

    /// `GET /`: the node's scheduler address (its node id) and clock.
    public func schedulerInfo() async throws(NodeClientError) -> SchedulerInfo {
        let body = try await request(.GET, "/")
        let o = try object(body, "/")
        guard let a = o["address"] as? String, let address = Address(base64URL: a) else {
            throw error(.badResponse, "/", "no 43-character address")
        }
        let ts = (o["timestamp"] as? String).flatMap(UInt64.init) ?? (o["timestamp"] as? NSNumber)?.uint64Value
        return SchedulerInfo(address: address, timestamp: ts)
    }

    /// `GET /processes/{process}`: the process item as the SU shows it.
    public func processInfo(_ process: ProcessID) async throws(NodeClientError) -> JSONBody {
        try await request(.GET, "/processes/\(process.base64URL)")
    }

    /// `GET /{process}/latest`: the process's last scheduled entry.
    public func latest(_ process: ProcessID) async throws(NodeClientError) -> JSONBody {
        try await request(.GET, "/\(process.base64URL)/latest")
    }

    /// `GET /items/{id}`: the whole stored item in ANS-104 binary.
    public func rawItem(_ id: MessageID) async throws(NodeClientError) -> [UInt8] {
        try await request(.GET, "/items/\(id.base64URL)").bytes
    }

    // MARK: CU

    /// `GET /result/{message}?process-id=`: the result of `message` (the node evaluates on demand).
    public func result(message: MessageID, process: ProcessID) async throws(NodeClientError) -> JSONBody {
        try await request(.GET, "/result/\(message.base64URL)?process-id=\(process.base64URL)")
    }

    /// `GET /results/{process}`: cached evaluations, one page.
    public func results(process: ProcessID, limit: Int? = nil, descending: Bool = false) async throws(NodeClientError) -> JSONBody {
        var q = ["sort=\(descending ? "DESC" : "ASC")"]
        if let limit { q.append("limit=\(limit)") }
        return try await request(.GET, "/results/\(process.base64URL)?\(q.joined(separator: "&"))")
    }

    /// `POST /dry-run?process-id=`: evaluates an unsigned message on a copy of the state.
    public func dryRun(process: ProcessID, message: DryRunMessage) async throws(NodeClientError) -> JSONBody {
        try await dryRun(process: process, messageJSON: message.jsonBytes)
    }

    /// `POST /dry-run?process-id=` with AO's dry-run JSON as given.
    public func dryRun(process: ProcessID, messageJSON: [UInt8]) async throws(NodeClientError) -> JSONBody {
        try await request(.POST, "/dry-run?process-id=\(process.base64URL)", body: messageJSON,
                          headers: [("Content-Type", "application/json")])
    }

    /// Polls `result` until the node has it or `timeout` passes. "Not yet" answers (404: not assigned or not known
    /// here yet; 408, 429, 503: busy; a transport failure or a per-request timeout) are retried with backoff from
    /// 100 ms doubling to 2 s; any other error is thrown at once. On timeout the error names the last answer.
    public func waitForResult(message: MessageID, process: ProcessID, timeout total: Duration) async throws(NodeClientError) -> JSONBody {
        let clock = ContinuousClock()
        let deadline = clock.now + total
        var delay = Duration.milliseconds(100)
        var last: NodeClientError
        while true {
            do {
                return try await result(message: message, process: process)
            } catch {
                guard error.isRetryable else { throw error }
                last = error
            }
            let remaining = deadline - clock.now
            if remaining <= .zero { break }
            do { try await Task.sleep(for: min(delay, remaining)) } catch {
                throw NodeClientError(node: baseURL, kind: .cancelled, path: "/result", message: "cancelled while waiting")
            }
            delay = min(delay * 2, .seconds(2))
        }
        throw NodeClientError(node: baseURL, kind: .timedOut, path: last.path, status: last.status, code: last.code,
                              message: "no result within \(total) (last answer: \(last.detail))")
    }

    // MARK: native

    /// `GET /health`: 200 healthy, 503 unhealthy (both answered with a report, not an error).
    public func health() async throws(NodeClientError) -> HealthInfo {
        let body = try await request(.GET, "/health", expect: [200, 503])
        let o = try object(body, "/health")
        let checks = (o["checks"] as? [String: Any] ?? [:]).compactMapValues { $0 as? String }
        return HealthInfo(healthy: o["status"] as? String == "ok", checks: checks)
    }

    /// `GET /peers`.
    public func peers() async throws(NodeClientError) -> [PeerEntry] {
        let body = try await request(.GET, "/peers")
        guard let list = try object(body, "/peers")["peers"] as? [[String: Any]] else {
            throw error(.badResponse, "/peers", "no peers list")
        }
        return list.map { p in
            PeerEntry(node: (p["node"] as? String).flatMap(NodeID.init(base64URL:)), address: p["address"] as? String ?? "",
                      connected: p["connected"] as? Bool ?? false, score: (p["score"] as? NSNumber)?.doubleValue)
        }
    }

    /// `GET /processes/{process}/scheduler`: the replica group, leader, term and last slot.
    public func schedulerGroup(_ process: ProcessID) async throws(NodeClientError) -> SchedulerGroupInfo {
        let path = "/processes/\(process.base64URL)/scheduler"
        let o = try object(try await request(.GET, path), path)
        let members = (o["members"] as? [String] ?? []).compactMap(NodeID.init(base64URL:))
        return SchedulerGroupInfo(members: members, leader: (o["leader"] as? String).flatMap(NodeID.init(base64URL:)),
                                  term: (o["term"] as? NSNumber)?.uint64Value ?? 0,
                                  lastSlot: (o["last_slot"] as? NSNumber)?.uint64Value)
    }

    /// `GET /attestation/{message}?process-id=`: the attestations the node holds (unverified) and, when it kept
    /// them, the bytes `handle` returned. Entries that do not parse are counted, not fatal.
    public func attestations(message: MessageID, process: ProcessID) async throws(NodeClientError) -> AttestationSet {
        let path = "/attestation/\(message.base64URL)?process-id=\(process.base64URL)"
        let o = try object(try await request(.GET, path), path)
        guard let list = o["attestations"] as? [Any] else { throw error(.badResponse, path, "no attestations list") }
        var parsed: [ResultAttestation] = [], malformed: [String] = []
        for entry in list.prefix(LightClient.attestationsPerNodeMax) {
            do { parsed.append(try ResultAttestation(json: entry)) } catch { malformed.append(error.detail) }
        }
        if list.count > LightClient.attestationsPerNodeMax {
            malformed.append("\(list.count - LightClient.attestationsPerNodeMax) attestations past the limit ignored")
        }
        var resultBytes: [UInt8]? = nil
        if let r = o["result"] {
            guard let text = r as? String, let bytes = Base64URL.decode(text) else {
                throw error(.badResponse, path, "result is not base64url")
            }
            resultBytes = bytes
        }
        return AttestationSet(attestations: parsed, malformed: malformed, resultBytes: resultBytes)
    }

    // MARK: plumbing

    func error(_ kind: NodeClientError.Kind, _ path: String, _ message: String) -> NodeClientError {
        NodeClientError(node: baseURL, kind: kind, path: path, message: message)
    }

    func object(_ body: JSONBody, _ path: String) throws(NodeClientError) -> [String: Any] {
        guard let o = body.object else { throw error(.badResponse, path, "the answer is not a JSON object") }
        return o
    }

    /// One request. Statuses outside `expect` become `.rejected` with the node's `{"error":{code,message}}`.
    func request(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, headers: [(String, String)] = [],
                 expect: Set<Int> = [200]) async throws(NodeClientError) -> JSONBody {
        var req = HTTPClientRequest(url: baseURL + path)
        req.method = method
        req.headers.add(name: "Accept", value: "application/json")
        for (n, v) in headers { req.headers.add(name: n, value: v) }
        if let body { req.body = .bytes(ByteBuffer(bytes: body)) }
        let seconds = Int64(timeout.components.seconds), attos = timeout.components.attoseconds
        let amount = TimeAmount.nanoseconds(seconds * 1_000_000_000 + attos / 1_000_000_000)
        let status: Int
        let bytes: [UInt8]
        do {
            let response = try await http.execute(req, timeout: amount)
            status = Int(response.status.code)
            let buffer = try await response.body.collect(upTo: Self.responseBytesMax)
            bytes = Array(buffer.readableBytesView)
        } catch let e as HTTPClientError where e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout {
            throw error(.timedOut, path, "no answer within \(timeout)")
        } catch is CancellationError {
            throw error(.cancelled, path, "cancelled")
        } catch {
            throw self.error(.unreachable, path, "\(error)")
        }
        guard expect.contains(status) else {
            var code: String? = nil, message = "HTTP \(status)"
            if let o = JSONBody(bytes: bytes).object, let e = o["error"] as? [String: Any] {
                code = e["code"] as? String
                if let m = e["message"] as? String { message = m }
            } else if let o = JSONBody(bytes: bytes).object, let m = o["error"] as? String {
                message = m  // AO's own `{"error":"..."}`
            } else if !bytes.isEmpty {
                message = String(decoding: bytes.prefix(200), as: UTF8.self)
            }
            throw NodeClientError(node: baseURL, kind: .rejected, path: path, status: status, code: code, message: message)
        }
        return JSONBody(bytes: bytes)
    }
}

/// A failed call to a node: which node, which route, what happened, and the node's own error code and sentence
/// when it answered with one.
public struct NodeClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// No connection, or the connection failed mid-request.
        case unreachable
        /// No complete answer within the deadline.
        case timedOut = "timed out"
        /// The node answered with an error status (`status`, `code`, `message` from its JSON error).
        case rejected
        /// The node answered 2xx with a body that is not what the route promises.
        case badResponse = "bad response"
        /// The caller's task was cancelled.
        case cancelled
    }
    /// The node's base URL.
    public let node: String
    public let kind: Kind
    public let path: String
    public let status: Int?
    /// The node's stable error code (`not_found`, `unknown_process`, …) when it sent one.
    public let code: String?
    public let detail: String

    public init(node: String, kind: Kind, path: String, status: Int? = nil, code: String? = nil, message: String) {
        self.node = node; self.kind = kind; self.path = path; self.status = status; self.code = code; self.detail = message
    }

    public var description: String {
        var head = "\(node)\(path.split(separator: "?").first.map(String.init) ?? path): "
        if let status { head += "\(status) " }
        if let code { head += "\(code): " } else if kind != .rejected { head += "\(kind.rawValue): " }
        return head + detail
    }

    /// "Not yet" answers that a poll may retry.
    public var isRetryable: Bool {
        switch kind {
        case .unreachable, .timedOut: return true
        case .rejected: return [404, 408, 425, 429, 503].contains(status ?? 0)
        case .badResponse, .cancelled: return false
        }
    }
}

// MARK: - answers

/// A JSON answer: the exact bytes the node sent, parsed on demand.
public struct JSONBody: Sendable, Equatable {
    public let bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }
    /// The body parsed with `JSONSerialization` (nil when it is not JSON).
    public var value: Any? { try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed) }
    public var object: [String: Any]? { value as? [String: Any] }
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}

public struct SubmitReceipt: Sendable, Equatable {
    public let id: MessageID
    /// The node's time in ms when the item became durable (AO's SU field; absent from some MUs).
    public let timestamp: UInt64?
}

public struct SchedulerInfo: Sendable, Equatable {
    /// The scheduler address: SHA-256 of the node key, i.e. the node id.
    public let address: Address
    public let timestamp: UInt64?
    public var nodeID: NodeID { NodeID(raw: address.raw) }
}

public struct HealthInfo: Sendable, Equatable {
    public let healthy: Bool
    public let checks: [String: String]
}

public struct PeerEntry: Sendable, Equatable {
    public let node: NodeID?
    public let address: String
    public let connected: Bool
    public let score: Double?
}

public struct SchedulerGroupInfo: Sendable, Equatable {
    public let members: [NodeID]
    public let leader: NodeID?
    public let term: UInt64
    public let lastSlot: UInt64?
}

/// What `GET /attestation/{message}` answered: parsed attestations (not yet verified), the reasons the others did
/// not parse, and the node's `handle` output bytes when it kept them.
public struct AttestationSet: Sendable, Equatable {
    public var attestations: [ResultAttestation]
    public var malformed: [String]
    public var resultBytes: [UInt8]?
    public init(attestations: [ResultAttestation], malformed: [String] = [], resultBytes: [UInt8]? = nil) {
        self.attestations = attestations; self.malformed = malformed; self.resultBytes = resultBytes
    }
}

/// An unsigned dry-run message, as aoconnect's `dryrun` sends it (`POST /dry-run` body).
public struct DryRunMessage: Sendable, Equatable {
    public var target: ProcessID
    public var owner: String?
    public var tags: [Tag]
    public var data: String
    public init(target: ProcessID, owner: String? = nil, tags: [Tag], data: String = "") {
        self.target = target; self.owner = owner; self.tags = tags; self.data = data
    }

    /// aoconnect's shape: `Id` and `Owner` "1234" placeholders unless an owner is given, `Anchor` "0", and the AO
    /// protocol tags appended after the caller's (as aoconnect's `dryrun` does).
    public var jsonObject: [String: Any] {
        var allTags = tags.map { ["name": $0.nameString, "value": $0.valueString] }
        for (n, v) in [("Data-Protocol", "ao"), ("Type", "Message"), ("Variant", "ao.TN.1")]
        where !tags.contains(where: { $0.nameString == n }) {
            allTags.append(["name": n, "value": v])
        }
        return ["Id": "1234", "Owner": owner ?? "1234", "Target": target.base64URL, "Data": data, "Anchor": "0",
                "Tags": allTags]
    }

    public var jsonBytes: [UInt8] {
        // A dictionary of strings and string lists always serialises.
        [UInt8]((try? JSONSerialization.data(withJSONObject: jsonObject, options: [.sortedKeys])) ?? Data("{}".utf8))
    }
}
