-- KEYS[1] verification. ARGV: now, message id, status, updated at.
-- Returns 0 for an unknown verification, else 1. Only a report on the
-- latest SMS is kept, and a late report never moves a final state back.
local rank = {queued = 1, accepted = 2, sent = 3}
local now = tonumber(ARGV[1])
local v = hmap(KEYS[1])
if gone(v, now) then
  return 0
end
if v.m ~= ARGV[2] then
  return 1
end
if v.d and (rank[ARGV[3]] or 4) < (rank[v.d] or 4) then
  return 1
end
redis.call('HSET', KEYS[1], 'd', ARGV[3], 'du', ARGV[4])
return 1
