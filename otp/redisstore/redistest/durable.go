package redistest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DurableSave is the save point Durable sets: a snapshot an hour after a
// change, which no test lives to see, yet a Redis that persists.
const DurableSave = "3600 1"

// Durable makes every node behind c persist for the rest of the test, as
// otpgate demands of a Redis that keeps factors (CONTRACT §11): it sets
// save to DurableSave, and gives each node its old value back when the
// test ends. The servers of this package persist nothing (save "",
// appendonly no) so that they leave no files behind. The nodes are, for a
// Cluster client, every master and replica; for any other client, the
// server it reaches (a Sentinel setup's master) and the replicas that
// server names, which a failover could make master. c must reach a real
// Redis: miniredis has no CONFIG.
func Durable(t testing.TB, c redis.UniversalClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nodes, err := nodesOf(ctx, c)
	if err != nil {
		t.Fatalf("redistest.Durable: %v", err)
	}
	for _, n := range nodes {
		// Cleanups run last first: the client must outlive the restore.
		t.Cleanup(func() { _ = n.Close() })
		old, err := n.ConfigGet(ctx, "save").Result()
		if err != nil {
			t.Fatalf("redistest.Durable: CONFIG GET save on %s: %v", n.Options().Addr, err)
		}
		if err := n.ConfigSet(ctx, "save", DurableSave).Err(); err != nil {
			t.Fatalf("redistest.Durable: CONFIG SET save on %s: %v", n.Options().Addr, err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := n.ConfigSet(ctx, "save", old["save"]).Err(); err != nil {
				t.Errorf("redistest.Durable: restore save %q on %s: %v", old["save"], n.Options().Addr, err)
			}
		})
	}
}

// nodesOf returns a client of each node behind c, each reached at its own
// address, so that a failover during the test cannot make a restore land
// on another node.
func nodesOf(ctx context.Context, c redis.UniversalClient) ([]*redis.Client, error) {
	switch c := c.(type) {
	case *redis.ClusterClient:
		var (
			mu    sync.Mutex
			addrs []string
		)
		err := c.ForEachShard(ctx, func(_ context.Context, n *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			addrs = append(addrs, n.Options().Addr)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("cluster nodes: %w", err)
		}
		o := c.Options()
		return nodeClients(addrs, o.Username, o.Password, o.TLSConfig), nil
	case *redis.Client:
		// A failover client's Addr names no server; the connection's own
		// address does.
		info, err := c.ClientInfo(ctx).Result()
		if err != nil {
			return nil, fmt.Errorf("CLIENT INFO: %w", err)
		}
		role, err := c.Do(ctx, "ROLE").Slice()
		if err != nil {
			return nil, fmt.Errorf("ROLE: %w", err)
		}
		addrs := []string{info.LAddr}
		replicas, err := replicasOf(role)
		if err != nil {
			return nil, err
		}
		o := c.Options()
		return nodeClients(append(addrs, replicas...), o.Username, o.Password, o.TLSConfig), nil
	}
	return nil, fmt.Errorf("a %T is neither a *redis.Client nor a *redis.ClusterClient", c)
}

// replicasOf reads the replicas' addresses from a master's ROLE answer:
// "master", its offset, then one [ip, port, offset] per replica. A replica
// answers "slave" and has none.
func replicasOf(role []any) ([]string, error) {
	if len(role) < 3 || role[0] != "master" {
		return nil, nil
	}
	list, ok := role[2].([]any)
	if !ok {
		return nil, fmt.Errorf("ROLE: replicas are a %T, want a list", role[2])
	}
	var addrs []string
	for _, r := range list {
		fields, ok := r.([]any)
		if !ok || len(fields) < 2 {
			return nil, fmt.Errorf("ROLE: replica %v is not [ip, port, offset]", r)
		}
		addrs = append(addrs, net.JoinHostPort(fmt.Sprint(fields[0]), fmt.Sprint(fields[1])))
	}
	return addrs, nil
}

func nodeClients(addrs []string, username, password string, tlsConf *tls.Config) []*redis.Client {
	clients := make([]*redis.Client, len(addrs))
	for i, a := range addrs {
		clients[i] = redis.NewClient(&redis.Options{Addr: a, Username: username, Password: password, TLSConfig: tlsConf})
	}
	return clients
}
