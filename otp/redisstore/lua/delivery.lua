-- KEYS[1] number hash. ARGV: message id, status, updated at.
-- Only a report on the current verification's latest SMS is kept, and a
-- late report never moves a final state back. Returns 0 when the number
-- has no verification any more, else 1.
local rank = {queued = 1, accepted = 2, sent = 3}
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
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'du', ARGV[3])
return 1
