// Command otpgate-bench measures how close otpgate runs to its physical
// limit, bcrypt. It drives an otpgate with concurrent clients (start
// verifications, check them with a mix of right and wrong codes, read them
// back) and, in the same run and on the same cores, measures raw bcrypt and
// a bare net/http handler doing GET's Redis read, then prints throughput,
// latency percentiles, the ratios the README's targets are stated in, and
// the Redis memory of a verification.
//
// By default it runs otpgate in-process, built as cmd/otpgate builds it, on
// a private redis-server (or -redis-url) and the Connexus fake, whose codes
// it reads. With -url it drives a running otpgate on a loopback address
// instead; it cannot read that server's codes, so every guess is wrong.
//
// Usage:
//
//	go run ./cmd/otpgate-bench [-c 8] [-d 4s] [-cost 10]
//	go run ./cmd/otpgate-bench -url http://127.0.0.1:8080 -key <client key>
//	go run ./cmd/otpgate-bench -failover   # and the cost of a failover
//	go run ./cmd/otpgate-bench -events     # and what events, and a hanging receiver, cost
//	go run ./cmd/otpgate-bench -totp       # and TOTP challenges against a GET
//	go run ./cmd/otpgate-bench -fraud-sim  # instead: SMS pumping against the send budgets and fraud guard
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/otp"
)

// maxPhase keeps the whole run (six phases) to about a minute on a shared
// machine.
const maxPhase = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "otpgate-bench:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	url, key, redisURL, cpuProfile string
	lim                            limits
	cost, rounds, acks             int
	identities                     int
	wrong                          float64
	lookup                         string
	failover, events, totp         bool
	fraud                          fraudOptions
}

func parse(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("otpgate-bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.url, "url", "", "base URL of a running otpgate on a loopback address (default: run one in-process)")
	fs.StringVar(&o.key, "key", "", "client API key of the -url server")
	fs.StringVar(&o.redisURL, "redis-url", "", "loopback Redis for the in-process server (default: start a private redis-server)")
	fs.IntVar(&o.lim.clients, "c", 8, "concurrent clients (and goroutines of the raw bcrypt runs)")
	fs.DurationVar(&o.lim.dur, "d", 4*time.Second, "duration of each of the six measurements (at most 10s)")
	fs.IntVar(&o.lim.max, "n", 0, "at most this many operations per phase (0: no cap)")
	fs.IntVar(&o.rounds, "rounds", 4, "rounds in which each endpoint alternates with its baseline")
	fs.IntVar(&o.cost, "cost", bcrypt.DefaultCost, "bcrypt cost (OTP_BCRYPT_COST of the -url server)")
	fs.Float64Var(&o.wrong, "wrong", 0.3, "share of guesses that are wrong")
	fs.StringVar(&o.lookup, "lookup", "on", "OTP_LOOKUP of the in-process server: on or off")
	fs.IntVar(&o.acks, "acks", 0, "REDIS_MIN_REPLICA_ACKS of the in-process server, which then runs as many replicas of its private redis-server and times WAIT under the load")
	fs.BoolVar(&o.failover, "failover", false, "also measure starts whose first sender refuses at once against starts sent directly by the second (in-process only)")
	fs.BoolVar(&o.events, "events", false, "also measure starts and checks with events off, on to a receiver that answers at once, and on to one that hangs (in-process only)")
	fs.BoolVar(&o.totp, "totp", false, fmt.Sprintf("also measure TOTP challenges of -identities enrolled identities, right and wrong codes in turn, against GET /v1/verifications/{id} (in-process only, with TOTP_MAX_ATTEMPTS=%d so that refused codes never lock; a -redis-url must persist)", totpMaxAttempts))
	fs.IntVar(&o.identities, "identities", totpIdentities, "-totp: identities to enrol, a factor each")
	defaults := otp.DefaultBudgetConfig()
	o.fraud.floors = defaults.Floors
	fs.BoolVar(&o.fraud.on, "fraud-sim", false, "instead of the measurements: simulate SMS pumping against the send budgets and the fraud guard (CONTRACT §9b) and print its table")
	fs.IntVar(&o.fraud.days, "fraud-days", 14, "-fraud-sim: normal days before the attack day")
	fs.Float64Var(&o.fraud.starts, "fraud-starts", 1000, "-fraud-sim: mean legitimate starts on a normal day")
	fs.Uint64Var(&o.fraud.seed, "fraud-seed", 1, "-fraud-sim: seed of the simulated traffic")
	fs.Float64Var(&o.fraud.ratio, "fraud-ratio", defaults.Ratio, "-fraud-sim: the guard's ratio R (OTP_FRAUD_GUARD_RATIO)")
	fs.Var(floorsFlag{&o.fraud.floors}, "fraud-floors", "-fraud-sim: the guard's floors as OTP_FRAUD_GUARD_FLOORS takes them, any subset (default "+defaults.Floors.String()+")")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (server included when in-process) to this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if o.lim.clients < 1 || o.lim.clients > 1000 {
		errs = append(errs, fmt.Errorf("-c %d: must be 1 to 1000", o.lim.clients))
	}
	if o.lim.dur <= 0 || o.lim.dur > maxPhase {
		errs = append(errs, fmt.Errorf("-d %v: must be positive and at most %v", o.lim.dur, maxPhase))
	}
	if o.rounds < 1 || o.rounds > 20 {
		errs = append(errs, fmt.Errorf("-rounds %d: must be 1 to 20", o.rounds))
	}
	if o.lim.max < 0 {
		errs = append(errs, fmt.Errorf("-n %d: must not be negative", o.lim.max))
	}
	if o.cost < bcrypt.MinCost || o.cost > bcrypt.MaxCost {
		errs = append(errs, fmt.Errorf("-cost %d: must be %d to %d", o.cost, bcrypt.MinCost, bcrypt.MaxCost))
	}
	if o.wrong < 0 || o.wrong >= 1 {
		errs = append(errs, fmt.Errorf("-wrong %v: must be at least 0 and below 1", o.wrong))
	}
	if o.acks < 0 || o.acks > 2 {
		errs = append(errs, fmt.Errorf("-acks %d: must be 0 to 2", o.acks))
	}
	if o.acks > 0 && (o.url != "" || o.redisURL != "") {
		errs = append(errs, errors.New("-acks: only with the in-process server on its private redis-server (no -url, no -redis-url)"))
	}
	if o.failover && o.url != "" {
		errs = append(errs, errors.New("-failover: only with the in-process server (no -url)"))
	}
	if o.events && o.url != "" {
		errs = append(errs, errors.New("-events: only with the in-process server (no -url)"))
	}
	if o.totp && o.url != "" {
		errs = append(errs, errors.New("-totp: only with the in-process server (no -url)"))
	}
	if o.identities < 1 {
		errs = append(errs, errors.New("-identities: at least 1"))
	}
	if o.fraud.on {
		errs = append(errs, o.fraud.validate()...)
		if o.url != "" || o.redisURL != "" || o.acks > 0 || o.failover || o.events || o.totp {
			errs = append(errs, errors.New("-fraud-sim: runs alone, on redis-servers of its own (no -url, -redis-url, -acks, -failover, -events, -totp)"))
		}
	}
	if o.lookup != "on" && o.lookup != "off" {
		errs = append(errs, fmt.Errorf("-lookup %q: must be on or off", o.lookup))
	}
	if o.url != "" {
		u, err := url.Parse(o.url)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https"):
			errs = append(errs, errors.New("-url: must be an http:// or https:// URL"))
		case !isLoopback(u.Hostname()):
			// A load generator must not be pointed at someone else's server.
			errs = append(errs, fmt.Errorf("-url: %s is not a loopback address", u.Hostname()))
		}
		if o.key == "" {
			errs = append(errs, errors.New("-key: required with -url"))
		}
		o.url = strings.TrimSuffix(o.url, "/")
	}
	return o, errors.Join(errs...)
}

// isLoopback accepts localhost and loopback IPs, without resolving names.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// run parses args, runs every phase and writes the report to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parse(args, out)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if o.fraud.on {
		return runFraudSim(ctx, o.fraud, out)
	}

	var t *target
	if o.url == "" {
		if t, err = startInProcess(ctx, o.redisURL, o.cost, config.LookupMode(o.lookup), o.acks, o.totp); err != nil {
			return err
		}
		defer t.close()
	} else {
		t = &target{url: o.url, key: o.key}
	}
	c, err := newClient(t, &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: o.lim.clients, MaxIdleConnsPerHost: o.lim.clients, DisableCompression: true,
		},
	})
	if err != nil {
		return err
	}
	defer c.http.CloseIdleConnections()

	p := &pool{}
	compare, err := rawCompare(o.cost)
	if err != nil {
		return err
	}
	rep := report{opts: o, inProcess: t.inProcess}
	if o.acks > 0 {
		rep.acks = probeAcks(t.rdb, o.acks, 10*time.Millisecond)
		defer rep.acks.stop()
	}
	// Each endpoint alternates with its baseline, so that both see the same
	// background load on a shared machine.
	rep.generate, rep.start = alternate(ctx, o.rounds, o.lim,
		phase{"bcrypt GenerateFromPassword", rawGenerate(o.cost)},
		phase{"POST /v1/verifications", c.starter(p)})
	if len(p.all) == 0 {
		return fmt.Errorf("no verification could be started: %s", rep.start.firstEr)
	}
	if t.inProcess {
		if rep.pendingMem, err = t.measureMemory(ctx, p.pending); err != nil {
			return fmt.Errorf("memory of pending verifications: %w", err)
		}
	}
	rep.compare, rep.check = alternate(ctx, o.rounds, o.lim,
		phase{"bcrypt CompareHashAndPassword", compare},
		phase{"POST /v1/verifications/{id}/check", c.checker(p, o.wrong)})
	if t.inProcess {
		if rep.doneMem, err = t.measureMemory(ctx, p.done); err != nil {
			return fmt.Errorf("memory of approved verifications: %w", err)
		}
		rep.bare, rep.get = alternate(ctx, o.rounds, o.lim,
			phase{"bare net/http GET (same store read)", c.bareGetter(p)},
			phase{"GET /v1/verifications/{id}", c.getter(p)})
	} else {
		rep.get = runPhase(ctx, "GET /v1/verifications/{id}", o.lim, c.getter(p))
	}
	if o.totp {
		f, err := c.enrolFactors(ctx, o.identities, o.lim.clients)
		if err != nil {
			return fmt.Errorf("enrol the factors of -totp: %w", err)
		}
		rep.totpGet, rep.totp = alternate(ctx, o.rounds, o.lim,
			phase{"GET /v1/verifications/{id} (beside TOTP)", c.getter(p)},
			phase{"POST /v1/identities/{id}/challenges", c.challenger(f)})
		rep.totpSent, rep.totpValid = f.sent.Load(), f.valid.Load()
	}
	if o.failover {
		if rep.failover, err = measureFailover(ctx, t, o, c.http); err != nil {
			return err
		}
	}
	if o.events {
		if rep.events, err = measureEvents(ctx, t, o, c.http); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if rep.acks != nil {
		rep.acks.stop()
	}
	rep.write(out)
	return nil
}

// report is one run's numbers.
type report struct {
	opts                            options
	inProcess                       bool
	generate, start, compare, check *result
	get, bare                       *result
	totpGet, totp                   *result // nil without -totp
	totpSent, totpValid             int64
	pendingMem, doneMem             memory
	acks                            *ackProbe       // nil without -acks
	failover                        *failoverReport // nil without -failover
	events                          *eventsReport   // nil without -events
}

func (r *report) write(w io.Writer) {
	where := "a running otpgate at " + r.opts.url + " (codes unknown: every guess is wrong)"
	if r.inProcess {
		where = fmt.Sprintf("in-process otpgate (real Redis, Connexus fake without latency, OTP_LOOKUP=%s)", r.opts.lookup)
	}
	fmt.Fprintf(w, "otpgate-bench: %s\n", where)
	fmt.Fprintf(w, "machine: %d CPUs (%s), GOMAXPROCS %d; %d clients, %v per measurement in %d rounds, bcrypt cost %d, %.0f%% wrong guesses\n\n",
		runtime.NumCPU(), cpuModel(), runtime.GOMAXPROCS(0), r.opts.lim.clients, r.opts.lim.dur, r.opts.rounds, r.opts.cost, 100*r.opts.wrong)

	fmt.Fprintln(w, "| operation | ok | errors | ops/s | p50 ms | p95 ms | p99 ms |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|")
	var errs []*result
	for _, res := range []*result{r.generate, r.start, r.compare, r.check, r.get, r.bare, r.totpGet, r.totp} {
		if res == nil {
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %d | %.1f | %s | %s | %s |\n", res.name, res.ok, res.errs, res.rate(),
			ms(res.pct(50)), ms(res.pct(95)), ms(res.pct(99)))
		if res.errs > 0 {
			errs = append(errs, res)
		}
	}
	for _, res := range errs {
		fmt.Fprintf(w, "\nfirst error of %s: %s\n", res.name, res.firstEr)
	}

	fmt.Fprintln(w, "\n| ratio | value | target |")
	fmt.Fprintln(w, "|---|--:|---|")
	ratio(w, "check / raw compare", r.check.rate(), r.compare.rate(), 0.9)
	ratio(w, "start / raw generate", r.start.rate(), r.generate.rate(), 0.85)
	if r.bare != nil {
		ratio(w, "GET / bare handler", r.get.rate(), r.bare.rate(), 0.7)
		added := r.get.pct(99) - r.bare.pct(99)
		fmt.Fprintf(w, "| GET service-added p99 (p99 GET − p99 bare) | %s ms | ≤ 2 ms %s |\n", ms(added), mark(added <= 2*time.Millisecond))
	}
	if r.totp != nil {
		ratio(w, "TOTP challenge / GET", r.totp.rate(), r.totpGet.rate(), totpGoal)
		fmt.Fprintf(w, "| TOTP challenges sent (right codes accepted; every other one wrong, the rest replays) | %d (%d) | |\n", r.totpSent, r.totpValid)
	}
	if r.acks != nil {
		n, short, p := r.acks.summary()
		fmt.Fprintf(w, "| SET + WAIT %d replica(s) under the load, %d probes (p50, p99, p99.9, max ms; short of acks) | %s, %s, %s, %s; %d | below REDIS_REPLICA_ACK_TIMEOUT |\n",
			r.opts.acks, n, ms(p[0]), ms(p[1]), ms(p[2]), ms(p[3]), short)
	}
	if r.inProcess {
		m, d := r.pendingMem, r.doneMem
		fmt.Fprintf(w, "| Redis bytes per pending verification (mean, max of %d; %.1f keys) | %d, %d | ≤ 400 %s |\n",
			m.n, m.keysPerItem, m.store, m.max, mark(m.n > 0 && m.max <= 400))
		fmt.Fprintf(w, "| Redis bytes per approved verification (mean, max of %d; %.1f keys) | %d, %d | |\n", d.n, d.keysPerItem, d.store, d.max)
		fmt.Fprintf(w, "| rate-limit counters per number, apart from the above (mean) | %d | |\n", m.limits)
	}
	if r.failover != nil {
		r.failover.write(w)
	}
	if r.events != nil {
		r.events.write(w)
	}
}

func ratio(w io.Writer, name string, got, base, target float64) {
	v := 0.0
	if base > 0 {
		v = got / base
	}
	fmt.Fprintf(w, "| %s | %.2f | ≥ %.2f %s |\n", name, v, target, mark(v >= target))
}

func mark(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}

// cpuModel is the first "model name" of /proc/cpuinfo, where there is one.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
