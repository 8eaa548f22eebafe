package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/events"
	"github.com/otpgate/otpgate/events/delivery"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/factor"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// factorEvent is an event of type typ whose data names who and step n,
// as H-service's rendering would, so the test can tell them apart.
func factorEvent(typ events.Type, who string, n int) *factor.Event {
	return &factor.Event{Type: string(typ), Data: fmt.Appendf(nil, `{"identity":%q,"n":%d}`, who, n)}
}

// eventData reads what factorEvent put in p.
func eventData(t *testing.T, p delivery.Pending) (who string, n int) {
	t.Helper()
	var d struct {
		Identity string `json:"identity"`
		N        int    `json:"n"`
	}
	if p.Verification != nil || json.Unmarshal(p.Data, &d) != nil {
		t.Fatalf("event %s: verification %v, data %s; want data only", p.Type, p.Verification, p.Data)
	}
	return d.Identity, d.N
}

// factorScenario runs every write of the factor store on identity who
// with an event each, and returns the events it records, in order.
func factorScenario(t *testing.T, f *redisstore.Factors, who string, deleteAll bool) []string {
	t.Helper()
	ctx := context.Background()
	var want []string
	ev := func(typ events.Type) *factor.Event {
		want = append(want, fmt.Sprintf("%s %d", typ, len(want)))
		return factorEvent(typ, who, len(want)-1)
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s of %s: %v", what, who, err)
		}
	}
	for i := 1; i <= 2; i++ {
		r := newRecord(i, t0)
		r.Identity = who
		must("Create", f.Create(ctx, who, r, t0, ev(events.TypeFactorCreated)))
	}
	check := func(c factor.Check, valid bool) {
		t.Helper()
		o, err := f.Check(ctx, who, c)
		must("Check", err)
		if o.Valid != valid {
			t.Fatalf("Check of %s = %+v, want valid %v", who, o, valid)
		}
	}
	v := verifyCheck(1, 100, t0)
	v.Recovery, v.Candidates[0].Approved = recoverySet(1), ev(events.TypeFactorVerified)
	check(v, true)
	right := challenge(t0, 101, 1)
	right.Candidates[0].Approved = ev(events.TypeChallengeApproved)
	check(right, true)
	wrong := challenge(t0, 101, 1)
	wrong.Candidates[0].Approved, wrong.Denied = factorEvent(events.TypeChallengeApproved, who, -1), ev(events.TypeChallengeDenied)
	check(wrong, false)
	o, err := f.SpendRecovery(ctx, who, factor.Spend{HMAC: recoverySet(1).HMACs[3], Key: recoverySet(1).Key, Now: t0,
		Limits: limits, Used: ev(events.TypeRecoveryCodeUsed), Denied: factorEvent(events.TypeChallengeDenied, who, -1)})
	must("SpendRecovery", err)
	if !o.Valid || o.RecoveryCodesLeft != 9 {
		t.Fatalf("SpendRecovery of %s = %+v", who, o)
	}
	must("ReplaceRecovery", f.ReplaceRecovery(ctx, who, *recoverySet(2), t0))
	must("DeleteFactor", f.DeleteFactor(ctx, who, factorID(2), t0, ev(events.TypeFactorDeleted)))
	if deleteAll {
		must("DeleteIdentity", f.DeleteIdentity(ctx, who, t0, []factor.Event{*ev(events.TypeFactorDeleted)}))
	}
	return want
}

// drainFactorEvents claims and ends every event due at now, round by
// round, and returns them by identity as factorScenario lists them.
func drainFactorEvents(t *testing.T, s *redisstore.Store, now time.Time) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	for {
		ps := claim(t, s, "c1", now)
		if len(ps) == 0 {
			return got
		}
		round := map[string]bool{}
		for _, p := range ps {
			who, n := eventData(t, p)
			if round[who] {
				t.Errorf("two events of %s out at once", who)
			}
			round[who] = true
			got[who] = append(got[who], fmt.Sprintf("%s %d", p.Type, n))
			mustDone(t, s, p, now)
		}
	}
}

// TestFactorEventsGoOutInOrderWithTheirData: each write records its event
// in the same script, and Claim hands them out one at a time per
// identity, in order, with the data as recorded and no verification.
func TestFactorEventsGoOutInOrderWithTheirData(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := newEventStore(c)
		f := s.Factors()
		want := map[string][]string{identity: factorScenario(t, f, identity, false), "other-identity": factorScenario(t, f, "other-identity", true)}

		ps := claim(t, s, "c1", t0)
		if len(ps) != 2 {
			t.Fatalf("first claim = %d events, want one of each identity", len(ps))
		}
		p := ps[0]
		if who, _ := eventData(t, p); who != identity {
			p = ps[1]
		}
		if p.Type != events.TypeFactorCreated || !p.At.Equal(t0) || !p.Since.Equal(t0) || p.Attempts != 0 || len(p.ID) != 36 {
			t.Errorf("first event = %+v", p)
		}
		wantData := string(factorEvent(events.TypeFactorCreated, identity, 0).Data)
		if string(p.Data) != wantData {
			t.Errorf("data = %s, want %s", p.Data, wantData)
		}
		body, err := delivery.Body(p.Message, func(*otp.Verification) any { t.Error("Body rendered a verification"); return nil })
		wantBody := `{"id":"` + p.ID + `","type":"factor.created","timestamp":"2030-01-02T03:04:05Z","data":` + wantData + `}`
		if err != nil || string(body) != wantBody {
			t.Errorf("Body = %s, %v\nwant %s", body, err, wantBody)
		}
		// Put back and claimed again, it carries the same message.
		if put, err := s.Retry(ctx, p, t0); err != nil || !put {
			t.Fatalf("Retry = %v, %v", put, err)
		}
		again := claim(t, s, "c1", t0)
		if len(again) != 1 || again[0].Message.ID != p.ID || string(again[0].Data) != wantData || again[0].Attempts != 1 {
			t.Errorf("claimed again: %+v", again)
		}
		first := map[string]string{}
		for _, p := range ps {
			who, n := eventData(t, p)
			first[who] = fmt.Sprintf("%s %d", p.Type, n)
			mustDone(t, s, p, t0)
		}
		got := drainFactorEvents(t, s, t0)
		for who, w := range want {
			if g := append([]string{first[who]}, got[who]...); !slices.Equal(g, w) {
				t.Errorf("events of %s = %v, want %v", who, g, w)
			}
		}
	})
}

// TestNoFactorEventWithoutWithEvents: a store without events writes
// nothing but the identity's hash and its memos, whatever events it is
// given.
func TestNoFactorEventWithoutWithEvents(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		factorScenario(t, redisstore.New(c).Factors(), identity, false)
		keys := c.Keys(context.Background(), "*").Val()
		if slices.Sort(keys); !slices.Equal(keys, []string{identityKey, memoKey}) {
			t.Errorf("keys = %v, want only %s and %s", keys, identityKey, memoKey)
		}
	})
}

// TestFactorsOnEveryTopology runs every write with events on identities
// spread over the Cluster's masters, so a script touching keys of two
// slots would fail with CROSSSLOT, and then drains their events.
func TestFactorsOnEveryTopology(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		s := newEventStore(tp.Client)
		f := s.Factors()
		want := map[string][]string{}
		masters := map[string]bool{}
		for i := range 8 {
			who := fmt.Sprintf("identity-%03d", i*37)
			want[who] = factorScenario(t, f, who, i%2 == 1)
			if cc, ok := tp.Client.(*redis.ClusterClient); ok {
				m, err := cc.MasterForKey(context.Background(), "otp:{f:"+who+"}")
				if err != nil {
					t.Fatal(err)
				}
				masters[m.Options().Addr] = true
			}
		}
		if tp.Cluster != nil && len(masters) < 2 {
			t.Fatalf("the identities live on %d master(s); the test needs them spread", len(masters))
		}
		got := drainFactorEvents(t, s, t0)
		for who, w := range want {
			if !slices.Equal(got[who], w) {
				t.Errorf("events of %s = %v, want %v", who, got[who], w)
			}
		}
	})
}

// TestParallelChecksOfOneCodeApproveOnce sends one code from 20
// goroutines at once: exactly one is accepted, the rest are replays.
func TestParallelChecksOfOneCodeApproveOnce(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		f := redisstore.New(tp.Client).Factors()
		mustVerified(t, f, 1, 100, t0, nil)
		const goroutines = 20
		lots := factor.Limits{MaxAttempts: 100, Window: factor.AttemptWindow}
		var (
			mu                    sync.Mutex
			valid, replayed, errs int
			start                 = make(chan struct{})
			wg                    sync.WaitGroup
		)
		for range goroutines {
			wg.Go(func() {
				c := challenge(t0, 101, 1)
				c.Limits = lots
				<-start
				o, err := f.Check(context.Background(), identity, c)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					errs++
				case o.Valid:
					valid++
				case o.Replayed:
					replayed++
				}
			})
		}
		close(start)
		wg.Wait()
		if valid != 1 || replayed != goroutines-1 || errs != 0 {
			t.Errorf("%d valid, %d replayed, %d failed; want 1, %d, 0", valid, replayed, errs, goroutines-1)
		}
		if id := mustLoad(t, f, t0); id.Failures != goroutines-1 {
			t.Errorf("failures = %d, want every replay counted: %d", id.Failures, goroutines-1)
		}
	})
}

// TestFactorWritesWaitForReplicas runs every factor write with
// REDIS_MIN_REPLICA_ACKS=1: behind Sentinel, whose master has a replica,
// each goes through; on the single server and the Cluster, which have
// none, each fails as unavailable.
func TestFactorWritesWaitForReplicas(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		ctx := context.Background()
		plain := redisstore.New(tp.Client).Factors()
		acked := redisstore.New(tp.Client, redisstore.WithReplicaAcks(1, 50*time.Millisecond)).Factors()
		// Each write is set up without acks, so that only the write under
		// test waits.
		setup := func(who string, verified bool) {
			r := newRecord(1, t0)
			r.Identity = who
			if err := plain.Create(ctx, who, r, t0, nil); err != nil {
				t.Fatal(err)
			}
			if !verified {
				return
			}
			v := verifyCheck(1, 100, t0)
			v.Recovery = recoverySet(1)
			if _, err := plain.Check(ctx, who, v); err != nil {
				t.Fatal(err)
			}
		}
		writes := map[string]func(who string) error{
			"create": func(who string) error {
				return acked.Create(ctx, who, newRecord(1, t0), t0, nil)
			},
			"verification": func(who string) error {
				setup(who, false)
				_, err := acked.Check(ctx, who, verifyCheck(1, 100, t0))
				return err
			},
			"challenge": func(who string) error {
				setup(who, true)
				_, err := acked.Check(ctx, who, challenge(t0, 0))
				return err
			},
			"recovery code": func(who string) error {
				setup(who, true)
				_, err := acked.SpendRecovery(ctx, who, factor.Spend{HMAC: recoverySet(1).HMACs[0], Key: recoverySet(1).Key, Now: t0, Limits: limits})
				return err
			},
			"new recovery codes": func(who string) error {
				setup(who, true)
				return acked.ReplaceRecovery(ctx, who, *recoverySet(2), t0)
			},
			"factor deletion": func(who string) error {
				setup(who, true)
				return acked.DeleteFactor(ctx, who, factorID(1), t0, nil)
			},
			"identity deletion": func(who string) error {
				setup(who, true)
				return acked.DeleteIdentity(ctx, who, t0, nil)
			},
		}
		i := 0
		for name, write := range writes {
			i++
			err := write(fmt.Sprintf("acked-%04d", i*7919))
			switch {
			case tp.Name == "sentinel" && err != nil:
				t.Errorf("%s acknowledged by the replica: %v", name, err)
			case tp.Name != "sentinel" && !errors.Is(err, otp.ErrUnavailable):
				t.Errorf("%s without a replica to acknowledge it = %v, want unavailable", name, err)
			}
		}
	})
}
