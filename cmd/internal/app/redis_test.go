package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
	co := clusterOptions(cfg, nil)
	if co.ReadOnly || co.RouteByLatency || co.RouteRandomly {
		t.Errorf("cluster options may read from replicas: %+v", co)
	}
	fo := failoverOptions(cfg, nil)
	if fo.ReplicaOnly || fo.RouteByLatency || fo.RouteRandomly || fo.UseDisconnectedReplicas {
		t.Errorf("failover options may read from replicas: %+v", fo)
	}
	// Nothing listens there: openRedis warns and carries on.
	c, closeRedis, err := openRedis(context.Background(), &config.Config{RedisSentinelAddrs: cfg.RedisSentinelAddrs, RedisSentinelMaster: "otpgate"}, slog.New(slog.DiscardHandler))
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
		o, err := urlOptions(tt.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if o.DialTimeout != tt.dialTimeout || o.MaxRetries != tt.maxRetries || o.PoolTimeout != tt.poolTimeout || o.DialerRetries != redisDialerRetries {
			t.Errorf("%s: dial timeout %v, max retries %d, pool timeout %v, dialer retries %d; want %v, %d, %v, %d",
				tt.url, o.DialTimeout, o.MaxRetries, o.PoolTimeout, o.DialerRetries,
				tt.dialTimeout, tt.maxRetries, tt.poolTimeout, redisDialerRetries)
		}
	}
	if _, err := urlOptions("redis://:hunter2@[bad", nil); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad URL: %v, want an error without the password", err)
	}
}

func TestRedisCredentialsAndTLS(t *testing.T) {
	ca := redistest.NewCA(t)
	cfg := &config.Config{
		RedisClusterAddrs:     []string{"127.0.0.1:7000"},
		RedisSentinelAddrs:    []string{"127.0.0.1:26379"},
		RedisSentinelMaster:   "otpgate",
		RedisUsername:         "otpgate",
		RedisPassword:         "master-pw",
		RedisSentinelPassword: "sentinel-pw",
		RedisTLS:              true,
		RedisTLSCAFile:        ca.CertFile,
	}
	tc, err := tlsConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// An empty ServerName makes crypto/tls check each node against the
	// address it dials, which for a sentinel-announced master or a
	// redirected Cluster node is not one of the configured addresses.
	if tc.ServerName != "" || tc.InsecureSkipVerify || tc.RootCAs == nil || !tc.RootCAs.Equal(ca.Pool) {
		t.Errorf("TLS config: ServerName %q, InsecureSkipVerify %v, roots from the CA file %v; want empty, false, true",
			tc.ServerName, tc.InsecureSkipVerify, tc.RootCAs != nil && tc.RootCAs.Equal(ca.Pool))
	}

	co := clusterOptions(cfg, tc)
	if co.Username != "otpgate" || co.Password != "master-pw" || co.TLSConfig != tc {
		t.Errorf("cluster options: user %q, password %q, TLS %v; want the configured ones", co.Username, co.Password, co.TLSConfig)
	}
	fo := failoverOptions(cfg, tc)
	if fo.Username != "otpgate" || fo.Password != "master-pw" || fo.TLSConfig != tc {
		t.Errorf("failover options for the master: user %q, password %q, TLS %v; want the configured ones", fo.Username, fo.Password, fo.TLSConfig)
	}
	// REDIS_SENTINEL_PASSWORD is the default user's password of the
	// sentinels; the master's ACL user is not theirs.
	if fo.SentinelPassword != "sentinel-pw" || fo.SentinelUsername != "" {
		t.Errorf("failover options for the sentinels: user %q, password %q; want none and sentinel-pw", fo.SentinelUsername, fo.SentinelPassword)
	}

	uo, err := urlOptions("rediss://:pw@redis.example:6380/0", tc)
	if err != nil {
		t.Fatal(err)
	}
	if uo.TLSConfig == nil || uo.TLSConfig.ServerName != "redis.example" || uo.TLSConfig.RootCAs == nil || !uo.TLSConfig.RootCAs.Equal(ca.Pool) {
		t.Errorf("rediss:// URL with REDIS_TLS_CA_FILE: TLS config %+v, want the URL's host as server name and the CA file's roots", uo.TLSConfig)
	}
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.der")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     config.Config
		tls     bool   // a TLS config is returned
		roots   bool   // it has roots of its own rather than the system's
		wantErr string // substring of the error
	}{
		{name: "off", cfg: config.Config{}},
		{name: "system roots", cfg: config.Config{RedisTLS: true}, tls: true},
		{name: "CA file", cfg: config.Config{RedisTLS: true, RedisTLSCAFile: redistest.NewCA(t).CertFile}, tls: true, roots: true},
		{name: "missing CA file", cfg: config.Config{RedisTLS: true, RedisTLSCAFile: filepath.Join(dir, "missing.pem")}, wantErr: "REDIS_TLS_CA_FILE: open"},
		{name: "CA file without PEM", cfg: config.Config{RedisTLS: true, RedisTLSCAFile: notPEM}, wantErr: "REDIS_TLS_CA_FILE: " + notPEM + " holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tlsConfig(&tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("tlsConfig = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got != nil) != tt.tls || (got != nil && (got.RootCAs != nil) != tt.roots) {
				t.Errorf("tlsConfig = %+v; want TLS %v, own roots %v", got, tt.tls, tt.roots)
			}
			if got != nil && got.MinVersion < tls.VersionTLS12 {
				t.Errorf("TLS minimum version %x, want at least TLS 1.2", got.MinVersion)
			}
		})
	}
}

func TestRefusal(t *testing.T) {
	leaf := &x509.Certificate{DNSNames: []string{"redis-0.redis"}}
	untrusted := &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{Cert: leaf}}
	wrongName := &tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: leaf, Host: "10.0.0.5"}}
	cluster := &config.Config{RedisClusterAddrs: []string{"redis-0.redis:6379"}, RedisTLS: true}
	withCA := &config.Config{RedisClusterAddrs: []string{"redis-0.redis:6379"}, RedisTLS: true, RedisTLSCAFile: "/ca.pem"}
	single := &config.Config{RedisURL: "rediss://:pw@redis:6380/0"}
	tests := []struct {
		name string
		cfg  *config.Config
		err  error
		want string // the start of the error; "" for none
	}{
		{"no error", cluster, nil, ""},
		{"unreachable", cluster, errors.New("dial tcp 10.0.0.5:6379: connect: connection refused"), ""},
		{"timeout", cluster, context.DeadlineExceeded, ""},
		{"wrong password", cluster, errors.New("WRONGPASS invalid username-password pair or user is disabled."), "REDIS_PASSWORD: Redis refused the credentials: WRONGPASS"},
		{"no password", cluster, errors.New("NOAUTH Authentication required."), "REDIS_PASSWORD: Redis refused"},
		{"user without PING", cluster, errors.New("NOPERM this user has no permissions to run the 'ping' command"), "REDIS_PASSWORD: Redis refused"},
		{"unknown CA", cluster, fmt.Errorf("dial: %w", untrusted), "REDIS_TLS_CA_FILE: the certificate of Redis is not signed by a system root"},
		{"CA file that did not sign it", withCA, untrusted, "REDIS_TLS_CA_FILE: the certificate of Redis is not trusted"},
		{"certificate for another name", withCA, wrongName, "REDIS_TLS: the certificate of Redis does not name the address"},
		{"URL host not in the certificate", single, wrongName, "REDIS_URL: the certificate of Redis does not name the address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := refusal(tt.cfg, tt.err, "REDIS_PASSWORD", "Redis")
			switch {
			case tt.want == "" && got != nil:
				t.Errorf("refusal = %v, want none: start-up goes on", got)
			case tt.want != "" && (got == nil || !strings.HasPrefix(got.Error(), tt.want)):
				t.Errorf("refusal = %v, want an error starting %q", got, tt.want)
			}
		})
	}
}

// TestOpenRedisWhileRedisIsDown: a Redis that is only unreachable may be
// restarting, so start-up goes on, with a warning.
func TestOpenRedisWhileRedisIsDown(t *testing.T) {
	var logs bytes.Buffer
	cfg := &config.Config{RedisURL: "redis://127.0.0.1:1/0", APIKeys: []config.Key{{Name: "k", Secret: "s"}}}
	c, closeRedis, err := openRedis(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("openRedis with Redis down = %v, want the client", err)
	}
	closeRedis()
	if c == nil || !strings.Contains(logs.String(), `"level":"WARN","msg":"Redis is unreachable at start-up`) {
		t.Errorf("logged %s, want a warning that Redis is unreachable", &logs)
	}
}
