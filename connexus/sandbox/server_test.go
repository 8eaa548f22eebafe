package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/sandbox"
)

// newClient starts a fake and returns a client built from its
// ClientOptions; the fake closes when the test ends.
func newClient(t *testing.T, opts ...sandbox.Option) (*connexus.Client, *sandbox.Server) {
	t.Helper()
	s := sandbox.NewServer(opts...)
	t.Cleanup(s.Close)
	c, err := connexus.NewClient(s.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// post sends a raw form to the fake and decodes the JSON answer.
func post(t *testing.T, s *sandbox.Server, path string, form url.Values, header map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/"+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func creds(extra url.Values) url.Values {
	v := url.Values{"userId": {sandbox.DefaultUserID}, "password": {sandbox.DefaultPassword}}
	for k, vs := range extra {
		v[k] = vs
	}
	return v
}

func TestAuth(t *testing.T) {
	s := sandbox.NewServer()
	defer s.Close()
	tests := []struct {
		name   string
		path   string
		form   url.Values
		header map[string]string
		want   int
	}{
		{"no credentials", "sms/balance", nil, nil, 401},
		{"wrong password", "sms/balance", url.Values{"userId": {sandbox.DefaultUserID}, "password": {"x"}}, nil, 401},
		{"password", "sms/balance", creds(nil), nil, 200},
		{"unknown bearer", "sms/balance", nil, map[string]string{"Authorization": "Bearer wst_nope"}, 401},
		{"token missing secret", "auth/token", url.Values{"client_id": {sandbox.DefaultClientID}}, nil, 400},
		{"token wrong secret", "auth/token", url.Values{"client_id": {sandbox.DefaultClientID}, "client_secret": {"x"}}, nil, 401},
		{"unknown path", "sms/nope", creds(nil), nil, 404},
	}
	for _, tt := range tests {
		if got, body := post(t, s, tt.path, tt.form, tt.header); got != tt.want {
			t.Errorf("%s: HTTP %d (%v), want %d", tt.name, got, body, tt.want)
		}
	}
	resp, err := http.Get(s.URL + "/auth/token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET auth/token: HTTP %d, want 405", resp.StatusCode)
	}
}

func TestTokenExpiry(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := sandbox.NewServer(sandbox.WithClock(clock), sandbox.WithTokenTTL(time.Minute))
	defer s.Close()
	status, body := post(t, s, "auth/token", url.Values{"client_id": {sandbox.DefaultClientID},
		"client_secret": {sandbox.DefaultClientSecret}}, nil)
	if status != 200 || body["expires_in"] != float64(60) || body["token_type"] != "Bearer" {
		t.Fatalf("token: HTTP %d %v", status, body)
	}
	bearer := map[string]string{"Authorization": "Bearer " + body["access_token"].(string)}
	if status, _ := post(t, s, "sms/balance", nil, bearer); status != 200 {
		t.Fatalf("fresh token: HTTP %d", status)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if status, _ := post(t, s, "sms/balance", nil, bearer); status != 401 {
		t.Fatalf("expired token: HTTP %d, want 401", status)
	}
}

func TestLookupRules(t *testing.T) {
	s := sandbox.NewServer()
	defer s.Close()
	tests := []struct {
		number, want string
	}{
		{"021234567", ""},
		{"02112345678", ""},
		{"642123456789", ""},
		{"02123456", "Number too short"},
		{"021123456789", "Number too long"},
		{"0912345678", "Invalid prefix"},
		{"6491234567", "Invalid prefix"},
		{"+1 415 555 1234", ""},
		{"12345", "Invalid format"},
		{"02x1234567", "Invalid format"},
	}
	for _, tt := range tests {
		status, body := post(t, s, "number/lookup", creds(url.Values{"number": {tt.number}}), nil)
		msg, _ := body["message"].(string)
		switch {
		case tt.want == "" && status != 200:
			t.Errorf("%s: HTTP %d %v, want 200", tt.number, status, body)
		case tt.want != "" && (status != 400 || body["error"] != "Invalid number" || !strings.HasPrefix(msg, tt.want)):
			t.Errorf("%s: HTTP %d %v, want 400 %q", tt.number, status, body, tt.want)
		}
	}
}

func TestFaults(t *testing.T) {
	c, s := newClient(t)
	ctx := context.Background()
	s.SetLatency("/sms/balance/", 30*time.Millisecond)
	start := time.Now()
	if _, err := c.Balance(ctx); err != nil || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("latency: %v after %v", err, time.Since(start))
	}
	s.SetLatency("sms/balance", 0)
	s.FailNext("sms/balance", http.StatusTeapot, 2)
	for range 2 {
		var apiErr *connexus.Error
		if _, err := c.Balance(ctx); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTeapot {
			t.Fatalf("FailNext: %v", err)
		}
	}
	if _, err := c.Balance(ctx); err != nil {
		t.Fatalf("after the faults ran out: %v", err)
	}
	s.HangNext("sms/balance", 1)
	hctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := c.Balance(hctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang: %v", err)
	}
	s.DropNext("sms/otp", 1)
	if _, err := c.SendOTP(ctx, &connexus.OTPRequest{To: "6421234567", Company: "X"}); err == nil {
		t.Fatal("dropped connection answered")
	}
	if len(s.Messages()) != 0 {
		t.Fatal("a dropped request sent an SMS")
	}
}

// Close must not wait for ever on a request that hangs.
func TestCloseReleasesHangs(t *testing.T) {
	c, s := newClient(t)
	s.HangNext("sms/balance", 1)
	done := make(chan error, 1)
	go func() { _, err := c.Balance(context.Background()); done <- err }()
	for s.RequestCount("sms/balance") == 0 {
		time.Sleep(time.Millisecond) // waiting for the request to arrive, not for a race to settle
	}
	s.Close()
	if err := <-done; err == nil {
		t.Fatal("hung request succeeded")
	}
}

func TestConcurrentSendsAndOnMessage(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{}
	c, s := newClient(t, sandbox.OnMessage(func(m sandbox.Message) {
		mu.Lock()
		seen[m.MessageID] = m.Code
		mu.Unlock()
	}))
	const n = 64
	var wg sync.WaitGroup
	codes := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			to := fmt.Sprintf("64211%05d", i)
			var resp *connexus.OTPResponse
			resp, errs[i] = c.SendOTP(context.Background(), &connexus.OTPRequest{To: to, Company: "X", Code: fmt.Sprintf("%06d", i)})
			if errs[i] == nil {
				codes[i] = resp.Code
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if got, ok := s.LastCode(fmt.Sprintf("0211%05d", i)); !ok || got != codes[i] || got != fmt.Sprintf("%06d", i) {
			t.Fatalf("LastCode(%d) = %q, %v; client got %q", i, got, ok, codes[i])
		}
	}
	if len(seen) != n || len(s.Messages()) != n || s.TokensIssued() != 1 {
		t.Fatalf("hook saw %d ids, fake has %d messages, %d tokens; want %d, %d, 1", len(seen), len(s.Messages()), s.TokensIssued(), n, n)
	}
	if _, ok := s.LastCode("6429999999"); ok {
		t.Fatal("LastCode found a code never sent")
	}
}

func TestDeliverErrors(t *testing.T) {
	c, s := newClient(t, sandbox.WithStyle(sandbox.StyleReference))
	resp, err := c.SendSMS(context.Background(), &connexus.SMSRequest{To: "6421234567", Body: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(resp.MessageID, "delivered"); !errors.Is(err, sandbox.ErrNoWebhook) {
		t.Fatalf("no webhook: %v", err)
	}
	if err := s.Deliver("nope", "delivered"); err == nil {
		t.Fatal("unknown message delivered")
	}
	if err := s.Deliver(resp.MessageID, "bogus"); err == nil {
		t.Fatal("unknown status delivered")
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer hook.Close()
	if err := c.RegisterStatusWebhook(context.Background(), hook.URL); err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(resp.MessageID, "UNDELIV"); err == nil {
		t.Fatal("a webhook answering 500 counted as delivered")
	}
	st, err := c.MessageStatus(context.Background(), resp.MessageID)
	if err != nil || st.Status != connexus.StatusUndelivered {
		t.Fatalf("status = %+v, %v", st, err)
	}
	// otpgate's webhook URLs carry their secret in the query.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	if err := c.RegisterStatusWebhook(context.Background(), gone.URL+"/hook?token=whsec_value"); err != nil {
		t.Fatal(err)
	}
	err = s.Deliver(resp.MessageID, "DELIVRD")
	if err == nil || strings.Contains(err.Error(), "whsec_value") {
		t.Fatalf("unreachable webhook: err = %v, want an error without the token", err)
	}
}

func TestTakeRequestsForgetsWhatItReturns(t *testing.T) {
	s := sandbox.NewServer()
	defer s.Close()
	paths := func(reqs []sandbox.Request) string {
		var p []string
		for _, r := range reqs {
			p = append(p, r.Path)
		}
		return strings.Join(p, " ")
	}
	post(t, s, "sms/balance", creds(nil), nil)
	post(t, s, "mo/query", creds(nil), nil)
	if got := paths(s.TakeRequests()); got != "sms/balance mo/query" {
		t.Errorf("first take = %q, want both requests", got)
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("Requests after a take = %d, want 0", n)
	}
	post(t, s, "configure", creds(nil), nil)
	if got := paths(s.TakeRequests()); got != "configure" {
		t.Errorf("second take = %q, want only the new request", got)
	}
}
