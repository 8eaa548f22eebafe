package delivery_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/events"
	"github.com/otpgate/otpgate/events/delivery"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/otptest"
)

// memOutbox is an Outbox in memory with the semantics the deliverer
// relies on: due events are leased to one claimer, Retry makes one due
// again later, Done ends it. The Redis store's own tests hold it to the
// rest (order, shared consumers, orphans).
type memOutbox struct {
	mu      sync.Mutex
	items   []*memItem
	retries []time.Time // the due times Retry was given, in order
}

type memItem struct {
	p      delivery.Pending
	due    time.Time
	leased time.Time // claimable again from then
	done   bool
}

func (o *memOutbox) add(p delivery.Pending) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.items = append(o.items, &memItem{p: p, due: p.Since})
}

func (o *memOutbox) Claim(_ context.Context, _ string, now time.Time, max int, lease time.Duration) ([]delivery.Pending, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []delivery.Pending
	for _, it := range o.items {
		if len(out) == max {
			break
		}
		if !it.done && !it.due.After(now) && !it.leased.After(now) {
			it.leased = now.Add(lease)
			out = append(out, it.p)
		}
	}
	return out, nil
}

func (o *memOutbox) item(ref string) *memItem {
	for _, it := range o.items {
		if it.p.Ref == ref {
			return it
		}
	}
	panic("unknown ref " + ref)
}

func (o *memOutbox) Done(_ context.Context, p delivery.Pending, _ time.Time) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	it := o.item(p.Ref)
	ended := !it.done
	it.done = true
	return ended, nil
}

func (o *memOutbox) Retry(_ context.Context, p delivery.Pending, due time.Time) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	it := o.item(p.Ref)
	if it.done {
		return false, nil
	}
	it.p.Attempts++
	it.due, it.leased = due, time.Time{}
	o.retries = append(o.retries, due)
	return true, nil
}

func (o *memOutbox) Stats(context.Context) (delivery.Stats, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, it := range o.items {
		if !it.done {
			return delivery.Stats{Oldest: it.p.At}, nil
		}
	}
	return delivery.Stats{}, nil
}

func (o *memOutbox) state(ref string) (done bool, attempts int, due time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	it := o.item(ref)
	return it.done, it.p.Attempts, it.due
}

// hit is one request the receiver got.
type hit struct {
	path   string
	header http.Header
	body   []byte
	at     time.Time // the test clock's time
}

// receiver records every delivery and answers with answer(n), n counting
// the deliveries of that event id from 1.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	hits   []hit
	clock  *otptest.Clock
	answer func(id string, n int) int
}

func newReceiver(t *testing.T, clock *otptest.Clock, answer func(id string, n int) int) *receiver {
	rc := &receiver{clock: clock, answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{path: r.URL.Path, header: r.Header.Clone(), body: body, at: clock.Now()})
		n := 0
		for _, h := range rc.hits {
			if h.header.Get("webhook-id") == r.Header.Get("webhook-id") {
				n++
			}
		}
		rc.mu.Unlock()
		status := rc.answer(r.Header.Get("webhook-id"), n)
		if status >= 300 && status < 400 {
			w.Header().Set("Location", "/followed")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.hits)
}

var testSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func mustSecrets(t *testing.T, list string) []events.Secret {
	t.Helper()
	s, err := events.ParseSecrets(list)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run starts a deliverer on o; stop (also run at the test's end) cancels
// it and waits for Run to return.
func run(t *testing.T, o delivery.Outbox, url string, clock *otptest.Clock, change ...func(*delivery.Config)) (stop func()) {
	t.Helper()
	cfg := delivery.Config{
		Outbox:   o,
		URL:      url,
		Secrets:  mustSecrets(t, testSecret),
		Data:     api.VerificationObject,
		Now:      clock.Now,
		Interval: 2 * time.Millisecond,
	}
	for _, c := range change {
		c(&cfg)
	}
	d, err := delivery.NewDeliverer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		d.Run(ctx)
	}()
	stop = func() {
		cancel()
		<-stopped
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond, which the deliverer makes true on its own time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func pending(ref, id string, at time.Time) delivery.Pending {
	v := &otp.Verification{
		ID: "ver_" + ref + "0000000000000000000000000000000"[:32-len(ref)], To: "6421234567", Status: otp.StatusApproved,
		CreatedAt: at.Add(-time.Minute), ExpiresAt: at.Add(4 * time.Minute), AttemptsLeft: 4, Sends: 1,
		LastSentAt: at.Add(-time.Minute), ResendAt: at.Add(-30 * time.Second),
	}
	return delivery.Pending{
		Message: delivery.Message{ID: id, Type: events.TypeApproved, At: at, Verification: v},
		Since:   at,
		Ref:     ref,
	}
}
