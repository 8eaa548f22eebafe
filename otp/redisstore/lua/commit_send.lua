-- KEYS[1] phone hash, KEYS[2] verification to renew (or an unused key of
-- the slot), KEYS[3] verification to create.
-- ARGV: now, token, renew id, new id, code hash, message id, ttl ms,
-- cooldown ms, retention ms, max attempts, lookup flag, carrier, ported,
-- network code.
-- Returns {created (0/1), id, the verification's fields...}.
local now = tonumber(ARGV[1])
local ttl, cooldown, retention = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local e = now + ttl
local x = e + retention
local key, id, created
if ARGV[3] ~= '' then
  local v = hmap(KEYS[2])
  if v.h == ARGV[5] then
    -- A retry of this very commit: it has been applied already.
    key, id, created = KEYS[2], ARGV[3], 0
  elseif not gone(v, now) and v.s == 'p' and tonumber(v.e) > now and tonumber(v.a) > 0 then
    redis.call('HSET', KEYS[2], 'h', ARGV[5], 'g', tonumber(v.g) + 1, 'k', tonumber(v.k) + 1,
      'l', now, 'e', e, 'x', x, 'm', ARGV[6])
    redis.call('HDEL', KEYS[2], 'd', 'du')
    redis.call('PEXPIRE', KEYS[2], x - now)
    key, id, created = KEYS[2], ARGV[3], 0
  end
end
if key == nil then
  key, id, created = KEYS[3], ARGV[4], 1
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 's', 'p', 'c', now, 'e', e, 'a', ARGV[10], 'k', 1, 'l', now,
      'h', ARGV[5], 'g', 1, 'm', ARGV[6], 'x', x)
    redis.call('PEXPIRE', key, x - now)
  end
end
if ARGV[11] == '1' then
  redis.call('HSET', key, 'lc', ARGV[12], 'lp', ARGV[13], 'ln', ARGV[14])
end
local p = hmap(KEYS[1])
if p.t == ARGV[2] then
  redis.call('HDEL', KEYS[1], 't', 'u', 'q')
end
redis.call('HSET', KEYS[1], 'i', id, 'r', now + cooldown)
extend(KEYS[1], math.max(x - now, cooldown))
local _, flat = hmap(key)
return {created, id, unpack(flat)}
