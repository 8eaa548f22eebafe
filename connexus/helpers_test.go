package connexus_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/otptest"
)

// newClock is a settable time source shared by a client and the fake.
func newClock() *otptest.Clock {
	return otptest.NewClock(time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC))
}

// sleeper records the waits a client asks for instead of spending them.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeper) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

var styles = []struct {
	name  string
	style connexustest.Style
}{
	{"detailed", connexustest.StyleDetailed},
	{"reference", connexustest.StyleReference},
}

// passwordClient returns a client in password mode wired to a fresh fake.
func passwordClient(t *testing.T, opts ...connexustest.Option) (*connexus.Client, *connexustest.Server) {
	t.Helper()
	opts = append(opts, connexustest.WithClientOptions(
		connexus.WithPassword(connexustest.DefaultUserID, connexustest.DefaultPassword)))
	return connexustest.NewClient(t, opts...)
}

func mustOTP(t *testing.T, c *connexus.Client, req *connexus.OTPRequest) *connexus.OTPResponse {
	t.Helper()
	resp, err := c.SendOTP(context.Background(), req)
	if err != nil {
		t.Fatalf("SendOTP: %v", err)
	}
	return resp
}

// only returns the single request the fake received on path.
func only(t *testing.T, s *connexustest.Server, path string) connexustest.Request {
	t.Helper()
	var found []connexustest.Request
	for _, r := range s.Requests() {
		if r.Path == path {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s received %d requests, want 1", path, len(found))
	}
	return found[0]
}
