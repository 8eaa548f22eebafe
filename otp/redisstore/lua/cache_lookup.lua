-- KEYS[1] phone hash. ARGV: carrier, ported (1/0), network code, valid
-- until, ttl ms.
redis.call('HSET', KEYS[1], 'lc', ARGV[1], 'lp', ARGV[2], 'ln', ARGV[3], 'lx', ARGV[4])
extend(KEYS[1], tonumber(ARGV[5]))
return 1
