package main

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/otpgate/otpgate/otp"
)

// The fraud simulation's machinery: a clock that a queue of timed events
// moves, the day's traffic curve, New Zealand mobile numbers, and the
// in-process parts an otp.Service needs there.

// event is something that happens at a simulated time; seq orders events
// of one instant as they were scheduled, so a run is deterministic.
type event struct {
	at  time.Time
	seq uint64
	run func() error
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// simLoop runs events in time order; its clock reads the time of the event
// being run, and is the Service's clock.
type simLoop struct {
	now time.Time
	q   eventQueue
	seq uint64
}

func (l *simLoop) clock() time.Time { return l.now }

// at schedules fn at t, which must not be before now.
func (l *simLoop) at(t time.Time, fn func() error) {
	l.seq++
	heap.Push(&l.q, event{at: t, seq: l.seq, run: fn})
}

// run runs every event, including those the events schedule, until none is
// left or one fails.
func (l *simLoop) run(ctx context.Context) error {
	for n := 0; l.q.Len() > 0; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		e := heap.Pop(&l.q).(event)
		l.now = e.at
		if err := e.run(); err != nil {
			return fmt.Errorf("at %s: %w", e.at.Format(time.DateTime), err)
		}
	}
	return nil
}

// nzTime is New Zealand standard time. The simulation runs in June, when
// New Zealand keeps it all month, so no day is an hour short or long.
var nzTime = time.FixedZone("NZST", 12*3600)

// simStart is the first simulated instant: midnight in New Zealand, which
// is noon UTC, so a New Zealand day spans two UTC days as it does for
// the guard's daily counters in production.
var simStart = time.Date(2025, time.June, 2, 0, 0, 0, 0, nzTime)

// The legitimate traffic of a day follows a curve of the New Zealand hour:
// curveTrough times the day's mean at troughHour, curvePeak times it at
// peakHour. It rises over the 16 hours from trough to peak and falls over
// the 8 hours of the night, each a half cosine in time.
const (
	troughHour  = 4.0
	peakHour    = 20.0
	curveTrough = 0.3
	curvePeak   = 2.0
	// curvePower narrows the peak so that the curve's mean over a day is 1:
	// with each half a half cosine, that mean is the mean of
	// ((1 + cos φ) / 2)^curvePower over φ in [0, π].
	curvePower = 1.611188
)

// dailyCurve is the rate of legitimate starts at t relative to the day's
// mean: curveTrough + (curvePeak − curveTrough) · ((1 + cos φ) / 2)^curvePower,
// where φ runs from π at troughHour to 0 at peakHour and back to π.
func dailyCurve(t time.Time) float64 {
	t = t.In(nzTime)
	h := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600 + float64(t.Nanosecond())/3.6e12
	rise := peakHour - troughHour
	var phi float64
	if d := math.Mod(h-troughHour+24, 24); d < rise {
		phi = math.Pi * (1 - d/rise)
	} else {
		phi = math.Pi * (d - rise) / (24 - rise)
	}
	g := (1 + math.Cos(phi)) / 2
	return curveTrough + (curvePeak-curveTrough)*math.Pow(g, curvePower)
}

// nextArrival draws the next legitimate start after t of a Poisson process
// of perDay starts a day on the daily curve, by thinning one at the peak
// rate.
func nextArrival(r *rand.Rand, t time.Time, perDay float64) time.Time {
	peakRate := perDay * curvePeak / (24 * time.Hour).Seconds()
	for {
		t = t.Add(time.Duration(r.ExpFloat64() / peakRate * float64(time.Second)))
		if r.Float64()*curvePeak < dailyCurve(t) {
			return t
		}
	}
}

// nzRanges are New Zealand mobile ranges (Spark, 2degrees, One NZ) as
// they are normalised; nzDigits follow, of which the last 4 are the
// number within its prefix. Drawing evenly from them spreads users over
// fewer prefixes than real allocations, which fill some blocks first, but
// more than none.
var nzRanges = []string{"6421", "6422", "6427"}

const nzDigits = 7

// nzMobile draws a number of a range drawn at random.
func nzMobile(r *rand.Rand) string {
	return nzRanges[r.IntN(len(nzRanges))] + digitsOf(r.IntN(pow10(nzDigits)), nzDigits)
}

// nzPrefix draws a number prefix (a number without its last 4 digits) of a
// range drawn at random.
func nzPrefix(r *rand.Rand) string {
	return nzRanges[r.IntN(len(nzRanges))] + digitsOf(r.IntN(pow10(nzDigits-4)), nzDigits-4)
}

func digitsOf(n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}

// actor is who starts a verification.
type actor int

const (
	legitimate actor = iota
	attacker
)

// sentSMS is one SMS the simulation's sender sent.
type sentSMS struct {
	at     time.Time
	number string
	by     actor
}

// simSender is the SMS provider: it sends nothing, records every SMS with
// who asked for it, and keeps the code for the user to enter.
type simSender struct {
	clock func() time.Time
	actor *actor // who is starting now
	sms   []sentSMS
	code  string // the latest code sent
}

func (s *simSender) SendCode(_ context.Context, req otp.SendRequest) (otp.SendResult, error) {
	s.sms = append(s.sms, sentSMS{at: s.clock(), number: req.To, by: *s.actor})
	s.code = req.Code
	return otp.SendResult{MessageID: strconv.Itoa(len(s.sms)), Code: req.Code, Sender: "sim"}, nil
}

// simHasher hashes codes with SHA-256: bcrypt's cost is not what the
// simulation measures, and it would spend most of the run's time on it.
type simHasher struct{}

func (simHasher) Hash(code string) (string, error) {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:]), nil
}

func (h simHasher) Compare(hash, code string) bool {
	want, _ := h.Hash(code)
	return subtle.ConstantTimeCompare([]byte(hash), []byte(want)) == 1
}

// warned counts the guard's decisions on which a warning fired.
type warned struct {
	decisions int
	by        map[otp.Warning]int
}

// simMeter counts the guard's decisions by who started.
type simMeter struct {
	actor  *actor
	warned *[2]warned
}

func (simMeter) Verification(otp.Status, string) {}
func (simMeter) SMSSent(string, string)          {}
func (m simMeter) Decided(d otp.GuardDecision) {
	if len(d.Warnings) == 0 {
		return
	}
	w := &m.warned[*m.actor]
	w.decisions++
	if w.by == nil {
		w.by = map[otp.Warning]int{}
	}
	for _, x := range d.Warnings {
		w.by[x]++
	}
}
