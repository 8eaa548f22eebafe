package otp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func TestSendRequestCarriesTextAndID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, message, brand string
		ttl                  time.Duration
		want                 string // with CODE for the code
	}{
		{"default", otp.DefaultMessage, "", 5 * time.Minute, "CODE is your otpgate verification code"},
		{"every placeholder", "{brand}: {code}, valid {ttl_minutes} min", "Acme", 5 * time.Minute, "Acme: CODE, valid 5 min"},
		{"minutes round up", "{code} ({ttl_minutes})", "", 90 * time.Second, "CODE (2)"},
		{"a brand is text", "{brand} {code}", "{code}", time.Minute, "{code} CODE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := redistest.Mini(t)
			e := newEnv(t, c, func(cfg *otp.Config) { cfg.Message, cfg.TTL = tc.message, tc.ttl })
			v, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: nzLocal, Brand: tc.brand})
			if err != nil {
				t.Fatal(err)
			}
			req := e.sender.sent[0]
			if want := strings.ReplaceAll(tc.want, "CODE", req.Code); req.Text != want {
				t.Errorf("text = %q, want %q", req.Text, want)
			}
			if req.ID != v.ID {
				t.Errorf("request id = %q, want the verification's %q", req.ID, v.ID)
			}
		})
	}
}

func TestMessageTemplateIsChecked(t *testing.T) {
	t.Parallel()
	c, _ := redistest.Mini(t)
	store := redisstore.New(c)
	for _, tc := range []struct {
		tmpl string
		ok   bool
	}{
		{"{code}", true},
		{"{brand} {code} {ttl_minutes}", true},
		{"", false},
		{"your code", false},
		{"{code} {name}", false},
		{"{Code}", false},
	} {
		cfg := testConfig()
		cfg.Message = tc.tmpl
		if _, err := otp.NewService(cfg, store, &sender{}); (err == nil) != tc.ok {
			t.Errorf("NewService with message %q: %v; want ok=%v", tc.tmpl, err, tc.ok)
		}
	}
}
