-- Shared by every script (store.go puts it in front of each one).
--
-- One hash per phone number, otp:{<number>}, holds the number's state and
-- its current verification; when a new verification replaces one that is
-- still readable, the old one moves to otp:{<number>}:<hex id> (same hash
-- tag, so every script stays on one Cluster slot). Fields are one or two
-- letters and values are compact because a pending verification must fit
-- in 460 bytes of MEMORY USAGE with its indexes (TestMemoryUsage):
--
--   i   current verification id, 16 raw bytes
--   t u token and hold-until of a send in flight
--   l   lookup "carrier<US>ported<US>network"; lx until when it is a valid cache
--   s   status: absent while pending, else a approved, c canceled, m max attempts
--   c   created at; e expires at, as an offset from c
--   n   the TTL the latest resend was made with, so that it went out n
--       before the expiry c+e; a first send went out at c and needs none.
--       It is counted back from the expiry, not on from c, because a
--       version that does not know n rewrites e but leaves n, which is then
--       off by the difference of the two TTLs at most. Verifications resent
--       before n was kept lack it; the reader's TTL stands in for it then.
--   r   when each resend but the latest (which went out at c+e-n) went
--       out, as offsets from c, comma separated, oldest first; absent
--       until the second resend, so that one resend costs no memory. A
--       resend without n is missing from it.
--   a   attempts left; k sends, which also names the current code
--   h   code hash; m upstream message id of the latest SMS; g its sender
--   x   gone at (set once finished; a pending one is gone at c+e+retention)
--   w   nonce of the guess that approved it or ran out of attempts
--       ("<nonce>:<attempts left>"), or "!<nonce>" of the request that
--       approved or canceled it without a code (a bare nonce: canceled by
--       an older version), so a retried script knows it applied; the forms
--       never match each other's nonce; d du delivery status and time
--   ~<nonce>  a guess being compared: "<k>:<attempts left>", the code it
--       was reserved against and the attempts its reservation left, which
--       is what it answers (a bare k was written by an older version); it
--       goes once the guess is resolved, to keep the hash small
--
-- Events (lua/events.lua) add no field here: they live in a stream with
-- its retry, attempts and expiry keys (otp:e, otp:er, otp:ea, otp:ex, on a
-- Cluster one set per slot, otp:e:{<tag>} ...) and, while one of a
-- verification is out, in its queue otp:{<number>}:q:<hex id>.
--
-- Times are milliseconds of the service's clock, passed in as ARGV, never
-- Redis TIME, so a test clock rules expiry. Key TTLs follow the same clock.

local VFIELDS = {'s', 'c', 'e', 'n', 'r', 'a', 'k', 'h', 'm', 'g', 'x', 'w', 'd', 'du', 'l'}

local function hmap(key)
  local flat = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #flat, 2 do
    h[flat[i]] = flat[i + 1]
  end
  return h, flat
end

local function expires(v)
  return tonumber(v.c) + tonumber(v.e)
end

-- sent_at is when the latest code of v went out; ttl is the reader's.
local function sent_at(v, ttl)
  if tonumber(v.k) == 1 then
    return tonumber(v.c)
  end
  return expires(v) - (tonumber(v.n) or ttl)
end

local function gone_at(v, retention)
  if v.x then
    return tonumber(v.x)
  end
  return expires(v) + retention
end

local function gone(v, now, retention)
  return v.c == nil or gone_at(v, retention) <= now
end

-- settle gives key the TTL its latest-living field needs, or deletes it.
local function settle(key, v, now, retention, floor)
  local til = floor or 0
  if v.c then
    til = math.max(til, gone_at(v, retention))
  end
  if v.u then
    til = math.max(til, tonumber(v.u))
  end
  if v.lx then
    til = math.max(til, tonumber(v.lx))
  end
  if til <= now then
    redis.call('DEL', key)
  else
    redis.call('PEXPIRE', key, til - now)
  end
end

-- extend makes key live at least until til, never shorter.
local function extend(key, til, now)
  if redis.call('PTTL', key) < til - now then
    redis.call('PEXPIRE', key, til - now)
  end
end

-- pick returns the key and fields of verification id: the number's
-- current one (KEYS[1]) or an archived one (KEYS[2]).
local function pick(id)
  local p = hmap(KEYS[1])
  if p.i == id then
    return KEYS[1], p
  end
  return KEYS[2], hmap(KEYS[2])
end

-- finish ends a verification: the code hash and the guesses in flight go,
-- and it stays readable for retention from now. Retention bounds reads
-- only: the number's own hash also holds the send time its cooldown runs
-- from, so it lives until that cooldown ends, however short retention is.
-- An old resend without n counts from its expiry, which is later.
local function finish(key, v, status, now, retention, cooldown)
  local drop = {'h'}
  for f in pairs(v) do
    if string.sub(f, 1, 1) == '~' then
      drop[#drop + 1] = f
    end
  end
  redis.call('HDEL', key, unpack(drop))
  redis.call('HSET', key, 's', status, 'x', now + retention)
  v.x = tostring(now + retention)
  local floor
  if key == KEYS[1] then
    floor = sent_at(v, 0) + cooldown
  end
  settle(key, v, now, retention, floor)
end

local function inflight(v)
  for f in pairs(v) do
    if string.sub(f, 1, 1) == '~' then
      return true
    end
  end
  return false
end

-- guess reads a ~<nonce> field: the k it was reserved against and the
-- attempts its reservation left (nil when an older version wrote it).
local function guess(field)
  local sep = string.find(field, ':', 1, true)
  if sep == nil then
    return field, nil
  end
  return string.sub(field, 1, sep - 1), tonumber(string.sub(field, sep + 1))
end
