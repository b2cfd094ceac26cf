import AOStore
import Foundation

/// Where the evaluator keeps results and checkpoints. The node binds it to its LMDB `ContentStore`; tests use
/// `MemoryComputeStore`. Implementations must be safe to call from several threads (different processes evaluate
/// concurrently).
public protocol ComputeStore: AnyObject, Sendable {
    /// The encoded result of `slot`, or nil if not computed yet.
    func result(process: String, slot: Int64) throws(ComputeError) -> [UInt8]?
    func putResult(process: String, slot: Int64, _ encoded: [UInt8]) throws(ComputeError)
    /// The highest checkpointed slot at or below `slot`, with the encoded checkpoint.
    func checkpoint(process: String, atOrBelow slot: Int64) throws(ComputeError) -> (slot: Int64, bytes: [UInt8])?
    /// The slot of that checkpoint alone: deciding where a replay starts must not read a whole memory image.
    func checkpointSlot(process: String, atOrBelow slot: Int64) throws(ComputeError) -> Int64?
    func putCheckpoint(process: String, slot: Int64, _ encoded: [UInt8]) throws(ComputeError)
    /// Keeps the result of a cron message evaluated between two scheduled messages (served by `GET /cron`).
    func putCronResult(process: String, position: CronPosition, _ encoded: [UInt8]) throws(ComputeError)
}

/// Where a cron evaluation sits in a process's timeline: its timestamp, the slot of the scheduled message it follows
/// (AO's ordinate) and its place among the crons of that gap; `interval` is its schedule's `Cron-Interval`.
public struct CronPosition: Sendable, Hashable, Comparable {
    public var timestamp: Int64
    public var ordinate: Int64
    public var index: Int
    public var interval: String
    public init(timestamp: Int64, ordinate: Int64, index: Int, interval: String) {
        self.timestamp = timestamp; self.ordinate = ordinate; self.index = index; self.interval = interval
    }
    /// The `cron` field of a results cursor.
    public var label: String { "\(index)-\(interval)" }
    public static func < (a: Self, b: Self) -> Bool { (a.timestamp, a.ordinate, a.index) < (b.timestamp, b.ordinate, b.index) }
}

/// A `ComputeStore` in memory, for tests and the CLI.
public final class MemoryComputeStore: ComputeStore, @unchecked Sendable {
    private let lock = NSLock()
    private var results: [String: [Int64: [UInt8]]] = [:]
    private var checkpoints: [String: [Int64: [UInt8]]] = [:]
    public init() {}
    public func result(process: String, slot: Int64) throws(ComputeError) -> [UInt8]? { lock.withLock { results[process]?[slot] } }
    public func putResult(process: String, slot: Int64, _ encoded: [UInt8]) throws(ComputeError) {
        lock.withLock { results[process, default: [:]][slot] = encoded }
    }
    public func checkpoint(process: String, atOrBelow slot: Int64) throws(ComputeError) -> (slot: Int64, bytes: [UInt8])? {
        lock.withLock {
            guard let all = checkpoints[process], let best = all.greatestKey(atOrBelow: slot) else { return nil }
            return (best, all[best]!)
        }
    }
    public func checkpointSlot(process: String, atOrBelow slot: Int64) throws(ComputeError) -> Int64? {
        lock.withLock { checkpoints[process]?.greatestKey(atOrBelow: slot) }
    }
    public func putCheckpoint(process: String, slot: Int64, _ encoded: [UInt8]) throws(ComputeError) {
        lock.withLock { checkpoints[process, default: [:]][slot] = encoded }
    }
    public var checkpointCount: Int { lock.withLock { checkpoints.values.reduce(0) { $0 + $1.count } } }
    private var crons: [String: [CronPosition: [UInt8]]] = [:]
    public func putCronResult(process: String, position: CronPosition, _ encoded: [UInt8]) throws(ComputeError) {
        lock.withLock { crons[process, default: [:]][position] = encoded }
    }
    /// The kept cron results of `process`, in timeline order.
    public func cronResults(process: String) -> [(CronPosition, [UInt8])] {
        lock.withLock { (crons[process] ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }
}

/// When to save a checkpoint: every `everyMessages` messages or `everyComputeSeconds` of compute since the last one
/// (and on `Evaluator.checkpointAll()`, which the node calls at shutdown).
public struct CheckpointPolicy: Sendable, Equatable {
    public var everyMessages: Int
    public var everyComputeSeconds: Double
    public init(everyMessages: Int = 1000, everyComputeSeconds: Double = 30) {
        self.everyMessages = everyMessages
        self.everyComputeSeconds = everyComputeSeconds
    }
}

extension EvaluationResult {
    /// Store encoding: the CLI JSON line plus the result hash and rollback flag.
    public func encoded() -> [UInt8] {
        guard case .object(var m) = json() else { return [] }
        m.append(("ResultHash", .string(resultHash.map { String(format: "%02x", $0) }.joined())))
        m.append(("RolledBack", .bool(rolledBack)))
        var out: [UInt8] = []
        JSONValue.object(m).write(into: &out)
        return out
    }

    public init(encoded: [UInt8]) throws(ComputeError) {
        guard let v = try? JSONValue.parse(bytes: encoded) else { throw .store("stored result is not JSON") }
        let hex = v["ResultHash"]?.stringValue ?? ""
        var hash: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex, let j = hex.index(i, offsetBy: 2, limitedBy: hex.endIndex), let b = UInt8(hex[i..<j], radix: 16) {
            hash.append(b); i = j
        }
        self.init(output: v["Output"], messages: v["Messages"]?.arrayValue ?? [], spawns: v["Spawns"]?.arrayValue ?? [],
                  assignments: v["Assignments"]?.arrayValue ?? [], error: v["Error"],
                  gasUsed: UInt64(v["GasUsed"]?.numberValue ?? 0), resultHash: hash, rolledBack: v["RolledBack"] == .bool(true))
    }
}

/// Computes a process's results slot by slot, on demand, from the nearest checkpoint.
///
/// One live `ProcessRunner` per process is kept between calls, so a process that receives messages one by one is
/// evaluated in place. Different processes are evaluated concurrently (each under its own lock); the same process
/// serialises. Results are cached by (process, slot) in the store; checkpoints are saved by the policy.
public final class Evaluator: @unchecked Sendable {
    public let store: any ComputeStore
    public let options: EngineOptions
    public let policy: CheckpointPolicy
    let drive: (any WeaveDrive)?

    final class Live {
        let lock = NSLock()
        var runner: ProcessRunner?
        /// The slot whose state the runner holds (-1: after start-up).
        var slot: Int64 = -1
        var lastTimestamp: Int64 = 0
        var messagesSinceCheckpoint = 0
        var nanosAtCheckpoint: UInt64 = 0
    }
    private let lock = NSLock()
    private var live: [String: Live] = [:]

    public init(store: any ComputeStore, options: EngineOptions = .default, policy: CheckpointPolicy = CheckpointPolicy(),
                drive: (any WeaveDrive)? = nil) {
        self.store = store
        self.options = options
        self.policy = policy
        self.drive = drive
    }

    private func liveState(_ process: String) -> Live {
        lock.withLock {
            if let l = live[process] { return l }
            let l = Live(); live[process] = l; return l
        }
    }

    /// The results of every message in `messages` (ordered by slot, contiguous), computing what is not cached.
    /// Cron messages due between two scheduled messages are evaluated in between; their results are kept with
    /// `putCronResult` (positioned after the slot they follow).
    ///
    /// `afterEach` runs (under the process's lock, on the calling thread) after every message that is evaluated now
    /// (not for cached results), with the runner in the state after that message: the node signs attestations there.
    public func evaluate(process: ProcessDefinition, module: ProcessModule, messages: [ScheduledMessage],
                         afterEach: ((ScheduledMessage, EvaluationResult, ProcessRunner) -> Void)? = nil)
        throws(ComputeError) -> [EvaluationResult]
    {
        guard let last = messages.last else { return [] }
        var cached: [EvaluationResult] = []
        for m in messages {
            guard let bytes = try store.result(process: process.id, slot: m.slot) else { break }
            cached.append(try EvaluationResult(encoded: bytes))
        }
        if cached.count == messages.count { return cached }
        let l = liveState(process.id)
        l.lock.lock(); defer { l.lock.unlock() }
        try position(l, process: process, module: module, atOrBelow: messages[cached.count].slot - 1)
        let crons: CronSchedule
        do { crons = try CronSchedule(processTags: process.tags) } catch { throw .invalidInput("\(error)") }
        let env = process.envJSON
        var results: [EvaluationResult] = []
        for m in messages {
            if m.slot <= l.slot {
                guard let bytes = try store.result(process: process.id, slot: m.slot) else {
                    throw .store("result of slot \(m.slot) missing below the live state at \(l.slot)")
                }
                results.append(try EvaluationResult(encoded: bytes))
                continue
            }
            guard m.slot == l.slot + 1 else { throw .invalidInput("slot \(m.slot) does not follow \(l.slot)") }
            let runner = l.runner!
            if l.slot >= 0 {
                var index = 0
                let ordinate = l.slot
                try crons.forEachCron(process: process, leftTimestamp: l.lastTimestamp, rightTimestamp: m.timestamp,
                                      blockHeight: m.blockHeight) { (message, timestamp, interval) throws(ComputeError) in
                    let r = runner.evaluate(message: message.serialized(), env: env)
                    try store.putCronResult(process: process.id, position: CronPosition(timestamp: timestamp, ordinate: ordinate,
                                                                                         index: index, interval: interval), r.encoded())
                    index += 1
                }
            }
            let r = runner.evaluate(message: m.json().serialized(), env: env)
            try store.putResult(process: process.id, slot: m.slot, r.encoded())
            afterEach?(m, r, runner)
            results.append(r)
            l.slot = m.slot
            l.lastTimestamp = m.timestamp
            l.messagesSinceCheckpoint += 1
            let computeSince = Double(runner.computeNanoseconds &- l.nanosAtCheckpoint) / 1e9
            if l.messagesSinceCheckpoint >= policy.everyMessages || computeSince >= policy.everyComputeSeconds {
                try saveCheckpoint(l, process: process.id, module: module)
            }
        }
        _ = last
        return results
    }

    /// Brings the live runner to the state after `slot` or the nearest state below it (a checkpoint, or start-up).
    private func position(_ l: Live, process: ProcessDefinition, module: ProcessModule, atOrBelow slot: Int64) throws(ComputeError) {
        if l.runner != nil, l.slot <= slot { return }
        if let (cpSlot, bytes) = try store.checkpoint(process: process.id, atOrBelow: slot) {
            let cp = try Checkpoint.decode(bytes)
            guard cp.moduleHash == module.hash else { throw .invalidCheckpoint("checkpoint of slot \(cpSlot) is for another module") }
            l.runner = try ProcessRunner(module: module, limits: process.limits, options: options, drive: drive, image: cp.image)
            l.slot = cpSlot
            l.lastTimestamp = cp.lastTimestamp
        } else {
            l.runner = try ProcessRunner(module: module, limits: process.limits, options: options, drive: drive)
            l.slot = -1
            l.lastTimestamp = process.timestamp
        }
        l.messagesSinceCheckpoint = 0
        l.nanosAtCheckpoint = l.runner!.computeNanoseconds
    }

    private func saveCheckpoint(_ l: Live, process: String, module: ProcessModule) throws(ComputeError) {
        guard let runner = l.runner else { return }
        var cp = Checkpoint(slot: l.slot, moduleHash: module.hash, image: runner.snapshot(), computeNanoseconds: runner.computeNanoseconds)
        cp.lastTimestamp = l.lastTimestamp
        try store.putCheckpoint(process: process, slot: l.slot, try cp.encoded())
        l.messagesSinceCheckpoint = 0
        l.nanosAtCheckpoint = runner.computeNanoseconds
    }

    /// Saves a checkpoint of every live process (the node calls this at shutdown).
    public func checkpointAll(modules: [String: ProcessModule]) throws(ComputeError) {
        let all = lock.withLock { live }
        for (pid, l) in all {
            guard let module = modules[pid] else { continue }
            l.lock.lock(); defer { l.lock.unlock() }
            if l.slot >= 0, l.messagesSinceCheckpoint > 0 { try saveCheckpoint(l, process: pid, module: module) }
        }
    }

    /// Drops the live runner of `process` (the next evaluation resumes from the nearest checkpoint).
    public func evict(process: String) { lock.withLock { _ = live.removeValue(forKey: process) } }

    /// The memory state hash of the live state of `process` and its slot.
    public func stateHash(process: String) -> (slot: Int64, hash: [UInt8])? {
        let l = liveState(process)
        l.lock.lock(); defer { l.lock.unlock() }
        guard let r = l.runner else { return nil }
        return (l.slot, r.snapshot().stateHash())
    }

    /// Evaluates `message` (a dry-run body: no Epoch/Nonce/Hash-Chain, `Read-Only: true`) on a copy of the state
    /// after `messages` (which are evaluated first if needed). Nothing is stored; the live state is unchanged.
    public func dryRun(process: ProcessDefinition, module: ProcessModule, messages: [ScheduledMessage],
                       message: ScheduledMessage) throws(ComputeError) -> EvaluationResult {
        try evaluateOnCopy(of: state(process: process, module: module, messages: messages).image,
                           process: process, module: module, message: message)
    }

    /// The state after slot `target`, deciding under the process's lock whether the live runner already holds it.
    /// Only when it does not are the messages needed: `messagesFrom(first)` gives them from slot `first` (the slot
    /// after the nearest checkpoint at or below `target`, or 0) through `target`. Deciding here, not in the caller,
    /// is what keeps a concurrent evaluation (the next message, a cron) from moving the live state between the
    /// caller's look at it and its use: the caller never hands over a list that starts at the live slot.
    public func state(process: ProcessDefinition, module: ProcessModule, through target: Int64,
                      messagesFrom: (_ first: Int64) throws -> [ScheduledMessage]) throws -> (slot: Int64, image: MemoryImage)
    {
        let l = liveState(process.id)
        let liveImage: MemoryImage? = l.lock.withLock {
            guard let r = l.runner, l.slot == target else { return nil }
            return r.snapshot()
        }
        if let liveImage { return (target, liveImage) }
        let first = try store.checkpointSlot(process: process.id, atOrBelow: target).map { min($0 + 1, target) } ?? 0
        let messages = try messagesFrom(first)
        guard messages.first?.slot == first, messages.last?.slot == target else {
            throw ComputeError.invalidInput("the messages for the state of slot \(target) must run from slot \(first) through \(target)")
        }
        // A checkpoint saved since is newer, so the rebuild below starts at or after `first`: these messages cover it.
        return try state(process: process, module: module, messages: messages)
    }

    /// A dry-run of `message` on the state after slot `target` (see `state(process:module:through:messagesFrom:)`).
    public func dryRun(process: ProcessDefinition, module: ProcessModule, through target: Int64,
                       messagesFrom: (_ first: Int64) throws -> [ScheduledMessage], message: ScheduledMessage) throws -> EvaluationResult {
        try evaluateOnCopy(of: state(process: process, module: module, through: target, messagesFrom: messagesFrom).image,
                           process: process, module: module, message: message)
    }

    /// Evaluates the dry-run `message` on a runner of its own made from `image`: nothing is stored.
    private func evaluateOnCopy(of image: MemoryImage, process: ProcessDefinition, module: ProcessModule,
                                message: ScheduledMessage) throws(ComputeError) -> EvaluationResult {
        let copy = try ProcessRunner(module: module, limits: process.limits, options: options, drive: drive, image: image)
        return copy.evaluate(message: message.json(readOnly: true).serialized(), env: process.envJSON)
    }

    /// The state (memory and host state) after the last of `messages` (evaluated first if needed). `messages` must be
    /// contiguous and start right after the nearest checkpoint at or below the last one (or at slot 0). When the live
    /// runner is past that slot, a temporary runner is rebuilt from the checkpoint plus a replay; the live state is
    /// left where it is.
    public func state(process: ProcessDefinition, module: ProcessModule, messages: [ScheduledMessage])
        throws(ComputeError) -> (slot: Int64, image: MemoryImage)
    {
        _ = try evaluate(process: process, module: module, messages: messages)
        let target = messages.last?.slot ?? -1
        let l = liveState(process.id)
        l.lock.lock(); defer { l.lock.unlock() }
        if let r = l.runner, l.slot == target { return (target, r.snapshot()) }
        let crons: CronSchedule
        do { crons = try CronSchedule(processTags: process.tags) } catch { throw .invalidInput("\(error)") }
        let runner: ProcessRunner
        var slot: Int64 = -1
        var lastTimestamp = process.timestamp
        if let (cpSlot, bytes) = try store.checkpoint(process: process.id, atOrBelow: target) {
            let cp = try Checkpoint.decode(bytes)
            guard cp.moduleHash == module.hash else { throw .invalidCheckpoint("checkpoint of slot \(cpSlot) is for another module") }
            runner = try ProcessRunner(module: module, limits: process.limits, options: options, drive: drive, image: cp.image)
            slot = cpSlot
            lastTimestamp = cp.lastTimestamp
        } else {
            runner = try ProcessRunner(module: module, limits: process.limits, options: options, drive: drive)
        }
        let env = process.envJSON
        for m in messages where m.slot > slot {
            guard m.slot == slot + 1 else {
                throw .invalidInput("slot \(m.slot) does not follow \(slot): give the messages from the nearest checkpoint")
            }
            if slot >= 0 {
                try crons.forEachCron(process: process, leftTimestamp: lastTimestamp, rightTimestamp: m.timestamp,
                                  blockHeight: m.blockHeight) { message, _, _ in _ = runner.evaluate(message: message.serialized(), env: env) }
            }
            _ = runner.evaluate(message: m.json().serialized(), env: env)
            slot = m.slot
            lastTimestamp = m.timestamp
        }
        guard slot == target else { throw .invalidInput("state of slot \(target) needs the messages from slot \(slot + 1)") }
        if l.runner == nil {
            // Nothing live: keep this one (the next evaluation continues from it).
            l.runner = runner; l.slot = slot; l.lastTimestamp = lastTimestamp
            l.messagesSinceCheckpoint = 0; l.nanosAtCheckpoint = runner.computeNanoseconds
        }
        return (slot, runner.snapshot())
    }

    /// The slot whose state the live runner of `process` holds (nil when none is live).
    public func liveSlot(process: String) -> Int64? {
        let l = liveState(process)
        l.lock.lock(); defer { l.lock.unlock() }
        return l.runner == nil ? nil : l.slot
    }

    /// Evaluates several processes at once, each on its own thread (with a native stack large enough for deep
    /// `invoke_*` nesting), and returns their results in the order given.
    public func evaluateConcurrently(_ jobs: [(ProcessDefinition, ProcessModule, [ScheduledMessage])])
        -> [Result<[EvaluationResult], ComputeError>]
    {
        let results = ResultBox(count: jobs.count)
        let group = DispatchGroup()
        for (i, job) in jobs.enumerated() {
            group.enter()
            let t = Thread { [self] in
                let r: Result<[EvaluationResult], ComputeError>
                do { r = .success(try self.evaluate(process: job.0, module: job.1, messages: job.2)) } catch { r = .failure((error as? ComputeError) ?? .store("\(error)")) }
                results.set(i, r)
                group.leave()
            }
            t.stackSize = Evaluator.threadStackBytes
            t.start()
        }
        group.wait()
        return results.values.map { $0! }
    }

    /// Native stack of evaluation threads: 512 nested `invoke_*` calls, each a few KiB of interpreter frames.
    public static let threadStackBytes = 64 << 20

    final class ResultBox: @unchecked Sendable {
        let lock = NSLock()
        var values: [Result<[EvaluationResult], ComputeError>?]
        init(count: Int) { values = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ r: Result<[EvaluationResult], ComputeError>) { lock.withLock { values[i] = r } }
    }
}
