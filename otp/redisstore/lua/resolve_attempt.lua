-- KEYS[1] number hash, KEYS[2] archive key of the verification.
-- ARGV: now, id, nonce, right (1/0), retention.
-- Records the outcome of a compared guess, once however often it is run.
-- A right guess approves only if the code it was compared with is still the
-- current one (a resend replaces it). The last wrong guess ends the
-- verification once no other guess is being compared, so a right guess in
-- flight can still win.
-- Returns {'notfound'}, {'notpending', status}, {'approved', attempts left}
-- or {'wrong', status, attempts left}.
local now, retention = tonumber(ARGV[1]), tonumber(ARGV[5])
local key, v = pick(ARGV[2])
if gone(v, now, retention) then
  return {'notfound'}
end
if v.s == 'a' and v.w == ARGV[3] then
  return {'approved', tonumber(v.a)}
end
if v.s == 'm' then
  return {'wrong', 'm', 0}
end
if v.s then
  return {'notpending', v.s}
end
local nf = '~' .. ARGV[3]
local gen = v[nf]
if gen then
  redis.call('HDEL', key, nf)
  v[nf] = nil
end
if expires(v) <= now then
  return {'notpending', 'expired'}
end
local left = tonumber(v.a)
if ARGV[4] == '1' and gen == v.k then
  finish(key, v, 'a', now, retention)
  redis.call('HSET', key, 'w', ARGV[3])
  return {'approved', left}
end
if left <= 0 then
  if inflight(v) then
    return {'wrong', 'p', 0}
  end
  finish(key, v, 'm', now, retention)
  return {'wrong', 'm', 0}
end
return {'wrong', 'p', left}
