-- KEYS[1] number hash, KEYS[2] archive key of the verification, KEYS[3]
-- stream, KEYS[4] expiry zset, KEYS[5] queue of the verification.
-- ARGV: expiry member, now, id (raw), then the event arguments.
-- Records verification.expired, at its expiry, for a verification that is
-- still pending past it, once: the member goes with it. A member whose
-- verification ended or is gone just goes; one that was resent meanwhile
-- gets its new expiry back (each send sets it, so this only mends a send
-- made without events). Returns 1 when it recorded the event, else 0.
local now = tonumber(ARGV[2])
local ev = event_args(4, 3)
local score = redis.call('ZSCORE', KEYS[4], ARGV[1])
if not score or tonumber(score) > now then
  return 0
end
local key, v = pick(ARGV[3])
if v.c and not v.s and expires(v) > now then
  redis.call('ZADD', KEYS[4], expires(v), ARGV[1])
  return 0
end
redis.call('ZREM', KEYS[4], ARGV[1])
if v.c == nil or v.s or gone(v, now, ev.retention) then
  return 0
end
emit(ev, KEYS[5], 'verification.expired', expires(v), tohex(ARGV[3]), v)
return 1
