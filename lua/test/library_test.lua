-- Unit tests of the process library (lua/ao/*.lua) under a native Lua 5.4 interpreter:
--   lua5.4 lua/test/library_test.lua        (or scripts/test-lua-library)
-- The same library runs inside the wasm module; Tests/AOComputeTests/LuaProcessModuleTests.swift tests it there.
package.path = "lua/ao/?.lua;" .. package.path
local write = io.write
require("process")

local passed, failed = 0, 0
local function check(name, ok, detail)
  if ok then passed = passed + 1 else
    failed = failed + 1
    write("FAIL ", name, detail and (": " .. tostring(detail)) or "", "\n")
  end
end

-- json ---------------------------------------------------------------------------------------------------------------
local enc, dec = json.encode, json.decode
check("encode scalars", enc({ 1, 2.5, "a", true, false }) == '[1,2.5,"a",true,false]', enc({ 1, 2.5, "a", true }))
check("encode integral float", enc(3.0) == "3")
check("encode big int", enc(math.maxinteger) == "9223372036854775807")
check("encode float exact", dec(enc(0.1)) == 0.1)
check("encode empty table is array", enc({}) == "[]")
check("encode json.object", enc(json.object()) == "{}")
check("encode sorted keys", enc({ b = 1, a = 2, c = { z = 1, y = 2 } }) == '{"a":2,"b":1,"c":{"y":2,"z":1}}')
check("encode escapes", enc('a"b\\c\n\t\1') == '"a\\"b\\\\c\\n\\t\\u0001"', enc('a"b\\c\n\t\1'))
check("encode utf8 passes", enc("é☃😀") == '"é☃😀"')
check("encode NaN fails", not pcall(enc, 0 / 0))
local cyc = {}; cyc.self = cyc
check("encode cycle fails", not pcall(enc, cyc))
check("encode sparse array is object", enc({ [1] = "a", [3] = "c" }) == '{"1":"a","3":"c"}')
check("decode object", dec('{"a":[1,2,{"b":null}],"c":"d"}').a[3].b == nil)
check("decode ints", math.type(dec("42")) == "integer" and math.type(dec("42.0")) == "float")
check("decode negative exp", dec("-1.5e3") == -1500.0)
check("decode big int stays exact", dec("9007199254740993") == 9007199254740993)
check("decode huge int becomes float", math.type(dec("123456789012345678901234567890")) == "float")
check("decode unicode escapes", dec('"\\u00e9\\u2603\\ud83d\\ude00"') == "é☃😀")
check("decode lone surrogate", dec('"\\ud83d"') == "\u{FFFD}")
check("decode whitespace", dec(' \n\t[ 1 , 2 ] \r\n')[2] == 2)
for _, bad in ipairs({ "", "[1,]", "{", '{"a" 1}', "01", "1.", "-", "tru", '"\1"', "[1] x", "nan", "'a'" }) do
  check("decode rejects " .. bad, not pcall(dec, bad))
end
local deep = string.rep("[", 300) .. string.rep("]", 300)
check("decode depth limit", not pcall(dec, deep))
local roundtrip = { Messages = {}, Output = { data = "x" }, n = -7, f = 1e300, s = "line\nnext" }
check("roundtrip", enc(dec(enc(roundtrip))) == enc(roundtrip))

-- handle: the whole path -------------------------------------------------------------------------------------------
local env = enc({ Process = { Id = "PID", Owner = "OWNER", Tags = { { name = "Module", value = "MOD" } } } })
local function call(msg) return dec(handle(enc(msg), env)) end
local function tags(list) local t = {} for k, v in pairs(list) do t[#t + 1] = { name = k, value = v } end return t end
local function tagValue(m, name) for _, t in ipairs(m.Tags) do if t.name == name then return t.value end end end

local r = call({ Id = "PID", Owner = "OWNER", Tags = tags({ Type = "Process" }), Data = "" })
check("spawn message ok", r.ok and r.response.Output == "" and #r.response.Messages == 0)
check("spawn goes to Inbox", #Inbox == 1)
check("owner fixed", Owner == "OWNER")

r = call({ Id = "1", From = "OWNER", Owner = "OWNER", Tags = tags({ Action = "Eval" }), Data = "X = 41 return X + 1" })
check("eval returns", r.response.Output.data == "42", enc(r))
r = call({ Id = "2", From = "OWNER", Owner = "OWNER", Tags = tags({ Action = "Eval" }), Data = "return X" })
check("state persists", r.response.Output.data == "41")
r = call({ Id = "3", From = "MALLORY", Owner = "MALLORY", Tags = tags({ Action = "Eval" }), Data = "X = 0" })
check("eval from non-owner not run", X == 41 and r.response.Error == nil)
check("non-owner eval lands in Inbox", Inbox[#Inbox].Id == "3")
r = call({ Id = "4", From = "OWNER", Owner = "OWNER", Tags = tags({ Action = "Eval" }), Data = "print('a', 1) print({1, k='v'}) return nil" })
check("eval prints", r.response.Output.data == 'a\t1\n{ 1, k = "v" }', r.response.Output.data)
r = call({ Id = "5", From = "OWNER", Owner = "OWNER", Tags = tags({ Action = "Eval" }), Data = "return (" })
check("syntax error is Error", type(r.response.Error) == "string" and r.response.Error:find("aos") ~= nil)
r = call({ Id = "6", From = "OWNER", Owner = "OWNER", Tags = tags({ Action = "Eval" }), Data = "error({code = 7})" })
check("table error is Error", type(r.response.Error) == "table" and r.response.Error.code == 7)

r = call({ Id = "7", From = "OWNER", Owner = "OWNER", Timestamp = 1700000000123, Tags = tags({ Action = "Eval" }),
  Data = 'Send({Target = "T1", Action = "Hello", Data = {k = 1}, Tags = {Extra = "e"}}) Spawn("MOD-2", {Name = "child"}) Assign({Processes = {"P1"}, Message = "M1"}) return os.time()' })
local res = r.response
check("send queued", #res.Messages == 1 and res.Messages[1].Target == "T1")
local m = res.Messages[1]
check("send tags", tagValue(m, "Data-Protocol") == "ao" and tagValue(m, "Variant") == "ao.TN.1"
  and tagValue(m, "Type") == "Message" and tagValue(m, "Action") == "Hello" and tagValue(m, "Extra") == "e")
check("send table data is JSON", m.Data == '{"k":1}' and tagValue(m, "Content-Type") == "application/json")
check("anchor is 32 digits", #m.Anchor == 32 and m.Anchor == string.format("%032d", tonumber(tagValue(m, "Reference"))))
local s = res.Spawns[1]
check("spawn queued", s and s.Data == "NODATA" and tagValue(s, "Module") == "MOD-2" and tagValue(s, "From-Process") == "PID"
  and tagValue(s, "From-Module") == "MOD" and tagValue(s, "Type") == "Process" and tagValue(s, "Name") == "child")
check("assignment queued", res.Assignments[1].Message == "M1" and res.Assignments[1].Processes[1] == "P1")
check("os.time is the message timestamp", res.Output.data == "Assignment added to outbox.\n1700000000123", res.Output.data)
check("references increase", tonumber(tagValue(s, "Reference")) == tonumber(tagValue(m, "Reference")) + 1)

r = call({ Id = "8", From = "OWNER", Owner = "OWNER", Tags = tags({ Action = "Eval" }), Data = 'Send({Target = "T"}) error("late")' })
check("error drops outbox", r.response.Error:find("late") and #r.response.Messages == 0)

r = call({ Id = "9", From = "ALICE", Owner = "ALICE", Reference = "12", Tags = tags({ Action = "Ping" }) })
m = r.response.Messages[1]
check("ping replies pong", m and m.Target == "ALICE" and m.Data == "Pong" and tagValue(m, "Action") == "Pong"
  and tagValue(m, "X-Reference") == "12")
r = call({ Id = "10", From = "ALICE", Owner = "ALICE", Tags = tags({ Action = "Increment", Amount = "5" }) })
check("increment by amount", Counter == 5 and r.response.Output.data == "5" and r.response.Output.print == true)
r = call({ Id = "11", From = "ALICE", Owner = "ALICE", Tags = tags({ Action = "Increment", Amount = "x" }) })
check("increment bad amount is Error", Counter == 5 and r.response.Error ~= nil)
r = call({ Id = "12", From = "BOB", Owner = "BOB", Tags = tags({ Action = "Count" }) })
check("count replies", r.response.Messages[1].Data == "5" and r.response.Messages[1].Target == "BOB")

-- Handlers semantics
Handlers.add("first", function(msg) return msg.Action == "Chain" and "continue" or false end, function() print("first") end)
Handlers.add("second", { Action = "Chain" }, function() print("second") end)
Handlers.add("third", "Chain", function() print("third") end)
r = call({ Id = "13", From = "BOB", Owner = "BOB", Tags = tags({ Action = "Chain" }) })
check("continue then break", r.response.Output.data == "first\nsecond", r.response.Output.data)
Handlers.once("one", "Once", function() print("once") end)
call({ Id = "14", From = "BOB", Owner = "BOB", Tags = tags({ Action = "Once" }) })
local before = #Inbox
call({ Id = "15", From = "BOB", Owner = "BOB", Tags = tags({ Action = "Once" }) })
check("once runs once", #Inbox == before + 1)
local function indexOf(name) for i, h in ipairs(Handlers.list) do if h.name == name then return i end end end
local firstAt, count = indexOf("first"), #Handlers.list
Handlers.add("first", "Nothing", function() end)
check("add replaces by name", indexOf("first") == firstAt and #Handlers.list == count
  and Handlers.list[firstAt].pattern == "Nothing")
Handlers.prepend("zero", "Zero", function() end)
check("prepend", Handlers.list[1].name == "zero")
Handlers.remove("zero")
check("remove", Handlers.remove("second") and not Handlers.remove("second"))
Handlers.add("badpattern", function() return {} end, function() end)
r = call({ Id = "16", From = "BOB", Owner = "BOB", Tags = tags({ Action = "Any" }) })
check("bad pattern result is Error", r.response.Error ~= nil)
Handlers.remove("badpattern")

-- malformed input
r = dec(handle("{not json", env))
check("bad msg JSON is ok=false", r.ok == false and type(r.response) == "string")
r = dec(handle('{"Id":"17","Tags":{"Action":"Ping"},"From":"ZED"}', env))
check("tags as a map are accepted", r.ok and r.response.Messages[1].Target == "ZED")
r = dec(handle('[1,2]', env))
check("non-object msg still answers", r.ok ~= nil)

write(string.format("%d passed, %d failed\n", passed, failed))
os.exit(failed == 0 and 0 or 1)
