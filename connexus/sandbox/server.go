// Package sandbox is a fake Connexus: a real HTTP server that speaks the
// documented WebSMS Connexus API, for otpgate's dev mode and, through
// package connexustest, for tests. It imports no testing code, so the
// server binary can run it.
//
// It issues and checks tokens, accepts both auth modes, serves every
// endpoint the connexus client calls, applies the documented NZ number rules
// to lookups, and records every request and every SMS so a test can read the
// code that was "sent". It can follow either Connexus document where they
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
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"mime"
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
	done      chan struct{}
	closeOnce sync.Once
	hooks     *http.Client

	clientID, clientSecret string
	userID, password       string
	tokenTTL               time.Duration
	now                    func() time.Time
	onMessage              func(Message)
	clientOpts             []connexus.Option
	style                  Style // fixed by WithStyle: a real upstream does not change documents mid-run

	mu           sync.Mutex
	tokens       map[string]time.Time // token → expiry
	tokensIssued int
	requests     []Request
	messages     []Message
	statuses     map[string]string // message id → delivery status
	faults       map[string][]*fault
	latency      map[string]time.Duration
	numbers      map[string]NumberInfo
	statusURL    string
	inboundURL   string
	inbound      []inboundRecord
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

// WithClientOptions adds options to those ClientOptions returns, after its
// defaults (so connexus.WithPassword switches a client to password mode).
func WithClientOptions(opts ...connexus.Option) Option {
	return func(s *Server) { s.clientOpts = append(s.clientOpts, opts...) }
}

// NewServer starts a fake. Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		done:         make(chan struct{}),
		hooks:        &http.Client{Timeout: 5 * time.Second},
		clientID:     DefaultClientID,
		clientSecret: DefaultClientSecret,
		userID:       DefaultUserID,
		password:     DefaultPassword,
		tokenTTL:     DefaultTokenTTL,
		now:          time.Now,
		tokens:       map[string]time.Time{},
		statuses:     map[string]string{},
		faults:       map[string][]*fault{},
		latency:      map[string]time.Duration{},
		numbers:      map[string]NumberInfo{},
		balanceCents: 100000,
	}
	for _, opt := range opts {
		opt(s)
	}
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

// Close stops the server; hanging requests are released first.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.ts.CloseClientConnections()
		s.ts.Close()
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

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// RequestCount counts the requests received on path, faulted ones included.
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

// Messages returns every SMS sent so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// LastCode returns the code of the latest OTP sent to to (any format).
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

// cleanPath turns "/sms/otp" or "sms/otp/" into "sms/otp".
func cleanPath(p string) string { return strings.Trim(p, "/") }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, basePath) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
		return
	}
	req, err := s.record(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if !s.delay(r, req.Path) || s.injectFault(w, r, req.Path) {
		return
	}
	switch req.Path {
	case "auth/token":
		s.handleToken(w, r, req)
	case "sms/out":
		s.route(w, r, req, map[string]handler{http.MethodPost: s.handleSMSOut})
	case "sms/otp":
		s.route(w, r, req, map[string]handler{http.MethodPost: s.handleOTP})
	case "number/lookup":
		method := http.MethodPost
		if s.style == StyleReference {
			method = http.MethodGet
		}
		s.route(w, r, req, map[string]handler{method: s.handleLookup})
	case "sms/balance":
		s.route(w, r, req, map[string]handler{http.MethodPost: s.handleBalance, http.MethodGet: s.handleBalance})
	case "mo/query":
		s.route(w, r, req, map[string]handler{http.MethodPost: s.handleQuery, http.MethodGet: s.handleQuery})
	case "sms/status":
		s.route(w, r, req, map[string]handler{http.MethodGet: s.handleStatus, http.MethodPost: s.registerURL(&s.statusURL)})
	case "sms/in":
		s.route(w, r, req, map[string]handler{http.MethodPost: s.registerURL(&s.inboundURL)})
	case "configure":
		s.route(w, r, req, map[string]handler{http.MethodGet: s.handleConfigure, http.MethodPost: s.handleConfigure})
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	}
}

type handler func(http.ResponseWriter, *http.Request, *Request)

// route checks the method, then the credentials, then calls the handler.
func (s *Server) route(w http.ResponseWriter, r *http.Request, req *Request, methods map[string]handler) {
	h, ok := methods[r.Method]
	if !ok {
		w.Header().Set("Allow", strings.Join(slices.Sorted(maps.Keys(methods)), ", "))
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
		return
	}
	if s.authorize(w, r, req) {
		h(w, r, req)
	}
}

func (s *Server) record(r *http.Request) (*Request, error) {
	req := &Request{Method: r.Method, Path: cleanPath(strings.TrimPrefix(r.URL.Path, basePath)),
		Header: r.Header.Clone(), Query: r.URL.Query(), Form: url.Values{}, Time: s.now()}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var parseErr error
	switch ct {
	case "application/json":
		parseErr = json.Unmarshal(body, &req.JSON)
	case "application/x-www-form-urlencoded":
		req.Form, parseErr = url.ParseQuery(string(body))
	}
	s.mu.Lock()
	s.requests = append(s.requests, *req)
	s.mu.Unlock()
	if parseErr != nil {
		return nil, fmt.Errorf("unreadable %s body", ct)
	}
	return req, nil
}

// delay applies the path's latency; false means the request went away.
func (s *Server) delay(r *http.Request, path string) bool {
	s.mu.Lock()
	d := s.latency[path]
	s.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.done:
	}
	return false
}

// injectFault applies the path's next fault; true means it answered.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request, path string) bool {
	s.mu.Lock()
	var f fault
	if q := s.faults[path]; len(q) > 0 {
		f = *q[0]
		if q[0].left--; q[0].left <= 0 {
			s.faults[path] = q[1:]
		}
	} else {
		f.left = -1
	}
	s.mu.Unlock()
	if f.left < 0 {
		return false
	}
	switch f.kind {
	case faultHang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		// Whoever is still listening must see no answer, not an empty 200.
		panic(http.ErrAbortHandler)
	case faultDrop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	default:
		if f.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, f.status, http.StatusText(f.status), "injected fault")
	}
	return true
}

// param reads a request field from the form, then the JSON body, then the query.
func (req *Request) param(key string) string {
	if v := req.Form.Get(key); v != "" {
		return v
	}
	if v, ok := req.JSON[key].(string); ok {
		return v
	}
	return req.Query.Get(key)
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request, req *Request) bool {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		s.mu.Lock()
		exp, known := s.tokens[tok]
		s.mu.Unlock()
		if known && s.now().Before(exp) {
			return true
		}
		writeError(w, http.StatusUnauthorized, "invalid_token", "Invalid or expired access token")
		return false
	}
	user, pass, basic := r.BasicAuth()
	if !basic {
		user, pass = req.param("userId"), req.param("password")
	}
	if user == "" && pass == "" {
		writeError(w, http.StatusUnauthorized, "unauthorized", "Missing credentials")
		return false
	}
	if !equal(user, s.userID) || !equal(pass, s.password) {
		writeError(w, http.StatusUnauthorized, "unauthorized", "Invalid credentials")
		return false
	}
	return true
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, req *Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Only POST method is accepted")
		return
	}
	id, secret := req.param("client_id"), req.param("client_secret")
	if id == "" || secret == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request",
			"error_description": "Missing client_id or client_secret"})
		return
	}
	if !equal(id, s.clientID) || !equal(secret, s.clientSecret) {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client",
			"error_description": "Invalid credentials, key disabled, or key expired"})
		return
	}
	tok := "wst_" + randomHex(16)
	s.mu.Lock()
	s.tokens[tok] = s.now().Add(s.tokenTTL)
	s.tokensIssued++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer",
		"expires_in": int(s.tokenTTL / time.Second)})
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in the documents' error shape.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"success": false, "error": code, "message": message, "error_code": status})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// randomCode returns a 6-digit code from crypto/rand, as the upstream makes.
func randomCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("%06d", n.Int64())
}
