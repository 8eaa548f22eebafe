package main

// Events end to end (CONTRACT §9, issue 15): the whole program, on real
// Redis, posting to a real receiver that verifies with the official
// Standard Webhooks library. This file: what is told, with what data, in
// which order, on every topology.

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/client"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// eventsWebhookToken lets the tests post Connexus delivery reports.
const eventsWebhookToken = "events-webhook-token-0123456789abcdef"

// delivers is how long a healthy receiver may wait for an event.
const delivers = 10 * time.Second

// eventsFixture is one program in production configuration with events
// on, posting to its own receiver and signing with two secrets, as while
// rotating.
type eventsFixture struct {
	*fixture
	hooks   *receiver
	secrets []string
	env     map[string]string
}

// newEventsFixture runs the program on redisEnv with events on, and env
// on top.
func newEventsFixture(t *testing.T, redisEnv, env map[string]string) *eventsFixture {
	t.Helper()
	f := prepareEvents(t, redisEnv, env)
	f.serveBy(start(t, maps.Clone(f.env)))
	return f
}

// prepareEvents is newEventsFixture without a program: the test runs its
// own and hands it to serveBy.
func prepareEvents(t *testing.T, redisEnv, env map[string]string) *eventsFixture {
	t.Helper()
	fake := connexustest.NewServer()
	t.Cleanup(fake.Close)
	f := &eventsFixture{fixture: &fixture{fake: fake}, hooks: newReceiver(t), secrets: []string{newSecret(32), newSecret(24)}}
	f.env = productionEnv(fake.URL, redisEnv)
	maps.Copy(f.env, eventsEnv(f.hooks, f.secrets...))
	f.env["OTPGATE_WEBHOOK_TOKEN"] = eventsWebhookToken
	maps.Copy(f.env, env)
	return f
}

// serveBy sends the fixture's requests to in from now on.
func (f *eventsFixture) serveBy(in *instance) { f.instance = in }

// singleRedis is a real Redis of the test's own.
func singleRedis(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{"REDIS_URL": redisURL(redistest.Real(t))}
}

// report posts a Connexus delivery report of the latest SMS to number.
func (f *eventsFixture) report(t *testing.T, number, status string) {
	t.Helper()
	var msgID string
	for _, m := range f.fake.Messages() {
		if digitsOf(m.To) == number {
			msgID = m.MessageID
		}
	}
	if msgID == "" {
		t.Fatalf("no SMS to %s", number)
	}
	code, body := f.call(t, "POST", "/v1/webhooks/connexus/status?token="+eventsWebhookToken, "",
		map[string]any{"messageId": msgID, "status": status, "statusCode": 1, "timestamp": time.Now().Unix()})
	if code != http.StatusOK {
		t.Fatalf("delivery report: %d %v", code, body)
	}
}

// nzNumber is a national NZ number as the API normalises it.
func nzNumber(national string) string { return "64" + digitsOf(national)[1:] }

func digitsOf(s string) string {
	return strings.Map(func(r rune) rune {
		if r < '0' || r > '9' {
			return -1
		}
		return r
	}, s)
}

// step is one change the app must be told of: its type, and the
// verification as GET answered right after it, which the event's data
// must equal; the event happened between from and to.
type step struct {
	typ      string
	data     map[string]any
	from, to time.Time
}

// script records the steps a test drove, per verification, in order.
type script struct {
	f     *eventsFixture
	steps map[string][]step
	ids   []string
}

func newScript(f *eventsFixture) *script { return &script{f: f, steps: map[string][]step{}} }

// did records that the change begun at from told id's app typ.
func (s *script) did(t *testing.T, id, typ string, from time.Time) {
	t.Helper()
	r := s.f.get(t, "/v1/verifications/"+id)
	if r.status != http.StatusOK {
		t.Fatalf("read %s: %d %v", id, r.status, r.body)
	}
	if _, ok := s.steps[id]; !ok {
		s.ids = append(s.ids, id)
	}
	s.steps[id] = append(s.steps[id], step{typ: typ, data: r.body, from: from, to: time.Now()})
}

// start starts a verification of to and records its pending event.
func (s *script) start(t *testing.T, to string, want int) string {
	t.Helper()
	from := time.Now()
	id := s.f.mustStart(t, to, want).ID
	s.did(t, id, "verification.pending", from)
	return id
}

// check posts a guess for id and wants status.
func (s *script) check(t *testing.T, id, code, status string) {
	t.Helper()
	if c := s.f.check(t, id, code); c.err != nil || c.Status != status {
		t.Fatalf("check %s: %+v %v, want 200 %s", id, c.CheckResult, c.err, status)
	}
}

// cancel cancels id and records its canceled event.
func (s *script) cancel(t *testing.T, id string) {
	t.Helper()
	from := time.Now()
	if _, err := s.f.cancel(t, id); err != nil {
		t.Fatalf("cancel %s: %v", id, err)
	}
	s.did(t, id, "verification.canceled", from)
}

// wantTold waits until every recorded step was delivered and checks the
// app was told exactly them: per verification in order, each event once,
// well formed, signed with both secrets, carrying the data GET showed.
func (s *script) wantTold(t *testing.T) []hook {
	t.Helper()
	hs := s.f.hooks.waitFor(t, "event for every step", delivers, func(hs []hook) bool {
		for id, steps := range s.steps {
			if !hasDelivered(hs, id, len(steps)) {
				return false
			}
		}
		return true
	})
	for _, h := range hs {
		if !slices.Contains(s.ids, h.verif) {
			t.Errorf("%v: not about a verification of this test", h)
		}
		for _, m := range s.f.fake.Messages() {
			if m.Code != "" && strings.Contains(string(h.body), m.Code) {
				t.Errorf("%v: carries the code %s sent to %s", h, m.Code, m.To)
			}
		}
	}
	for _, id := range s.ids {
		steps, got := s.steps[id], of(hs, id)
		var want []string
		for _, st := range steps {
			want = append(want, st.typ)
		}
		if types := typesOf(got); !slices.Equal(types, want) {
			t.Errorf("%s: told %v, want %v, each once", id, types, want)
			continue
		}
		for i, h := range got {
			wantWellFormed(t, h, s.f.secrets...)
			if h.attempt != 1 || !h.ok() {
				t.Errorf("%v: a healthy receiver should get each event once, answered 200", h)
			}
			wantData(t, h, steps[i].data)
			wantAt(t, h, steps[i].from, steps[i].to)
		}
		wantInOrder(t, hs, id)
	}
	return hs
}

// eventsFlow drives every kind of change but expiry through f and wants
// the app told of each, in order.
func eventsFlow(t *testing.T, f *eventsFixture) {
	s := newScript(f)

	// Approved after a wrong guess, which tells nothing.
	approved := s.start(t, "021 234 5671", http.StatusCreated)
	code := f.code(t, "64212345671")
	s.check(t, approved, otherCode(code), "pending")
	from := time.Now()
	s.check(t, approved, code, "approved")
	s.did(t, approved, "verification.approved", from)

	canceled := s.start(t, "021 234 5672", http.StatusCreated)
	s.cancel(t, canceled)

	locked := s.start(t, "021 234 5673", http.StatusCreated)
	wrong := otherCode(f.code(t, "64212345673"))
	for range defaultAttempts - 1 {
		s.check(t, locked, wrong, "pending")
	}
	from = time.Now()
	s.check(t, locked, wrong, "max_attempts_reached")
	s.did(t, locked, "verification.max_attempts_reached", from)

	// A delivery report tells; the same report again does not; a resend
	// tells pending again.
	reported := s.start(t, "021 234 5674", http.StatusCreated)
	from = time.Now()
	f.report(t, "64212345674", "DELIVRD")
	s.did(t, reported, "verification.delivery", from)
	if s.steps[reported][1].data["delivery"] == nil {
		t.Errorf("read after a delivery report shows no delivery: %v", s.steps[reported][1].data)
	}
	f.report(t, "64212345674", "DELIVRD")
	if again := s.start(t, "021 234 5674", http.StatusOK); again != reported {
		t.Fatalf("resend started %s, want %s", again, reported)
	}
	s.cancel(t, reported)

	// A replayed Idempotency-Key sends nothing and tells nothing; the
	// cancel after it proves nothing was queued before it.
	idem := &client.StartParams{To: "021 234 5675", IdempotencyKey: "events-order-1"}
	from = time.Now()
	first := f.start(t, idem)
	if first.err != nil || first.resp.StatusCode != http.StatusCreated {
		t.Fatalf("start with an Idempotency-Key: %+v %v", first.Verification, first.err)
	}
	replayed := first.ID
	s.did(t, replayed, "verification.pending", from)
	if r := f.start(t, idem); r.err != nil || r.resp.StatusCode != first.resp.StatusCode || r.ID != replayed {
		t.Fatalf("replay: %+v %v, want the first answer", r.Verification, r.err)
	}
	s.cancel(t, replayed)

	s.wantTold(t)
}

// TestEventsFlowOnEveryTopology: start, a wrong and a right guess, a
// cancel, a lockout, a delivery report (and its duplicate), a resend and
// an Idempotency-Key replay each tell the app exactly what §9 says, signed
// so that the official library verifies it under either of two secrets, on
// single, Sentinel and Cluster Redis.
func TestEventsFlowOnEveryTopology(t *testing.T) {
	t.Parallel()
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		f := newEventsFixture(t, topologyEnv(tp), map[string]string{"OTP_RESEND_COOLDOWN": "0s"})
		eventsFlow(t, f)
	})
}

// TestEventsInDevMode: events settings alone do not leave dev mode, and dev
// mode's embedded Redis records and delivers them.
func TestEventsInDevMode(t *testing.T) {
	t.Parallel()
	hooks := newReceiver(t)
	secret := newSecret(32)
	in := start(t, eventsEnv(hooks, secret))
	in.out.waitFor(t, "dev mode banner", func(l string) bool { return strings.Contains(l, "DEV MODE") })
	v, resp, err := in.client(t, "devclientkey").Start(t.Context(), &client.StartParams{To: "+64 21 234 567"})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("start in dev mode: %+v %v", v, err)
	}
	id := v.ID
	hs := hooks.waitFor(t, "pending event", delivers, func(hs []hook) bool { return hasDelivered(hs, id, 1) })
	h := delivered(of(hs, id))[0]
	wantWellFormed(t, h, secret)
	_, read := in.call(t, "GET", "/v1/verifications/"+id, "devclientkey", nil)
	wantData(t, h, read)
	if strings.Contains(in.out.String(), strings.TrimPrefix(secret, "whsec_")) {
		t.Error("the events secret appears in the output")
	}
}

// TestEventsExpired: a verification left pending tells verification.expired
// within 60 s of its expires_at, with the expired verification as data; one
// approved or canceled before then does not.
func TestEventsExpired(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	f := newEventsFixture(t, singleRedis(t), map[string]string{"OTP_TTL": ttl.String()})
	s := newScript(f)
	expiring := s.start(t, "021 234 5681", http.StatusCreated)
	approved := s.start(t, "021 234 5682", http.StatusCreated)
	from := time.Now()
	s.check(t, approved, f.code(t, "64212345682"), "approved")
	s.did(t, approved, "verification.approved", from)
	canceled := s.start(t, "021 234 5683", http.StatusCreated)
	s.cancel(t, canceled)

	expiresAt, err := time.Parse(time.RFC3339, s.steps[expiring][0].data["expires_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	hs := f.hooks.waitFor(t, "verification.expired", time.Until(expiresAt)+65*time.Second, func(hs []hook) bool {
		return hasDelivered(hs, expiring, 2)
	})
	h := delivered(of(hs, expiring))[1]
	t.Logf("verification.expired arrived %v after expires_at", h.at.Sub(expiresAt).Round(time.Millisecond))
	if h.ev.Type != "verification.expired" {
		t.Fatalf("%v: want verification.expired", h)
	}
	if h.at.After(expiresAt.Add(time.Minute)) {
		t.Errorf("%v: more than 60 s after expires_at %s", h, expiresAt.Format(time.RFC3339))
	}
	wantWellFormed(t, h, f.secrets...)
	wantAt(t, h, expiresAt, h.at)
	r := f.get(t, "/v1/verifications/"+expiring)
	if r.body["status"] != "expired" {
		t.Fatalf("read after expiry: %v", r.body)
	}
	wantData(t, h, r.body)

	// The others expired in the same second; had they been told, it would
	// have been by now, give or take a poll.
	time.Sleep(2 * time.Second)
	for _, id := range []string{approved, canceled} {
		if got := typesOf(of(f.hooks.all(), id)); slices.Contains(got, "verification.expired") {
			t.Errorf("%s ended before its expiry, yet told %v", id, got)
		}
	}
	hs = f.hooks.all()
	wantInOrder(t, hs, expiring)
	wantSameAttempts(t, hs)
}
