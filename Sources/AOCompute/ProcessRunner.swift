import AOCore
import WasmKit

/// The result of evaluating one message, in AO's CU shape (ao-protocol.md 3.2).
public struct EvaluationResult: Sendable, Equatable {
    /// `Output`; nil when the module returned none (JS `undefined`).
    public var output: JSONValue?
    public var messages: [JSONValue]
    public var spawns: [JSONValue]
    public var assignments: [JSONValue]
    /// `Error`: a trap, out of gas, `{ok:false}` (the Lua error value) or the module's own `response.Error`.
    public var error: JSONValue?
    /// What `metering.usegas` counted (0 for modules that do not import it).
    public var gasUsed: UInt64
    /// SHA-256 of the exact bytes `handle` returned (empty for a trap): the result hash of an attestation.
    public var resultHash: [UInt8]
    /// Whether the memory was rolled back to the state before the message.
    public var rolledBack: Bool

    /// One-line JSON: Output, Messages, Spawns, Assignments, Error, GasUsed (Output and Error only when present).
    public func json() -> JSONValue {
        var m: [(String, JSONValue)] = []
        if let output { m.append(("Output", output)) }
        m.append(("Messages", .array(messages)))
        m.append(("Spawns", .array(spawns)))
        m.append(("Assignments", .array(assignments)))
        if let error { m.append(("Error", error)) }
        m.append(("GasUsed", .number(Double(gasUsed))))
        return .object(m)
    }

    /// JavaScript truthiness, as the CU's `mergeOutput` tests `Error`.
    static func isTruthy(_ v: JSONValue?) -> Bool {
        switch v {
        case nil, .null?: return false
        case .bool(let b)?: return b
        case .number(let n)?: return n != 0 && !n.isNaN
        case .string(let s)?: return !s.isEmpty
        default: return true
        }
    }
}

/// Per-message limits, from the process and module tags.
public struct ProcessLimits: Sendable, Equatable {
    /// Fuel and gas budget per message (Compute-Limit).
    public var computeLimit: UInt64
    /// Bytes the linear memory may grow to (Memory-Limit).
    public var memoryLimitBytes: UInt64

    public init(computeLimit: UInt64 = ComputeLimits.computeLimitDefault, memoryLimitBytes: UInt64 = ComputeLimits.memoryLimitDefaultBytes) {
        self.computeLimit = computeLimit
        self.memoryLimitBytes = min(memoryLimitBytes, ComputeLimits.memoryLimitMaxBytes)
    }

    /// Parses AO's size notation ("500-mb", "1-gb", "16777216").
    public static func parseBytes(_ s: String) -> UInt64? {
        let t = s.trimmingCharacters(in: " ").lowercased()
        if let n = UInt64(t) { return n }
        let parts = t.split(separator: "-")
        guard parts.count == 2, let n = UInt64(parts[0]) else { return nil }
        let unit: UInt64
        switch parts[1] {
        case "b": unit = 1
        case "kb": unit = 1024
        case "mb": unit = 1024 * 1024
        case "gb": unit = 1024 * 1024 * 1024
        default: return nil
        }
        let (v, o) = n.multipliedReportingOverflow(by: unit)
        return o ? nil : v
    }
}

extension String {
    func trimmingCharacters(in c: Character) -> String {
        var s = Substring(self)
        while s.first == c { s.removeFirst() }
        while s.last == c { s.removeLast() }
        return String(s)
    }
}

/// Runs one process: a live instance, the state before the current message for rollback, and the messages applied
/// since that state (so a rollback costs a replay, not a copy per message).
///
/// Rollback (CU semantics): when a message ends with an `Error` (trap, out of gas, `{ok:false}`, or the module's own
/// Error) the process continues from the memory *before* the message, in a fresh instance (the CU discards its
/// instance). Copying 100 MB of memory before every message would cost more than the message itself, so the runner
/// keeps a `base` image plus the successful messages since, refreshes the base when the replay would get expensive
/// (`rebaseFactor`), and on error restores the base and replays. Deterministic: which base is used changes only
/// timing, never a byte of state. A process started fresh has no base image until its first rebase: its base is the
/// state right after start-up, which a rollback recreates by running start-up again (no 70-120 MB copy at start).
/// A rebase copies the memory into the previous base's buffer when the size is unchanged (no new pages to fault in).
public final class ProcessRunner {
    public let module: ProcessModule
    public let limits: ProcessLimits
    let engine: Engine
    let drive: (any WeaveDrive)?
    var instance: ProcessInstance
    /// The rollback base; nil means the state right after start-up (fresh process, not rebased yet).
    private(set) var base: MemoryImage?
    /// Whether `base.bytes` was allocated by `rebase` (and so is referenced by nothing else).
    private var baseBufferIsOwned = false
    private var sinceBase: [(message: String, env: String, limit: UInt64)] = []
    private var computeSinceBaseNanoseconds: UInt64 = 0
    private var lastSnapshotNanoseconds: UInt64 = 0
    /// Total compute time spent in `handle`, for checkpoint metadata.
    public private(set) var computeNanoseconds: UInt64 = 0
    /// stdout/stderr the last message wrote (logged by callers; never part of a result).
    public var lastConsole: [UInt8] { instance.console }
    /// Rebase when the replay since the base costs more than this many times the last snapshot's copy.
    public var rebaseFactor: UInt64 = 16

    /// Starts a process from a fresh instance (start-up run), or from `image` (a checkpoint or `--memory-in`).
    public init(module: ProcessModule, limits: ProcessLimits = ProcessLimits(), options: EngineOptions = .default,
                drive: (any WeaveDrive)? = nil, image: MemoryImage? = nil) throws(ComputeError) {
        self.module = module
        self.limits = limits
        self.engine = options.makeEngine()
        self.drive = drive
        if let image {
            instance = try ProcessInstance(module: module, engine: engine, memoryLimitBytes: limits.memoryLimitBytes, drive: drive, runStartup: false)
            try instance.load(image)
            base = image
        } else {
            instance = try ProcessInstance(module: module, engine: engine, memoryLimitBytes: limits.memoryLimitBytes, drive: drive)
            base = nil
        }
        // No snapshot has been timed yet: estimate one (a fresh copy runs at about 2 bytes/ns with its page faults),
        // so the first messages do not trigger a rebase on the 1 ms floor.
        lastSnapshotNanoseconds = UInt64(instance.memory.byteCount / 2)
    }

    /// The current state (memory and host state). Copies the memory.
    public func snapshot() -> MemoryImage { instance.snapshot() }

    /// The memory hash of a result attestation (`AOCore.MemoryCommitment`): kept current across calls by
    /// `memoryHasher`, which rehashes only the 4 KiB chunks that differ from the memory it last hashed.
    public func attestationMemoryHash() -> [UInt8] { instance.attestationMemoryHash(&memoryHasher) }

    /// The copy, chunk and page hashes behind `attestationMemoryHash()` (about one memory's worth of bytes, allocated
    /// on first use).
    private var memoryHasher = IncrementalMemoryHasher()

    /// Chunks the last `attestationMemoryHash()` rehashed.
    public var lastRehashedMemoryChunks: Int { memoryHasher.lastRehashedChunks }

    /// Current memory size in bytes.
    public var memoryByteCount: Int { instance.memory.byteCount }

    /// Evaluates one message: `handle(message, env)`, then rollback if the result carries an Error.
    public func evaluate(message: String, env: String, computeLimit: UInt64? = nil) -> EvaluationResult {
        let limit = computeLimit ?? limits.computeLimit
        let start = ContinuousClock.now
        let outcome = instance.callHandle(message: message, env: env, computeLimit: limit)
        let elapsed = ProcessRunner.nanos(since: start)
        computeNanoseconds &+= elapsed
        let result = ProcessRunner.interpret(outcome, gasUsed: instance.gasUsed)
        if result.rolledBack {
            do {
                try rollback()
            } catch {
                // The base image loaded before; failing now means the engine itself broke: a programmer error.
                preconditionFailure("rollback to the base image failed: \(error)")
            }
        } else {
            sinceBase.append((message, env, limit))
            computeSinceBaseNanoseconds &+= elapsed
            if computeSinceBaseNanoseconds > rebaseFactor &* max(lastSnapshotNanoseconds, 1_000_000) {
                rebase()
            }
        }
        return result
    }

    /// Makes the current state the rollback base (copies memory).
    public func rebase() {
        let start = ContinuousClock.now
        // Reuse the old base's buffer when this runner made it (an image given to `init` may still be held by the
        // caller: writing into it would copy it first). Drop the runner's reference so the copy is in place.
        var bytes = baseBufferIsOwned ? base?.bytes ?? [] : []
        base = nil
        instance.copyMemory(into: &bytes)
        base = MemoryImage(bytes: bytes, host: instance.state)
        baseBufferIsOwned = true
        sinceBase.removeAll()
        computeSinceBaseNanoseconds = 0
        lastSnapshotNanoseconds = ProcessRunner.nanos(since: start)
    }

    private func rollback() throws(ComputeError) {
        if let base {
            let fresh = try ProcessInstance(module: module, engine: engine, memoryLimitBytes: limits.memoryLimitBytes, drive: drive, runStartup: false)
            try fresh.load(base)
            instance = fresh
        } else {
            // The base is the state after start-up: run it again (deterministic, as the first time).
            instance = try ProcessInstance(module: module, engine: engine, memoryLimitBytes: limits.memoryLimitBytes, drive: drive)
        }
        let replay = sinceBase
        for (m, e, limit) in replay {
            let outcome = instance.callHandle(message: m, env: e, computeLimit: limit)
            let r = ProcessRunner.interpret(outcome, gasUsed: instance.gasUsed)
            precondition(!r.rolledBack, "a message that succeeded failed on replay: evaluation is not deterministic")
        }
        // The replayed state is now the natural base: nothing since.
        rebase()
    }

    static func nanos(since start: ContinuousClock.Instant) -> UInt64 {
        let d = ContinuousClock.now - start
        return UInt64(d.components.seconds) * 1_000_000_000 + UInt64(d.components.attoseconds / 1_000_000_000)
    }

    /// Turns what `handle` did into a CU result (ao-loader-abi.md section 3 steps 5-6, CU `mergeOutput`).
    static func interpret(_ outcome: HandleOutcome, gasUsed: UInt64) -> EvaluationResult {
        var r = EvaluationResult(output: nil, messages: [], spawns: [], assignments: [], error: nil, gasUsed: gasUsed,
                                 resultHash: [], rolledBack: false)
        switch outcome {
        case .trapped(let text):
            r.error = .string(text)
            r.rolledBack = true
        case .returned(let bytes):
            r.resultHash = SHA2.sha256(bytes)
            guard let doc = try? JSONValue.parse(bytes: bytes) else {
                // JSON.parse throws in the loader ("" when the C handler failed): the CU maps the throw to Error.
                r.error = .string(bytes.isEmpty ? "Unexpected end of JSON input" : "handle returned invalid JSON")
                r.rolledBack = true
                return r
            }
            let ok = doc["ok"]
            let response = doc["response"]
            if ok != .bool(true) {
                r.error = response ?? .null
                if !EvaluationResult.isTruthy(r.error) { r.error = .string("handle failed") }
                r.rolledBack = true
                return r
            }
            r.output = response?["Output"]
            r.messages = response?["Messages"]?.arrayValue ?? []
            r.spawns = response?["Spawns"]?.arrayValue ?? []
            r.assignments = response?["Assignments"]?.arrayValue ?? []
            if let e = response?["Error"], EvaluationResult.isTruthy(e) {
                r.error = e
                r.rolledBack = true
            }
            // Older modules report an allocation failure only in Output; the CU keeps the previous memory.
            let text: String?
            switch r.output {
            case .string(let s)?: text = s
            case .object?: text = r.output?["data"]?["output"]?.stringValue
            default: text = nil
            }
            if let text, text.hasSuffix("not enough memory for buffer allocation") { r.rolledBack = true }
        }
        return r
    }
}
