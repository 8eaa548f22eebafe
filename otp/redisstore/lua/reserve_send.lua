-- KEYS[1] number hash. ARGV: now, token, cooldown, hold, max sends, ttl,
-- retention.
-- The cooldown runs from the latest send of the current verification.
-- Returns {'cooldown', until}, {'maxsends', expires} or
-- {'ok', id to renew or ''}.
local now, cooldown, hold = tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl, retention = tonumber(ARGV[6]), tonumber(ARGV[7])
local p = hmap(KEYS[1])
local r = 0
if p.c then
  r = sent_at(p, ttl) + cooldown
end
-- A retry of this very reservation (go-redis resends a script after a
-- dropped connection) must not be refused by the reservation itself.
local again = p.t == ARGV[2]
if not again and p.t and tonumber(p.u) > now then
  if r > now then
    return {'cooldown', r}
  end
  -- A send is in flight. If it succeeds, its cooldown ends about a
  -- cooldown from now; if it fails, the number is free at once. The hold
  -- only bounds a send whose process died, so it overstates the wait.
  return {'cooldown', math.min(tonumber(p.u), now + math.max(cooldown, 1000))}
end
if not again and r > now then
  return {'cooldown', r}
end
local reuse = ''
if not gone(p, now, retention) and p.s == nil and expires(p) > now and tonumber(p.a) > 0 then
  if tonumber(p.k) >= tonumber(ARGV[5]) then
    return {'maxsends', expires(p)}
  end
  reuse = p.i
end
redis.call('HSET', KEYS[1], 't', ARGV[2], 'u', now + hold)
p.u = tostring(now + hold)
settle(KEYS[1], p, now, retention)
return {'ok', reuse}
