package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func mustClaim(t *testing.T, s *redisstore.Idempotency, key, claim string) (string, bool) {
	t.Helper()
	existing, claimed, err := s.Claim(context.Background(), key, []byte(claim), time.Minute)
	if err != nil {
		t.Fatalf("Claim(%q, %q): %v", key, claim, err)
	}
	return string(existing), claimed
}

func TestIdempotencyLifecycle(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.NewIdempotency(c)

		if _, claimed := mustClaim(t, s, "k", "claim-a"); !claimed {
			t.Fatal("first claim: not claimed")
		}
		if _, claimed := mustClaim(t, s, "k", "claim-a"); !claimed {
			t.Error("repeating one's own claim (a retried script): not claimed")
		}
		existing, claimed := mustClaim(t, s, "k", "claim-b")
		if claimed || existing != "claim-a" {
			t.Errorf("second claim = (%q, %v), want (claim-a, false)", existing, claimed)
		}
		if _, claimed := mustClaim(t, s, "other", "claim-b"); !claimed {
			t.Error("claim of another key: not claimed")
		}

		ok, err := s.Complete(ctx, "k", []byte("claim-b"), []byte("done-b"), time.Hour)
		if err != nil || ok {
			t.Errorf("Complete by a non-owner = (%v, %v), want (false, nil)", ok, err)
		}
		ok, err = s.Complete(ctx, "k", []byte("claim-a"), []byte("done-a"), time.Hour)
		if err != nil || !ok {
			t.Fatalf("Complete by the owner = (%v, %v), want (true, nil)", ok, err)
		}
		if existing, _ := mustClaim(t, s, "k", "claim-c"); existing != "done-a" {
			t.Errorf("after Complete the key holds %q, want done-a", existing)
		}
		ttl := c.PTTL(ctx, "otpgate:idem:{k}").Val()
		if ttl <= 59*time.Minute || ttl > time.Hour {
			t.Errorf("completed key TTL = %v, want about 1h", ttl)
		}

		if err := s.Release(ctx, "k", []byte("claim-a")); err != nil {
			t.Fatalf("Release of a completed key: %v", err)
		}
		if existing, _ := mustClaim(t, s, "k", "claim-c"); existing != "done-a" {
			t.Errorf("Release with a stale claim removed the completed value, key holds %q", existing)
		}

		if err := s.Release(ctx, "other", []byte("claim-x")); err != nil {
			t.Fatalf("Release by a non-owner: %v", err)
		}
		if existing, _ := mustClaim(t, s, "other", "claim-y"); existing != "claim-b" {
			t.Errorf("Release by a non-owner removed the claim, key holds %q", existing)
		}
		if err := s.Release(ctx, "other", []byte("claim-b")); err != nil {
			t.Fatalf("Release by the owner: %v", err)
		}
		if _, claimed := mustClaim(t, s, "other", "claim-y"); !claimed {
			t.Error("after Release the key could not be claimed again")
		}
	})
}

func TestIdempotencyLeaseExpires(t *testing.T) {
	c, m := redistest.Mini(t)
	s := redisstore.NewIdempotency(c)
	if _, claimed := mustClaim(t, s, "k", "claim-a"); !claimed {
		t.Fatal("first claim: not claimed")
	}
	m.FastForward(time.Minute + time.Millisecond)
	if _, claimed := mustClaim(t, s, "k", "claim-b"); !claimed {
		t.Error("claim after the lease ran out: not claimed")
	}
	ok, err := s.Complete(context.Background(), "k", []byte("claim-a"), []byte("done-a"), time.Hour)
	if err != nil || ok {
		t.Errorf("Complete after losing the lease = (%v, %v), want (false, nil)", ok, err)
	}
}

func TestIdempotencyConcurrentClaims(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		s := redisstore.NewIdempotency(c)
		const n = 50
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []int
		)
		for i := range n {
			wg.Go(func() {
				_, claimed, err := s.Claim(context.Background(), "k", fmt.Appendf(nil, "claim-%d", i), time.Minute)
				if err != nil {
					t.Errorf("Claim %d: %v", i, err)
					return
				}
				if claimed {
					mu.Lock()
					winners = append(winners, i)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("%d of %d concurrent claims won (%v), want exactly 1", len(winners), n, winners)
		}
		if existing, _ := mustClaim(t, s, "k", "late"); existing != fmt.Sprintf("claim-%d", winners[0]) {
			t.Errorf("key holds %q, want the winner's claim-%d", existing, winners[0])
		}
	})
}

func TestIdempotencyUnavailable(t *testing.T) {
	_, m := redistest.Mini(t)
	addr := m.Addr()
	m.Close()
	// No retries: the test wants the failure, not go-redis's backoff.
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	s := redisstore.NewIdempotency(c)
	if _, _, err := s.Claim(context.Background(), "k", []byte("a"), time.Minute); err == nil {
		t.Error("Claim with Redis down: no error")
	}
	if _, err := s.Complete(context.Background(), "k", []byte("a"), []byte("b"), time.Minute); err == nil {
		t.Error("Complete with Redis down: no error")
	}
	if err := s.Release(context.Background(), "k", []byte("a")); err == nil {
		t.Error("Release with Redis down: no error")
	}
}
