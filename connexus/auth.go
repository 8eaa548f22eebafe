package connexus

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// defaultTokenTTL is assumed when auth/token does not say expires_in; both
// documents give 24 hours, and a token that dies earlier is replaced after
// its first 401 anyway.
const defaultTokenTTL = 24 * time.Hour

// errNoToken is returned by Token outside API-key mode.
var errNoToken = errors.New("connexus: only API-key auth has a token")

// tokenCache holds the bearer token of API-key mode. At most one fetch runs
// at a time; everyone who needs a token meanwhile waits for that fetch.
type tokenCache struct {
	mu        sync.Mutex
	token     string
	refreshAt time.Time
	inflight  *tokenFetch
}

// tokenFetch is one running exchange at auth/token; done is closed when
// token and err are set.
type tokenFetch struct {
	done  chan struct{}
	token string
	err   error
}

// TokenResponse is the answer of auth/token.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"` // seconds
}

// Token returns a bearer token for API-key mode: the cached one, or a fresh
// one when none is cached or the cached one is close to expiry. Concurrent
// callers share a single exchange at auth/token.
func (c *Client) Token(ctx context.Context) (string, error) {
	if c.mode != AuthAPIKey {
		return "", errNoToken
	}
	c.tokens.mu.Lock()
	if c.tokens.token != "" && c.now().Before(c.tokens.refreshAt) {
		t := c.tokens.token
		c.tokens.mu.Unlock()
		return t, nil
	}
	f := c.startFetchLocked(ctx)
	c.tokens.mu.Unlock()
	return f.wait(ctx)
}

// RefreshToken replaces the token stale, which the upstream refused with a
// 401. If the cached token is no longer stale (another caller refreshed it
// already), the cached one is returned and nothing is fetched, so N
// concurrent 401s cause one refresh.
func (c *Client) RefreshToken(ctx context.Context, stale string) (string, error) {
	if c.mode != AuthAPIKey {
		return "", errNoToken
	}
	c.tokens.mu.Lock()
	if t := c.tokens.token; t != "" && t != stale && c.now().Before(c.tokens.refreshAt) {
		c.tokens.mu.Unlock()
		return t, nil
	}
	if c.tokens.token == stale {
		c.tokens.token = ""
	}
	f := c.startFetchLocked(ctx)
	c.tokens.mu.Unlock()
	return f.wait(ctx)
}

// startFetchLocked joins the running fetch or starts one. The fetch runs
// detached from the caller's cancellation: a caller that gives up must not
// fail the others waiting on the same fetch.
func (c *Client) startFetchLocked(ctx context.Context) *tokenFetch {
	if c.tokens.inflight != nil {
		return c.tokens.inflight
	}
	f := &tokenFetch{done: make(chan struct{})}
	c.tokens.inflight = f
	go func() {
		tok, err := c.fetchToken(context.WithoutCancel(ctx))
		c.tokens.mu.Lock()
		c.tokens.inflight = nil
		if err == nil {
			ttl := time.Duration(tok.ExpiresIn) * time.Second
			if ttl <= 0 {
				ttl = defaultTokenTTL
			}
			// Refresh a little early so a call never leaves with a token
			// that expires on its way.
			c.tokens.token = tok.AccessToken
			c.tokens.refreshAt = c.now().Add(ttl - min(ttl/10, time.Minute))
			f.token = tok.AccessToken
		}
		f.err = err
		c.tokens.mu.Unlock()
		close(f.done)
	}()
	return f
}

func (f *tokenFetch) wait(ctx context.Context) (string, error) {
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (c *Client) fetchToken(ctx context.Context) (*TokenResponse, error) {
	var tok TokenResponse
	cl := &call{method: http.MethodPost, path: "auth/token", anonymous: true,
		form: url.Values{"client_id": {c.clientID}, "client_secret": {c.clientSecret}}}
	if _, err := c.do(ctx, cl, &tok); err != nil {
		return nil, err
	}
	if tok.AccessToken == "" {
		return nil, errors.New("connexus: POST auth/token: answer has no access_token")
	}
	return &tok, nil
}
