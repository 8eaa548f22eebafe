package main

// Events end to end: start-up refuses what CONTRACT §9 does not allow,
// naming the variable and never printing a secret.

import (
	"context"
	"encoding/base64"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/config"
)

func TestRunRefusesEvents(t *testing.T) {
	t.Parallel()
	good := newSecret(32)
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	const url = "https://app.example.com/otpgate-events"
	production := productionEnv("http://127.0.0.1:1", map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"})
	tests := []struct {
		name        string
		url, secret string
		want        string
	}{
		{"secret without whsec_", url, strings.TrimPrefix(good, "whsec_"), "OTPGATE_EVENTS_SECRET"},
		{"secret not base64", url, "whsec_" + strings.Repeat("not-base64!", 4), "OTPGATE_EVENTS_SECRET"},
		{"secret of 23 bytes", url, "whsec_" + b64(23), "OTPGATE_EVENTS_SECRET"},
		{"secret of 65 bytes", url, "whsec_" + b64(65), "OTPGATE_EVENTS_SECRET"},
		{"empty secret", url, "whsec_", "OTPGATE_EVENTS_SECRET"},
		{"good secret then a bad one", url, good + ",whsec_" + b64(8), "OTPGATE_EVENTS_SECRET"},
		{"three secrets", url, strings.Join([]string{good, newSecret(32), newSecret(32)}, ","), "OTPGATE_EVENTS_SECRET"},
		{"secret without URL", "", good, "OTPGATE_EVENTS_URL"},
		{"URL without secret", url, "", "OTPGATE_EVENTS_SECRET"},
		{"http to a public host", "http://app.example.com/hook", good, "OTPGATE_EVENTS_URL"},
		{"http to a private address", "http://10.0.0.7:8080/hook", good, "OTPGATE_EVENTS_URL"},
		{"http to a name that begins like loopback", "http://127.0.0.1.example.com/hook", good, "OTPGATE_EVENTS_URL"},
		{"no scheme", "app.example.com/hook", good, "OTPGATE_EVENTS_URL"},
		{"another scheme", "ftp://app.example.com/hook", good, "OTPGATE_EVENTS_URL"},
	}
	for _, mode := range []struct {
		name string
		env  map[string]string
	}{{"production", production}, {"dev mode", map[string]string{}}} {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				env := maps.Clone(mode.env)
				env["OTPGATE_EVENTS_URL"], env["OTPGATE_EVENTS_SECRET"] = tt.url, tt.secret
				var out strings.Builder
				// A run that accepts the settings serves until the deadline.
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				err := run(ctx, nil, func(k string) string { return env[k] }, nil, &out, io.Discard)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("run = %v, want an error naming %s", err, tt.want)
				}
				for s := range strings.SplitSeq(tt.secret, ",") {
					key := strings.TrimPrefix(s, "whsec_")
					if len(key) >= 8 && (strings.Contains(err.Error(), key) || strings.Contains(out.String(), key)) {
						t.Errorf("the secret is printed: %v\n%s", err, out.String())
					}
				}
			})
		}
	}

	// What §9 allows loads: https anywhere, http to loopback, two secrets.
	for _, tt := range []struct{ url, secret string }{
		{url, good},
		{"http://127.0.0.1:8080/hook", good},
		{"http://127.8.9.10/hook", good},
		{"http://localhost:8080/hook", good},
		{"http://[::1]:8080/hook", good},
		{url, "whsec_" + b64(24)},
		{url, "whsec_" + b64(64)},
		{url, newSecret(32) + "," + good},
	} {
		env := maps.Clone(production)
		env["OTPGATE_EVENTS_URL"], env["OTPGATE_EVENTS_SECRET"] = tt.url, tt.secret
		if _, err := config.Load(func(k string) string { return env[k] }); err != nil {
			t.Errorf("URL %s with secret(s) of %d characters refused: %v", tt.url, len(tt.secret), err)
		}
	}
}
