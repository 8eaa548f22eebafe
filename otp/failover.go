package otp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// SendOutcome is what became of one provider's attempt at a send, for the
// otpgate_sends_total metric.
type SendOutcome string

// The outcomes of one provider's attempt.
const (
	// OutcomeSent: the provider took the SMS.
	OutcomeSent SendOutcome = "sent"
	// OutcomeFailedOver: it certainly sent nothing, and the next provider
	// was tried.
	OutcomeFailedOver SendOutcome = "failed_over"
	// OutcomeFailed: it sent nothing and no other provider was tried (it
	// was the last, or it refused the number).
	OutcomeFailed SendOutcome = "failed"
	// OutcomeMaybeSent: it may have sent, so no other provider was tried.
	OutcomeMaybeSent SendOutcome = "maybe_sent"
)

// maxBackoff bounds how long a provider's own "retry after" keeps it
// skipped, so a nonsense reset time cannot disable a sender for days.
const maxBackoff = time.Hour

// NamedSender is one provider in a Failover's order.
type NamedSender struct {
	Name   string
	Sender Sender
}

// failure is what a failed send says of the SMS.
type failure int

const (
	failedNotSent      failure = iota // certainly reached no phone
	failedRefusedHere                 // the same, by a provider working for others
	failedMaybeSent                   // may be on its way
	failedInvalidPhone                // refused for its number
)

// sendFailure classifies a Sender's error as Sender documents. An error
// that does not say it sent nothing may have sent: only an ErrUpstream
// without ErrMaybeSent is known to have sent nothing.
func sendFailure(err error) failure {
	switch {
	case errors.Is(err, ErrInvalidPhone):
		return failedInvalidPhone
	case errors.Is(err, ErrMaybeSent), !errors.Is(err, ErrUpstream):
		return failedMaybeSent
	case errors.Is(err, ErrRefusedHere):
		return failedRefusedHere
	}
	return failedNotSent
}

// maybeSent makes err, which may have sent, say so.
func maybeSent(err error) error {
	if errors.Is(err, ErrMaybeSent) {
		return err
	}
	return fmt.Errorf("%w: %w: %w", ErrUpstream, ErrMaybeSent, err)
}

// SenderHealth is what a Failover knows of one of its providers.
type SenderHealth struct {
	Name string
	// SkippedUntil is when the provider is tried first again; zero when it
	// is not being skipped.
	SkippedUntil time.Time
}

// Healthy reports whether the provider is tried in its turn.
func (h SenderHealth) Healthy() bool { return h.SkippedUntil.IsZero() }

// FailoverOption changes how NewFailover builds a Failover.
type FailoverOption func(*Failover)

// WithFailoverClock makes the Failover read time from now.
func WithFailoverClock(now func() time.Time) FailoverOption {
	return func(f *Failover) { f.now = now }
}

// WithSendObserver has fn called with every provider attempt's outcome.
func WithSendObserver(fn func(sender string, outcome SendOutcome)) FailoverOption {
	return func(f *Failover) { f.observe = fn }
}

// WithFailoverLogger sets the logger of failovers and skips.
func WithFailoverLogger(l *slog.Logger) FailoverOption {
	return func(f *Failover) { f.log = l }
}

// Failover is a Sender that tries providers in order of preference. A send
// moves on to the next provider only when it certainly reached no phone
// (see Sender): one that may have gone out, or that the provider refused
// for its number, ends there, so no number ever gets two codes from one
// start and no SMS is paid for twice. A provider that failed for certain
// is skipped for a cooldown (or as long as it asked, if longer): it is
// tried after every provider that is not skipped, never before. One that
// refused a request for that request alone (ErrRefusedHere) is not.
type Failover struct {
	senders  []NamedSender
	cooldown time.Duration
	now      func() time.Time
	observe  func(string, SendOutcome)
	log      *slog.Logger

	mu        sync.Mutex
	skipUntil map[string]time.Time
}

var _ Sender = (*Failover)(nil)

// NewFailover returns a Failover over senders, most preferred first.
func NewFailover(senders []NamedSender, cooldown time.Duration, opts ...FailoverOption) (*Failover, error) {
	if len(senders) == 0 {
		return nil, errors.New("otp: a failover needs at least one sender")
	}
	if cooldown < 0 {
		return nil, fmt.Errorf("otp: sender cooldown %v must not be negative", cooldown)
	}
	seen := make(map[string]bool, len(senders))
	for _, s := range senders {
		if s.Name == "" || s.Sender == nil {
			return nil, errors.New("otp: every failover sender needs a name and a Sender")
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("otp: sender %q is named twice", s.Name)
		}
		seen[s.Name] = true
	}
	f := &Failover{
		senders:   slices.Clone(senders),
		cooldown:  cooldown,
		now:       time.Now,
		observe:   func(string, SendOutcome) {},
		log:       slog.New(slog.DiscardHandler),
		skipUntil: make(map[string]time.Time),
	}
	for _, o := range opts {
		o(f)
	}
	return f, nil
}

// SendCode sends through the first provider that takes the SMS. The result
// names that provider. The error is the last provider's: it matches
// ErrInvalidPhone or ErrMaybeSent when that one ended the send, and only
// ErrUpstream when every provider tried sent nothing for certain.
func (f *Failover) SendCode(ctx context.Context, req SendRequest) (SendResult, error) {
	order := f.order()
	var errs []error
	for i, s := range order {
		res, err := s.Sender.SendCode(ctx, req)
		if err == nil {
			f.recover(s.Name)
			f.observe(s.Name, OutcomeSent)
			res.Sender = s.Name
			if len(errs) > 0 {
				f.log.WarnContext(ctx, "code sent by a fallback sender", "sender", s.Name, "failed", len(errs))
			}
			return res, nil
		}
		err = fmt.Errorf("sender %s: %w", s.Name, err)
		kind := sendFailure(err)
		switch kind {
		case failedInvalidPhone:
			f.observe(s.Name, OutcomeFailed)
			return SendResult{}, err
		case failedMaybeSent:
			f.observe(s.Name, OutcomeMaybeSent)
			return SendResult{}, maybeSent(err)
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			// The send's budget is spent: the provider may have failed for
			// that alone, so it is not skipped, and no other one is started.
			f.observe(s.Name, OutcomeFailed)
			break
		}
		if kind == failedNotSent {
			f.skip(s.Name, err)
		}
		if i == len(order)-1 {
			f.observe(s.Name, OutcomeFailed)
			break
		}
		f.observe(s.Name, OutcomeFailedOver)
		f.log.WarnContext(ctx, "sender failed, trying the next one", "sender", s.Name, "next", order[i+1].Name, "err", err)
	}
	return SendResult{}, fmt.Errorf("every sender failed: %w", errors.Join(errs...))
}

// order lists the providers to try: those not skipped in preference order,
// then the skipped ones, so that an outage of every provider still tries
// each of them rather than refusing without a try.
func (f *Failover) order() []NamedSender {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	ready := make([]NamedSender, 0, len(f.senders))
	var skipped []NamedSender
	for _, s := range f.senders {
		if until, ok := f.skipUntil[s.Name]; ok && now.Before(until) {
			skipped = append(skipped, s)
			continue
		}
		delete(f.skipUntil, s.Name)
		ready = append(ready, s)
	}
	return append(ready, skipped...)
}

// skip puts a provider that failed for certain in its skip window.
func (f *Failover) skip(name string, err error) {
	d := f.cooldown
	if be, ok := errors.AsType[*BackoffError](err); ok {
		d = max(d, min(be.After, maxBackoff))
	}
	if d <= 0 {
		return
	}
	until := f.now().Add(d)
	f.mu.Lock()
	if until.After(f.skipUntil[name]) {
		f.skipUntil[name] = until
	}
	f.mu.Unlock()
}

// recover ends the skip window of a provider that just sent.
func (f *Failover) recover(name string) {
	f.mu.Lock()
	delete(f.skipUntil, name)
	f.mu.Unlock()
}

// Health reports each provider, in preference order.
func (f *Failover) Health() []SenderHealth {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]SenderHealth, len(f.senders))
	for i, s := range f.senders {
		out[i].Name = s.Name
		if until, ok := f.skipUntil[s.Name]; ok && now.Before(until) {
			out[i].SkippedUntil = until
		}
	}
	return out
}
