@_spi(Fuzzing) import WasmKit
import WAT
import AOCore

/// Serves `/data/<id>` reads for WeaveDrive (em4/wasm64 `__asyncjs__weavedrive_*`). The node binds it to its store;
/// tests use an in-memory map. Must be deterministic: the same path gives the same bytes on every node.
public protocol WeaveDrive: Sendable {
    /// The bytes at `path` (e.g. `/data/<txid>`), or nil if the drive does not have them.
    func read(path: String) -> [UInt8]?
}

/// An in-memory WeaveDrive for tests and the CLI.
public struct MemoryWeaveDrive: WeaveDrive {
    public var files: [String: [UInt8]]
    public init(files: [String: [UInt8]] = [:]) { self.files = files }
    public func read(path: String) -> [UInt8]? { files[path] }
}

/// The whole state of a process between messages: linear memory plus the glue's host-side state.
public struct MemoryImage: Sendable, Equatable {
    public var bytes: [UInt8]
    var host: HostState
    public var byteCount: Int { bytes.count }

    /// A raw memory dump (as a CU's `/state` returns it) with a fresh host state.
    public init(rawMemory: [UInt8]) {
        self.bytes = rawMemory
        self.host = HostState()
    }

    init(bytes: [UInt8], host: HostState) {
        self.bytes = bytes
        self.host = host
    }

    /// SHA-256 of the memory bytes followed by the page count (u64 little-endian), as DESIGN.md section 6 defines the
    /// memory hash of an attestation.
    public func stateHash() -> [UInt8] {
        var pages = UInt64(bytes.count / 65536).littleEndian
        return Checkpoint.sha256(bytes, suffix: withUnsafeBytes(of: &pages) { Array($0) })
    }
}

/// How one call of `handle` ended, before it is turned into an AO result.
enum HandleOutcome {
    /// `handle` returned this C string (UTF-8 bytes).
    case returned([UInt8])
    /// The call trapped or threw; the message is the deterministic `Error` text.
    case trapped(String)
}

/// Errors the host functions throw to unwind out of the guest.
enum HostTrap: Error {
    case exit(Int32)
    case abort(String)
    case outOfGas
    case memoryOutOfBounds
    case invokeTooDeep
    case weaveDriveHalt(String)
}

/// `_emscripten_throw_longjmp` (the JS glue throws `Infinity`); caught only by `invoke_*`.
struct LongjmpSignal: Error {}

/// Holds an execution stack so it can be reused across calls (allocating 4 MiB per `invoke_*` would dominate).
final class StackBox {
    var stack: ExecutionStack
    init(engine: Engine) { stack = ExecutionStack(engine: engine) }
}

/// One running instance of a process module: WasmKit store and instance, the emscripten host imports, and the
/// host-side state. Not thread-safe: one thread drives it at a time (the evaluator gives each process its own).
final class ProcessInstance {
    let module: ProcessModule
    let format: ModuleFormat
    let engine: Engine
    let store: Store
    let names: ExportNames
    let memoryLimitBytes: UInt64
    let drive: (any WeaveDrive)?

    private(set) var instance: Instance!
    private(set) var memory: Memory!
    private var growFunction: Function!
    private var trampolines: [String: Function] = [:]
    private var fnHandle: Function!
    private var fnStackSave: Function?
    private var fnStackRestore: Function?
    private var fnStackAlloc: Function?
    private var fnSetThrew: Function?
    private var fnMalloc: Function?
    private var fnErrno: Function?
    private var fnTempretSet: Function?
    private var fnStackEnd: Function?

    var state = HostState()
    var gasUsed: UInt64 = 0
    var gasLimit: UInt64 = ComputeLimits.computeLimitDefault
    var console: [UInt8] = []
    private var invokeDepth = 0
    private var stacks: [StackBox] = []
    private var driveCache: [String: [UInt8]] = [:]
    private var isPointer64: Bool { format.isMemory64 }

    /// Instantiates `module` and, unless `runStartup` is false, runs the start-up sequence (stack init, constructors,
    /// `main` for the formats that call it).
    init(module: ProcessModule, engine: Engine, memoryLimitBytes: UInt64, drive: (any WeaveDrive)?, runStartup: Bool = true)
        throws(ComputeError)
    {
        self.module = module
        self.format = module.format
        self.engine = engine
        self.store = Store(engine: engine)
        self.names = ExportNames(format: module.format)
        self.memoryLimitBytes = memoryLimitBytes
        self.drive = drive
        store.resourceLimiter = ProcessResourceLimiter(memoryLimitBytes: memoryLimitBytes)
        if module.declaredMemoryMinBytes > memoryLimitBytes {
            throw .memoryLimitExceeded(requestedBytes: module.declaredMemoryMinBytes, limitBytes: memoryLimitBytes)
        }
        var imports = Imports()
        for b in module.bindings {
            imports.define(module: b.module, name: b.name, makeHostFunction(b))
        }
        do {
            instance = try module.module.instantiate(store: store, imports: imports)
        } catch {
            throw .instantiationFailed(ProcessInstance.trapText(error))
        }
        guard let mem = instance.exports[memory: names.memory] else { throw .missingExport(names.memory) }
        memory = mem
        guard let h = instance.exports[function: names.handle] else { throw .missingExport(names.handle) }
        fnHandle = h
        fnStackSave = instance.exports[function: names.stackSave]
        fnStackRestore = instance.exports[function: names.stackRestore]
        fnStackAlloc = instance.exports[function: names.stackAlloc]
        fnSetThrew = instance.exports[function: names.setThrew]
        fnMalloc = instance.exports[function: names.malloc]
        fnErrno = instance.exports[function: names.errnoLocation]
        fnTempretSet = instance.exports[function: names.tempretSet]
        fnStackEnd = instance.exports[function: names.stackEnd]
        guard fnStackSave != nil, fnStackRestore != nil, fnStackAlloc != nil else {
            throw .missingExport("\(names.stackSave)/\(names.stackRestore)/\(names.stackAlloc)")
        }
        try buildHelper()
        stacks = [StackBox(engine: engine)]
        if runStartup { try startup() } else { try initStack() }
    }

    // MARK: start-up

    /// The helper module: `grow` (memory.grow on the process memory, which WasmKit does not expose) and one
    /// `call_indirect` trampoline per `invoke_*` signature (WasmKit has no public call of a table entry).
    private func buildHelper() throws(ComputeError) {
        let memType = memory.type
        let idx = memType.isMemory64 ? "i64" : "i32"
        var text = "(module\n (import \"p\" \"memory\" (memory \(memType.isMemory64 ? "i64 " : "")0))\n"
        let invokes = module.bindings.filter { $0.canonical.hasPrefix("invoke_") }
        var table: Table?
        if !invokes.isEmpty {
            guard let t = instance.exports[table: names.table] else { throw .missingExport(names.table) }
            table = t
            text += " (import \"p\" \"table\" (table \(t.type.limits.isMemory64 ? "i64 " : "")0 funcref))\n"
        }
        text += " (func (export \"grow\") (param \(idx)) (result \(idx)) local.get 0 memory.grow)\n"
        var seen = Set<String>()
        for b in invokes where !seen.contains(b.canonical) {
            seen.insert(b.canonical)
            let params = b.type.parameters
            let calleeParams = params.dropFirst().map { ProcessInstance.watType($0) }
            let results = b.type.results.map { ProcessInstance.watType($0) }
            var body = ""
            for i in 1..<params.count { body += " local.get \(i)" }
            body += " local.get 0"
            let tableIs64 = table?.type.limits.isMemory64 ?? false
            if params[0] == .i64 && !tableIs64 { body += " i32.wrap_i64" }
            if params[0] == .i32 && tableIs64 { body += " i64.extend_i32_u" }
            let sig = "(param \(calleeParams.joined(separator: " ")))" + (results.isEmpty ? "" : " (result \(results.joined(separator: " ")))")
            text += " (func (export \"\(b.canonical)\") (param \(params.map { ProcessInstance.watType($0) }.joined(separator: " ")))"
            text += (results.isEmpty ? "" : " (result \(results.joined(separator: " ")))")
            text += "\(body) call_indirect \(sig))\n"
        }
        text += ")"
        do {
            let bytes = try wat2wasm(text, features: EngineOptions.features)
            let helperModule = try parseWasm(bytes: bytes, features: EngineOptions.features)
            var imports = Imports()
            imports.define(module: "p", name: "memory", memory)
            if let table { imports.define(module: "p", name: "table", table) }
            let helper = try helperModule.instantiate(store: store, imports: imports)
            growFunction = helper.exports[function: "grow"]
            for name in seen { trampolines[name] = helper.exports[function: name] }
        } catch {
            throw .instantiationFailed("host helper module: \(error)")
        }
    }

    static func watType(_ t: ValueType) -> String {
        switch t {
        case .i32: return "i32"
        case .i64: return "i64"
        case .f32: return "f32"
        case .f64: return "f64"
        default: return "i32"
        }
    }

    private func initStack() throws(ComputeError) {
        if let f = instance.exports[function: names.stackInit] {
            store.fuel = Fuel(remaining: ComputeLimits.computeLimitDefault)
            do { try f.invoke([], on: &stacks[0].stack) } catch { throw .startupFailed(ProcessInstance.trapText(error)) }
        }
    }

    /// The glue's start-up: `emscripten_stack_init`, `__wasm_call_ctors` (which reads the environment), then `main`
    /// for legacy (`main(0,0)`) and em2/em3 (`main(1, ["./this.program"])`). em4/wasm64 boot Lua in the first `handle`.
    private func startup() throws(ComputeError) {
        try initStack()
        store.fuel = Fuel(remaining: ComputeLimits.computeLimitDefault)
        gasUsed = 0
        gasLimit = ComputeLimits.computeLimitDefault
        do {
            if let ctors = instance.exports[function: names.ctors] { try ctors.invoke([], on: &stacks[0].stack) }
            if format.callsMain, let main = instance.exports[function: names.main] {
                let params = main.type.parameters
                if format == .legacy || params.count < 2 {
                    try main.invoke(params.map { $0 == .i64 ? .i64(0) : .i32(0) }, on: &stacks[0].stack)
                } else {
                    let sp0 = try callStackSave()
                    let program = Array("./this.program".utf8) + [0]
                    let pStr = try callStackAlloc(program.count)
                    try storeBytes(pStr, program)
                    let ptrSize = isPointer64 ? 8 : 4
                    let argv = try callStackAlloc(2 * ptrSize)
                    try storePointer(argv, pStr)
                    try storePointer(argv + ptrSize, 0)
                    try main.invoke([.i32(1), pointerValue(argv)], on: &stacks[0].stack)
                    try callStackRestore(sp0)
                }
            }
        } catch {
            throw .startupFailed(ProcessInstance.trapText(error))
        }
    }

    // MARK: handle

    /// Calls `handle(msg, env)` as the glue's `ccall` does: both strings NUL-terminated on the shadow stack (sized as
    /// the format's glue sizes them), the returned C string read back, the stack pointer restored.
    /// Gas is reset first; `computeLimit` is both the WasmKit fuel budget and the `metering.usegas` limit.
    func callHandle(message: String, env: String, computeLimit: UInt64) -> HandleOutcome {
        gasUsed = 0
        gasLimit = computeLimit
        console.removeAll(keepingCapacity: true)
        store.fuel = Fuel(remaining: computeLimit)
        invokeDepth = 0
        do {
            let sp0 = try callStackSave()
            let msgBytes = Array(message.utf8), envBytes = Array(env.utf8)
            let msgSlot = format.stackAllocIsUTF16Times4 ? message.utf16.count * 4 + 1 : msgBytes.count + 1
            let envSlot = format.stackAllocIsUTF16Times4 ? env.utf16.count * 4 + 1 : envBytes.count + 1
            guard msgSlot + envSlot <= ComputeLimits.handleInputBytesMax else {
                return .trapped("message too large: \(msgSlot + envSlot) bytes of shadow stack")
            }
            if let fnStackEnd {
                let end = try integer(fnStackEnd.invoke([], on: &stacks[0].stack).first)
                guard sp0 - end > msgSlot + envSlot + 64 * 1024 else {
                    return .trapped("message too large for the module's shadow stack (\(msgSlot + envSlot) bytes)")
                }
            }
            let pMsg = try callStackAlloc(msgSlot)
            try storeBytes(pMsg, msgBytes + [0])
            let pEnv = try callStackAlloc(envSlot)
            try storeBytes(pEnv, envBytes + [0])
            let ret = try fnHandle.invoke([pointerValue(pMsg), pointerValue(pEnv)], on: &stacks[0].stack)
            try callStackRestore(sp0)
            let p = try integer(ret.first)
            return .returned(p == 0 ? [] : try loadCString(p, max: ComputeLimits.handleOutputBytesMax))
        } catch {
            return .trapped(ProcessInstance.trapText(error))
        }
    }

    /// The deterministic `Error` text for anything thrown out of the guest. WasmKit trap descriptions carry a
    /// backtrace with host addresses; only the first line (the reason) is kept.
    static func trapText(_ error: any Error) -> String {
        switch error {
        case let e as HostTrap:
            switch e {
            case .exit(let c): return "Program terminated with exit(\(c))"
            case .abort(let m): return "Aborted(\(m))"
            case .outOfGas: return "out of gas!"
            case .memoryOutOfBounds: return "memory access out of bounds"
            case .invokeTooDeep: return "call stack exhausted: invoke nesting exceeds \(ComputeLimits.invokeNestingMax)"
            case .weaveDriveHalt(let m): return "HALT: \(m)"
            }
        case is LongjmpSignal: return "longjmp outside of any invoke"
        default:
            var text = "\(error)"
            if let nl = text.firstIndex(of: "\n") { text = String(text[..<nl]) }
            if text.hasPrefix("Trap: ") { text.removeFirst(6) }
            if text == "out of fuel" { return "out of gas!" }
            if text == "out of bounds memory access" { return "memory access out of bounds" }
            return text
        }
    }

    // MARK: memory images

    /// A copy of the whole state (memory bytes and host state).
    func snapshot() -> MemoryImage {
        let n = memory.byteCount
        let bytes: [UInt8] = n == 0 ? [] : memory.withUnsafeBufferPointer(offset: 0, count: n) { Array($0.bindMemory(to: UInt8.self)) }
        return MemoryImage(bytes: bytes, host: state)
    }

    /// The attestation memory hash (`AOCore.MemoryCommitment`) of the memory, read in place through `hasher`.
    func attestationMemoryHash(_ hasher: inout IncrementalMemoryHasher) -> [UInt8] {
        let n = memory.byteCount
        guard n > 0 else { return hasher.hash(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return memory.withUnsafeBufferPointer(offset: 0, count: n) { hasher.hash(UnsafeRawBufferPointer($0)) }
    }

    /// Copies the memory into `bytes`, in place when it already has the memory's size (no allocation, no page
    /// faults: the rollback base is refreshed this way); otherwise `bytes` becomes a new copy.
    func copyMemory(into bytes: inout [UInt8]) {
        let n = memory.byteCount
        guard n > 0, bytes.count == n else {
            bytes = n == 0 ? [] : memory.withUnsafeBufferPointer(offset: 0, count: n) { Array($0.bindMemory(to: UInt8.self)) }
            return
        }
        memory.withUnsafeBufferPointer(offset: 0, count: n) { src in
            bytes.withUnsafeMutableBytes { $0.copyMemory(from: src) }
        }
    }

    /// Loads `image` into this (fresh) instance: grows memory as the glue's `resizeHeap` would, then copies the bytes
    /// from offset 0 (memory never shrinks), then takes the host state.
    func load(_ image: MemoryImage) throws(ComputeError) {
        if memory.byteCount < image.bytes.count {
            store.fuel = Fuel(remaining: ComputeLimits.computeLimitDefault)
            let ok = (try? resizeHeap(requested: UInt64(image.bytes.count))) ?? false
            guard ok, memory.byteCount >= image.bytes.count else {
                throw .memoryLimitExceeded(requestedBytes: UInt64(image.bytes.count), limitBytes: memoryLimitBytes)
            }
        }
        if !image.bytes.isEmpty {
            memory.withUnsafeMutableBufferPointer(offset: 0, count: image.bytes.count) { dst in
                image.bytes.withUnsafeBytes { dst.copyMemory(from: $0) }
            }
        }
        state = image.host
    }

    // MARK: guest exports used by the host

    private func integer(_ v: Value?) throws -> Int {
        switch v {
        case .i32(let x): return Int(x)
        case .i64(let x): return Int(truncatingIfNeeded: x)
        default: throw HostTrap.abort("expected an integer result")
        }
    }

    private func pointerValue(_ p: Int) -> Value { isPointer64 ? .i64(UInt64(p)) : .i32(UInt32(truncatingIfNeeded: p)) }

    private func callStackSave() throws -> Int { try integer(fnStackSave!.invoke([], on: &stacks[0].stack).first) }
    private func callStackRestore(_ sp: Int) throws { try fnStackRestore!.invoke([pointerValue(sp)], on: &stacks[0].stack) }
    private func callStackAlloc(_ n: Int) throws -> Int { try integer(fnStackAlloc!.invoke([pointerValue(n)], on: &stacks[0].stack).first) }

    /// Calls a guest export from inside a host function (needs its own stack: the outer one is in use).
    private func nestedCall(_ f: Function, _ args: [Value]) throws -> [Value] {
        let depth = invokeDepth + 1
        guard depth <= ComputeLimits.invokeNestingMax else { throw HostTrap.invokeTooDeep }
        while stacks.count <= depth { stacks.append(StackBox(engine: engine)) }
        invokeDepth = depth
        defer { invokeDepth = depth - 1 }
        return try f.invoke(args, on: &stacks[depth].stack)
    }

    private func guestMalloc(_ n: Int) throws -> Int {
        guard let fnMalloc else { throw HostTrap.abort("malloc is not exported") }
        return try integer(nestedCall(fnMalloc, [pointerValue(n)]).first)
    }

    private func setErrno(_ v: Int32) throws {
        guard let fnErrno else { return }
        let p = try integer(nestedCall(fnErrno, []).first)
        try store32(p, UInt32(bitPattern: v))
    }

    // MARK: memory access (bounds-checked; a bad pointer is a trap of the evaluation, never a crash)

    @inline(__always)
    private func withMemory<T>(_ p: Int, _ n: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> T) throws -> T {
        let count = memory.byteCount
        guard p >= 0, n >= 0, p <= count, n <= count - p else { throw HostTrap.memoryOutOfBounds }
        if n == 0 { return try body(UnsafeMutableRawBufferPointer(start: nil, count: 0)) }
        return try memory.withUnsafeMutableBufferPointer(offset: UInt(p), count: n, body)
    }

    func load32(_ p: Int) throws -> UInt32 { try withMemory(p, 4) { $0.loadUnaligned(as: UInt32.self) }.littleEndian }
    func load64(_ p: Int) throws -> UInt64 { try withMemory(p, 8) { $0.loadUnaligned(as: UInt64.self) }.littleEndian }
    func store32(_ p: Int, _ v: UInt32) throws { try withMemory(p, 4) { $0.storeBytes(of: v.littleEndian, as: UInt32.self) } }
    func store64(_ p: Int, _ v: UInt64) throws { try withMemory(p, 8) { $0.storeBytes(of: v.littleEndian, as: UInt64.self) } }
    func store16(_ p: Int, _ v: UInt16) throws { try withMemory(p, 2) { $0.storeBytes(of: v.littleEndian, as: UInt16.self) } }
    func storeBytes(_ p: Int, _ b: [UInt8]) throws { try withMemory(p, b.count) { dst in b.withUnsafeBytes { dst.copyMemory(from: $0) } } }
    func loadBytes(_ p: Int, _ n: Int) throws -> [UInt8] { try withMemory(p, n) { Array($0.bindMemory(to: UInt8.self)) } }
    func storePointer(_ p: Int, _ v: Int) throws { if isPointer64 { try store64(p, UInt64(v)) } else { try store32(p, UInt32(truncatingIfNeeded: v)) } }
    func loadPointer(_ p: Int) throws -> Int { isPointer64 ? Int(truncatingIfNeeded: try load64(p)) : Int(try load32(p)) }

    func loadCString(_ p: Int, max: Int) throws -> [UInt8] {
        let count = memory.byteCount
        guard p >= 0, p < count else { throw HostTrap.memoryOutOfBounds }
        return try memory.withUnsafeBufferPointer(offset: UInt(p), count: count - p) { buf -> [UInt8] in
            let bytes = buf.bindMemory(to: UInt8.self)
            var n = 0
            while n < bytes.count, bytes[n] != 0 { n += 1; if n > max { throw HostTrap.memoryOutOfBounds } }
            guard n < bytes.count else { throw HostTrap.memoryOutOfBounds }
            return Array(bytes[0..<n])
        }
    }

    func loadString(_ p: Int) throws -> String { String(decoding: try loadCString(p, max: 1 << 20), as: UTF8.self) }

    // MARK: heap growth (ao-loader-abi.md 2.4, identical in every glue)

    func resizeHeap(requested: UInt64) throws -> Bool {
        let old = UInt64(memory.byteCount)
        let heapMax = format.glueHeapMaxBytes
        if requested > heapMax { return false }
        for cutDown in [1.0, 2.0, 4.0] {
            var over = Double(old) * (1 + 0.2 / cutDown)
            over = Swift.min(over, Double(requested) + 100_663_296)
            let target = Swift.max(Double(requested), over)
            let aligned = (target / 65536).rounded(.up) * 65536
            let newSize = Swift.min(Double(heapMax), aligned)
            let pages = (newSize - Double(old)) / 65536
            guard pages >= 0 else { continue }
            let arg: Value = isPointer64 ? .i64(UInt64(pages)) : .i32(UInt32(pages))
            let r = try nestedCall(growFunction, [arg])
            switch r.first {
            case .i32(let x) where x != UInt32.max: return true
            case .i64(let x) where x != UInt64.max: return true
            default: continue
            }
        }
        return false
    }

    // MARK: host functions

    private func makeHostFunction(_ b: ProcessModule.ImportBinding) -> Function {
        let type = b.type
        let impl = hostImplementation(b)
        let resultType = type.results.first
        return Function(store: store, parameters: type.parameters, results: type.results) { _, params, results in
            let r = try impl(params)
            if let resultType {
                results[0] = ProcessInstance.value(r, as: resultType)
            }
        }
    }

    /// What a host function returns, before it is shaped to the import's declared result type.
    enum HostResult {
        case none
        case int(Int64)
        case double(Double)
    }

    static func value(_ r: HostResult, as type: ValueType) -> Value {
        switch (r, type) {
        case (.int(let v), .i32): return .i32(UInt32(truncatingIfNeeded: v))
        case (.int(let v), .i64): return .i64(UInt64(bitPattern: v))
        case (.int(let v), .f64): return .f64(Double(v).bitPattern)
        case (.double(let d), .f64): return .f64(d.bitPattern)
        case (.double(let d), .i32): return .i32(UInt32(truncatingIfNeeded: Int64(d.isFinite ? d : 0)))
        case (.double(let d), .i64): return .i64(UInt64(bitPattern: Int64(d.isFinite ? d : 0)))
        case (_, .f32): return .f32(0)
        default: return type == .i64 ? .i64(0) : .i32(0)
        }
    }

    @inline(__always) static func int(_ v: Value) -> Int {
        switch v {
        case .i32(let x): return Int(x)
        case .i64(let x): return Int(truncatingIfNeeded: x)
        case .f64(let x): return Int(Double(bitPattern: x))
        default: return 0
        }
    }
    @inline(__always) static func int32(_ v: Value) -> Int32 {
        switch v {
        case .i32(let x): return Int32(bitPattern: x)
        case .i64(let x): return Int32(truncatingIfNeeded: Int64(bitPattern: x))
        default: return 0
        }
    }
    @inline(__always) static func int64(_ v: Value) -> Int64 {
        switch v {
        case .i32(let x): return Int64(Int32(bitPattern: x))
        case .i64(let x): return Int64(bitPattern: x)
        default: return 0
        }
    }

    typealias Impl = (UnsafeBufferPointer<Value>) throws -> HostResult

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    private func hostImplementation(_ b: ProcessModule.ImportBinding) -> Impl {
        let legacy = format == .legacy
        let name = b.canonical
        let int = ProcessInstance.int, int32 = ProcessInstance.int32
        if name.hasPrefix("invoke_") {
            let resultTypes = b.type.results
            return { [unowned self] p in
                let f = self.trampolines[name]!
                let sp = try self.integer(self.nestedCall(self.fnStackSave!, []).first)
                do {
                    let r = try self.nestedCall(f, Array(p))
                    switch r.first {
                    case .i32(let x): return .int(Int64(Int32(bitPattern: x)))
                    case .i64(let x): return .int(Int64(bitPattern: x))
                    case .f64(let x): return .double(Double(bitPattern: x))
                    case .f32(let x): return .double(Double(Float(bitPattern: x)))
                    default: return .none
                    }
                } catch is LongjmpSignal {
                    _ = try self.nestedCall(self.fnStackRestore!, [self.pointerValue(sp)])
                    guard let setThrew = self.fnSetThrew else { throw HostTrap.abort("setThrew is not exported") }
                    let a = setThrew.type.parameters
                    _ = try self.nestedCall(setThrew, [a.first == .i64 ? .i64(1) : .i32(1), .i32(0)])
                    return resultTypes.first == .f64 ? .double(0) : .int(0)
                }
            }
        }
        switch name {
        case "abort", "_abort_js": return { _ in throw HostTrap.abort("native code called abort()") }
        case "__assert_fail":
            return { [unowned self] p in
                let cond = (try? self.loadString(int(p[0]))) ?? "?"
                throw HostTrap.abort("Assertion failed: \(cond)")
            }
        case "_dlopen_js", "_dlsym_js": return { _ in throw HostTrap.abort("dynamic linking is not supported") }
        case "_dlinit": return { _ in .none }
        case "getTempRet0": return { [unowned self] _ in .int(Int64(self.state.tempRet0)) }
        case "setTempRet0": return { [unowned self] p in self.state.tempRet0 = UInt32(bitPattern: int32(p[0])); return .none }
        case "exit": return { p in throw HostTrap.exit(int32(p[0])) }
        case "system", "_emscripten_system":
            // Never run a command (the em4 glue really does under Node). NULL asks "is there a shell?": no.
            return { [unowned self] p in
                if int(p[0]) == 0 { return .int(0) }
                if self.format == .emscripten4 || self.format == .wasm64 { return .int(-52) }
                try self.setErrno(52)
                return .int(-1)
            }
        case "emscripten_memcpy_big", "_emscripten_memcpy_js":
            return { [unowned self] p in
                let dst = int(p[0]), src = int(p[1]), n = int(p[2])
                let count = self.memory.byteCount
                guard dst >= 0, src >= 0, n >= 0, dst <= count - n, src <= count - n else { throw HostTrap.memoryOutOfBounds }
                if n > 0 {
                    self.memory.withUnsafeMutableBufferPointer(offset: 0, count: count) { m in
                        (m.baseAddress! + dst).copyMemory(from: m.baseAddress! + src, byteCount: n)
                    }
                }
                return .int(Int64(dst))
            }
        case "_tzset_js":
            return { [unowned self] p in try self.tzset(p); return .none }
        case "_mktime_js":
            return { [unowned self] p in try self.mktime(p) }
        case "_localtime_js", "_gmtime_js":
            return { [unowned self] p in try self.gmtime(p, local: name == "_localtime_js"); return .none }
        case "_emscripten_date_now", "emscripten_date_now", "emscripten_get_now":
            return { [unowned self] _ in
                guard self.format.hasTimeCounter else { return .double(0) }
                let t = self.state.timeCounterMs
                self.state.timeCounterMs += 1
                return .double(t)
            }
        case "_emscripten_get_now_is_monotonic": return { _ in .int(1) }
        case "strftime": return { [unowned self] p in .int(Int64(try self.strftime(p))) }
        case "emscripten_resize_heap":
            return { [unowned self] p in
                let requested = self.isPointer64 ? UInt64(bitPattern: ProcessInstance.int64(p[0])) : UInt64(UInt32(bitPattern: int32(p[0])))
                return .int(try self.resizeHeap(requested: requested) ? 1 : 0)
            }
        case "emscripten_get_heap_max":
            return { [unowned self] _ in .int(Int64(Swift.min(self.format.glueHeapMaxBytes, self.memoryLimitBytes))) }
        case "_emscripten_throw_longjmp": return { _ in throw LongjmpSignal() }
        case "usegas":
            return { [unowned self] p in
                self.gasUsed &+= UInt64(UInt32(bitPattern: int32(p[0])))
                if self.gasUsed > self.gasLimit { throw HostTrap.outOfGas }
                return .none
            }
        case "metering_gasUsed": return { [unowned self] _ in .int(Int64(truncatingIfNeeded: self.gasUsed)) }
        case "environ_sizes_get":
            return { [unowned self] p in
                let env = self.environment
                try self.storePointer(int(p[0]), env.count)
                try self.storePointer(int(p[1]), env.reduce(0) { $0 + $1.count + 1 })
                return .int(0)
            }
        case "environ_get":
            return { [unowned self] p in
                var ptrs = int(p[0]), buf = int(p[1])
                for e in self.environment {
                    try self.storePointer(ptrs, buf)
                    try self.storeBytes(buf, Array(e.utf8) + [0])
                    ptrs += self.isPointer64 ? 8 : 4
                    buf += e.utf8.count + 1
                }
                return .int(0)
            }
        case "fd_write": return { [unowned self] p in .int(Int64(try self.fdWrite(p))) }
        case "fd_read": return legacy ? { _ in .int(52) } : { [unowned self] p in .int(Int64(try self.fdRead(p))) }
        case "fd_close": return legacy ? { _ in .int(52) } : { [unowned self] p in .int(Int64(self.fdClose(int32(p[0])))) }
        case "fd_seek": return legacy ? { _ in .int(70) } : { [unowned self] p in .int(Int64(try self.fdSeek(p))) }
        case "fd_sync": return { _ in .int(0) }
        case "fd_fdstat_get":
            return { [unowned self] p in
                let fd = int32(p[0]), buf = int(p[1])
                let type: UInt8
                if fd <= 2 { type = 2 } else if self.state.fileSystem.openFiles[fd] != nil { type = 4 } else { return .int(8) }
                try self.storeBytes(buf, [type, 0, 0, 0, 0, 0, 0, 0])
                try self.store64(buf + 8, 0); try self.store64(buf + 16, 0)
                return .int(0)
            }
        case "__syscall_openat":
            return legacy ? { _ in .int(0) } : { [unowned self] p in .int(Int64(try self.openat(p))) }
        case "__syscall_fcntl64":
            return legacy ? { _ in .int(0) } : { [unowned self] p in .int(Int64(try self.fcntl(p))) }
        case "__syscall_ioctl":
            return legacy ? { _ in .int(0) } : { p in
                let fd = int32(p[0]), op = int32(p[1])
                let isTTY = fd >= 0 && fd <= 2
                switch op {
                case 21505, 21506, 21507, 21508, 21523, 21524, 21519, 21520: return .int(isTTY ? 0 : -59)
                default: return .int(isTTY ? -28 : -59)
                }
            }
        case "__syscall_dup3": return legacy ? { _ in .int(0) } : { _ in .int(-52) }
        case "__syscall_unlinkat":
            return legacy ? { _ in .int(0) } : { [unowned self] p in
                let path = MemoryFileSystem.normalize(try self.loadString(int(p[1])))
                return .int(self.state.fileSystem.files.removeValue(forKey: path) == nil ? -44 : 0)
            }
        case "__syscall_rmdir": return legacy ? { _ in .int(0) } : { _ in .int(-63) }
        case "__syscall_renameat":
            return legacy ? { _ in .int(0) } : { [unowned self] p in
                let from = MemoryFileSystem.normalize(try self.loadString(int(p[1])))
                let to = MemoryFileSystem.normalize(try self.loadString(int(p[3])))
                guard let data = self.state.fileSystem.files.removeValue(forKey: from) else { return .int(-44) }
                self.state.fileSystem.files[to] = data
                return .int(0)
            }
        case "__syscall_lstat64", "__syscall_stat64":
            return legacy ? { _ in .int(0) } : { [unowned self] p in
                .int(Int64(try self.stat(path: MemoryFileSystem.normalize(try self.loadString(int(p[0]))), buf: int(p[1]))))
            }
        case "__syscall_newfstatat":
            return { [unowned self] p in
                .int(Int64(try self.stat(path: MemoryFileSystem.normalize(try self.loadString(int(p[1]))), buf: int(p[2]))))
            }
        case "__syscall_fstat64":
            return { [unowned self] p in
                let fd = int32(p[0])
                if fd <= 2 { return .int(Int64(try self.stat(path: "/dev/tty", buf: int(p[1])))) }
                guard let f = self.state.fileSystem.openFiles[fd] else { return .int(-8) }
                return .int(Int64(try self.stat(path: f.path, buf: int(p[1]))))
            }
        case "__syscall_faccessat":
            return { [unowned self] p in
                let path = MemoryFileSystem.normalize(try self.loadString(int(p[1])))
                let fs = self.state.fileSystem
                return .int(fs.files[path] != nil || fs.isDirectory(path) || MemoryFileSystem.devices.contains(path) ? 0 : -44)
            }
        case "__syscall_fchmod", "__syscall_chmod", "__syscall_fchown32", "__syscall_utimensat": return { _ in .int(0) }
        case "__syscall_getcwd":
            return { [unowned self] p in
                guard int(p[1]) >= 2 else { return .int(-68) }
                try self.storeBytes(int(p[0]), [UInt8(ascii: "/"), 0])
                return .int(2)
            }
        case "__syscall_mkdirat": return { _ in .int(-63) }
        case "__syscall_readlinkat": return { _ in .int(-28) }
        case "__syscall_ftruncate64":
            return { [unowned self] p in
                let fd = int32(p[0])
                let length = p.count >= 3 ? Int(UInt32(bitPattern: int32(p[1]))) | (Int(int32(p[2])) << 32) : int(p[1])
                guard let f = self.state.fileSystem.openFiles[fd], var data = self.state.fileSystem.files[f.path] else { return .int(-8) }
                guard length >= 0, length <= ComputeLimits.fileSystemBytesMax else { return .int(-28) }
                if length < data.count { data.removeLast(data.count - length) } else { data += [UInt8](repeating: 0, count: length - data.count) }
                self.state.fileSystem.files[f.path] = data
                return .int(0)
            }
        case "_mmap_js": return { _ in .int(-52) }
        case "_munmap_js": return { _ in .int(0) }
        case "__asyncjs__weavedrive_open":
            return { [unowned self] p in .int(Int64(try self.weaveDriveOpen(path: try self.loadString(int(p[0]))))) }
        case "__asyncjs__weavedrive_read":
            return { [unowned self] p in .int(Int64(try self.weaveDriveRead(fd: int32(p[0]), dst: int(p[1]), count: int(p[2])))) }
        case "__asyncjs__weavedrive_close":
            return { [unowned self] p in _ = self.fdClose(int32(p[0])); return .int(0) }
        default:
            // `HostImports.accepts` admits only the names above; reaching here is a programmer error.
            preconditionFailure("host import \(name) is on the allow-list but has no implementation")
        }
    }

    /// The environment `environ_get` reports: empty for em4/wasm64 (the glue's patch), else the glue's 7 variables
    /// with a fixed `_` (the glue puts the Node script path there, which differs per machine).
    private var environment: [String] {
        if format.hasEmptyEnvironment { return [] }
        return ["USER=web_user", "LOGNAME=web_user", "PATH=/", "PWD=/", "HOME=/home/web_user", "LANG=C.UTF-8", "_=./this.program"]
    }

    // MARK: time (always UTC)

    private func tzset(_ p: UnsafeBufferPointer<Value>) throws {
        let int = ProcessInstance.int
        if p.count >= 4 {
            // em4/wasm64: (timezone*, daylight*, std_name[17], dst_name[17]).
            if isPointer64 { try store64(int(p[0]), 0) } else { try store32(int(p[0]), 0) }
            try store32(int(p[1]), 0)
            try storeBytes(int(p[2]), Array("UTC".utf8) + [0])
            try storeBytes(int(p[3]), Array("UTC".utf8) + [0])
        } else {
            // em2/legacy: once per instance, write offsets and malloc the two zone names into tzname[2].
            guard !state.tzsetDone else { return }
            state.tzsetDone = true
            try store32(int(p[0]), 0)
            try store32(int(p[1]), 0)
            let name = Array("Coordinated Universal Time".utf8) + [0]
            let a = try guestMalloc(name.count); try storeBytes(a, name)
            let b = try guestMalloc(name.count); try storeBytes(b, name)
            try store32(int(p[2]), UInt32(truncatingIfNeeded: a))
            try store32(int(p[2]) + 4, UInt32(truncatingIfNeeded: b))
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12).
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int64) -> (y: Int64, m: Int64, d: Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    /// Broken-down UTC time, as JS `Date` gives it (fields sec, min, hour, mday, mon 0-11, year-1900, wday, yday).
    static func brokenDown(_ t: Int64) -> [Int32]? {
        guard abs(t) <= 8_640_000_000_000 else { return nil }  // JS Date's range: beyond it every field is NaN.
        let days = t >= 0 ? t / 86400 : (t - 86399) / 86400
        let secs = t - days * 86400
        let (y, m, d) = civilFromDays(days)
        let wday = ((days % 7) + 11) % 7
        let yday = days - daysFromCivil(y, 1, 1)
        return [Int32(secs % 60), Int32((secs / 60) % 60), Int32(secs / 3600), Int32(d), Int32(m - 1), Int32(y - 1900),
                Int32(wday), Int32(yday)]
    }

    private func gmtime(_ p: UnsafeBufferPointer<Value>, local: Bool) throws {
        let t: Int64, tm: Int
        if p.count >= 3 {
            t = Int64(UInt32(bitPattern: ProcessInstance.int32(p[0]))) | (Int64(ProcessInstance.int32(p[1])) << 32)
            tm = ProcessInstance.int(p[2])
        } else if isPointer64 {
            t = ProcessInstance.int64(p[0]); tm = ProcessInstance.int(p[1])
        } else {
            t = Int64(Int32(bitPattern: try load32(ProcessInstance.int(p[0])))); tm = ProcessInstance.int(p[1])
        }
        let fields = ProcessInstance.brokenDown(t) ?? [Int32](repeating: 0, count: 8)
        for (i, f) in fields.enumerated() { try store32(tm + 4 * i, UInt32(bitPattern: f)) }
        if local {
            try store32(tm + 32, 0)  // isdst: UTC has none
            if isPointer64 { try store64(tm + 40, 0) } else { try store32(tm + 36, 0) }
        }
    }

    private func mktime(_ p: UnsafeBufferPointer<Value>) throws -> HostResult {
        let tm = ProcessInstance.int(p[0])
        var f = [Int64]()
        for i in 0..<6 { f.append(Int64(Int32(bitPattern: try load32(tm + 4 * i)))) }
        var year = f[5] + 1900
        if year >= 0 && year <= 99 { year += 1900 }  // JS Date(y, ...) maps 0-99 to 1900-1999
        let month = f[4]
        let y = year + (month >= 0 ? month / 12 : (month - 11) / 12)
        let m = month - (y - year) * 12
        let days = ProcessInstance.daysFromCivil(y, m + 1, 1) + f[3] - 1
        let t = days * 86400 + f[2] * 3600 + f[1] * 60 + f[0]
        let dst = Int32(bitPattern: try load32(tm + 32))
        if dst < 0 { try store32(tm + 32, 0) }
        guard let fields = ProcessInstance.brokenDown(t) else { return .int(-1) }
        for (i, v) in fields.enumerated() { try store32(tm + 4 * i, UInt32(bitPattern: v)) }
        if format == .emscripten4, let fnTempretSet {
            _ = try nestedCall(fnTempretSet, [.i32(UInt32(truncatingIfNeeded: t >> 32))])
        }
        return .int(t)
    }

    private func strftime(_ p: UnsafeBufferPointer<Value>) throws -> Int {
        let int = ProcessInstance.int
        let s = int(p[0]), maxSize = int(p[1]), fmt = int(p[2]), tm = int(p[3])
        var f = [Int]()
        for i in 0..<9 { f.append(Int(Int32(bitPattern: try load32(tm + 4 * i)))) }
        let gmtoff = isPointer64 ? Int(Int64(bitPattern: try load64(tm + 40))) : Int(Int32(bitPattern: try load32(tm + 36)))
        let zonePtr = isPointer64 ? Int(truncatingIfNeeded: try load64(tm + 48)) : Int(try load32(tm + 40))
        let zone = zonePtr == 0 ? "" : (try? loadString(zonePtr)) ?? ""
        let out = Array(Strftime.format(pattern: Array(try loadCString(fmt, max: 1 << 16)), sec: f[0], min: f[1], hour: f[2],
                                        mday: f[3], mon: f[4], year: f[5], wday: f[6], yday: f[7], gmtoff: gmtoff, zone: zone))
        if out.count + 1 > maxSize { return 0 }
        try storeBytes(s, out + [0])
        return out.count
    }

    // MARK: file system

    private func fdWrite(_ p: UnsafeBufferPointer<Value>) throws -> Int32 {
        let int = ProcessInstance.int
        let fd = ProcessInstance.int32(p[0]), iov = int(p[1]), iovcnt = int(p[2]), pnum = int(p[3])
        let stride = isPointer64 ? 16 : 8
        guard iovcnt >= 0, iovcnt <= 1024 else { return 28 }
        var data: [UInt8] = []
        for i in 0..<iovcnt {
            let ptr = try loadPointer(iov + i * stride)
            let len = try loadPointer(iov + i * stride + stride / 2)
            // Each iovec is bounds-checked, but 1024 of them could each name the whole memory.
            guard len >= 0, data.count + len <= ComputeLimits.fileSystemBytesMax else { return 28 }
            data += try loadBytes(ptr, len)
        }
        if fd == 1 || fd == 2 {
            if console.count < ComputeLimits.consoleBytesMax { console += data.filter { $0 != 0 }.prefix(ComputeLimits.consoleBytesMax - console.count) }
        } else if format == .legacy {
            throw HostTrap.abort("fd_write to fd \(fd) without a file system")
        } else {
            let r = writeFile(fd: fd, data)
            if r != 0 { return r }
        }
        if isPointer64 { try store64(pnum, UInt64(data.count)) } else { try store32(pnum, UInt32(data.count)) }
        return 0
    }

    private func writeFile(fd: Int32, _ data: [UInt8]) -> Int32 {
        guard var f = state.fileSystem.openFiles[fd] else { return 8 }
        if f.path == "/dev/null" { return 0 }
        guard f.flags & 3 != 0 else { return 8 }
        guard var content = state.fileSystem.files[f.path] else { return 8 }
        guard state.fileSystem.totalBytes + data.count <= ComputeLimits.fileSystemBytesMax else { return 51 }  // ENOSPC
        if f.flags & 1024 != 0 { f.position = content.count }
        guard f.position <= ComputeLimits.fileSystemBytesMax - data.count else { return 51 }  // ENOSPC
        if f.position > content.count { content += [UInt8](repeating: 0, count: f.position - content.count) }
        let end = f.position + data.count
        if end > content.count { content += [UInt8](repeating: 0, count: end - content.count) }
        content.replaceSubrange(f.position..<end, with: data)
        f.position = end
        state.fileSystem.files[f.path] = content
        state.fileSystem.openFiles[fd] = f
        return 0
    }

    private func fdRead(_ p: UnsafeBufferPointer<Value>) throws -> Int32 {
        let int = ProcessInstance.int
        let fd = ProcessInstance.int32(p[0]), iov = int(p[1]), iovcnt = int(p[2]), pnum = int(p[3])
        let stride = isPointer64 ? 16 : 8
        var total = 0
        if fd == 0 {
            total = 0
        } else {
            guard var f = state.fileSystem.openFiles[fd] else { return 8 }
            for i in 0..<max(0, min(iovcnt, 1024)) {
                let ptr = try loadPointer(iov + i * stride)
                let len = try loadPointer(iov + i * stride + stride / 2)
                var chunk: [UInt8]
                if f.path == "/dev/urandom" || f.path == "/dev/random" {
                    chunk = (0..<min(len, 1 << 20)).map { _ in state.nextRandomByte() }
                } else if f.path == "/dev/null" || f.path.hasPrefix("/dev/") {
                    chunk = []
                } else if let content = state.fileSystem.files[f.path] ?? driveBytes(f.path) {
                    let start = min(f.position, content.count)
                    chunk = Array(content[start..<min(content.count, start + len)])
                } else {
                    return 31  // EISDIR: an open directory
                }
                try storeBytes(ptr, chunk)
                f.position += chunk.count
                total += chunk.count
                if chunk.count < len { break }
            }
            state.fileSystem.openFiles[fd] = f
        }
        if isPointer64 { try store64(pnum, UInt64(total)) } else { try store32(pnum, UInt32(total)) }
        return 0
    }

    private func fdClose(_ fd: Int32) -> Int32 {
        if fd >= 0 && fd <= 2 { return 0 }
        return state.fileSystem.openFiles.removeValue(forKey: fd) == nil ? 8 : 0
    }

    private func fdSeek(_ p: UnsafeBufferPointer<Value>) throws -> Int32 {
        let fd = ProcessInstance.int32(p[0])
        let offset: Int64, whence: Int32, out: Int
        if p.count >= 5 {
            offset = Int64(UInt32(bitPattern: ProcessInstance.int32(p[1]))) | (Int64(ProcessInstance.int32(p[2])) << 32)
            whence = ProcessInstance.int32(p[3]); out = ProcessInstance.int(p[4])
        } else {
            offset = ProcessInstance.int64(p[1]); whence = ProcessInstance.int32(p[2]); out = ProcessInstance.int(p[3])
        }
        guard fd > 2, var f = state.fileSystem.openFiles[fd] else { return fd <= 2 && fd >= 0 ? 70 : 8 }
        let size = (state.fileSystem.files[f.path] ?? driveBytes(f.path))?.count ?? 0
        let base: Int64
        switch whence {
        case 0: base = 0
        case 1: base = Int64(f.position)
        case 2: base = Int64(size)
        default: return 28
        }
        let pos = base + offset
        guard pos >= 0, pos <= Int64(ComputeLimits.fileSystemBytesMax) else { return 28 }
        f.position = Int(pos)
        state.fileSystem.openFiles[fd] = f
        try store64(out, UInt64(pos))
        return 0
    }

    private func openat(_ p: UnsafeBufferPointer<Value>) throws -> Int32 {
        let int = ProcessInstance.int
        let path = MemoryFileSystem.normalize(try loadString(int(p[1])))
        let flags = ProcessInstance.int32(p[2])
        var fs = state.fileSystem
        guard fs.openFiles.count < ComputeLimits.openFilesMax else { return -33 }  // EMFILE
        let write = flags & 3 != 0
        if fs.isDirectory(path) {
            if write { return -31 }
        } else if MemoryFileSystem.devices.contains(path) {
            // served by fd_read/fd_write
        } else if fs.files[path] != nil {
            if flags & 64 != 0, flags & 128 != 0 { return -20 }  // O_CREAT|O_EXCL: EEXIST
            if flags & 512 != 0, write { fs.files[path] = [] }
        } else if flags & 64 != 0 {
            let parent = MemoryFileSystem.parent(of: path)
            guard fs.isDirectory(parent), parent != "/dev", parent != "/data", !parent.hasPrefix("/proc") else { return -44 }
            fs.files[path] = []
        } else {
            return -44
        }
        let fd = fs.nextDescriptor
        fs.nextDescriptor += 1
        fs.openFiles[fd] = .init(path: path, position: 0, flags: flags)
        state.fileSystem = fs
        return fd
    }

    private func fcntl(_ p: UnsafeBufferPointer<Value>) throws -> Int32 {
        let fd = ProcessInstance.int32(p[0]), cmd = ProcessInstance.int32(p[1]), varargs = ProcessInstance.int(p[2])
        let known = fd >= 0 && fd <= 2 || state.fileSystem.openFiles[fd] != nil
        guard known else { return -8 }
        switch cmd {
        case 0: return -24  // F_DUPFD: not supported (EMFILE)
        case 1, 2: return 0
        case 3: return fd <= 2 ? 2 : state.fileSystem.openFiles[fd]!.flags
        case 4:
            if fd > 2, varargs != 0 {
                let arg = Int32(bitPattern: try load32(varargs))
                state.fileSystem.openFiles[fd]!.flags |= arg
            }
            return 0
        case format.fcntlGetLock:
            if varargs != 0 { let arg = try loadPointer(varargs); try store16(arg, 2) }
            return 0
        case format.fcntlGetLock + 1, format.fcntlGetLock + 2: return 0
        case 9 where format == .emscripten2:
            try setErrno(28); return -1
        default: return -28
        }
    }

    private func stat(path: String, buf: Int) throws -> Int32 {
        let fs = state.fileSystem
        let mode: UInt32, size: Int
        if fs.isDirectory(path) { mode = 0o040777; size = 4096 }
        else if MemoryFileSystem.devices.contains(path) { mode = 0o020666; size = 0 }
        else if let data = fs.files[path] { mode = 0o100666; size = data.count }
        else { return -44 }
        guard !isPointer64 else { return -52 }
        // emscripten 3.1's struct stat (wasm32): dev, mode, nlink, uid, gid, rdev (i32), size (i64 @24), blksize @32,
        // blocks @36, atime/mtime/ctime (i64 sec + i32 nsec, @40/@56/@72), ino (i64 @88). Times are 0.
        try storeBytes(buf, [UInt8](repeating: 0, count: 96))
        try store32(buf, 1); try store32(buf + 4, mode); try store32(buf + 8, 1)
        try store64(buf + 24, UInt64(size)); try store32(buf + 32, 4096); try store32(buf + 36, UInt32((size + 511) / 512))
        try store64(buf + 88, UInt64(abs(path.hashValue) & 0xFFFF))
        return 0
    }

    // MARK: WeaveDrive

    private func driveBytes(_ path: String) -> [UInt8]? {
        if let b = driveCache[path] { return b }
        guard let drive, let b = drive.read(path: path) else { return nil }
        driveCache[path] = b
        return b
    }

    /// `weavedrive_open(path, mode)`: 0 (fopen returns NULL) when there is no drive or it lacks the path; else an fd.
    private func weaveDriveOpen(path raw: String) throws -> Int32 {
        let path = MemoryFileSystem.normalize(raw)
        guard drive != nil, driveBytes(path) != nil else { return 0 }
        var fs = state.fileSystem
        guard fs.openFiles.count < ComputeLimits.openFilesMax else { return 0 }
        let fd = fs.nextDescriptor
        fs.nextDescriptor += 1
        fs.openFiles[fd] = .init(path: path, position: 0, flags: 0)
        state.fileSystem = fs
        return fd
    }

    private func weaveDriveRead(fd: Int32, dst: Int, count: Int) throws -> Int32 {
        guard var f = state.fileSystem.openFiles[fd], let content = driveBytes(f.path) else { return 0 }
        let start = min(f.position, content.count)
        let n = min(max(0, count), content.count - start)
        try storeBytes(dst, Array(content[start..<start + n]))
        f.position += n
        state.fileSystem.openFiles[fd] = f
        return Int32(clamping: n)
    }
}
