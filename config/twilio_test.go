package config

import (
	"reflect"
	"strings"
	"testing"
)

const (
	sidA = "VA0123456789abcdef0123456789abcdef"
	sidB = "VAfedcba9876543210fedcba9876543210"
)

func TestTwilioServices(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []TwilioService
		dev  bool
		err  []string // every substring the error must hold
	}{
		{name: "unset in production", env: prod, want: nil},
		{name: "unset in dev mode", env: nil, want: []TwilioService{DevTwilioService}, dev: true},
		{name: "blank in dev mode counts as unset", env: map[string]string{twilioServicesVar: "  "}, want: []TwilioService{DevTwilioService}, dev: true},
		// Not a credential: it must not turn a dev run into a refused production one.
		{name: "set in dev mode replaces the dev service and stays dev", env: map[string]string{twilioServicesVar: sidA + ":Acme"},
			want: []TwilioService{{sidA, "Acme"}}, dev: true},
		{name: "order kept, names trimmed", env: with(prod, map[string]string{twilioServicesVar: " " + sidB + " :  Acme Bank , " + sidA + ":Shop"}),
			want: []TwilioService{{sidB, "Acme Bank"}, {sidA, "Shop"}}},
		// Only the SMS brand while factors are off: a colon is no issuer's end there.
		{name: "a colon in the friendly name, factors off", env: with(prod, map[string]string{twilioServicesVar: sidA + ":Acme: Login"}),
			want: []TwilioService{{sidA, "Acme: Login"}}},
		{name: "a colon in the friendly name, factors on", env: with(prod, map[string]string{twilioServicesVar: sidB + ":Shop," + sidA + ":Acme: Login", encryptionKeysVar: "a:" + keyAText}),
			err: []string{"OTPGATE_TWILIO_SERVICES: entry 2: the friendly name of service " + sidA + " holds a colon", "TOTP issuer"}},
		{name: "a colon in the friendly name in dev mode", env: map[string]string{twilioServicesVar: sidA + ":Acme:Login"},
			err: []string{"OTPGATE_TWILIO_SERVICES: entry 1: the friendly name of service " + sidA + " holds a colon"}},
		{name: "upper-case hex after VA", env: with(prod, map[string]string{twilioServicesVar: "VA" + strings.ToUpper(sidA[2:]) + ":Acme"}),
			want: []TwilioService{{"VA" + strings.ToUpper(sidA[2:]), "Acme"}}},
		{name: "64 characters of friendly name", env: with(prod, map[string]string{twilioServicesVar: sidA + ":" + strings.Repeat("é", 64)}),
			want: []TwilioService{{sidA, strings.Repeat("é", 64)}}},

		{name: "trailing comma", env: with(prod, map[string]string{twilioServicesVar: sidA + ":Acme," + sidB + ":Shop,"}),
			err: []string{"OTPGATE_TWILIO_SERVICES: entry 3 is empty"}},
		{name: "doubled comma", env: with(prod, map[string]string{twilioServicesVar: sidA + ":Acme, ," + sidB + ":Shop"}),
			err: []string{"OTPGATE_TWILIO_SERVICES: entry 2 is empty"}},
		{name: "a lone comma", env: with(prod, map[string]string{twilioServicesVar: ","}),
			err: []string{"entry 1 is empty", "entry 2 is empty"}},
		{name: "31 hex digits", env: with(prod, map[string]string{twilioServicesVar: sidA[:33] + ":Acme"}),
			err: []string{"OTPGATE_TWILIO_SERVICES: entry 1: the sid must be VA and 32 hex digits"}},
		{name: "not hex", env: with(prod, map[string]string{twilioServicesVar: sidA + ":Acme,VA0123456789abcdef0123456789abcdeg:Shop"}),
			err: []string{"OTPGATE_TWILIO_SERVICES: entry 2: the sid must be VA"}},
		{name: "an account sid", env: with(prod, map[string]string{twilioServicesVar: "AC" + sidA[2:] + ":Acme"}),
			err: []string{"entry 1: the sid must be VA"}},
		{name: "no friendly name", env: with(prod, map[string]string{twilioServicesVar: sidA}),
			err: []string{"OTPGATE_TWILIO_SERVICES: entry 1: service " + sidA + " has no friendly name"}},
		{name: "blank friendly name", env: with(prod, map[string]string{twilioServicesVar: sidB + ":Shop," + sidA + ":   "}),
			err: []string{"entry 2: service " + sidA + " has no friendly name"}},
		{name: "friendly name too long", env: with(prod, map[string]string{twilioServicesVar: sidA + ":" + strings.Repeat("é", 65)}),
			err: []string{"entry 1: the friendly name of service " + sidA + " is longer than 64 characters"}},
		{name: "control character", env: with(prod, map[string]string{twilioServicesVar: sidA + ":Acme\nBank"}),
			err: []string{"entry 1: the friendly name of service " + sidA + " contains a control character"}},
		{name: "not UTF-8", env: with(prod, map[string]string{twilioServicesVar: sidA + ":Acme\xff"}),
			err: []string{"entry 1: the friendly name of service " + sidA + " is not UTF-8"}},
		{name: "duplicate sid", env: with(prod, map[string]string{twilioServicesVar: sidA + ":Acme," + sidB + ":Shop," + sidA + ":Other"}),
			err: []string{"OTPGATE_TWILIO_SERVICES: entry 3: service " + sidA + " is listed twice"}},
		{name: "duplicate sid in another case", env: with(prod, map[string]string{twilioServicesVar: sidA + ":Acme,VA" + strings.ToUpper(sidA[2:]) + ":Other"}),
			err: []string{"entry 2: service VA" + strings.ToUpper(sidA[2:]) + " is listed twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(nil, tt.env))
			if len(tt.err) > 0 {
				if err == nil {
					t.Fatalf("Load accepted it: %v", c.TwilioServices)
				}
				for _, want := range tt.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(c.TwilioServices, tt.want) {
				t.Errorf("services = %q, want %q", c.TwilioServices, tt.want)
			}
			if got := c.DevMode(); got != tt.dev {
				t.Errorf("DevMode() = %v, want %v", got, tt.dev)
			}
		})
	}
}

// A malformed entry may be a secret pasted into the wrong variable; the
// error points at it by position only.
func TestTwilioServicesErrorsQuoteNoMalformedEntry(t *testing.T) {
	_, err := Load(env(prod, map[string]string{twilioServicesVar: sidA + ":Acme,web:api-secret-0123456789"}))
	if err == nil {
		t.Fatal("Load accepted a key as a service")
	}
	if !strings.Contains(err.Error(), "entry 2") {
		t.Errorf("error %q does not name entry 2", err)
	}
	if strings.Contains(err.Error(), "api-secret") {
		t.Errorf("error %q shows what was written in the entry", err)
	}
}

// Validate judges a configuration built in code as Load judges the
// environment.
func TestValidateTwilioServices(t *testing.T) {
	c := Default()
	c.TwilioServices = []TwilioService{{SID: sidA, FriendlyName: "Acme"}, {SID: "VA1", FriendlyName: "Shop"}, {SID: sidA, FriendlyName: "Again"}}
	err := c.Validate()
	for _, want := range []string{"entry 2: the sid must be VA", "entry 3: service " + sidA + " is listed twice"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to hold %q", err, want)
		}
	}
}

func TestTwilioServicesLogged(t *testing.T) {
	c := mustLoad(t, env(prod, map[string]string{twilioServicesVar: sidA + ":Acme Bank," + sidB + ":Shop"}))
	if want := "OTPGATE_TWILIO_SERVICES=" + sidA + ":Acme Bank," + sidB + ":Shop "; !strings.Contains(c.String(), want) {
		t.Errorf("config string lacks %q: %s", want, c)
	}
	dev := mustLoad(t, env(nil, nil))
	if want := "OTPGATE_TWILIO_SERVICES=" + DevTwilioService.SID + ":otpgate dev "; !strings.Contains(dev.String(), want) {
		t.Errorf("dev config string lacks %q: %s", want, dev)
	}
}

func TestTwilioKeyWarnings(t *testing.T) {
	const good = "Alnum0123456789abcdef"
	services := map[string]string{twilioServicesVar: sidA + ":Acme"}
	tests := []struct {
		name string
		env  map[string]string
		want []string // every warning, in order, by a substring
	}{
		{name: "alphanumeric keys", env: with(prod, with(services, map[string]string{
			"OTPGATE_API_KEYS": "web:" + good, "OTPGATE_ADMIN_KEYS": "ops:Other0123456789abcdef",
		})), want: []string{"OTPGATE_WEBHOOK_TOKEN"}},
		{name: "no services, no Twilio warning", env: with(prod, map[string]string{
			"OTPGATE_API_KEYS": "web-app:api-secret-0123456789", "OTPGATE_WEBHOOK_TOKEN": "t",
		}), want: nil},
		{name: "a name, a secret, both", env: with(prod, with(services, map[string]string{
			"OTPGATE_API_KEYS":      "web-app:" + good + ",mobile:api_secret_0123456789",
			"OTPGATE_ADMIN_KEYS":    "ops.team:ops-secret-0123456789",
			"OTPGATE_WEBHOOK_TOKEN": "t",
		})), want: []string{
			`OTPGATE_API_KEYS: key "web-app" has a name with characters other than A-Z a-z 0-9`,
			`OTPGATE_API_KEYS: key "mobile" has a secret with characters other than A-Z a-z 0-9`,
			`OTPGATE_ADMIN_KEYS: key "ops.team" has a name and secret with`,
		}},
		// The dev keys are alphanumeric and dev mode has no other keys.
		{name: "dev mode", env: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustLoad(t, env(nil, tt.env)).Warnings()
			if len(got) != len(tt.want) {
				t.Fatalf("warnings = %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want it to hold %q", i, got[i], w)
				}
			}
			for _, w := range got {
				for _, secret := range []string{"api-secret", "api_secret", "ops-secret"} {
					if strings.Contains(w, secret) {
						t.Errorf("warning %q shows a secret", w)
					}
				}
			}
		})
	}
}
