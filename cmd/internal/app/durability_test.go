package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/factor"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

const durabilitySkipped = "cannot check that Redis keeps factors"

// durabilityWarnings counts the log's warnings that the check was skipped.
func durabilityWarnings(t *testing.T, logs *bytes.Buffer) int {
	t.Helper()
	n := 0
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var rec struct{ Level, Msg string }
		if line != "" && json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "WARN" && strings.HasPrefix(rec.Msg, durabilitySkipped) {
			n++
		}
	}
	return n
}

func TestCheckDurability(t *testing.T) {
	tests := []struct {
		name string
		args []string
		user string   // an ACL user to connect as, with password "pw"
		err  []string // substrings of the error; nil for none
		// warned: CONFIG GET was refused, so the check warned instead.
		warned bool
	}{
		{name: "nothing on disk", err: []string{`appendonly, save: Redis persists nothing (appendonly no, save "")`}},
		{name: "append-only file", args: []string{"--appendonly", "yes"}},
		{name: "snapshots", args: []string{"--save", "3600 1"}},
		{name: "noeviction", args: []string{"--appendonly", "yes", "--maxmemory-policy", "noeviction"}},
		// Factor keys have no TTL, so volatile-* never evicts them.
		{name: "volatile-lru", args: []string{"--appendonly", "yes", "--maxmemory-policy", "volatile-lru"}},
		{name: "volatile-ttl", args: []string{"--save", "60 1", "--maxmemory-policy", "volatile-ttl"}},
		{name: "allkeys-lru", args: []string{"--appendonly", "yes", "--maxmemory-policy", "allkeys-lru"}, err: []string{"maxmemory-policy: Redis evicts keys without a TTL (allkeys-lru)"}},
		{name: "allkeys-random, nothing on disk", args: []string{"--maxmemory-policy", "allkeys-random"}, err: []string{"maxmemory-policy: Redis evicts keys without a TTL (allkeys-random)", "appendonly, save: Redis persists nothing"}},
		{name: "CONFIG renamed away, as on managed Redis", args: []string{"--rename-command", "CONFIG", ""}, warned: true},
		// The account an operator gives otpgate may well lack @dangerous,
		// which holds CONFIG: start-up warns and goes on.
		{name: "ACL user without CONFIG", args: []string{"--user", "otpgate", "on", ">pw", "~*", "+@all", "-@dangerous"}, user: "otpgate", warned: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := redistest.StartServer(t, tt.args...)
			opts := &redis.Options{Addr: s.Addr}
			if tt.user != "" {
				opts.Username, opts.Password = tt.user, "pw"
			}
			c := redis.NewClient(opts)
			t.Cleanup(func() { _ = c.Close() })
			var logs bytes.Buffer
			err := checkDurability(context.Background(), c, slog.New(slog.NewJSONHandler(&logs, nil)))
			if tt.err == nil && err != nil {
				t.Errorf("checkDurability = %v, want nil", err)
			}
			if tt.err != nil && err == nil {
				t.Errorf("checkDurability = nil, want an error")
			}
			for _, want := range tt.err {
				if err != nil && !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if got := durabilityWarnings(t, &logs); (got == 1) != tt.warned || got > 1 {
				t.Errorf("%d skip warnings, want warned %v; log:\n%s", got, tt.warned, &logs)
			}
		})
	}
}

// TestCheckDurabilityFailsWhenRedisCannotBeAsked: only Redis refusing
// CONFIG GET lets start-up go on unchecked. A Redis that cannot be asked
// (not up yet, silent, refusing this client's credentials) stops it, so
// that otpgate is started again once Redis answers.
func TestCheckDurabilityFailsWhenRedisCannotBeAsked(t *testing.T) {
	closed := closedAddr(t)
	locked := redistest.StartServer(t, "--requirepass", "pw")
	for _, tt := range []struct {
		name string
		rdb  redis.UniversalClient
	}{
		{"nothing listens", redis.NewClient(&redis.Options{Addr: closed})},
		// go-redis waits for the handshake of a new connection up to its
		// ReadTimeout, whatever the context's deadline.
		{"a server that never answers", redis.NewClient(&redis.Options{Addr: silentAddr(t), ReadTimeout: 500 * time.Millisecond})},
		{"a Cluster whose masters are unknown", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{closed}})},
		{"credentials refused", redis.NewClient(&redis.Options{Addr: locked.Addr})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Cleanup(func() { _ = tt.rdb.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			var logs bytes.Buffer
			err := checkDurability(ctx, tt.rdb, slog.New(slog.NewJSONHandler(&logs, nil)))
			if err == nil || !strings.HasPrefix(err.Error(), durabilityUnchecked) {
				t.Errorf("checkDurability = %v, want an error starting %q", err, durabilityUnchecked)
			}
			if n := durabilityWarnings(t, &logs); n != 0 {
				t.Errorf("%d skip warnings, want none:\n%s", n, &logs)
			}
		})
	}
}

// TestNewRefusesARedisItCannotCheck: Redis comes up after otpgate. With
// factors on, start-up fails naming the check instead of serving factors
// on a Redis nobody checked.
func TestNewRefusesARedisItCannotCheck(t *testing.T) {
	fake := connexustest.NewServer()
	t.Cleanup(fake.Close)
	cfg := factorsConfig(t, fake.URL)
	cfg.RedisURL = "redis://" + closedAddr(t) + "/0"
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err == nil {
		a.Close()
	}
	if err == nil || !strings.HasPrefix(err.Error(), durabilityUnchecked) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("New with factors and nothing at REDIS_URL = %v, want an error naming the check and why", err)
	}
}

// closedAddr is a local address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// silentAddr is a local address that accepts connections and never
// answers on them.
func silentAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	return l.Addr().String()
}

// TestCheckDurabilityAsksEveryClusterMaster: one master that persists
// nothing, or evicts any key, is enough to lose factors.
func TestCheckDurabilityAsksEveryClusterMaster(t *testing.T) {
	cl := redistest.StartCluster(t)
	cc := cl.Client(t)
	ctx := context.Background()
	check := func() error {
		t.Helper()
		var logs bytes.Buffer
		err := checkDurability(ctx, cc, slog.New(slog.NewJSONHandler(&logs, nil)))
		if n := durabilityWarnings(t, &logs); n != 0 {
			t.Errorf("%d skip warnings:\n%s", n, &logs)
		}
		return err
	}
	node := func(i int) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: cl.Addrs[i]})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}

	err := check()
	for _, addr := range cl.Addrs {
		if want := "appendonly, save: the Redis master at " + addr + " persists nothing"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}

	if err := node(1).ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	err = check()
	if err == nil || strings.Count(err.Error(), "persists nothing") != 2 || strings.Contains(err.Error(), cl.Addrs[1]+" ") {
		t.Errorf("with one master on AOF: %v, want the two others named", err)
	}

	redistest.Durable(t, cc)
	if err := check(); err != nil {
		t.Errorf("every master persisting: %v", err)
	}

	if err := node(2).ConfigSet(ctx, "maxmemory-policy", "allkeys-lfu").Err(); err != nil {
		t.Fatal(err)
	}
	want := "maxmemory-policy: the Redis master at " + cl.Addrs[2] + " evicts keys without a TTL (allkeys-lfu)"
	if err := check(); err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("one master evicting any key: %v, want only %q…", err, want)
	}
}

// factorsConfig is productionConfig with factors on.
func factorsConfig(t *testing.T, connexusURL string) *config.Config {
	t.Helper()
	cfg := productionConfig(t, connexusURL)
	cfg.EncryptionKeys = []factor.Key{{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)}}
	if err := cfg.Validate(); err != nil || !cfg.FactorsEnabled() {
		t.Fatalf("Validate = %v, FactorsEnabled = %v", err, cfg.FactorsEnabled())
	}
	return cfg
}

// TestNewRefusesARedisThatLosesFactors: with factors on, a Redis that
// persists nothing stops start-up; without them it is only a warning, and
// a durable one starts.
func TestNewRefusesARedisThatLosesFactors(t *testing.T) {
	fake := connexustest.NewServer()
	t.Cleanup(fake.Close)
	ctx := context.Background()
	rdb := redistest.Real(t)
	newApp := func(cfg *config.Config) error {
		a, err := New(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard, WithRedis(rdb))
		if err == nil {
			a.Close()
		}
		return err
	}

	if err := newApp(factorsConfig(t, fake.URL)); err == nil || !strings.Contains(err.Error(), "appendonly, save: Redis persists nothing") {
		t.Errorf("New with factors on a Redis that persists nothing = %v, want an error naming appendonly and save", err)
	}
	if err := newApp(productionConfig(t, fake.URL)); err != nil {
		t.Errorf("New without factors on the same Redis = %v, want only a warning", err)
	}
	t.Run("durable", func(t *testing.T) {
		redistest.Durable(t, rdb)
		if err := newApp(factorsConfig(t, fake.URL)); err != nil {
			t.Errorf("New with factors on a durable Redis = %v", err)
		}
	})
}
