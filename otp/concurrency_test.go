package otp_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
)

// parallel runs fn n times at once and waits for all of them.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// Each compared guess owns the attempt it reserved: 50 parallel wrong
// guesses answer attempts_left 4, 3, 2, 1 and 0 once each, the last as
// max_attempts_reached, and the rest are refused without a compare.
func TestParallelWrongGuessesAreCappedAtMaxAttempts(t *testing.T) {
	c := redistest.Real(t)
	e := newEnv(t, c, nil)
	v := e.mustStart(t, nzLocal)
	code := e.sender.last(t)
	var mu sync.Mutex
	left := map[int]int{} // attempts_left answered -> how many answers
	var refused atomic.Int32
	parallel(50, func(int) {
		res, err := e.svc.Check(context.Background(), otp.CheckRequest{ID: v.ID, Code: wrong(code)})
		switch {
		case err == nil && !res.Valid:
			if (res.AttemptsLeft == 0) != (res.Status == otp.StatusMaxAttempts) {
				t.Errorf("wrong guess = %+v: only the one with 0 left is max_attempts_reached", res)
			}
			mu.Lock()
			left[res.AttemptsLeft]++
			mu.Unlock()
		case errors.Is(err, otp.ErrNotPending):
			refused.Add(1)
		default:
			t.Errorf("wrong guess = %+v, %v", res, err)
		}
	})
	if n := e.hasher.compares.Load(); n > int64(e.cfg.MaxAttempts) {
		t.Fatalf("%d guesses compared, max attempts %d", n, e.cfg.MaxAttempts)
	}
	for k := range e.cfg.MaxAttempts {
		if left[k] != 1 {
			t.Errorf("answers by attempts left = %v, want each of 0..%d once", left, e.cfg.MaxAttempts-1)
			break
		}
	}
	if refused.Load() != 50-int32(e.cfg.MaxAttempts) {
		t.Errorf("refused %d, want %d", refused.Load(), 50-e.cfg.MaxAttempts)
	}
	got, _ := e.svc.Get(context.Background(), v.ID)
	if got.Status != otp.StatusMaxAttempts || got.AttemptsLeft != 0 {
		t.Errorf("after 50 wrong guesses: %s with %d left", got.Status, got.AttemptsLeft)
	}
}

func TestParallelRightGuessesApproveOnce(t *testing.T) {
	c := redistest.Real(t)
	e := newEnv(t, c, nil)
	v := e.mustStart(t, nzLocal)
	code := e.sender.last(t)
	var approved atomic.Int32
	parallel(20, func(int) {
		res, err := e.svc.Check(context.Background(), otp.CheckRequest{ID: v.ID, Code: code})
		if err == nil && res.Valid {
			approved.Add(1)
			return
		}
		if np, ok := errors.AsType[*otp.NotPendingError](err); !ok || (np.Status != otp.StatusApproved && np.Status != otp.StatusMaxAttempts) {
			t.Errorf("right guess that did not approve = %+v, %v", res, err)
		}
	})
	if approved.Load() != 1 {
		t.Fatalf("%d approvals, want 1", approved.Load())
	}
	if n := e.hasher.compares.Load(); n > int64(e.cfg.MaxAttempts) {
		t.Errorf("%d compares, max attempts %d", n, e.cfg.MaxAttempts)
	}
	if e.events.count(otp.EventApproved) != 1 {
		t.Errorf("approved events = %d", e.events.count(otp.EventApproved))
	}
}

func TestParallelStartsSendOneSMS(t *testing.T) {
	c := redistest.Real(t)
	e := newEnv(t, c, nil)
	var created, cooled atomic.Int32
	parallel(30, func(int) {
		_, isNew, err := e.svc.Start(context.Background(), otp.StartRequest{To: nzLocal})
		switch {
		case err == nil && isNew:
			created.Add(1)
		case errors.Is(err, otp.ErrCooldown):
			cooled.Add(1)
		default:
			t.Errorf("parallel start = %v, %v", isNew, err)
		}
	})
	if e.sender.count() != 1 || created.Load() != 1 || cooled.Load() != 29 {
		t.Fatalf("%d SMS, %d created, %d in cooldown; want 1, 1, 29", e.sender.count(), created.Load(), cooled.Load())
	}
}

func TestResendDuringACompareInvalidatesTheOldCode(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		codes := []string{"111111", "222222"}
		var n atomic.Int32
		e := newEnv(t, c, nil, otp.WithCodeGenerator(func(int) (string, error) { return codes[n.Add(1)-1], nil }))
		v := e.mustStart(t, nzLocal)
		var once sync.Once
		e.hasher.onCompare = func() {
			once.Do(func() {
				e.clock.Advance(time.Minute)
				if _, created, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal}); err != nil || created {
					t.Errorf("resend during compare = %v, %v", created, err)
				}
			})
		}
		res := e.mustCheck(t, v.ID, "111111")
		if res.Valid || res.Status != otp.StatusPending || res.AttemptsLeft != 4 {
			t.Fatalf("old code compared while a resend replaced it = %+v; want a wrong-code answer", res)
		}
		if res := e.mustCheck(t, v.ID, "222222"); !res.Valid {
			t.Fatalf("new code = %+v", res)
		}
	})
}

func TestRedisDown(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServer(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	e := newEnv(t, c, func(cfg *otp.Config) { cfg.Lookup = otp.LookupOn })
	v := e.mustStart(t, nzLocal)
	code := e.sender.last(t)

	// Redis dies while the guess is compared: the guess must not approve.
	e.hasher.onCompare = srv.Kill
	if res, err := e.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: code}); !errors.Is(err, otp.ErrUnavailable) {
		t.Fatalf("check while Redis dies = %+v, %v; want ErrUnavailable", res, err)
	}
	e.hasher.onCompare = nil
	compares := e.hasher.compares.Load()
	calls := []struct {
		name string
		err  error
	}{
		{"start", startErr(e.svc.Start(ctx, otp.StartRequest{To: "021 999 9999"}))},
		{"check", errOf(e.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: code}))},
		{"check by to", errOf(e.svc.Check(ctx, otp.CheckRequest{To: nzLocal, Code: code}))},
		{"get", errOf(e.svc.Get(ctx, v.ID))},
		{"cancel", errOf(e.svc.Cancel(ctx, v.ID))},
		{"delivery", errOf(e.svc.RecordDelivery(ctx, otp.SenderConnexus, "msg-1", otp.Delivery{Status: "delivered"}))},
		{"ready", e.svc.Ready(ctx)},
	}
	for _, call := range calls {
		if !errors.Is(call.err, otp.ErrUnavailable) {
			t.Errorf("%s with Redis down = %v, want ErrUnavailable", call.name, call.err)
		}
	}
	if e.sender.count() != 1 {
		t.Errorf("%d SMS sent, want only the one before Redis died", e.sender.count())
	}
	if e.hasher.compares.Load() != compares {
		t.Error("a guess was compared with Redis down")
	}
	if e.events.count(otp.EventApproved) != 0 {
		t.Error("approved with Redis down")
	}
}

func startErr(_ *otp.Verification, _ bool, err error) error { return err }

// bcryptCounter is the real bcrypt hasher at its lowest cost, counting
// compares, so guesses stay in flight as long as real ones do.
type bcryptCounter struct{ compares atomic.Int64 }

func (h *bcryptCounter) Hash(code string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(code), bcrypt.MinCost)
	return string(b), err
}

func (h *bcryptCounter) Compare(hash, code string) bool {
	h.compares.Add(1)
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(code)) == nil
}

func TestParallelMixedGuessesWithBcrypt(t *testing.T) {
	c := redistest.Real(t)
	h := &bcryptCounter{}
	e := newEnv(t, c, nil, otp.WithHasher(h))
	v := e.mustStart(t, nzLocal)
	code := e.sender.last(t)
	var approved atomic.Int32
	parallel(50, func(i int) {
		guess := code
		if i%2 == 0 {
			guess = wrong(code)
		}
		res, err := e.svc.Check(context.Background(), otp.CheckRequest{ID: v.ID, Code: guess})
		switch {
		case err == nil && res.Valid:
			approved.Add(1)
		case err == nil, errors.Is(err, otp.ErrNotPending):
		default:
			t.Errorf("guess = %+v, %v", res, err)
		}
	})
	if n := h.compares.Load(); n > int64(e.cfg.MaxAttempts) {
		t.Fatalf("%d compares, max attempts %d", n, e.cfg.MaxAttempts)
	}
	got, _ := e.svc.Get(context.Background(), v.ID)
	if approved.Load() > 1 || (approved.Load() == 1) != (got.Status == otp.StatusApproved) {
		t.Fatalf("%d approvals, final status %s", approved.Load(), got.Status)
	}
	if got.Status != otp.StatusApproved && got.Status != otp.StatusMaxAttempts {
		t.Errorf("final status %s, want approved or max_attempts_reached", got.Status)
	}
}

func TestParallelStartsNeverOverrunTheSendQuota(t *testing.T) {
	c := redistest.Real(t)
	sends := newLimiter(3)
	e := newEnv(t, c, func(cfg *otp.Config) {
		cfg.ResendCooldown = 0
		cfg.MaxSends = 100
	}, otp.WithLimits(otp.Limits{SendsPerPhone: sends}))
	parallel(16, func(int) {
		for range 5 {
			_, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: nzLocal})
			if err != nil && !errors.Is(err, otp.ErrCooldown) && !errors.Is(err, otp.ErrRateLimited) {
				t.Errorf("parallel start = %v", err)
			}
		}
	})
	if got := e.sender.count(); got != 3 {
		t.Errorf("%d SMS sent under a quota of 3", got)
	}
	if got := sends.count(nzNumber); got != 3 {
		t.Errorf("quota counted %d sends, want 3", got)
	}
}

// Right guesses, approvals without a code and cancels racing on one
// verification end it exactly once: one caller wins, its status sticks,
// and every other caller is refused with an ended status, round after
// round. In odd rounds all start at once, and the ends, which take fewer
// round trips, mostly win; in even ones the ends wait until a guess is
// being compared, so the guesses win too.
func TestParallelChecksApprovesAndCancelsEndOnce(t *testing.T) {
	c := redistest.Real(t)
	e := newEnv(t, c, func(cfg *otp.Config) { cfg.MaxAttempts = 8 })
	ctx := context.Background()
	for round := range 10 {
		e.clock.Advance(time.Minute) // past the previous round's cooldown
		v := e.mustStart(t, nzLocal)
		code := e.sender.last(t)
		before := e.events.count(otp.EventApproved) + e.events.count(otp.EventCanceled)
		comparing := make(chan struct{})
		var once sync.Once
		e.hasher.onCompare = func() { once.Do(func() { close(comparing) }) }
		if round%2 == 1 {
			close(comparing)
			once.Do(func() {})
		}
		var mu sync.Mutex
		won := map[string]otp.Status{}
		refused := 0
		parallel(30, func(i int) {
			var kind string
			var status otp.Status
			var err error
			switch i % 3 {
			case 0:
				kind = "check"
				var res *otp.CheckResult
				res, err = e.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: code})
				if err == nil {
					if !res.Valid {
						t.Errorf("right guess = %+v", res)
					}
					status = res.Status
				}
			case 1:
				<-comparing
				kind = "approve"
				var got *otp.Verification
				if got, err = e.svc.Approve(ctx, v.ID); err == nil {
					status = got.Status
				}
			default:
				<-comparing
				kind = "cancel"
				var got *otp.Verification
				if got, err = e.svc.Cancel(ctx, v.ID); err == nil {
					status = got.Status
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won[kind] = status
				return
			}
			// A guess refused at its reservation because the others hold
			// every attempt sees max attempts; every other refusal sees the end.
			np, ok := errors.AsType[*otp.NotPendingError](err)
			if !ok || np.Status == otp.StatusPending || np.Status == otp.StatusExpired {
				t.Errorf("round %d: %s = %v, want a refusal with the ended status", round, kind, err)
			}
			refused++
		})
		got, err := e.svc.Get(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(won) != 1 || refused != 29 {
			t.Fatalf("round %d: winners %v, %d refused; want one winner and 29 refused", round, won, refused)
		}
		for kind, status := range won {
			want := map[string]otp.Status{"check": otp.StatusApproved, "approve": otp.StatusApproved, "cancel": otp.StatusCanceled}[kind]
			if status != want || got.Status != want {
				t.Fatalf("round %d: %s won with %s, final status %s; want %s", round, kind, status, got.Status, want)
			}
		}
		if n := e.events.count(otp.EventApproved) + e.events.count(otp.EventCanceled) - before; n != 1 {
			t.Errorf("round %d: %d approved or canceled events, want 1", round, n)
		}
	}
	if n := e.hasher.compares.Load(); n > int64(10*e.cfg.MaxAttempts) {
		t.Errorf("%d compares in 10 rounds, max attempts %d each", n, e.cfg.MaxAttempts)
	}
}
