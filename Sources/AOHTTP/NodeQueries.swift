import AOCore

/// What the HTTP API asks of a node. The node shell (`AONode`) implements it; the HTTP layer only translates.
///
/// Contract for implementers:
/// - Every method may be called concurrently from many requests; implementations are `Sendable` and must not block
///   a thread (use async I/O, or hop to the node's own executor).
/// - A method answers with a value, `nil` where the protocol says "not found is a normal answer", or throws a
///   `NodeQueryError` for a typed rejection (the HTTP layer maps it to a status and a stable code). Any other error
///   becomes a 500 `internal_error` whose message does not leak the error's text.
/// - Calls should honour task cancellation: the HTTP layer cancels a call after `HTTPServerSettings.handlerTimeout`
///   and answers the client without waiting for the call to end.
/// - The HTTP layer has already checked ids (43 base64url characters), parsed and bounded every query parameter and
///   body; implementations re-check only what depends on node state.
public protocol NodeQueries: Sendable {
    // MARK: MU/SU writes

    /// `POST /` with a binary ANS-104 data item (a message, a process, a module, or any other valid item).
    /// MUST answer only once the item is durable in the node's own store (DESIGN.md section 5: the 202 means "will
    /// be assigned exactly once"). Rejections: `invalidItem`, `badSignature`, `unsupportedSignatureType`,
    /// `invalidTags`, `itemTooLarge`, `duplicate`, `unknownProcess` (a message whose target is not a process this
    /// network knows), `unavailable`.
    func submit(item: [UInt8]) async throws -> SubmitReceipt

    /// `POST /?process-id=&assign=` (aop-1/aop-2): schedule an existing transaction on a process. The receipt's id is
    /// the id of the new assignment.
    func assign(_ request: AssignRequest) async throws -> SubmitReceipt

    // MARK: SU reads

    /// `GET /` (and `GET /?process-id=`): the scheduler's wall clock and address (scheduler-utils reads `address`).
    /// If the process is scheduled elsewhere, `redirectBaseURL` makes the API answer 307 as AO's SU router does.
    func schedulerLocation(process: ProcessID?) async throws -> SchedulerLocation

    /// `GET /timestamp`: the scheduler's current time in ms and the Arweave block height it would stamp.
    func currentTime(process: ProcessID?) async throws -> SchedulerClock

    /// `GET /{id}` single lookup: the scheduled entry whose *message id or assignment id* is `id` (AO facts 7).
    /// `nil` when `id` names neither (the API then tries `id` as a process).
    func scheduledEntry(id: ID32, process: ProcessID?) async throws -> ScheduledEntry?

    /// `GET /{process}`: one page of a process's schedule in ascending order. The node returns at most
    /// `query.limit` entries and says whether more follow. Throws `unknownProcess` when the process is not known.
    /// On the first page of an aop-6 process the process's own entry (nonce 0, its message is the process item) is
    /// entry 0, as AO's SU does (ao-protocol.md 2.2).
    func assignments(_ query: AssignmentQuery) async throws -> AssignmentPage

    /// `GET /{process}/latest`: the last scheduled entry; `nil` when nothing is scheduled yet.
    /// Throws `unknownProcess` when the process is not known.
    func latestAssignment(process: ProcessID) async throws -> ScheduledEntry?

    /// `GET /processes/{process}`: the process item and its nonce-0 assignment's timestamp and height.
    /// `nil` when the process is not known.
    func processInfo(process: ProcessID) async throws -> ProcessDetails?

    // MARK: CU reads

    /// `GET /result/{message}?process-id=`: the result of evaluating the process up to and including `message`
    /// (a message id or an assignment id; `message == process` is the boot result). Evaluates on demand.
    func result(message: MessageID, process: ProcessID) async throws -> EvaluationResult

    /// `GET /results/{process}`: cached evaluations only (AO's CU does not evaluate here), errored ones left out.
    func results(_ query: ResultsQuery) async throws -> ResultsPage

    /// `GET /cron/{process}`: cron evaluations in ascending order; evaluates first.
    func cronResults(_ query: ResultsQuery) async throws -> ResultsPage

    /// `POST /dry-run?process-id=[&to=]`: evaluates one unsigned message on a copy of the state; persists nothing.
    func dryRun(_ request: DryRunRequest) async throws -> EvaluationResult

    /// `GET /state/{process}[?to=<ms>]`: the process's WASM memory after the last message at or before `to`.
    func state(process: ProcessID, to timestamp: UInt64?) async throws -> ProcessStateSnapshot

    // MARK: gateway

    /// `GET /raw/{id}` (the item's data with its `Content-Type`) and `GET /items/{id}` (the whole ANS-104 item).
    /// `nil` when the node has no item with this id.
    func storedItem(id: MessageID) async throws -> StoredItem?

    /// `POST /graphql`: the `transactions` subset (by ids, owners, recipients, tags; paged with `first`/`after`).
    func transactions(_ query: TransactionsQuery) async throws -> TransactionsPage

    // MARK: native

    /// `GET /health`.
    func health() async -> HealthReport
    /// `GET /peers`.
    func peers() async throws -> [PeerInfo]
    /// `GET /processes/{process}/scheduler`: the replica group that schedules the process. Throws `unknownProcess`.
    func schedulerGroup(process: ProcessID) async throws -> SchedulerGroupStatus
    /// `GET /metrics`: Prometheus text exposition format.
    func metricsText() async -> String

    // MARK: light clients (defaults below, so a node without attestations still conforms)

    /// `GET /attestation/{message}?process-id=`: the result attestations this node holds for `message` on `process`
    /// (its own and any it collected from peers), unverified: the client checks signatures and trust. `[]` when it
    /// holds none (default).
    func attestations(message: MessageID, process: ProcessID) async throws -> [ResultAttestation]

    /// The exact bytes `handle` returned for `message` (what an attestation's `resultHash` covers), when the node
    /// kept them; served as `result` (base64url) by `GET /attestation/{message}` so a light client can check the
    /// node's result against the attested hash. `nil` when not kept (default).
    func attestedResultBytes(message: MessageID, process: ProcessID) async throws -> [UInt8]?
}

extension NodeQueries {
    public func attestations(message: MessageID, process: ProcessID) async throws -> [ResultAttestation] { [] }
    public func attestedResultBytes(message: MessageID, process: ProcessID) async throws -> [UInt8]? { nil }
}

// MARK: - Errors

/// A typed rejection from the node. The HTTP layer maps each kind to a status code and a stable `code` string
/// (docs/HTTP-API.md lists them); `message` is a human sentence sent to the client as is, so it must not contain
/// secrets or internal paths.
public struct NodeQueryError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        /// Bytes that are not a valid ANS-104 data item (layout, lengths, tag encoding).
        case invalidItem
        /// A well-formed item whose signature does not verify.
        case badSignature
        /// A signature type this node cannot verify (e.g. Ethereum, type 3, for now).
        case unsupportedSignatureType
        /// Tags that break ANS-104 or AO rules (missing `Data-Protocol`/`Type`, a Process without `Module`, ...).
        case invalidTags
        /// An item larger than the node accepts for its kind.
        case itemTooLarge
        /// The item (or the assignment of this message on this process) already exists.
        case duplicate
        /// A process id this node does not know.
        case unknownProcess
        /// A message, assignment or item id this node does not know.
        case notFound
        /// A parameter that is well-formed but not acceptable to the node (e.g. `to` before the process started).
        case invalidArgument
        /// Evaluation failed in a way that is not a process outcome (missing module, bad hash chain, limits).
        case unprocessable
        /// The node cannot answer now (starting, no quorum, overloaded); the client may retry.
        case unavailable
    }

    let kind: Kind
    /// The human sentence sent to the client.
    public let message: String

    init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }

    public static func invalidItem(_ message: String) -> Self { .init(.invalidItem, message) }
    public static func badSignature(_ message: String = "The data item's signature does not verify.") -> Self {
        .init(.badSignature, message)
    }
    public static func unsupportedSignatureType(_ message: String) -> Self { .init(.unsupportedSignatureType, message) }
    public static func invalidTags(_ message: String) -> Self { .init(.invalidTags, message) }
    public static func itemTooLarge(_ message: String) -> Self { .init(.itemTooLarge, message) }
    public static func duplicate(_ message: String = "Message already exists") -> Self { .init(.duplicate, message) }
    public static func unknownProcess(_ process: ProcessID) -> Self {
        .init(.unknownProcess, "Process \(process.base64URL) is not known to this node.")
    }
    public static func notFound(_ message: String) -> Self { .init(.notFound, message) }
    public static func invalidArgument(_ message: String) -> Self { .init(.invalidArgument, message) }
    public static func unprocessable(_ message: String) -> Self { .init(.unprocessable, message) }
    public static func unavailable(_ message: String) -> Self { .init(.unavailable, message) }

    public var description: String { "\(kind): \(message)" }
}

// MARK: - Common values

/// The fields of a stored data item that the SU, CU and gateway JSON shapes show. The shell builds it from its own
/// `DataItem`; the HTTP layer renders it in each route's shape (`owner.address` is computed here as
/// base64url(SHA-256(owner key)), which is what AO's SU does for every signature type).
public struct DataItemView: Sendable, Equatable {
    public var id: MessageID
    /// The raw owner public key bytes (32 for ed25519, 512 for Arweave RSA).
    public var ownerKey: [UInt8]
    public var signature: [UInt8]
    public var signatureType: UInt16
    /// 32 bytes, or empty when the item has no target.
    public var target: [UInt8]
    /// Up to 32 bytes, or empty when the item has no anchor.
    public var anchor: [UInt8]
    public var tags: [Tag]
    public var data: [UInt8]

    public init(id: MessageID, ownerKey: [UInt8], signature: [UInt8], signatureType: UInt16 = 2, target: [UInt8] = [],
                anchor: [UInt8] = [], tags: [Tag], data: [UInt8]) {
        self.id = id; self.ownerKey = ownerKey; self.signature = signature; self.signatureType = signatureType
        self.target = target; self.anchor = anchor; self.tags = tags; self.data = data
    }

    /// The view of a parsed AOCore `DataItem` (what the shell normally passes).
    public init(_ item: DataItem) {
        self.init(id: item.id, ownerKey: item.owner, signature: item.signature, signatureType: item.signatureType.rawValue,
                  target: item.target?.bytes ?? [], anchor: item.anchor ?? [], tags: item.tags, data: item.data)
    }

    /// base64url(SHA-256(owner key)), as Arweave and AO's SU compute an owner's address.
    public var ownerAddress: String { Base64URL.encode(SHA2.sha256(ownerKey)) }

    /// The first tag with this name (exact, case-sensitive match, as AO's SU reads assignment tags), as text.
    public func tag(_ name: String) -> String? {
        let n = Array(name.utf8)
        return tags.first { $0.name == n }?.valueString
    }
}

// MARK: - POST /

/// The durable acknowledgement of `POST /`. Rendered once for both callers: aoconnect (MU shape, 202
/// `{"message","id"}`) and an MU calling this node as its SU (`{"id","timestamp":<number>}`).
public struct SubmitReceipt: Sendable, Equatable {
    /// The item's id (for a process: the process id); for an assignment request, the new assignment's id.
    public var id: MessageID
    /// The scheduler's time in ms when the item became durable. A number on the wire (the MU's zod requires it).
    public var timestamp: UInt64
    /// What the item was, to word the MU-style `message` ("Processing DataItem" / "Processing Assignment").
    public var kind: Kind

    public enum Kind: Sendable, Equatable { case dataItem, assignment }

    public init(id: MessageID, timestamp: UInt64, kind: Kind = .dataItem) {
        self.id = id; self.timestamp = timestamp; self.kind = kind
    }
}

/// `POST /?process-id=&assign=[&base-layer][&exclude=a,b]`.
public struct AssignRequest: Sendable, Equatable {
    public var process: ProcessID
    public var message: MessageID
    public var baseLayer: Bool
    public var exclude: [String]
    public init(process: ProcessID, message: MessageID, baseLayer: Bool = false, exclude: [String] = []) {
        self.process = process; self.message = message; self.baseLayer = baseLayer; self.exclude = exclude
    }
}

// MARK: - SU

/// `GET /`: `{"timestamp":"<ms>","address":"<scheduler address>"}`.
public struct SchedulerLocation: Sendable, Equatable {
    public var address: Address
    public var timestamp: UInt64
    /// When set, `GET /?process-id=` answers 307 to this base URL (trailing slash trimmed) plus the request's path
    /// and query, as AO's SU router does.
    public var redirectBaseURL: String?
    public init(address: Address, timestamp: UInt64, redirectBaseURL: String? = nil) {
        self.address = address; self.timestamp = timestamp; self.redirectBaseURL = redirectBaseURL
    }
}

/// `GET /timestamp`: `{"timestamp":"<ms>","block_height":"000001393008"}`.
public struct SchedulerClock: Sendable, Equatable {
    public var timestamp: UInt64
    public var blockHeight: UInt64
    public init(timestamp: UInt64, blockHeight: UInt64) { self.timestamp = timestamp; self.blockHeight = blockHeight }
}

/// One slot of a process's schedule: the assignment and the message it assigns. `message` is nil for a pure
/// assignment of an existing transaction (aop-1), which then carries a `Message` tag.
public struct ScheduledEntry: Sendable, Equatable {
    public var message: DataItemView?
    public var assignment: DataItemView
    /// True for the process's own entry (nonce 0 of an aop-6 process): its message is the process item, shown
    /// with `target: null` and `data: null` when the data is not UTF-8, as AO's SU does.
    public var isProcessEntry: Bool

    public init(message: DataItemView?, assignment: DataItemView, isProcessEntry: Bool = false) {
        self.message = message; self.assignment = assignment; self.isProcessEntry = isProcessEntry
    }

    /// The assignment's `Nonce` tag (the slot). Cursors in nonce mode.
    public var nonce: UInt64? { assignment.tag("Nonce").flatMap(UInt64.init) }
    /// The assignment's `Timestamp` tag in ms. Cursors in timestamp mode.
    public var timestamp: UInt64? { assignment.tag("Timestamp").flatMap(UInt64.init) }
}

/// `GET /{process}` paging. `from` is exclusive and `to` inclusive in both modes (AO facts 6).
public struct AssignmentQuery: Sendable, Equatable {
    public enum Range: Sendable, Equatable {
        /// `from`/`to` in ms (default mode). Cursor = the assignment's Timestamp.
        case timestamp(after: UInt64?, through: UInt64?)
        /// `from-nonce`/`to-nonce`; `after == -1` includes the process's own entry. Cursor = the Nonce.
        case nonce(after: Int64?, through: UInt64?)
    }
    public var process: ProcessID
    public var range: Range
    /// 1...`HTTPLimits.assignmentPageLimitMax`; the API applies the default (100).
    public var limit: Int
    public init(process: ProcessID, range: Range, limit: Int) {
        self.process = process; self.range = range; self.limit = limit
    }
}

public struct AssignmentPage: Sendable, Equatable {
    public var entries: [ScheduledEntry]
    public var hasNextPage: Bool
    public init(entries: [ScheduledEntry], hasNextPage: Bool) { self.entries = entries; self.hasNextPage = hasNextPage }
}

/// `GET /processes/{process}`: AO's `ProcessInner`.
public struct ProcessDetails: Sendable, Equatable {
    public var process: DataItemView
    /// The nonce-0 assignment's `Timestamp` (a number on the wire).
    public var timestamp: UInt64
    /// The nonce-0 assignment's `Block-Height` (a 12-digit string on the wire, field `block`).
    public var blockHeight: UInt64
    public init(process: DataItemView, timestamp: UInt64, blockHeight: UInt64) {
        self.process = process; self.timestamp = timestamp; self.blockHeight = blockHeight
    }
}

// MARK: - CU

/// The output of `handle` for one message, as AO's CU returns it (Memory removed). Outbox entries and `Output`
/// are kept as JSON because they are whatever the process produced.
public struct EvaluationResult: Sendable, Equatable {
    public var messages: [JSONValue]
    public var assignments: [JSONValue]
    public var spawns: [JSONValue]
    /// A string (default `""`) or an object.
    public var output: JSONValue
    /// Present only for metering module formats.
    public var gasUsed: UInt64?
    /// Present only when evaluation failed (memory rolled back).
    public var error: JSONValue?

    public init(messages: [JSONValue] = [], assignments: [JSONValue] = [], spawns: [JSONValue] = [],
                output: JSONValue = .string(""), gasUsed: UInt64? = nil, error: JSONValue? = nil) {
        self.messages = messages; self.assignments = assignments; self.spawns = spawns
        self.output = output; self.gasUsed = gasUsed; self.error = error
    }
}

public enum SortOrder: String, Sendable, Equatable { case ascending = "ASC", descending = "DESC" }

/// A position in a process's evaluations: AO's CU cursor `{timestamp, ordinate, cron?, sort}`.
public struct ResultsCursor: Sendable, Equatable {
    public var timestamp: UInt64
    /// The nonce as a decimal string (AO's CU keeps it a string); nil when the client sent only a timestamp.
    public var ordinate: String?
    /// The cron key of a cron evaluation; nil otherwise.
    public var cron: String?
    public var sort: SortOrder?
    public init(timestamp: UInt64, ordinate: String? = nil, cron: String? = nil, sort: SortOrder? = nil) {
        self.timestamp = timestamp; self.ordinate = ordinate; self.cron = cron; self.sort = sort
    }
}

/// `GET /results/{process}` and `GET /cron/{process}`: `from` exclusive, `to` inclusive, ordered by
/// (timestamp, ordinate, cron) in `sort` order (`/cron` is always ascending).
public struct ResultsQuery: Sendable, Equatable {
    public var process: ProcessID
    public var from: ResultsCursor?
    public var to: ResultsCursor?
    public var sort: SortOrder
    public var limit: Int
    public init(process: ProcessID, from: ResultsCursor? = nil, to: ResultsCursor? = nil, sort: SortOrder = .ascending,
                limit: Int) {
        self.process = process; self.from = from; self.to = to; self.sort = sort; self.limit = limit
    }
}

public struct ResultsPage: Sendable, Equatable {
    public struct Edge: Sendable, Equatable {
        public var result: EvaluationResult
        /// The evaluation's position; the API encodes it (with the query's sort) into the edge cursor.
        public var position: ResultsCursor
        public init(result: EvaluationResult, position: ResultsCursor) { self.result = result; self.position = position }
    }
    public var edges: [Edge]
    public var hasNextPage: Bool
    public init(edges: [Edge], hasNextPage: Bool) { self.edges = edges; self.hasNextPage = hasNextPage }
}

/// The body of `POST /dry-run`: AO's dry-run message (all fields optional; unknown keys dropped, as the CU's
/// strict message schema does).
public struct DryRunMessage: Sendable, Equatable {
    public var id: String?
    public var signature: String?
    public var owner: String?
    public var target: String?
    public var data: String?
    public var anchor: String?
    public var tags: [Tag]
    public var timestamp: UInt64?
    public var blockHeight: UInt64?
    public init(id: String? = nil, signature: String? = nil, owner: String? = nil, target: String? = nil,
                data: String? = nil, anchor: String? = nil, tags: [Tag] = [], timestamp: UInt64? = nil,
                blockHeight: UInt64? = nil) {
        self.id = id; self.signature = signature; self.owner = owner; self.target = target; self.data = data
        self.anchor = anchor; self.tags = tags; self.timestamp = timestamp; self.blockHeight = blockHeight
    }
}

public struct DryRunRequest: Sendable, Equatable {
    public var process: ProcessID
    /// Evaluate up to this message first; nil = the latest.
    public var to: MessageID?
    /// `X-Max-Age` in ms: cached memory at most this old may be reused (AO default 100).
    public var maxAgeMs: UInt64?
    public var message: DryRunMessage
    public init(process: ProcessID, to: MessageID? = nil, maxAgeMs: UInt64? = nil, message: DryRunMessage) {
        self.process = process; self.to = to; self.maxAgeMs = maxAgeMs; self.message = message
    }
}

/// `GET /state/{process}`: raw memory plus the position it belongs to (headers `Last-Timestamp`,
/// `Last-Ordinate`, `Last-Block-Height`).
public struct ProcessStateSnapshot: Sendable, Equatable {
    public var memory: [UInt8]
    public var timestamp: UInt64
    public var ordinate: String
    public var blockHeight: UInt64
    public init(memory: [UInt8], timestamp: UInt64, ordinate: String, blockHeight: UInt64) {
        self.memory = memory; self.timestamp = timestamp; self.ordinate = ordinate; self.blockHeight = blockHeight
    }
}

// MARK: - gateway

public struct StoredItem: Sendable, Equatable {
    public var view: DataItemView
    /// The whole item in ANS-104 binary form.
    public var bytes: [UInt8]
    public init(view: DataItemView, bytes: [UInt8]) { self.view = view; self.bytes = bytes }
}

/// The `transactions(...)` arguments the API understands. Filters combine with AND; values inside one filter
/// with OR (as Arweave gateways do).
public struct TransactionsQuery: Sendable, Equatable {
    public struct TagFilter: Sendable, Equatable {
        public var name: String
        public var values: [String]
        public init(name: String, values: [String]) { self.name = name; self.values = values }
    }
    public enum Sort: String, Sendable, Equatable { case heightDescending = "HEIGHT_DESC", heightAscending = "HEIGHT_ASC" }

    public var ids: [MessageID]
    /// Owner addresses (base64url(SHA-256(key))).
    public var owners: [Address]
    /// Target ids.
    public var recipients: [ID32]
    public var tags: [TagFilter]
    public var first: Int
    /// An opaque cursor from a previous page's edge.
    public var after: String?
    public var sort: Sort

    public init(ids: [MessageID] = [], owners: [Address] = [], recipients: [ID32] = [], tags: [TagFilter] = [],
                first: Int = HTTPLimits.graphqlFirstDefault, after: String? = nil, sort: Sort = .heightDescending) {
        self.ids = ids; self.owners = owners; self.recipients = recipients; self.tags = tags
        self.first = first; self.after = after; self.sort = sort
    }
}

public struct TransactionsPage: Sendable, Equatable {
    public struct Edge: Sendable, Equatable {
        /// Opaque to clients; the node reads it back as `after`.
        public var cursor: String
        public var item: DataItemView
        /// Height of the block that holds the item, when known (aonode items are not on Arweave: usually nil).
        public var blockHeight: UInt64?
        public var blockTimestamp: UInt64?
        public init(cursor: String, item: DataItemView, blockHeight: UInt64? = nil, blockTimestamp: UInt64? = nil) {
            self.cursor = cursor; self.item = item; self.blockHeight = blockHeight; self.blockTimestamp = blockTimestamp
        }
    }
    public var edges: [Edge]
    public var hasNextPage: Bool
    public init(edges: [Edge], hasNextPage: Bool) { self.edges = edges; self.hasNextPage = hasNextPage }
}

// MARK: - native

public struct HealthReport: Sendable, Equatable {
    public var healthy: Bool
    /// Short facts for operators, e.g. ("store", "ok"), ("peers", "3").
    public var checks: [(name: String, value: String)]
    public init(healthy: Bool, checks: [(name: String, value: String)] = []) { self.healthy = healthy; self.checks = checks }
    public static func == (l: Self, r: Self) -> Bool {
        l.healthy == r.healthy && l.checks.map { [$0.name, $0.value] } == r.checks.map { [$0.name, $0.value] }
    }
}

public struct PeerInfo: Sendable, Equatable {
    public var node: NodeID
    /// host:port the peer advertises.
    public var address: String
    public var connected: Bool
    public var score: Double?
    /// In this node's gossip overlay (the membership active view): items are pushed and announced to it.
    public var overlay: Bool
    /// In this node's gossip mesh for the global topic (eager push of announcements and spawns).
    public var globalMesh: Bool
    public init(node: NodeID, address: String, connected: Bool, score: Double? = nil, overlay: Bool = false, globalMesh: Bool = false) {
        self.node = node; self.address = address; self.connected = connected; self.score = score
        self.overlay = overlay; self.globalMesh = globalMesh
    }
}

public struct SchedulerGroupStatus: Sendable, Equatable {
    public var process: ProcessID
    public var members: [NodeID]
    public var leader: NodeID?
    /// The Raft term (aonode's `Term` tag; AO's `Epoch` stays "0").
    public var term: UInt64
    /// The last committed slot; nil when nothing is committed yet.
    public var lastSlot: UInt64?
    public init(process: ProcessID, members: [NodeID], leader: NodeID?, term: UInt64, lastSlot: UInt64?) {
        self.process = process; self.members = members; self.leader = leader; self.term = term; self.lastSlot = lastSlot
    }
}
