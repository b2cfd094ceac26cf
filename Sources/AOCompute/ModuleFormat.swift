/// The AO loader's module formats (the `Module-Format` tag), and what differs between them in the host glue.
///
/// See `ao-loader-abi.md` section 1. The `-metering` variants need the binary rewritten by `wasm-metering` first and
/// are refused with a typed error for now.
public enum ModuleFormat: String, CaseIterable, Sendable {
    /// `wasm32-unknown-emscripten`: the minified legacy glue (imports `a.a` … `a.D`).
    case legacy = "wasm32-unknown-emscripten"
    case emscripten2 = "wasm32-unknown-emscripten2"
    case emscripten3 = "wasm32-unknown-emscripten3"
    case emscripten4 = "wasm32-unknown-emscripten4"
    case wasm64 = "wasm64-unknown-emscripten-draft_2024_02_15"

    /// Parses a `Module-Format` tag value (also accepts the short names used by the CLI).
    public init?(tag: String) {
        switch tag {
        case "legacy", "emscripten": self = .legacy
        case "em2", "emscripten2": self = .emscripten2
        case "em3", "emscripten3": self = .emscripten3
        case "em4", "emscripten4": self = .emscripten4
        case "wasm64", "wasm64-emscripten": self = .wasm64
        default:
            guard let f = ModuleFormat(rawValue: tag) else { return nil }
            self = f
        }
    }

    /// Pointers and sizes are i64 (memory64).
    public var isMemory64: Bool { self == .wasm64 }

    /// The glue's `getHeapMax()` (ao-loader-abi.md 2.4); the real cap is the smaller of this, the module's declared
    /// maximum and the process's Memory-Limit.
    var glueHeapMaxBytes: UInt64 {
        switch self {
        case .legacy, .emscripten2: return 524_288_000
        case .emscripten3, .emscripten4: return 4_294_901_760
        case .wasm64: return 17_179_869_184
        }
    }

    /// legacy/em2 return 0 from `emscripten_date_now`; em3+ use the glue's deterministic counter from 10000 ms.
    var hasTimeCounter: Bool { self == .emscripten3 || self == .emscripten4 || self == .wasm64 }

    /// em4/wasm64 patch `getEnvStrings` to return no variables.
    var hasEmptyEnvironment: Bool { self == .emscripten4 || self == .wasm64 }

    /// Whether start-up calls `main` (legacy/em2/em3) or Lua boots lazily in the first `handle` (em4/wasm64).
    var callsMain: Bool { !hasEmptyEnvironment }

    /// legacy/em2 size each string's stack slot as `length*4+1` (UTF-16 units); em3+ use the exact UTF-8 length + 1.
    var stackAllocIsUTF16Times4: Bool { self == .legacy || self == .emscripten2 }

    /// `fcntl64` lock command numbers differ (ao-loader-abi.md 2.2).
    var fcntlGetLock: Int32 { self == .emscripten4 ? 12 : 5 }
}

import WasmKit

extension ModuleFormat {
    /// Guesses the format from the binary when no Module-Format tag is given (the CLI): a memory64 memory means
    /// wasm64; imports from module `a` mean the legacy glue; WeaveDrive imports mean em4; else em2.
    public static func detect(_ bytes: [UInt8]) -> ModuleFormat {
        if let (_, _) = ProcessModule.declaredMemory(bytes), ProcessModule.declaredMemoryIs64(bytes) { return .wasm64 }
        guard let m = try? parseWasm(bytes: bytes, features: EngineOptions.features) else { return .emscripten2 }
        if m.imports.contains(where: { $0.module == "a" }) { return .legacy }
        if m.imports.contains(where: { $0.name.hasPrefix("__asyncjs__weavedrive") || $0.name == "_emscripten_system" }) { return .emscripten4 }
        return .emscripten2
    }
}
