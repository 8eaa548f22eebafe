package connexus_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/connexustest"
)

func TestRetryRules(t *testing.T) {
	otp := func(c *connexus.Client) error {
		_, err := c.SendOTP(context.Background(), &connexus.OTPRequest{To: "6421234567", Company: "X", Code: "1234"})
		return err
	}
	sms := func(c *connexus.Client) error {
		_, err := c.SendSMS(context.Background(), &connexus.SMSRequest{To: "6421234567", Body: "x"})
		return err
	}
	balance := func(c *connexus.Client) error { _, err := c.Balance(context.Background()); return err }
	lookup := func(c *connexus.Client) error {
		_, err := c.LookupNumber(context.Background(), "0211234567")
		return err
	}
	query := func(c *connexus.Client) error {
		_, err := c.QueryInbound(context.Background(), connexus.InboundQuery{})
		return err
	}
	tests := []struct {
		name    string
		path    string
		fault   func(s *connexustest.Server, path string)
		op      func(*connexus.Client) error
		calls   int
		wantErr bool
	}{
		{"read 503 twice then ok", "sms/balance", fail(503, 2), balance, 3, false},
		{"read 503 thrice gives up", "sms/balance", fail(503, 3), balance, 3, true},
		{"lookup 500 once", "number/lookup", fail(500, 1), lookup, 2, false},
		{"read 429", "mo/query", fail(429, 1), query, 2, false},
		{"read 400 not retried", "sms/balance", fail(400, 1), balance, 1, true},
		{"read dropped connection", "mo/query", drop, query, 2, false},
		{"read timeout", "sms/balance", hang, balance, 2, false},
		{"otp 500 not retried", "sms/otp", fail(500, 1), otp, 1, true},
		{"otp 502 not retried", "sms/otp", fail(502, 1), otp, 1, true},
		{"otp 429 retried", "sms/otp", fail(429, 1), otp, 2, false},
		{"otp dropped connection not retried", "sms/otp", drop, otp, 1, true},
		{"otp timeout not retried", "sms/otp", hang, otp, 1, true},
		{"sms 503 not retried", "sms/out", fail(503, 1), sms, 1, true},
		{"sms 429 thrice gives up", "sms/out", fail(429, 3), sms, 3, true},
		{"sms timeout not retried", "sms/out", hang, sms, 1, true},
		{"token 503 retried", "auth/token", fail(503, 1), balance, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sl := &sleeper{}
			c, s := connexustest.NewClient(t, connexustest.WithClientOptions(
				connexus.WithTimeout(100*time.Millisecond), connexus.WithSleeper(sl.Sleep)))
			tt.fault(s, tt.path)
			err := tt.op(c)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if n := s.RequestCount(tt.path); n != tt.calls {
				t.Fatalf("%s received %d requests, want %d", tt.path, n, tt.calls)
			}
			if n := len(sl.Waits()); n != tt.calls-1 {
				t.Fatalf("%d waits between %d calls", n, tt.calls)
			}
		})
	}
}

func fail(status, n int) func(*connexustest.Server, string) {
	return func(s *connexustest.Server, path string) { s.FailNext(path, status, n) }
}

func drop(s *connexustest.Server, path string) { s.DropNext(path, 1) }

func hang(s *connexustest.Server, path string) { s.HangNext(path, 1) }

func TestRetryWaits(t *testing.T) {
	sl := &sleeper{}
	c, s := connexustest.NewClient(t, connexustest.WithClientOptions(
		connexus.WithBackoff(10*time.Millisecond, 15*time.Millisecond), connexus.WithSleeper(sl.Sleep)))
	s.FailNext("sms/otp", http.StatusTooManyRequests, 1)
	mustOTP(t, c, &connexus.OTPRequest{To: "6421234567", Company: "X"})
	s.FailNext("sms/balance", http.StatusServiceUnavailable, 2)
	if _, err := c.Balance(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := sl.Waits()
	if len(w) != 3 || w[0] != time.Second {
		t.Fatalf("waits = %v, want Retry-After 1s then two backoffs", w)
	}
	if w[1] < 5*time.Millisecond || w[1] > 10*time.Millisecond || w[2] < 7500*time.Microsecond || w[2] > 15*time.Millisecond {
		t.Fatalf("backoffs = %v, want [5ms,10ms] then [7.5ms,15ms] (capped)", w[1:])
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	c, s := connexustest.NewClient(t, connexustest.WithClientOptions(
		connexus.WithSleeper(func(context.Context, time.Duration) error { return context.Canceled })))
	s.FailNext("sms/balance", http.StatusServiceUnavailable, 1)
	if _, err := c.Balance(context.Background()); err == nil {
		t.Fatal("want the 503")
	}
	if n := s.RequestCount("sms/balance"); n != 1 {
		t.Fatalf("%d requests after the wait was cut short, want 1", n)
	}
	// A Retry-After longer than the caller's deadline is not waited for.
	s.FailNext("sms/balance", http.StatusTooManyRequests, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := c.Balance(ctx); !connexus.IsRateLimited(err) {
		t.Fatalf("err = %v, want the 429", err)
	}
}

// A send whose connection was never made certainly did not reach the
// upstream, so it is retried.
func TestSendRetriedAfterDialError(t *testing.T) {
	_, s := connexustest.NewClient(t)
	var dials atomic.Int32
	dialer := &net.Dialer{}
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 1 {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
		}
		return dialer.DialContext(ctx, network, addr)
	}}
	t.Cleanup(transport.CloseIdleConnections)
	c, err := connexus.NewClient(connexus.WithBaseURL(s.URL), connexus.WithHTTPClient(&http.Client{Transport: transport}),
		connexus.WithPassword(connexustest.DefaultUserID, connexustest.DefaultPassword), connexus.WithBackoff(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	mustOTP(t, c, &connexus.OTPRequest{To: "6421234567", Company: "X"})
	if dials.Load() != 2 || s.RequestCount("sms/otp") != 1 || len(s.Messages()) != 1 {
		t.Fatalf("dials %d, requests %d, messages %d; want 2, 1, 1", dials.Load(), s.RequestCount("sms/otp"), len(s.Messages()))
	}
}

func TestUnreachableUpstream(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := connexus.NewClient(connexus.WithBaseURL("http://"+addr), connexus.WithAPIKey("cid", "csk_secret-value"),
		connexus.WithBackoff(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Balance(context.Background())
	if err == nil || strings.Contains(err.Error(), "csk_secret-value") || connexus.IsInvalidNumber(err) {
		t.Fatalf("err = %v", err)
	}
}

// odd serves answers the fake never gives, to check how the client reads them.
func odd(t *testing.T, status int, header map[string]string, body string) *connexus.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := connexus.NewClient(connexus.WithBaseURL(srv.URL), connexus.WithPassword("u", "p"),
		connexus.WithSleeper(func(ctx context.Context, d time.Duration) error { return errors.New("no waiting here") }))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOddAnswers(t *testing.T) {
	ctx := context.Background()
	otp := &connexus.OTPRequest{To: "6421234567", Company: "X"}
	t.Run("html error page", func(t *testing.T) {
		_, err := odd(t, 502, nil, "<html>bad gateway</html>").Balance(ctx)
		var apiErr *connexus.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || apiErr.Message != "Bad Gateway" {
			t.Fatalf("err = %#v", err)
		}
	})
	t.Run("success false on 200", func(t *testing.T) {
		_, err := odd(t, 200, nil, `{"success":false,"error":"Invalid number","message":"nope"}`).LookupNumber(ctx, "1")
		if !connexus.IsInvalidNumber(err) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("otp without code", func(t *testing.T) {
		if _, err := odd(t, 200, nil, `{"status":"success","message_id":"1"}`).SendOTP(ctx, otp); err == nil {
			t.Fatal("an answer without a code was accepted")
		}
	})
	t.Run("otp status error", func(t *testing.T) {
		if _, err := odd(t, 200, nil, `{"status":"error","code":"123456"}`).SendOTP(ctx, otp); err == nil {
			t.Fatal("status error was accepted")
		}
	})
	t.Run("otp numeric message id", func(t *testing.T) {
		got, err := odd(t, 200, nil, `{"success":true,"message_id":1188236,"code":"042817"}`).SendOTP(ctx, otp)
		if err != nil || got.MessageID != "1188236" || got.Code != "042817" {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("undecodable", func(t *testing.T) {
		if _, err := odd(t, 200, nil, `{"balance":"lots"}`).Balance(ctx); err == nil {
			t.Fatal("a non-numeric balance was accepted")
		}
	})
	t.Run("token without access_token", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{}`)) }))
		t.Cleanup(srv.Close)
		c, _ := connexus.NewClient(connexus.WithBaseURL(srv.URL), connexus.WithAPIKey("a", "b"))
		if _, err := c.Token(ctx); err == nil {
			t.Fatal("empty token accepted")
		}
	})
	t.Run("retry-after date", func(t *testing.T) {
		when := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
		_, err := odd(t, 429, map[string]string{"Retry-After": when}, `{"error":"rate_limited"}`).Balance(ctx)
		var apiErr *connexus.Error
		if !errors.As(err, &apiErr) || apiErr.RetryAfter < time.Minute || apiErr.RetryAfter > 2*time.Minute {
			t.Fatalf("err = %#v", err)
		}
	})
	t.Run("retry-after garbage", func(t *testing.T) {
		_, err := odd(t, 429, map[string]string{"Retry-After": "soon"}, ``).Balance(ctx)
		var apiErr *connexus.Error
		if !errors.As(err, &apiErr) || apiErr.RetryAfter != 0 || !strings.Contains(err.Error(), "429") {
			t.Fatalf("err = %#v", err)
		}
	})
}

func TestNewClientOptions(t *testing.T) {
	key := connexus.WithAPIKey("cid", "csk")
	bad := map[string][]connexus.Option{
		"no credentials":   nil,
		"relative base":    {key, connexus.WithBaseURL("/api")},
		"ftp base":         {key, connexus.WithBaseURL("ftp://x/y")},
		"base with user":   {key, connexus.WithBaseURL("https://u:p@x/y")},
		"nil http client":  {key, connexus.WithHTTPClient(nil)},
		"empty api key":    {connexus.WithAPIKey("cid", "")},
		"empty password":   {connexus.WithPassword("", "p")},
		"empty sender":     {key, connexus.WithFrom(" ")},
		"zero timeout":     {key, connexus.WithTimeout(0)},
		"nil clock":        {key, connexus.WithClock(nil)},
		"inverted backoff": {key, connexus.WithBackoff(time.Second, time.Millisecond)},
		"nil sleeper":      {key, connexus.WithSleeper(nil)},
	}
	for name, opts := range bad {
		if _, err := connexus.NewClient(opts...); err == nil {
			t.Errorf("%s: NewClient succeeded", name)
		}
	}
	hc := &http.Client{Transport: &http.Transport{}}
	c, err := connexus.NewClient(connexus.WithPassword("u", "p"), key, connexus.WithHTTPClient(hc),
		connexus.WithBaseURL("https://example.test/api/connexus"))
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthMode() != connexus.AuthAPIKey || c.AuthMode().String() != "api-key" ||
		c.HTTPClient().Transport != hc.Transport || hc.CheckRedirect != nil {
		t.Fatalf("mode %v, client %p", c.AuthMode(), c.HTTPClient())
	}
	if u, p := c.PasswordCredentials(); u != "" || p != "" {
		t.Fatal("API-key mode kept password credentials")
	}
	u := c.BaseURL()
	u.Path = "/changed"
	if got := c.BaseURL().String(); got != "https://example.test/api/connexus/" {
		t.Fatalf("BaseURL = %q (or it was not a copy)", got)
	}
	def, _ := connexus.NewClient(key)
	if got := def.BaseURL().String(); got != connexus.DefaultBaseURL+"/" {
		t.Fatalf("default BaseURL = %q", got)
	}
}

// TestWithoutSendRetries: a send's first failure is final, so a caller
// with another provider fails over at once; reads still retry.
func TestWithoutSendRetries(t *testing.T) {
	sl := &sleeper{}
	c, s := connexustest.NewClient(t, connexustest.WithClientOptions(
		connexus.WithSleeper(sl.Sleep), connexus.WithoutSendRetries()))
	mustToken(t, c)
	s.FailNext("sms/otp", 429, 1)
	if err := sendOTP(context.Background(), c); !connexus.IsRateLimited(err) {
		t.Fatalf("send during a 429 = %v, want the 429", err)
	}
	s.FailNext("sms/balance", 503, 1)
	if _, err := c.Balance(context.Background()); err != nil {
		t.Fatalf("balance after one 503 = %v, want it retried", err)
	}
	if n, m := s.RequestCount("sms/otp"), s.RequestCount("sms/balance"); n != 1 || m != 2 {
		t.Errorf("%d sends and %d balance reads, want 1 and 2", n, m)
	}
}
