-- Events, shared by every script after common.lua (see the package doc,
-- "Events"). A script records an event only when its caller passed an
-- event id, which the store does with WithEvents; without one it writes
-- no event key at all.
--
-- An event is a stream entry of meta fields (upper case) and a snapshot of
-- the verification's fields just after the change (lower case, as in the
-- table of common.lua, without the code hash h and the nonce w):
--
--   E event id (32 hex)   Y type        T when it happened
--   N number              V verification id (32 hex)
--   L O R the TTL, cooldown and retention the snapshot renders with
--   H when it became deliverable (the one before it was done)
--
-- Only one event of a verification is in the stream at a time. The
-- verification's queue key (a list) exists while one is: its head is that
-- entry's id and the rest are the events waiting behind it, their field
-- lists (without H) as JSON arrays, which cjson writes in a fraction of
-- the time Lua takes to join them. Done pops the next one into the stream.

local GROUP = 'otpgate'
-- A queue outlives the 24 h an event is retried for, renewed on each push,
-- release and retry, so it only expires with no deliverer left to do it.
local QUEUE_TTL = 25 * 3600 * 1000
local SNAPSHOT = {'s', 'c', 'e', 'n', 'r', 'a', 'k', 'm', 'g', 'x', 'd', 'du', 'l'}

-- event_args reads the event arguments from ARGV[ai] on (event id, number,
-- ttl, cooldown, retention) and the stream and expiry keys from KEYS[ki]
-- on; nil when the caller records no events.
local function event_args(ai, ki)
  if (ARGV[ai] or '') == '' then
    return nil
  end
  return {id = ARGV[ai], number = ARGV[ai + 1], ttl = ARGV[ai + 2], cooldown = ARGV[ai + 3],
    retention = tonumber(ARGV[ai + 4]), stream = KEYS[ki], expiry = KEYS[ki + 1]}
end

local function tohex(raw)
  return string.format(string.rep('%02x', #raw), string.byte(raw, 1, -1))
end

-- expiry_member names verification hex_id in the expiry zset.
local function expiry_member(ev, hex_id)
  return ev.number .. ':' .. hex_id
end

-- ACTIVE is the member of the expiry zset, always due, that marks a
-- stream holding entries, so one ZCOUNT per Cluster slot finds every slot
-- with work.
local ACTIVE = '~'

-- xadd appends fields to stream, creating the stream with its group first,
-- and marks it active in expiry.
local function xadd(stream, expiry, fields)
  if redis.call('EXISTS', stream) == 0 then
    redis.call('XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM')
  end
  if redis.call('XLEN', stream) == 0 then
    redis.call('ZADD', expiry, 0, ACTIVE)
  end
  return redis.call('XADD', stream, '*', unpack(fields))
end

-- emit records event typ of verification hex_id, whose fields are v, as
-- happened at at: into the stream if none of the verification's events is
-- out, else behind the one that is.
local function emit(ev, queue, typ, at, hex_id, v)
  local f = {'E', ev.id, 'Y', typ, 'T', tostring(at), 'N', ev.number, 'V', hex_id,
    'L', ev.ttl, 'O', ev.cooldown, 'R', tostring(ev.retention)}
  for _, k in ipairs(SNAPSHOT) do
    if v[k] then
      f[#f + 1] = k
      f[#f + 1] = v[k]
    end
  end
  if redis.call('EXISTS', queue) == 1 then
    redis.call('RPUSH', queue, cjson.encode(f))
  else
    f[#f + 1] = 'H'
    f[#f + 1] = tostring(at)
    redis.call('RPUSH', queue, xadd(ev.stream, ev.expiry, f))
  end
  redis.call('PEXPIRE', queue, QUEUE_TTL)
end
