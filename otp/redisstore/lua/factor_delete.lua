-- ARGV: nonce, now, factor hex, deleted event type and data, event
-- arguments.
-- Deletes a factor, and with the last verified one the recovery codes and
-- their key: {'ok'}, or {'notfound'} for a factor it does not hold.
local nonce, now, hex = arg(), tonumber(arg()), arg()
local typ, data = arg(), arg()
local ev = event_args(argi + 1, 3)
local done = replay(nonce)
if done then
  return done
end
local h = open(now)
local answer = {'notfound'}
if h['f:' .. hex] then
  local gone = {}
  for _, p in ipairs(FACTOR_PARTS) do
    gone[#gone + 1] = p .. hex
  end
  drop(h, gone)
  if #fields(h, 'v:') == 0 then
    local codes = fields(h, 'r:')
    codes[#codes + 1] = 'rk'
    drop(h, codes)
  end
  record(ev, typ, data, now)
  answer = remember(nonce, {'ok'})
end
settle(h, now)
return answer
