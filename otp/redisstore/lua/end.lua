-- KEYS[1] number hash, KEYS[2] archive key of the verification.
-- ARGV: now, id, retention, nonce, cooldown, status ('a' approved or 'c'
-- canceled).
-- Ends a pending verification with the status, once however often it is
-- run with one nonce: a retry of an end that applied answers as the end
-- did. The nonce goes in w as "!<nonce>", which no guess's
-- "<nonce>:<left>" (nor an older bare nonce) can be, so a check never
-- takes this end for its own approval, nor an end a check's for its own.
-- With events (ARGV 7-13, KEYS[3] stream, KEYS[4] expiry zset, KEYS[5]
-- queue, KEYS[6] refused hash) the end is recorded as approved or
-- canceled, once.
-- Returns {'notfound'}, {'notpending', status} or {'ok', fields...}.
local now, retention, cooldown = tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[5])
local status, mark = ARGV[6], '!' .. ARGV[4]
if status ~= 'a' and status ~= 'c' then
  return redis.error_reply('end: status must be a or c')
end
local ev = event_args(7, 3)
local key, v = pick(ARGV[2])
if gone(v, now, retention) then
  return {'notfound'}
end
if v.s == status and v.w == mark then
  local _, flat = hmap(key)
  return {'ok', unpack(flat)}
end
if v.s then
  return {'notpending', v.s}
end
if expires(v) <= now then
  return {'notpending', 'expired'}
end
finish(key, v, status, now, retention, cooldown)
redis.call('HSET', key, 'w', mark)
local after, flat = hmap(key)
if ev then
  local hex = tohex(ARGV[2])
  emit(ev, KEYS[5], status == 'a' and 'verification.approved' or 'verification.canceled', now, hex, after)
  redis.call('ZREM', ev.expiry, expiry_member(ev, hex))
end
return {'ok', unpack(flat)}
