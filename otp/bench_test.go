package otp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkStart measures a start against a real Redis with hashing made
// free, so the figure is the Redis round trips of the start path.
func BenchmarkStart(b *testing.B) {
	c := redistest.Real(b)
	e := newBenchEnv(b, c)
	n := 0
	for b.Loop() {
		n++
		if _, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: fmt.Sprintf("+6421%07d", n)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck measures a wrong guess (reserve, compare, resolve) against
// a real Redis with hashing made free; each round renews the code so the
// attempts never run out.
func BenchmarkCheck(b *testing.B) {
	c := redistest.Real(b)
	e := newBenchEnv(b, c)
	v, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: nzLocal})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := e.svc.Check(context.Background(), otp.CheckRequest{ID: v.ID, Code: "000000"})
		if err != nil {
			b.Fatal(err)
		}
		if res.AttemptsLeft == 0 {
			b.StopTimer()
			e.clock.Advance(time.Hour)
			if v, _, err = e.svc.Start(context.Background(), otp.StartRequest{To: nzLocal}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
}

func newBenchEnv(b *testing.B, c *redis.Client) *env {
	b.Helper()
	return newEnv(b, c, nil, otp.WithCodeGenerator(func(int) (string, error) { return "123456", nil }))
}
