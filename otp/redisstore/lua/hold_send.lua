-- KEYS[1] number hash. ARGV: token, now, until.
-- Holds a reservation whose send may have gone out until `until` instead of
-- its hold, so no other send starts before the cooldown of an SMS that was
-- never recorded. Returns 1 if it was still held.
if redis.call('HGET', KEYS[1], 't') ~= ARGV[1] then
  return 0
end
local now, til = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'u', til)
extend(KEYS[1], til, now)
return 1
