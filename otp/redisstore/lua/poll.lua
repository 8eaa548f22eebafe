-- KEYS[1] stream, KEYS[2] retry zset, KEYS[3] attempts hash.
-- ARGV: consumer, count, now, lease (ms).
-- Hands consumer up to count entries, oldest work first: retries due by
-- now (leased to it until now+lease, on the service's clock), then first
-- attempts whose consumer held them longer than lease without an answer
-- (XAUTOCLAIM, on Redis' idle clock), then new entries (XREADGROUP).
-- Returns {entry id, {field, value, ...}, attempts, claim} per entry; the
-- claim is "r<lease end>" for a retry and "p<consumer>" for a first
-- attempt, which Retry checks so that a claim that ran out puts nothing
-- back. A replay by go-redis finds what the lost run claimed already
-- claimed: it comes back after the lease, as if its consumer had died.
local consumer, count, now, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, count)
for _, id in ipairs(due) do
  local e = redis.call('XRANGE', KEYS[1], id, id)
  if #e == 0 then
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
  else
    redis.call('ZADD', KEYS[2], now + lease, id)
    out[#out + 1] = {id, e[1][2], tonumber(redis.call('HGET', KEYS[3], id)) or 0, 'r' .. (now + lease)}
  end
end
if #out >= count or redis.call('EXISTS', KEYS[1]) == 0 then
  return out
end
local function take(entries)
  for _, e in ipairs(entries) do
    -- An entry deleted while pending reads as nil; Done acks before it
    -- deletes, so that only happens to entries not ours to hand out.
    if e and e[2] then
      out[#out + 1] = {e[1], e[2], 0, 'p' .. consumer}
    end
  end
end
take(redis.call('XAUTOCLAIM', KEYS[1], GROUP, consumer, lease, '0-0', 'COUNT', count - #out)[2])
if #out < count then
  local new = redis.call('XREADGROUP', 'GROUP', GROUP, consumer, 'COUNT', count - #out, 'STREAMS', KEYS[1], '>')
  if new then
    take(new[1][2])
  end
end
return out
