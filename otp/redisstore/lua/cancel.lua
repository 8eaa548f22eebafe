-- KEYS[1] number hash, KEYS[2] archive key of the verification.
-- ARGV: now, id, retention.
-- Returns {'notfound'}, {'notpending', status} or {'ok', fields...}.
local now, retention = tonumber(ARGV[1]), tonumber(ARGV[3])
local key, v = pick(ARGV[2])
if gone(v, now, retention) then
  return {'notfound'}
end
if v.s then
  return {'notpending', v.s}
end
if expires(v) <= now then
  return {'notpending', 'expired'}
end
finish(key, v, 'c', now, retention)
local _, flat = hmap(key)
return {'ok', unpack(flat)}
