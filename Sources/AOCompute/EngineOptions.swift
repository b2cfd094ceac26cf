@_spi(Fuzzing) import WasmKit
import WasmParser

/// Node settings for the WasmKit engine. None of them may change a result (CONVENTIONS.md C9): a test runs the same
/// process under every combination (`EngineOptions.allConfigurations`) and compares state hashes. Settings that
/// could change a result (the interpreter stack size, fuel metering, the enabled wasm features) are not options:
/// they are fixed in `makeEngine()`.
public struct EngineOptions: Sendable, Hashable, CustomStringConvertible {
    public enum Threading: String, Sendable, CaseIterable { case direct, token }
    public enum Compilation: String, Sendable, CaseIterable { case lazy, eager }
    public enum BoundsChecking: String, Sendable, CaseIterable { case mprotect, software }

    public var threading: Threading
    public var compilation: Compilation
    public var boundsChecking: BoundsChecking

    public init(threading: Threading = .direct, compilation: Compilation = .lazy, boundsChecking: BoundsChecking = .mprotect) {
        self.threading = threading
        self.compilation = compilation
        self.boundsChecking = boundsChecking
    }

    public static let `default` = EngineOptions()

    /// Every configuration WasmKit 0.4.2 offers that a node could pick.
    public static var allConfigurations: [EngineOptions] {
        var all: [EngineOptions] = []
        for t in Threading.allCases { for c in Compilation.allCases { for b in BoundsChecking.allCases {
            all.append(EngineOptions(threading: t, compilation: c, boundsChecking: b))
        } } }
        return all
    }

    public var description: String { "\(threading.rawValue)/\(compilation.rawValue)/\(boundsChecking.rawValue)" }

    /// The wasm features every process is parsed with. memory64 for the wasm64 format; exception handling and
    /// reference types are WasmKit's defaults.
    static let features: WasmFeatureSet = [.memory64, .referenceTypes, .exceptionHandling]

    func makeEngine() -> Engine {
        Engine(configuration: EngineConfiguration(
            threadingModel: threading == .direct ? .direct : .token,
            compilationMode: compilation == .lazy ? .lazy : .eager,
            stackSize: ComputeLimits.interpreterStackBytes,
            features: Self.features,
            memoryBoundsChecking: boundsChecking == .mprotect ? .mprotect : .software,
            fuelMetering: true))
    }
}

/// Enforces Memory-Limit on every memory growth (and on the declared initial size at instantiation), and bounds
/// table growth.
final class ProcessResourceLimiter: ResourceLimiter, @unchecked Sendable {
    /// Tables hold function references; emscripten modules never grow them. Bound it anyway.
    static let tableElementsMax = 1 << 20
    let memoryLimitBytes: UInt64
    init(memoryLimitBytes: UInt64) { self.memoryLimitBytes = memoryLimitBytes }
    func limitMemoryGrowth(to desired: Int) throws -> Bool { UInt64(desired) <= memoryLimitBytes }
    func limitTableGrowth(to desired: Int) throws -> Bool { desired <= Self.tableElementsMax }
}
