-- Takes back a reservation whose SMS was not sent.
-- KEYS: pc:<prefix>, d:<CC>:<day>, d:*:<day>, uc:<CC>, up:<prefix>,
--   ui:<ip>, t:<token>. ARGV: token, country.
-- Members are the reservation's token, so taking it back twice, or one
-- never held, changes nothing more.
for i = 1, 5 do
  redis.call('ZREM', KEYS[i], ARGV[1])
end
redis.call('ZREM', KEYS[6], ARGV[2] .. '|' .. ARGV[1])
-- The record becomes a tombstone: a Reserve of this token that Redis runs
-- only now (its answer was lost, so it was released unseen) counts nothing.
redis.call('DEL', KEYS[7])
redis.call('HSET', KEYS[7], 'x', 1)
redis.call('PEXPIRE', KEYS[7], 10 * 60000)
return 0
