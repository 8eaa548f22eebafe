package otp_test

import (
	"context"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// Replicas running with different OTP_TTLs, as in a rolling deploy that
// changes it, agree on when the next code may go out, after a first send
// and after a resend.
func TestReplicasWithDifferentTTLsAgreeOnTheCooldown(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		short := newEnv(t, c, nil)
		long := newEnv(t, c, func(cfg *otp.Config) { cfg.TTL = 3 * cfg.TTL }, otp.WithClock(short.clock.Now))
		replicas := []struct {
			name string
			e    *env
		}{{"short TTL", short}, {"long TTL", long}}

		sent := short.clock.Now()
		v := short.mustStart(t, nzLocal)
		for round, by := range []*env{long, short} {
			for _, r := range replicas {
				got, err := r.e.svc.Get(ctx, v.ID)
				if err != nil || !got.LastSentAt.Equal(sent) || !got.ResendAt.Equal(sent.Add(30*time.Second)) {
					t.Fatalf("round %d, %s: Get = %+v, %v; want sent at %v", round, r.name, got, err, sent)
				}
			}
			short.clock.Advance(29 * time.Second)
			_, _, err := by.svc.Start(ctx, otp.StartRequest{To: nzLocal})
			if le := wantLimit(t, err, otp.ErrCooldown); !le.Reset.Equal(sent.Add(30 * time.Second)) {
				t.Errorf("round %d: cooldown until %v, want %v", round, le.Reset, sent.Add(30*time.Second))
			}
			short.clock.Advance(time.Second)
			sent = short.clock.Now()
			if r, created, err := by.svc.Start(ctx, otp.StartRequest{To: nzLocal}); err != nil || created || !r.ResendAt.Equal(sent.Add(30*time.Second)) {
				t.Fatalf("round %d: resend = %+v created=%v, %v", round, r, created, err)
			}
		}
	})
}
