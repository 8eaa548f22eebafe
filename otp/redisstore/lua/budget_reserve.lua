-- Reserves one SMS under the static caps and the fraud guard (CONTRACT §9b).
-- KEYS: pc:<prefix>, d:<CC>:<day>, d:*:<day>, uc:<CC>, up:<prefix>,
--   ui:<ip>, ac:<CC>, ap:<prefix>, ad:<CC>, ai:<ip>, t:<token>.
-- ARGV: token, now, prefix limit, prefix window, country daily cap, all
--   countries' daily cap, ms to the next UTC midnight, guard mode, ratio,
--   floors (country day, country hour, prefix hour, ip countries), allowed
--   (1 or 0), country, prefix, client ip key, today and the first of the 14
--   days before it (yyyymmdd).
-- Returns {'prefix', reset}, {'budget', limit}, {'guard', limit, reset,
-- warnings}, {'released'} or {'ok', warnings}, warnings comma separated. It reads until
-- it has decided, so a refusal writes nothing.
local PC, DC, DA, UC, UP, UI, AC, AP, AD, AI, T = unpack(KEYS)
local token, now = ARGV[1], tonumber(ARGV[2])
local plimit, pwin = tonumber(ARGV[3]), tonumber(ARGV[4])
local cdaily, adaily, midnight = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local guard = ARGV[8] == 'record' or ARGV[8] == 'enforce'
local enforce = ARGV[8] == 'enforce' and ARGV[14] ~= '1'
local ratio = tonumber(ARGV[9])
local fday, fhour, fprefix, fip = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local cc, prefix, ip, today, since = ARGV[15], ARGV[16], ARGV[17], ARGV[18], ARGV[19]

-- A reservation released before Redis ran it (its answer was lost, so
-- the service took it back unseen) must count nothing.
if redis.call('HEXISTS', T, 'x') == 1 then
  return {'released'}
end
-- A retry of this very reservation (go-redis resends a script after a
-- dropped connection) finds its send counted and answers as it did.
if redis.call('EXISTS', T) == 1 then
  return {'ok', redis.call('HGET', T, 'w') or ''}
end
for _, key in ipairs({PC, DC, DA}) do
  if redis.call('ZSCORE', key, token) then
    return {'ok', ''}
  end
end

local function counted(key, win)
  return redis.call('ZCOUNT', key, '(' .. (now - win), '+inf')
end

-- leaves is when the k-th oldest member of key's window leaves it: then k
-- fewer are counted. With no k-th member (a threshold below 1) it is a
-- window from now. It finds the member by rank, past those that left the
-- window, since an offset into a score range costs one step per member.
local function leaves(key, win, k)
  local rank = redis.call('ZCOUNT', key, '-inf', now - win) + k - 1
  local m = redis.call('ZRANGE', key, rank, rank, 'WITHSCORES')
  if m[2] == nil then
    return now + win
  end
  return tonumber(m[2]) + win
end

if plimit > 0 then
  local n = counted(PC, pwin)
  if n >= plimit then
    return {'prefix', leaves(PC, pwin, n - plimit + 1)}
  end
end
if cdaily > 0 and redis.call('ZCARD', DC) >= cdaily then
  return {'budget', cdaily}
end
if adaily > 0 and redis.call('ZCARD', DA) >= adaily then
  return {'budget', adaily}
end

local fired, limit, reset = {}, nil, 0
local function fire(name, threshold, clears)
  fired[#fired + 1] = name
  limit = limit or math.floor(threshold)
  reset = math.max(reset, clears)
end

-- unverified fires name when this send would take the unverified sends
-- of key's window above threshold t: u + 1 > t, so u >= floor(t), and it
-- clears once u - floor(t) + 1 of them left.
local function unverified(name, key, win, t)
  local u = counted(key, win)
  if u + 1 > t then
    fire(name, t, leaves(key, win, u - math.floor(t) + 1))
  end
end

-- ip_countries counts the countries with unverified sends from ip in 24 h
-- and no approval from it, this send's included. It clears once enough of
-- the other countries' latest sends left the window.
local function ip_countries()
  local approved = {}
  for _, c in ipairs(redis.call('ZRANGEBYSCORE', AI, '(' .. (now - DAY), '+inf')) do
    approved[c] = true
  end
  local latest = {}
  local sends = redis.call('ZRANGEBYSCORE', UI, '(' .. (now - DAY), '+inf', 'WITHSCORES')
  for i = 1, #sends, 2 do
    local c = string.sub(sends[i], 1, string.find(sends[i], '|', 1, true) - 1)
    if c ~= cc and not approved[c] then
      latest[c] = tonumber(sends[i + 1])
    end
  end
  local gone = {}
  for _, at in pairs(latest) do
    gone[#gone + 1] = at + DAY
  end
  local n = #gone
  if not approved[cc] then
    n = n + 1
  end
  if n > fip then
    table.sort(gone)
    fire('ip_countries', fip, gone[n - fip] or now + DAY)
  end
end

if guard then
  local best = 0
  local days = redis.call('HGETALL', AD)
  for i = 1, #days, 2 do
    if days[i] >= since and days[i] < today then
      best = math.max(best, tonumber(days[i + 1]))
    end
  end
  local t24 = math.max(fday, ratio * best, ratio * counted(AC, DAY))
  local t1 = math.max(fhour, t24 / 6, ratio * counted(AC, HOUR))
  local tp = math.max(fprefix, ratio * counted(AP, DAY))
  unverified('country_daily', UC, DAY, t24)
  unverified('country_hourly', UC, HOUR, t1)
  unverified('prefix_hourly', UP, HOUR, tp)
  if ip ~= '' then
    ip_countries()
  end
end
local warnings = table.concat(fired, ',')
if enforce and #fired > 0 then
  return {'guard', limit, reset, warnings}
end

if plimit > 0 then
  window_add(PC, token, now, pwin)
end
for _, cap in ipairs({{DC, cdaily}, {DA, adaily}}) do
  if cap[2] > 0 then
    redis.call('ZADD', cap[1], now, token)
    redis.call('PEXPIRE', cap[1], midnight)
  end
end
if guard then
  window_add(UC, token, now, DAY)
  window_add(UP, token, now, HOUR)
  if ip ~= '' then
    window_add(UI, cc .. '|' .. token, now, DAY)
  end
  redis.call('HSET', T, 'c', cc, 'p', prefix, 'i', ip, 'w', warnings)
  redis.call('PEXPIRE', T, DAY + HOUR)
end
return {'ok', warnings}
