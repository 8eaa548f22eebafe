package otp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxBrandLength bounds the brand of a start, in characters.
const MaxBrandLength = 64

// StartRequest asks for a code to be sent to To.
type StartRequest struct {
	To, Brand, Comment string
	ClientIP           string // the end user's address, for the per-IP limit
	// Code, when set, is the code to send instead of a crypto/rand one
	// (Twilio's CustomCode), also when the start renews a pending
	// verification: 4 to 8 ASCII digits. As with a drawn code, the upstream
	// may send another, and only a hash of the code it sent is stored, never
	// the code itself.
	Code string
}

// Start sends a code to req.To. It creates a verification, or renews the
// pending one of that number with a new code (created is then false).
func (s *Service) Start(ctx context.Context, req StartRequest) (v *Verification, created bool, err error) {
	if strings.TrimSpace(req.To) == "" {
		return nil, false, fmt.Errorf("start: to is empty: %w", ErrInvalidRequest)
	}
	if utf8.RuneCountInString(req.Brand) > MaxBrandLength {
		// A brand is part of every SMS; one no provider takes would only
		// have each sender refuse it in turn and be skipped.
		return nil, false, fmt.Errorf("start: brand is longer than %d characters: %w", MaxBrandLength, ErrInvalidRequest)
	}
	if req.Code != "" && !ValidCode(req.Code) {
		return nil, false, fmt.Errorf("start: code must be 4 to 8 digits: %w", ErrInvalidRequest)
	}
	number, region, err := NormalizePhone(req.To, s.cfg.DefaultRegion)
	if err != nil {
		return nil, false, fmt.Errorf("start: %w", err)
	}
	if !s.allowed[region] {
		return nil, false, fmt.Errorf("start: region %s: %w", region, ErrCountryNotAllowed)
	}
	token, err := randomHex(16)
	if err != nil {
		return nil, false, err
	}
	// The budgets come before the lookup, so a refused start costs nothing.
	budget, err := s.reserveBudget(ctx, number, region, req.ClientIP, token)
	if err != nil {
		return nil, false, fmt.Errorf("start %s: %w", MaskPhone(number), err)
	}
	handedOff := false
	defer func() {
		if !handedOff {
			s.releaseBudget(ctx, budget)
		}
	}()
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
	handedOff = true
	v, created, err = s.send(ctx, sendCtx, req, number, region, token, reuseID, lookup, budget)
	if err != nil {
		return nil, false, fmt.Errorf("start %s: %w", MaskPhone(number), err)
	}
	if created {
		s.observer(EventStarted)
		s.meter.Verification(StatusPending, region)
	} else {
		s.observer(EventResent)
	}
	s.log.InfoContext(ctx, "code sent", "id", v.ID, "to", MaskPhone(number), "sends", v.Sends, "created", created)
	return s.present(v, s.now()), created, nil
}

// send delivers a code under a held reservation and records it. Until the
// SMS is out, any failure releases the reservation so no cooldown starts;
// after it, the state is written. ctx carries no cancellation; sendCtx is
// ctx under the send budget. A release also gives back budget.
func (s *Service) send(ctx, sendCtx context.Context, req StartRequest, number, region, token, reuseID string, lookup *Lookup, budget *reservation) (*Verification, bool, error) {
	release := func() {
		if err := s.store.ReleaseSend(ctx, number, token); err != nil {
			s.log.WarnContext(ctx, "release send reservation", "to", MaskPhone(number), "err", err)
		}
		s.releaseBudget(ctx, budget)
	}
	// Only peeked here and counted once the SMS is out: a failed send is
	// not a send. The reservation keeps every other send to this number
	// out until then, so nothing can slip in between.
	if err := s.peek(sendCtx, s.limits.SendsPerPhone, number); err != nil {
		release()
		return nil, false, fmt.Errorf("sends per phone: %w", err)
	}
	code := req.Code
	if code == "" {
		var err error
		if code, err = s.gen(s.cfg.CodeLength); err != nil {
			release()
			return nil, false, fmt.Errorf("generate code: %w", err)
		}
	}
	brand := req.Brand
	if brand == "" {
		brand = s.cfg.Brand
	}
	// The id is drawn before the send so that providers which file a
	// reference with the SMS get the verification's.
	id, err := NewID()
	if err != nil {
		release()
		return nil, false, err
	}
	s.bindBudget(ctx, budget, reuseID, id)
	res, err := s.sender.SendCode(sendCtx, SendRequest{
		ID: cmp.Or(reuseID, id), To: number, Code: code, Brand: brand, Comment: req.Comment,
		Text: renderMessage(s.cfg.Message, code, brand, s.cfg.TTL),
	})
	if err != nil {
		s.log.WarnContext(ctx, "send code failed", "to", MaskPhone(number), "err", err)
		switch sendFailure(err) {
		case failedInvalidPhone:
			// The provider refused the number: nothing went out, and no
			// provider will take it.
			release()
			return nil, false, fmt.Errorf("send code: %w", err)
		case failedMaybeSent:
			s.hold(ctx, number, token)
			s.countSend(ctx, number)
			s.meter.SMSSent(region, "unknown")
			s.budgetSent(ctx, budget)
			err = maybeSent(err)
		default:
			release()
		}
		return nil, false, fmt.Errorf("send code: %w", err)
	}
	s.observer(EventSMSSent)
	s.countSend(ctx, number)
	s.meter.SMSSent(region, cmp.Or(res.Sender, "unknown"))
	s.budgetSent(ctx, budget)
	sent := res.Code
	if sent == "" {
		sent = code
	}
	hash, err := s.hasher.Hash(sent)
	if err != nil {
		return nil, false, err
	}
	v, created, err := s.store.CommitSend(ctx, SendCommit{
		To: number, Token: token, ReuseID: reuseID, NewID: id,
		CodeHash: hash, MessageID: MessageRef(res.Sender, res.MessageID), Sender: res.Sender,
		Lookup: lookup, Now: s.now(),
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
		// Only the class goes on: the lookup's own text is the upstream's.
		if errors.Is(err, ErrNotMobile) {
			return nil, fmt.Errorf("lookup: %w", ErrNotMobile)
		}
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
