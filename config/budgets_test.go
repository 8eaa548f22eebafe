package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
)

func TestBudgets(t *testing.T) {
	def := otp.DefaultBudgetConfig()
	// budget returns the defaults changed by edit: what Load must produce.
	budget := func(edit func(*otp.BudgetConfig)) otp.BudgetConfig {
		b := otp.DefaultBudgetConfig()
		edit(&b)
		return b
	}
	tests := []struct {
		name string
		env  map[string]string
		want otp.BudgetConfig
		err  string // the one complaint Load must make; "" for success
	}{
		{name: "unset", want: def},
		{name: "prefix rate", env: map[string]string{prefixRateVar: "10-m"}, want: budget(func(b *otp.BudgetConfig) { b.PrefixLimit, b.PrefixWindow = 10, time.Minute })},
		{name: "prefix rate per day", env: map[string]string{prefixRateVar: "500-D"}, want: budget(func(b *otp.BudgetConfig) { b.PrefixLimit, b.PrefixWindow = 500, 24*time.Hour })},
		{name: "daily limits", env: map[string]string{dailyLimitsVar: " nz:500 , *:2000,AU:1"}, want: budget(func(b *otp.BudgetConfig) { b.Daily = map[string]int{"NZ": 500, "*": 2000, "AU": 1} })},
		{name: "guard off", env: map[string]string{guardVar: "off"}, want: budget(func(b *otp.BudgetConfig) { b.Guard = otp.GuardOff })},
		{name: "guard enforce", env: map[string]string{guardVar: "Enforce"}, want: budget(func(b *otp.BudgetConfig) { b.Guard = otp.GuardEnforce })},
		{name: "guard record", env: map[string]string{guardVar: "record"}, want: def},
		{name: "allow", env: map[string]string{guardAllowVar: "nz, +6421555,+1"}, want: budget(func(b *otp.BudgetConfig) { b.Allow = []string{"NZ", "+6421555", "+1"} })},
		{name: "ratio", env: map[string]string{guardRatioVar: "0.25"}, want: budget(func(b *otp.BudgetConfig) { b.Ratio = 0.25 })},
		{name: "ratio at most 10", env: map[string]string{guardRatioVar: "10"}, want: budget(func(b *otp.BudgetConfig) { b.Ratio = 10 })},
		{name: "some floors", env: map[string]string{guardFloorsVar: "prefix_hour:2, country_day:500"}, want: budget(func(b *otp.BudgetConfig) { b.Floors.PrefixHour, b.Floors.CountryDay = 2, 500 })},
		{name: "every floor", env: map[string]string{guardFloorsVar: "country_day:1,country_hour:2,prefix_hour:3,ip_countries:4"}, want: budget(func(b *otp.BudgetConfig) {
			b.Floors = otp.Floors{CountryDay: 1, CountryHour: 2, PrefixHour: 3, IPCountries: 4}
		})},

		{name: "prefix rate not a rate", env: map[string]string{prefixRateVar: "30/H"}, err: prefixRateVar + `: "30/H" is not a rate`},
		{name: "prefix rate bad period", env: map[string]string{prefixRateVar: "30-W"}, err: prefixRateVar + `: "30-W" is not a rate`},
		{name: "prefix rate zero", env: map[string]string{prefixRateVar: "0-H"}, err: prefixRateVar + `: "0-H": the limit must be at least 1`},
		{name: "prefix rate negative", env: map[string]string{prefixRateVar: "-1-H"}, err: prefixRateVar + `: "-1-H" is not a rate`},
		{name: "daily without colon", env: map[string]string{dailyLimitsVar: "NZ=500"}, err: dailyLimitsVar + `: "NZ=500" is not CC:N`},
		{name: "daily without country", env: map[string]string{dailyLimitsVar: ":500"}, err: dailyLimitsVar + `: ":500" is not CC:N`},
		{name: "daily not a number", env: map[string]string{dailyLimitsVar: "NZ:lots"}, err: dailyLimitsVar + `: "NZ:lots": "lots" is not a whole number`},
		{name: "daily empty number", env: map[string]string{dailyLimitsVar: "NZ:"}, err: dailyLimitsVar + `: "NZ:": "" is not a whole number`},
		{name: "daily zero", env: map[string]string{dailyLimitsVar: "NZ:0"}, err: dailyLimitsVar + ": NZ:0: the limit must be at least 1"},
		{name: "daily negative", env: map[string]string{dailyLimitsVar: "*:-5"}, err: dailyLimitsVar + ": *:-5: the limit must be at least 1"},
		{name: "daily unknown country", env: map[string]string{dailyLimitsVar: "XX:5"}, err: dailyLimitsVar + `: "XX" is not an ISO 3166 country code`},
		{name: "daily three letters", env: map[string]string{dailyLimitsVar: "NZL:5"}, err: dailyLimitsVar + `: "NZL" is not an ISO 3166 country code`},
		{name: "daily duplicate", env: map[string]string{dailyLimitsVar: "NZ:5,nz:6"}, err: dailyLimitsVar + ": NZ is given twice"},
		{name: "daily duplicate all", env: map[string]string{dailyLimitsVar: "*:5,AU:1,*:6"}, err: dailyLimitsVar + ": * is given twice"},
		{name: "guard unknown", env: map[string]string{guardVar: "block"}, err: guardVar + `: must be off, record or enforce, got "block"`},
		{name: "allow unknown country", env: map[string]string{guardAllowVar: "NZ,XX"}, err: guardAllowVar + `: "XX" is neither an ISO 3166 country code`},
		{name: "allow prefix without +", env: map[string]string{guardAllowVar: "6421555"}, err: guardAllowVar + `: "6421555" is neither`},
		{name: "allow bare +", env: map[string]string{guardAllowVar: "+"}, err: guardAllowVar + `: "+" is not a + and 1 to 15 digits`},
		{name: "allow prefix with a letter", env: map[string]string{guardAllowVar: "+64a"}, err: guardAllowVar + `: "+64a" is not a + and 1 to 15 digits`},
		{name: "allow prefix with spaces", env: map[string]string{guardAllowVar: "+64 21"}, err: guardAllowVar + `: "+64 21" is not a + and 1 to 15 digits`},
		{name: "allow prefix too long", env: map[string]string{guardAllowVar: "+6421123456789012"}, err: guardAllowVar + `: "+6421123456789012" is not a + and 1 to 15 digits`},
		{name: "ratio not a number", env: map[string]string{guardRatioVar: "half"}, err: guardRatioVar + `: "half" is not a number`},
		{name: "ratio zero", env: map[string]string{guardRatioVar: "0"}, err: guardRatioVar + ": must be above 0 and at most 10, got 0"},
		{name: "ratio negative", env: map[string]string{guardRatioVar: "-0.5"}, err: guardRatioVar + ": must be above 0 and at most 10, got -0.5"},
		{name: "ratio above 10", env: map[string]string{guardRatioVar: "10.01"}, err: guardRatioVar + ": must be above 0 and at most 10, got 10.01"},
		{name: "ratio NaN", env: map[string]string{guardRatioVar: "NaN"}, err: guardRatioVar + ": must be above 0 and at most 10, got NaN"},
		{name: "ratio infinite", env: map[string]string{guardRatioVar: "+Inf"}, err: guardRatioVar + ": must be above 0 and at most 10, got +Inf"},
		{name: "floor unknown", env: map[string]string{guardFloorsVar: "country_week:5"}, err: guardFloorsVar + `: "country_week" is not one of country_day, country_hour, prefix_hour, ip_countries`},
		{name: "floor without colon", env: map[string]string{guardFloorsVar: "country_day"}, err: guardFloorsVar + `: "country_day" is not name:N`},
		{name: "floor not a number", env: map[string]string{guardFloorsVar: "prefix_hour:5.5"}, err: guardFloorsVar + `: "prefix_hour:5.5": "5.5" is not a whole number`},
		{name: "floor zero", env: map[string]string{guardFloorsVar: "ip_countries:0"}, err: guardFloorsVar + ": ip_countries must be at least 1, got 0"},
		{name: "floor negative", env: map[string]string{guardFloorsVar: "country_hour:-1"}, err: guardFloorsVar + ": country_hour must be at least 1, got -1"},
		{name: "floor duplicate", env: map[string]string{guardFloorsVar: "country_day:5,country_day:6"}, err: guardFloorsVar + ": country_day is given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(prod, tt.env))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				name, _, _ := strings.Cut(tt.err, ":")
				if n := strings.Count(err.Error(), name+":"); n != 1 {
					t.Errorf("%s named %d times in %q, want once", name, n, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(c.Budgets, tt.want) {
				t.Errorf("Budgets = %+v, want %+v", c.Budgets, tt.want)
			}
		})
	}
}

// TestBudgetsDevMode: the budgets are not a credential, so they keep dev
// mode, and dev mode applies them as set.
func TestBudgetsDevMode(t *testing.T) {
	if got := mustLoad(t, env(nil, nil)).Budgets; !reflect.DeepEqual(got, otp.DefaultBudgetConfig()) {
		t.Errorf("dev mode Budgets = %+v, want the defaults", got)
	}
	c := mustLoad(t, env(nil, map[string]string{guardVar: "enforce", dailyLimitsVar: "NZ:10"}))
	if !c.DevMode() {
		t.Error("the budget settings left dev mode")
	}
	if c.Budgets.Guard != otp.GuardEnforce || c.Budgets.Daily["NZ"] != 10 {
		t.Errorf("dev mode Budgets = %+v, want enforce and NZ:10", c.Budgets)
	}
}

func TestValidateBudgets(t *testing.T) {
	c := mustLoad(t, env(prod, nil))
	c.Budgets.Daily = map[string]int{"ZZ": 0}
	c.Budgets.Floors.PrefixHour = 0
	err := c.Validate()
	for _, want := range []string{dailyLimitsVar + `: "ZZ" is not`, dailyLimitsVar + ": ZZ:0: the limit", guardFloorsVar + ": prefix_hour must be at least 1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to hold %q", err, want)
		}
	}
}

func TestBudgetsShown(t *testing.T) {
	c := mustLoad(t, env(prod, map[string]string{
		prefixRateVar:  "40-D",
		dailyLimitsVar: "NZ:500,*:2000",
		guardVar:       "enforce",
		guardAllowVar:  "AU,+6421555",
		guardRatioVar:  "0.75",
		guardFloorsVar: "ip_countries:2,prefix_hour:7,country_hour:8,country_day:9",
	}))
	for _, want := range []string{
		prefixRateVar + "=40-D", dailyLimitsVar + "=*:2000,NZ:500", guardVar + "=enforce", guardAllowVar + "=AU,+6421555",
		guardRatioVar + "=0.75", guardFloorsVar + "=country_day:9,country_hour:8,prefix_hour:7,ip_countries:2",
	} {
		if !strings.Contains(c.String(), want) {
			t.Errorf("start-up config %q lacks %s", c, want)
		}
	}
	def := otp.DefaultBudgetConfig()
	if s, want := mustLoad(t, env(prod, nil)).String(), prefixRateVar+"="+formatRate(def.PrefixLimit, def.PrefixWindow)+" "+dailyLimitsVar+"= "; !strings.Contains(s, want) {
		t.Errorf("start-up config %q lacks %q: the default prefix rate and no daily limits", s, want)
	}
}

func TestFormatRate(t *testing.T) {
	for _, tt := range []struct {
		limit  int
		window time.Duration
		want   string
	}{
		{5, time.Second, "5-S"}, {6, time.Minute, "6-M"}, {30, time.Hour, "30-H"}, {7, 24 * time.Hour, "7-D"},
		{8, 90 * time.Minute, "8 per 1h30m0s"},
	} {
		if got := formatRate(tt.limit, tt.window); got != tt.want {
			t.Errorf("formatRate(%d, %v) = %q, want %q", tt.limit, tt.window, got, tt.want)
		}
	}
}
