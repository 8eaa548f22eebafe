package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

const testKey = "app-client-secret-0123456789"

// productionConfig leaves dev mode with a Redis nobody listens on, so only
// a client given with WithRedis can make the service ready.
func productionConfig(t *testing.T, connexusURL string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.RedisURL = "redis://127.0.0.1:1/0"
	cfg.ConnexusBaseURL = connexusURL
	cfg.ConnexusClientID, cfg.ConnexusClientSecret = connexustest.DefaultClientID, connexustest.DefaultClientSecret
	cfg.APIKeys = []config.Key{{Name: "web", Secret: testKey}}
	cfg.BcryptCost = 4
	cfg.Lookup = config.LookupOff
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestWithRedisServesOnTheGivenClient(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		fake := connexustest.NewServer()
		t.Cleanup(fake.Close)
		ctx := context.Background()
		a, err := New(ctx, productionConfig(t, fake.URL), slog.New(slog.DiscardHandler), io.Discard, WithRedis(rdb))
		if err != nil {
			t.Fatal(err)
		}
		closed := false
		t.Cleanup(func() {
			if !closed {
				a.Close()
			}
		})

		rec := httptest.NewRecorder()
		a.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != http.StatusOK {
			t.Errorf("readyz: %d %s, want 200 on the given client", rec.Code, rec.Body)
		}
		req := httptest.NewRequest("POST", "/v1/verifications", strings.NewReader(`{"to":"021 234 567"}`))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", "application/json")
		rec = httptest.NewRecorder()
		a.Handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			t.Fatalf("start: %d %s", rec.Code, rec.Body)
		}
		if n, err := rdb.DBSize(ctx).Result(); err != nil || n == 0 {
			t.Errorf("the given Redis holds %d keys (%v) after a start, want some", n, err)
		}

		a.Close()
		closed = true
		if err := rdb.Ping(ctx).Err(); err != nil {
			t.Errorf("the given client after Close: %v, want it left open for its owner", err)
		}
	})
}

func TestFailedNewLeavesTheGivenClientOpen(t *testing.T) {
	fake := connexustest.NewServer()
	t.Cleanup(fake.Close)
	cfg := productionConfig(t, fake.URL)
	// Validate lets no bad rate through, so break it after validation to
	// fail New half-way, once Redis is open.
	cfg.RatePerKey = "not-a-rate"
	rdb, _ := redistest.Mini(t)
	if _, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard, WithRedis(rdb)); err == nil {
		t.Fatal("New with a bad rate succeeded")
	}
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Errorf("the given client after a failed New: %v, want it left open", err)
	}
}

func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "hello")
		}), log)
	}()

	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" {
		t.Errorf("body %q, want the handler's", body)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(ShutdownTimeout):
		t.Fatal("Serve did not return after its context was done")
	}
	var msgs []string
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var rec struct{ Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		msgs = append(msgs, rec.Msg)
	}
	if got := strings.Join(msgs, ", "); got != "shutting down, stopped" {
		t.Errorf("logged %q, want shutting down, stopped", got)
	}
}

func TestServeReportsAFailedListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	err = Serve(context.Background(), ln, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve on a closed listener = %v, want the accept error", err)
	}
}

// A start cut off by the write timeout loses its answer, and one cut off by
// the shutdown deadline makes the process exit 1.
func TestTimeoutsOutlastAStart(t *testing.T) {
	for name, d := range map[string]time.Duration{"write timeout": writeTimeout, "shutdown timeout": ShutdownTimeout} {
		if d <= otp.MaxStartTime {
			t.Errorf("%s %v does not outlast otp.MaxStartTime %v", name, d, otp.MaxStartTime)
		}
	}
}

// TestReplicaAckTimeout shows that REDIS_REPLICA_ACK_TIMEOUT reaches the
// store: on a Redis without replicas a check waits for the whole timeout
// before it answers 503. The timeout is longer than both the default and
// the old fixed 200 ms, so neither could pass for it.
func TestReplicaAckTimeout(t *testing.T) {
	fake := connexustest.NewServer()
	t.Cleanup(fake.Close)
	cfg := productionConfig(t, fake.URL)
	cfg.RedisMinReplicaAcks = 1
	cfg.RedisReplicaAckTimeout = 700 * time.Millisecond
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard, WithRedis(redistest.Real(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	post := func(path, body string) (int, time.Duration) {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		began := time.Now()
		a.Handler.ServeHTTP(rec, req)
		return rec.Code, time.Since(began)
	}
	status, took := post("/v1/verifications", `{"to":"021 234 567"}`)
	if status == http.StatusCreated {
		status, took = post("/v1/checks", `{"to":"021 234 567","code":"000000"}`)
	}
	if status != http.StatusServiceUnavailable || took < cfg.RedisReplicaAckTimeout {
		t.Errorf("a write without replicas answered %d after %v, want 503 after at least %v", status, took, cfg.RedisReplicaAckTimeout)
	}
}
