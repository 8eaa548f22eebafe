-- Shared by every script (store.go puts it in front of each one).
--
-- Times are milliseconds of the service's clock, passed in as ARGV, never
-- Redis TIME, so a test clock rules expiry. Key TTLs are set relative to that
-- clock; field x ("gone at") is the logical end of a verification, checked by
-- every script in case the clock runs ahead of Redis' own.
--
-- Verification hash fields: s status (p pending, a approved, c canceled,
-- m max attempts), c created, e expires, a attempts left, k sends, l last
-- sent, h code hash, g code generation, f finished, w approving nonce,
-- m message id, x gone at, lc/lp/ln lookup, d/du delivery, ~<nonce> the code
-- generation a reserved guess was made against ("-" once resolved).
--
-- Phone hash fields: i newest verification id, r resend allowed at, t/u/q
-- token, hold-until and previous r of a send in flight, lc/lp/ln/lx cached
-- lookup and its end.

local function hmap(key)
  local flat = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #flat, 2 do
    h[flat[i]] = flat[i + 1]
  end
  return h, flat
end

local function gone(v, now)
  return v.x == nil or tonumber(v.x) <= now
end

-- extend makes key live at least ms more, never less.
local function extend(key, ms)
  if ms < 1 then
    ms = 1
  end
  local cur = redis.call('PTTL', key)
  if cur < ms then
    redis.call('PEXPIRE', key, ms)
  end
end

-- finish ends a verification: the code hash and the guess records go, and
-- the hash stays readable for retention from now.
local function finish(key, v, status, now, retention)
  local drop = {'h'}
  for f in pairs(v) do
    if string.sub(f, 1, 1) == '~' then
      drop[#drop + 1] = f
    end
  end
  redis.call('HDEL', key, unpack(drop))
  redis.call('HSET', key, 's', status, 'f', now, 'x', now + retention)
  redis.call('PEXPIRE', key, retention)
end
