package main

// The static send budgets of CONTRACT.md §9b, end to end: the whole
// program on its own real Redis and the Connexus fake, on an injected
// clock, so Retry-After is checked exactly and windows pass without
// sleeping. The fraud guard is in budgets_guard_test.go, exactness under
// concurrency on every topology in budgets_topology_test.go.

import (
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/client"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// newBudgetFixture runs the program with productionEnv and env on its own
// real Redis, on a clock that starts at at.
func newBudgetFixture(t *testing.T, at time.Time, env map[string]string) *fixture {
	t.Helper()
	fake := connexustest.NewServer()
	t.Cleanup(fake.Close)
	full := productionEnv(fake.URL, map[string]string{"REDIS_URL": redisURL(redistest.Real(t))})
	maps.Copy(full, env)
	f := &fixture{fake: fake, clock: otptest.NewClock(at)}
	f.instance = startClocked(t, full, f.clock)
	return f
}

// startFrom starts a verification of to for an end user at ip ("" sends
// no client_ip) and returns the refusal.
func (f *fixture) startFrom(t *testing.T, to, ip string) error {
	t.Helper()
	return f.start(t, &client.StartParams{To: to, ClientIP: ip}).err
}

// mustCreateFrom starts a verification of to from ip and wants 201.
func (f *fixture) mustCreateFrom(t *testing.T, to, ip string) *client.Verification {
	t.Helper()
	s := f.start(t, &client.StartParams{To: to, ClientIP: ip})
	if s.err != nil || s.resp.StatusCode != http.StatusCreated {
		t.Fatalf("start %s: %+v %v, want 201", to, s.Verification, s.err)
	}
	return s.Verification
}

// approve checks the code the fake delivered to number, by to, and wants
// the approval.
func (f *fixture) approve(t *testing.T, to, number string) {
	t.Helper()
	wantCheck(t, "approve "+to, f.checkTo(t, to, f.code(t, number)), "approved", true, defaultAttempts-1)
}

// canonical writes a number the way the fake's requests and the API's
// answers may, as digits with country code (NZ local numbers begin 0).
func canonical(n string) string {
	d := digitsOf(n)
	if strings.HasPrefix(d, "0") {
		return "64" + d[1:]
	}
	return d
}

// upstreamFor counts the requests the fake received on path about number,
// which sms/otp names "to" and number/lookup "number".
func (f *fixture) upstreamFor(path, number string) int {
	field := map[string]string{"sms/otp": "to", "number/lookup": "number"}[path]
	n := 0
	for _, r := range f.fake.Requests() {
		if r.Path == path && canonical(param(r, field)) == number {
			n++
		}
	}
	return n
}

// wantNothingFor wants a refused start of to (number normalised) to have
// cost nothing and left nothing: no SMS, no lookup, nothing to check.
func wantNothingFor(t *testing.T, f *fixture, what, to, number string) {
	t.Helper()
	if n := f.upstreamFor("sms/otp", number); n != 0 {
		t.Errorf("%s: %d sms/otp requests to %s, want none", what, n, number)
	}
	if n := f.upstreamFor("number/lookup", number); n != 0 {
		t.Errorf("%s: %d lookups of %s, want none", what, n, number)
	}
	wantErr(t, what+": check by to", f.checkTo(t, to, "123456").err, http.StatusNotFound, "verification_not_found")
}

// wantLimited wants a 429 with code whose X-RateLimit-* headers give limit,
// nothing remaining and a reset Retry-After away; Retry-After is within
// [low, high]. err is the refusal the Go client returned. It returns
// Retry-After.
func wantLimited(t *testing.T, f *fixture, what string, err error, code string, limit, low, high int) time.Duration {
	t.Helper()
	wantErr(t, what, err, http.StatusTooManyRequests, code)
	r := errorReply(t, what, err)
	wantRetryAfter(t, what, r, low, high)
	after, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if got := r.header.Get("X-RateLimit-Limit"); got != strconv.Itoa(limit) {
		t.Errorf("%s: X-RateLimit-Limit %q, want %d", what, got, limit)
	}
	if got := r.header.Get("X-RateLimit-Remaining"); got != "0" {
		t.Errorf("%s: X-RateLimit-Remaining %q, want 0", what, got)
	}
	// Retry-After rounds the reset up to a whole second, the Unix time
	// down.
	reset, _ := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
	if at := f.clock.Now().Unix() + int64(after); reset != at && reset != at-1 {
		t.Errorf("%s: X-RateLimit-Reset %d, want %d (now + Retry-After)", what, reset, at)
	}
	return time.Duration(after) * time.Second
}

// sample is one series of /metrics.
type sample struct {
	labels map[string]string
	value  float64
}

var labelPair = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// samples reads every series of the metric name from /metrics.
func (in *instance) samples(t *testing.T, name string) []sample {
	t.Helper()
	var out []sample
	for line := range strings.SplitSeq(in.scrape(t), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		s := sample{labels: map[string]string{}}
		if rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			for _, m := range labelPair.FindAllStringSubmatch(rest[:end], -1) {
				s.labels[m[1]] = m[2]
			}
			rest = rest[end+1:]
		}
		var err error
		if s.value, err = strconv.ParseFloat(strings.TrimSpace(rest), 64); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out = append(out, s)
	}
	return out
}

// series is the value of the series of name with exactly labels, 0 when
// /metrics has none (a counter not yet counted).
func (in *instance) series(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	for _, s := range in.samples(t, name) {
		if maps.Equal(s.labels, labels) {
			return s.value
		}
	}
	return 0
}

// decisions are the fraud guard's decision lines logged so far.
func (o *output) decisions() []map[string]any {
	var out []map[string]any
	for line := range strings.SplitSeq(o.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["decision"] != nil {
			out = append(out, rec)
		}
	}
	return out
}

func TestBudgetPrefixCap(t *testing.T) {
	t.Parallel()
	f := newBudgetFixture(t, newClock().Now(), map[string]string{"RATE_LIMIT_SENDS_PER_PREFIX": "3-H"})
	// Three numbers of the prefix 6421555, ten minutes apart.
	for _, to := range []string{"021 555 0001", "021 555 0002", "021 555 0003"} {
		f.mustCreateFrom(t, to, "")
		f.clock.Advance(10 * time.Minute)
	}
	const to, number = "021 555 0004", "64215550004"
	err := f.startFrom(t, to, "")
	// The first send leaves the hour's window 30 minutes from now.
	after := wantLimited(t, f, "a fourth number of the prefix", err, "rate_limited", 3, 1800, 1800)
	wantNothingFor(t, f, "a fourth number of the prefix", to, number)
	// A number of another prefix is not limited by this one's sends.
	f.mustCreateFrom(t, "021 556 0004", "")

	f.clock.Advance(after - time.Second)
	wantErr(t, "a second before Retry-After", f.startFrom(t, to, ""), http.StatusTooManyRequests, "rate_limited")
	f.clock.Advance(time.Second)
	// The refusals started no cooldown and left nothing pending: this is a
	// first send.
	if v := f.mustCreateFrom(t, to, ""); v.Sends != 1 {
		t.Errorf("start at Retry-After answered %+v, want a new verification", v)
	}
	if n := len(f.fake.Messages()); n != 5 {
		t.Errorf("%d SMS, want 5", n)
	}
	f.approve(t, to, number)
}

// nextUTCMidnight is the first UTC midnight after t.
func nextUTCMidnight(t time.Time) time.Time {
	return t.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
}

func TestBudgetDailyLimits(t *testing.T) {
	t.Parallel()
	// Ten minutes before a UTC midnight, a day or two ahead, so that the
	// clock never runs behind the wall clock.
	midnight := nextUTCMidnight(time.Now()).Add(24 * time.Hour)
	f := newBudgetFixture(t, midnight.Add(-10*time.Minute), map[string]string{
		"OTP_DAILY_SEND_LIMITS": "NZ:2,*:3",
		"OTP_ALLOWED_COUNTRIES": "NZ,AU",
	})
	f.mustCreateFrom(t, "021 100 0001", "")
	f.mustCreateFrom(t, "021 200 0002", "")
	const nzTo, nzNumber = "021 300 0003", "64213000003"
	err := f.startFrom(t, nzTo, "")
	wantLimited(t, f, "a third NZ send of the day", err, "send_budget_exhausted", 2, 600, 600)
	wantNothingFor(t, f, "a third NZ send of the day", nzTo, nzNumber)

	// AU is under its own budget (none) and the all-countries one.
	f.mustCreateFrom(t, "+61 412 345 001", "")
	const auTo, auNumber = "+61 412 345 002", "61412345002"
	err = f.startFrom(t, auTo, "")
	wantLimited(t, f, "a fourth send of the day", err, "send_budget_exhausted", 3, 600, 600)
	wantNothingFor(t, f, "a fourth send of the day", auTo, auNumber)

	f.clock.Advance(10*time.Minute - time.Second)
	err = f.startFrom(t, nzTo, "")
	wantLimited(t, f, "a third NZ send a second before midnight", err, "send_budget_exhausted", 2, 1, 1)
	// A new UTC day, new budgets.
	f.clock.Advance(time.Second)
	f.mustCreateFrom(t, nzTo, "")
	f.mustCreateFrom(t, auTo, "")
	if n := len(f.fake.Messages()); n != 5 {
		t.Errorf("%d SMS, want 5", n)
	}
}

func TestBudgetMetrics(t *testing.T) {
	t.Parallel()
	f := newBudgetFixture(t, newClock().Now(), map[string]string{"OTP_DAILY_SEND_LIMITS": "NZ:1"})
	const sent = "otpgate_send_cost_events_total"
	const verifications = "otpgate_verifications_total"
	f.mustCreateFrom(t, "021 555 0001", "")
	f.mustCreateFrom(t, "+61 412 345 001", "")
	// Refused by the budget: no verification, no SMS.
	wantErr(t, "a second NZ send", f.startFrom(t, "021 555 0002", ""), http.StatusTooManyRequests, "send_budget_exhausted")
	f.approve(t, "021 555 0001", "64215550001")

	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{verifications, map[string]string{"event": "pending", "country": "NZ"}, 1},
		{verifications, map[string]string{"event": "approved", "country": "NZ"}, 1},
		{verifications, map[string]string{"event": "pending", "country": "AU"}, 1},
		{verifications, map[string]string{"event": "approved", "country": "AU"}, 0},
		{sent, map[string]string{"country": "NZ", "sender": "connexus"}, 1},
		{sent, map[string]string{"country": "AU", "sender": "connexus"}, 1},
		// The guard records by default: two clean decisions.
		{"otpgate_fraud_guard_decisions_total", map[string]string{"decision": "allowed", "warning": "none", "country": "NZ"}, 1},
		{"otpgate_fraud_guard_decisions_total", map[string]string{"decision": "allowed", "warning": "none", "country": "AU"}, 1},
	} {
		if got := f.series(t, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	var total float64
	for _, s := range f.samples(t, sent) {
		total += s.value
	}
	if total != 2 {
		t.Errorf("%s sums to %v over every series, want 2 (the SMS sent)", sent, total)
	}
}

// TestBudgetsCountWhatMayCost: the caps and the guard count SMS that went
// out or may have (a resend, a send whose answer was lost), never a start
// that sent nothing: a cooldown, an invalid number, a failed send, another
// limit.
func TestBudgetsCountWhatMayCost(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		env  map[string]string
		code string
	}{
		{"prefix cap", map[string]string{"RATE_LIMIT_SENDS_PER_PREFIX": "4-H"}, "rate_limited"},
		{"daily budget", map[string]string{"OTP_DAILY_SEND_LIMITS": "NZ:4"}, "send_budget_exhausted"},
		{"guard", map[string]string{"OTP_FRAUD_GUARD": "enforce", "OTP_FRAUD_GUARD_FLOORS": "prefix_hour:4"}, "fraud_guard"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"RATE_LIMIT_STARTS_PER_IP": "1-H"}
			maps.Copy(env, tt.env)
			f := newBudgetFixture(t, newClock().Now(), env)
			const ip = "198.51.100.30"
			f.fake.SetNumberType("021 555 0009", connexustest.NumberLandline)
			f.mustCreateFrom(t, "021 555 0001", ip) // 1
			wantErr(t, "a start in the cooldown", f.startFrom(t, "021 555 0001", ""), http.StatusTooManyRequests, "resend_cooldown")
			wantErr(t, "a landline", f.startFrom(t, "021 555 0009", ""), http.StatusBadRequest, "invalid_phone_number")
			f.fake.FailNext("sms/otp", http.StatusInternalServerError, 1)
			wantErr(t, "a failed send", f.startFrom(t, "021 555 0002", ""), http.StatusBadGateway, "upstream_error")
			wantErr(t, "a second start from one end user", f.startFrom(t, "021 555 0003", ip), http.StatusTooManyRequests, "rate_limited")
			// The connection drops once the request is out: the SMS may
			// have gone, so it costs.
			f.fake.DropNext("sms/otp", 1)
			wantErr(t, "a send whose answer was lost", f.startFrom(t, "021 555 0004", ""), http.StatusBadGateway, "upstream_error") // 2
			f.clock.Advance(defaultCooldown)
			if v := f.mustStart(t, "021 555 0001", http.StatusOK); v.Sends != 2 {
				t.Errorf("resend answered %+v, want sends 2", v)
			} // 3
			f.mustCreateFrom(t, "021 555 0002", "") // 4
			wantErr(t, "a fifth send", f.startFrom(t, "021 555 0005", ""), http.StatusTooManyRequests, tt.code)
		})
	}
}
