package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// benchStore is a Store on a fresh real Redis, and a way to create pending
// verifications of distinct numbers on it.
type benchStore struct {
	s   *redisstore.Store
	ctx context.Context
	now time.Time
	n   int // verifications created
	g   int // guesses made, to name each one
}

func newBenchStore(b *testing.B, opts ...redisstore.Option) *benchStore {
	b.Helper()
	return &benchStore{s: redisstore.New(redistest.Real(b), opts...), ctx: context.Background(), now: time.Now()}
}

// create is what a start costs the store: reserve a send, commit it.
func (bs *benchStore) create(b *testing.B, maxAttempts int) *otp.Verification {
	b.Helper()
	bs.n++
	to := fmt.Sprintf("6421%07d", bs.n)
	id := fmt.Sprintf("ver_%032x", bs.n)
	r := otp.SendReservation{To: to, Token: "tok", Now: bs.now, Cooldown: 30 * time.Second,
		TTL: 5 * time.Minute, Retention: time.Hour, Hold: time.Minute, MaxSends: 5}
	reuse, err := bs.s.ReserveSend(bs.ctx, r)
	if err != nil {
		b.Fatalf("ReserveSend: %v", err)
	}
	v, _, err := bs.s.CommitSend(bs.ctx, otp.SendCommit{
		To: to, Token: "tok", ReuseID: reuse, NewID: id, CodeHash: fakeHash, MessageID: fmt.Sprint(1158492 + bs.n),
		Now: bs.now, TTL: 5 * time.Minute, Cooldown: 30 * time.Second, Retention: time.Hour,
		MaxAttempts: maxAttempts, MaxSends: 5,
	})
	if err != nil {
		b.Fatalf("CommitSend: %v", err)
	}
	return v
}

// attempt reserves one guess at v and records its outcome.
func (bs *benchStore) attempt(b *testing.B, v *otp.Verification, right bool) *otp.CheckResult {
	b.Helper()
	bs.g++
	a, err := bs.s.ReserveAttempt(bs.ctx, v.ID, fmt.Sprint("nonce-", bs.g), bs.now, time.Hour)
	if err != nil {
		b.Fatalf("ReserveAttempt: %v", err)
	}
	res, err := bs.s.ResolveAttempt(bs.ctx, a, right, bs.now, time.Hour, cooldown)
	if err != nil {
		b.Fatalf("ResolveAttempt: %v", err)
	}
	return res
}

// BenchmarkStore times each store operation of the hot paths on a real
// Redis: the Redis side of a start, a check and a GET; a start and an
// approval also with events, which they then record.
func BenchmarkStore(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts []redisstore.Option
	}{
		{"create", nil},
		{"create-events", []redisstore.Option{redisstore.WithEvents(evConfig)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bs := newBenchStore(b, tc.opts...)
			for b.Loop() {
				bs.create(b, 5)
			}
		})
	}
	b.Run("reserve-attempt", func(b *testing.B) {
		bs := newBenchStore(b)
		var v *otp.Verification
		for i := 0; b.Loop(); i++ {
			// Unresolved guesses pile up in the hash: a fresh verification
			// every few keeps it the size a real one has.
			if i%4 == 0 {
				b.StopTimer()
				v = bs.create(b, 5)
				b.StartTimer()
			}
			if _, err := bs.s.ReserveAttempt(bs.ctx, v.ID, fmt.Sprint("n", i), bs.now, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, tc := range []struct {
		name  string
		right bool
		want  otp.Status
		opts  []redisstore.Option
	}{
		{"reserve+resolve-approve", true, otp.StatusApproved, nil},
		{"reserve+resolve-approve-events", true, otp.StatusApproved, []redisstore.Option{redisstore.WithEvents(evConfig)}},
		{"reserve+resolve-fail", false, otp.StatusPending, nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bs := newBenchStore(b, tc.opts...)
			v := bs.create(b, 1<<30)
			for b.Loop() {
				if tc.right {
					// An approved verification takes no more guesses.
					b.StopTimer()
					v = bs.create(b, 5)
					b.StartTimer()
				}
				if res := bs.attempt(b, v, tc.right); res.Status != tc.want {
					b.Fatalf("status = %s, want %s", res.Status, tc.want)
				}
			}
		})
	}
	b.Run("get", func(b *testing.B) {
		bs := newBenchStore(b)
		v := bs.create(b, 5)
		for b.Loop() {
			if _, err := bs.s.Get(bs.ctx, v.ID, bs.now, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
}
