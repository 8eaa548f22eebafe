-- KEYS[1] number hash, KEYS[2] archive key of the verification.
-- ARGV: now, id, nonce, retention.
-- Uses one attempt for the guess named by nonce, once however often it is
-- run; the guess owns that attempt, and the attempts left after it are
-- what it answers. Returns {'notfound'}, {'notpending', status} or
-- {'ok', code hash, attempts left}.
local now, retention = tonumber(ARGV[1]), tonumber(ARGV[4])
local key, v = pick(ARGV[2])
if gone(v, now, retention) then
  return {'notfound'}
end
local nf = '~' .. ARGV[3]
if v[nf] and v.s == nil then
  local _, own = guess(v[nf])
  return {'ok', v.h, own or tonumber(v.a)}
end
if v.s then
  return {'notpending', v.s}
end
if expires(v) <= now then
  return {'notpending', 'expired'}
end
local left = tonumber(v.a)
if left <= 0 then
  -- Concurrent guesses hold the last attempts: to this one the
  -- verification is out of attempts, whatever they find.
  return {'notpending', 'm'}
end
redis.call('HSET', key, 'a', left - 1, nf, v.k .. ':' .. (left - 1))
return {'ok', v.h, left - 1}
