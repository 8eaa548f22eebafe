package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// percentile expects sorted durations; it returns the nearest-rank value.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// bootstrap is, for each percentile p, the 95 % interval of a's p-th
// percentile over b's when the rounds are drawn again with replacement, a's
// and b's of one round together: how far the ratio moves with which rounds
// a run happened to get, as the load of a shared machine differs far more
// between rounds than between the requests of one. With fewer than three
// rounds there is no interval (ok false). The seed is fixed, so the same
// latencies give the same interval.
func bootstrap(a, b *result, ps ...float64) (_ [][2]float64, ok bool) {
	const draws = 1000
	n := len(a.rounds)
	if n < 3 || len(b.rounds) != n {
		return nil, false
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ratios := make([][]float64, len(ps))
	var sa, sb []time.Duration
	for range draws {
		sa, sb = sa[:0], sb[:0]
		for range n {
			k := rng.IntN(n)
			sa, sb = append(sa, a.rounds[k]...), append(sb, b.rounds[k]...)
		}
		slices.Sort(sa)
		slices.Sort(sb)
		for i, p := range ps {
			if d := percentile(sb, p); d > 0 {
				ratios[i] = append(ratios[i], float64(percentile(sa, p))/float64(d))
			}
		}
	}
	out := make([][2]float64, len(ps))
	for i, r := range ratios {
		if len(r) == 0 {
			return nil, false
		}
		slices.Sort(r)
		out[i] = [2]float64{r[len(r)*25/1000], r[len(r)*975/1000-1]}
	}
	return out, true
}

// userHZ is the unit of /proc's CPU times: 100 on every Linux port.
const userHZ = 100

// cpuTimes is the CPU time the whole machine and this process have used
// so far, from Linux's /proc; ok is false where it cannot be read.
func cpuTimes() (machine, self time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	// cpu user nice system idle iowait irq softirq steal: all but idle
	// and iowait are busy (guest time is inside user already).
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, false
	}
	var ticks int64
	for i, v := range f[1:9] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		if i != 3 && i != 4 {
			ticks += n
		}
	}
	b, err = os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, 0, false
	}
	// After the command in parentheses, which may hold any byte: state is
	// field 3, utime 14, stime 15.
	g := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(g) < 13 {
		return 0, 0, false
	}
	utime, err1 := strconv.ParseInt(g[11], 10, 64)
	stime, err2 := strconv.ParseInt(g[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	tick := time.Second / userHZ
	return time.Duration(ticks) * tick, time.Duration(utime+stime) * tick, true
}
