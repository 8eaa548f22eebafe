-- ARGV: nonce, now, max attempts, window (ms), the code's HMAC (hex), the
-- sealed key it was made with, reseals (a count, then field, old and new
-- of each), used event type and data, denied event type and data, event
-- arguments.
-- Spends one recovery code, if key is still the identity's and the code
-- unspent: {'ok', 1, '', 0, 0, codes left, attempts left}; else counts a
-- refusal: {'ok', 0, '', 0, 0, 0, attempts left}. Locked as Check.
local nonce, now = arg(), tonumber(arg())
local max, win, hmac, key = tonumber(arg()), tonumber(arg()), arg(), arg()
local reseals = list(3)
local utyp, udata, dtyp, ddata = arg(), arg(), arg(), arg()
local ev = event_args(argi + 1, 3)
local done = replay(nonce)
if done then
  return done
end
local h = open(now)

local function decide()
  local til = locked(h, now, max)
  if til then
    return {'locked', til}
  end
  if key ~= '' and h.rk == key and h['r:' .. hmac] then
    drop(h, {'r:' .. hmac})
    reseal(h, reseals)
    record(ev, utyp, udata, now)
    return remember(nonce, {'ok', 1, '', 0, 0, #fields(h, 'r:'), attempts_left(h, now, max)})
  end
  local left = count_refusal(h, now, max, win)
  record(ev, dtyp, ddata, now)
  return remember(nonce, {'ok', 0, '', 0, 0, 0, left})
end

local answer = decide()
settle(h, now)
return answer
