package otp_test

import (
	"context"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// SendTimes lists every send of a verification, oldest first; of one whose
// resends a version without send times stored, the Service still knows
// the first and the latest.
func TestSendTimesListEverySend(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, c, nil)
		var want []time.Time
		var v *otp.Verification
		for _, wait := range []time.Duration{0, 40 * time.Second, time.Minute, 30 * time.Second} {
			e.clock.Advance(wait)
			want = append(want, e.clock.Now())
			v = e.mustStart(t, nzLocal)
		}
		got, err := e.svc.Get(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		for name, times := range map[string][]time.Time{"Start": v.SendTimes, "Get": got.SendTimes} {
			if !equalTimes(times, want) || len(times) != got.Sends {
				t.Errorf("%s: send times %v, want %v (%d sends)", name, times, want, got.Sends)
			}
		}

		// As stored by a version that kept neither the resends nor their TTL.
		if err := c.HDel(ctx, "otp:{"+nzNumber+"}", "r", "n").Err(); err != nil {
			t.Fatal(err)
		}
		got, err = e.svc.Get(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if known := []time.Time{want[0], want[len(want)-1]}; !equalTimes(got.SendTimes, known) {
			t.Errorf("send times of an older version's verification %v, want the first and latest %v", got.SendTimes, known)
		}
	})
}

func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}
