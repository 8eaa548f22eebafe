-- KEYS[1] verification. ARGV: now, nonce.
-- Uses one attempt for the guess named by nonce, once however often it is
-- run. Returns {'notfound'}, {'notpending', status} or
-- {'ok', code hash, attempts left}.
local now = tonumber(ARGV[1])
local v = hmap(KEYS[1])
if gone(v, now) then
  return {'notfound'}
end
local nf = '~' .. ARGV[2]
if v[nf] and v.s == 'p' then
  return {'ok', v.h, tonumber(v.a)}
end
if v.s ~= 'p' then
  return {'notpending', v.s}
end
if tonumber(v.e) <= now then
  return {'notpending', 'expired'}
end
local left = tonumber(v.a)
if left <= 0 then
  -- Concurrent guesses hold the last attempts: to this one the
  -- verification is out of attempts, whatever they find.
  return {'notpending', 'm'}
end
redis.call('HSET', KEYS[1], 'a', left - 1, nf, v.g)
return {'ok', v.h, left - 1}
