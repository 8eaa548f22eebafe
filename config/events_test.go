package config

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/events"
)

// testSecret returns a well-formed OTPGATE_EVENTS_SECRET entry of n bytes.
func testSecret(n int, first byte) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = first + byte(i)
	}
	return events.SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

var (
	eventsNew = testSecret(32, 0x10)
	eventsOld = testSecret(32, 0x40)
)

func TestEvents(t *testing.T) {
	hook := map[string]string{"OTPGATE_EVENTS_URL": "https://app.example/hooks/otpgate", "OTPGATE_EVENTS_SECRET": eventsNew}
	url := func(u string) map[string]string { return with(hook, map[string]string{"OTPGATE_EVENTS_URL": u}) }
	secret := func(s string) map[string]string { return with(hook, map[string]string{"OTPGATE_EVENTS_SECRET": s}) }
	tests := []struct {
		name        string
		env         map[string]string
		wantSecrets []string // the secrets Load must have parsed, in order
		err         []string
	}{
		{name: "unset", env: prod},
		{name: "https", env: with(prod, hook), wantSecrets: []string{eventsNew}},
		{name: "rotating, new first", env: with(prod, secret(" "+eventsNew+" , "+eventsOld)), wantSecrets: []string{eventsNew, eventsOld}},
		{name: "24 and 64 bytes", env: with(prod, secret(testSecret(24, 1)+","+testSecret(64, 2))), wantSecrets: []string{testSecret(24, 1), testSecret(64, 2)}},
		{name: "with a query", env: with(prod, url("https://fn.example/api/hook?code=abc")), wantSecrets: []string{eventsNew}},
		{name: "http to 127.0.0.1", env: with(prod, url("http://127.0.0.1:9000/hook")), wantSecrets: []string{eventsNew}},
		{name: "http to 127.0.0.0/8", env: with(prod, url("http://127.8.9.10/hook")), wantSecrets: []string{eventsNew}},
		{name: "http to ::1", env: with(prod, url("http://[::1]:9000/hook")), wantSecrets: []string{eventsNew}},
		{name: "http to mapped 127.0.0.1", env: with(prod, url("http://[::ffff:127.0.0.1]:9000/")), wantSecrets: []string{eventsNew}},
		{name: "http to localhost", env: with(prod, url("HTTP://LocalHost:9000/hook")), wantSecrets: []string{eventsNew}},
		{name: "dev mode keeps them", env: hook, wantSecrets: []string{eventsNew}},

		{name: "http elsewhere", env: with(prod, url("http://app.example/hook")), err: []string{"OTPGATE_EVENTS_URL: must be https://; http:// is allowed only to a loopback"}},
		{name: "http to a private address", env: with(prod, url("http://10.0.0.1/hook")), err: []string{"OTPGATE_EVENTS_URL: must be https://"}},
		{name: "http to every address", env: with(prod, url("http://0.0.0.0:9000/")), err: []string{"OTPGATE_EVENTS_URL: must be https://"}},
		{name: "http to a name starting localhost", env: with(prod, url("http://localhost.attacker.example/")), err: []string{"OTPGATE_EVENTS_URL: must be https://"}},
		{name: "not http", env: with(prod, url("ftp://app.example/")), err: []string{"OTPGATE_EVENTS_URL: must be an absolute https:// URL"}},
		{name: "no scheme", env: with(prod, url("app.example/hook")), err: []string{"OTPGATE_EVENTS_URL: must be an absolute https:// URL"}},
		{name: "no host", env: with(prod, url("https:///hook")), err: []string{"OTPGATE_EVENTS_URL: must be an absolute https:// URL"}},
		{name: "bad port", env: with(prod, url("https://app.example:port/")), err: []string{"OTPGATE_EVENTS_URL: must be an absolute https:// URL"}},
		{name: "credentials", env: with(prod, url("https://user:pw-in-url@app.example/hook")), err: []string{"OTPGATE_EVENTS_URL: must not carry credentials"}},
		{name: "fragment", env: with(prod, url("https://app.example/hook#x")), err: []string{"OTPGATE_EVENTS_URL: must not carry a fragment"}},
		{name: "url without secret", env: with(prod, map[string]string{"OTPGATE_EVENTS_URL": "https://app.example/"}), err: []string{"OTPGATE_EVENTS_SECRET: required with OTPGATE_EVENTS_URL"}},
		{name: "secret without url", env: with(prod, map[string]string{"OTPGATE_EVENTS_SECRET": eventsNew}), err: []string{"OTPGATE_EVENTS_URL: required with OTPGATE_EVENTS_SECRET"}},
		{name: "url without secret in dev mode", env: map[string]string{"OTPGATE_EVENTS_URL": "http://localhost:9000/"}, err: []string{"OTPGATE_EVENTS_SECRET: required with"}},
		{name: "no prefix", env: with(prod, secret(strings.TrimPrefix(eventsNew, "whsec_"))), err: []string{`OTPGATE_EVENTS_SECRET: entry 1: invalid signing secret: must start with "whsec_"`}},
		{name: "not base64", env: with(prod, secret("whsec_not*base64*at*all")), err: []string{"OTPGATE_EVENTS_SECRET: entry 1: invalid signing secret: \"whsec_\" must be followed by standard base64"}},
		{name: "too short", env: with(prod, secret(testSecret(23, 5))), err: []string{"OTPGATE_EVENTS_SECRET: entry 1: invalid signing secret: must decode to 24 to 64 bytes, got 23"}},
		{name: "too long", env: with(prod, secret(eventsNew+","+testSecret(65, 5))), err: []string{"OTPGATE_EVENTS_SECRET: entry 2: invalid signing secret: must decode to 24 to 64 bytes, got 65"}},
		{name: "three", env: with(prod, secret(eventsNew+","+eventsOld+","+testSecret(32, 0x70))), err: []string{"OTPGATE_EVENTS_SECRET: invalid signing secret: 3 entries, at most two"}},
		{name: "malformed secret without url", env: with(prod, map[string]string{"OTPGATE_EVENTS_SECRET": "whsec_x"}), err: []string{"OTPGATE_EVENTS_SECRET: entry 1", "OTPGATE_EVENTS_URL: required with OTPGATE_EVENTS_SECRET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(nil, tt.env))
			if len(tt.err) > 0 {
				if err == nil {
					t.Fatal("Load accepted it")
				}
				for _, want := range tt.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				// One complaint per variable: a malformed secret is not also missing.
				for _, name := range []string{"OTPGATE_EVENTS_URL:", "OTPGATE_EVENTS_SECRET:"} {
					if n := strings.Count(err.Error(), name); n > 1 {
						t.Errorf("%s named %d times in %q", name, n, err)
					}
				}
				assertNoEventsSecret(t, err.Error(), tt.env)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got, want := c.Events.Enabled(), len(tt.wantSecrets) > 0; got != want {
				t.Errorf("Enabled = %v, want %v", got, want)
			}
			if len(c.Events.Secrets) != len(tt.wantSecrets) {
				t.Fatalf("%d secrets, want %d", len(c.Events.Secrets), len(tt.wantSecrets))
			}
			// Secrets are opaque; what they sign shows which they are.
			at := time.Unix(1767323045, 0)
			for i, raw := range tt.wantSecrets {
				want, err := events.ParseSecret(raw)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := events.Sign(c.Events.Secrets[i:i+1], "evt_1", at, nil), events.Sign([]events.Secret{want}, "evt_1", at, nil); got != want {
					t.Errorf("secret %d is not the one configured", i+1)
				}
			}
		})
	}
}

func TestEventsKeepDevMode(t *testing.T) {
	c := mustLoad(t, env(nil, map[string]string{"OTPGATE_EVENTS_URL": "http://127.0.0.1:9000/", "OTPGATE_EVENTS_SECRET": eventsNew}))
	if !c.DevMode() {
		t.Error("events settings left dev mode")
	}
	if !c.Events.Enabled() {
		t.Error("events are not enabled")
	}
}

func TestEventsShownMasked(t *testing.T) {
	c := mustLoad(t, env(prod, map[string]string{
		"OTPGATE_EVENTS_URL":    "https://fn.example/api/hook?code=query-key-123",
		"OTPGATE_EVENTS_SECRET": eventsNew + "," + eventsOld,
	}))
	s := c.String()
	for _, want := range []string{"OTPGATE_EVENTS_URL=https://fn.example/api/hook?***", "OTPGATE_EVENTS_SECRET=***,***"} {
		if !strings.Contains(s, want) {
			t.Errorf("config string lacks %q: %s", want, s)
		}
	}
	if strings.Contains(s, "query-key-123") {
		t.Errorf("config string shows the URL's query: %s", s)
	}
	assertNoEventsSecret(t, s, map[string]string{"OTPGATE_EVENTS_SECRET": eventsNew + "," + eventsOld})

	if got := mustLoad(t, env(prod, nil)).String(); !strings.Contains(got, "OTPGATE_EVENTS_URL= OTPGATE_EVENTS_SECRET=") {
		t.Errorf("unset events settings not shown empty: %s", got)
	}
}

func TestValidateEvents(t *testing.T) {
	s, err := events.ParseSecrets(eventsNew)
	if err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, env(prod, nil))
	c.Events = Events{URL: "https://app.example/"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "OTPGATE_EVENTS_SECRET: required with OTPGATE_EVENTS_URL") {
		t.Errorf("Validate of a URL without secrets = %v", err)
	}
	c.Events.Secrets = s
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// assertNoEventsSecret fails when out shows any part of the configured
// secret (past its prefix) or the URL's credentials.
func assertNoEventsSecret(t *testing.T, out string, env map[string]string) {
	t.Helper()
	for item := range strings.SplitSeq(env["OTPGATE_EVENTS_SECRET"], ",") {
		enc := strings.TrimPrefix(strings.TrimSpace(item), events.SecretPrefix)
		if len(enc) >= 8 && strings.Contains(out, enc[:8]) {
			t.Errorf("%q shows the secret %q", out, enc)
		}
	}
	if strings.Contains(out, "pw-in-url") {
		t.Errorf("%q shows the URL's password", out)
	}
}
