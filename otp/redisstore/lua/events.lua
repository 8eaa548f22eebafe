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
--   H when it was recorded, on the service's clock: the deliverer retries
--     it for 24 h from then, so a verification's events all end within
--     24 h of being recorded, however long they waited behind each other
--
-- An event of an identity's factors (emit_raw) carries its data already
-- rendered instead of a snapshot: E Y T N H as above, N being "f:" and the
-- identity, V the 32 zeros of NO_ID, and D the data (JSON). Its identity's
-- events form one queue, named by NO_ID, as a verification's do.
--
-- Only one event of a verification is in the stream at a time. The
-- verification's queue key (a list) exists while one is: its head is that
-- entry's id and the rest are the events waiting behind it, their field
-- lists as JSON arrays, which cjson writes in a fraction of the time Lua
-- takes to join them. Done pops the next one into the stream.
--
-- The outbox is bounded, so that a receiver that is down never makes Redis
-- grow until it refuses writes: an event that would make the partition's
-- stream hold more than max_heads entries (one per verification with an
-- event out), or its verification's queue more than MAX_WAITING waiting
-- events, is not recorded but counted, by type, in the partition's
-- refused hash, which Stats takes. The change itself always commits.

local GROUP = 'otpgate'
-- A queue outlives the 24 h an event is retried for, renewed on each push,
-- release and retry, so it only expires with no deliverer left to do it.
local QUEUE_TTL = 25 * 3600 * 1000
local SNAPSHOT = {'s', 'c', 'e', 'n', 'r', 'a', 'k', 'm', 'g', 'x', 'd', 'du', 'l'}

-- MAX_WAITING bounds the events waiting behind a verification's one out;
-- a verification makes about 20 in all.
local MAX_WAITING = 16

-- event_args reads the event arguments from ARGV[ai] on (event id, number,
-- ttl, cooldown, retention, max heads, now) and the stream and expiry keys
-- from KEYS[ki] on; the refused hash is the last key. Nil when the caller
-- records no events.
local function event_args(ai, ki)
  if (ARGV[ai] or '') == '' then
    return nil
  end
  return {id = ARGV[ai], number = ARGV[ai + 1], ttl = ARGV[ai + 2], cooldown = ARGV[ai + 3],
    retention = tonumber(ARGV[ai + 4]), max_heads = tonumber(ARGV[ai + 5]), now = ARGV[ai + 6],
    stream = KEYS[ki], expiry = KEYS[ki + 1], refused = KEYS[#KEYS]}
end

local function tohex(raw)
  return string.format(string.rep('%02x', #raw), string.byte(raw, 1, -1))
end

-- expiry_member names verification hex_id in the expiry zset.
local function expiry_member(ev, hex_id)
  return ev.number .. ':' .. hex_id
end

-- ACTIVE is the member of the expiry zset, always due, that marks a
-- partition whose stream holds entries or whose refused hash holds counts,
-- so one ZCOUNT per Cluster slot finds every slot with work.
local ACTIVE = '~'

-- xadd appends fields to stream, creating the stream with its group first,
-- and marks it active in expiry: on every entry, so that a mark lost
-- somehow comes back with the next one.
local function xadd(stream, expiry, fields)
  if redis.call('EXISTS', stream) == 0 then
    redis.call('XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM')
  end
  redis.call('ZADD', expiry, 'NX', 0, ACTIVE)
  return redis.call('XADD', stream, '*', unpack(fields))
end

-- refuse counts an event of type typ the outbox had no room for.
local function refuse(ev, typ)
  redis.call('HINCRBY', ev.refused, typ, 1)
  redis.call('ZADD', ev.expiry, 'NX', 0, ACTIVE)
end

-- enqueue records the event of fields f, of type typ, into the stream if
-- none of its queue's events is out, else behind the one that is; if there
-- is no room, it counts it as refused instead.
local function enqueue(ev, queue, typ, f)
  -- The queue holds the id of the entry out, then the waiting events.
  local held = redis.call('LLEN', queue)
  if held > MAX_WAITING or (held == 0 and redis.call('XLEN', ev.stream) >= ev.max_heads) then
    refuse(ev, typ)
    return
  end
  if held > 0 then
    redis.call('RPUSH', queue, cjson.encode(f))
  else
    redis.call('RPUSH', queue, xadd(ev.stream, ev.expiry, f))
  end
  redis.call('PEXPIRE', queue, QUEUE_TTL)
end

-- emit records event typ of verification hex_id, whose fields are v, as
-- happened at at.
local function emit(ev, queue, typ, at, hex_id, v)
  local f = {'E', ev.id, 'Y', typ, 'T', tostring(at), 'N', ev.number, 'V', hex_id,
    'L', ev.ttl, 'O', ev.cooldown, 'R', tostring(ev.retention), 'H', ev.now}
  for _, k in ipairs(SNAPSHOT) do
    if v[k] then
      f[#f + 1] = k
      f[#f + 1] = v[k]
    end
  end
  enqueue(ev, queue, typ, f)
end

-- NO_ID names the queue of an identity's factor events, and is their V.
local NO_ID = string.rep('0', 32)

-- emit_raw records event typ of ev.number (an identity's "f:<identity>"),
-- as happened at at, with its data rendered by the caller, into queue.
local function emit_raw(ev, queue, typ, at, data)
  enqueue(ev, queue, typ, {'E', ev.id, 'Y', typ, 'T', tostring(at), 'N', ev.number, 'V', NO_ID,
    'H', ev.now, 'D', data})
end
