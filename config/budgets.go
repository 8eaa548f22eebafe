package config

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/otp"
)

// The variables of the send budgets and the fraud guard (CONTRACT §9b).
const (
	prefixRateVar  = "RATE_LIMIT_SENDS_PER_PREFIX"
	dailyLimitsVar = "OTP_DAILY_SEND_LIMITS"
	guardVar       = "OTP_FRAUD_GUARD"
	guardAllowVar  = "OTP_FRAUD_GUARD_ALLOW"
	guardRatioVar  = "OTP_FRAUD_GUARD_RATIO"
	guardFloorsVar = "OTP_FRAUD_GUARD_FLOORS"
)

// budgets reads the §9b variables on top of b, which holds
// otp.DefaultBudgetConfig. A variable with a malformed entry keeps its
// default whole, so validateBudgets does not complain about it again.
func (p *parser) budgets(b *otp.BudgetConfig) {
	if v, ok := p.get(prefixRateVar); ok {
		r, err := parseRate(v)
		if err != nil {
			p.fail(prefixRateVar, "%v", err)
		} else {
			b.PrefixLimit, b.PrefixWindow = int(r.Limit), r.Period
		}
	}
	p.dailyLimits(&b.Daily)
	if v, ok := p.get(guardVar); ok {
		b.Guard = otp.GuardMode(strings.ToLower(v))
	}
	var allow []string
	p.list(guardAllowVar, &allow)
	for i, a := range allow {
		if !strings.HasPrefix(a, "+") {
			allow[i] = strings.ToUpper(a)
		}
	}
	b.Allow = allow
	if v, ok := p.get(guardRatioVar); ok {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil {
			p.fail(guardRatioVar, "%q is not a number like 0.5", v)
		} else {
			b.Ratio = r
		}
	}
	p.floors(&b.Floors)
}

// dailyLimits reads OTP_DAILY_SEND_LIMITS: CC:N or *:N entries, each
// country at most once.
func (p *parser) dailyLimits(dst *map[string]int) {
	var items []string
	p.list(dailyLimitsVar, &items)
	if len(items) == 0 {
		return
	}
	out := make(map[string]int, len(items))
	ok := true
	for _, item := range items {
		cc, n, found := strings.Cut(item, ":")
		cc = strings.ToUpper(strings.TrimSpace(cc))
		limit, err := strconv.Atoi(strings.TrimSpace(n))
		_, dup := out[cc]
		switch {
		case !found || cc == "":
			p.fail(dailyLimitsVar, "%q is not CC:N (an ISO country and its sends per UTC day) or *:N (all countries)", item)
		case err != nil:
			p.fail(dailyLimitsVar, "%q: %q is not a whole number", item, strings.TrimSpace(n))
		case dup:
			p.fail(dailyLimitsVar, "%s is given twice", cc)
		default:
			out[cc] = limit
			continue
		}
		ok = false
	}
	if ok {
		*dst = out
	}
}

// floors reads OTP_FRAUD_GUARD_FLOORS over dst; with a malformed entry, dst
// keeps its value.
func (p *parser) floors(dst *otp.Floors) {
	v, ok := p.get(guardFloorsVar)
	if !ok {
		return
	}
	f, err := otp.ParseFloors(v, *dst)
	if err != nil {
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			p.fail(guardFloorsVar, "%v", e)
		}
		return
	}
	*dst = f
}

// validateBudgets checks the ranges of the §9b settings, also of a Config
// built in code.
func (c *Config) validateBudgets(bad func(name, format string, args ...any)) {
	b := &c.Budgets
	for _, cc := range slices.Sorted(maps.Keys(b.Daily)) {
		if cc != "*" && !isRegion(cc) {
			bad(dailyLimitsVar, "%q is not an ISO 3166 country code with phone numbers, nor *", cc)
		}
		if n := b.Daily[cc]; n < 1 {
			bad(dailyLimitsVar, "%s:%d: the limit must be at least 1", cc, n)
		}
	}
	switch b.Guard {
	case otp.GuardOff, otp.GuardRecord, otp.GuardEnforce:
	default:
		bad(guardVar, "must be off, record or enforce, got %q", b.Guard)
	}
	for _, a := range b.Allow {
		if digits, ok := strings.CutPrefix(a, "+"); ok {
			if digits == "" || len(digits) > 15 || strings.Trim(digits, "0123456789") != "" {
				bad(guardAllowVar, "%q is not a + and 1 to 15 digits of a number prefix", a)
			}
		} else if !isRegion(a) {
			bad(guardAllowVar, "%q is neither an ISO 3166 country code with phone numbers nor a +prefix like +6421555", a)
		}
	}
	// NaN fails both comparisons, so it is refused too.
	if !(b.Ratio > 0 && b.Ratio <= 10) {
		bad(guardRatioVar, "must be above 0 and at most 10, got %v", b.Ratio)
	}
	for name, n := range b.Floors.All() {
		if n < 1 {
			bad(guardFloorsVar, "%s must be at least 1, got %d", name, n)
		}
	}
}

// budgetAttrs are the §9b settings for LogValue, written as they are set.
func (c *Config) budgetAttrs() []slog.Attr {
	b := &c.Budgets
	daily := make([]string, 0, len(b.Daily))
	for _, cc := range slices.Sorted(maps.Keys(b.Daily)) {
		daily = append(daily, fmt.Sprintf("%s:%d", cc, b.Daily[cc]))
	}
	return []slog.Attr{
		slog.String(prefixRateVar, formatRate(b.PrefixLimit, b.PrefixWindow)),
		slog.String(dailyLimitsVar, strings.Join(daily, ",")),
		slog.String(guardVar, string(b.Guard)),
		slog.String(guardAllowVar, strings.Join(b.Allow, ",")),
		slog.String(guardRatioVar, strconv.FormatFloat(b.Ratio, 'g', -1, 64)),
		slog.String(guardFloorsVar, b.Floors.String()),
	}
}

// formatRate writes a limit per window as the ulule/limiter rate it was
// read from.
func formatRate(limit int, window time.Duration) string {
	for _, u := range []struct {
		unit string
		d    time.Duration
	}{{"S", time.Second}, {"M", time.Minute}, {"H", time.Hour}, {"D", 24 * time.Hour}} {
		if window == u.d {
			return fmt.Sprintf("%d-%s", limit, u.unit)
		}
	}
	return fmt.Sprintf("%d per %s", limit, window)
}
