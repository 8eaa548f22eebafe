package otp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// reserveBudget asks the budgets for one SMS to number, before anything
// that costs money (the lookup, the send). It returns the reservation to
// release if no SMS goes out, or nil when no budgets are kept.
func (s *Service) reserveBudget(ctx context.Context, number, country, clientIP, token string) (*BudgetRequest, error) {
	if s.budgets == nil {
		return nil, nil
	}
	c := s.budgetCfg
	r := &BudgetRequest{
		Token: token, Number: number, Country: country, Prefix: NumberPrefix(number),
		ClientIP: clientIP, Now: s.now(),
		PrefixLimit: c.PrefixLimit, PrefixWindow: c.PrefixWindow,
		CountryDaily: c.Daily[country], AllDaily: c.Daily["*"],
		Guard: c.Guard, Ratio: c.Ratio, Floors: c.Floors,
		Allowed: s.allow.allows(number, country),
	}
	warnings, err := s.budgets.Reserve(ctx, *r)
	if le, ok := errors.AsType[*LimitError](err); ok {
		switch le.Kind {
		case ErrFraudGuard:
			s.decided(ctx, r, DecisionRefused, le.Warnings)
		case ErrSendBudget:
			s.observer(EventSendBudgetExhausted)
		default:
			s.observer(EventPrefixLimited)
		}
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("send budgets: %w", err)
	}
	switch {
	case c.Guard == GuardOff:
	case len(warnings) == 0:
		s.meter.Decided(GuardDecision{Decision: DecisionAllowed, Country: country})
	case r.Allowed:
		s.decided(ctx, r, DecisionAllowListed, warnings)
	default:
		s.decided(ctx, r, DecisionRecorded, warnings)
	}
	return r, nil
}

// decided logs and counts a decision on which a warning fired.
func (s *Service) decided(ctx context.Context, r *BudgetRequest, d Decision, warnings []Warning) {
	s.log.WarnContext(ctx, "fraud guard", "decision", d, "warnings", warnings,
		"country", r.Country, "to", MaskPhone(r.Number), "client_ip", r.ClientIP)
	s.meter.Decided(GuardDecision{Decision: d, Warnings: warnings, Country: r.Country})
}

// releaseBudget takes back a reservation whose SMS did not go out. A
// failure is logged: it only leaves the send counted, which errs on the
// side of refusing.
func (s *Service) releaseBudget(ctx context.Context, r *BudgetRequest) {
	if r == nil {
		return
	}
	if err := s.budgets.Release(context.WithoutCancel(ctx), *r); err != nil {
		s.log.WarnContext(ctx, "release send budget", "to", MaskPhone(r.Number), "err", err)
	}
}

// bindBudget ties a sent code's reservation to its verification, so the
// guard counts the send verified once the verification is approved.
func (s *Service) bindBudget(ctx context.Context, r *BudgetRequest, id string) {
	if r == nil || r.Guard == GuardOff {
		return
	}
	if err := s.budgets.Bind(ctx, r.Token, id, s.now()); err != nil {
		s.log.WarnContext(ctx, "bind send to its verification for the fraud guard", "id", id, "err", err)
	}
}

// approved counts an approval for the cost defences. It cannot undo the
// approval, so a failure is logged: the guard then sees the sends as
// unverified, which errs on the side of refusing.
func (s *Service) approved(ctx context.Context, id, number string) {
	s.meter.Verification(StatusApproved, regionOf(number))
	if s.budgets == nil || s.budgetCfg.Guard == GuardOff {
		return
	}
	if err := s.budgets.Approve(context.WithoutCancel(ctx), id, s.now()); err != nil {
		s.log.WarnContext(ctx, "count approval for the fraud guard", "id", id, "err", err)
	}
}

// allowList is OTP_FRAUD_GUARD_ALLOW: countries and number prefixes.
type allowList struct {
	countries map[string]bool
	prefixes  []string
}

func newAllowList(entries []string) allowList {
	a := allowList{countries: make(map[string]bool)}
	for _, e := range entries {
		if p, ok := strings.CutPrefix(e, "+"); ok {
			a.prefixes = append(a.prefixes, p)
		} else {
			a.countries[strings.ToUpper(e)] = true
		}
	}
	return a
}

func (a allowList) allows(number, country string) bool {
	if a.countries[country] {
		return true
	}
	for _, p := range a.prefixes {
		if strings.HasPrefix(number, p) {
			return true
		}
	}
	return false
}

// regionOf is the ISO region of a normalised number, "" if none.
func regionOf(number string) string {
	n, err := phonenumbers.Parse("+"+number, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(n)
}

// noMeter is the Meter of a Service built without WithMeter.
type noMeter struct{}

func (noMeter) Verification(Status, string) {}
func (noMeter) SMSSent(string, string)      {}
func (noMeter) Decided(GuardDecision)       {}
