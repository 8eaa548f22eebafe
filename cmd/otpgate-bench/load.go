package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	otpclient "github.com/otpgate/otpgate/client"
)

// errNoWork ends a client's phase early: there is nothing left to do.
var errNoWork = errors.New("no work left")

// result is what one phase measured.
type result struct {
	name    string
	ok      int
	errs    int
	firstEr string // the first failure, to say why errs is not zero
	elapsed time.Duration
	lat     []time.Duration   // of successful operations
	rounds  [][]time.Duration // lat of each round apart, for bootstrap
	// others is the CPU time other processes used while it ran (with
	// cpuKnown), which on a shared machine explains much of its latency.
	others   time.Duration
	cpuKnown bool
}

func (r *result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// pct returns the p-th percentile (0 < p ≤ 100) of the latencies.
func (r *result) pct(p float64) time.Duration {
	return percentile(r.lat, p)
}

// limits bound a phase: it stops at the deadline, after max successful
// operations (0 is no cap), or when every client ran out of work.
type limits struct {
	clients int
	dur     time.Duration
	max     int
}

// runPhase has lim.clients goroutines call op until the phase ends, and
// times every call. Calls under way at the deadline are let finish and
// counted, and the phase lasts until the last of them: cutting them off
// would drop up to one call per client, which for bcrypt-bound calls of
// a second each is a large share of a few seconds' count.
func runPhase(ctx context.Context, name string, lim limits, op func(ctx context.Context) error) *result {
	var (
		mu    sync.Mutex
		res   = &result{name: name}
		count atomic.Int64
		wg    sync.WaitGroup
	)
	machine0, self0, known0 := cpuTimes()
	start := time.Now()
	deadline := start.Add(lim.dur)
	for range lim.clients {
		wg.Go(func() {
			var lat []time.Duration
			ok, errs, first := 0, 0, ""
			for ctx.Err() == nil && time.Now().Before(deadline) && (lim.max == 0 || count.Add(1) <= int64(lim.max)) {
				t0 := time.Now()
				err := op(ctx)
				d := time.Since(t0)
				if errors.Is(err, errNoWork) {
					break
				}
				if err != nil {
					errs++
					if first == "" {
						first = err.Error()
					}
					continue
				}
				ok++
				lat = append(lat, d)
			}
			mu.Lock()
			defer mu.Unlock()
			res.ok += ok
			res.errs += errs
			res.lat = append(res.lat, lat...)
			if res.firstEr == "" {
				res.firstEr = first
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	machine1, self1, known1 := cpuTimes()
	// Read in turn and ticked apart, the two may disagree by a tick or two.
	res.others, res.cpuKnown = max((machine1-machine0)-(self1-self0), 0), known0 && known1
	slices.Sort(res.lat)
	res.rounds = [][]time.Duration{slices.Clone(res.lat)}
	return res
}

// phase is one measured operation.
type phase struct {
	name string
	op   func(context.Context) error
}

// alternate runs a and b in turn, as rotate does.
func alternate(ctx context.Context, rounds int, lim limits, a, b phase) (*result, *result) {
	r := rotate(ctx, rounds, lim, nil, a, b)
	return r[0], r[1]
}

// rotate runs the phases in turn, rounds times each for 1/rounds of the
// limits, and adds up each one's rounds: a load that comes and goes on a
// shared machine then weighs on all alike, not on whichever ran while it
// lasted. between, when not nil, runs untimed after every phase, so that
// work a phase left behind need not land on the next one's time.
func rotate(ctx context.Context, rounds int, lim limits, between func(context.Context), phases ...phase) []*result {
	lim.dur /= time.Duration(rounds)
	if lim.max > 0 {
		lim.max = max(lim.max/rounds, 1)
	}
	res := make([]*result, len(phases))
	for range rounds {
		for i, ph := range phases {
			res[i] = merge(res[i], runPhase(ctx, ph.name, lim, ph.op))
			if between != nil {
				between(ctx)
			}
		}
	}
	return res
}

func merge(into, r *result) *result {
	if into == nil {
		return r
	}
	into.ok += r.ok
	into.errs += r.errs
	into.elapsed += r.elapsed
	into.others += r.others
	into.cpuKnown = into.cpuKnown && r.cpuKnown
	into.rounds = append(into.rounds, r.rounds...)
	if into.firstEr == "" {
		into.firstEr = r.firstEr
	}
	into.lat = append(into.lat, r.lat...)
	slices.Sort(into.lat)
	return into
}

// rawGenerate is bcrypt.GenerateFromPassword alone, as a start pays it.
func rawGenerate(cost int) func(context.Context) error {
	return func(context.Context) error {
		_, err := bcrypt.GenerateFromPassword([]byte("428613"), cost)
		return err
	}
}

// rawCompare is bcrypt.CompareHashAndPassword alone, as a check pays it.
func rawCompare(cost int) (func(context.Context) error, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte("428613"), cost)
	if err != nil {
		return nil, err
	}
	return func(context.Context) error {
		return bcrypt.CompareHashAndPassword(hash, []byte("428613"))
	}, nil
}

// client sends the API's requests to one target: starts and checks
// through the Go client app developers use, reads by hand (see getter).
type client struct {
	t    *target
	http *http.Client
	api  *otpclient.Client
}

// newClient returns a client of t over hc. The Go client tries each call
// once, so a phase times single requests and counts every failure.
func newClient(t *target, hc *http.Client) (*client, error) {
	api, err := otpclient.New(t.url, t.key, otpclient.WithHTTPClient(hc), otpclient.WithRetries(1))
	if err != nil {
		return nil, err
	}
	return &client{t: t, http: hc, api: api}, nil
}

// verification is what the load remembers of one it started.
type verification struct {
	ID string
	To string
}

// do sends a request without a body and wants status want.
func (c *client) do(ctx context.Context, method, url string, want int) error {
	_, err := c.send(ctx, method, url, nil, want)
	return err
}

// send sends a request, a JSON body if body is not nil, and returns the
// answer's body if its status is want.
func (c *client) send(ctx context.Context, method, url string, body io.Reader, want int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.t.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: status %d, want %d: %.200s", method, req.URL.Path, resp.StatusCode, want, b)
	}
	return b, nil
}

// pool holds the verifications the start phase made, for the check and
// GET phases.
type pool struct {
	mu      sync.Mutex
	all     []verification
	pending []verification // not yet guessed right or run out of attempts
	done    []verification // approved
	// changes counts the starts, approvals and lockouts made through the
	// pool: each records one event when events are on.
	changes atomic.Int64
}

func (p *pool) add(v verification) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.all = append(p.all, v)
	p.pending = append(p.pending, v)
	p.changes.Add(1)
}

func (p *pool) take() (verification, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) == 0 {
		return verification{}, false
	}
	v := p.pending[len(p.pending)-1]
	p.pending = p.pending[:len(p.pending)-1]
	return v, true
}

func (p *pool) giveBack(v verification) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = append([]verification{v}, p.pending...)
}

func (p *pool) approved(v verification) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = append(p.done, v)
}

func (p *pool) random() verification {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.all[rand.IntN(len(p.all))]
}

// starter starts verifications of distinct NZ mobile numbers from a random
// base, so that no number meets its cooldown or per-number send limit,
// even across runs on one server.
func (c *client) starter(p *pool) func(context.Context) error {
	var next atomic.Int64
	next.Store(rand.Int64N(5_000_000))
	return func(ctx context.Context) error {
		to := fmt.Sprintf("021%07d", next.Add(1)%10_000_000)
		v, resp, err := c.api.Start(ctx, &otpclient.StartParams{To: to})
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("start %s: status %d, want 201", to, resp.StatusCode)
		}
		p.add(verification{ID: v.ID, To: v.To})
		return nil
	}
}

// checker guesses at pending verifications, wrongly with probability
// wrong; a verification guessed wrong goes back to the pool while it has
// attempts left. Without the codes (a target this process does not run)
// every guess is wrong.
func (c *client) checker(p *pool, wrong float64) func(context.Context) error {
	return func(ctx context.Context) error {
		v, ok := p.take()
		if !ok {
			return errNoWork
		}
		right, known := c.t.code(v.To)
		code := right
		guessWrong := !known || rand.Float64() < wrong
		if guessWrong {
			code = wrongCode(right)
		}
		res, _, err := c.api.Check(ctx, v.ID, &otpclient.CheckParams{Code: code})
		if err != nil {
			return err
		}
		switch {
		case res.Valid != !guessWrong:
			return fmt.Errorf("check of %s: valid = %v, want %v", v.ID, res.Valid, !guessWrong)
		case res.Valid:
			p.approved(v)
			p.changes.Add(1)
		case res.Status == otpclient.StatusPending && res.AttemptsLeft > 0:
			p.giveBack(v)
		case res.Status == otpclient.StatusMaxAttemptsReached:
			p.changes.Add(1)
		}
		return nil
	}
}

// wrongCode is a six-digit code that differs from right (any code when
// right is unknown).
func wrongCode(right string) string {
	if len(right) != 6 {
		return "000000"
	}
	b := []byte(right)
	b[5] = '0' + (b[5]-'0'+1)%10
	return string(b)
}

// getter reads random verifications through the API. It sends the request
// by hand, as bareGetter does, and decodes nothing, so that the two differ
// only on the server's side.
func (c *client) getter(p *pool) func(context.Context) error {
	return func(ctx context.Context) error {
		return c.do(ctx, "GET", c.t.url+"/v1/verifications/"+p.random().ID, http.StatusOK)
	}
}

// bareGetter reads random verifications through the bare handler.
func (c *client) bareGetter(p *pool) func(context.Context) error {
	return func(ctx context.Context) error {
		return c.do(ctx, "GET", c.t.bareURL+"/"+p.random().ID, http.StatusOK)
	}
}
