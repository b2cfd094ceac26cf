import AOCore
import AOHTTP
import Foundation
import Synchronization

/// A scripted `NodeQueries`: fixed fixtures (one aop-6 process with three scheduled entries whose Hash-Chain tags
/// are computed with AO's legacy formula from ao-protocol.md 2.6), simple in-memory paging, and a record of every
/// query it received so tests can check what the HTTP layer translated each request into.
///
/// This is the translation layer's test double (the node shell is built elsewhere); it is not a node.
final class ScriptedNode: NodeQueries {
    // MARK: fixtures

    /// The process id of ao-protocol.md's hash-chain vectors.
    static let processID = ProcessID(base64URL: "boxXWZqkBaZmOKJ3Vh7PZzC07Q9OXmxF4QT_ikodfNY")!
    /// The process's own (nonce 0) assignment id: the "prev assignment" of the HC1 vector.
    static let processAssignmentID = MessageID(base64URL: "6oYAxVAnH8yKsZKpMgHSbRv7uVWey68PAqYuSXeZBbg")!
    static let hc0 = "QQgVUhvszq0JiFEnNIcGDUmxTBGjukrZnlcdvAnr3-8"
    static let hc1 = "AzLQ4vgrqgsutyzcRhd1M5AL-N3XLmnNOpIhm-gbDX0"

    static let message1 = MessageID(raw: id32(1))
    static let assignment1 = MessageID(raw: id32(2))
    static let assignment2 = MessageID(raw: id32(3))
    /// An on-chain transaction assigned by the pure assignment at nonce 2.
    static let externalTx = MessageID(raw: id32(4))
    /// A process that exists but has nothing scheduled.
    static let emptyProcess = ProcessID(raw: id32(5))
    /// A process whose queries never return (for the handler timeout).
    static let stuckProcess = ProcessID(raw: id32(6))
    /// How long a call for `stuckProcess` takes: far past any timeout a test asserts, so that a loaded machine's
    /// slowness can never be mistaken for the call finishing.
    static let stuckSeconds: Double = 600
    static let unknownProcess = ProcessID(raw: id32(7))

    static let t0: UInt64 = 1_711_676_638_471
    static let t1: UInt64 = 1_711_676_638_500
    static let t2: UInt64 = 1_711_676_638_600
    static let height: UInt64 = 1_393_008

    static let userKey = [UInt8](repeating: 0xAB, count: 32)
    static let schedulerKey = [UInt8](repeating: 0xCD, count: 32)
    static let schedulerAddress = Address(bytes: SHA2.sha256(schedulerKey))!

    static func id32(_ n: UInt8) -> ID32 { ID32(bytes: SHA2.sha256([n, 0x42]))! }

    /// HC(first) = SHA256(decode(pid)); HC(n) = SHA256(decode(prev assignment id) || decode(HC(n-1))).
    static func hashChain(previousAssignment: MessageID?, previousHashChain: String?) -> String {
        guard let prev = previousAssignment, let prevHC = previousHashChain, let hcBytes = Base64URL.decode(prevHC) else {
            return Base64URL.encode(SHA2.sha256(processID.bytes))
        }
        return Base64URL.encode(SHA2.sha256(prev.bytes + hcBytes))
    }

    static func assignmentTags(nonce: UInt64, hashChain: String, timestamp: UInt64, message: MessageID?) -> [DataItemTag] {
        var tags = [DataItemTag("Process", processID.base64URL), DataItemTag("Epoch", "0"),
                    DataItemTag("Nonce", String(nonce)), DataItemTag("Hash-Chain", hashChain),
                    DataItemTag("Block-Height", "000001393008"), DataItemTag("Timestamp", String(timestamp)),
                    DataItemTag("Data-Protocol", "ao"), DataItemTag("Type", "Assignment"),
                    DataItemTag("Variant", "ao.TN.1")]
        if let message { tags.append(DataItemTag("Message", message.base64URL)) }
        return tags
    }

    static let processItem = DataItemView(
        id: MessageID(processID), ownerKey: userKey, signature: [UInt8](repeating: 1, count: 64),
        tags: [DataItemTag("Data-Protocol", "ao"), DataItemTag("Variant", "ao.TN.1"),
               DataItemTag("Type", "Process"), DataItemTag("Module", id32(9).base64URL),
               DataItemTag("Scheduler", schedulerAddress.base64URL),
               DataItemTag("Content-Type", "text/plain")],
        data: Array("1984".utf8))

    static let message1Item = DataItemView(
        id: message1, ownerKey: userKey, signature: [UInt8](repeating: 2, count: 64), target: processID.bytes,
        anchor: Array("00000000000000000000000000000003".utf8),
        tags: [DataItemTag("Action", "Eval"), DataItemTag("Data-Protocol", "ao"), DataItemTag("Type", "Message")],
        data: [0x68, 0x69, 0xFF])  // "hi" + an invalid UTF-8 byte: the SU shows it lossy

    static let entries: [ScheduledEntry] = {
        let hc0 = hashChain(previousAssignment: nil, previousHashChain: nil)
        let hc1 = hashChain(previousAssignment: processAssignmentID, previousHashChain: hc0)
        let hc2 = hashChain(previousAssignment: assignment1, previousHashChain: hc1)
        func assignment(_ id: MessageID, _ tags: [DataItemTag]) -> DataItemView {
            DataItemView(id: id, ownerKey: schedulerKey, signature: [UInt8](repeating: 9, count: 64), tags: tags, data: [])
        }
        return [
            ScheduledEntry(message: processItem,
                           assignment: assignment(processAssignmentID, assignmentTags(nonce: 0, hashChain: hc0, timestamp: t0, message: nil)),
                           isProcessEntry: true),
            ScheduledEntry(message: message1Item,
                           assignment: assignment(assignment1, assignmentTags(nonce: 1, hashChain: hc1, timestamp: t1, message: message1))),
            ScheduledEntry(message: nil,
                           assignment: assignment(assignment2, assignmentTags(nonce: 2, hashChain: hc2, timestamp: t2, message: externalTx))),
        ]
    }()

    static let result1 = EvaluationResult(
        messages: [.object([("Target", .string(processID.base64URL)), ("Data", "pong"),
                            ("Anchor", "00000000000000000000000000000003"),
                            ("Tags", .array([.object([("name", "Reference"), ("value", "3")])]))])],
        output: .object([("data", "1"), ("prompt", "aos> "), ("print", true)]), gasUsed: 123_456)

    // MARK: recorded calls and switches

    struct Recorded {
        var assignmentQueries: [AssignmentQuery] = []
        var resultsQueries: [ResultsQuery] = []
        var cronQueries: [ResultsQuery] = []
        var dryRuns: [DryRunRequest] = []
        var transactionsQueries: [TransactionsQuery] = []
        var submitted: [[UInt8]] = []
        var assigns: [AssignRequest] = []
        var lookupHints: [ProcessID?] = []
        var stateTo: [UInt64?] = []
    }
    let recorded = Mutex(Recorded())
    let healthy = Mutex(true)
    let redirect = Mutex<String?>(nil)

    var record: Recorded { recorded.withLock { $0 } }

    // MARK: NodeQueries

    func submit(item: [UInt8]) async throws -> SubmitReceipt {
        recorded.withLock { $0.submitted.append(item) }
        let text = String(decoding: item.prefix(16), as: UTF8.self)
        if text.hasPrefix("JUNK") { throw NodeQueryError.invalidItem("The body is not an ANS-104 data item: bad signature type 0.") }
        if text.hasPrefix("BADSIG") { throw NodeQueryError.badSignature() }
        if text.hasPrefix("ETH") { throw NodeQueryError.unsupportedSignatureType("Signature type 3 (Ethereum) is not supported yet.") }
        if text.hasPrefix("NOTAGS") { throw NodeQueryError.invalidTags("A message needs a Data-Protocol tag.") }
        if text.hasPrefix("ORPHAN") { throw NodeQueryError.unknownProcess(Self.unknownProcess) }
        if text.hasPrefix("DUP") { throw NodeQueryError.duplicate() }
        if text.hasPrefix("BUSY") { throw NodeQueryError.unavailable("The node is starting; retry shortly.") }
        if text.hasPrefix("CRASH") { throw CocoaError(.fileNoSuchFile) }  // an untyped error: must become a 500
        return SubmitReceipt(id: MessageID(bytes: SHA2.sha256(item))!, timestamp: Self.t1)
    }

    func assign(_ request: AssignRequest) async throws -> SubmitReceipt {
        recorded.withLock { $0.assigns.append(request) }
        return SubmitReceipt(id: Self.assignment2, timestamp: Self.t2, kind: .assignment)
    }

    func schedulerLocation(process: ProcessID?) async throws -> SchedulerLocation {
        SchedulerLocation(address: Self.schedulerAddress, timestamp: Self.t2, redirectBaseURL: redirect.withLock { $0 })
    }

    func currentTime(process: ProcessID?) async throws -> SchedulerClock {
        if process == Self.stuckProcess {
            // Ignores cancellation on purpose: the API must answer anyway.
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().asyncAfter(deadline: .now() + Self.stuckSeconds) { c.resume() }
            }
        }
        return SchedulerClock(timestamp: Self.t2, blockHeight: Self.height)
    }

    func scheduledEntry(id: ID32, process: ProcessID?) async throws -> ScheduledEntry? {
        recorded.withLock { $0.lookupHints.append(process) }
        return Self.entries.first { $0.message?.id.raw == id && !$0.isProcessEntry || $0.assignment.id.raw == id }
    }

    func assignments(_ query: AssignmentQuery) async throws -> AssignmentPage {
        recorded.withLock { $0.assignmentQueries.append(query) }
        if query.process == Self.emptyProcess { return AssignmentPage(entries: [], hasNextPage: false) }
        guard query.process == Self.processID else { throw NodeQueryError.unknownProcess(query.process) }
        let selected: [ScheduledEntry]
        switch query.range {
        case .timestamp(let after, let through):
            selected = Self.entries.filter { e in
                (after.map { e.timestamp! > $0 } ?? true) && (through.map { e.timestamp! <= $0 } ?? true)
            }
        case .nonce(let after, let through):
            selected = Self.entries.filter { e in
                (after.map { Int64(e.nonce!) > $0 } ?? true) && (through.map { e.nonce! <= $0 } ?? true)
            }
        }
        return AssignmentPage(entries: Array(selected.prefix(query.limit)), hasNextPage: selected.count > query.limit)
    }

    func latestAssignment(process: ProcessID) async throws -> ScheduledEntry? {
        if process == Self.emptyProcess { return nil }
        guard process == Self.processID else { throw NodeQueryError.unknownProcess(process) }
        return Self.entries.last
    }

    func processInfo(process: ProcessID) async throws -> ProcessDetails? {
        guard process == Self.processID else { return nil }
        return ProcessDetails(process: Self.processItem, timestamp: Self.t0, blockHeight: Self.height)
    }

    func result(message: MessageID, process: ProcessID) async throws -> EvaluationResult {
        guard process == Self.processID else { throw NodeQueryError.unknownProcess(process) }
        if message == Self.message1 { return Self.result1 }
        if message == Self.assignment2 {
            return EvaluationResult(output: "", error: "[string \"aos\"]:1: boom")
        }
        throw NodeQueryError.notFound("Message \(message.base64URL) is not scheduled on this process.")
    }

    func results(_ query: ResultsQuery) async throws -> ResultsPage {
        recorded.withLock { $0.resultsQueries.append(query) }
        guard query.process == Self.processID else { throw NodeQueryError.unknownProcess(query.process) }
        let edges = [
            ResultsPage.Edge(result: Self.result1, position: ResultsCursor(timestamp: Self.t1, ordinate: "1")),
            ResultsPage.Edge(result: EvaluationResult(), position: ResultsCursor(timestamp: Self.t2, ordinate: "2")),
        ]
        return ResultsPage(edges: Array(edges.prefix(query.limit)), hasNextPage: edges.count > query.limit)
    }

    func cronResults(_ query: ResultsQuery) async throws -> ResultsPage {
        recorded.withLock { $0.cronQueries.append(query) }
        return ResultsPage(edges: [ResultsPage.Edge(result: EvaluationResult(output: "tick"),
                                                    position: ResultsCursor(timestamp: Self.t2, ordinate: "2", cron: "1-10-minutes"))],
                           hasNextPage: false)
    }

    func dryRun(_ request: DryRunRequest) async throws -> EvaluationResult {
        recorded.withLock { $0.dryRuns.append(request) }
        guard request.process == Self.processID else { throw NodeQueryError.unknownProcess(request.process) }
        return EvaluationResult(output: .string("Balance: 100"))
    }

    func state(process: ProcessID, to timestamp: UInt64?) async throws -> ProcessStateSnapshot {
        recorded.withLock { $0.stateTo.append(timestamp) }
        guard process == Self.processID else { throw NodeQueryError.unknownProcess(process) }
        return ProcessStateSnapshot(memory: [0, 1, 2, 3, 0xFF], timestamp: Self.t1, ordinate: "1", blockHeight: Self.height)
    }

    func storedItem(id: MessageID) async throws -> StoredItem? {
        guard id == MessageID(Self.processID) else { return nil }
        return StoredItem(view: Self.processItem, bytes: [0x02, 0x00] + Array("whole item".utf8))
    }

    func transactions(_ query: TransactionsQuery) async throws -> TransactionsPage {
        recorded.withLock { $0.transactionsQueries.append(query) }
        let location = DataItemView(
            id: MessageID(raw: Self.id32(10)), ownerKey: Self.schedulerKey, signature: [7, 7, 7],
            tags: [DataItemTag("Data-Protocol", "ao"), DataItemTag("Type", "Scheduler-Location"),
                   DataItemTag("Url", "http://127.0.0.1:8734"), DataItemTag("Time-To-Live", "3600000")],
            data: [])
        let all = [Self.processItem, location]
        let matched = all.filter { item in
            (query.ids.isEmpty || query.ids.contains(item.id))
                && (query.owners.isEmpty || query.owners.contains { $0.base64URL == item.ownerAddress })
                && query.tags.allSatisfy { f in item.tags.contains { $0.nameString == f.name && f.values.contains($0.valueString) } }
        }
        return TransactionsPage(edges: matched.prefix(query.first).map { .init(cursor: "c-\($0.id.base64URL.prefix(6))", item: $0) },
                                hasNextPage: matched.count > query.first)
    }

    func health() async -> HealthReport {
        HealthReport(healthy: healthy.withLock { $0 }, checks: [("store", "ok"), ("peers", "2")])
    }

    func peers() async throws -> [PeerInfo] {
        [PeerInfo(node: NodeID(raw: Self.id32(20)), address: "127.0.0.1:7001", connected: true, score: 1.5, overlay: true)]
    }

    func schedulerGroup(process: ProcessID) async throws -> SchedulerGroupStatus {
        guard process == Self.processID else { throw NodeQueryError.unknownProcess(process) }
        return SchedulerGroupStatus(process: process, members: [NodeID(raw: Self.id32(20)), NodeID(raw: Self.id32(21))],
                                    leader: NodeID(raw: Self.id32(20)), term: 3, lastSlot: 2)
    }

    func metricsText() async -> String { "# TYPE aonode_slots_total counter\naonode_slots_total 3\n" }

    /// The bytes `handle` returned for message1, and an attestation of them by a fixed node key.
    static let handleOutput1 = Array(#"{"ok":true,"response":{"Output":"1","Messages":[]}}"#.utf8)
    static let attestationKey = Ed25519PrivateKey(seed: [UInt8](repeating: 0x33, count: 32))!
    static let attestation1 = ResultAttestation.sign(
        key: attestationKey, process: processID, slot: 1, message: message1,
        resultHash: ResultAttestation.resultHash(of: handleOutput1),
        memoryHash: ResultAttestation.memoryHash(memory: [UInt8](repeating: 0, count: 65536)))

    func attestations(message: MessageID, process: ProcessID) async throws -> [ResultAttestation] {
        guard process == Self.processID else { throw NodeQueryError.unknownProcess(process) }
        return message == Self.message1 ? [Self.attestation1] : []
    }

    func attestedResultBytes(message: MessageID, process: ProcessID) async throws -> [UInt8]? {
        message == Self.message1 && process == Self.processID ? Self.handleOutput1 : nil
    }
}
