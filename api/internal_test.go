package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/otp"
)

// TestRequireAdmin mounts an admin-only route the way the Connexus proxy
// and the inbound list do.
func TestRequireAdmin(t *testing.T) {
	s, err := newServer(Config{
		Verifier:    stubVerifier{},
		Idempotency: stubIdempotency{},
		Ready:       func(context.Context) error { return nil },
		ClientKeys:  map[string]string{"shop": "client-secret"},
		AdminKeys:   map[string]string{"ops": "admin-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.engine(nil)
	if err != nil {
		t.Fatal(err)
	}
	e.GET("/v1/admin-only", s.authenticate, s.limitKey, s.requireAdmin, func(c *gin.Context) { c.Status(http.StatusNoContent) })

	cases := []struct {
		auth   string
		status int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer nope", http.StatusUnauthorized},
		{"Bearer client-secret", http.StatusForbidden},
		{"Bearer admin-secret", http.StatusNoContent},
	}
	for _, tc := range cases {
		req := httptest.NewRequest("GET", "/v1/admin-only", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%q: status %d, want %d (body %s)", tc.auth, rec.Code, tc.status, rec.Body)
		}
		if tc.status == http.StatusForbidden && rec.Body.String() == "" {
			t.Error("403 without a JSON error")
		}
	}
}

// TestFindKey checks the lookup that authenticate relies on: every key is
// found wherever it sits, and nothing close to a key is.
func TestFindKey(t *testing.T) {
	client := map[string]string{}
	for _, n := range []string{"a", "b", "c", "d"} {
		client[n] = "secret-" + n
	}
	keys, err := buildKeys(client, map[string]string{"root": "secret-root"})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{keys: keys}
	for name, secret := range map[string]string{"a": "secret-a", "d": "secret-d", "root": "secret-root"} {
		k, ok := s.findKey(secret)
		if !ok || k.name != name || k.admin != (name == "root") {
			t.Errorf("findKey(%q) = %+v, %v; want %s", secret, k, ok, name)
		}
	}
	for _, bad := range []string{"", "secret-", "secret-a ", "Secret-a", "secret-root-"} {
		if k, ok := s.findKey(bad); ok {
			t.Errorf("findKey(%q) found %s", bad, k.name)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Unix(1000, 0)
	cases := []struct {
		reset time.Time
		want  int64
	}{
		{now.Add(30 * time.Second), 30},
		{now.Add(29*time.Second + time.Millisecond), 30},
		{now.Add(time.Millisecond), 1},
		{now, 1},
		{now.Add(-time.Hour), 1},
	}
	for _, tc := range cases {
		if got := retryAfter(tc.reset, now); got != tc.want {
			t.Errorf("retryAfter(now+%v) = %d, want %d", tc.reset.Sub(now), got, tc.want)
		}
	}
}

func TestScrubDigits(t *testing.T) {
	got := scrubDigits("start 64211234567: dial 10.0.0.1:6379: code 1234")
	if want := "start 6421***567: dial 10.0.0.1:6379: code 1234"; got != want {
		t.Errorf("scrubDigits = %q, want %q", got, want)
	}
}

type stubVerifier struct{}

func (stubVerifier) Start(context.Context, otp.StartRequest) (*otp.Verification, bool, error) {
	return nil, false, otp.ErrNotFound
}
func (stubVerifier) Get(context.Context, string) (*otp.Verification, error) {
	return nil, otp.ErrNotFound
}
func (stubVerifier) Check(context.Context, otp.CheckRequest) (*otp.CheckResult, error) {
	return nil, otp.ErrNotFound
}
func (stubVerifier) Cancel(context.Context, string) (*otp.Verification, error) {
	return nil, otp.ErrNotFound
}

type stubIdempotency struct{}

func (stubIdempotency) Claim(context.Context, string, []byte, time.Duration) ([]byte, bool, error) {
	return nil, true, nil
}
func (stubIdempotency) Complete(context.Context, string, []byte, []byte, time.Duration) (bool, error) {
	return true, nil
}
func (stubIdempotency) Release(context.Context, string, []byte) error { return nil }
