import Foundation
import Testing
@testable import AOCompute

/// The project's own Lua process module (scripts/build-lua-module, docs/LUA-MODULE.md) run through AOCompute.
///
/// The module is built, not committed: these tests read `.build/aonode-lua/process.wasm` (or `$AONODE_LUA_MODULE`).
/// Without it they are skipped with a message, except under `CI=true`, where a missing module fails them (CI's
/// `./bootstrap` builds it, so absence there is a broken build, not a choice).
enum LuaModule {
    static let envVariable = "AONODE_LUA_MODULE"

    /// The module's path: `$AONODE_LUA_MODULE`, else `<package root>/.build/aonode-lua/process.wasm`.
    static var path: String {
        if let p = ProcessInfo.processInfo.environment[envVariable], !p.isEmpty { return p }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/aonode-lua/process.wasm").path
    }

    static var isBuilt: Bool { FileManager.default.fileExists(atPath: path) }
    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }
    /// Run the tests when the module exists, and always under CI (where a missing module must fail).
    static var shouldRun: Bool { isBuilt || isCI }
    static var skipReason: Comment {
        "the Lua process module is not built (\(path)); run scripts/build-lua-module or set \(envVariable)"
    }

    /// Loaded once per test run: parsing the binary is the same work for every test.
    static let loaded: Result<ProcessModule, any Error> = Result {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModuleMissing(path: path)
        }
        return try ProcessModule(bytes: [UInt8](data), format: .emscripten2)
    }

    struct ModuleMissing: Error, CustomStringConvertible {
        let path: String
        var description: String { "the Lua process module is missing at \(path): run scripts/build-lua-module" }
    }

    static func module() throws -> ProcessModule { try loaded.get() }
}

@Suite(.enabled(if: LuaModule.shouldRun, LuaModule.skipReason))
struct LuaProcessModuleTests {
    static let pid = "LUA-PROCESS-ID"
    static let owner = "OWNER-ADDRESS"
    static let process = ProcessDefinition(id: pid, owner: owner, tags: [ComputeTag("Name", "lua-test")],
                                           moduleID: "LUA-MODULE-ID", moduleOwner: "MODULE-OWNER", moduleTags: [],
                                           timestamp: 1_700_000_000_000, blockHeight: 1000)

    /// Booting Lua and handling the spawn message takes seconds in a debug build of the interpreter, so it happens
    /// once per run: every test starts a fresh engine instance from this memory image (the state right after the
    /// spawn message), which is also how a node resumes a process from a checkpoint.
    static let spawned: Result<(image: MemoryImage, spawn: EvaluationResult), any Error> = Result {
        let runner = try ProcessRunner(module: try LuaModule.module())
        let spawn = LuaProcess.evaluate(runner, slot: 0, id: pid, from: owner, data: "",
                                        tags: [ComputeTag("Type", "Process"), ComputeTag("Module", "LUA-MODULE-ID")])
        return (runner.snapshot(), spawn)
    }

    /// A process on the Lua module that has handled its spawn message; `slot` numbers the next message.
    final class LuaProcess {
        let runner: ProcessRunner
        var slot: Int64 = 1

        /// A fresh engine instance holding the spawned process.
        init(limits: ProcessLimits = ProcessLimits()) throws {
            runner = try ProcessRunner(module: try LuaModule.module(), limits: limits,
                                       image: try LuaProcessModuleTests.spawned.get().image)
        }

        init(image: MemoryImage) throws {
            runner = try ProcessRunner(module: try LuaModule.module(), image: image)
        }

        /// One message shaped as AO's CU builds it (ScheduledMessage.json), with the process's env.
        static func evaluate(_ runner: ProcessRunner, slot: Int64, id: String? = nil, from: String, data: String,
                             tags: [ComputeTag]) -> EvaluationResult {
            let m = ScheduledMessage(slot: slot, timestamp: 1_700_000_000_000 + slot * 1000, blockHeight: 1000 + slot,
                                     id: id ?? "MSG-\(slot)", owner: from, target: LuaProcessModuleTests.pid, data: data,
                                     tags: tags)
            return runner.evaluate(message: m.json().serialized(), env: LuaProcessModuleTests.process.envJSON)
        }

        @discardableResult
        func send(from: String, data: String = "", tags: [ComputeTag]) -> EvaluationResult {
            defer { slot += 1 }
            return LuaProcess.evaluate(runner, slot: slot, from: from, data: data, tags: tags)
        }

        @discardableResult
        func eval(_ code: String, from: String = LuaProcessModuleTests.owner) -> EvaluationResult {
            send(from: from, data: code, tags: [ComputeTag("Action", "Eval")])
        }

        @discardableResult
        func action(_ name: String, from: String = "USER-ADDRESS", _ extra: [ComputeTag] = []) -> EvaluationResult {
            send(from: from, tags: [ComputeTag("Action", name)] + extra)
        }
    }

    static func data(_ r: EvaluationResult) -> String? { r.output?["data"]?.stringValue }

    static func tag(_ item: JSONValue, _ name: String) -> String? {
        item["Tags"]?.arrayValue?.first { $0["name"]?.stringValue == name }?["value"]?.stringValue
    }

    @Test func moduleHasTheEmscripten2Shape() throws {
        let module = try LuaModule.module()
        #expect(module.format == .emscripten2)
        #expect(module.declaredMemoryMinBytes == 96 * 65536)
        #expect(module.declaredMemoryMaxBytes == 8000 * 65536)
    }

    @Test func spawnThenMessagesRunTheExampleHandlers() throws {
        let spawn = try Self.spawned.get().spawn
        #expect(spawn.error == nil, "the spawn message must succeed: \(String(describing: spawn.error))")
        #expect(spawn.output == .string(""))
        #expect(spawn.messages.isEmpty && spawn.spawns.isEmpty && spawn.assignments.isEmpty)

        let p = try LuaProcess()
        let ping = p.action("Ping", from: "ALICE")
        #expect(ping.error == nil)
        #expect(ping.gasUsed == 0, "the module does not import metering.usegas")
        let pong = try #require(ping.messages.first)
        #expect(ping.messages.count == 1)
        #expect(pong["Target"] == .string("ALICE"))
        #expect(pong["Data"] == .string("Pong"))
        #expect(pong["Anchor"] == .string(String(repeating: "0", count: 31) + "1"))
        #expect(Self.tag(pong, "Action") == "Pong")
        #expect(Self.tag(pong, "Data-Protocol") == "ao")
        #expect(Self.tag(pong, "Variant") == "ao.TN.1")
        #expect(Self.tag(pong, "Type") == "Message")
        #expect(Self.tag(pong, "Reference") == "1")

        #expect(Self.data(p.action("Increment")) == "1")
        let second = p.action("Increment", [ComputeTag("Amount", "41")])
        #expect(Self.data(second) == "42")
        #expect(second.output?["print"] == .bool(true))
        let count = p.action("Count", from: "BOB")
        let reply = try #require(count.messages.first)
        #expect(reply["Target"] == .string("BOB"))
        #expect(reply["Data"] == .string("42"))
        #expect(Self.tag(reply, "Action") == "Count-Response")
        #expect(Self.tag(reply, "Reference") == "2", "references count up across messages")

        // A message no handler takes lands in the Inbox, after the spawn message.
        #expect(p.action("Unknown", from: "CAROL").error == nil)
        #expect(Self.data(p.eval("return #Inbox .. ' ' .. Inbox[1].Id .. ' ' .. Inbox[2].From")) == "2 \(Self.pid) CAROL")
    }

    @Test func evalRunsLuaCodeOnlyForTheOwner() throws {
        let p = try LuaProcess()
        #expect(Self.data(p.eval("return 1+1")) == "2")
        #expect(p.eval("X = 10").error == nil)
        #expect(Self.data(p.eval("print('line') return X * 2")) == "line\n20")
        let facts = p.eval("""
            local s = 0 for i = 1, 1000 do s = s + i end
            return table.concat({ s, ao.id, Owner, os.time(), json.encode({b = 1, a = {true, 'x'}}) }, '|')
            """)
        // os.time() is the message's Timestamp (slot 4: 1_700_000_000_000 + 4000).
        #expect(Self.data(facts) == #"500500|\#(Self.pid)|\#(Self.owner)|1700000004000|{"a":[true,"x"],"b":1}"#)

        // Someone else's Eval is not run: it goes to the Inbox and X keeps its value.
        let foreign = p.eval("X = 0", from: "MALLORY")
        #expect(foreign.error == nil)
        #expect(foreign.output == .string(""))
        #expect(Self.data(p.eval("return X .. ' ' .. Inbox[#Inbox].From")) == "10 MALLORY")
    }

    /// json.decode inside the module is the C decoder (lua/json-native.c); json.decodeLua is the Lua one it replaces.
    /// Both must give the same value (types included: 1 and 1.0 differ) or the same error text, on hand-picked edge
    /// cases and on seeded random mutations of JSON texts.
    @Test func theCJSONDecoderMatchesTheLuaDecoder() throws {
        let p = try LuaProcess()
        let r = p.eval(#"""
            assert(json.decode ~= json.decodeLua, "the C decoder is not loaded")
            local show = require("process").stringify
            local corpus = {
              '{"a":[1,2,{"b":null}],"c":"d"}', '42', '42.0', '-0', '-1.5e3', '1E+2', '1e-2', '0.5', '-0.0', '01', '1.',
              '1.e5', '01e5', '1-5', '1e', '-', '-a', '.5', '9007199254740993', '9223372036854775807',
              '9223372036854775808', '-9223372036854775808', '-9223372036854775809', '123456789012345678901234567890',
              '1e400', '"\\u00e9\\u2603\\ud83d\\ude00"', '"\\ud83d"', '"\\ude00"', '"\\ud83d\\u0041"', '"\\ud83dx"',
              '"\\u12"', '"\\u12G4"', '"\\x"', '"\\', '"abc', '"a\\nb\\t\\"\\\\\\/\\b\\f\\r"', '"\1"', '"\127"',
              '"\200\255"', ' \n\t[ 1 , 2 ] \r\n', '[1,]', '[,1]', '[1 2]', '{"a" 1}', '{"a":1,}', '{1:2}', '{"a":1 "b":2}',
              '{"a":1,"a":null}', '{"a":null,"a":2}', '[null,null,3]', 'true', 'false', 'null', 'nul', 'tru', 'truex',
              'True', '', ' ', '[', '{', '[]', '{}', '[[]]', '{"":{}}', '"\0"', '\0', '[1]x', 'x', '"\\/"',
              string.rep("[", 200) .. string.rep("]", 200), string.rep("[", 201) .. string.rep("]", 201),
              string.rep("[", 202) .. string.rep("]", 202), string.rep('{"a":', 201) .. "1" .. string.rep("}", 201),
            }
            local seeds = { '{"Id":"x1","Tags":[{"name":"Action","value":"Eval"}],"Data":"return 1","Block-Height":1000}',
              '[1,-2.5e3,true,false,null,"\\u00e9\\n",{"k":[]}]', '{"a":{"b":{"c":[0.125,"z"]}}}' }
            local alphabet = '{}[]:,"\\u0123456789abcdefE.-+ \n\ttrfnl\1\127\200'
            math.randomseed(42)
            for i = 1, 600 do
              local s = seeds[(i % #seeds) + 1]
              for _ = 1, math.random(1, 3) do
                local at = math.random(1, #s + 1)
                local k = math.random(1, #alphabet)
                local c = alphabet:sub(k, k)
                local op = math.random(1, 3)
                if op == 1 then s = s:sub(1, at - 1) .. c .. s:sub(at)
                elseif op == 2 then s = s:sub(1, at - 1) .. s:sub(at + 1)
                else s = s:sub(1, at - 1) .. c .. s:sub(at + 1) end
              end
              corpus[#corpus + 1] = s
            end
            local function run(decode, s)
              local ok, v = pcall(decode, s)
              if ok then return "ok " .. show(v) end
              return "error " .. tostring(v)
            end
            local differ, errors = {}, 0
            for _, s in ipairs(corpus) do
              local c, l = run(json.decode, s), run(json.decodeLua, s)
              if c:sub(1, 5) == "error" then errors = errors + 1 end
              if c ~= l then differ[#differ + 1] = string.format("%q: C %s | Lua %s", s, c, l) end
            end
            for _, bad in ipairs({ 5, true }) do
              if run(json.decode, bad) ~= run(json.decodeLua, bad) then differ[#differ + 1] = "non-string " .. tostring(bad) end
            end
            return #corpus .. " cases, " .. errors .. " errors, " .. #differ .. " differ" ..
              (#differ > 0 and (": " .. table.concat(differ, "; ", 1, math.min(#differ, 5))) or "")
            """#)
        #expect(r.error == nil, "\(String(describing: r.error))")
        let summary = Self.data(r) ?? ""
        #expect(summary.hasSuffix(" 0 differ"), "\(summary)")
        // Both kinds of case are exercised: values and errors.
        let numbers = summary.split(separator: " ").compactMap { Int($0) }
        #expect(numbers.count == 3 && numbers[1] > 100 && numbers[0] - numbers[1] > 100, "\(summary)")
    }

    @Test func sendSpawnAndAssignFillTheOutbox() throws {
        let p = try LuaProcess()
        let r = p.eval(#"""
            Send({Target = "PID-2", Action = "Transfer", Quantity = "5", Data = "hi"})
            Spawn("MOD-CHILD", {Data = "init", Name = "child"})
            Assign({Processes = {"P1", "P2"}, Message = "M1"})
            return "done"
            """#)
        #expect(r.error == nil)
        #expect(Self.data(r) == "Assignment added to outbox.\ndone")
        let message = try #require(r.messages.first)
        #expect(r.messages.count == 1)
        #expect(message["Target"] == .string("PID-2"))
        #expect(message["Data"] == .string("hi"))
        #expect(Self.tag(message, "Action") == "Transfer")
        #expect(Self.tag(message, "Quantity") == "5")
        #expect(Self.tag(message, "Type") == "Message")
        #expect(Self.tag(message, "Reference") == "1")
        let spawn = try #require(r.spawns.first)
        #expect(r.spawns.count == 1)
        #expect(spawn["Data"] == .string("init"))
        #expect(spawn["Anchor"] == .string(String(repeating: "0", count: 31) + "2"))
        #expect(Self.tag(spawn, "Type") == "Process")
        #expect(Self.tag(spawn, "Module") == "MOD-CHILD")
        #expect(Self.tag(spawn, "From-Process") == Self.pid)
        #expect(Self.tag(spawn, "From-Module") == "LUA-MODULE-ID")
        #expect(Self.tag(spawn, "Name") == "child")
        #expect(r.assignments == [.object([("Message", .string("M1")), ("Processes", .array([.string("P1"), .string("P2")]))])])
        // The outbox is per message.
        let next = p.eval("return 1")
        #expect(next.messages.isEmpty && next.spawns.isEmpty && next.assignments.isEmpty)
    }

    @Test func luaErrorRollsBackMemoryAndTheNextMessageWorks() throws {
        let p = try LuaProcess()
        #expect(p.eval("X = 1").error == nil)
        let before = p.runner.snapshot().stateHash()

        let failed = p.eval("X = 2 Counter = 99 Send({Target = 'T', Data = 'lost'}) error('boom')")
        #expect(failed.error?.stringValue == #"[string "aos"]:1: boom"#, "Error: \(String(describing: failed.error))")
        #expect(failed.output == nil)
        #expect(failed.rolledBack)
        #expect(failed.messages.isEmpty, "a failed message sends nothing")
        #expect(p.runner.snapshot().stateHash() == before, "the state after a failed message is the state before it")

        let badAmount = p.action("Increment", [ComputeTag("Amount", "many")])
        #expect(badAmount.error?.stringValue?.contains("Amount must be an integer") == true)
        #expect(p.eval("return (").error?.stringValue?.contains("unexpected symbol") == true)
        #expect(p.runner.snapshot().stateHash() == before)

        #expect(Self.data(p.eval("return X")) == "1")
        #expect(Self.data(p.action("Increment")) == "1", "Counter was rolled back to 0")
    }

    @Test func stateSurvivesASnapshotRestoredInAFreshEngine() throws {
        let p = try LuaProcess()
        #expect(Self.data(p.eval("Data = {} for i = 1, 1000 do Data[i] = 'v' .. i end Counter = 7 return #Data")) == "1000")
        let restored = try LuaProcess(image: p.runner.snapshot())
        restored.slot = p.slot
        #expect(restored.runner.snapshot().stateHash() == p.runner.snapshot().stateHash())
        // The same next message gives the same result and the same state in both.
        let a = restored.action("Increment"), b = p.action("Increment")
        #expect(Self.data(a) == "8")
        #expect(a.resultHash == b.resultHash)
        #expect(restored.runner.snapshot().stateHash() == p.runner.snapshot().stateHash())
        #expect(Self.data(restored.eval("return Data[999]")) == "v999")
    }

    @Test func infiniteLoopStopsAtTheComputeLimit() throws {
        // WasmKit fuel counts wasm operators per region entered; one message of this module costs about 3e7 and each
        // pass of Lua's interpreter loop about 1e4, so 1e8 admits ordinary messages and stops the loop quickly.
        let p = try LuaProcess(limits: ProcessLimits(computeLimit: 100_000_000))
        #expect(p.eval("Y = 5").error == nil)
        let r = p.eval("Y = 6 while true do end")
        #expect(r.error == .string("out of gas!"))
        #expect(r.rolledBack)
        #expect(Self.data(p.eval("return Y")) == "5")
    }

    @Test func memoryGrowthStopsAtTheMemoryLimit() throws {
        let limit: UInt64 = 48 << 20
        let p = try LuaProcess(limits: ProcessLimits(memoryLimitBytes: limit))
        // 1 MiB by doubling (each copy is one host memcpy), then 100 distinct 1 MiB strings: more than the limit.
        let r = p.eval("local s = 'x' for i = 1, 20 do s = s .. s end Hog = {} for i = 1, 100 do Hog[i] = s .. i end return #Hog")
        #expect(r.error?.stringValue?.contains("not enough memory") == true, "Error: \(String(describing: r.error))")
        #expect(r.rolledBack)
        #expect(UInt64(p.runner.memoryByteCount) <= limit)
        #expect(Self.data(p.eval("return tostring(Hog)")) == "nil")
    }

    @Test func malformedInputIsAnErrorNotACrash() throws {
        let p = try LuaProcess()
        let r = p.runner.evaluate(message: "{not json", env: Self.process.envJSON)
        #expect(r.error?.stringValue?.hasPrefix("json.decode:") == true, "Error: \(String(describing: r.error))")
        #expect(r.rolledBack)
        #expect(Self.data(p.eval("return 'alive'")) == "alive")
    }
}
