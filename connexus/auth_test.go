package connexus_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/connexustest"
)

const callers = 50

// hammer runs fn from callers goroutines at once and fails on any error.
func hammer(t *testing.T, fn func() error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			<-start
			errs <- fn()
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestTokenSingleFlightExpiryAndRevocation(t *testing.T) {
	clk := newClock()
	c, s := connexustest.NewClient(t, connexustest.WithClock(clk.Now), connexustest.WithTokenTTL(time.Hour),
		connexustest.WithClientOptions(connexus.WithClock(clk.Now)))
	ctx := context.Background()
	balance := func() error { _, err := c.Balance(ctx); return err }

	hammer(t, balance)
	if n := s.TokensIssued(); n != 1 {
		t.Fatalf("first use: %d tokens issued, want 1", n)
	}

	// Close to expiry the client refreshes before the upstream would refuse.
	clk.Advance(time.Hour - 30*time.Second)
	before := s.RequestCount("sms/balance")
	hammer(t, balance)
	if n := s.TokensIssued(); n != 2 {
		t.Fatalf("near expiry: %d tokens issued, want 2", n)
	}
	if n := s.RequestCount("sms/balance") - before; n != callers {
		t.Fatalf("near expiry: %d balance requests, want %d (no 401 retries)", n, callers)
	}

	// Revoked: every caller meets a 401, and one refresh serves them all.
	s.RevokeTokens()
	hammer(t, func() error {
		_, err := c.SendOTP(ctx, &connexus.OTPRequest{To: "6421234567", Company: "X"})
		return err
	})
	if n := s.TokensIssued(); n != 3 {
		t.Fatalf("after revocation: %d tokens issued, want 3", n)
	}
	if n := len(s.Messages()); n != callers {
		t.Fatalf("%d OTPs sent, want %d", n, callers)
	}
}

func TestRefreshTokenOnlyReplacesTheStaleToken(t *testing.T) {
	c, s := connexustest.NewClient(t)
	ctx := context.Background()
	first, err := c.Token(ctx)
	if err != nil || !strings.HasPrefix(first, "wst_") {
		t.Fatalf("Token = %q, %v", first, err)
	}
	if got, _ := c.RefreshToken(ctx, "someone-elses"); got != first || s.TokensIssued() != 1 {
		t.Fatalf("refresh of a token not cached fetched anew (%q, %d issued)", got, s.TokensIssued())
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	hammer(t, func() error {
		tok, err := c.RefreshToken(ctx, first)
		if err == nil && tok == first {
			err = errors.New("refresh returned the stale token")
		}
		mu.Lock()
		seen[tok] = true
		mu.Unlock()
		return err
	})
	if len(seen) != 1 {
		t.Fatalf("concurrent refreshes returned %d different tokens, want 1", len(seen))
	}
	if s.TokensIssued() != 2 {
		t.Fatalf("%d concurrent refreshes of one stale token issued %d tokens, want 1 more", callers, s.TokensIssued()-1)
	}
	if got, _ := c.Token(ctx); !seen[got] {
		t.Fatalf("Token = %q after refresh, want the refreshed one", got)
	}
}

func TestTokenFailures(t *testing.T) {
	c, s := connexustest.NewClient(t, connexustest.WithClientOptions(connexus.WithAPIKey("cid_other", "csk_wrong-secret")))
	_, err := c.Balance(context.Background())
	var apiErr *connexus.Error
	if !connexus.IsUnauthorized(err) || !errors.As(err, &apiErr) || apiErr.Code != "invalid_client" || apiErr.Path != "auth/token" {
		t.Fatalf("err = %v, want invalid_client from auth/token", err)
	}
	if strings.Contains(err.Error(), "csk_wrong-secret") {
		t.Fatalf("error reveals the client secret: %v", err)
	}
	if n := s.RequestCount("auth/token"); n != 1 {
		t.Fatalf("auth/token received %d requests, want 1 (a 401 is not retried)", n)
	}
	if n := s.RequestCount("sms/balance"); n != 0 {
		t.Fatalf("balance was called %d times without a token", n)
	}
}

func TestTokenWaitRespectsContext(t *testing.T) {
	c, s := connexustest.NewClient(t)
	s.HangNext("auth/token", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Token(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Token = %v, want the caller's deadline", err)
	}
}

func TestPasswordMode(t *testing.T) {
	c, s := passwordClient(t)
	ctx := context.Background()
	if c.AuthMode() != connexus.AuthPassword || c.AuthMode().String() != "password" {
		t.Fatalf("AuthMode = %v", c.AuthMode())
	}
	if u, p := c.PasswordCredentials(); u != connexustest.DefaultUserID || p != connexustest.DefaultPassword {
		t.Fatalf("PasswordCredentials = %q, %q", u, p)
	}
	if _, err := c.Token(ctx); err == nil {
		t.Fatal("Token in password mode succeeded")
	}
	if _, err := c.RefreshToken(ctx, ""); err == nil {
		t.Fatal("RefreshToken in password mode succeeded")
	}
	sent := mustOTP(t, c, &connexus.OTPRequest{To: "6421234567", Company: "X"})
	if _, err := c.SendBulkSMS(ctx, &connexus.BulkSMSRequest{To: []string{"6421234567"}, Body: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MessageStatus(ctx, sent.MessageID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Configuration(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Requests() {
		if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer") {
			t.Errorf("%s %s carried a bearer token", r.Method, r.Path)
		}
		user, pass, basic := (&http.Request{Header: r.Header}).BasicAuth()
		switch {
		case r.Method == http.MethodGet:
			if !basic || user != connexustest.DefaultUserID || pass != connexustest.DefaultPassword || r.Query.Has("password") {
				t.Errorf("GET %s: want Basic auth and no password in the URL", r.Path)
			}
		case r.JSON != nil:
			if r.JSON["userId"] != connexustest.DefaultUserID || r.JSON["password"] != connexustest.DefaultPassword {
				t.Errorf("POST %s: JSON body lacks credentials", r.Path)
			}
		default:
			if r.Form.Get("userId") != connexustest.DefaultUserID || r.Form.Get("password") != connexustest.DefaultPassword {
				t.Errorf("POST %s: form lacks credentials", r.Path)
			}
		}
	}
	if s.TokensIssued() != 0 {
		t.Fatal("password mode fetched a token")
	}
}

func TestPasswordModeWrongPassword(t *testing.T) {
	c, s := connexustest.NewClient(t, connexustest.WithClientOptions(connexus.WithPassword(connexustest.DefaultUserID, "hunter2-secret")))
	_, err := c.SendOTP(context.Background(), &connexus.OTPRequest{To: "6421234567", Company: "X", Code: "9876"})
	if !connexus.IsUnauthorized(err) {
		t.Fatalf("err = %v, want unauthorized", err)
	}
	for _, secret := range []string{"hunter2-secret", "9876"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error %q reveals %q", err, secret)
		}
	}
	if n := s.RequestCount("sms/otp"); n != 1 {
		t.Fatalf("sms/otp received %d requests, want 1", n)
	}
}
