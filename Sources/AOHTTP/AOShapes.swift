import AOCore
import Foundation

/// The JSON shapes of AO's SU, CU and MU, built from NodeQueries values. Pure functions: each one is the single
/// place where a route's keys, their order, and numbers versus strings are decided (see ao-protocol.md 2.4, 3.2,
/// 3.3, 4 and the 10 facts in section 7).
public enum AOShapes {
    // MARK: MU / SU: POST /

    /// One body for both callers of `POST /`: aoconnect reads `id` (and the MU's `message`), an MU calling this
    /// node as its SU requires `{id: string, timestamp: number}` (zod). Status 202 satisfies both (the MU checks
    /// `res.ok`).
    public static func submitReceipt(_ r: SubmitReceipt) -> JSONValue {
        .object([
            ("message", .string(r.kind == .assignment ? "Processing Assignment" : "Processing DataItem")),
            ("id", .string(r.id.base64URL)),
            ("timestamp", .integer(Int64(clamping: r.timestamp))),
        ])
    }

    // MARK: SU

    /// `GET /`: timestamp as a **string** (AO facts 5).
    public static func schedulerLocation(_ l: SchedulerLocation) -> JSONValue {
        .object([("timestamp", .string(String(l.timestamp))), ("address", .string(l.address.base64URL))])
    }

    /// `GET /timestamp`: both values are strings; the height is zero-padded to 12 digits.
    public static func schedulerClock(_ c: SchedulerClock) -> JSONValue {
        .object([("timestamp", .string(String(c.timestamp))), ("block_height", .string(paddedHeight(c.blockHeight)))])
    }

    /// `Block-Height` as AO writes it: decimal, zero-padded to 12 digits.
    public static func paddedHeight(_ h: UInt64) -> String {
        let s = String(h)
        return s.count >= 12 ? s : String(repeating: "0", count: 12 - s.count) + s
    }

    static func owner(_ v: DataItemView) -> JSONValue {
        .object([("address", .string(v.ownerAddress)), ("key", .string(Base64URL.encode(v.ownerKey)))])
    }

    static func tags(_ tags: [Tag]) -> JSONValue {
        .array(tags.map { .object([("name", .string($0.nameString)), ("value", .string($0.valueString))]) })
    }

    /// The SU's anchor: UTF-8 text, null when empty; with `show-anchor`, base64url when not UTF-8 (else null).
    static func anchor(_ bytes: [UInt8], showAnchor: Bool) -> JSONValue {
        guard !bytes.isEmpty else { return .null }
        if let text = String(validating: bytes, as: UTF8.self) { return .string(text) }
        return showAnchor ? .string(Base64URL.encode(bytes)) : .null
    }

    /// The SU's `MessageInner`: `{id, owner{address,key}, data, tags, signature, anchor, target}`. `data` is the raw
    /// bytes as lossy UTF-8 (not base64). The process's own entry shows `data: null` when its data is not UTF-8 and
    /// `target: null` when it has none; other messages show `target` as a string ("" when empty).
    public static func suMessage(_ v: DataItemView, isProcessEntry: Bool, showAnchor: Bool = false) -> JSONValue {
        let data: JSONValue
        let target: JSONValue
        if isProcessEntry {
            data = String(validating: v.data, as: UTF8.self).map(JSONValue.string) ?? .null
            target = v.target.isEmpty ? .null : .string(Base64URL.encode(v.target))
        } else {
            data = .string(String(decoding: v.data, as: UTF8.self))
            target = .string(Base64URL.encode(v.target))
        }
        return .object([
            ("id", .string(v.id.base64URL)), ("owner", owner(v)), ("data", data), ("tags", tags(v.tags)),
            ("signature", .string(Base64URL.encode(v.signature))), ("anchor", anchor(v.anchor, showAnchor: showAnchor)),
            ("target", target),
        ])
    }

    /// The SU's `AssignmentInner`: no `data`; `target` is "" (assignments have none).
    public static func suAssignment(_ v: DataItemView, showAnchor: Bool = false) -> JSONValue {
        .object([
            ("id", .string(v.id.base64URL)), ("owner", owner(v)), ("tags", tags(v.tags)),
            ("signature", .string(Base64URL.encode(v.signature))), ("anchor", anchor(v.anchor, showAnchor: showAnchor)),
            ("target", .string(Base64URL.encode(v.target))),
        ])
    }

    /// The SU's `Message`: `{message: MessageInner|null, assignment}`; the single-lookup answer and each edge node.
    public static func suEntry(_ e: ScheduledEntry, showAnchor: Bool = false) -> JSONValue {
        .object([
            ("message", e.message.map { suMessage($0, isProcessEntry: e.isProcessEntry, showAnchor: showAnchor) } ?? .null),
            ("assignment", suAssignment(e.assignment, showAnchor: showAnchor)),
        ])
    }

    /// Why an entry cannot be shown (a node bug: an assignment without a numeric Nonce or Timestamp tag).
    struct MissingCursor: Error {}

    /// `GET /{process}`: `{page_info:{has_next_page}, edges:[{node, cursor:"<string>"}]}`; the cursor is the
    /// assignment's Timestamp (timestamp mode) or Nonce (nonce mode), always a string.
    static func suPage(_ page: AssignmentPage, nonceMode: Bool, showAnchor: Bool) throws(MissingCursor) -> JSONValue {
        var edges: [JSONValue] = []
        for e in page.entries {
            guard let cursor = nonceMode ? e.nonce : e.timestamp else { throw MissingCursor() }
            edges.append(.object([("node", suEntry(e, showAnchor: showAnchor)), ("cursor", .string(String(cursor)))]))
        }
        return .object([("page_info", .object([("has_next_page", .bool(page.hasNextPage))])), ("edges", .array(edges))])
    }

    /// `GET /processes/{process}`: AO's `ProcessInner`; `timestamp` a **number**, `block` a padded **string**.
    public static func processInfo(_ p: ProcessDetails) -> JSONValue {
        let v = p.process
        return .object([
            ("process_id", .string(v.id.base64URL)),
            ("block", .string(paddedHeight(p.blockHeight))),
            ("owner", owner(v)),
            ("tags", tags(v.tags)),
            ("timestamp", .integer(Int64(clamping: p.timestamp))),
            ("data", String(validating: v.data, as: UTF8.self).map(JSONValue.string) ?? .null),
            ("anchor", anchor(v.anchor, showAnchor: false)),
            ("signature", .string(Base64URL.encode(v.signature))),
            ("target", v.target.isEmpty ? .null : .string(Base64URL.encode(v.target))),
        ])
    }

    // MARK: CU

    /// `GET /result` and `POST /dry-run`: `{Messages, Assignments, Spawns, Output, GasUsed?, Error?}`.
    public static func result(_ r: EvaluationResult) -> JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("Messages", .array(r.messages)), ("Assignments", .array(r.assignments)), ("Spawns", .array(r.spawns)),
            ("Output", r.output),
        ]
        if let gas = r.gasUsed { pairs.append(("GasUsed", .integer(Int64(clamping: gas)))) }
        if let error = r.error { pairs.append(("Error", error)) }
        return .object(pairs)
    }

    /// `/results` and `/cron` connection, camelCase: `{pageInfo:{hasNextPage}, edges:[{node, cursor}]}`. The node
    /// has no GasUsed (AO facts 9).
    public static func resultsConnection(_ page: ResultsPage, sort: SortOrder) -> JSONValue {
        .object([
            ("pageInfo", .object([("hasNextPage", .bool(page.hasNextPage))])),
            ("edges", .array(page.edges.map { edge in
                var node: [(String, JSONValue)] = [
                    ("Messages", .array(edge.result.messages)), ("Assignments", .array(edge.result.assignments)),
                    ("Spawns", .array(edge.result.spawns)), ("Output", edge.result.output),
                ]
                if let error = edge.result.error { node.append(("Error", error)) }
                return .object([("node", .object(node)), ("cursor", .string(encodeCursor(edge.position, sort: sort)))])
            })),
        ])
    }

    /// AO's CU cursor: standard base64 (`btoa`) of `JSON.stringify({timestamp, ordinate, cron, sort})`, `cron`
    /// omitted when absent. The sort written is the query's.
    public static func encodeCursor(_ c: ResultsCursor, sort: SortOrder) -> String {
        var pairs: [(String, JSONValue)] = [("timestamp", .integer(Int64(clamping: c.timestamp)))]
        if let o = c.ordinate { pairs.append(("ordinate", .string(o))) }
        if let cron = c.cron { pairs.append(("cron", .string(cron))) }
        pairs.append(("sort", .string(sort.rawValue)))
        return Data(JSONValue.object(pairs).serializedBytes).base64EncodedString()
    }

    /// Reads a `from`/`to` value: a cursor this API (or AO's CU) wrote, or a plain ms timestamp, which AO's CU
    /// treats as `{timestamp}`. nil when it is neither.
    public static func decodeCursor(_ text: String) -> ResultsCursor? {
        if !text.isEmpty, text.utf8.count <= 20, text.utf8.allSatisfy({ (48...57).contains($0) }), let ts = UInt64(text) {
            return ResultsCursor(timestamp: ts)
        }
        guard text.utf8.count <= 1024 else { return nil }
        var padded = text
        while padded.utf8.count % 4 != 0 { padded += "=" }
        guard let data = Data(base64Encoded: padded), let json = try? JSONValue.parse(Array(data), depthMax: 2),
              case .object = json else { return nil }
        let timestamp: UInt64
        switch json["timestamp"] {
        case .integer(let i)? where i >= 0: timestamp = UInt64(i)
        case .string(let s)?: guard let t = UInt64(s) else { return nil }; timestamp = t
        default: return nil
        }
        var cursor = ResultsCursor(timestamp: timestamp)
        switch json["ordinate"] {
        case .string(let s)?: cursor.ordinate = s
        case .integer(let i)?: cursor.ordinate = String(i)
        case nil, .null?: break
        default: return nil
        }
        if case .string(let s)? = json["cron"] { cursor.cron = s }
        if case .string(let s)? = json["sort"] { cursor.sort = SortOrder(rawValue: s) }
        return cursor
    }

    // MARK: native

    public static func health(_ h: HealthReport) -> JSONValue {
        .object([("status", .string(h.healthy ? "ok" : "unhealthy")),
                 ("checks", .object(h.checks.map { ($0.name, JSONValue.string($0.value)) }))])
    }

    public static func peers(_ peers: [PeerInfo]) -> JSONValue {
        .object([("peers", .array(peers.map { p in
            var pairs: [(String, JSONValue)] = [("node", .string(p.node.base64URL)), ("address", .string(p.address)),
                                                ("connected", .bool(p.connected))]
            if let s = p.score { pairs.append(("score", .double(s))) }
            pairs += [("overlay", .bool(p.overlay)), ("globalMesh", .bool(p.globalMesh))]
            return .object(pairs)
        }))])
    }

    public static func schedulerGroup(_ g: SchedulerGroupStatus) -> JSONValue {
        .object([
            ("process", .string(g.process.base64URL)),
            ("members", .array(g.members.map { .string($0.base64URL) })),
            ("leader", g.leader.map { .string($0.base64URL) } ?? .null),
            ("term", .integer(Int64(clamping: g.term))),
            ("last_slot", g.lastSlot.map { .integer(Int64(clamping: $0)) } ?? .null),
        ])
    }

    /// One attestation in its JSON form (`ResultAttestation.jsonObject`'s keys, in this order; bytes base64url).
    public static func attestation(_ a: ResultAttestation) -> JSONValue {
        .object([
            ("process", .string(a.process.base64URL)),
            ("slot", .integer(Int64(clamping: a.slot))),
            ("message", .string(a.message.base64URL)),
            ("resultHash", .string(Base64URL.encode(a.resultHash))),
            ("memoryHash", .string(Base64URL.encode(a.memoryHash))),
            ("signer", .string(Base64URL.encode(a.signer))),
            ("signature", .string(Base64URL.encode(a.signature))),
        ])
    }

    /// `GET /attestation/{message}`: `{"attestations":[…], "result"?: "<base64url of the bytes handle returned>"}`.
    public static func attestations(_ list: [ResultAttestation], result: [UInt8]?) -> JSONValue {
        var pairs: [(String, JSONValue)] = [("attestations", .array(list.map(attestation)))]
        if let result { pairs.append(("result", .string(Base64URL.encode(result)))) }
        return .object(pairs)
    }
}
