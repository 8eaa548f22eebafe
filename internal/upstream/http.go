package upstream

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// RefuseRedirect is an http.Client CheckRedirect that makes a redirect the
// answer instead of following it: following one would send the
// credentials, and a 307 or 308 the message as well, to whatever host the
// Location names, and no provider has a reason to redirect an API call.
func RefuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// ParseRetryAfter reads a Retry-After value, in seconds or as an HTTP date
// against now, as a wait. It is zero when v is empty, unreadable or in the
// past, and saturates instead of overflowing; callers apply their own cap.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs > int64(math.MaxInt64/time.Second) {
			return math.MaxInt64
		}
		return max(time.Duration(secs)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// Sleep waits d, or until ctx is done, whose error it then returns.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Backoff is the wait before retry attempt+1 after attempt failed: drawn
// from [d/2, d] with d = min(max, base·2^(attempt-1)), so clients that
// fail together do not retry together.
func Backoff(base, max time.Duration, attempt int) time.Duration {
	d := max
	if shift := attempt - 1; shift >= 0 && shift < 30 && base<<shift < d {
		d = base << shift
	}
	return d/2 + rand.N(d/2+1)
}

// FitsDeadline reports whether waiting d still leaves ctx alive, so a retry
// that cannot finish is not waited for.
func FitsDeadline(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d
}

// BaseURL parses a client's API root for package pkg: an absolute http(s)
// URL without credentials, query or fragment (which would end up in logs),
// its path ending in "/". Errors never quote raw or its parse error, since
// both may hold a password.
func BaseURL(pkg, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: base URL does not parse", pkg)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: base URL %q is not an absolute http(s) URL", pkg, u.Redacted())
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("%s: base URL must not carry credentials, a query or a fragment", pkg)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}

// NoRedirects returns a copy of hc that follows no redirect, so the
// caller's client keeps its own policy. A followed 307 or 308 would send
// the body again (a message, a secret) to whatever host the Location
// names, and a provider has no reason to redirect an API call.
func NoRedirects(hc *http.Client) *http.Client {
	c := *hc
	c.CheckRedirect = RefuseRedirect
	return &c
}
