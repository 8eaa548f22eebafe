package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Topology is one shape of real Redis, shared by the tests of one test
// binary. Exactly one of Server, Sentinel and Cluster is set.
type Topology struct {
	Name string // "single", "sentinel" or "cluster"
	// Client sends every command to a master, never to a replica.
	Client   redis.UniversalClient
	Server   *Server
	Sentinel *Sentinel
	Cluster  *Cluster
	// Security is how the servers are protected: nothing for EachTopology,
	// ProtectedSecurity with a CA for EachSecureTopology.
	Security Security
}

// topologyNames is the order in which EachTopology runs them.
var topologyNames = []string{"single", "sentinel", "cluster"}

// Starting a Cluster and a Sentinel setup takes seconds, so a test binary
// starts them once, on first use, and Main stops them. Each topology has a
// lock that a test holds while it uses it, so that the flush at its start
// cannot wipe the keys of a parallel test.
var (
	mainRunning atomic.Bool
	plain       = &sharedSet{start: startPlain}
	secure      = &sharedSet{start: startSecure}
	owner       = &keeper{}
)

// sharedSet is the three topologies of one kind, started together once.
type sharedSet struct {
	start      func() map[string]func() Topology
	once       sync.Once
	err        error
	skip       bool
	topologies map[string]*sharedTopology
}

type sharedTopology struct {
	mu sync.Mutex
	Topology
}

// Main runs the tests of a package that uses EachTopology and then stops
// the shared servers. Call it from TestMain: os.Exit(redistest.Main(m)).
func Main(m *testing.M) int {
	mainRunning.Store(true)
	defer owner.close()
	return m.Run()
}

// EachTopology runs fn as one subtest per topology: a single redis-server,
// a Sentinel setup (master, replica, sentinel) and a three-master Cluster.
// Each subtest has its topology to itself, flushed. Without redis-server
// and redis-cli it skips, or fails when CI=true.
func EachTopology(t *testing.T, fn func(t *testing.T, tp Topology)) {
	t.Helper()
	plain.each(t, "EachTopology", fn)
}

// ProtectedSecurity is the protection of EachSecureTopology's servers,
// without their CA: a password for the default user, an ACL user and a
// password for the sentinels. Add a CA for TLS.
func ProtectedSecurity() Security {
	return Security{
		Password:         "redistest-default-secret",
		Username:         "otpgate",
		UserPassword:     "redistest-user-secret",
		SentinelPassword: "redistest-sentinel-secret",
	}
}

// EachSecureTopology is EachTopology on servers protected as
// ProtectedSecurity says, with a CA of their own (Topology.Security.CA), so
// with TLS beside every plain port. The servers are not the
// ones of EachTopology, and are only started if a test asks for them.
func EachSecureTopology(t *testing.T, fn func(t *testing.T, tp Topology)) {
	t.Helper()
	secure.each(t, "EachSecureTopology", fn)
}

func (set *sharedSet) each(t *testing.T, caller string, fn func(t *testing.T, tp Topology)) {
	t.Helper()
	if !mainRunning.Load() {
		t.Fatalf("redistest.%s needs TestMain to call redistest.Main, which stops the shared servers", caller)
	}
	set.once.Do(set.startAll)
	if set.err != nil {
		if set.skip {
			t.Skip(set.err)
		}
		t.Fatal(set.err)
	}
	for _, name := range topologyNames {
		t.Run(name, func(t *testing.T) {
			st := set.topologies[name]
			st.mu.Lock()
			t.Cleanup(st.mu.Unlock)
			if err := flush(st.Client); err != nil {
				t.Fatalf("flush %s: %v", name, err)
			}
			fn(t, st.Topology)
		})
	}
}

func startPlain() map[string]func() Topology {
	return map[string]func() Topology{
		"single": func() Topology {
			s := StartServer(owner)
			return Topology{Server: s, Client: owner.closing(redis.NewClient(&redis.Options{Addr: s.Addr}))}
		},
		"sentinel": func() Topology {
			st := StartSentinel(owner)
			return Topology{Sentinel: st, Client: owner.closing(redis.NewFailoverClient(st.failoverOptions()))}
		},
		"cluster": func() Topology {
			cl := StartCluster(owner)
			return Topology{Cluster: cl, Client: owner.closing(redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs}))}
		},
	}
}

// startSecure makes one CA for the three topologies. The test clients
// use the default user; the plain ports where they can, since TLS only
// slows them down, and the sentinel's TLS port, which names TLS masters.
func startSecure() map[string]func() Topology {
	sec := ProtectedSecurity()
	sec.CA = NewCA(owner)
	return map[string]func() Topology{
		"single": func() Topology {
			s := StartSecureServer(owner, sec)
			return Topology{Server: s, Security: sec, Client: owner.closing(redis.NewClient(sec.options(s.Addr)))}
		},
		"sentinel": func() Topology {
			st := StartSecureSentinel(owner, sec)
			return Topology{Sentinel: st, Security: sec, Client: owner.closing(redis.NewFailoverClient(st.failoverOptions()))}
		},
		"cluster": func() Topology {
			cl := StartSecureCluster(owner, sec)
			return Topology{Cluster: cl, Security: sec, Client: owner.closing(redis.NewClusterClient(&redis.ClusterOptions{
				Addrs: cl.Addrs, Password: sec.Password,
			}))}
		},
	}
}

// startAll starts the three topologies side by side, since most of their
// start-up is waiting.
func (set *sharedSet) startAll() {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	var starters map[string]func() Topology
	if _, stop := owner.try(func() Topology { starters = set.start(); return Topology{} }); stop != nil {
		set.err, set.skip = errors.New(stop.msg), stop.skip
		return
	}
	set.topologies = make(map[string]*sharedTopology, len(starters))
	for name, start := range starters {
		wg.Go(func() {
			tp, stop := owner.try(start)
			mu.Lock()
			defer mu.Unlock()
			if stop != nil {
				set.skip = set.skip || stop.skip
				errs = append(errs, fmt.Errorf("%s: %s", name, stop.msg))
				return
			}
			tp.Name = name
			set.topologies[name] = &sharedTopology{Topology: tp}
		})
	}
	wg.Wait()
	set.err = errors.Join(errs...)
}

func flush(c redis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			return n.FlushAll(ctx).Err()
		})
	}
	return c.FlushAll(ctx).Err()
}

// keeper is the testing.TB that owns the shared servers: what they register
// with Cleanup runs when Main returns, and a Fatal or Skip while starting
// them ends that start with an error instead of ending a test.
type keeper struct {
	// Nil: it only satisfies the interface. The starters in this package
	// call no methods but the ones defined below.
	testing.TB

	mu       sync.Mutex
	cleanups []func()
}

// stopped is what a keeper panics with on Fatal or Skip.
type stopped struct {
	skip bool
	msg  string
}

// try runs start and turns a Fatal or Skip inside it into a *stopped.
func (k *keeper) try(start func() Topology) (tp Topology, stop *stopped) {
	defer func() {
		if r := recover(); r != nil {
			s, ok := r.(stopped)
			if !ok {
				panic(r)
			}
			stop = &s
		}
	}()
	return start(), nil
}

func (k *keeper) closing(c redis.UniversalClient) redis.UniversalClient {
	k.Cleanup(func() { _ = c.Close() })
	return c
}

func (k *keeper) close() {
	k.mu.Lock()
	fns := k.cleanups
	k.cleanups = nil
	k.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

func (k *keeper) Helper() {}

func (k *keeper) Cleanup(f func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cleanups = append(k.cleanups, f)
}

func (k *keeper) TempDir() string {
	dir, err := os.MkdirTemp("", "redistest")
	if err != nil {
		k.Fatalf("temp dir: %v", err)
	}
	k.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func (k *keeper) Fatal(args ...any) { panic(stopped{msg: fmt.Sprint(args...)}) }

func (k *keeper) Fatalf(format string, args ...any) {
	panic(stopped{msg: fmt.Sprintf(format, args...)})
}

func (k *keeper) Skipf(format string, args ...any) {
	panic(stopped{skip: true, msg: fmt.Sprintf(format, args...)})
}
