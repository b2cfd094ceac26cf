/// A data-item tag as the compute unit sees it. (Plain fields until `AOCore.DataItem` from branch `foundation` is
/// merged; the evaluator only needs names and values.)
public struct ComputeTag: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) { self.name = name; self.value = value }
    var json: JSONValue { .object([("name", .string(name)), ("value", .string(value))]) }
}

/// The process being computed: its spawn data item and its module's tags (the env of every message).
public struct ProcessDefinition: Sendable, Equatable {
    public var id: String
    /// Owner address (base64url SHA-256 of the owner key).
    public var owner: String
    public var tags: [ComputeTag]
    public var moduleID: String
    public var moduleOwner: String
    public var moduleTags: [ComputeTag]
    /// The process item's own timestamp and height: the origin of its crons.
    public var timestamp: Int64
    public var blockHeight: Int64

    public init(id: String, owner: String, tags: [ComputeTag], moduleID: String, moduleOwner: String,
                moduleTags: [ComputeTag], timestamp: Int64, blockHeight: Int64) {
        self.id = id; self.owner = owner; self.tags = tags; self.moduleID = moduleID; self.moduleOwner = moduleOwner
        self.moduleTags = moduleTags; self.timestamp = timestamp; self.blockHeight = blockHeight
    }

    public func tag(_ name: String) -> String? { tags.first { $0.name == name }?.value }

    /// The env object (ao-protocol.md 3.5): `{Process:{Id,Owner,Tags}, Module:{Id,Owner,Tags}}`.
    public var envJSON: String {
        JSONValue.object([
            ("Process", .object([("Id", .string(id)), ("Owner", .string(owner)), ("Tags", .array(tags.map(\.json)))])),
            ("Module", .object([("Id", .string(moduleID)), ("Owner", .string(moduleOwner)), ("Tags", .array(moduleTags.map(\.json)))])),
        ]).serialized()
    }

    /// Per-message limits: the process's tags override the module's (ao-protocol.md 1.2).
    public var limits: ProcessLimits {
        var l = ProcessLimits()
        let find = { (name: String) in self.tag(name) ?? self.moduleTags.first { $0.name == name }?.value }
        if let c = find("Compute-Limit"), let n = UInt64(c) { l.computeLimit = n }
        if let m = find("Memory-Limit"), let n = ProcessLimits.parseBytes(m) { l.memoryLimitBytes = min(n, ComputeLimits.memoryLimitMaxBytes) }
        return l
    }
}

/// A committed (assignment, message) pair: the message at one slot of the process.
public struct ScheduledMessage: Sendable, Equatable {
    /// The assignment's Nonce.
    public var slot: Int64
    public var epoch: Int64
    /// The assignment's Timestamp (ms) and Block-Height.
    public var timestamp: Int64
    public var blockHeight: Int64
    public var hashChain: String?
    public var id: String
    public var signature: String?
    /// The signer's address.
    public var owner: String
    public var target: String
    public var anchor: String?
    public var data: String?
    public var tags: [ComputeTag]

    public init(slot: Int64, epoch: Int64 = 0, timestamp: Int64, blockHeight: Int64, hashChain: String? = nil, id: String,
                signature: String? = nil, owner: String, target: String, anchor: String? = nil, data: String?,
                tags: [ComputeTag]) {
        self.slot = slot; self.epoch = epoch; self.timestamp = timestamp; self.blockHeight = blockHeight
        self.hashChain = hashChain; self.id = id; self.signature = signature; self.owner = owner; self.target = target
        self.anchor = anchor; self.data = data; self.tags = tags
    }

    /// The message object exactly as AO's CU builds it (ao-protocol.md 3.5): `From` is the `From-Process` tag or the
    /// owner, `Forwarded-By` only when `From-Process` exists, tags named `From`/`Owner` removed, absent keys dropped.
    public func json(readOnly: Bool = false) -> JSONValue {
        var m: [(String, JSONValue)] = [("Id", .string(id))]
        if let signature { m.append(("Signature", .string(signature))) }
        if let data { m.append(("Data", .string(data))) }
        m.append(("Owner", .string(owner)))
        m.append(("Target", .string(target)))
        if let anchor { m.append(("Anchor", .string(anchor))) }
        let fromProcess = tags.first { $0.name == "From-Process" }?.value
        m.append(("From", .string(fromProcess ?? owner)))
        if fromProcess != nil { m.append(("Forwarded-By", .string(owner))) }
        m.append(("Tags", .array(tags.filter { $0.name != "From" && $0.name != "Owner" }.map(\.json))))
        if !readOnly {
            m.append(("Epoch", .number(Double(epoch))))
            m.append(("Nonce", .number(Double(slot))))
        }
        m.append(("Timestamp", .number(Double(timestamp))))
        m.append(("Block-Height", .number(Double(blockHeight))))
        if let hashChain, !readOnly { m.append(("Hash-Chain", .string(hashChain))) }
        m.append(("Cron", .bool(false)))
        m.append(("Read-Only", .bool(readOnly)))
        return .object(m)
    }
}

/// Cron schedules of a process (`Cron-Interval` plus following `Cron-Tag-*`, ao-protocol.md 1.8).
///
/// Done: parsing (block and time units as the `ms` package reads them), time-based crons generated between two
/// scheduled messages exactly as the CU's `cronMessagesBetween` does (1 s steps from the left message's timestamp,
/// origin = the process's timestamp, sorted by interval), and the cron message shape. Block-based crons need the
/// Arweave block timeline (height by timestamp), which the node does not have yet: they are parsed but never fire.
public struct CronSchedule: Sendable, Equatable {
    public enum Unit: Sendable, Equatable { case blocks, seconds }
    public struct Entry: Sendable, Equatable {
        public var interval: String
        public var unit: Unit
        public var value: Int64
        public var tags: [ComputeTag]
    }
    public var entries: [Entry]

    /// A malformed cron definition (the CU refuses the process).
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    public init(processTags: [ComputeTag]) throws(ParseError) {
        var entries: [Entry] = []
        for t in processTags {
            if t.name == "Cron-Interval" {
                entries.append(try CronSchedule.parseInterval(t.value))
            } else if t.name.hasPrefix("Cron-Tag-") {
                guard !entries.isEmpty else { throw ParseError(description: "Unmatched Cron-Tag with no preceding Cron-Interval: \(t.name)") }
                entries[entries.count - 1].tags.append(ComputeTag(String(t.name.dropFirst("Cron-Tag-".count)), t.value))
            }
        }
        self.entries = entries
    }

    static func parseInterval(_ interval: String) throws(ParseError) -> Entry {
        let parts = interval.split(separator: "-", maxSplits: 1).map { String($0).trimmingCharacters(in: " ") }
        guard parts.count == 2, let n = Double(parts[0]) else { throw ParseError(description: "bad Cron-Interval \(interval)") }
        let unit = parts[1].lowercased()
        if unit == "block" || unit == "blocks" {
            guard n >= 1 else { throw ParseError(description: "bad Cron-Interval \(interval)") }
            return Entry(interval: interval, unit: .blocks, value: Int64(n), tags: [])
        }
        let factor: Double
        switch unit {
        case "ms", "msec", "msecs", "millisecond", "milliseconds": factor = 0.001
        case "s", "sec", "secs", "second", "seconds": factor = 1
        case "m", "min", "mins", "minute", "minutes": factor = 60
        case "h", "hr", "hrs", "hour", "hours": factor = 3600
        case "d", "day", "days": factor = 86400
        case "w", "week", "weeks": factor = 604_800
        case "y", "yr", "yrs", "year", "years": factor = 31_557_600
        default: throw ParseError(description: "bad Cron-Interval unit \(unit)")
        }
        let seconds = (n * factor).rounded(.down)
        guard seconds >= 1 else { throw ParseError(description: "time-based cron cannot be less than 1 second") }
        return Entry(interval: interval, unit: .seconds, value: Int64(seconds), tags: [])
    }

    /// Time-based cron messages strictly between two scheduled messages (left timestamp inclusive stepping, right
    /// exclusive), in the CU's order.
    public func messagesBetween(process: ProcessDefinition, leftTimestamp: Int64, rightTimestamp: Int64, blockHeight: Int64) -> [JSONValue] {
        cronsBetween(process: process, leftTimestamp: leftTimestamp, rightTimestamp: rightTimestamp, blockHeight: blockHeight).map(\.message)
    }

    /// The same cron messages, each with its timestamp and the `Cron-Interval` of its schedule.
    public func cronsBetween(process: ProcessDefinition, leftTimestamp: Int64, rightTimestamp: Int64, blockHeight: Int64)
        -> [(message: JSONValue, timestamp: Int64, interval: String)] {
        var out: [(message: JSONValue, timestamp: Int64, interval: String)] = []
        // The body never throws.
        try? forEachCron(process: process, leftTimestamp: leftTimestamp, rightTimestamp: rightTimestamp, blockHeight: blockHeight) {
            out.append(($0, $1, $2))
        }
        return out
    }

    /// The same, one at a time: a long gap between two messages (a day of 1-second crons is 86,400 messages) is
    /// never held in memory at once.
    public func forEachCron(process: ProcessDefinition, leftTimestamp: Int64, rightTimestamp: Int64, blockHeight: Int64,
                            _ body: (_ message: JSONValue, _ timestamp: Int64, _ interval: String) throws(ComputeError) -> Void)
        throws(ComputeError) {
        let timeBased = entries.filter { $0.unit == .seconds }.sorted { $0.value < $1.value }
        guard !timeBased.isEmpty, rightTimestamp > leftTimestamp else { return }
        let origin = CronSchedule.floorDiv(process.timestamp, 1000)
        var t = leftTimestamp
        // Bounded: at most one step per second between two messages; a day-long gap is 86400 steps.
        while t < rightTimestamp {
            let sec = CronSchedule.floorDiv(t, 1000)
            for e in timeBased where sec != origin && (sec - origin) % e.value == 0 {
                try body(.object([
                    ("Owner", .string(process.owner)), ("Target", .string(process.id)), ("From", .string(process.owner)),
                    ("Tags", .array(e.tags.map(\.json))), ("Timestamp", .number(Double(t))),
                    ("Block-Height", .number(Double(blockHeight))), ("Cron", .bool(true)), ("Read-Only", .bool(false)),
                ]), t, e.interval)
            }
            t += 1000
        }
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : (a - b + 1) / b }
}
