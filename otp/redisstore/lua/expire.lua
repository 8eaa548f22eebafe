-- KEYS[1] stream, KEYS[2] expiry zset, KEYS[3] refused hash.
-- ARGV: now, key prefix, ttl, cooldown, retention, max heads (the event
-- arguments of events.lua), a random seed (32 hex) and the batch size.
-- Takes up to batch members of the expiry zset due by now, lowest
-- first, and records verification.expired, at its expiry, for each whose
-- verification is still pending past it, once: the member goes with it.
-- A member whose verification ended or is gone just goes; one that was
-- resent meanwhile gets its new expiry back (each send sets it, so this
-- only mends a send made without events). The keys of each verification
-- are named from its member, which the caller cannot know before the
-- script reads it; they share the partition's Cluster slot, as a number's
-- events go to its own slot. The k-th event's id is the first 32 hex
-- digits of SHA-1 of the seed and k: as unique and unguessable as the
-- seed, which Go draws per call, without 128 ids travelling to each idle
-- Cluster slot. Returns how many members it read, the active mark
-- included: as many as batch means there may be more.
local now, prefix, retention = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[5])
local seed, batch = ARGV[7], tonumber(ARGV[8])
local members = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, batch)
local used = 0
for _, m in ipairs(members) do
  local number, hex = string.match(m, '^(.+):(%x+)$')
  if m == ACTIVE then
    -- The mark of a stream with entries, always due.
  elseif not number or #hex ~= 32 or string.find(number, '[{}]') then
    -- Not written by this store; it would come back every time.
    redis.call('ZREM', KEYS[2], m)
  else
    local raw = string.gsub(hex, '..', function(c) return string.char(tonumber(c, 16)) end)
    local own = prefix .. '{' .. number .. '}'
    local v = hmap(own)
    if v.i ~= raw then
      v = hmap(own .. ':' .. hex)
    end
    if v.c and not v.s and expires(v) > now then
      redis.call('ZADD', KEYS[2], expires(v), m)
    else
      redis.call('ZREM', KEYS[2], m)
      if not (v.c == nil or v.s or gone(v, now, retention)) then
        used = used + 1
        local ev = {id = string.sub(redis.sha1hex(seed .. ':' .. used), 1, 32), number = number, ttl = ARGV[3], cooldown = ARGV[4],
          retention = retention, max_heads = tonumber(ARGV[6]), now = ARGV[1],
          stream = KEYS[1], expiry = KEYS[2], refused = KEYS[3]}
        emit(ev, own .. ':q:' .. hex, 'verification.expired', expires(v), hex, v)
      end
    end
  end
end
return #members
