// Package websmstest fits the websms sandbox to tests: NewClient starts a
// fake websms.com, returns a client wired to it and closes it when the test
// ends.
//
// The fake itself is package sandbox, which dev mode runs in the server
// binary; it must not import testing, so the testing.TB helpers live here.
// Every name below is sandbox's under the same name (types are aliases), so
// a test imports only this package.
package websmstest

import (
	"testing"
	"time"

	"github.com/otpgate/otpgate/websms"
	"github.com/otpgate/otpgate/websms/sandbox"
)

// The fake and what a test tells it or reads from it; see package sandbox.
type (
	Server  = sandbox.Server
	Option  = sandbox.Option
	Message = sandbox.Message
	Request = sandbox.Request
)

// Credentials and limits of the fake; see package sandbox.
const (
	DefaultAccessToken = sandbox.DefaultAccessToken
	DefaultUsername    = sandbox.DefaultUsername
	DefaultPassword    = sandbox.DefaultPassword
	DefaultMaxRecords  = sandbox.DefaultMaxRecords
	MaxSegments        = sandbox.MaxSegments
	TextPath           = sandbox.TextPath
)

// NewServer is sandbox.NewServer.
func NewServer(opts ...Option) *Server { return sandbox.NewServer(opts...) }

// WithAccessToken is sandbox.WithAccessToken.
func WithAccessToken(token string) Option { return sandbox.WithAccessToken(token) }

// WithBasicAuth is sandbox.WithBasicAuth.
func WithBasicAuth(username, password string) Option {
	return sandbox.WithBasicAuth(username, password)
}

// WithClock is sandbox.WithClock.
func WithClock(now func() time.Time) Option { return sandbox.WithClock(now) }

// OnMessage is sandbox.OnMessage.
func OnMessage(fn func(Message)) Option { return sandbox.OnMessage(fn) }

// WithMaxRecords is sandbox.WithMaxRecords.
func WithMaxRecords(n int) Option { return sandbox.WithMaxRecords(n) }

// WithClientOptions is sandbox.WithClientOptions: the options are added to
// the client NewClient builds.
func WithClientOptions(opts ...websms.Option) Option { return sandbox.WithClientOptions(opts...) }

// NewClient starts a fake, returns a client wired to it (the fake's access
// token, then the options given to WithClientOptions) and closes the fake
// when the test ends.
func NewClient(t testing.TB, opts ...Option) (*websms.Client, *Server) {
	t.Helper()
	s := sandbox.NewServer(opts...)
	t.Cleanup(s.Close)
	c, err := websms.NewClient(s.ClientOptions()...)
	if err != nil {
		t.Fatalf("websmstest: client: %v", err)
	}
	return c, s
}
