-- KEYS[1] verification. ARGV: now, retention ms.
-- Returns {'notfound'}, {'notpending', status} or {'ok', fields...}.
local now = tonumber(ARGV[1])
local v = hmap(KEYS[1])
if gone(v, now) then
  return {'notfound'}
end
if v.s ~= 'p' then
  return {'notpending', v.s}
end
if tonumber(v.e) <= now then
  return {'notpending', 'expired'}
end
finish(KEYS[1], v, 'c', now, tonumber(ARGV[2]))
local _, flat = hmap(KEYS[1])
return {'ok', unpack(flat)}
