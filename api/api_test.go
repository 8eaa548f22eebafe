package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
)

func TestProbes(t *testing.T) {
	f := newFixture(t, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		rec := f.do("GET", path, "", "Authorization", "")
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200 (body %s)", path, rec.Code, rec.Body)
		}
		if got := rec.Body.String(); got != `{"status":"ok"}` {
			t.Errorf("GET %s body = %s", path, got)
		}
	}
	rec := f.do("GET", "/metrics", "", "Authorization", "")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "otpgate_http_requests_total") {
		t.Errorf("GET /metrics = %d, body lacks otpgate_http_requests_total:\n%.500s", rec.Code, rec.Body)
	}
}

func TestReadyzFailsWhenStoreDown(t *testing.T) {
	f := newFixture(t, nil, func(c *api.Config) {
		c.Ready = func(context.Context) error { return errors.New("dial tcp: connection refused") }
	})
	rec := f.do("GET", "/readyz", "", "Authorization", "")
	e := wantError(t, rec, http.StatusServiceUnavailable, "unavailable")
	if strings.Contains(e.Error.Message, "refused") {
		t.Errorf("503 message leaks the cause: %q", e.Error.Message)
	}
	if !strings.Contains(f.logs.String(), "connection refused") {
		t.Error("the cause of a 503 is not logged")
	}
}

func TestRequestID(t *testing.T) {
	f := newFixture(t, nil)
	cases := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
	}{
		{"healthz", "GET", "/healthz", "", nil, 200},
		{"readyz", "GET", "/readyz", "", nil, 200},
		{"metrics", "GET", "/metrics", "", nil, 200},
		{"unknown route", "GET", "/nope", "", nil, 404},
		{"unknown v1 route", "GET", "/v1/nope", "", nil, 404},
		{"trailing slash", "GET", "/healthz/", "", nil, 404},
		{"wrong method", "DELETE", "/v1/verifications", "", nil, 405},
		{"no key", "GET", "/v1/verifications/ver_x", "", []string{"Authorization", ""}, 401},
		{"bad body", "POST", "/v1/verifications", "{", nil, 400},
		{"not found", "GET", "/v1/verifications/ver_00000000000000000000000000000000", "", nil, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(tc.method, tc.path, tc.body, tc.headers...)
			if rec.Code != tc.status {
				t.Errorf("status = %d, want %d", rec.Code, tc.status)
			}
			if id := rec.Header().Get("X-Request-Id"); len(id) < 16 {
				t.Errorf("X-Request-Id = %q, want a generated id", id)
			}
		})
	}

	t.Run("sane incoming id is kept", func(t *testing.T) {
		rec := f.do("GET", "/healthz", "", "X-Request-Id", "lb-1234.abc_DEF:9")
		if got := rec.Header().Get("X-Request-Id"); got != "lb-1234.abc_DEF:9" {
			t.Errorf("X-Request-Id = %q, want the caller's", got)
		}
	})
	t.Run("insane incoming id is replaced", func(t *testing.T) {
		for _, bad := range []string{"a b", "x\"}{", strings.Repeat("a", 129), "é"} {
			rec := f.do("GET", "/healthz", "", "X-Request-Id", bad)
			if got := rec.Header().Get("X-Request-Id"); got == bad || got == "" {
				t.Errorf("incoming %q: X-Request-Id = %q, want a fresh id", bad, got)
			}
		}
	})
	t.Run("ids differ", func(t *testing.T) {
		a := f.do("GET", "/healthz", "").Header().Get("X-Request-Id")
		b := f.do("GET", "/healthz", "").Header().Get("X-Request-Id")
		if a == b {
			t.Errorf("two requests got the same id %q", a)
		}
	})
}

func TestUnknownRoutes(t *testing.T) {
	f := newFixture(t, nil)
	wantError(t, f.do("GET", "/nope", ""), http.StatusNotFound, "not_found")
	wantError(t, f.do("POST", "/v1/connexus/sms/otp", `{}`), http.StatusNotFound, "not_found")
	rec := f.do("PUT", "/v1/verifications", `{}`)
	wantError(t, rec, http.StatusMethodNotAllowed, "method_not_allowed")
	if got := rec.Header().Get("Allow"); got != "POST" {
		t.Errorf("Allow = %q, want POST", got)
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t, nil)
	cases := []struct {
		name, auth string
		status     int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"unknown secret", "Bearer not-a-key", http.StatusUnauthorized},
		{"prefix of a secret", "Bearer " + clientSecret[:len(clientSecret)-1], http.StatusUnauthorized},
		{"secret plus a byte", "Bearer " + clientSecret + "x", http.StatusUnauthorized},
		{"basic scheme", "Basic " + clientSecret, http.StatusUnauthorized},
		{"bare secret", clientSecret, http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"client key", "Bearer " + clientSecret, http.StatusNotFound},
		{"admin key", "Bearer " + adminSecret, http.StatusNotFound},
		{"scheme is case-insensitive", "bearer " + clientSecret, http.StatusNotFound},
	}
	const path = "/v1/verifications/ver_00000000000000000000000000000000"
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do("GET", path, "", "Authorization", tc.auth)
			if tc.status == http.StatusUnauthorized {
				wantError(t, rec, http.StatusUnauthorized, "unauthorized")
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				return
			}
			// Authenticated: the unknown id reaches the Service.
			wantError(t, rec, tc.status, "verification_not_found")
		})
	}

	t.Run("every route needs a key", func(t *testing.T) {
		for _, r := range [][2]string{
			{"POST", "/v1/verifications"},
			{"GET", "/v1/verifications/ver_1"},
			{"POST", "/v1/verifications/ver_1/check"},
			{"POST", "/v1/verifications/ver_1/cancel"},
			{"POST", "/v1/checks"},
		} {
			rec := f.do(r[0], r[1], `{}`, "Authorization", "")
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("%s %s without a key = %d, want 401", r[0], r[1], rec.Code)
			}
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	base := func() api.Config {
		return api.Config{
			Verifier:    &stubVerifier{},
			Idempotency: nopIdempotency{},
			Ready:       func(context.Context) error { return nil },
		}
	}
	cases := []struct {
		name string
		edit func(*api.Config)
	}{
		{"no verifier", func(c *api.Config) { c.Verifier = nil }},
		{"no idempotency store", func(c *api.Config) { c.Idempotency = nil }},
		{"no ready func", func(c *api.Config) { c.Ready = nil }},
		{"empty secret", func(c *api.Config) { c.ClientKeys = map[string]string{"a": ""} }},
		{"name in both maps", func(c *api.Config) {
			c.ClientKeys = map[string]string{"a": "s1"}
			c.AdminKeys = map[string]string{"a": "s2"}
		}},
		{"shared secret", func(c *api.Config) {
			c.ClientKeys = map[string]string{"a": "same"}
			c.AdminKeys = map[string]string{"b": "same"}
		}},
		{"bad proxy CIDR", func(c *api.Config) { c.TrustedProxies = []string{"10.0.0.0/99"} }},
		{"demo without inbox", func(c *api.Config) { c.Demo = &api.Demo{} }},
		{"client key named demo", func(c *api.Config) {
			c.Demo = &api.Demo{Inbox: emptyInbox}
			c.ClientKeys = map[string]string{"demo": "s1"}
		}},
		{"admin key named demo", func(c *api.Config) {
			c.Demo = &api.Demo{Inbox: emptyInbox}
			c.AdminKeys = map[string]string{"demo": "s1"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.edit(&cfg)
			if _, err := api.New(cfg); err == nil {
				t.Error("New accepted the config")
			}
		})
	}
	if _, err := api.New(base()); err != nil {
		t.Errorf("New(minimal config) = %v", err)
	}
}

func TestTrustedProxies(t *testing.T) {
	clientIP := func(t *testing.T, f *fixture) string {
		t.Helper()
		f.do("GET", "/healthz", "", "X-Forwarded-For", "203.0.113.7", "X-Real-IP", "203.0.113.8")
		var line struct {
			ClientIP string `json:"client_ip"`
		}
		logs := strings.Split(strings.TrimSpace(f.logs.String()), "\n")
		if err := json.Unmarshal([]byte(logs[len(logs)-1]), &line); err != nil {
			t.Fatalf("request log line: %v", err)
		}
		return line.ClientIP
	}
	t.Run("off by default", func(t *testing.T) {
		if got := clientIP(t, newFixture(t, nil)); got != "192.0.2.10" {
			t.Errorf("client_ip = %q, want the TCP peer 192.0.2.10: proxy headers must be ignored", got)
		}
	})
	t.Run("configured", func(t *testing.T) {
		f := newFixture(t, nil, func(c *api.Config) { c.TrustedProxies = []string{"192.0.2.0/24"} })
		if got := clientIP(t, f); got != "203.0.113.7" {
			t.Errorf("client_ip = %q, want 203.0.113.7 from a trusted proxy", got)
		}
	})
	t.Run("other proxies are not believed", func(t *testing.T) {
		f := newFixture(t, nil, func(c *api.Config) { c.TrustedProxies = []string{"10.0.0.0/8"} })
		if got := clientIP(t, f); got != "192.0.2.10" {
			t.Errorf("client_ip = %q, want the TCP peer", got)
		}
	})
}

// nopIdempotency is an IdempotencyStore for tests that never send the header.
type nopIdempotency struct{}

func (nopIdempotency) Claim(context.Context, string, []byte, time.Duration) ([]byte, bool, error) {
	return nil, true, nil
}

func (nopIdempotency) Complete(context.Context, string, []byte, []byte, time.Duration) (bool, error) {
	return true, nil
}

func (nopIdempotency) Release(context.Context, string, []byte) error { return nil }

var _ api.IdempotencyStore = nopIdempotency{}

var _ api.Verifier = (*otp.Service)(nil)
