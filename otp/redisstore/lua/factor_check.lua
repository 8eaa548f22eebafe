-- ARGV: nonce, now, max attempts, window (ms), the hex of the factor to
-- verify ('' for a challenge), candidates (a count, then hex, step,
-- approved event type and data of each), reseals (a count, then field,
-- old and new sealed value of each), the recovery key to store ('' for
-- none) and its HMACs (a count, then each), denied event type and data,
-- event arguments.
-- Decides on one code (factor.Store.Check): {'locked', window end};
-- {'notfound'} or {'verified'} for a verification of a factor unknown or
-- verified; else {'ok', valid 0/1, accepted hex or '', replayed 0/1,
-- recovery stored 0/1, 0, attempts left}. The first candidate of an
-- eligible factor whose step is after the factor's last is accepted; a
-- candidate at or before it is a replay; none accepted counts a refusal.
-- An accepted code leaves the refused ones of the window counted.
local nonce, now = arg(), tonumber(arg())
local max, win, vhex = tonumber(arg()), tonumber(arg()), arg()
local candidates, reseals = list(4), list(3)
local rkey, hmacs = arg(), list(1)
local dtyp, ddata = arg(), arg()
local ev = event_args(argi + 1, 3)
local done = replay(nonce)
if done then
  return done
end
local h = open(now)

local function eligible(hex)
  if not h['f:' .. hex] then
    return false
  end
  if vhex ~= '' then
    return hex == vhex
  end
  return h['v:' .. hex] ~= nil
end

local function decide()
  local til = locked(h, now, max)
  if til then
    return {'locked', til}
  end
  if vhex ~= '' then
    if not h['f:' .. vhex] then
      return {'notfound'}
    end
    if h['v:' .. vhex] then
      return {'verified'}
    end
  end
  local replayed = 0
  for _, c in ipairs(candidates) do
    local hex, step = c[1], tonumber(c[2])
    if eligible(hex) then
      local last = tonumber(h['t:' .. hex])
      if last == nil or step > last then
        put(h, 't:' .. hex, c[2], 'u:' .. hex, string.format('%d', now))
        local stored = 0
        if vhex ~= '' then
          put(h, 'v:' .. hex, string.format('%d', now))
          drop(h, {'x:' .. hex})
          if rkey ~= '' and #fields(h, 'r:') == 0 then
            store_codes(h, rkey, hmacs)
            stored = 1
          end
        end
        reseal(h, reseals)
        record(ev, c[3], c[4], now)
        return remember(nonce, {'ok', 1, hex, 0, stored, 0, attempts_left(h, now, max)})
      end
      replayed = 1
    end
  end
  local left = count_refusal(h, now, max, win)
  record(ev, dtyp, ddata, now)
  return remember(nonce, {'ok', 0, '', replayed, 0, 0, left})
end

local answer = decide()
settle(h, now)
return answer
