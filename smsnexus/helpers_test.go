package smsnexus_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/smsnexus"
	"github.com/otpgate/otpgate/smsnexus/smsnexustest"
)

// Values that must never reach an error's text.
const (
	secretToken = "snx_live_Zq8wKp3v"
	secretText  = "Your Acme code is 482913"
)

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

// fakeClient returns a client of a fresh fake that times out after 200ms
// and never spends a retry's wait.
func fakeClient(t *testing.T, opts ...smsnexustest.Option) (*smsnexus.Client, *smsnexustest.Server, *sleeper) {
	t.Helper()
	sl := &sleeper{}
	opts = append(opts, smsnexustest.WithClientOptions(
		smsnexus.WithTimeout(200*time.Millisecond), smsnexus.WithSleeper(sl.Sleep)))
	c, s := smsnexustest.NewClient(t, opts...)
	return c, s, sl
}

// rawClient returns a client of h with the secret token, a from number and
// a sleeper that never waits.
func rawClient(t *testing.T, h http.Handler, opts ...smsnexus.Option) *smsnexus.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	opts = append([]smsnexus.Option{
		smsnexus.WithBaseURL(srv.URL),
		smsnexus.WithToken(secretToken),
		smsnexus.WithFrom("+15551234567"),
		smsnexus.WithTimeout(time.Second),
		smsnexus.WithSleeper(func(context.Context, time.Duration) error { return nil }),
	}, opts...)
	c, err := smsnexus.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// answer writes status and body, with headers given as key, value pairs.
func answer(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func send(c *smsnexus.Client, to string) (*smsnexus.Message, error) {
	return c.Send(context.Background(), &smsnexus.SendRequest{To: to, Message: secretText})
}

// only returns the single request the fake received on path.
func only(t *testing.T, s *smsnexustest.Server, path string) smsnexustest.Request {
	t.Helper()
	var found []smsnexustest.Request
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
