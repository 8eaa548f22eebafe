package api_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
)

var idPattern = regexp.MustCompile(`"id":"(ver_[0-9a-f]{32})"`)

// withoutID replaces the verification id in a JSON body, so bodies can be
// compared whole.
func withoutID(t *testing.T, body string) (string, string) {
	t.Helper()
	m := idPattern.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no verification id in %s", body)
	}
	return strings.Replace(body, m[1], "ID", 1), m[1]
}

func TestStartCreatesThenResends(t *testing.T) {
	f := newFixture(t, nil)

	rec := f.do("POST", "/v1/verifications", `{"to":"+64 21 123-4567","brand":"Shop","client_ip":"::ffff:198.51.100.4"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("first start = %d, want 201 (body %s)", rec.Code, rec.Body)
	}
	got, id := withoutID(t, rec.Body.String())
	want := `{"id":"ID","to":"64211234567","channel":"sms","status":"pending",` +
		`"created_at":"2030-01-02T02:04:05Z","expires_at":"2030-01-02T02:09:05Z",` +
		`"attempts_left":5,"sends":1,"resend_available_at":"2030-01-02T02:04:35Z"}`
	if got != want {
		t.Errorf("201 body\n got %s\nwant %s", got, want)
	}
	if f.sender.count() != 1 || f.sender.sends[0].Brand != "Shop" {
		t.Errorf("sends = %+v, want one with brand Shop", f.sender.sends)
	}

	rec = f.do("POST", "/v1/verifications", `{"to":"0211234567"}`)
	e := wantError(t, rec, http.StatusTooManyRequests, "resend_cooldown")
	if e.Status != "" {
		t.Errorf("429 body has status %q", e.Status)
	}
	for h, want := range map[string]string{
		"Retry-After":       "30",
		"X-RateLimit-Reset": fmt.Sprint(start.Add(30 * time.Second).Unix()),
	} {
		if got := rec.Header().Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if rec.Header().Get("X-RateLimit-Limit") == "" || rec.Header().Get("X-RateLimit-Remaining") == "" {
		t.Errorf("429 lacks X-RateLimit-Limit/Remaining: %v", rec.Header())
	}

	f.do("POST", "/v1/verifications/"+id+"/check", `{"code":"000000"}`)
	f.clock.Advance(31 * time.Second)
	rec = f.do("POST", "/v1/verifications", `{"to":"0211234567"}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("resend = %d, want 200 (body %s)", rec.Code, rec.Body)
	}
	got, resentID := withoutID(t, rec.Body.String())
	want = `{"id":"ID","to":"64211234567","channel":"sms","status":"pending",` +
		`"created_at":"2030-01-02T02:04:05Z","expires_at":"2030-01-02T02:09:36Z",` +
		`"attempts_left":4,"sends":2,"resend_available_at":"2030-01-02T02:05:06Z"}`
	if got != want || resentID != id {
		t.Errorf("200 body\n got %s (id %s)\nwant %s (id %s)", got, resentID, want, id)
	}
}

func TestStartRefusals(t *testing.T) {
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"unparseable number", `{"to":"12"}`, http.StatusBadRequest, "invalid_phone_number"},
		{"landline-length nonsense", `{"to":"+64 1"}`, http.StatusBadRequest, "invalid_phone_number"},
		{"country not allowed", `{"to":"+44 7911 123456"}`, http.StatusBadRequest, "country_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			wantError(t, f.do("POST", "/v1/verifications", tc.body), tc.status, tc.code)
			if n := f.sender.count(); n != 0 {
				t.Errorf("%d SMS sent, want 0", n)
			}
		})
	}

	t.Run("upstream failure leaves nothing pending", func(t *testing.T) {
		f := newFixture(t, nil)
		f.sender.setFail(fmt.Errorf("connexus: 500: %w", otp.ErrUpstream))
		e := wantError(t, f.do("POST", "/v1/verifications", `{"to":"0211234567"}`), http.StatusBadGateway, "upstream_error")
		if strings.Contains(e.Error.Message, "connexus: 500") {
			t.Errorf("502 message leaks the cause: %q", e.Error.Message)
		}
		wantError(t, f.do("POST", "/v1/checks", `{"to":"0211234567","code":"428613"}`), http.StatusNotFound, "verification_not_found")
		f.sender.setFail(nil)
		if rec := f.do("POST", "/v1/verifications", `{"to":"0211234567"}`); rec.Code != http.StatusCreated {
			t.Errorf("retry after a failed send = %d, want 201 at once (body %s)", rec.Code, rec.Body)
		}
	})

	t.Run("max sends", func(t *testing.T) {
		f := newFixture(t, nil)
		for i := range 5 {
			if rec := f.do("POST", "/v1/verifications", `{"to":"0211234567"}`); rec.Code >= 300 {
				t.Fatalf("send %d = %d (body %s)", i+1, rec.Code, rec.Body)
			}
			f.clock.Advance(31 * time.Second)
		}
		rec := f.do("POST", "/v1/verifications", `{"to":"0211234567"}`)
		wantError(t, rec, http.StatusTooManyRequests, "max_sends_reached")
		if rec.Header().Get("Retry-After") == "" {
			t.Error("429 max_sends_reached without Retry-After")
		}
	})
}

type checkAnswer struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	Valid        bool   `json:"valid"`
	AttemptsLeft int    `json:"attempts_left"`
}

func mustCheck(t *testing.T, f *fixture, path, body string) checkAnswer {
	t.Helper()
	rec := f.do("POST", path, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST %s %s = %d, want 200 (body %s)", path, body, rec.Code, rec.Body)
	}
	var a checkAnswer
	mustDecode(t, rec, &a)
	return a
}

func TestCheckOutcomes(t *testing.T) {
	t.Run("wrong then right, by id", func(t *testing.T) {
		f := newFixture(t, nil)
		id := f.startVerification()
		path := "/v1/verifications/" + id + "/check"
		if got, want := mustCheck(t, f, path, `{"code":"000000"}`), (checkAnswer{id, "pending", false, 4}); got != want {
			t.Errorf("wrong code = %+v, want %+v", got, want)
		}
		if got, want := mustCheck(t, f, path, `{"code":"428613","client_ip":"198.51.100.4"}`), (checkAnswer{id, "approved", true, 3}); got != want {
			t.Errorf("right code = %+v, want %+v", got, want)
		}
		e := wantError(t, f.do("POST", path, `{"code":"428613"}`), http.StatusConflict, "verification_not_pending")
		if e.Status != "approved" {
			t.Errorf("409 status = %q, want approved", e.Status)
		}
		e = wantError(t, f.do("POST", "/v1/verifications/"+id+"/cancel", ""), http.StatusConflict, "verification_not_pending")
		if e.Status != "approved" {
			t.Errorf("cancel 409 status = %q, want approved", e.Status)
		}
		rec := f.do("GET", "/v1/verifications/"+id, "")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"status":"approved"`) {
			t.Errorf("GET after approval = %d %s", rec.Code, rec.Body)
		}
	})

	t.Run("right code by to", func(t *testing.T) {
		f := newFixture(t, nil)
		id := f.startVerification()
		if got, want := mustCheck(t, f, "/v1/checks", `{"to":"+64 21 123 4567","code":"428613"}`), (checkAnswer{id, "approved", true, 4}); got != want {
			t.Errorf("check by to = %+v, want %+v", got, want)
		}
	})

	t.Run("by verification_id", func(t *testing.T) {
		f := newFixture(t, nil)
		id := f.startVerification()
		if got, want := mustCheck(t, f, "/v1/checks", `{"verification_id":"`+id+`","code":"111111"}`), (checkAnswer{id, "pending", false, 4}); got != want {
			t.Errorf("check by verification_id = %+v, want %+v", got, want)
		}
	})

	t.Run("last attempt", func(t *testing.T) {
		f := newFixture(t, nil)
		id := f.startVerification()
		path := "/v1/verifications/" + id + "/check"
		for range 4 {
			mustCheck(t, f, path, `{"code":"000000"}`)
		}
		if got, want := mustCheck(t, f, path, `{"code":"000000"}`), (checkAnswer{id, "max_attempts_reached", false, 0}); got != want {
			t.Errorf("last wrong code = %+v, want %+v", got, want)
		}
		e := wantError(t, f.do("POST", path, `{"code":"428613"}`), http.StatusConflict, "verification_not_pending")
		if e.Status != "max_attempts_reached" {
			t.Errorf("409 status = %q, want max_attempts_reached", e.Status)
		}
	})

	t.Run("expired", func(t *testing.T) {
		f := newFixture(t, nil)
		id := f.startVerification()
		f.clock.Advance(5 * time.Minute)
		e := wantError(t, f.do("POST", "/v1/verifications/"+id+"/check", `{"code":"428613"}`), http.StatusConflict, "verification_not_pending")
		if e.Status != "expired" {
			t.Errorf("409 status = %q, want expired", e.Status)
		}
		rec := f.do("GET", "/v1/verifications/"+id, "")
		if !strings.Contains(rec.Body.String(), `"status":"expired"`) {
			t.Errorf("GET of an expired verification = %s", rec.Body)
		}
	})

	t.Run("unknown", func(t *testing.T) {
		f := newFixture(t, nil)
		for _, tc := range []struct{ method, path, body string }{
			{"GET", "/v1/verifications/ver_0123456789abcdef0123456789abcdef", ""},
			{"GET", "/v1/verifications/nonsense", ""},
			{"POST", "/v1/verifications/ver_0123456789abcdef0123456789abcdef/check", `{"code":"428613"}`},
			{"POST", "/v1/verifications/ver_0123456789abcdef0123456789abcdef/cancel", ""},
			{"POST", "/v1/checks", `{"to":"0211234567","code":"428613"}`},
		} {
			wantError(t, f.do(tc.method, tc.path, tc.body), http.StatusNotFound, "verification_not_found")
		}
	})
}

func TestCancel(t *testing.T) {
	f := newFixture(t, nil)
	id := f.startVerification()
	rec := f.do("POST", "/v1/verifications/"+id+"/cancel", "")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"status":"canceled"`) {
		t.Fatalf("cancel = %d %s, want 200 canceled", rec.Code, rec.Body)
	}
	e := wantError(t, f.do("POST", "/v1/verifications/"+id+"/cancel", `{}`), http.StatusConflict, "verification_not_pending")
	if e.Status != "canceled" {
		t.Errorf("409 status = %q, want canceled", e.Status)
	}
}

func TestVerificationJSONWithLookupAndDelivery(t *testing.T) {
	nz := time.FixedZone("NZST", 12*3600)
	v := &otp.Verification{
		ID: "ver_0123456789abcdef0123456789abcdef", To: testPhone, Status: otp.StatusPending,
		CreatedAt: time.Date(2030, 6, 1, 12, 0, 0, 0, nz), ExpiresAt: time.Date(2030, 6, 1, 12, 5, 0, 0, nz),
		AttemptsLeft: 5, Sends: 1, ResendAt: time.Date(2030, 6, 1, 12, 0, 30, 0, nz),
		MessageID: "msg-secret-routing-id",
		Lookup:    &otp.Lookup{Carrier: "Spark", NetworkCode: "TCNZ"},
		Delivery:  &otp.Delivery{Status: "delivered", UpdatedAt: time.Date(2030, 6, 1, 12, 0, 9, 500, nz)},
	}
	f := newFixture(t, nil, withVerifier(&stubVerifier{v: v}))
	rec := f.do("GET", "/v1/verifications/"+v.ID, "")
	want := `{"id":"ver_0123456789abcdef0123456789abcdef","to":"64211234567","channel":"sms","status":"pending",` +
		`"created_at":"2030-06-01T00:00:00Z","expires_at":"2030-06-01T00:05:00Z","attempts_left":5,"sends":1,` +
		`"resend_available_at":"2030-06-01T00:00:30Z","lookup":{"carrier":"Spark","ported":false,"network_code":"TCNZ"},` +
		`"delivery":{"status":"delivered","updated_at":"2030-06-01T00:00:09Z"}}`
	if rec.Code != http.StatusOK || rec.Body.String() != want {
		t.Errorf("GET = %d\n got %s\nwant %s", rec.Code, rec.Body, want)
	}
}

// TestErrorTable drives every error a Verifier may return through the API.
func TestErrorTable(t *testing.T) {
	reset := start.Add(90*time.Second + time.Millisecond)
	cases := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"invalid request", fmt.Errorf("start: %w", otp.ErrInvalidRequest), 400, "invalid_request"},
		{"invalid phone", fmt.Errorf("start 6421***567: %w", otp.ErrInvalidPhone), 400, "invalid_phone_number"},
		{"not a mobile", fmt.Errorf("start 6421***567: lookup: %w", otp.ErrNotMobile), 400, "invalid_phone_number"},
		{"country", otp.ErrCountryNotAllowed, 400, "country_not_allowed"},
		{"not found", otp.ErrNotFound, 404, "verification_not_found"},
		{"not pending", &otp.NotPendingError{Status: otp.StatusCanceled}, 409, "verification_not_pending"},
		{"rate limited", &otp.LimitError{Kind: otp.ErrRateLimited, Limit: 20, Remaining: 0, Reset: reset}, 429, "rate_limited"},
		{"cooldown", &otp.LimitError{Kind: otp.ErrCooldown, Limit: 1, Reset: reset}, 429, "resend_cooldown"},
		{"max sends", &otp.LimitError{Kind: otp.ErrMaxSends, Limit: 5, Reset: reset}, 429, "max_sends_reached"},
		{"send budget", &otp.LimitError{Kind: otp.ErrSendBudget, Limit: 500, Reset: reset}, 429, "send_budget_exhausted"},
		{"fraud guard", &otp.LimitError{Kind: otp.ErrFraudGuard, Limit: 50, Reset: reset, Warnings: []otp.Warning{otp.WarnCountryDaily}}, 429, "fraud_guard"},
		{"upstream", fmt.Errorf("send: %w: dial tcp 10.1.2.3:443", otp.ErrUpstream), 502, "upstream_error"},
		{"upstream, maybe sent", fmt.Errorf("send: %w: %w: i/o timeout", otp.ErrUpstream, otp.ErrMaybeSent), 502, "upstream_error"},
		{"unavailable", fmt.Errorf("get: %w: i/o timeout", otp.ErrUnavailable), 503, "unavailable"},
		{"unknown", fmt.Errorf("bcrypt: hash of 64211234567 failed"), 500, "internal_error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, withVerifier(&stubVerifier{err: tc.err}))
			for _, r := range []struct{ method, path, body string }{
				{"POST", "/v1/verifications", `{"to":"0211234567"}`},
				{"GET", "/v1/verifications/ver_1", ""},
				{"POST", "/v1/verifications/ver_1/check", `{"code":"123456"}`},
				{"POST", "/v1/verifications/ver_1/cancel", ""},
				{"POST", "/v1/checks", `{"to":"0211234567","code":"123456"}`},
			} {
				rec := f.do(r.method, r.path, r.body)
				e := wantError(t, rec, tc.status, tc.code)
				if strings.ContainsAny(e.Error.Message, "0123456789") {
					t.Errorf("%s %s: message %q shows error details", r.method, r.path, e.Error.Message)
				}
				if tc.status == 409 && e.Status != "canceled" {
					t.Errorf("409 status = %q, want canceled", e.Status)
				}
				if tc.status == 429 {
					for h, want := range map[string]string{
						"Retry-After":           "91",
						"X-RateLimit-Reset":     fmt.Sprint(reset.Unix()),
						"X-RateLimit-Remaining": "0",
					} {
						if got := rec.Header().Get(h); got != want {
							t.Errorf("%s = %q, want %q", h, got, want)
						}
					}
				}
				if tc.status == 500 && e.Error.Message != "internal error" {
					t.Errorf("500 message = %q, want internal error", e.Error.Message)
				}
			}
			logs := f.logs.String()
			if tc.status >= 500 && !strings.Contains(logs, `"level":"ERROR"`) {
				t.Errorf("a %d is not logged as an error:\n%s", tc.status, logs)
			}
			if tc.status < 500 && strings.Contains(logs, `"level":"ERROR"`) {
				t.Errorf("a %d is logged as an error:\n%s", tc.status, logs)
			}
			if strings.Contains(logs, testPhone) {
				t.Errorf("log shows a full phone number:\n%s", logs)
			}
		})
	}
}

func TestPanicIs500(t *testing.T) {
	f := newFixture(t, nil, withVerifier(&panicVerifier{}))
	e := wantError(t, f.do("GET", "/v1/verifications/ver_1", ""), http.StatusInternalServerError, "internal_error")
	if e.Error.Message != "internal error" {
		t.Errorf("message = %q", e.Error.Message)
	}
	if !strings.Contains(f.logs.String(), "panic") {
		t.Error("panic not logged")
	}
}

type panicVerifier struct{ stubVerifier }

func (*panicVerifier) Get(context.Context, string) (*otp.Verification, error) { panic("boom") }

// TestStoreDown stops Redis under a pending verification: every call
// answers 503, nothing is approved or sent, and the state is intact once
// Redis is back.
func TestStoreDown(t *testing.T) {
	m := miniredis.RunT(t)
	// No retries: the test wants the failure, not go-redis's backoff.
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	f := newFixture(t, rdb)
	id := f.startVerification()

	m.Close()
	for _, r := range []struct {
		method, path, body string
		headers            []string
	}{
		{"POST", "/v1/verifications/" + id + "/check", `{"code":"428613"}`, nil},
		{"POST", "/v1/checks", `{"to":"0211234567","code":"428613"}`, nil},
		{"POST", "/v1/verifications", `{"to":"0219876543"}`, nil},
		{"POST", "/v1/verifications", `{"to":"0219876543"}`, []string{"Idempotency-Key", "k1"}},
		{"GET", "/v1/verifications/" + id, "", nil},
		{"POST", "/v1/verifications/" + id + "/cancel", "", nil},
		{"GET", "/readyz", "", nil},
	} {
		wantError(t, f.do(r.method, r.path, r.body, r.headers...), http.StatusServiceUnavailable, "unavailable")
	}
	if n := f.sender.count(); n != 1 {
		t.Errorf("%d SMS sent, want only the first one", n)
	}

	if err := m.Restart(); err != nil {
		t.Fatalf("restart miniredis: %v", err)
	}
	rec := f.do("GET", "/v1/verifications/"+id, "")
	if !strings.Contains(rec.Body.String(), `"status":"pending"`) || !strings.Contains(rec.Body.String(), `"attempts_left":5`) {
		t.Errorf("after the outage the verification is %s, want pending with 5 attempts", rec.Body)
	}
}

// stubLimiter is an otp.Limiter with a fixed answer.
type stubLimiter struct {
	q   otp.Quota
	err error
}

func (l stubLimiter) Take(context.Context, string) (otp.Quota, error) { return l.q, l.err }
func (l stubLimiter) Peek(context.Context, string) (otp.Quota, error) { return l.q, l.err }

func TestPerKeyLimit(t *testing.T) {
	reset := start.Add(42 * time.Second)
	t.Run("under the limit", func(t *testing.T) {
		f := newFixture(t, nil, func(c *api.Config) {
			c.KeyLimiter = stubLimiter{q: otp.Quota{Limit: 6000, Remaining: 5999, Reset: reset}}
		})
		rec := f.do("GET", "/v1/verifications/ver_1", "")
		for h, want := range map[string]string{"X-RateLimit-Limit": "6000", "X-RateLimit-Remaining": "5999", "X-RateLimit-Reset": fmt.Sprint(reset.Unix())} {
			if got := rec.Header().Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		if rec.Code != http.StatusNotFound {
			t.Errorf("status = %d, want the route's own 404", rec.Code)
		}
	})
	t.Run("reached", func(t *testing.T) {
		f := newFixture(t, nil, func(c *api.Config) {
			c.KeyLimiter = stubLimiter{q: otp.Quota{Limit: 6000, Remaining: 0, Reset: reset, Reached: true}}
		})
		for _, r := range [][2]string{{"POST", "/v1/verifications"}, {"GET", "/v1/verifications/ver_1"}, {"POST", "/v1/checks"}} {
			rec := f.do(r[0], r[1], `{"to":"0211234567"}`)
			wantError(t, rec, http.StatusTooManyRequests, "rate_limited")
			for h, want := range map[string]string{"Retry-After": "42", "X-RateLimit-Limit": "6000", "X-RateLimit-Remaining": "0"} {
				if got := rec.Header().Get(h); got != want {
					t.Errorf("%s %s: %s = %q, want %q", r[0], r[1], h, got, want)
				}
			}
		}
		if n := f.sender.count(); n != 0 {
			t.Errorf("%d SMS sent past the per-key limit", n)
		}
		if rec := f.do("GET", "/healthz", ""); rec.Code != http.StatusOK {
			t.Errorf("probes are limited: %d", rec.Code)
		}
	})
	t.Run("limiter down", func(t *testing.T) {
		f := newFixture(t, nil, func(c *api.Config) { c.KeyLimiter = stubLimiter{err: fmt.Errorf("redis down")} })
		wantError(t, f.do("POST", "/v1/verifications", `{"to":"0211234567"}`), http.StatusServiceUnavailable, "unavailable")
		if n := f.sender.count(); n != 0 {
			t.Errorf("%d SMS sent with the limiter down", n)
		}
	})
}
