package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/api/openapitest"
	"github.com/otpgate/otpgate/client"
	"github.com/otpgate/otpgate/cmd/internal/app"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// output collects run's stdout and lets a test wait for a line.
type output struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	changed chan struct{} // closed and replaced on every new line
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial = append(o.partial, p...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.lines = append(o.lines, string(o.partial[:i]))
		o.partial = o.partial[i+1:]
		close(o.changed)
		o.changed = make(chan struct{})
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.lines, "\n") + string(o.partial)
}

// waitFor returns the first line that match accepts, waiting for run to
// write it.
func (o *output) waitFor(t *testing.T, what string, match func(string) bool) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	seen := 0
	for {
		o.mu.Lock()
		for ; seen < len(o.lines); seen++ {
			if match(o.lines[seen]) {
				line := o.lines[seen]
				o.mu.Unlock()
				return line
			}
		}
		changed := o.changed
		o.mu.Unlock()
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("no %s in the output:\n%s", what, o)
		}
	}
}

// logLine finds a JSON log line with msg.
func (o *output) logLine(t *testing.T, msg string) map[string]any {
	t.Helper()
	var rec map[string]any
	o.waitFor(t, "log line "+strconv.Quote(msg), func(line string) bool {
		rec = nil
		return json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg
	})
	return rec
}

type instance struct {
	base string
	out  *output
	stop func() error // cancels run's context, as SIGTERM does, and waits for run
	// http is the client of every request to the program: its transport
	// checks each answer against the OpenAPI document (api.OpenAPI), and it
	// follows no redirect, as the program must never answer one.
	http *http.Client
	// undocumented marks requests sent on purpose to a route the document
	// lacks (see offDocument).
	undocumented bool
}

// offDocument is in for requests that a test sends on purpose to a path or
// method the OpenAPI document does not list: their answers must be the
// router's documented 404 or 405 instead.
func (in *instance) offDocument() *instance {
	c := *in
	c.undocumented = true
	return &c
}

// newRequest is http.NewRequest, marked as offDocument says.
func (in *instance) newRequest(method, path string, body io.Reader) (*http.Request, error) {
	ctx := context.Background()
	if in.undocumented {
		ctx = openapitest.Undocumented(ctx)
	}
	return http.NewRequestWithContext(ctx, method, in.base+path, body)
}

// start runs the whole program on a free port, and stops it when the test
// ends if the test did not.
func start(t *testing.T, env map[string]string) *instance {
	t.Helper()
	return launch(t, env, func(ctx context.Context, getenv func(string) string, out io.Writer) error {
		return run(ctx, nil, getenv, nil, out, io.Discard)
	})
}

// launch runs program, which must behave as run does (log "listening" with
// the bound address, return once ctx is done and it has shut down), on a
// free port with env.
func launch(t *testing.T, env map[string]string, program func(ctx context.Context, getenv func(string) string, out io.Writer) error) *instance {
	t.Helper()
	env["OTPGATE_ADDR"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	out := newOutput()
	done := make(chan error, 1)
	go func() { done <- program(ctx, func(k string) string { return env[k] }, out) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(app.ShutdownTimeout + 5*time.Second):
				runErr = errors.New("run did not return after cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("run after shutdown: %v", err)
		}
	})
	var rec map[string]any
	out.waitFor(t, "listening line", func(line string) bool {
		rec = nil
		return json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "listening"
	})
	return newInstance(t, rec["addr"].(string), out, stop)
}

// newInstance is the program listening on addr, with the one HTTP client
// the tests reach it through.
func newInstance(t *testing.T, addr string, out *output, stop func() error) *instance {
	return &instance{base: "http://" + addr, out: out, stop: stop, http: &http.Client{
		Transport:     openapitest.Transport(t, http.DefaultTransport),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (in *instance) call(t *testing.T, method, path, key string, body any) (int, map[string]any) {
	t.Helper()
	status, got, err := in.do(method, path, key, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, got
}

// do is call for goroutines other than the test's, which must not t.Fatal.
func (in *instance) do(method, path, key string, body any) (int, map[string]any, error) {
	r, err := in.request(method, path, key, nil, body)
	return r.status, r.body, err
}

// reply is one answer of the program.
type reply struct {
	status int
	header http.Header
	body   map[string]any
}

// send is call with extra request headers, answering the response headers
// too.
func (in *instance) send(t *testing.T, method, path, key string, header map[string]string, body any) reply {
	t.Helper()
	r, err := in.request(method, path, key, header, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// request is send for goroutines other than the test's.
func (in *instance) request(method, path, key string, header map[string]string, body any) (reply, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		r = bytes.NewReader(b)
	}
	req, err := in.newRequest(method, path, r)
	if err != nil {
		return reply{}, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := in.http.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	var got map[string]any
	if len(raw) > 0 && json.Unmarshal(raw, &got) != nil {
		return reply{}, fmt.Errorf("%s %s: body is not JSON: %s", method, path, raw)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: got}, nil
}

// client returns an otpgate client of in with key. It tries each call
// once: the suite asserts what the server answers to one request, and the
// client's retries have tests of their own (client_test.go). Error bodies
// are kept for errorReply.
func (in *instance) client(t *testing.T, key string) *client.Client {
	t.Helper()
	hc := *in.http // the OpenAPI-validating transport
	hc.Transport = keepErrorBodies{next: hc.Transport}
	c, err := client.New(in.base, key, client.WithHTTPClient(&hc), client.WithRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// errorBodies holds the raw body of every error answer the suite's
// clients received, by response, so that assertions on the wire (the
// body's request_id, its top-level status) stay as strong as with raw
// requests.
var errorBodies sync.Map // *http.Response → []byte

// keepErrorBodies is a RoundTripper that files error answers' bodies in
// errorBodies and hands the client an identical copy.
type keepErrorBodies struct{ next http.RoundTripper }

func (k keepErrorBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	next := k.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(r)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	errorBodies.Store(resp, raw)
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return resp, nil
}

var idPattern = regexp.MustCompile(`^ver_[0-9a-f]{32}$`)

// verify runs start → wrong guess → right guess → read, as a backend
// would, through the Go client.
func verify(t *testing.T, in *instance, key, to string, code func() string) {
	t.Helper()
	c := in.client(t, key)
	ctx := t.Context()
	v, resp, err := c.Start(ctx, &client.StartParams{To: to, ClientIP: "203.0.113.9"})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("start: %v %v", resp, err)
	}
	if !idPattern.MatchString(v.ID) || v.Status != client.StatusPending {
		t.Fatalf("start answered %+v", v)
	}
	right := code()
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	res, _, err := c.Check(ctx, v.ID, &client.CheckParams{Code: wrong})
	if err != nil || res.Valid || res.Status != client.StatusPending || res.AttemptsLeft != 4 {
		t.Fatalf("wrong guess: %+v %v", res, err)
	}
	res, _, err = c.CheckByTo(ctx, to, &client.CheckParams{Code: right})
	if err != nil || !res.Valid || res.Status != client.StatusApproved {
		t.Fatalf("right guess: %+v %v", res, err)
	}
	if v, _, err := c.Get(ctx, v.ID); err != nil || v.Status != client.StatusApproved {
		t.Fatalf("read after approval: %+v %v", v, err)
	}
	_, _, err = c.Check(ctx, v.ID, &client.CheckParams{Code: right})
	if e, ok := errors.AsType[*client.Error](err); !ok || e.Status != http.StatusConflict || e.VerificationStatus != client.StatusApproved {
		t.Errorf("second use of the code: %v", err)
	}
}

func TestEndToEnd(t *testing.T) {
	rdb := redistest.Real(t)
	rurl := redisURL(rdb)
	for _, st := range []struct {
		name  string
		style connexustest.Style
	}{{"detailed", connexustest.StyleDetailed}, {"reference", connexustest.StyleReference}} {
		t.Run(st.name, func(t *testing.T) {
			if err := rdb.FlushDB(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
			fake := connexustest.NewServer(connexustest.WithStyle(st.style))
			t.Cleanup(fake.Close)
			const key = "e2e-client-secret-0123456789"
			in := start(t, map[string]string{
				"REDIS_URL":              rurl,
				"CONNEXUS_BASE_URL":      fake.URL,
				"CONNEXUS_CLIENT_ID":     connexustest.DefaultClientID,
				"CONNEXUS_CLIENT_SECRET": connexustest.DefaultClientSecret,
				"OTPGATE_API_KEYS":       "web:" + key,
				"OTPGATE_WEBHOOK_TOKEN":  "e2e-webhook-token",
				"OTP_BCRYPT_COST":        "4",
			})
			if status, _ := in.call(t, "GET", "/readyz", "", nil); status != http.StatusOK {
				t.Fatalf("readyz: %d", status)
			}
			if status, _ := in.call(t, "POST", "/v1/verifications", "", map[string]any{"to": "021234567"}); status != http.StatusUnauthorized {
				t.Errorf("start without a key: %d, want 401", status)
			}
			var sent string
			verify(t, in, key, "021 234 567", func() string {
				code, ok := fake.LastCode("6421234567")
				if !ok {
					t.Fatal("the fake received no code")
				}
				sent = code
				return code
			})
			metrics := in.scrape(t)
			for _, want := range []string{
				"otpgate_upstream_request_duration_seconds", `path="sms/otp"`,
				`otpgate_verifications_total{country="NZ",event="pending"} 1`,
				`otpgate_verifications_total{country="NZ",event="approved"} 1`,
				`otpgate_send_cost_events_total{country="NZ",sender="connexus"} 1`,
			} {
				if !strings.Contains(metrics, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			if strings.Contains(in.out.String(), sent) {
				t.Errorf("the code %s appears in the output of a production run", sent)
			}
			if strings.Contains(in.out.String(), key) || strings.Contains(in.out.String(), connexustest.DefaultClientSecret) {
				t.Error("a secret appears in the output")
			}
		})
	}
}

func TestDevModeWithZeroConfig(t *testing.T) {
	in := start(t, map[string]string{})
	keyLine := func(label string) string {
		line := in.out.waitFor(t, label, func(l string) bool { return strings.Contains(l, label) })
		return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), label))
	}
	clientKey, admin := keyLine("dev client key:"), keyLine("dev admin key:")
	if clientKey != "devclientkey" || admin != "devadminkey" {
		t.Fatalf("dev keys %q and %q", clientKey, admin)
	}
	in.out.waitFor(t, "dev mode banner", func(l string) bool { return strings.Contains(l, "DEV MODE") })

	verify(t, in, clientKey, "+64 21 234 567", func() string {
		sms := in.out.logLine(t, "dev sandbox SMS")
		code := regexp.MustCompile(`\d{6}`).FindString(sms["text"].(string))
		if code == "" {
			t.Fatalf("no code in the sandbox SMS %v", sms)
		}
		return code
	})
	if _, _, err := in.client(t, admin).Get(t.Context(), "ver_00000000000000000000000000000000"); !client.IsNotFound(err) {
		t.Errorf("admin key on a verification route: %v, want 404", err)
	}
}

func TestRunRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "argument", args: []string{"serve", "now"}, want: "serve takes no arguments"},
		{name: "malformed variable", env: map[string]string{"OTP_TTL": "5 minutes"}, want: "OTP_TTL"},
		{name: "credentials without Redis", env: map[string]string{"CONNEXUS_CLIENT_ID": "c", "CONNEXUS_CLIENT_SECRET": "s", "OTPGATE_API_KEYS": "a:b"}, want: "REDIS_URL"},
		{name: "bad address", env: map[string]string{"OTPGATE_ADDR": "127.0.0.1:-1"}, want: "OTPGATE_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// redisURL points run at the Redis of c.
func redisURL(c *redis.Client) string {
	o := c.Options()
	u := url.URL{Scheme: "redis", Host: o.Addr, Path: "/" + strconv.Itoa(o.DB)}
	if o.Password != "" {
		u.User = url.UserPassword(o.Username, o.Password)
	}
	return u.String()
}

func TestShutdownLetsInFlightRequestsFinish(t *testing.T) {
	fake := connexustest.NewServer()
	t.Cleanup(fake.Close)
	// The gate holds the SMS send, so a start is in flight when run is told to stop.
	arrived, release := make(chan struct{}), make(chan struct{})
	var first sync.Once
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/sms/otp") {
			first.Do(func() { close(arrived) })
			<-release
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(gate.Close)
	const key = "shutdown-client-secret-0123456789"
	in := start(t, map[string]string{
		"REDIS_URL":              redisURL(redistest.Real(t)),
		"CONNEXUS_BASE_URL":      gate.URL + "/api/connexus",
		"CONNEXUS_CLIENT_ID":     connexustest.DefaultClientID,
		"CONNEXUS_CLIENT_SECRET": connexustest.DefaultClientSecret,
		"OTPGATE_API_KEYS":       "web:" + key,
		"OTP_BCRYPT_COST":        "4",
		"OTP_LOOKUP":             "off",
	})

	c := in.client(t, key)
	answered := make(chan started, 1)
	go func() {
		v, resp, err := c.Start(t.Context(), &client.StartParams{To: "021234567"})
		answered <- started{v, resp, err}
	}()
	<-arrived
	stopped := make(chan error, 1)
	go func() { stopped <- in.stop() }()
	in.out.logLine(t, "shutting down")
	select {
	case err := <-stopped:
		t.Fatalf("run returned with a request in flight: %v", err)
	default:
	}
	close(release)
	if a := <-answered; a.err != nil || a.resp.StatusCode != http.StatusCreated {
		t.Errorf("in-flight start answered %+v %v, want 201", a.Verification, a.err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("run: %v", err)
	}
}
