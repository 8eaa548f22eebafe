package websms

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/otpgate/otpgate/internal/upstream"
)

// DefaultBaseURL is the production root of the websms.com REST API.
const DefaultBaseURL = "https://api.websms.com/rest"

const (
	defaultTimeout = 15 * time.Second
	// maxResponseBody bounds what is read of an answer; websms answers
	// with a few hundred bytes.
	maxResponseBody = 1 << 20
)

// Client talks to the websms.com REST API. It is safe for concurrent use.
type Client struct {
	baseURL  *url.URL
	http     *http.Client
	token    string
	username string
	password string
	sender   string
	timeout  time.Duration
	now      func() time.Time
}

// Option configures a Client. Options validate their arguments and make
// NewClient fail on bad ones.
type Option func(*Client) error

// NewClient returns a client configured by opts. One of WithAccessToken or
// WithBasicAuth is required; when both are given, the last one wins.
func NewClient(opts ...Option) (*Client, error) {
	base, _ := url.Parse(DefaultBaseURL + "/")
	c := &Client{baseURL: base, http: &http.Client{}, timeout: defaultTimeout, now: time.Now}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	if c.token == "" && c.username == "" {
		return nil, errors.New("websms: no credentials: use WithAccessToken or WithBasicAuth")
	}
	c.http = upstream.NoRedirects(c.http)
	return c, nil
}

// WithBaseURL sets the API root, e.g. "https://api.websms.com/rest".
func WithBaseURL(raw string) Option {
	return func(c *Client) error {
		u, err := upstream.BaseURL("websms", raw)
		if err != nil {
			return err
		}
		c.baseURL = u
		return nil
	}
}

// WithHTTPClient sets the HTTP client used for every call. The Client uses
// a copy that follows no redirects.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("websms: nil HTTP client")
		}
		c.http = hc
		return nil
	}
}

// WithAccessToken authenticates with an access token, sent as a Bearer
// Authorization header (never as the access_token query parameter, which
// would put it in URLs and logs).
func WithAccessToken(token string) Option {
	return func(c *Client) error {
		if token == "" || strings.ContainsFunc(token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return errors.New("websms: access token is empty or holds spaces or control characters")
		}
		c.token, c.username, c.password = token, "", ""
		return nil
	}
}

// WithBasicAuth authenticates with the account's username and password
// (HTTP Basic).
func WithBasicAuth(username, password string) Option {
	return func(c *Client) error {
		if username == "" || password == "" {
			return errors.New("websms: basic auth needs a username and a password")
		}
		if strings.Contains(username, ":") {
			return errors.New("websms: a basic auth username cannot contain ':'")
		}
		c.username, c.password, c.token = username, password, ""
		return nil
	}
}

// WithSender sets the default senderAddress (alphanumeric or a number); a
// TextRequest may name another. Without one websms uses the account's.
func WithSender(senderAddress string) Option {
	return func(c *Client) error {
		if strings.TrimSpace(senderAddress) == "" {
			return errors.New("websms: empty sender address")
		}
		c.sender = senderAddress
		return nil
	}
}

// WithTimeout bounds each call (default 15s). There is one attempt per
// call: a send is never retried.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return fmt.Errorf("websms: timeout %v must be positive", d)
		}
		c.timeout = d
		return nil
	}
}

// WithClock sets the clock that turns a Retry-After date into a wait.
func WithClock(now func() time.Time) Option {
	return func(c *Client) error {
		if now == nil {
			return errors.New("websms: nil clock")
		}
		c.now = now
		return nil
	}
}

// answer is what came back of one exchange.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// post sends body to path once. Its error is a failure to get a whole
// answer, marked MaybeDelivered when the request may have reached websms.
func (c *Client) post(ctx context.Context, path string, body []byte) (*answer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("websms: send: %w; nothing was sent", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var trace upstream.Trace
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace.Hooks()),
		http.MethodPost, c.baseURL.JoinPath(path).String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("websms: send: %w", err)
	}
	// No Idempotency-Key header: with one net/http would replay the POST on
	// a broken keep-alive connection, and websms could send twice.
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	} else {
		req.SetBasicAuth(c.username, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			err = uerr.Err // its URL adds nothing
		}
		if trace.Reached(err) {
			return nil, &maybeDeliveredError{err: &transportError{err: err}}
		}
		return nil, &transportError{err: err}
	}
	defer resp.Body.Close()
	a := &answer{status: resp.StatusCode, header: resp.Header}
	a.body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil && (success(resp.StatusCode) || resp.StatusCode >= 500) {
		// The answer that would have said what became of the message broke off.
		return nil, &maybeDeliveredError{err: &transportError{err: err}}
	}
	// A 4xx refusal stays a refusal even if its body broke off.
	return a, nil
}

func success(httpStatus int) bool { return httpStatus >= 200 && httpStatus <= 299 }

// maxRetryAfter caps the wait read from Retry-After, so an absurd value
// does not bench a sender for days.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads Retry-After in seconds or as an HTTP date, capped;
// zero when it is absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	return min(upstream.ParseRetryAfter(v, now), maxRetryAfter)
}
