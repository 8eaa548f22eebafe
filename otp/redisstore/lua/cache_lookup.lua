-- KEYS[1] number hash. ARGV: lookup, valid until, now.
redis.call('HSET', KEYS[1], 'l', ARGV[1], 'lx', ARGV[2])
extend(KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
return 1
