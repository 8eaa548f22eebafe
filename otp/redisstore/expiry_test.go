package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/events"
	"github.com/otpgate/otpgate/events/delivery"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// drain delivers every event due at now, in turn, and returns their types.
func drain(t *testing.T, s *redisstore.Store, now time.Time) []events.Type {
	t.Helper()
	var got []events.Type
	for {
		ps := claim(t, s, "drain", now)
		if len(ps) == 0 {
			return got
		}
		for _, p := range ps {
			got = append(got, p.Type)
			mustDone(t, s, p, now)
		}
	}
}

// TestExpiry: a verification still pending at its expiry yields exactly
// one verification.expired, at its expiry and however many consumers
// claim then; one that was resent expires at its new expiry, and one that
// ended never expires.
func TestExpiry(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		change func(t *testing.T, s *redisstore.Store, v *otp.Verification)
		// expires is when verification.expired is due; zero for never.
		expires time.Time
	}{
		{"untouched", func(*testing.T, *redisstore.Store, *otp.Verification) {}, t0.Add(5 * time.Minute)},
		{"resent", func(t *testing.T, s *redisstore.Store, v *otp.Verification) {
			resend(t, s, v, t0.Add(time.Minute))
		}, t0.Add(6 * time.Minute)},
		{"approved", func(t *testing.T, s *redisstore.Store, v *otp.Verification) {
			approve(t, s, v, t0.Add(time.Minute))
		}, time.Time{}},
		{"canceled", func(t *testing.T, s *redisstore.Store, v *otp.Verification) {
			if _, err := s.End(ctx, v.ID, "n", otp.StatusCanceled, t0.Add(time.Minute), time.Hour, cooldown); err != nil {
				t.Fatal(err)
			}
		}, time.Time{}},
		{"out of attempts", func(t *testing.T, s *redisstore.Store, v *otp.Verification) {
			for i := range 5 {
				a, err := s.ReserveAttempt(ctx, v.ID, fmt.Sprint("n", i), t0, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.ResolveAttempt(ctx, a, false, t0, time.Hour, cooldown); err != nil {
					t.Fatal(err)
				}
			}
		}, time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			redistest.Each(t, func(t *testing.T, c *redis.Client) {
				s := newEventStore(c)
				v := mustCreate(t, s, 5)
				tc.change(t, s, v)
				member := number + ":" + v.ID[len("ver_"):]
				if err := c.ZScore(ctx, "otp:ex", member).Err(); tc.expires.IsZero() != (err == redis.Nil) {
					t.Errorf("expiry member after the change: %v", err)
				}
				before := t0.Add(5*time.Minute - time.Millisecond)
				if !tc.expires.IsZero() {
					before = tc.expires.Add(-time.Millisecond)
				}
				for _, typ := range drain(t, s, before) {
					if typ == events.TypeExpired {
						t.Fatalf("expired before %v", tc.expires)
					}
				}
				if tc.expires.IsZero() {
					if got := drain(t, s, t0.Add(2*time.Hour)); len(got) != 0 {
						t.Errorf("after its end: %v, want nothing", got)
					}
					if n := c.ZCard(ctx, "otp:ex").Val(); n != 0 {
						t.Errorf("%d expiry members left with no event out", n)
					}
					return
				}
				// Consumers claiming side by side record it once.
				var (
					mu  sync.Mutex
					got []delivery.Pending
					wg  sync.WaitGroup
				)
				for k := range 4 {
					wg.Go(func() {
						ps, err := s.Claim(ctx, fmt.Sprint("c", k), tc.expires, 10, lease)
						if err != nil {
							t.Error(err)
						}
						mu.Lock()
						got = append(got, ps...)
						mu.Unlock()
					})
				}
				wg.Wait()
				if len(got) != 1 {
					t.Fatalf("claims at the expiry = %v, want one verification.expired", types(got))
				}
				checkMessage(t, got[0], events.TypeExpired, tc.expires, shown(t, s, v.ID, tc.expires))
				if got[0].Verification.Status != otp.StatusExpired {
					t.Errorf("expired event shows status %s", got[0].Verification.Status)
				}
				mustDone(t, s, got[0], tc.expires)
				if again := drain(t, s, tc.expires.Add(time.Hour)); len(again) != 0 {
					t.Errorf("after the expiry was delivered: %v, want nothing", again)
				}
			})
		})
	}
}
