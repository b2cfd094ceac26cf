import AOCompute
import AOCore
import AOHTTP
import AOStore
import Foundation

/// The CU routes: results by (process, slot) from `ComputeService`, AO's CU shapes and cursors.
extension NodeAPI {
    public func result(message: MessageID, process: ProcessID) async throws -> AOHTTP.EvaluationResult {
        let slot = try await slotForResult(message: message, process: process)
        return Self.httpResult(try await compute.result(process, slot: slot))
    }

    /// The slot whose result `message` names on `process`: the process id itself (slot 0), an assignment id, or a
    /// message id, as this node's process log has it.
    func slotForResult(message: MessageID, process: ProcessID) async throws -> UInt64 {
        guard try await isKnownProcess(process) else { throw NodeQueryError.unknownProcess(process) }
        if message.raw == process.raw {
            guard try store.assignment(process: process, slot: 0) != nil else {
                throw NodeQueryError.notFound("Process \(process.base64URL) is not scheduled on this node yet.")
            }
            return 0
        }
        if let item = try store.item(message), item.tag("Type") == "Assignment", let a = try? AOAssignment(item) {
            guard a.process == process, let e = try store.assignment(process: process, slot: a.nonce), e.assignmentID == message else {
                throw NodeQueryError.notFound("Assignment \(message.base64URL) is not in the log of process \(process.base64URL) on this node.")
            }
            return a.nonce
        }
        if let s = try slotOf(message: message, process: process) { return s.slot }
        if try store.hasItem(message) {
            throw NodeQueryError.notFound("Message \(message.base64URL) is not assigned on process \(process.base64URL) yet; retry shortly.")
        }
        throw NodeQueryError.notFound("Message \(message.base64URL) is not known to this node.")
    }

    public func results(_ query: ResultsQuery) async throws -> ResultsPage {
        let p = query.process
        guard try await isKnownProcess(p) else { throw NodeQueryError.unknownProcess(p) }
        guard let latest = try store.latestSlot(process: p) else { return ResultsPage(edges: [], hasNextPage: false) }
        let ascending = query.sort == .ascending
        var edges: [ResultsPage.Edge] = []
        var hasNext = false
        // Slots in sort order; positions (timestamp, nonce) grow with the slot in a process log.
        var slot: Int64 = ascending ? 0 : Int64(latest)
        if let from = query.from, let o = from.ordinate.flatMap(Int64.init) { slot = ascending ? max(0, o + 1) : min(Int64(latest), o - 1) }
        // Cached evaluations only (AO's CU does not evaluate here), errored ones left out. Slots evaluate in order, so
        // descending starts at the newest evaluated one: while evaluation lags, the slots above it are not read one by
        // one (their positions would be parsed for nothing).
        if !ascending, let newest = compute.newestEvaluated(p) { slot = min(slot, newest) }
        while slot >= 0, slot <= Int64(latest) {
            defer { slot += ascending ? 1 : -1 }
            guard let r = compute.cachedResult(p, slot: UInt64(slot)) else {
                if ascending { break } else { continue }
            }
            guard let pos = try position(p, slot: UInt64(slot)) else { continue }
            if let from = query.from, !Self.after(pos, from, ascending: ascending) { continue }
            if let to = query.to, !Self.notPast(pos, to, ascending: ascending) { break }
            if r.error != nil { continue }
            if edges.count == query.limit { hasNext = true; break }
            edges.append(ResultsPage.Edge(result: Self.httpResult(r), position: pos))
        }
        return ResultsPage(edges: edges, hasNextPage: hasNext)
    }

    /// The position of a slot: its assignment's timestamp and the nonce.
    func position(_ p: ProcessID, slot: UInt64) throws -> ResultsCursor? {
        guard let e = try store.assignment(process: p, slot: slot), let item = try store.item(e.assignmentID),
              let a = try? AOAssignment(item) else { return nil }
        return ResultsCursor(timestamp: a.timestamp, ordinate: String(slot))
    }

    static func compare(_ a: ResultsCursor, _ b: ResultsCursor) -> Int {
        if a.timestamp != b.timestamp { return a.timestamp < b.timestamp ? -1 : 1 }
        guard let bo = b.ordinate.flatMap(Int64.init), let ao = a.ordinate.flatMap(Int64.init) else { return 0 }
        return ao == bo ? 0 : (ao < bo ? -1 : 1)
    }

    /// `from` is exclusive: strictly after it in the sort direction.
    static func after(_ pos: ResultsCursor, _ from: ResultsCursor, ascending: Bool) -> Bool {
        let c = compare(pos, from)
        return ascending ? c > 0 : c < 0
    }

    /// `to` is inclusive.
    static func notPast(_ pos: ResultsCursor, _ to: ResultsCursor, ascending: Bool) -> Bool {
        let c = compare(pos, to)
        return ascending ? c <= 0 : c >= 0
    }

    /// Cron results (always ascending): the results of time crons evaluated between scheduled messages, as AO's CU
    /// keeps them, errored ones left out. Crons run when the scheduled message after them is evaluated (the node
    /// evaluates eagerly), so crons due after the latest message appear once the next message arrives.
    public func cronResults(_ query: ResultsQuery) async throws -> ResultsPage {
        let p = query.process
        guard try await isKnownProcess(p) else { throw NodeQueryError.unknownProcess(p) }
        // `from` is exclusive: a full cursor resumes after its row; a bare timestamp after every row at that time.
        var after: CronPosition?
        if let from = query.from {
            if let o = from.ordinate.flatMap(Int64.init), let cron = from.cron, let i = cron.split(separator: "-").first.flatMap({ Int($0) }) {
                after = CronPosition(timestamp: Int64(from.timestamp), ordinate: o, index: i, interval: "")
            } else {
                after = CronPosition(timestamp: Int64(from.timestamp), ordinate: .max, index: .max, interval: "")
            }
        }
        var edges: [ResultsPage.Edge] = []
        var hasNext = false
        scan: while true {
            let batch = try compute.cronResults(p, after: after, limit: 256)
            for (pos, r) in batch {
                after = pos
                if let to = query.to {
                    if UInt64(max(0, pos.timestamp)) > to.timestamp { break scan }
                    if UInt64(max(0, pos.timestamp)) == to.timestamp, let o = to.ordinate.flatMap(Int64.init), pos.ordinate > o { break scan }
                }
                if r.error != nil { continue }
                if edges.count == query.limit { hasNext = true; break scan }
                edges.append(ResultsPage.Edge(result: Self.httpResult(r),
                                              position: ResultsCursor(timestamp: UInt64(max(0, pos.timestamp)), ordinate: String(pos.ordinate),
                                                                      cron: pos.label)))
            }
            if batch.count < 256 { break }
        }
        return ResultsPage(edges: edges, hasNextPage: hasNext)
    }

    public func dryRun(_ request: DryRunRequest) async throws -> AOHTTP.EvaluationResult {
        let p = request.process
        guard try await isKnownProcess(p) else { throw NodeQueryError.unknownProcess(p) }
        let slot: UInt64
        if let to = request.to {
            slot = try await slotForResult(message: to, process: p)
        } else {
            guard let latest = try store.latestSlot(process: p) else {
                throw NodeQueryError.unavailable("Process \(p.base64URL) is not scheduled on this node yet.")
            }
            slot = latest
        }
        var timestamp: Int64 = 0, height: Int64 = 0
        if let pos = try position(p, slot: slot) { timestamp = Int64(pos.timestamp) }
        if let e = try store.assignment(process: p, slot: slot), let item = try store.item(e.assignmentID), let a = try? AOAssignment(item) {
            height = Int64(a.blockHeight)
        }
        let m = request.message
        let message = ScheduledMessage(slot: Int64(slot) + 1, timestamp: m.timestamp.map { Int64($0) } ?? timestamp,
                                       blockHeight: m.blockHeight.map { Int64($0) } ?? height, id: m.id ?? "", signature: m.signature,
                                       owner: m.owner ?? "", target: p.base64URL, anchor: m.anchor, data: m.data,
                                       tags: m.tags.map { ComputeTag($0.nameString, $0.valueString) })
        return Self.httpResult(try await compute.dryRun(p, after: slot, message: message))
    }

    public func state(process: ProcessID, to timestamp: UInt64?) async throws -> ProcessStateSnapshot {
        guard try await isKnownProcess(process) else { throw NodeQueryError.unknownProcess(process) }
        guard let latest = try store.latestSlot(process: process) else {
            throw NodeQueryError.unavailable("Process \(process.base64URL) is not scheduled on this node yet.")
        }
        var slot = latest
        if let timestamp {
            // The last message at or before `timestamp` (timestamps grow with the slot).
            var lo: UInt64 = 0, hi = latest
            guard let first = try position(process, slot: 0), first.timestamp <= timestamp else {
                throw NodeQueryError.invalidArgument("to=\(timestamp) is before the process started.")
            }
            while lo < hi {
                let mid = lo + (hi - lo + 1) / 2
                if let pos = try position(process, slot: mid), pos.timestamp <= timestamp { lo = mid } else { hi = mid - 1 }
            }
            slot = lo
        }
        let memory = try await compute.memory(process, after: slot)
        var height: UInt64 = 0, ts: UInt64 = 0
        if let e = try store.assignment(process: process, slot: slot), let item = try store.item(e.assignmentID), let a = try? AOAssignment(item) {
            height = a.blockHeight; ts = a.timestamp
        }
        return ProcessStateSnapshot(memory: memory, timestamp: ts, ordinate: String(slot), blockHeight: height)
    }

    public func attestations(message: MessageID, process: ProcessID) async throws -> [ResultAttestation] {
        let slot = try await slotForResult(message: message, process: process)
        guard let a = try Attestations.read(store: store, process: process, slot: slot, signer: runtime.key.publicKey) else { return [] }
        return [a]
    }

    // MARK: shapes

    static func httpResult(_ r: AOCompute.EvaluationResult) -> AOHTTP.EvaluationResult {
        AOHTTP.EvaluationResult(messages: r.messages.map(json), assignments: r.assignments.map(json), spawns: r.spawns.map(json),
                                output: r.output.map(json) ?? .string(""), gasUsed: r.gasUsed > 0 ? r.gasUsed : nil,
                                error: r.error.map(json))
    }

    static func json(_ v: AOCompute.JSONValue) -> AOHTTP.JSONValue {
        switch v {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number(let d): return d == d.rounded() && abs(d) < 9.0e15 ? .integer(Int64(d)) : .double(d)
        case .string(let s): return .string(s)
        case .array(let a): return .array(a.map(json))
        case .object(let o): return .object(o.map { ($0.0, json($0.1)) })
        }
    }
}
