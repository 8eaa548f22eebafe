package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/otpgate/otpgate/otp"
)

// attackBound is what §9b promises the attacker gets through in the attack
// hour: per prefix and in total, -1 where nothing bounds it.
type attackBound struct {
	total     int
	perPrefix map[string]int
}

// promisedBound derives the bound from the configuration and the approvals
// the run made before and during the attack hour [t0, t1); see boundLegend.
func promisedBound(b otp.BudgetConfig, res *simResult) attackBound {
	static := staticPerPrefix(b)
	bd := attackBound{total: 0, perPrefix: map[string]int{}}
	for _, p := range res.prefixes {
		bd.perPrefix[p] = static
	}
	if b.Guard == otp.GuardEnforce {
		t0, t1 := res.attackAt, res.attackAt.Add(attackSpan)
		approvals := func(from time.Time, prefix string) float64 {
			n := 0
			for _, a := range res.approvals {
				if !a.at.Before(from) && !a.at.After(t1) && (prefix == "" || a.prefix == prefix) {
					n++
				}
			}
			return float64(n)
		}
		R, F := b.Ratio, b.Floors
		t24 := max(float64(F.CountryDay), R*float64(mostDailyApprovals(res, t0, t1)), R*approvals(t0.Add(-24*time.Hour), ""))
		t1h := max(float64(F.CountryHour), t24/6, R*approvals(t0.Add(-time.Hour), ""))
		sum := 0
		for _, p := range res.prefixes {
			tp := int(max(float64(F.PrefixHour), R*approvals(t0.Add(-24*time.Hour), p)))
			if static >= 0 {
				tp = min(tp, static)
			}
			bd.perPrefix[p] = tp
			sum += tp
		}
		bd.total = min(int(t24), int(t1h), sum)
		return bd
	}
	if static < 0 {
		bd.total = -1
		return bd
	}
	bd.total = static * len(res.prefixes)
	return bd
}

// staticPerPrefix is the most SMS the prefix cap lets through to one
// prefix in the attack hour (a sliding window holds its limit at any
// moment), -1 without a cap.
func staticPerPrefix(b otp.BudgetConfig) int {
	if b.PrefixLimit <= 0 {
		return -1
	}
	return b.PrefixLimit * int(math.Ceil(float64(attackSpan)/float64(b.PrefixWindow)))
}

// mostDailyApprovals is the most approvals of one UTC day among the 14
// before any day of [t0, t1].
func mostDailyApprovals(res *simResult, t0, t1 time.Time) int {
	byDay := map[string]int{}
	for _, a := range res.approvals {
		byDay[a.at.UTC().Format(time.DateOnly)]++
	}
	first := t0.UTC().AddDate(0, 0, -14).Format(time.DateOnly)
	last := t1.UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	most := 0
	for d, n := range byDay {
		if d >= first && d <= last {
			most = max(most, n)
		}
	}
	return most
}

// attackSent is the attacker's SMS in total and by prefix.
func attackSent(res *simResult) (total int, byPrefix map[string]int) {
	byPrefix = map[string]int{}
	for _, m := range res.sms {
		if m.by == attacker {
			total++
			byPrefix[otp.NumberPrefix(m.number)]++
		}
	}
	return total, byPrefix
}

// within reports whether the attacker stayed within bd, in total and in
// every prefix.
func within(res *simResult, bd attackBound) bool {
	total, byPrefix := attackSent(res)
	if bd.total >= 0 && total > bd.total {
		return false
	}
	for p, n := range byPrefix {
		if lim, ok := bd.perPrefix[p]; !ok || (lim >= 0 && n > lim) {
			return false
		}
	}
	return true
}

// verdict is one row's numbers against the goals.
type verdict struct {
	bound                   attackBound
	attackOK                bool
	normalWorst, normalDay  int // most legitimate starts refused on a normal day, and which (1-based)
	normalStarts            int // that day's starts
	attackRefused, attackOf int // on the attack (or launch) day
}

func judge(sc scenario, cfg simConfig, res *simResult) verdict {
	v := verdict{}
	last := res.days[len(res.days)-1]
	v.attackRefused, v.attackOf = last.refused, last.starts
	if sc.launch {
		return v
	}
	v.bound = promisedBound(cfg.budget, res)
	v.attackOK = within(res, v.bound)
	for i, d := range res.days[:len(res.days)-1] {
		if i == 0 || d.refused > v.normalWorst {
			v.normalWorst, v.normalDay, v.normalStarts = d.refused, i+1, d.starts
		}
	}
	return v
}

// met reports whether every goal of the row is met: the attacker within
// the bound, no legitimate start refused on a normal or launch day, under
// 1 % on the attack day.
func (v verdict) met(sc scenario) bool {
	if sc.launch {
		return v.attackRefused == 0
	}
	return v.attackOK && v.normalWorst == 0 && 100*v.attackRefused < v.attackOf
}

func writeFraudReport(w io.Writer, f fraudOptions, scs []scenario, results []*simResult, took time.Duration) {
	b := otp.DefaultBudgetConfig()
	fmt.Fprintf(w, "otpgate-bench -fraud-sim: SMS pumping against CONTRACT §9b, an in-process otp.Service on the Redis store (a redis-server per scenario), simulated clock, no network\n\n")
	fmt.Fprintf(w, "Reproduce: `%s`\n\n", f.command())
	fmt.Fprintf(w, "Static caps %d sends per prefix per %s, no daily caps; guard ratio R = %v, floors %s.\n\n",
		b.PrefixLimit, strings.TrimSuffix(strings.TrimSuffix(b.PrefixWindow.String(), "0s"), "0m"), f.ratio, f.floors.String())
	fmt.Fprintln(w, "| scenario | attacker SMS: total / most to one prefix | §9b bound: total / per prefix | starts a warning fired on: legitimate / attacker | legitimate refused: worst normal day | attack day | launch day |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|")
	allMet := true
	for i, sc := range scs {
		res := results[i]
		v := judge(sc, f.config(sc), res)
		allMet = allMet && v.met(sc)
		warn := "–"
		if sc.guard != otp.GuardOff {
			warn = fmt.Sprintf("%d / %d", res.warned[legitimate].decisions, res.warned[attacker].decisions)
		}
		if sc.launch {
			fmt.Fprintf(w, "| %s | – | – | %s | – | – | %d of %d %s |\n", sc, warn, v.attackRefused, v.attackOf, mark(v.attackRefused == 0))
			continue
		}
		total, byPrefix := attackSent(res)
		most := slices.Max(append(slices.Collect(maps.Values(byPrefix)), 0))
		normal := "0 on every day"
		if v.normalWorst > 0 {
			normal = fmt.Sprintf("%d of %d (day %d)", v.normalWorst, v.normalStarts, v.normalDay)
		}
		fmt.Fprintf(w, "| %s | %d / %d | %s / %s %s | %s | %s %s | %d of %d (%.2f %%) %s | – |\n",
			sc, total, most, count(v.bound.total), count(slices.Max(slices.Collect(maps.Values(v.bound.perPrefix)))), mark(v.attackOK),
			warn, normal, mark(v.normalWorst == 0),
			v.attackRefused, v.attackOf, 100*float64(v.attackRefused)/float64(max(v.attackOf, 1)), mark(100*v.attackRefused < v.attackOf))
	}
	fmt.Fprintf(w, "\nEvery goal: %s\n\n", mark(allMet))
	static := staticPerPrefix(b)
	fmt.Fprintf(w, boundLegend, count(static), attackPrefixes, count(static), attackPrefixes)
	fmt.Fprintf(w, trafficLegend, f.days, f.starts, curveTrough, curvePeak, peakHour, resendShare*100, approveMin.Seconds(), approveMax.Seconds(),
		attackPrefixes*attackPerPrefix, attackPrefixes, attackPerPrefix, launchFactor, launchFactor*f.starts, busiestNumber(results))
	fmt.Fprintln(w, "\n| scenario | legitimate SMS | approvals | legitimate refusals by cause | warnings fired (legitimate; attacker) | run time |")
	fmt.Fprintln(w, "|---|--:|--:|---|---|--:|")
	for i, sc := range scs {
		res := results[i]
		legit := 0
		for _, m := range res.sms {
			if m.by == legitimate {
				legit++
			}
		}
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s; %s | %.1f s |\n", sc, legit, len(res.approvals),
			tally(res.refusedBy), tally(warningCounts(res.warned[legitimate])), tally(warningCounts(res.warned[attacker])), res.elapsed.Seconds())
	}
	fmt.Fprintf(w, "\n%d scenarios in %.1f s on %d CPUs.\n", len(scs), took.Seconds(), runtime.NumCPU())
}

const boundLegend = `How the bound is computed, over the attack hour [t0, t1) and from the approvals the run made (R the ratio, F the floors):
- static caps only and record: the prefix cap over the hour, %s per prefix, %d × %s in total.
- enforce: every attacker send stays unverified, so in any window each count of them is at most its threshold, and a
  threshold is at most its value from the approvals of the widest span any send of the hour can see:
  per prefix p: min(prefix cap, ⌊max(F.prefix_hour, R × approvals of p in [t0 − 24 h, t1])⌋);
  total: min(⌊T24⌋, ⌊T1⌋, the sum over the %d prefixes), where
  T24 = max(F.country_day, R × the most approvals of one of the 14 UTC days before, R × approvals in [t0 − 24 h, t1]) and
  T1 = max(F.country_hour, T24 ÷ 6, R × approvals in [t0 − 1 h, t1]).
Goals: attacker within the bound; no legitimate start refused on any normal day nor on the launch day; under 1 %% on the attack day.
`

const trafficLegend = `Traffic: %d normal days, then the attack day, all in New Zealand in June (UTC+12). Legitimate starts to NZ mobiles
(021, 022, 027 ranges) arrive as a Poisson process of %v a day on a daily curve (%.1f× the mean at 04:00, %.1f× at %02.0f:00),
each user from an IP of their own; %.0f %% resend once after the 30 s cooldown; those who approve enter the latest code
%.0f–%.0f s after it (a refused resend leaves them the first). The attacker starts once for each of %d numbers (%d prefixes
× %d), evenly over the peak hour of the last day (19:30–20:30 NZ), each from a new IP, and never approves. The launch
day is one day on an empty Redis at %d× the traffic (%v starts). Per-phone and per-IP rate limits are left out: they run
on the wall clock, not the simulated one, and would refuse nothing here: no IP starts more than twice, and no number got
more than %d SMS in a whole run.
`

// busiestNumber is the most SMS one number got in any run.
func busiestNumber(results []*simResult) int {
	most := 0
	for _, res := range results {
		per := map[string]int{}
		for _, m := range res.sms {
			per[m.number]++
			most = max(most, per[m.number])
		}
	}
	return most
}

func count(n int) string {
	if n < 0 {
		return "none"
	}
	return fmt.Sprint(n)
}

func warningCounts(w warned) map[string]int {
	m := map[string]int{}
	for k, n := range w.by {
		m[string(k)] = n
	}
	return m
}

// tally lists counts by name, largest first, or "none".
func tally(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	names := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, m[n])
	}
	return strings.Join(parts, ", ")
}
