package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
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
// hand out attempts and sends that were already used. Outside dev mode it
// pings Redis first (see checkRedis).
func openRedis(ctx context.Context, cfg *config.Config, log *slog.Logger) (redis.UniversalClient, func(), error) {
	if cfg.DevMode() {
		return embeddedRedis()
	}
	tlsConf, err := tlsConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	var c redis.UniversalClient
	switch {
	case cfg.RedisURL != "":
		opts, err := urlOptions(cfg.RedisURL, tlsConf)
		if err != nil {
			return nil, nil, err
		}
		c = redis.NewClient(opts)
	case len(cfg.RedisClusterAddrs) > 0:
		c = redis.NewClusterClient(clusterOptions(cfg, tlsConf))
	case len(cfg.RedisSentinelAddrs) > 0:
		c = redis.NewFailoverClient(failoverOptions(cfg, tlsConf))
	default:
		return nil, nil, fmt.Errorf("REDIS_URL: required outside dev mode")
	}
	if err := checkRedis(ctx, cfg, c, tlsConf, log); err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	return c, func() { _ = c.Close() }, nil
}

// startupCheckTimeout keeps a slow or unreachable Redis from delaying
// start-up much; readiness reports an outage anyway.
const startupCheckTimeout = 2 * time.Second

// checkRedis pings every sentinel, then the master (or a Cluster node), so
// that credentials or a certificate that Redis refuses stop start-up with
// an error naming the variable to fix, instead of a service that answers
// 503 forever. A Redis that is only unreachable may be restarting or
// failing over: that is logged, and start-up goes on. So are TLS spoken
// to a plain port (a timeout) and the reverse (a closed connection), which
// look no different. Redis's refusals never quote a password, and neither
// do these errors.
func checkRedis(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, tlsConf *tls.Config, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, startupCheckTimeout)
	defer cancel()
	for _, addr := range cfg.RedisSentinelAddrs {
		sc := redis.NewSentinelClient(&redis.Options{
			Addr:          addr,
			Password:      cfg.RedisSentinelPassword,
			TLSConfig:     tlsConf,
			DialTimeout:   redisDialTimeout,
			DialerRetries: redisDialerRetries,
		})
		err := sc.Ping(ctx).Err()
		_ = sc.Close()
		if err := refusal(cfg, err, "REDIS_SENTINEL_PASSWORD", "the sentinel at "+addr); err != nil {
			return err
		}
		if err != nil {
			log.Warn("a Redis sentinel is unreachable at start-up", "addr", addr, "error", err.Error())
		}
	}
	credentials := "REDIS_PASSWORD"
	switch {
	case cfg.RedisURL != "":
		credentials = "REDIS_URL"
	case cfg.RedisUsername != "":
		credentials = "REDIS_USERNAME, REDIS_PASSWORD"
	}
	err := rdb.Ping(ctx).Err()
	if err := refusal(cfg, err, credentials, "Redis"); err != nil {
		return err
	}
	if err != nil {
		log.Warn("Redis is unreachable at start-up; /readyz answers 503 until it answers", "error", err.Error())
	}
	return nil
}

// refusal is the start-up error for err when err is Redis (who) refusing
// the configured credentials or TLS, and nil otherwise.
func refusal(cfg *config.Config, err error, credentials, who string) error {
	var cert *tls.CertificateVerificationError
	var host x509.HostnameError
	tlsSetting := "REDIS_TLS"
	if cfg.RedisURL != "" {
		tlsSetting = "REDIS_URL"
	}
	switch {
	case err == nil:
		return nil
	case redis.IsAuthError(err), redis.IsPermissionError(err):
		return fmt.Errorf("%s: %s refused the credentials: %v", credentials, who, err)
	case errors.As(err, &host):
		return fmt.Errorf("%s: the certificate of %s does not name the address it was reached at (the address Redis announces, for Cluster nodes and sentinel-announced masters): %v", tlsSetting, who, err)
	case errors.As(err, &cert) && cfg.RedisTLSCAFile == "":
		return fmt.Errorf("REDIS_TLS_CA_FILE: the certificate of %s is not signed by a system root; set REDIS_TLS_CA_FILE to the CA that signed it: %v", who, err)
	case errors.As(err, &cert):
		return fmt.Errorf("REDIS_TLS_CA_FILE: the certificate of %s is not trusted: %v", who, err)
	}
	return nil
}

// tlsConfig is the TLS of every Redis connection when REDIS_TLS is on, and
// the trusted roots of a rediss:// REDIS_URL. Its ServerName stays empty:
// crypto/tls then checks each certificate against the address dialled,
// which for Cluster nodes and sentinel-announced masters is whatever
// Redis announces, so each certificate must name its node's announced
// hostname or IP. Nil means no TLS from these settings.
func tlsConfig(cfg *config.Config) (*tls.Config, error) {
	if !cfg.RedisTLS && cfg.RedisTLSCAFile == "" {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.RedisTLSCAFile == "" {
		return conf, nil // the system roots
	}
	pem, err := os.ReadFile(cfg.RedisTLSCAFile)
	if err != nil {
		return nil, fmt.Errorf("REDIS_TLS_CA_FILE: %w", err)
	}
	conf.RootCAs = x509.NewCertPool()
	if !conf.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("REDIS_TLS_CA_FILE: %s holds no PEM certificate", cfg.RedisTLSCAFile)
	}
	return conf, nil
}

// urlOptions reads a REDIS_URL. A rediss:// URL trusts the roots of
// tlsConf when it is set (REDIS_TLS_CA_FILE), the system roots otherwise.
func urlOptions(url string, tlsConf *tls.Config) (*redis.Options, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		// go-redis errors can quote the URL, and with it the password.
		return nil, fmt.Errorf("REDIS_URL: cannot be used by the Redis client")
	}
	if opts.TLSConfig != nil && tlsConf != nil {
		opts.TLSConfig.RootCAs = tlsConf.RootCAs
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
func clusterOptions(cfg *config.Config, tlsConf *tls.Config) *redis.ClusterOptions {
	return &redis.ClusterOptions{
		Addrs:         cfg.RedisClusterAddrs,
		Username:      cfg.RedisUsername,
		Password:      cfg.RedisPassword,
		TLSConfig:     tlsConf,
		DialTimeout:   redisDialTimeout,
		DialerRetries: redisDialerRetries,
		MaxRetries:    redisMaxRetries,
		PoolTimeout:   redisPoolTimeout,
	}
}

// failoverOptions is for redis.NewFailoverClient, which talks to the master
// only; ReplicaOnly and the routing options stay off. The sentinels have a
// password of their own; the master's is REDIS_USERNAME/REDIS_PASSWORD.
// TLS, when on, covers both.
func failoverOptions(cfg *config.Config, tlsConf *tls.Config) *redis.FailoverOptions {
	return &redis.FailoverOptions{
		MasterName:       cfg.RedisSentinelMaster,
		SentinelAddrs:    cfg.RedisSentinelAddrs,
		SentinelPassword: cfg.RedisSentinelPassword,
		Username:         cfg.RedisUsername,
		Password:         cfg.RedisPassword,
		TLSConfig:        tlsConf,
		DialTimeout:      redisDialTimeout,
		DialerRetries:    redisDialerRetries,
		MaxRetries:       redisMaxRetries,
		PoolTimeout:      redisPoolTimeout,
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
