package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/otp"
)

// launchFactor is how many times a normal day's starts the launch day has.
const launchFactor = 3

// fraudOptions are the flags of -fraud-sim.
type fraudOptions struct {
	on     bool
	days   int     // normal days before the attack day
	starts float64 // mean legitimate starts on a normal day
	seed   uint64
	ratio  float64
	floors otp.Floors
}

// floorsFlag reads -fraud-floors as OTP_FRAUD_GUARD_FLOORS is written:
// name:N for any subset of the floors; the others keep their defaults.
type floorsFlag struct{ f *otp.Floors }

func (v floorsFlag) String() string {
	if v.f == nil {
		return ""
	}
	return v.f.String()
}

func (v floorsFlag) Set(s string) error {
	f, err := otp.ParseFloors(s, *v.f)
	if err != nil {
		return err
	}
	*v.f = f
	return nil
}

func (f fraudOptions) validate() []error {
	var errs []error
	if f.days < 1 || f.days > 60 {
		errs = append(errs, fmt.Errorf("-fraud-days %d: must be 1 to 60", f.days))
	}
	if f.starts < 10 || f.starts > 100000 {
		errs = append(errs, fmt.Errorf("-fraud-starts %v: must be 10 to 100000", f.starts))
	}
	if f.ratio <= 0 || f.ratio > 10 {
		errs = append(errs, fmt.Errorf("-fraud-ratio %v: must be above 0 and at most 10", f.ratio))
	}
	for name, n := range f.floors.All() {
		if n < 1 {
			errs = append(errs, fmt.Errorf("-fraud-floors %s:%d: must be at least 1", name, n))
		}
	}
	return errs
}

// command is the command line that reproduces a run of f.
func (f fraudOptions) command() string {
	return fmt.Sprintf("go run ./cmd/otpgate-bench -fraud-sim -fraud-days %d -fraud-starts %v -fraud-seed %d -fraud-ratio %v -fraud-floors %s",
		f.days, f.starts, f.seed, f.ratio, f.floors.String())
}

// scenario is one row of the simulation's table.
type scenario struct {
	guard      otp.GuardMode
	conversion float64
	launch     bool // a launch day instead of normal days and an attack
}

func (sc scenario) String() string {
	mode := map[otp.GuardMode]string{otp.GuardOff: "static caps only (guard off)", otp.GuardRecord: "record", otp.GuardEnforce: "enforce"}[sc.guard]
	day := "normal days + attack"
	if sc.launch {
		day = "launch day"
	}
	return fmt.Sprintf("%s, %s, %.0f %% approved", day, mode, 100*sc.conversion)
}

// fraudScenarios are the issue's: the static caps alone, record and
// enforce, at both conversions, and the launch day under the guard.
func fraudScenarios() []scenario {
	var scs []scenario
	for _, launch := range []bool{false, true} {
		for _, c := range []float64{0.85, 0.65} {
			for _, g := range []otp.GuardMode{otp.GuardOff, otp.GuardRecord, otp.GuardEnforce} {
				if launch && g == otp.GuardOff {
					continue
				}
				scs = append(scs, scenario{guard: g, conversion: c, launch: launch})
			}
		}
	}
	return scs
}

// config is the run of sc under f.
func (f fraudOptions) config(sc scenario) simConfig {
	b := otp.DefaultBudgetConfig()
	b.Guard, b.Ratio, b.Floors = sc.guard, f.ratio, f.floors
	c := simConfig{days: f.days + 1, perDay: f.starts, conversion: sc.conversion, attack: true, seed: f.seed, budget: b}
	if sc.launch {
		c.days, c.perDay, c.attack = 1, launchFactor*f.starts, false
	}
	return c
}

// redisOpener gives a scenario a Redis of its own with an empty database;
// done releases it.
type redisOpener func(ctx context.Context) (rdb *redis.Client, done func(), err error)

// privateRedis starts a redis-server for each scenario.
func privateRedis(context.Context) (*redis.Client, func(), error) {
	addr, stop, err := startRedisServer()
	if err != nil {
		return nil, nil, err
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	return rdb, func() {
		_ = rdb.Close()
		stop()
	}, nil
}

// runScenarios runs each scenario on a Redis of its own, as many at once
// as there are cores, and returns their results in order.
func runScenarios(ctx context.Context, f fraudOptions, scs []scenario, open redisOpener) ([]*simResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	results := make([]*simResult, len(scs))
	next := make(chan int)
	var wg sync.WaitGroup
	// A run waits on its redis-server about half the time.
	for range min(2*runtime.GOMAXPROCS(0), len(scs)) {
		wg.Go(func() {
			for i := range next {
				rdb, done, err := open(ctx)
				if err == nil {
					results[i], err = simulate(ctx, rdb, f.config(scs[i]))
					done()
				}
				if err != nil {
					// The first failure stops the others; theirs would only
					// say that they were stopped.
					cancel(fmt.Errorf("%s: %w", scs[i], err))
				}
			}
		})
	}
	for i := range scs {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return results, nil
}

// runFraudSim runs every scenario on private redis-servers and writes the
// report.
func runFraudSim(ctx context.Context, f fraudOptions, out io.Writer) error {
	began := time.Now()
	scs := fraudScenarios()
	results, err := runScenarios(ctx, f, scs, privateRedis)
	if err != nil {
		return err
	}
	writeFraudReport(out, f, scs, results, time.Since(began))
	return nil
}
