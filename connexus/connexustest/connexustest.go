// Package connexustest fits the Connexus sandbox to tests: NewClient starts
// a fake Connexus, returns a client wired to it and closes it when the test
// ends.
//
// The fake itself is package sandbox, which dev mode runs in the server
// binary; it must not import testing, so the testing.TB helpers live here.
// Every name below is sandbox's under the same name (types are aliases), so
// a test imports only this package.
package connexustest

import (
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/sandbox"
)

// The fake and what a test tells it or reads from it; see package sandbox.
type (
	Server     = sandbox.Server
	Option     = sandbox.Option
	Message    = sandbox.Message
	Request    = sandbox.Request
	Style      = sandbox.Style
	NumberType = sandbox.NumberType
	NumberInfo = sandbox.NumberInfo
)

// Credentials and defaults of the fake; see package sandbox.
const (
	DefaultClientID     = sandbox.DefaultClientID
	DefaultClientSecret = sandbox.DefaultClientSecret
	DefaultUserID       = sandbox.DefaultUserID
	DefaultPassword     = sandbox.DefaultPassword
	DefaultTokenTTL     = sandbox.DefaultTokenTTL
	DefaultSender       = sandbox.DefaultSender
	DefaultMaxRecords   = sandbox.DefaultMaxRecords
)

// Documents the fake can follow; see sandbox.Style.
const (
	StyleDetailed  = sandbox.StyleDetailed
	StyleReference = sandbox.StyleReference
)

// Kinds of number for Server.SetNumber; see sandbox.NumberType.
const (
	NumberMobile   = sandbox.NumberMobile
	NumberLandline = sandbox.NumberLandline
	NumberUnknown  = sandbox.NumberUnknown
)

// ErrNoWebhook is sandbox.ErrNoWebhook.
var ErrNoWebhook = sandbox.ErrNoWebhook

// NewServer is sandbox.NewServer.
func NewServer(opts ...Option) *Server { return sandbox.NewServer(opts...) }

// WithStyle is sandbox.WithStyle.
func WithStyle(st Style) Option { return sandbox.WithStyle(st) }

// WithAPIKey is sandbox.WithAPIKey.
func WithAPIKey(clientID, clientSecret string) Option {
	return sandbox.WithAPIKey(clientID, clientSecret)
}

// WithPassword is sandbox.WithPassword.
func WithPassword(userID, password string) Option { return sandbox.WithPassword(userID, password) }

// WithClock is sandbox.WithClock.
func WithClock(now func() time.Time) Option { return sandbox.WithClock(now) }

// WithTokenTTL is sandbox.WithTokenTTL.
func WithTokenTTL(d time.Duration) Option { return sandbox.WithTokenTTL(d) }

// WithMaxRecords is sandbox.WithMaxRecords.
func WithMaxRecords(n int) Option { return sandbox.WithMaxRecords(n) }

// OnMessage is sandbox.OnMessage.
func OnMessage(fn func(Message)) Option { return sandbox.OnMessage(fn) }

// WithClientOptions is sandbox.WithClientOptions: the options are added to
// the client NewClient builds.
func WithClientOptions(opts ...connexus.Option) Option { return sandbox.WithClientOptions(opts...) }

// NewClient starts a fake, returns a client wired to it (API-key mode with
// the fake's credentials, millisecond backoff, then the options given to
// WithClientOptions) and closes the fake when the test ends.
func NewClient(t testing.TB, opts ...Option) (*connexus.Client, *Server) {
	t.Helper()
	s := sandbox.NewServer(opts...)
	t.Cleanup(s.Close)
	copts := append([]connexus.Option{connexus.WithBackoff(time.Millisecond, 5*time.Millisecond)}, s.ClientOptions()...)
	c, err := connexus.NewClient(copts...)
	if err != nil {
		t.Fatalf("connexustest: client: %v", err)
	}
	return c, s
}
