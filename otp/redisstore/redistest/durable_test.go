package redistest_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// TestDurable: inside the test every node of each topology, replicas
// included, has the save point, and after it each has its old value back.
func TestDurable(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		var nodes []string
		switch {
		case tp.Server != nil:
			nodes = []string{tp.Server.Addr}
		case tp.Sentinel != nil:
			nodes = []string{tp.Sentinel.Master.Addr, tp.Sentinel.Replica.Addr}
		default:
			for _, n := range tp.Cluster.Nodes {
				nodes = append(nodes, n.Addr)
			}
		}
		saves := func(t *testing.T) []string {
			t.Helper()
			var got []string
			for _, addr := range nodes {
				c := redis.NewClient(&redis.Options{Addr: addr})
				v, err := c.ConfigGet(context.Background(), "save").Result()
				_ = c.Close()
				if err != nil {
					t.Fatalf("CONFIG GET save on %s: %v", addr, err)
				}
				got = append(got, v["save"])
			}
			return got
		}
		check := func(t *testing.T, when, want string) {
			t.Helper()
			for i, got := range saves(t) {
				if got != want {
					t.Errorf("%s: node %s has save %q, want %q", when, nodes[i], got, want)
				}
			}
		}

		check(t, "before", "")
		t.Run("durable", func(t *testing.T) {
			redistest.Durable(t, tp.Client)
			check(t, "during the test", redistest.DurableSave)
		})
		check(t, "after the test", "")
	})
}

// TestDurableRestoresTheOldValue: a save point the server had is what it
// gets back, not a blank one.
func TestDurableRestoresTheOldValue(t *testing.T) {
	s := redistest.StartServer(t, "--save", "900 1 300 10")
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	t.Cleanup(func() { _ = c.Close() })
	save := func() string {
		v, err := c.ConfigGet(context.Background(), "save").Result()
		if err != nil {
			t.Fatal(err)
		}
		return v["save"]
	}
	t.Run("durable", func(t *testing.T) {
		redistest.Durable(t, c)
		if got := save(); got != redistest.DurableSave {
			t.Errorf("during the test: save %q, want %q", got, redistest.DurableSave)
		}
	})
	if got := save(); got != "900 1 300 10" {
		t.Errorf("after the test: save %q, want the old 900 1 300 10", got)
	}
}
