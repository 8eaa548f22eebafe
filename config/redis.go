package config

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxReplicaAckTimeout bounds REDIS_REPLICA_ACK_TIMEOUT below go-redis's
// 3 s read timeout, within which a WAIT must answer.
const maxReplicaAckTimeout = 2 * time.Second

// validateRedis checks the Redis settings: one topology, and credentials
// and TLS settings only where they are used. A REDIS_URL carries its own
// credentials and TLS (rediss://), so the variables that would repeat them
// are refused beside it rather than one of the two silently ignored.
func (c *Config) validateRedis(bad func(name, format string, args ...any)) {
	redisSettings := 0
	if c.RedisURL != "" {
		redisSettings++
		if err := checkRedisURL(c.RedisURL); err != nil {
			bad("REDIS_URL", "%v", err)
		}
	}
	if len(c.RedisClusterAddrs) > 0 {
		redisSettings++
		for _, a := range c.RedisClusterAddrs {
			if err := checkHostPort(a); err != nil {
				bad("REDIS_CLUSTER_ADDRS", "%v", err)
			}
		}
	}
	if len(c.RedisSentinelAddrs) > 0 {
		redisSettings++
		for _, a := range c.RedisSentinelAddrs {
			if err := checkHostPort(a); err != nil {
				bad("REDIS_SENTINEL_ADDRS", "%v", err)
			}
		}
		if c.RedisSentinelMaster == "" {
			bad("REDIS_SENTINEL_MASTER", "required with REDIS_SENTINEL_ADDRS")
		}
	} else if c.RedisSentinelMaster != "" {
		bad("REDIS_SENTINEL_ADDRS", "required with REDIS_SENTINEL_MASTER")
	}
	if redisSettings > 1 {
		bad("REDIS_URL", "set only one of REDIS_URL, REDIS_CLUSTER_ADDRS and REDIS_SENTINEL_ADDRS")
	}
	if c.RedisMinReplicaAcks < 0 {
		bad("REDIS_MIN_REPLICA_ACKS", "must be 0 or more, got %d", c.RedisMinReplicaAcks)
	}
	// WAIT counts in whole milliseconds, and WAIT 0 waits for ever; it
	// rides in a pipeline, whose answer go-redis reads for at most 3 s.
	if c.RedisReplicaAckTimeout < time.Millisecond || c.RedisReplicaAckTimeout > maxReplicaAckTimeout {
		bad("REDIS_REPLICA_ACK_TIMEOUT", "must be 1ms to %s, got %s", maxReplicaAckTimeout, c.RedisReplicaAckTimeout)
	}

	// No value is quoted below: the passwords are secrets.
	clusterOrSentinel := len(c.RedisClusterAddrs) > 0 || len(c.RedisSentinelAddrs) > 0
	credentials := []struct {
		name string
		set  bool
	}{{"REDIS_USERNAME", c.RedisUsername != ""}, {"REDIS_PASSWORD", c.RedisPassword != ""}}
	for _, v := range credentials {
		switch {
		case !v.set || clusterOrSentinel:
		case c.RedisURL != "":
			bad(v.name, "not used with REDIS_URL, which carries its own credentials (redis://user:password@host:port/0)")
		default:
			bad(v.name, "only used with REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS")
		}
	}
	if c.RedisUsername != "" && c.RedisPassword == "" && clusterOrSentinel {
		bad("REDIS_PASSWORD", "required with REDIS_USERNAME")
	}
	if c.RedisSentinelPassword != "" && len(c.RedisSentinelAddrs) == 0 {
		bad("REDIS_SENTINEL_PASSWORD", "only used with REDIS_SENTINEL_ADDRS")
	}
	switch {
	case c.RedisTLS && c.RedisURL != "":
		bad("REDIS_TLS", "not used with REDIS_URL: a rediss:// URL turns TLS on")
	case c.RedisTLS && !clusterOrSentinel:
		bad("REDIS_TLS", "only used with REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS")
	}
	// A URL cannot name a CA, so REDIS_TLS_CA_FILE serves a rediss:// URL too.
	if c.RedisTLSCAFile != "" && !c.RedisTLS && !isTLSURL(c.RedisURL) {
		bad("REDIS_TLS_CA_FILE", "only used with TLS: REDIS_TLS=on, or a rediss:// REDIS_URL")
	}
}

func isTLSURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "rediss"
}

// checkRedisURL never quotes the URL: it may hold a password.
func checkRedisURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return errors.New("must start with redis:// or rediss://")
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return errors.New("path must be a database number")
		}
	}
	return nil
}
