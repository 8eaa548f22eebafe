package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// nz is an NZ number: prefix p (0-999) of the 6421 range, and i (0-9999)
// its last four digits.
func nz(p, i int) string { return fmt.Sprintf("6421%03d%04d", p, i) }

// guarded is a send to number (NZ) at now in enforce mode, with no static
// caps and the ratio and floors the contract first gave (R = 0.5, floors
// 50, 10, 5, 3): fixed here, so the defaults can be tuned without moving
// what these tests count.
func guarded(token, number string, now time.Time) otp.BudgetRequest {
	return otp.BudgetRequest{Token: token, Number: number, Country: "NZ", Prefix: otp.NumberPrefix(number), Now: now,
		Guard: otp.GuardEnforce, Ratio: 0.5, Floors: testFloors}
}

var testFloors = otp.Floors{CountryDay: 50, CountryHour: 10, PrefixHour: 5, IPCountries: 3}

// fill reserves the sends next makes until one is refused, and returns how
// many went through and the refusal.
func fill(t *testing.T, b otp.Budgets, next func(i int) otp.BudgetRequest) (int, *otp.LimitError) {
	t.Helper()
	for i := range 1000 {
		_, err := b.Reserve(context.Background(), next(i))
		if err != nil {
			le, ok := errors.AsType[*otp.LimitError](err)
			if !ok {
				t.Fatalf("Reserve %d: %v, want a *otp.LimitError", i, err)
			}
			return i, le
		}
	}
	t.Fatal("1000 sends and none refused")
	return 0, nil
}

// seed approves n verifications of one send each at at, each send made by
// send(i) (in record mode, so that seeding is never refused).
func seed(t *testing.T, s *redisstore.Store, n int, at time.Time, send func(i int) otp.BudgetRequest) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		r := send(i)
		r.Token, r.Now, r.Guard = fmt.Sprintf("seed-%d-%d", at.UnixMilli(), i), at, otp.GuardRecord
		id := fmt.Sprintf("ver_%016x%016x", at.UnixMilli(), i)
		if _, err := s.Reserve(ctx, r); err != nil {
			t.Fatalf("seed Reserve: %v", err)
		}
		if err := s.Bind(ctx, r.Token, id, at); err != nil {
			t.Fatalf("seed Bind: %v", err)
		}
		if err := s.Approve(ctx, id, at); err != nil {
			t.Fatalf("seed Approve: %v", err)
		}
	}
}

// elsewhere is a send to prefix 900+i%100, out of the way of the tests'
// own prefixes.
func elsewhere(i int) otp.BudgetRequest { return guarded("", nz(900+i%100, i), t0) }

// TestGuardThresholds fills each threshold of §9b until the guard refuses:
// exactly as many sends go through as the threshold allows, and the
// refusal names the warnings, the floor of the first one's threshold, and
// when every one of them clears.
func TestGuardThresholds(t *testing.T) {
	const ip = "203.0.113.7"
	// hourly sends to NZ, each to its own prefix, a second apart from t0.
	hourly := func(i int) otp.BudgetRequest {
		return guarded(fmt.Sprint("h", i), nz(i, 0), t0.Add(time.Duration(i)*time.Second))
	}
	// spaced sends every gap to their own prefixes: fewer than a country's
	// hourly threshold fall in any hour.
	spaced := func(gap time.Duration) func(i int) otp.BudgetRequest {
		return func(i int) otp.BudgetRequest {
			return guarded(fmt.Sprint("s", i), nz(i, 0), t0.Add(time.Duration(i)*gap))
		}
	}
	countries := []string{"NZ", "AU", "GB", "US", "FR", "DE", "JP", "CA"}
	// fromIP sends to one country after another, all from ip.
	fromIP := func(i int) otp.BudgetRequest {
		r := hourly(i)
		r.Country, r.ClientIP = countries[i%len(countries)], ip
		return r
	}
	ratio := func(r float64, send func(int) otp.BudgetRequest) func(int) otp.BudgetRequest {
		return func(i int) otp.BudgetRequest {
			s := send(i)
			s.Ratio = r
			return s
		}
	}
	cases := []struct {
		name  string
		seed  func(t *testing.T, s *redisstore.Store)
		send  func(i int) otp.BudgetRequest
		want  int
		warns []otp.Warning
		limit int64
		reset time.Time
	}{
		{name: "country hour floor", send: hourly, want: 10,
			warns: []otp.Warning{otp.WarnCountryHourly}, limit: 10, reset: t0.Add(time.Hour)},
		{name: "country day floor", send: spaced(7 * time.Minute), want: 50,
			warns: []otp.Warning{otp.WarnCountryDaily}, limit: 50, reset: t0.Add(24 * time.Hour)},
		{name: "prefix floor", send: func(i int) otp.BudgetRequest {
			return guarded(fmt.Sprint("p", i), nz(7, i), t0.Add(time.Duration(i)*time.Second))
		}, want: 5, warns: []otp.Warning{otp.WarnPrefixHourly}, limit: 5, reset: t0.Add(time.Hour)},
		{name: "R × the best past day: 24 h", seed: func(t *testing.T, s *redisstore.Store) {
			seed(t, s, 300, t0.AddDate(0, 0, -3), elsewhere)
		}, send: spaced(3 * time.Minute), want: 150,
			warns: []otp.Warning{otp.WarnCountryDaily}, limit: 150, reset: t0.Add(24 * time.Hour)},
		{name: "R × the best past day: 1 h is the 24 h threshold ÷ 6", seed: func(t *testing.T, s *redisstore.Store) {
			seed(t, s, 300, t0.AddDate(0, 0, -3), elsewhere)
		}, send: hourly, want: 25, warns: []otp.Warning{otp.WarnCountryHourly}, limit: 25, reset: t0.Add(time.Hour)},
		// 140 on the 14th day before today makes 24 h 70 and 1 h 11.67:
		// the 12th send would take 11 unverified to 12.
		{name: "the best of the 14 days before today", seed: func(t *testing.T, s *redisstore.Store) {
			seed(t, s, 100, t0.Add(-25*time.Hour), elsewhere)
			seed(t, s, 140, t0.AddDate(0, 0, -14), elsewhere)
			seed(t, s, 200, t0.AddDate(0, 0, -15), elsewhere)
		}, send: hourly, want: 11, warns: []otp.Warning{otp.WarnCountryHourly}, limit: 11, reset: t0.Add(time.Hour)},
		{name: "R × approvals in 24 h", seed: func(t *testing.T, s *redisstore.Store) {
			seed(t, s, 200, t0.Add(-2*time.Hour), elsewhere)
		}, send: hourly, want: 16, warns: []otp.Warning{otp.WarnCountryHourly}, limit: 16, reset: t0.Add(time.Hour)},
		{name: "R × approvals in 1 h", seed: func(t *testing.T, s *redisstore.Store) {
			seed(t, s, 60, t0.Add(-30*time.Minute), elsewhere)
		}, send: hourly, want: 30, warns: []otp.Warning{otp.WarnCountryHourly}, limit: 30, reset: t0.Add(time.Hour)},
		// R = 2: 150 approvals a past day make the country's hour 50; 10 of
		// the prefix in 24 h make its hour 20.
		{name: "R × the prefix's approvals in 24 h", seed: func(t *testing.T, s *redisstore.Store) {
			seed(t, s, 150, t0.AddDate(0, 0, -2), elsewhere)
			seed(t, s, 10, t0.Add(-5*time.Hour), func(i int) otp.BudgetRequest { return guarded("", nz(7, 100+i), t0) })
		}, send: ratio(2, func(i int) otp.BudgetRequest {
			return guarded(fmt.Sprint("p", i), nz(7, i), t0.Add(time.Duration(i)*time.Second))
		}), want: 20, warns: []otp.Warning{otp.WarnPrefixHourly}, limit: 20, reset: t0.Add(time.Hour)},
		// Three sends elsewhere, then prefix 7: its 4th send takes the
		// country to 7 > 6 (36 ÷ 6) and the prefix to 4 > 3. The limit is the
		// country's; the refusal lasts until the prefix's oldest send leaves.
		{name: "two warnings", send: func(i int) otp.BudgetRequest {
			r := hourly(i)
			if i >= 3 {
				r.Number, r.Prefix = nz(7, i), otp.NumberPrefix(nz(7, i))
			}
			r.Floors = otp.Floors{CountryDay: 36, CountryHour: 6, PrefixHour: 3, IPCountries: 3}
			return r
		}, want: 6, warns: []otp.Warning{otp.WarnCountryHourly, otp.WarnPrefixHourly}, limit: 6,
			reset: t0.Add(time.Hour + 3*time.Second)},
		{name: "ip countries", send: fromIP, want: 3,
			warns: []otp.Warning{otp.WarnIPCountries}, limit: 3, reset: t0.Add(24 * time.Hour)},
		// An approval from the IP takes NZ out of its count: AU, GB and US
		// make three; the refusal of FR ends when AU's send leaves.
		{name: "ip countries less the approved", seed: func(t *testing.T, s *redisstore.Store) {
			seed(t, s, 1, t0.Add(-time.Hour), func(i int) otp.BudgetRequest {
				r := elsewhere(i)
				r.ClientIP = ip
				return r
			})
		}, send: fromIP, want: 4, warns: []otp.Warning{otp.WarnIPCountries}, limit: 3,
			reset: t0.Add(24*time.Hour + time.Second)},
		// Without a client IP only the country's hour (10) counts, in each
		// of the 8 countries.
		{name: "no client ip", send: func(i int) otp.BudgetRequest {
			r := fromIP(i)
			r.ClientIP = ""
			return r
		}, want: 80, warns: []otp.Warning{otp.WarnCountryHourly}, limit: 10, reset: t0.Add(time.Hour)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			redistest.Each(t, func(t *testing.T, c *redis.Client) {
				s := redisstore.New(c)
				if tc.seed != nil {
					tc.seed(t, s)
				}
				got, le := fill(t, s, tc.send)
				if got != tc.want {
					t.Errorf("%d sends went through, want %d", got, tc.want)
				}
				if !errors.Is(le, otp.ErrFraudGuard) || !slices.Equal(le.Warnings, tc.warns) || le.Limit != tc.limit ||
					le.Remaining != 0 || !le.Reset.Equal(tc.reset) {
					t.Errorf("refusal = %v %v limit %d remaining %d reset %v; want %v limit %d reset %v",
						le.Kind, le.Warnings, le.Limit, le.Remaining, le.Reset, tc.warns, tc.limit, tc.reset)
				}
			})
		})
	}
}

// TestGuardModes sends 8 codes to one prefix (floor 5) in each mode: only
// enforce refuses, and then not a number on the allow list; record and
// the allow list report the warning of each send past the floor.
func TestGuardModes(t *testing.T) {
	cases := []struct {
		mode    otp.GuardMode
		allowed bool
		through int
		warned  int
	}{
		{otp.GuardEnforce, false, 5, 0},
		{otp.GuardEnforce, true, 8, 3},
		{otp.GuardRecord, false, 8, 3},
		{otp.GuardOff, false, 8, 0},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s allowed=%v", tc.mode, tc.allowed), func(t *testing.T) {
			redistest.Each(t, func(t *testing.T, c *redis.Client) {
				s := redisstore.New(c)
				through, warned := 0, 0
				for i := range 8 {
					r := guarded(fmt.Sprint("m", i), nz(7, i), t0.Add(time.Duration(i)*time.Second))
					r.Guard, r.Allowed = tc.mode, tc.allowed
					ws, err := s.Reserve(context.Background(), r)
					switch {
					case err == nil:
						through++
					case !errors.Is(err, otp.ErrFraudGuard):
						t.Fatalf("Reserve %d: %v", i, err)
					}
					if len(ws) > 0 {
						warned++
						if !slices.Equal(ws, []otp.Warning{otp.WarnPrefixHourly}) || i < 5 {
							t.Errorf("send %d warned %v", i, ws)
						}
					}
				}
				if through != tc.through || warned != tc.warned {
					t.Errorf("%d through, %d warned; want %d and %d", through, warned, tc.through, tc.warned)
				}
				if keys := c.Keys(context.Background(), "otp:{fg}:*").Val(); tc.mode == otp.GuardOff && len(keys) != 0 {
					t.Errorf("the guard off wrote %v", keys)
				}
			})
		})
	}
}
