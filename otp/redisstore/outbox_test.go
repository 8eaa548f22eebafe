package redisstore_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/events"
	"github.com/otpgate/otpgate/events/delivery"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// resend sends v's number a new code at now, renewing v.
func resend(t *testing.T, s *redisstore.Store, v *otp.Verification, now time.Time) *otp.Verification {
	t.Helper()
	ctx := context.Background()
	token := fmt.Sprintf("tok-%d", now.UnixMilli())
	r := reservation(token, now)
	r.To = v.To
	if _, err := s.ReserveSend(ctx, r); err != nil {
		t.Fatalf("ReserveSend: %v", err)
	}
	// Each code has a hash of its own; an equal one means a replayed commit.
	cm := commit(now, v.ID, fmt.Sprintf("ver_%032x", now.UnixMilli()), fmt.Sprint(fakeHash, now.UnixMilli()), "", 5)
	cm.To, cm.Token = v.To, token
	got, created, err := s.CommitSend(ctx, cm)
	if err != nil || created {
		t.Fatalf("resend CommitSend = %v, %v", created, err)
	}
	return got
}

// approve approves v with a right guess at now.
func approve(t *testing.T, s *redisstore.Store, v *otp.Verification, now time.Time) {
	t.Helper()
	ctx := context.Background()
	a, err := s.ReserveAttempt(ctx, v.ID, fmt.Sprintf("g-%d", now.UnixMilli()), now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.ResolveAttempt(ctx, a, true, now, time.Hour, cooldown); err != nil || !res.Valid {
		t.Fatalf("approve = %+v, %v", res, err)
	}
}

// byVerification indexes claimed events by their verification's id.
func byVerification(t *testing.T, ps []delivery.Pending) map[string]delivery.Pending {
	t.Helper()
	m := make(map[string]delivery.Pending, len(ps))
	for _, p := range ps {
		if _, dup := m[p.Verification.ID]; dup {
			t.Fatalf("two events of %s out at once: %v", p.Verification.ID, types(ps))
		}
		m[p.Verification.ID] = p
	}
	return m
}

// TestEventsOfOneVerificationGoOneAtATime: a verification's next event is
// only handed out once the one before it is done; another verification's
// events do not wait for it.
func TestEventsOfOneVerificationGoOneAtATime(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := newEventStore(c)
		a := mustCreate(t, s, 5)
		resend(t, s, a, t0.Add(time.Minute))
		approve(t, s, a, t0.Add(2*time.Minute))
		b := createFor(t, s, "61400000001", 7)
		now := t0.Add(3 * time.Minute)

		first := byVerification(t, claim(t, s, "c1", now))
		if len(first) != 2 || first[a.ID].Type != events.TypePending || first[a.ID].Verification.Sends != 1 ||
			first[b.ID].Type != events.TypePending {
			t.Fatalf("first claim = %v, want the first send of each", first)
		}
		if got := claim(t, s, "c2", now); len(got) != 0 {
			t.Fatalf("claim while both are out = %v, want nothing", types(got))
		}
		mustDone(t, s, first[a.ID], now)
		p := claimOne(t, s, now, events.TypePending)
		if p.Verification.ID != a.ID || p.Verification.Sends != 2 {
			t.Fatalf("after the first is done: %s sent %d times, want the resend of %s", p.Verification.ID, p.Verification.Sends, a.ID)
		}
		mustDone(t, s, p, now)
		p = claimOne(t, s, now, events.TypeApproved)
		mustDone(t, s, p, now)
		if got := claim(t, s, "c1", now); len(got) != 0 {
			t.Fatalf("after the approval = %v, want nothing while %s's event is out", types(got), b.ID)
		}
		mustDone(t, s, first[b.ID], now)
		if n := c.Exists(ctx, "otp:{"+number+"}:q:"+a.ID[4:], "otp:{61400000001}:q:"+b.ID[4:]).Val(); n != 0 {
			t.Errorf("%d queues left after every event was done", n)
		}
		if n := c.XLen(ctx, "otp:e").Val(); n != 0 {
			t.Errorf("%d entries left in the stream", n)
		}
	})
}

// TestRetryIsDueAtItsTime: a retried event comes back at its due time with
// one attempt more and the same id; a claim of a retry lasts lease on the
// service's clock, after which another consumer gets it and the first can
// no longer put it back.
func TestRetryIsDueAtItsTime(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := newEventStore(c)
		mustCreate(t, s, 5)
		first := claimOne(t, s, t0, events.TypePending)
		due := t0.Add(10 * time.Second)
		if _, err := s.Retry(ctx, first, due); err != nil {
			t.Fatal(err)
		}
		if got := claim(t, s, "c1", due.Add(-time.Millisecond)); len(got) != 0 {
			t.Fatalf("claim before it is due = %v", types(got))
		}
		again := claim(t, s, "c1", due)
		if len(again) != 1 || again[0].ID != first.ID || again[0].Attempts != 1 || !again[0].Since.Equal(first.Since) {
			t.Fatalf("claim when due = %+v, want %s with 1 attempt since %v", again, first.ID, first.Since)
		}
		if got := claim(t, s, "c2", due.Add(lease-time.Millisecond)); len(got) != 0 {
			t.Fatalf("claim by another consumer within the lease = %v", types(got))
		}
		stolen := claim(t, s, "c2", due.Add(lease))
		if len(stolen) != 1 || stolen[0].ID != first.ID || stolen[0].Attempts != 1 {
			t.Fatalf("claim after the lease = %+v, want %s again", stolen, first.ID)
		}
		// c1, whose lease ran out, puts nothing back: c2 answers for it.
		if _, err := s.Retry(ctx, again[0], due.Add(lease+time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := claim(t, s, "c3", due.Add(2*lease-time.Millisecond)); len(got) != 0 {
			t.Fatalf("a stale Retry made it claimable within c2's lease: %v", types(got))
		}
		if _, err := s.Retry(ctx, stolen[0], due.Add(3*lease)); err != nil {
			t.Fatal(err)
		}
		third := claim(t, s, "c3", due.Add(3*lease))
		if len(third) != 1 || third[0].Attempts != 2 {
			t.Fatalf("after c2's Retry = %+v, want it with 2 attempts", third)
		}
		mustDone(t, s, third[0], due.Add(3*lease))
		if n := c.ZCard(ctx, "otp:er").Val() + c.HLen(ctx, "otp:ea").Val() + c.XLen(ctx, "otp:e").Val(); n != 0 {
			t.Errorf("%d retry members, attempts and entries left after Done", n)
		}
	})
}

// TestOrphanedFirstAttemptIsClaimedAfterTheLease: a first attempt whose
// consumer never answers goes to another consumer once it has been idle
// for the lease, measured by Redis itself.
func TestOrphanedFirstAttemptIsClaimedAfterTheLease(t *testing.T) {
	const short = 100 * time.Millisecond
	run := func(t *testing.T, c *redis.Client, wait func()) {
		ctx := context.Background()
		s := newEventStore(c)
		mustCreate(t, s, 5)
		orphan, err := s.Claim(ctx, "dead", t0, 10, short)
		if err != nil || len(orphan) != 1 {
			t.Fatalf("first claim = %v, %v", orphan, err)
		}
		if got, err := s.Claim(ctx, "alive", t0, 10, short); err != nil || len(got) != 0 {
			t.Fatalf("claim within the lease = %v, %v", types(got), err)
		}
		wait()
		got, err := s.Claim(ctx, "alive", t0, 10, short)
		if err != nil || len(got) != 1 || got[0].ID != orphan[0].ID || got[0].Attempts != 0 {
			t.Fatalf("claim after the lease = %+v, %v; want %s, still a first attempt", got, err, orphan[0].ID)
		}
		// The dead consumer's late Retry puts nothing back; alive's does.
		if _, err := s.Retry(ctx, orphan[0], t0); err != nil {
			t.Fatal(err)
		}
		if n := c.ZCard(ctx, "otp:er").Val(); n != 0 {
			t.Fatalf("a stale Retry scheduled the event (%d members)", n)
		}
		if _, err := s.Retry(ctx, got[0], t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if n := c.ZCard(ctx, "otp:er").Val(); n != 1 {
			t.Fatalf("Retry of the current claim: %d retry members, want 1", n)
		}
	}
	t.Run("real", func(t *testing.T) {
		// Redis' own idle clock: a short real wait is what it takes.
		run(t, redistest.Real(t), func() { time.Sleep(short + 20*time.Millisecond) })
	})
	t.Run("miniredis", func(t *testing.T) {
		c, m := redistest.Mini(t)
		m.SetTime(time.Now())
		run(t, c, func() { m.SetTime(time.Now().Add(short)) })
	})
}

// TestDoneIsIdempotent: a second Done of an event, by its consumer or by
// one whose lease ran out, neither fails nor releases another event.
func TestDoneIsIdempotent(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := newEventStore(c)
		v := mustCreate(t, s, 5)
		resend(t, s, v, t0.Add(time.Minute))
		resend(t, s, v, t0.Add(2*time.Minute))
		now := t0.Add(3 * time.Minute)
		p := claimOne(t, s, now, events.TypePending)
		if _, err := s.Retry(ctx, p, now); err != nil {
			t.Fatal(err)
		}
		stolen := claimOne(t, s, now, events.TypePending)
		for _, done := range []delivery.Pending{p, stolen, p} {
			mustDone(t, s, done, now)
		}
		next := claimOne(t, s, now, events.TypePending)
		if next.Verification.Sends != 2 {
			t.Fatalf("after three Dones of the first: the event of send %d, want send 2", next.Verification.Sends)
		}
		if n := c.XLen(ctx, "otp:e").Val(); n != 1 {
			t.Fatalf("%d entries in the stream, want only the second send's", n)
		}
		if n := c.LLen(ctx, "otp:{"+number+"}:q:"+v.ID[4:]).Val(); n != 2 {
			t.Fatalf("queue of %d, want the entry out and the third send waiting", n)
		}
	})
}

// TestConcurrentConsumersShareTheWork: consumers claiming side by side get
// each event exactly once per round (their leases outlast the round), in
// its verification's order, and every event is delivered.
func TestConcurrentConsumersShareTheWork(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := newEventStore(c)
		const verifications, consumers = 100, 8
		// The first send of every other verification fails once and is
		// retried in the next round; everything else is delivered.
		failsOnce := map[string]bool{}
		for i := range verifications {
			v := createFor(t, s, fmt.Sprintf("6421%07d", i), i)
			failsOnce[v.ID] = i%2 == 0
			if _, err := s.End(ctx, v.ID, "n", otp.StatusCanceled, t0, time.Hour, cooldown); err != nil {
				t.Fatal(err)
			}
		}
		var (
			mu     sync.Mutex
			claims = map[string]int{}           // event id → claims this round
			seen   = map[string][]events.Type{} // verification → types done, in order
		)
		retried := func(p delivery.Pending) bool {
			return failsOnce[p.Verification.ID] && p.Type == events.TypePending && p.Attempts == 0
		}
		round := func(now time.Time) int {
			clear(claims)
			var inflight atomic.Int64
			var wg sync.WaitGroup
			for k := range consumers {
				wg.Go(func() {
					for {
						got, err := s.Claim(ctx, fmt.Sprint("c", k), now, 5, time.Hour)
						if err != nil {
							t.Error(err)
							return
						}
						if len(got) == 0 {
							if inflight.Load() == 0 {
								return
							}
							runtime.Gosched()
							continue
						}
						inflight.Add(int64(len(got)))
						for _, p := range got {
							mu.Lock()
							claims[p.ID]++
							if !retried(p) {
								seen[p.Verification.ID] = append(seen[p.Verification.ID], p.Type)
							}
							mu.Unlock()
							var err error
							if retried(p) {
								_, err = s.Retry(ctx, p, now.Add(time.Second))
							} else {
								_, err = s.Done(ctx, p, now)
							}
							if err != nil {
								t.Error(err)
							}
							inflight.Add(-1)
						}
					}
				})
			}
			wg.Wait()
			for id, n := range claims {
				if n != 1 {
					t.Errorf("%s claimed %d times in one round", id, n)
				}
			}
			return len(claims)
		}
		if n := round(t0); n != verifications/2*3 {
			t.Errorf("first round handed out %d events, want %d", n, verifications/2*3)
		}
		if n := round(t0.Add(time.Second)); n != verifications {
			t.Errorf("second round handed out %d events, want %d", n, verifications)
		}
		want := []events.Type{events.TypePending, events.TypeCanceled}
		for i := range verifications {
			id := fmt.Sprintf("ver_%032x", i+1)
			if !slices.Equal(seen[id], want) {
				t.Errorf("%s delivered %v, want %v", id, seen[id], want)
			}
		}
		if n := c.XLen(ctx, "otp:e").Val() + c.ZCard(ctx, "otp:er").Val() + c.HLen(ctx, "otp:ea").Val(); n != 0 {
			t.Errorf("%d entries, retries or attempts left", n)
		}
		if keys := c.Keys(ctx, "otp:*:q:*").Val(); len(keys) != 0 {
			t.Errorf("queues left: %v", keys)
		}
	})
}

// TestMalformedEntryIsDropped: an entry the store cannot render (not one
// it wrote) is ended rather than handed out or left to block the stream.
func TestMalformedEntryIsDropped(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := newEventStore(c)
		mustCreate(t, s, 5)
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: "otp:e", Values: []string{"E", "junk"}}).Err(); err != nil {
			t.Fatal(err)
		}
		got := claim(t, s, "c1", t0)
		if len(got) != 1 || got[0].Type != events.TypePending {
			t.Fatalf("Claim = %v, want the one event the store wrote", types(got))
		}
		if n := c.XLen(ctx, "otp:e").Val(); n != 1 {
			t.Errorf("%d entries in the stream, want the malformed one gone", n)
		}
	})
}
