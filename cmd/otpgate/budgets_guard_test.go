package main

// The fraud guard of CONTRACT.md §9b end to end: its warnings refuse in
// enforce and only log in record, the allow list, approvals raising the
// thresholds, the decision line and metric, and the Twilio dialect's
// 60410.

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	twverify "github.com/twilio/twilio-go/rest/verify/v2"

	"github.com/otpgate/otpgate/otp"
)

const decisionsMetric = "otpgate_fraud_guard_decisions_total"

// wantDecision wants the one decision line logged about number on which
// a warning fired, with decision, warnings, country and client_ip (absent
// or empty when clientIP is ""); the number appears only masked, nowhere
// in full. §9b logs the decisions on which a warning fired; whether a
// clean allow is logged too it leaves open, so those lines are not
// counted.
func wantDecision(t *testing.T, f *fixture, what, number, decision string, warnings []string, country, clientIP string) {
	t.Helper()
	masked := otp.MaskPhone(number)
	var lines []map[string]any
	for _, d := range f.out.decisions() {
		if d["to"] == masked && d["decision"] != "allowed" {
			lines = append(lines, d)
		}
	}
	if len(lines) != 1 {
		t.Errorf("%s: %d decision lines about %s, want 1: %v", what, len(lines), masked, lines)
		return
	}
	d := lines[0]
	var got []string
	if ws, ok := d["warnings"].([]any); ok {
		for _, w := range ws {
			got = append(got, fmt.Sprint(w))
		}
	}
	slices.Sort(got)
	ipOK := d["client_ip"] == clientIP || clientIP == "" && d["client_ip"] == nil
	if d["decision"] != decision || !slices.Equal(got, warnings) || d["country"] != country || !ipOK {
		t.Errorf("%s: decision line %v, want decision %s, warnings %v, country %s, client_ip %q", what, d, decision, warnings, country, clientIP)
	}
	if strings.Contains(f.out.String(), number) {
		t.Errorf("%s: the full number %s is in the log", what, number)
	}
}

// wantDecisions wants the guard's metric to have counted n of decision
// with warning in country.
func wantDecisions(t *testing.T, f *fixture, decision, warning, country string, n float64) {
	t.Helper()
	labels := map[string]string{"decision": decision, "warning": warning, "country": country}
	if got := f.series(t, decisionsMetric, labels); got != n {
		t.Errorf("%s%v = %v, want %v", decisionsMetric, labels, got, n)
	}
}

func TestGuardEnforceRefuses(t *testing.T) {
	t.Parallel()
	f := newBudgetFixture(t, newClock().Now(), map[string]string{
		"OTP_FRAUD_GUARD":        "enforce",
		"OTP_FRAUD_GUARD_FLOORS": "prefix_hour:2",
	})
	const ip = "198.51.100.23"
	f.mustCreateFrom(t, "021 555 0001", ip)
	f.clock.Advance(20 * time.Minute)
	f.mustCreateFrom(t, "021 555 0002", ip)
	f.clock.Advance(10 * time.Minute)
	const to, number = "021 555 0003", "64215550003"
	err := f.startFrom(t, to, ip)
	// The first unverified send leaves the prefix's hour in 30 minutes.
	after := wantLimited(t, f, "a third unverified send to the prefix", err, "fraud_guard", 2, 1800, 1801)
	wantNothingFor(t, f, "a third unverified send to the prefix", to, number)
	wantDecision(t, f, "the refusal", number, "refused", []string{"prefix_hourly"}, "NZ", ip)
	wantDecisions(t, f, "refused", "prefix_hourly", "NZ", 1)
	wantDecisions(t, f, "allowed", "none", "NZ", 2)
	if got := f.series(t, "otpgate_verifications_total", map[string]string{"event": "pending", "country": "NZ"}); got != 2 {
		t.Errorf("%v verifications counted pending, want 2: a refused start creates none", got)
	}
	// Another prefix has its own threshold.
	f.mustCreateFrom(t, "021 556 0013", ip)

	f.clock.Advance(after)
	if v := f.mustCreateFrom(t, to, ip); v.Sends != 1 {
		t.Errorf("start at Retry-After answered %+v, want a new verification", v)
	}
	if n := len(f.fake.Messages()); n != 4 {
		t.Errorf("%d SMS, want 4", n)
	}
}

func TestGuardRecordLogsAndSends(t *testing.T) {
	t.Parallel()
	f := newBudgetFixture(t, newClock().Now(), map[string]string{
		"OTP_FRAUD_GUARD":        "record",
		"OTP_FRAUD_GUARD_FLOORS": "prefix_hour:2",
	})
	const ip = "198.51.100.24"
	f.mustCreateFrom(t, "021 555 0001", ip)
	f.mustCreateFrom(t, "021 555 0002", ip)
	const to, number = "021 555 0003", "64215550003"
	f.mustCreateFrom(t, to, ip)
	if n := f.upstreamFor("sms/otp", number); n != 1 {
		t.Errorf("%d sms/otp requests to %s, want 1", n, number)
	}
	wantDecision(t, f, "the recorded send", number, "recorded", []string{"prefix_hourly"}, "NZ", ip)
	wantDecisions(t, f, "recorded", "prefix_hourly", "NZ", 1)
	wantDecisions(t, f, "allowed", "none", "NZ", 2)
	wantDecisions(t, f, "refused", "prefix_hourly", "NZ", 0)
	f.approve(t, to, number)
}

func TestGuardAllowList(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		allow string
		// refused is a prefix of three numbers the allow list does not
		// cover, whose third start is refused.
		refused [3]string
		country string
	}{
		{"+6421555", [3]string{"021 556 0011", "021 556 0012", "021 556 0013"}, "NZ"},
		{"NZ", [3]string{"+61 412 345 001", "+61 412 345 002", "+61 412 345 003"}, "AU"},
		{"AU,+6421555", [3]string{}, ""},
	} {
		t.Run(tt.allow, func(t *testing.T) {
			t.Parallel()
			f := newBudgetFixture(t, newClock().Now(), map[string]string{
				"OTP_FRAUD_GUARD":        "enforce",
				"OTP_FRAUD_GUARD_FLOORS": "prefix_hour:2",
				"OTP_FRAUD_GUARD_ALLOW":  tt.allow,
			})
			const ip = "198.51.100.25"
			f.mustCreateFrom(t, "021 555 0001", ip)
			f.mustCreateFrom(t, "021 555 0002", ip)
			const to, number = "021 555 0003", "64215550003"
			f.mustCreateFrom(t, to, ip)
			wantDecision(t, f, "the allow-listed send", number, "allow_listed", []string{"prefix_hourly"}, "NZ", ip)
			wantDecisions(t, f, "allow_listed", "prefix_hourly", "NZ", 1)
			if tt.country == "" {
				return
			}
			f.mustCreateFrom(t, tt.refused[0], ip)
			f.mustCreateFrom(t, tt.refused[1], ip)
			err := f.startFrom(t, tt.refused[2], ip)
			wantErr(t, "a prefix off the allow list", err, http.StatusTooManyRequests, "fraud_guard")
			wantDecision(t, f, "a prefix off the allow list", canonical(tt.refused[2]), "refused", []string{"prefix_hourly"}, tt.country, ip)
		})
	}
}

// TestGuardApprovalsRaiseThePrefixThreshold: with R = 2, two approvals in
// the prefix raise its threshold from the floor (2) to R × 2 = 4
// unverified sends.
func TestGuardApprovalsRaiseThePrefixThreshold(t *testing.T) {
	t.Parallel()
	f := newBudgetFixture(t, newClock().Now(), map[string]string{
		"OTP_FRAUD_GUARD":        "enforce",
		"OTP_FRAUD_GUARD_RATIO":  "2",
		"OTP_FRAUD_GUARD_FLOORS": "prefix_hour:2",
	})
	numbers := make([]string, 7)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("6421555%04d", i+1)
	}
	for _, n := range numbers[:2] {
		f.mustCreateFrom(t, "+"+n, "")
		f.approve(t, "+"+n, n)
	}
	// Four unverified sends: above the floor, within R × approvals.
	for _, n := range numbers[2:6] {
		f.mustCreateFrom(t, "+"+n, "")
	}
	err := f.startFrom(t, "+"+numbers[6], "")
	wantLimited(t, f, "a fifth unverified send", err, "fraud_guard", 4, 3600, 3601)
	wantNothingFor(t, f, "a fifth unverified send", "+"+numbers[6], numbers[6])
	wantDecision(t, f, "a fifth unverified send", numbers[6], "refused", []string{"prefix_hourly"}, "NZ", "")
	// Approving one verifies its send: one more fits.
	f.approve(t, "+"+numbers[5], numbers[5])
	f.mustCreateFrom(t, "+"+numbers[6], "")

	// A day later the approvals no longer count: the floor holds again.
	f.clock.Advance(24*time.Hour + time.Minute)
	f.mustCreateFrom(t, "+64215550008", "")
	f.mustCreateFrom(t, "+64215550009", "")
	err = f.startFrom(t, "+64215550010", "")
	wantLimited(t, f, "a third unverified send a day later", err, "fraud_guard", 2, 3600, 3601)
}

// TestGuardIPCountries: one client_ip may start to at most three
// countries (the floor) that it has no approval in.
func TestGuardIPCountries(t *testing.T) {
	t.Parallel()
	f := newBudgetFixture(t, newClock().Now(), map[string]string{
		"OTP_FRAUD_GUARD":       "enforce",
		"OTP_ALLOWED_COUNTRIES": "NZ,AU,GB,SG,IE",
	})
	const ip, other = "198.51.100.26", "198.51.100.27"
	const nzTo, nzNumber = "021 555 0001", "64215550001"
	f.mustCreateFrom(t, nzTo, ip)
	f.mustCreateFrom(t, "+61 412 345 001", ip)
	f.mustCreateFrom(t, "+44 7400 123456", ip)
	const sgTo, sgNumber = "+65 9123 4567", "6591234567"
	err := f.startFrom(t, sgTo, ip)
	wantLimited(t, f, "a fourth country from one client_ip", err, "fraud_guard", 3, 24*3600, 24*3600+1)
	wantNothingFor(t, f, "a fourth country from one client_ip", sgTo, sgNumber)
	wantDecision(t, f, "a fourth country from one client_ip", sgNumber, "refused", []string{"ip_countries"}, "SG", ip)
	wantDecisions(t, f, "refused", "ip_countries", "SG", 1)
	// Another end user is not limited by the first one's countries.
	f.mustCreateFrom(t, sgTo, other)

	// An approval in NZ leaves AU and GB without one: a third fits, not a
	// fourth.
	f.approve(t, nzTo, nzNumber)
	f.mustCreateFrom(t, "+353 85 123 4567", ip)
	const sg2To, sg2Number = "+65 9123 4568", "6591234568"
	wantErr(t, "a fourth country without an approval", f.startFrom(t, sg2To, ip), http.StatusTooManyRequests, "fraud_guard")
	wantNothingFor(t, f, "a fourth country without an approval", sg2To, sg2Number)
}

// TestGuardTwilioDialect: the /v2/ dialect answers the guard's refusal
// with 60410, and the static caps with 60203, a send limit (§7).
func TestGuardTwilioDialect(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		env    map[string]string
		second string // the start refused after +64215550001
		code   int
	}{
		{"fraud guard", map[string]string{"OTP_FRAUD_GUARD": "enforce", "OTP_FRAUD_GUARD_FLOORS": "prefix_hour:1"}, "+64215550002", 60410},
		{"prefix cap", map[string]string{"RATE_LIMIT_SENDS_PER_PREFIX": "1-H"}, "+64215550002", 60203},
		{"daily budget", map[string]string{"OTP_DAILY_SEND_LIMITS": "NZ:1"}, "+64219990002", 60203},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newTwilioFixture(t, twOptions{env: tt.env})
			f.mustCreate(t, "+64215550001")
			_, err := f.tw.CreateVerification(twService, (&twverify.CreateVerificationParams{}).SetTo(tt.second).SetChannel("sms"))
			f.wantErr(t, "the refused start", err, http.StatusTooManyRequests, tt.code)
			if n := len(f.fake.Messages()); n != 1 {
				t.Errorf("%d SMS, want 1: the refused start sends nothing", n)
			}
			_, err = f.check("", tt.second, "123456")
			f.wantErr(t, "a check of the refused number", err, http.StatusNotFound, 20404)
		})
	}
}
