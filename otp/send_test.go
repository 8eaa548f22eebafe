package otp_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

func TestResend(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, c, nil)
		v := e.mustStart(t, nzLocal)
		old := e.sender.last(t)
		e.mustCheck(t, v.ID, wrong(old))

		e.clock.Advance(29 * time.Second)
		_, _, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal})
		le := wantLimit(t, err, otp.ErrCooldown)
		if want := v.CreatedAt.Add(30 * time.Second); !le.Reset.Equal(want) {
			t.Errorf("cooldown reset = %v, want %v", le.Reset, want)
		}

		e.clock.Advance(time.Second)
		r, created, err := e.svc.Start(ctx, otp.StartRequest{To: nzNumber})
		if err != nil || created {
			t.Fatalf("resend = created %v, %v; want a renewed verification", created, err)
		}
		now := e.clock.Now()
		if r.ID != v.ID || r.Sends != 2 || r.AttemptsLeft != 4 || !r.ExpiresAt.Equal(now.Add(5*time.Minute)) || !r.ResendAt.Equal(now.Add(30*time.Second)) {
			t.Fatalf("resent verification = %+v", r)
		}
		if e.sender.count() != 2 || e.events.count(otp.EventResent) != 1 {
			t.Fatalf("sent %d SMS, events %v", e.sender.count(), e.events.n)
		}
		fresh := e.sender.last(t)
		if fresh != old {
			if res := e.mustCheck(t, v.ID, old); res.Valid {
				t.Fatal("the replaced code still works")
			}
		}
		if res := e.mustCheck(t, v.ID, fresh); !res.Valid {
			t.Fatalf("the new code = %+v", res)
		}
	})
}

func TestResendStopsAtMaxSends(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		e := newEnv(t, c, func(cfg *otp.Config) { cfg.MaxSends = 2; cfg.TTL = 10 * time.Minute })
		v := e.mustStart(t, nzLocal)
		e.clock.Advance(time.Minute)
		e.mustStart(t, nzLocal)
		e.clock.Advance(time.Minute)
		_, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: nzLocal})
		le := wantLimit(t, err, otp.ErrMaxSends)
		if le.Limit != 2 || le.Remaining != 0 || !le.Reset.Equal(v.CreatedAt.Add(11*time.Minute)) {
			t.Errorf("max sends error = %+v", le)
		}
		if e.sender.count() != 2 {
			t.Errorf("sent %d SMS, want 2", e.sender.count())
		}
	})
}

func TestCooldownHoldsAcrossVerifications(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, c, nil)
		v := e.mustStart(t, nzLocal)
		e.mustCheck(t, v.ID, e.sender.last(t))
		_, _, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal})
		wantLimit(t, err, otp.ErrCooldown)
		e.clock.Advance(30 * time.Second)
		n, created, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal})
		if err != nil || !created || n.ID == v.ID {
			t.Fatalf("start after an approval = %+v created=%v, %v; want a new verification", n, created, err)
		}
	})
}

func TestFailedSendLeavesNothingBehind(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, c, nil)
		e.sender.fail(fmt.Errorf("%w: connexus: HTTP 500", otp.ErrUpstream))
		_, _, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal})
		if !errors.Is(err, otp.ErrUpstream) {
			t.Fatalf("Start with a failing upstream = %v, want ErrUpstream", err)
		}
		if _, err := e.svc.Check(ctx, otp.CheckRequest{To: nzLocal, Code: "123456"}); !errors.Is(err, otp.ErrNotFound) {
			t.Errorf("check after a failed send = %v, want ErrNotFound", err)
		}
		e.sender.fail(nil)
		if _, created, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal}); err != nil || !created {
			t.Fatalf("start right after a failed send = %v, %v; want no cooldown", created, err)
		}
	})
}

func TestFailedSendUsesNoSendQuota(t *testing.T) {
	c, _ := redistest.Mini(t)
	ctx := context.Background()
	sends := newLimiter(1)
	e := newEnv(t, c, nil, otp.WithLimits(otp.Limits{SendsPerPhone: sends}))
	e.sender.fail(otp.ErrUpstream)
	for range 3 {
		if _, _, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal}); !errors.Is(err, otp.ErrUpstream) {
			t.Fatalf("Start with a failing upstream = %v, want ErrUpstream", err)
		}
	}
	if n := sends.count(nzNumber); n != 0 {
		t.Errorf("failed sends counted %d against the per-number send quota, want 0", n)
	}
	e.sender.fail(nil)
	if _, _, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal}); err != nil {
		t.Fatalf("start after failed sends: %v", err)
	}
	if n := sends.count(nzNumber); n != 1 {
		t.Errorf("per-number send quota used = %d after one SMS, want 1", n)
	}
}

func TestFailedResendKeepsTheCooldownOfTheLastSend(t *testing.T) {
	c, _ := redistest.Mini(t)
	ctx := context.Background()
	e := newEnv(t, c, nil)
	v := e.mustStart(t, nzLocal)
	e.clock.Advance(40 * time.Second)
	e.sender.fail(otp.ErrUpstream)
	if _, _, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal}); !errors.Is(err, otp.ErrUpstream) {
		t.Fatalf("resend = %v, want ErrUpstream", err)
	}
	e.sender.fail(nil)
	r, created, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal})
	if err != nil || created || r.ID != v.ID || r.Sends != 2 {
		t.Fatalf("resend after a failed one = %+v created=%v, %v", r, created, err)
	}
}

func TestStartLimits(t *testing.T) {
	c, _ := redistest.Mini(t)
	ctx := context.Background()
	perIP, sends, failures := newLimiter(1), newLimiter(1), newLimiter(2)
	e := newEnv(t, c, nil, otp.WithLimits(otp.Limits{StartsPerIP: perIP, SendsPerPhone: sends, FailuresPerPhone: failures}))

	if _, _, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal, ClientIP: "203.0.113.9"}); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.svc.Start(ctx, otp.StartRequest{To: "021 999 9999", ClientIP: "203.0.113.9"})
	le := wantLimit(t, err, otp.ErrRateLimited)
	if le.Limit != 1 || le.Remaining != 0 {
		t.Errorf("per-IP limit error = %+v", le)
	}
	if _, _, err := e.svc.Start(ctx, otp.StartRequest{To: "021 999 9999"}); err != nil {
		t.Fatalf("a start without client_ip was limited per IP: %v", err)
	}

	// The per-number send quota refuses a resend, and the refused send
	// starts no cooldown.
	e.clock.Advance(time.Minute)
	_, _, err = e.svc.Start(ctx, otp.StartRequest{To: nzLocal})
	wantLimit(t, err, otp.ErrRateLimited)
	sends.n = map[string]int64{}
	if _, _, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal}); err != nil {
		t.Fatalf("start after the send quota freed up: %v", err)
	}

	failures.n[nzNumber] = 2
	e.clock.Advance(time.Minute)
	_, _, err = e.svc.Start(ctx, otp.StartRequest{To: nzLocal})
	wantLimit(t, err, otp.ErrRateLimited)
	if e.sender.count() != 3 || e.events.count(otp.EventRateLimited) != 3 {
		t.Errorf("sent %d SMS, events %v", e.sender.count(), e.events.n)
	}
	perIP.err = errors.New("redis down")
	if _, _, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal, ClientIP: "203.0.113.9"}); !errors.Is(err, otp.ErrUnavailable) {
		t.Errorf("start with a broken limiter = %v, want ErrUnavailable", err)
	}
}

func TestChecksPerIP(t *testing.T) {
	c, _ := redistest.Mini(t)
	e := newEnv(t, c, nil, otp.WithLimits(otp.Limits{ChecksPerIP: newLimiter(1)}))
	v := e.mustStart(t, nzLocal)
	code := e.sender.last(t)
	req := otp.CheckRequest{ID: v.ID, Code: wrong(code), ClientIP: "198.51.100.1"}
	if _, err := e.svc.Check(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	req.Code = code
	_, err := e.svc.Check(context.Background(), req)
	wantLimit(t, err, otp.ErrRateLimited)
	if got, _ := e.svc.Get(context.Background(), v.ID); got.AttemptsLeft != 4 {
		t.Errorf("a rate-limited check used an attempt: %d left", got.AttemptsLeft)
	}
}

func TestLookup(t *testing.T) {
	spark := &otp.Lookup{Carrier: "Spark", NetworkCode: "TCNZ", Ported: true}
	tests := []struct {
		name      string
		mode      otp.LookupMode
		to        string
		res       *otp.Lookup
		err       error
		wantErr   error
		wantCalls int32
		wantData  *otp.Lookup
		wantEvent otp.Event
	}{
		{"valid", otp.LookupOn, nzLocal, spark, nil, nil, 1, spark, otp.EventLookupOK},
		{"invalid", otp.LookupOn, nzLocal, nil, otp.ErrInvalidPhone, otp.ErrInvalidPhone, 1, nil, otp.EventLookupInvalid},
		{"not a mobile", otp.LookupOn, nzLocal, nil, fmt.Errorf("lookup: %w: a landline", otp.ErrNotMobile), otp.ErrNotMobile, 1, nil, otp.EventLookupInvalid},
		{"outage, on", otp.LookupOn, nzLocal, nil, errors.New("timeout"), nil, 1, nil, otp.EventLookupUnavailable},
		{"outage, required", otp.LookupRequired, nzLocal, nil, errors.New("timeout"), otp.ErrUpstream, 1, nil, otp.EventLookupUnavailable},
		{"off", otp.LookupOff, nzLocal, spark, nil, nil, 0, nil, ""},
		{"not NZ", otp.LookupRequired, auNumber, spark, nil, nil, 0, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := redistest.Mini(t)
			e := newEnv(t, c, func(cfg *otp.Config) { cfg.Lookup = tt.mode })
			e.lookup.res, e.lookup.err = tt.res, tt.err
			v, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: tt.to})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Start = %v, want %v", err, tt.wantErr)
			}
			// A non-mobile is an invalid phone to /v1, and one only to Twilio's 60205.
			if got, want := errors.Is(err, otp.ErrNotMobile), errors.Is(tt.wantErr, otp.ErrNotMobile); got != want {
				t.Errorf("Start = %v: not a mobile = %v, want %v", err, got, want)
			}
			if errors.Is(tt.wantErr, otp.ErrInvalidPhone) && !errors.Is(err, otp.ErrInvalidPhone) {
				t.Errorf("Start = %v, want an invalid phone", err)
			}
			if got := e.lookup.calls.Load(); got != tt.wantCalls {
				t.Errorf("lookups = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantErr != nil {
				if e.sender.count() != 0 {
					t.Error("an SMS was sent although the start failed")
				}
			} else if (v.Lookup == nil) != (tt.wantData == nil) || (v.Lookup != nil && *v.Lookup != *tt.wantData) {
				t.Errorf("lookup data = %+v, want %+v", v.Lookup, tt.wantData)
			}
			if tt.wantEvent != "" && e.events.count(tt.wantEvent) != 1 {
				t.Errorf("events = %v, want one %s", e.events.n, tt.wantEvent)
			}
		})
	}
}

func TestLookupIsCachedForADay(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		e := newEnv(t, c, func(cfg *otp.Config) { cfg.Lookup = otp.LookupRequired })
		e.mustStart(t, nzLocal)
		e.clock.Advance(time.Minute)
		r := e.mustStart(t, nzLocal)
		if n := e.lookup.calls.Load(); n != 1 {
			t.Fatalf("lookups after a resend = %d, want 1", n)
		}
		if r.Lookup == nil || r.Lookup.Carrier != "Spark" {
			t.Errorf("resent verification lookup = %+v", r.Lookup)
		}
		e.clock.Advance(24 * time.Hour)
		e.mustStart(t, nzLocal)
		if n := e.lookup.calls.Load(); n != 2 {
			t.Fatalf("lookups a day later = %d, want 2", n)
		}
	})
}

func TestRecordDelivery(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, c, nil)
		v := e.mustStart(t, nzLocal)
		at := e.clock.Now().Add(time.Second)
		for range 2 { // a duplicate report is harmless
			found, err := e.svc.RecordDelivery(ctx, otp.SenderConnexus, "msg-1", otp.Delivery{Status: "delivered", UpdatedAt: at})
			if err != nil || !found {
				t.Fatalf("RecordDelivery = %v, %v", found, err)
			}
		}
		// A late report never moves a final state back.
		if _, err := e.svc.RecordDelivery(ctx, otp.SenderConnexus, "msg-1", otp.Delivery{Status: "accepted"}); err != nil {
			t.Fatal(err)
		}
		got, _ := e.svc.Get(ctx, v.ID)
		if got.Delivery == nil || got.Delivery.Status != "delivered" || !got.Delivery.UpdatedAt.Equal(at) {
			t.Fatalf("delivery = %+v", got.Delivery)
		}
		if found, err := e.svc.RecordDelivery(ctx, otp.SenderConnexus, "msg-unknown", otp.Delivery{Status: "delivered"}); found || err != nil {
			t.Errorf("unknown message = %v, %v; want false, nil", found, err)
		}
		if _, err := e.svc.RecordDelivery(ctx, otp.SenderConnexus, "msg-1", otp.Delivery{Status: "DELIVRD"}); !errors.Is(err, otp.ErrInvalidRequest) {
			t.Errorf("unknown status = %v, want ErrInvalidRequest", err)
		}

		// After a resend only reports of the new SMS count.
		e.clock.Advance(time.Minute)
		e.mustStart(t, nzLocal)
		if _, err := e.svc.RecordDelivery(ctx, otp.SenderConnexus, "msg-1", otp.Delivery{Status: "failed"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := e.svc.Get(ctx, v.ID); got.Delivery != nil {
			t.Fatalf("delivery after resend = %+v, want none yet", got.Delivery)
		}
		if found, _ := e.svc.RecordDelivery(ctx, otp.SenderConnexus, "msg-2", otp.Delivery{Status: "queued"}); !found {
			t.Fatal("report of the resent SMS not found")
		}
		if got, _ := e.svc.Get(ctx, v.ID); got.Delivery == nil || got.Delivery.Status != "queued" {
			t.Fatalf("delivery = %+v, want queued", got.Delivery)
		}
	})
}
