-- KEYS[1] stream, KEYS[2] retry zset, KEYS[3] attempts hash, KEYS[4] queue
-- of the entry's verification, KEYS[5] expiry zset, KEYS[6] refused hash.
-- ARGV: entry id, now.
-- Ends the entry for good and moves the next waiting event of its
-- verification into the stream. That event keeps the H it was recorded
-- with, so a verification's chain of events ends within a day of being
-- recorded; one recorded before H was kept is deliverable from now. An
-- entry that is gone was done already: nothing happens, so the next event
-- is released once. Returns 1 when it ended the entry, else 0.
local id = ARGV[1]
if #redis.call('XRANGE', KEYS[1], id, id) == 0 then
  return 0
end
redis.call('XACK', KEYS[1], GROUP, id)
redis.call('XDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
if redis.call('LINDEX', KEYS[4], 0) == id then
  redis.call('LPOP', KEYS[4])
  local next_event = redis.call('LPOP', KEYS[4])
  if next_event then
    local f = cjson.decode(next_event)
    local has_h = false
    for i = 1, #f, 2 do
      if f[i] == 'H' then
        has_h = true
      end
    end
    if not has_h then
      f[#f + 1] = 'H'
      f[#f + 1] = ARGV[2]
    end
    redis.call('LPUSH', KEYS[4], xadd(KEYS[1], KEYS[5], f))
    redis.call('PEXPIRE', KEYS[4], QUEUE_TTL)
  end
end
if redis.call('XLEN', KEYS[1]) == 0 and redis.call('EXISTS', KEYS[6]) == 0 then
  redis.call('ZREM', KEYS[5], ACTIVE)
end
return 1
