package otp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/crypto/bcrypt"
)

// LookupMode says whether NZ numbers are checked with the upstream lookup
// before a code is sent to them.
type LookupMode string

// The lookup modes of OTP_LOOKUP.
const (
	// LookupOn checks numbers, and sends without lookup data when the lookup fails.
	LookupOn LookupMode = "on"
	// LookupRequired checks numbers, and sends nothing when the lookup fails.
	LookupRequired LookupMode = "required"
	// LookupOff never looks numbers up.
	LookupOff LookupMode = "off"
)

// lookupCacheTTL is how long a successful lookup is reused, so resends and
// repeated starts for one number pay for one lookup a day.
const lookupCacheTTL = 24 * time.Hour

// MaxSendTime bounds a send, from the reservation to the upstream's answer,
// whatever the caller does: a send that outlived its reservation's hold
// would let a second SMS go out inside the cooldown.
const MaxSendTime = 40 * time.Second

// maxLookupTime bounds the number lookup; in LookupOn mode a slower one is
// an outage, and the code goes out without lookup data.
const maxLookupTime = 10 * time.Second

// MaxStartTime bounds a whole Start: the lookup, the send, and the Redis
// round trips and code hashing around them. Whatever must outlast a start
// (an idempotency lease, the server's write timeout) is set from it.
const MaxStartTime = maxLookupTime + MaxSendTime + 10*time.Second

// sendHoldMargin is how much longer than the send budget a reservation
// holds, for recording the sent code once the upstream has answered; the
// hold then only lapses early if the process died mid-send.
const sendHoldMargin = 20 * time.Second

// Config holds the verification rules.
type Config struct {
	TTL, ResendCooldown, Retention time.Duration

	CodeLength, MaxAttempts, MaxSends, BcryptCost int
	// MaxFailuresPerPhone is the quota Limits.FailuresPerPhone is built with;
	// the Service only checks that it is sane.
	MaxFailuresPerPhone int

	Brand, DefaultRegion string
	// Message is the text of a code for senders without an OTP endpoint;
	// it must hold {code}, and may hold {brand} and {ttl_minutes}.
	Message          string
	AllowedCountries []string // ISO 3166-1 alpha-2, e.g. "NZ","AU"
	Lookup           LookupMode
}

// DefaultConfig returns the defaults of the public contract; config's
// defaults are read from it.
func DefaultConfig() Config {
	return Config{
		TTL:                 5 * time.Minute,
		ResendCooldown:      30 * time.Second,
		Retention:           time.Hour,
		CodeLength:          6,
		MaxAttempts:         5,
		MaxSends:            5,
		BcryptCost:          bcrypt.DefaultCost,
		MaxFailuresPerPhone: 100,
		Brand:               "otpgate",
		Message:             DefaultMessage,
		DefaultRegion:       "NZ",
		AllowedCountries:    []string{"NZ", "AU"},
		Lookup:              LookupOn,
	}
}

func (c Config) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.TTL > 0, "TTL %v must be positive", c.TTL)
	check(c.ResendCooldown >= 0, "resend cooldown %v must not be negative", c.ResendCooldown)
	// Retention bounds reads only; the store keeps the cooldown for its own
	// window, so any positive retention goes with any cooldown.
	check(c.Retention > 0, "retention %v must be positive", c.Retention)
	check(c.CodeLength >= 4 && c.CodeLength <= 8, "code length %d must be 4 to 8", c.CodeLength)
	check(c.MaxAttempts >= 1, "max attempts %d must be at least 1", c.MaxAttempts)
	check(c.MaxSends >= 1, "max sends %d must be at least 1", c.MaxSends)
	check(c.MaxFailuresPerPhone >= 0, "max failures per phone %d must not be negative", c.MaxFailuresPerPhone)
	check(c.Brand != "", "brand must not be empty")
	if err := CheckMessage(c.Message); err != nil {
		errs = append(errs, err)
	}
	check(phonenumbers.GetCountryCodeForRegion(strings.ToUpper(c.DefaultRegion)) != 0, "default region %q is unknown", c.DefaultRegion)
	check(len(c.AllowedCountries) > 0, "allowed countries must not be empty")
	for _, r := range c.AllowedCountries {
		check(phonenumbers.GetCountryCodeForRegion(strings.ToUpper(r)) != 0, "allowed country %q is unknown", r)
	}
	check(c.Lookup == LookupOn || c.Lookup == LookupRequired || c.Lookup == LookupOff, "lookup mode %q must be on, required or off", c.Lookup)
	return errors.Join(errs...)
}

// Limits are the rate limits a Service applies; a nil Limiter is no limit.
type Limits struct {
	SendsPerPhone, StartsPerIP, ChecksPerIP, FailuresPerPhone Limiter
}

// Option changes how NewService builds a Service.
type Option func(*Service)

// WithClock makes the Service read time from now.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithCodeGenerator replaces the crypto/rand source of codes.
func WithCodeGenerator(gen func(length int) (string, error)) Option {
	return func(s *Service) { s.gen = gen }
}

// WithHasher replaces bcrypt at Config.BcryptCost as the code hasher.
func WithHasher(h Hasher) Option { return func(s *Service) { s.hasher = h } }

// WithNumberLookup sets the upstream lookup used unless Config.Lookup is off.
func WithNumberLookup(l NumberLookup) Option { return func(s *Service) { s.lookup = l } }

// WithLimits sets the rate limits.
func WithLimits(l Limits) Option { return func(s *Service) { s.limits = l } }

// WithObserver has fn called for every Event, for metrics.
func WithObserver(fn func(Event)) Option { return func(s *Service) { s.observer = fn } }

// WithLogger sets the logger; phone numbers in its lines are masked.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// Service runs the verification lifecycle on a Store and a Sender.
type Service struct {
	cfg      Config
	allowed  map[string]bool
	store    Store
	sender   Sender
	now      func() time.Time
	gen      func(int) (string, error)
	hasher   Hasher
	lookup   NumberLookup
	limits   Limits
	observer func(Event)
	log      *slog.Logger

	budgets   Budgets
	budgetCfg BudgetConfig
	allow     allowList
	meter     Meter
	// sendBudget is MaxSendTime but in tests.
	sendBudget time.Duration
}

// NewService checks cfg and builds a Service.
func NewService(cfg Config, store Store, sender Sender, opts ...Option) (*Service, error) {
	if store == nil || sender == nil {
		return nil, errors.New("otp: NewService needs a store and a sender")
	}
	s := &Service{
		cfg:        cfg,
		allowed:    make(map[string]bool),
		store:      store,
		sender:     sender,
		now:        time.Now,
		gen:        randomCode,
		observer:   func(Event) {},
		meter:      noMeter{},
		log:        slog.New(slog.DiscardHandler),
		sendBudget: MaxSendTime,
	}
	for _, o := range opts {
		o(s)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("otp: config: %w", err)
	}
	if s.budgets != nil {
		if err := s.budgetCfg.validate(); err != nil {
			return nil, fmt.Errorf("otp: budgets: %w", err)
		}
		s.allow = newAllowList(s.budgetCfg.Allow)
	}
	if s.hasher == nil {
		if cfg.BcryptCost < bcrypt.MinCost || cfg.BcryptCost > bcrypt.MaxCost {
			return nil, fmt.Errorf("otp: config: bcrypt cost %d must be %d to %d", cfg.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
		}
		s.hasher = bcryptHasher{cost: cfg.BcryptCost}
	}
	if cfg.Lookup != LookupOff && s.lookup == nil {
		return nil, fmt.Errorf("otp: lookup mode %q needs WithNumberLookup", cfg.Lookup)
	}
	for _, r := range cfg.AllowedCountries {
		s.allowed[strings.ToUpper(r)] = true
	}
	return s, nil
}

// Get returns a verification; a pending one past its expiry shows expired.
func (s *Service) Get(ctx context.Context, id string) (*Verification, error) {
	if !validID(id) {
		return nil, fmt.Errorf("get %q: %w", id, ErrNotFound)
	}
	now := s.now()
	v, err := s.store.Get(ctx, id, now, s.cfg.Retention)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", id, err)
	}
	return s.present(v, now), nil
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error {
	return s.store.Ping(ctx)
}

// present turns stored state into what callers see at now.
func (s *Service) present(v *Verification, now time.Time) *Verification {
	return Present(v, now, s.cfg.TTL, s.cfg.ResendCooldown)
}

// Present turns a verification as a Store returns it into what callers
// see at now under the code lifetime ttl and the resend cooldown: a
// pending one past its expiry shows expired, and ResendAt and SendTimes
// are filled in. Events render the state they recorded with it, so they
// show a verification exactly as the API did.
func Present(v *Verification, now time.Time, ttl, cooldown time.Duration) *Verification {
	out := *v
	if out.Status == StatusPending && !now.Before(out.ExpiresAt) {
		out.Status = StatusExpired
	}
	if out.LastSentAt.IsZero() {
		// Stored by a version that did not keep the send time: every send
		// set the expiry one TTL ahead, ours being the best guess at it.
		out.LastSentAt = out.ExpiresAt.Add(-ttl)
	}
	out.ResendAt = out.LastSentAt.Add(cooldown)
	if len(out.SendTimes) == 0 {
		out.SendTimes = []time.Time{out.CreatedAt}
	}
	if latest := out.SendTimes[len(out.SendTimes)-1]; len(out.SendTimes) < out.Sends && out.LastSentAt.After(latest) {
		// Resent by a version that did not keep send times: the latest
		// send is known all the same.
		out.SendTimes = append(slices.Clip(out.SendTimes), out.LastSentAt)
	}
	return &out
}
