package api_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/otpgate/otpgate/ratelimit"
)

func TestStrictJSON(t *testing.T) {
	f := newFixture(t, nil)
	const id = "ver_00000000000000000000000000000000"
	cases := []struct {
		name, path, body string
		headers          []string
	}{
		{"unknown field", "/v1/verifications", `{"to":"0211234567","channel":"sms"}`, nil},
		{"malformed", "/v1/verifications", `{"to":`, nil},
		{"not JSON", "/v1/verifications", `to=0211234567`, nil},
		{"wrong type", "/v1/verifications", `{"to":64211234567}`, nil},
		{"array", "/v1/verifications", `[{"to":"0211234567"}]`, nil},
		{"trailing data", "/v1/verifications", `{"to":"0211234567"} x`, nil},
		{"two objects", "/v1/verifications", `{"to":"0211234567"}{"to":"0211234567"}`, nil},
		{"empty body", "/v1/verifications", ``, []string{"Content-Type", "application/json"}},
		{"null", "/v1/verifications", `null`, nil},
		{"missing to", "/v1/verifications", `{"brand":"Shop"}`, nil},
		{"blank to", "/v1/verifications", `{"to":"  "}`, nil},
		{"bad client_ip", "/v1/verifications", `{"to":"0211234567","client_ip":"10.0.0.300"}`, nil},
		{"client_ip with port", "/v1/verifications", `{"to":"0211234567","client_ip":"10.0.0.1:80"}`, nil},
		{"text/plain", "/v1/verifications", `{"to":"0211234567"}`, []string{"Content-Type", "text/plain"}},
		{"form", "/v1/verifications", `{"to":"0211234567"}`, []string{"Content-Type", "application/x-www-form-urlencoded"}},
		{"no content type", "/v1/verifications", `{"to":"0211234567"}`, []string{"Content-Type", ""}},
		{"check: unknown field", "/v1/verifications/" + id + "/check", `{"code":"123456","to":"0211234567"}`, nil},
		{"check: missing code", "/v1/verifications/" + id + "/check", `{}`, nil},
		{"check: numeric code", "/v1/verifications/" + id + "/check", `{"code":123456}`, nil},
		{"check: letters", "/v1/verifications/" + id + "/check", `{"code":"12a456"}`, nil},
		{"check: bad client_ip", "/v1/verifications/" + id + "/check", `{"code":"123456","client_ip":"me"}`, nil},
		{"checks: both to and id", "/v1/checks", `{"to":"0211234567","verification_id":"` + id + `","code":"123456"}`, nil},
		{"checks: neither", "/v1/checks", `{"code":"123456"}`, nil},
		{"checks: missing code", "/v1/checks", `{"to":"0211234567"}`, nil},
		{"cancel: unknown field", "/v1/verifications/" + id + "/cancel", `{"reason":"x"}`, nil},
		// encoding/json decodes null into a struct as nothing at all; found by FuzzRequestBody.
		{"cancel: null", "/v1/verifications/" + id + "/cancel", `null`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do("POST", tc.path, tc.body, tc.headers...)
			wantError(t, rec, http.StatusBadRequest, "invalid_request")
		})
	}
	if n := f.sender.count(); n != 0 {
		t.Errorf("%d SMS sent for invalid requests, want 0", n)
	}

	t.Run("parameters and case are fine", func(t *testing.T) {
		for i, ct := range []string{"application/json; charset=utf-8", "Application/JSON"} {
			rec := f.do("POST", "/v1/verifications", fmt.Sprintf(`{"to":"021000000%d"}`, i), "Content-Type", ct)
			if rec.Code != http.StatusCreated {
				t.Errorf("Content-Type %q: status = %d, want 201 (body %s)", ct, rec.Code, rec.Body)
			}
		}
	})
	t.Run("message says what is wrong", func(t *testing.T) {
		e := wantError(t, f.do("POST", "/v1/verifications", `{"to":"021","nope":1}`), http.StatusBadRequest, "invalid_request")
		if !strings.Contains(e.Error.Message, `"nope"`) {
			t.Errorf("message %q does not name the unknown field", e.Error.Message)
		}
	})
}

func TestBodyTooLarge(t *testing.T) {
	f := newFixture(t, nil)
	big := `{"to":"0211234567","comment":"` + strings.Repeat("x", 64<<10) + `"}`
	t.Run("declared length", func(t *testing.T) {
		wantError(t, f.do("POST", "/v1/verifications", big), http.StatusRequestEntityTooLarge, "request_too_large")
	})
	t.Run("chunked", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/v1/checks", io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1 // as with Transfer-Encoding: chunked
		req.Header.Set("Authorization", "Bearer "+clientSecret)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		wantError(t, rec, http.StatusRequestEntityTooLarge, "request_too_large")
	})
	t.Run("just under the limit is read", func(t *testing.T) {
		body := `{"to":"","comment":"` + strings.Repeat("x", 64<<10-len(`{"to":"","comment":""}`)) + `"}`
		if len(body) != 64<<10 {
			t.Fatalf("body is %d bytes", len(body))
		}
		wantError(t, f.do("POST", "/v1/verifications", body), http.StatusBadRequest, "invalid_request")
	})
	if n := f.sender.count(); n != 0 {
		t.Errorf("%d SMS sent, want 0", n)
	}
}

// TestPerIPLimitKeysIPv6ByPrefix drives starts through the real service and
// a real limiter: rotating addresses inside one IPv6 /64, or writing an
// IPv4 address in IPv4-mapped form, does not buy a fresh per-IP quota.
func TestPerIPLimitKeysIPv6ByPrefix(t *testing.T) {
	rdb, _ := redistest.Mini(t)
	perIP, err := ratelimit.New(rdb, "starts-per-ip", "1-H")
	if err != nil {
		t.Fatalf("ratelimit.New: %v", err)
	}
	f := newFixture(t, rdb, func(c *api.Config) {
		cfg := otp.DefaultConfig()
		cfg.Lookup = otp.LookupOff
		cfg.BcryptCost = bcrypt.MinCost
		svc, err := otp.NewService(cfg, redisstore.New(rdb), &fakeSender{}, otp.WithLimits(otp.Limits{StartsPerIP: perIP}))
		if err != nil {
			t.Fatalf("NewService: %v", err)
		}
		c.Verifier = svc
	})
	steps := []struct {
		clientIP string
		status   int
	}{
		{"2001:db8:1:2::1", http.StatusCreated},
		{"2001:db8:1:2:ffff:ffff:ffff:fffe", http.StatusTooManyRequests},
		{"2001:db8:1:3::1", http.StatusCreated},
		{"203.0.113.7", http.StatusCreated},
		{"::ffff:203.0.113.7", http.StatusTooManyRequests},
		{"203.0.113.8", http.StatusCreated},
	}
	for i, s := range steps {
		body := fmt.Sprintf(`{"to":"021 123 45%02d","client_ip":%q}`, i, s.clientIP)
		rec := f.do("POST", "/v1/verifications", body)
		if s.status == http.StatusTooManyRequests {
			wantError(t, rec, s.status, "rate_limited")
		} else if rec.Code != s.status {
			t.Errorf("start from %s: status %d, want %d (body %s)", s.clientIP, rec.Code, s.status, rec.Body)
		}
	}
}
