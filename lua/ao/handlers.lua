-- Handlers: the ordered list of (name, pattern, handle) that decides what a process does with a message.
--
-- Contract:
--   Handlers.add(name, pattern, handle [, maxRuns])   adds at the end, or replaces in place the handler of that name.
--   Handlers.add(name, handle)                        shorthand: the pattern is "Action == name".
--   Handlers.prepend(...), Handlers.once(...)         the same, at the front / with maxRuns = 1.
--   Handlers.remove(name)
--   Handlers.evaluate(msg, env)                       runs the handlers in order. A pattern is a function of msg, a
--                                                     string (the Action tag must equal it) or a table of
--                                                     {Tag = value} (every one must match; a value may be a function
--                                                     of the tag value). A pattern's verdict: true / -1 / "break"
--                                                     runs the handler and stops; 1 / "continue" runs it and goes on;
--                                                     false / 0 / "skip" / nil skips it. If no handler stopped the
--                                                     walk, the default handler runs (it files the message in Inbox).
--   An error in a handler propagates to the caller (process.handle turns it into the result's Error).
local Handlers = { _version = "aonode-1", list = {}, utils = {} }

local function tagOf(msg, name)
  local v = msg[name]
  if v == nil and type(msg.Tags) == "table" then v = msg.Tags[name] end
  return v
end

--- A pattern matching messages whose tag `name` equals `value`.
function Handlers.utils.hasMatchingTag(name, value)
  return function(msg) return tagOf(msg, name) == value end
end

--- A pattern matching messages whose Data equals `value`.
function Handlers.utils.hasMatchingData(value)
  return function(msg) return msg.Data == value end
end

--- A handler that replies `text` (a string, or a table of tags with Data) to the sender.
function Handlers.utils.reply(text)
  return function(msg)
    if type(text) == "table" then msg.reply(text) else msg.reply({ Data = text }) end
  end
end

local function verdict(result)
  local t = type(result)
  if t == "boolean" then return result and -1 or 0 end
  if t == "nil" then return 0 end
  if t == "number" then return result < 0 and -1 or (result > 0 and 1 or 0) end
  if t == "string" then
    if result == "break" then return -1 end
    if result == "continue" then return 1 end
    if result == "skip" then return 0 end
  end
  error("Handlers: a pattern must return a boolean, -1/0/1 or \"break\"/\"continue\"/\"skip\", got "
    .. tostring(result), 0)
end

local function matches(msg, pattern)
  local t = type(pattern)
  if t == "function" then return verdict(pattern(msg)) end
  if t == "string" then return tagOf(msg, "Action") == pattern and -1 or 0 end
  if t == "table" then
    for name, want in pairs(pattern) do
      local have = tagOf(msg, name)
      if type(want) == "function" then
        if not want(have, msg) then return 0 end
      elseif have ~= want then
        return 0
      end
    end
    return -1
  end
  error("Handlers: a pattern must be a function, a string or a table", 0)
end

local function indexOf(name)
  for i, h in ipairs(Handlers.list) do
    if h.name == name then return i end
  end
  return nil
end

local function makeHandler(name, pattern, handle, maxRuns)
  if type(name) ~= "string" then error("Handlers.add: name must be a string", 0) end
  if handle == nil and type(pattern) == "function" then
    handle, pattern = pattern, name
  end
  if type(handle) ~= "function" then error("Handlers.add: handle must be a function", 0) end
  if maxRuns ~= nil and (math.type(maxRuns) ~= "integer" or maxRuns < 1) then
    error("Handlers.add: maxRuns must be a positive integer", 0)
  end
  return { name = name, pattern = pattern, handle = handle, maxRuns = maxRuns }
end

function Handlers.add(name, pattern, handle, maxRuns)
  local h = makeHandler(name, pattern, handle, maxRuns)
  local i = indexOf(name)
  if i then Handlers.list[i] = h else table.insert(Handlers.list, h) end
  return #Handlers.list
end
Handlers.append = Handlers.add

function Handlers.prepend(name, pattern, handle, maxRuns)
  local h = makeHandler(name, pattern, handle, maxRuns)
  local i = indexOf(name)
  if i then table.remove(Handlers.list, i) end
  table.insert(Handlers.list, 1, h)
  return #Handlers.list
end

function Handlers.once(name, pattern, handle)
  return Handlers.add(name, pattern, handle, 1)
end

function Handlers.remove(name)
  local i = indexOf(name)
  if i then table.remove(Handlers.list, i) end
  return i ~= nil
end

--- The handler run when no handler stopped the walk; process.lua sets it to file the message in Inbox.
Handlers.default = function(msg, env) end

function Handlers.evaluate(msg, env)
  -- Walk a snapshot: a handler may add or remove handlers while it runs.
  local snapshot = table.move(Handlers.list, 1, #Handlers.list, 1, {})
  for _, h in ipairs(snapshot) do
    local v = matches(msg, h.pattern)
    if v ~= 0 then
      if h.maxRuns then
        h.maxRuns = h.maxRuns - 1
        if h.maxRuns <= 0 then Handlers.remove(h.name) end
      end
      h.handle(msg, env)
      if v < 0 then return true end
    end
  end
  Handlers.default(msg, env)
  return false
end

return Handlers
