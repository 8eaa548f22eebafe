package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
)

// noAuth removes the fixture's default Authorization header.
var noAuth = []string{"Authorization", ""}

// withDemo turns the demo on, its inbox showing what the fixture's fake
// sender sent, stamped with the fixture's clock.
func withDemo(f **fixture) func(*api.Config) {
	return func(c *api.Config) {
		c.Demo = &api.Demo{Inbox: func(to string) (string, time.Time, bool) {
			s := (*f).sender
			s.mu.Lock()
			defer s.mu.Unlock()
			for i := len(s.sends) - 1; i >= 0; i-- {
				if s.sends[i].To == to {
					return "Your code is " + s.sends[i].Code, (*f).clock.Now(), true
				}
			}
			return "", time.Time{}, false
		}}
	}
}

func newDemoFixture(t *testing.T, edit ...func(*api.Config)) *fixture {
	t.Helper()
	var f *fixture
	f = newFixture(t, nil, append([]func(*api.Config){withDemo(&f)}, edit...)...)
	return f
}

func TestDemoIsAbsentWithoutDemoConfig(t *testing.T) {
	stub := answeringFactors()
	f := newFixture(t, nil, withFactors(stub))
	for _, r := range [][2]string{
		{"GET", "/demo"},
		{"POST", "/demo/api/verifications"},
		{"POST", "/demo/api/verifications/ver_1/check"},
		{"GET", "/demo/api/inbox?to=64211234567"},
		{"POST", "/demo/api/identities/demo-0123456789abcdef/factors"},
		{"POST", "/demo/api/identities/demo-0123456789abcdef/factors/fac_00000000000000000000000000000000/verify"},
		{"POST", "/demo/api/identities/demo-0123456789abcdef/challenges"},
	} {
		rec := f.do(r[0], r[1], `{"to":"021 123 4567"}`, noAuth...)
		wantError(t, rec, http.StatusNotFound, "not_found")
	}
	if n := f.sender.count(); n != 0 {
		t.Errorf("%d SMS sent without the demo", n)
	}
	if calls := stub.recorded(); len(calls) != 0 {
		t.Errorf("the factor service was called without the demo: %v", calls)
	}
}

func TestDemoPage(t *testing.T) {
	f := newDemoFixture(t)
	rec := f.do("GET", "/demo", "", noAuth...)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /demo = %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", got)
	}
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'sha256-", "style-src 'sha256-", "connect-src 'self'", "img-src data:;"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	for _, id := range []string{"phone", "send", "code", "verify", "resend", "status", "error", "countdown", "sms",
		"totp-enrol", "totp-qr", "totp-secret", "totp-code", "totp-recovery", "totp-answer", "totp-status", "totp-error"} {
		if !strings.Contains(rec.Body.String(), `id="`+id+`"`) {
			t.Errorf("the page has no element #%s", id)
		}
	}
}

// TestDemoRunsTheV1Handlers drives a verification through the demo's routes
// without a key and sees /v1/'s answers, errors and rules.
func TestDemoRunsTheV1Handlers(t *testing.T) {
	limiter := &namesLimiter{}
	f := newDemoFixture(t, func(c *api.Config) { c.KeyLimiter = limiter })

	wantError(t, f.do("GET", "/demo/api/inbox?to="+testPhone, "", noAuth...), http.StatusNotFound, "not_found")

	rec := f.do("POST", "/demo/api/verifications", `{"to":"021 123 4567"}`, noAuth...)
	if rec.Code != http.StatusCreated {
		t.Fatalf("start = %d %s", rec.Code, rec.Body)
	}
	var v struct {
		ID, To, Channel, Status, CreatedAt, ExpiresAt, ResendAvailableAt string
		AttemptsLeft, Sends                                              int
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.To != testPhone || v.Status != "pending" || v.Sends != 1 {
		t.Fatalf("start answered %s (%v)", rec.Body, err)
	}

	rec = f.do("GET", "/demo/api/inbox?to="+v.To, "", noAuth...)
	var sms map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &sms); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("inbox = %d %s", rec.Code, rec.Body)
	}
	want := map[string]string{"to": testPhone, "text": "Your code is " + testCode, "sent_at": "2030-01-02T02:04:05Z"}
	for k, w := range want {
		if sms[k] != w || len(sms) != len(want) {
			t.Errorf("inbox answered %v, want %v", sms, want)
			break
		}
	}

	rec = f.do("POST", "/demo/api/verifications", `{"to":"+64 21 123 4567"}`, noAuth...)
	wantError(t, rec, http.StatusTooManyRequests, "resend_cooldown")
	if got := rec.Header().Get("Retry-After"); got != "30" {
		t.Errorf("Retry-After = %q, want 30 (OTP_RESEND_COOLDOWN)", got)
	}

	rec = f.do("POST", "/demo/api/verifications/"+v.ID+"/check", `{"code":"000000"}`, noAuth...)
	if got := rec.Body.String(); rec.Code != http.StatusOK || got != `{"id":"`+v.ID+`","status":"pending","valid":false,"attempts_left":4}` {
		t.Errorf("wrong code = %d %s", rec.Code, got)
	}
	rec = f.do("POST", "/demo/api/verifications/"+v.ID+"/check", `{"code":"`+testCode+`"}`, noAuth...)
	if got := rec.Body.String(); rec.Code != http.StatusOK || got != `{"id":"`+v.ID+`","status":"approved","valid":true,"attempts_left":3}` {
		t.Errorf("right code = %d %s", rec.Code, got)
	}
	e := wantError(t, f.do("POST", "/demo/api/verifications/"+v.ID+"/check", `{"code":"`+testCode+`"}`, noAuth...),
		http.StatusConflict, "verification_not_pending")
	if e.Status != "approved" {
		t.Errorf("409 status = %q, want approved", e.Status)
	}

	if names := limiter.taken(); len(names) != 7 || names[0] != "demo" || names[6] != "demo" {
		t.Errorf("per-key limit counted %v, want 7 requests of the key demo", names)
	}
	if logs := f.logs.String(); !strings.Contains(logs, `"route":"/demo/api/verifications","status":201`) || !strings.Contains(logs, `"key":"demo"`) {
		t.Errorf("no log line of the demo start under the key demo:\n%s", logs)
	}
	if n := f.sender.count(); n != 1 {
		t.Errorf("%d SMS sent, want 1", n)
	}
}

func TestDemoErrorsAreV1Errors(t *testing.T) {
	f := newDemoFixture(t)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"no number", "POST", "/demo/api/verifications", `{"to":""}`, http.StatusBadRequest, "invalid_request"},
		{"not a number", "POST", "/demo/api/verifications", `{"to":"12345"}`, http.StatusBadRequest, "invalid_phone_number"},
		{"country", "POST", "/demo/api/verifications", `{"to":"+44 7911 123456"}`, http.StatusBadRequest, "country_not_allowed"},
		{"unknown field", "POST", "/demo/api/verifications", `{"to":"0211234567","x":1}`, http.StatusBadRequest, "invalid_request"},
		{"too large", "POST", "/demo/api/verifications", `{"to":"` + strings.Repeat("1", 70<<10) + `"}`, http.StatusRequestEntityTooLarge, "request_too_large"},
		{"unknown verification", "POST", "/demo/api/verifications/ver_00000000000000000000000000000000/check", `{"code":"123456"}`, http.StatusNotFound, "verification_not_found"},
		{"inbox without to", "GET", "/demo/api/inbox", "", http.StatusBadRequest, "invalid_request"},
		{"inbox with a plus", "GET", "/demo/api/inbox?to=%2B64211234567", "", http.StatusBadRequest, "invalid_request"},
		{"no cancel", "POST", "/demo/api/verifications/ver_1/cancel", "", http.StatusNotFound, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, f.do(tc.method, tc.path, tc.body, noAuth...), tc.status, tc.code)
		})
	}
	if n := f.sender.count(); n != 0 {
		t.Errorf("%d SMS sent", n)
	}
}

// TestDemoIdempotency replays a start's answer for its Idempotency-Key, as
// /v1/ does, in the demo key's own scope.
func TestDemoIdempotency(t *testing.T) {
	f := newDemoFixture(t)
	first := f.do("POST", "/demo/api/verifications", `{"to":"0211234567"}`, "Authorization", "", "Idempotency-Key", "k1")
	again := f.do("POST", "/demo/api/verifications", `{"to":"0211234567"}`, "Authorization", "", "Idempotency-Key", "k1")
	if first.Code != http.StatusCreated || again.Code != http.StatusCreated || again.Body.String() != first.Body.String() {
		t.Errorf("replay = %d %s, first %d %s", again.Code, again.Body, first.Code, first.Body)
	}
	if stored, err := f.rdb.Exists(context.Background(), "otpgate:idem:{"+api.ScopedKey("demo", "k1")+"}").Result(); err != nil || stored != 1 {
		t.Errorf("no idempotency record in the demo key's scope (%d, %v)", stored, err)
	}
	if n := f.sender.count(); n != 1 {
		t.Errorf("%d SMS sent, want 1", n)
	}
}

func emptyInbox(string) (string, time.Time, bool) { return "", time.Time{}, false }

// namesLimiter is a per-key limiter that never refuses and remembers which
// key names it counted.
type namesLimiter struct {
	mu    sync.Mutex
	names []string
}

func (l *namesLimiter) Take(_ context.Context, name string) (otp.Quota, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names = append(l.names, name)
	return otp.Quota{Limit: 100, Remaining: 100 - int64(len(l.names))}, nil
}

func (l *namesLimiter) Peek(context.Context, string) (otp.Quota, error) {
	return otp.Quota{Limit: 100}, nil
}

func (l *namesLimiter) taken() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.names...)
}
