package redistest_test

import (
	"context"
	"crypto/tls"
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

// TestEachSecureTopologyIsProtected shows that the secure servers refuse
// what they should, so a test that passes on them used the credentials
// and TLS it was given.
func TestEachSecureTopologyIsProtected(t *testing.T) {
	redistest.EachSecureTopology(t, func(t *testing.T, tp redistest.Topology) {
		ctx := context.Background()
		sec := tp.Security
		if err := tp.Client.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatalf("the topology's own client: %v", err)
		}
		var data *redistest.Server
		switch {
		case tp.Server != nil:
			data = tp.Server
		case tp.Sentinel != nil:
			data = tp.Sentinel.Master
		default:
			data = tp.Cluster.Nodes[0]
		}
		ping := func(o *redis.Options) error {
			c := redis.NewClient(o)
			defer c.Close()
			return c.Ping(ctx).Err()
		}
		if err := ping(&redis.Options{Addr: data.Addr}); !redis.IsAuthError(err) {
			t.Errorf("PING without a password = %v, want NOAUTH", err)
		}
		if err := ping(&redis.Options{Addr: data.Addr, Password: "wrong"}); !redis.IsAuthError(err) {
			t.Errorf("PING with a wrong password = %v, want WRONGPASS", err)
		}
		user := redis.NewClient(&redis.Options{Addr: data.TLSAddr, Username: sec.Username, Password: sec.UserPassword, TLSConfig: sec.TLSConfig()})
		defer user.Close()
		if err := user.Ping(ctx).Err(); err != nil {
			t.Errorf("PING as the ACL user over TLS: %v", err)
		}
		if err := user.FlushAll(ctx).Err(); !redis.IsPermissionError(err) {
			t.Errorf("FLUSHALL as the ACL user = %v, want NOPERM: the user is denied @dangerous", err)
		}
		// The system roots do not know the throwaway CA.
		if err := ping(&redis.Options{Addr: data.TLSAddr, Password: sec.Password, TLSConfig: &tls.Config{}, DialerRetries: 1}); err == nil {
			t.Error("TLS PING trusting the system roots succeeded")
		}
		if tp.Sentinel != nil {
			sc := redis.NewSentinelClient(&redis.Options{Addr: tp.Sentinel.Sentinel.TLSAddr, TLSConfig: sec.TLSConfig()})
			defer sc.Close()
			if err := sc.Ping(ctx).Err(); !redis.IsAuthError(err) {
				t.Errorf("sentinel PING without its password = %v, want NOAUTH", err)
			}
			sc = redis.NewSentinelClient(&redis.Options{Addr: tp.Sentinel.Sentinel.TLSAddr, Password: sec.SentinelPassword, TLSConfig: sec.TLSConfig()})
			defer sc.Close()
			addr, err := sc.GetMasterAddrByName(ctx, tp.Sentinel.MasterName).Result()
			if err != nil || len(addr) != 2 || addr[0]+":"+addr[1] != tp.Sentinel.Master.TLSAddr {
				t.Errorf("sentinel names the master %v (%v), want its TLS port %s", addr, err, tp.Sentinel.Master.TLSAddr)
			}
		}
	})
}
