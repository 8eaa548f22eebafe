package otp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// TestLifecycleOnACluster runs every state change on a real Redis Cluster,
// where a script touching keys of two slots would fail with CROSSSLOT.
func TestLifecycleOnACluster(t *testing.T) {
	ctx := context.Background()
	cc := redistest.StartCluster(t).Client(t)
	e := newEnv(t, cc, func(cfg *otp.Config) { cfg.Lookup = otp.LookupOn })
	for _, to := range []string{nzLocal, "021 555 0000", auNumber} {
		v := e.mustStart(t, to)
		e.mustCheck(t, v.ID, wrong(e.sender.last(t)))
		e.clock.Advance(time.Minute)
		if _, created, err := e.svc.Start(ctx, otp.StartRequest{To: to}); err != nil || created {
			t.Fatalf("resend to %s = %v, %v", to, created, err)
		}
		if found, err := e.svc.RecordDelivery(ctx, otp.SenderConnexus, e.lastMessage(), otp.Delivery{Status: "delivered"}); err != nil || !found {
			t.Fatalf("delivery = %v, %v", found, err)
		}
		if _, err := e.svc.Cancel(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)
		fresh := e.mustStart(t, to)
		if old, err := e.svc.Get(ctx, v.ID); err != nil || old.Status != otp.StatusCanceled || old.Delivery == nil {
			t.Fatalf("replaced verification = %+v, %v", old, err)
		}
		res, err := e.svc.Check(ctx, otp.CheckRequest{To: to, Code: e.sender.last(t)})
		if err != nil || !res.Valid || res.ID != fresh.ID {
			t.Fatalf("check by number = %+v, %v", res, err)
		}
	}
}

// TestReplicaAcksOnSentinel checks that with a replica to acknowledge,
// WAIT lets checks through, and that the store refuses when it cannot get
// more acknowledgements than there are replicas.
func TestReplicaAcksOnSentinel(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.StartSentinel(t).Client(t)
	e := newEnv(t, rdb, nil)
	v := e.mustStart(t, nzLocal)
	acked, err := otp.NewService(e.cfg, redisstore.New(rdb, redisstore.WithReplicaAcks(1, 200*time.Millisecond)), e.sender,
		otp.WithClock(e.clock.Now), otp.WithHasher(e.hasher))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := acked.Check(ctx, otp.CheckRequest{ID: v.ID, Code: e.sender.last(t)}); err != nil || !res.Valid {
		t.Fatalf("check with one replica acknowledging = %+v, %v", res, err)
	}
	w := e.mustStart(t, "021 555 0000")
	greedy, err := otp.NewService(e.cfg, redisstore.New(rdb, redisstore.WithReplicaAcks(2, 50*time.Millisecond)), e.sender,
		otp.WithClock(e.clock.Now), otp.WithHasher(e.hasher))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := greedy.Check(ctx, otp.CheckRequest{ID: w.ID, Code: e.sender.last(t)}); !errors.Is(err, otp.ErrUnavailable) {
		t.Fatalf("check waiting for two replicas of one = %v, want ErrUnavailable", err)
	}
}
