package redistest_test

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// TestEachTopologyIsEmptyAndWritable runs twice, so the second run sees
// that the first one's key was flushed.
func TestEachTopologyIsEmptyAndWritable(t *testing.T) {
	for range 2 {
		redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
			ctx := context.Background()
			if err := tp.Client.Get(ctx, "left-over").Err(); err != redis.Nil {
				t.Fatalf("GET of a key from an earlier test = %v, want redis.Nil", err)
			}
			if err := tp.Client.Set(ctx, "left-over", "x", 0).Err(); err != nil {
				t.Fatal(err)
			}
			set := 0
			for _, isSet := range []bool{tp.Server != nil, tp.Sentinel != nil, tp.Cluster != nil} {
				if isSet {
					set++
				}
			}
			if set != 1 {
				t.Errorf("%s: %d of Server, Sentinel, Cluster set, want 1", tp.Name, set)
			}
		})
	}
}
