package redisstore_test

import (
	"context"
	"errors"
	"fmt"
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

// resendWith sends a new code, whose hash is hash, for pending
// verification id at now; a retry of the commit is run too.
func resendWith(t *testing.T, s *redisstore.Store, id, hash string, now time.Time) *otp.Verification {
	t.Helper()
	ctx := context.Background()
	if reuse, err := s.ReserveSend(ctx, reservation(hash, now)); err != nil || reuse != id {
		t.Fatalf("ReserveSend for a resend = %q, %v; want %s", reuse, err, id)
	}
	cm := commit(now, id, "ver_ffffffffffffffffffffffffffffffff", hash, "msg-"+hash, 5)
	cm.Token = hash
	var v *otp.Verification
	for range 2 {
		var created bool
		var err error
		if v, created, err = s.CommitSend(ctx, cm); err != nil || created {
			t.Fatalf("CommitSend of a resend = created %v, %v", created, err)
		}
	}
	return v
}

func wantTimes(t *testing.T, what string, got []time.Time, want ...time.Time) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: send times %v, want %v", what, got, want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Fatalf("%s: send times %v, want %v", what, got, want)
		}
	}
}

// Every send of a verification keeps its time, through retried commits
// and into the archive; the first resend costs no field of its own, since
// the latest send's time is known from the expiry and its TTL anyway.
func TestSendTimes(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		pk := "otp:{" + number + "}"
		v := mustCreate(t, s, 5)
		wantTimes(t, "first send", v.SendTimes, t0)

		at := []time.Time{t0, t0.Add(time.Minute), t0.Add(150 * time.Second), t0.Add(4*time.Minute + time.Millisecond)}
		got := resendWith(t, s, v.ID, "h1", at[1])
		wantTimes(t, "one resend", got.SendTimes, at[:2]...)
		if c.HExists(ctx, pk, "r").Val() {
			t.Error("one resend stored a field of send times")
		}
		resendWith(t, s, v.ID, "h2", at[2])
		got = resendWith(t, s, v.ID, "h3", at[3])
		wantTimes(t, "three resends", got.SendTimes, at...)
		if got.Sends != len(at) || !got.LastSentAt.Equal(at[3]) {
			t.Errorf("after three resends: %d sends, last at %v", got.Sends, got.LastSentAt)
		}
		if r := c.HGet(ctx, pk, "r").Val(); r != "60000,150000" {
			t.Errorf("r = %q, want the earlier resends' offsets 60000,150000", r)
		}

		got, err := s.Get(ctx, v.ID, at[3], time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		wantTimes(t, "Get", got.SendTimes, at...)
		if _, err := s.End(ctx, v.ID, "n", otp.StatusCanceled, at[3], time.Hour, cooldown); err != nil {
			t.Fatal(err)
		}
		next := mustCreateAt(t, s, at[3].Add(time.Minute))
		wantTimes(t, "the next verification", next.SendTimes, at[3].Add(time.Minute))
		got, err = s.Get(ctx, v.ID, at[3].Add(time.Minute), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		wantTimes(t, "the archived verification", got.SendTimes, at...)
	})
}

// Of a verification resent by a version that kept neither r nor n only
// the first send is known to the store (the Service adds the latest from
// its TTL); with n, the latest too; a resend without n is missing from r.
func TestSendTimesOfOlderVersions(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		pk := "otp:{" + number + "}"
		v := mustCreate(t, s, 5)
		first := t0.Add(time.Minute)
		resendWith(t, s, v.ID, "h1", first)
		if err := c.HDel(ctx, pk, "n").Err(); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, v.ID, first, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		wantTimes(t, "resend without n", got.SendTimes, t0)

		second := t0.Add(2 * time.Minute)
		got = resendWith(t, s, v.ID, "h2", second)
		wantTimes(t, "a resend after one without n", got.SendTimes, t0, second)
		third := t0.Add(3 * time.Minute)
		got = resendWith(t, s, v.ID, "h3", third)
		wantTimes(t, "two resends after one without n", got.SendTimes, t0, second, third)
		if got.Sends != 4 {
			t.Errorf("sends = %d, want 4", got.Sends)
		}

		// Send times only inform: a damaged r does not hide the verification.
		if err := c.HSet(ctx, pk, "r", "x,1").Err(); err != nil {
			t.Fatal(err)
		}
		got, err = s.Get(ctx, v.ID, third, time.Hour)
		if err != nil {
			t.Fatalf("Get with a malformed r = %v", err)
		}
		wantTimes(t, "malformed r", got.SendTimes, t0, third)
	})
}

// TestSendTimesAfterAnOlderVersionsLeftovers runs a verification whose hash
// still holds r from an earlier one, as a version that does not know r
// leaves it when it starts a new verification (a rolling deploy or a
// rollback): the leftovers are not reported as this one's sends.
func TestSendTimesAfterAnOlderVersionsLeftovers(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		v := mustCreate(t, s, 5)
		if err := c.HSet(ctx, "otp:{"+number+"}", "r", "240000,250000").Err(); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, v.ID, t0, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		wantTimes(t, "first send", got.SendTimes, t0)
		var want []time.Time
		want = append(want, t0)
		for i := 1; i <= 3; i++ {
			at := t0.Add(time.Duration(i) * time.Minute)
			want = append(want, at)
			got = resendWith(t, s, v.ID, fmt.Sprint("h", i), at)
			wantTimes(t, fmt.Sprintf("resend %d", i), got.SendTimes, want...)
		}
	})
}
