-- KEYS[1] phone hash, KEYS[2] verification ARGV[2] names (same slot).
-- ARGV: now, expected newest id ("" for none), token, cooldown ms, hold ms,
-- max sends.
-- Returns {'retry'} if the newest id changed since the caller read it,
-- {'cooldown', until}, {'maxsends', expires}, or {'ok', id to renew or ''}.
local now = tonumber(ARGV[1])
local cooldown = tonumber(ARGV[4])
local hold = tonumber(ARGV[5])
local p = hmap(KEYS[1])
if (p.i or '') ~= ARGV[2] then
  return {'retry'}
end
local r = tonumber(p.r or '0')
if p.t and tonumber(p.u) > now then
  if r > now then
    return {'cooldown', r}
  end
  return {'cooldown', tonumber(p.u)}
end
if r > now then
  return {'cooldown', r}
end
local reuse = ''
if ARGV[2] ~= '' then
  local v = hmap(KEYS[2])
  if not gone(v, now) and v.s == 'p' and tonumber(v.e) > now and tonumber(v.a) > 0 then
    if tonumber(v.k) >= tonumber(ARGV[6]) then
      return {'maxsends', tonumber(v.e)}
    end
    reuse = ARGV[2]
  end
end
redis.call('HSET', KEYS[1], 'q', p.r or '', 't', ARGV[3], 'u', now + hold, 'r', now + cooldown)
extend(KEYS[1], math.max(cooldown, hold))
return {'ok', reuse}
