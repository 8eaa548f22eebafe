package websmsotp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/websms"
	"github.com/otpgate/otpgate/websms/websmstest"
)

const (
	code = "482913"
	text = code + " is your Acme verification code"
)

func request(to string) otp.SendRequest {
	return otp.SendRequest{ID: "VE7b1c", To: to, Code: code, Brand: "Acme", Text: text}
}

func newAdapter(t *testing.T, opts ...websmstest.Option) (*Adapter, *websmstest.Server) {
	t.Helper()
	c, fake := websmstest.NewClient(t, opts...)
	a, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a, fake
}

func TestNewRefusesNil(t *testing.T) {
	t.Parallel()
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestSendCodeSendsTheText(t *testing.T) {
	t.Parallel()
	a, fake := newAdapter(t)
	res, err := a.SendCode(context.Background(), request("6421234567"))
	if err != nil {
		t.Fatalf("SendCode: %v", err)
	}
	msgs := fake.Messages()
	if len(msgs) != 1 {
		t.Fatalf("fake sent %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.To != "6421234567" || m.Text != text || m.ClientMessageID != "VE7b1c" {
		t.Errorf("fake sent %+v, want the text to 6421234567 with clientMessageId VE7b1c", m)
	}
	want := otp.SendResult{MessageID: m.TransferID, Code: code}
	if res != want || res.MessageID == "" {
		t.Errorf("SendCode = %+v, want %+v", res, want)
	}
}

// TestSendCodeFailures maps each class of websms failure to the otp errors
// that decide failover.
func TestSendCodeFailures(t *testing.T) {
	t.Parallel()
	status := func(c int) func(*websmstest.Server) { return func(s *websmstest.Server) { s.FailNext(c, 1) } }
	httpFault := func(c int) func(*websmstest.Server) { return func(s *websmstest.Server) { s.FailNextHTTP(c, 1) } }
	tests := []struct {
		name     string
		to       string
		setup    func(*websmstest.Server)
		invalid  bool
		maybe    bool
		here     bool          // refused for this request alone
		backoff  time.Duration // 0: no *otp.BackoffError
		requests int
		hang     bool // the only case that waits for the client's timeout
	}{
		{name: "4002 invalid recipient", to: "6421234567", setup: func(s *websmstest.Server) { s.SetInvalidRecipient("6421234567") }, invalid: true, requests: 1},
		{name: "4001 invalid credentials", to: "6421234567", setup: status(websms.CodeInvalidCredentials), requests: 1},
		{name: "4022 access denied", to: "6421234567", setup: status(websms.CodeAccessDenied), requests: 1},
		{name: "4023 throttled without a wait", to: "6421234567", setup: status(websms.CodeThrottlingSpammingIP), requests: 1},
		{name: "4031 recipient blacklisted", to: "6421234567", setup: status(websms.CodeRecipientsBlacklisted), here: true, requests: 1},
		{name: "4026 too many segments", to: "6421234567", setup: status(websms.CodeMaxSMSPerMessage), here: true, requests: 1},
		{name: "5003 service unavailable", to: "6421234567", setup: status(websms.CodeServiceUnavailable), requests: 1},
		{name: "5000 internal error", to: "6421234567", setup: status(websms.CodeInternalError), maybe: true, requests: 1},
		{name: "HTTP 503 page", to: "6421234567", setup: httpFault(http.StatusServiceUnavailable), maybe: true, requests: 1},
		{name: "HTTP 401", to: "6421234567", setup: httpFault(http.StatusUnauthorized), requests: 1},
		{name: "HTTP 429 with Retry-After", to: "6421234567", setup: httpFault(http.StatusTooManyRequests), backoff: time.Second, requests: 1},
		{name: "no answer in time", to: "6421234567", setup: func(s *websmstest.Server) { s.HangNext(1) }, maybe: true, requests: 1, hang: true},
		{name: "connection dropped", to: "6421234567", setup: func(s *websmstest.Server) { s.DropNext(1) }, maybe: true, requests: 1},
		{name: "connection refused", to: "6421234567", setup: func(s *websmstest.Server) { s.Refuse() }, requests: 0},
		{name: "number the client refuses", to: "+6421234567", setup: func(*websmstest.Server) {}, here: true, requests: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []websms.Option
			if tt.hang {
				opts = append(opts, websms.WithTimeout(100*time.Millisecond))
			}
			a, fake := newAdapter(t, websmstest.WithClientOptions(opts...))
			tt.setup(fake)
			res, err := a.SendCode(context.Background(), request(tt.to))
			if err == nil {
				t.Fatalf("SendCode = %+v, want an error", res)
			}
			if got := errors.Is(err, otp.ErrInvalidPhone); got != tt.invalid {
				t.Errorf("%v: matches ErrInvalidPhone %v, want %v", err, got, tt.invalid)
			}
			if got := errors.Is(err, otp.ErrUpstream); got == tt.invalid {
				t.Errorf("%v: matches ErrUpstream %v, want %v", err, got, !tt.invalid)
			}
			if got := errors.Is(err, otp.ErrMaybeSent); got != tt.maybe {
				t.Errorf("%v: matches ErrMaybeSent %v, want %v", err, got, tt.maybe)
			}
			if got := errors.Is(err, otp.ErrRefusedHere); got != tt.here {
				t.Errorf("%v: matches ErrRefusedHere %v, want %v", err, got, tt.here)
			}
			var after time.Duration
			if b, ok := errors.AsType[*otp.BackoffError](err); ok {
				after = b.After
			}
			if after != tt.backoff {
				t.Errorf("%v: backoff %v, want %v", err, after, tt.backoff)
			}
			if n := fake.RequestCount(); n != tt.requests {
				t.Errorf("fake received %d requests, want %d", n, tt.requests)
			}
			if strings.Contains(err.Error(), code) || strings.Contains(err.Error(), "6421234567") {
				t.Errorf("error %q shows the code or the number", err)
			}
		})
	}
}

// TestThrottlingWithAWaitBacksOff: websms 4023 with a Retry-After, which
// the fake does not send, names how long to leave websms alone.
func TestThrottlingWithAWaitBacksOff(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"statusCode":4023,"statusMessage":"Request limit exceeded for this IP address."}`))
	}))
	t.Cleanup(srv.Close)
	c, err := websms.NewClient(websms.WithBaseURL(srv.URL), websms.WithAccessToken("tok"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.SendCode(context.Background(), request("6421234567"))
	b, ok := errors.AsType[*otp.BackoffError](err)
	if !ok || b.After != 30*time.Second {
		t.Fatalf("SendCode = %v, want a 30s *otp.BackoffError", err)
	}
	if !errors.Is(err, otp.ErrUpstream) || errors.Is(err, otp.ErrMaybeSent) {
		t.Errorf("%v: want ErrUpstream only", err)
	}
}
