package redisstore_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/otpgate/otpgate/events"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// TestEventsOnEveryTopology records, claims and expires events of numbers
// spread over the Cluster's slots and masters, so a script touching keys
// of two slots would fail with CROSSSLOT, and a slot Claim overlooked
// would leave its events behind.
func TestEventsOnEveryTopology(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		ctx := context.Background()
		s := newEventStore(tp.Client)
		const n = 12
		ids := map[string]bool{}
		var vs []*otp.Verification
		for i := range n {
			v := createFor(t, s, fmt.Sprintf("6421%07d", i*1237), i)
			ids[v.ID] = true
			vs = append(vs, v)
			if _, err := s.RecordDelivery(ctx, fmt.Sprintf("msg-%d", i), otp.Delivery{Status: "delivered", UpdatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
		for i, v := range vs[:n-1] {
			if i%2 == 0 {
				approve(t, s, v, t0)
			} else if _, err := s.End(ctx, v.ID, "n", otp.StatusCanceled, t0, time.Hour, cooldown); err != nil {
				t.Fatal(err)
			}
		}
		want := []events.Type{events.TypePending, events.TypeDelivery, events.TypeApproved}
		if tp.Cluster != nil {
			t.Logf("%d numbers on %d masters", n, mastersOf(t, tp, vs))
		}
		now := t0.Add(5 * time.Minute) // the last one expires now
		seen := map[string][]events.Type{}
		for round := 0; ; round++ {
			got := byVerification(t, claim(t, s, "c1", now))
			if len(got) == 0 {
				break
			}
			if round == 0 && len(got) != n {
				t.Errorf("first claim found events of %d verifications, want all %d", len(got), n)
			}
			for id, p := range got {
				if !ids[id] {
					t.Errorf("event of unknown verification %s", id)
				}
				seen[id] = append(seen[id], p.Type)
				mustDone(t, s, p, now)
			}
		}
		for i, v := range vs {
			w := want
			switch {
			case i == n-1:
				w = []events.Type{events.TypePending, events.TypeDelivery, events.TypeExpired}
			case i%2 == 1:
				w = []events.Type{events.TypePending, events.TypeDelivery, events.TypeCanceled}
			}
			if fmt.Sprint(seen[v.ID]) != fmt.Sprint(w) {
				t.Errorf("%s (%s): %v, want %v", v.ID, v.To, seen[v.ID], w)
			}
		}
	})
}

// mastersOf counts the Cluster masters the numbers of vs live on.
func mastersOf(t *testing.T, tp redistest.Topology, vs []*otp.Verification) int {
	t.Helper()
	cc := tp.Client.(*redis.ClusterClient)
	addrs := map[string]bool{}
	for _, v := range vs {
		m, err := cc.MasterForKey(context.Background(), "otp:{"+v.To+"}")
		if err != nil {
			t.Fatal(err)
		}
		addrs[m.Options().Addr] = true
	}
	if len(addrs) < 2 {
		t.Fatalf("the numbers live on %d master(s); the test needs them spread", len(addrs))
	}
	return len(addrs)
}

// TestOldestOnEveryTopology: Oldest is when the oldest event still out
// happened, over every slot.
func TestOldestOnEveryTopology(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		ctx := context.Background()
		s := newEventStore(tp.Client)
		at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
		const n = 6
		for i := range n {
			to := fmt.Sprintf("6421%07d", i*1237)
			r := reservation("tok", at(i))
			r.To = to
			if _, err := s.ReserveSend(ctx, r); err != nil {
				t.Fatal(err)
			}
			c := commit(at(i), "", fmt.Sprintf("ver_%032x", i+1), fakeHash, "", 5)
			c.To = to
			if _, _, err := s.CommitSend(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		out := claim(t, s, "c1", at(n))
		sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
		for i, p := range out {
			if st, err := s.Stats(ctx); err != nil || !st.Oldest.Equal(at(i)) {
				t.Errorf("Oldest with %d done = %v, %v; want %v", i, st.Oldest, err, at(i))
			}
			mustDone(t, s, p, at(n))
		}
		if st, err := s.Stats(ctx); err != nil || !st.Oldest.IsZero() || len(out) != n {
			t.Errorf("Oldest after all %d of %d were done = %v, %v; want zero", len(out), n, st.Oldest, err)
		}
	})
}
