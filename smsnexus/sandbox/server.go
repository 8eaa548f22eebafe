// Package sandbox is a fake SMS Nexus: a real HTTP server that speaks the
// documented API, for otpgate's dev mode and, through package
// smsnexustest, for tests. It imports no testing code, so the server
// binary can run it.
//
// It is strict where the documentation is: it checks the Bearer token,
// validates every field of a send (401 and 422 answers in the documented
// error shape), charges credits per SMS segment, puts rate-limit headers on
// every answer, paginates and filters /messages, and requires https
// webhooks. Where the documentation is silent it chooses, and says so:
//
//   - a from that is not one of the account's numbers (WithNumbers) is a
//     422 naming "from", as a validation failure of that field;
//   - a send the credits do not cover is a 403 "Insufficient credits": the
//     account may not do it, which is what the documented 403 means;
//   - rate limits (30 sends and 60 other requests per minute of the clock)
//     are reported in X-RateLimit-* headers, and enforced with a 429 only
//     under EnforceRateLimits, so a long test or dev session is not
//     throttled by surprise;
//   - /messages lists newest first, and a webhook registration answers 201;
//   - the webhook payload, which the documentation does not show, is
//     {"event":"message.delivered","data":{"id":…,"status":…,…},"created_at":…}.
//
// It records the requests and the SMS so a test can read the text that
// was "sent", keeping the newest DefaultMaxRecords of each (WithMaxRecords),
// so a dev server left running does not grow without bound. Faults can be
// injected per path: error answers, raw bodies, hangs, dropped connections,
// and a listener that refuses connections. A faulted request never sends
// an SMS, even where the client must assume it may have.
package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/fakenet"
	"github.com/otpgate/otpgate/smsnexus"
)

// Defaults of the fake; ClientOptions uses the token and the number.
const (
	DefaultToken = "snx_test_token"
	// DefaultFrom is the account's own number unless WithNumbers says otherwise.
	DefaultFrom = "+15551234567"
	// DefaultCredits is the starting balance, the documentation's example.
	DefaultCredits = 5000
	// DefaultMaxRecords is how many requests and SMS the fake keeps, each.
	DefaultMaxRecords = 1000
	// SendLimit and ReadLimit are the documented requests per minute of
	// POST sms/send and of every other endpoint.
	SendLimit = 30
	ReadLimit = 60
	// basePath is where the API lives, as on www.smsnexus.net.
	basePath = "/api/"
)

// Message is one SMS the fake "sent".
type Message struct {
	ID       string // decimal, as data.id
	From     string // E.164 with '+'
	To       string // E.164 with '+'
	Body     string
	MediaURL string
	Status   string // "queued" until Deliver changes it
	Segments int    // the credits it cost
	Time     time.Time
}

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string // relative to the base URL, e.g. "sms/send"
	Header http.Header
	Query  url.Values
	JSON   map[string]any // a JSON object body; nil otherwise
	Time   time.Time
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the API base, e.g. http://127.0.0.1:1234/api.
	URL string

	ts        *httptest.Server
	gate      *fakenet.Gate
	ctx       context.Context // done once Close was called
	stop      context.CancelFunc
	closeOnce sync.Once
	hooks     *http.Client

	token            string
	numbers          []string
	now              func() time.Time
	onMessage        func(Message)
	maxRecords       int
	insecureWebhooks bool
	enforceLimits    bool
	clientOpts       []smsnexus.Option

	mu        sync.Mutex
	credits   int64
	usedDay   string // the UTC day usedToday counts
	usedToday int64
	requests  []Request // the newest maxRecords
	messages  []Message // the newest maxRecords
	webhooks  []webhook
	invalid   map[string]bool // recipients that answer 422
	faults    map[string][]*fault
	windows   [2]window // rate-limit windows: reads, sends
	seq       int64     // of message ids
	hookSeq   int64     // of webhook ids
}

// Option configures a Server. Options panic on arguments no test means.
type Option func(*Server)

// WithToken sets the API token the fake accepts (default DefaultToken).
func WithToken(tok string) Option {
	if tok == "" {
		panic("sandbox: WithToken: empty token")
	}
	return func(s *Server) { s.token = tok }
}

// WithNumbers sets the account's own numbers, the only valid froms (E.164,
// '+' optional); the first is the one ClientOptions sends from.
func WithNumbers(numbers ...string) Option {
	if len(numbers) == 0 {
		panic("sandbox: WithNumbers: no number")
	}
	canon := make([]string, len(numbers))
	for i, n := range numbers {
		if canon[i] = canonical(n); !e164(canon[i]) {
			panic(fmt.Sprintf("sandbox: WithNumbers: %q is not an E.164 number", n))
		}
	}
	return func(s *Server) { s.numbers = canon }
}

// WithCredits sets the starting balance (default DefaultCredits).
func WithCredits(n int) Option {
	if n < 0 {
		panic(fmt.Sprintf("sandbox: WithCredits(%d): negative", n))
	}
	return func(s *Server) { s.credits = int64(n) }
}

// WithClock sets the clock that stamps messages and runs the rate windows.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// OnMessage calls fn, outside any lock, for every SMS the fake sends; dev
// mode prints messages with it.
func OnMessage(fn func(Message)) Option { return func(s *Server) { s.onMessage = fn } }

// WithMaxRecords sets how many requests and SMS the fake keeps, each
// (default DefaultMaxRecords). Older ones are forgotten by Requests,
// Messages, LastText, /messages and Deliver.
func WithMaxRecords(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("sandbox: WithMaxRecords(%d): keep at least one record", n))
	}
	return func(s *Server) { s.maxRecords = n }
}

// AllowInsecureWebhooks makes the fake accept http:// webhook URLs, which
// SMS Nexus refuses, so tests and dev mode can receive events on a plain
// local listener. ClientOptions then adds smsnexus.WithInsecureWebhooks.
func AllowInsecureWebhooks() Option { return func(s *Server) { s.insecureWebhooks = true } }

// EnforceRateLimits makes the fake answer 429 once a minute's SendLimit or
// ReadLimit is spent; without it the headers count down but nothing is refused.
func EnforceRateLimits() Option { return func(s *Server) { s.enforceLimits = true } }

// WithClientOptions adds options to those ClientOptions returns, after its own.
func WithClientOptions(opts ...smsnexus.Option) Option {
	return func(s *Server) { s.clientOpts = append(s.clientOpts, opts...) }
}

// NewServer starts a fake. Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		// Its own transport, so Close can drop the webhook connections.
		hooks: &http.Client{Timeout: 5 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		token:      DefaultToken,
		numbers:    []string{DefaultFrom},
		now:        time.Now,
		maxRecords: DefaultMaxRecords,
		credits:    DefaultCredits,
		invalid:    map[string]bool{},
		faults:     map[string][]*fault{},
	}
	for _, opt := range opts {
		opt(s)
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.ts = httptest.NewUnstartedServer(s)
	s.gate = fakenet.NewGate(s.ts.Listener)
	s.ts.Listener = s.gate
	s.ts.Start()
	s.URL = s.ts.URL + strings.TrimSuffix(basePath, "/")
	return s
}

// ClientOptions returns what an smsnexus client needs to talk to s: its
// base URL, token and first number (and WithInsecureWebhooks under
// AllowInsecureWebhooks), then the options given to WithClientOptions.
func (s *Server) ClientOptions() []smsnexus.Option {
	opts := []smsnexus.Option{smsnexus.WithBaseURL(s.URL), smsnexus.WithToken(s.token), smsnexus.WithFrom(s.numbers[0])}
	if s.insecureWebhooks {
		opts = append(opts, smsnexus.WithInsecureWebhooks())
	}
	return append(opts, s.clientOpts...)
}

// Close stops the server; hanging requests and webhook posts are released first.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.stop()
		s.ts.CloseClientConnections()
		s.ts.Close()
		s.hooks.CloseIdleConnections()
	})
}

// Refuse stops listening, so new connections are refused, and closes the
// open ones. A client that picks one of its kept-alive connections in the
// instant before it notices the close sees a dropped connection instead
// of a refusal; a test that needs a refusal refuses before the client's
// first call. On Unix the port stays bound meanwhile, so no other listener
// is given it.
func (s *Server) Refuse() {
	s.gate.Refuse()
	s.ts.CloseClientConnections()
}

// Accept listens again on the same address after Refuse. It fails only if
// another socket took the port in between (on Unix, only by naming it).
func (s *Server) Accept() error { return s.gate.Listen() }

// SetCredits sets the balance; a send that costs more answers 403.
func (s *Server) SetCredits(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.credits = int64(n)
}

// SetInvalidRecipient makes sends to number (E.164, '+' optional) answer
// 422 naming "to", as SMS Nexus does for a number it cannot text.
func (s *Server) SetInvalidRecipient(number string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalid[canonical(number)] = true
}

// Requests returns the requests received so far (the newest maxRecords),
// oldest first, faulted ones included.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// TakeRequests returns the requests received since the last TakeRequests
// and forgets them, so a long run such as a fuzz target reads exactly what
// its last call caused.
func (s *Server) TakeRequests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	taken := s.requests
	s.requests = nil
	return taken
}

// RequestCount counts the kept requests received on path (e.g.
// "sms/send"), faulted ones included.
func (s *Server) RequestCount(path string) int {
	p := cleanPath(path)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Path == p {
			n++
		}
	}
	return n
}

// Messages returns the SMS sent so far (the newest maxRecords), oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// LastText returns the text of the latest kept SMS to to (E.164, '+' optional).
func (s *Server) LastText(to string) (string, bool) {
	want := canonical(to)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range slices.Backward(s.messages) {
		if m.To == want {
			return m.Body, true
		}
	}
	return "", false
}

// keep appends v to records, dropping the oldest beyond max and zeroing
// their slots so they pin nothing; append moves the window to a new array
// when it reaches the end, so memory stays bounded.
func keep[T any](records []T, v T, max int) []T {
	if drop := len(records) - max + 1; drop > 0 {
		clear(records[:drop])
		records = records[drop:]
	}
	return append(records, v)
}

// canonical returns number with a leading '+'.
func canonical(number string) string { return "+" + strings.TrimPrefix(strings.TrimSpace(number), "+") }

// e164 reports whether n is '+' and 7–15 digits not starting with 0, the
// form SMS Nexus requires.
func e164(n string) bool {
	d, ok := strings.CutPrefix(n, "+")
	return ok && len(d) >= 7 && len(d) <= 15 && d[0] != '0' && strings.Trim(d, "0123456789") == ""
}

// cleanPath turns "/sms/send" or "sms/send/" into "sms/send".
func cleanPath(p string) string { return strings.Trim(p, "/") }
