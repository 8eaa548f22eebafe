package connexusotp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp"
)

// TestSendFailuresSayWhetherTheSMSMayBeOut checks the line the service
// draws between releasing a reservation and holding the cooldown, counting
// the sends the fake received.
func TestSendFailuresSayWhetherTheSMSMayBeOut(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(*connexustest.Server)
		want     bool
		wantOTPs int
	}{
		{"HTTP 500", func(s *connexustest.Server) { s.FailNext("sms/otp", http.StatusInternalServerError, 1) }, false, 1},
		{"HTTP 400", func(s *connexustest.Server) { s.FailNext("sms/otp", http.StatusBadRequest, 1) }, false, 1},
		{"connection refused", func(s *connexustest.Server) { s.Close() }, false, 0},
		{"token refused", func(s *connexustest.Server) { s.FailNext("auth/token", http.StatusUnauthorized, 1) }, false, 0},
		{"token connection dropped", func(s *connexustest.Server) { s.DropNext("auth/token", 3) }, false, 0},
		{"token exchange times out", func(s *connexustest.Server) { s.HangNext("auth/token", 3) }, false, 0},
		{"no answer in time", func(s *connexustest.Server) { s.HangNext("sms/otp", 1) }, true, 1},
		{"connection dropped after the request", func(s *connexustest.Server) { s.DropNext("sms/otp", 1) }, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, fake := connexustest.NewClient(t, connexustest.WithClientOptions(
				connexus.WithTimeout(100*time.Millisecond), connexus.WithBackoff(time.Millisecond, time.Millisecond)))
			a, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			tt.setup(fake)
			_, err = a.SendCode(context.Background(), otp.SendRequest{To: "6421234567", Code: "123456", Brand: "Acme"})
			if !errors.Is(err, otp.ErrUpstream) {
				t.Fatalf("SendCode = %v, want ErrUpstream", err)
			}
			if got := errors.Is(err, otp.ErrMaybeSent); got != tt.want {
				t.Errorf("SendCode = %v; matches ErrMaybeSent = %v, want %v", err, got, tt.want)
			}
			if n := fake.RequestCount("sms/otp"); n != tt.wantOTPs {
				t.Errorf("sms/otp received %d requests, want %d", n, tt.wantOTPs)
			}
		})
	}
}

// TestSendWithoutACodeMayBeOut: a 2xx that names no code means the SMS
// went out with a code nobody can check.
func TestSendWithoutACodeMayBeOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"success":true,"messageId":"m1"}`))
	}))
	t.Cleanup(srv.Close)
	c, err := connexus.NewClient(connexus.WithBaseURL(srv.URL), connexus.WithPassword("user", "pass"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.SendCode(context.Background(), otp.SendRequest{To: "6421234567", Code: "123456", Brand: "Acme"})
	if !errors.Is(err, otp.ErrUpstream) || !errors.Is(err, otp.ErrMaybeSent) {
		t.Fatalf("SendCode = %v, want ErrUpstream and ErrMaybeSent", err)
	}
}

// TestTokenOutageHoldsNoCooldown follows the difference through the
// service: a send lost after it reached Connexus keeps the number in its
// cooldown, while a token exchange that failed sent nothing, so the next
// start sends at once.
func TestTokenOutageHoldsNoCooldown(t *testing.T) {
	tests := []struct {
		name      string
		fault     func(*connexustest.Server)
		wantRetry error
		wantSMS   int
	}{
		{"token connection dropped", func(s *connexustest.Server) { s.DropNext("auth/token", 3) }, nil, 1},
		{"send connection dropped", func(s *connexustest.Server) { s.DropNext("sms/otp", 1) }, otp.ErrCooldown, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, fake := newChain(t, connexustest.StyleDetailed, func(c *otp.Config) { c.Lookup = otp.LookupOff })
			tt.fault(fake)
			ctx := context.Background()
			if _, _, err := svc.Start(ctx, otp.StartRequest{To: "021 234 5678"}); !errors.Is(err, otp.ErrUpstream) {
				t.Fatalf("first Start = %v, want ErrUpstream", err)
			}
			_, _, err := svc.Start(ctx, otp.StartRequest{To: "021 234 5678"})
			if !errors.Is(err, tt.wantRetry) || (tt.wantRetry == nil) != (err == nil) {
				t.Fatalf("second Start = %v, want %v", err, tt.wantRetry)
			}
			if n := len(fake.Messages()); n != tt.wantSMS {
				t.Errorf("the fake sent %d messages, want %d", n, tt.wantSMS)
			}
		})
	}
}
