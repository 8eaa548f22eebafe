package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/upstream"
)

// Version is the client's version, sent in the default User-Agent.
const Version = "0.1.0"

// DefaultUserAgent is the User-Agent of every request unless WithUserAgent sets another.
const DefaultUserAgent = "otpgate-go/" + Version

const (
	// defaultTimeout outlasts otpgate's slowest answer: a start may take a
	// minute (a slow provider, then failover), and a repeat of it waits up
	// to 10 s for the first; a shorter timeout would give up on a start
	// whose code went out and retry into idempotency_key_in_use.
	defaultTimeout     = 90 * time.Second
	defaultAttempts    = 3
	defaultBackoffBase = 200 * time.Millisecond
	defaultBackoffMax  = 5 * time.Second
	// maxResponseBody bounds what is read of any answer; the largest, a
	// full inbound list, is far below it.
	maxResponseBody = 4 << 20
	headerRequestID = "X-Request-Id"
)

// Client calls one otpgate server with one API key. It is safe for
// concurrent use.
type Client struct {
	base        string // absolute, ends in "/"
	key         string
	http        *http.Client
	userAgent   string
	attempts    int
	backoffBase time.Duration
	backoffMax  time.Duration
	sleep       func(context.Context, time.Duration) error
}

// Option configures a Client. Options validate their arguments and make
// New fail on bad ones.
type Option func(*Client) error

// New returns a client of the otpgate at baseURL (e.g.
// "https://otp.example.com", a path prefix allowed) that authenticates with
// key, a client key for verifications or an admin key for Inbound.
func New(baseURL, key string, opts ...Option) (*Client, error) {
	u, err := upstream.BaseURL("otpgate", baseURL)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(key) == "" {
		return nil, errors.New("otpgate: empty API key")
	}
	c := &Client{
		base:        u.String(),
		key:         key,
		http:        &http.Client{Timeout: defaultTimeout},
		userAgent:   DefaultUserAgent,
		attempts:    defaultAttempts,
		backoffBase: defaultBackoffBase,
		backoffMax:  defaultBackoffMax,
		sleep:       upstream.Sleep,
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	// A followed redirect would turn a POST into a GET, or send the body
	// and key on to wherever the Location points; otpgate never redirects.
	c.http = upstream.NoRedirects(c.http)
	return c, nil
}

// WithHTTPClient sets the HTTP client of every call (default: one with a
// 90 s timeout, which outlasts otpgate's slowest start; keep any timeout of
// yours above a minute, or bound calls with ctx). The Client uses a copy
// that follows no redirects.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("otpgate: nil HTTP client")
		}
		c.http = hc
		return nil
	}
}

// WithRetries sets how many times a call that may be retried is tried,
// counting the first (default 3); 1 turns retries off.
func WithRetries(max int) Option {
	return func(c *Client) error {
		if max < 1 {
			return fmt.Errorf("otpgate: retries %d: want at least 1 attempt", max)
		}
		c.attempts = max
		return nil
	}
}

// WithBackoff sets the wait between retries: before retry n it is drawn
// from [d/2, d] with d = min(max, base·2ⁿ⁻¹), and a Retry-After answer is
// waited out instead, up to max. Defaults: 200ms, 5s.
func WithBackoff(base, max time.Duration) Option {
	return func(c *Client) error {
		if base <= 0 || max < base {
			return fmt.Errorf("otpgate: backoff needs 0 < base (%v) <= max (%v)", base, max)
		}
		c.backoffBase, c.backoffMax = base, max
		return nil
	}
}

// WithUserAgent sets the User-Agent header (default DefaultUserAgent).
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		if strings.TrimSpace(ua) == "" {
			return errors.New("otpgate: empty User-Agent")
		}
		c.userAgent = ua
		return nil
	}
}

// WithSleeper replaces the function that waits between retries, so tests
// can observe the waits (Retry-After, backoff) without spending them. It
// must return ctx's error when ctx ends first.
func WithSleeper(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) error {
		if sleep == nil {
			return errors.New("otpgate: nil sleeper")
		}
		c.sleep = sleep
		return nil
	}
}

// Response is the HTTP answer to a call, its body already read and closed.
type Response struct {
	*http.Response
	// RequestID is the answer's X-Request-Id, which otpgate's logs carry.
	RequestID string
}

// retryPolicy says which failures of a call are tried again.
type retryPolicy int

const (
	// retryRead: any transport failure and 503, for reads, which may run
	// any number of times.
	retryRead retryPolicy = iota + 1
	// retryReplayed: any transport failure, 409 idempotency_key_in_use and
	// a 503 that is not otpgate's own (a proxy's in place of the answer),
	// for a start under one Idempotency-Key, whose repeat replays the first
	// answer. Not otpgate's 503: it answers one after a code went out when
	// it could not record the outcome (or its replicas did not confirm it),
	// and that answer is not saved for the key, so a repeat would run the
	// start again and, if the cooldown was not recorded either, send a
	// second SMS.
	retryReplayed
	// retryUnsent: only a request that never left (no connection was
	// made), for calls that must not run twice: a check uses an attempt,
	// a cancel answers 409 the second time.
	retryUnsent
)

// call describes one API request.
type call struct {
	method string
	path   string // relative to the base URL, escaped
	body   any    // JSON body, nil for none
	header http.Header
	retry  retryPolicy
}

// do runs cl with retries and decodes a 2xx JSON answer into out.
func (c *Client) do(ctx context.Context, cl *call, out any) (*Response, error) {
	var body []byte
	if cl.body != nil {
		var err error
		if body, err = json.Marshal(cl.body); err != nil {
			return nil, fmt.Errorf("otpgate: %s %s: encode body: %w", cl.method, cl.path, err)
		}
	}
	for attempt := 1; ; attempt++ {
		resp, err := c.attempt(ctx, cl, body, out)
		if err == nil {
			return resp, nil
		}
		wait, ok := c.retryWait(ctx, cl, attempt, err)
		if !ok {
			return resp, err
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return resp, fmt.Errorf("otpgate: retry abandoned: %w; last attempt: %w", serr, err)
		}
	}
}

func (c *Client) attempt(ctx context.Context, cl *call, body []byte, out any) (*Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var trace upstream.Trace
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace.Hooks()), cl.method, c.base+cl.path, rd)
	if err != nil {
		return nil, fmt.Errorf("otpgate: %s %s: %w", cl.method, cl.path, err)
	}
	for k, v := range cl.header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hresp, err := c.http.Do(req)
	if err != nil {
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			err = uerr.Err // its URL repeats what the error already names
		}
		return nil, &transportError{method: cl.method, path: cl.path, err: err, reached: trace.Reached(err)}
	}
	defer hresp.Body.Close()
	resp := &Response{Response: hresp, RequestID: hresp.Header.Get(headerRequestID)}
	raw, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponseBody))
	if hresp.StatusCode < 200 || hresp.StatusCode > 299 {
		// The status is the answer, even when its body broke off: a retry
		// must follow the status's rule, not a transport failure's.
		return resp, newError(hresp, raw)
	}
	if err != nil {
		return resp, &transportError{method: cl.method, path: cl.path, err: err, reached: true}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp, fmt.Errorf("otpgate: %s %s: decode %d answer: %w", cl.method, cl.path, hresp.StatusCode, err)
		}
	}
	return resp, nil
}

// retryWait decides whether attempt, which failed with err, is tried
// again and after how long.
func (c *Client) retryWait(ctx context.Context, cl *call, attempt int, err error) (time.Duration, bool) {
	if attempt >= c.attempts || ctx.Err() != nil {
		return 0, false
	}
	wait := upstream.Backoff(c.backoffBase, c.backoffMax, attempt)
	switch {
	case isTransport(err):
		if cl.retry == retryUnsent && transportReached(err) {
			return 0, false
		}
	case cl.retry == retryRead || cl.retry == retryReplayed:
		e, ok := errors.AsType[*Error](err)
		if !ok {
			return 0, false
		}
		retryable := e.Status == http.StatusServiceUnavailable
		if cl.retry == retryReplayed {
			// otpgate's answers carry a request id, even one whose body
			// broke off; a proxy's in their place has neither it nor a code.
			retryable = retryable && e.Code == "" && e.RequestID == "" ||
				e.Status == http.StatusConflict && e.Code == CodeIdempotencyKeyInUse
		}
		if !retryable {
			return 0, false
		}
		if e.RetryAfter > 0 {
			wait = min(e.RetryAfter, c.backoffMax)
		}
	default:
		return 0, false
	}
	return wait, upstream.FitsDeadline(ctx, wait)
}

// transportError is a failure to get a whole answer: no connection, no
// response, or a body that broke off.
type transportError struct {
	method, path string
	err          error
	// reached is false when the request certainly never left (a failed
	// dial or DNS lookup).
	reached bool
}

func (e *transportError) Error() string {
	return fmt.Sprintf("otpgate: %s %s: %v", e.method, e.path, e.err)
}

func (e *transportError) Unwrap() error { return e.err }

func isTransport(err error) bool {
	_, ok := errors.AsType[*transportError](err)
	return ok
}

func transportReached(err error) bool {
	te, ok := errors.AsType[*transportError](err)
	return ok && te.reached
}
