-- KEYS[1] stream, KEYS[2] retry zset, KEYS[3] attempts hash, KEYS[4] queue
-- of the entry's verification. ARGV: entry id, due, attempts, claim (as
-- poll.lua handed it out).
-- Puts the entry back, due at due with attempts failed, if the claim is
-- still the entry's latest: a consumer whose lease ran out and was taken
-- over puts nothing back. Returns 1 when it did, else 0.
local id, claim = ARGV[1], ARGV[4]
if #redis.call('XRANGE', KEYS[1], id, id) == 0 then
  return 0
end
local kind, holder = string.sub(claim, 1, 1), string.sub(claim, 2)
if kind == 'p' then
  local p = redis.call('XPENDING', KEYS[1], GROUP, id, id, 1)
  if #p == 0 or p[1][2] ~= holder then
    return 0
  end
  redis.call('XACK', KEYS[1], GROUP, id)
elseif tonumber(redis.call('ZSCORE', KEYS[2], id)) ~= tonumber(holder) then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[2], id)
redis.call('HSET', KEYS[3], id, ARGV[3])
if redis.call('LINDEX', KEYS[4], 0) == id then
  redis.call('PEXPIRE', KEYS[4], QUEUE_TTL)
end
return 1
