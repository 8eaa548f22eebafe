package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func TestIdempotencyReplay(t *testing.T) {
	f := newFixture(t, nil)
	first := f.do("POST", "/v1/verifications", `{"to":"0211234567"}`, "Idempotency-Key", "order-1")
	if first.Code != http.StatusCreated {
		t.Fatalf("first = %d (body %s)", first.Code, first.Body)
	}
	f.clock.Advance(time.Minute) // past the cooldown: without the key this would resend

	t.Run("same body is replayed", func(t *testing.T) {
		// Whitespace and field order do not make another body.
		again := f.do("POST", "/v1/verifications", "{ \"client_ip\": \"\",\n \"to\": \"0211234567\" }", "Idempotency-Key", "order-1")
		if again.Code != first.Code || again.Body.String() != first.Body.String() {
			t.Errorf("replay = %d %s, want %d %s", again.Code, again.Body, first.Code, first.Body)
		}
		if again.Header().Get("Idempotent-Replayed") != "true" {
			t.Error("replay lacks Idempotent-Replayed: true")
		}
		if again.Header().Get("X-Request-Id") == first.Header().Get("X-Request-Id") {
			t.Error("replay reuses the first request id")
		}
		if n := f.sender.count(); n != 1 {
			t.Errorf("%d SMS sent, want 1", n)
		}
	})

	t.Run("other body is a conflict", func(t *testing.T) {
		wantError(t, f.do("POST", "/v1/verifications", `{"to":"0211234567","brand":"Other"}`, "Idempotency-Key", "order-1"),
			http.StatusUnprocessableEntity, "idempotency_conflict")
		if n := f.sender.count(); n != 1 {
			t.Errorf("%d SMS sent, want 1", n)
		}
	})

	t.Run("scoped to the API key", func(t *testing.T) {
		rec := f.do("POST", "/v1/verifications", `{"to":"0211234567"}`, "Idempotency-Key", "order-1", "Authorization", "Bearer "+adminSecret)
		if rec.Code != http.StatusOK || rec.Header().Get("Idempotent-Replayed") != "" {
			t.Errorf("same key under another API key = %d replayed=%q, want a fresh 200 resend", rec.Code, rec.Header().Get("Idempotent-Replayed"))
		}
		if n := f.sender.count(); n != 2 {
			t.Errorf("%d SMS sent, want 2", n)
		}
	})

	t.Run("kept 24 hours", func(t *testing.T) {
		ttl := f.rdb.TTL(context.Background(), "otpgate:idem:{"+api.ScopedKey("shop", "order-1")+"}").Val()
		if ttl < 23*time.Hour || ttl > 24*time.Hour {
			t.Errorf("record TTL = %v, want 24h", ttl)
		}
	})
}

func TestIdempotencyKeyValidation(t *testing.T) {
	f := newFixture(t, nil)
	for _, key := range []string{strings.Repeat("k", 256), "tab\there", "ünïcode"} {
		wantError(t, f.do("POST", "/v1/verifications", `{"to":"0211234567"}`, "Idempotency-Key", key), http.StatusBadRequest, "invalid_request")
	}
	if n := f.sender.count(); n != 0 {
		t.Errorf("%d SMS sent", n)
	}
}

func TestIdempotencyFailureFreesKey(t *testing.T) {
	cases := []struct {
		name   string
		fail   func(f *fixture)
		status int
	}{
		{"upstream error", func(f *fixture) { f.sender.setFail(otp.ErrUpstream) }, http.StatusBadGateway},
		{"invalid number", nil, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			body := `{"to":"0211234567"}`
			if tc.fail != nil {
				tc.fail(f)
			} else {
				body = `{"to":"12"}`
			}
			if rec := f.do("POST", "/v1/verifications", body, "Idempotency-Key", "k"); rec.Code != tc.status {
				t.Fatalf("first = %d, want %d", rec.Code, tc.status)
			}
			f.sender.setFail(nil)
			rec := f.do("POST", "/v1/verifications", body, "Idempotency-Key", "k")
			if rec.Header().Get("Idempotent-Replayed") != "" {
				t.Errorf("a failed answer was replayed: %d %s", rec.Code, rec.Body)
			}
			n, _ := f.rdb.Exists(context.Background(), "otpgate:idem:{"+api.ScopedKey("shop", "k")+"}").Result()
			if tc.status == http.StatusBadGateway && (rec.Code != http.StatusCreated || n != 1) {
				t.Errorf("retry = %d (record stored: %v), want 201 and stored", rec.Code, n == 1)
			}
		})
	}
}

func TestIdempotencyInFlight(t *testing.T) {
	rdb, _ := redistest.Mini(t)
	stub := &stubVerifier{v: &otp.Verification{ID: "ver_0123456789abcdef0123456789abcdef", Status: otp.StatusPending}, create: true}
	f := newFixture(t, rdb, withVerifier(stub), func(c *api.Config) { c.IdempotencyWait = time.Nanosecond })
	// Another request holds the key, as if it were still sending.
	if err := api.HoldIdempotencyKey(context.Background(), redisstore.NewIdempotency(rdb), "shop", "k", "0211234567"); err != nil {
		t.Fatalf("hold key: %v", err)
	}
	rec := f.do("POST", "/v1/verifications", `{"to":"0211234567"}`, "Idempotency-Key", "k")
	wantError(t, rec, http.StatusConflict, "idempotency_key_in_use")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("409 idempotency_key_in_use without Retry-After")
	}
	wantError(t, f.do("POST", "/v1/verifications", `{"to":"0219999999"}`, "Idempotency-Key", "k"),
		http.StatusUnprocessableEntity, "idempotency_conflict")
	if n := stub.called(); n != 0 {
		t.Errorf("Start called %d times while the key was held", n)
	}
}

func TestIdempotencyStoreDown(t *testing.T) {
	stub := &stubVerifier{}
	f := newFixture(t, nil, withVerifier(stub), func(c *api.Config) { c.Idempotency = downIdempotency{} })
	wantError(t, f.do("POST", "/v1/verifications", `{"to":"0211234567"}`, "Idempotency-Key", "k"), http.StatusServiceUnavailable, "unavailable")
	if n := stub.called(); n != 0 {
		t.Errorf("Start called %d times without the idempotency guarantee", n)
	}
}

// TestIdempotencyConcurrentDuplicates sends one Idempotency-Key from many
// goroutines at once against a real Redis: one SMS, one answer for all.
func TestIdempotencyConcurrentDuplicates(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		f := newFixture(t, rdb)
		const n = 30
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			bodies = make(map[string]int)
			codes  = make(map[int]int)
			ready  = make(chan struct{})
		)
		for range n {
			wg.Go(func() {
				<-ready
				req := httptest.NewRequest("POST", "/v1/verifications", strings.NewReader(`{"to":"0211234567"}`))
				req.Header.Set("Authorization", "Bearer "+clientSecret)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", "same")
				rec := httptest.NewRecorder()
				f.h.ServeHTTP(rec, req)
				mu.Lock()
				defer mu.Unlock()
				codes[rec.Code]++
				bodies[rec.Body.String()]++
			})
		}
		close(ready)
		wg.Wait()
		if sends := f.sender.count(); sends != 1 {
			t.Errorf("%d SMS sent for %d duplicates, want 1", sends, n)
		}
		if codes[http.StatusCreated] != n || len(bodies) != 1 {
			t.Errorf("statuses %v, %d distinct bodies; want %d × 201 with one body", codes, len(bodies), n)
		}
	})
}

// downIdempotency is an IdempotencyStore whose Redis is gone.
type downIdempotency struct{}

func (downIdempotency) Claim(context.Context, string, []byte, time.Duration) ([]byte, bool, error) {
	return nil, false, fmt.Errorf("dial tcp: connection refused")
}

func (downIdempotency) Complete(context.Context, string, []byte, []byte, time.Duration) (bool, error) {
	return false, fmt.Errorf("dial tcp: connection refused")
}

func (downIdempotency) Release(context.Context, string, []byte) error {
	return fmt.Errorf("dial tcp: connection refused")
}

// unsavedIdempotency claims keys for real but cannot save an answer, as
// when the replicas do not acknowledge the record in time.
type unsavedIdempotency struct{ api.IdempotencyStore }

func (unsavedIdempotency) Complete(context.Context, string, []byte, []byte, time.Duration) (bool, error) {
	return false, fmt.Errorf("0 of 1 replicas acknowledged the write within 500ms")
}

// An answer that could not be saved for replays is not given: the start
// answers 503 and says that a code went out, and the claim is kept, so a
// retry with the key does not send a second code at once.
func TestIdempotencyRecordNotSaved(t *testing.T) {
	rdb, _ := redistest.Mini(t)
	f := newFixture(t, rdb, func(c *api.Config) {
		c.Idempotency = unsavedIdempotency{redisstore.NewIdempotency(rdb)}
		c.IdempotencyWait = time.Nanosecond
	})
	e := wantError(t, f.do("POST", "/v1/verifications", `{"to":"0211234567"}`, "Idempotency-Key", "k"), http.StatusServiceUnavailable, "unavailable")
	if !strings.Contains(e.Error.Message, "The code was sent") {
		t.Errorf("message %q does not say that a code was sent", e.Error.Message)
	}
	if n := f.sender.count(); n != 1 {
		t.Fatalf("%d SMS sent, want 1", n)
	}
	f.clock.Advance(time.Minute) // past the cooldown
	wantError(t, f.do("POST", "/v1/verifications", `{"to":"0211234567"}`, "Idempotency-Key", "k"), http.StatusConflict, "idempotency_key_in_use")
	if n := f.sender.count(); n != 1 {
		t.Errorf("%d SMS sent after a retry with the same key, want still 1", n)
	}
}
