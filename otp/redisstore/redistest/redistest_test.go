package redistest_test

import (
	"context"
	"testing"

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
