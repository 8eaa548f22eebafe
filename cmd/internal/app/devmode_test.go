package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func TestBannerListsTwilioServices(t *testing.T) {
	acme := config.TwilioService{SID: "VA0123456789abcdef0123456789abcdef", FriendlyName: "Acme"}
	tests := []struct {
		name     string
		services []config.TwilioService
		madeKey  bool
		want     []string // lines, in this order
		absent   []string
	}{
		{name: "the dev service", services: []config.TwilioService{config.DevTwilioService}, madeKey: true, want: []string{
			"  - Authenticator apps (/v1/identities/) are on, their secrets sealed\n",
			"    with a random key made for this run (kid \"dev\");\n",
			"    enrolled factors and recovery codes are lost on exit.\n",
			"  - Try a signup in a browser: /demo on this server\n",
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
		{name: "configured encryption keys", want: []string{
			"    with the keys of OTPGATE_ENCRYPTION_KEYS;\n",
			"    enrolled factors and recovery codes are lost on exit.\n",
		}, absent: []string{"random"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			banner(&out, []sandboxInfo{{"Connexus", "http://127.0.0.1:1"}}, tt.services, tt.madeKey)
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

// TestDevModeDemoInbox starts a verification from the demo page's route
// with each sender in turn and finds the SMS its sandbox sent, the code
// the log printed, in the page's inbox.
func TestDevModeDemoInbox(t *testing.T) {
	for _, sender := range []string{config.SenderConnexus, config.SenderWebSMS, config.SenderSMSNexus} {
		t.Run(sender, func(t *testing.T) {
			cfg, err := config.Load(func(k string) string {
				if k == "OTPGATE_SENDERS" {
					return sender
				}
				return ""
			})
			if err != nil {
				t.Fatal(err)
			}
			var logs otptest.LogBuffer
			a, err := New(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(a.Close)
			serve := func(method, path, body string) *httptest.ResponseRecorder {
				req := httptest.NewRequest(method, path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				a.Handler.ServeHTTP(rec, req)
				return rec
			}

			if rec := serve("GET", "/demo/api/inbox?to=6421234567", ""); rec.Code != http.StatusNotFound {
				t.Errorf("inbox before any SMS: %d %s, want 404", rec.Code, rec.Body)
			}
			if rec := serve("POST", "/demo/api/verifications", `{"to":"+64 21 234 567"}`); rec.Code != http.StatusCreated {
				t.Fatalf("demo start: %d %s", rec.Code, rec.Body)
			}
			rec := serve("GET", "/demo/api/inbox?to=6421234567", "")
			var sms struct {
				To, Text string
				SentAt   string `json:"sent_at"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &sms); rec.Code != http.StatusOK || err != nil {
				t.Fatalf("inbox: %d %s", rec.Code, rec.Body)
			}
			var printed struct{ Sender, Text string }
			for l := range strings.SplitSeq(logs.String(), "\n") {
				if strings.Contains(l, `"msg":"dev sandbox SMS"`) {
					if err := json.Unmarshal([]byte(l), &printed); err != nil {
						t.Fatal(err)
					}
				}
			}
			if printed.Sender != sender || printed.Text == "" || sms.Text != printed.Text || sms.To != "6421234567" {
				t.Errorf("inbox has %+v, the log printed %+v", sms, printed)
			}
			if at, err := time.Parse(time.RFC3339, sms.SentAt); err != nil || time.Since(at) > time.Minute {
				t.Errorf("sent_at %q (%v), want about now", sms.SentAt, err)
			}
		})
	}
}

func TestDevInboxKeepsTheLatestOfABoundedNumberOfNumbers(t *testing.T) {
	b := newDevInbox()
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	b.add("+6421234567", "first", t0)
	b.add("6421234567", "second", t0.Add(time.Second))
	if text, at, ok := b.latest("6421234567"); !ok || text != "second" || !at.Equal(t0.Add(time.Second)) {
		t.Errorf("latest = %q %v %v, want the second SMS", text, at, ok)
	}
	for i := range maxDevInbox {
		b.add(fmt.Sprintf("6422%07d", i), "filler", t0.Add(time.Duration(i+2)*time.Second))
	}
	if _, _, ok := b.latest("6421234567"); ok {
		t.Error("the stalest number was kept past the bound")
	}
	if _, _, ok := b.latest("64220000000"); !ok || len(b.last) != maxDevInbox {
		t.Errorf("%d numbers kept, want %d with the newest", len(b.last), maxDevInbox)
	}
}

func TestNoDemoOutsideDevMode(t *testing.T) {
	fake := connexustest.NewServer()
	t.Cleanup(fake.Close)
	rdb, _ := redistest.Mini(t)
	a, err := New(context.Background(), productionConfig(t, fake.URL), slog.New(slog.DiscardHandler), io.Discard, WithRedis(rdb))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	for _, r := range [][2]string{{"GET", "/demo"}, {"POST", "/demo/api/verifications"}, {"GET", "/demo/api/inbox?to=6421234567"}} {
		req := httptest.NewRequest(r[0], r[1], strings.NewReader(`{"to":"021 234 567"}`))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		a.Handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s %s: %d %s, want 404", r[0], r[1], rec.Code, rec.Body)
		}
	}
	if n := len(fake.Messages()); n != 0 {
		t.Errorf("%d SMS sent", n)
	}
}
