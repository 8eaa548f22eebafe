-- Verifies the sends of an approved verification and counts its approval.
-- KEYS: v:<id>. ARGV: the budgets' key prefix ("otp:{fg}:"), id, now,
--   today and the first day of the 15 kept (yyyymmdd).
-- The per-send keys are named here from each reservation record: they
-- share v's hash tag, so this stays on one Cluster slot. v goes with the
-- approval, so a second approval finds no send and counts nothing.
-- Returns 1 when it counted an approval.
local fg, id, now, today, since = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local tokens = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
local cc, prefix, ips = nil, nil, {}
for _, token in ipairs(tokens) do
  local t = fg .. 't:' .. token
  local r = redis.call('HMGET', t, 'c', 'p', 'i')
  if r[1] then
    cc, prefix = r[1], r[2]
    redis.call('ZREM', fg .. 'uc:' .. cc, token)
    redis.call('ZREM', fg .. 'up:' .. prefix, token)
    if r[3] ~= '' then
      redis.call('ZREM', fg .. 'ui:' .. r[3], cc .. '|' .. token)
      ips[r[3]] = true
    end
    redis.call('DEL', t)
  end
end
if cc == nil then
  return 0
end
window_add(fg .. 'ac:' .. cc, id, now, DAY)
window_add(fg .. 'ap:' .. prefix, id, now, DAY)
for ip in pairs(ips) do
  window_add(fg .. 'ai:' .. ip, cc, now, DAY)
end
local ad = fg .. 'ad:' .. cc
redis.call('HINCRBY', ad, today, 1)
local old = {}
for _, day in ipairs(redis.call('HKEYS', ad)) do
  if day < since then
    old[#old + 1] = day
  end
end
if #old > 0 then
  redis.call('HDEL', ad, unpack(old))
end
redis.call('PEXPIRE', ad, 15 * DAY)
return 1
