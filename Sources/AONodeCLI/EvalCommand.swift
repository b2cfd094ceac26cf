import AOCompute
import ArgumentParser
import Foundation

/// `aonode eval`: run AO process messages through a module locally, one JSON result per line.
///
/// The module authors' tool and the conformance harness: messages are handed to `handle` exactly as given (no
/// fields added), with the env from `--env`; the state starts from a fresh instance or from `--memory-in` (a
/// checkpoint written by `--memory-out`, or raw memory bytes as a CU's `/state` returns them).
public struct EvalCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate messages with an AO process module and print one JSON result per message.")

    @Option(name: .long, help: "The WASM module file.") var module: String
    @Option(name: .long, help: "Module-Format (e.g. wasm32-unknown-emscripten4); detected from the imports if omitted.")
    var format: String?
    @Option(name: .customLong("memory-limit"), help: "Memory-Limit in bytes (or AO notation such as 1-gb).")
    var memoryLimit: String?
    @Option(name: .customLong("compute-limit"), help: "Compute-Limit per message (fuel and gas).") var computeLimit: UInt64?
    @Option(name: .long, help: "The env JSON file ({\"Process\":{...},\"Module\":{...}}).") var env: String?
    @Option(name: .customLong("memory-in"), help: "Start from this checkpoint (or raw memory) instead of a fresh instance.")
    var memoryIn: String?
    @Option(name: .customLong("memory-out"), help: "Write the final state here as a checkpoint.") var memoryOut: String?
    @Option(name: .long, help: "Engine configuration threading/compilation/bounds, e.g. token/eager/software.")
    var engine: String?
    @Flag(name: .long, help: "Print stdout/stderr the module wrote, to stderr.") var console = false
    @Option(name: .customLong("bench-repeat"), help: "Benchmark: evaluate each message N times (state kept in place) and print timing instead of results.")
    var benchRepeat: Int = 0
    @Flag(name: .customLong("bench-checkpoint"), help: "Benchmark: time saving and restoring a checkpoint of the final state.")
    var benchCheckpoint = false
    @Argument(help: "Message JSON files, evaluated in order.") var messages: [String] = []

    public init() {}

    public func run() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: module)))
        let fmt: ModuleFormat
        if let format {
            guard let f = ModuleFormat(tag: format) else { throw ValidationError("unknown --format \(format)") }
            fmt = f
        } else {
            fmt = ModuleFormat.detect(bytes)
        }
        var limits = ProcessLimits()
        if let memoryLimit {
            guard let b = ProcessLimits.parseBytes(memoryLimit) else { throw ValidationError("bad --memory-limit \(memoryLimit)") }
            limits.memoryLimitBytes = b
        }
        if let computeLimit { limits.computeLimit = computeLimit }
        var options = EngineOptions.default
        if let engine {
            let p = engine.split(separator: "/").map(String.init)
            guard p.count == 3, let t = EngineOptions.Threading(rawValue: p[0]), let c = EngineOptions.Compilation(rawValue: p[1]),
                  let b = EngineOptions.BoundsChecking(rawValue: p[2]) else { throw ValidationError("bad --engine \(engine)") }
            options = EngineOptions(threading: t, compilation: c, boundsChecking: b)
        }
        let envText: String
        if let env {
            envText = try String(contentsOfFile: env, encoding: .utf8)
            guard (try? JSONValue.parse(envText)) != nil else { throw ValidationError("--env is not valid JSON") }
        } else {
            envText = #"{"Process":{"Id":"PROCESS","Owner":"OWNER","Tags":[]},"Module":{"Id":"MODULE","Owner":"OWNER","Tags":[]}}"#
        }
        let processModule = try ProcessModule(bytes: bytes, format: fmt)
        var image: MemoryImage?
        if let memoryIn {
            let raw = try [UInt8](Data(contentsOf: URL(fileURLWithPath: memoryIn)))
            image = (try? Checkpoint.decode(raw))?.image ?? MemoryImage(rawMemory: raw)
        }
        let t0 = ContinuousClock.now
        let runner = try ProcessRunner(module: processModule, limits: limits, options: options, image: image)
        let instantiate = ContinuousClock.now - t0
        if benchRepeat > 0 {
            try bench(runner: runner, env: envText, instantiate: instantiate, module: processModule, options: options, limits: limits)
            return
        }
        for path in messages {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            guard let msg = try? JSONValue.parse(text) else { throw ValidationError("\(path) is not valid JSON") }
            let result = runner.evaluate(message: msg.serialized(), env: envText)
            if console, !runner.lastConsole.isEmpty {
                FileHandle.standardError.write(Data(runner.lastConsole))
            }
            print(result.json().serialized())
        }
        if let memoryOut {
            let cp = Checkpoint(slot: Int64(messages.count) - 1, moduleHash: processModule.hash, image: runner.snapshot(),
                                computeNanoseconds: runner.computeNanoseconds)
            try Data(try cp.encoded()).write(to: URL(fileURLWithPath: memoryOut))
        }
    }

    /// CPU time of this thread in ms: on a machine shared with other builds, wall time measures the neighbours.
    static func threadCPUms() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1e6
    }

    static func ms(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    /// `--bench-repeat`: per message, the first evaluation and the median and p90 of N more (state in place).
    func bench(runner: ProcessRunner, env: String, instantiate: Duration, module: ProcessModule, options: EngineOptions,
               limits: ProcessLimits) throws {
        print(JSONValue.object([("instantiate_ms", .number((Self.ms(instantiate) * 1000).rounded() / 1000)),
                                ("memory_bytes", .number(Double(runner.memoryByteCount)))]).serialized())
        for path in messages {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            guard let msg = try? JSONValue.parse(text) else { throw ValidationError("\(path) is not valid JSON") }
            let m = msg.serialized()
            var times: [Double] = [], cpu: [Double] = []
            var last: EvaluationResult?
            for _ in 0...benchRepeat {
                let t = ContinuousClock.now
                let c = Self.threadCPUms()
                last = runner.evaluate(message: m, env: env)
                cpu.append(Self.threadCPUms() - c)
                times.append(Self.ms(ContinuousClock.now - t))
            }
            let first = times.removeFirst(), firstCPU = cpu.removeFirst()
            times.sort(); cpu.sort()
            let median = times[times.count / 2], p90 = times[min(times.count - 1, times.count * 9 / 10)]
            func r(_ x: Double) -> JSONValue { .number((x * 1000).rounded() / 1000) }
            print(JSONValue.object([("message", .string(path)), ("first_ms", r(first)), ("median_ms", r(median)),
                                    ("p90_ms", r(p90)), ("first_cpu_ms", r(firstCPU)), ("median_cpu_ms", r(cpu[cpu.count / 2])),
                                    ("p90_cpu_ms", r(cpu[min(cpu.count - 1, cpu.count * 9 / 10)])), ("n", .number(Double(times.count))),
                                    ("error", last?.error ?? .null), ("memory_bytes", .number(Double(runner.memoryByteCount)))]).serialized())
        }
        if benchCheckpoint {
            let t1 = ContinuousClock.now
            let c1 = Self.threadCPUms()
            let image = runner.snapshot()
            let cp = Checkpoint(slot: 0, moduleHash: module.hash, image: image, computeNanoseconds: 0)
            let encoded = try cp.encoded()
            let save = ContinuousClock.now - t1
            let saveCPU = Self.threadCPUms() - c1
            let t2 = ContinuousClock.now
            let c2 = Self.threadCPUms()
            let decoded = try Checkpoint.decode(encoded)
            let restored = try ProcessRunner(module: module, limits: limits, options: options, image: decoded.image)
            let restore = ContinuousClock.now - t2
            let restoreCPU = Self.threadCPUms() - c2
            precondition(restored.memoryByteCount >= image.byteCount)
            func r(_ x: Double) -> JSONValue { .number((x * 1000).rounded() / 1000) }
            print(JSONValue.object([("checkpoint_memory_bytes", .number(Double(image.byteCount))),
                                    ("checkpoint_bytes", .number(Double(encoded.count))),
                                    ("save_ms", r(Self.ms(save))), ("restore_ms", r(Self.ms(restore))),
                                    ("save_cpu_ms", r(saveCPU)), ("restore_cpu_ms", r(restoreCPU))]).serialized())
        }
    }
}
