package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/otpgate/otpgate/otp"
)

// Metrics are otpgate's Prometheus metrics. Labels are route templates,
// methods, statuses and fixed outcome names only: never a number, a code
// or an id.
type Metrics struct {
	reg             *prometheus.Registry
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	events          map[otp.Event]prometheus.Counter
	keyLimited      prometheus.Counter
	upstream        *prometheus.HistogramVec
	deliveryReports *prometheus.CounterVec
	inbound         *prometheus.CounterVec
	sends           *prometheus.CounterVec
	verifications   *prometheus.CounterVec
	sendCosts       *prometheus.CounterVec
	guardDecisions  *prometheus.CounterVec
	factorChecks    *prometheus.CounterVec
}

var _ otp.Meter = (*Metrics)(nil)

// NewMetrics registers otpgate's metrics, and the Go and process
// collectors, on reg; a nil reg is a fresh registry.
func NewMetrics(reg *prometheus.Registry) (*Metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "otpgate", Name: name, Help: help})
	}
	failed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "otpgate", Name: "verification_checks_failed_total",
		Help: "Compared guesses that were wrong, one count each: max_attempts for the one that ended its verification, wrong_code for the others.",
	}, []string{"reason"})
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "otpgate", Name: "lookups_total",
		Help: "Upstream number lookups, by outcome.",
	}, []string{"outcome"})
	limited := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "otpgate", Name: "rate_limit_rejections_total",
		Help: "Requests refused by a limit, by its scope: verification (per number, per client IP, failures per number), prefix (RATE_LIMIT_SENDS_PER_PREFIX), send_budget (OTP_DAILY_SEND_LIMITS) or api_key.",
	}, []string{"scope"})

	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "otpgate", Name: "http_requests_total",
			Help: "HTTP requests, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "otpgate", Name: "http_request_duration_seconds",
			Help:    "HTTP request latency, by route template and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "otpgate", Name: "upstream_request_duration_seconds",
			Help:    "Latency of calls to Connexus, by API path and status class.",
			Buckets: prometheus.DefBuckets,
		}, []string{"path", "status"}),
		keyLimited: limited.WithLabelValues("api_key"),
		deliveryReports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "otpgate", Name: "delivery_reports_total",
			Help: "Delivery reports received from the senders (Connexus, SMS Nexus), by delivery status (\"unknown\" for a status not understood).",
		}, []string{"status"}),
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "otpgate", Name: "inbound_messages_total",
			Help: "Inbound SMS received from Connexus, by whether they were stored or repeats.",
		}, []string{"outcome"}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "otpgate", Name: "sends_total",
			Help: "Attempts of each sender at an SMS code: sent, failed_over (certainly nothing sent, the next sender tried), failed (nothing sent, no other sender tried) or maybe_sent.",
		}, []string{"sender", "outcome"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "otpgate", Name: "verifications_total",
			Help: "Verifications by event (pending when created; approved, canceled or max_attempts_reached when they ended so) and ISO country of the number: approved over pending is the conversion the fraud guard watches.",
		}, []string{"event", "country"}),
		sendCosts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "otpgate", Name: "send_cost_events_total",
			Help: "SMS codes that cost money (sent, or maybe sent), by ISO country of the number and sender (unknown when the send was not confirmed).",
		}, []string{"country", "sender"}),
		guardDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "otpgate", Name: "fraud_guard_decisions_total",
			Help: "Decisions of the fraud guard (allowed, refused, recorded, allow_listed), by warning (none when none fired; one count per warning that fired) and ISO country.",
		}, []string{"decision", "warning", "country"}),
		factorChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "otpgate", Name: "factor_checks_total",
			Help: "Authenticator-app codes and recovery codes decided at a factor verification or a challenge, by result: valid, invalid, replayed (a code already accepted), locked (the identity is out of attempts), recovery_valid or recovery_invalid (other: a result this build does not name, a bug to report).",
		}, []string{"result"}),
	}
	// Pre-created so that a rate over a result that has not happened yet
	// reads 0 rather than no data.
	for _, r := range factorCheckResults {
		m.factorChecks.WithLabelValues(r)
	}
	m.events = map[otp.Event]prometheus.Counter{
		otp.EventStarted:             counter("verifications_started_total", "Verifications created (first code sent)."),
		otp.EventResent:              counter("verifications_resent_total", "Codes resent for a pending verification."),
		otp.EventApproved:            counter("verifications_approved_total", "Verifications approved: by a right code, or by the app without one (/v2/ Status=approved)."),
		otp.EventCodeCompared:        counter("code_comparisons_total", "Guesses compared with a stored code hash, right or wrong; at most OTP_MAX_ATTEMPTS per verification."),
		otp.EventExpired:             counter("verifications_expired_total", "Checks or cancels that found a verification expired."),
		otp.EventCanceled:            counter("verifications_canceled_total", "Verifications canceled."),
		otp.EventSMSSent:             counter("sms_sent_total", "SMS codes accepted by the upstream."),
		otp.EventWrongCode:           failed.WithLabelValues("wrong_code"),
		otp.EventMaxAttempts:         failed.WithLabelValues("max_attempts"),
		otp.EventLookupOK:            lookups.WithLabelValues("ok"),
		otp.EventLookupInvalid:       lookups.WithLabelValues("invalid"),
		otp.EventLookupUnavailable:   lookups.WithLabelValues("unavailable"),
		otp.EventRateLimited:         limited.WithLabelValues("verification"),
		otp.EventPrefixLimited:       limited.WithLabelValues("prefix"),
		otp.EventSendBudgetExhausted: limited.WithLabelValues("send_budget"),
	}
	cs := []prometheus.Collector{
		m.requests, m.requestDuration, m.upstream, failed, lookups, limited, m.deliveryReports, m.inbound, m.sends,
		m.verifications, m.sendCosts, m.guardDecisions, m.factorChecks,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	for _, ev := range []otp.Event{otp.EventStarted, otp.EventResent, otp.EventApproved, otp.EventCodeCompared, otp.EventExpired, otp.EventCanceled, otp.EventSMSSent} {
		cs = append(cs, m.events[ev])
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Observe counts a domain event; pass it to otp.WithObserver.
func (m *Metrics) Observe(e otp.Event) {
	if c, ok := m.events[e]; ok {
		c.Inc()
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *Metrics) observeRequest(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.requestDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

func (m *Metrics) observeKeyLimited() { m.keyLimited.Inc() }

// ObserveSend counts one sender's attempt at an SMS; it fits
// otp.WithSendObserver.
func (m *Metrics) ObserveSend(sender string, outcome otp.SendOutcome) {
	m.sends.WithLabelValues(sender, string(outcome)).Inc()
}

// Verification counts a verification that reached status, for the
// conversion by country; it is part of otp.Meter.
func (m *Metrics) Verification(status otp.Status, country string) {
	m.verifications.WithLabelValues(string(status), country).Inc()
}

// SMSSent counts one SMS that costs money; it is part of otp.Meter.
func (m *Metrics) SMSSent(country, sender string) {
	m.sendCosts.WithLabelValues(country, sender).Inc()
}

// Decided counts one decision of the fraud guard once per warning that
// fired, or once as warning "none"; it is part of otp.Meter.
func (m *Metrics) Decided(d otp.GuardDecision) {
	if len(d.Warnings) == 0 {
		m.guardDecisions.WithLabelValues(string(d.Decision), "none", d.Country).Inc()
		return
	}
	for _, w := range d.Warnings {
		m.guardDecisions.WithLabelValues(string(d.Decision), string(w), d.Country).Inc()
	}
}

// factorCheckResults are the results factor.WithObserver reports; any
// other is counted as "other", so the label set stays bounded.
var factorCheckResults = []string{"valid", "invalid", "replayed", "locked", "recovery_valid", "recovery_invalid"}

// ObserveFactorCheck counts one decided factor check by its result; it
// fits factor.WithObserver.
func (m *Metrics) ObserveFactorCheck(result string) {
	if !slices.Contains(factorCheckResults, result) {
		result = "other"
	}
	m.factorChecks.WithLabelValues(result).Inc()
}

func (m *Metrics) observeDeliveryReport(status string) {
	m.deliveryReports.WithLabelValues(status).Inc()
}

func (m *Metrics) observeInbound(added bool) {
	outcome := "stored"
	if !added {
		outcome = "duplicate"
	}
	m.inbound.WithLabelValues(outcome).Inc()
}

// metricMethod keeps label values bounded when clients send odd methods.
func metricMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "OTHER"
}

// upstreamPaths are the Connexus endpoints; any other path is "other", so
// proxied calls cannot grow the label set.
var upstreamPaths = []string{
	"auth/token", "sms/otp", "sms/out", "sms/balance", "sms/status",
	"sms/in", "number/lookup", "mo/query", "configure",
}

func upstreamPath(p string) string {
	p = strings.TrimSuffix(p, "/")
	for _, known := range upstreamPaths {
		if strings.HasSuffix(p, "/"+known) {
			return known
		}
	}
	return "other"
}

// InstrumentTransport wraps rt (nil is http.DefaultTransport) so every call
// to Connexus is timed in otpgate_upstream_request_duration_seconds. Only
// the path is looked at: queries and bodies may hold credentials.
func (m *Metrics) InstrumentTransport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := rt.RoundTrip(req)
		status := "error"
		if err == nil {
			status = strconv.Itoa(resp.StatusCode/100) + "xx"
		}
		m.upstream.WithLabelValues(upstreamPath(req.URL.Path), status).Observe(time.Since(start).Seconds())
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
