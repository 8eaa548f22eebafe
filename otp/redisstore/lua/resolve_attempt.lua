-- KEYS[1] verification. ARGV: now, nonce, right (1/0), retention ms.
-- Records the outcome of a compared guess, once however often it is run.
-- A right guess approves only if the code it was compared with is still the
-- current one (a resend replaces it). The last wrong guess ends the
-- verification once no other guess is still being compared, so a right
-- guess in flight can still win.
-- Returns {'notfound'}, {'notpending', status}, {'approved', attempts left}
-- or {'wrong', status, attempts left}.
local now = tonumber(ARGV[1])
local retention = tonumber(ARGV[4])
local v = hmap(KEYS[1])
if gone(v, now) then
  return {'notfound'}
end
local nf = '~' .. ARGV[2]
if v.s == 'a' and v.w == ARGV[2] then
  return {'approved', tonumber(v.a)}
end
if v.s == 'm' then
  return {'wrong', 'm', 0}
end
if v.s ~= 'p' then
  return {'notpending', v.s}
end
local gen = v[nf]
if gen and gen ~= '-' then
  redis.call('HSET', KEYS[1], nf, '-')
  v[nf] = '-'
end
if tonumber(v.e) <= now then
  return {'notpending', 'expired'}
end
local left = tonumber(v.a)
if ARGV[3] == '1' and gen == v.g then
  finish(KEYS[1], v, 'a', now, retention)
  redis.call('HSET', KEYS[1], 'w', ARGV[2])
  return {'approved', left}
end
if left <= 0 then
  for f, val in pairs(v) do
    if string.sub(f, 1, 1) == '~' and val ~= '-' then
      return {'wrong', 'p', 0}
    end
  end
  finish(KEYS[1], v, 'm', now, retention)
  return {'wrong', 'm', 0}
end
return {'wrong', 'p', left}
