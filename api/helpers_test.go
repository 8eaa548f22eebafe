package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

const (
	clientSecret = "client-secret-0123456789abcdef"
	adminSecret  = "admin-secret-fedcba9876543210"
	// testCode is what the fake code generator proposes and the fake
	// sender sends.
	testCode = "428613"
	// testPhone is a valid NZ mobile in the form the API returns.
	testPhone = "64211234567"
)

// fakeSender is an otp.Sender that records what it was asked to send.
type fakeSender struct {
	mu    sync.Mutex
	sends []otp.SendRequest
	fail  error
}

func (s *fakeSender) SendCode(_ context.Context, req otp.SendRequest) (otp.SendResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return otp.SendResult{}, s.fail
	}
	s.sends = append(s.sends, req)
	return otp.SendResult{MessageID: fmt.Sprintf("msg-%d", len(s.sends)), Code: req.Code}, nil
}

func (s *fakeSender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sends)
}

func (s *fakeSender) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// fixture is the real Gin engine on a real otp.Service, a Redis and a fake
// sender, or on a fake Verifier when the test asks for one.
type fixture struct {
	t       testing.TB
	h       http.Handler
	rdb     *redis.Client
	sender  *fakeSender
	clock   *otptest.Clock
	logs    *otptest.LogBuffer
	metrics *api.Metrics
}

// start is the fixed start of the fake clock; not UTC, so that tests see
// the API convert times to UTC.
var start = time.Date(2030, 1, 2, 15, 4, 5, 0, time.FixedZone("NZDT", 13*3600))

// newFixture builds the API on rdb (a fresh miniredis when nil). edit may
// change the Config before New, e.g. to put in a fake Verifier.
func newFixture(t testing.TB, rdb *redis.Client, edit ...func(*api.Config)) *fixture {
	t.Helper()
	if rdb == nil {
		rdb, _ = redistest.Mini(t)
	}
	f := &fixture{t: t, rdb: rdb, sender: &fakeSender{}, clock: otptest.NewClock(start), logs: &otptest.LogBuffer{}}
	m, err := api.NewMetrics(nil)
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	f.metrics = m
	svc := newService(t, rdb, f.sender, f.clock.Now, m)
	cfg := api.Config{
		Verifier:    svc,
		Idempotency: redisstore.NewIdempotency(rdb),
		Ready:       svc.Ready,
		ClientKeys:  map[string]string{"shop": clientSecret},
		AdminKeys:   map[string]string{"ops": adminSecret},
		Logger:      slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:     m,
		Now:         f.clock.Now,
	}
	for _, e := range edit {
		e(&cfg)
	}
	h, err := api.New(cfg)
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	f.h = h
	return f
}

// newService is the real otp.Service the fixture serves: on rdb, sending
// testCode through sender, counted in m as the server counts it.
func newService(t testing.TB, rdb *redis.Client, sender otp.Sender, now func() time.Time, m *api.Metrics, opts ...otp.Option) *otp.Service {
	t.Helper()
	cfg := otp.DefaultConfig()
	cfg.Lookup = otp.LookupOff
	cfg.BcryptCost = bcrypt.MinCost
	svc, err := otp.NewService(cfg, redisstore.New(rdb), sender, append([]otp.Option{
		otp.WithClock(now),
		otp.WithCodeGenerator(func(int) (string, error) { return testCode, nil }),
		otp.WithObserver(m.Observe),
		otp.WithMeter(m),
	}, opts...)...)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return svc
}

// do sends one request through the engine. headers are name/value pairs;
// an Authorization of "" sends none. The client key is used by default,
// and a body is sent as JSON unless a Content-Type says otherwise.
func (f *fixture) do(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, f.request(method, path, body, headers...))
	return rec
}

// request is the request do sends.
func (f *fixture) request(method, path, body string, headers ...string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "192.0.2.10:40000"
	req.Header.Set("Authorization", "Bearer "+clientSecret)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

// startVerification starts a verification of testPhone and returns its id.
func (f *fixture) startVerification() string {
	f.t.Helper()
	rec := f.do("POST", "/v1/verifications", `{"to":"021 123 4567"}`)
	if rec.Code != http.StatusCreated {
		f.t.Fatalf("start: status %d, body %s", rec.Code, rec.Body)
	}
	var v struct{ ID string }
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.ID == "" {
		f.t.Fatalf("start: no id in %s (%v)", rec.Body, err)
	}
	return v.ID
}

// apiError is the contract's error body.
type apiError struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
	Status string `json:"status"`
}

func mustDecode(t testing.TB, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, rec.Body, err)
	}
}

// wantError checks status, error code and that the error names the
// request id of the response.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) apiError {
	t.Helper()
	var e apiError
	if rec.Code != status {
		t.Errorf("status = %d, want %d (body %s)", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want JSON", ct)
	}
	mustDecode(t, rec, &e)
	if e.Error.Code != code {
		t.Errorf("error.code = %q, want %q (message %q)", e.Error.Code, code, e.Error.Message)
	}
	if e.Error.Message == "" {
		t.Error("error.message is empty")
	}
	if id := rec.Header().Get("X-Request-Id"); id == "" || e.Error.RequestID != id {
		t.Errorf("error.request_id = %q, X-Request-Id = %q; want equal and set", e.Error.RequestID, id)
	}
	return e
}

// stubVerifier is a Verifier whose answers the test sets.
type stubVerifier struct {
	mu     sync.Mutex
	calls  int
	err    error
	v      *otp.Verification
	check  *otp.CheckResult
	create bool
	// gate, when set, holds Start until it is closed.
	gate chan struct{}
}

func (s *stubVerifier) called() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *stubVerifier) answer() (*otp.Verification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.v, s.err
}

func (s *stubVerifier) Start(context.Context, otp.StartRequest) (*otp.Verification, bool, error) {
	if s.gate != nil {
		<-s.gate
	}
	v, err := s.answer()
	return v, s.create, err
}

func (s *stubVerifier) Get(context.Context, string) (*otp.Verification, error) { return s.answer() }

func (s *stubVerifier) Cancel(context.Context, string) (*otp.Verification, error) {
	return s.answer()
}

func (s *stubVerifier) Check(context.Context, otp.CheckRequest) (*otp.CheckResult, error) {
	_, err := s.answer()
	return s.check, err
}

// withVerifier replaces the real Service.
func withVerifier(v api.Verifier) func(*api.Config) {
	return func(c *api.Config) { c.Verifier = v }
}
