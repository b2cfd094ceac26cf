-- counter: the example handler set every aonode Lua process starts with; end-to-end tests drive it.
--   Action=Ping                 replies {Action=Pong, Data="Pong"} to the sender.
--   Action=Increment [Amount=n] adds n (default 1, an integer) to the global Counter and prints the new value.
--   Action=Count                replies {Action=Count-Response, Data=<Counter>} to the sender.
-- Remove them with Handlers.remove("ping") etc. through Eval if a process should not answer them.
Counter = Counter or 0

Handlers.add("ping", Handlers.utils.hasMatchingTag("Action", "Ping"), function(msg)
  msg.reply({ Action = "Pong", Data = "Pong" })
end)

Handlers.add("increment", Handlers.utils.hasMatchingTag("Action", "Increment"), function(msg)
  local amount = 1
  if msg.Amount ~= nil then
    amount = math.tointeger(tonumber(msg.Amount))
    if amount == nil then error("Increment: Amount must be an integer, got '" .. tostring(msg.Amount) .. "'", 0) end
  end
  Counter = Counter + amount
  print(Counter)
end)

Handlers.add("count", Handlers.utils.hasMatchingTag("Action", "Count"), function(msg)
  msg.reply({ Action = "Count-Response", Data = tostring(Counter) })
end)

return true
