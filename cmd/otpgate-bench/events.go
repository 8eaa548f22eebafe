package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/events"
)

// After each phase the answering receiver is waited for until it holds
// every event recorded so far, while events keep coming (its deliverer
// polls every 500 ms, so settleIdle without one means none is coming), and
// for at most settleMax.
const (
	settleIdle = 2 * time.Second
	settleMax  = 30 * time.Second
)

// eventsGoal is the bound on (c)/(a): a receiver that hangs must not
// slow a start or a check.
const eventsGoal = 1.05

// receiver is the app's end of the events: an httptest server that counts
// what it got. It answers 204 at once, verifying each signature as an app
// would, or, hanging, holds every request until the deliverer gives up on
// it or the run ends.
type receiver struct {
	srv     *httptest.Server
	secret  string
	hang    bool
	release chan struct{} // closed at close: hanging requests return
	got     chan struct{} // a token when an event arrived or a request was cut

	mu    sync.Mutex
	posts int
	bad   int                 // deliveries whose signature did not verify
	ids   map[string]struct{} // webhook-ids of verified deliveries
	cut   []time.Duration     // how long each request the deliverer cut had hung
}

func newReceiver(hang bool) (*receiver, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	r := &receiver{
		secret: events.SecretPrefix + base64.StdEncoding.EncodeToString(key), hang: hang,
		release: make(chan struct{}), got: make(chan struct{}, 1), ids: map[string]struct{}{},
	}
	r.srv = httptest.NewServer(r)
	return r, nil
}

func (r *receiver) close() {
	close(r.release)
	r.srv.Close()
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	began := time.Now()
	// Reading the whole body, as an app does, is also what lets net/http
	// notice that the deliverer hung up.
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.mu.Lock()
	r.posts++
	r.mu.Unlock()
	if r.hang {
		select {
		case <-req.Context().Done():
			r.mu.Lock()
			r.cut = append(r.cut, time.Since(began))
			r.mu.Unlock()
			r.signal()
		case <-r.release:
		}
		return
	}
	valid := err == nil && events.Verify(r.secret, req.Header, body, events.DefaultTolerance) == nil
	r.mu.Lock()
	if valid {
		r.ids[req.Header.Get(events.HeaderID)] = struct{}{}
	} else {
		r.bad++
	}
	r.mu.Unlock()
	r.signal()
	// A bad one is answered 204 too, so that it is counted, not retried.
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) signal() {
	select {
	case r.got <- struct{}{}:
	default:
	}
}

// await waits until the receiver holds want distinct events, for as long
// as they keep coming (see settleIdle, settleMax).
func (r *receiver) await(ctx context.Context, want int64) {
	limit := time.NewTimer(settleMax)
	defer limit.Stop()
	idle := time.NewTimer(settleIdle)
	defer idle.Stop()
	for int64(r.receipt().events) < want {
		select {
		case <-r.got:
			idle.Reset(settleIdle)
		case <-idle.C:
			return
		case <-limit.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// receipt is what a receiver got so far.
type receipt struct {
	posts, bad, events int
	cut                []time.Duration // sorted
}

func (r *receiver) receipt() receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	cut := slices.Clone(r.cut)
	slices.Sort(cut)
	return receipt{posts: r.posts, bad: r.bad, events: len(r.ids), cut: cut}
}

// eventTarget starts another otpgate configured as t (cost, lookup, acks),
// with a Connexus fake of its own, on database db of t's Redis so that no
// two deliverers share an outbox, and with events to recv (none if nil).
func (t *target) eventTarget(ctx context.Context, o options, db int, recv *receiver) (*target, error) {
	e := &target{inProcess: true}
	t.closers = append(t.closers, e.close)
	opts := *t.rdb.Options()
	opts.DB = db
	rdb, err := e.connectEmpty(ctx, &opts)
	if err != nil {
		return nil, err
	}
	cfg, err := e.productionConfig(fmt.Sprintf("redis://%s/%d", opts.Addr, db), o.cost, config.LookupMode(o.lookup))
	if err != nil {
		return nil, err
	}
	cfg.RedisMinReplicaAcks = o.acks
	if recv != nil {
		cfg.Events.URL = recv.srv.URL
		if cfg.Events.Secrets, err = events.ParseSecrets(recv.secret); err != nil {
			return nil, err
		}
	}
	if err := e.launch(ctx, cfg, rdb); err != nil {
		return nil, err
	}
	return e, nil
}

// otherDBs is the first n Redis database numbers other than used.
func otherDBs(used, n int) []int {
	var dbs []int
	for db := 0; len(dbs) < n; db++ {
		if db != used {
			dbs = append(dbs, db)
		}
	}
	return dbs
}

// eventsReport is the events measurement: starts and checks on otpgates
// (a) without events, (b) with a receiver that answers at once and (c)
// with one that hangs, and what the two receivers got.
type eventsReport struct {
	start, check [3]*result
	changes      int64 // state changes on (b), each of which records an event
	ok, hung     receipt
	dbs          []int
}

var eventLabels = [3]string{"(a)", "(b)", "(c)"}

// measureEvents runs starts on the three otpgates in turn, then checks.
func measureEvents(ctx context.Context, t *target, o options, hc *http.Client) (*eventsReport, error) {
	r := &eventsReport{dbs: otherDBs(t.rdb.Options().DB, 3)}
	// The receivers close after the otpgates, whose deliverers use them.
	var recvs [2]*receiver
	for i := range recvs {
		recv, err := newReceiver(i == 1)
		if err != nil {
			return nil, err
		}
		t.closers = append(t.closers, recv.close)
		recvs[i] = recv
	}
	ok, hung := recvs[0], recvs[1]
	descs := [3]string{"events off", "events on, receiver answers 204", "events on, receiver hangs"}
	var starts, checks []phase
	var pools [3]*pool
	for i, recv := range []*receiver{nil, ok, hung} {
		e, err := t.eventTarget(ctx, o, r.dbs[i], recv)
		if err != nil {
			return nil, fmt.Errorf("events target %s: %w", eventLabels[i], err)
		}
		c, err := newClient(e, hc)
		if err != nil {
			return nil, err
		}
		pools[i] = &pool{}
		starts = append(starts, phase{eventLabels[i] + " start, " + descs[i], c.starter(pools[i])})
		checks = append(checks, phase{eventLabels[i] + " check, " + descs[i], c.checker(pools[i], o.wrong)})
	}
	// (b)'s deliveries are let catch up after every phase, so that its
	// deliverer's work is not timed as (a)'s or (c)'s.
	settle := func(ctx context.Context) { ok.await(ctx, pools[1].changes.Load()) }
	copy(r.start[:], rotate(ctx, o.rounds, o.lim, settle, starts...))
	copy(r.check[:], rotate(ctx, o.rounds, o.lim, settle, checks...))
	r.changes = pools[1].changes.Load()
	r.ok, r.hung = ok.receipt(), hung.receipt()
	return r, nil
}

func (r *eventsReport) write(w io.Writer) {
	fmt.Fprintf(w, "\n| events: three otpgates in turn (Redis databases %d, %d, %d) | ok | errors | p50 ms | p99 ms | CPU other processes used meanwhile (cores) |\n", r.dbs[0], r.dbs[1], r.dbs[2])
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|")
	var errs []*result
	for _, res := range append(r.start[:], r.check[:]...) {
		others := "-"
		if res.cpuKnown && res.elapsed > 0 {
			others = fmt.Sprintf("%.2f", res.others.Seconds()/res.elapsed.Seconds())
		}
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %s |\n", res.name, res.ok, res.errs, ms(res.pct(50)), ms(res.pct(99)), others)
		if res.errs > 0 {
			errs = append(errs, res)
		}
	}

	fmt.Fprintln(w, "\n| events ratio (95 % interval over the rounds) | p50 | p99 | goal |")
	fmt.Fprintln(w, "|---|--:|--:|---|")
	met := true
	for _, op := range []struct {
		name string
		res  [3]*result
	}{{"start", r.start}, {"check", r.check}} {
		a, b, c := op.res[0], op.res[1], op.res[2]
		p50, p99 := latencyRatio(c, a, 50), latencyRatio(c, a, 99)
		ok := p50 > 0 && p50 <= eventsGoal && p99 > 0 && p99 <= eventsGoal
		met = met && ok
		fmt.Fprintf(w, "| %s (c)/(a): a hanging receiver against none | %s | %s | ≤ %.2f %s |\n",
			op.name, withInterval(c, a, 50), withInterval(c, a, 99), eventsGoal, mark(ok))
		fmt.Fprintf(w, "| %s (b)/(a): the events' own cost | %s | %s | |\n", op.name, withInterval(b, a, 50), withInterval(b, a, 99))
	}

	fmt.Fprintln(w, "\n| receivers | got |")
	fmt.Fprintln(w, "|---|--:|")
	fmt.Fprintf(w, "| (b) events received (distinct webhook-ids, signature verified) / state changes made (starts, approvals, lockouts) | %d / %d |\n", r.ok.events, r.changes)
	fmt.Fprintf(w, "| (b) deliveries posted, of them with a bad signature | %d, %d |\n", r.ok.posts, r.ok.bad)
	medianCut := "-"
	if len(r.hung.cut) > 0 {
		medianCut = fmt.Sprintf("%.1f s", percentile(r.hung.cut, 50).Seconds())
	}
	fmt.Fprintf(w, "| (c) delivery attempts made / cut by the deliverer (median hang when cut) / still hanging at the end | %d / %d (%s) / %d |\n",
		r.hung.posts, len(r.hung.cut), medianCut, r.hung.posts-len(r.hung.cut))
	fmt.Fprintf(w, "\ngoal: (c)/(a) ≤ %.2f for p50 and p99 of start and check: %s\n", eventsGoal, mark(met))
	for _, res := range errs {
		fmt.Fprintf(w, "\nfirst error of %s: %s\n", res.name, res.firstEr)
	}
}

// withInterval is the ratio of x's p-th percentile to base's and its
// interval over the rounds, where there are enough of them. The ratio has
// three decimals, so that one just over the goal does not read as on it.
func withInterval(x, base *result, p float64) string {
	v := fmt.Sprintf("%.3f", latencyRatio(x, base, p))
	if ci, ok := bootstrap(x, base, p); ok {
		v += fmt.Sprintf(" (%.2f–%.2f)", ci[0][0], ci[0][1])
	}
	return v
}
