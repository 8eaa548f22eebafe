package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// createFor stores a fresh pending verification of to, whose keys hash to
// a slot of their own on a Cluster.
func createFor(t *testing.T, s *redisstore.Store, to string, i int) *otp.Verification {
	t.Helper()
	ctx := context.Background()
	r := reservation("tok", t0)
	r.To = to
	if _, err := s.ReserveSend(ctx, r); err != nil {
		t.Fatalf("ReserveSend %s: %v", to, err)
	}
	c := commit(t0, "", fmt.Sprintf("ver_%032x", i+1), fakeHash, fmt.Sprintf("msg-%d", i), 5)
	c.To = to
	v, created, err := s.CommitSend(ctx, c)
	if err != nil || !created {
		t.Fatalf("CommitSend %s = %v, %v", to, created, err)
	}
	return v
}

// TestStoreOnEveryTopology runs the store's whole surface on a single
// Redis, behind Sentinel and on a Cluster, with numbers spread over the
// Cluster's masters, so that a script touching keys of two slots would
// fail with CROSSSLOT here.
func TestStoreOnEveryTopology(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		ctx := context.Background()
		s := redisstore.New(tp.Client)
		for i := range 8 {
			to := fmt.Sprintf("6421%07d", i*1237)
			v := createFor(t, s, to, i)
			if id, err := s.Newest(ctx, to); err != nil || id != v.ID {
				t.Fatalf("Newest(%s) = %q, %v", to, id, err)
			}
			wrong, err := s.ReserveAttempt(ctx, v.ID, "w", t0, time.Hour)
			if err != nil {
				t.Fatalf("ReserveAttempt %s: %v", v.ID, err)
			}
			if res, err := s.ResolveAttempt(ctx, wrong, false, t0, time.Hour, cooldown); err != nil || res.Valid || res.AttemptsLeft != 4 {
				t.Fatalf("wrong guess = %+v, %v", res, err)
			}
			if found, err := s.RecordDelivery(ctx, fmt.Sprintf("msg-%d", i), otp.Delivery{Status: "delivered", UpdatedAt: t0}); err != nil || !found {
				t.Fatalf("RecordDelivery = %v, %v", found, err)
			}
			if i%2 == 0 {
				if got, err := s.End(ctx, v.ID, "n1", otp.StatusCanceled, t0, time.Hour, cooldown); err != nil || got.Status != otp.StatusCanceled {
					t.Fatalf("Cancel = %+v, %v", got, err)
				}
				continue
			}
			right, err := s.ReserveAttempt(ctx, v.ID, "r", t0, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if res, err := s.ResolveAttempt(ctx, right, true, t0, time.Hour, cooldown); err != nil || !res.Valid {
				t.Fatalf("right guess = %+v, %v", res, err)
			}
			got, err := s.Get(ctx, v.ID, t0, time.Hour)
			if err != nil || got.Status != otp.StatusApproved || got.Delivery == nil || got.Delivery.Status != "delivered" {
				t.Fatalf("Get after approval = %+v, %v", got, err)
			}
		}
		if err := s.CacheLookup(ctx, number, otp.Lookup{Carrier: "Spark"}, t0, time.Hour); err != nil {
			t.Fatal(err)
		}
		if l, err := s.CachedLookup(ctx, number, t0); err != nil || l.Carrier != "Spark" {
			t.Fatalf("CachedLookup = %+v, %v", l, err)
		}
	})
}

// TestParallelAttemptsOnEveryTopology reserves attempts from many
// goroutines at once: exactly the allowed number are granted.
func TestParallelAttemptsOnEveryTopology(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		s := redisstore.New(tp.Client)
		v := createFor(t, s, number, 0)
		const goroutines = 40
		var granted, refused atomic.Int32
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				_, err := s.ReserveAttempt(context.Background(), v.ID, fmt.Sprintf("n%d", g), t0, time.Hour)
				_, notPending := errors.AsType[*otp.NotPendingError](err)
				switch {
				case err == nil:
					granted.Add(1)
				case notPending:
					refused.Add(1)
				default:
					t.Errorf("ReserveAttempt: %v", err)
				}
			})
		}
		wg.Wait()
		if granted.Load() != 5 || refused.Load() != goroutines-5 {
			t.Errorf("%d granted, %d refused; want 5 and %d", granted.Load(), refused.Load(), goroutines-5)
		}
	})
}

func TestIdempotencyAndInboundOnEveryTopology(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		ctx := context.Background()
		idem := redisstore.NewIdempotency(tp.Client)
		for i := range 4 {
			key := fmt.Sprintf("web:key-%d", i)
			if _, claimed := mustClaim(t, idem, key, "claim"); !claimed {
				t.Fatalf("first claim of %s refused", key)
			}
			if ok, err := idem.Complete(ctx, key, []byte("claim"), []byte("answer"), time.Hour); err != nil || !ok {
				t.Fatalf("Complete %s = %v, %v", key, ok, err)
			}
			if existing, claimed := mustClaim(t, idem, key, "other"); claimed || existing != "answer" {
				t.Fatalf("repeat of %s = %q, %v; want the stored answer", key, existing, claimed)
			}
		}
		in := redisstore.NewInbound(tp.Client)
		for _, id := range []string{"a", "b", "a"} {
			if _, err := in.Add(ctx, id, []byte("msg-"+id)); err != nil {
				t.Fatal(err)
			}
		}
		if got := mustLatest(t, in, 10); fmt.Sprint(got) != "[msg-b msg-a]" {
			t.Errorf("Latest = %q, want [msg-b msg-a]", got)
		}
	})
}

// TestReplicaAcksCoverEveryToldWrite runs every write a client is told
// about with REDIS_MIN_REPLICA_ACKS=1: behind Sentinel, whose master has a
// replica, each one goes through; on the single server and the Cluster,
// which have none, each one fails as unavailable instead of answering as
// if it were safe.
func TestReplicaAcksCoverEveryToldWrite(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		ctx := context.Background()
		plain := redisstore.New(tp.Client)
		acked := redisstore.New(tp.Client, redisstore.WithReplicaAcks(1, 50*time.Millisecond))
		idem := redisstore.NewIdempotency(tp.Client, redisstore.WithReplicaAcks(1, 50*time.Millisecond))
		replicated := tp.Name == "sentinel"
		// Each write is set up by the store without acks, so that only the
		// write under test waits.
		writes := map[string]func(to string, i int) error{
			"start": func(to string, i int) error {
				r := reservation("tok", t0)
				r.To = to
				if _, err := plain.ReserveSend(ctx, r); err != nil {
					t.Fatal(err)
				}
				c := commit(t0, "", fmt.Sprintf("ver_%032x", i+1), fakeHash, "", 5)
				c.To = to
				_, _, err := acked.CommitSend(ctx, c)
				return err
			},
			"resend": func(to string, i int) error {
				v := createFor(t, plain, to, i)
				later := t0.Add(time.Minute)
				r := reservation("tok2", later)
				r.To = to
				if _, err := plain.ReserveSend(ctx, r); err != nil {
					t.Fatal(err)
				}
				c := commit(later, v.ID, fmt.Sprintf("ver_%032x", i+100), fakeHash, "", 5)
				c.To, c.Token = to, "tok2"
				_, _, err := acked.CommitSend(ctx, c)
				return err
			},
			"attempt reservation": func(to string, i int) error {
				v := createFor(t, plain, to, i)
				_, err := acked.ReserveAttempt(ctx, v.ID, "n", t0, time.Hour)
				return err
			},
			"approval": func(to string, i int) error {
				v := createFor(t, plain, to, i)
				a, err := plain.ReserveAttempt(ctx, v.ID, "n", t0, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				_, err = acked.ResolveAttempt(ctx, a, true, t0, time.Hour, cooldown)
				return err
			},
			"cancel": func(to string, i int) error {
				v := createFor(t, plain, to, i)
				_, err := acked.End(ctx, v.ID, "n", otp.StatusCanceled, t0, time.Hour, cooldown)
				return err
			},
			"idempotency record": func(to string, _ int) error {
				if _, claimed, err := idem.Claim(ctx, to, []byte("claim"), time.Minute); err != nil || !claimed {
					t.Fatalf("Claim = %v, %v", claimed, err)
				}
				_, err := idem.Complete(ctx, to, []byte("claim"), []byte("answer"), time.Hour)
				return err
			},
		}
		i := 0
		for name, write := range writes {
			i++
			to := fmt.Sprintf("6421%07d", i*7919)
			err := write(to, i)
			switch {
			case replicated && err != nil:
				t.Errorf("%s acknowledged by the replica: %v", name, err)
			case !replicated && (err == nil || name != "idempotency record" && !errors.Is(err, otp.ErrUnavailable)):
				t.Errorf("%s without a replica to acknowledge it = %v, want unavailable", name, err)
			}
		}
	})
}
