package smsnexus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/otpgate/otpgate/internal/upstream"
)

// Option configures a Client. Options validate their arguments and make
// NewClient fail on bad ones.
type Option func(*Client) error

// WithBaseURL sets the API root, e.g. "https://www.smsnexus.net/api".
func WithBaseURL(raw string) Option {
	return func(c *Client) error {
		u, err := upstream.BaseURL("smsnexus", raw)
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
			return errors.New("smsnexus: nil HTTP client")
		}
		c.http = hc
		return nil
	}
}

// WithToken sets the API token, sent as "Authorization: Bearer <tok>".
func WithToken(tok string) Option {
	return func(c *Client) error {
		if tok == "" {
			return errors.New("smsnexus: empty token")
		}
		for i := 0; i < len(tok); i++ {
			if tok[i] <= ' ' || tok[i] >= 0x7f {
				// The token itself is not quoted: it is a secret.
				return errors.New("smsnexus: token holds a space, a control or a non-ASCII character")
			}
		}
		c.token = tok
		return nil
	}
}

// WithFrom sets the account's own number that Send uses when a request
// names none: "+6421…" or the same digits without '+'.
func WithFrom(number string) Option {
	return func(c *Client) error {
		n, ok := normalizeNumber(number)
		if !ok {
			return errors.New("smsnexus: from is not an E.164 number (+ and 7–15 digits)")
		}
		c.from = n
		return nil
	}
}

// WithTimeout bounds each HTTP attempt (default 15s).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return fmt.Errorf("smsnexus: timeout %v must be positive", d)
		}
		c.timeout = d
		return nil
	}
}

// WithClock sets the clock that turns a 429's X-RateLimit-Reset into a wait.
func WithClock(now func() time.Time) Option {
	return func(c *Client) error {
		if now == nil {
			return errors.New("smsnexus: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithBackoff sets the backoff between read retries: the wait before retry
// n is drawn from [d/2, d] with d = min(max, base·2ⁿ⁻¹). Defaults: 200ms, 2s.
func WithBackoff(base, max time.Duration) Option {
	return func(c *Client) error {
		if base <= 0 || max < base {
			return fmt.Errorf("smsnexus: backoff needs 0 < base (%v) <= max (%v)", base, max)
		}
		c.backoffBase, c.backoffMax = base, max
		return nil
	}
}

// WithSleeper replaces the function that waits between read retries, so
// tests can observe the waits without spending them.
func WithSleeper(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) error {
		if sleep == nil {
			return errors.New("smsnexus: nil sleeper")
		}
		c.sleep = sleep
		return nil
	}
}

// WithInsecureWebhooks lets CreateWebhook register http:// URLs on a
// loopback host, for tests and dev mode against the sandbox. SMS Nexus
// itself requires https.
func WithInsecureWebhooks() Option {
	return func(c *Client) error {
		c.insecureWebhooks = true
		return nil
	}
}
