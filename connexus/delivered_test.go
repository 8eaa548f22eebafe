package connexus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/connexustest"
)

func sendOTP(ctx context.Context, c *connexus.Client) error {
	_, err := c.SendOTP(ctx, &connexus.OTPRequest{To: "6421234567", Company: "Acme", Code: "123456"})
	return err
}

// mustToken fetches the token up front, so that a fault set afterwards hits
// the send and not the exchange before it.
func mustToken(t *testing.T, c *connexus.Client) {
	t.Helper()
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatalf("Token: %v", err)
	}
}

// TestMaybeDeliveredAgainstTheFake draws the line between a send Connexus
// may have received and one it certainly did not, counting what the fake
// received on each endpoint.
func TestMaybeDeliveredAgainstTheFake(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, c *connexus.Client, s *connexustest.Server)
		op    func(context.Context, *connexus.Client) error // sendOTP when nil
		// ctxTimeout, when set, is the caller's deadline, shorter than the client's 100ms.
		ctxTimeout time.Duration
		wantErr    bool
		want       bool
		wantOTP    int // requests on sms/otp
		wantToken  int // requests on auth/token; -1: not checked
		wantSMS    int // messages the fake sent
	}{
		{name: "sent", wantOTP: 1, wantToken: 1, wantSMS: 1},
		{name: "HTTP 500", setup: faults("sms/otp", fail(500, 1)), wantErr: true, wantOTP: 1, wantToken: 1},
		{name: "HTTP 400", setup: faults("sms/otp", fail(400, 1)), wantErr: true, wantOTP: 1, wantToken: 1},
		{name: "HTTP 403", setup: faults("sms/otp", fail(403, 1)), wantErr: true, wantOTP: 1, wantToken: 1},
		{name: "HTTP 429 until the client gives up", setup: faults("sms/otp", fail(429, 3)), wantErr: true, wantOTP: 3, wantToken: 1},
		{name: "HTTP 401, then the token refresh is dropped", setup: func(t *testing.T, c *connexus.Client, s *connexustest.Server) {
			mustToken(t, c)
			s.FailNext("sms/otp", http.StatusUnauthorized, 1)
			s.DropNext("auth/token", 3)
		}, wantErr: true, wantOTP: 1, wantToken: 4},
		{name: "connection dropped after the request", setup: faults("sms/otp", drop), wantErr: true, want: true, wantOTP: 1, wantToken: 1},
		{name: "no answer within the client's timeout", setup: faults("sms/otp", hang), wantErr: true, want: true, wantOTP: 1, wantToken: 1},
		{name: "caller's deadline mid-exchange", setup: func(t *testing.T, c *connexus.Client, s *connexustest.Server) {
			mustToken(t, c)
			s.HangNext("sms/otp", 1)
		}, ctxTimeout: 50 * time.Millisecond, wantErr: true, want: true, wantOTP: 1, wantToken: 1},
		{name: "send dial refused", setup: func(t *testing.T, c *connexus.Client, s *connexustest.Server) {
			mustToken(t, c)
			s.Close()
		}, wantErr: true, wantToken: 1},
		{name: "token dial refused", setup: func(_ *testing.T, _ *connexus.Client, s *connexustest.Server) { s.Close() }, wantErr: true},
		{name: "token refused", setup: faults("auth/token", fail(401, 1)), wantErr: true, wantToken: 1},
		{name: "token endpoint 503 until the client gives up", setup: faults("auth/token", fail(503, 3)), wantErr: true, wantToken: 3},
		{name: "token connection dropped", setup: faults("auth/token", func(s *connexustest.Server, p string) { s.DropNext(p, 3) }),
			wantErr: true, wantToken: 3},
		{name: "token exchange times out", setup: faults("auth/token", func(s *connexustest.Server, p string) { s.HangNext(p, 3) }),
			wantErr: true, wantToken: 3},
		// The exchange goes on detached after the caller left, so its count is not checked.
		{name: "caller's deadline while waiting for the token", setup: faults("auth/token", hang),
			ctxTimeout: 50 * time.Millisecond, wantErr: true, wantToken: -1},
		{name: "refused before sending", op: func(ctx context.Context, c *connexus.Client) error {
			_, err := c.SendOTP(ctx, &connexus.OTPRequest{To: "6421234567"})
			return err
		}, wantErr: true},
		{name: "caller's context already over", op: func(_ context.Context, c *connexus.Client) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return sendOTP(ctx, c)
		}, setup: func(t *testing.T, c *connexus.Client, _ *connexustest.Server) { mustToken(t, c) }, wantErr: true, wantToken: 1},
		{name: "a read that timed out is no send", setup: faults("number/lookup", func(s *connexustest.Server, p string) { s.HangNext(p, 3) }),
			op: func(ctx context.Context, c *connexus.Client) error {
				_, err := c.LookupNumber(ctx, "6421234567")
				return err
			}, wantErr: true, wantToken: 1},
		{name: "SendSMS dropped", setup: faults("sms/out", drop), op: func(ctx context.Context, c *connexus.Client) error {
			_, err := c.SendSMS(ctx, &connexus.SMSRequest{To: "6421234567", Body: "hi"})
			return err
		}, wantErr: true, want: true, wantToken: 1},
		{name: "SendBulkSMS times out", setup: faults("sms/out", hang), op: func(ctx context.Context, c *connexus.Client) error {
			_, err := c.SendBulkSMS(ctx, &connexus.BulkSMSRequest{To: []string{"6421234567", "6421234568"}, Body: "hi"})
			return err
		}, wantErr: true, want: true, wantToken: 1},
		{name: "SendSMS HTTP 503", setup: faults("sms/out", fail(503, 1)), op: func(ctx context.Context, c *connexus.Client) error {
			_, err := c.SendSMS(ctx, &connexus.SMSRequest{To: "6421234567", Body: "hi"})
			return err
		}, wantErr: true, wantToken: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := connexustest.NewClient(t, connexustest.WithClientOptions(
				connexus.WithTimeout(100*time.Millisecond), connexus.WithSleeper((&sleeper{}).Sleep)))
			if tt.setup != nil {
				tt.setup(t, c, s)
			}
			ctx := context.Background()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			op := tt.op
			if op == nil {
				op = sendOTP
			}
			err := op(ctx, c)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if got := connexus.MaybeDelivered(err); got != tt.want {
				t.Errorf("MaybeDelivered(%v) = %v, want %v", err, got, tt.want)
			}
			if n := s.RequestCount("sms/otp"); n != tt.wantOTP {
				t.Errorf("sms/otp received %d requests, want %d", n, tt.wantOTP)
			}
			if n := s.RequestCount("auth/token"); tt.wantToken >= 0 && n != tt.wantToken {
				t.Errorf("auth/token received %d requests, want %d", n, tt.wantToken)
			}
			if n := len(s.Messages()); n != tt.wantSMS {
				t.Errorf("the fake sent %d messages, want %d", n, tt.wantSMS)
			}
		})
	}
}

func faults(path string, fault func(*connexustest.Server, string)) func(*testing.T, *connexus.Client, *connexustest.Server) {
	return func(_ *testing.T, _ *connexus.Client, s *connexustest.Server) { fault(s, path) }
}

// TestMaybeDeliveredAnswers covers answers the fake does not give: a 2xx
// the client cannot use means the upstream took the send; a 4xx refusal,
// whole or cut short, or a 5xx in the documented error shape means it did
// not; any other 5xx (a gateway's page, a body cut short) may come after
// the SMS went out.
func TestMaybeDeliveredAnswers(t *testing.T) {
	truncated := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(status)
			w.Write([]byte(`{"status":`))
		}
	}
	answer := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(body))
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    bool
	}{
		{"2xx without a code", answer(200, `{"status":"success","message_id":"m1"}`), true},
		{"2xx that is not JSON", answer(200, `<html>ok</html>`), true},
		{"2xx cut short", truncated(200), true},
		{"500 cut short", truncated(500), true},
		{"500 documented", answer(500, `{"success":false,"error":"Server error","error_code":500}`), false},
		{"403 cut short", truncated(403), false},
		{"200 success:false", answer(200, `{"success":false,"error":"invalid_number"}`), false},
		{"200 status failed", answer(200, `{"status":"failed"}`), false},
		{"200 status nobody documents", answer(200, `{"status":"processing","message_id":"m1","code":"123456"}`), true},
		{"502 from a gateway", answer(502, `<html>bad gateway</html>`), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				tt.handler(w, r)
			}))
			t.Cleanup(srv.Close)
			c, err := connexus.NewClient(connexus.WithBaseURL(srv.URL), connexus.WithPassword("u", "p"),
				connexus.WithSleeper((&sleeper{}).Sleep))
			if err != nil {
				t.Fatal(err)
			}
			err = sendOTP(context.Background(), c)
			if err == nil {
				t.Fatal("SendOTP succeeded")
			}
			if got := connexus.MaybeDelivered(err); got != tt.want {
				t.Errorf("MaybeDelivered(%v) = %v, want %v", err, got, tt.want)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("the upstream received %d sends, want 1: none is retried", n)
			}
		})
	}
}

// roundTripFunc is a RoundTripper that calls no httptrace hooks, as a
// custom transport might.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestMaybeDeliveredWithoutTrace checks the fallback for transports that do
// not report their connections: the error's type decides, and only a
// failure that certainly preceded the connection is retried.
func TestMaybeDeliveredWithoutTrace(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		want      bool
		wantCalls int32
	}{
		{"dial refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, false, 3},
		{"no such host", &net.DNSError{Err: "no such host", Name: "websms.example", IsNotFound: true}, false, 3},
		{"EOF", io.EOF, true, 1},
		{"read timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			rt := roundTripFunc(func(*http.Request) (*http.Response, error) {
				calls.Add(1)
				return nil, tt.err
			})
			c, err := connexus.NewClient(connexus.WithHTTPClient(&http.Client{Transport: rt}),
				connexus.WithPassword("u", "p"), connexus.WithSleeper((&sleeper{}).Sleep))
			if err != nil {
				t.Fatal(err)
			}
			err = sendOTP(context.Background(), c)
			if got := connexus.MaybeDelivered(err); got != tt.want {
				t.Errorf("MaybeDelivered(%v) = %v, want %v", err, got, tt.want)
			}
			if n := calls.Load(); n != tt.wantCalls {
				t.Errorf("%d round trips, want %d", n, tt.wantCalls)
			}
		})
	}
}

// TestDialThatOutlastsTheTimeoutSendsNothing: a deadline that ends the
// attempt while the connection is still being made is no uncertain send,
// however the error reads, so the send is retried and, when every attempt
// fails so, reported as not delivered.
func TestDialThatOutlastsTheTimeoutSendsNothing(t *testing.T) {
	_, s := connexustest.NewClient(t)
	var dials atomic.Int32
	transport := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		dials.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	t.Cleanup(transport.CloseIdleConnections)
	c, err := connexus.NewClient(connexus.WithBaseURL(s.URL), connexus.WithHTTPClient(&http.Client{Transport: transport}),
		connexus.WithPassword(connexustest.DefaultUserID, connexustest.DefaultPassword),
		connexus.WithTimeout(20*time.Millisecond), connexus.WithSleeper((&sleeper{}).Sleep))
	if err != nil {
		t.Fatal(err)
	}
	err = sendOTP(context.Background(), c)
	if err == nil || connexus.MaybeDelivered(err) {
		t.Fatalf("SendOTP = %v, MaybeDelivered %v; want an error that is not MaybeDelivered", err, connexus.MaybeDelivered(err))
	}
	if n := dials.Load(); n != 3 {
		t.Errorf("%d dials, want 3: a send that never connected is retried", n)
	}
	if n := s.RequestCount("sms/otp"); n != 0 {
		t.Errorf("sms/otp received %d requests, want 0", n)
	}
}

// TestMaybeDeliveredUnderConcurrency sends from many goroutines while the
// fake drops some of the requests: exactly the dropped ones are
// MaybeDelivered, so each send's verdict is its own.
func TestMaybeDeliveredUnderConcurrency(t *testing.T) {
	const sends, dropped = 64, 24
	c, s := connexustest.NewClient(t, connexustest.WithClientOptions(connexus.WithSleeper((&sleeper{}).Sleep)))
	mustToken(t, c)
	s.DropNext("sms/otp", dropped)
	var (
		wg                    sync.WaitGroup
		ok, maybe, otherFails atomic.Int32
	)
	for range sends {
		wg.Go(func() {
			switch err := sendOTP(context.Background(), c); {
			case err == nil:
				ok.Add(1)
			case connexus.MaybeDelivered(err):
				maybe.Add(1)
			default:
				otherFails.Add(1)
				t.Errorf("SendOTP = %v, neither sent nor MaybeDelivered", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != sends-dropped || maybe.Load() != dropped {
		t.Errorf("%d sent, %d MaybeDelivered, %d other; want %d, %d, 0", ok.Load(), maybe.Load(), otherFails.Load(), sends-dropped, dropped)
	}
	if n := s.RequestCount("sms/otp"); n != sends {
		t.Errorf("sms/otp received %d requests, want %d: no send is retried", n, sends)
	}
	if n := len(s.Messages()); n != sends-dropped {
		t.Errorf("the fake sent %d messages, want %d", n, sends-dropped)
	}
}

func TestMaybeDeliveredOfOtherErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"nil", nil},
		{"an HTTP answer", &connexus.Error{StatusCode: 504}},
		{"a context error", context.DeadlineExceeded},
		{"a plain timeout", os.ErrDeadlineExceeded},
	}
	for _, tt := range tests {
		if connexus.MaybeDelivered(tt.err) {
			t.Errorf("MaybeDelivered(%s) = true, want false", tt.name)
		}
	}
}

// TestOTPStatusesThatMeanSent: a 2xx whose status says the SMS was taken,
// in any word the upstreams use, returns the code it sent.
func TestOTPStatusesThatMeanSent(t *testing.T) {
	for _, status := range []string{"success", "accepted", "queued", "Sent", "pending", ""} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"status":%q,"message_id":"m1","code":"654321"}`, status)
		}))
		c, err := connexus.NewClient(connexus.WithBaseURL(srv.URL), connexus.WithPassword("u", "p"))
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.SendOTP(context.Background(), &connexus.OTPRequest{To: "6421234567", Company: "Acme", Code: "123456"})
		if err != nil || res.Code != "654321" {
			t.Errorf("status %q: %+v, %v; want the code sent", status, res, err)
		}
		srv.Close()
	}
}
