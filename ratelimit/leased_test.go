package ratelimit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func mustNewLeased(t testing.TB, c redis.UniversalClient, name, rate string) *Leased {
	t.Helper()
	l, err := NewLeased(c, name, rate)
	if err != nil {
		t.Fatalf("NewLeased(%q, %q): %v", name, rate, err)
	}
	return l
}

// mustCount reads a limiter's counter in Redis.
func mustCount(t testing.TB, c redis.UniversalClient, name, key string) int64 {
	t.Helper()
	n, err := c.Get(context.Background(), DefaultPrefix+":"+name+":"+key).Int64()
	if err != nil {
		t.Fatalf("GET counter of %s: %v", name, err)
	}
	return n
}

// takeMany runs n Takes on l from workers goroutines started together and
// returns how many were allowed.
func takeMany(t *testing.T, l *Leased, key string, workers, n int) int64 {
	t.Helper()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := w; i < n; i += workers {
				q, err := l.Take(context.Background(), key)
				switch {
				case err != nil:
					t.Errorf("Take: %v", err)
				case !q.Reached:
					allowed.Add(1)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	return allowed.Load()
}

func TestNewLeasedRefusesWhatNewRefuses(t *testing.T) {
	c, _ := redistest.Mini(t)
	for _, rate := range []string{"", "5", "5-W", "0-H"} {
		if l, err := NewLeased(c, "x", rate); err == nil {
			t.Errorf("NewLeased(%q) = %+v, want an error", rate, l)
		}
	}
}

func TestLeaseIsAHundredthOfTheLimit(t *testing.T) {
	c, _ := redistest.Mini(t)
	tests := []struct {
		rate string
		want int64
	}{
		{"6000-M", 60},
		{"1000-M", 10},
		{"250-H", 2},
		{"199-H", 1},
		{"100-H", 1},
		{"5-H", 1},
		{"1-S", 1},
	}
	for _, tt := range tests {
		if got := mustNewLeased(t, c, "k", tt.rate).lease; got != tt.want {
			t.Errorf("lease of %s = %d, want %d", tt.rate, got, tt.want)
		}
	}
}

// A lease of one must be today's Limiter, which keeps counting past the
// limit; the lease script never would.
func TestLeaseOfOneIsTheLimiter(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		l := mustNewLeased(t, c, "sends", "3-H")
		want := []otp.Quota{
			{Limit: 3, Remaining: 2},
			{Limit: 3, Remaining: 1},
			{Limit: 3, Remaining: 0},
			{Limit: 3, Remaining: 0, Reached: true},
			{Limit: 3, Remaining: 0, Reached: true},
		}
		for i, w := range want {
			if got := mustTake(t, l, "k"); got.Limit != w.Limit || got.Remaining != w.Remaining || got.Reached != w.Reached {
				t.Errorf("take %d = %+v, want %+v", i+1, got, w)
			}
		}
		if n := mustCount(t, c, "sends", "k"); n != 5 {
			t.Errorf("counter = %d, want 5 as Limiter counts", n)
		}
	})
}

func TestLeasedCountsDownByOne(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		l := mustNewLeased(t, c, "per-key", "1000-M")
		start := time.Now()
		var reset time.Time
		for i := range 25 {
			q := mustTake(t, l, "app")
			if q.Limit != 1000 || q.Remaining != int64(999-i) || q.Reached {
				t.Fatalf("take %d = %+v, want Remaining %d", i+1, q, 999-i)
			}
			if i == 0 {
				reset = q.Reset
				if !reset.After(start.Add(59*time.Second)) || reset.After(start.Add(time.Minute+2*time.Second)) {
					t.Errorf("Reset %v is not about a minute after %v", reset, start)
				}
			} else if !q.Reset.Equal(reset) {
				t.Errorf("take %d: Reset moved from %v to %v", i+1, reset, q.Reset)
			}
		}
		if n := mustCount(t, c, "per-key", "app"); n != 30 {
			t.Errorf("counter after 25 takes = %d, want 3 leases of 10", n)
		}
		q, err := l.Peek(context.Background(), "app")
		if err != nil {
			t.Fatalf("Peek: %v", err)
		}
		if q.Remaining != 975 || q.Reached || q.Limit != 1000 {
			t.Errorf("Peek = %+v, want Remaining 975", q)
		}
		if n := mustCount(t, c, "per-key", "app"); n != 30 {
			t.Errorf("Peek counted: counter = %d", n)
		}
		if q := mustTake(t, l, "other"); q.Remaining != 999 {
			t.Errorf("another key shares the lease: %+v", q)
		}
	})
}

func TestLeasedGrantsWhatIsLeftWhenALeaseOvershoots(t *testing.T) {
	tests := []struct {
		used        int64 // events counted in Redis before
		wantAllowed int
	}{
		{used: 0, wantAllowed: 6},
		{used: 995, wantAllowed: 5},
		{used: 997, wantAllowed: 3},
		{used: 999, wantAllowed: 1},
		{used: 1000, wantAllowed: 0},
		{used: 1010, wantAllowed: 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.used), func(t *testing.T) {
			redistest.Each(t, func(t *testing.T, c *redis.Client) {
				ctx := context.Background()
				if tt.used > 0 {
					if err := c.Set(ctx, DefaultPrefix+":per-key:app", tt.used, time.Minute).Err(); err != nil {
						t.Fatalf("SET: %v", err)
					}
				}
				l := mustNewLeased(t, c, "per-key", "1000-M")
				allowed := 0
				for i := range 6 {
					q := mustTake(t, l, "app")
					if !q.Reached {
						allowed++
					}
					wantLeft := max(1000-tt.used-int64(i)-1, 0)
					if q.Remaining != wantLeft || q.Reached != (i >= tt.wantAllowed) {
						t.Errorf("take %d = %+v, want Remaining %d, Reached %v", i+1, q, wantLeft, i >= tt.wantAllowed)
					}
				}
				if allowed != tt.wantAllowed {
					t.Errorf("%d allowed, want %d", allowed, tt.wantAllowed)
				}
				ttl, err := c.PTTL(ctx, DefaultPrefix+":per-key:app").Result()
				if err != nil || ttl <= 0 || ttl > time.Minute {
					t.Errorf("counter TTL %v (%v), want within a minute", ttl, err)
				}
			})
		})
	}
}

func TestLeasedConcurrentTakesAllowExactlyTheLimit(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		l := mustNewLeased(t, c, "per-key", "1000-M")
		if got := takeMany(t, l, "app", 50, 1500); got != 1000 {
			t.Errorf("%d of 1500 takes allowed, want 1000", got)
		}
		if n := mustCount(t, c, "per-key", "app"); n != 1000 {
			t.Errorf("counter = %d, want the limit", n)
		}
		q, err := l.Peek(context.Background(), "app")
		if err != nil || !q.Reached || q.Remaining != 0 {
			t.Errorf("Peek = %+v, %v; want Reached", q, err)
		}
	})
}

// Concurrent callers that find no token wait for one fetch instead of each
// leasing: 1500 takes with a lease of 1000 fetch exactly two leases, and on
// one replica every Remaining is told exactly once.
func TestLeasedFetchesOneLeaseAtATime(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		l := mustNewLeased(t, c, "per-key", "100000-H")
		var mu sync.Mutex
		seen := make(map[int64]int)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range 100 {
			wg.Go(func() {
				<-start
				for range 15 {
					q, err := l.Take(context.Background(), "app")
					if err != nil || q.Reached {
						t.Errorf("worker %d: Take = %+v, %v", w, q, err)
						return
					}
					mu.Lock()
					seen[q.Remaining]++
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if n := mustCount(t, c, "per-key", "app"); n != 2000 {
			t.Errorf("counter = %d, want two leases of 1000", n)
		}
		for r := int64(100000 - 1500); r < 100000; r++ {
			if seen[r] != 1 {
				t.Errorf("Remaining %d told %d times, want once", r, seen[r])
			}
		}
	})
}

// On a Cluster each key's lease script runs on its own master, which has
// never seen the script before.
func TestLeasedOnEveryTopology(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		l := mustNewLeased(t, tp.Client, "per-key", "1000-M")
		for k := range 3 {
			key := fmt.Sprintf("app-%d", k)
			if got := takeMany(t, l, key, 20, 1200); got != 1000 {
				t.Errorf("%s: %d of 1200 takes allowed, want 1000", key, got)
			}
		}
	})
}

func TestTwoReplicasStayWithinTheLimit(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		t.Run("both busy", func(t *testing.T) {
			a := mustNewLeased(t, c, "busy", "1000-M")
			b := mustNewLeased(t, c, "busy", "1000-M")
			var fromA, fromB int64
			var wg sync.WaitGroup
			wg.Go(func() { fromA = takeMany(t, a, "app", 25, 1500) })
			wg.Go(func() { fromB = takeMany(t, b, "app", 25, 1500) })
			wg.Wait()
			if total := fromA + fromB; total < 1000-2*a.lease || total > 1000 {
				t.Errorf("replicas allowed %d + %d = %d, want %d to 1000", fromA, fromB, total, 1000-2*a.lease)
			}
		})
		t.Run("one idle", func(t *testing.T) {
			a := mustNewLeased(t, c, "idle", "1000-M")
			b := mustNewLeased(t, c, "idle", "1000-M")
			mustTake(t, b, "app")
			// b's nine unspent tokens are the early refusals the lease costs.
			if got := takeMany(t, a, "app", 25, 1500); got != 990 {
				t.Errorf("busy replica allowed %d, want 990", got)
			}
			if q := mustTake(t, b, "app"); q.Reached {
				t.Errorf("idle replica's own token refused: %+v", q)
			}
		})
	})
}

func TestLeasedTokensDieWithTheWindow(t *testing.T) {
	c, m := redistest.Mini(t)
	clock := otptest.NewClock(time.Now())
	l := mustNewLeased(t, c, "per-key", "1000-M")
	l.now = clock.Now
	mustTake(t, l, "app")

	clock.Advance(time.Minute - time.Millisecond)
	if q := mustTake(t, l, "app"); q.Remaining != 998 {
		t.Errorf("take just before the window ends = %+v, want a leased token", q)
	}
	if n := mustCount(t, c, "per-key", "app"); n != 10 {
		t.Errorf("counter = %d, want the first lease only", n)
	}

	// Locally the window is over although Redis has not seen it end: the
	// eight tokens left must not be spent, so Redis is asked.
	clock.Advance(time.Millisecond)
	mustTake(t, l, "app")
	if n := mustCount(t, c, "per-key", "app"); n != 20 {
		t.Errorf("counter = %d, want a second lease", n)
	}

	m.FastForward(time.Minute)
	clock.Advance(time.Minute)
	if q := mustTake(t, l, "app"); q.Remaining != 999 || q.Reached {
		t.Errorf("first take of a new window = %+v, want Remaining 999", q)
	}
	if n := mustCount(t, c, "per-key", "app"); n != 10 {
		t.Errorf("counter in the new window = %d, want one lease", n)
	}
}

func TestLeasedReachedLastsUntilTheWindowEnds(t *testing.T) {
	c, m := redistest.Mini(t)
	clock := otptest.NewClock(time.Now())
	l := mustNewLeased(t, c, "per-key", "200-H")
	l.now = clock.Now
	for range 200 {
		mustTake(t, l, "app")
	}
	for range 3 {
		if q := mustTake(t, l, "app"); !q.Reached || q.Remaining != 0 {
			t.Fatalf("take past the limit = %+v, want Reached", q)
		}
	}
	m.FastForward(time.Hour)
	clock.Advance(time.Hour)
	if q := mustTake(t, l, "app"); q.Reached || q.Remaining != 199 {
		t.Errorf("take in the next window = %+v, want Remaining 199", q)
	}
}

func TestLeasedRedisDownIsAnError(t *testing.T) {
	t.Run("real", func(t *testing.T) {
		s := redistest.StartServer(t)
		c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
		t.Cleanup(func() { _ = c.Close() })
		l := mustNewLeased(t, c, "per-key", "1000-M")
		s.Kill()
		assertLeasedDown(t, l)
	})
	t.Run("miniredis", func(t *testing.T) {
		c, m := redistest.Mini(t)
		l := mustNewLeased(t, c, "per-key", "1000-M")
		mustTake(t, l, "6421234567")
		m.Close()
		// Tokens leased while Redis was up are this replica's to spend.
		for i := range 9 {
			if q := mustTake(t, l, "6421234567"); q.Remaining != int64(998-i) {
				t.Fatalf("leased take %d with Redis down = %+v", i+2, q)
			}
		}
		assertLeasedDown(t, l)
		if err := m.Restart(); err != nil {
			t.Fatalf("restart miniredis: %v", err)
		}
		if q := mustTake(t, l, "6421234567"); q.Remaining != 989 || q.Reached {
			t.Errorf("take after Redis came back = %+v, want Remaining 989", q)
		}
	})
}

func assertLeasedDown(t *testing.T, l *Leased) {
	t.Helper()
	ctx := context.Background()
	for range 2 {
		q, err := l.Take(ctx, "6421234567")
		if err == nil {
			t.Fatalf("Take with Redis down = %+v, want an error", q)
		}
		if strings.Contains(err.Error(), "6421234567") {
			t.Errorf("error shows the key: %v", err)
		}
	}
	if _, err := l.Peek(ctx, "6421234567"); err == nil {
		t.Error("Peek with Redis down succeeded")
	}
}

func TestLeasedWaitForAFetchHonoursTheContext(t *testing.T) {
	c, _ := redistest.Mini(t)
	l := mustNewLeased(t, c, "per-key", "1000-M")
	b := l.bucket("app")
	b.fetch <- struct{}{} // another caller is fetching a lease
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Take(ctx, "app"); err == nil {
		t.Error("Take waited past its context")
	}
	<-b.fetch
	if q := mustTake(t, l, "app"); q.Remaining != 999 {
		t.Errorf("take after the wait = %+v", q)
	}
}

func TestLeasedPeekOnAFreshKey(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		l := mustNewLeased(t, c, "per-key", "1000-M")
		q, err := l.Peek(context.Background(), "app")
		if err != nil || q.Remaining != 1000 || q.Reached || q.Limit != 1000 {
			t.Errorf("Peek = %+v, %v; want all 1000 left", q, err)
		}
	})
}

func BenchmarkLeasedTake(b *testing.B) {
	c := redistest.Real(b)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		l := mustNewLeased(b, c, "bench-serial", "1000000000-H")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Take(ctx, "app"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		l := mustNewLeased(b, c, "bench-parallel", "1000000000-H")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := l.Take(ctx, "app"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
