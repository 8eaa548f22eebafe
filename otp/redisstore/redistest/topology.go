package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a real Redis Cluster of three masters, owned by one test.
type Cluster struct {
	Addrs []string
	Nodes []*Server
}

// StartCluster starts three cluster-enabled redis-servers, joins them with
// redis-cli --cluster create and waits until the cluster serves every slot.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		missing(t, "redis-cli is not installed")
	}
	c := &Cluster{}
	for i := range 3 {
		s := StartServer(t, "--cluster-enabled", "yes",
			"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", i),
			"--cluster-node-timeout", "2000")
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	waitFor(t, 20*time.Second, "cluster_state:ok", func() bool {
		for _, addr := range c.Addrs {
			info, err := redis.NewClient(&redis.Options{Addr: addr}).ClusterInfo(context.Background()).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
		}
		return true
	})
	return c
}

// Client returns a cluster client that is closed when the test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	t.Cleanup(func() { _ = cc.Close() })
	if err := cc.ForEachShard(context.Background(), func(ctx context.Context, n *redis.Client) error {
		return n.Ping(ctx).Err()
	}); err != nil {
		t.Fatalf("cluster ping: %v", err)
	}
	return cc
}

// Sentinel is a real Sentinel setup: one master, one replica and one
// sentinel watching them under MasterName.
type Sentinel struct {
	MasterName string
	Master     *Server
	Replica    *Server
	Sentinel   *Server
}

// StartSentinel starts a master, a replica of it and a sentinel that fails
// over after the master has been unreachable for one second.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	st := &Sentinel{MasterName: "otpgate"}
	st.Master = StartServer(t)
	host, port := splitAddr(st.Master.Addr)
	st.Replica = StartServer(t, "--replicaof", host, port)
	waitFor(t, 20*time.Second, "replica in sync", func() bool {
		info, err := redis.NewClient(&redis.Options{Addr: st.Replica.Addr}).Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})

	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 1\n"+
		"sentinel down-after-milliseconds %[1]s 1000\n"+
		"sentinel failover-timeout %[1]s 5000\n"+
		"sentinel parallel-syncs %[1]s 1\n", st.MasterName, host, port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	// A sentinel is redis-server with a config file first and --sentinel.
	st.Sentinel = startWithConfig(t, conf, "--sentinel")
	waitFor(t, 20*time.Second, "sentinel sees the replica", func() bool {
		sc := redis.NewSentinelClient(&redis.Options{Addr: st.Sentinel.Addr})
		defer sc.Close()
		rs, err := sc.Replicas(context.Background(), st.MasterName).Result()
		return err == nil && len(rs) > 0
	})
	return st
}

// Client returns a failover client that is closed when the test ends.
func (st *Sentinel) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    st.MasterName,
		SentinelAddrs: []string{st.Sentinel.Addr},
	})
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("sentinel ping: %v", err)
	}
	return c
}

func splitAddr(addr string) (host, port string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}

func waitFor(t testing.TB, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond) // polling an external process; nothing to inject
	}
}
