-- KEYS[1] number hash. ARGV: message id, status, updated at, then with
-- events the current verification's id as the caller read it and the event
-- arguments (ARGV 5-11; KEYS[2] stream, KEYS[3] expiry zset, KEYS[4] queue
-- of that verification, KEYS[5] refused hash).
-- Only a report on the current verification's latest SMS is kept, and a
-- late report never moves a final state back. A report that changes the
-- stored status is recorded as verification.delivery, at its own time
-- (deliverable from the service's now in the event arguments).
-- Returns 0 when the number has no verification any more, 2 when the
-- current verification is not the one the caller read (read it again),
-- else 1.
local rank = {queued = 1, accepted = 2, sent = 3}
local ev = event_args(5, 2)
local v = hmap(KEYS[1])
if v.c == nil then
  return 0
end
if v.m ~= ARGV[1] then
  return 1
end
if v.d and (rank[ARGV[2]] or 4) < (rank[v.d] or 4) then
  return 1
end
if ev and v.i ~= ARGV[4] then
  return 2
end
local changed = v.d ~= ARGV[2]
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'du', ARGV[3])
if ev and changed then
  v.d, v.du = ARGV[2], ARGV[3]
  emit(ev, KEYS[4], 'verification.delivery', ARGV[3], tohex(v.i), v)
end
return 1
