package ratelimit

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func mustNew(t testing.TB, c redis.UniversalClient, name, rate string) *Limiter {
	t.Helper()
	l, err := New(c, name, rate)
	if err != nil {
		t.Fatalf("New(%q, %q): %v", name, rate, err)
	}
	return l
}

func mustTake(t testing.TB, l otp.Limiter, key string) otp.Quota {
	t.Helper()
	q, err := l.Take(context.Background(), key)
	if err != nil {
		t.Fatalf("Take(%q): %v", key, err)
	}
	return q
}

func mustPeek(t testing.TB, l *Limiter, key string) otp.Quota {
	t.Helper()
	q, err := l.Peek(context.Background(), key)
	if err != nil {
		t.Fatalf("Peek(%q): %v", key, err)
	}
	return q
}

func TestNewRefuses(t *testing.T) {
	c, _ := redistest.Mini(t)
	tests := []struct {
		name   string
		client redis.UniversalClient
		lname  string
		rate   string
	}{
		{name: "nil client", lname: "x", rate: "5-H"},
		{name: "empty name", client: c, rate: "5-H"},
		{name: "empty rate", client: c, lname: "x"},
		{name: "no period", client: c, lname: "x", rate: "5"},
		{name: "unknown period", client: c, lname: "x", rate: "5-W"},
		{name: "negative", client: c, lname: "x", rate: "-5-H"},
		{name: "zero limit", client: c, lname: "x", rate: "0-H"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if l, err := New(tt.client, tt.lname, tt.rate); err == nil {
				t.Errorf("New = %+v, want an error", l)
			}
		})
	}
}

func TestTakeCountsExactly(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		l := mustNew(t, c, "sends", "3-H")
		start := time.Now()
		want := []otp.Quota{
			{Limit: 3, Remaining: 2},
			{Limit: 3, Remaining: 1},
			{Limit: 3, Remaining: 0},
			{Limit: 3, Remaining: 0, Reached: true},
			{Limit: 3, Remaining: 0, Reached: true},
		}
		var firstReset time.Time
		for i, w := range want {
			got := mustTake(t, l, "6421234567")
			if got.Limit != w.Limit || got.Remaining != w.Remaining || got.Reached != w.Reached {
				t.Errorf("take %d = %+v, want %+v", i+1, got, w)
			}
			if !got.Reset.After(start.Add(59*time.Minute)) || got.Reset.After(start.Add(time.Hour+2*time.Second)) {
				t.Errorf("take %d: Reset %v is not about an hour after %v", i+1, got.Reset, start)
			}
			// A refused event must not push the end of the window out.
			if i == 0 {
				firstReset = got.Reset
			} else if got.Reset.After(firstReset.Add(time.Second)) {
				t.Errorf("take %d: Reset moved from %v to %v", i+1, firstReset, got.Reset)
			}
		}
		if q := mustTake(t, l, "6421111111"); q.Remaining != 2 || q.Reached {
			t.Errorf("another key shares the count: %+v", q)
		}
		if q := mustTake(t, mustNew(t, c, "checks", "3-H"), "6421234567"); q.Remaining != 2 || q.Reached {
			t.Errorf("another limiter shares the count: %+v", q)
		}
	})
}

func TestPeekDoesNotCount(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		l := mustNew(t, c, "failures", "2-D")
		for range 3 {
			if q := mustPeek(t, l, "k"); q.Remaining != 2 || q.Reached || q.Limit != 2 {
				t.Fatalf("Peek on a fresh key = %+v", q)
			}
		}
		mustTake(t, l, "k")
		if q := mustPeek(t, l, "k"); q.Remaining != 1 || q.Reached {
			t.Errorf("Peek after one take = %+v", q)
		}
		mustTake(t, l, "k")
		q := mustPeek(t, l, "k")
		if q.Remaining != 0 || !q.Reached {
			t.Errorf("Peek with nothing left = %+v, want Reached", q)
		}
		if !q.Reset.After(time.Now().Add(23 * time.Hour)) {
			t.Errorf("Peek Reset %v is not a day away", q.Reset)
		}
	})
}

func TestKeyLayout(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		mustTake(t, mustNew(t, c, "sends", "5-M"), "6421234567")
		mustTake(t, mustNew(t, c, "checks", "5-M"), "2001:db8:1:2::/64")
		for _, key := range []string{"otpgate:rl:sends:6421234567", "otpgate:rl:checks:2001:db8:1:2::/64"} {
			ttl, err := c.PTTL(ctx, key).Result()
			if err != nil {
				t.Fatalf("PTTL %s: %v", key, err)
			}
			if ttl <= 0 || ttl > time.Minute {
				t.Errorf("%s: TTL %v, want within a minute", key, ttl)
			}
		}
	})
}

func TestWindowResets(t *testing.T) {
	c, m := redistest.Mini(t)
	l := mustNew(t, c, "starts", "2-H")
	mustTake(t, l, "ip")
	mustTake(t, l, "ip")
	if q := mustTake(t, l, "ip"); !q.Reached {
		t.Fatalf("third take in 2-H = %+v, want Reached", q)
	}
	m.FastForward(59 * time.Minute)
	if q := mustTake(t, l, "ip"); !q.Reached {
		t.Fatalf("take before the hour is over = %+v, want Reached", q)
	}
	m.FastForward(time.Minute)
	if q := mustTake(t, l, "ip"); q.Reached || q.Remaining != 1 {
		t.Errorf("first take of a new window = %+v, want Remaining 1", q)
	}
}

func TestConcurrentTakesAllowExactlyTheLimit(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		l := mustNew(t, c, "checks", "10-M")
		var allowed, refused atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 100 {
			wg.Go(func() {
				<-start
				q, err := l.Take(context.Background(), "203.0.113.7")
				switch {
				case err != nil:
					t.Errorf("Take: %v", err)
				case q.Reached:
					refused.Add(1)
				default:
					allowed.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if allowed.Load() != 10 || refused.Load() != 90 {
			t.Errorf("allowed %d, refused %d; want 10 and 90", allowed.Load(), refused.Load())
		}
	})
}

func TestRedisDownIsAnError(t *testing.T) {
	t.Run("real", func(t *testing.T) {
		s := redistest.StartServer(t)
		c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
		t.Cleanup(func() { _ = c.Close() })
		l := mustNew(t, c, "sends", "5-H")
		mustTake(t, l, "6421234567")
		s.Kill()
		assertDown(t, l)
	})
	t.Run("miniredis", func(t *testing.T) {
		c, m := redistest.Mini(t)
		l := mustNew(t, c, "sends", "5-H")
		// Never used while Redis was up: the lazy set-up must fail cleanly too.
		m.Close()
		assertDown(t, l)
		if err := m.Restart(); err != nil {
			t.Fatalf("restart miniredis: %v", err)
		}
		if q := mustTake(t, l, "6421234567"); q.Remaining != 4 {
			t.Errorf("take after Redis came back = %+v", q)
		}
	})
}

func assertDown(t *testing.T, l *Limiter) {
	t.Helper()
	ctx := context.Background()
	q, err := l.Take(ctx, "6421234567")
	if err == nil {
		t.Fatalf("Take with Redis down = %+v, want an error", q)
	}
	if strings.Contains(err.Error(), "6421234567") {
		t.Errorf("error shows the key: %v", err)
	}
	if _, err := l.Peek(ctx, "6421234567"); err == nil {
		t.Error("Peek with Redis down succeeded")
	}
}

func TestCanceledContextWhileStarting(t *testing.T) {
	c, _ := redistest.Mini(t)
	l := mustNew(t, c, "sends", "5-H")
	l.init <- struct{}{} // another caller is loading the scripts
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Take(ctx, "k"); err == nil {
		t.Error("Take waited past its context")
	}
	<-l.init
	mustTake(t, l, "k")
}

func TestSurvivesScriptFlush(t *testing.T) {
	c := redistest.Real(t)
	l := mustNew(t, c, "sends", "5-H")
	mustTake(t, l, "k")
	if err := c.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatalf("SCRIPT FLUSH: %v", err)
	}
	if q := mustTake(t, l, "k"); q.Remaining != 3 {
		t.Errorf("take after SCRIPT FLUSH = %+v, want Remaining 3", q)
	}
}

func BenchmarkTake(b *testing.B) {
	c := redistest.Real(b)
	l := mustNew(b, c, "bench", "1000000000-H")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Take(ctx, "6421234567"); err != nil {
			b.Fatal(err)
		}
	}
}
