package connexus

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
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/internal/upstream"
)

// DefaultBaseURL is the production endpoint of the Connexus API.
const DefaultBaseURL = "https://websms.co.nz/api/connexus"

const (
	defaultTimeout     = 15 * time.Second
	defaultBackoffBase = 200 * time.Millisecond
	defaultBackoffMax  = 5 * time.Second
	// maxAttempts counts the first try: a call reaches the upstream at most 3 times.
	maxAttempts = 3
	// maxRetryAfter is the longest Retry-After the client waits out; a longer
	// one is returned to the caller, whose own request would time out anyway.
	maxRetryAfter = time.Minute
	// maxResponseBody bounds what is read of any answer.
	maxResponseBody = 8 << 20
)

// AuthMode is how the client authenticates to Connexus.
type AuthMode int

// The authentication modes. AuthAPIKey exchanges a client id and secret for
// a bearer token; AuthPassword sends the account's userId and password with
// every call; AuthGateway sends a fixed bearer key and no Connexus
// credentials, for calls that go through otpgate's admin proxy.
const (
	AuthAPIKey AuthMode = iota + 1
	AuthPassword
	AuthGateway
)

func (m AuthMode) String() string {
	switch m {
	case AuthAPIKey:
		return "api-key"
	case AuthPassword:
		return "password"
	case AuthGateway:
		return "gateway"
	}
	return "none"
}

// Client talks to the Connexus API. It is safe for concurrent use.
type Client struct {
	baseURL      *url.URL
	http         *http.Client
	mode         AuthMode
	clientID     string
	clientSecret string
	userID       string
	password     string
	gatewayKey   string
	from         string
	timeout      time.Duration
	now          func() time.Time
	sleep        func(context.Context, time.Duration) error
	backoffBase  time.Duration
	backoffMax   time.Duration

	// noSendRetries makes a send's first failure final, for callers that
	// retry elsewhere (a failover to another provider).
	noSendRetries bool

	tokens tokenCache
	// lookupByGET is set once the upstream answered a POST lookup with 405:
	// the developer reference documents GET, the detailed page POST.
	lookupByGET atomic.Bool
}

// Option configures a Client. Options validate their arguments and make
// NewClient fail on bad ones.
type Option func(*Client) error

// NewClient returns a client configured by opts. One of WithAPIKey,
// WithPassword or WithGateway is required; when several are given, the last
// one wins.
func NewClient(opts ...Option) (*Client, error) {
	base, _ := url.Parse(DefaultBaseURL + "/")
	c := &Client{
		baseURL:     base,
		http:        &http.Client{},
		timeout:     defaultTimeout,
		now:         time.Now,
		sleep:       upstream.Sleep,
		backoffBase: defaultBackoffBase,
		backoffMax:  defaultBackoffMax,
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	if c.mode == 0 {
		return nil, errors.New("connexus: no credentials: use WithAPIKey, WithPassword or WithGateway")
	}
	c.http = upstream.NoRedirects(c.http)
	return c, nil
}

// WithBaseURL sets the API root, e.g. "https://websms.co.nz/api/connexus".
func WithBaseURL(raw string) Option {
	return func(c *Client) error {
		u, err := upstream.BaseURL("connexus", raw)
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
			return errors.New("connexus: nil HTTP client")
		}
		c.http = hc
		return nil
	}
}

// WithAPIKey selects API-key authentication (token exchange at auth/token).
func WithAPIKey(clientID, clientSecret string) Option {
	return func(c *Client) error {
		if clientID == "" || clientSecret == "" {
			return errors.New("connexus: API key needs a client id and a client secret")
		}
		c.mode, c.clientID, c.clientSecret = AuthAPIKey, clientID, clientSecret
		c.userID, c.password, c.gatewayKey = "", "", ""
		return nil
	}
}

// WithPassword selects username/password authentication.
func WithPassword(userID, password string) Option {
	return func(c *Client) error {
		if userID == "" || password == "" {
			return errors.New("connexus: password auth needs a user id and a password")
		}
		c.mode, c.userID, c.password = AuthPassword, userID, password
		c.clientID, c.clientSecret, c.gatewayKey = "", "", ""
		return nil
	}
}

// WithGateway selects gateway authentication, for a client whose base URL
// is otpgate's admin proxy (WithBaseURL("https://otpgate.example/v1/connexus")):
// every call carries "Authorization: Bearer <adminKey>" and no Connexus
// credentials, and no token is ever exchanged, because the proxy adds the
// service's own credentials in whichever mode the service uses. A 401 is the
// gateway refusing the key and is returned as it is.
func WithGateway(adminKey string) Option {
	return func(c *Client) error {
		if strings.TrimSpace(adminKey) == "" {
			return errors.New("connexus: gateway auth needs a key")
		}
		c.mode, c.gatewayKey = AuthGateway, adminKey
		c.clientID, c.clientSecret, c.userID, c.password = "", "", "", ""
		return nil
	}
}

// WithFrom sets the default sender id of SendSMS, SendBulkSMS and SendOTP.
func WithFrom(senderID string) Option {
	return func(c *Client) error {
		if strings.TrimSpace(senderID) == "" {
			return errors.New("connexus: empty sender id")
		}
		c.from = senderID
		return nil
	}
}

// WithTimeout bounds each HTTP attempt (default 15s).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return fmt.Errorf("connexus: timeout %v must be positive", d)
		}
		c.timeout = d
		return nil
	}
}

// WithClock sets the clock that decides when a cached token is due for refresh.
func WithClock(now func() time.Time) Option {
	return func(c *Client) error {
		if now == nil {
			return errors.New("connexus: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithBackoff sets the retry backoff: the wait before retry n is drawn from
// [d/2, d] with d = min(max, base·2ⁿ⁻¹). Defaults: 200ms, 5s.
func WithBackoff(base, max time.Duration) Option {
	return func(c *Client) error {
		if base <= 0 || max < base {
			return fmt.Errorf("connexus: backoff needs 0 < base (%v) <= max (%v)", base, max)
		}
		c.backoffBase, c.backoffMax = base, max
		return nil
	}
}

// WithSleeper replaces the function that waits between retries, so tests
// can observe the waits (Retry-After, backoff) without spending them.
func WithSleeper(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) error {
		if sleep == nil {
			return errors.New("connexus: nil sleeper")
		}
		c.sleep = sleep
		return nil
	}
}

// WithoutSendRetries makes SendSMS, SendBulkSMS and SendOTP return their
// first failure instead of retrying one that certainly did not reach the
// upstream (a failed dial, a 429): for a caller with another provider to
// try, which is quicker than a backoff or a Retry-After.
func WithoutSendRetries() Option {
	return func(c *Client) error {
		c.noSendRetries = true
		return nil
	}
}

// BaseURL returns a copy of the API root; its path ends in "/".
func (c *Client) BaseURL() *url.URL {
	u := *c.baseURL
	return &u
}

// AuthMode returns how the client authenticates.
func (c *Client) AuthMode() AuthMode { return c.mode }

// PasswordCredentials returns the userId and password of AuthPassword mode,
// and empty strings in the other modes.
func (c *Client) PasswordCredentials() (userID, password string) { return c.userID, c.password }

// HTTPClient returns the HTTP client the Client uses; it follows no redirects.
func (c *Client) HTTPClient() *http.Client { return c.http }

// call describes one endpoint invocation.
type call struct {
	method string
	path   string     // relative to the base URL
	form   url.Values // POST form body, or the query of a GET
	json   map[string]any
	// basic makes password mode authenticate with HTTP Basic instead of
	// body fields, as the docs do for configure (and as GETs must, to keep
	// the password out of URLs).
	basic bool
	// send marks sms/out and sms/otp: they are retried only when the request
	// certainly did not reach the upstream, so no SMS goes out twice.
	send bool
	// anonymous marks auth/token, which carries its own credentials.
	anonymous bool
}

// do runs cl with auth, retries and one token refresh after a 401, decodes a
// JSON answer into out (when out is non-nil and there is a body) and returns
// the final HTTP status.
func (c *Client) do(ctx context.Context, cl *call, out any) (int, error) {
	refreshed := false
	for attempt := 1; ; attempt++ {
		token := ""
		if c.mode == AuthAPIKey && !cl.anonymous {
			var err error
			if token, err = c.Token(ctx); err != nil {
				return 0, err
			}
		}
		status, err := c.attempt(ctx, cl, token, out)
		if err == nil {
			return status, nil
		}
		if token != "" && !refreshed && IsUnauthorized(err) {
			// The token may have been revoked or expired early; a 401 means
			// nothing was sent, so one retry with a fresh token is safe.
			refreshed = true
			if _, err := c.RefreshToken(ctx, token); err != nil {
				return 0, err
			}
			attempt--
			continue
		}
		wait, ok := c.retryWait(ctx, cl, attempt, err)
		if !ok {
			return status, err
		}
		if c.sleep(ctx, wait) != nil {
			return status, err
		}
	}
}

func (c *Client) attempt(ctx context.Context, cl *call, token string, out any) (int, error) {
	if err := ctx.Err(); err != nil {
		// Nothing was written yet, so this says for certain that nothing was sent.
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var trace upstream.Trace
	req, err := c.newRequest(httptrace.WithClientTrace(ctx, trace.Hooks()), cl, token)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its URL adds nothing and could one day carry a query
		}
		return 0, sendUncertain(cl, trace.Reached(err), &transportError{method: cl.method, path: cl.path, err: err})
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil && ok {
		return resp.StatusCode, sendUncertain(cl, true, &transportError{method: cl.method, path: cl.path, err: err})
	}
	if !ok {
		// A refusal stays a refusal even if its body broke off, but a 5xx
		// answer to a send is one only in the documented error shape: any
		// other (a proxy's error page, say) may come after the SMS went out.
		apiErr := c.apiError(cl, resp, body)
		if resp.StatusCode >= 500 && !documentedError(body) {
			return resp.StatusCode, sendUncertain(cl, true, apiErr)
		}
		return resp.StatusCode, apiErr
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return resp.StatusCode, nil
	}
	var env struct {
		Success *bool  `json:"success"`
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	// A body that is not JSON on a 2xx is only an error if the caller needs it.
	if json.Unmarshal(body, &env) == nil && env.Success != nil && !*env.Success {
		return resp.StatusCode, &Error{Method: cl.method, Path: cl.path, StatusCode: resp.StatusCode,
			Code: upstreamText(env.Error), Message: upstreamText(env.Message)}
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return resp.StatusCode, sendUncertain(cl, true, fmt.Errorf("connexus: %s %s: decode answer: %w", cl.method, cl.path, err))
		}
	}
	return resp.StatusCode, nil
}

// sendUncertain marks err as MaybeDelivered when cl is a send that reached
// the upstream; errors of other calls, and of sends that never left, pass
// unchanged.
func sendUncertain(cl *call, reached bool, err error) error {
	if cl.send && reached {
		return &maybeDeliveredError{err: err}
	}
	return err
}

func (c *Client) newRequest(ctx context.Context, cl *call, token string) (*http.Request, error) {
	u := c.baseURL.JoinPath(cl.path)
	password := c.mode == AuthPassword && !cl.anonymous
	basic := password && (cl.basic || cl.method == http.MethodGet)
	var body io.Reader
	contentType := ""
	switch {
	case cl.method == http.MethodGet:
		u.RawQuery = cl.form.Encode()
	case cl.json != nil:
		obj := cl.json
		if password && !basic {
			obj = make(map[string]any, len(cl.json)+2)
			for k, v := range cl.json {
				obj[k] = v
			}
			obj["userId"], obj["password"] = c.userID, c.password
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("connexus: %s %s: encode body: %w", cl.method, cl.path, err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	default:
		form := url.Values{}
		for k, v := range cl.form {
			form[k] = v
		}
		if password && !basic {
			form.Set("userId", c.userID)
			form.Set("password", c.password)
		}
		body, contentType = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("connexus: %s %s: %w", cl.method, cl.path, err)
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	switch {
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	case c.mode == AuthGateway:
		req.Header.Set("Authorization", "Bearer "+c.gatewayKey)
	case basic:
		req.SetBasicAuth(c.userID, c.password)
	}
	return req, nil
}

// apiError turns a non-2xx answer into an *Error. Both documents' error
// shapes are read: {"error","message"}, {"error","error_description"} and
// {"error","error_code"}, and otpgate's {"error":{"code","message"}}.
func (c *Client) apiError(cl *call, resp *http.Response, body []byte) *Error {
	e := &Error{Method: cl.method, Path: cl.path, StatusCode: resp.StatusCode}
	var w struct {
		Error       json.RawMessage `json:"error"`
		Message     string          `json:"message"`
		Description string          `json:"error_description"`
	}
	if json.Unmarshal(body, &w) == nil {
		var code string
		var gateway struct{ Code, Message string }
		switch {
		case json.Unmarshal(w.Error, &code) == nil:
		case json.Unmarshal(w.Error, &gateway) == nil:
			// otpgate's own refusals, in AuthGateway mode: {"error":{"code","message"}}.
			code, w.Message = gateway.Code, gateway.Message
		}
		e.Code = upstreamText(code)
		e.Message = upstreamText(w.Message)
		if e.Message == "" {
			e.Message = upstreamText(w.Description)
		}
	}
	if e.Code == "" && e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		e.RetryAfter = upstream.ParseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	return e
}

// documentedError reports whether body is the error shape both documents
// give, {"success": false, ...}: the upstream itself answered, and says the
// request failed.
func documentedError(body []byte) bool {
	var env struct {
		Success *bool `json:"success"`
	}
	return json.Unmarshal(body, &env) == nil && env.Success != nil && !*env.Success
}

// retryWait decides whether attempt, which failed with err, is tried again
// and after how long.
func (c *Client) retryWait(ctx context.Context, cl *call, attempt int, err error) (time.Duration, bool) {
	if attempt >= maxAttempts || ctx.Err() != nil || MaybeDelivered(err) || (cl.send && c.noSendRetries) {
		return 0, false
	}
	var apiErr *Error
	var netErr *transportError
	switch {
	case errors.As(err, &apiErr):
		if apiErr.StatusCode == http.StatusTooManyRequests {
			if apiErr.RetryAfter > maxRetryAfter {
				return 0, false
			}
			if apiErr.RetryAfter > 0 {
				return apiErr.RetryAfter, upstream.FitsDeadline(ctx, apiErr.RetryAfter)
			}
			break
		}
		// A 5xx may come after the upstream already sent the SMS.
		if apiErr.StatusCode < 500 || cl.send {
			return 0, false
		}
	case errors.As(err, &netErr):
		// Reads are idempotent; a send's transport error lands here only
		// when it certainly never reached the upstream.
	default:
		return 0, false
	}
	wait := upstream.Backoff(c.backoffBase, c.backoffMax, attempt)
	return wait, upstream.FitsDeadline(ctx, wait)
}
