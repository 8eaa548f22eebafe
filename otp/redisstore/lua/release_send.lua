-- KEYS[1] phone hash. ARGV: token.
-- Undoes a reservation whose send failed: the cooldown goes back to what
-- it was before. Returns 1 if the reservation was still held.
local p = hmap(KEYS[1])
if p.t ~= ARGV[1] then
  return 0
end
if p.q == nil or p.q == '' then
  redis.call('HDEL', KEYS[1], 'r')
else
  redis.call('HSET', KEYS[1], 'r', p.q)
end
redis.call('HDEL', KEYS[1], 't', 'u', 'q')
return 1
