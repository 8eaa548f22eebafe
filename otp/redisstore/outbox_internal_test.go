package redisstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// TestConsumersThatLeftAreReaped: a consumer that holds nothing and has
// been silent for reapIdle goes from the group; one that holds an event
// stays. The idle time is Redis' own, so the test shortens reapIdle and
// waits that long.
func TestConsumersThatLeftAreReaped(t *testing.T) {
	defer func(d time.Duration) { reapIdle = d }(reapIdle)
	reapIdle = 50 * time.Millisecond
	ctx := context.Background()
	c := redistest.Real(t)
	s := New(c, WithEvents(EventConfig{TTL: time.Minute, Cooldown: time.Second, Retention: time.Hour}))
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, to := range []string{"64211234567", "61400000001"} {
		r := otp.SendReservation{To: to, Token: "tok", Now: t0, Cooldown: time.Second, TTL: time.Minute,
			Retention: time.Hour, Hold: time.Minute, MaxSends: 5}
		if _, err := s.ReserveSend(ctx, r); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CommitSend(ctx, otp.SendCommit{To: to, Token: "tok", NewID: fmt.Sprintf("ver_%032x", i+1),
			CodeHash: "h", Now: t0, TTL: time.Minute, Cooldown: time.Second, Retention: time.Hour, MaxAttempts: 5, MaxSends: 5}); err != nil {
			t.Fatal(err)
		}
	}
	for _, consumer := range []string{"holds", "left"} {
		got, err := s.Claim(ctx, consumer, t0, 1, time.Hour)
		if err != nil || len(got) != 1 {
			t.Fatalf("Claim(%s) = %v, %v", consumer, got, err)
		}
		if consumer == "left" {
			if _, err := s.Done(ctx, got[0], t0); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(2 * reapIdle)
	if _, err := s.Claim(ctx, "live", t0.Add(reapEvery), 10, time.Hour); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ci := range c.XInfoConsumers(ctx, single.stream, "otpgate").Val() {
		names = append(names, fmt.Sprintf("%s:%d", ci.Name, ci.Pending))
	}
	// live just claimed the expiry of the verification left was done with.
	if want := []string{"holds:1", "live:1"}; !slices.Equal(names, want) {
		t.Errorf("consumers = %v, want %v", names, want)
	}
}
