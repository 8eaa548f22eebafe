package redisstore_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/events"
	"github.com/otpgate/otpgate/events/delivery"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// evConfig renders events as the tests' sends are made.
var evConfig = redisstore.EventConfig{TTL: 5 * time.Minute, Cooldown: cooldown, Retention: time.Hour}

// lease is what the tests claim for unless they test leases.
const lease = time.Minute

func newEventStore(c redis.UniversalClient) *redisstore.Store {
	return redisstore.New(c, redisstore.WithEvents(evConfig))
}

// shown is verification id as the API shows it at now.
func shown(t *testing.T, s *redisstore.Store, id string, now time.Time) *otp.Verification {
	t.Helper()
	v, err := s.Get(context.Background(), id, now, evConfig.Retention)
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	return otp.Present(v, now, evConfig.TTL, evConfig.Cooldown)
}

// claim claims everything due at now for consumer.
func claim(t *testing.T, s *redisstore.Store, consumer string, now time.Time) []delivery.Pending {
	t.Helper()
	got, err := s.Claim(context.Background(), consumer, now, 100, lease)
	if err != nil {
		t.Fatalf("Claim(%s, %v): %v", consumer, now, err)
	}
	return got
}

// claimOne claims at now and wants exactly one event, of type typ.
func claimOne(t *testing.T, s *redisstore.Store, now time.Time, typ events.Type) delivery.Pending {
	t.Helper()
	got := claim(t, s, "c1", now)
	if len(got) != 1 || got[0].Type != typ {
		t.Fatalf("Claim at %v = %v, want one %s", now, types(got), typ)
	}
	return got[0]
}

func mustDone(t *testing.T, s *redisstore.Store, p delivery.Pending, now time.Time) {
	t.Helper()
	if _, err := s.Done(context.Background(), p, now); err != nil {
		t.Fatalf("Done %s: %v", p.ID, err)
	}
}

func types(ps []delivery.Pending) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprintf("%s of %s", p.Type, p.Verification.ID)
	}
	return out
}

// checkMessage compares an event with what it should say.
func checkMessage(t *testing.T, p delivery.Pending, typ events.Type, at time.Time, want *otp.Verification) {
	t.Helper()
	if p.Type != typ || !p.At.Equal(at) {
		t.Errorf("event = %s at %v, want %s at %v", p.Type, p.At, typ, at)
	}
	if len(p.ID) != len("evt_")+32 || !strings.HasPrefix(p.ID, "evt_") {
		t.Errorf("event id %q, want evt_ and 32 hex digits", p.ID)
	}
	if !reflect.DeepEqual(p.Verification, want) {
		t.Errorf("%s carries\n %+v\nwant the verification as the API showed it then\n %+v", typ, p.Verification, want)
	}
}

// TestEachChangeRecordsOneEvent runs every change an app is told about,
// each twice as go-redis would replay it, and finds exactly one event of
// each, carrying the verification just after it.
func TestEachChangeRecordsOneEvent(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		// The service's clock when the delivery report comes in, later
		// than the provider's time in it.
		reported := t0.Add(time.Minute + 3*time.Second)
		cfg := evConfig
		cfg.Now = func() time.Time { return reported }
		s := redisstore.New(c, redisstore.WithEvents(cfg))
		v := mustCreate(t, s, 5)
		if _, _, err := s.CommitSend(ctx, commit(t0, "", v.ID, fakeHash, "1158493", 5)); err != nil {
			t.Fatalf("replayed commit: %v", err)
		}
		hash := c.HGet(ctx, "otp:{"+number+"}", "h").Val()
		p := claimOne(t, s, t0, events.TypePending)
		checkMessage(t, p, events.TypePending, t0, shown(t, s, v.ID, t0))
		if p.Attempts != 0 || !p.Since.Equal(t0) {
			t.Errorf("first attempt: Attempts %d, Since %v", p.Attempts, p.Since)
		}

		resent := t0.Add(time.Minute)
		if _, err := s.ReserveSend(ctx, reservation("tok2", resent)); err != nil {
			t.Fatal(err)
		}
		cm := commit(resent, v.ID, "ver_ffffffffffffffffffffffffffffffff", fakeHash+"2", "1158494", 5)
		cm.Token = "tok2"
		for range 2 {
			if _, _, err := s.CommitSend(ctx, cm); err != nil {
				t.Fatalf("resend: %v", err)
			}
		}
		wantResend := shown(t, s, v.ID, resent)

		delivered := otp.Delivery{Status: "delivered", UpdatedAt: resent.Add(time.Second)}
		for range 2 {
			if _, err := s.RecordDelivery(ctx, "1158494", delivered); err != nil {
				t.Fatal(err)
			}
		}
		wantDelivery := shown(t, s, v.ID, delivered.UpdatedAt)

		checked := resent.Add(2 * time.Second)
		a, err := s.ReserveAttempt(ctx, v.ID, "n1", checked, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := s.ResolveAttempt(ctx, a, true, checked, time.Hour, cooldown); err != nil {
				t.Fatal(err)
			}
		}
		wantApproved := shown(t, s, v.ID, checked)

		// One at a time, in order: each is deliverable since it was
		// recorded on the service's clock, however long it waited behind
		// the one before it, so a verification's events end within a
		// day of being recorded.
		released := resent
		mustDone(t, s, p, released)
		for _, want := range []struct {
			typ      events.Type
			at       time.Time
			recorded time.Time
			v        *otp.Verification
		}{
			{events.TypePending, resent, resent, wantResend},
			{events.TypeDelivery, delivered.UpdatedAt, reported, wantDelivery},
			{events.TypeApproved, checked, checked, wantApproved},
		} {
			now := released.Add(time.Minute)
			p := claimOne(t, s, now, want.typ)
			checkMessage(t, p, want.typ, want.at, want.v)
			if !p.Since.Equal(want.recorded) {
				t.Errorf("%s deliverable since %v, want %v (when it was recorded)", want.typ, p.Since, want.recorded)
			}
			released = now
			mustDone(t, s, p, released)
		}
		if got := claim(t, s, "c1", checked.Add(time.Hour)); len(got) != 0 {
			t.Errorf("after the approval: %v, want nothing (no expiry of an approved verification)", types(got))
		}
		if hash == "" {
			t.Fatal("no code hash to look for")
		}
		assertNoEventHolds(t, c, hash)
		assertNoEventHolds(t, c, fakeHash)
	})
}

// assertNoEventHolds fails if any event key holds secret.
func assertNoEventHolds(t *testing.T, c redis.UniversalClient, secret string) {
	t.Helper()
	ctx := context.Background()
	for _, k := range c.Keys(ctx, "*").Val() {
		var vals []string
		switch c.Type(ctx, k).Val() {
		case "stream":
			for _, e := range c.XRange(ctx, k, "-", "+").Val() {
				for f, v := range e.Values {
					vals = append(vals, f+"="+fmt.Sprint(v))
				}
			}
		case "list":
			vals = c.LRange(ctx, k, 0, -1).Val()
		default:
			continue
		}
		for _, v := range vals {
			if strings.Contains(v, secret) {
				t.Errorf("%s holds the code hash", k)
			}
		}
	}
}

func TestEndsRecordTheirEvent(t *testing.T) {
	ctx := context.Background()
	end := func(status otp.Status) func(s *redisstore.Store, v *otp.Verification) func() error {
		return func(s *redisstore.Store, v *otp.Verification) func() error {
			return func() error {
				_, err := s.End(ctx, v.ID, "n1", status, t0, time.Hour, cooldown)
				return err
			}
		}
	}
	cases := []struct {
		name string
		// prepare returns the change, which the test runs twice.
		prepare func(s *redisstore.Store, v *otp.Verification) func() error
		typ     events.Type
	}{
		{"cancel", end(otp.StatusCanceled), events.TypeCanceled},
		{"approve without a code", end(otp.StatusApproved), events.TypeApproved},
		{"last wrong guess", func(s *redisstore.Store, v *otp.Verification) func() error {
			a, err := s.ReserveAttempt(ctx, v.ID, "n1", t0, time.Hour)
			return func() error {
				if err != nil {
					return err
				}
				_, err := s.ResolveAttempt(ctx, a, false, t0, time.Hour, cooldown)
				return err
			}
		}, events.TypeMaxAttempts},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			redistest.Each(t, func(t *testing.T, c *redis.Client) {
				s := newEventStore(c)
				v := mustCreate(t, s, 1)
				mustDone(t, s, claimOne(t, s, t0, events.TypePending), t0)
				change := tc.prepare(s, v)
				for range 2 {
					if err := change(); err != nil {
						t.Fatal(err)
					}
				}
				p := claimOne(t, s, t0, tc.typ)
				checkMessage(t, p, tc.typ, t0, shown(t, s, v.ID, t0))
				mustDone(t, s, p, t0)
				if got := claim(t, s, "c1", t0.Add(time.Hour)); len(got) != 0 {
					t.Errorf("after %s: %v, want nothing", tc.typ, types(got))
				}
			})
		})
	}
}

// TestDuplicateDeliveryReportRecordsNothing: only a report that changes
// the stored status is an event.
func TestDuplicateDeliveryReportRecordsNothing(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := newEventStore(c)
		mustCreate(t, s, 5)
		mustDone(t, s, claimOne(t, s, t0, events.TypePending), t0)
		reports := []otp.Delivery{
			{Status: "sent", UpdatedAt: t0.Add(time.Second)},
			{Status: "sent", UpdatedAt: t0.Add(2 * time.Second)},
			{Status: "delivered", UpdatedAt: t0.Add(3 * time.Second)},
			{Status: "delivered", UpdatedAt: t0.Add(3 * time.Second)},
			{Status: "sent", UpdatedAt: t0.Add(4 * time.Second)}, // late: never moves back
		}
		for _, d := range reports {
			if found, err := s.RecordDelivery(ctx, "1158493", d); err != nil || !found {
				t.Fatalf("RecordDelivery %+v = %v, %v", d, found, err)
			}
		}
		var got []string
		for {
			ps := claim(t, s, "c1", t0.Add(time.Minute))
			if len(ps) == 0 {
				break
			}
			got = append(got, ps[0].Verification.Delivery.Status)
			mustDone(t, s, ps[0], t0.Add(time.Minute))
		}
		if want := []string{"sent", "delivered"}; !reflect.DeepEqual(got, want) {
			t.Errorf("delivery events = %v, want %v", got, want)
		}
	})
}

// TestWithoutEventsNothingIsRecorded: the store as it was, key for key.
func TestWithoutEventsNothingIsRecorded(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		v := mustCreate(t, s, 5)
		if _, err := s.RecordDelivery(ctx, "1158493", otp.Delivery{Status: "delivered", UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.End(ctx, v.ID, "n1", otp.StatusCanceled, t0, time.Hour, cooldown); err != nil {
			t.Fatal(err)
		}
		keys := c.Keys(ctx, "*").Val()
		if len(keys) != 3 {
			t.Errorf("keys = %v, want only the number hash and the two indexes", keys)
		}
		if _, err := s.Claim(ctx, "c1", t0, 10, lease); err == nil {
			t.Error("Claim on a store without events succeeded")
		}
	})
}

// TestWaitingEventKeepsItsBytes: an event that waited behind another
// carries the values it recorded byte for byte, whatever they hold.
func TestWaitingEventKeepsItsBytes(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := newEventStore(c)
		mustCreate(t, s, 5)
		status := "zugestellt ✓ \"/\\\x1f\x00"
		if _, err := s.RecordDelivery(ctx, "1158493", otp.Delivery{Status: status, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		mustDone(t, s, claimOne(t, s, t0, events.TypePending), t0)
		p := claimOne(t, s, t0, events.TypeDelivery)
		if got := p.Verification.Delivery.Status; got != status {
			t.Errorf("status after waiting = %q, want %q", got, status)
		}
	})
}
