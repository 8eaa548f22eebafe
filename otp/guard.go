package otp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// reservation is a send counted by the budgets and not yet sent: what to
// release if no SMS goes out, and the warnings to report once one does.
type reservation struct {
	req      BudgetRequest
	warnings []Warning
}

// reserveBudget asks the budgets for one SMS to number, before anything
// that costs money (the lookup, the send). It returns the reservation, or
// nil when no budgets are kept. A refusal is reported at once; the other
// decisions only once the SMS is out, since the start may yet send nothing.
func (s *Service) reserveBudget(ctx context.Context, number, country, clientIP, token string) (*reservation, error) {
	if s.budgets == nil {
		return nil, nil
	}
	c := s.budgetCfg
	res := &reservation{req: BudgetRequest{
		Token: token, Number: number, Country: country, Prefix: NumberPrefix(number),
		ClientIP: clientIP, Now: s.now(),
		PrefixLimit: c.PrefixLimit, PrefixWindow: c.PrefixWindow,
		CountryDaily: c.Daily[country], AllDaily: c.Daily["*"],
		Guard: c.Guard, Ratio: c.Ratio, Floors: c.Floors,
		Allowed: s.allow.allows(number, country),
	}}
	warnings, err := s.budgets.Reserve(ctx, res.req)
	if le, ok := errors.AsType[*LimitError](err); ok {
		switch le.Kind {
		case ErrFraudGuard:
			s.decided(ctx, &res.req, DecisionRefused, le.Warnings)
		case ErrSendBudget:
			s.observer(EventSendBudgetExhausted)
		default:
			s.observer(EventPrefixLimited)
		}
		return nil, err
	}
	if err != nil {
		// The script may have run with its answer lost: take the
		// reservation back, or it would count a send that never was.
		s.releaseBudget(ctx, res)
		return nil, fmt.Errorf("send budgets: %w", err)
	}
	res.warnings = warnings
	return res, nil
}

// budgetSent reports the guard's decision on a send that went out, or may
// have: one decision per SMS.
func (s *Service) budgetSent(ctx context.Context, res *reservation) {
	if res == nil || res.req.Guard == GuardOff {
		return
	}
	switch {
	case len(res.warnings) == 0:
		s.meter.Decided(GuardDecision{Decision: DecisionAllowed, Country: res.req.Country})
	case res.req.Allowed:
		s.decided(ctx, &res.req, DecisionAllowListed, res.warnings)
	default:
		s.decided(ctx, &res.req, DecisionRecorded, res.warnings)
	}
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
func (s *Service) releaseBudget(ctx context.Context, res *reservation) {
	if res == nil {
		return
	}
	if err := s.budgets.Release(context.WithoutCancel(ctx), res.req); err != nil {
		s.log.WarnContext(ctx, "release send budget", "to", MaskPhone(res.req.Number), "err", err)
	}
}

// bindBudget ties a reservation to the verifications its code may be
// stored under (the one it renews, and the new one it would create if that
// ended meanwhile) before the SMS goes out, so that no approval can come
// before it. A failure is logged: the send then stays unverified, which
// errs on the side of refusing.
func (s *Service) bindBudget(ctx context.Context, res *reservation, ids ...string) {
	if res == nil || res.req.Guard == GuardOff {
		return
	}
	for _, id := range ids {
		if id == "" {
			continue
		}
		if err := s.budgets.Bind(ctx, res.req.Token, id, s.now()); err != nil {
			s.log.WarnContext(ctx, "bind send to its verification for the fraud guard", "id", id, "err", err)
		}
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
