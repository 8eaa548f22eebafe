package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/otpgate/otpgate/events"
	"github.com/otpgate/otpgate/otp"
)

// The delivery schedule of CONTRACT §9.
const (
	// Timeout bounds one attempt, from connecting to the last byte of the
	// answer's head.
	Timeout = 5 * time.Second
	// MaxRetryTime is how long an event is retried, counted from when it
	// became deliverable; then it is dropped.
	MaxRetryTime = 24 * time.Hour
	// FirstBackoff is the wait after the first failed attempt; each
	// further failure doubles it, up to MaxBackoff.
	FirstBackoff = time.Second
	MaxBackoff   = 10 * time.Minute
	// Lease is how long a claimed event is its deliverer's: an attempt
	// takes at most Timeout, so an event still claimed past it belongs to
	// a deliverer that died, and another one takes it over.
	Lease = 3 * Timeout
)

// Config configures a Deliverer.
type Config struct {
	Outbox Outbox
	// URL receives every event.
	URL string
	// Secrets sign every delivery, each with its own signature.
	Secrets []events.Secret
	// Data renders the data member: the verification object of the API.
	Data func(*otp.Verification) any
	// Client makes the attempts; nil means one with Timeout that never
	// follows a redirect.
	Client *http.Client
	// Now reads the clock that schedules retries; nil means time.Now.
	Now func() time.Time
	// Interval is how often the Outbox is asked for due events; 0 means
	// 500 ms.
	Interval time.Duration
	// Workers bounds the attempts in flight; 0 means 32.
	Workers int
	// Consumer names this deliverer in the Outbox; "" means the host name
	// and a random suffix, so two processes on one host never share it.
	Consumer string
	Logger   *slog.Logger
	Metrics  *Metrics
}

// Deliverer posts the Outbox's events to the app until its Run stops.
type Deliverer struct {
	cfg     Config
	consume string
	now     func() time.Time
	client  *http.Client
	log     *slog.Logger

	// dues are when the events this deliverer put back become due, so it
	// claims again right then rather than at its next round.
	mu      sync.Mutex
	dues    dueHeap
	retried chan struct{}
}

// NewDeliverer checks cfg and returns a Deliverer.
func NewDeliverer(cfg Config) (*Deliverer, error) {
	switch {
	case cfg.Outbox == nil:
		return nil, errors.New("delivery: no outbox")
	case cfg.URL == "":
		return nil, errors.New("delivery: no URL")
	case len(cfg.Secrets) == 0:
		return nil, errors.New("delivery: no secret")
	case cfg.Data == nil:
		return nil, errors.New("delivery: no data renderer")
	}
	d := &Deliverer{cfg: cfg, consume: cfg.Consumer, now: cfg.Now, client: cfg.Client, log: cfg.Logger, retried: make(chan struct{}, 1)}
	if d.consume == "" {
		host, _ := os.Hostname()
		d.consume = host + "-" + strconv.FormatUint(rand.Uint64(), 36)
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.cfg.Workers <= 0 {
		d.cfg.Workers = 32
	}
	if d.client == nil {
		// Every worker keeps its connection, so attempts do not handshake anew.
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = d.cfg.Workers
		d.client = &http.Client{
			Timeout:   Timeout,
			Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.cfg.Interval <= 0 {
		d.cfg.Interval = 500 * time.Millisecond
	}
	return d, nil
}

func (d *Deliverer) observeStats(ctx context.Context) {
	st, err := d.cfg.Outbox.Stats(ctx)
	if err != nil {
		return
	}
	age := time.Duration(0)
	if !st.Oldest.IsZero() {
		age = max(d.now().Sub(st.Oldest), 0)
	}
	d.cfg.Metrics.oldest.Set(age.Seconds())
	for t, n := range st.Refused {
		d.cfg.Metrics.total.WithLabelValues(string(t), OutcomeDropped).Add(float64(n))
		d.log.Warn("events: the outbox was full, so events were not recorded", "type", string(t), "count", n)
	}
}

// Outcomes of an attempt, as otpgate_events_total counts them.
const (
	OutcomeDelivered = "delivered"
	OutcomeRetried   = "retried"
	OutcomeDropped   = "dropped"
)

// afterTimeout bounds recording an attempt's outcome once shutdown cut
// the attempt short, so a dead Redis cannot hold up Close.
const afterTimeout = 2 * time.Second

// attempt posts p once and tells the Outbox how it went. It reports
// whether it ended p, which may let the next event of its verification go.
func (d *Deliverer) attempt(ctx context.Context, p Pending) bool {
	status, err := d.post(ctx, p.Message)
	err = withoutURL(err)
	// The outcome is recorded even when shutdown cut the attempt short,
	// so that another deliverer may take the event at once.
	after, cancel := context.WithTimeout(context.WithoutCancel(ctx), afterTimeout)
	defer cancel()
	log := d.log.With("event", p.ID, "type", string(p.Type), "verification", verificationID(p.Message), "attempt", p.Attempts+1)
	switch {
	case err == nil && status >= 200 && status < 300:
		return d.finish(after, p, OutcomeDelivered)
	case err == nil && status == http.StatusGone:
		log.Info("events: the receiver answered 410 Gone; the event is not retried")
		return d.finish(after, p, OutcomeDropped)
	}
	now := d.now()
	due := now.Add(Backoff(p.Attempts+1, jitter()))
	if due.Sub(p.Since) > MaxRetryTime {
		log.Warn("events: dropping an event its receiver did not take for 24 h", "status", status, "err", err)
		return d.finish(after, p, OutcomeDropped)
	}
	if ctx.Err() != nil {
		due = now
	}
	log.Info("events: delivery failed; retrying", "status", status, "err", err, "retry_at", due)
	put, err := d.cfg.Outbox.Retry(after, p, due)
	switch {
	case err != nil:
		log.Warn("events: putting a failed event back failed; it is retried once its lease runs out", "err", err)
	case put:
		d.putBack(due)
		d.count(p.Type, OutcomeRetried)
	}
	return false
}

// withoutURL drops the URL that net/http puts in its errors: the
// receiver's query may carry a key, which start-up never logs either.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (d *Deliverer) finish(ctx context.Context, p Pending, outcome string) bool {
	ended, err := d.cfg.Outbox.Done(ctx, p, d.now())
	if err != nil {
		d.log.Warn("events: recording a finished event failed; it may be delivered again", "event", p.ID, "err", err)
		return false
	}
	if ended {
		d.count(p.Type, outcome)
	}
	return ended
}

func (d *Deliverer) count(t events.Type, outcome string) {
	if d.cfg.Metrics != nil {
		d.cfg.Metrics.total.WithLabelValues(string(t), outcome).Inc()
	}
}

// post makes one attempt and returns the answer's status.
func (d *Deliverer) post(ctx context.Context, m Message) (int, error) {
	body, err := Body(m, d.cfg.Data)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	ts := d.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "otpgate")
	req.Header.Set(events.HeaderID, m.ID)
	req.Header.Set(events.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(events.HeaderSignature, events.Sign(d.cfg.Secrets, m.ID, ts, body))
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// Reading a little of the answer lets the connection be reused; a
	// receiver's long answer is not worth waiting for.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, nil
}

// envelope is the body of a delivery: exactly these four members.
type envelope struct {
	ID        string      `json:"id"`
	Type      events.Type `json:"type"`
	Timestamp string      `json:"timestamp"`
	Data      any         `json:"data"`
}

// Body renders m as its deliveries carry it: its verification rendered by
// data, or else its Data as it is. The same message always gives the same
// bytes.
func Body(m Message, data func(*otp.Verification) any) ([]byte, error) {
	var d any = m.Data
	if m.Verification != nil {
		d = data(m.Verification)
	}
	b, err := json.Marshal(envelope{ID: m.ID, Type: m.Type, Timestamp: m.At.UTC().Format(time.RFC3339), Data: d})
	if err != nil {
		return nil, fmt.Errorf("delivery: render %s: %w", m.ID, err)
	}
	return b, nil
}

// Backoff is the wait after the n-th failed attempt: FirstBackoff doubled
// n-1 times, scaled by jitter (0.75 to 1.25 spreads retries of many events
// that failed together), and never over MaxBackoff.
func Backoff(n int, jitter float64) time.Duration {
	wait := MaxBackoff
	if n <= 20 {
		wait = min(FirstBackoff<<(n-1), MaxBackoff)
	}
	return min(time.Duration(float64(wait)*jitter), MaxBackoff)
}

// jitter is uniform in [0.75, 1.25]; it only spreads retries, so it
// needs no cryptographic randomness.
func jitter() float64 { return 0.75 + 0.5*rand.Float64() }

func verificationID(m Message) string {
	if m.Verification == nil {
		return ""
	}
	return m.Verification.ID
}
