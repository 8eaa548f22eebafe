-- ARGV: nonce, now, the sealed key, its HMACs (a count, then each).
-- Makes them the identity's recovery codes, the old ones gone: {'ok'}, or
-- {'notfound'} when it holds no verified factor.
local nonce, now = arg(), tonumber(arg())
local key, hmacs = arg(), list(1)
local done = replay(nonce)
if done then
  return done
end
local h = open(now)
local answer = {'notfound'}
if #fields(h, 'v:') > 0 then
  store_codes(h, key, hmacs)
  answer = remember(nonce, {'ok'})
end
settle(h, now)
return answer
