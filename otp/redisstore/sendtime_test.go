package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// The cooldown and LastSentAt come from the stored send time, so replicas
// running with different OTP_TTLs (a rolling deploy) agree on both, after
// the first send and after a resend.
func TestCooldownDoesNotDependOnTheReadersTTL(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		v := mustCreate(t, s, 5) // sent at t0 with a TTL of 5m
		if got, _ := s.Get(ctx, v.ID, t0, time.Hour); got == nil || !got.LastSentAt.Equal(t0) {
			t.Fatalf("Get after the first send = %+v, want LastSentAt %v", got, t0)
		}

		resent := t0.Add(time.Minute)
		r := reservation("tok2", resent)
		r.TTL = 10 * time.Minute
		if _, err := s.ReserveSend(ctx, r); err != nil {
			t.Fatalf("ReserveSend with a longer TTL after the cooldown = %v", err)
		}
		cm := commit(resent, v.ID, "ver_ffffffffffffffffffffffffffffffff", "$2a$10$other", "msg-2", 5)
		cm.Token, cm.TTL = "tok2", 10*time.Minute
		got, _, err := s.CommitSend(ctx, cm)
		if err != nil || !got.LastSentAt.Equal(resent) || !got.ExpiresAt.Equal(resent.Add(10*time.Minute)) {
			t.Fatalf("CommitSend of the resend = %+v, %v; want LastSentAt %v", got, err, resent)
		}

		for _, ttl := range []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Minute, time.Hour} {
			r := reservation("tok3", resent.Add(29*time.Second))
			r.TTL = ttl
			_, err := s.ReserveSend(ctx, r)
			le, ok := errors.AsType[*otp.LimitError](err)
			if !ok || !errors.Is(err, otp.ErrCooldown) || !le.Reset.Equal(resent.Add(30*time.Second)) {
				t.Errorf("ReserveSend 29s after the resend, TTL %v = %v; want a cooldown until %v", ttl, err, resent.Add(30*time.Second))
			}
		}
		if got, _ := s.Get(ctx, v.ID, resent, time.Hour); got == nil || !got.LastSentAt.Equal(resent) {
			t.Fatalf("Get after the resend = %+v, want LastSentAt %v", got, resent)
		}
	})
}

// mustResend sends a new code for pending verification id at now.
func mustResend(t *testing.T, s *redisstore.Store, id string, now time.Time) *otp.Verification {
	t.Helper()
	ctx := context.Background()
	if reuse, err := s.ReserveSend(ctx, reservation("resend", now)); err != nil || reuse != id {
		t.Fatalf("ReserveSend for a resend = %q, %v; want %s", reuse, err, id)
	}
	cm := commit(now, id, "ver_ffffffffffffffffffffffffffffffff", "$2a$10$other", "msg-2", 5)
	cm.Token = "resend"
	v, created, err := s.CommitSend(ctx, cm)
	if err != nil || created {
		t.Fatalf("CommitSend of a resend = created %v, %v", created, err)
	}
	return v
}

// A resend stored by a version that did not keep its TTL still has a
// cooldown, derived from its expiry and the reader's TTL; a first send
// went out when its verification was created, whatever any version wrote.
func TestResendWithoutSendTimeFallsBackToTheTTL(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		pk := "otp:{" + number + "}"
		v := mustCreate(t, s, 5)
		// Left over from an earlier verification by a version that does not
		// clear n.
		if err := c.HSet(ctx, pk, "n", 1000).Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(ctx, v.ID, t0, time.Hour); err != nil || !got.LastSentAt.Equal(t0) {
			t.Fatalf("Get of a first send with a stray n = %+v, %v; want LastSentAt %v", got, err, t0)
		}

		resent := t0.Add(time.Minute)
		mustResend(t, s, v.ID, resent)
		if err := c.HDel(ctx, pk, "n").Err(); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, v.ID, resent, time.Hour)
		if err != nil || !got.LastSentAt.IsZero() || !got.ExpiresAt.Equal(resent.Add(5*time.Minute)) {
			t.Fatalf("Get of a resend without n = %+v, %v; want no LastSentAt", got, err)
		}
		tests := []struct {
			ttl  time.Duration
			at   time.Duration // after the resend
			want time.Time     // end of the cooldown; zero: none
		}{
			{5 * time.Minute, 29 * time.Second, resent.Add(30 * time.Second)},
			{5 * time.Minute, 30 * time.Second, time.Time{}},
			// The old derivation: a longer TTL puts the send earlier, a
			// shorter one later.
			{5*time.Minute + 30*time.Second, 0, time.Time{}},
			{5*time.Minute + 15*time.Second, 10 * time.Second, resent.Add(15 * time.Second)},
			{4 * time.Minute, 0, resent.Add(90 * time.Second)},
		}
		for _, tt := range tests {
			r := reservation("probe", resent.Add(tt.at))
			r.TTL = tt.ttl
			_, err := s.ReserveSend(ctx, r)
			if tt.want.IsZero() {
				if err != nil {
					t.Errorf("ReserveSend at +%v with TTL %v = %v, want no cooldown", tt.at, tt.ttl, err)
				}
				if err := s.ReleaseSend(ctx, number, "probe"); err != nil {
					t.Fatal(err)
				}
				continue
			}
			le, ok := errors.AsType[*otp.LimitError](err)
			if !ok || !errors.Is(err, otp.ErrCooldown) || !le.Reset.Equal(tt.want) {
				t.Errorf("ReserveSend at +%v with TTL %v = %v, want a cooldown until %v", tt.at, tt.ttl, err, tt.want)
			}
		}
	})
}
