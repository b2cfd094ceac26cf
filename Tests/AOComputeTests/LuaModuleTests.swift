import Foundation
import Testing
@testable import AOCompute

/// The project's own Lua process module (branch `lua`, `scripts/build-lua-module`, built by `./bootstrap`), run
/// through the engine. Skipped, visibly, when the module has not been built on this machine, except under CI=true.
@Suite struct LuaModuleTests {
    static let path: String = {
        if let p = ProcessInfo.processInfo.environment["AONODE_LUA_MODULE"] { return p }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/aonode-lua/process.wasm").path
    }()

    static func eval(_ code: String) -> String {
        JSONValue.object([("Id", .string("M")), ("Target", .string("PID")), ("Owner", .string("OWNER")), ("From", .string("OWNER")),
                          ("Tags", .array([.object([("name", .string("Action")), ("value", .string("Eval"))])])),
                          ("Data", .string(code)), ("Timestamp", .number(1_700_000_000_000)), ("Block-Height", .number(1000))]).serialized()
    }

    // Under CI=true the test always runs, so a missing module fails instead of skipping.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: LuaModuleTests.path)
                       || ProcessInfo.processInfo.environment["CI"] == "true",
                   "Lua module not built (scripts/build-lua-module)"))
    func evalOutboxErrorRollbackAndCheckpoint() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.path)))
        let module = try ProcessModule(bytes: bytes, format: .emscripten2)
        let env = ProcessDefinition(id: "PID", owner: "OWNER", tags: [], moduleID: "MOD", moduleOwner: "OWNER", moduleTags: [],
                                    timestamp: 0, blockHeight: 0).envJSON
        let r = try ProcessRunner(module: module)
        #expect(r.evaluate(message: Self.eval("count = 1 return count"), env: env).output?["data"] == .string("1"))
        let failed = r.evaluate(message: Self.eval("count = count + 1 error('boom')"), env: env)
        #expect(failed.error?.stringValue?.contains("boom") == true)
        #expect(failed.rolledBack)
        let after = r.evaluate(message: Self.eval("return count"), env: env)
        #expect(after.output?["data"] == .string("1"), "the failed message must leave no state behind")
        let out = r.evaluate(message: Self.eval(#"Send({Target="PID-2",Action="Ping",Data="hi"}) Spawn("MOD-1",{Data="x"}) return "done""#), env: env)
        #expect(out.messages.count == 1)
        #expect(out.messages.first?["Target"] == .string("PID-2"))
        #expect(out.spawns.count == 1)
        // A checkpoint restored in a fresh engine continues identically.
        let image = r.snapshot()
        let restored = try ProcessRunner(module: module, image: try Checkpoint.decode(try Checkpoint(slot: 3, moduleHash: module.hash, image: image, computeNanoseconds: 0).encoded()).image)
        let a = r.evaluate(message: Self.eval("count = count + 10 return count"), env: env)
        let b = restored.evaluate(message: Self.eval("count = count + 10 return count"), env: env)
        #expect(a.output?["data"] == .string("11"))
        #expect(a.output == b.output)
        #expect(r.snapshot().stateHash() == restored.snapshot().stateHash())
    }
}
