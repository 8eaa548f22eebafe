package smsnexus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/upstream"
)

// DefaultBaseURL is the production endpoint of the SMS Nexus API.
const DefaultBaseURL = "https://www.smsnexus.net/api"

const (
	defaultTimeout     = 15 * time.Second
	defaultBackoffBase = 200 * time.Millisecond
	defaultBackoffMax  = 2 * time.Second
	// maxAttempts counts the first try: a read reaches the upstream at most 3 times.
	maxAttempts = 3
	// maxRetryWait is the longest 429 wait a read sits out; a longer one
	// is returned to the caller.
	maxRetryWait = 10 * time.Second
	// maxResponseBody bounds what is read of any answer.
	maxResponseBody = 1 << 20
)

// Client talks to the SMS Nexus API. It is safe for concurrent use.
type Client struct {
	baseURL          *url.URL
	http             *http.Client
	token            string
	from             string
	timeout          time.Duration
	now              func() time.Time
	sleep            func(context.Context, time.Duration) error
	backoffBase      time.Duration
	backoffMax       time.Duration
	insecureWebhooks bool
}

// NewClient returns a client configured by opts; WithToken is required.
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
	if c.token == "" {
		return nil, errors.New("smsnexus: no token: use WithToken")
	}
	c.http = upstream.NoRedirects(c.http)
	return c, nil
}

// call describes one endpoint invocation.
type call struct {
	method string
	path   string     // relative to the base URL
	query  url.Values // of a GET
	body   any        // sent as JSON when non-nil
	// secrets are request values that must not reach an error's text even
	// if the upstream echoes them (the message text).
	secrets []string
}

// do runs cl, retrying a GET on transport errors, 5xx and 429, and returns
// the body of a 2xx answer.
func (c *Client) do(ctx context.Context, cl *call) ([]byte, error) {
	for attempt := 1; ; attempt++ {
		body, err := c.attempt(ctx, cl)
		if err == nil {
			return body, nil
		}
		wait, ok := c.retryWait(ctx, cl, attempt, err)
		if !ok || c.sleep(ctx, wait) != nil {
			return nil, err
		}
	}
}

func (c *Client) attempt(ctx context.Context, cl *call) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		// Nothing was written yet, so this says for certain that nothing was sent.
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var trace upstream.Trace
	req, err := c.newRequest(httptrace.WithClientTrace(ctx, trace.Hooks()), cl)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			err = uerr.Err // its URL adds nothing
		}
		return nil, c.uncertain(cl, trace.Reached(err), &transportError{method: cl.method, path: cl.path, err: err})
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A refusal stays a refusal even if its body broke off; a 5xx
		// whose body broke off is not the documented error JSON.
		apiErr := c.apiError(cl, resp, body)
		return nil, c.uncertain(cl, resp.StatusCode >= 500 && !documentedError(body), apiErr)
	}
	if err != nil {
		return nil, c.uncertain(cl, true, &transportError{method: cl.method, path: cl.path, err: err})
	}
	return body, nil
}

// uncertain marks err as MaybeDelivered when cl is a send that may have
// been acted on; other errors pass unchanged.
func (c *Client) uncertain(cl *call, maybe bool, err error) error {
	if cl.path == pathSend && maybe {
		return &maybeDeliveredError{err: err}
	}
	return err
}

// documentedError reports whether body is SMS Nexus's error JSON,
// {"success":false,"message":"…"}: an answer the API wrote itself,
// whose 5xx means the send failed, unlike a proxy's or a crash's page.
func documentedError(body []byte) bool {
	o, ok := parseObject(body)
	if !ok {
		return false
	}
	success, ok := o.truth("success")
	return ok && !success && strings.TrimSpace(o.str("message")) != ""
}

func (c *Client) newRequest(ctx context.Context, cl *call) (*http.Request, error) {
	u := c.baseURL.JoinPath(cl.path)
	u.RawQuery = cl.query.Encode()
	var body io.Reader
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return nil, fmt.Errorf("smsnexus: %s %s: encode body: %w", cl.method, cl.path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("smsnexus: %s %s: %w", cl.method, cl.path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	return req, nil
}

// apiError turns a non-2xx answer into an *Error.
func (c *Client) apiError(cl *call, resp *http.Response, body []byte) *Error {
	e := &Error{Method: cl.method, Path: cl.path, StatusCode: resp.StatusCode}
	secrets := append([]string{c.token}, cl.secrets...)
	if o, ok := parseObject(body); ok {
		e.Message = upstreamText(o.str("message"), secrets...)
		e.Fields = fields(o, secrets)
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		e.RetryAfter = retryAfter(resp.Header, c.now())
	}
	return e
}

// fields reads the "errors" object of a validation failure, bounded.
func fields(o object, secrets []string) map[string][]string {
	errs, ok := o.obj("errors")
	if !ok || len(errs) == 0 {
		return nil
	}
	// Sorted, with "to" first, so the fields kept of a long list are
	// always the same and IsInvalidRecipient sees "to" whenever it came.
	keys := slices.SortedFunc(maps.Keys(errs), func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "to":
			return -1
		case b == "to":
			return 1
		}
		return strings.Compare(a, b)
	})
	out := map[string][]string{}
	for _, k := range keys[:min(len(keys), maxFields)] {
		var msgs []string
		for _, m := range errs.strs(k) {
			if len(msgs) == maxFieldMessages {
				break
			}
			msgs = append(msgs, upstreamText(m, secrets...))
		}
		out[upstreamText(k, secrets...)] = msgs
	}
	return out
}

// retryWait decides whether attempt, which failed with err, is tried again
// and after how long. Only GETs are: a send is never retried (otp's
// failover to another sender is the retry), and a webhook POST or DELETE
// repeated after a lost answer would not do the same thing twice.
func (c *Client) retryWait(ctx context.Context, cl *call, attempt int, err error) (time.Duration, bool) {
	if cl.method != http.MethodGet || attempt >= maxAttempts || ctx.Err() != nil {
		return 0, false
	}
	if apiErr, ok := errors.AsType[*Error](err); ok {
		switch {
		case apiErr.StatusCode == http.StatusTooManyRequests && apiErr.RetryAfter > maxRetryWait:
			return 0, false
		case apiErr.StatusCode == http.StatusTooManyRequests && apiErr.RetryAfter > 0:
			return apiErr.RetryAfter, upstream.FitsDeadline(ctx, apiErr.RetryAfter)
		case apiErr.StatusCode != http.StatusTooManyRequests && apiErr.StatusCode < 500:
			return 0, false
		}
	} else if _, ok := errors.AsType[*transportError](err); !ok {
		return 0, false
	}
	wait := upstream.Backoff(c.backoffBase, c.backoffMax, attempt)
	return wait, upstream.FitsDeadline(ctx, wait)
}
