-- KEYS[1] stream. ARGV: idle (ms).
-- Deletes the group's consumers that hold no entry and were idle longer
-- than idle: every process start adds one, and a consumer holding nothing
-- loses nothing by going. Returns how many went.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local n = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], GROUP)) do
  local f = {}
  for i = 1, #c, 2 do
    f[c[i]] = c[i + 1]
  end
  if f.pending == 0 and f.idle > tonumber(ARGV[1]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], GROUP, f.name)
    n = n + 1
  end
end
return n
