package otp

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// The refusals of the cost defences; each comes as a *LimitError whose
// Reset says when to try again. A prefix past its static cap is refused
// with ErrRateLimited.
var (
	// ErrSendBudget refuses a start past a daily send budget; it frees up
	// at the next UTC midnight.
	ErrSendBudget = errors.New("send budget exhausted")
	// ErrFraudGuard refuses a start the fraud guard stopped in enforce mode.
	ErrFraudGuard = errors.New("refused by the fraud guard")
)

// GuardMode is what the fraud guard does when a warning fires.
type GuardMode string

// The modes of OTP_FRAUD_GUARD.
const (
	GuardOff     GuardMode = "off"     // no guard; the static caps still hold
	GuardRecord  GuardMode = "record"  // decide and log, never refuse
	GuardEnforce GuardMode = "enforce" // refuse when a warning fires
)

// Warning names one threshold of the fraud guard, exactly as the decision
// log and metrics spell it.
type Warning string

// The fraud guard's warnings.
const (
	WarnCountryDaily  Warning = "country_daily"
	WarnCountryHourly Warning = "country_hourly"
	WarnPrefixHourly  Warning = "prefix_hourly"
	WarnIPCountries   Warning = "ip_countries"
)

// Floors are the fraud guard's thresholds with no history: unverified
// sends per country in 24 h and in 1 h, per prefix in 1 h, and countries
// without an approval per client IP in 24 h.
type Floors struct {
	CountryDay, CountryHour, PrefixHour, IPCountries int
}

// floorName is one name OTP_FRAUD_GUARD_FLOORS takes and the floor it sets.
type floorName struct {
	name  string
	field func(*Floors) *int
}

// floorNames are in the contract's order.
var floorNames = []floorName{
	{"country_day", func(f *Floors) *int { return &f.CountryDay }},
	{"country_hour", func(f *Floors) *int { return &f.CountryHour }},
	{"prefix_hour", func(f *Floors) *int { return &f.PrefixHour }},
	{"ip_countries", func(f *Floors) *int { return &f.IPCountries }},
}

// All yields each floor by its name, in the contract's order.
func (f Floors) All() iter.Seq2[string, int] {
	return func(yield func(string, int) bool) {
		for _, n := range floorNames {
			if !yield(n.name, *n.field(&f)) {
				return
			}
		}
	}
}

// String writes f as ParseFloors reads it.
func (f Floors) String() string {
	var parts []string
	for name, n := range f.All() {
		parts = append(parts, name+":"+strconv.Itoa(n))
	}
	return strings.Join(parts, ",")
}

// ParseFloors reads floors as OTP_FRAUD_GUARD_FLOORS writes them: name:N
// for any subset of the floors, each at most once, comma separated; the
// floors not given keep their value in base. The error joins one error per
// malformed entry; ranges are checked with the rest of a BudgetConfig.
func ParseFloors(list string, base Floors) (Floors, error) {
	out := base
	given := map[string]bool{}
	var errs []error
	for item := range strings.SplitSeq(list, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		name, n, found := strings.Cut(item, ":")
		name, n = strings.TrimSpace(name), strings.TrimSpace(n)
		i := slices.IndexFunc(floorNames, func(f floorName) bool { return f.name == name })
		v, err := strconv.Atoi(n)
		switch {
		case !found:
			errs = append(errs, fmt.Errorf("%q is not name:N", item))
		case i < 0:
			names := make([]string, len(floorNames))
			for j, f := range floorNames {
				names[j] = f.name
			}
			errs = append(errs, fmt.Errorf("%q is not one of %s", name, strings.Join(names, ", ")))
		case err != nil:
			errs = append(errs, fmt.Errorf("%q: %q is not a whole number", item, n))
		case given[name]:
			errs = append(errs, fmt.Errorf("%s is given twice", name))
		default:
			given[name] = true
			*floorNames[i].field(&out) = v
		}
	}
	if len(errs) > 0 {
		return base, errors.Join(errs...)
	}
	return out, nil
}

// BudgetConfig holds the send budgets and the fraud guard (CONTRACT §9b).
type BudgetConfig struct {
	// PrefixLimit sends per PrefixWindow to all numbers of one prefix; 0
	// is no cap.
	PrefixLimit  int
	PrefixWindow time.Duration
	// Daily caps sends per UTC day by ISO country; the key "*" caps all
	// countries together.
	Daily map[string]int

	Guard GuardMode
	// Ratio is R: unverified sends tolerated per approval (0 < R ≤ 10).
	Ratio  float64
	Floors Floors
	// Allow lists ISO countries and "+"-prefixes ("+6421555") the guard
	// counts but never refuses.
	Allow []string
}

// DefaultBudgetConfig returns the defaults of the public contract.
func DefaultBudgetConfig() BudgetConfig {
	return BudgetConfig{
		PrefixLimit:  30,
		PrefixWindow: time.Hour,
		Guard:        GuardRecord,
		// Tuned with otpgate-bench -fraud-sim (README): the contract's first
		// values (0.5; 50, 10) refused legitimate users at 65 % conversion
		// and for the attack hour at 85 %.
		Ratio:  0.8,
		Floors: Floors{CountryDay: 200, CountryHour: 160, PrefixHour: 5, IPCountries: 3},
	}
}

func (c BudgetConfig) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.PrefixLimit >= 0, "prefix limit %d must not be negative", c.PrefixLimit)
	check(c.PrefixLimit == 0 || c.PrefixWindow > 0, "prefix window %v must be positive", c.PrefixWindow)
	for cc, n := range c.Daily {
		check(cc == "*" || phonenumbers.GetCountryCodeForRegion(cc) != 0, "daily limit country %q is unknown", cc)
		check(n >= 1, "daily limit %s:%d must be at least 1", cc, n)
	}
	check(c.Guard == GuardOff || c.Guard == GuardRecord || c.Guard == GuardEnforce, "fraud guard mode %q must be off, record or enforce", c.Guard)
	if c.Guard != GuardOff {
		check(c.Ratio > 0 && c.Ratio <= 10, "fraud guard ratio %v must be above 0 and at most 10", c.Ratio)
		f := c.Floors
		check(f.CountryDay >= 1 && f.CountryHour >= 1 && f.PrefixHour >= 1 && f.IPCountries >= 1, "fraud guard floors %+v must each be at least 1", f)
	}
	for _, a := range c.Allow {
		ok := phonenumbers.GetCountryCodeForRegion(a) != 0
		if d, found := strings.CutPrefix(a, "+"); found {
			// E.164 numbers have at most 15 digits, so a longer prefix
			// would match nothing.
			ok = len(d) >= 1 && len(d) <= 15 && strings.Trim(d, "0123456789") == ""
		}
		check(ok, "fraud guard allow entry %q is neither an ISO country nor a + and 1 to 15 digits", a)
	}
	return errors.Join(errs...)
}

// BudgetRequest asks a Budgets for one SMS to Number. The Service fills it
// in; the store applies it as given.
type BudgetRequest struct {
	Token   string // names the reservation in Release and Bind
	Number  string // digits with country code, no '+'
	Country string // ISO region of Number
	Prefix  string // Number without its last 4 digits
	// ClientIP is the per-IP key of the end user's address; "" skips the
	// ip_countries warning.
	ClientIP string
	Now      time.Time

	PrefixLimit  int
	PrefixWindow time.Duration
	// CountryDaily and AllDaily are the day's caps for Country and for all
	// countries; 0 is no cap.
	CountryDaily, AllDaily int

	Guard  GuardMode
	Ratio  float64
	Floors Floors
	// Allowed marks a number on the allow list: the guard counts it and
	// reports its warnings, but never refuses it.
	Allowed bool
}

// Budgets keeps the counters of the send budgets and the fraud guard. Each
// method is atomic; any failure of the store itself matches ErrUnavailable.
type Budgets interface {
	// Reserve decides whether one SMS may go out under r. It refuses with a
	// *LimitError of kind ErrRateLimited (the prefix cap), ErrSendBudget or
	// ErrFraudGuard, counting nothing. Otherwise it counts the send and
	// returns the warnings that fired (GuardRecord, or an allowed number).
	Reserve(ctx context.Context, r BudgetRequest) ([]Warning, error)
	// Release takes back a reservation whose SMS was not sent. Releasing
	// one that is not held is a no-op.
	Release(ctx context.Context, r BudgetRequest) error
	// Bind ties the sent reservation token to verification id, so that the
	// verification's approval verifies the send.
	Bind(ctx context.Context, token, id string, now time.Time) error
	// Approve verifies every send bound to verification id and counts one
	// approval for its country, prefix and client IP. Approving twice
	// counts once.
	Approve(ctx context.Context, id string, now time.Time) error
}

// Decision is what the fraud guard made of one start.
type Decision string

// The decisions, as the log and metrics spell them.
const (
	DecisionAllowed Decision = "allowed" // no warning fired
	DecisionRefused Decision = "refused" // a warning fired in enforce
	// DecisionRecorded is a warning that fired in record mode: the send
	// went ahead.
	DecisionRecorded Decision = "recorded"
	// DecisionAllowListed is a warning that fired for a number on the
	// allow list: the send went ahead.
	DecisionAllowListed Decision = "allow_listed"
)

// GuardDecision is one decision of the fraud guard, for metrics.
type GuardDecision struct {
	Decision Decision
	Warnings []Warning
	Country  string
}

// Meter counts what the cost defences watch, by country; api.Metrics is one.
type Meter interface {
	// Verification counts a verification that reached status: pending when
	// it was created, or the status it ended with.
	Verification(status Status, country string)
	// SMSSent counts one SMS that costs money: sent, or maybe sent.
	SMSSent(country, sender string)
	// Decided counts one decision of the fraud guard.
	Decided(d GuardDecision)
}

// WithBudgets applies the send budgets and the fraud guard of cfg, with
// counters kept in b.
func WithBudgets(b Budgets, cfg BudgetConfig) Option {
	return func(s *Service) { s.budgets, s.budgetCfg = b, cfg }
}

// WithMeter has m count verifications, SMS and guard decisions by country.
func WithMeter(m Meter) Option { return func(s *Service) { s.meter = m } }

// NumberPrefix is the prefix §9b's caps and guard count a number under:
// the number without its last 4 digits.
func NumberPrefix(number string) string {
	return number[:max(len(number)-4, 0)]
}
