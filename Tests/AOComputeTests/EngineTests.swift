import Testing
@testable import AOCompute

@Suite struct EngineTests {
    static func runner(_ memory64: Bool = false, limits: ProcessLimits = ProcessLimits(), options: EngineOptions = .default,
                       maxPages: Int = 64) throws -> ProcessRunner {
        let bytes = memory64 ? try TestModules.wasm64(maxPages: maxPages) : try TestModules.wasm32(maxPages: maxPages)
        let module = try ProcessModule(bytes: bytes, format: memory64 ? .wasm64 : .emscripten2)
        return try ProcessRunner(module: module, limits: limits, options: options)
    }

    static func output(_ r: EvaluationResult) -> JSONValue? { r.output }

    @Test(arguments: [false, true]) func counterPersistsAcrossMessages(memory64: Bool) throws {
        let r = try Self.runner(memory64)
        #expect(r.evaluate(message: "i", env: "{}").output == .number(1))
        #expect(r.evaluate(message: "i", env: "{}").output == .number(2))
        let third = r.evaluate(message: "i", env: "{}")
        #expect(third.output == .number(3))
        #expect(third.error == nil)
        #expect(!third.resultHash.isEmpty)
    }

    @Test(arguments: [false, true]) func longjmpThroughInvokeIsCaught(memory64: Bool) throws {
        let r = try Self.runner(memory64)
        let res = r.evaluate(message: "j", env: "{}")
        #expect(res.output == .string("caught"))
        #expect(res.error == nil)
    }

    @Test(arguments: [false, true]) func errorsRollBackMemoryAndNextMessageWorks(memory64: Bool) throws {
        let r = try Self.runner(memory64)
        _ = r.evaluate(message: "i", env: "{}")
        let before = r.snapshot()
        for bad in ["t", "e", "r", "s", "x"] {
            let res = r.evaluate(message: bad, env: "{}")
            #expect(res.error != nil, "message \(bad) should fail")
            #expect(res.rolledBack)
            #expect(r.snapshot().stateHash() == before.stateHash(), "state after \(bad) must equal the state before it")
        }
        #expect(r.evaluate(message: "t", env: "{}").error == .string("unreachable"))
        #expect(r.evaluate(message: "e", env: "{}").error == .string("boom"))
        #expect(r.evaluate(message: "r", env: "{}").error == .string("bad"))
        #expect(r.evaluate(message: "x", env: "{}").error == .string("Program terminated with exit(3)"))
        #expect(r.evaluate(message: "s", env: "{}").error?.stringValue?.contains("call stack exhausted") == true)
        #expect(r.evaluate(message: "i", env: "{}").output == .number(2))
    }

    /// A fresh process has no base image (its base is the start-up state, recreated by running start-up again); a
    /// rebase copies into the previous base's buffer. Neither may change a byte of state.
    @Test(arguments: [false, true]) func rollbackFromStartupAndFromRebasedBuffersGivesTheStateBefore(memory64: Bool) throws {
        let startHash = try Self.runner(memory64).snapshot().stateHash()
        let r = try Self.runner(memory64)
        #expect(r.base == nil, "no copy of the memory at start-up")
        #expect(r.evaluate(message: "t", env: "{}").rolledBack)
        #expect(r.snapshot().stateHash() == startHash, "a first message that fails leaves the start-up state")
        #expect(r.evaluate(message: "i", env: "{}").output == .number(1))
        r.rebase()
        let first = r.base?.bytes.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        #expect(r.evaluate(message: "i", env: "{}").output == .number(2))
        r.rebase()
        let second = r.base?.bytes.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        #expect(first != nil && first == second, "the second rebase copies into the first one's buffer")
        let before = r.snapshot().stateHash()
        #expect(r.base?.stateHash() == before)
        #expect(r.evaluate(message: "i", env: "{}").output == .number(3))
        #expect(r.evaluate(message: "t", env: "{}").rolledBack)
        #expect(r.snapshot().stateHash() != before, "the rollback replays the message after the rebase")
        #expect(r.evaluate(message: "i", env: "{}").output == .number(4))
    }

    @Test(arguments: [false, true]) func infiniteLoopStopsAtComputeLimit(memory64: Bool) throws {
        let r = try Self.runner(memory64, limits: ProcessLimits(computeLimit: 200_000))
        let res = r.evaluate(message: "l", env: "{}")
        #expect(res.error == .string("out of gas!"))
        #expect(res.rolledBack)
        #expect(r.evaluate(message: "i", env: "{}").output == .number(1))
    }

    @Test(arguments: [false, true]) func memoryGrowthStopsAtMemoryLimit(memory64: Bool) throws {
        let limit: UInt64 = 4 << 20
        let r = try Self.runner(memory64, limits: ProcessLimits(memoryLimitBytes: limit), maxPages: 1024)
        let pagesBefore = r.memoryByteCount
        let res = r.evaluate(message: "g", env: "{}")
        #expect(res.error == .string("unreachable"))
        #expect(r.memoryByteCount == pagesBefore)
        #expect(r.evaluate(message: "i", env: "{}").output == .number(1))
    }

    @Test func usegasCountsAndLimits() throws {
        let r = try Self.runner(false)
        #expect(r.evaluate(message: "u", env: "{}").gasUsed == 5000)
        #expect(r.evaluate(message: "i", env: "{}").gasUsed == 0)
        let tight = try Self.runner(false, limits: ProcessLimits(computeLimit: 2500))
        #expect(tight.evaluate(message: "u", env: "{}").error == .string("out of gas!"))
    }

    @Test func stdoutIsCapturedNotReturned() throws {
        let r = try Self.runner(false)
        let res = r.evaluate(message: "w", env: "{}")
        #expect(res.output == .string("written"))
        #expect(r.lastConsole == Array("hello\n".utf8))
    }

    @Test func dateIsDeterministicPerFormat() throws {
        let em2 = try Self.runner(false)
        #expect(em2.evaluate(message: "d", env: "{}").output == .number(0))
        let w64 = try Self.runner(true)
        #expect(w64.evaluate(message: "d", env: "{}").output == .number(10000))
        #expect(w64.evaluate(message: "d", env: "{}").output == .number(10001))
    }

    @Test(arguments: [false, true]) func checkpointRestoresInAFreshEngine(memory64: Bool) throws {
        let a = try Self.runner(memory64)
        for _ in 0..<3 { _ = a.evaluate(message: "i", env: "{}") }
        let module = a.module
        let cp = Checkpoint(slot: 2, moduleHash: module.hash, image: a.snapshot(), computeNanoseconds: 0)
        let encoded = try cp.encoded()
        let decoded = try Checkpoint.decode(encoded)
        #expect(decoded.memoryHash == cp.memoryHash)
        for offset in [9, 60, encoded.count - 3] {
            var corrupt = encoded
            corrupt[offset] ^= 0x5A
            #expect(throws: ComputeError.self) { try Checkpoint.decode(corrupt) }
        }
        #expect(throws: ComputeError.self) { try Checkpoint.decode(Array(encoded.prefix(100))) }
        #expect(decoded.slot == 2)
        let b = try ProcessRunner(module: module, image: decoded.image)
        #expect(a.evaluate(message: "i", env: "{}").output == .number(4))
        #expect(b.evaluate(message: "i", env: "{}").output == .number(4))
        #expect(a.snapshot().stateHash() == b.snapshot().stateHash())
    }

    @Test func everyEngineConfigurationGivesTheSameState() throws {
        var hashes: [String: [UInt8]] = [:]
        for options in EngineOptions.allConfigurations {
            for memory64 in [false, true] {
                let r = try Self.runner(memory64, limits: ProcessLimits(computeLimit: 100_000), options: options)
                var outputs: [JSONValue?] = []
                for m in ["i", "j", "t", "i", "l", "e", "w", "i"] { let res = r.evaluate(message: m, env: "{}"); outputs.append(res.output ?? res.error) }
                let key = "\(memory64)"
                let h = r.snapshot().stateHash() + Array(JSONValue.array(outputs.map { $0 ?? .null }).serialized().utf8)
                if let prev = hashes[key] { #expect(prev == h, "\(options) differs") } else { hashes[key] = h }
            }
        }
    }

    @Test func hostileModulesAreRefusedWithClearErrors() throws {
        #expect(throws: ComputeError.invalidModule("bad magic: not a WebAssembly binary")) {
            try ProcessModule(bytes: [1, 2, 3, 4, 5, 6, 7, 8, 9], format: .emscripten2)
        }
        let unknown = try wat2wasmForTest(#"(module (import "env" "evil" (func (param i32))) (memory (export "memory") 1) (func (export "handle") (param i32 i32) (result i32) i32.const 0))"#)
        #expect(throws: ComputeError.unknownImport(module: "env", name: "evil", signature: "[i32] -> []")) {
            try ProcessModule(bytes: unknown, format: .emscripten2)
        }
        let huge = try wat2wasmForTest(#"(module (memory (export "memory") 60000) (func (export "handle") (param i32 i32) (result i32) i32.const 0) (func (export "stackSave") (result i32) i32.const 0) (func (export "stackRestore") (param i32)) (func (export "stackAlloc") (param i32) (result i32) i32.const 0))"#)
        let module = try ProcessModule(bytes: huge, format: .emscripten2)
        #expect(throws: ComputeError.memoryLimitExceeded(requestedBytes: 60000 * 65536, limitBytes: 64 << 20)) {
            try ProcessRunner(module: module, limits: ProcessLimits(memoryLimitBytes: 64 << 20))
        }
        let noHandle = try wat2wasmForTest(#"(module (memory (export "memory") 1))"#)
        #expect(throws: ComputeError.missingExport("handle")) { try ProcessModule(bytes: noHandle, format: .emscripten2) }
        var truncated = try TestModules.wasm32()
        truncated.removeLast(truncated.count / 2)
        #expect(throws: (any Error).self) { try ProcessModule(bytes: truncated, format: .emscripten2) }
    }

    @Test func strftimeAndTimeConversions() {
        #expect(ProcessInstance.brokenDown(0)! == [0, 0, 0, 1, 0, 70, 4, 0])
        #expect(ProcessInstance.brokenDown(86400 * 365)! == [0, 0, 0, 1, 0, 71, 5, 0])
        let s = Strftime.format(pattern: Array("%c|%Y-%m-%d|%j|%a %A %b %B|%H:%M:%S|%%".utf8), sec: 0, min: 0, hour: 0, mday: 1,
                                mon: 0, year: 70, wday: 4, yday: 0, gmtoff: 0, zone: "UTC")
        #expect(String(decoding: s, as: UTF8.self) == "Thu Jan 01 00:00:00 1970|1970-01-01|001|Thu Thursday Jan January|00:00:00|%")
    }

    @Test func jsonRoundTrip() throws {
        let text = #"{"a":[1,2.5,-3,true,false,null,"x\"\n\u00e9"],"b":{"c":"☃"}}"#
        let v = try JSONValue.parse(text)
        #expect(v.serialized() == #"{"a":[1,2.5,-3,true,false,null,"x\"\né"],"b":{"c":"☃"}}"#)
        #expect(throws: JSONParseError.self) { try JSONValue.parse("{\"a\":") }
    }
}

import WAT
func wat2wasmForTest(_ text: String) throws -> [UInt8] { try wat2wasm(text) }
