package factor_test

import (
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/otp/factor"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore"
)

// start is a time at the start of a 30 s and a 60 s step, so a test moves
// from step to step by whole periods.
var start = time.Unix(1_800_000_000-1_800_000_000%60, 0).UTC()

const ident = "user-0001"

func key(t *testing.T, id string) factor.Key {
	t.Helper()
	k := factor.Key{ID: id, Secret: make([]byte, 32)}
	if _, err := rand.Read(k.Secret); err != nil {
		t.Fatal(err)
	}
	return k
}

func keyring(t *testing.T, keys ...factor.Key) *factor.Keyring {
	t.Helper()
	k, err := factor.NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// env is a Service on a real store, with its clock and what its observer
// heard.
type env struct {
	svc   *factor.Service
	clock *otptest.Clock
	rdb   *redis.Client
	store factor.Store

	mu      sync.Mutex
	results []string
}

type setup struct {
	cfg   factor.Config
	keys  *factor.Keyring
	clock *otptest.Clock
	store factor.Store
	opts  []factor.Option
}

func newEnv(t *testing.T, rdb *redis.Client, su setup) *env {
	t.Helper()
	if su.cfg.Issuer == "" {
		su.cfg.Issuer = "Acme"
	}
	if su.cfg.MaxAttempts == 0 {
		su.cfg.MaxAttempts = 5
	}
	if su.keys == nil {
		su.keys = keyring(t, key(t, "A"))
	}
	if su.clock == nil {
		su.clock = otptest.NewClock(start)
	}
	if su.store == nil {
		su.store = redisstore.New(rdb).Factors()
	}
	e := &env{clock: su.clock, rdb: rdb, store: su.store}
	opts := append([]factor.Option{factor.WithClock(su.clock.Now), factor.WithObserver(func(r string) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.results = append(e.results, r)
	})}, su.opts...)
	svc, err := factor.NewService(su.cfg, su.store, su.keys, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

// heard returns the observer's results so far and forgets them.
func (e *env) heard() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.results
	e.results = nil
	return r
}

func (e *env) enroll(t *testing.T, req factor.EnrollRequest) *factor.Enrollment {
	t.Helper()
	if req.Label == "" {
		req.Label = "phone"
	}
	en, err := e.svc.Enroll(context.Background(), ident, req)
	if err != nil {
		t.Fatalf("Enroll: %v", err)
	}
	return en
}

// code is the authenticator app's code of en at the clock's time plus
// offset steps, computed by pquerna/otp from the secret as the app would.
func (e *env) code(t *testing.T, en *factor.Enrollment, offset int) string {
	t.Helper()
	f := en.Factor
	at := e.clock.Now().Add(time.Duration(offset*f.Period) * time.Second)
	alg := map[factor.Algorithm]otp.Algorithm{factor.SHA1: otp.AlgorithmSHA1, factor.SHA256: otp.AlgorithmSHA256, factor.SHA512: otp.AlgorithmSHA512}[f.Algorithm]
	c, err := totp.GenerateCodeCustom(en.Secret, at, totp.ValidateOpts{Period: uint(f.Period), Digits: otp.Digits(f.Digits), Algorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrong is a code of en's length that is not its code at any step within
// two of now.
func (e *env) wrong(t *testing.T, en *factor.Enrollment) string {
	t.Helper()
	near := map[string]bool{}
	for off := -2; off <= 2; off++ {
		near[e.code(t, en, off)] = true
	}
	for n := 0; ; n++ {
		c := strings.Repeat("0", en.Factor.Digits-1) + string(rune('0'+n))
		if !near[c] {
			return c
		}
	}
}

// enrolled is a verified factor and the identity's first recovery codes.
func (e *env) enrolled(t *testing.T, req factor.EnrollRequest) (*factor.Enrollment, []string) {
	t.Helper()
	en := e.enroll(t, req)
	res, err := e.svc.Verify(context.Background(), ident, en.Factor.ID, e.code(t, en, 0))
	if err != nil || !res.Valid {
		t.Fatalf("Verify = %+v, %v; want valid", res, err)
	}
	e.heard()
	return en, res.RecoveryCodes
}

func (e *env) challenge(t *testing.T, req factor.ChallengeRequest) *factor.ChallengeResult {
	t.Helper()
	res, err := e.svc.Challenge(context.Background(), ident, req)
	if err != nil {
		t.Fatalf("Challenge: %v", err)
	}
	return res
}
