package main

// CONTRACT.md §7 driven by the unmodified twilio-go SDK, as an app written
// against Twilio Verify would call otpgate after changing only the host.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	twverify "github.com/twilio/twilio-go/rest/verify/v2"

	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// TestTwilioSDKOnEveryTopology runs the core of the dialect on a single
// Redis, a Cluster and Sentinel.
func TestTwilioSDKOnEveryTopology(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		f := newTwilioFixture(t, twOptions{redis: topologyEnv(tp)})
		t.Run("create, fetch, check", func(t *testing.T) { twilioApproves(t, f) })
		t.Run("cancel and approve by update", func(t *testing.T) { twilioUpdates(t, f) })
		t.Run("max attempts", func(t *testing.T) { twilioMaxAttempts(t, f) })
	})
}

// twilioApproves creates, fetches, checks a wrong code by VerificationSid
// and the right one by To.
func twilioApproves(t *testing.T, f *twFixture) {
	const to, number = "+64211000001", "64211000001"
	v := f.mustCreate(t, to)
	wantVerification(t, "create", v, twVerification{to: to, status: "pending", sends: []time.Time{f.clock.Now()}})
	sid := deref(v.Sid)
	if c, ok := deref(v.Lookup).(map[string]any)["carrier"].(map[string]any); !ok || c["name"] == "" || c["name"] == nil {
		t.Errorf("create: lookup %v, want the carrier of an NZ mobile", deref(v.Lookup))
	}
	// The same verification, seen through /v1.
	if r := f.send(t, "GET", "/v1/verifications/ver_"+sid[2:], twSecret, nil, nil); r.status != http.StatusOK || r.body["to"] != number {
		t.Errorf("GET /v1 of %s: %d %v, want %s", sid, r.status, r.body, number)
	}

	got, err := f.tw.FetchVerification(twService, sid)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	wantVerification(t, "fetch", got, twVerification{to: to, status: "pending", sends: []time.Time{f.clock.Now()}})
	if deref(got.Sid) != sid {
		t.Errorf("fetch answered %s, want %s", deref(got.Sid), sid)
	}

	code := f.code(t, number)
	created := f.clock.Now()
	c, err := f.check(sid, "", otherCode(code))
	wantCheckAnswer(t, "wrong code by VerificationSid", c, err, sid, to, "pending")
	f.clock.Advance(time.Minute)
	c, err = f.check("", to, code)
	wantCheckAnswer(t, "right code by To", c, err, sid, to, "approved")

	got, err = f.tw.FetchVerification(twService, sid)
	if err != nil {
		t.Fatalf("fetch after approval: %v", err)
	}
	wantVerification(t, "fetch after approval", got, twVerification{to: to, status: "approved", sends: []time.Time{created}, updated: f.clock.Now()})
	_, err = f.check(sid, "", code)
	f.wantErr(t, "the spent code by VerificationSid", err, http.StatusNotFound, 20404)
	_, err = f.check("", to, code)
	f.wantErr(t, "the spent code by To", err, http.StatusNotFound, 20404)
}

// twilioUpdates cancels one verification and approves another with
// UpdateVerification.
func twilioUpdates(t *testing.T, f *twFixture) {
	for _, tt := range []struct{ to, number, status string }{
		{"+64211000002", "64211000002", "canceled"},
		{"+64211000003", "64211000003", "approved"},
	} {
		sid := deref(f.mustCreate(t, tt.to).Sid)
		f.clock.Advance(time.Second)
		v, err := f.tw.UpdateVerification(twService, sid, (&twverify.UpdateVerificationParams{}).SetStatus(tt.status))
		if err != nil {
			t.Errorf("update to %s: %v", tt.status, err)
			continue
		}
		if got := f.last.Load(); got != http.StatusOK {
			t.Errorf("update to %s: HTTP %d, want 200", tt.status, got)
		}
		wantVerification(t, "update to "+tt.status, v, twVerification{to: tt.to, status: tt.status, updated: f.clock.Now()})
		if v, err := f.tw.FetchVerification(twService, sid); err != nil || deref(v.Status) != tt.status {
			t.Errorf("fetch after update to %s: %v %v", tt.status, err, v)
		}
		_, err = f.check(sid, "", f.code(t, tt.number))
		f.wantErr(t, "check after update to "+tt.status, err, http.StatusNotFound, 20404)
	}
}

// twilioMaxAttempts spends every attempt on wrong codes: each answers
// pending, and then even the right code is refused with 60202.
func twilioMaxAttempts(t *testing.T, f *twFixture) {
	const to, number = "+64211000004", "64211000004"
	sid := deref(f.mustCreate(t, to).Sid)
	code := f.code(t, number)
	for i := range defaultAttempts {
		by := sid
		if i%2 == 1 {
			by = ""
		}
		c, err := f.check(by, to, otherCode(code))
		wantCheckAnswer(t, "wrong code", c, err, sid, to, "pending")
	}
	_, err := f.check(sid, "", code)
	f.wantErr(t, "right code after the last attempt", err, http.StatusTooManyRequests, 60202)
	_, err = f.check("", to, code)
	f.wantErr(t, "right code by To after the last attempt", err, http.StatusTooManyRequests, 60202)
	v, err := f.tw.FetchVerification(twService, sid)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	wantVerification(t, "fetch after the last attempt", v, twVerification{to: to, status: "max_attempts_reached"})
}

func TestTwilioSDKResend(t *testing.T) {
	t.Parallel()
	f := newTwilioFixture(t, twOptions{})
	const to, number = "+64212345678", "64212345678"
	first := f.clock.Now()
	sid := deref(f.mustCreate(t, to).Sid)
	oldCode := f.code(t, number)

	f.clock.Advance(10 * time.Second)
	p := (&twverify.CreateVerificationParams{}).SetTo(to).SetChannel("sms")
	_, err := f.tw.CreateVerification(twService, p)
	f.wantErr(t, "resend within the cooldown", err, http.StatusTooManyRequests, 60203)
	if n := len(f.fake.Messages()); n != 1 {
		t.Fatalf("%d SMS after a refused resend, want 1", n)
	}

	f.clock.Advance(defaultCooldown - 10*time.Second)
	v := f.mustCreate(t, to)
	wantVerification(t, "resend after the cooldown", v, twVerification{to: to, status: "pending", sends: []time.Time{first, f.clock.Now()}, updated: f.clock.Now()})
	if deref(v.Sid) != sid {
		t.Errorf("resend answered %s, want the pending %s", deref(v.Sid), sid)
	}
	newCode := f.code(t, number)
	if newCode != oldCode {
		c, err := f.check(sid, "", oldCode)
		wantCheckAnswer(t, "the replaced code", c, err, sid, to, "pending")
	}
	c, err := f.check("", to, newCode)
	wantCheckAnswer(t, "the new code", c, err, sid, to, "approved")
}

func TestTwilioSDKBrandAndCustomCode(t *testing.T) {
	t.Parallel()
	f := newTwilioFixture(t, twOptions{})
	tests := []struct {
		name    string
		service string
		to      string
		set     func(*twverify.CreateVerificationParams)
		brand   string
		code    string // the CustomCode; empty when otpgate makes one
	}{
		{"the service's friendly name", twService, "+64211000011", nil, twServiceName, ""},
		{"another service's", twService2, "+64211000012", nil, twService2Name, ""},
		{"CustomFriendlyName", twService, "+64211000013", func(p *twverify.CreateVerificationParams) { p.SetCustomFriendlyName("Kiwi Bank") }, "Kiwi Bank", ""},
		{"CustomCode", twService, "+64211000014", func(p *twverify.CreateVerificationParams) { p.SetCustomCode("4711") }, twServiceName, "4711"},
		{"CustomCode of 8 digits, a Locale", twService, "+64211000015", func(p *twverify.CreateVerificationParams) { p.SetCustomCode("20240607").SetLocale("fr") }, twServiceName, "20240607"},
	}
	for _, tt := range tests {
		p := (&twverify.CreateVerificationParams{}).SetTo(tt.to).SetChannel("sms")
		if tt.set != nil {
			tt.set(p)
		}
		v, err := f.tw.CreateVerification(tt.service, p)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if deref(v.ServiceSid) != tt.service {
			t.Errorf("%s: service_sid %s, want %s", tt.name, deref(v.ServiceSid), tt.service)
		}
		reqs := f.otpRequests()
		if len(reqs) == 0 {
			t.Fatalf("%s: no sms/otp request", tt.name)
		}
		last := reqs[len(reqs)-1]
		if param(last, "to") == "" || !strings.HasSuffix(param(last, "to"), tt.to[1:]) {
			t.Errorf("%s: the last sms/otp went to %q, want %s", tt.name, param(last, "to"), tt.to)
		}
		if param(last, "msgCompany") != tt.brand || param(last, "company_name") != tt.brand {
			t.Errorf("%s: msgCompany %q, company_name %q; want %q", tt.name, param(last, "msgCompany"), param(last, "company_name"), tt.brand)
		}
		sent := f.code(t, tt.to[1:])
		if tt.code != "" && (param(last, "msgCode") != tt.code || sent != tt.code) {
			t.Errorf("%s: msgCode %q, the SMS carried %q; want %s", tt.name, param(last, "msgCode"), sent, tt.code)
		}
		c, err := f.tw.CreateVerificationCheck(tt.service, (&twverify.CreateVerificationCheckParams{}).SetVerificationSid(deref(v.Sid)).SetCode(sent))
		if err != nil || deref(c.Status) != "approved" {
			t.Errorf("%s: check of the code sent: %v %v", tt.name, err, c)
		}
	}
	if n := len(f.fake.Messages()); n != len(tests) {
		t.Errorf("%d SMS, want %d", n, len(tests))
	}
}
