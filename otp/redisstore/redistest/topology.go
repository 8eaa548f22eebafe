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
	// TLSAddrs are the nodes' TLS ports, when the Security has a CA.
	TLSAddrs []string
	Nodes    []*Server
	Security Security
}

// StartCluster starts three cluster-enabled redis-servers, joins them with
// redis-cli --cluster create and waits until the cluster serves every slot.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	return StartSecureCluster(t, Security{})
}

// StartSecureCluster is StartCluster with the protection of sec; with a CA
// the cluster bus speaks TLS too.
func StartSecureCluster(t testing.TB, sec Security) *Cluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		missing(t, "redis-cli is not installed")
	}
	c := &Cluster{Security: sec}
	for i := range 3 {
		tlsArgs := sec.tlsArgs(t)
		if tlsArgs != nil {
			tlsArgs = append(tlsArgs, "--tls-cluster", "yes")
		}
		s := startWithConfig(t, "", tlsArgs, append(sec.serverArgs(), "--cluster-enabled", "yes",
			"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", i),
			"--cluster-node-timeout", "2000")...)
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
		if s.TLSAddr != "" {
			c.TLSAddrs = append(c.TLSAddrs, s.TLSAddr)
		}
	}
	// With tls-cluster the bus port follows the TLS port, so the nodes
	// must meet through it.
	var args []string
	nodes := c.Addrs
	if sec.CA != nil {
		args = []string{"--tls", "--cacert", sec.CA.CertFile}
		nodes = c.TLSAddrs
	}
	args = append(append(args, "--cluster", "create"), nodes...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	cmd := exec.Command(cli, args...)
	if sec.Password != "" {
		cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+sec.Password)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	waitFor(t, 20*time.Second, "cluster_state:ok", func() bool {
		for _, addr := range c.Addrs {
			nc := redis.NewClient(sec.options(addr))
			info, err := nc.ClusterInfo(context.Background()).Result()
			_ = nc.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
		}
		return true
	})
	return c
}

// Client returns a cluster client of the plain ports, as the default user,
// that is closed when the test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, Password: c.Security.Password})
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
	Security   Security
}

// StartSentinel starts a master, a replica of it and a sentinel that fails
// over after the master has been unreachable for one second.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	return StartSecureSentinel(t, Security{})
}

// StartSecureSentinel is StartSentinel with the protection of sec. With a
// CA the sentinel watches the TLS ports, so it names TLS ports as the
// master, and its clients must reach it at Sentinel.TLSAddr.
func StartSecureSentinel(t testing.TB, sec Security) *Sentinel {
	t.Helper()
	st := &Sentinel{MasterName: "otpgate", Security: sec}
	st.Master = StartSecureServer(t, sec)
	host, port := splitAddr(st.Master.Addr)
	if sec.CA != nil {
		host, port = splitAddr(st.Master.TLSAddr)
	}
	st.Replica = StartSecureServer(t, sec, "--replicaof", host, port)
	waitFor(t, 20*time.Second, "replica in sync", func() bool {
		rc := redis.NewClient(sec.options(st.Replica.Addr))
		defer rc.Close()
		info, err := rc.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})

	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 1\n"+
		"sentinel down-after-milliseconds %[1]s 1000\n"+
		"sentinel failover-timeout %[1]s 5000\n"+
		"sentinel parallel-syncs %[1]s 1\n", st.MasterName, host, port)
	if sec.Password != "" {
		body += fmt.Sprintf("sentinel auth-pass %s %s\n", st.MasterName, sec.Password)
	}
	if sec.SentinelPassword != "" {
		body += fmt.Sprintf("requirepass %s\n", sec.SentinelPassword)
	}
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	// A sentinel is redis-server with a config file first and --sentinel.
	st.Sentinel = startWithConfig(t, conf, sec.tlsArgs(t), "--sentinel")
	waitFor(t, 20*time.Second, "sentinel sees the replica", func() bool {
		sc := redis.NewSentinelClient(&redis.Options{Addr: st.Sentinel.Addr, Password: sec.SentinelPassword})
		defer sc.Close()
		rs, err := sc.Replicas(context.Background(), st.MasterName).Result()
		return err == nil && len(rs) > 0
	})
	return st
}

// Client returns a failover client, as the default user, that is closed
// when the test ends.
func (st *Sentinel) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewFailoverClient(st.failoverOptions())
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("sentinel ping: %v", err)
	}
	return c
}

func (st *Sentinel) failoverOptions() *redis.FailoverOptions {
	addr := st.Sentinel.Addr
	if st.Security.CA != nil {
		addr = st.Sentinel.TLSAddr
	}
	return &redis.FailoverOptions{
		MasterName:       st.MasterName,
		SentinelAddrs:    []string{addr},
		SentinelPassword: st.Security.SentinelPassword,
		Password:         st.Security.Password,
		TLSConfig:        st.Security.TLSConfig(),
	}
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
