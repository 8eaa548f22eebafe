package factor

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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

// WithLogger makes the Service log what an operator must fix: a factor
// whose secret does not open with the keyring. Nothing is logged without
// it.
func WithLogger(log *slog.Logger) Option { return func(s *Service) { s.log = log } }

// Service runs enrolments and checks.
type Service struct {
	cfg     Config
	store   Store
	keys    *Keyring
	now     func() time.Time
	events  bool
	observe func(result string)
	log     *slog.Logger
}

// The event types of CONTRACT §11, as events.Type* spells them (the
// domain does not import events).
const (
	eventFactorCreated     = "factor.created"
	eventFactorVerified    = "factor.verified"
	eventFactorDeleted     = "factor.deleted"
	eventChallengeApproved = "challenge.approved"
	eventChallengeDenied   = "challenge.denied"
	eventRecoveryCodeUsed  = "recovery_code.used"
)

// NewService checks cfg and builds a Service on store, sealing with keys.
func NewService(cfg Config, store Store, keys *Keyring, opts ...Option) (*Service, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("factor: Config.Issuer is empty")
	case cfg.Skew < 0 || cfg.Skew > 2:
		return nil, fmt.Errorf("factor: Config.Skew is %d, want 0 to 2", cfg.Skew)
	case cfg.MaxAttempts < 1:
		return nil, fmt.Errorf("factor: Config.MaxAttempts is %d, want at least 1", cfg.MaxAttempts)
	case store == nil:
		return nil, errors.New("factor: no store")
	case keys == nil:
		return nil, errors.New("factor: no keyring")
	}
	s := &Service{cfg: cfg, store: store, keys: keys, now: time.Now}
	for _, opt := range opts {
		opt(s)
	}
	if s.now == nil {
		return nil, errors.New("factor: WithClock(nil)")
	}
	if s.observe == nil {
		s.observe = func(string) {}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// clock is now as the store keeps it: UTC milliseconds, so what a method
// returns equals what a later read of the store returns.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

func (s *Service) limits() Limits {
	return Limits{MaxAttempts: s.cfg.MaxAttempts, Window: AttemptWindow}
}

// factorEvent renders f as an event's data, or nil without WithEvents:
// the factor as the API shows it, so its times to the second (RFC 3339),
// not to the millisecond the store keeps.
func (s *Service) factorEvent(typ string, f Factor) *Event {
	if !s.events {
		return nil
	}
	f.CreatedAt = f.CreatedAt.UTC().Truncate(time.Second)
	f.VerifiedAt, f.LastUsedAt = toSecond(f.VerifiedAt), toSecond(f.LastUsedAt)
	// A Factor is strings, numbers and times of this era: Marshal cannot fail.
	data, _ := json.Marshal(f)
	return &Event{Type: typ, Data: data}
}

// toSecond is a copy of *t in UTC to the second, or nil.
func toSecond(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	s := t.UTC().Truncate(time.Second)
	return &s
}

// identityEvent renders {"identity":…} as an event's data, or nil without
// WithEvents.
func (s *Service) identityEvent(typ, identity string) *Event {
	if !s.events {
		return nil
	}
	data, _ := json.Marshal(struct {
		Identity string `json:"identity"`
	}{identity})
	return &Event{Type: typ, Data: data}
}

// Enroll creates an unverified factor of identity.
func (s *Service) Enroll(ctx context.Context, identity string, req EnrollRequest) (*Enrollment, error) {
	if err := CheckIdentity(identity); err != nil {
		return nil, err
	}
	f, err := enrollFactor(req)
	if err != nil {
		return nil, err
	}
	f.ID, f.Identity, f.CreatedAt = newID(), identity, s.clock()
	secret := newSecret(f.Algorithm)
	b32Secret, uri, qr, err := provision(cmp.Or(req.Issuer, s.cfg.Issuer), f, secret)
	if err != nil {
		return nil, err
	}
	rec := Record{Factor: f, Secret: s.keys.Seal(secret, []byte(f.ID))}
	if err := s.store.Create(ctx, identity, rec, f.CreatedAt, s.factorEvent(eventFactorCreated, f)); err != nil {
		return nil, err
	}
	return &Enrollment{Factor: f, Secret: b32Secret, URI: uri, QRPNG: qr}, nil
}

// newID returns a fresh factor id: fac_ and 128 random bits in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails; it crashes the program instead
	return idPrefix + hex.EncodeToString(b[:])
}

// List returns identity's live factors, oldest first.
func (s *Service) List(ctx context.Context, identity string) ([]Factor, error) {
	if err := CheckIdentity(identity); err != nil {
		return nil, err
	}
	ident, err := s.store.Load(ctx, identity, s.clock())
	if err != nil {
		return nil, err
	}
	fs := make([]Factor, 0, len(ident.Factors))
	for _, r := range ident.Factors {
		fs = append(fs, r.Factor)
	}
	return fs, nil
}

// Get returns one factor of identity, or ErrNotFound.
func (s *Service) Get(ctx context.Context, identity, id string) (*Factor, error) {
	rec, err := s.load(ctx, identity, id, s.clock())
	if err != nil {
		return nil, err
	}
	f := rec.Factor
	return &f, nil
}

// load checks identity and id and returns the factor's record; a
// malformed id is ErrNotFound without asking the store.
func (s *Service) load(ctx context.Context, identity, id string, now time.Time) (*Record, error) {
	if err := CheckIdentity(identity); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, ErrNotFound
	}
	ident, err := s.store.Load(ctx, identity, now)
	if err != nil {
		return nil, err
	}
	return factorOf(ident, id)
}

// factorOf returns factor id of ident, or ErrNotFound; a malformed id is
// not found, as an unknown one.
func factorOf(ident *Identity, id string) (*Record, error) {
	if validID(id) {
		for i := range ident.Factors {
			if ident.Factors[i].ID == id {
				return &ident.Factors[i], nil
			}
		}
	}
	return nil, ErrNotFound
}

// DeleteFactor removes one factor, or returns ErrNotFound.
func (s *Service) DeleteFactor(ctx context.Context, identity, id string) error {
	if err := CheckIdentity(identity); err != nil {
		return err
	}
	if !validID(id) {
		return ErrNotFound
	}
	now := s.clock()
	var deleted *Event
	if s.events {
		// The event shows the factor, so it is read first.
		rec, err := s.load(ctx, identity, id, now)
		if err != nil {
			return err
		}
		deleted = s.factorEvent(eventFactorDeleted, rec.Factor)
	}
	return s.store.DeleteFactor(ctx, identity, id, now, deleted)
}

// DeleteIdentity removes everything of identity, or returns ErrNotFound.
func (s *Service) DeleteIdentity(ctx context.Context, identity string) error {
	if err := CheckIdentity(identity); err != nil {
		return err
	}
	now := s.clock()
	var deleted []Event
	if s.events {
		// One factor.deleted per factor, so the app hears of each.
		ident, err := s.store.Load(ctx, identity, now)
		if err != nil {
			return err
		}
		for _, r := range ident.Factors {
			deleted = append(deleted, *s.factorEvent(eventFactorDeleted, r.Factor))
		}
	}
	return s.store.DeleteIdentity(ctx, identity, now, deleted)
}

// RegenerateRecoveryCodes gives identity 10 new recovery codes; the old
// ones stop working. ErrNotFound when it has no verified factor.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, identity string) ([]string, error) {
	if err := CheckIdentity(identity); err != nil {
		return nil, err
	}
	set, codes := s.keys.newRecoverySet(identity)
	if err := s.store.ReplaceRecovery(ctx, identity, set, s.clock()); err != nil {
		return nil, err
	}
	return codes, nil
}
