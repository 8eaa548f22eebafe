package main

// Events end to end: a receiver that fails, gones, redirects or hangs.

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// pollSlack is how late a retry may come past its backoff (±25 %): the
// time the deliverer takes to claim it once due, under -race and a loaded
// machine.
const pollSlack = 400 * time.Millisecond

// wantGap wants next to arrive a backoff of base (±25 % jitter) after
// prev was answered, give or take pollSlack.
func wantGap(t *testing.T, prev, next hook, base time.Duration) {
	t.Helper()
	gap := next.at.Sub(prev.ended)
	low, high := base*3/4-50*time.Millisecond, base*5/4+pollSlack
	t.Logf("%s: attempt %d %v after attempt %d, want %v ±25%%", next.ev.Type, next.attempt, gap.Round(time.Millisecond), prev.attempt, base)
	if gap < low || gap > high {
		t.Errorf("%v came %v after %v; want a backoff of %v ±25%% (%v to %v)", next, gap.Round(time.Millisecond), prev, base, low, high)
	}
}

// attemptsOf lists the requests of one event type of verification id.
func attemptsOf(hs []hook, id, typ string) []hook {
	return slices.DeleteFunc(of(hs, id), func(h hook) bool { return h.ev.Type != typ })
}

// TestEventsRetryAfter500: a receiver answering 500 twice then 200 gets
// three attempts of the same bytes under the same webhook-id, 1 s and 2 s
// apart, and the verification's next event only after the third.
func TestEventsRetryAfter500(t *testing.T) {
	t.Parallel()
	f := newEventsFixture(t, singleRedis(t), nil)
	f.hooks.setAnswer(func(h hook) answer {
		if h.ev.Type == "verification.pending" && h.attempt <= 2 {
			return answer{status: http.StatusInternalServerError}
		}
		return answer{status: http.StatusOK}
	})
	s := newScript(f)
	id := s.start(t, "021 234 5691", http.StatusCreated)
	s.cancel(t, id)
	hs := f.hooks.waitFor(t, "pending thrice, then canceled", 15*time.Second, func(hs []hook) bool { return hasDelivered(hs, id, 2) })

	pending := attemptsOf(hs, id, "verification.pending")
	if len(pending) != 3 {
		t.Fatalf("%d attempts of verification.pending, want 3:\n%s", len(pending), listHooks(hs))
	}
	for i, h := range pending {
		wantWellFormed(t, h, f.secrets...)
		if h.attempt != i+1 || h.id() != pending[0].id() {
			t.Errorf("%v: want attempt %d of %s", h, i+1, pending[0].id())
		}
	}
	wantSameAttempts(t, hs)
	wantGap(t, pending[0], pending[1], time.Second)
	wantGap(t, pending[1], pending[2], 2*time.Second)
	if ts1, ts3 := pending[0].header.Get("webhook-timestamp"), pending[2].header.Get("webhook-timestamp"); ts1 == ts3 {
		t.Errorf("attempts 1 and 3, over 2 s apart, carry the same webhook-timestamp %s", ts1)
	}
	canceled := attemptsOf(hs, id, "verification.canceled")
	if len(canceled) != 1 || canceled[0].at.Before(pending[2].ended) {
		t.Errorf("verification.canceled came %v, want once after pending's third attempt (answered %s)", canceled, pending[2].ended.Format("15:04:05.000"))
	}
	wantInOrder(t, hs, id)
	wantData(t, pending[2], s.steps[id][0].data)

	// §9's metrics count each attempt's outcome by type.
	for _, m := range []struct {
		series string
		want   float64
	}{
		{`otpgate_events_total{outcome="retried",type="verification.pending"}`, 2},
		{`otpgate_events_total{outcome="delivered",type="verification.pending"}`, 1},
		{`otpgate_events_total{outcome="delivered",type="verification.canceled"}`, 1},
	} {
		if got := f.metricLine(t, m.series); got != m.want {
			t.Errorf("%s = %v, want %v", m.series, got, m.want)
		}
	}
}

// TestEventsGoneAndRedirects: 410 stops an event's retries at once and lets
// the next one go; a 3xx is a failure, retried, and its Location never
// followed.
func TestEventsGoneAndRedirects(t *testing.T) {
	t.Parallel()
	f := newEventsFixture(t, singleRedis(t), nil)
	const gone, redirected = "64212345692", "64212345693"
	f.hooks.setAnswer(func(h hook) answer {
		if h.path != hookPath {
			return answer{status: http.StatusOK}
		}
		switch {
		case digitsOf(h.to) == gone && h.ev.Type == "verification.pending":
			return answer{status: http.StatusGone}
		case digitsOf(h.to) == redirected && h.ev.Type == "verification.pending" && h.attempt == 1:
			// 307 asks a client that follows to POST the same body again.
			return answer{status: http.StatusTemporaryRedirect, location: f.hooks.URL + "/moved"}
		case digitsOf(h.to) == redirected && h.ev.Type == "verification.pending" && h.attempt == 2:
			return answer{status: http.StatusFound, location: f.hooks.URL + "/moved"}
		}
		return answer{status: http.StatusOK}
	})
	s := newScript(f)
	goneID := s.start(t, "021 234 5692", http.StatusCreated)
	s.cancel(t, goneID)
	redirID := s.start(t, "021 234 5693", http.StatusCreated)
	s.cancel(t, redirID)

	hs := f.hooks.waitFor(t, "canceled after 410", delivers, func(hs []hook) bool { return hasDelivered(hs, goneID, 1) })
	goneAt := time.Now()
	hs = f.hooks.waitFor(t, "canceled after two redirects", 15*time.Second, func(hs []hook) bool { return hasDelivered(hs, redirID, 2) })
	// A retry of the 410 would be due a second after it, ±25 %.
	if wait := time.Until(goneAt.Add(time.Second*5/4 + pollSlack)); wait > 0 {
		time.Sleep(wait)
		hs = f.hooks.all()
	}

	if p := attemptsOf(hs, goneID, "verification.pending"); len(p) != 1 || p[0].status != http.StatusGone {
		t.Errorf("verification.pending answered 410 was tried %d times, want once:\n%s", len(p), listHooks(p))
	}
	if got := typesOf(delivered(of(hs, goneID))); !slices.Equal(got, []string{"verification.canceled"}) {
		t.Errorf("after a 410 the app took %v, want the next event, canceled", got)
	}

	for _, h := range hs {
		if h.path != hookPath {
			t.Errorf("%v: otpgate followed a redirect", h)
		}
	}
	p := attemptsOf(hs, redirID, "verification.pending")
	if len(p) != 3 || !p[2].ok() {
		t.Fatalf("verification.pending answered 307, 302, then 200 was tried %d times, want 3:\n%s", len(p), listHooks(p))
	}
	wantGap(t, p[0], p[1], time.Second)
	wantGap(t, p[1], p[2], 2*time.Second)
	wantSameAttempts(t, hs)
	for _, id := range []string{goneID, redirID} {
		wantInOrder(t, hs, id)
	}
}

// TestEventsHangingReceiver: while the receiver hangs on one verification's
// event, other verifications' events arrive at once and starts and checks
// answer as fast as ever; the hung attempt is cut at 5 s and retried.
func TestEventsHangingReceiver(t *testing.T) {
	t.Parallel()
	f := newEventsFixture(t, singleRedis(t), nil)
	const hung = "64212345600"
	f.hooks.setAnswer(func(h hook) answer {
		return answer{status: http.StatusOK, hang: digitsOf(h.to) == hung && h.ev.Type == "verification.pending" && h.attempt == 1}
	})
	s := newScript(f)
	hungID := s.start(t, "021 234 5600", http.StatusCreated)
	f.hooks.waitFor(t, "hanging attempt", delivers, func(hs []hook) bool { return len(attemptsOf(hs, hungID, "verification.pending")) == 1 })

	// Each call answers well under a second while the receiver hangs.
	const bound = time.Second
	timed := func(what string, fn func()) {
		t.Helper()
		began := time.Now()
		fn()
		if took := time.Since(began); took > bound {
			t.Errorf("%s took %v while the receiver hangs, want under %v", what, took, bound)
		}
	}
	var others []string
	for _, to := range []string{"021 234 5601", "021 234 5602", "021 234 5603"} {
		var id string
		timed("start", func() { id = s.start(t, to, http.StatusCreated) })
		from := time.Now()
		timed("check", func() { s.check(t, id, f.code(t, nzNumber(to)), "approved") })
		s.did(t, id, "verification.approved", from)
		others = append(others, id)
		// Told promptly: well before the hung attempt is cut.
		hs := f.hooks.waitFor(t, "events of another verification", 2*time.Second, func(hs []hook) bool { return hasDelivered(hs, id, 2) })
		if h := attemptsOf(hs, hungID, "verification.pending")[0]; !h.ended.IsZero() {
			t.Fatalf("the hung attempt ended (%v) before the others were told; the test proves nothing", h)
		}
	}
	from := time.Now()
	timed("check of the hung verification", func() { s.check(t, hungID, f.code(t, hung), "approved") })
	s.did(t, hungID, "verification.approved", from)

	hs := s.wantToldEventually(t, 15*time.Second)
	p := attemptsOf(hs, hungID, "verification.pending")
	if len(p) != 2 || !p[0].cut {
		t.Fatalf("hung verification.pending: %d attempts, want one cut by otpgate and a retry:\n%s", len(p), listHooks(p))
	}
	if held := p[0].ended.Sub(p[0].at); held < 4500*time.Millisecond || held > 6*time.Second {
		t.Errorf("the hung attempt was cut after %v, want 5 s", held.Round(time.Millisecond))
	}
	wantGap(t, p[0], p[1], time.Second)
	for _, id := range append(others, hungID) {
		wantInOrder(t, hs, id)
	}
	wantSameAttempts(t, hs)
}

// wantToldEventually is wantTold for a receiver that failed some attempts:
// it waits up to limit, and wants the events as the app took them (first
// 2xx of each) in the order of the steps, with their data.
func (s *script) wantToldEventually(t *testing.T, limit time.Duration) []hook {
	t.Helper()
	hs := s.f.hooks.waitFor(t, "event for every step", limit, func(hs []hook) bool {
		for id, steps := range s.steps {
			if !hasDelivered(hs, id, len(steps)) {
				return false
			}
		}
		return true
	})
	for _, id := range s.ids {
		steps, got := s.steps[id], delivered(of(hs, id))
		if len(got) != len(steps) {
			t.Errorf("%s: the app took %v, want %d events", id, typesOf(got), len(steps))
			continue
		}
		for i, h := range got {
			if h.ev.Type != steps[i].typ {
				t.Errorf("%v: want %s", h, steps[i].typ)
			}
			wantWellFormed(t, h, s.f.secrets...)
			wantData(t, h, steps[i].data)
		}
	}
	return hs
}
