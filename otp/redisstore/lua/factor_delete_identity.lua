-- ARGV: nonce, now, events (a count, then id, type and data of each),
-- event arguments.
-- Deletes everything of the identity, its refused codes included, and
-- records the events: {'ok'}, or {'notfound'} when it holds no factor
-- and no recovery code. Only the memos are left, its own and those of
-- earlier runs, which a resend of one of them still needs.
local nonce, now, evs = arg(), tonumber(arg()), list(3)
local ev = event_args(argi + 1, 2)
local done = replay(nonce)
if done then
  return done
end
local h = open(now)
local answer = {'notfound'}
if #fields(h, 'f:') > 0 or #fields(h, 'r:') > 0 then
  local gone = {}
  for f in pairs(h) do
    if string.sub(f, 1, 2) ~= 'w:' then
      gone[#gone + 1] = f
    end
  end
  drop(h, gone)
  for _, e in ipairs(evs) do
    if ev then
      ev.id = e[1]
    end
    record(ev, e[2], e[3], now)
  end
  answer = remember(h, nonce, now, {'ok'})
end
settle(h, now)
return answer
