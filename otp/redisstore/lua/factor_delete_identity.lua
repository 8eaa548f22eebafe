-- ARGV: nonce, now, events (a count, then id, type and data of each),
-- event arguments.
-- Deletes everything of the identity, its refused codes included, and
-- records the events: {'ok'}, or {'notfound'} when it holds no factor
-- and no recovery code. The memo key stays, its own memo and those of
-- earlier runs, which a resend of one of them still needs.
local nonce, now, evs = arg(), tonumber(arg()), list(3)
local ev = event_args(argi + 1, 3)
local done = replay(nonce)
if done then
  return done
end
local h = open(now)
if #fields(h, 'f:') == 0 and #fields(h, 'r:') == 0 then
  settle(h, now)
  return {'notfound'}
end
redis.call('DEL', KEYS[1])
for _, e in ipairs(evs) do
  if ev then
    ev.id = e[1]
  end
  record(ev, e[2], e[3], now)
end
return remember(nonce, {'ok'})
