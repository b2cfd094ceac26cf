/// Typed views of the AO data-item kinds (ao-protocol.md section 1). Each view wraps a parsed `DataItem` and is only
/// constructed when the item carries the kind's required tags with well-formed values; the view then exposes them
/// typed. Views do not verify signatures: verify the item first.
///
/// Tag names are matched ignoring ASCII case (the SU accepts `Type` and `type`; HyperBEAM writes lowercase
/// Scheduler-Location tags). When a tag repeats, the first one counts, as the MU's "whichever comes first" rule.
public enum AOKind: String, Sendable, CaseIterable {
    case process = "Process", message = "Message", module = "Module", assignment = "Assignment"
    case schedulerLocation = "Scheduler-Location"

    /// The kind named by the item's `Type` tag, if it is one of these.
    public static func of(_ item: DataItem) -> AOKind? {
        guard let t = item.tag(caseInsensitive: "Type") else { return nil }
        return allCases.first { $0.rawValue.lowercased() == t.lowercased() }
    }
}

/// Why an item is not a valid AO item of the requested kind. Equality compares the case only.
public struct AOKindError: Error, Hashable, Sendable, CustomStringConvertible {
    enum Kind: String, Sendable { case notAO, wrongType, missingTag, badTagValue, missingTarget, unexpectedTarget }
    let kind: Kind
    public let detail: String
    init(_ kind: Kind, _ detail: String = "") { self.kind = kind; self.detail = detail }
    func with(_ detail: String) -> AOKindError { AOKindError(kind, detail) }
    public static func == (l: AOKindError, r: AOKindError) -> Bool { l.kind == r.kind }
    public func hash(into h: inout Hasher) { h.combine(kind) }
    public var code: String { kind.rawValue }

    /// No `Data-Protocol: ao` tag (the MU requires it on processes and messages).
    public static let notAO = AOKindError(.notAO)
    /// The `Type` tag is missing or names another kind.
    public static let wrongType = AOKindError(.wrongType)
    /// A tag the kind requires is absent (the detail names it).
    public static let missingTag = AOKindError(.missingTag)
    /// A required or typed tag has a malformed value (e.g. `Module` not a 43-character id, `Nonce` not decimal).
    public static let badTagValue = AOKindError(.badTagValue)
    /// A message has no target (its target is the process id).
    public static let missingTarget = AOKindError(.missingTarget)
    /// A process, module or assignment has a target, which AO leaves empty on these kinds.
    public static let unexpectedTarget = AOKindError(.unexpectedTarget)

    public var description: String {
        let base: String
        switch kind {
        case .notAO: base = "not an AO item: no Data-Protocol: ao tag"
        case .wrongType: base = "wrong or missing Type tag"
        case .missingTag: base = "a required tag is missing"
        case .badTagValue: base = "a tag has a malformed value"
        case .missingTarget: base = "a message needs a target (the process id)"
        case .unexpectedTarget: base = "this kind of item must not have a target"
        }
        return detail.isEmpty ? base : "\(base): \(detail)"
    }
}

/// Shared tag checks for the views.
struct AOTagReader {
    let item: DataItem

    func isAO() -> Bool {
        item.tags.contains { $0.nameString.lowercased() == "data-protocol" && $0.valueString == "ao" }
    }
    func requireAO() throws(AOKindError) { guard isAO() else { throw .notAO } }
    func requireType(_ kind: AOKind, optional: Bool = false) throws(AOKindError) {
        guard let t = item.tag(caseInsensitive: "Type") else {
            if optional { return }
            throw AOKindError.wrongType.with("no Type tag, want \(kind.rawValue)")
        }
        guard t.lowercased() == kind.rawValue.lowercased() else { throw AOKindError.wrongType.with("Type is \(t), want \(kind.rawValue)") }
    }
    func string(_ name: String) throws(AOKindError) -> String {
        guard let v = item.tag(caseInsensitive: name) else { throw AOKindError.missingTag.with(name) }
        return v
    }
    func optional(_ name: String) -> String? { item.tag(caseInsensitive: name) }
    func id(_ name: String) throws(AOKindError) -> ID32 {
        let v = try string(name)
        guard let id = ID32(base64URL: v) else { throw AOKindError.badTagValue.with("\(name) is not a 43-character id: \(v)") }
        return id
    }
    func optionalID(_ name: String) throws(AOKindError) -> ID32? {
        guard optional(name) != nil else { return nil }
        return try id(name)
    }
    func number(_ name: String) throws(AOKindError) -> UInt64 {
        let v = try string(name)
        guard !v.isEmpty, v.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = UInt64(v) else {
            throw AOKindError.badTagValue.with("\(name) is not a decimal number: \(v)")
        }
        return n
    }
    func optionalNumber(_ name: String) throws(AOKindError) -> UInt64? {
        guard optional(name) != nil else { return nil }
        return try number(name)
    }
}

/// A process spawn: `Data-Protocol: ao`, `Type: Process`, `Module: <module id>`, no target.
/// Optional: `Scheduler` (the SU wallet address), `Authority` (repeatable), `Cron-Interval`, `Memory-Limit`,
/// `Compute-Limit`, and aonode's `Scheduler-Replicas` (default 3).
public struct AOProcess: Sendable, Hashable {
    /// aonode's default replica count for a process's scheduling group (DESIGN.md section 2).
    public static let schedulerReplicasDefaultCount = 3

    public let item: DataItem
    public var id: ProcessID { ProcessID(item.id) }
    public let module: MessageID
    public let scheduler: Address?
    public let authorities: [String]
    public let cronInterval: String?
    public let memoryLimit: String?
    public let computeLimit: String?
    public let schedulerReplicas: Int

    public init(_ item: DataItem) throws(AOKindError) {
        let r = AOTagReader(item: item)
        try r.requireAO()
        try r.requireType(.process)
        guard item.target == nil else { throw .unexpectedTarget }
        self.item = item
        module = MessageID(raw: try r.id("Module"))
        scheduler = try r.optionalID("Scheduler").map { Address(raw: $0) }
        authorities = item.tags.filter { $0.nameString.lowercased() == "authority" }.map(\.valueString)
        cronInterval = r.optional("Cron-Interval")
        memoryLimit = r.optional("Memory-Limit")
        computeLimit = r.optional("Compute-Limit")
        if let n = try r.optionalNumber("Scheduler-Replicas") {
            guard n >= 1, n <= 64 else { throw AOKindError.badTagValue.with("Scheduler-Replicas must be 1...64") }
            schedulerReplicas = Int(n)
        } else {
            schedulerReplicas = AOProcess.schedulerReplicasDefaultCount
        }
    }
}

/// A message to a process: `Data-Protocol: ao`, `Type: Message`, target = the process id.
/// Optional: `Action`, `From-Process` and `From-Module` (pushed by a scheduler/MU), `Pushed-For`, `Reference`.
public struct AOMessage: Sendable, Hashable {
    public let item: DataItem
    public var id: MessageID { item.id }
    public let process: ProcessID
    public let action: String?
    public let fromProcess: ProcessID?
    public let pushedFor: MessageID?
    public let reference: String?

    public init(_ item: DataItem) throws(AOKindError) {
        let r = AOTagReader(item: item)
        try r.requireAO()
        try r.requireType(.message)
        guard let target = item.target else { throw .missingTarget }
        self.item = item
        process = ProcessID(raw: target)
        action = r.optional("Action")
        fromProcess = try r.optionalID("From-Process").map { ProcessID(raw: $0) }
        pushedFor = try r.optionalID("Pushed-For").map { MessageID(raw: $0) }
        reference = r.optional("Reference")
    }
}

/// A WASM module: `Data-Protocol: ao`, `Type: Module`, `Module-Format`, `Input-Encoding`, `Output-Encoding`;
/// optional `Memory-Limit`, `Compute-Limit`. The data is the WASM binary.
public struct AOModule: Sendable, Hashable {
    public let item: DataItem
    public var id: MessageID { item.id }
    public let moduleFormat: String
    public let inputEncoding: String
    public let outputEncoding: String
    public let memoryLimit: String?
    public let computeLimit: String?

    public init(_ item: DataItem) throws(AOKindError) {
        let r = AOTagReader(item: item)
        try r.requireAO()
        try r.requireType(.module)
        guard item.target == nil else { throw .unexpectedTarget }
        self.item = item
        moduleFormat = try r.string("Module-Format")
        inputEncoding = try r.string("Input-Encoding")
        outputEncoding = try r.string("Output-Encoding")
        memoryLimit = r.optional("Memory-Limit")
        computeLimit = r.optional("Compute-Limit")
    }
}

/// An assignment of a message to a process slot, signed by the scheduler: `Process`, `Epoch`, `Nonce` (the slot),
/// `Hash-Chain`, `Block-Height`, `Timestamp`, and `Message` (absent on a process's own assignment); `Type: Assignment`
/// and `Data-Protocol: ao` are checked when present (the SU's older assignments lack them).
public struct AOAssignment: Sendable, Hashable {
    public let item: DataItem
    public var id: MessageID { item.id }
    public let process: ProcessID
    public let epoch: UInt64
    public let nonce: UInt64
    public let hashChain: String
    public let blockHeight: UInt64
    public let timestamp: UInt64
    public let message: MessageID?
    /// `Exclude` tags (aop-1), in order.
    public let excludes: [String]

    public init(_ item: DataItem) throws(AOKindError) {
        let r = AOTagReader(item: item)
        try r.requireType(.assignment, optional: true)
        if r.optional("Data-Protocol") != nil { try r.requireAO() }
        guard item.target == nil else { throw .unexpectedTarget }
        self.item = item
        process = ProcessID(raw: try r.id("Process"))
        epoch = try r.number("Epoch")
        nonce = try r.number("Nonce")
        hashChain = try r.string("Hash-Chain")
        guard Base64URL.decode(hashChain)?.count == 32 else { throw AOKindError.badTagValue.with("Hash-Chain is not 32 bytes of base64url") }
        blockHeight = try r.number("Block-Height")
        timestamp = try r.number("Timestamp")
        message = try r.optionalID("Message").map { MessageID(raw: $0) }
        excludes = item.tags.filter { $0.nameString.lowercased() == "exclude" }.map(\.valueString)
    }
}

/// A scheduler's location record: `Data-Protocol: ao`, `Type: Scheduler-Location`, `Url`, `Time-To-Live` (ms).
/// The scheduler's address is the item's owner address.
public struct AOSchedulerLocation: Sendable, Hashable {
    public let item: DataItem
    public var scheduler: Address { item.ownerAddress }
    public let url: String
    public let timeToLiveMilliseconds: UInt64

    public init(_ item: DataItem) throws(AOKindError) {
        let r = AOTagReader(item: item)
        try r.requireAO()
        try r.requireType(.schedulerLocation)
        self.item = item
        url = try r.string("Url")
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw AOKindError.badTagValue.with("Url must be http(s): \(url)") }
        timeToLiveMilliseconds = try r.number("Time-To-Live")
    }
}
