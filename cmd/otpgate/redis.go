package main

import (
	"context"
	"fmt"
	"net"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/config"
)

// openRedis returns the one Redis client the service shares, and a close
// function that releases it (and the embedded server in dev mode).
func openRedis(cfg *config.Config) (redis.UniversalClient, func(), error) {
	switch {
	case cfg.RedisURL != "":
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			// go-redis errors can quote the URL, and with it the password.
			return nil, nil, fmt.Errorf("REDIS_URL: cannot be used by the Redis client")
		}
		c := redis.NewClient(opts)
		return c, func() { _ = c.Close() }, nil
	case len(cfg.RedisClusterAddrs) > 0:
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cfg.RedisClusterAddrs})
		return c, func() { _ = c.Close() }, nil
	case len(cfg.RedisSentinelAddrs) > 0:
		c := redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:    cfg.RedisSentinelMaster,
			SentinelAddrs: cfg.RedisSentinelAddrs,
		})
		return c, func() { _ = c.Close() }, nil
	case cfg.DevMode():
		return embeddedRedis()
	}
	return nil, nil, fmt.Errorf("REDIS_URL: required outside dev mode")
}

// embeddedRedis is an in-memory miniredis reached over an in-process pipe,
// so dev mode opens no Redis port. miniredis only expires keys when told
// to; ClockTTL makes them expire with the wall clock, as codes and
// cooldowns need.
func embeddedRedis() (redis.UniversalClient, func(), error) {
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true)
	c := redis.NewClient(&redis.Options{
		Addr:   "embedded",
		Dialer: func(context.Context, string, string) (net.Conn, error) { return m.Dial() },
	})
	return c, func() { _ = c.Close(); m.Close() }, nil
}
