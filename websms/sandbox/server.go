// Package sandbox is a fake websms.com REST API: a real HTTP server that
// speaks POST /rest/smsmessaging/text as documented, for otpgate's dev mode
// and, through package websmstest, for tests. It imports no testing code,
// so the server binary can run it.
//
// It is strict where websms is and where a client bug would hide: it
// checks the credentials (a Bearer token, the access_token query parameter
// the document also allows, or HTTP Basic), the JSON content type and the
// Accept header, the required fields, that recipients are JSON numbers of
// 8–15 digits, and the segment count of the text. Refusals are answered
// as the document says websms answers them: HTTP 200 with a statusCode
// (4001 for missing or bad credentials, 4019, 4002, 4025, 4026, 4003, 4008,
// 4009). Missing credentials get 4001 in an HTTP 200 as well, not an HTTP
// 401, because the document says every answer is HTTP 200; FailNextHTTP
// produces a 401 for a client that must handle one. What is not a websms decision gets an HTTP status: 404 for another
// path, 405 for another method, 415 for another content type, 406 for an
// Accept that excludes JSON, 400 for a body that is not a JSON object.
//
// It records every request and every message it sent (the newest
// DefaultMaxRecords of each, see WithMaxRecords, so a dev server running
// for days does not grow) and can inject faults: websms status codes, HTTP
// errors, hangs, dropped connections and refused connections. A message
// counts as sent only when the fake answered 2000 for it: a hang, a drop or
// an injected 5000 leaves a real websms's message maybe sent, and the fake
// records none, so a test sees what a client was told.
package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/fakenet"
	"github.com/otpgate/otpgate/websms"
)

// Credentials the fake accepts unless told otherwise; ClientOptions uses
// the access token.
const (
	DefaultAccessToken = "websms-test-token"
	DefaultUsername    = "test"
	DefaultPassword    = "test"
	// DefaultMaxRecords is how many requests and messages a server keeps,
	// each: far more than a test reads, and little memory.
	DefaultMaxRecords = 1000
	// MaxSegments is the most SMS segments a text may take; a longer one is
	// refused with 4026 MAX_SMS_PER_MESSAGE_EXCEEDED.
	MaxSegments = 10
	// basePath is where the API lives, as on api.websms.com.
	basePath = "/rest/"
	// TextPath is the send endpoint, relative to the base URL.
	TextPath = "smsmessaging/text"
)

// Message is one SMS the fake sent, one per recipient.
type Message struct {
	TransferID      string
	ClientMessageID string
	To              string // the recipient's digits, e.g. "6421234567"
	From            string // senderAddress, "" when the request named none
	Text            string
	SMSCount        int // segments of this recipient's SMS
	Time            time.Time
}

// Request is one request the fake received, faulted ones included.
type Request struct {
	Method string
	Path   string // relative to the base URL, e.g. "smsmessaging/text"
	Header http.Header
	Query  url.Values
	Body   []byte
	// JSON is the body decoded with json.Decoder.UseNumber, so numbers
	// arrive as json.Number; nil when the body is not a JSON object.
	JSON map[string]any
	Time time.Time
}

type faultKind int

const (
	faultStatus faultKind = iota // HTTP 200 with a websms statusCode
	faultHTTP                    // an HTTP error with a body that is not JSON
	faultHang
	faultDrop
)

type fault struct {
	kind faultKind
	code int // statusCode or HTTP status
	left int
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the API base, e.g. http://127.0.0.1:1234/rest.
	URL string

	ts        *httptest.Server
	gate      *fakenet.Gate
	ctx       context.Context // done once Close was called
	stop      context.CancelFunc
	closeOnce sync.Once

	token              string
	username, password string
	now                func() time.Time
	onMessage          func(Message)
	clientOpts         []websms.Option
	maxRecords         int

	mu       sync.Mutex
	requests []Request // the newest maxRecords
	messages []Message // the newest maxRecords
	faults   []*fault
	invalid  map[string]bool // recipients answered 4002
}

// Option configures a Server.
type Option func(*Server)

// WithAccessToken sets the access token the fake accepts (default
// DefaultAccessToken).
func WithAccessToken(token string) Option { return func(s *Server) { s.token = token } }

// WithBasicAuth sets the username and password the fake accepts (default
// DefaultUsername, DefaultPassword).
func WithBasicAuth(username, password string) Option {
	return func(s *Server) { s.username, s.password = username, password }
}

// WithClock sets the clock that stamps requests and messages.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// OnMessage calls fn, outside any lock, for every SMS the fake sends; dev
// mode uses it to print messages to its log.
func OnMessage(fn func(Message)) Option { return func(s *Server) { s.onMessage = fn } }

// WithMaxRecords sets how many requests and messages the fake keeps, each
// (default DefaultMaxRecords). Older ones are forgotten. It panics if n < 1.
func WithMaxRecords(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("sandbox: WithMaxRecords(%d): keep at least one record", n))
	}
	return func(s *Server) { s.maxRecords = n }
}

// WithClientOptions adds options to those ClientOptions returns, after its
// defaults (so websms.WithBasicAuth switches a client to Basic auth).
func WithClientOptions(opts ...websms.Option) Option {
	return func(s *Server) { s.clientOpts = append(s.clientOpts, opts...) }
}

// NewServer starts a fake on a free local port. Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		token:      DefaultAccessToken,
		username:   DefaultUsername,
		password:   DefaultPassword,
		now:        time.Now,
		maxRecords: DefaultMaxRecords,
		invalid:    map[string]bool{},
	}
	for _, opt := range opts {
		opt(s)
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.ts = httptest.NewUnstartedServer(s)
	s.gate = fakenet.NewGate(s.ts.Listener)
	s.ts.Listener = s.gate
	s.ts.Start()
	s.URL = s.ts.URL + "/rest"
	return s
}

// ClientOptions returns what a websms client needs to talk to s: its base
// URL and the access token it accepts, then the options given to
// WithClientOptions.
func (s *Server) ClientOptions() []websms.Option {
	return append([]websms.Option{websms.WithBaseURL(s.URL), websms.WithAccessToken(s.token)}, s.clientOpts...)
}

// Close stops the server; hanging requests are released first.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.stop()
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
}

// Refuse stops listening, so new connections are refused, and closes the
// open ones (a hanging request among them). A client may still write on a
// pooled connection before it notices the close (a maybe-sent EOF); a
// transport without pooled connections to s sees only refusals. On Unix
// the port stays bound meanwhile, so no other listener is given it.
func (s *Server) Refuse() {
	s.gate.Refuse()
	s.ts.CloseClientConnections()
}

// Accept listens again on the same address after Refuse. It fails only if
// another socket took the port in between (on Unix, only by naming it).
func (s *Server) Accept() error { return s.gate.Listen() }

// SetInvalidRecipient makes the fake answer 4002 INVALID_RECIPIENT to any
// request that names number (digits, e.g. "6421234567").
func (s *Server) SetInvalidRecipient(number string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalid[number] = true
}

// FailNext makes the next n requests answer HTTP 200 with statusCode code
// (e.g. websms.CodeInternalError) and its documented statusMessage.
func (s *Server) FailNext(code, n int) { s.addFault(faultStatus, code, n) }

// FailNextHTTP makes the next n requests answer HTTP status with a body
// that is not JSON, as a proxy or load balancer would; a 429 carries
// "Retry-After: 1".
func (s *Server) FailNextHTTP(status, n int) { s.addFault(faultHTTP, status, n) }

// HangNext makes the next n requests read the whole body, then never
// answer until the client gives up (or the server closes). A real websms
// may have sent such a message; the fake records none.
func (s *Server) HangNext(n int) { s.addFault(faultHang, 0, n) }

// DropNext makes the next n requests read the whole body, then close the
// connection without an answer. The fake records no message for them.
func (s *Server) DropNext(n int) { s.addFault(faultDrop, 0, n) }

func (s *Server) addFault(kind faultKind, code, n int) {
	if n < 1 {
		panic(fmt.Sprintf("sandbox: a fault for %d requests: want at least one", n))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{kind: kind, code: code, left: n})
}

// nextFault takes one use of the oldest pending fault.
func (s *Server) nextFault() (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return fault{}, false
	}
	f := *s.faults[0]
	if s.faults[0].left--; s.faults[0].left == 0 {
		s.faults = s.faults[1:]
	}
	return f, true
}

// keep appends v to records, dropping the oldest beyond max and zeroing
// their slots so they pin nothing. It re-slices instead of copying, so an
// append stays cheap; once the window reaches the end of the backing array,
// append moves it to a new one about 1.25 × max long, so memory stays
// bounded.
func keep[T any](records []T, v T, max int) []T {
	if drop := len(records) - max + 1; drop > 0 {
		clear(records[:drop])
		records = records[drop:]
	}
	return append(records, v)
}

// Requests returns the kept requests, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// TakeRequests returns the kept requests, oldest first, and forgets them,
// so a test reads exactly what its last call caused. Requests and
// RequestCount no longer see what was taken.
func (s *Server) TakeRequests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	taken := s.requests
	s.requests = nil
	return taken
}

// RequestCount counts the kept requests, faulted ones included.
func (s *Server) RequestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// Messages returns the kept messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// LastText returns the text of the newest kept message to to (digits).
func (s *Server) LastText(to string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range slices.Backward(s.messages) {
		if m.To == to {
			return m.Text, true
		}
	}
	return "", false
}
