package app

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/otp/otptest"
)

func TestBannerListsTwilioServices(t *testing.T) {
	acme := config.TwilioService{SID: "VA0123456789abcdef0123456789abcdef", FriendlyName: "Acme"}
	tests := []struct {
		name     string
		services []config.TwilioService
		want     []string // lines, in this order
		absent   []string
	}{
		{name: "the dev service", services: []config.TwilioService{config.DevTwilioService}, want: []string{
			"  dev client key: devclientkey\n",
			"  dev admin key:  devadminkey\n",
			"  twilio service: VA00000000000000000000000000000000 (otpgate dev)\n",
			"  twilio auth:    devclient:devclientkey (AccountSid:AuthToken)\n",
		}},
		{name: "configured ones, in order", services: []config.TwilioService{acme, config.DevTwilioService}, want: []string{
			"  twilio service: " + acme.SID + " (Acme)\n",
			"  twilio service: " + config.DevTwilioService.SID + " (otpgate dev)\n",
			"  twilio auth:",
		}},
		{name: "none", services: nil, want: []string{"  dev admin key:  devadminkey\n"}, absent: []string{"twilio"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			banner(&out, []sandboxInfo{{"Connexus", "http://127.0.0.1:1"}}, tt.services)
			got := out.String()
			at := 0
			for _, want := range tt.want {
				i := strings.Index(got[at:], want)
				if i < 0 {
					t.Fatalf("banner lacks %q after byte %d:\n%s", want, at, got)
				}
				at += i + len(want)
			}
			for _, no := range tt.absent {
				if strings.Contains(got, no) {
					t.Errorf("banner holds %q:\n%s", no, got)
				}
			}
		})
	}
}

// TestDevMode runs New on the configuration of an empty environment: the
// banner shows the dev Twilio service Load added, and the dev keys, under
// their alphanumeric names, are the ones the API takes.
func TestDevMode(t *testing.T) {
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var logs otptest.LogBuffer // the sandboxes log from their own goroutines
	a, err := New(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)), &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)

	if want := "  twilio service: " + config.DevTwilioService.SID + " (" + config.DevTwilioService.FriendlyName + ")\n"; !strings.Contains(out.String(), want) {
		t.Errorf("banner lacks %q:\n%s", want, out.String())
	}

	tests := []struct {
		secret   string
		wantCode int
		wantKey  string // the key name logged for the request
	}{
		{secret: "devclientkey", wantCode: http.StatusNotFound, wantKey: "devclient"},
		{secret: "devadminkey", wantCode: http.StatusNotFound, wantKey: "devadmin"},
		{secret: "dev_client_key", wantCode: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		before := len(logs.String())
		req := httptest.NewRequest("GET", "/v1/verifications/ver_00000000000000000000000000000000", nil)
		req.Header.Set("Authorization", "Bearer "+tt.secret)
		rec := httptest.NewRecorder()
		a.Handler.ServeHTTP(rec, req)
		if rec.Code != tt.wantCode {
			t.Errorf("%s: %d %s, want %d", tt.secret, rec.Code, rec.Body, tt.wantCode)
		}
		var logged []string // the key of each request line
		for l := range strings.SplitSeq(strings.TrimSpace(logs.String()[before:]), "\n") {
			var line struct{ Msg, Key string }
			if err := json.Unmarshal([]byte(l), &line); err == nil && line.Msg == "request" {
				logged = append(logged, line.Key)
			}
		}
		if len(logged) != 1 || logged[0] != tt.wantKey {
			t.Errorf("%s: request lines logged keys %q, want [%q]", tt.secret, logged, tt.wantKey)
		}
	}
}
