@_spi(OnlyForCLI) import WasmKit
import WasmParser
import AOCore

/// A parsed, checked AO process module: the binary, its format, and the host function each import binds to.
///
/// Parsing and the import check happen once; instances (one per running process) share it across threads.
public struct ProcessModule: Sendable {
    public let format: ModuleFormat
    let module: Module
    /// One entry per function import, in import order.
    let bindings: [ImportBinding]
    /// The module's own declared memory maximum, in bytes (nil if none).
    public let declaredMemoryMaxBytes: UInt64?
    public let declaredMemoryMinBytes: UInt64
    /// SHA-256 of the binary: checkpoints name the module they belong to.
    public let hash: [UInt8]

    struct ImportBinding: Sendable {
        let module: String
        let name: String
        /// The canonical (em2-style) name the host implements, e.g. `invoke_vii`, `fd_write`.
        let canonical: String
        let type: FunctionType
    }

    /// Parses and checks `bytes` as a module of `format`.
    ///
    /// Throws `ComputeError.invalidModule` for a binary WasmKit refuses, `.unknownImport` for an import outside the
    /// allow-list (named with its signature), `.missingExport` when `memory` or `handle` is missing.
    public init(bytes: [UInt8], format: ModuleFormat) throws(ComputeError) {
        guard bytes.count <= ComputeLimits.moduleBytesMax else {
            throw .invalidModule("\(bytes.count) bytes exceeds the \(ComputeLimits.moduleBytesMax)-byte module limit")
        }
        guard bytes.count >= 8, bytes[0] == 0, bytes[1] == 0x61, bytes[2] == 0x73, bytes[3] == 0x6D else {
            throw .invalidModule("bad magic: not a WebAssembly binary")
        }
        let module: Module
        do {
            module = try parseWasm(bytes: bytes, features: EngineOptions.features)
        } catch {
            throw .invalidModule("\(error)")
        }
        self.format = format
        self.module = module
        self.hash = SHA2.sha256(bytes)

        var bindings: [ImportBinding] = []
        var memMin: UInt64 = 0
        var memMax: UInt64?
        for imp in module.imports {
            switch imp.descriptor {
            case .function(let typeIndex):
                guard let type = module.functionType(at: typeIndex) else {
                    throw .invalidModule("import \(imp.module).\(imp.name) has no function type")
                }
                guard let canonical = HostImports.canonicalName(module: imp.module, name: imp.name, format: format),
                      HostImports.accepts(canonical: canonical, type: type, format: format) else {
                    throw .unknownImport(module: imp.module, name: imp.name, signature: "\(type.parameters) -> \(type.results)")
                }
                bindings.append(ImportBinding(module: imp.module, name: imp.name, canonical: canonical, type: type))
            case .memory, .table, .global, .tag:
                throw .unknownImport(module: imp.module, name: imp.name, signature: "non-function import")
            }
        }
        let exportNames = Set(module.exports.map(\.name))
        let names = ExportNames(format: format)
        for required in [names.memory, names.handle] where !exportNames.contains(required) {
            throw .missingExport(required)
        }
        self.bindings = bindings
        // The declared memory, read from the parsed export's type once instantiated; here from the binary.
        if let (mn, mx) = ProcessModule.declaredMemory(bytes) { memMin = mn; memMax = mx }
        self.declaredMemoryMinBytes = memMin
        self.declaredMemoryMaxBytes = memMax
    }

    /// Whether the first memory is a memory64 (limits flag bit 2).
    static func declaredMemoryIs64(_ b: [UInt8]) -> Bool {
        guard let limits = firstMemoryLimits(b) else { return false }
        return limits.flags & 4 != 0
    }

    /// The first memory's limits in bytes (minimum, optional maximum), saturating at `UInt64.max`.
    static func declaredMemory(_ b: [UInt8]) -> (UInt64, UInt64?)? {
        guard let limits = firstMemoryLimits(b) else { return nil }
        let page: UInt64 = 65536
        func bytes(_ pages: UInt64) -> UInt64 { pages.multipliedReportingOverflow(by: page).overflow ? .max : pages * page }
        return (bytes(limits.minPages), limits.maxPages.map(bytes))
    }

    /// Reads the first memory's limits from the memory section (id 5) without trusting anything else in the binary:
    /// every length is bounds-checked and a malformed LEB128 or section gives nil.
    static func firstMemoryLimits(_ b: [UInt8]) -> (flags: UInt8, minPages: UInt64, maxPages: UInt64?)? {
        var i = 8
        func leb() -> UInt64? {
            var result: UInt64 = 0; var shift: UInt64 = 0
            while i < b.count {
                let byte = b[i]; i += 1
                if shift < 64 { result |= UInt64(byte & 0x7F) << shift }
                if byte & 0x80 == 0 { return result }
                shift += 7
                if shift > 70 { return nil }
            }
            return nil
        }
        while i < b.count {
            let id = b[i]; i += 1
            guard let size = leb() else { return nil }
            let end = i + Int(clamping: size)
            guard end <= b.count else { return nil }
            if id == 5 {
                guard let count = leb(), count >= 1, i < end else { return nil }
                let flags = b[i]; i += 1
                guard let minPages = leb() else { return nil }
                var maxPages: UInt64?
                if flags & 1 != 0 { maxPages = leb() }
                return (flags, minPages, maxPages)
            }
            i = end
        }
        return nil
    }
}

/// Export names per format (the legacy glue's exports are minified letters).
struct ExportNames {
    let memory, table, handle, main, ctors, malloc, errnoLocation, setThrew, stackSave, stackRestore, stackAlloc: String
    let stackInit = "emscripten_stack_init"
    let stackEnd = "emscripten_stack_get_end"
    let tempretSet = "_emscripten_tempret_set"

    init(format: ModuleFormat) {
        switch format {
        case .legacy:
            memory = "E"; ctors = "F"; handle = "G"; main = "H"; table = "I"; malloc = "J"; errnoLocation = "K"
            setThrew = "L"; stackSave = "M"; stackRestore = "N"; stackAlloc = "O"
        case .emscripten2, .emscripten3:
            memory = "memory"; ctors = "__wasm_call_ctors"; handle = "handle"; main = "main"
            table = "__indirect_function_table"; malloc = "malloc"; errnoLocation = "__errno_location"
            setThrew = "setThrew"; stackSave = "stackSave"; stackRestore = "stackRestore"; stackAlloc = "stackAlloc"
        case .emscripten4, .wasm64:
            memory = "memory"; ctors = "__wasm_call_ctors"; handle = "handle"; main = "main"
            table = "__indirect_function_table"; malloc = "malloc"; errnoLocation = "__errno_location"
            setThrew = "setThrew"; stackSave = "emscripten_stack_get_current"
            stackRestore = "_emscripten_stack_restore"; stackAlloc = "_emscripten_stack_alloc"
        }
    }
}
