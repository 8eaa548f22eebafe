package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// race reserves n sends at once, made by send, and returns those that went
// through; every other must be refused with kind.
func race(t *testing.T, s *redisstore.Store, n int, kind error, send func(i int) otp.BudgetRequest) []otp.BudgetRequest {
	t.Helper()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		through []otp.BudgetRequest
	)
	for i := range n {
		wg.Go(func() {
			r := send(i)
			_, err := s.Reserve(context.Background(), r)
			if err != nil {
				if !errors.Is(err, kind) {
					t.Errorf("Reserve %s: %v, want %v", r.Token, err, kind)
				}
				return
			}
			mu.Lock()
			through = append(through, r)
			mu.Unlock()
		})
	}
	wg.Wait()
	return through
}

// releaseAll releases rs at once.
func releaseAll(t *testing.T, s *redisstore.Store, rs []otp.BudgetRequest) {
	t.Helper()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() {
			if err := s.Release(context.Background(), r); err != nil {
				t.Errorf("Release %s: %v", r.Token, err)
			}
		})
	}
	wg.Wait()
}

// TestBudgetsExactOnEveryTopology races 200 starts against each static
// cap and each guard threshold, on a single Redis, behind Sentinel and on
// a Cluster: exactly as many go through as the cap or threshold allows,
// and releasing some makes exactly that much room. On the Cluster, Approve
// names its keys in Lua from the stored records, which only works because
// they share the hash tag of the key it is given.
func TestBudgetsExactOnEveryTopology(t *testing.T) {
	const n = 200
	floors := testFloors
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		ctx := context.Background()
		s := redisstore.New(tp.Client)
		check := func(what string, got []otp.BudgetRequest, want int) {
			t.Helper()
			if len(got) != want {
				t.Fatalf("%s: %d of %d went through, want %d", what, len(got), n, want)
			}
		}

		// The prefix cap: 200 numbers of prefix 1, 30 an hour.
		prefixCap := func(round int) func(i int) otp.BudgetRequest {
			return func(i int) otp.BudgetRequest {
				r := capped(fmt.Sprintf("c%d-%d", round, i), nz(1, i), t0)
				r.PrefixLimit, r.CountryDaily, r.AllDaily = 30, 0, 0
				return r
			}
		}
		through := race(t, s, n, otp.ErrRateLimited, prefixCap(0))
		check("prefix cap", through, 30)
		releaseAll(t, s, through[:15])
		check("prefix cap after releasing 15", race(t, s, n, otp.ErrRateLimited, prefixCap(1)), 15)

		// The daily cap of all countries: 50 sends, 200 prefixes.
		daily := func(round int) func(i int) otp.BudgetRequest {
			return func(i int) otp.BudgetRequest {
				r := capped(fmt.Sprintf("d%d-%d", round, i), nz(100+i, 0), t0)
				r.PrefixLimit, r.CountryDaily, r.AllDaily = 0, 0, 50
				return r
			}
		}
		through = race(t, s, n, otp.ErrSendBudget, daily(0))
		check("daily cap", through, 50)
		releaseAll(t, s, through[:25])
		check("daily cap after releasing 25", race(t, s, n, otp.ErrSendBudget, daily(1)), 25)

		// The guard in enforce: 200 prefixes of NZ, then 200 numbers of one
		// prefix of AU.
		check("country hour", race(t, s, n, otp.ErrFraudGuard, func(i int) otp.BudgetRequest {
			return guarded(fmt.Sprint("n", i), nz(300+i, 0), t0)
		}), floors.CountryHour)
		au := func(round string) func(i int) otp.BudgetRequest {
			return func(i int) otp.BudgetRequest {
				number := fmt.Sprintf("6141234%04d", i)
				r := guarded(round+fmt.Sprint(i), number, t0)
				r.Country = "AU"
				return r
			}
		}
		through = race(t, s, n, otp.ErrFraudGuard, au("a"))
		check("prefix hour", through, floors.PrefixHour)
		// Approving them verifies all five (and leaves the prefix's hour at
		// max(5, 0.5 × 1)): another five go through.
		for _, r := range through {
			if err := s.Bind(ctx, r.Token, "ver_a", t0); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Approve(ctx, "ver_a", t0); err != nil {
			t.Fatalf("Approve: %v", err)
		}
		check("prefix hour after approving", race(t, s, n, otp.ErrFraudGuard, au("b")), floors.PrefixHour)
	})
}
