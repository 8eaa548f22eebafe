package main

// The fraud guard's thresholds as CONTRACT.md §9b gives them, in enforce:
// each floor, the 24 h threshold ÷ 6, R × the best day of the past 14 and
// R × approvals in 24 h, two warnings at once; a cancel verifies nothing;
// with the guard off only the static caps hold.

import (
	"fmt"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/otpgate/otpgate/client"
)

func TestGuardThresholds(t *testing.T) {
	t.Parallel()
	// The i-th number of a prefix of its own, and of one shared prefix.
	ownPrefix := func(i int) string { return fmt.Sprintf("6421%03d%04d", 100+i, i) }
	sharedPrefix := func(i int) string { return fmt.Sprintf("6421555%04d", i) }
	tests := []struct {
		name   string
		env    map[string]string
		number func(i int) string
		// approvals are approved sends before the test's starts, after
		// which the clock moves by wait.
		approvals int
		wait      time.Duration
		allowed   int // starts that go through before the refused one
		warnings  []string
		limit     int
		retry     [2]int // Retry-After bounds
	}{
		{
			// The daily floor is low enough (6 / 6) for the hourly one to
			// hold.
			name: "country hourly floor", env: map[string]string{"OTP_FRAUD_GUARD_FLOORS": "country_day:6,country_hour:2"},
			number: ownPrefix, allowed: 2, warnings: []string{"country_hourly"}, limit: 2, retry: [2]int{3600, 3601},
		},
		{
			name: "country daily floor", env: map[string]string{"OTP_FRAUD_GUARD_FLOORS": "country_day:3,country_hour:100"},
			number: ownPrefix, allowed: 3, warnings: []string{"country_daily"}, limit: 3, retry: [2]int{86400, 86401},
		},
		{
			// The hourly threshold is at least the daily one ÷ 6: 60 / 6.
			name: "a sixth of the daily threshold", env: map[string]string{"OTP_FRAUD_GUARD_FLOORS": "country_day:60,country_hour:1"},
			number: ownPrefix, allowed: 10, warnings: []string{"country_hourly"}, limit: 10, retry: [2]int{3600, 3601},
		},
		{
			name: "two warnings at once", env: map[string]string{"OTP_FRAUD_GUARD_FLOORS": "country_day:6,country_hour:2,prefix_hour:2"},
			number: sharedPrefix, allowed: 2, warnings: []string{"country_hourly", "prefix_hourly"}, limit: 2, retry: [2]int{3600, 3601},
		},
		{
			// Five approvals yesterday: R × 5 today, above the floor of 2.
			name: "the best day of the past 14",
			env: map[string]string{"OTP_FRAUD_GUARD_RATIO": "1",
				"OTP_FRAUD_GUARD_FLOORS": "country_day:2,country_hour:100,prefix_hour:100"},
			number: ownPrefix, approvals: 5, wait: 25 * time.Hour,
			allowed: 5, warnings: []string{"country_daily"}, limit: 5, retry: [2]int{86400, 86401},
		},
		{
			// Four approvals just now: R × 4 in the past 24 h.
			name: "approvals in the past 24 h",
			env: map[string]string{"OTP_FRAUD_GUARD_RATIO": "1",
				"OTP_FRAUD_GUARD_FLOORS": "country_day:2,country_hour:100,prefix_hour:100"},
			number: ownPrefix, approvals: 4,
			allowed: 4, warnings: []string{"country_daily"}, limit: 4, retry: [2]int{1, 86401},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"OTP_FRAUD_GUARD": "enforce"}
			maps.Copy(env, tt.env)
			f := newBudgetFixture(t, newClock().Now(), env)
			for i := range tt.approvals {
				n := tt.number(50 + i)
				f.mustCreateFrom(t, "+"+n, "")
				f.approve(t, "+"+n, n)
			}
			f.clock.Advance(tt.wait)
			for i := range tt.allowed {
				f.mustCreateFrom(t, "+"+tt.number(i), "")
			}
			refused := tt.number(tt.allowed)
			err := f.startFrom(t, "+"+refused, "")
			wantLimited(t, f, "one unverified send too many", err, "fraud_guard", tt.limit, tt.retry[0], tt.retry[1])
			wantNothingFor(t, f, "one unverified send too many", "+"+refused, refused)
			wantDecision(t, f, "one unverified send too many", refused, "refused", tt.warnings, "NZ", "")
			// One count per warning that fired.
			for _, w := range tt.warnings {
				wantDecisions(t, f, "refused", w, "NZ", 1)
			}
		})
	}
}

// TestGuardCancelVerifiesNothing: only an approval makes a send verified;
// an app (or whoever holds its key) canceling verifications does not
// make room for more.
func TestGuardCancelVerifiesNothing(t *testing.T) {
	t.Parallel()
	f := newBudgetFixture(t, newClock().Now(), map[string]string{
		"OTP_FRAUD_GUARD":        "enforce",
		"OTP_FRAUD_GUARD_FLOORS": "prefix_hour:2",
	})
	for _, to := range []string{"021 555 0001", "021 555 0002"} {
		id := f.mustCreateFrom(t, to, "").ID
		if v, err := f.cancel(t, id); err != nil || v.Status != client.StatusCanceled {
			t.Fatalf("cancel %s: %+v %v", to, v, err)
		}
	}
	wantErr(t, "a third send after two cancels", f.startFrom(t, "021 555 0003", ""), http.StatusTooManyRequests, "fraud_guard")
	if n := len(f.fake.Messages()); n != 2 {
		t.Errorf("%d SMS, want 2", n)
	}
}

// TestGuardOff: OTP_FRAUD_GUARD=off decides nothing, logs and counts no
// decision, while the static caps still hold.
func TestGuardOff(t *testing.T) {
	t.Parallel()
	f := newBudgetFixture(t, newClock().Now(), map[string]string{
		"OTP_FRAUD_GUARD":             "off",
		"OTP_FRAUD_GUARD_FLOORS":      "prefix_hour:1,country_hour:1",
		"RATE_LIMIT_SENDS_PER_PREFIX": "3-H",
	})
	for _, to := range []string{"021 555 0001", "021 555 0002", "021 555 0003"} {
		f.mustCreateFrom(t, to, "")
	}
	wantErr(t, "a fourth send to the prefix", f.startFrom(t, "021 555 0004", ""), http.StatusTooManyRequests, "rate_limited")
	if d := f.out.decisions(); len(d) != 0 {
		t.Errorf("decision lines with the guard off: %v", d)
	}
	if s := f.samples(t, decisionsMetric); len(s) != 0 {
		t.Errorf("%s with the guard off: %v", decisionsMetric, s)
	}
}
