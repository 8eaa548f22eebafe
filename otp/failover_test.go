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
	"github.com/redis/go-redis/v9"
)

// Errors of the three classes otp.Sender documents.
var (
	errNotSent  = fmt.Errorf("%w: HTTP 503", otp.ErrUpstream)
	errMaybe    = fmt.Errorf("%w: %w: timeout", otp.ErrUpstream, otp.ErrMaybeSent)
	errBadPhone = fmt.Errorf("%w: 4002", otp.ErrInvalidPhone)
	errHere     = fmt.Errorf("%w: %w: 4031", otp.ErrUpstream, otp.ErrRefusedHere)
)

type outcome struct {
	sender  string
	outcome otp.SendOutcome
}

type outcomes struct {
	mu  sync.Mutex
	got []outcome
}

func (o *outcomes) add(sender string, out otp.SendOutcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, outcome{sender, out})
}

func (o *outcomes) take() []outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	got := o.got
	o.got = nil
	return got
}

// failover builds a Failover over three fake senders a, b and c.
func failover(t *testing.T, cooldown time.Duration) (*otp.Failover, map[string]*sender, *outcomes, func(time.Duration)) {
	t.Helper()
	clock := newClock()
	senders := map[string]*sender{"a": {}, "b": {}, "c": {}}
	obs := &outcomes{}
	f, err := otp.NewFailover([]otp.NamedSender{
		{Name: "a", Sender: senders["a"]}, {Name: "b", Sender: senders["b"]}, {Name: "c", Sender: senders["c"]},
	}, cooldown, otp.WithFailoverClock(clock.Now), otp.WithSendObserver(obs.add))
	if err != nil {
		t.Fatal(err)
	}
	return f, senders, obs, clock.Advance
}

func sendOnce(t *testing.T, f *otp.Failover) (otp.SendResult, error) {
	t.Helper()
	return f.SendCode(context.Background(), otp.SendRequest{To: "6421234567", Code: "123456", Text: "123456 is your code"})
}

func counts(s map[string]*sender) [3]int {
	return [3]int{s["a"].count(), s["b"].count(), s["c"].count()}
}

func TestFailoverRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		errA, errB error
		wantSender string
		wantErr    error // nil for a send that went out
		wantMaybe  bool
		wantSent   [3]int
		want       []outcome
		// wantSkipped lists the senders in their skip window afterwards.
		wantSkipped []string
	}{
		{
			name: "first sends", wantSender: "a", wantSent: [3]int{1, 0, 0},
			want: []outcome{{"a", otp.OutcomeSent}},
		},
		{
			name: "outage fails over", errA: errNotSent, wantSender: "b", wantSent: [3]int{0, 1, 0},
			want:        []outcome{{"a", otp.OutcomeFailedOver}, {"b", otp.OutcomeSent}},
			wantSkipped: []string{"a"},
		},
		{
			name: "two outages fail over twice", errA: errNotSent, errB: errNotSent, wantSender: "c", wantSent: [3]int{0, 0, 1},
			want:        []outcome{{"a", otp.OutcomeFailedOver}, {"b", otp.OutcomeFailedOver}, {"c", otp.OutcomeSent}},
			wantSkipped: []string{"a", "b"},
		},
		{
			name: "refused for this request fails over and skips nobody", errA: errHere, wantSender: "b", wantSent: [3]int{0, 1, 0},
			want: []outcome{{"a", otp.OutcomeFailedOver}, {"b", otp.OutcomeSent}},
		},
		{
			name: "maybe sent stops", errA: errMaybe, wantErr: otp.ErrUpstream, wantMaybe: true,
			want: []outcome{{"a", otp.OutcomeMaybeSent}},
		},
		{
			name: "an error of no class may have sent", errA: errors.New("surprise"), wantErr: otp.ErrUpstream, wantMaybe: true,
			want: []outcome{{"a", otp.OutcomeMaybeSent}},
		},
		{
			name: "maybe sent after a failover stops", errA: errNotSent, errB: errMaybe, wantErr: otp.ErrUpstream, wantMaybe: true,
			want:        []outcome{{"a", otp.OutcomeFailedOver}, {"b", otp.OutcomeMaybeSent}},
			wantSkipped: []string{"a"},
		},
		{
			name: "invalid number stops and skips nobody", errA: errBadPhone, wantErr: otp.ErrInvalidPhone,
			want: []outcome{{"a", otp.OutcomeFailed}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, s, obs, _ := failover(t, 30*time.Second)
			s["a"].fail(tc.errA)
			s["b"].fail(tc.errB)
			res, err := sendOnce(t, f)
			switch {
			case tc.wantErr == nil && (err != nil || res.Sender != tc.wantSender):
				t.Errorf("SendCode = %+v, %v; want sent by %s", res, err, tc.wantSender)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("SendCode error = %v, want %v", err, tc.wantErr)
			case errors.Is(err, otp.ErrMaybeSent) != tc.wantMaybe:
				t.Errorf("SendCode error %v matches ErrMaybeSent = %v, want %v", err, !tc.wantMaybe, tc.wantMaybe)
			}
			if got := counts(s); got != tc.wantSent {
				t.Errorf("SMS taken by a, b, c = %v, want %v", got, tc.wantSent)
			}
			if got := obs.take(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("outcomes = %v, want %v", got, tc.want)
			}
			var skipped []string
			for _, h := range f.Health() {
				if !h.Healthy() {
					skipped = append(skipped, h.Name)
				}
			}
			if fmt.Sprint(skipped) != fmt.Sprint(tc.wantSkipped) {
				t.Errorf("skipped = %v, want %v", skipped, tc.wantSkipped)
			}
		})
	}
}

func TestFailoverAllDown(t *testing.T) {
	t.Parallel()
	f, s, obs, _ := failover(t, 30*time.Second)
	for _, name := range []string{"a", "b", "c"} {
		s[name].fail(errNotSent)
	}
	_, err := sendOnce(t, f)
	if !errors.Is(err, otp.ErrUpstream) || errors.Is(err, otp.ErrMaybeSent) {
		t.Fatalf("SendCode with every sender down = %v; want ErrUpstream and not ErrMaybeSent", err)
	}
	want := []outcome{{"a", otp.OutcomeFailedOver}, {"b", otp.OutcomeFailedOver}, {"c", otp.OutcomeFailed}}
	if got := obs.take(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes = %v, want %v", got, want)
	}
	// Every sender is skipped now; the next send still tries them all, in
	// order, rather than refusing without a try.
	s["b"].fail(nil)
	res, err := sendOnce(t, f)
	if err != nil || res.Sender != "b" {
		t.Fatalf("SendCode with every sender skipped = %+v, %v; want b, which is back", res, err)
	}
	for _, h := range f.Health() {
		if h.Healthy() != (h.Name == "b") {
			t.Errorf("%s healthy = %v after b sent", h.Name, h.Healthy())
		}
	}
}

func TestFailoverSkipWindow(t *testing.T) {
	t.Parallel()
	f, s, obs, advance := failover(t, 30*time.Second)
	s["a"].fail(errNotSent)
	if res, err := sendOnce(t, f); err != nil || res.Sender != "b" {
		t.Fatalf("first send = %+v, %v; want b", res, err)
	}
	s["a"].fail(nil) // a is back, but is not asked until its window ends
	obs.take()
	for range 3 {
		advance(9 * time.Second)
		if res, err := sendOnce(t, f); err != nil || res.Sender != "b" {
			t.Fatalf("send within the skip window = %+v, %v; want b", res, err)
		}
	}
	want := []outcome{{"b", otp.OutcomeSent}, {"b", otp.OutcomeSent}, {"b", otp.OutcomeSent}}
	if got := obs.take(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes within the window = %v, want %v (a never tried)", got, want)
	}
	advance(3 * time.Second) // 30 s after the refusal
	if res, err := sendOnce(t, f); err != nil || res.Sender != "a" {
		t.Fatalf("send after the skip window = %+v, %v; want a again", res, err)
	}
	if got := counts(s); got != [3]int{1, 4, 0} {
		t.Errorf("SMS taken by a, b, c = %v, want [1 4 0]", got)
	}
}

func TestFailoverHonoursBackoff(t *testing.T) {
	t.Parallel()
	f, s, _, advance := failover(t, 30*time.Second)
	s["a"].fail(&otp.BackoffError{After: 2 * time.Minute, Err: errNotSent})
	if res, err := sendOnce(t, f); err != nil || res.Sender != "b" {
		t.Fatalf("send = %+v, %v; want b", res, err)
	}
	s["a"].fail(nil)
	advance(time.Minute)
	if res, _ := sendOnce(t, f); res.Sender != "b" {
		t.Errorf("a minute into a 2-minute backoff, sent by %s; want b", res.Sender)
	}
	advance(time.Minute)
	if res, _ := sendOnce(t, f); res.Sender != "a" {
		t.Errorf("after the backoff, sent by %s; want a", res.Sender)
	}
}

func TestFailoverStopsWhenTheBudgetIsSpent(t *testing.T) {
	t.Parallel()
	f, s, obs, _ := failover(t, 30*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	s["a"].onSend = cancel
	s["a"].fail(errNotSent)
	_, err := f.SendCode(ctx, otp.SendRequest{To: "6421234567", Code: "123456"})
	if !errors.Is(err, otp.ErrUpstream) || errors.Is(err, otp.ErrMaybeSent) {
		t.Fatalf("SendCode = %v; want a failure that sent nothing", err)
	}
	if got := counts(s); got != [3]int{0, 0, 0} {
		t.Errorf("SMS taken = %v; want none: the budget ended before b", got)
	}
	if got, want := obs.take(), []outcome{{"a", otp.OutcomeFailed}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes = %v, want %v", got, want)
	}
	for _, h := range f.Health() {
		if !h.Healthy() {
			t.Errorf("%s skipped after failing only because the budget ran out", h.Name)
		}
	}
}

func TestNewFailoverRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		senders  []otp.NamedSender
		cooldown time.Duration
	}{
		{"no senders", nil, time.Second},
		{"unnamed", []otp.NamedSender{{Sender: &sender{}}}, time.Second},
		{"nil sender", []otp.NamedSender{{Name: "a"}}, time.Second},
		{"twice", []otp.NamedSender{{Name: "a", Sender: &sender{}}, {Name: "a", Sender: &sender{}}}, time.Second},
		{"negative cooldown", []otp.NamedSender{{Name: "a", Sender: &sender{}}}, -time.Second},
	} {
		if _, err := otp.NewFailover(tc.senders, tc.cooldown); err == nil {
			t.Errorf("%s: NewFailover succeeded", tc.name)
		}
	}
}

// TestServiceWithFailover drives the rules through the Service on Redis:
// the sender of the code is kept, a failed-over start leaves one SMS, and
// the outcome of a failure decides the cooldown.
func TestServiceWithFailover(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		a, b := &sender{}, &sender{}
		f, err := otp.NewFailover([]otp.NamedSender{{Name: "connexus", Sender: a}, {Name: "websms", Sender: b}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvWith(t, c, f)
		a.fail(errNotSent)
		v := e.mustStart(t, nzLocal)
		if v.Sender != "websms" || a.count() != 0 || b.count() != 1 {
			t.Fatalf("start with connexus down: sender %q, SMS %d+%d; want websms, 0+1", v.Sender, a.count(), b.count())
		}
		if v.MessageID != "websms:msg-1" {
			t.Errorf("message ref = %q, want the sender's name in front", v.MessageID)
		}
		if found, err := e.svc.RecordDelivery(ctx, "websms", "msg-1", otp.Delivery{Status: "delivered"}); err != nil || !found {
			t.Fatalf("delivery report by websms = %v, %v", found, err)
		}
		if found, _ := e.svc.RecordDelivery(ctx, "smsnexus", "msg-1", otp.Delivery{Status: "failed"}); found {
			t.Error("another sender's message with the same id found the verification")
		}
		if found, _ := e.svc.RecordDelivery(ctx, "connexus", "websms:msg-1", otp.Delivery{Status: "failed"}); found {
			t.Error("a Connexus report naming another sender's ref found the verification")
		}
		got, err := e.svc.Get(ctx, v.ID)
		if err != nil || got.Sender != "websms" || got.Delivery == nil || got.Delivery.Status != "delivered" {
			t.Fatalf("Get = %+v, %v; want sender websms, delivered", got, err)
		}
		a.fail(nil)
		e.clock.Advance(30 * time.Second)
		r, created, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal})
		if err != nil || created || r.Sender != "connexus" || r.Sends != 2 {
			t.Fatalf("resend = %+v, created=%v, %v; want the pending one renewed by connexus", r, created, err)
		}
		if r.Delivery != nil {
			t.Errorf("resend kept the first SMS's delivery %+v", r.Delivery)
		}
	})
}

func TestServiceSenderFailures(t *testing.T) {
	for _, tc := range []struct {
		name         string
		err          error
		want         error
		wantCooldown bool
	}{
		{"not sent", errNotSent, otp.ErrUpstream, false},
		{"maybe sent", errMaybe, otp.ErrMaybeSent, true},
		{"invalid number", errBadPhone, otp.ErrInvalidPhone, false},
		{"no class", errors.New("surprise"), otp.ErrMaybeSent, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := redistest.Mini(t)
			ctx := context.Background()
			e := newEnv(t, c, nil)
			e.sender.fail(tc.err)
			if _, _, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal}); !errors.Is(err, tc.want) {
				t.Fatalf("Start = %v, want %v", err, tc.want)
			}
			e.sender.fail(nil)
			_, _, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal})
			if got := errors.Is(err, otp.ErrCooldown); got != tc.wantCooldown {
				t.Errorf("start right after: %v; cooldown = %v, want %v", err, got, tc.wantCooldown)
			}
		})
	}
}
