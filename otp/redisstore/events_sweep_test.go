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

// slotCount is the number of Cluster hash slots: what a sweep asks.
const slotCount = 16384

// base is when the sweep tests' first Claim, a sweep, runs; their events
// happen from t0 on, so nothing has expired by then.
var base = t0.Add(time.Minute)

// counter counts the commands a client sends.
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// onCluster runs fn on the shared three-master Cluster.
func onCluster(t *testing.T, fn func(t *testing.T, tp redistest.Topology)) {
	t.Helper()
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		if tp.Cluster == nil {
			t.Skip("only a Cluster has slots to sweep")
		}
		fn(t, tp)
	})
}

// countedStore is a store of events on a client of tp's Cluster of its
// own, whose commands it counts.
type countedStore struct {
	*redisstore.Store
	count counter
}

func newCountedStore(t *testing.T, tp redistest.Topology) *countedStore {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: tp.Cluster.Addrs})
	t.Cleanup(func() { _ = cc.Close() })
	cs := &countedStore{}
	cc.AddHook(&cs.count)
	cs.Store = redisstore.New(cc, redisstore.WithEvents(evConfig))
	return cs
}

// claim claims up to limit events at now for c1 and returns them with the
// commands and the time the Claim took.
func (cs *countedStore) claim(t *testing.T, now time.Time, limit int) ([]delivery.Pending, int64, time.Duration) {
	t.Helper()
	cs.count.n.Store(0)
	start := time.Now()
	got, err := cs.Claim(context.Background(), "c1", now, limit, lease)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Claim at %v: %v", now, err)
	}
	return got, cs.count.n.Load(), took
}

// sweep is the first Claim of cs, at base, which sweeps.
func (cs *countedStore) sweep(t *testing.T) {
	t.Helper()
	if got, n, _ := cs.claim(t, base, 100); len(got) != 0 || n < slotCount {
		t.Fatalf("first Claim = %v with %d commands, want nothing and a sweep", types(got), n)
	}
}

// spread is the i-th of numbers that land in many slots.
func spread(i int) string { return fmt.Sprintf("6421%07d", i*1237) }

// TestClusterClaimFindsItsOwnEventsWithoutASweep: whatever a store records
// (a send, an approval, a cancel, a delivery report, the next event Done
// lets go) its next Claim finds without asking every slot.
func TestClusterClaimFindsItsOwnEventsWithoutASweep(t *testing.T) {
	onCluster(t, func(t *testing.T, tp redistest.Topology) {
		ctx := context.Background()
		s := newCountedStore(t, tp)
		s.sweep(t)
		at := base.Add(redisstore.SweepEvery / 2)
		var v1, v2, v3 *otp.Verification
		steps := []struct {
			what   string
			record func()
			want   events.Type
		}{
			{"a send", func() { v1 = createFor(t, s.Store, spread(1), 1) }, events.TypePending},
			{"a right guess", func() { approve(t, s.Store, v1, t0) }, events.TypeApproved},
			{"another send", func() { v2 = createFor(t, s.Store, spread(2), 2) }, events.TypePending},
			{"a cancel", func() {
				if _, err := s.End(ctx, v2.ID, "n", otp.StatusCanceled, t0, time.Hour, cooldown); err != nil {
					t.Fatal(err)
				}
			}, events.TypeCanceled},
			{"a third send", func() { v3 = createFor(t, s.Store, spread(3), 3) }, events.TypePending},
			{"a delivery report", func() {
				if ok, err := s.RecordDelivery(ctx, "msg-3", otp.Delivery{Status: "delivered", UpdatedAt: t0}); err != nil || !ok {
					t.Fatalf("RecordDelivery = %v, %v", ok, err)
				}
			}, events.TypeDelivery},
			{"two resends", func() {
				resend(t, s.Store, v3, t0.Add(cooldown+time.Second))
				resend(t, s.Store, v3, t0.Add(2*cooldown+2*time.Second))
			}, events.TypePending},
			{"Done of the first resend", nil, events.TypePending},
		}
		for _, step := range steps {
			if step.record != nil {
				// Each record is found by its own hint, not one of a Done.
				if got, _, _ := s.claim(t, at, 100); len(got) != 0 {
					t.Fatalf("Claim before %s = %v, want nothing", step.what, types(got))
				}
				step.record()
			}
			got, n, _ := s.claim(t, at, 100)
			if len(got) != 1 || got[0].Type != step.want {
				t.Fatalf("Claim after %s = %v, want one %s", step.what, types(got), step.want)
			}
			if n > 10 {
				t.Errorf("Claim after %s sent %d commands, want a few (no sweep)", step.what, n)
			}
			mustDone(t, s.Store, got[0], at)
		}
		if got, n, _ := s.claim(t, at, 100); len(got) != 0 || n > 10 {
			t.Errorf("Claim after every event was done = %v with %d commands, want nothing with a few", types(got), n)
		}
	})
}

// TestClusterClaimGivesBackHintsItCouldNotServe: a Claim that reaches its
// limit before it polls a slot it was told of leaves it to the next Claim.
func TestClusterClaimGivesBackHintsItCouldNotServe(t *testing.T) {
	onCluster(t, func(t *testing.T, tp redistest.Topology) {
		s := newCountedStore(t, tp)
		s.sweep(t)
		const n = 3
		for i := range n {
			createFor(t, s.Store, spread(i), i)
		}
		at := base.Add(redisstore.SweepEvery / 2)
		seen := map[string]bool{}
		for _, limit := range []int{1, 1, 100} {
			got, cmds, _ := s.claim(t, at, limit)
			if cmds >= slotCount {
				t.Errorf("Claim of %d swept", limit)
			}
			for _, p := range got {
				seen[p.Verification.ID] = true
			}
		}
		if len(seen) != n {
			t.Errorf("three Claims between sweeps found events of %d verifications, want %d", len(seen), n)
		}
	})
}

// TestClusterHintsUnderConcurrency: producers record events while
// consumers claim and end them, side by side on one store between
// sweeps; every event goes out exactly once, found by its hint.
func TestClusterHintsUnderConcurrency(t *testing.T) {
	onCluster(t, func(t *testing.T, tp redistest.Topology) {
		ctx := context.Background()
		s := newCountedStore(t, tp)
		s.sweep(t)
		s.count.n.Store(0)
		const producers, each, consumers = 4, 10, 4
		at := base.Add(redisstore.SweepEvery / 2)
		var (
			produced atomic.Bool
			mu       sync.Mutex
			claims   = map[string]int{}
		)
		var wg sync.WaitGroup
		for c := range consumers {
			wg.Go(func() {
				for {
					done := produced.Load()
					got, err := s.Claim(ctx, fmt.Sprint("c", c), at, 5, lease)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 && done {
						return
					}
					for _, p := range got {
						mu.Lock()
						claims[p.ID]++
						mu.Unlock()
						if _, err := s.Done(ctx, p, at); err != nil {
							t.Error(err)
						}
					}
					runtime.Gosched()
				}
			})
		}
		var producing sync.WaitGroup
		for p := range producers {
			producing.Go(func() {
				for i := range each {
					n := p*each + i
					v := createFor(t, s.Store, spread(n), n)
					if _, err := s.End(ctx, v.ID, "n", otp.StatusCanceled, t0, time.Hour, cooldown); err != nil {
						t.Error(err)
					}
				}
			})
		}
		producing.Wait()
		produced.Store(true)
		wg.Wait()
		if want := producers * each * 2; len(claims) != want {
			t.Errorf("%d events claimed, want %d (a send and a cancel each)", len(claims), want)
		}
		for id, n := range claims {
			if n != 1 {
				t.Errorf("%s claimed %d times", id, n)
			}
		}
		if n := s.count.n.Load(); n >= slotCount {
			t.Errorf("%d commands in all: a Claim swept", n)
		}
	})
}

// TestClusterSweepFindsWhatOthersRecorded: an event another replica
// recorded, and an expiry, are found by the next sweep, sweepEvery after
// the last one at the latest.
func TestClusterSweepFindsWhatOthersRecorded(t *testing.T) {
	onCluster(t, func(t *testing.T, tp redistest.Topology) {
		s := newCountedStore(t, tp)
		other := newEventStore(tp.Client)
		s.sweep(t)
		v := createFor(t, other, spread(4), 4)
		if got, n, _ := s.claim(t, base.Add(redisstore.SweepEvery-time.Millisecond), 100); len(got) != 0 || n != 0 {
			t.Errorf("Claim before the next sweep = %v with %d commands, want nothing without a command", types(got), n)
		}
		got, n, _ := s.claim(t, base.Add(redisstore.SweepEvery), 100)
		if len(got) != 1 || got[0].Verification.ID != v.ID || n < slotCount {
			t.Fatalf("Claim sweepEvery later = %v with %d commands, want the send of %s found by a sweep", types(got), n, v.ID)
		}
		mustDone(t, s.Store, got[0], base.Add(redisstore.SweepEvery))

		expires := t0.Add(evConfig.TTL)
		before := expires.Add(-time.Second)
		if got, n, _ := s.claim(t, before, 100); len(got) != 0 || n < slotCount {
			t.Fatalf("Claim a second before the expiry = %v with %d commands, want a sweep and nothing", types(got), n)
		}
		if got, _, _ := s.claim(t, expires, 100); len(got) != 0 {
			t.Fatalf("Claim at the expiry, between sweeps = %v, want it left to the next sweep", types(got))
		}
		got, _, _ = s.claim(t, before.Add(redisstore.SweepEvery), 100)
		if len(got) != 1 || got[0].Type != events.TypeExpired || got[0].Verification.ID != v.ID {
			t.Fatalf("Claim at the next sweep = %v, want the expiry of %s", types(got), v.ID)
		}
	})
}

// TestClusterRetryIsPolledWhenDue: the slot of an event a store put back
// is polled once the retry is due, not before and without a sweep.
func TestClusterRetryIsPolledWhenDue(t *testing.T) {
	onCluster(t, func(t *testing.T, tp redistest.Topology) {
		s := newCountedStore(t, tp)
		s.sweep(t)
		createFor(t, s.Store, spread(5), 5)
		got, _, _ := s.claim(t, base.Add(100*time.Millisecond), 100)
		if len(got) != 1 {
			t.Fatalf("Claim = %v, want the send", types(got))
		}
		due := base.Add(redisstore.SweepEvery * 3 / 4)
		if _, err := s.Retry(context.Background(), got[0], due); err != nil {
			t.Fatal(err)
		}
		if got, n, _ := s.claim(t, due.Add(-time.Millisecond), 100); len(got) != 0 || n != 0 {
			t.Errorf("Claim before the retry is due = %v with %d commands, want nothing without a command", types(got), n)
		}
		got, n, _ := s.claim(t, due, 100)
		if len(got) != 1 || got[0].Attempts != 1 || n > 10 {
			t.Fatalf("Claim when the retry is due = %v (%d commands), want it back with one attempt, without a sweep", types(got), n)
		}
	})
}

// TestClusterIdleClaimsCostTheActiveSlots measures, on the three-master
// test Cluster, what an idle Claim costs between sweeps (a few commands
// per slot the last sweep found active, none without one) against a
// sweep, which still comes every sweepEvery; and a clock that went back
// sweeps at once.
func TestClusterIdleClaimsCostTheActiveSlots(t *testing.T) {
	onCluster(t, func(t *testing.T, tp redistest.Topology) {
		s := newCountedStore(t, tp)
		other := newEventStore(tp.Client)
		const active = 8
		for i := range active {
			createFor(t, other, spread(i), i)
		}
		// The events stay claimed, so their slots stay active and idle.
		out, n, _ := s.claim(t, base, 100)
		if len(out) != active || n < slotCount {
			t.Fatalf("first Claim = %d events with %d commands, want %d with a sweep", len(out), n, active)
		}
		step := redisstore.SweepEvery / 4
		var sweeps, between []time.Duration
		for i := 1; i <= 20; i++ {
			at := base.Add(time.Duration(i) * step)
			got, n, took := s.claim(t, at, 100)
			if len(got) != 0 {
				t.Fatalf("idle Claim at +%v = %v", at.Sub(base), types(got))
			}
			if i%4 == 0 {
				sweeps = append(sweeps, took)
				if n < slotCount {
					t.Errorf("Claim at +%v sent %d commands, want a sweep every %v", at.Sub(base), n, redisstore.SweepEvery)
				}
				continue
			}
			between = append(between, took)
			if n == 0 || n > 3*active {
				t.Errorf("Claim at +%v sent %d commands, want a few per active slot (%d)", at.Sub(base), n, active)
			}
			if i == 1 {
				t.Logf("idle Claim between sweeps, %d active slots: %d commands", active, n)
			}
		}
		t.Logf("idle Claim between sweeps, %d active slots: median %v of %d", active, median(between), len(between))
		t.Logf("sweep (%d slots + the active ones): median %v of %d", slotCount, median(sweeps), len(sweeps))

		at := base.Add(20 * step)
		for _, p := range out {
			mustDone(t, s.Store, p, at)
		}
		// The Claim after the Dones polls their slots, which may hold the
		// next events of their verifications.
		if _, n, _ := s.claim(t, at.Add(step), 100); n == 0 || n > 3*active {
			t.Errorf("Claim after the Dones sent %d commands, want a few per slot they were in", n)
		}
		at = at.Add(redisstore.SweepEvery)
		if _, n, _ := s.claim(t, at, 100); n != slotCount {
			t.Errorf("sweep after every event was done sent %d commands, want %d: slots stayed active", n, slotCount)
		}
		var idle []time.Duration
		for i := 1; i < 4; i++ {
			_, n, took := s.claim(t, at.Add(time.Duration(i)*step), 100)
			if n != 0 {
				t.Errorf("idle Claim with no active slot sent %d commands, want none", n)
			}
			idle = append(idle, took)
		}
		t.Logf("idle Claim between sweeps, no active slot: 0 commands, median %v", median(idle))
		if _, n, _ := s.claim(t, base, 100); n < slotCount {
			t.Errorf("Claim on a clock that went back sent %d commands, want a sweep", n)
		}

		start := time.Now()
		s.count.n.Store(0)
		if _, err := s.Stats(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Logf("Oldest: %d commands, %v", s.count.n.Load(), time.Since(start))
	})
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}
