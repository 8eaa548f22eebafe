package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/client"
	"github.com/otpgate/otpgate/internal/upstream"
)

// sleeper records the waits a client asks for instead of spending them.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

// reset forgets the waits so far.
func (s *sleeper) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = nil
}

func (s *sleeper) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// newClient returns a client of f with the client key that records its
// waits in sl.
func newClient(t *testing.T, f *fake, sl *sleeper, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(f.URL, clientKey, append([]client.Option{client.WithSleeper(sl.Sleep)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		base string
		key  string
		opts []client.Option
	}{
		{"empty base URL", "", "k", nil},
		{"relative base URL", "otp.example.com", "k", nil},
		{"ftp", "ftp://otp.example.com", "k", nil},
		{"query", "https://otp.example.com/?x=1", "k", nil},
		{"credentials", "https://u:p@otp.example.com", "k", nil},
		{"empty key", "https://otp.example.com", "", nil},
		{"blank key", "https://otp.example.com", "  ", nil},
		{"nil HTTP client", "https://otp.example.com", "k", []client.Option{client.WithHTTPClient(nil)}},
		{"no attempts", "https://otp.example.com", "k", []client.Option{client.WithRetries(0)}},
		{"zero backoff", "https://otp.example.com", "k", []client.Option{client.WithBackoff(0, time.Second)}},
		{"max below base", "https://otp.example.com", "k", []client.Option{client.WithBackoff(time.Second, time.Millisecond)}},
		{"empty User-Agent", "https://otp.example.com", "k", []client.Option{client.WithUserAgent("")}},
		{"nil sleeper", "https://otp.example.com", "k", []client.Option{client.WithSleeper(nil)}},
	}
	for _, tt := range tests {
		if c, err := client.New(tt.base, tt.key, tt.opts...); err == nil {
			t.Errorf("%s: New = %v, want an error", tt.name, c)
		} else if strings.Contains(err.Error(), "u:p") {
			t.Errorf("%s: error %q shows the credentials", tt.name, err)
		}
	}
	if _, err := client.New("http://127.0.0.1:8080/otp", "k", client.WithRetries(1), client.WithBackoff(time.Millisecond, time.Millisecond)); err != nil {
		t.Errorf("New with a path prefix and valid options: %v", err)
	}
}

func TestStartRequestAndAnswer(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c := newClient(t, f, &sleeper{})
	v, resp, err := c.Start(context.Background(), &client.StartParams{To: "6421234567", Brand: "Acme", ClientIP: "203.0.113.9"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || resp.RequestID != "req_1" {
		t.Errorf("response %d, request id %q; want 201, req_1", resp.StatusCode, resp.RequestID)
	}
	want := client.Verification{
		ID: "ver_00000000000000000000000000000001", To: "6421234567", Channel: "sms", Status: client.StatusPending,
		CreatedAt: fakeNow, ExpiresAt: fakeNow.Add(5 * time.Minute), AttemptsLeft: 5, Sends: 1, Sender: "connexus",
		ResendAvailableAt: fakeNow.Add(30 * time.Second),
	}
	got := *v
	got.Lookup, got.Delivery = nil, nil
	if got != want {
		t.Errorf("Start = %+v, want %+v", got, want)
	}
	if l := v.Lookup; l == nil || *l != (client.Lookup{Carrier: "Spark", Ported: true, NetworkCode: "TCNZ"}) {
		t.Errorf("lookup %+v", v.Lookup)
	}
	if d := v.Delivery; d == nil || d.Status != "delivered" || !d.UpdatedAt.Equal(fakeNow.Add(2*time.Second)) {
		t.Errorf("delivery %+v", v.Delivery)
	}

	req := f.seenOn("POST /v1/verifications")[0]
	for h, want := range map[string]string{
		"Authorization": "Bearer " + clientKey,
		"Content-Type":  "application/json",
		"User-Agent":    client.DefaultUserAgent,
	} {
		if got := req.header.Get(h); got != want {
			t.Errorf("%s %q, want %q", h, got, want)
		}
	}
	if !strings.HasPrefix(client.DefaultUserAgent, "otpgate-go/") {
		t.Errorf("DefaultUserAgent %q", client.DefaultUserAgent)
	}
	if want := map[string]any{"to": "6421234567", "brand": "Acme", "client_ip": "203.0.113.9"}; !equalJSON(req.body, want) {
		t.Errorf("body %v, want %v", req.body, want)
	}
	// The generated key is crypto/rand text: long, and new for each start.
	first := req.header.Get("Idempotency-Key")
	if !regexp.MustCompile(`^[A-Z2-7]{26}$`).MatchString(first) {
		t.Errorf("Idempotency-Key %q, want 26 random base32 characters", first)
	}
	if _, _, err := c.Start(context.Background(), &client.StartParams{To: "6427654321"}); err != nil {
		t.Fatal(err)
	}
	if second := f.seenOn("POST /v1/verifications")[1].header.Get("Idempotency-Key"); second == first || second == "" {
		t.Errorf("second start's Idempotency-Key %q, want another than %q", second, first)
	}
}

func equalJSON(got, want map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestStartWithTheCallersKeyReplays(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c := newClient(t, f, &sleeper{}, client.WithUserAgent("shop/2"))
	p := &client.StartParams{To: "6421234567", IdempotencyKey: "order-1234"}
	first, _, err := c.Start(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	again, resp, err := c.Start(context.Background(), p)
	if err != nil || again.ID != first.ID || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeat: %+v, %v; want the replayed %s", again, err, first.ID)
	}
	for _, s := range f.seenOn("POST /v1/verifications") {
		if s.header.Get("Idempotency-Key") != "order-1234" || s.header.Get("User-Agent") != "shop/2" {
			t.Errorf("headers %v, want the caller's key and User-Agent", s.header)
		}
	}
	if n := f.codesSent(); n != 1 {
		t.Errorf("%d codes sent, want 1", n)
	}
}

// Faults, as otpgate and the network produce them.
var (
	unavailable = fault{status: 503, header: map[string]string{"Content-Type": "application/json"},
		body: `{"error":{"code":"unavailable","message":"down","request_id":"r"}}`}
	inUse = fault{status: 409, header: map[string]string{"Retry-After": "1"},
		body: `{"error":{"code":"idempotency_key_in_use","message":"busy","request_id":"r"}}`}
	notPendingFault = fault{status: 409,
		body: `{"error":{"code":"verification_not_pending","message":"done","request_id":"r"},"status":"approved"}`}
	// proxyUnavailable is a load balancer's answer in place of otpgate's.
	proxyUnavailable = fault{status: 503, header: map[string]string{"Content-Type": "text/html", "X-Request-Id": ""}, body: "<h1>503</h1>"}
	badGateway       = fault{status: 502, header: map[string]string{"Content-Type": "text/html"}, body: "<html>Bad Gateway</html>"}
	cooldown         = fault{status: 429, header: map[string]string{"Retry-After": "30"},
		body: `{"error":{"code":"resend_cooldown","message":"wait","request_id":"r"}}`}
	dropped = fault{drop: true}
)

func TestRetries(t *testing.T) {
	t.Parallel()
	const id = "ver_00000000000000000000000000000001"
	start := func(c *client.Client) error {
		_, _, err := c.Start(context.Background(), &client.StartParams{To: "6421234567"})
		return err
	}
	get := func(c *client.Client) error { _, _, err := c.Get(context.Background(), id); return err }
	check := func(c *client.Client) error {
		_, _, err := c.Check(context.Background(), id, &client.CheckParams{Code: fakeCode})
		return err
	}
	checkByTo := func(c *client.Client) error {
		_, _, err := c.CheckByTo(context.Background(), "6421234567", &client.CheckParams{Code: fakeCode})
		return err
	}
	cancel := func(c *client.Client) error { _, _, err := c.Cancel(context.Background(), id); return err }
	tests := []struct {
		name    string
		route   string
		faults  []fault
		op      func(*client.Client) error
		opts    []client.Option
		calls   int
		wantErr func(error) bool // nil: want success
	}{
		{"start 503 not retried", "POST /v1/verifications", []fault{unavailable}, start, nil, 1, client.IsUnavailable},
		{"start proxy's 503 retried", "POST /v1/verifications", []fault{proxyUnavailable}, start, nil, 2, nil},
		{"start 503 cut short not retried", "POST /v1/verifications", []fault{{status: 503, body: unavailable.body[:20], truncate: true}}, start, nil, 1, client.IsUnavailable},
		{"start key in use", "POST /v1/verifications", []fault{inUse}, start, nil, 2, nil},
		{"start dropped after it was handled", "POST /v1/verifications", []fault{dropped}, start, nil, 2, nil},
		{"start 429 not retried", "POST /v1/verifications", []fault{cooldown}, start, nil, 1, client.IsCooldown},
		{"start 502 not retried", "POST /v1/verifications", []fault{badGateway}, start, nil, 1, client.IsUpstream},
		{"get 503", "GET /v1/verifications/" + id, []fault{unavailable}, get, nil, 2, nil},
		{"get 503 twice then read", "GET /v1/verifications/" + id, []fault{unavailable, unavailable}, get, nil, 3, nil},
		{"get 503 thrice gives up", "GET /v1/verifications/" + id, []fault{unavailable, unavailable, unavailable}, get, nil, 3, client.IsUnavailable},
		{"get 503 with one attempt", "GET /v1/verifications/" + id, []fault{unavailable}, get, []client.Option{client.WithRetries(1)}, 1, client.IsUnavailable},
		{"get 503 with five attempts", "GET /v1/verifications/" + id, []fault{unavailable, unavailable, unavailable, unavailable}, get, []client.Option{client.WithRetries(5)}, 5, nil},
		{"get dropped", "GET /v1/verifications/" + id, []fault{dropped}, get, nil, 2, nil},
		{"check 503 not retried", "POST /v1/verifications/" + id + "/check", []fault{unavailable}, check, nil, 1, client.IsUnavailable},
		{"check dropped not retried", "POST /v1/verifications/" + id + "/check", []fault{dropped}, check, nil, 1, func(err error) bool { return err != nil }},
		{"check 409 not retried", "POST /v1/verifications/" + id + "/check", []fault{notPendingFault}, check, nil, 1, client.IsNotPending},
		{"check by to 503 not retried", "POST /v1/checks", []fault{unavailable}, checkByTo, nil, 1, client.IsUnavailable},
		{"cancel 503 not retried", "POST /v1/verifications/" + id + "/cancel", []fault{unavailable}, cancel, nil, 1, client.IsUnavailable},
		{"cancel dropped not retried", "POST /v1/verifications/" + id + "/cancel", []fault{dropped}, cancel, nil, 1, func(err error) bool { return err != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			sl := &sleeper{}
			// net/http replays a GET, or a POST with an Idempotency-Key, by
			// itself when a reused connection dies unanswered; fresh
			// connections leave every retry to the client under test.
			tr := &http.Transport{DisableKeepAlives: true}
			opts := append([]client.Option{client.WithHTTPClient(&http.Client{Transport: tr})}, tt.opts...)
			c := newClient(t, f, sl, opts...)
			if tt.route != "POST /v1/verifications" {
				if err := start(c); err != nil {
					t.Fatal(err)
				}
			}
			f.fail(tt.route, tt.faults...)
			err := tt.op(c)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("err = %v, want success", err)
			case tt.wantErr != nil && !tt.wantErr(err):
				t.Fatalf("err = %v, not the error wanted", err)
			}
			reqs := f.seenOn(tt.route)
			if len(reqs) != tt.calls {
				t.Fatalf("%s received %d requests, want %d", tt.route, len(reqs), tt.calls)
			}
			if n := len(sl.Waits()); n != tt.calls-1 {
				t.Errorf("%d waits between %d calls", n, tt.calls)
			}
			if tt.route == "POST /v1/verifications" {
				for _, r := range reqs[1:] {
					if k := r.header.Get("Idempotency-Key"); k != reqs[0].header.Get("Idempotency-Key") || k == "" {
						t.Errorf("retry Idempotency-Key %q, want the first's %q", k, reqs[0].header.Get("Idempotency-Key"))
					}
				}
				if tt.wantErr == nil && f.codesSent() != 1 {
					t.Errorf("%d codes sent, want 1", f.codesSent())
				}
			}
		})
	}
}

func TestRetryWaits(t *testing.T) {
	t.Parallel()
	const base, max = 100 * time.Millisecond, 2 * time.Second
	retryAfter := func(v string) fault {
		return fault{status: 503, header: map[string]string{"Retry-After": v}, body: unavailable.body}
	}
	tests := []struct {
		name     string
		faults   []fault
		low, top []time.Duration // bounds of each wait
	}{
		{"Retry-After", []fault{retryAfter("1")}, []time.Duration{time.Second}, []time.Duration{time.Second}},
		{"Retry-After capped at the backoff max", []fault{retryAfter("120")}, []time.Duration{max}, []time.Duration{max}},
		{"key in use", []fault{inUse}, []time.Duration{time.Second}, []time.Duration{time.Second}},
		{"jittered backoff", []fault{unavailable, unavailable}, []time.Duration{base / 2, base}, []time.Duration{base, 2 * base}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			sl := &sleeper{}
			c := newClient(t, f, sl, client.WithBackoff(base, max))
			// A start retries only a key in use; reads retry a 503.
			v, _, err := c.Start(context.Background(), &client.StartParams{To: "6421234567"})
			if err != nil {
				t.Fatal(err)
			}
			sl.reset()
			if tt.faults[0].status == http.StatusConflict {
				f.fail("POST /v1/verifications", tt.faults...)
				_, _, err = c.Start(context.Background(), &client.StartParams{To: "6421234567"})
				if !client.IsCooldown(err) {
					t.Fatalf("the retried start answered %v, want the fake's cooldown", err)
				}
			} else {
				f.fail("GET /v1/verifications/"+v.ID, tt.faults...)
				if _, _, err := c.Get(context.Background(), v.ID); err != nil {
					t.Fatal(err)
				}
			}
			waits := sl.Waits()
			if len(waits) != len(tt.low) {
				t.Fatalf("waits %v, want %d", waits, len(tt.low))
			}
			for i, w := range waits {
				if w < tt.low[i] || w > tt.top[i] {
					t.Errorf("wait %d = %v, want %v to %v", i, w, tt.low[i], tt.top[i])
				}
			}
		})
	}
}

func TestContextEndsTheWait(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The real wait of an hour's backoff, its context ended as it begins.
	c, err := client.New(f.URL, clientKey, client.WithBackoff(time.Hour, time.Hour),
		client.WithSleeper(func(ctx context.Context, d time.Duration) error {
			cancel()
			return upstream.Sleep(ctx, d)
		}))
	if err != nil {
		t.Fatal(err)
	}
	const id = "ver_00000000000000000000000000000001"
	f.fail("GET /v1/verifications/"+id, unavailable)
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Get(ctx, id)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !client.IsUnavailable(err) {
			t.Errorf("err = %v, want context.Canceled and the 503 it waited after", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start still waits after ctx ended")
	}
	if n := len(f.seenOn("GET /v1/verifications/" + id)); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestNoWaitPastTheDeadline(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sl := &sleeper{}
	c := newClient(t, f, sl, client.WithBackoff(time.Minute, time.Hour))
	f.fail("POST /v1/verifications", unavailable)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, err := c.Start(ctx, &client.StartParams{To: "6421234567"})
	if !client.IsUnavailable(err) || len(sl.Waits()) != 0 {
		t.Errorf("err = %v after waits %v; want the 503 at once, since a minute's wait outlives the deadline", err, sl.Waits())
	}
}

// TestCheckRetriedAfterDialError: a check whose connection was never made
// sent nothing, so it is tried again.
func TestCheckRetriedAfterDialError(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	var dials atomic.Int32
	d := &net.Dialer{}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 1 {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
		}
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	sl := &sleeper{}
	c := newClient(t, f, sl, client.WithHTTPClient(&http.Client{Transport: tr}))
	res, _, err := c.Check(context.Background(), "ver_00000000000000000000000000000009", &client.CheckParams{Code: fakeCode})
	if !client.IsNotFound(err) || res != nil {
		t.Fatalf("Check = %+v, %v; want the 404 of the second attempt", res, err)
	}
	if dials.Load() != 2 || len(sl.Waits()) != 1 {
		t.Errorf("%d dials, %d waits; want 2 and 1", dials.Load(), len(sl.Waits()))
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c := newClient(t, f, &sleeper{})
	ctx := context.Background()
	v, _, err := c.Start(ctx, &client.StartParams{To: "6421234567"})
	if err != nil {
		t.Fatal(err)
	}

	_, resp, err := c.Start(ctx, &client.StartParams{To: "6421234567"})
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 429 || e.Code != client.CodeResendCooldown || e.RetryAfter != 30*time.Second ||
		e.Message != "fake says resend_cooldown" || e.RequestID != "req_2" || e.Response != resp.Response {
		t.Errorf("cooldown: %#v", e)
	}
	if !client.IsCooldown(err) || !client.IsRateLimited(err) || client.IsNotFound(err) {
		t.Errorf("cooldown: Is helpers disagree on %v", err)
	}
	if got := err.Error(); got != "otpgate: POST /v1/verifications: HTTP 429 resend_cooldown: fake says resend_cooldown (request req_2)" {
		t.Errorf("Error() = %q", got)
	}

	if _, _, err := c.Check(ctx, v.ID, &client.CheckParams{Code: fakeCode}); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Check(ctx, v.ID, &client.CheckParams{Code: fakeCode})
	if !errors.As(err, &e) || !client.IsNotPending(err) || e.Status != 409 || e.VerificationStatus != client.StatusApproved {
		t.Errorf("spent code: %v, %#v", err, e)
	}
	_, _, err = c.Cancel(ctx, v.ID)
	if !errors.As(err, &e) || !client.IsNotPending(err) || e.VerificationStatus != client.StatusApproved {
		t.Errorf("cancel of an approved one: %v", err)
	}
	if _, _, err := c.Get(ctx, "ver_nope"); !client.IsNotFound(err) || !errors.As(err, &e) || e.Code != client.CodeVerificationNotFound {
		t.Errorf("unknown id: %v", err)
	}
	if _, _, err := c.Start(ctx, &client.StartParams{}); !client.IsInvalidRequest(err) {
		t.Errorf("empty to: %v", err)
	}

	// Not otpgate's JSON: the status still makes an *Error, with the
	// request id from the header.
	f.fail("GET /v1/verifications/"+v.ID, badGateway)
	_, _, err = c.Get(ctx, v.ID)
	if !errors.As(err, &e) || e.Status != 502 || e.Code != "" || e.Message != "Bad Gateway" || e.RequestID == "" || !client.IsUpstream(err) {
		t.Errorf("HTML 502: %v, %#v", err, e)
	}

	wrong, err := client.New(f.URL, "wrong-key")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := wrong.Get(ctx, v.ID); !client.IsUnauthorized(err) || !errors.As(err, &e) || e.Code != client.CodeUnauthorized {
		t.Errorf("unknown key: %v", err)
	}
	if _, _, err := c.Inbound(ctx, 0); !client.IsForbidden(err) || !errors.As(err, &e) || e.Code != client.CodeForbidden {
		t.Errorf("client key on inbound: %v", err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c := newClient(t, f, &sleeper{})
	ctx := context.Background()
	v, _, err := c.Start(ctx, &client.StartParams{To: "6421234567"})
	if err != nil {
		t.Fatal(err)
	}
	// A wrong code is an answer, not an error.
	res, resp, err := c.Check(ctx, v.ID, &client.CheckParams{Code: "000000", ClientIP: "203.0.113.9"})
	if err != nil || resp.StatusCode != 200 || *res != (client.CheckResult{ID: v.ID, Status: client.StatusPending, Valid: false, AttemptsLeft: 4}) {
		t.Fatalf("wrong code: %+v, %v", res, err)
	}
	if body := f.seenOn("POST /v1/verifications/" + v.ID + "/check")[0].body; !equalJSON(body, map[string]any{"code": "000000", "client_ip": "203.0.113.9"}) {
		t.Errorf("check body %v", body)
	}
	res, _, err = c.CheckByTo(ctx, "6421234567", &client.CheckParams{Code: fakeCode})
	if err != nil || *res != (client.CheckResult{ID: v.ID, Status: client.StatusApproved, Valid: true, AttemptsLeft: 3}) {
		t.Fatalf("right code by to: %+v, %v", res, err)
	}
	if body := f.seenOn("POST /v1/checks")[0].body; !equalJSON(body, map[string]any{"to": "6421234567", "code": fakeCode}) {
		t.Errorf("checks body %v", body)
	}
}

func TestCancelAndGet(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c := newClient(t, f, &sleeper{})
	ctx := context.Background()
	v, _, err := c.Start(ctx, &client.StartParams{To: "6421234567"})
	if err != nil {
		t.Fatal(err)
	}
	canceled, _, err := c.Cancel(ctx, v.ID)
	if err != nil || canceled.Status != client.StatusCanceled || canceled.ID != v.ID {
		t.Fatalf("Cancel = %+v, %v", canceled, err)
	}
	got, resp, err := c.Get(ctx, v.ID)
	if err != nil || got.Status != client.StatusCanceled || resp.RequestID == "" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if body := f.seenOn("POST /v1/verifications/" + v.ID + "/cancel")[0]; body.body != nil || body.header.Get("Content-Type") != "" {
		t.Errorf("cancel sent a body: %v", body)
	}
}

func TestIDsNameNoOtherRoute(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c := newClient(t, f, &sleeper{})
	for _, id := range []string{"", ".", ".."} {
		if _, _, err := c.Get(context.Background(), id); err == nil || errors.As(err, new(*client.Error)) {
			t.Errorf("Get(%q) = %v, want a refusal before any request", id, err)
		}
	}
	// A slash is escaped, so the id stays one path segment.
	if _, _, err := c.Get(context.Background(), "../inbound"); !client.IsNotFound(err) {
		t.Errorf("Get(../inbound) = %v, want 404", err)
	}
	if n := len(f.seenOn("GET /v1/inbound")); n != 0 {
		t.Errorf("an id reached /v1/inbound")
	}
}

func TestInbound(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c, err := client.New(f.URL, adminKey)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _, err := c.Inbound(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	want := []client.InboundMessage{
		{ID: "m2", From: "6421234567", To: "552", Body: "YES", ReceivedAt: fakeNow},
		{From: "6427654321", To: "552", Body: "STOP", ReceivedAt: fakeNow.Add(-time.Hour)},
	}
	if len(msgs) != len(want) || msgs[0] != want[0] || msgs[1] != want[1] {
		t.Errorf("Inbound = %+v, want %+v", msgs, want)
	}
	if q := f.seenOn("GET /v1/inbound")[0].query; q != "limit=20" {
		t.Errorf("query %q, want limit=20", q)
	}
	if _, _, err := c.Inbound(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if q := f.seenOn("GET /v1/inbound")[1].query; q != "" {
		t.Errorf("query %q without a limit, want none", q)
	}
}
