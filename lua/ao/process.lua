-- process: the entry point of aonode's Lua process module. The C side (lua/process.c) calls the global
-- handle(msgJSON, envJSON) once per message and returns the JSON string it gives back to the host.
--
-- Result (what the AO loader parses, ao-loader-abi.md 3):
--   {"ok":true,"response":{"Output":...,"Messages":[...],"Spawns":[...],"Assignments":[...]}}
--   {"ok":true,"response":{"Error":"...","Messages":[],"Spawns":[],"Assignments":[]}}  a handler (or Eval) failed
--   {"ok":false,"response":"..."}   the message or env was not valid JSON, or the library itself failed
-- GasUsed is not part of the response: the host adds it (0 here, since this module does not import metering.usegas).
-- Output is "" when nothing was printed; {data = text, prompt = Prompt()} for Eval (text = what the code printed,
-- then its returned value); {data = text, prompt = Prompt(), print = true} when another handler printed.
-- The process's state is the Lua state: globals persist from message to message. The host rolls memory back when
-- the result has an Error, so a failed message leaves no trace.
local json = require("json")
local ao = require("ao")
local Handlers = require("handlers")

local process = { _version = "aonode-1" }

_G.json = json
_G.ao = ao
_G.Handlers = Handlers

-- Inbox: messages no handler stopped on, oldest first. Capped so that a process nobody reads cannot grow without
-- bound: past InboxMax the oldest message is dropped.
Inbox = Inbox or {}
InboxMax = 10000

--- The text shown after Eval output (user-overridable, as in aos).
function Prompt() return "aos> " end

function Send(msg) return ao.send(msg) end
function Spawn(module, msg) return ao.spawn(module, msg) end
function Assign(assignment)
  ao.assign(assignment)
  print("Assignment added to outbox.")
end

-- Deterministic randomness: the host gives no entropy, so seed a fixed stream (every replica must agree).
math.randomseed(0)

-- print goes to the message's Output, not to stdout.
local function stringify(v, seen, depth)
  local t = type(v)
  if t == "string" then return v end
  if t ~= "table" then return tostring(v) end
  seen = seen or {}
  depth = depth or 0
  if seen[v] then return "<cycle>" end
  if depth > 20 then return "{...}" end
  seen[v] = true
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  local parts, n = {}, #v
  for _, k in ipairs(keys) do
    local item = v[k]
    local shown = type(item) == "string" and string.format("%q", item) or stringify(item, seen, depth + 1)
    if math.type(k) == "integer" and k >= 1 and k <= n then
      parts[#parts + 1] = shown
    elseif type(k) == "string" and k:match("^[%a_][%w_]*$") then
      parts[#parts + 1] = k .. " = " .. shown
    else
      parts[#parts + 1] = "[" .. (type(k) == "string" and string.format("%q", k) or tostring(k)) .. "] = " .. shown
    end
  end
  seen[v] = nil
  return "{ " .. table.concat(parts, ", ") .. " }"
end
process.stringify = stringify

function print(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = stringify((select(i, ...))) end
  ao.print(table.concat(parts, "\t"))
end

-- Messages get Tags as a map, TagArray as sent, every tag also as a field (unless the field exists), From defaulting
-- to Owner, and msg.reply(tags) which sends to the sender.
local function normalize(msg)
  ao.normalizeTags(msg)
  for name, value in pairs(msg.Tags) do
    if type(name) == "string" and msg[name] == nil then msg[name] = value end
  end
  if msg.From == nil then msg.From = msg.Owner end
  msg.reply = function(reply)
    reply = reply or {}
    reply.Target = reply.Target or msg.From
    if msg.Reference ~= nil and reply["X-Reference"] == nil then reply["X-Reference"] = tostring(msg.Reference) end
    return ao.send(reply)
  end
  return msg
end

-- Eval: run msg.Data as Lua code, only for a message from the process owner. Its Output is what the code printed
-- followed by its returned value.
local evalReturned = nil
local function isEval(msg)
  return msg.Action == "Eval" and Owner ~= nil and msg.From == Owner
end
local function eval(msg)
  local code = msg.Data
  if type(code) ~= "string" then error("Eval: Data must be Lua code", 0) end
  local fn, err = load(code, "aos", "t", _G)
  if not fn then error(err, 0) end
  local results = table.pack(fn())
  if results.n > 0 and results[1] ~= nil then
    ao.print(stringify(results[1]))
  end
  evalReturned = true
end

Handlers.add("_eval", isEval, eval)

Handlers.default = function(msg)
  table.insert(Inbox, msg)
  if #Inbox > InboxMax then table.remove(Inbox, 1) end
end

-- The example handlers (Ping, Increment, Count) that end-to-end tests use; see docs/LUA-MODULE.md.
require("counter")

local function errorValue(e)
  if type(e) == "string" or type(e) == "table" then return e end
  return tostring(e)
end

--- Handles one message: returns the response table (Output, Messages, Spawns, Assignments, or Error).
function process.handle(msg, env)
  if type(msg) ~= "table" then error("handle: the message is not a JSON object", 0) end
  ao.init(env)
  ao.clearOutbox()
  normalize(msg)
  if Owner == nil then
    -- The first message (the process's own spawn message) fixes the owner: the env's, or that message's sender.
    Owner = ao.env.Process.Owner or msg.From
  end
  -- os.time reads the message's timestamp (milliseconds, as AO's CU hands it), never the host clock.
  local timestamp = math.tointeger(tonumber(msg.Timestamp)) or 0
  os.time = function(t) if t ~= nil then return process.osTime(t) end return timestamp end
  evalReturned = nil

  local ok, err = xpcall(Handlers.evaluate, errorValue, msg, ao.env)
  if not ok then
    return { Error = err, Messages = {}, Spawns = {}, Assignments = {} }
  end

  local text = ao.printed()
  local output = ""
  if evalReturned then
    output = { data = text or "", prompt = Prompt() }
  elseif text then
    output = { data = text, prompt = Prompt(), print = true }
  end
  return {
    Output = output,
    Messages = ao.outbox.Messages,
    Spawns = ao.outbox.Spawns,
    Assignments = ao.outbox.Assignments,
  }
end

process.osTime = os.time -- the C library's os.time, kept for os.time{...} (table to seconds, needs no clock)

--- The global entry point the C side calls: JSON in, JSON out.
function handle(msgJSON, envJSON)
  local ok, response = pcall(function()
    return process.handle(json.decode(msgJSON), json.decode(envJSON))
  end)
  if not ok then response = errorValue(response) end
  local encoded, text = pcall(json.encode, { ok = ok, response = response })
  if encoded then return text end
  return json.encode({ ok = false, response = "handle: the result could not be encoded as JSON: " .. text })
end

return process
