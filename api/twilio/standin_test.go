package twilio_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"regexp"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/factor"
)

// standIn is a hand-written api.Factors on maps, with the rules the
// dialect relies on and nothing more: codes in rightCodes are right, each
// once per factor; standInAttempts refused codes lock an identity.
type standIn struct {
	mu       sync.Mutex
	now      func() time.Time
	factors  map[string][]factor.Factor
	used     map[string]bool // factor id + code
	refused  map[string]int  // by identity
	enrolled []factor.EnrollRequest
	// fail, when set, is what every call returns.
	fail error
}

var _ api.Factors = (*standIn)(nil)

var rightCodes = []string{"123456", "234567", "345678"}

const standInAttempts = 3

var identityRule = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

func newStandIn(now func() time.Time) *standIn {
	return &standIn{now: now, factors: map[string][]factor.Factor{}, used: map[string]bool{}, refused: map[string]int{}}
}

func (s *standIn) check(identity string) error {
	if s.fail != nil {
		return s.fail
	}
	if !identityRule.MatchString(identity) {
		return &otp.FieldError{Field: "identity", Reason: "must be 8 to 64 of A-Z a-z 0-9 . _ -"}
	}
	return nil
}

func (s *standIn) find(identity, id string) (*factor.Factor, error) {
	for i, f := range s.factors[identity] {
		if f.ID == id {
			return &s.factors[identity][i], nil
		}
	}
	return nil, factor.ErrNotFound
}

func (s *standIn) Enroll(_ context.Context, identity string, req factor.EnrollRequest) (*factor.Enrollment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(identity); err != nil {
		return nil, err
	}
	s.enrolled = append(s.enrolled, req)
	f := factor.Factor{Identity: identity, Type: "totp", Label: req.Label, Status: factor.StatusUnverified,
		Digits: cmp.Or(req.Digits, 6), Period: cmp.Or(req.Period, 30), Algorithm: cmp.Or(req.Algorithm, factor.SHA1),
		CreatedAt: s.now(), Skew: req.Skew}
	switch {
	case req.Label == "" || len(req.Label) > factor.MaxLabel || !utf8.ValidString(req.Label):
		return nil, &otp.FieldError{Field: "label", Reason: "must be 1 to 64 bytes of UTF-8"}
	case f.Digits < 6 || f.Digits > 8:
		return nil, &otp.FieldError{Field: "digits", Reason: "must be 6 to 8"}
	case f.Period != 30 && f.Period != 60:
		return nil, &otp.FieldError{Field: "period", Reason: "must be 30 or 60"}
	case !slices.Contains([]factor.Algorithm{factor.SHA1, factor.SHA256, factor.SHA512}, f.Algorithm):
		return nil, &otp.FieldError{Field: "algorithm", Reason: "must be SHA1, SHA256 or SHA512"}
	case req.Skew != nil && (*req.Skew < 0 || *req.Skew > 2):
		return nil, &otp.FieldError{Field: "skew", Reason: "must be 0 to 2"}
	case len(s.factors[identity]) >= factor.MaxFactors:
		return nil, factor.ErrLimit
	}
	b := make([]byte, 16)
	rand.Read(b)
	f.ID = "fac_" + hex.EncodeToString(b)
	s.factors[identity] = append(s.factors[identity], f)
	issuer := cmp.Or(req.Issuer, "otpgate")
	return &factor.Enrollment{Factor: f, Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
		URI: "otpauth://totp/" + issuer + ":" + f.Label + "?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=" + issuer}, nil
}

// accept decides on code for f, or counts a refusal; a locked identity
// is refused whatever the code.
func (s *standIn) accept(identity string, f *factor.Factor, code string) (bool, int, error) {
	if !regexp.MustCompile(`^[0-9]{6,8}$`).MatchString(code) {
		return false, 0, &otp.FieldError{Field: "code", Reason: "must be 6 to 8 digits"}
	}
	if s.refused[identity] >= standInAttempts {
		return false, 0, &otp.LimitError{Kind: factor.ErrLocked, Limit: standInAttempts, Reset: s.now().Add(factor.AttemptWindow)}
	}
	if slices.Contains(rightCodes, code) && !s.used[f.ID+code] {
		s.used[f.ID+code] = true
		now := s.now()
		f.LastUsedAt = &now
		return true, standInAttempts - s.refused[identity], nil
	}
	s.refused[identity]++
	return false, standInAttempts - s.refused[identity], nil
}

func (s *standIn) Verify(_ context.Context, identity, id, code string) (*factor.VerifyResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(identity); err != nil {
		return nil, err
	}
	f, err := s.find(identity, id)
	if err != nil {
		return nil, err
	}
	if f.Status == factor.StatusVerified {
		return nil, factor.ErrAlreadyVerified
	}
	ok, left, err := s.accept(identity, f, code)
	if err != nil {
		return nil, err
	}
	if !ok {
		return &factor.VerifyResult{Factor: *f, AttemptsLeft: left}, nil
	}
	f.Status, f.VerifiedAt = factor.StatusVerified, f.LastUsedAt
	return &factor.VerifyResult{Valid: true, Factor: *f, AttemptsLeft: left}, nil
}

func (s *standIn) Challenge(_ context.Context, identity string, req factor.ChallengeRequest) (*factor.ChallengeResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(identity); err != nil {
		return nil, err
	}
	f, err := s.find(identity, req.FactorID)
	if err != nil {
		return nil, err
	}
	if f.Status != factor.StatusVerified {
		return nil, factor.ErrUnverified
	}
	ok, left, err := s.accept(identity, f, req.Code)
	if err != nil {
		return nil, err
	}
	res := &factor.ChallengeResult{Valid: ok, AttemptsLeft: left}
	if ok {
		res.FactorID = f.ID
	}
	return res, nil
}

func (s *standIn) List(_ context.Context, identity string) ([]factor.Factor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(identity); err != nil {
		return nil, err
	}
	return slices.Clone(s.factors[identity]), nil
}

func (s *standIn) Get(_ context.Context, identity, id string) (*factor.Factor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(identity); err != nil {
		return nil, err
	}
	f, err := s.find(identity, id)
	if err != nil {
		return nil, err
	}
	got := *f
	return &got, nil
}

func (s *standIn) DeleteFactor(_ context.Context, identity, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(identity); err != nil {
		return err
	}
	if _, err := s.find(identity, id); err != nil {
		return err
	}
	s.factors[identity] = slices.DeleteFunc(s.factors[identity], func(f factor.Factor) bool { return f.ID == id })
	return nil
}

func (s *standIn) DeleteIdentity(_ context.Context, identity string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(identity); err != nil {
		return err
	}
	if len(s.factors[identity]) == 0 {
		return factor.ErrNotFound
	}
	delete(s.factors, identity)
	return nil
}

func (s *standIn) RegenerateRecoveryCodes(context.Context, string) ([]string, error) {
	return nil, errors.New("stand-in: /v2/ has no recovery codes")
}
