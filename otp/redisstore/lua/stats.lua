-- KEYS[1] refused hash, KEYS[2] stream, KEYS[3] expiry zset.
-- Takes the counts of the events the partition refused, so each is counted
-- by one Stats call whichever replica makes it, and reads when the first
-- entry of the stream happened. A stream left empty needs no mark any more.
-- Returns {{type, count, ...}, T of the first entry or ''}.
local refused = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local at = ''
if #first == 0 then
  redis.call('ZREM', KEYS[3], ACTIVE)
else
  local f = first[1][2]
  for i = 1, #f, 2 do
    if f[i] == 'T' then
      at = f[i + 1]
    end
  end
end
return {refused, at}
