-- ARGV: nonce, now, factor hex, record, sealed secret, when it goes
-- unverified, max factors, created event type and data, event arguments.
-- Stores a new unverified factor: {'ok'}, or {'limit'} when the identity
-- holds max live factors already.
local nonce, now = arg(), tonumber(arg())
local hex, rec, secret, expires, max = arg(), arg(), arg(), arg(), tonumber(arg())
local typ, data = arg(), arg()
local ev = event_args(argi + 1, 3)
local done = replay(nonce)
if done then
  return done
end
local h = open(now)
local answer = {'limit'}
if #fields(h, 'f:') < max then
  put(h, 'f:' .. hex, rec, 's:' .. hex, secret, 'x:' .. hex, expires)
  record(ev, typ, data, now)
  answer = remember(nonce, {'ok'})
end
settle(h, now)
return answer
