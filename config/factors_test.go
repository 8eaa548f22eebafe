package config

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/otp/factor"
)

// testKey returns n bytes counting up from first, and their standard
// base64: distinct keys with distinct encodings.
func testKey(n int, first byte) ([]byte, string) {
	b := make([]byte, n)
	for i := range b {
		b[i] = first + byte(i)
	}
	return b, base64.StdEncoding.EncodeToString(b)
}

var (
	keyA, keyAText = testKey(32, 0x10)
	keyB, keyBText = testKey(32, 0x60)
	_, shortText   = testKey(31, 0xa0)
	_, longText    = testKey(33, 0xc0)
)

func TestFactors(t *testing.T) {
	keys := func(v string) map[string]string { return map[string]string{"OTPGATE_ENCRYPTION_KEYS": v} }
	withKeys := func(over map[string]string) map[string]string { return with(keys("a:"+keyAText), over) }
	tests := []struct {
		name  string
		env   map[string]string // over prod
		check func(*Config) any
		want  any
		err   []string // substrings of the error; nil for success
	}{
		{name: "unset", env: nil, check: func(c *Config) any { return c.FactorsEnabled() }, want: false},
		{name: "one key", env: keys("a:" + keyAText), check: func(c *Config) any { return c.EncryptionKeys }, want: []factor.Key{{ID: "a", Secret: keyA}}},
		{name: "enabled by a key", env: keys("a:" + keyAText), check: func(c *Config) any { return c.FactorsEnabled() }, want: true},
		{name: "rotating, the sealing key first", env: keys(" new:" + keyBText + " , old-1:" + keyAText), check: func(c *Config) any { return c.EncryptionKeys }, want: []factor.Key{{ID: "new", Secret: keyB}, {ID: "old-1", Secret: keyA}}},
		{name: "unpadded base64", env: keys("a:" + strings.TrimRight(keyAText, "=")), check: func(c *Config) any { return c.EncryptionKeys }, want: []factor.Key{{ID: "a", Secret: keyA}}},

		{name: "issuer is the brand", env: withKeys(map[string]string{"OTP_BRAND": "Acme"}), check: func(c *Config) any { return c.TOTPIssuer }, want: "Acme"},
		{name: "issuer of its own", env: withKeys(map[string]string{"OTP_BRAND": "Acme", "TOTP_ISSUER": "Acme Login"}), check: func(c *Config) any { return c.TOTPIssuer }, want: "Acme Login"},
		{name: "skew 0", env: map[string]string{"TOTP_SKEW": "0"}, check: func(c *Config) any { return c.TOTPSkew }, want: 0},
		{name: "skew 2", env: map[string]string{"TOTP_SKEW": "2"}, check: func(c *Config) any { return c.TOTPSkew }, want: 2},
		{name: "max attempts 1", env: map[string]string{"TOTP_MAX_ATTEMPTS": "1"}, check: func(c *Config) any { return c.TOTPMaxAttempts }, want: 1},
		{name: "max attempts 20", env: map[string]string{"TOTP_MAX_ATTEMPTS": "20"}, check: func(c *Config) any { return c.TOTPMaxAttempts }, want: 20},
		// The issuer is only checked where it is used.
		{name: "brand with a colon, no factors", env: map[string]string{"OTP_BRAND": "Acme: Shop"}, check: func(c *Config) any { return c.FactorsEnabled() }, want: false},

		{name: "skew 3", env: map[string]string{"TOTP_SKEW": "3"}, err: []string{"TOTP_SKEW: must be 0 to 2 time steps, got 3"}},
		{name: "skew -1", env: map[string]string{"TOTP_SKEW": "-1"}, err: []string{"TOTP_SKEW: must be 0 to 2"}},
		{name: "skew not a number", env: map[string]string{"TOTP_SKEW": "one"}, err: []string{`TOTP_SKEW: "one" is not a whole number`}},
		{name: "max attempts 0", env: map[string]string{"TOTP_MAX_ATTEMPTS": "0"}, err: []string{"TOTP_MAX_ATTEMPTS: must be at least 1, got 0"}},
		{name: "max attempts not a number", env: map[string]string{"TOTP_MAX_ATTEMPTS": "5x"}, err: []string{"TOTP_MAX_ATTEMPTS: "}},
		{name: "issuer with a colon", env: withKeys(map[string]string{"TOTP_ISSUER": "Acme:Login"}), err: []string{`TOTP_ISSUER: "Acme:Login" holds a colon`}},
		{name: "brand with a colon as issuer", env: withKeys(map[string]string{"OTP_BRAND": "Acme: Shop"}), err: []string{`TOTP_ISSUER: "Acme: Shop" holds a colon`, "(TOTP_ISSUER defaults to OTP_BRAND)"}},

		{name: "not base64", env: keys("a:" + keyAText[:20] + "*" + keyAText[21:]), err: []string{"OTPGATE_ENCRYPTION_KEYS: "}},
		{name: "31 bytes", env: keys("a:" + shortText), err: []string{"OTPGATE_ENCRYPTION_KEYS: ", "31"}},
		{name: "33 bytes", env: keys("a:" + longText), err: []string{"OTPGATE_ENCRYPTION_KEYS: ", "33"}},
		{name: "second key bad", env: keys("a:" + keyAText + ",b:" + shortText), err: []string{"OTPGATE_ENCRYPTION_KEYS: ", "31"}},
		{name: "duplicate kid", env: keys("a:" + keyAText + ",a:" + keyBText), err: []string{"OTPGATE_ENCRYPTION_KEYS: "}},
		{name: "no kid", env: keys(keyAText), err: []string{"OTPGATE_ENCRYPTION_KEYS: "}},
		{name: "kid too long", env: keys("abcdefghijklmnopq:" + keyAText), err: []string{"OTPGATE_ENCRYPTION_KEYS: "}},
		{name: "kid with a dot", env: keys("a.b:" + keyAText), err: []string{"OTPGATE_ENCRYPTION_KEYS: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(prod, tt.env))
			if tt.err != nil {
				if err == nil {
					t.Fatal("Load accepted it")
				}
				for _, want := range tt.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				assertNoKey(t, err.Error(), tt.env["OTPGATE_ENCRYPTION_KEYS"])
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tt.check(c); !equal(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func equal(got, want any) bool {
	g, ok := got.([]factor.Key)
	if !ok {
		return got == want
	}
	return slices.EqualFunc(g, want.([]factor.Key), func(a, b factor.Key) bool {
		return a.ID == b.ID && bytes.Equal(a.Secret, b.Secret)
	})
}

// TestFactorsKeepDevMode: the encryption keys are not a dependency that
// dev mode fakes, so they keep it; dev mode serves factors with or
// without them.
func TestFactorsKeepDevMode(t *testing.T) {
	for name, over := range map[string]map[string]string{
		"no key":      nil,
		"a key":       {"OTPGATE_ENCRYPTION_KEYS": "dev2:" + keyAText},
		"TOTP_*":      {"TOTP_ISSUER": "Acme", "TOTP_SKEW": "0", "TOTP_MAX_ATTEMPTS": "3"},
		"all of them": {"OTPGATE_ENCRYPTION_KEYS": "dev2:" + keyAText, "TOTP_SKEW": "2"},
	} {
		t.Run(name, func(t *testing.T) {
			c := mustLoad(t, env(nil, over))
			if !c.DevMode() {
				t.Error("left dev mode")
			}
			if !c.FactorsEnabled() {
				t.Error("factors are off in dev mode")
			}
		})
	}
}

// TestEncryptionKeysNeverShown: the start-up log shows each key's kid and
// nothing of its bytes, in any of the forms a key could leak in.
func TestEncryptionKeysNeverShown(t *testing.T) {
	c := mustLoad(t, env(prod, map[string]string{
		"OTPGATE_ENCRYPTION_KEYS": "k2026:" + keyBText + ",k2025:" + keyAText,
		"TOTP_ISSUER":             "Acme Login",
	}))
	var text, json bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("config", "config", c)
	slog.New(slog.NewJSONHandler(&json, nil)).Info("config", "config", c)
	for where, out := range map[string]string{"String": c.String(), "text log": text.String(), "JSON log": json.String()} {
		for _, want := range []string{"OTPGATE_ENCRYPTION_KEYS=k2026:***,k2025:***", "TOTP_ISSUER=", "Acme Login", "TOTP_SKEW=1", "TOTP_MAX_ATTEMPTS=5"} {
			if where == "JSON log" {
				want = strings.NewReplacer("=", `":`, "k2026:***,k2025:***", `"k2026:***,k2025:***"`).Replace(want)
			}
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q: %s", where, want, out)
			}
		}
		assertNoKey(t, out, keyAText+","+keyBText)
	}
	if s := mustLoad(t, env(prod, nil)).String(); !strings.Contains(s, "OTPGATE_ENCRYPTION_KEYS= ") {
		t.Errorf("unset keys not shown empty: %s", s)
	}
}

// assertNoKey fails when out shows any 8 characters of the base64 of a key
// in keys (a comma list, kid: prefixes allowed), or its text in hex.
func assertNoKey(t *testing.T, out, keys string) {
	t.Helper()
	for item := range strings.SplitSeq(keys, ",") {
		item = strings.TrimSpace(item)
		if _, enc, ok := strings.Cut(item, ":"); ok {
			item = enc
		}
		for i := 0; i+8 <= len(item); i++ {
			if strings.Contains(out, item[i:i+8]) {
				t.Errorf("%q shows %q of the key %q", out, item[i:i+8], item)
				return
			}
		}
		if raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(item, "=")); err == nil && len(raw) >= 4 {
			for _, form := range []string{string(raw[:4]), hex.EncodeToString(raw[:4])} {
				if strings.Contains(out, form) {
					t.Errorf("%q shows the key's bytes", out)
				}
			}
		}
	}
}
