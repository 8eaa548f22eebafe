package redistest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

func TestEachGivesAnEmptyWorkingRedis(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
			t.Fatalf("DBSize = %d, %v; want 0, nil", n, err)
		}
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if got, _ := c.Get(ctx, "k").Result(); got != "v" {
			t.Fatalf("GET k = %q, want v", got)
		}
	})
}

func TestKillMakesTheServerUnreachable(t *testing.T) {
	s := redistest.StartServer(t)
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if err := c.Ping(context.Background()).Err(); err == nil {
		t.Fatal("ping after Kill succeeded")
	}
}

func TestClusterServesKeysOnEveryMaster(t *testing.T) {
	cl := redistest.StartCluster(t)
	c := cl.Client(t)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		if err := c.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	var masters atomic.Int32 // ForEachMaster calls fn concurrently
	err := c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		masters.Add(1)
		return nil
	})
	if err != nil || masters.Load() != 3 {
		t.Fatalf("masters = %d, %v; want 3", masters.Load(), err)
	}
}

func TestSentinelFailsOverToTheReplica(t *testing.T) {
	st := redistest.StartSentinel(t)
	c := st.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "WAIT", 1, 1000).Err(); err != nil {
		t.Fatal(err)
	}
	st.Master.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := c.Get(ctx, "k").Result()
		if err == nil {
			if got != "v" {
				t.Fatalf("after failover GET k = %q, want v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failover within 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // waiting on an external failover
	}
}
