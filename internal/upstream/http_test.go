package upstream_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/upstream"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name string
		v    string
		want time.Duration
	}{
		{"seconds", "120", 2 * time.Minute},
		{"seconds with space", " 5 ", 5 * time.Second},
		{"zero", "0", 0},
		{"negative seconds", "-5", 0},
		{"date ahead", date(90 * time.Second), 90 * time.Second},
		{"date passed", date(-time.Hour), 0},
		{"date now", date(0), 0},
		{"empty", "", 0},
		{"garbage", "soon", 0},
		{"fraction", "1.5", 0},
		{"seconds past a Duration saturate", "9223372037", math.MaxInt64},
		{"seconds past an int64 are unreadable", "99999999999999999999", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := upstream.ParseRetryAfter(tc.v, now); got != tc.want {
				t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.v, got, tc.want)
			}
		})
	}
}

func TestRefuseRedirect(t *testing.T) {
	t.Parallel()
	var followed atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Store(true)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	hc := srv.Client()
	hc.CheckRedirect = upstream.RefuseRedirect
	resp, err := hc.Post(srv.URL+"/send", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusTemporaryRedirect; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	if followed.Load() {
		t.Error("the redirect was followed")
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"elapsed", t.Context(), 0, nil},
		{"cancelled before an hour", cancelled, time.Hour, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := upstream.Sleep(tc.ctx, tc.d); !errors.Is(got, tc.want) {
				t.Errorf("Sleep(%v) = %v, want %v", tc.d, got, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt  int
		low, top time.Duration
	}{
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{2, 200 * time.Millisecond, 400 * time.Millisecond},
		{3, 400 * time.Millisecond, 800 * time.Millisecond},
		{10, 500 * time.Millisecond, time.Second}, // capped at max
		{64, 500 * time.Millisecond, time.Second}, // no overflow
	} {
		for range 50 {
			if d := upstream.Backoff(200*time.Millisecond, time.Second, tc.attempt); d < tc.low || d > tc.top {
				t.Fatalf("Backoff(attempt %d) = %v, want %v to %v", tc.attempt, d, tc.low, tc.top)
			}
		}
	}
}

func TestFitsDeadline(t *testing.T) {
	if !upstream.FitsDeadline(context.Background(), time.Hour) {
		t.Error("a context without a deadline does not fit an hour")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if !upstream.FitsDeadline(ctx, time.Second) || upstream.FitsDeadline(ctx, 2*time.Minute) {
		t.Error("a minute's deadline: want a second to fit and two minutes not to")
	}
}

func TestBaseURL(t *testing.T) {
	for _, tc := range []struct {
		raw, want string // want "" for a refusal
	}{
		{"https://api.websms.com/rest", "https://api.websms.com/rest/"},
		{"http://127.0.0.1:8080/api/", "http://127.0.0.1:8080/api/"},
		{"api.websms.com/rest", ""},
		{"ftp://x/rest", ""},
		{"https://user:secret@x/rest", ""},
		{"https://x/rest?token=1", ""},
		{"https://x/rest?", ""},
		{"https://x/rest#top", ""},
		{"https://x/%zz", ""},
	} {
		u, err := upstream.BaseURL("pkg", tc.raw)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("BaseURL(%q) = %v, want a refusal", tc.raw, u)
		case tc.want != "" && (err != nil || u.String() != tc.want):
			t.Errorf("BaseURL(%q) = %v, %v; want %s", tc.raw, u, err, tc.want)
		case err != nil && (!strings.HasPrefix(err.Error(), "pkg: ") || strings.Contains(err.Error(), "secret")):
			t.Errorf("BaseURL(%q) error %q: want it prefixed and without the password", tc.raw, err)
		}
	}
}

func TestNoRedirects(t *testing.T) {
	orig := &http.Client{Timeout: time.Second}
	c := upstream.NoRedirects(orig)
	if orig.CheckRedirect != nil || c.CheckRedirect == nil || c.Timeout != time.Second {
		t.Fatalf("NoRedirects changed the original or lost its settings")
	}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { t.Error("the redirect was followed") }))
	defer target.Close()
	src := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer src.Close()
	resp, err := c.Post(src.URL, "text/plain", strings.NewReader("secret"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("status %d, want the 307 itself", resp.StatusCode)
	}
}
