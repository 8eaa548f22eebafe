-- KEYS[1] number hash. ARGV: token.
-- Drops a reservation whose send failed; as the cooldown is derived from
-- the latest successful send, none starts. Returns 1 if it was still held.
if redis.call('HGET', KEYS[1], 't') ~= ARGV[1] then
  return 0
end
redis.call('HDEL', KEYS[1], 't', 'u')
return 1
