package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// budgets is an otp.Budgets that keeps nothing: Reserve refuses with what
// refuse makes of the request, or allows with warnings when refuse is nil.
type budgets struct {
	refuse   func(otp.BudgetRequest) error
	warnings []otp.Warning
}

func (b budgets) Reserve(_ context.Context, r otp.BudgetRequest) ([]otp.Warning, error) {
	if b.refuse != nil {
		return nil, b.refuse(r)
	}
	return b.warnings, nil
}

func (budgets) Release(context.Context, otp.BudgetRequest) error      { return nil }
func (budgets) Bind(context.Context, string, string, time.Time) error { return nil }
func (budgets) Approve(context.Context, string, time.Time) error      { return nil }

// withBudgets serves a service whose budgets are b, under the default
// BudgetConfig, sending through sender.
func withBudgets(t *testing.T, b otp.Budgets, sender *fakeSender) func(*api.Config) {
	t.Helper()
	rdb, _ := redistest.Mini(t)
	return func(c *api.Config) {
		svc := newService(t, rdb, sender, c.Now, c.Metrics, otp.WithBudgets(b, otp.DefaultBudgetConfig()))
		c.Verifier, c.Ready = svc, svc.Ready
	}
}

// TestBudgetRefusals: a start the send budgets or the fraud guard refuse
// answers 429 with its code, Retry-After and X-RateLimit-*, and sends and
// stores nothing.
func TestBudgetRefusals(t *testing.T) {
	// The fixture's clock reads 02:04:05 UTC on 2 January 2030.
	midnight := time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		refuse  func(otp.BudgetRequest) error
		code    string
		headers map[string]string
		metrics []string // series /metrics must then show
	}{
		{
			name: "daily budget",
			// As the store does: the day's budget frees up at the next UTC
			// midnight after the request's time.
			refuse: func(r otp.BudgetRequest) error {
				return &otp.LimitError{Kind: otp.ErrSendBudget, Limit: 500, Reset: r.Now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)}
			},
			code: "send_budget_exhausted",
			headers: map[string]string{
				"Retry-After": fmt.Sprint(21*3600 + 55*60 + 55), "X-RateLimit-Limit": "500",
				"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": fmt.Sprint(midnight.Unix()),
			},
			metrics: []string{`otpgate_rate_limit_rejections_total{scope="send_budget"} 1`},
		},
		{
			name: "fraud guard",
			refuse: func(r otp.BudgetRequest) error {
				return &otp.LimitError{Kind: otp.ErrFraudGuard, Limit: 50, Reset: r.Now.Add(40 * time.Minute),
					Warnings: []otp.Warning{otp.WarnCountryDaily, otp.WarnPrefixHourly}}
			},
			code:    "fraud_guard",
			headers: map[string]string{"Retry-After": "2400", "X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0"},
			metrics: []string{
				`otpgate_fraud_guard_decisions_total{country="NZ",decision="refused",warning="country_daily"} 1`,
				`otpgate_fraud_guard_decisions_total{country="NZ",decision="refused",warning="prefix_hourly"} 1`,
			},
		},
		{
			name: "prefix cap",
			refuse: func(r otp.BudgetRequest) error {
				return &otp.LimitError{Kind: otp.ErrRateLimited, Limit: 30, Remaining: 0, Reset: r.Now.Add(90 * time.Second)}
			},
			code:    "rate_limited",
			headers: map[string]string{"Retry-After": "90", "X-RateLimit-Limit": "30"},
			// The series the prefix alert of deploy/prometheus reads.
			metrics: []string{`otpgate_rate_limit_rejections_total{scope="prefix"} 1`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sender := &fakeSender{}
			f := newFixture(t, nil, withBudgets(t, budgets{refuse: tt.refuse}, sender))
			rec := f.do("POST", "/v1/verifications", `{"to":"021 123 4567"}`)
			wantError(t, rec, http.StatusTooManyRequests, tt.code)
			for h, want := range tt.headers {
				if got := rec.Header().Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if n := sender.count(); n != 0 {
				t.Errorf("%d SMS sent, want none", n)
			}
			wantError(t, f.do("POST", "/v1/checks", `{"to":"021 123 4567","code":"`+testCode+`"}`), http.StatusNotFound, "verification_not_found")
			metrics := f.do("GET", "/metrics", "").Body.String()
			for _, want := range tt.metrics {
				if !strings.Contains(metrics, want+"\n") {
					t.Errorf("metrics lack %s", want)
				}
			}
			if strings.Contains(metrics, "otpgate_verifications_total{") || strings.Contains(metrics, "otpgate_send_cost_events_total{") {
				t.Errorf("a refused start counted a verification or an SMS:\n%s", metrics)
			}
		})
	}
}

// TestGuardDecisionsShown: a start the guard lets through is counted by
// its decision, once per warning that fired or once as warning "none", and
// its verification and SMS by country.
func TestGuardDecisionsShown(t *testing.T) {
	tests := []struct {
		name     string
		warnings []otp.Warning
		want     []string
	}{
		{name: "clean", want: []string{`otpgate_fraud_guard_decisions_total{country="NZ",decision="allowed",warning="none"} 1`}},
		{name: "recorded", warnings: []otp.Warning{otp.WarnCountryHourly, otp.WarnIPCountries}, want: []string{
			`otpgate_fraud_guard_decisions_total{country="NZ",decision="recorded",warning="country_hourly"} 1`,
			`otpgate_fraud_guard_decisions_total{country="NZ",decision="recorded",warning="ip_countries"} 1`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sender := &fakeSender{}
			f := newFixture(t, nil, withBudgets(t, budgets{warnings: tt.warnings}, sender))
			if rec := f.do("POST", "/v1/verifications", `{"to":"021 123 4567"}`); rec.Code != http.StatusCreated {
				t.Fatalf("start: %d %s", rec.Code, rec.Body)
			}
			if n := sender.count(); n != 1 {
				t.Errorf("%d SMS sent, want 1", n)
			}
			metrics := f.do("GET", "/metrics", "").Body.String()
			want := append(tt.want, `otpgate_verifications_total{country="NZ",event="pending"} 1`, `otpgate_send_cost_events_total{country="NZ",sender="unknown"} 1`)
			for _, w := range want {
				if !strings.Contains(metrics, w+"\n") {
					t.Errorf("metrics lack %s", w)
				}
			}
			if got, want := strings.Count(metrics, "\notpgate_fraud_guard_decisions_total{"), len(tt.want); got != want {
				t.Errorf("%d decision series, want %d:\n%s", got, want, metrics)
			}
		})
	}
}
