package config

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// noConnexus is a production environment without Connexus credentials.
func noConnexus(over map[string]string) map[string]string {
	return with(map[string]string{"REDIS_URL": "redis://r:6379", "OTPGATE_API_KEYS": "web:api-secret-0123456789"}, over)
}

func TestSenders(t *testing.T) {
	websms := map[string]string{"OTPGATE_SENDERS": "websms", "WEBSMS_ACCESS_TOKEN": "tok", "OTP_LOOKUP": "off"}
	tests := []struct {
		name      string
		env       map[string]string
		wantOrder []string
		err       []string
	}{
		{name: "default is connexus", env: prod, wantOrder: []string{"connexus"}},
		{name: "every sender, in order", env: with(prod, map[string]string{
			"OTPGATE_SENDERS": " SMSNexus, connexus ,websms", "WEBSMS_USERNAME": "u", "WEBSMS_PASSWORD": "p",
			"SMSNEXUS_TOKEN": "t", "SMSNEXUS_FROM": "6421000000",
		}), wantOrder: []string{"smsnexus", "connexus", "websms"}},
		{name: "websms alone with lookup off", env: noConnexus(websms), wantOrder: []string{"websms"}},
		{name: "websms alone with lookup on", env: noConnexus(with(websms, map[string]string{"OTP_LOOKUP": "on"})),
			err: []string{"OTP_LOOKUP: numbers are looked up with Connexus"}},
		{name: "connexus for lookups only", env: with(prod, map[string]string{"OTPGATE_SENDERS": "websms", "WEBSMS_ACCESS_TOKEN": "tok"}), wantOrder: []string{"websms"}},
		{name: "a named sender without credentials", env: with(prod, map[string]string{"OTPGATE_SENDERS": "connexus,smsnexus"}),
			err: []string{"SMSNEXUS_TOKEN: required outside dev mode when OTPGATE_SENDERS names smsnexus"}},
		{name: "websms without credentials", env: with(prod, map[string]string{"OTPGATE_SENDERS": "websms"}),
			err: []string{"WEBSMS_ACCESS_TOKEN: required outside dev mode when OTPGATE_SENDERS names websms"}},
		{name: "connexus named without credentials", env: noConnexus(map[string]string{"OTPGATE_SENDERS": "connexus", "OTP_LOOKUP": "off"}),
			err: []string{"CONNEXUS_CLIENT_ID: required outside dev mode when OTPGATE_SENDERS names connexus"}},
		{name: "unknown sender", env: with(prod, map[string]string{"OTPGATE_SENDERS": "connexus,twilio"}), err: []string{`OTPGATE_SENDERS: "twilio" is not a sender`}},
		{name: "named twice", env: with(prod, map[string]string{"OTPGATE_SENDERS": "connexus,Connexus"}), err: []string{`OTPGATE_SENDERS: "connexus" is named twice`}},
		{name: "token and password", env: with(prod, map[string]string{"WEBSMS_ACCESS_TOKEN": "t", "WEBSMS_USERNAME": "u", "WEBSMS_PASSWORD": "p"}), err: []string{"WEBSMS_ACCESS_TOKEN: set either it or"}},
		{name: "half a password", env: with(prod, map[string]string{"WEBSMS_USERNAME": "u"}), err: []string{"WEBSMS_PASSWORD: required with WEBSMS_USERNAME"}},
		{name: "smsnexus token without from", env: with(prod, map[string]string{"SMSNEXUS_TOKEN": "t"}), err: []string{"SMSNEXUS_FROM: required with SMSNEXUS_TOKEN"}},
		{name: "smsnexus from not a number", env: with(prod, map[string]string{"SMSNEXUS_TOKEN": "t", "SMSNEXUS_FROM": "+64 21 abc"}), err: []string{"SMSNEXUS_FROM: must be a number in E.164 form"}},
		{name: "message without code", env: with(prod, map[string]string{"OTP_MESSAGE": "Your {brand} code"}), err: []string{"OTP_MESSAGE: message must contain {code}"}},
		{name: "message with unknown placeholder", env: with(prod, map[string]string{"OTP_MESSAGE": "{code} {app}"}), err: []string{"OTP_MESSAGE: message has the unknown placeholder {app}"}},
		{name: "negative cooldown", env: with(prod, map[string]string{"OTPGATE_SENDER_COOLDOWN": "-1s"}), err: []string{"OTPGATE_SENDER_COOLDOWN: must not be negative"}},
		{name: "base url with credentials", env: with(prod, map[string]string{"WEBSMS_BASE_URL": "https://u:p@api.websms.com/rest"}), err: []string{"WEBSMS_BASE_URL: must not carry credentials"}},
		{name: "base url not http", env: with(prod, map[string]string{"SMSNEXUS_BASE_URL": "ftp://x"}), err: []string{"SMSNEXUS_BASE_URL: must be an absolute http"}},
		{name: "websms credentials leave dev mode", env: map[string]string{"WEBSMS_ACCESS_TOKEN": "t"}, err: []string{"REDIS_URL: required outside dev mode"}},
		{name: "dev mode names any sender", env: map[string]string{"OTPGATE_SENDERS": "connexus,websms,smsnexus"}, wantOrder: []string{"connexus", "websms", "smsnexus"}},
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
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !slices.Equal(c.Senders.Order, tt.wantOrder) {
				t.Errorf("senders = %v, want %v", c.Senders.Order, tt.wantOrder)
			}
		})
	}
}

func TestSenderSecretsAreMasked(t *testing.T) {
	c := mustLoad(t, env(prod, map[string]string{
		"OTPGATE_SENDERS": "websms,smsnexus", "WEBSMS_USERNAME": "u", "WEBSMS_PASSWORD": "websms-password",
		"SMSNEXUS_TOKEN": "nexus-token", "SMSNEXUS_FROM": "+6421000000",
	}))
	s := c.String()
	for _, secret := range []string{"websms-password", "nexus-token"} {
		if strings.Contains(s, secret) {
			t.Errorf("config string shows %q: %s", secret, s)
		}
	}
	if !strings.Contains(s, "SMSNEXUS_FROM=+6421000000") || !strings.Contains(s, "OTPGATE_SENDERS=websms,smsnexus") {
		t.Errorf("config string lacks the senders: %s", s)
	}
}

// with returns base with over's variables set on top.
func with(base, over map[string]string) map[string]string {
	m := maps.Clone(base)
	maps.Copy(m, over)
	return m
}
