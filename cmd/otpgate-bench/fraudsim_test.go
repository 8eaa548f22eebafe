package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// TestFraudSimBound runs the simulation as -fraud-sim does, with 3 normal
// days instead of 14 but the whole attack hour, on a real Redis, and holds
// the attacker to what §9b promises: the prefix cap alone, and the guard
// in enforce with the default ratio and floors at 85 % and 65 % conversion,
// which must refuse no legitimate user on a normal day and under 1 % on the
// attack day.
func TestFraudSimBound(t *testing.T) {
	f := fraudOptions{days: 3, starts: 1000, seed: 1, ratio: otp.DefaultBudgetConfig().Ratio, floors: otp.DefaultBudgetConfig().Floors}
	for _, sc := range []scenario{
		{guard: otp.GuardOff, conversion: 0.85},
		{guard: otp.GuardEnforce, conversion: 0.85},
		{guard: otp.GuardEnforce, conversion: 0.65},
	} {
		t.Run(sc.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cfg := f.config(sc)
			res, err := simulate(ctx, redistest.Real(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.attackers != attackPrefixes*attackPerPrefix {
				t.Fatalf("the attacker started %d times, want %d", res.attackers, attackPrefixes*attackPerPrefix)
			}
			bd := promisedBound(cfg.budget, res)
			total, byPrefix := attackSent(res)
			if total == 0 || total > bd.total {
				t.Errorf("attacker SMS: %d, want some and at most the bound %d", total, bd.total)
			}
			for p, n := range byPrefix {
				if n > bd.perPrefix[p] {
					t.Errorf("attacker SMS to prefix %s: %d, want at most its bound %d", p, n, bd.perPrefix[p])
				}
				if sc.guard == otp.GuardOff && n > 30 {
					t.Errorf("attacker SMS to prefix %s with the static caps alone: %d, want at most 30 an hour", p, n)
				}
			}
			for i, d := range res.days[:len(res.days)-1] {
				if d.starts == 0 || d.refused != 0 {
					t.Errorf("normal day %d: %d of %d legitimate starts refused, want some starts and none refused", i+1, d.refused, d.starts)
				}
			}
			if d := res.days[len(res.days)-1]; d.starts == 0 || d.refused*100 >= d.starts {
				t.Errorf("attack day: %d of %d legitimate starts refused, want under 1 %%", d.refused, d.starts)
			}
		})
	}
}

func TestPromisedBound(t *testing.T) {
	t0 := attackStart(15)
	// 300 approvals in the 24 h before the attack, 40 of them in its last
	// hour and 12 in one of the attacker's prefixes, and 100 more before;
	// no UTC day has more than about 200.
	res := &simResult{attackAt: t0, prefixes: []string{"6421000", "6421001"}}
	add := func(n int, from, to time.Time, prefix string) {
		for i := range n {
			res.approvals = append(res.approvals, approval{at: from.Add(time.Duration(i) * to.Sub(from) / time.Duration(n)), prefix: prefix})
		}
	}
	add(100, t0.Add(-48*time.Hour), t0.Add(-30*time.Hour), "6422999")
	add(248, t0.Add(-23*time.Hour), t0.Add(-time.Hour), "6422999")
	add(40, t0.Add(-time.Hour+time.Minute), t0, "6422999")
	add(12, t0.Add(-20*time.Hour), t0.Add(-19*time.Hour), "6421000")
	if daily := mostDailyApprovals(res, t0, t0.Add(attackSpan)); daily < 150 || daily > 250 {
		t.Fatalf("most approvals of a UTC day before the attack: %d, want about 200 (8 + 175 + 12)", daily)
	}

	for _, tc := range []struct {
		name      string
		guard     otp.GuardMode
		ratio     float64
		floors    otp.Floors
		total     int
		perPrefix [2]int
	}{
		{"static caps", otp.GuardRecord, 0.5, otp.Floors{CountryDay: 50, CountryHour: 10, PrefixHour: 5, IPCountries: 3}, 60, [2]int{30, 30}},
		// T24 = max(50, 0.5 × ~200, 0.5 × 300) = 150; T1 = max(10, 150 ÷ 6,
		// 0.5 × 40) = 25; TP = max(5, 0.5 × 12) = 6 and 5.
		{"prefix floor and approvals", otp.GuardEnforce, 0.5, otp.Floors{CountryDay: 50, CountryHour: 10, PrefixHour: 5, IPCountries: 3}, 11, [2]int{6, 5}},
		{"country hour", otp.GuardEnforce, 0.5, otp.Floors{CountryDay: 50, CountryHour: 10, PrefixHour: 20, IPCountries: 3}, 25, [2]int{20, 20}},
		// T24 = 3000, T1 = 500, TP = 120 and 5: the prefix cap binds the
		// first prefix.
		{"prefix cap below the guard", otp.GuardEnforce, 10, otp.Floors{CountryDay: 50, CountryHour: 10, PrefixHour: 5, IPCountries: 3}, 35, [2]int{30, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := otp.DefaultBudgetConfig()
			b.Guard, b.Ratio, b.Floors = tc.guard, tc.ratio, tc.floors
			bd := promisedBound(b, res)
			got := [2]int{bd.perPrefix["6421000"], bd.perPrefix["6421001"]}
			if bd.total != tc.total || got != tc.perPrefix {
				t.Errorf("bound = %d in total, %v per prefix, want %d, %v", bd.total, got, tc.total, tc.perPrefix)
			}
		})
	}
}

// TestDailyCurve checks the curve the legitimate starts follow: a mean of
// 1 over a day, the trough and peak where the report says.
func TestDailyCurve(t *testing.T) {
	sum, lo, hi := 0.0, 10.0, 0.0
	var loAt, hiAt time.Time
	for m := range 24 * 60 {
		at := simStart.Add(time.Duration(m) * time.Minute)
		c := dailyCurve(at)
		sum += c
		if c < lo {
			lo, loAt = c, at
		}
		if c > hi {
			hi, hiAt = c, at
		}
	}
	if mean := sum / (24 * 60); mean < 0.999 || mean > 1.001 {
		t.Errorf("mean of the daily curve = %.4f, want 1", mean)
	}
	if lo != curveTrough || loAt.Hour() != int(troughHour) || hi != curvePeak || hiAt.Hour() != int(peakHour) {
		t.Errorf("curve from %.3f at %s to %.3f at %s, want %v at 04:00 to %v at 20:00", lo, loAt.Format("15:04"), hi, hiAt.Format("15:04"), curveTrough, curvePeak)
	}
	// A day of arrivals at 1000 a day comes to about 1000 (Poisson: sd 32).
	r := rand.New(rand.NewPCG(1, 1))
	n := 0
	for at := nextArrival(r, simStart, 1000); at.Before(simStart.AddDate(0, 0, 1)); at = nextArrival(r, at, 1000) {
		n++
	}
	if n < 900 || n > 1100 {
		t.Errorf("one day of arrivals at 1000 a day: %d", n)
	}
}

// TestNZMobiles checks that the numbers the users and the attacker use are
// valid New Zealand mobiles, as the Service must take them.
func TestNZMobiles(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		for _, n := range []string{nzMobile(r), nzPrefix(r) + digitsOf(r.IntN(10000), 4)} {
			num, err := phonenumbers.Parse("+"+n, "")
			if err != nil || !phonenumbers.IsValidNumberForRegion(num, "NZ") || phonenumbers.GetNumberType(num) != phonenumbers.MOBILE {
				t.Fatalf("%s is not a valid NZ mobile (%v)", n, err)
			}
		}
	}
}

func TestFloorsFlag(t *testing.T) {
	def := otp.DefaultBudgetConfig().Floors
	withPrefix3 := def
	withPrefix3.PrefixHour = 3
	for _, tc := range []struct {
		in      string
		want    otp.Floors
		wantErr bool
	}{
		{"prefix_hour:3", withPrefix3, false},
		{"country_day:200, country_hour:40,prefix_hour:2,ip_countries:4", otp.Floors{CountryDay: 200, CountryHour: 40, PrefixHour: 2, IPCountries: 4}, false},
		{"prefix_day:3", def, true},
		{"prefix_hour", def, true},
	} {
		f := def
		err := floorsFlag{&f}.Set(tc.in)
		if (err != nil) != tc.wantErr || f != tc.want {
			t.Errorf("Set(%q) = %v, %+v; want error %v, %+v", tc.in, err, f, tc.wantErr, tc.want)
		}
	}
	zero := fraudOptions{days: 3, starts: 500, ratio: 0.8, floors: def}
	zero.floors.PrefixHour = 0
	if errs := zero.validate(); len(errs) != 1 {
		t.Errorf("validate with prefix_hour:0 = %v, want one error", errs)
	}
}

// TestParseFraudSim checks the flags of -fraud-sim, and that the command
// the report prints reproduces the run.
func TestParseFraudSim(t *testing.T) {
	o, err := parse([]string{"-fraud-sim", "-fraud-days", "3", "-fraud-starts", "500", "-fraud-seed", "7", "-fraud-ratio", "0.8", "-fraud-floors", "prefix_hour:4"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := fraudOptions{on: true, days: 3, starts: 500, seed: 7, ratio: 0.8, floors: otp.DefaultBudgetConfig().Floors}
	want.floors.PrefixHour = 4
	if o.fraud != want {
		t.Errorf("parsed %+v, want %+v", o.fraud, want)
	}
	args, ok := strings.CutPrefix(o.fraud.command(), "go run ./cmd/otpgate-bench ")
	if !ok {
		t.Fatalf("command() = %q", o.fraud.command())
	}
	again, err := parse(strings.Fields(args), &bytes.Buffer{})
	if err != nil || again.fraud != want {
		t.Errorf("the printed command %q parses to %+v, %v; want %+v", args, again.fraud, err, want)
	}
}
