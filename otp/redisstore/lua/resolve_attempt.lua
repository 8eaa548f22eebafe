-- KEYS[1] number hash, KEYS[2] archive key of the verification.
-- ARGV: now, id, nonce, right (1/0), retention, cooldown.
-- Records the outcome of a compared guess, once however often it is run.
-- Each guess answers with the attempts its own reservation left, so the
-- k-th reserved guess answers max attempts - k whatever order they finish
-- in, and the one that took the last attempt answers max attempts reached
-- when wrong. A right guess approves only if the code it was compared with
-- is still the current one (a resend replaces it). The verification ends
-- out of attempts once no attempt is left and no other guess is being
-- compared, so a right guess in flight can still win. A retry of the guess
-- that approved or ended the verification answers as it did; a retry of
-- another one, whose field is gone, answers with the attempts left now.
-- With events (ARGV 7-13, KEYS[3] stream, KEYS[4] expiry zset, KEYS[5]
-- queue, KEYS[6] refused hash) the end it makes is recorded, once like the
-- end itself.
-- Returns {'notfound'}, {'notpending', status}, {'approved', attempts left}
-- or {'wrong', status, attempts left}.
local now, retention, cooldown = tonumber(ARGV[1]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ev = event_args(7, 3)
local key, v = pick(ARGV[2])
if gone(v, now, retention) then
  return {'notfound'}
end
local function wrong(left)
  if left <= 0 then
    return {'wrong', 'm', 0}
  end
  return {'wrong', 'p', left}
end
local by, ended_left
if v.w then
  by, ended_left = guess(v.w)
end
if v.s == 'a' and by == ARGV[3] then
  return {'approved', ended_left or tonumber(v.a)}
end
if v.s == 'm' then
  if by == ARGV[3] and ended_left then
    return wrong(ended_left)
  end
  return {'wrong', 'm', 0}
end
if v.s then
  return {'notpending', v.s}
end
local nf = '~' .. ARGV[3]
local gen, own
if v[nf] then
  gen, own = guess(v[nf])
  redis.call('HDEL', key, nf)
  v[nf] = nil
end
if expires(v) <= now then
  return {'notpending', 'expired'}
end
local left = own or tonumber(v.a)
local function ended(status, typ)
  finish(key, v, status, now, retention, cooldown)
  redis.call('HSET', key, 'w', ARGV[3] .. ':' .. left)
  if ev then
    local hex = tohex(ARGV[2])
    v.s = status
    emit(ev, KEYS[5], typ, now, hex, v)
    redis.call('ZREM', ev.expiry, expiry_member(ev, hex))
  end
end
if ARGV[4] == '1' and gen == v.k then
  ended('a', 'verification.approved')
  return {'approved', left}
end
if tonumber(v.a) <= 0 and not inflight(v) then
  ended('m', 'verification.max_attempts_reached')
end
return wrong(left)
