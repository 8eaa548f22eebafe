package factor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/otpgate/otpgate/otp"
)

// The results an observer hears, one per check that reached a decision.
const (
	resultValid           = "valid"
	resultInvalid         = "invalid"
	resultReplayed        = "replayed"
	resultLocked          = "locked"
	resultRecoveryValid   = "recovery_valid"
	resultRecoveryInvalid = "recovery_invalid"
)

// Verify checks the first code of factor id, which verifies it.
func (s *Service) Verify(ctx context.Context, identity, id, code string) (*VerifyResult, error) {
	if err := CheckIdentity(identity); err != nil {
		return nil, err
	}
	if err := checkCode(code); err != nil {
		return nil, err
	}
	now := s.clock()
	ident, err := s.store.Load(ctx, identity, now)
	if err != nil {
		return nil, err
	}
	if err := s.locked(ident); err != nil {
		return nil, err
	}
	rec, err := factorOf(ident, id)
	if err != nil {
		return nil, err
	}
	if rec.Status == StatusVerified {
		return nil, ErrAlreadyVerified
	}
	after := rec.Factor
	after.Status, after.VerifiedAt, after.LastUsedAt = StatusVerified, &now, &now
	c := Check{Verify: true, VerifyID: id, Now: now, Limits: s.limits(),
		Denied: s.identityEvent(eventChallengeDenied, identity)}
	secret, ok := s.openSecret(&c, identity, rec)
	if !ok {
		return nil, fmt.Errorf("factor: verify %s: %w", id, errUnopened)
	}
	if err := s.addCandidates(&c, rec, secret, code, now, s.factorEvent(eventFactorVerified, after)); err != nil {
		return nil, err
	}
	s.resealOthers(&c, identity, ident, []*Record{rec})
	var codes []string
	if ident.RecoveryCodes == 0 {
		set, shown := s.keys.newRecoverySet(identity)
		c.Recovery, codes = &set, shown
	} else {
		s.resealRecoveryKey(&c, identity, ident)
	}
	out, err := s.check(ctx, identity, c)
	if err != nil {
		return nil, err
	}
	res := &VerifyResult{Valid: out.Valid, Factor: rec.Factor, AttemptsLeft: out.AttemptsLeft}
	if out.Valid {
		res.Factor = after
		if out.RecoveryStored {
			res.RecoveryCodes = codes
		}
	}
	return res, nil
}

// Challenge checks a code of identity's verified factors, or a recovery code.
func (s *Service) Challenge(ctx context.Context, identity string, req ChallengeRequest) (*ChallengeResult, error) {
	if err := CheckIdentity(identity); err != nil {
		return nil, err
	}
	recovery, err := checkChallenge(req)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	ident, err := s.store.Load(ctx, identity, now)
	if err != nil {
		return nil, err
	}
	if err := s.locked(ident); err != nil {
		return nil, err
	}
	targets, err := challenged(ident, req.FactorID)
	if err != nil {
		return nil, err
	}
	if recovery != "" {
		return s.spend(ctx, identity, ident, recovery, now)
	}
	c := Check{Now: now, Limits: s.limits(), Denied: s.identityEvent(eventChallengeDenied, identity)}
	s.resealRecoveryKey(&c, identity, ident)
	// A secret that does not open skips only its factor, whose codes are
	// then refused and counted like any that match nothing. When none opens
	// the code cannot be checked: an error (500), not a refusal, so that an
	// operator's missing key never spends the user's attempts; a guesser
	// learns nothing from a code that cannot match.
	opened := 0
	for _, rec := range targets {
		secret, ok := s.openSecret(&c, identity, rec)
		if !ok {
			continue
		}
		opened++
		after := rec.Factor
		after.LastUsedAt = &now
		if err := s.addCandidates(&c, rec, secret, req.Code, now, s.factorEvent(eventChallengeApproved, after)); err != nil {
			return nil, err
		}
	}
	if opened == 0 {
		return nil, fmt.Errorf("factor: challenge of %s, %d factor(s) tried: %w", identity, len(targets), errUnopened)
	}
	s.resealOthers(&c, identity, ident, targets)
	out, err := s.check(ctx, identity, c)
	if err != nil {
		return nil, err
	}
	return &ChallengeResult{Valid: out.Valid, FactorID: out.FactorID, AttemptsLeft: out.AttemptsLeft}, nil
}

// locked is the answer to a verify or challenge of an identity that used
// up its refused codes, as the store gives it: it comes before every
// answer that depends on a factor (unknown, already verified, none to
// challenge), so the identity answers 429 until the window ends (CONTRACT
// §11). The store checks again, atomically, with the code.
func (s *Service) locked(ident *Identity) error {
	if ident.Failures < s.cfg.MaxAttempts {
		return nil
	}
	s.observe(resultLocked)
	return &otp.LimitError{Kind: ErrLocked, Limit: int64(s.cfg.MaxAttempts), Remaining: 0, Reset: ident.WindowEnd}
}

// challenged returns the verified factors a challenge tries: all of them,
// or the one named.
func challenged(ident *Identity, id string) ([]*Record, error) {
	var targets []*Record
	for i := range ident.Factors {
		r := &ident.Factors[i]
		if id != "" && r.ID == id && r.Status != StatusVerified {
			return nil, ErrUnverified
		}
		if r.Status == StatusVerified && (id == "" || r.ID == id) {
			targets = append(targets, r)
		}
	}
	if len(targets) == 0 {
		return nil, ErrNotFound
	}
	return targets, nil
}

// errUnopened is a code no factor it is tried against can check: none of
// their secrets opens with the keyring. The API answers it 500.
var errUnopened = errors.New("factor secret does not open with the keyring (logged by factor id and kid)")

// openSecret opens rec's secret and, when a key that is no longer first
// sealed it, adds to c its reseal under the first key. A secret that does
// not open (its key removed from the keyring, or its bytes damaged) is
// logged by factor id and kid, never anything of a key, and reported as
// not ok.
func (s *Service) openSecret(c *Check, identity string, rec *Record) (secret []byte, ok bool) {
	ad := []byte(rec.ID)
	secret, stale, err := s.keys.Open(rec.Secret, ad)
	if err != nil {
		s.log.Warn("a factor's secret does not open with OTPGATE_ENCRYPTION_KEYS: its codes are refused until the key that sealed it is back in the keyring, or it is enrolled again",
			"identity", identity, "factor", rec.ID, "kid", sealedKID(rec.Secret), "error", err.Error())
		return nil, false
	}
	if stale {
		c.Reseal = append(c.Reseal, Reseal{FactorID: rec.ID, Old: rec.Secret, New: s.keys.Seal(secret, ad)})
	}
	return secret, true
}

// resealOthers adds to c the reseal of ident's verified factors other
// than tried whose secret a key that is no longer first sealed: any
// accepted code renews them all, as it does the recovery key, so an old
// key can be retired without waiting for each factor to be used.
func (s *Service) resealOthers(c *Check, identity string, ident *Identity, tried []*Record) {
	for i := range ident.Factors {
		r := &ident.Factors[i]
		if r.Status == StatusVerified && !slices.Contains(tried, r) {
			s.openSecret(c, identity, r)
		}
	}
}

// addCandidates adds to c each step at which code is the code of rec,
// whose secret is secret, with approved recorded if one is accepted.
func (s *Service) addCandidates(c *Check, rec *Record, secret []byte, code string, now time.Time, approved *Event) error {
	skew := s.cfg.Skew
	if rec.Skew != nil {
		skew = *rec.Skew
	}
	steps, err := matchingSteps(secret, code, now, rec.Factor, skew)
	if err != nil {
		return err
	}
	for _, st := range steps {
		c.Candidates = append(c.Candidates, Candidate{FactorID: rec.ID, Step: st, Approved: approved})
	}
	return nil
}

// resealRecoveryKey adds to c the reseal of identity's recovery key when a
// key that is no longer first sealed it: any accepted code renews it, so an
// old key can be retired without waiting for recovery codes to be spent. A
// key that does not open is left for a recovery code to report, not a
// reason to refuse a TOTP code.
func (s *Service) resealRecoveryKey(c *Check, identity string, ident *Identity) {
	if ident.Key == "" {
		return
	}
	ad := identityAD(identity)
	key, stale, err := s.keys.Open(ident.Key, ad)
	if err != nil || !stale {
		return
	}
	c.Reseal = append(c.Reseal, Reseal{Old: ident.Key, New: s.keys.Seal(key, ad)})
}

// check hands c to the store and tells the observer what it decided.
func (s *Service) check(ctx context.Context, identity string, c Check) (*Outcome, error) {
	out, err := s.store.Check(ctx, identity, c)
	if err != nil {
		if errors.Is(err, ErrLocked) {
			s.observe(resultLocked)
		}
		return nil, err
	}
	switch {
	case out.Valid:
		s.observe(resultValid)
	case out.Replayed:
		s.observe(resultReplayed)
	default:
		s.observe(resultInvalid)
	}
	return out, nil
}

// spend checks a normalized recovery code of identity.
func (s *Service) spend(ctx context.Context, identity string, ident *Identity, code string, now time.Time) (*ChallengeResult, error) {
	if ident.Key == "" {
		return nil, ErrNotFound
	}
	ad := identityAD(identity)
	key, stale, err := s.keys.Open(ident.Key, ad)
	if err != nil {
		return nil, fmt.Errorf("factor: recovery key of %s: %w", identity, err)
	}
	sp := Spend{HMAC: recoveryHMAC(key, code), Key: ident.Key, Now: now, Limits: s.limits(),
		Used:   s.identityEvent(eventRecoveryCodeUsed, identity),
		Denied: s.identityEvent(eventChallengeDenied, identity)}
	if stale {
		sp.Reseal = []Reseal{{Old: ident.Key, New: s.keys.Seal(key, ad)}}
	}
	out, err := s.store.SpendRecovery(ctx, identity, sp)
	if err != nil {
		if errors.Is(err, ErrLocked) {
			s.observe(resultLocked)
		}
		return nil, err
	}
	if out.Valid {
		s.observe(resultRecoveryValid)
	} else {
		s.observe(resultRecoveryInvalid)
	}
	return &ChallengeResult{Valid: out.Valid, Recovery: out.Valid, RecoveryCodesLeft: out.RecoveryCodesLeft,
		AttemptsLeft: out.AttemptsLeft}, nil
}
