package factor

import (
	"context"
	"errors"
	"time"
)

// Config holds the rules of TOTP checks.
type Config struct {
	// Issuer is shown in the authenticator app (TOTP_ISSUER).
	Issuer string
	// Skew is the time steps accepted either side of now, 0 to 2.
	Skew int
	// MaxAttempts is the refused codes per identity in AttemptWindow.
	MaxAttempts int
}

// Option changes how NewService builds a Service.
type Option func(*Service)

// WithClock makes the Service read time from now.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithEvents makes the Service hand the store the events of CONTRACT §11.
func WithEvents() Option { return func(s *Service) { s.events = true } }

// WithObserver reports each refused or accepted code by its result (the
// label of otpgate_factor_checks_total).
func WithObserver(observe func(result string)) Option {
	return func(s *Service) { s.observe = observe }
}

// Service runs enrolments and checks.
type Service struct {
	cfg     Config
	store   Store
	keys    *Keyring
	now     func() time.Time
	events  bool
	observe func(result string)
}

// errUnbuilt marks the methods of the skeleton that are being built.
var errUnbuilt = errors.New("factor: not built yet")

// NewService checks cfg and builds a Service on store, sealing with keys.
func NewService(cfg Config, store Store, keys *Keyring, opts ...Option) (*Service, error) {
	s := &Service{cfg: cfg, store: store, keys: keys, now: time.Now, observe: func(string) {}}
	for _, opt := range opts {
		opt(s)
	}
	return s, nil
}

// Enroll creates an unverified factor of identity.
func (s *Service) Enroll(ctx context.Context, identity string, req EnrollRequest) (*Enrollment, error) {
	return nil, errUnbuilt
}

// Verify checks the first code of factor id, which verifies it.
func (s *Service) Verify(ctx context.Context, identity, id, code string) (*VerifyResult, error) {
	return nil, errUnbuilt
}

// Challenge checks a code of identity's verified factors, or a recovery code.
func (s *Service) Challenge(ctx context.Context, identity string, req ChallengeRequest) (*ChallengeResult, error) {
	return nil, errUnbuilt
}

// List returns identity's live factors, oldest first.
func (s *Service) List(ctx context.Context, identity string) ([]Factor, error) {
	return nil, errUnbuilt
}

// Get returns one factor of identity, or ErrNotFound.
func (s *Service) Get(ctx context.Context, identity, id string) (*Factor, error) {
	return nil, errUnbuilt
}

// DeleteFactor removes one factor, or returns ErrNotFound.
func (s *Service) DeleteFactor(ctx context.Context, identity, id string) error {
	return errUnbuilt
}

// DeleteIdentity removes everything of identity, or returns ErrNotFound.
func (s *Service) DeleteIdentity(ctx context.Context, identity string) error {
	return errUnbuilt
}

// RegenerateRecoveryCodes gives identity 10 new recovery codes; the old
// ones stop working. ErrNotFound when it has no verified factor.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, identity string) ([]string, error) {
	return nil, errUnbuilt
}
