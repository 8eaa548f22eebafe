// Package smsnexustest fits the SMS Nexus sandbox to tests: NewClient
// starts a fake SMS Nexus, returns a client wired to it and closes it when
// the test ends.
//
// The fake itself is package sandbox, which dev mode runs in the server
// binary; it must not import testing, so the testing.TB helpers live here.
// Every name below is sandbox's under the same name (types are aliases), so
// a test imports only this package.
package smsnexustest

import (
	"testing"
	"time"

	"github.com/otpgate/otpgate/smsnexus"
	"github.com/otpgate/otpgate/smsnexus/sandbox"
)

// The fake and what a test tells it or reads from it; see package sandbox.
type (
	Server  = sandbox.Server
	Option  = sandbox.Option
	Message = sandbox.Message
	Request = sandbox.Request
)

// Defaults of the fake; see package sandbox.
const (
	DefaultToken      = sandbox.DefaultToken
	DefaultFrom       = sandbox.DefaultFrom
	DefaultCredits    = sandbox.DefaultCredits
	DefaultMaxRecords = sandbox.DefaultMaxRecords
	SendLimit         = sandbox.SendLimit
	ReadLimit         = sandbox.ReadLimit
)

// ErrNoWebhook is sandbox.ErrNoWebhook.
var ErrNoWebhook = sandbox.ErrNoWebhook

// NewServer is sandbox.NewServer.
func NewServer(opts ...Option) *Server { return sandbox.NewServer(opts...) }

// WithToken is sandbox.WithToken.
func WithToken(tok string) Option { return sandbox.WithToken(tok) }

// WithNumbers is sandbox.WithNumbers.
func WithNumbers(numbers ...string) Option { return sandbox.WithNumbers(numbers...) }

// WithCredits is sandbox.WithCredits.
func WithCredits(n int) Option { return sandbox.WithCredits(n) }

// WithClock is sandbox.WithClock.
func WithClock(now func() time.Time) Option { return sandbox.WithClock(now) }

// OnMessage is sandbox.OnMessage.
func OnMessage(fn func(Message)) Option { return sandbox.OnMessage(fn) }

// WithMaxRecords is sandbox.WithMaxRecords.
func WithMaxRecords(n int) Option { return sandbox.WithMaxRecords(n) }

// AllowInsecureWebhooks is sandbox.AllowInsecureWebhooks.
func AllowInsecureWebhooks() Option { return sandbox.AllowInsecureWebhooks() }

// EnforceRateLimits is sandbox.EnforceRateLimits.
func EnforceRateLimits() Option { return sandbox.EnforceRateLimits() }

// WithClientOptions is sandbox.WithClientOptions: the options are added to
// the client NewClient builds.
func WithClientOptions(opts ...smsnexus.Option) Option { return sandbox.WithClientOptions(opts...) }

// NewClient starts a fake, returns a client wired to it (the fake's base
// URL, token and number, millisecond backoff, then the options given to
// WithClientOptions) and closes the fake when the test ends.
func NewClient(t testing.TB, opts ...Option) (*smsnexus.Client, *Server) {
	t.Helper()
	s := sandbox.NewServer(opts...)
	t.Cleanup(s.Close)
	copts := append([]smsnexus.Option{smsnexus.WithBackoff(time.Millisecond, 5*time.Millisecond)}, s.ClientOptions()...)
	c, err := smsnexus.NewClient(copts...)
	if err != nil {
		t.Fatalf("smsnexustest: client: %v", err)
	}
	return c, s
}
