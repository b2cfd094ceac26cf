import AOCompute
import AOCore
import AOHTTP
import AOScheduling
import AOStore
import AOStoreLMDB
import Foundation
import Logging

/// Evaluation of processes on this node: results by (process, slot) from the store's process logs, checkpoints,
/// attestations, and cranking (pushing outboxes, Cranker.swift) when this node leads the sending process's group.
///
/// - Eager: the runtime's `assignmentsStored(process, lastSlot)` hook raises the process's target slot and starts its
///   worker, which evaluates new slots in chunks in the background (results are ready when clients ask).
/// - Threads: a worker is a `Thread` with `Evaluator.threadStackBytes` of stack (WasmKit needs a deep native stack);
///   one worker per process at a time (a process evaluates serially), at most `concurrency` evaluating at once.
/// - A message body (or the process or module item) that is not in the store yet pauses the process with a log
///   line; storing that item (the runtime's `itemsStored` hook), the next `assignmentsStored` call, or a retry after
///   `pauseRetryFirstSeconds` (doubling up to `pauseRetrySeconds` while it stays paused, for pauses that name no
///   item or an item stored by another path) resumes it. The item is usually a gossip hop behind the assignment
///   that named it (a process's slot 0 and its process item, an assignment and its message body travel
///   separately), so the first retry is soon:
///   with a flat 2 s, a burst whose last assignment came before its last body stalled for 2 s (seen in
///   scripts/bench/node as 218 instead of 300-500 messages/s).
/// - Checkpoints: every `NodeConfiguration.checkpointEveryMessages` messages and on `shutdown()`.
public final class ComputeService: @unchecked Sendable {
    let store: LMDBContentStore
    let key: Ed25519PrivateKey
    let configuration: NodeConfiguration
    let logger: Logger
    let computeStore: LMDBComputeStore
    let evaluator: Evaluator
    /// Messages evaluated per chunk (waiters are woken and the stop flag read between chunks).
    let chunk: UInt64 = 64
    static let pauseRetrySeconds = 2.0
    static let pauseRetryFirstSeconds = 0.05
    /// How long the cranker retries an outbox message whose target is not a known process before skipping it.
    let unknownTargetGiveUpSeconds = 30.0
    var unknownTargetSince: [String: Date] = [:]
    private let gate: DispatchSemaphore

    final class Work {
        /// The highest slot known to be in the process log (from the hook or a request).
        var known: Int64 = -1
        /// The highest slot whose result is stored (nil until first looked up).
        var evaluated: Int64?
        var running = false
        /// Why evaluation waits (a missing item), or nil.
        var paused: String?
        /// The items a pause waits for (registered in `pausedOn`).
        var waitingFor: [MessageID] = []
        /// The wait before the next retry of a paused process: `pauseRetryFirstSeconds`, doubled per pause in a row.
        var pauseRetry = ComputeService.pauseRetryFirstSeconds
        /// An evaluation error that is not a process outcome (bad module, ...); cleared by the next hook call.
        var failure: String?
        /// The last failure logged at error level: a permanent one (a broken module) is logged once, not per hook.
        var loggedFailure: String?
        var waiters: [(slot: Int64, id: UInt64, continuation: CheckedContinuation<Void, Error>)] = []
        var cranking = false
        var crankAgain = false
    }

    let lock = NSLock()
    var work: [ProcessID: Work] = [:]
    /// The first retry of a pause (`pauseRetryFirstSeconds`; tests set it long to see that storing the item resumes).
    var pauseRetryFirst = ComputeService.pauseRetryFirstSeconds
    /// Paused processes by the item each waits for: storing it resumes them without waiting for the retry timer.
    var pausedOn: [MessageID: Set<ProcessID>] = [:]
    private var modules: [MessageID: ProcessModule] = [:]
    private var definitions: [ProcessID: (ProcessDefinition, ProcessModule)] = [:]
    var stopping = false
    private var waiterSequence: UInt64 = 0
    var runtime: NodeRuntime?
    /// Asks peers for items evaluation waits for (a module, a process item, a message body that gossip never
    /// brought); set by `Node` to `Replication.fetchInBackground`. Without it a missing item waits for gossip or
    /// anti-entropy alone.
    var fetchMissing: (@Sendable ([MessageID]) -> Void)?

    /// Evaluations and their durations (`aonode_compute_evaluation*`).
    let metrics: NodeMetrics

    init(store: LMDBContentStore, key: Ed25519PrivateKey, configuration: NodeConfiguration, logger: Logger,
         metrics: NodeMetrics = .isolated()) {
        self.store = store; self.key = key; self.configuration = configuration; self.logger = logger
        self.metrics = metrics
        computeStore = LMDBComputeStore(store: store)
        evaluator = Evaluator(store: computeStore,
                              policy: CheckpointPolicy(everyMessages: configuration.checkpointEveryMessages))
        gate = DispatchSemaphore(value: max(1, min(4, ProcessInfo.processInfo.activeProcessorCount)))
    }

    /// Installs the runtime hooks (assignments stored, leadership changes) and starts catching up every known
    /// process (results of slots stored before a restart are evaluated or found cached).
    func attach(runtime: NodeRuntime) async {
        self.runtime = runtime
        await runtime.addHooks(assignmentsStored: { [weak self] p, slot in self?.assignmentsStored(p, lastSlot: slot) },
                               leadershipChanged: { [weak self] p, leader in if leader { self?.triggerCrank(p) } },
                               itemsStored: { [weak self] receipt in self?.itemsStored(receipt) })
        for p in await runtime.knownProcesses() {
            if let last = try? store.latestSlot(process: p) { assignmentsStored(p, lastSlot: last) }
        }
    }

    /// Checkpoints live processes; called once on graceful shutdown (before the store closes).
    func shutdown() {
        let waiters: [CheckedContinuation<Void, Error>] = lock.withLock {
            stopping = true
            var all: [CheckedContinuation<Void, Error>] = []
            for w in work.values { all += w.waiters.map(\.continuation); w.waiters = [] }
            return all
        }
        for c in waiters { c.resume(throwing: NodeQueryError.unavailable("The node is shutting down.")) }
        // Let running chunks finish (they stop between chunks).
        let deadline = Date().addingTimeInterval(60)
        while lock.withLock({ work.values.contains { $0.running } }), Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        let mods: [String: ProcessModule] = lock.withLock {
            Dictionary(uniqueKeysWithValues: definitions.map { ($0.key.base64URL, $0.value.1) })
        }
        do {
            try evaluator.checkpointAll(modules: mods)
            try computeStore.flush()
        } catch {
            logger.error("shutdown checkpoint failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: scheduling work

    func workItem(_ p: ProcessID) -> Work {
        if let w = work[p] { return w }
        let w = Work(); w.pauseRetry = pauseRetryFirst; work[p] = w; return w
    }

    /// The hook: slots up to `lastSlot` of `p` are in the store.
    func assignmentsStored(_ p: ProcessID, lastSlot: UInt64) {
        lock.withLock {
            let w = workItem(p)
            w.known = max(w.known, Int64(lastSlot))
            unpause(p, w)
            w.failure = nil
        }
        kick(p)
    }

    /// The hook: the items of `receipt` are durable. Resumes the processes paused for a newly stored one; with no
    /// pause (the usual case) it costs one lock and one check per write.
    func itemsStored(_ receipt: WriteReceipt) {
        let resumed: Set<ProcessID> = lock.withLock {
            guard !pausedOn.isEmpty else { return [] }
            var out: Set<ProcessID> = []
            for case .stored(let id) in receipt.items { if let ps = pausedOn[id] { out.formUnion(ps) } }
            for p in out { if let w = work[p] { unpause(p, w) } }
            return out
        }
        for p in resumed { kick(p) }
    }

    /// Clears a pause and its registrations in `pausedOn`. Under `lock`.
    private func unpause(_ p: ProcessID, _ w: Work) {
        w.paused = nil
        for id in w.waitingFor {
            pausedOn[id]?.remove(p)
            if pausedOn[id]?.isEmpty == true { pausedOn[id] = nil }
        }
        w.waitingFor = []
    }

    /// Starts the worker of `p` if it has something to do and is not running.
    func kick(_ p: ProcessID) {
        let start: Bool = lock.withLock {
            guard !stopping, let w = work[p], !w.running, w.paused == nil, w.failure == nil else { return false }
            w.running = true
            return true
        }
        guard start else { return }
        let t = Thread { [self] in self.runWorker(p) }
        t.stackSize = Evaluator.threadStackBytes
        t.name = "aonode-eval"
        t.start()
    }

    /// Where evaluation of `p` stands: the highest stored result, found by scanning forward from the latest checkpoint.
    func firstEvaluated(_ p: ProcessID) -> Int64 {
        var slot: Int64 = -1
        if let latest = try? store.latestSlot(process: p), let cp = try? store.latestCheckpointSlot(process: p, atOrBefore: latest) {
            slot = Int64(cp)
        }
        while (try? computeStore.result(process: p.base64URL, slot: slot + 1)) != nil { slot += 1 }
        return slot
    }

    private func runWorker(_ p: ProcessID) {
        while true {
            let range: (from: Int64, through: Int64)? = lock.withLock {
                let w = work[p]!
                guard !stopping, w.paused == nil, w.failure == nil else { w.running = false; return nil }
                return (w.evaluated ?? -2, w.known)
            }
            guard let range else { return }
            var from = range.from
            let through = range.through
            if from == -2 {
                let e = firstEvaluated(p)
                lock.withLock { work[p]!.evaluated = e }
                wake(p)
                from = e
            }
            guard through > from else {
                let done: Bool = lock.withLock {
                    let w = work[p]!
                    if w.known > (w.evaluated ?? -1) { return false }
                    w.running = false
                    return true
                }
                if done { return } else { continue }
            }
            gate.wait()
            let outcome = evaluateChunk(p, after: from, through: min(through, from + Int64(chunk)))
            gate.signal()
            switch outcome {
            case .evaluated(let last):
                lock.withLock {
                    work[p]!.evaluated = max(work[p]!.evaluated ?? -1, last)
                    work[p]!.pauseRetry = pauseRetryFirst
                }
                wake(p)
                triggerCrank(p)
            case .paused(let why, let missing):
                logger.notice("evaluation paused", metadata: ["process": "\(p.base64URL)", "reason": "\(why)"])
                if !missing.isEmpty { fetchMissing?(missing) }
                let retry: Double = lock.withLock {
                    let w = work[p]!
                    w.paused = why; w.running = false
                    w.waitingFor = missing
                    for id in missing { pausedOn[id, default: []].insert(p) }
                    defer { w.pauseRetry = min(Self.pauseRetrySeconds, w.pauseRetry * 2) }
                    return w.pauseRetry
                }
                failWaiters(p, NodeQueryError.unavailable("Evaluation of \(p.base64URL) waits: \(why). Retry later."))
                // Stored between the evaluation's look and the registration above: the hook came too early to see it.
                if missing.contains(where: { (try? store.hasItem($0)) == true }) {
                    lock.withLock { if let w = work[p], w.paused == why { unpause(p, w) } }
                    kick(p)
                    return
                }
                DispatchQueue.global().asyncAfter(deadline: .now() + retry) { [weak self] in
                    guard let self else { return }
                    self.lock.withLock { if let w = self.work[p], w.paused == why { self.unpause(p, w) } }
                    self.kick(p)
                }
                return
            case .failed(let why):
                // Retried when new slots arrive; a permanent failure (a broken module) is logged once, not per slot.
                let repeated = lock.withLock { () -> Bool in
                    defer { work[p]!.loggedFailure = why }
                    return work[p]!.loggedFailure == why
                }
                logger.log(level: repeated ? .debug : .error, "evaluation failed",
                           metadata: ["process": "\(p.base64URL)", "error": "\(why)"])
                lock.withLock { work[p]!.failure = why; work[p]!.running = false }
                failWaiters(p, NodeQueryError.unprocessable("Evaluation of \(p.base64URL) failed: \(why)"))
                return
            }
        }
    }

    /// `paused` names the items it waits for (fetched from peers), when it knows them.
    enum ChunkOutcome { case evaluated(Int64), paused(String, missing: [MessageID]), failed(String) }

    /// Evaluates slots `after+1 ... through` of `p` (fewer when an item is missing).
    private func evaluateChunk(_ p: ProcessID, after: Int64, through: Int64) -> ChunkOutcome {
        let d: (ProcessDefinition, ProcessModule)
        switch definition(p) {
        case .success(let v): d = v
        case .failure(let e):
            if case .missing(let why, let id) = e { return .paused(why, missing: id.map { [$0] } ?? []) }
            return .failed("\(e)")
        }
        let def = d.0, module = d.1
        // The evaluator continues a live runner in place; otherwise it resumes from a checkpoint, so the messages
        // must start right after it.
        var start = after + 1
        let live = evaluator.liveSlot(process: p.base64URL)
        if let live, live != after { evaluator.evict(process: p.base64URL) }
        if live != after, after >= 0 {
            start = (try? store.latestCheckpointSlot(process: p, atOrBefore: UInt64(after))).map { Int64($0) + 1 } ?? 0
        }
        let (messages, missing, missingID) = scheduledMessages(p, from: UInt64(start), through: UInt64(through))
        guard let last = messages.last, last.slot > after else {
            return .paused(missing ?? "slot \(after + 1) is not in the process log", missing: missingID.map { [$0] } ?? [])
        }
        let signer = key
        let store = computeStore
        let metrics = self.metrics
        // Each message's evaluation: from the end of the previous one's bookkeeping to this callback (the first one
        // includes a restore or replay, when there is one).
        var started = ContinuousClock.now
        do {
            _ = try evaluator.evaluate(process: def, module: module, messages: messages) { m, r, runner in
                metrics.recordEvaluation(duration: ContinuousClock.now - started)
                defer { started = ContinuousClock.now }
                let slot = UInt64(m.slot)
                guard let mid = MessageID(base64URL: m.id) else { return }
                let a = Attestations.sign(key: signer, process: p, slot: slot, message: mid, resultHash: r.resultHash,
                                          memoryHash: runner.attestationMemoryHash())
                store.enqueue(.put(namespace: Attestations.namespace, key: Attestations.key(process: p, slot: slot),
                                   value: Attestations.encode(a)))
            }
            try computeStore.flush()
        } catch {
            evaluator.evict(process: p.base64URL)
            return .failed("\(error)")
        }
        if let missing, last.slot < through {
            logger.notice("evaluation stops before a missing item", metadata: ["process": "\(p.base64URL)", "reason": "\(missing)"])
            if let missingID { fetchMissing?([missingID]) }
        }
        return .evaluated(last.slot)
    }

    enum DefinitionError: Error, CustomStringConvertible {
        /// An item is not on this node yet (its id, when one item is to blame).
        case missing(String, MessageID?)
        case invalid(String)
        var description: String { switch self { case .missing(let s, _), .invalid(let s): return s } }
    }

    /// The process definition and parsed module of `p` (cached).
    func definition(_ p: ProcessID) -> Result<(ProcessDefinition, ProcessModule), DefinitionError> {
        if let d = lock.withLock({ definitions[p] }) { return .success(d) }
        guard let item = try? store.item(MessageID(p)) else { return .failure(.missing("the process item \(p.base64URL) is not on this node yet", MessageID(p))) }
        let process: AOProcess
        do { process = try AOProcess(item) } catch { return .failure(.invalid("the process item is not an AO process: \(error)")) }
        guard let moduleItem = try? store.item(process.module) else {
            return .failure(.missing("the module \(process.module.base64URL) is not on this node yet", process.module))
        }
        let module: AOModule
        do { module = try AOModule(moduleItem) } catch { return .failure(.invalid("the module item is not an AO module: \(error)")) }
        guard let e0 = try? store.assignment(process: p, slot: 0), let a0item = try? store.item(e0.assignmentID),
              let a0 = try? AOAssignment(a0item) else {
            return .failure(.missing("the process's own assignment (slot 0) is not on this node yet", nil))
        }
        let parsed: ProcessModule
        if let m = lock.withLock({ modules[module.id] }) {
            parsed = m
        } else {
            do { parsed = try ProcessModule(module: module) } catch { return .failure(.invalid("module \(module.id.base64URL): \(error)")) }
            lock.withLock { modules[module.id] = parsed }
        }
        let def = ProcessDefinition(process: process, module: module, timestamp: Int64(a0.timestamp), blockHeight: Int64(a0.blockHeight))
        lock.withLock { definitions[p] = (def, parsed) }
        return .success((def, parsed))
    }

    /// The scheduled messages of slots `from...through` (as AO's CU builds them: assignment + message item; slot 0
    /// is the process item itself), stopping before the first slot whose assignment or message is not stored: then
    /// also why, and the missing item's id when it is known.
    func scheduledMessages(_ p: ProcessID, from: UInt64, through: UInt64) -> ([ScheduledMessage], String?, MessageID?) {
        guard through >= from else { return ([], nil, nil) }
        var out: [ScheduledMessage] = []
        var slot = from
        while slot <= through {
            guard let entries = try? store.processLog(process: p, from: slot, through: through, limit: 256), !entries.isEmpty else { break }
            for e in entries {
                guard e.slot == slot else { return (out, "slot \(slot) is not in the process log", nil) }
                guard let aItem = try? store.item(e.assignmentID), let a = try? AOAssignment(aItem) else {
                    return (out, "the assignment \(e.assignmentID.base64URL) of slot \(slot) is not on this node yet", e.assignmentID)
                }
                guard let m = try? store.item(e.messageID) else {
                    return (out, "the message \(e.messageID.base64URL) of slot \(slot) is not on this node yet", e.messageID)
                }
                out.append(ScheduledMessage(assignment: a, message: m))
                slot += 1
            }
        }
        return (out, slot <= through ? "slot \(slot) is not in the process log" : nil, nil)
    }

    // MARK: waiting for results

    private func wake(_ p: ProcessID) {
        let ready: [CheckedContinuation<Void, Error>] = lock.withLock {
            guard let w = work[p], let e = w.evaluated else { return [] }
            let r = w.waiters.filter { $0.slot <= e }.map(\.continuation)
            w.waiters.removeAll { $0.slot <= e }
            return r
        }
        for c in ready { c.resume() }
    }

    private func failWaiters(_ p: ProcessID, _ error: Error) {
        let all: [CheckedContinuation<Void, Error>] = lock.withLock {
            guard let w = work[p] else { return [] }
            defer { w.waiters = [] }
            return w.waiters.map(\.continuation)
        }
        for c in all { c.resume(throwing: error) }
    }

    /// Waits until slot `slot` of `p` is evaluated (it must be in the process log). Throws `unavailable` when the
    /// process waits for a missing item, `unprocessable` when evaluation failed.
    func waitEvaluated(_ p: ProcessID, slot: UInt64) async throws {
        if (try? computeStore.result(process: p.base64URL, slot: Int64(slot))) != nil { return }
        let id: UInt64 = lock.withLock { waiterSequence += 1; return waiterSequence }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                let immediate: Error?? = lock.withLock {
                    if stopping { return .some(NodeQueryError.unavailable("The node is shutting down.")) }
                    let w = workItem(p)
                    if let e = w.evaluated, e >= Int64(slot) { return .some(nil) }
                    if let why = w.paused { return .some(NodeQueryError.unavailable("Evaluation of \(p.base64URL) waits: \(why). Retry later.")) }
                    if let why = w.failure { return .some(NodeQueryError.unprocessable("Evaluation of \(p.base64URL) failed: \(why)")) }
                    w.known = max(w.known, Int64(slot))
                    w.waiters.append((Int64(slot), id, c))
                    return nil
                }
                switch immediate {
                case .some(.some(let e)): c.resume(throwing: e)
                case .some(.none): c.resume()
                case .none: kick(p)
                }
            }
        } onCancel: { [self] in
            let c: CheckedContinuation<Void, Error>? = self.lock.withLock {
                guard let w = self.work[p], let i = w.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return w.waiters.remove(at: i).continuation
            }
            c?.resume(throwing: CancellationError())
        }
    }

    /// The result of slot `slot` of `p`, evaluating up to it if needed.
    func result(_ p: ProcessID, slot: UInt64) async throws -> AOCompute.EvaluationResult {
        try await waitEvaluated(p, slot: slot)
        guard let bytes = try computeStore.result(process: p.base64URL, slot: Int64(slot)) else {
            throw NodeQueryError.unavailable("The result of slot \(slot) of \(p.base64URL) is not stored yet; retry.")
        }
        return try AOCompute.EvaluationResult(encoded: bytes)
    }

    /// Kept cron results of `p` after `after`, in timeline order (those evaluated so far: crons run between two
    /// scheduled messages, when the later one is evaluated).
    func cronResults(_ p: ProcessID, after: CronPosition? = nil, atOrAfter: CronPosition? = nil, limit: Int) throws
        -> [(CronPosition, AOCompute.EvaluationResult)] {
        try computeStore.cronResults(p, after: after, atOrAfter: atOrAfter, limit: limit).compactMap { pos, bytes in
            (try? AOCompute.EvaluationResult(encoded: bytes)).map { (pos, $0) }
        }
    }

    /// The highest slot of `p` this node has evaluated, when its worker knows it (nil before the first look-up).
    func newestEvaluated(_ p: ProcessID) -> Int64? { lock.withLock { work[p]?.evaluated } }

    /// The cached result of a slot, nil when not evaluated yet (never evaluates).
    func cachedResult(_ p: ProcessID, slot: UInt64) -> AOCompute.EvaluationResult? {
        guard let bytes = try? computeStore.result(process: p.base64URL, slot: Int64(slot)) else { return nil }
        return try? AOCompute.EvaluationResult(encoded: bytes)
    }

    // MARK: dry-run and state (on a big-stack thread)

    func onEvaluationThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            let t = Thread {
                do { c.resume(returning: try body()) } catch { c.resume(throwing: error) }
            }
            t.stackSize = Evaluator.threadStackBytes
            t.start()
        }
    }

    /// The messages of slots `first` through `slot`, from the store (the evaluator asks when it must rebuild a state).
    func messagesForState(_ p: ProcessID, from first: UInt64, through slot: UInt64) throws -> [ScheduledMessage] {
        let (messages, missing, missingID) = scheduledMessages(p, from: first, through: slot)
        guard messages.last?.slot == Int64(slot) else {
            if let missingID { fetchMissing?([missingID]) }
            throw NodeQueryError.unavailable("The state of \(p.base64URL) at slot \(slot) cannot be rebuilt: \(missing ?? "items missing").")
        }
        return messages
    }

    func definitionOrThrow(_ p: ProcessID) throws -> (ProcessDefinition, ProcessModule) {
        switch definition(p) {
        case .success(let d): return d
        case .failure(.missing(let why, let id)):
            if let id { fetchMissing?([id]) }
            throw NodeQueryError.unavailable("Cannot evaluate \(p.base64URL): \(why).")
        case .failure(.invalid(let why)): throw NodeQueryError.unprocessable("Cannot evaluate \(p.base64URL): \(why).")
        }
    }

    /// Evaluates `message` on a copy of the state after `slot`. Persists nothing.
    func dryRun(_ p: ProcessID, after slot: UInt64, message: ScheduledMessage) async throws -> AOCompute.EvaluationResult {
        try await withStateInputs(p, through: slot) { evaluator, def, module, messagesFrom in
            try evaluator.dryRun(process: def, module: module, through: Int64(slot), messagesFrom: messagesFrom, message: message)
        }
    }

    /// The memory after slot `slot`.
    func memory(_ p: ProcessID, after slot: UInt64) async throws -> [UInt8] {
        try await withStateInputs(p, through: slot) { evaluator, def, module, messagesFrom in
            try evaluator.state(process: def, module: module, through: Int64(slot), messagesFrom: messagesFrom).image.bytes
        }
    }

    /// Waits for `slot`, gathers the process definition, and runs `body` on a big-stack evaluation thread under the
    /// evaluation gate. `body` gets a reader of the messages from a slot through `slot`: the evaluator decides, under
    /// its live-state lock, whether it needs them (a state rebuilt from a checkpoint) or not (the live state is there).
    private func withStateInputs<T: Sendable>(
        _ p: ProcessID, through slot: UInt64,
        _ body: @escaping @Sendable (Evaluator, ProcessDefinition, ProcessModule, (Int64) throws -> [ScheduledMessage]) throws -> T
    ) async throws -> T {
        try await waitEvaluated(p, slot: slot)
        let (def, module) = try definitionOrThrow(p)
        let evaluator = self.evaluator
        let gate = self.gate
        return try await onEvaluationThread {
            gate.wait(); defer { gate.signal() }
            return try body(evaluator, def, module) { first in try self.messagesForState(p, from: UInt64(first), through: slot) }
        }
    }
}
