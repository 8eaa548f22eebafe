package otp_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// funcSender is an upstream whose behaviour each test writes.
type funcSender func(ctx context.Context, req otp.SendRequest) (otp.SendResult, error)

func (f funcSender) SendCode(ctx context.Context, req otp.SendRequest) (otp.SendResult, error) {
	return f(ctx, req)
}

// holdSpy records the hold of every send reservation.
type holdSpy struct {
	otp.Store
	mu    sync.Mutex
	holds []time.Duration
}

func (h *holdSpy) ReserveSend(ctx context.Context, r otp.SendReservation) (string, error) {
	h.mu.Lock()
	h.holds = append(h.holds, r.Hold)
	h.mu.Unlock()
	return h.Store.ReserveSend(ctx, r)
}

func newSendEnv(t *testing.T, sender otp.Sender, opts ...otp.Option) (*env, *holdSpy) {
	t.Helper()
	c, _ := redistest.Mini(t)
	e := newEnv(t, c, nil)
	spy := &holdSpy{Store: e.store}
	all := append([]otp.Option{otp.WithClock(e.clock.Now), otp.WithHasher(e.hasher), otp.WithObserver(e.events.add)}, opts...)
	svc, err := otp.NewService(e.cfg, spy, sender, all...)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	e.svc = svc
	return e, spy
}

// A send must end before its reservation's hold lapses, or a second start
// could reserve and send inside the cooldown.
func TestSendEndsBeforeItsHoldLapses(t *testing.T) {
	var deadline time.Time
	var hasDeadline bool
	var called time.Time
	e, spy := newSendEnv(t, funcSender(func(ctx context.Context, req otp.SendRequest) (otp.SendResult, error) {
		called = time.Now()
		deadline, hasDeadline = ctx.Deadline()
		return otp.SendResult{MessageID: "m1", Code: req.Code}, nil
	}))
	e.mustStart(t, nzLocal)
	if !hasDeadline {
		t.Fatal("SendCode ran without a deadline")
	}
	if got := deadline.Sub(called); got > otp.MaxSendTime {
		t.Errorf("send deadline %v ahead, want at most MaxSendTime %v", got, otp.MaxSendTime)
	}
	if len(spy.holds) != 1 || spy.holds[0] < otp.MaxSendTime+10*time.Second {
		t.Errorf("reservation holds = %v, want one of at least MaxSendTime + 10s", spy.holds)
	}
	if otp.MaxStartTime <= otp.MaxSendTime {
		t.Errorf("MaxStartTime %v does not cover MaxSendTime %v", otp.MaxStartTime, otp.MaxSendTime)
	}
}

func TestHungSendIsCutOffByTheBudget(t *testing.T) {
	e, _ := newSendEnv(t, funcSender(func(ctx context.Context, _ otp.SendRequest) (otp.SendResult, error) {
		select {
		case <-ctx.Done():
			return otp.SendResult{}, ctx.Err()
		case <-time.After(10 * time.Second):
			return otp.SendResult{}, errors.New("send was not cut off")
		}
	}), otp.WithSendBudget(20*time.Millisecond))
	begin := time.Now()
	_, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: nzLocal})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, otp.ErrUpstream) {
		t.Fatalf("Start with a hung upstream = %v, want ErrUpstream from the deadline", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("Start took %v with a 20ms send budget", d)
	}
}

// A caller that hangs up after Connexus accepted the SMS must not undo it:
// the code is stored and the cooldown holds.
func TestCallerHangingUpMidSendKeepsTheSMS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sends := 0
	e, _ := newSendEnv(t, funcSender(func(sctx context.Context, req otp.SendRequest) (otp.SendResult, error) {
		sends++
		cancel() // the caller goes away while the upstream sends
		if err := sctx.Err(); err != nil {
			return otp.SendResult{}, fmt.Errorf("read answer: %w", err)
		}
		return otp.SendResult{MessageID: fmt.Sprint("m", sends), Code: req.Code}, nil
	}))
	v, created, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal})
	if err != nil || !created {
		t.Fatalf("Start whose caller hung up = %v, %v; want the SMS recorded", created, err)
	}
	if _, err := e.svc.Get(context.Background(), v.ID); err != nil {
		t.Errorf("Get after the hang-up: %v", err)
	}
	_, _, err = e.svc.Start(context.Background(), otp.StartRequest{To: nzLocal})
	wantLimit(t, err, otp.ErrCooldown)
	if sends != 1 {
		t.Errorf("upstream sends = %d, want 1", sends)
	}
}

func TestUnconfirmedSendHoldsTheCooldown(t *testing.T) {
	var fail error
	sends := 0
	sendQuota := newLimiter(10)
	e, _ := newSendEnv(t, funcSender(func(_ context.Context, req otp.SendRequest) (otp.SendResult, error) {
		sends++
		if fail != nil {
			return otp.SendResult{}, fail
		}
		return otp.SendResult{MessageID: fmt.Sprint("m", sends), Code: req.Code}, nil
	}), otp.WithLimits(otp.Limits{SendsPerPhone: sendQuota}))
	ctx := context.Background()

	fail = fmt.Errorf("send code: %w: %w: read: connection reset", otp.ErrUpstream, otp.ErrMaybeSent)
	_, _, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal})
	if !errors.Is(err, otp.ErrUpstream) || !errors.Is(err, otp.ErrMaybeSent) {
		t.Fatalf("Start = %v, want ErrUpstream and ErrMaybeSent", err)
	}
	fail = nil
	_, _, err = e.svc.Start(ctx, otp.StartRequest{To: nzLocal})
	le := wantLimit(t, err, otp.ErrCooldown)
	if want := e.clock.Now().Add(e.cfg.ResendCooldown); le.Reset.After(want) {
		t.Errorf("cooldown after an unconfirmed send resets at %v, want by %v", le.Reset, want)
	}
	if sends != 1 {
		t.Fatalf("upstream sends = %d inside the cooldown of an unconfirmed SMS, want 1", sends)
	}
	if n := sendQuota.count(nzNumber); n != 1 {
		t.Errorf("per-number send quota used = %d after an unconfirmed SMS, want 1", n)
	}
	if _, err := e.svc.Check(ctx, otp.CheckRequest{To: nzLocal, Code: "123456"}); !errors.Is(err, otp.ErrNotFound) {
		t.Errorf("check after an unconfirmed send = %v, want ErrNotFound: nothing was stored", err)
	}
	e.clock.Advance(e.cfg.ResendCooldown)
	if _, created, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal}); err != nil || !created {
		t.Fatalf("start after the cooldown = %v, %v", created, err)
	}
}

// A definite failure (an HTTP answer, a refused connection) frees the
// number at once.
func TestDefiniteSendFailureReleases(t *testing.T) {
	fail := fmt.Errorf("send code: %w: HTTP 500", otp.ErrUpstream)
	e, _ := newSendEnv(t, funcSender(func(_ context.Context, req otp.SendRequest) (otp.SendResult, error) {
		if fail != nil {
			return otp.SendResult{}, fail
		}
		return otp.SendResult{MessageID: "m", Code: req.Code}, nil
	}))
	if _, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: nzLocal}); !errors.Is(err, otp.ErrUpstream) || errors.Is(err, otp.ErrMaybeSent) {
		t.Fatalf("Start = %v, want a definite ErrUpstream", err)
	}
	fail = nil
	if _, created, err := e.svc.Start(context.Background(), otp.StartRequest{To: nzLocal}); err != nil || !created {
		t.Fatalf("start right after a definite failure = %v, %v; want no cooldown", created, err)
	}
}
