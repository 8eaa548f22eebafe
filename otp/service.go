package otp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	AllowedCountries     []string // ISO 3166-1 alpha-2, e.g. "NZ","AU"
	Lookup               LookupMode
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
		log:        slog.New(slog.DiscardHandler),
		sendBudget: MaxSendTime,
	}
	for _, o := range opts {
		o(s)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("otp: config: %w", err)
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

// StartRequest asks for a code to be sent to To.
type StartRequest struct {
	To, Brand, Comment string
	ClientIP           string // the end user's address, for the per-IP limit
}

// Start sends a code to req.To. It creates a verification, or renews the
// pending one of that number with a new code (created is then false).
func (s *Service) Start(ctx context.Context, req StartRequest) (v *Verification, created bool, err error) {
	if strings.TrimSpace(req.To) == "" {
		return nil, false, fmt.Errorf("start: to is empty: %w", ErrInvalidRequest)
	}
	number, region, err := normalizePhone(req.To, s.cfg.DefaultRegion)
	if err != nil {
		return nil, false, fmt.Errorf("start: %w", err)
	}
	if !s.allowed[region] {
		return nil, false, fmt.Errorf("start: region %s: %w", region, ErrCountryNotAllowed)
	}
	lookup, err := s.lookupNumber(ctx, number, region)
	if err != nil {
		return nil, false, fmt.Errorf("start %s: %w", MaskPhone(number), err)
	}
	if err := s.take(ctx, s.limits.StartsPerIP, req.ClientIP); err != nil {
		return nil, false, fmt.Errorf("start: client ip: %w", err)
	}
	if err := s.peek(ctx, s.limits.FailuresPerPhone, number); err != nil {
		return nil, false, fmt.Errorf("start %s: failures: %w", MaskPhone(number), err)
	}
	token, err := randomHex(16)
	if err != nil {
		return nil, false, err
	}
	// From here on the caller's cancellation no longer applies: a send
	// Connexus accepted must be recorded, or nothing holds the cooldown. The
	// budget instead ends the send well before the reservation's hold lapses.
	ctx = context.WithoutCancel(ctx)
	sendCtx, cancel := context.WithTimeout(ctx, s.sendBudget)
	defer cancel()
	reuseID, err := s.store.ReserveSend(sendCtx, SendReservation{
		To: number, Token: token, Now: s.now(),
		Cooldown: s.cfg.ResendCooldown, TTL: s.cfg.TTL, Retention: s.cfg.Retention,
		Hold: s.sendBudget + sendHoldMargin, MaxSends: s.cfg.MaxSends,
	})
	if err != nil {
		if _, ok := errors.AsType[*LimitError](err); ok {
			s.observer(EventRateLimited)
		}
		return nil, false, fmt.Errorf("start %s: %w", MaskPhone(number), err)
	}
	v, created, err = s.send(ctx, sendCtx, req, number, token, reuseID, lookup)
	if err != nil {
		return nil, false, fmt.Errorf("start %s: %w", MaskPhone(number), err)
	}
	if created {
		s.observer(EventStarted)
	} else {
		s.observer(EventResent)
	}
	s.log.InfoContext(ctx, "code sent", "id", v.ID, "to", MaskPhone(number), "sends", v.Sends, "created", created)
	return s.present(v, s.now()), created, nil
}

// send delivers a code under a held reservation and records it. Until the
// SMS is out, any failure releases the reservation so no cooldown starts;
// after it, the state is written. ctx carries no cancellation; sendCtx is
// ctx under the send budget.
func (s *Service) send(ctx, sendCtx context.Context, req StartRequest, number, token, reuseID string, lookup *Lookup) (*Verification, bool, error) {
	release := func() {
		if err := s.store.ReleaseSend(ctx, number, token); err != nil {
			s.log.WarnContext(ctx, "release send reservation", "to", MaskPhone(number), "err", err)
		}
	}
	// Only peeked here and counted once the SMS is out: a failed send is
	// not a send. The reservation keeps every other send to this number
	// out until then, so nothing can slip in between.
	if err := s.peek(sendCtx, s.limits.SendsPerPhone, number); err != nil {
		release()
		return nil, false, fmt.Errorf("sends per phone: %w", err)
	}
	code, err := s.gen(s.cfg.CodeLength)
	if err != nil {
		release()
		return nil, false, fmt.Errorf("generate code: %w", err)
	}
	brand := req.Brand
	if brand == "" {
		brand = s.cfg.Brand
	}
	res, err := s.sender.SendCode(sendCtx, SendRequest{To: number, Code: code, Brand: brand, Comment: req.Comment})
	if err != nil {
		s.log.WarnContext(ctx, "send code failed", "to", MaskPhone(number), "err", err)
		if errors.Is(err, ErrMaybeSent) {
			s.hold(ctx, number, token)
			s.countSend(ctx, number)
		} else {
			release()
		}
		if !errors.Is(err, ErrUpstream) {
			err = fmt.Errorf("%w: %w", ErrUpstream, err)
		}
		return nil, false, fmt.Errorf("send code: %w", err)
	}
	s.observer(EventSMSSent)
	s.countSend(ctx, number)
	sent := res.Code
	if sent == "" {
		sent = code
	}
	hash, err := s.hasher.Hash(sent)
	if err != nil {
		return nil, false, err
	}
	id, err := NewID()
	if err != nil {
		return nil, false, err
	}
	v, created, err := s.store.CommitSend(ctx, SendCommit{
		To: number, Token: token, ReuseID: reuseID, NewID: id,
		CodeHash: hash, MessageID: res.MessageID, Lookup: lookup, Now: s.now(),
		TTL: s.cfg.TTL, Cooldown: s.cfg.ResendCooldown, Retention: s.cfg.Retention,
		MaxAttempts: s.cfg.MaxAttempts, MaxSends: s.cfg.MaxSends,
	})
	if errors.Is(err, ErrMessageNotIndexed) {
		// The SMS is out and its code works; failing the start would only
		// have the caller retry into the cooldown.
		s.log.WarnContext(ctx, "code sent, but its delivery reports cannot be filed", "id", v.ID, "to", MaskPhone(number), "err", err)
		err = nil
	}
	if err != nil {
		// The SMS is out: its cooldown must hold though the commit (which
		// would have started it) may not have run.
		s.hold(ctx, number, token)
		return nil, false, fmt.Errorf("record sent code: %w: %w: %w", ErrUnrecorded, ErrUnavailable, err)
	}
	return v, created, nil
}

// hold keeps the reservation of a send that went out, or may have, without
// a stored verification to start its cooldown, for a cooldown from now:
// releasing it would let a retry send a second code at once. A reservation
// that a commit already took is left alone.
func (s *Service) hold(ctx context.Context, number, token string) {
	now := s.now()
	if err := s.store.HoldSend(ctx, number, token, now, now.Add(s.cfg.ResendCooldown)); err != nil {
		s.log.WarnContext(ctx, "hold the cooldown of a send that was not recorded", "to", MaskPhone(number), "err", err)
	}
}

// countSend counts an SMS against the per-number send quota. The SMS is
// out (or may be), so recording it matters more than counting it: a
// failure is logged, not returned.
func (s *Service) countSend(ctx context.Context, number string) {
	if l := s.limits.SendsPerPhone; l != nil {
		if _, err := l.Take(ctx, number); err != nil {
			s.log.WarnContext(ctx, "count send against the per-number quota", "to", MaskPhone(number), "err", err)
		}
	}
}

// lookupNumber asks the upstream about NZ numbers, once a day per number.
func (s *Service) lookupNumber(ctx context.Context, number, region string) (*Lookup, error) {
	if s.cfg.Lookup == LookupOff || region != "NZ" {
		return nil, nil
	}
	l, err := s.store.CachedLookup(ctx, number, s.now())
	if err == nil {
		return l, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("cached lookup: %w", err)
	}
	lctx, cancel := context.WithTimeout(ctx, maxLookupTime)
	l, err = s.lookup.LookupNumber(lctx, number)
	cancel()
	switch {
	case errors.Is(err, ErrInvalidPhone):
		s.observer(EventLookupInvalid)
		return nil, fmt.Errorf("lookup: %w", ErrInvalidPhone)
	case err != nil && s.cfg.Lookup == LookupRequired:
		s.observer(EventLookupUnavailable)
		return nil, fmt.Errorf("lookup: %w: %w", ErrUpstream, err)
	case err != nil:
		s.observer(EventLookupUnavailable)
		s.log.WarnContext(ctx, "number lookup unavailable, sending without it", "to", MaskPhone(number), "err", err)
		return nil, nil
	case l == nil:
		return nil, nil
	}
	s.observer(EventLookupOK)
	if err := s.store.CacheLookup(ctx, number, *l, s.now(), lookupCacheTTL); err != nil {
		return nil, fmt.Errorf("cache lookup: %w", err)
	}
	return l, nil
}

// take counts one event against l; a reached quota is a *LimitError.
func (s *Service) take(ctx context.Context, l Limiter, key string) error {
	if l == nil || key == "" {
		return nil
	}
	q, err := l.Take(ctx, key)
	if err != nil {
		return fmt.Errorf("rate limit: %w: %w", ErrUnavailable, err)
	}
	if q.Reached {
		return s.limited(q)
	}
	return nil
}

// peek refuses when l has no room left, without counting.
func (s *Service) peek(ctx context.Context, l Limiter, key string) error {
	if l == nil {
		return nil
	}
	q, err := l.Peek(ctx, key)
	if err != nil {
		return fmt.Errorf("rate limit: %w: %w", ErrUnavailable, err)
	}
	if q.Reached || q.Remaining <= 0 {
		return s.limited(q)
	}
	return nil
}

func (s *Service) limited(q Quota) error {
	s.observer(EventRateLimited)
	return &LimitError{Kind: ErrRateLimited, Limit: q.Limit, Remaining: q.Remaining, Reset: q.Reset}
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

// CheckRequest is one guess at a code, by verification id or by number.
type CheckRequest struct {
	ID, To   string // exactly one of them
	Code     string
	ClientIP string
}

// CheckResult is the answer to a compared guess.
type CheckResult struct {
	ID           string
	Status       Status
	Valid        bool
	AttemptsLeft int
}

// Check compares a guess with the code of a pending verification. Each
// compared guess uses one attempt; a right one approves the verification.
func (s *Service) Check(ctx context.Context, req CheckRequest) (*CheckResult, error) {
	if (req.ID == "") == (req.To == "") {
		return nil, fmt.Errorf("check: give exactly one of id and to: %w", ErrInvalidRequest)
	}
	if !validCode(req.Code) {
		return nil, fmt.Errorf("check: code must be 4 to 8 digits: %w", ErrInvalidRequest)
	}
	if err := s.take(ctx, s.limits.ChecksPerIP, req.ClientIP); err != nil {
		return nil, fmt.Errorf("check: client ip: %w", err)
	}
	id := req.ID
	if req.To != "" {
		number, _, err := normalizePhone(req.To, s.cfg.DefaultRegion)
		if err != nil {
			return nil, fmt.Errorf("check: %w", err)
		}
		if id, err = s.store.Newest(ctx, number); err != nil {
			return nil, fmt.Errorf("check %s: %w", MaskPhone(number), err)
		}
	} else if !validID(id) {
		return nil, fmt.Errorf("check %q: %w", id, ErrNotFound)
	}
	nonce, err := randomHex(8)
	if err != nil {
		return nil, err
	}
	a, err := s.store.ReserveAttempt(ctx, id, nonce, s.now(), s.cfg.Retention)
	if err != nil {
		s.observeNotPending(err)
		return nil, fmt.Errorf("check %s: %w", id, err)
	}
	right := s.hasher.Compare(a.CodeHash, req.Code)
	s.observer(EventCodeCompared)
	// The guess has been compared: its outcome is recorded even if the
	// caller gives up now, or the attempt would be used without effect.
	ctx = context.WithoutCancel(ctx)
	res, err := s.store.ResolveAttempt(ctx, a, right, s.now(), s.cfg.Retention, s.cfg.ResendCooldown)
	if !right {
		// One event per wrong guess: the last one is counted as ending the
		// verification, not also as a plain wrong code.
		if err == nil && res.Status == StatusMaxAttempts {
			s.observer(EventMaxAttempts)
		} else {
			s.observer(EventWrongCode)
		}
		// Only counted here; the quota is enforced when the next code is
		// asked for, so a full one is no reason to refuse this answer.
		if l := s.limits.FailuresPerPhone; l != nil {
			if _, ferr := l.Take(ctx, a.To); ferr != nil {
				return nil, fmt.Errorf("check %s: count failure: %w: %w", id, ErrUnavailable, ferr)
			}
		}
	}
	if err != nil {
		s.observeNotPending(err)
		return nil, fmt.Errorf("check %s: %w", id, err)
	}
	switch {
	case res.Valid:
		s.observer(EventApproved)
		s.log.InfoContext(ctx, "verification approved", "id", id, "to", MaskPhone(a.To))
	case res.Status == StatusMaxAttempts:
		s.log.InfoContext(ctx, "verification out of attempts", "id", id, "to", MaskPhone(a.To))
	}
	return res, nil
}

func (s *Service) observeNotPending(err error) {
	if np, ok := errors.AsType[*NotPendingError](err); ok && np.Status == StatusExpired {
		s.observer(EventExpired)
	}
}

// validCode accepts what a user may type from an SMS; anything else is
// refused before it can use an attempt. Codes are 4 to 8 digits whatever
// OTP_CODE_LENGTH says, since the upstream may pick its own length.
func validCode(code string) bool {
	if len(code) < 4 || len(code) > 8 {
		return false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Cancel ends a pending verification.
func (s *Service) Cancel(ctx context.Context, id string) (*Verification, error) {
	if !validID(id) {
		return nil, fmt.Errorf("cancel %q: %w", id, ErrNotFound)
	}
	// The nonce lets a retried cancel (go-redis resends a script after a
	// dropped connection) succeed again instead of finding its own work.
	nonce, err := randomHex(8)
	if err != nil {
		return nil, err
	}
	now := s.now()
	v, err := s.store.Cancel(ctx, id, nonce, now, s.cfg.Retention, s.cfg.ResendCooldown)
	if err != nil {
		s.observeNotPending(err)
		return nil, fmt.Errorf("cancel %s: %w", id, err)
	}
	s.observer(EventCanceled)
	return s.present(v, now), nil
}

// deliveryStatuses are the public delivery states.
var deliveryStatuses = map[string]bool{
	"queued": true, "accepted": true, "sent": true, "delivered": true,
	"undelivered": true, "failed": true, "expired": true,
}

// RecordDelivery stores a delivery report for the SMS with messageID.
// Unknown ids give found=false and no error, so webhooks can answer 200.
func (s *Service) RecordDelivery(ctx context.Context, messageID string, d Delivery) (found bool, err error) {
	if !deliveryStatuses[d.Status] {
		return false, fmt.Errorf("delivery status %q: %w", d.Status, ErrInvalidRequest)
	}
	if messageID == "" {
		return false, nil
	}
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = s.now()
	}
	found, err = s.store.RecordDelivery(ctx, messageID, d)
	if err != nil {
		return false, fmt.Errorf("record delivery: %w", err)
	}
	return found, nil
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error {
	return s.store.Ping(ctx)
}

// present turns stored state into what callers see at now.
func (s *Service) present(v *Verification, now time.Time) *Verification {
	out := *v
	if out.Status == StatusPending && !now.Before(out.ExpiresAt) {
		out.Status = StatusExpired
	}
	if out.LastSentAt.IsZero() {
		// Stored by a version that did not keep the send time: every send
		// set the expiry one TTL ahead, ours being the best guess at it.
		out.LastSentAt = out.ExpiresAt.Add(-s.cfg.TTL)
	}
	out.ResendAt = out.LastSentAt.Add(s.cfg.ResendCooldown)
	return &out
}
