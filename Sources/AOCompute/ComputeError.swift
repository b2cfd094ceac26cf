/// Operating errors of the compute engine (CONVENTIONS.md C10 kind 2): the module or the request is unusable.
///
/// Process outcomes (a trap, out of fuel, a Lua error) are never thrown: they are values in `EvaluationResult`.
public struct ComputeError: Error, CustomStringConvertible, Equatable {
    enum Kind: Equatable {
        case invalidModule(String)
        case unknownImport(module: String, name: String, signature: String)
        case missingExport(String)
        case unsupportedFormat(String)
        case memoryLimitExceeded(requestedBytes: UInt64, limitBytes: UInt64)
        case instantiationFailed(String)
        case startupFailed(String)
        case invalidCheckpoint(String)
        case invalidInput(String)
        case store(String)
    }
    let kind: Kind

    /// The binary is not a WebAssembly module WasmKit accepts (bad magic, malformed section, failed validation).
    public static func invalidModule(_ why: String) -> ComputeError { .init(kind: .invalidModule(why)) }
    /// The module imports a function that is not on the allow-list for its format.
    public static func unknownImport(module: String, name: String, signature: String) -> ComputeError {
        .init(kind: .unknownImport(module: module, name: name, signature: signature))
    }
    /// A required export (memory, handle, the stack functions) is missing or has the wrong type.
    public static func missingExport(_ name: String) -> ComputeError { .init(kind: .missingExport(name)) }
    /// The Module-Format tag names no format this engine runs.
    public static func unsupportedFormat(_ tag: String) -> ComputeError { .init(kind: .unsupportedFormat(tag)) }
    /// The module's declared initial memory (or a restored image) is larger than the Memory-Limit.
    public static func memoryLimitExceeded(requestedBytes: UInt64, limitBytes: UInt64) -> ComputeError {
        .init(kind: .memoryLimitExceeded(requestedBytes: requestedBytes, limitBytes: limitBytes))
    }
    /// WasmKit refused to instantiate the module (import type mismatch, start function trap...).
    public static func instantiationFailed(_ why: String) -> ComputeError { .init(kind: .instantiationFailed(why)) }
    /// The module trapped in its constructors or `main` before any message.
    public static func startupFailed(_ why: String) -> ComputeError { .init(kind: .startupFailed(why)) }
    /// A checkpoint or memory image is corrupt or does not belong to this module.
    public static func invalidCheckpoint(_ why: String) -> ComputeError { .init(kind: .invalidCheckpoint(why)) }
    /// A message, env or option given by the caller is malformed.
    public static func invalidInput(_ why: String) -> ComputeError { .init(kind: .invalidInput(why)) }
    /// The compute store failed.
    public static func store(_ why: String) -> ComputeError { .init(kind: .store(why)) }

    public var description: String {
        switch kind {
        case .invalidModule(let w): return "invalid module: \(w)"
        case .unknownImport(let m, let n, let s): return "unknown import \(m).\(n) \(s): not on the allow-list for this format"
        case .missingExport(let n): return "missing export: \(n)"
        case .unsupportedFormat(let t): return "unsupported module format: \(t)"
        case .memoryLimitExceeded(let r, let l): return "memory of \(r) bytes exceeds the memory limit of \(l) bytes"
        case .instantiationFailed(let w): return "instantiation failed: \(w)"
        case .startupFailed(let w): return "module start-up failed: \(w)"
        case .invalidCheckpoint(let w): return "invalid checkpoint: \(w)"
        case .invalidInput(let w): return "invalid input: \(w)"
        case .store(let w): return "compute store: \(w)"
        }
    }
}
