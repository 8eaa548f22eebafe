-- Takes back a reservation whose SMS was not sent.
-- KEYS: pc:<prefix>, d:<CC>:<day>, d:*:<day>, uc:<CC>, up:<prefix>,
--   ui:<ip>, t:<token>. ARGV: token, country.
-- Members are the reservation's token, so taking it back twice, or one
-- never held, changes nothing.
for i = 1, 5 do
  redis.call('ZREM', KEYS[i], ARGV[1])
end
redis.call('ZREM', KEYS[6], ARGV[2] .. '|' .. ARGV[1])
redis.call('DEL', KEYS[7])
return 0
