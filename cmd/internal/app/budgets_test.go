package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// TestBudgetsWired: the configured daily budget holds on the store, its
// refusal waits for the next UTC midnight, and the guard's decisions and
// the refusal reach /metrics.
func TestBudgetsWired(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		fake := connexustest.NewServer()
		t.Cleanup(fake.Close)
		cfg := productionConfig(t, fake.URL)
		cfg.Budgets.Daily = map[string]int{"NZ": 1}
		now := time.Date(2030, 1, 2, 20, 0, 0, 0, time.UTC)
		a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard, WithRedis(rdb), WithClock(func() time.Time { return now }))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		start := func(to string) *httptest.ResponseRecorder {
			req := httptest.NewRequest("POST", "/v1/verifications", strings.NewReader(`{"to":"`+to+`"}`))
			req.Header.Set("Authorization", "Bearer "+testKey)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			a.Handler.ServeHTTP(rec, req)
			return rec
		}

		if rec := start("021 234 567"); rec.Code != http.StatusCreated {
			t.Fatalf("first start: %d %s", rec.Code, rec.Body)
		}
		rec := start("021 234 568")
		if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), `"send_budget_exhausted"`) {
			t.Fatalf("start past NZ:1: %d %s, want 429 send_budget_exhausted", rec.Code, rec.Body)
		}
		if got, want := rec.Header().Get("Retry-After"), "14400"; got != want {
			t.Errorf("Retry-After = %s, want %s: the 4 h to the next UTC midnight", got, want)
		}

		rec = httptest.NewRecorder()
		a.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		for _, want := range []string{
			`otpgate_fraud_guard_decisions_total{country="NZ",decision="allowed",warning="none"} 1`,
			`otpgate_rate_limit_rejections_total{scope="send_budget"} 1`,
			`otpgate_verifications_total{country="NZ",event="pending"} 1`,
		} {
			if !strings.Contains(rec.Body.String(), want+"\n") {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}
