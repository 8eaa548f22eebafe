package main

// The app's side of CONTRACT §9 for the events e2e tests: a real HTTP
// receiver on loopback that records every request as it arrived and
// answers as the test scripts it, and the checks a receiver would make
// with the official Standard Webhooks library.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// hookPath is where otpgate posts events; anything else the receiver gets
// (a followed redirect) is a bug.
const hookPath = "/hook"

// event is a delivery's body as CONTRACT §9 shapes it.
type event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// hook is one request the receiver got.
type hook struct {
	at      time.Time
	path    string
	method  string
	header  http.Header
	body    []byte
	ev      event
	verif   string // data.id
	to      string // data.to
	attempt int    // 1 for the first request with this webhook-id
	// status is what the receiver answered; 0 while it hangs and when the
	// sender hung up first.
	status int
	ended  time.Time // when the answer went out or the sender hung up
	cut    bool      // the sender hung up before an answer
}

func (h hook) id() string { return h.header.Get("webhook-id") }

func (h hook) ok() bool { return h.status >= 200 && h.status < 300 }

func (h hook) String() string {
	return fmt.Sprintf("%s %s #%d %s of %s at %s → %d", h.method, h.path, h.attempt, h.ev.Type, h.verif,
		h.at.Format("15:04:05.000"), h.status)
}

// answer is what the receiver does with one request.
type answer struct {
	status   int
	location string // for a 3xx
	hang     bool   // until released or the sender hangs up
}

// receiver is the app: an httptest server on 127.0.0.1.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	hooks    []*hook
	attempts map[string]int
	answer   func(h hook) answer
	changed  chan struct{} // closed and replaced on every change
	release  chan struct{}
	released sync.Once
}

// newReceiver starts a receiver that answers 200 until told otherwise; it
// releases hanging requests and closes when the test ends.
func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{
		attempts: map[string]int{},
		answer:   func(hook) answer { return answer{status: http.StatusOK} },
		changed:  make(chan struct{}),
		release:  make(chan struct{}),
	}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	// Cleanups run last first: release the hanging, then close.
	t.Cleanup(r.Close)
	t.Cleanup(r.releaseAll)
	return r
}

// url is OTPGATE_EVENTS_URL for r.
func (r *receiver) url() string { return r.URL + hookPath }

// setAnswer scripts the receiver from now on.
func (r *receiver) setAnswer(fn func(h hook) answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer = fn
}

// releaseAll lets every hanging request answer 200.
func (r *receiver) releaseAll() { r.released.Do(func() { close(r.release) }) }

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	h := &hook{at: time.Now(), path: req.URL.Path, method: req.Method, header: req.Header.Clone(), body: body}
	if err == nil && json.Unmarshal(body, &h.ev) == nil {
		var data struct{ ID, To string }
		_ = json.Unmarshal(h.ev.Data, &data)
		h.verif, h.to = data.ID, data.To
	}
	r.mu.Lock()
	if h.path == hookPath {
		r.attempts[h.id()]++
		h.attempt = r.attempts[h.id()]
	}
	r.hooks = append(r.hooks, h)
	a := r.answer(*h)
	r.notify()
	r.mu.Unlock()

	status := a.status
	if a.hang {
		select {
		case <-r.release:
			status = http.StatusOK
		case <-req.Context().Done():
			r.mu.Lock()
			h.ended, h.cut = time.Now(), true
			r.notify()
			r.mu.Unlock()
			return
		}
	}
	if a.location != "" {
		w.Header().Set("Location", a.location)
	}
	// Recorded before the answer goes out, so that whatever otpgate does
	// after it arrives is later.
	r.mu.Lock()
	h.status, h.ended = status, time.Now()
	r.notify()
	r.mu.Unlock()
	w.WriteHeader(status)
}

// notify wakes waiters; r.mu is held.
func (r *receiver) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// all copies what the receiver got so far, in order of arrival.
func (r *receiver) all() []hook {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]hook, len(r.hooks))
	for i, h := range r.hooks {
		out[i] = *h
	}
	return out
}

// waitFor waits, without polling, until ok holds for what the receiver got,
// and returns that.
func (r *receiver) waitFor(t *testing.T, what string, limit time.Duration, ok func(hs []hook) bool) []hook {
	t.Helper()
	timeout := time.After(limit)
	for {
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		hs := r.all()
		if ok(hs) {
			return hs
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("no %s within %v; the receiver got:\n%s", what, limit, listHooks(hs))
		}
	}
}

func listHooks(hs []hook) string {
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintln(&b, "  ", h)
	}
	return b.String()
}

// of keeps the requests about verification id.
func of(hs []hook, id string) []hook {
	return slices.DeleteFunc(slices.Clone(hs), func(h hook) bool { return h.verif != id })
}

// delivered keeps the first 2xx-answered request of each event, in order
// of arrival: the events as the app took them.
func delivered(hs []hook) []hook {
	seen := map[string]bool{}
	var out []hook
	for _, h := range hs {
		if h.ok() && !seen[h.id()] {
			seen[h.id()] = true
			out = append(out, h)
		}
	}
	return out
}

// typesOf lists the event types of hs.
func typesOf(hs []hook) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.ev.Type
	}
	return out
}

// hasDelivered reports whether verification id's events got, in order,
// answered 2xx, at least as many as want.
func hasDelivered(hs []hook, id string, want int) bool { return len(delivered(of(hs, id))) >= want }

// newSecret is a fresh OTPGATE_EVENTS_SECRET entry of n random bytes.
func newSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// eventsEnv points otpgate's events at r, signed with secrets (new first).
func eventsEnv(r *receiver, secrets ...string) map[string]string {
	return map[string]string{"OTPGATE_EVENTS_URL": r.url(), "OTPGATE_EVENTS_SECRET": strings.Join(secrets, ",")}
}

var (
	eventID   = regexp.MustCompile(`^evt_[0-9a-f]{32}$`)
	eventType = map[string]bool{
		"verification.pending": true, "verification.approved": true, "verification.canceled": true,
		"verification.max_attempts_reached": true, "verification.expired": true, "verification.delivery": true,
		"factor.created": true, "factor.verified": true, "factor.deleted": true,
		"challenge.approved": true, "challenge.denied": true, "recovery_code.used": true,
	}
)

// wantWellFormed checks one delivery as CONTRACT §9 shapes it: a POST of
// exactly four members, compact, whose id is the webhook-id, stamped with
// the time of this attempt, and signed with every one of secrets as the
// official Standard Webhooks library verifies; a secret otpgate does not
// hold must not verify.
func wantWellFormed(t *testing.T, h hook, secrets ...string) {
	t.Helper()
	if h.method != http.MethodPost || h.path != hookPath {
		t.Errorf("%v: want POST %s", h, hookPath)
	}
	if ct := h.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%v: Content-Type %q, want application/json", h, ct)
	}
	e := h.ev
	if !eventID.MatchString(e.ID) || e.ID != h.id() {
		t.Errorf("%v: id %q, webhook-id %q; want the same evt_<32 hex>", h, e.ID, h.id())
	}
	if !eventType[e.Type] {
		t.Errorf("%v: type %q is not one of §9", h, e.Type)
	}
	if _, err := time.Parse(time.RFC3339, e.Timestamp); err != nil {
		t.Errorf("%v: timestamp %q: %v", h, e.Timestamp, err)
	}
	var data bytes.Buffer
	if err := json.Compact(&data, e.Data); err != nil || !bytes.Equal(data.Bytes(), e.Data) || !bytes.HasPrefix(e.Data, []byte("{")) {
		t.Errorf("%v: data %s is not a compact JSON object (%v)", h, e.Data, err)
	}
	want := fmt.Sprintf(`{"id":%q,"type":%q,"timestamp":%q,"data":%s}`, e.ID, e.Type, e.Timestamp, e.Data)
	if string(h.body) != want {
		t.Errorf("body is not exactly id, type, timestamp, data, compact:\n got %s\nwant %s", h.body, want)
	}
	ts, err := strconv.ParseInt(h.header.Get("webhook-timestamp"), 10, 64)
	if at := time.Unix(ts, 0); err != nil || at.Before(h.at.Add(-2*time.Second)) || at.After(h.at.Add(2*time.Second)) {
		t.Errorf("%v: webhook-timestamp %q, want the unix seconds of the attempt (%d)", h, h.header.Get("webhook-timestamp"), h.at.Unix())
	}
	sigs := strings.Fields(h.header.Get("webhook-signature"))
	if len(sigs) != len(secrets) {
		t.Errorf("%v: webhook-signature %q has %d entries, want one per secret (%d)", h, sigs, len(sigs), len(secrets))
	}
	for i, s := range secrets {
		wantVerifies(t, h, s, fmt.Sprintf("secret %d", i+1))
	}
	wh, err := standardwebhooks.NewWebhook(newSecret(32))
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(h.body, h.header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("%v: a secret otpgate does not hold verifies it: %v", h, err)
	}
}

// wantVerifies verifies h with the official library under secret.
func wantVerifies(t *testing.T, h hook, secret, which string) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	// The library checks the timestamp against its own clock; the attempt
	// is seconds old at most.
	if err := wh.Verify(h.body, h.header); err != nil {
		t.Errorf("%v: the Standard Webhooks library refuses it under %s: %v", h, which, err)
	}
}

// dataOf decodes the verification object an event carries.
func dataOf(t *testing.T, h hook) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(h.ev.Data, &v); err != nil {
		t.Fatalf("%v: data %s: %v", h, h.ev.Data, err)
	}
	return v
}

// wantData wants an event's data to be the verification object the API
// answered, field for field.
func wantData(t *testing.T, h hook, want map[string]any) {
	t.Helper()
	if got := dataOf(t, h); !reflect.DeepEqual(got, want) {
		t.Errorf("%v: data differs from what GET answered after that step:\n got %v\nwant %v", h, got, want)
	}
}

// wantAt wants an event's timestamp within [from, to], at second
// precision.
func wantAt(t *testing.T, h hook, from, to time.Time) {
	t.Helper()
	at, err := time.Parse(time.RFC3339, h.ev.Timestamp)
	if err != nil || at.Before(from.Truncate(time.Second)) || at.After(to) {
		t.Errorf("%v: timestamp %s, want between %s and %s", h, h.ev.Timestamp, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
}

// wantSameAttempts wants every request of one event to carry the same
// webhook-id and the same bytes.
func wantSameAttempts(t *testing.T, hs []hook) {
	t.Helper()
	byID := map[string][]byte{}
	for _, h := range hs {
		if h.path != hookPath {
			continue
		}
		if prev, ok := byID[h.id()]; ok && !bytes.Equal(prev, h.body) {
			t.Errorf("%v: body differs from an earlier attempt of %s:\n got %s\nwas %s", h, h.id(), h.body, prev)
		}
		byID[h.id()] = h.body
	}
}

// wantInOrder wants each event of a verification first tried only after the
// one before it was answered 2xx or 410: the one before it ended before it
// arrived.
func wantInOrder(t *testing.T, hs []hook, id string) {
	t.Helper()
	var order []string // webhook-ids in order of first arrival
	first := map[string]hook{}
	done := map[string]time.Time{}
	for _, h := range of(hs, id) {
		if _, ok := first[h.id()]; !ok {
			first[h.id()] = h
			order = append(order, h.id())
		}
		if (h.ok() || h.status == http.StatusGone) && done[h.id()].IsZero() {
			done[h.id()] = h.ended
		}
	}
	for i := 1; i < len(order); i++ {
		prev, next := order[i-1], first[order[i]]
		if d := done[prev]; d.IsZero() || next.at.Before(d) {
			t.Errorf("%s: %v arrived before the event before it (%s) was answered 2xx/410 (at %v)", id, next, prev, d.Format("15:04:05.000"))
		}
	}
}
