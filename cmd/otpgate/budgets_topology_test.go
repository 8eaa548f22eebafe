package main

// §9b's promise under concurrency: parallel starts never send one SMS over
// a static cap or, in enforce, over a guard threshold, on single, Sentinel
// and Cluster Redis.

import (
	"fmt"
	"maps"
	"net/http"
	"testing"

	"github.com/otpgate/otpgate/client"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func TestBudgetsExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	const starts = 60
	onePrefix := func(i int) string { return fmt.Sprintf("021 555 %04d", i) }
	// Every start in a prefix of its own, so only the country is shared.
	oneCountry := func(i int) string { return fmt.Sprintf("021 %03d %04d", 200+i, i) }
	for _, tt := range []struct {
		name string
		env  map[string]string
		to   func(i int) string
		want int    // starts that send
		code string // the refusal of the others
	}{
		{"prefix cap", map[string]string{"RATE_LIMIT_SENDS_PER_PREFIX": "10-H"}, onePrefix, 10, "rate_limited"},
		{"daily budget", map[string]string{"OTP_DAILY_SEND_LIMITS": "NZ:7"}, oneCountry, 7, "send_budget_exhausted"},
		{"guard prefix threshold", map[string]string{"OTP_FRAUD_GUARD": "enforce", "OTP_FRAUD_GUARD_FLOORS": "prefix_hour:4"}, onePrefix, 4, "fraud_guard"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
				fake := connexustest.NewServer()
				t.Cleanup(fake.Close)
				env := productionEnv(fake.URL, topologyEnv(tp))
				maps.Copy(env, tt.env)
				f := &fixture{fake: fake, instance: start(t, env)}

				c := f.client(t, topologyKey)
				got := make([]started, starts)
				parallel(starts, func(i int) {
					// An end user each, as an attacker rotating addresses.
					p := &client.StartParams{To: tt.to(i), ClientIP: fmt.Sprintf("203.0.113.%d", i+1)}
					v, resp, err := c.Start(t.Context(), p)
					got[i] = started{v, resp, err}
				})
				created := 0
				for _, r := range got {
					if r.err == nil && r.resp.StatusCode == http.StatusCreated {
						created++
						continue
					}
					wantErr(t, "parallel start", r.err, http.StatusTooManyRequests, tt.code)
					if h := errorReply(t, "parallel start", r.err).header; h.Get("Retry-After") == "" {
						t.Errorf("parallel start refused without Retry-After: %v", h)
					}
				}
				sms, lookups := fake.RequestCount("sms/otp"), fake.RequestCount("number/lookup")
				t.Logf("%d parallel starts: %d created, %d sms/otp requests, %d lookups", starts, created, sms, lookups)
				if created != tt.want || sms != tt.want || len(fake.Messages()) != tt.want {
					t.Errorf("%d created, %d sms/otp requests, %d SMS; want exactly %d of each", created, sms, len(fake.Messages()), tt.want)
				}
				if lookups != tt.want {
					t.Errorf("%d lookups, want %d: a refused start looks nothing up", lookups, tt.want)
				}
				if n := f.series(t, "otpgate_send_cost_events_total", map[string]string{"country": "NZ", "sender": "connexus"}); n != float64(tt.want) {
					t.Errorf("otpgate_send_cost_events_total = %v, want %d", n, tt.want)
				}
			})
		})
	}
}
