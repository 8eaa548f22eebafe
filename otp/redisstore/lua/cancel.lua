-- KEYS[1] number hash, KEYS[2] archive key of the verification.
-- ARGV: now, id, retention, nonce, cooldown.
-- Cancels once however often it is run with one nonce: a retry of a cancel
-- that applied answers as the cancel did.
-- Returns {'notfound'}, {'notpending', status} or {'ok', fields...}.
local now, retention, cooldown = tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[5])
local key, v = pick(ARGV[2])
if gone(v, now, retention) then
  return {'notfound'}
end
if v.s == 'c' and v.w == ARGV[4] then
  local _, flat = hmap(key)
  return {'ok', unpack(flat)}
end
if v.s then
  return {'notpending', v.s}
end
if expires(v) <= now then
  return {'notpending', 'expired'}
end
finish(key, v, 'c', now, retention, cooldown)
redis.call('HSET', key, 'w', ARGV[4])
local _, flat = hmap(key)
return {'ok', unpack(flat)}
