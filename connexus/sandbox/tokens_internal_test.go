package sandbox

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Expired tokens are forgotten when the next one is issued, so a client
// that exchanges its key every day does not grow the fake for ever.
func TestExpiredTokensAreDropped(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewServer(WithClock(func() time.Time { return now }), WithTokenTTL(time.Hour))
	defer s.Close()
	exchange := func() {
		t.Helper()
		form := url.Values{"client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}
		r := httptest.NewRequest(http.MethodPost, basePath+"auth/token", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("auth/token: HTTP %d %s", w.Code, w.Body)
		}
	}
	for range 3 {
		exchange()
		now = now.Add(30 * time.Minute)
	}
	// Issued at 0:00, 0:30 and 1:00; the first expired at 1:00.
	if got := len(s.tokens); got != 2 {
		t.Fatalf("%d tokens kept, want 2 (the one expired at 1:00 dropped)", got)
	}
	if got := s.TokensIssued(); got != 3 {
		t.Fatalf("TokensIssued = %d, want 3", got)
	}
}
