-- ao: the process's view of AO. Holds the process id, module id and env of the message being handled, and the
-- outbox that becomes the result of `handle`: Messages, Spawns, Assignments and the printed Output.
--
-- Contract (shapes as in ao-protocol.md 1.10):
--   ao.send(msg)            queues {Target, Data, Anchor, Tags} where Tags start with Data-Protocol=ao,
--                           Variant=ao.TN.1, Type=Message, Reference=<n>, then msg.Tags (array of {name,value} or a
--                           map), then every other string key of msg (sorted) as a tag. Returns the queued message.
--   ao.spawn(module, msg)   queues {Data (default "NODATA"), Anchor, Tags} with Type=Process, From-Process=ao.id,
--                           From-Module=<this module>, Module=module, Reference=<n>, then the extra tags.
--   ao.assign(a)            queues {Processes = {...}, Message = "..."} (optional BaseLayer, Exclude).
--   References count up per process across messages (they persist in memory, like every other global); the Anchor is
--   the reference left-padded with zeros to 32 digits.
local json = require("json")

local ao = {
  _version = "aonode-1",
  id = "",          -- this process's id (env.Process.Id)
  _module = "",     -- this process's module id (env.Module.Id, else the process's Module tag)
  env = {},         -- the env of the message being handled, Tags as a map and TagArray as sent
  reference = 0,    -- the last Reference handed out
}

-- Limits on what one message may queue: beyond these a process is broken or hostile, and the MU would refuse the
-- result anyway; failing the message keeps memory and the outbox bounded.
ao.outboxMessagesMax = 10000

local function newOutbox()
  return { Output = {}, Messages = {}, Spawns = {}, Assignments = {} }
end
ao.outbox = newOutbox()

--- Converts an array of {name, value} tags to a name -> value map (the first occurrence of a name wins, as in aos).
function ao.tagMap(tags)
  local map = {}
  if type(tags) ~= "table" then return map end
  for _, t in ipairs(tags) do
    if type(t) == "table" and t.name ~= nil and map[t.name] == nil then map[t.name] = t.value end
  end
  return map
end

--- Normalizes an object that carries Tags (a message or env.Process): TagArray keeps the array as sent, Tags becomes
--- the name -> value map. A Tags value that already is a map is kept as the map and turned into an array.
function ao.normalizeTags(obj)
  local tags = obj.Tags
  if type(tags) ~= "table" then tags = {} end
  if tags[1] == nil and next(tags) ~= nil then -- a map: build the array in sorted order
    local arr, names = {}, {}
    for k in pairs(tags) do names[#names + 1] = tostring(k) end
    table.sort(names)
    for _, k in ipairs(names) do arr[#arr + 1] = { name = k, value = tags[k] } end
    obj.TagArray, obj.Tags = arr, tags
  else
    obj.TagArray, obj.Tags = tags, ao.tagMap(tags)
  end
  return obj
end

--- Called at the start of every message with the env the host passed.
function ao.init(env)
  env = type(env) == "table" and env or {}
  local process = type(env.Process) == "table" and env.Process or {}
  ao.normalizeTags(process)
  env.Process = process
  if type(env.Module) == "table" then ao.normalizeTags(env.Module) end
  ao.env = env
  if type(process.Id) == "string" then ao.id = process.Id end
  local moduleId = (type(env.Module) == "table" and env.Module.Id) or process.Tags.Module
  if type(moduleId) == "string" then ao._module = moduleId end
end

function ao.clearOutbox()
  ao.outbox = newOutbox()
end

local function tagValue(name, v)
  local tv = type(v)
  if tv == "string" then return v end
  if tv == "number" or tv == "boolean" then return tostring(v) end
  error("ao: tag '" .. tostring(name) .. "' has a " .. tv .. " value; tag values are strings", 0)
end

local function nextReference()
  ao.reference = ao.reference + 1
  return tostring(ao.reference), string.format("%032d", ao.reference)
end

-- Appends msg.Tags (an array of {name,value} or a map) and then the other keys of msg, except those in `skip`.
local function appendTags(tags, msg, skip)
  local extra = msg.Tags
  if type(extra) == "table" then
    if extra[1] ~= nil then
      for _, t in ipairs(extra) do
        if type(t) ~= "table" or t.name == nil then error("ao: Tags must be {name=..., value=...} pairs", 0) end
        tags[#tags + 1] = { name = tostring(t.name), value = tagValue(t.name, t.value) }
      end
    else
      local names = {}
      for k in pairs(extra) do names[#names + 1] = k end
      table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
      for _, k in ipairs(names) do tags[#tags + 1] = { name = tostring(k), value = tagValue(k, extra[k]) } end
    end
  end
  local names = {}
  for k, v in pairs(msg) do
    if type(k) == "string" and not skip[k] and type(v) ~= "function" then names[#names + 1] = k end
  end
  table.sort(names)
  for _, k in ipairs(names) do tags[#tags + 1] = { name = k, value = tagValue(k, msg[k]) } end
  return tags
end

-- Data: a string as is, a table as JSON (tagged Content-Type application/json), nil as "".
local function dataOf(msg, tags, default)
  local data = msg.Data
  if data == nil then return default end
  if type(data) == "table" then
    local hasType = false
    for _, t in ipairs(tags) do if t.name == "Content-Type" then hasType = true end end
    if not hasType then tags[#tags + 1] = { name = "Content-Type", value = "application/json" } end
    return json.encode(data)
  end
  return tostring(data)
end

local function checkRoom()
  local o = ao.outbox
  if #o.Messages + #o.Spawns + #o.Assignments >= ao.outboxMessagesMax then
    error("ao: more than " .. ao.outboxMessagesMax .. " outgoing items in one message", 0)
  end
end

local sendSkip = { Target = true, Data = true, Anchor = true, Tags = true, From = true, Owner = true }

--- Queues a message to msg.Target. See the contract at the top of the file.
function ao.send(msg)
  if type(msg) ~= "table" then error("ao.send: expected a table", 0) end
  if type(msg.Target) ~= "string" or msg.Target == "" then error("ao.send: Target must be a process id", 0) end
  checkRoom()
  local ref, anchor = nextReference()
  local tags = {
    { name = "Data-Protocol", value = "ao" }, { name = "Variant", value = "ao.TN.1" },
    { name = "Type", value = "Message" }, { name = "Reference", value = ref },
  }
  appendTags(tags, msg, sendSkip)
  local message = { Target = msg.Target, Anchor = anchor, Tags = tags }
  message.Data = dataOf(msg, tags, "")
  table.insert(ao.outbox.Messages, message)
  return message
end

local spawnSkip = { Data = true, Anchor = true, Tags = true, Target = true, From = true, Owner = true }

--- Queues the spawn of a new process running `module`. See the contract at the top of the file.
function ao.spawn(module, msg)
  if type(module) ~= "string" or module == "" then error("ao.spawn: module must be a module id", 0) end
  msg = msg or {}
  if type(msg) ~= "table" then error("ao.spawn: expected a table of tags", 0) end
  checkRoom()
  local ref, anchor = nextReference()
  local tags = {
    { name = "Data-Protocol", value = "ao" }, { name = "Variant", value = "ao.TN.1" },
    { name = "Type", value = "Process" }, { name = "From-Process", value = ao.id },
    { name = "From-Module", value = ao._module }, { name = "Module", value = module },
    { name = "Reference", value = ref },
  }
  appendTags(tags, msg, spawnSkip)
  local spawn = { Anchor = anchor, Tags = tags }
  spawn.Data = dataOf(msg, tags, "NODATA")
  table.insert(ao.outbox.Spawns, spawn)
  return spawn
end

--- Queues an assignment of an existing message to other processes.
function ao.assign(a)
  if type(a) ~= "table" or type(a.Processes) ~= "table" or type(a.Message) ~= "string" then
    error("ao.assign: expected {Processes = {ids...}, Message = id}", 0)
  end
  checkRoom()
  local processes = {}
  for i, p in ipairs(a.Processes) do
    if type(p) ~= "string" then error("ao.assign: Processes[" .. i .. "] is not an id", 0) end
    processes[i] = p
  end
  local assignment = { Processes = processes, Message = a.Message }
  if a.BaseLayer then assignment.BaseLayer = true end
  if type(a.Exclude) == "table" then assignment.Exclude = a.Exclude end
  table.insert(ao.outbox.Assignments, assignment)
  return assignment
end

--- Appends printed text to this message's Output.
function ao.print(text)
  table.insert(ao.outbox.Output, text)
end

--- The printed text of this message so far (lines joined by "\n"), or nil when nothing was printed.
function ao.printed()
  if #ao.outbox.Output == 0 then return nil end
  return table.concat(ao.outbox.Output, "\n")
end

return ao
