package ratelimit

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// TestLimitsOnEveryTopology counts exactly on a single Redis, behind
// Sentinel and on a Cluster, where each key lands on its own master: many
// goroutines take from several keys at once, and each key allows exactly
// its limit, which Peek then reports without counting.
func TestLimitsOnEveryTopology(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		const limit, keys, perKey = 7, 6, 20
		l := mustNew(t, tp.Client, "checks", fmt.Sprintf("%d-M", limit))
		var allowed [keys]atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for k := range keys {
			for range perKey {
				wg.Go(func() {
					<-start
					q, err := l.Take(context.Background(), fmt.Sprintf("203.0.113.%d", k))
					switch {
					case err != nil:
						t.Errorf("Take: %v", err)
					case !q.Reached:
						allowed[k].Add(1)
					}
				})
			}
		}
		close(start)
		wg.Wait()
		for k := range keys {
			key := fmt.Sprintf("203.0.113.%d", k)
			if got := allowed[k].Load(); got != limit {
				t.Errorf("%s: %d of %d takes allowed, want %d", key, got, perKey, limit)
			}
			if q := mustPeek(t, l, key); !q.Reached || q.Remaining != 0 {
				t.Errorf("Peek(%s) = %+v, want reached with nothing left", key, q)
			}
		}
	})
}
