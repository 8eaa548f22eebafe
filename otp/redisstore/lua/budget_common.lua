-- Shared by the scripts of the send budgets (budgets.go puts it in front
-- of each one). Their keys all share the hash tag {fg}, so each script is
-- on one Cluster slot. A window is (now - win, now]: a member of score s
-- leaves it at s + win. Times are the service's clock in ms (ARGV), never
-- Redis TIME.

local HOUR = 3600000
local DAY = 24 * HOUR

-- window_add counts member at now in the window zset key, dropping the
-- members that left it; the key lives as long as its newest member counts.
local function window_add(key, member, now, win)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - win)
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, win)
end
