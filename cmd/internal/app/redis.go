package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/config"
)

// Client settings that make a Redis outage answer 503 fast (40-80 ms per
// request in TestRedisOutageFailsFast, where go-redis's defaults took
// 1.7 s: four tries of five dials 100 ms apart, and up to 5 s per dial on
// an unreachable host), while a failover still heals by itself:
// every retry takes a fresh connection, which the Sentinel client dials at
// the master Sentinel names at that moment, and READONLY from a demoted
// master is retried too. A REDIS_URL may override any of them with its
// dial_timeout, max_retries and pool_timeout parameters.
const (
	// A dial inside a data centre takes well under a millisecond; a
	// second allows for a loaded host without stalling every request.
	redisDialTimeout = time.Second
	// One dial per attempt: the command retries below dial again anyway.
	redisDialerRetries = 1
	// A command on a connection the old master dropped, then READONLY
	// from it coming back as a replica: two retries cover both.
	redisMaxRetries = 2
	// Waiting longer for a free connection than for a dial only queues
	// requests behind a Redis that does not answer.
	redisPoolTimeout = time.Second
)

// openRedis returns the one Redis client the service shares, and a close
// function that releases it (and the embedded server in dev mode). Every
// command goes to a master: counters read from a lagging replica would
// hand out attempts and sends that were already used.
func openRedis(cfg *config.Config) (redis.UniversalClient, func(), error) {
	switch {
	case cfg.RedisURL != "":
		opts, err := urlOptions(cfg.RedisURL)
		if err != nil {
			return nil, nil, err
		}
		c := redis.NewClient(opts)
		return c, func() { _ = c.Close() }, nil
	case len(cfg.RedisClusterAddrs) > 0:
		c := redis.NewClusterClient(clusterOptions(cfg))
		return c, func() { _ = c.Close() }, nil
	case len(cfg.RedisSentinelAddrs) > 0:
		c := redis.NewFailoverClient(failoverOptions(cfg))
		return c, func() { _ = c.Close() }, nil
	case cfg.DevMode():
		return embeddedRedis()
	}
	return nil, nil, fmt.Errorf("REDIS_URL: required outside dev mode")
}

func urlOptions(url string) (*redis.Options, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		// go-redis errors can quote the URL, and with it the password.
		return nil, fmt.Errorf("REDIS_URL: cannot be used by the Redis client")
	}
	// Zero means the URL did not set it.
	if opts.DialTimeout == 0 {
		opts.DialTimeout = redisDialTimeout
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = redisMaxRetries
	}
	if opts.PoolTimeout == 0 {
		opts.PoolTimeout = redisPoolTimeout
	}
	opts.DialerRetries = redisDialerRetries
	return opts, nil
}

// clusterOptions leaves ReadOnly, RouteByLatency and RouteRandomly off, so
// no command is sent to a replica.
func clusterOptions(cfg *config.Config) *redis.ClusterOptions {
	return &redis.ClusterOptions{
		Addrs:         cfg.RedisClusterAddrs,
		DialTimeout:   redisDialTimeout,
		DialerRetries: redisDialerRetries,
		MaxRetries:    redisMaxRetries,
		PoolTimeout:   redisPoolTimeout,
	}
}

// failoverOptions is for redis.NewFailoverClient, which talks to the master
// only; ReplicaOnly and the routing options stay off.
func failoverOptions(cfg *config.Config) *redis.FailoverOptions {
	return &redis.FailoverOptions{
		MasterName:    cfg.RedisSentinelMaster,
		SentinelAddrs: cfg.RedisSentinelAddrs,
		DialTimeout:   redisDialTimeout,
		DialerRetries: redisDialerRetries,
		MaxRetries:    redisMaxRetries,
		PoolTimeout:   redisPoolTimeout,
	}
}

// persistenceCheckTimeout keeps a slow or unreachable Redis from delaying
// start-up; readiness reports an outage anyway.
const persistenceCheckTimeout = 2 * time.Second

// warnWithoutPersistence logs a warning for every Redis master that keeps
// nothing on disk (appendonly no and no save points): its restart would
// forget every pending verification, attempt count and cooldown, letting
// used attempts and sends be spent again. Managed Redis often refuses
// CONFIG; then the check is skipped with a debug line.
func warnWithoutPersistence(ctx context.Context, rdb redis.UniversalClient, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, persistenceCheckTimeout)
	defer cancel()
	check := func(ctx context.Context, node redis.Cmdable, attrs ...any) error {
		aof, err := node.ConfigGet(ctx, "appendonly").Result()
		if err != nil {
			return err
		}
		save, err := node.ConfigGet(ctx, "save").Result()
		if err != nil {
			return err
		}
		if aof["appendonly"] == "no" && save["save"] == "" {
			log.Warn("Redis keeps nothing on disk (appendonly no, no save): a Redis restart loses all verification state; enable appendonly (see README)", attrs...)
		}
		return nil
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			return check(ctx, n, "node", n.Options().Addr)
		})
	} else {
		err = check(ctx, rdb)
	}
	if err != nil {
		log.Debug("Redis persistence check skipped", "reason", err.Error())
	}
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
