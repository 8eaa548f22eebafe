package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

const (
	topologyKey     = "topology-client-secret-0123456789"
	noDiskWarning   = "Redis keeps nothing on disk"
	persistenceSkip = "Redis persistence check skipped"
)

// topologyEnv is the configuration that points run at tp.
func topologyEnv(tp redistest.Topology) map[string]string {
	switch {
	case tp.Sentinel != nil:
		return map[string]string{
			"REDIS_SENTINEL_ADDRS":  tp.Sentinel.Sentinel.Addr,
			"REDIS_SENTINEL_MASTER": tp.Sentinel.MasterName,
		}
	case tp.Cluster != nil:
		return map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(tp.Cluster.Addrs, ",")}
	default:
		return map[string]string{"REDIS_URL": "redis://" + tp.Server.Addr + "/0"}
	}
}

// productionEnv adds a Connexus fake, an API key and cheap hashing to a
// Redis configuration, which leaves dev mode.
func productionEnv(connexusURL string, redisEnv map[string]string) map[string]string {
	env := map[string]string{
		"CONNEXUS_BASE_URL":      connexusURL,
		"CONNEXUS_CLIENT_ID":     connexustest.DefaultClientID,
		"CONNEXUS_CLIENT_SECRET": connexustest.DefaultClientSecret,
		"OTPGATE_API_KEYS":       "web:" + topologyKey,
		"OTP_BCRYPT_COST":        "4",
	}
	for k, v := range redisEnv {
		env[k] = v
	}
	return env
}

func TestEndToEndOnEveryTopology(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		fake := connexustest.NewServer()
		t.Cleanup(fake.Close)
		in := start(t, productionEnv(fake.URL, topologyEnv(tp)))
		if status, _ := in.call(t, "GET", "/readyz", "", nil); status != http.StatusOK {
			t.Fatalf("readyz: %d", status)
		}
		verify(t, in, topologyKey, "021 234 567", func() string {
			code, ok := fake.LastCode("6421234567")
			if !ok {
				t.Fatal("the fake received no code")
			}
			return code
		})
		// The test servers keep nothing on disk, so start-up warned once
		// per master.
		masters := 1
		if tp.Cluster != nil {
			masters = len(tp.Cluster.Addrs)
		}
		if got := strings.Count(in.out.String(), noDiskWarning); got != masters {
			t.Errorf("%d persistence warnings at start-up, want one per master (%d)", got, masters)
		}
	})
}

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

// TestRedisOutageFailsFast kills a single Redis with no failover: readiness
// turns 503, and requests answer 503 unavailable quickly instead of
// queueing behind dial retries.
func TestRedisOutageFailsFast(t *testing.T) {
	srv := redistest.StartServer(t)
	fake := connexustest.NewServer()
	t.Cleanup(fake.Close)
	env := productionEnv(fake.URL, map[string]string{"REDIS_URL": "redis://" + srv.Addr + "/0"})
	env["OTP_LOOKUP"] = "off"
	in := start(t, env)
	status, v := in.call(t, "POST", "/v1/verifications", topologyKey, map[string]any{"to": "021 234 567"})
	if status != http.StatusCreated {
		t.Fatalf("start: %d %v", status, v)
	}
	srv.Kill()
	if status, _ := in.call(t, "GET", "/readyz", "", nil); status != http.StatusServiceUnavailable {
		t.Errorf("readyz with Redis killed: %d, want 503", status)
	}
	// go-redis's defaults took 1.7 s here: four tries of five dials
	// 100 ms apart.
	const bound = time.Second
	for _, r := range []struct {
		path string
		body map[string]any
	}{
		{"/v1/verifications", map[string]any{"to": "021 555 0000"}},
		{"/v1/verifications/" + v["id"].(string) + "/check", map[string]any{"code": "123456"}},
		{"/v1/checks", map[string]any{"to": "021 234 567", "code": "123456"}},
	} {
		began := time.Now()
		status, body := in.call(t, "POST", r.path, topologyKey, r.body)
		took := time.Since(began)
		e, _ := body["error"].(map[string]any)
		if status != http.StatusServiceUnavailable || e["code"] != "unavailable" {
			t.Errorf("POST %s with Redis down: %d %v, want 503 unavailable", r.path, status, body)
		}
		if took > bound {
			t.Errorf("POST %s with Redis down took %v, want under %v", r.path, took, bound)
		}
		t.Logf("POST %s with Redis down answered in %v", r.path, took)
	}
}
