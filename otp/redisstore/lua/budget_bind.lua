-- Ties a sent reservation to its verification, for Approve.
-- KEYS: t:<token>, v:<id>. ARGV: token.
-- Only a reservation the guard recorded (t:<token>) and that was not
-- released is bound: with the guard off there is nothing to verify.
if redis.call('HEXISTS', KEYS[1], 'c') == 0 then
  return 0
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], DAY + HOUR)
return 1
