package otp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// budgets is a recording otp.Budgets: it grants every reservation unless
// refuse is set, and answers with warnings.
type budgets struct {
	mu       sync.Mutex
	refuse   error
	warnings []otp.Warning
	reserved []otp.BudgetRequest
	released []string
	bound    map[string][]string // token → the verification ids it is bound to
	approved []string
}

func (b *budgets) Reserve(_ context.Context, r otp.BudgetRequest) ([]otp.Warning, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refuse != nil {
		return nil, b.refuse
	}
	b.reserved = append(b.reserved, r)
	return b.warnings, nil
}

func (b *budgets) Release(_ context.Context, r otp.BudgetRequest) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.released = append(b.released, r.Token)
	return nil
}

func (b *budgets) Bind(_ context.Context, token, id string, _ time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bound == nil {
		b.bound = map[string][]string{}
	}
	b.bound[token] = append(b.bound[token], id)
	return nil
}

func (b *budgets) Approve(_ context.Context, id string, _ time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.approved = append(b.approved, id)
	return nil
}

func (b *budgets) boundTo(token, id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Contains(b.bound[token], id)
}

// meter records what a Service counts by country.
type meter struct {
	mu        sync.Mutex
	verified  []string // "status/country"
	sent      []string // "country/sender"
	decisions []otp.GuardDecision
}

func (m *meter) Verification(s otp.Status, country string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.verified = append(m.verified, string(s)+"/"+country)
}

func (m *meter) SMSSent(country, sender string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, country+"/"+sender)
}

func (m *meter) Decided(d otp.GuardDecision) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.decisions = append(m.decisions, d)
}

type budgetEnv struct {
	*env
	budgets *budgets
	meter   *meter
	log     *otptest.LogBuffer
}

// newBudgetEnv is a Service with the recording budgets, on its own
// miniredis: the store is not what these tests are about.
func newBudgetEnv(t *testing.T, bc otp.BudgetConfig, edit func(*otp.Config)) *budgetEnv {
	t.Helper()
	rdb, _ := redistest.Mini(t)
	b := &budgetEnv{budgets: &budgets{}, meter: &meter{}, log: &otptest.LogBuffer{}}
	b.env = newEnv(t, rdb, edit,
		otp.WithBudgets(b.budgets, bc), otp.WithMeter(b.meter),
		otp.WithLogger(slog.New(slog.NewTextHandler(b.log, nil))))
	return b
}

func TestRefusedStartCostsNothing(t *testing.T) {
	ctx := context.Background()
	for _, refusal := range []*otp.LimitError{
		{Kind: otp.ErrRateLimited, Limit: 30},
		{Kind: otp.ErrSendBudget, Limit: 500},
		{Kind: otp.ErrFraudGuard, Limit: 5, Warnings: []otp.Warning{otp.WarnPrefixHourly}},
	} {
		t.Run(refusal.Kind.Error(), func(t *testing.T) {
			bc := otp.DefaultBudgetConfig()
			bc.Guard = otp.GuardEnforce
			e := newBudgetEnv(t, bc, func(c *otp.Config) { c.Lookup = otp.LookupOn })
			e.budgets.refuse = refusal
			number := "64211230001"
			_, _, err := e.svc.Start(ctx, otp.StartRequest{To: "+" + number, ClientIP: "198.51.100.7"})
			if got := wantLimit(t, err, refusal.Kind); got != refusal {
				t.Fatalf("limit error = %+v, want the budgets' own %+v", got, refusal)
			}
			if n := e.lookup.calls.Load(); n != 0 {
				t.Errorf("lookups = %d, want none: the budgets come first", n)
			}
			if n := e.sender.count(); n != 0 {
				t.Errorf("SMS sent = %d, want none", n)
			}
			if _, err := e.store.Newest(ctx, number); !errors.Is(err, otp.ErrNotFound) {
				t.Errorf("Newest = %v, want nothing stored", err)
			}
			if len(e.budgets.released) != 0 {
				t.Errorf("released %v: a refusal holds nothing", e.budgets.released)
			}
			wantEvent := map[error]otp.Event{otp.ErrRateLimited: otp.EventPrefixLimited, otp.ErrSendBudget: otp.EventSendBudgetExhausted}[refusal.Kind]
			for _, ev := range []otp.Event{otp.EventPrefixLimited, otp.EventSendBudgetExhausted, otp.EventRateLimited} {
				if got, want := e.events.count(ev), map[bool]int{true: 1}[ev == wantEvent]; got != want {
					t.Errorf("%s events = %d, want %d", ev, got, want)
				}
			}
			logged := e.log.String()
			if refusal.Kind != otp.ErrFraudGuard {
				if strings.Contains(logged, "fraud guard") {
					t.Errorf("a cap refusal logged a guard decision:\n%s", logged)
				}
				return
			}
			for _, want := range []string{"decision=refused", "prefix_hourly", "country=NZ", "to=" + otp.MaskPhone(number), "client_ip=198.51.100.7"} {
				if !strings.Contains(logged, want) {
					t.Errorf("decision line lacks %q:\n%s", want, logged)
				}
			}
			if strings.Contains(logged, number) {
				t.Errorf("the log holds the whole number:\n%s", logged)
			}
			want := []otp.GuardDecision{{Decision: otp.DecisionRefused, Warnings: []otp.Warning{otp.WarnPrefixHourly}, Country: "NZ"}}
			if !equalDecisions(e.meter.decisions, want) {
				t.Errorf("decisions = %+v, want %+v", e.meter.decisions, want)
			}
		})
	}
}

func equalDecisions(a, b []otp.GuardDecision) bool {
	return slices.EqualFunc(a, b, func(x, y otp.GuardDecision) bool {
		return x.Decision == y.Decision && x.Country == y.Country && slices.Equal(x.Warnings, y.Warnings)
	})
}

func TestBudgetRequestCarriesTheRule(t *testing.T) {
	bc := otp.DefaultBudgetConfig()
	bc.Daily = map[string]int{"NZ": 500, "*": 900}
	bc.Allow = []string{"AU", "+6421555"}
	bc.Ratio = 0.75
	e := newBudgetEnv(t, bc, func(c *otp.Config) { c.AllowedCountries = []string{"NZ", "AU", "GB"} })
	for _, to := range []string{"+64 21 123 4567", "+64 21 555 1234", auNumber, "+44 7400 123456"} {
		if _, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: to, ClientIP: "203.0.113.9"}); err != nil {
			t.Fatalf("Start(%s): %v", to, err)
		}
	}
	type row struct {
		number, country, prefix string
		countryDaily            int
		allowed                 bool
	}
	want := []row{
		{"64211234567", "NZ", "6421123", 500, false},
		{"64215551234", "NZ", "6421555", 500, true},
		{"61412345678", "AU", "6141234", 0, true},
		{"447400123456", "GB", "44740012", 0, false},
	}
	if len(e.budgets.reserved) != len(want) {
		t.Fatalf("reserved %d, want %d", len(e.budgets.reserved), len(want))
	}
	for i, r := range e.budgets.reserved {
		w := want[i]
		got := row{r.Number, r.Country, r.Prefix, r.CountryDaily, r.Allowed}
		if got != w {
			t.Errorf("request %d = %+v, want %+v", i, got, w)
		}
		if r.AllDaily != 900 || r.ClientIP != "203.0.113.9" || r.Ratio != 0.75 || r.Guard != otp.GuardRecord ||
			r.PrefixLimit != 30 || r.PrefixWindow != time.Hour || r.Floors != bc.Floors || !r.Now.Equal(e.clock.Now()) || len(r.Token) != 32 {
			t.Errorf("request %d = %+v", i, r)
		}
	}
}

func TestBudgetReleasedWhenNoSMSWentOut(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		setup    func(e *budgetEnv)
		released bool
	}{
		{"invalid at lookup", func(e *budgetEnv) { e.lookup.err = otp.ErrInvalidPhone }, true},
		{"provider refused", func(e *budgetEnv) { e.sender.fail(otp.ErrUpstream) }, true},
		{"provider refused the number", func(e *budgetEnv) { e.sender.fail(otp.ErrInvalidPhone) }, true},
		{"maybe sent", func(e *budgetEnv) { e.sender.fail(otp.ErrMaybeSent) }, false},
		{"sent", func(*budgetEnv) {}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newBudgetEnv(t, otp.DefaultBudgetConfig(), func(c *otp.Config) { c.Lookup = otp.LookupOn })
			tc.setup(e)
			v, _, err := e.svc.Start(ctx, otp.StartRequest{To: "+64211230002"})
			token := e.budgets.reserved[0].Token
			if got := slices.Contains(e.budgets.released, token); got != tc.released {
				t.Fatalf("released = %v (err %v), want %v", got, err, tc.released)
			}
			if err == nil && !e.budgets.boundTo(token, v.ID) {
				t.Errorf("bound %v, want the token bound to %s", e.budgets.bound, v.ID)
			}
		})
	}
	t.Run("cooldown", func(t *testing.T) {
		e := newBudgetEnv(t, otp.DefaultBudgetConfig(), nil)
		e.mustStart(t, "+64211230003")
		_, _, err := e.svc.Start(ctx, otp.StartRequest{To: "+64211230003"})
		wantLimit(t, err, otp.ErrCooldown)
		if second := e.budgets.reserved[1].Token; !slices.Equal(e.budgets.released, []string{second}) {
			t.Fatalf("released %v, want only the refused resend's %s", e.budgets.released, second)
		}
	})
}

// TestBudgetReleasedWhenItsAnswerIsLost: a Reserve that failed may have
// run in Redis all the same, so the start takes it back.
func TestBudgetReleasedWhenItsAnswerIsLost(t *testing.T) {
	e := newBudgetEnv(t, otp.DefaultBudgetConfig(), nil)
	lost := &lostReserve{budgets: e.budgets}
	svc, err := otp.NewService(e.cfg, e.store, e.sender, otp.WithBudgets(lost, otp.DefaultBudgetConfig()), otp.WithHasher(e.hasher))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.Start(context.Background(), otp.StartRequest{To: "+64211230009"})
	if !errors.Is(err, otp.ErrUnavailable) || e.sender.count() != 0 {
		t.Fatalf("Start = %v with %d SMS, want unavailable and none", err, e.sender.count())
	}
	if len(e.budgets.reserved) != 1 || !slices.Equal(e.budgets.released, []string{e.budgets.reserved[0].Token}) {
		t.Fatalf("reserved %d, released %v: want the lost reservation taken back", len(e.budgets.reserved), e.budgets.released)
	}
}

// lostReserve runs the reservation and then fails, as a dropped reply does.
type lostReserve struct{ *budgets }

func (l *lostReserve) Reserve(ctx context.Context, r otp.BudgetRequest) ([]otp.Warning, error) {
	if _, err := l.budgets.Reserve(ctx, r); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("reserve: %w: i/o timeout", otp.ErrUnavailable)
}

// TestSendIsBoundBeforeItGoesOut: an approval can come as soon as the SMS
// is out, so the send must be bound to its verification before that; a
// resend is bound to the verification it renews.
func TestSendIsBoundBeforeItGoesOut(t *testing.T) {
	e := newBudgetEnv(t, otp.DefaultBudgetConfig(), nil)
	var unbound []int
	e.sender.onSend = func() {
		e.budgets.mu.Lock()
		defer e.budgets.mu.Unlock()
		if _, ok := e.budgets.bound[e.budgets.reserved[len(e.budgets.reserved)-1].Token]; !ok {
			unbound = append(unbound, len(e.budgets.reserved))
		}
	}
	v := e.mustStart(t, "+64211230010")
	e.clock.Advance(time.Minute)
	if again := e.mustStart(t, "+64211230010"); again.ID != v.ID {
		t.Fatalf("resend created %s, want %s renewed", again.ID, v.ID)
	}
	if len(unbound) != 0 {
		t.Fatalf("sends %v went out before their reservation was bound", unbound)
	}
	if resend := e.budgets.reserved[1].Token; e.budgets.boundTo(resend, v.ID) == false {
		t.Fatalf("the resend is not bound to %s", v.ID)
	}
}

// TestOneDecisionPerSMS: a start that sends nothing after the guard let it
// through (here a resend within the cooldown) reports no decision.
func TestOneDecisionPerSMS(t *testing.T) {
	e := newBudgetEnv(t, otp.DefaultBudgetConfig(), nil)
	e.budgets.warnings = []otp.Warning{otp.WarnCountryHourly}
	e.mustStart(t, "+64211230011")
	_, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: "+64211230011"})
	wantLimit(t, err, otp.ErrCooldown)
	if n := len(e.meter.decisions); n != 1 {
		t.Errorf("decisions counted %d for one SMS, want 1", n)
	}
	if n := strings.Count(e.log.String(), "decision=recorded"); n != 1 {
		t.Errorf("decision lines %d for one SMS, want 1:\n%s", n, e.log.String())
	}
}

func TestApprovalVerifiesTheSends(t *testing.T) {
	ctx := context.Background()
	e := newBudgetEnv(t, otp.DefaultBudgetConfig(), nil)

	right := e.mustStart(t, "+64211230004")
	e.mustCheck(t, right.ID, wrong(e.sender.last(t)))
	e.mustCheck(t, right.ID, e.sender.last(t))

	byApp := e.mustStart(t, "+64211230005")
	if _, err := e.svc.Approve(ctx, byApp.ID); err != nil {
		t.Fatal(err)
	}
	canceled := e.mustStart(t, "+64211230006")
	if _, err := e.svc.Cancel(ctx, canceled.ID); err != nil {
		t.Fatal(err)
	}
	if want := []string{right.ID, byApp.ID}; !slices.Equal(e.budgets.approved, want) {
		t.Fatalf("approved %v, want %v", e.budgets.approved, want)
	}
	wantVerified := []string{"pending/NZ", "approved/NZ", "pending/NZ", "approved/NZ", "pending/NZ", "canceled/NZ"}
	if !slices.Equal(e.meter.verified, wantVerified) {
		t.Errorf("verifications counted %v, want %v", e.meter.verified, wantVerified)
	}
	if want := []string{"NZ/unknown", "NZ/unknown", "NZ/unknown"}; !slices.Equal(e.meter.sent, want) {
		t.Errorf("SMS counted %v, want %v", e.meter.sent, want)
	}
}

func TestGuardOffBindsAndApprovesNothing(t *testing.T) {
	bc := otp.DefaultBudgetConfig()
	bc.Guard = otp.GuardOff
	e := newBudgetEnv(t, bc, nil)
	v := e.mustStart(t, "+64211230007")
	e.mustCheck(t, v.ID, e.sender.last(t))
	if len(e.budgets.reserved) != 1 || len(e.budgets.bound) != 0 || len(e.budgets.approved) != 0 || len(e.meter.decisions) != 0 {
		t.Fatalf("with the guard off: reserved %d, bound %v, approved %v, decisions %v; want the caps only",
			len(e.budgets.reserved), e.budgets.bound, e.budgets.approved, e.meter.decisions)
	}
}

func TestGuardDecisionsGoAhead(t *testing.T) {
	cases := []struct {
		name     string
		mode     otp.GuardMode
		allow    []string
		warnings []otp.Warning
		want     otp.Decision
	}{
		{"clean", otp.GuardEnforce, nil, nil, otp.DecisionAllowed},
		{"record", otp.GuardRecord, nil, []otp.Warning{otp.WarnCountryHourly}, otp.DecisionRecorded},
		{"allow listed", otp.GuardEnforce, []string{"NZ"}, []otp.Warning{otp.WarnCountryDaily, otp.WarnIPCountries}, otp.DecisionAllowListed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bc := otp.DefaultBudgetConfig()
			bc.Guard, bc.Allow = tc.mode, tc.allow
			e := newBudgetEnv(t, bc, nil)
			e.budgets.warnings = tc.warnings
			e.mustStart(t, "+64211230008")
			want := []otp.GuardDecision{{Decision: tc.want, Warnings: tc.warnings, Country: "NZ"}}
			if !equalDecisions(e.meter.decisions, want) {
				t.Errorf("decisions = %+v, want %+v", e.meter.decisions, want)
			}
			if logged := strings.Contains(e.log.String(), "decision="+string(tc.want)); logged != (len(tc.warnings) > 0) {
				t.Errorf("decision line logged = %v, want it only when a warning fired:\n%s", logged, e.log.String())
			}
		})
	}
}

func TestBudgetConfigIsChecked(t *testing.T) {
	cases := map[string]func(*otp.BudgetConfig){
		"negative prefix limit": func(c *otp.BudgetConfig) { c.PrefixLimit = -1 },
		"no prefix window":      func(c *otp.BudgetConfig) { c.PrefixWindow = 0 },
		"unknown daily country": func(c *otp.BudgetConfig) { c.Daily = map[string]int{"XX": 5} },
		"zero daily limit":      func(c *otp.BudgetConfig) { c.Daily = map[string]int{"*": 0} },
		"unknown mode":          func(c *otp.BudgetConfig) { c.Guard = "audit" },
		"zero ratio":            func(c *otp.BudgetConfig) { c.Ratio = 0 },
		"ratio above 10":        func(c *otp.BudgetConfig) { c.Ratio = 10.5 },
		"zero floor":            func(c *otp.BudgetConfig) { c.Floors.IPCountries = 0 },
		"bad allow entry":       func(c *otp.BudgetConfig) { c.Allow = []string{"+64a"} },
		"empty allow prefix":    func(c *otp.BudgetConfig) { c.Allow = []string{"+"} },
		"allow prefix too long": func(c *otp.BudgetConfig) { c.Allow = []string{"+6421123456789012"} },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			bc := otp.DefaultBudgetConfig()
			edit(&bc)
			_, err := otp.NewService(testConfig(), newBudgetEnv(t, otp.DefaultBudgetConfig(), nil).store, &sender{}, otp.WithBudgets(&budgets{}, bc))
			if err == nil {
				t.Fatalf("NewService accepted %+v", bc)
			}
		})
	}
}

func TestParseFloors(t *testing.T) {
	base := otp.DefaultBudgetConfig().Floors
	got, err := otp.ParseFloors(" prefix_hour:2, ,country_day:500", base)
	want := base
	want.PrefixHour, want.CountryDay = 2, 500
	if err != nil || got != want {
		t.Fatalf("ParseFloors = %+v, %v; want %+v", got, err, want)
	}
	if back, err := otp.ParseFloors(got.String(), otp.Floors{}); err != nil || back != got {
		t.Errorf("ParseFloors(%q) = %+v, %v; want it to read back %+v", got.String(), back, err, got)
	}
	_, err = otp.ParseFloors("country_week:5,country_day,prefix_hour:5.5,ip_countries:1,ip_countries:2", base)
	for _, want := range []string{
		`"country_week" is not one of country_day, country_hour, prefix_hour, ip_countries`,
		`"country_day" is not name:N`, `"prefix_hour:5.5": "5.5" is not a whole number`, "ip_countries is given twice",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseFloors error %v lacks %q", err, want)
		}
	}
}
