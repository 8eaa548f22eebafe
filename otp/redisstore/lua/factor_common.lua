-- Shared by the scripts of factors (factors.go puts lua/events.lua and
-- this in front of each one). One hash per identity, otp:{f:<identity>}
-- (KEYS[1]), holds its state, and otp:{f:<identity>}:w (KEYS[2]) the
-- memos of its runs, so every decision is one script on one Cluster slot:
-- the slot of the identity's event partition and queue, which follow as
-- KEYS[3] stream, KEYS[4] expiry zset, KEYS[5] queue and KEYS[6] refused
-- hash when the store records events.
--
--   f:<hex>  a factor's record, JSON written by Go; never changes
--   s:<hex>  its sealed secret (raw bytes; a reseal replaces it)
--   x:<hex>  ms when it goes while unverified; deleted when verified
--   v:<hex>  ms it was verified at
--   t:<hex>  the time step of its last accepted code; u:<hex> ms of that
--   rk       the sealed key of the recovery codes' HMACs
--   r:<hmac> one per unspent recovery code, the HMAC in hex (value 1)
--   af aw    refused codes in the window, and ms the window ends
--
-- The memo key maps the nonce of each run that changed something to its
-- answer as JSON, so that a run go-redis sends again after a lost reply
-- answers as the first did instead of deciding anew, even after other
-- runs (a refused code counted twice, a spent recovery code answered
-- invalid, a delete that finds nothing). It lives apart so that no run
-- and no Load reads the memos beside the state.
--
-- <hex> is the 32 hex digits of a factor id. Times are ms of the service's
-- clock, never Redis TIME. Every script first drops the unverified
-- factors whose x is past, and at its end gives the hash its TTL
-- (settle): none while a verified factor or recovery codes are kept, else
-- until the last of the unverified factors and the window ends.
--
-- Each script takes ARGV nonce and now, then its own arguments, then the
-- event arguments of events.lua; it reads them in order with arg().

local FACTOR_PARTS = {'f:', 's:', 'x:', 'v:', 't:', 'u:'}
-- MEMO_TTL is how long the memo key outlives its last memo: longer than
-- go-redis goes on sending a script again (3 tries of at most ~8 s: pool,
-- dial, write and read timeouts). Redis's clock keeps it, not the
-- service's, so replicas whose clocks differ keep the same memos.
local MEMO_TTL = 60000

local argi = 0
local function arg()
  argi = argi + 1
  return ARGV[argi]
end

-- list reads a count and then that many items of width arguments each.
local function list(width)
  local out = {}
  for i = 1, tonumber(arg()) do
    local item = {}
    for j = 1, width do
      item[j] = arg()
    end
    out[i] = item
  end
  return out
end

-- replay returns the answer of the run this one repeats, or nil.
local function replay(nonce)
  local w = redis.call('HGET', KEYS[2], nonce)
  if w then
    return cjson.decode(w)
  end
  return nil
end

-- put sets fields (name, value, ...) in the hash and in its copy h.
local function put(h, ...)
  local kv = {...}
  for i = 1, #kv, 2 do
    h[kv[i]] = kv[i + 1]
  end
  redis.call('HSET', KEYS[1], ...)
end

-- drop deletes fields from the hash and from its copy h.
local function drop(h, fields)
  if #fields == 0 then
    return
  end
  for _, f in ipairs(fields) do
    h[f] = nil
  end
  redis.call('HDEL', KEYS[1], unpack(fields))
end

-- open reads the hash, less the unverified factors that expired by now,
-- which it deletes.
local function open(now)
  local h = {}
  local flat = redis.call('HGETALL', KEYS[1])
  for i = 1, #flat, 2 do
    h[flat[i]] = flat[i + 1]
  end
  local gone = {}
  for f, v in pairs(h) do
    if string.sub(f, 1, 2) == 'x:' and tonumber(v) <= now then
      local hex = string.sub(f, 3)
      for _, p in ipairs(FACTOR_PARTS) do
        if h[p .. hex] then
          gone[#gone + 1] = p .. hex
        end
      end
    end
  end
  drop(h, gone)
  return h
end

-- fields lists the names in h that start with p ('f:', 'r:' ...).
local function fields(h, p)
  local out = {}
  for f in pairs(h) do
    if string.sub(f, 1, #p) == p then
      out[#out + 1] = f
    end
  end
  return out
end

-- remember keeps answer as the memo of the run of nonce, and returns it.
-- Each memo renews the key's TTL, and only a run that changed something
-- writes one (a locked run writes none), so the key holds the identity's
-- decided codes and changes since it was last a minute quiet: accepted
-- codes are one per factor and time step, refused ones at most the
-- attempts of a window.
local function remember(nonce, answer)
  redis.call('HSET', KEYS[2], nonce, cjson.encode(answer))
  redis.call('PEXPIRE', KEYS[2], MEMO_TTL)
  return answer
end

-- settle gives the key its TTL: none while it keeps a verified factor,
-- a key or recovery codes, else until what it holds ends; it deletes a
-- key that holds nothing living.
local function settle(h, now)
  if #fields(h, 'v:') > 0 or #fields(h, 'r:') > 0 or h.rk then
    redis.call('PERSIST', KEYS[1])
    return
  end
  local til = 0
  for _, f in ipairs(fields(h, 'x:')) do
    til = math.max(til, tonumber(h[f]))
  end
  if h.aw then
    til = math.max(til, tonumber(h.aw))
  end
  if til <= now then
    redis.call('DEL', KEYS[1])
  else
    redis.call('PEXPIRE', KEYS[1], til - now)
  end
end

-- window returns the refused codes of the window running at now and its
-- end; none (0, 0) when it ended.
local function window(h, now)
  local af, aw = tonumber(h.af) or 0, tonumber(h.aw) or 0
  if aw <= now then
    return 0, 0
  end
  return af, aw
end

-- locked returns when the window ends if the identity used up its refused
-- codes, else nil.
local function locked(h, now, max)
  local af, aw = window(h, now)
  if af >= max then
    return aw
  end
  return nil
end

local function attempts_left(h, now, max)
  local af = window(h, now)
  return math.max(max - af, 0)
end

-- count_refusal counts a refused code, in a new window if none runs, and
-- returns the attempts left.
local function count_refusal(h, now, max, win)
  local af, aw = window(h, now)
  if aw == 0 then
    af, aw = 0, now + win
  end
  put(h, 'af', tostring(af + 1), 'aw', string.format('%d', aw))
  return attempts_left(h, now, max)
end

-- reseal applies each {field, old, new} whose field still holds old.
local function reseal(h, reseals)
  for _, r in ipairs(reseals) do
    if h[r[1]] ~= nil and h[r[1]] == r[2] then
      put(h, r[1], r[3])
    end
  end
end

-- store_codes makes key and the HMACs hmacs ({{hmac}, ...}) the
-- identity's recovery codes, the old ones gone.
local function store_codes(h, key, hmacs)
  drop(h, fields(h, 'r:'))
  local kv = {'rk', key}
  for _, m in ipairs(hmacs) do
    kv[#kv + 1] = 'r:' .. m[1]
    kv[#kv + 1] = '1'
  end
  put(h, unpack(kv))
end

-- record records event typ with data at now, if events are recorded and
-- the caller gave one.
local function record(ev, typ, data, now)
  if ev and typ ~= '' then
    emit_raw(ev, KEYS[5], typ, now, data)
  end
end
