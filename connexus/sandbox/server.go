// Package sandbox is a fake Connexus: a real HTTP server that speaks the
// documented WebSMS Connexus API, for otpgate's dev mode and, through
// package connexustest, for tests. It imports no testing code, so the
// server binary can run it.
//
// It issues and checks tokens, accepts both auth modes, serves every
// endpoint the connexus client calls, applies the documented NZ number rules
// to lookups, and records the requests and SMS so a test can read the code
// that was "sent". It keeps the newest DefaultMaxRecords of each (see
// WithMaxRecords), so a dev server left running for days does not grow
// without bound. It can follow either Connexus document where they
// disagree (see Style), inject faults (status codes, latency, hangs, dropped
// connections), and post delivery reports and inbound messages to the
// registered webhooks.
//
// Numbers outside New Zealand (anything not starting 0 or 64) are answered
// like the developer reference does: a valid mobile whose country comes from
// the calling code. The detailed page's lookup would refuse them; otpgate
// only looks up NZ numbers, so the friendlier answer loses nothing.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/connexus"
)

// Credentials the fake accepts unless told otherwise; ClientOptions uses them.
const (
	DefaultClientID     = "cid_test"
	DefaultClientSecret = "csk_test"
	DefaultUserID       = "user@example.co.nz"
	DefaultPassword     = "test-password"
	// DefaultTokenTTL is the documented token lifetime.
	DefaultTokenTTL = 24 * time.Hour
	// DefaultSender is the shared shortcode used when a send names no sender.
	DefaultSender = "552"
	// DefaultMaxRecords is how many requests, SMS and inbound messages a
	// server keeps, each: far more than a test reads, and about 2 MB for
	// the requests otpgate sends.
	DefaultMaxRecords = 1000
	// basePath is where the API lives, as on websms.co.nz.
	basePath = "/api/connexus/"
)

// ErrNoWebhook is returned by Deliver and Inbound when no webhook URL is registered.
var ErrNoWebhook = errors.New("sandbox: no webhook URL registered")

// Style selects which document the fake follows where the two disagree.
type Style int

const (
	// StyleDetailed follows the detailed API page: sms/otp honours msgCode
	// and answers "status":"success", single sms/out answers 204, lookup is
	// POST with a form, balance is a string, webhooks use messageId/DELIVRD.
	StyleDetailed Style = iota
	// StyleReference follows the developer reference: sms/otp makes its own
	// 6-digit code and ignores msgCode, answers "success":true with
	// expires_in; lookup is GET ?number=, balance is a number, webhooks use
	// type/message_id/"delivered".
	StyleReference
)

// NumberType is what lookup says a number is.
type NumberType string

// Kinds of number for SetNumber.
const (
	NumberMobile   NumberType = "mobile"
	NumberLandline NumberType = "landline"
	NumberUnknown  NumberType = "unknown" // lookup answers valid:false
)

// NumberInfo overrides lookup's answer for one number. Empty fields keep
// the defaults derived from the prefix.
type NumberInfo struct {
	Type        NumberType
	Carrier     string
	NetworkCode string
	Ported      bool
}

// Message is one SMS the fake "sent".
type Message struct {
	MessageID string
	To        string
	From      string
	Body      string
	Code      string // OTP only: the code in Body
	Company   string // OTP only
	Parts     int
	Time      time.Time
}

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string // relative to the base URL, e.g. "sms/otp"
	Header http.Header
	Query  url.Values
	Form   url.Values     // form body fields
	JSON   map[string]any // JSON body
	Time   time.Time
}

type faultKind int

const (
	faultStatus faultKind = iota
	faultHang
	faultDrop
)

type fault struct {
	kind   faultKind
	status int
	left   int
}

// sentMessage is a kept SMS and its delivery status.
type sentMessage struct {
	Message
	status string
}

// lastSent returns the newest kept message with id; s.mu must be held.
func (s *Server) lastSent(id string) *sentMessage {
	for i := len(s.messages) - 1; i >= 0; i-- {
		if s.messages[i].MessageID == id {
			return &s.messages[i]
		}
	}
	return nil
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

type inboundRecord struct {
	id, from, to, body string
	time               time.Time
	callbackURL        string
	callbackStatus     int
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the API base, e.g. http://127.0.0.1:1234/api/connexus.
	URL string

	ts        *httptest.Server
	ctx       context.Context // done once Close was called
	stop      context.CancelFunc
	closeOnce sync.Once
	hooks     *http.Client

	clientID, clientSecret string
	userID, password       string
	tokenTTL               time.Duration
	now                    func() time.Time
	onMessage              func(Message)
	clientOpts             []connexus.Option
	style                  Style // fixed by WithStyle: a real upstream does not change documents mid-run
	maxRecords             int

	mu           sync.Mutex
	tokens       map[string]time.Time // token → expiry; expired ones go when the next is issued
	tokensIssued int
	requests     []Request     // the newest maxRecords
	messages     []sentMessage // the newest maxRecords
	faults       map[string][]*fault
	latency      map[string]time.Duration
	numbers      map[string]NumberInfo
	statusURL    string
	inboundURL   string
	inbound      []*inboundRecord // the newest maxRecords; Inbound updates its record after the webhook answered
	balanceCents int64
	seq          int64
}

// Option configures a Server.
type Option func(*Server)

// WithStyle selects the document the fake follows (default StyleDetailed).
func WithStyle(st Style) Option { return func(s *Server) { s.style = st } }

// WithAPIKey sets the client id and secret the fake accepts.
func WithAPIKey(clientID, clientSecret string) Option {
	return func(s *Server) { s.clientID, s.clientSecret = clientID, clientSecret }
}

// WithPassword sets the user id and password the fake accepts.
func WithPassword(userID, password string) Option {
	return func(s *Server) { s.userID, s.password = userID, password }
}

// WithClock sets the clock that ages tokens and stamps messages.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithTokenTTL sets the lifetime of issued tokens (default 24h).
func WithTokenTTL(d time.Duration) Option { return func(s *Server) { s.tokenTTL = d } }

// OnMessage calls fn, outside any lock, for every SMS the fake sends; dev
// mode uses it to print messages to its log.
func OnMessage(fn func(Message)) Option { return func(s *Server) { s.onMessage = fn } }

// WithMaxRecords sets how many requests, SMS and inbound messages the fake
// keeps, each (default DefaultMaxRecords). Older ones are forgotten:
// Requests, Messages, LastCode and mo/query no longer list them, and
// sms/status and Deliver no longer know a forgotten message. It panics if
// n < 1.
func WithMaxRecords(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("sandbox: WithMaxRecords(%d): keep at least one record", n))
	}
	return func(s *Server) { s.maxRecords = n }
}

// WithClientOptions adds options to those ClientOptions returns, after its
// defaults (so connexus.WithPassword switches a client to password mode).
func WithClientOptions(opts ...connexus.Option) Option {
	return func(s *Server) { s.clientOpts = append(s.clientOpts, opts...) }
}

// NewServer starts a fake. Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		// Its own transport, so Close can drop the webhook connections.
		hooks:        &http.Client{Timeout: 5 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()},
		clientID:     DefaultClientID,
		clientSecret: DefaultClientSecret,
		userID:       DefaultUserID,
		password:     DefaultPassword,
		tokenTTL:     DefaultTokenTTL,
		maxRecords:   DefaultMaxRecords,
		now:          time.Now,
		tokens:       map[string]time.Time{},
		faults:       map[string][]*fault{},
		latency:      map[string]time.Duration{},
		numbers:      map[string]NumberInfo{},
		balanceCents: 100000,
	}
	for _, opt := range opts {
		opt(s)
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.ts = httptest.NewServer(s)
	s.URL = s.ts.URL + strings.TrimSuffix(basePath, "/")
	return s
}

// ClientOptions returns what a connexus client needs to talk to s: its
// base URL and the API key it accepts, then the options given to
// WithClientOptions.
func (s *Server) ClientOptions() []connexus.Option {
	return append([]connexus.Option{
		connexus.WithBaseURL(s.URL),
		connexus.WithAPIKey(s.clientID, s.clientSecret),
	}, s.clientOpts...)
}

// Close stops the server; hanging requests and webhook posts are released
// first.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.stop()
		s.ts.CloseClientConnections()
		s.ts.Close()
		s.hooks.CloseIdleConnections()
	})
}

// SetNumber makes lookup answer info for number (any accepted format).
func (s *Server) SetNumber(number string, info NumberInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.numbers[canonical(number)] = info
}

// SetNumberType makes lookup report number as t.
func (s *Server) SetNumberType(number string, t NumberType) {
	s.SetNumber(number, NumberInfo{Type: t})
}

// SetBalance sets the account balance; sends that cost more answer 403.
// Each SMS part costs 0.10.
func (s *Server) SetBalance(amount float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.balanceCents = int64(amount*100 + 0.5)
}

// RevokeTokens invalidates every issued token, as rolling a key would.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// TokensIssued counts the tokens auth/token has handed out.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokensIssued
}

// FailNext makes the next n requests to path (e.g. "sms/otp") answer
// status with a JSON error; a 429 carries "Retry-After: 1".
func (s *Server) FailNext(path string, status, n int) {
	s.addFault(path, &fault{kind: faultStatus, status: status, left: n})
}

// HangNext makes the next n requests to path block until the client gives
// up (or the server closes).
func (s *Server) HangNext(path string, n int) { s.addFault(path, &fault{kind: faultHang, left: n}) }

// DropNext makes the next n requests to path close the connection without
// an answer, after the request was read: it may have been acted on.
func (s *Server) DropNext(path string, n int) { s.addFault(path, &fault{kind: faultDrop, left: n}) }

// SetLatency delays every answer on path by d (0 removes the delay).
func (s *Server) SetLatency(path string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency[cleanPath(path)] = d
}

func (s *Server) addFault(path string, f *fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := cleanPath(path)
	s.faults[p] = append(s.faults[p], f)
}

// Requests returns the requests received so far (the newest maxRecords),
// oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// TakeRequests returns the requests received since the last TakeRequests
// (the newest maxRecords of them), oldest first, and forgets them, so a
// long run such as a fuzz target reads exactly what its last call caused.
// Requests and RequestCount no longer see what was taken.
func (s *Server) TakeRequests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	taken := s.requests
	s.requests = nil
	return taken
}

// RequestCount counts the kept requests received on path, faulted ones
// included.
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

// Messages returns the SMS sent so far (the newest maxRecords), oldest
// first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	msgs := make([]Message, len(s.messages))
	for i, m := range s.messages {
		msgs[i] = m.Message
	}
	return msgs
}

// LastCode returns the code of the latest kept OTP sent to to (any format).
func (s *Server) LastCode(to string) (string, bool) {
	want := canonical(to)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range slices.Backward(s.messages) {
		if m.Code != "" && canonical(m.To) == want {
			return m.Code, true
		}
	}
	return "", false
}
