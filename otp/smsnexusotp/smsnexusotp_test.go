package smsnexusotp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/smsnexus"
	"github.com/otpgate/otpgate/smsnexus/smsnexustest"
)

func newAdapter(t *testing.T, opts ...smsnexustest.Option) (*Adapter, *smsnexustest.Server) {
	t.Helper()
	// 50 s before the fake's rate window ends.
	clock := otptest.NewClock(time.Date(2026, 3, 8, 12, 0, 10, 0, time.UTC))
	opts = append([]smsnexustest.Option{smsnexustest.WithClock(clock.Now), smsnexustest.WithClientOptions(
		smsnexus.WithTimeout(200*time.Millisecond), smsnexus.WithClock(clock.Now))}, opts...)
	c, fake := smsnexustest.NewClient(t, opts...)
	a, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a, fake
}

func TestNewRefusesNil(t *testing.T) {
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestSendCode(t *testing.T) {
	a, fake := newAdapter(t)
	res, err := a.SendCode(context.Background(), otp.SendRequest{ID: "VE1", To: "6421234567", Code: "482913",
		Brand: "Acme", Text: "482913 is your Acme verification code"})
	if err != nil {
		t.Fatalf("SendCode: %v", err)
	}
	msgs := fake.Messages()
	if len(msgs) != 1 {
		t.Fatalf("the fake sent %d SMS, want 1", len(msgs))
	}
	want := otp.SendResult{MessageID: msgs[0].ID, Code: "482913"}
	if res != want || res.MessageID == "" {
		t.Errorf("SendCode = %+v, want %+v", res, want)
	}
	if msgs[0].To != "+6421234567" || msgs[0].Body != "482913 is your Acme verification code" {
		t.Errorf("the fake sent %q to %s", msgs[0].Body, msgs[0].To)
	}
}

func TestSendCodeFailures(t *testing.T) {
	fail := func(status int) func(*smsnexustest.Server) {
		return func(s *smsnexustest.Server) { s.FailNext("sms/send", status, 1) }
	}
	tests := []struct {
		name      string
		opts      []smsnexustest.Option
		setup     func(*smsnexustest.Server)
		text      string
		invalid   bool
		maybe     bool
		here      bool          // refused for this request alone
		backoff   time.Duration // 0: no *otp.BackoffError
		wantSends int
	}{
		{name: "invalid recipient", setup: func(s *smsnexustest.Server) { s.SetInvalidRecipient("6421234567") }, invalid: true, wantSends: 1},
		{name: "422 without fields", setup: fail(422), invalid: true, wantSends: 1},
		{name: "from not the account's", opts: []smsnexustest.Option{smsnexustest.WithClientOptions(smsnexus.WithFrom("+15550000000"))}, wantSends: 1},
		{name: "401", opts: []smsnexustest.Option{smsnexustest.WithClientOptions(smsnexus.WithToken("revoked"))}, wantSends: 1},
		{name: "403 no credits", opts: []smsnexustest.Option{smsnexustest.WithCredits(0)}, wantSends: 1},
		{name: "429", setup: fail(429), backoff: 50 * time.Second, wantSends: 1},
		{name: "500 documented", setup: fail(500), wantSends: 1},
		{name: "502 page", setup: func(s *smsnexustest.Server) { s.FailNextRaw("sms/send", 502, "<html/>", 1) }, maybe: true, wantSends: 1},
		{name: "no answer in time", setup: func(s *smsnexustest.Server) { s.HangNext("sms/send", 1) }, maybe: true, wantSends: 1},
		{name: "connection dropped", setup: func(s *smsnexustest.Server) { s.DropNext("sms/send", 1) }, maybe: true, wantSends: 1},
		{name: "connection refused", setup: (*smsnexustest.Server).Refuse},
		{name: "no text", text: "-", here: true},
		{name: "422 naming the message", setup: func(s *smsnexustest.Server) {
			s.FailNextRaw("sms/send", 422, `{"success":false,"message":"Validation failed","errors":{"message":["The message is too long."]}}`, 1)
		}, here: true, wantSends: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, fake := newAdapter(t, tt.opts...)
			if tt.setup != nil {
				tt.setup(fake)
			}
			text := "482913 is your Acme verification code"
			if tt.text == "-" {
				text = ""
			}
			_, err := a.SendCode(context.Background(), otp.SendRequest{To: "6421234567", Code: "482913", Text: text})
			if err == nil {
				t.Fatal("SendCode succeeded")
			}
			checks := []struct {
				what      string
				got, want bool
			}{
				{"ErrInvalidPhone", errors.Is(err, otp.ErrInvalidPhone), tt.invalid},
				{"ErrUpstream", errors.Is(err, otp.ErrUpstream), !tt.invalid},
				{"ErrMaybeSent", errors.Is(err, otp.ErrMaybeSent), tt.maybe},
				{"ErrRefusedHere", errors.Is(err, otp.ErrRefusedHere), tt.here},
			}
			for _, ch := range checks {
				if ch.got != ch.want {
					t.Errorf("SendCode = %v; matches %s = %v, want %v", err, ch.what, ch.got, ch.want)
				}
			}
			var after time.Duration
			if b, ok := errors.AsType[*otp.BackoffError](err); ok {
				after = b.After
			}
			if after != tt.backoff {
				t.Errorf("backoff %v, want %v", after, tt.backoff)
			}
			if n := fake.RequestCount("sms/send"); n != tt.wantSends {
				t.Errorf("sms/send received %d requests, want %d", n, tt.wantSends)
			}
		})
	}
}

// TestRateLimitWithoutAWait: a 429 that names no wait is a plain upstream
// failure, with no BackoffError.
func TestRateLimitWithoutAWait(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"success":false,"message":"Too Many Attempts."}`))
	}))
	t.Cleanup(srv.Close)
	c, err := smsnexus.NewClient(smsnexus.WithBaseURL(srv.URL), smsnexus.WithToken("t"), smsnexus.WithFrom("+15551234567"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := New(c)
	_, err = a.SendCode(context.Background(), otp.SendRequest{To: "6421234567", Code: "1234", Text: "1234"})
	if _, ok := errors.AsType[*otp.BackoffError](err); ok || !errors.Is(err, otp.ErrUpstream) {
		t.Errorf("SendCode = %v, want ErrUpstream without a BackoffError", err)
	}
}

func TestBalance(t *testing.T) {
	a, _ := newAdapter(t, smsnexustest.WithCredits(42))
	amount, unit, err := a.Balance(context.Background())
	if err != nil || amount != 42 || unit != "credits" {
		t.Errorf("Balance = %v %q, %v; want 42 credits", amount, unit, err)
	}
	revoked, _ := newAdapter(t, smsnexustest.WithClientOptions(smsnexus.WithToken("revoked")))
	if _, _, err := revoked.Balance(context.Background()); !errors.Is(err, otp.ErrUpstream) {
		t.Errorf("Balance with a revoked token = %v, want ErrUpstream", err)
	}
}

func TestDeliveryStatus(t *testing.T) {
	tests := []struct {
		event, want string
		ok          bool
	}{
		{smsnexus.EventMessageDelivered, "delivered", true},
		{smsnexus.EventMessageFailed, "failed", true},
		{smsnexus.EventMessageReceived, "", false},
		{"message.Delivered", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got, ok := DeliveryStatus(tt.event); got != tt.want || ok != tt.ok {
			t.Errorf("DeliveryStatus(%q) = %q, %v; want %q, %v", tt.event, got, ok, tt.want, tt.ok)
		}
	}
}
