-- json: the JSON encoder and decoder of aonode's Lua process library.
--
-- Contract:
--   json.encode(value) -> string   nil -> null; booleans; integers print as integers, floats with 17 significant
--                                  digits (round-trip exact); NaN and infinities are an error (JSON has none);
--                                  strings are escaped (control characters as \u00XX, UTF-8 passes through); a table
--                                  whose keys are exactly 1..n is an array, an empty table is [] (AO's outbox lists
--                                  must be arrays even when empty), any other table is an object whose keys are
--                                  written in sorted order so the same value always encodes to the same bytes.
--                                  json.object(t) marks a table as an object ({} when empty). Cycles are an error.
--   json.decode(string) -> value   strict JSON (RFC 8259): null -> nil (an object member that is null is absent),
--                                  numbers without fraction or exponent that fit in 64 bits -> integers, others ->
--                                  floats, \u escapes (with surrogate pairs) -> UTF-8. Errors name the byte offset.
local json = { _version = "aonode-1" }

local byte, sub, find, char, format, concat = string.byte, string.sub, string.find, string.char, string.format,
  table.concat
local math_type = math.type

-- Nesting limit for both directions: deeper input is almost certainly hostile and would exhaust the C stack of the
-- recursive coder before Lua's own limit gave a clear message.
local depthMax = 200

local objectMeta = { __jsontype = "object" }

--- Marks `t` (or a new table) as a JSON object, so an empty one encodes as {} rather than [].
function json.object(t)
  return setmetatable(t or {}, objectMeta)
end

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
local function escapeChar(c)
  return escapes[c] or format("\\u%04x", byte(c))
end

local function encodeString(s)
  return '"' .. s:gsub('[%c"\\]', escapeChar) .. '"'
end

local function encodeNumber(n)
  if math_type(n) == "integer" then return format("%d", n) end
  if n ~= n or n == math.huge or n == -math.huge then
    error("json.encode: cannot encode " .. tostring(n) .. " (JSON has no NaN or infinity)", 0)
  end
  -- Integral floats print without an exponent when they are exactly representable ("2.0" -> "2"), as JavaScript
  -- would print them; others take the shortest of %.14g / %.17g that reads back exactly.
  if n == math.floor(n) and n >= -2^53 and n <= 2^53 then return format("%d", math.tointeger(n)) end
  local s = format("%.14g", n)
  if tonumber(s) ~= n then s = format("%.17g", n) end
  return s
end

local encodeValue

local function isArray(t)
  if getmetatable(t) == objectMeta then return false end
  local n = #t
  local count = 0
  for k in pairs(t) do
    if math_type(k) ~= "integer" or k < 1 or k > n then return false end
    count = count + 1
  end
  return count == n
end

local function keyString(k)
  local tk = type(k)
  if tk == "string" then return k end
  if tk == "number" then return encodeNumber(k) end
  if tk == "boolean" then return tostring(k) end
  error("json.encode: object key of type " .. tk .. " cannot be encoded", 0)
end

local function encodeTable(t, out, seen, depth)
  if seen[t] then error("json.encode: the value contains a cycle", 0) end
  if depth > depthMax then error("json.encode: nesting deeper than " .. depthMax, 0) end
  seen[t] = true
  if isArray(t) then
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then out[#out + 1] = "," end
      encodeValue(t[i], out, seen, depth + 1)
    end
    out[#out + 1] = "]"
  else
    local keys, byName = {}, {}
    for k, v in pairs(t) do
      local ks = keyString(k)
      if type(v) ~= "function" then
        keys[#keys + 1] = ks
        byName[ks] = v
      end
    end
    table.sort(keys)
    out[#out + 1] = "{"
    for i, ks in ipairs(keys) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = encodeString(ks)
      out[#out + 1] = ":"
      encodeValue(byName[ks], out, seen, depth + 1)
    end
    out[#out + 1] = "}"
  end
  seen[t] = nil
end

encodeValue = function(v, out, seen, depth)
  local tv = type(v)
  if tv == "nil" then out[#out + 1] = "null"
  elseif tv == "boolean" then out[#out + 1] = v and "true" or "false"
  elseif tv == "number" then out[#out + 1] = encodeNumber(v)
  elseif tv == "string" then out[#out + 1] = encodeString(v)
  elseif tv == "table" then encodeTable(v, out, seen, depth)
  else error("json.encode: a " .. tv .. " cannot be encoded", 0) end
end

--- Encodes a Lua value as JSON text (see the contract at the top of the file).
function json.encode(value)
  local out = {}
  encodeValue(value, out, {}, 0)
  return concat(out)
end

-- Decoder ----------------------------------------------------------------------------------------------------------

local function decodeError(str, pos, what)
  error(format("json.decode: %s at byte %d", what, pos), 0)
end

local function skipSpace(str, pos)
  return find(str, "[^ \t\r\n]", pos) or #str + 1
end

local function utf8Char(cp)
  return utf8.char(cp)
end

local decodeValue

local simpleEscapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function decodeString(str, pos)
  -- pos is at the opening quote. Copy runs of plain bytes in one piece; only escapes go byte by byte.
  local parts = {}
  local i = pos + 1
  while true do
    local j = find(str, '["\\%c]', i)
    if not j then decodeError(str, pos, "unterminated string") end
    if j > i then parts[#parts + 1] = sub(str, i, j - 1) end
    local c = sub(str, j, j)
    if c == '"' then
      return concat(parts), j + 1
    elseif c == "\\" then
      local e = sub(str, j + 1, j + 1)
      if simpleEscapes[e] then
        parts[#parts + 1] = simpleEscapes[e]
        i = j + 2
      elseif e == "u" then
        local hex = sub(str, j + 2, j + 5)
        if not hex:match("^%x%x%x%x$") then decodeError(str, j, "bad \\u escape") end
        local cp = tonumber(hex, 16)
        i = j + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
          local lowHex = str:match("^\\u(%x%x%x%x)", i)
          local low = lowHex and tonumber(lowHex, 16)
          if low and low >= 0xDC00 and low <= 0xDFFF then
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (low - 0xDC00)
            i = i + 6
          else
            cp = 0xFFFD -- a lone high surrogate has no code point; use the replacement character
          end
        elseif cp >= 0xDC00 and cp <= 0xDFFF then
          cp = 0xFFFD
        end
        parts[#parts + 1] = utf8Char(cp)
      else
        decodeError(str, j, "bad escape")
      end
    else
      decodeError(str, j, "control character in string")
    end
  end
end

local function decodeNumber(str, pos)
  local s, e = find(str, "^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  if not s then decodeError(str, pos, "bad number") end
  local text = sub(str, s, e)
  if not (text:match("^-?0$") or text:match("^-?[1-9]%d*$") or text:match("^-?0%.%d+$")
      or text:match("^-?[1-9]%d*%.%d+$") or text:match("^-?%d+%.?%d*[eE][-+]?%d+$")) then
    decodeError(str, pos, "bad number '" .. text .. "'")
  end
  -- tonumber gives an integer for digit strings that fit in 64 bits and a float for longer ones.
  local n = tonumber(text)
  if text:match("^-?%d+$") and math_type(n) == "integer" then return n, e + 1 end
  return n + 0.0, e + 1
end

local literals = { t = { "true", true }, f = { "false", false }, n = { "null", nil } }

decodeValue = function(str, pos, depth)
  pos = skipSpace(str, pos)
  local c = sub(str, pos, pos)
  if c == "{" then
    if depth > depthMax then decodeError(str, pos, "nesting deeper than " .. depthMax) end
    local obj = {}
    pos = skipSpace(str, pos + 1)
    if sub(str, pos, pos) == "}" then return obj, pos + 1 end
    while true do
      if sub(str, pos, pos) ~= '"' then decodeError(str, pos, "expected a string key") end
      local key
      key, pos = decodeString(str, pos)
      pos = skipSpace(str, pos)
      if sub(str, pos, pos) ~= ":" then decodeError(str, pos, "expected ':'") end
      local value
      value, pos = decodeValue(str, pos + 1, depth + 1)
      obj[key] = value
      pos = skipSpace(str, pos)
      local d = sub(str, pos, pos)
      if d == "}" then return obj, pos + 1 end
      if d ~= "," then decodeError(str, pos, "expected ',' or '}'") end
      pos = skipSpace(str, pos + 1)
    end
  elseif c == "[" then
    if depth > depthMax then decodeError(str, pos, "nesting deeper than " .. depthMax) end
    local arr, n = {}, 0
    pos = skipSpace(str, pos + 1)
    if sub(str, pos, pos) == "]" then return arr, pos + 1 end
    while true do
      local value
      value, pos = decodeValue(str, pos, depth + 1)
      n = n + 1
      arr[n] = value
      pos = skipSpace(str, pos)
      local d = sub(str, pos, pos)
      if d == "]" then return arr, pos + 1 end
      if d ~= "," then decodeError(str, pos, "expected ',' or ']'") end
      pos = pos + 1
    end
  elseif c == '"' then
    return decodeString(str, pos)
  elseif c == "-" or (c >= "0" and c <= "9" and c ~= "") then
    return decodeNumber(str, pos)
  else
    local lit = literals[c]
    if lit and sub(str, pos, pos + #lit[1] - 1) == lit[1] then return lit[2], pos + #lit[1] end
    if c == "" then decodeError(str, pos, "unexpected end of input") end
    decodeError(str, pos, "unexpected character '" .. c .. "'")
  end
end

--- Decodes JSON text into a Lua value (see the contract at the top of the file), in Lua.
function json.decodeLua(str)
  if type(str) ~= "string" then error("json.decode: expected a string, got " .. type(str), 0) end
  local value, pos = decodeValue(str, 1, 0)
  pos = skipSpace(str, pos)
  if pos <= #str then decodeError(str, pos, "trailing characters") end
  return value
end

-- Inside the wasm module, json.decode is the C decoder (lua/json-native.c, registered by lua/process.c as
-- package.preload["json.native"]): the same contract and errors, about 20 times faster. A native interpreter without it
-- (lua/test/library_test.lua) uses the Lua one.
local hasNative, native = pcall(require, "json.native")
json.decode = hasNative and native.decode or json.decodeLua

return json
