package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func mustAdd(t *testing.T, s *redisstore.Inbound, id, msg string) bool {
	t.Helper()
	added, err := s.Add(context.Background(), id, []byte(msg))
	if err != nil {
		t.Fatalf("Add(%q): %v", id, err)
	}
	return added
}

func mustLatest(t *testing.T, s *redisstore.Inbound, n int) []string {
	t.Helper()
	msgs, err := s.Latest(context.Background(), n)
	if err != nil {
		t.Fatalf("Latest(%d): %v", n, err)
	}
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m)
	}
	return out
}

func TestInboundNewestFirstAndDuplicates(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		s := redisstore.NewInbound(c)
		if got := mustLatest(t, s, 10); len(got) != 0 {
			t.Fatalf("empty store lists %q", got)
		}
		for i := range 3 {
			if !mustAdd(t, s, fmt.Sprintf("id-%d", i), fmt.Sprintf("msg-%d", i)) {
				t.Fatalf("message %d: not added", i)
			}
		}
		if mustAdd(t, s, "id-1", "msg-1 again") {
			t.Error("a repeated id was added again")
		}
		cases := []struct {
			n    int
			want []string
		}{
			{10, []string{"msg-2", "msg-1", "msg-0"}},
			{2, []string{"msg-2", "msg-1"}},
			{1, []string{"msg-2"}},
		}
		for _, tc := range cases {
			got := mustLatest(t, s, tc.n)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Latest(%d) = %q, want %q", tc.n, got, tc.want)
			}
		}
	})
}

func TestInboundIsCapped(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		const max, total = 10, 500
		s := redisstore.NewInbound(c, redisstore.WithInboundMax(max))
		for i := range total {
			mustAdd(t, s, fmt.Sprint(i), fmt.Sprint(i))
		}
		n, err := c.XLen(context.Background(), "{otpgate:inbound}").Result()
		if err != nil {
			t.Fatal(err)
		}
		// MAXLEN ~ trims whole stream nodes (100 entries by default), so the
		// stream may exceed the cap by up to one node.
		if n < max || n > max+100 {
			t.Errorf("stream holds %d entries after %d adds, want %d..%d", n, total, max, max+100)
		}
		if got := mustLatest(t, s, 1); len(got) != 1 || got[0] != fmt.Sprint(total-1) {
			t.Errorf("newest = %q, want %d", got, total-1)
		}
	})
}

func TestInboundDedupExpires(t *testing.T) {
	c, mr := redistest.Mini(t)
	s := redisstore.NewInbound(c, redisstore.WithInboundDedup(time.Minute))
	mustAdd(t, s, "x", "first")
	mr.FastForward(30 * time.Second)
	if mustAdd(t, s, "x", "again") {
		t.Error("an id within the dedup window was added again")
	}
	mr.FastForward(31 * time.Second)
	if !mustAdd(t, s, "x", "second") {
		t.Error("an id past the dedup window was refused")
	}
	if got := mustLatest(t, s, 5); len(got) != 2 {
		t.Errorf("Latest = %q, want both messages", got)
	}
}

// TestInboundConcurrentDuplicates checks that a webhook retried while the
// first delivery is still being handled is stored once.
func TestInboundConcurrentDuplicates(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		s := redisstore.NewInbound(c)
		var added atomic.Int32
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				ok, err := s.Add(context.Background(), fmt.Sprint("id-", i%5), []byte(fmt.Sprint(i%5)))
				if err != nil {
					t.Errorf("Add: %v", err)
				}
				if ok {
					added.Add(1)
				}
			})
		}
		wg.Wait()
		if got := added.Load(); got != 5 {
			t.Errorf("%d adds reported stored, want 5 (one per id)", got)
		}
		if got := mustLatest(t, s, 100); len(got) != 5 {
			t.Errorf("stream holds %d messages, want 5", len(got))
		}
	})
}

func TestInboundRedisDown(t *testing.T) {
	c, mr := redistest.Mini(t)
	s := redisstore.NewInbound(c)
	mr.Close()
	// The deadline cuts short go-redis's own redials.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Add(ctx, "x", []byte("m")); err == nil {
		t.Error("Add on a closed Redis: no error")
	}
	if _, err := s.Latest(ctx, 1); err == nil {
		t.Error("Latest on a closed Redis: no error")
	}
}
