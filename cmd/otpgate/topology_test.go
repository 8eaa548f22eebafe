package main

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

const (
	topologyKey   = "topology-client-secret-0123456789"
	noDiskWarning = "Redis keeps nothing on disk"
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
	id := in.mustStart(t, "021 234 567", http.StatusCreated).ID
	srv.Kill()
	if status, _ := in.call(t, "GET", "/readyz", "", nil); status != http.StatusServiceUnavailable {
		t.Errorf("readyz with Redis killed: %d, want 503", status)
	}
	// go-redis's defaults took 1.7 s here: four tries of five dials
	// 100 ms apart.
	const bound = time.Second
	for _, r := range []struct {
		what string
		call func() error
	}{
		{"start", func() error { return in.startErr(t, "021 555 0000") }},
		{"check", func() error { return in.check(t, id, "123456").err }},
		{"check by to", func() error { return in.checkTo(t, "021 234 567", "123456").err }},
	} {
		began := time.Now()
		err := r.call()
		took := time.Since(began)
		wantErr(t, r.what+" with Redis down", err, http.StatusServiceUnavailable, "unavailable")
		if took > bound {
			t.Errorf("%s with Redis down took %v, want under %v", r.what, took, bound)
		}
		t.Logf("%s with Redis down answered in %v", r.what, took)
	}
}
