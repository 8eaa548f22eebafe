package app

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

const (
	noDiskWarning   = "Redis keeps nothing on disk"
	persistenceSkip = "Redis persistence check skipped"
)

func TestPersistenceWarning(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		warnings int
		skipped  bool
	}{
		{name: "nothing on disk", warnings: 1},
		{name: "append-only file", args: []string{"--appendonly", "yes"}},
		{name: "snapshots", args: []string{"--save", "3600 1"}},
		{name: "CONFIG not allowed, as on managed Redis", args: []string{"--rename-command", "CONFIG", ""}, skipped: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := redistest.StartServer(t, tt.args...)
			c := redis.NewClient(&redis.Options{Addr: s.Addr})
			t.Cleanup(func() { _ = c.Close() })
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			warnWithoutPersistence(context.Background(), c, log)
			var warnings, skipped int
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				var rec map[string]any
				if line == "" || json.Unmarshal([]byte(line), &rec) != nil {
					continue
				}
				switch {
				case rec["level"] == "WARN" && strings.HasPrefix(rec["msg"].(string), noDiskWarning):
					warnings++
				case rec["level"] == "DEBUG" && rec["msg"] == persistenceSkip:
					skipped++
				}
			}
			if warnings != tt.warnings || (skipped == 1) != tt.skipped {
				t.Errorf("%d warnings, %d skip lines; want %d warnings, skipped %v; log:\n%s",
					warnings, skipped, tt.warnings, tt.skipped, &buf)
			}
		})
	}
}

func TestRedisClientsTalkToMastersOnly(t *testing.T) {
	cfg := &config.Config{
		RedisClusterAddrs:   []string{"127.0.0.1:7000"},
		RedisSentinelAddrs:  []string{"127.0.0.1:26379"},
		RedisSentinelMaster: "otpgate",
	}
	co := clusterOptions(cfg)
	if co.ReadOnly || co.RouteByLatency || co.RouteRandomly {
		t.Errorf("cluster options may read from replicas: %+v", co)
	}
	fo := failoverOptions(cfg)
	if fo.ReplicaOnly || fo.RouteByLatency || fo.RouteRandomly || fo.UseDisconnectedReplicas {
		t.Errorf("failover options may read from replicas: %+v", fo)
	}
	c, closeRedis, err := openRedis(&config.Config{RedisSentinelAddrs: cfg.RedisSentinelAddrs, RedisSentinelMaster: "otpgate"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeRedis()
	// NewFailoverClusterClient would return a *redis.ClusterClient that
	// can route reads to replicas; the master-only client is a *redis.Client.
	if _, ok := c.(*redis.Client); !ok {
		t.Errorf("Sentinel client is a %T, want the master-only *redis.Client", c)
	}
}

func TestRedisURLOptions(t *testing.T) {
	tests := []struct {
		url         string
		dialTimeout time.Duration
		maxRetries  int
		poolTimeout time.Duration
	}{
		{"redis://127.0.0.1:6379/0", redisDialTimeout, redisMaxRetries, redisPoolTimeout},
		{"redis://127.0.0.1:6379/0?dial_timeout=3s&max_retries=5&pool_timeout=4s", 3 * time.Second, 5, 4 * time.Second},
	}
	for _, tt := range tests {
		o, err := urlOptions(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if o.DialTimeout != tt.dialTimeout || o.MaxRetries != tt.maxRetries || o.PoolTimeout != tt.poolTimeout || o.DialerRetries != redisDialerRetries {
			t.Errorf("%s: dial timeout %v, max retries %d, pool timeout %v, dialer retries %d; want %v, %d, %v, %d",
				tt.url, o.DialTimeout, o.MaxRetries, o.PoolTimeout, o.DialerRetries,
				tt.dialTimeout, tt.maxRetries, tt.poolTimeout, redisDialerRetries)
		}
	}
	if _, err := urlOptions("redis://:hunter2@[bad"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad URL: %v, want an error without the password", err)
	}
}
