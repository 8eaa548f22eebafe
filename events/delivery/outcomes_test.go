package delivery_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/events"
	"github.com/otpgate/otpgate/events/delivery"
	"github.com/otpgate/otpgate/otp/otptest"
)

const evtA = "evt_0123456789abcdef0123456789abcdef"

func TestDeliverySignsTheBodyTheContractDescribes(t *testing.T) {
	clock := otptest.NewClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	o := &memOutbox{}
	p := pending("a", evtA, clock.Now().Add(-3*time.Second))
	o.add(p)
	rc := newReceiver(t, clock, func(string, int) int { return http.StatusNoContent })
	run(t, o, rc.URL+"/hooks", clock)
	waitFor(t, "the event to be done", func() bool { done, _, _ := o.state("a"); return done })

	hits := rc.got()
	if len(hits) != 1 {
		t.Fatalf("deliveries = %d, want 1", len(hits))
	}
	h := hits[0]
	want := `{"id":"` + evtA + `","type":"verification.approved","timestamp":"2026-12-06T09:59:57Z","data":`
	if !bytes.HasPrefix(h.body, []byte(want)) {
		t.Errorf("body = %s\nwant it to start %s", h.body, want)
	}
	data, err := delivery.Body(p.Message, api.VerificationObject)
	if err != nil || !bytes.Equal(h.body, data) {
		t.Errorf("body = %s, want Body() = %s (%v)", h.body, data, err)
	}
	for header, want := range map[string]string{
		"Content-Type":      "application/json",
		"webhook-id":        evtA,
		"webhook-timestamp": strconv.FormatInt(clock.Now().Unix(), 10),
	} {
		if got := h.header.Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
	if err := events.VerifyAt(testSecret, h.header, h.body, time.Minute, clock.Now()); err != nil {
		t.Errorf("the delivery does not verify with its secret: %v", err)
	}
}

// TestAFactorEventIsDeliveredWithItsData: an event without a verification
// (CONTRACT §11) carries the data it was recorded with, signed like any
// other.
func TestAFactorEventIsDeliveredWithItsData(t *testing.T) {
	clock := otptest.NewClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	o := &memOutbox{}
	p := pending("a", evtA, clock.Now())
	data := `{"id":"fac_0123456789abcdef0123456789abcdef","identity":"user-0001","status":"verified"}`
	p.Type, p.Verification, p.Data = events.TypeFactorVerified, nil, []byte(data)
	o.add(p)
	rc := newReceiver(t, clock, func(string, int) int { return http.StatusNoContent })
	run(t, o, rc.URL, clock)
	waitFor(t, "the event to be done", func() bool { done, _, _ := o.state("a"); return done })

	want := `{"id":"` + evtA + `","type":"factor.verified","timestamp":"2026-12-06T10:00:00Z","data":` + data + `}`
	hits := rc.got()
	if len(hits) != 1 {
		t.Fatalf("deliveries = %d, want 1", len(hits))
	}
	if string(hits[0].body) != want {
		t.Errorf("body = %s\nwant %s", hits[0].body, want)
	}
	if err := events.VerifyAt(testSecret, hits[0].header, hits[0].body, time.Minute, clock.Now()); err != nil {
		t.Errorf("the delivery does not verify with its secret: %v", err)
	}
}

func TestDeliveryRetriesWithTheSameIDAndBytes(t *testing.T) {
	clock := otptest.NewClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	o := &memOutbox{}
	o.add(pending("a", evtA, clock.Now()))
	rc := newReceiver(t, clock, func(_ string, n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	run(t, o, rc.URL, clock)

	for attempt, base := range []time.Duration{time.Second, 2 * time.Second} {
		waitFor(t, "a retry to be scheduled", func() bool { _, n, _ := o.state("a"); return n == attempt+1 })
		_, _, due := o.state("a")
		wait := due.Sub(clock.Now())
		if low, high := base*3/4, base*5/4; wait < low || wait > high {
			t.Errorf("after failure %d the retry waits %v, want %v to %v", attempt+1, wait, low, high)
		}
		if got := len(rc.got()); got != attempt+1 {
			t.Fatalf("deliveries before the retry is due = %d, want %d", got, attempt+1)
		}
		clock.Advance(wait)
	}
	waitFor(t, "the third attempt to succeed", func() bool { done, _, _ := o.state("a"); return done })
	hits := rc.got()
	if len(hits) != 3 {
		t.Fatalf("deliveries = %d, want 3", len(hits))
	}
	for _, h := range hits[1:] {
		if h.header.Get("webhook-id") != evtA || !bytes.Equal(h.body, hits[0].body) {
			t.Errorf("a retry carried %s %s, want %s %s", h.header.Get("webhook-id"), h.body, evtA, hits[0].body)
		}
	}
	if hits[2].header.Get("webhook-timestamp") == hits[0].header.Get("webhook-timestamp") {
		t.Error("the retry kept the first attempt's webhook-timestamp; it is the attempt's own")
	}
}

func TestDeliveryOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		wantDone bool
	}{
		{"2xx ends the event", http.StatusAccepted, true},
		{"410 Gone ends it unretried", http.StatusGone, true},
		{"a redirect is a failure and is not followed", http.StatusFound, false},
		{"4xx is retried", http.StatusBadRequest, false},
		{"5xx is retried", http.StatusServiceUnavailable, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := otptest.NewClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
			o := &memOutbox{}
			o.add(pending("a", evtA, clock.Now()))
			rc := newReceiver(t, clock, func(string, int) int { return tc.status })
			run(t, o, rc.URL, clock)
			waitFor(t, "the attempt's outcome", func() bool { done, n, _ := o.state("a"); return done || n > 0 })
			done, attempts, _ := o.state("a")
			if done != tc.wantDone || attempts != map[bool]int{true: 0, false: 1}[tc.wantDone] {
				t.Errorf("done, attempts = %v, %d; want done %v", done, attempts, tc.wantDone)
			}
			for _, h := range rc.got() {
				if h.path == "/followed" {
					t.Error("the redirect was followed")
				}
			}
		})
	}
}

func TestDeliveryDropsAnEventFailingFor24Hours(t *testing.T) {
	clock := otptest.NewClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	o := &memOutbox{}
	p := pending("a", evtA, clock.Now().Add(-delivery.MaxRetryTime+delivery.MaxBackoff/2))
	p.Attempts = 30
	o.add(p)
	rc := newReceiver(t, clock, func(string, int) int { return http.StatusInternalServerError })
	run(t, o, rc.URL, clock)
	waitFor(t, "the event to be dropped", func() bool { done, _, _ := o.state("a"); return done })
	if len(o.retries) != 0 || len(rc.got()) != 1 {
		t.Errorf("retries %v, deliveries %d; want none and 1: its next try would be past 24 h", o.retries, len(rc.got()))
	}
}

func TestAHangingReceiverHoldsUpOnlyItsOwnEvent(t *testing.T) {
	clock := otptest.NewClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	o := &memOutbox{}
	const evtB = "evt_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	o.add(pending("a", evtA, clock.Now()))
	o.add(pending("b", evtB, clock.Now()))
	release := make(chan struct{})
	rc := newReceiver(t, clock, func(id string, _ int) int {
		if id == evtA {
			<-release
		}
		return http.StatusOK
	})
	defer close(release)
	run(t, o, rc.URL, clock, func(c *delivery.Config) {
		c.Client = &http.Client{Timeout: 50 * time.Millisecond}
	})
	waitFor(t, "the other event to be delivered", func() bool { done, _, _ := o.state("b"); return done })
	waitFor(t, "the hung attempt to time out", func() bool { _, n, _ := o.state("a"); return n == 1 })
	if done, _, _ := o.state("a"); done {
		t.Error("the hung attempt counted as delivered")
	}
}

func TestShutdownPutsAnAttemptInFlightBackAtOnce(t *testing.T) {
	clock := otptest.NewClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	o := &memOutbox{}
	o.add(pending("a", evtA, clock.Now()))
	arrived := make(chan struct{})
	release := make(chan struct{})
	rc := newReceiver(t, clock, func(string, int) int {
		close(arrived)
		<-release
		return http.StatusOK
	})
	defer close(release)
	stop := run(t, o, rc.URL, clock)
	<-arrived
	stop()
	done, attempts, due := o.state("a")
	if done || attempts != 1 || !due.Equal(clock.Now()) {
		t.Errorf("done %v, attempts %d, due %v; want it back, due now (%v)", done, attempts, due, clock.Now())
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		{1, 1, time.Second},
		{2, 1, 2 * time.Second},
		{3, 0.75, 3 * time.Second},
		{4, 1.25, 10 * time.Second},
		{10, 1, 512 * time.Second},
		{11, 1, delivery.MaxBackoff},
		{10, 1.25, delivery.MaxBackoff},
		{500, 0.75, delivery.MaxBackoff * 3 / 4},
	} {
		if got := delivery.Backoff(tc.n, tc.jitter); got != tc.want {
			t.Errorf("Backoff(%d, %v) = %v, want %v", tc.n, tc.jitter, got, tc.want)
		}
	}
}

// TestARetryGoesWhenDueNotAtTheNextRound runs on the wall clock with rounds
// an hour apart: the event put back is claimed again when its backoff ends.
func TestARetryGoesWhenDueNotAtTheNextRound(t *testing.T) {
	o := &memOutbox{}
	o.add(pending("a", evtA, time.Now()))
	var mu sync.Mutex
	var times []time.Time
	rc := newReceiver(t, otptest.NewClock(time.Now()), func(_ string, n int) int {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	run(t, o, rc.URL, nil, func(c *delivery.Config) { c.Now, c.Interval = time.Now, time.Hour })
	waitFor(t, "the retry to succeed", func() bool { done, _, _ := o.state("a"); return done })
	mu.Lock()
	defer mu.Unlock()
	if gap := times[1].Sub(times[0]); gap < 750*time.Millisecond || gap > 1250*time.Millisecond+250*time.Millisecond {
		t.Errorf("the retry came %v after the first attempt, want its 1 s backoff ±25 %%", gap)
	}
}

// TestABacklogGoesAsFastAsTheReceiverTakesIt runs rounds an hour apart: a
// backlog of many times the workers is delivered by claiming again as
// workers free up, not one batch a round.
func TestABacklogGoesAsFastAsTheReceiverTakesIt(t *testing.T) {
	clock := otptest.NewClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	o := &memOutbox{}
	const n = 640
	for i := range n {
		o.add(pending(strconv.Itoa(i), "evt_"+strconv.Itoa(i), clock.Now()))
	}
	rc := newReceiver(t, clock, func(string, int) int { return http.StatusNoContent })
	run(t, o, rc.URL, clock, func(c *delivery.Config) { c.Interval = time.Hour; c.Workers = 8 })
	// An event ends once its answer is back, a moment after the receiver
	// counted it: wait for the ends.
	waitFor(t, "the backlog to be delivered", func() bool {
		for i := range n {
			if done, _, _ := o.state(strconv.Itoa(i)); !done {
				return false
			}
		}
		return true
	})
	if got := len(rc.got()); got != n {
		t.Errorf("the receiver got %d deliveries of %d events, want each once", got, n)
	}
}

func TestAFailedAttemptLogsNoURL(t *testing.T) {
	clock := otptest.NewClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	o := &memOutbox{}
	o.add(pending("a", evtA, clock.Now()))
	var logs otptest.LogBuffer
	run(t, o, "http://127.0.0.1:1/hook?key=SUPERSECRETKEY", clock, func(c *delivery.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	waitFor(t, "the failed attempt", func() bool { _, n, _ := o.state("a"); return n == 1 })
	if strings.Contains(logs.String(), "SUPERSECRETKEY") || !strings.Contains(logs.String(), "delivery failed") {
		t.Errorf("log = %s, want the failure without the URL's query", logs.String())
	}
}
