package smsnexus_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/smsnexus"
	"github.com/otpgate/otpgate/smsnexus/smsnexustest"
)

func TestRetryRules(t *testing.T) {
	balance := func(c *smsnexus.Client) error { _, err := c.Balance(context.Background()); return err }
	messages := func(c *smsnexus.Client) error { _, err := c.Messages(context.Background(), nil); return err }
	sms := func(c *smsnexus.Client) error { _, err := send(c, "6421234567"); return err }
	create := func(c *smsnexus.Client) error {
		_, err := c.CreateWebhook(context.Background(), "https://yourapp.com/hook", []string{smsnexus.EventMessageFailed})
		return err
	}
	fail := func(status, n int) func(*smsnexustest.Server, string) {
		return func(s *smsnexustest.Server, p string) { s.FailNext(p, status, n) }
	}
	drop := func(s *smsnexustest.Server, p string) { s.DropNext(p, 1) }
	hang := func(s *smsnexustest.Server, p string) { s.HangNext(p, 1) }
	tests := []struct {
		name    string
		path    string
		fault   func(*smsnexustest.Server, string)
		op      func(*smsnexus.Client) error
		calls   int
		wantErr bool
	}{
		{"read 503 twice then ok", "balance", fail(503, 2), balance, 3, false},
		{"read 500 thrice gives up", "balance", fail(500, 3), balance, 3, true},
		{"read 502 page once", "messages", func(s *smsnexustest.Server, p string) { s.FailNextRaw(p, 502, "<html/>", 1) }, messages, 2, false},
		{"read 429 waits out Retry-After", "messages", fail(429, 1), messages, 2, false},
		{"read 401 not retried", "balance", fail(401, 1), balance, 1, true},
		{"read 422 not retried", "messages", fail(422, 1), messages, 1, true},
		{"read dropped connection", "balance", drop, balance, 2, false},
		{"read timeout", "balance", hang, balance, 2, false},
		{"send 503 not retried", "sms/send", fail(503, 1), sms, 1, true},
		{"send 429 not retried", "sms/send", fail(429, 1), sms, 1, true},
		{"send dropped connection not retried", "sms/send", drop, sms, 1, true},
		{"webhook registration 503 not retried", "webhooks", fail(503, 1), create, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Two seconds before the fake's rate window ends, so its 429
			// asks for a wait the client sits out.
			clock := otptest.NewClock(time.Date(2026, 3, 8, 12, 0, 58, 0, time.UTC))
			c, s, sl := fakeClient(t, smsnexustest.WithClock(clock.Now))
			tt.fault(s, tt.path)
			err := tt.op(c)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if n := s.RequestCount(tt.path); n != tt.calls {
				t.Fatalf("%s received %d requests, want %d", tt.path, n, tt.calls)
			}
			if n := len(sl.Waits()); n != tt.calls-1 {
				t.Fatalf("%d waits between %d calls", n, tt.calls)
			}
		})
	}
}

// TestReadWaits checks the waits between read retries: a 429's own wait
// when it names one, else the capped backoff; a wait over the cap is not
// sat out.
func TestReadWaits(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		status  int
		want    []time.Duration // exact waits; nil means backoff waits
		calls   int
	}{
		{"Retry-After", []string{"Retry-After", "3"}, 429, []time.Duration{3 * time.Second, 3 * time.Second}, 3},
		{"Retry-After past the cap", []string{"Retry-After", "11"}, 429, []time.Duration{}, 1},
		{"429 without a wait", nil, 429, nil, 3},
		{"503", nil, 503, nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			var waits []time.Duration
			c := rawClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls++
				answer(tt.status, `{"success":false,"message":"slow down"}`, tt.headers...)(w, r)
			}), smsnexus.WithBackoff(100*time.Millisecond, 150*time.Millisecond),
				smsnexus.WithSleeper(func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }))
			if _, err := c.Balance(context.Background()); err == nil {
				t.Fatal("Balance succeeded")
			}
			if calls != tt.calls {
				t.Errorf("%d calls, want %d", calls, tt.calls)
			}
			if tt.want != nil {
				if !slices.Equal(waits, tt.want) {
					t.Errorf("waits %v, want %v", waits, tt.want)
				}
				return
			}
			// Backoff: [50ms, 100ms] before the second call, then capped at [75ms, 150ms].
			if len(waits) != 2 || waits[0] < 50*time.Millisecond || waits[0] > 100*time.Millisecond ||
				waits[1] < 75*time.Millisecond || waits[1] > 150*time.Millisecond {
				t.Errorf("waits %v, want about 100ms then at most 150ms", waits)
			}
		})
	}
}
