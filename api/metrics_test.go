package api_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
)

// TestNothingLeaks runs a whole verification and then reads the metrics
// and the request log: neither may hold the code, a secret or a full
// number.
func TestNothingLeaks(t *testing.T) {
	f := newFixture(t, nil)
	id := f.startVerification()
	f.do("POST", "/v1/verifications/"+id+"/check", `{"code":"999999"}`)
	f.do("POST", "/v1/checks", `{"to":"0211234567","code":"`+testCode+`"}`)
	f.do("POST", "/v1/checks", `{"to":"0211234567","code":"`+testCode+`"}`)
	f.do("GET", "/v1/verifications/"+id, "", "Authorization", "Bearer "+adminSecret)
	f.do("GET", "/v1/verifications/"+id, "", "Authorization", "Bearer wrong-secret-123")
	metrics := f.do("GET", "/metrics", "").Body.String()
	logs := f.logs.String()

	// Sample values are floats whose digits can contain any six-digit
	// string (999999 in 1.2999999e-05), so only names and labels count.
	for name, text := range map[string]string{"metric series": seriesOnly(metrics), "log": logs} {
		for _, secret := range []string{testCode, "999999", testPhone, "0211234567", clientSecret, adminSecret, "wrong-secret-123"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains %q", name, secret)
			}
		}
	}
	if strings.Contains(metrics, id) {
		t.Error("metrics contain a verification id")
	}

	for _, want := range []string{
		`otpgate_http_requests_total{method="POST",route="/v1/verifications",status="201"} 1`,
		`otpgate_http_requests_total{method="POST",route="/v1/checks",status="409"} 1`,
		`otpgate_http_requests_total{method="GET",route="/v1/verifications/:id",status="401"} 1`,
		`otpgate_verifications_started_total 1`,
		`otpgate_verifications_approved_total 1`,
		`otpgate_sms_sent_total 1`,
		`otpgate_verification_checks_failed_total{reason="wrong_code"} 1`,
		`otpgate_verifications_total{country="NZ",event="pending"} 1`,
		`otpgate_verifications_total{country="NZ",event="approved"} 1`,
		`otpgate_send_cost_events_total{country="NZ",sender="unknown"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, want := range []string{`"to":"6421***567"`, `"key":"shop"`, `"key":"ops"`, `"verification_id":"` + id + `"`, `"route":"/v1/checks"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("request log lacks %s", want)
		}
	}
}

func TestObserveCountsEveryEvent(t *testing.T) {
	m, err := api.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	events := []otp.Event{
		otp.EventStarted, otp.EventResent, otp.EventApproved, otp.EventCodeCompared, otp.EventWrongCode, otp.EventMaxAttempts,
		otp.EventExpired, otp.EventCanceled, otp.EventSMSSent, otp.EventLookupOK, otp.EventLookupInvalid,
		otp.EventLookupUnavailable, otp.EventRateLimited, otp.EventPrefixLimited, otp.EventSendBudgetExhausted,
	}
	for _, e := range events {
		m.Observe(e)
	}
	m.Observe("not-an-event")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		"otpgate_verifications_started_total 1",
		"otpgate_verifications_resent_total 1",
		"otpgate_verifications_approved_total 1",
		"otpgate_code_comparisons_total 1",
		"otpgate_verifications_expired_total 1",
		"otpgate_verifications_canceled_total 1",
		"otpgate_sms_sent_total 1",
		`otpgate_verification_checks_failed_total{reason="wrong_code"} 1`,
		`otpgate_verification_checks_failed_total{reason="max_attempts"} 1`,
		`otpgate_lookups_total{outcome="ok"} 1`,
		`otpgate_lookups_total{outcome="invalid"} 1`,
		`otpgate_lookups_total{outcome="unavailable"} 1`,
		`otpgate_rate_limit_rejections_total{scope="verification"} 1`,
		`otpgate_rate_limit_rejections_total{scope="prefix"} 1`,
		`otpgate_rate_limit_rejections_total{scope="send_budget"} 1`,
		`otpgate_rate_limit_rejections_total{scope="api_key"} 0`,
		"go_goroutines",
	} {
		if !strings.Contains(rec.Body.String(), want+"\n") && !strings.Contains(rec.Body.String(), want+" ") {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestMeterCountsByCountry: what otp.Meter is told shows on /metrics,
// labelled as given, with one decision sample per warning that fired.
func TestMeterCountsByCountry(t *testing.T) {
	m, err := api.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []otp.Status{otp.StatusPending, otp.StatusPending, otp.StatusApproved, otp.StatusCanceled, otp.StatusMaxAttempts} {
		m.Verification(st, "NZ")
	}
	m.Verification(otp.StatusPending, "AU")
	m.SMSSent("NZ", "connexus")
	m.SMSSent("NZ", "connexus")
	m.SMSSent("AU", "websms")
	m.Decided(otp.GuardDecision{Decision: otp.DecisionAllowed, Country: "NZ"})
	m.Decided(otp.GuardDecision{Decision: otp.DecisionRefused, Country: "NZ", Warnings: []otp.Warning{otp.WarnCountryDaily, otp.WarnPrefixHourly}})
	m.Decided(otp.GuardDecision{Decision: otp.DecisionRefused, Country: "NZ", Warnings: []otp.Warning{otp.WarnPrefixHourly}})
	m.Decided(otp.GuardDecision{Decision: otp.DecisionAllowListed, Country: "AU", Warnings: []otp.Warning{otp.WarnIPCountries}})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	var got []string
	for line := range strings.Lines(rec.Body.String()) {
		for _, name := range []string{"otpgate_verifications_total{", "otpgate_send_cost_events_total{", "otpgate_fraud_guard_decisions_total{"} {
			if strings.HasPrefix(line, name) {
				got = append(got, strings.TrimSuffix(line, "\n"))
			}
		}
	}
	want := []string{
		`otpgate_fraud_guard_decisions_total{country="AU",decision="allow_listed",warning="ip_countries"} 1`,
		`otpgate_fraud_guard_decisions_total{country="NZ",decision="allowed",warning="none"} 1`,
		`otpgate_fraud_guard_decisions_total{country="NZ",decision="refused",warning="country_daily"} 1`,
		`otpgate_fraud_guard_decisions_total{country="NZ",decision="refused",warning="prefix_hourly"} 2`,
		`otpgate_send_cost_events_total{country="AU",sender="websms"} 1`,
		`otpgate_send_cost_events_total{country="NZ",sender="connexus"} 2`,
		`otpgate_verifications_total{country="AU",event="pending"} 1`,
		`otpgate_verifications_total{country="NZ",event="approved"} 1`,
		`otpgate_verifications_total{country="NZ",event="canceled"} 1`,
		`otpgate_verifications_total{country="NZ",event="max_attempts_reached"} 1`,
		`otpgate_verifications_total{country="NZ",event="pending"} 2`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("series:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestNewMetricsTwiceOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := api.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := api.NewMetrics(reg); err == nil {
		t.Error("registering the metrics twice did not fail")
	}
}

func TestInstrumentTransport(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/sms/otp") {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer upstream.Close()
	reg := prometheus.NewRegistry()
	m, err := api.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: m.InstrumentTransport(nil)}
	for _, p := range []string{
		"/api/connexus/sms/otp?msgCode=428613",
		"/api/connexus/number/lookup",
		"/api/connexus/number/lookup/",
		"/api/connexus/64211234567",
	} {
		resp, err := client.Get(upstream.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if _, err := (&http.Client{Transport: m.InstrumentTransport(nil)}).Get("http://127.0.0.1:1/api/connexus/sms/out"); err == nil {
		t.Fatal("request to a closed port succeeded")
	}

	for labels, want := range map[[2]string]int{
		{"sms/otp", "5xx"}:       1,
		{"number/lookup", "2xx"}: 2,
		{"other", "2xx"}:         1,
		{"sms/out", "error"}:     1,
	} {
		if n := histogramCount(t, reg, labels[0], labels[1]); n != want {
			t.Errorf("upstream{path=%q,status=%q} count = %d, want %d", labels[0], labels[1], n, want)
		}
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if out := rec.Body.String(); strings.Contains(out, "428613") || strings.Contains(out, testPhone) {
		t.Error("upstream metrics hold a code or a number")
	}
}

// histogramCount is the number of observations of the upstream histogram
// with the given labels.
func histogramCount(t *testing.T, reg *prometheus.Registry, path, status string) int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range families {
		if mf.GetName() != "otpgate_upstream_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["path"] == path && labels["status"] == status {
				return int(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

// seriesOnly drops the sample value from every line of a Prometheus text
// exposition, leaving comments, metric names and labels.
func seriesOnly(exposition string) string {
	var b strings.Builder
	for line := range strings.Lines(exposition) {
		if i := strings.LastIndexByte(line, ' '); i > 0 && !strings.HasPrefix(line, "#") {
			line = line[:i] + "\n"
		}
		b.WriteString(line)
	}
	return b.String()
}

// TestWrongGuessesAreCountedOnce: every wrong guess is one sample of
// checks_failed, and the last one is max_attempts instead of wrong_code.
func TestWrongGuessesAreCountedOnce(t *testing.T) {
	f := newFixture(t, nil)
	id := f.startVerification()
	attempts := otp.DefaultConfig().MaxAttempts
	for range attempts {
		f.do("POST", "/v1/verifications/"+id+"/check", `{"code":"999999"}`)
	}
	metrics := f.do("GET", "/metrics", "").Body.String()
	for _, want := range []string{
		`otpgate_code_comparisons_total ` + strconv.Itoa(attempts),
		`otpgate_verification_checks_failed_total{reason="wrong_code"} ` + strconv.Itoa(attempts-1),
		`otpgate_verification_checks_failed_total{reason="max_attempts"} 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestObserveFactorCheck: every result shows from the start, at 0, so a
// rate over it is 0 rather than no data; each observation counts once
// under its own result, and an unknown result cannot grow the label set.
func TestObserveFactorCheck(t *testing.T) {
	m, err := api.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	series := func() []string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		var got []string
		for line := range strings.Lines(rec.Body.String()) {
			if strings.HasPrefix(line, "otpgate_factor_checks_total{") {
				got = append(got, strings.TrimSuffix(line, "\n"))
			}
		}
		return got
	}
	want := []string{
		`otpgate_factor_checks_total{result="invalid"} 0`,
		`otpgate_factor_checks_total{result="locked"} 0`,
		`otpgate_factor_checks_total{result="recovery_invalid"} 0`,
		`otpgate_factor_checks_total{result="recovery_valid"} 0`,
		`otpgate_factor_checks_total{result="replayed"} 0`,
		`otpgate_factor_checks_total{result="valid"} 0`,
	}
	if got := series(); !slices.Equal(got, want) {
		t.Errorf("before any check:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	for _, r := range []string{"valid", "valid", "invalid", "replayed", "locked", "recovery_valid", "recovery_invalid", "recovery_invalid", "123456"} {
		m.ObserveFactorCheck(r)
	}
	want = []string{
		`otpgate_factor_checks_total{result="invalid"} 1`,
		`otpgate_factor_checks_total{result="locked"} 1`,
		`otpgate_factor_checks_total{result="other"} 1`,
		`otpgate_factor_checks_total{result="recovery_invalid"} 2`,
		`otpgate_factor_checks_total{result="recovery_valid"} 1`,
		`otpgate_factor_checks_total{result="replayed"} 1`,
		`otpgate_factor_checks_total{result="valid"} 2`,
	}
	if got := series(); !slices.Equal(got, want) {
		t.Errorf("after the checks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
