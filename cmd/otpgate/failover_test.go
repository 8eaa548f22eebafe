package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/client"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// drill records what the traffic saw around a failover.
type drill struct {
	mu        sync.Mutex
	outageAt  time.Time // zero until the outage begins: the cut, or else the kill
	killedAt  time.Time // zero until the master is killed
	approvals map[string]int
	started   []string // verifications whose start answered 201
	cycles    int      // start, wrong guess and right guess all answered 2xx
	after     int      // such cycles that began after the kill
	failed    int      // 503 answers after the kill
	lastFail  time.Time
	// slowest503 is the longest a request took to answer 503.
	slowest503 time.Duration
	problems   []string // answers the contract forbids
	progress   chan struct{}
}

func newDrill() *drill {
	return &drill{approvals: map[string]int{}, progress: make(chan struct{}, 1)}
}

func (d *drill) problem(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.problems = append(d.problems, fmt.Sprintf(format, args...))
}

// answered classifies one answer, err as the Go client returned it (nil
// for a 2xx); it returns whether it was a success: a 2xx, or an error
// answer with one of the statuses ok.
func (d *drill) answered(what string, took time.Duration, err error, ok ...int) bool {
	if err == nil {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e, answer := errors.AsType[*client.Error](err)
	switch {
	case !answer:
		d.problems = append(d.problems, fmt.Sprintf("%s: %v", what, err))
	case e.Status == http.StatusServiceUnavailable:
		if e.Code != client.CodeUnavailable {
			d.problems = append(d.problems, fmt.Sprintf("%s: %v, want code unavailable", what, err))
		}
		if !d.outageAt.IsZero() {
			d.failed++
			d.slowest503 = max(d.slowest503, took)
			d.lastFail = time.Now()
		}
		return false
	case slices.Contains(ok, e.Status):
		return true
	default:
		d.problems = append(d.problems, fmt.Sprintf("%s: %v", what, err))
	}
	return false
}

func (d *drill) approved(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.approvals[id]++
	if d.approvals[id] > 1 {
		d.problems = append(d.problems, fmt.Sprintf("%s approved %d times", id, d.approvals[id]))
	}
}

func (d *drill) cycleDone(began time.Time) {
	d.mu.Lock()
	d.cycles++
	if !d.killedAt.IsZero() && began.After(d.killedAt) {
		d.after++
	}
	d.mu.Unlock()
	select {
	case d.progress <- struct{}{}:
	default:
	}
}

// waitFor waits, without polling, until ok holds for the drill.
func (d *drill) waitFor(t *testing.T, what string, limit time.Duration, ok func(d *drill) bool) {
	t.Helper()
	timeout := time.After(limit)
	for {
		d.mu.Lock()
		done := ok(d)
		d.mu.Unlock()
		if done {
			return
		}
		select {
		case <-d.progress:
		case <-timeout:
			t.Fatalf("no %s within %v", what, limit)
		}
	}
}

// cycle is one user, through c: start, a wrong guess, the right code, the
// right code again.
func (d *drill) cycle(c *client.Client, fake *connexustest.Server, to string) {
	ctx := context.Background()
	began := time.Now()
	v, resp, err := c.Start(ctx, &client.StartParams{To: to})
	if !d.answered("start", time.Since(began), err) {
		return
	}
	if resp.StatusCode != http.StatusCreated {
		d.problem("start: %d %+v, want 201", resp.StatusCode, v)
		return
	}
	id := v.ID
	d.mu.Lock()
	d.started = append(d.started, id)
	d.mu.Unlock()
	code, ok := fake.LastCode(v.To)
	if !ok {
		d.problem("start %s: 201 but no SMS", id)
		return
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	check := func(code string) (*client.CheckResult, time.Duration, error) {
		began := time.Now()
		res, _, err := c.Check(ctx, id, &client.CheckParams{Code: code})
		return res, time.Since(began), err
	}
	res, took, err := check(wrong)
	if d.answered("wrong guess", took, err) && res.Valid {
		d.problem("%s approved with a wrong code: %+v", id, res)
	}
	res, took, err = check(code)
	rightOK := d.answered("right code", took, err, http.StatusConflict)
	if rightOK && err == nil && res.Valid {
		d.approved(id)
	}
	// A 503 on the right code may still have approved it (the approval
	// was written, the replica did not acknowledge in time), so the
	// second use may find it approved or approve it now, but never twice.
	res, took, err = check(code)
	refused, _ := errors.AsType[*client.Error](err)
	if d.answered("right code again", took, err, http.StatusConflict) {
		switch {
		case err == nil && res.Valid:
			d.approved(id)
		case refused != nil && refused.VerificationStatus != client.StatusApproved:
			d.problem("%s second use: %v, want approved", id, err)
		}
	}
	if rightOK && refused != nil && refused.Status == http.StatusConflict {
		d.cycleDone(began)
	}
}

// TestFailover drives start and check traffic from several goroutines
// through a Sentinel failover: the master is killed mid-stream, Sentinel
// promotes a replica, and the service carries on without a restart. The
// last drill cuts replication first, for 500 ms: both replicas stall
// (SIGSTOP) and the master drops their links, so writes made in the cut
// exist on the master alone when it dies; then one replica runs again,
// behind, and is promoted. Every start and check the service acknowledged
// must survive that. The second drill runs on a protected Sentinel setup,
// as its ACL user over TLS: the promoted master must take the same user,
// its announced address the same certificate check, and the replica given
// to it afterwards the same password.
func TestFailover(t *testing.T) {
	protected := redistest.ProtectedSecurity()
	protected.CA = redistest.NewCA(t)
	for _, dr := range []struct {
		name string
		acks int
		cut  bool
		sec  redistest.Security
	}{
		{"REDIS_MIN_REPLICA_ACKS=0", 0, false, redistest.Security{}},
		{"REDIS_MIN_REPLICA_ACKS=1, ACL user, sentinel password and TLS", 1, false, protected},
		{"REDIS_MIN_REPLICA_ACKS=1 with a replication cut", 1, true, redistest.Security{}},
	} {
		t.Run(dr.name, func(t *testing.T) {
			// Most of a drill is waiting for Sentinel.
			t.Parallel()
			failoverDrill(t, dr.acks, dr.cut, dr.sec)
		})
	}
}

// replicationCut is how long the master takes writes that no replica
// receives before it dies.
const replicationCut = 500 * time.Millisecond

// failoverDrill runs traffic through a failover of a Sentinel setup that
// sec protects; with a CA in sec, otpgate reaches it as its ACL user over
// TLS. A replication cut needs an unprotected setup.
func failoverDrill(t *testing.T, acks int, cut bool, sec redistest.Security) {
	ctx := context.Background()
	st := redistest.StartSecureSentinel(t, sec)
	redisEnv := map[string]string{
		"REDIS_SENTINEL_ADDRS":  st.Sentinel.Addr,
		"REDIS_SENTINEL_MASTER": st.MasterName,
	}
	sentinelAddr := st.Sentinel.Addr
	if sec.CA != nil {
		redisEnv = secureEnv(redistest.Topology{Sentinel: st, Security: sec})
		sentinelAddr = st.Sentinel.TLSAddr
	}
	redisEnv["REDIS_MIN_REPLICA_ACKS"] = strconv.Itoa(acks)
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinelAddr, Password: sec.SentinelPassword, TLSConfig: sec.TLSConfig()})
	t.Cleanup(func() { _ = sc.Close() })
	var second *redistest.Server
	if cut {
		// A second replica: the one Sentinel can promote while the first
		// is still frozen.
		host, port, _ := net.SplitHostPort(st.Master.Addr)
		second = redistest.StartServer(t, "--replicaof", host, port)
		waitReplicas(t, sc, st.MasterName, 2)
	}
	fake := connexustest.NewServer()
	t.Cleanup(fake.Close)
	env := productionEnv(fake.URL, redisEnv)
	env["OTP_LOOKUP"] = "off"
	in := start(t, env)
	c := in.client(t, topologyKey)

	// Sentinel announces the promotion on +switch-master.
	switched := sc.Subscribe(ctx, "+switch-master")
	t.Cleanup(func() { _ = switched.Close() })
	if _, err := switched.Receive(ctx); err != nil {
		t.Fatal(err)
	}

	d := newDrill()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const workers = 4
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d.cycle(c, fake, fmt.Sprintf("021%d%06d", 2+w, i))
			}
		})
	}
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer halt()

	d.waitFor(t, "traffic", 20*time.Second, func(d *drill) bool { return d.cycles >= 2*workers })
	d.mu.Lock()
	d.outageAt = time.Now()
	d.mu.Unlock()
	if cut {
		// Frozen, a replica can neither read what the master sends nor
		// reconnect once its link is dropped, so it cannot catch up.
		for _, r := range []*redistest.Server{st.Replica, second} {
			if err := r.Freeze(); err != nil {
				t.Fatal(err)
			}
		}
		mc := redis.NewClient(&redis.Options{Addr: st.Master.Addr})
		if err := mc.ClientKillByFilter(ctx, "TYPE", "replica").Err(); err != nil {
			t.Fatal(err)
		}
		_ = mc.Close()
		time.Sleep(replicationCut) // the cut itself: traffic goes on against the master alone
	}
	d.mu.Lock()
	d.killedAt = time.Now()
	d.mu.Unlock()
	st.Master.Kill()
	if cut {
		if err := second.Thaw(); err != nil {
			t.Fatal(err)
		}
	}
	// Sentinel waits down-after-milliseconds (1 s) before it even votes,
	// so right after the kill Redis is certainly unreachable.
	if status, _, err := in.do("GET", "/readyz", "", nil); err != nil || status != http.StatusServiceUnavailable {
		t.Errorf("readyz right after the kill: %d %v, want 503", status, err)
	}

	msg, err := switched.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	promoted := time.Since(d.killedAt)
	t.Logf("Sentinel: +switch-master %s", msg.Payload)
	if acks > 0 {
		// The promoted master has no replica left to acknowledge, so writes
		// answer 503 until an operator (here: the test) gives it one: the
		// frozen replica once it runs again, or a new one.
		mst, err := sc.GetMasterAddrByName(ctx, st.MasterName).Result()
		if err != nil {
			t.Fatal(err)
		}
		// Redis delays a diskless full sync by 5 s by default, waiting
		// for more replicas; there is only this one.
		nm := redis.NewClient(&redis.Options{Addr: mst[0] + ":" + mst[1], Password: sec.Password, TLSConfig: sec.TLSConfig()})
		defer nm.Close()
		if err := nm.ConfigSet(ctx, "repl-diskless-sync-delay", "0").Err(); err != nil {
			t.Fatal(err)
		}
		if cut {
			if err := st.Replica.Thaw(); err != nil {
				t.Fatal(err)
			}
			rc := redis.NewClient(&redis.Options{Addr: st.Replica.Addr})
			defer rc.Close()
			if err := rc.SlaveOf(ctx, mst[0], mst[1]).Err(); err != nil {
				t.Fatal(err)
			}
		} else {
			redistest.StartSecureServer(t, sec, "--replicaof", mst[0], mst[1])
		}
	}
	d.waitFor(t, "recovery", 30*time.Second, func(d *drill) bool { return d.after >= 2*workers })
	halt()

	if status, _ := in.call(t, "GET", "/readyz", "", nil); status != http.StatusOK {
		t.Errorf("readyz after the failover: %d, want 200", status)
	}
	// Every start that answered 201 must still be there.
	lost := 0
	for _, id := range d.started {
		if _, err := in.read(t, id); client.IsNotFound(err) {
			lost++
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.problems {
		t.Error(p)
	}
	if acks > 0 && lost > 0 {
		t.Errorf("%d of %d acknowledged starts lost in the failover", lost, len(d.started))
	}
	doubles := 0
	for _, n := range d.approvals {
		if n > 1 {
			doubles++
		}
	}
	recovered := d.lastFail.Sub(d.outageAt)
	if d.lastFail.IsZero() {
		recovered = 0
	}
	t.Logf("failover with REDIS_MIN_REPLICA_ACKS=%d, cut=%v: %d cycles, %d acknowledged starts, %d lost, %d approvals, %d double; "+
		"Sentinel promoted a replica %.2fs after the kill; %d requests answered 503 after the outage began (slowest in %v), the last %.2fs after it began",
		acks, cut, d.cycles, len(d.started), lost, len(d.approvals), doubles, promoted.Seconds(), d.failed,
		d.slowest503.Round(time.Millisecond), recovered.Seconds())
}

// waitReplicas waits until Sentinel knows n replicas of master; it reads
// the master's INFO every 10 s, so a new replica takes up to that long.
func waitReplicas(t *testing.T, sc *redis.SentinelClient, master string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rs, err := sc.Replicas(context.Background(), master).Result()
		if err == nil && len(rs) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Sentinel knows %d replicas of %s after 20 s (%v), want %d", len(rs), master, err, n)
		}
		time.Sleep(100 * time.Millisecond) // polling an external process; nothing to inject
	}
}
