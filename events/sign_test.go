package events

import (
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks libraries' own signing vector (their Go, Python,
// Java and C# tests share it).
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSign(t *testing.T) {
	vector := mustParse(t, vectorSecret)
	a, b := mustParse(t, whsec(keyOf(32, 0x10))), mustParse(t, whsec(keyOf(48, 0x40)))
	at := time.Unix(vectorTimestamp, 0)
	body := []byte(vectorBody)
	tests := []struct {
		name    string
		secrets []Secret
		id      string
		ts      time.Time
		want    string
	}{
		{name: "spec vector", secrets: []Secret{vector}, id: vectorID, ts: at, want: vectorSignature},
		{name: "sub-second part dropped", secrets: []Secret{vector}, id: vectorID, ts: at.Add(999 * time.Millisecond), want: vectorSignature},
		{name: "any time zone", secrets: []Secret{vector}, id: vectorID, ts: at.In(time.FixedZone("NZDT", 13*3600)), want: vectorSignature},
		{name: "two secrets in order", secrets: []Secret{a, vector}, id: vectorID, ts: at,
			want: Sign([]Secret{a}, vectorID, at, body) + " " + vectorSignature},
		{name: "rotation the other way", secrets: []Secret{vector, b}, id: vectorID, ts: at,
			want: vectorSignature + " " + Sign([]Secret{b}, vectorID, at, body)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sign(tt.secrets, tt.id, tt.ts, body); got != tt.want {
				t.Errorf("Sign = %q, want %q", got, tt.want)
			}
		})
	}

	// Every part of the signed content counts.
	base := Sign([]Secret{a}, "evt_1", at, body)
	for name, other := range map[string]string{
		"id":     Sign([]Secret{a}, "evt_2", at, body),
		"second": Sign([]Secret{a}, "evt_1", at.Add(time.Second), body),
		"body":   Sign([]Secret{a}, "evt_1", at, append([]byte(vectorBody), ' ')),
		"key":    Sign([]Secret{b}, "evt_1", at, body),
	} {
		if other == base {
			t.Errorf("changing the %s leaves the signature %q", name, base)
		}
	}
	if !strings.HasPrefix(base, "v1,") || len(base) != len("v1,")+44 {
		t.Errorf("signature %q is not v1,<44 base64 characters>", base)
	}
}

func TestSignRefusesMissingKeys(t *testing.T) {
	for name, secrets := range map[string][]Secret{
		"no secrets":        nil,
		"zero secret":       {{}},
		"zero after a good": {mustParse(t, vectorSecret), {}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Sign did not panic")
				}
			}()
			Sign(secrets, vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody))
		})
	}
}
