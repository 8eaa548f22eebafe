package otp_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/redis/go-redis/v9"
)

func newClock() *otptest.Clock {
	return otptest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

// sender is a fake upstream that records every code it sends. When code is
// set, it sends that instead of the proposed one, as an upstream that
// ignores msgCode would.
type sender struct {
	mu   sync.Mutex
	sent []otp.SendRequest
	err  error
	code string
	// onSend, when set, runs at the start of every SendCode.
	onSend func()
}

func (s *sender) SendCode(_ context.Context, req otp.SendRequest) (otp.SendResult, error) {
	if s.onSend != nil {
		s.onSend()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return otp.SendResult{}, s.err
	}
	if s.code != "" {
		req.Code = s.code
	}
	s.sent = append(s.sent, req)
	return otp.SendResult{MessageID: fmt.Sprintf("msg-%d", len(s.sent)), Code: req.Code}, nil
}

func (s *sender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

// last returns the code of the latest SMS.
func (s *sender) last(t *testing.T) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sent) == 0 {
		t.Fatal("no SMS was sent")
	}
	return s.sent[len(s.sent)-1].Code
}

// lastMessage returns the upstream id of the latest SMS.
func (e *env) lastMessage() string {
	return fmt.Sprintf("msg-%d", e.sender.count())
}

func (s *sender) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// lookup is a fake number lookup.
type lookup struct {
	calls atomic.Int32
	res   *otp.Lookup
	err   error
}

func (l *lookup) LookupNumber(context.Context, string) (*otp.Lookup, error) {
	l.calls.Add(1)
	return l.res, l.err
}

// hasher is a fast stand-in for bcrypt that counts compares; onCompare,
// when set, runs in the middle of every compare.
type hasher struct {
	compares  atomic.Int64
	onCompare func()
}

func (h *hasher) Hash(code string) (string, error) {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:]), nil
}

func (h *hasher) Compare(hash, code string) bool {
	h.compares.Add(1)
	if h.onCompare != nil {
		h.onCompare()
	}
	want, _ := h.Hash(code)
	return hash == want
}

// limiter is an in-memory fixed quota per key.
type limiter struct {
	mu    sync.Mutex
	limit int64
	n     map[string]int64
	err   error
}

func newLimiter(limit int64) *limiter { return &limiter{limit: limit, n: map[string]int64{}} }

func (l *limiter) Take(_ context.Context, key string) (otp.Quota, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return otp.Quota{}, l.err
	}
	l.n[key]++
	return l.quota(key), nil
}

func (l *limiter) Peek(_ context.Context, key string) (otp.Quota, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.quota(key), l.err
}

func (l *limiter) quota(key string) otp.Quota {
	n := l.n[key]
	return otp.Quota{Limit: l.limit, Remaining: max(l.limit-n, 0), Reached: n > l.limit, Reset: time.Unix(1, 0)}
}

func (l *limiter) count(key string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[key]
}

// env is a Service wired to fakes and a Redis.
type env struct {
	svc    *otp.Service
	store  *redisstore.Store
	rdb    redis.UniversalClient
	clock  *otptest.Clock
	sender *sender
	lookup *lookup
	hasher *hasher
	cfg    otp.Config
	events *events
}

type events struct {
	mu sync.Mutex
	n  map[otp.Event]int
}

func (e *events) add(ev otp.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n[ev]++
}

func (e *events) count(ev otp.Event) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n[ev]
}

func testConfig() otp.Config {
	cfg := otp.DefaultConfig()
	cfg.Lookup = otp.LookupOff
	return cfg
}

// newEnv builds a Service on rdb with fakes; edit adjusts the config and
// opts are applied after the test's own.
func newEnv(t testing.TB, rdb redis.UniversalClient, edit func(*otp.Config), opts ...otp.Option) *env {
	t.Helper()
	return newEnvSending(t, rdb, nil, edit, opts...)
}

// newEnvWith is newEnv with the Service sending through s instead of
// e.sender.
func newEnvWith(t testing.TB, rdb redis.UniversalClient, s otp.Sender) *env {
	t.Helper()
	return newEnvSending(t, rdb, s, nil)
}

func newEnvSending(t testing.TB, rdb redis.UniversalClient, s otp.Sender, edit func(*otp.Config), opts ...otp.Option) *env {
	t.Helper()
	e := &env{
		rdb:    rdb,
		store:  redisstore.New(rdb),
		clock:  newClock(),
		sender: &sender{},
		lookup: &lookup{res: &otp.Lookup{Carrier: "Spark", NetworkCode: "TCNZ"}},
		hasher: &hasher{},
		cfg:    testConfig(),
		events: &events{n: map[otp.Event]int{}},
	}
	if edit != nil {
		edit(&e.cfg)
	}
	all := append([]otp.Option{
		otp.WithClock(e.clock.Now),
		otp.WithHasher(e.hasher),
		otp.WithNumberLookup(e.lookup),
		otp.WithObserver(e.events.add),
	}, opts...)
	if s == nil {
		s = e.sender
	}
	svc, err := otp.NewService(e.cfg, e.store, s, all...)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	e.svc = svc
	return e
}

func (e *env) mustStart(t *testing.T, to string) *otp.Verification {
	t.Helper()
	v, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: to})
	if err != nil {
		t.Fatalf("Start(%q): %v", to, err)
	}
	return v
}

func (e *env) mustCheck(t *testing.T, id, code string) *otp.CheckResult {
	t.Helper()
	res, err := e.svc.Check(context.Background(), otp.CheckRequest{ID: id, Code: code})
	if err != nil {
		t.Fatalf("Check(%s): %v", id, err)
	}
	return res
}

// wrong returns a code of the right shape that is not code.
func wrong(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

func wantNotPending(t *testing.T, err error, want otp.Status) {
	t.Helper()
	np, ok := errors.AsType[*otp.NotPendingError](err)
	if !ok || !errors.Is(err, otp.ErrNotPending) {
		t.Fatalf("err = %v, want NotPendingError{%s}", err, want)
	}
	if np.Status != want {
		t.Fatalf("NotPendingError status = %s, want %s", np.Status, want)
	}
}

func wantLimit(t *testing.T, err error, kind error) *otp.LimitError {
	t.Helper()
	le, ok := errors.AsType[*otp.LimitError](err)
	if !ok || !errors.Is(err, kind) {
		t.Fatalf("err = %v, want LimitError of kind %v", err, kind)
	}
	return le
}
