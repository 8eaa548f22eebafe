package main

// /v1 and /v2 are two dialects of one domain (CONTRACT.md §7): one
// verification, one cooldown per number, whichever dialect is used; and
// dev mode serves /v2 with no configuration at all.

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	twverify "github.com/twilio/twilio-go/rest/verify/v2"
)

func TestTwilioSharesTheV1Domain(t *testing.T) {
	t.Parallel()
	f := newTwilioFixture(t, twOptions{})
	v1Start := func(to string) reply {
		return f.send(t, "POST", "/v1/verifications", twSecret, nil, map[string]any{"to": to})
	}

	t.Run("started on /v1, checked on /v2", func(t *testing.T) {
		r := v1Start("021 100 0041")
		if r.status != http.StatusCreated {
			t.Fatalf("/v1 start: %d %v", r.status, r.body)
		}
		sid := "VE" + strings.TrimPrefix(r.body["id"].(string), "ver_")
		c, err := f.check("", "+64211000041", f.code(t, "64211000041"))
		wantCheckAnswer(t, "/v2 check by To", c, err, sid, "+64211000041", "approved")
	})

	t.Run("started on /v2, checked on /v1", func(t *testing.T) {
		sid := deref(f.mustCreate(t, "+64211000042").Sid)
		r := f.send(t, "POST", "/v1/checks", twSecret, nil, map[string]any{"to": "021 100 0042", "code": f.code(t, "64211000042")})
		if r.status != http.StatusOK || r.body["status"] != "approved" || r.body["id"] != "ver_"+sid[2:] {
			t.Errorf("/v1 check by to: %d %v, want ver_%s approved", r.status, r.body, sid[2:])
		}
		if v, err := f.tw.FetchVerification(twService, sid); err != nil || deref(v.Status) != "approved" {
			t.Errorf("/v2 fetch after the /v1 approval: %v %v", err, v)
		}
	})

	t.Run("one cooldown per number", func(t *testing.T) {
		first := f.clock.Now()
		r := v1Start("021 100 0043")
		if r.status != http.StatusCreated {
			t.Fatalf("/v1 start: %d %v", r.status, r.body)
		}
		id := r.body["id"].(string)
		p := (&twverify.CreateVerificationParams{}).SetTo("+64211000043").SetChannel("sms")
		_, err := f.tw.CreateVerification(twService, p)
		f.wantErr(t, "/v2 create within the /v1 start's cooldown", err, http.StatusTooManyRequests, 60203)

		f.mustCreate(t, "+64211000044")
		wantError(t, "/v1 start within the /v2 create's cooldown", v1Start("021 100 0044"), http.StatusTooManyRequests, "resend_cooldown")

		// After the cooldown, /v2 resends the pending /v1 verification.
		f.clock.Advance(defaultCooldown)
		v := f.mustCreate(t, "+64211000043")
		wantVerification(t, "/v2 resend of a /v1 verification", v, twVerification{to: "+64211000043", status: "pending", sends: []time.Time{first, f.clock.Now()}})
		if deref(v.Sid) != "VE"+strings.TrimPrefix(id, "ver_") {
			t.Errorf("/v2 resend answered %s, want the /v1 verification %s", deref(v.Sid), id)
		}
		if r := f.send(t, "GET", "/v1/verifications/"+id, twSecret, nil, nil); r.body["sends"] != float64(2) {
			t.Errorf("/v1 read after the /v2 resend: %d %v, want sends 2", r.status, r.body)
		}
	})
	if n := len(f.fake.Messages()); n != 5 {
		t.Errorf("%d SMS, want 5", n)
	}
}

// Dev mode's fixed Twilio credentials and service (alphanumeric, as the
// SDK requires).
const (
	devKeyName = "devclient"
	devSecret  = "devclientkey"
	devService = "VA00000000000000000000000000000000"
	devBrand   = "otpgate dev"
)

func TestTwilioDevModeWithZeroConfig(t *testing.T) {
	t.Parallel()
	in := start(t, map[string]string{})
	in.out.waitFor(t, "dev mode banner", func(l string) bool { return strings.Contains(l, "DEV MODE") })
	last := new(atomic.Int64)
	api := twilioAPI(in, devKeyName, devSecret, last)
	const to = "+6421234567"
	v, err := api.CreateVerification(devService, (&twverify.CreateVerificationParams{}).SetTo(to).SetChannel("sms"))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if last.Load() != http.StatusCreated || !sidPattern.MatchString(deref(v.Sid)) || deref(v.ServiceSid) != devService ||
		deref(v.AccountSid) != devKeyName || deref(v.To) != to || deref(v.Status) != "pending" {
		t.Errorf("create: HTTP %d, sid %q, service_sid %q, account_sid %q, to %q, status %q",
			last.Load(), deref(v.Sid), deref(v.ServiceSid), deref(v.AccountSid), deref(v.To), deref(v.Status))
	}
	sms := in.out.logLine(t, "dev sandbox SMS")
	text, _ := sms["text"].(string)
	code := codeInText.FindString(text)
	if code == "" || !strings.Contains(text, devBrand) {
		t.Fatalf("sandbox SMS %v, want a code and the dev service's name %q", sms, devBrand)
	}
	c, err := api.CreateVerificationCheck(devService, (&twverify.CreateVerificationCheckParams{}).SetTo(to).SetCode(code))
	if err != nil || deref(c.Status) != "approved" || c.Valid == nil || !*c.Valid || deref(c.Sid) != deref(v.Sid) {
		t.Errorf("check: %v %+v, want %s approved", err, c, deref(v.Sid))
	}
}
