package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/otpgate/otpgate/events"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// fillStream adds dummy entries to stream until it holds n.
func fillStream(t *testing.T, c redis.UniversalClient, stream string, n int) {
	t.Helper()
	ctx := context.Background()
	have := int(c.XLen(ctx, stream).Val())
	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for range n - have {
			p.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"x", "1"}})
		}
		return nil
	}); err != nil {
		t.Fatalf("filling %s: %v", stream, err)
	}
}

// refused takes the counts of refused events, which a second Stats must
// not see again.
func refused(t *testing.T, s *redisstore.Store) map[events.Type]int {
	t.Helper()
	ctx := context.Background()
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if again, err := s.Stats(ctx); err != nil || len(again.Refused) != 0 {
		t.Errorf("second Stats = %v, %v; want the refusals counted once", again.Refused, err)
	}
	return st.Refused
}

// checkBounds: a full stream or a full queue refuses the event, counted
// by type, and the change commits all the same.
func checkBounds(t *testing.T, c redis.UniversalClient) {
	ctx := context.Background()
	s := newEventStore(c)
	v := mustCreate(t, s, 5)
	stream := s.StreamOf(number)
	fillStream(t, c, stream, s.MaxHeads())

	// The stream is full: another verification's send commits, unrecorded.
	other := ""
	for i := 0; other == ""; i++ {
		if to := fmt.Sprintf("6421%07d", i); to != number && s.StreamOf(to) == stream {
			other = to
		}
	}
	w := createFor(t, s, other, 7)
	if _, err := s.Get(ctx, w.ID, t0, time.Hour); err != nil {
		t.Errorf("the send refused its event and was not stored: %v", err)
	}
	if n := int(c.XLen(ctx, stream).Val()); n != s.MaxHeads() {
		t.Errorf("stream holds %d entries, want its bound %d", n, s.MaxHeads())
	}
	if got, want := refused(t, s), map[events.Type]int{events.TypePending: 1}; !maps.Equal(got, want) {
		t.Errorf("refused = %v, want %v", got, want)
	}

	// v's queue fills at 16 waiting events; the report is stored anyway.
	statuses := []string{"delivered", "undelivered"}
	for i := range 17 {
		if _, err := s.RecordDelivery(ctx, "1158493", otp.Delivery{Status: statuses[i%2], UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := refused(t, s), map[events.Type]int{events.TypeDelivery: 1}; !maps.Equal(got, want) {
		t.Errorf("refused = %v, want %v", got, want)
	}
	if got, err := s.Get(ctx, v.ID, t0, time.Hour); err != nil || got.Delivery.Status != statuses[16%2] {
		t.Errorf("status after the refused report = %+v, %v; want it stored", got, err)
	}
}

// TestFullOutboxRefusesEventsNotChanges: the outbox never grows without
// bound (a receiver that is down would fill Redis until starts fail), and
// the state change itself always commits.
func TestFullOutboxRefusesEventsNotChanges(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) { checkBounds(t, c) })
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) { checkBounds(t, tp.Client) })
}

// TestActiveMarkComesBack: a lost mark of a stream with entries comes
// back with the next entry, or a Cluster sweep would never find the slot.
func TestActiveMarkComesBack(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := newEventStore(c)
		mustCreate(t, s, 5)
		c.ZRem(ctx, "otp:ex", "~")
		createFor(t, s, number[:len(number)-1]+"9", 7)
		if err := c.ZScore(ctx, "otp:ex", "~").Err(); err != nil {
			t.Errorf("active mark after a new entry: %v", err)
		}
	})
}

// createUnrecorded stores n pending verifications sent at t0 without
// events and puts them in the expiry zset, as each send would.
func createUnrecorded(t *testing.T, c *redis.Client, n int) {
	t.Helper()
	ctx := context.Background()
	plain := redisstore.New(c)
	for i := range n {
		to := fmt.Sprintf("6421%07d", i)
		createFor(t, plain, to, i)
		c.ZAdd(ctx, "otp:ex", redis.Z{Score: float64(t0.Add(5 * time.Minute).UnixMilli()), Member: fmt.Sprintf("%s:%032x", to, i+1)})
	}
}

// TestManyExpiriesInOneClaim: expiries go in batches, one script run
// each, as long as the batches come back full within the budget; a spent
// budget still runs one batch per Claim.
func TestManyExpiriesInOneClaim(t *testing.T) {
	const n = 1000
	expired := t0.Add(5 * time.Minute)
	for _, tc := range []struct {
		name   string
		budget time.Duration
		want   int64
	}{
		{"within the budget", time.Hour, n},
		{"budget spent", 0, redisstore.ExpiryBatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer redisstore.SetExpiryBudget(tc.budget)()
			redistest.Each(t, func(t *testing.T, c *redis.Client) {
				ctx := context.Background()
				createUnrecorded(t, c, n)
				s := newEventStore(c)
				start := time.Now()
				if _, err := s.Claim(ctx, "c1", expired, 1, lease); err != nil {
					t.Fatal(err)
				}
				took := time.Since(start)
				if got := c.XLen(ctx, "otp:e").Val(); got != tc.want {
					t.Errorf("one Claim recorded %d expiries, want %d", got, tc.want)
				}
				t.Logf("one Claim recorded %d expiries in %v", c.XLen(ctx, "otp:e").Val(), took)
				ids := map[any]bool{}
				for _, e := range c.XRange(ctx, "otp:e", "-", "+").Val() {
					ids[e.Values["E"]] = true
				}
				if int64(len(ids)) != tc.want {
					t.Errorf("%d distinct event ids for %d expiries", len(ids), tc.want)
				}
			})
		})
	}
}

// TestClaimSkipsAFailingPartition: a partition that fails (a Cluster node
// failing over) does not cost the others' events; Claim fails only when
// no partition answers.
func TestClaimSkipsAFailingPartition(t *testing.T) {
	onCluster(t, func(t *testing.T, tp redistest.Topology) {
		ctx := context.Background()
		var failing func(stream string) bool
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: tp.Cluster.Addrs})
		t.Cleanup(func() { _ = cc.Close() })
		cc.AddHook(redistest.FailWhen(func(cmd redis.Cmder) bool {
			args := cmd.Args()
			if (cmd.Name() != "evalsha" && cmd.Name() != "eval") || len(args) < 4 || failing == nil {
				return false
			}
			stream, _ := args[3].(string)
			return failing(stream)
		}))
		s := redisstore.New(cc, redisstore.WithEvents(evConfig))
		bad, good := createFor(t, s, spread(1), 1), createFor(t, s, spread(2), 2)
		badStream := s.StreamOf(bad.To)
		if badStream == s.StreamOf(good.To) {
			t.Fatal("both numbers in one slot")
		}
		failing = func(stream string) bool { return stream == badStream }
		got, err := s.Claim(ctx, "c1", base, 10, lease)
		if err != nil || len(got) != 1 || got[0].Verification.ID != good.ID {
			t.Fatalf("Claim with %s failing = %v, %v; want the other slot's event", badStream, types(got), err)
		}
		failing = func(string) bool { return true }
		got, err = s.Claim(ctx, "c1", base, 10, lease)
		if !errors.Is(err, otp.ErrUnavailable) || !errors.Is(err, redistest.ErrInjected) || len(got) != 0 {
			t.Errorf("Claim with every slot failing = %v, %v; want ErrUnavailable", types(got), err)
		}
		failing = nil
		got, err = s.Claim(ctx, "c1", base, 10, lease)
		if err != nil || len(got) != 1 || got[0].Verification.ID != bad.ID {
			t.Errorf("Claim once the slot is back = %v, %v; want its event", types(got), err)
		}
	})
}

// TestClusterStatsAsksOnlyActiveSlots: Stats reads the slots known to have
// work, not all 16384.
func TestClusterStatsAsksOnlyActiveSlots(t *testing.T) {
	onCluster(t, func(t *testing.T, tp redistest.Topology) {
		s := newCountedStore(t, tp)
		s.sweep(t)
		createFor(t, s.Store, spread(3), 3)
		s.count.n.Store(0)
		st, err := s.Stats(context.Background())
		// One script, and its source once if the node lacks it.
		if n := s.count.n.Load(); err != nil || !st.Oldest.Equal(t0) || n > 3 {
			t.Errorf("Stats = %+v, %v with %d commands; want the event's time from its slot alone", st, err, n)
		}
	})
}
