-- KEYS[1] number hash, KEYS[2] archive key of the current verification.
-- ARGV: now, token, id to renew, new id, code hash, message id, ttl,
-- retention, max attempts, lookup ('' for none), current id, cooldown,
-- sender ('' when unknown), then the event arguments (see events.lua).
-- With events, KEYS[3] stream, KEYS[4] expiry zset, KEYS[5] queue of the
-- new id, KEYS[6] queue of the id to renew, KEYS[7] refused hash: each
-- send records verification.pending and (re)schedules the verification's
-- expiry.
-- Returns {'retry'} when the current verification is not ARGV[11] any more,
-- else {created (0/1), id, fields...}.
local now, ttl, retention = tonumber(ARGV[1]), tonumber(ARGV[7]), tonumber(ARGV[8])
local floor = now + tonumber(ARGV[12])
local ev = event_args(14, 3)
local p = hmap(KEYS[1])
if p.t == ARGV[2] then
  redis.call('HDEL', KEYS[1], 't', 'u')
  p.t, p.u = nil, nil
end
-- done answers with the number's current verification; sent records its
-- send, which a retry of an applied commit must not do again.
local function done(created, sent)
  local v, flat = hmap(KEYS[1])
  settle(KEYS[1], v, now, retention, floor)
  if sent and ev then
    local hex = tohex(v.i)
    emit(ev, v.i == ARGV[4] and KEYS[5] or KEYS[6], 'verification.pending', now, hex, v)
    redis.call('ZADD', ev.expiry, expires(v), expiry_member(ev, hex))
  end
  return {created, v.i, unpack(flat)}
end
if p.h == ARGV[5] then
  -- A retry of this very commit: it has been applied already.
  return done(p.i == ARGV[4] and 1 or 0, false)
end
local function set_message_and_lookup()
  if ARGV[6] ~= '' then
    redis.call('HSET', KEYS[1], 'm', ARGV[6])
  else
    redis.call('HDEL', KEYS[1], 'm')
  end
  if ARGV[13] ~= '' then
    redis.call('HSET', KEYS[1], 'g', ARGV[13])
  else
    redis.call('HDEL', KEYS[1], 'g')
  end
  if ARGV[10] ~= '' then
    redis.call('HSET', KEYS[1], 'l', ARGV[10])
  end
end
if ARGV[3] ~= '' and p.i == ARGV[3] and not gone(p, now, retention) and p.s == nil
    and expires(p) > now and tonumber(p.a) > 0 then
  -- The resend being superseded as the latest joins r, if its time is
  -- known; the latest one is always c+e-n.
  if tonumber(p.k) > 1 and p.n then
    local prev = tostring(expires(p) - tonumber(p.n) - tonumber(p.c))
    redis.call('HSET', KEYS[1], 'r', p.r and (p.r .. ',' .. prev) or prev)
  end
  redis.call('HSET', KEYS[1], 'h', ARGV[5], 'k', tonumber(p.k) + 1, 'e', now + ttl - tonumber(p.c), 'n', ttl)
  redis.call('HDEL', KEYS[1], 'd', 'du')
  set_message_and_lookup()
  return done(0, true)
end
if (p.i or '') ~= ARGV[11] then
  return {'retry'}
end
local drop = {}
local keep = {}
for f, val in pairs(p) do
  if string.sub(f, 1, 1) == '~' then
    drop[#drop + 1] = f
    keep[#keep + 1] = f
    keep[#keep + 1] = val
  end
end
for _, f in ipairs(VFIELDS) do
  if p[f] then
    drop[#drop + 1] = f
    keep[#keep + 1] = f
    keep[#keep + 1] = p[f]
  end
end
if not gone(p, now, retention) then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], unpack(keep))
  redis.call('PEXPIRE', KEYS[2], gone_at(p, retention) - now)
end
if #drop > 0 then
  redis.call('HDEL', KEYS[1], unpack(drop))
end
if ARGV[10] == '' then
  -- No lookup this time means the cached one had run out: drop it.
  redis.call('HDEL', KEYS[1], 'lx')
end
redis.call('HSET', KEYS[1], 'i', ARGV[4], 'c', now, 'e', ttl, 'a', ARGV[9], 'k', 1, 'h', ARGV[5])
set_message_and_lookup()
return done(1, true)
