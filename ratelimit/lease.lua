-- Grants up to ARGV[1] events of a window that allows ARGV[2] events and
-- lasts ARGV[3] ms, and counts only what it grants: the counter never goes
-- past the limit, so other replicas are not refused for events nobody got.
-- Returns {granted, count after the grant, ms left in the window}.
local key = KEYS[1]
local want = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local count = tonumber(redis.call("get", key) or "0")
local grant = math.min(want, limit - count)
if grant <= 0 then
	return {0, count, redis.call("pttl", key)}
end
count = redis.call("incrby", key, grant)
if count == grant then
	redis.call("pexpire", key, period)
	return {grant, count, period}
end
return {grant, count, redis.call("pttl", key)}
