package main

// The refusals of CONTRACT.md §7 as the twilio-go SDK sees them: each is a
// *client.TwilioRestError with Twilio's code and the HTTP status.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	twverify "github.com/twilio/twilio-go/rest/verify/v2"

	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func TestTwilioSDKRefusals(t *testing.T) {
	t.Parallel()
	f := newTwilioFixture(t, twOptions{env: map[string]string{"RATE_LIMIT_STARTS_PER_IP": "2-H"}})
	f.fake.SetNumberType("021 333 4444", connexustest.NumberLandline)
	const unknownService = "VAffffffffffffffffffffffffffffffff"
	create := func(service, to string, set func(*twverify.CreateVerificationParams)) error {
		p := (&twverify.CreateVerificationParams{}).SetTo(to).SetChannel("sms")
		if set != nil {
			set(p)
		}
		_, err := f.tw.CreateVerification(service, p)
		return err
	}
	fromIP := func(ip string) func(*twverify.CreateVerificationParams) {
		return func(p *twverify.CreateVerificationParams) { p.SetDeviceIp(ip) }
	}
	channel := func(ch string) func(*twverify.CreateVerificationParams) {
		return func(p *twverify.CreateVerificationParams) { p.SetChannel(ch) }
	}
	sent := 0
	for _, to := range []string{"+64211000021", "+64211000022"} {
		if err := create(twService, to, fromIP("203.0.113.7")); err != nil {
			t.Fatalf("create %s from one device: %v", to, err)
		}
		sent++
	}
	known := deref(f.mustCreate(t, "+64211000023").Sid)
	sent++

	wrongKey := twilioAPI(f.instance, twKeyName, "wrongsecret0123456789", f.last)
	unknownKey := twilioAPI(f.instance, "nobody", twSecret, f.last)
	tests := []struct {
		name   string
		call   func() error
		status int
		code   int
	}{
		{"a third start from one DeviceIp", func() error { return create(twService, "+64211000024", fromIP("203.0.113.7")) }, 429, 60203},
		{"Channel call", func() error { return create(twService, "+64211000025", channel("call")) }, 400, 60200},
		{"Channel whatsapp", func() error { return create(twService, "+64211000025", channel("whatsapp")) }, 400, 60200},
		{"a landline by lookup", func() error { return create(twService, "+64213334444", nil) }, 400, 60205},
		{"UK", func() error { return create(twService, "+447400123456", nil) }, 403, 60605},
		{"US", func() error { return create(twService, "+14155552671", nil) }, 403, 60605},
		{"create on an unknown service", func() error { return create(unknownService, "+64211000026", nil) }, 404, 20404},
		{"fetch on an unknown service", func() error { _, err := f.tw.FetchVerification(unknownService, known); return err }, 404, 20404},
		{"check on an unknown service", func() error {
			_, err := f.tw.CreateVerificationCheck(unknownService, (&twverify.CreateVerificationCheckParams{}).SetVerificationSid(known).SetCode("123456"))
			return err
		}, 404, 20404},
		{"fetch an unknown sid", func() error { _, err := f.tw.FetchVerification(twService, unknownVE); return err }, 404, 20404},
		{"update an unknown sid", func() error {
			_, err := f.tw.UpdateVerification(twService, unknownVE, (&twverify.UpdateVerificationParams{}).SetStatus("canceled"))
			return err
		}, 404, 20404},
		{"check an unknown sid", func() error { _, err := f.check(unknownVE, "", "123456"); return err }, 404, 20404},
		{"check a number never sent to", func() error { _, err := f.check("", "+64219999999", "123456"); return err }, 404, 20404},
		{"a wrong secret", func() error {
			_, err := wrongKey.CreateVerification(twService, (&twverify.CreateVerificationParams{}).SetTo("+64211000027").SetChannel("sms"))
			return err
		}, 401, 20003},
		{"an unknown key", func() error { _, err := unknownKey.FetchVerification(twService, known); return err }, 401, 20003},
	}
	for _, tt := range tests {
		f.wantErr(t, tt.name, tt.call(), tt.status, tt.code)
	}
	// Another device is not limited by the first one's starts.
	if err := create(twService, "+64211000024", fromIP("2001:db8::7")); err != nil {
		t.Errorf("start from another DeviceIp: %v", err)
	}
	sent++
	if n := len(f.fake.Messages()); n != sent {
		t.Errorf("%d SMS, want %d: a refused start sends nothing", n, sent)
	}
}

// TestTwilioSDKRedisDown kills Redis, single, Cluster or Sentinel (each
// its own, since it dies): every call answers 503 with Twilio's internal
// error code, and the right code approves nothing.
func TestTwilioSDKRedisDown(t *testing.T) {
	t.Parallel()
	topologies := []struct {
		name  string
		start func(t *testing.T) (env map[string]string, kill func())
	}{
		{"single", func(t *testing.T) (map[string]string, func()) {
			srv := redistest.StartServer(t)
			return map[string]string{"REDIS_URL": "redis://" + srv.Addr + "/0"}, srv.Kill
		}},
		{"cluster", func(t *testing.T) (map[string]string, func()) {
			c := redistest.StartCluster(t)
			return map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(c.Addrs, ",")}, func() {
				for _, n := range c.Nodes {
					n.Kill()
				}
			}
		}},
		{"sentinel", func(t *testing.T) (map[string]string, func()) {
			st := redistest.StartSentinel(t)
			env := map[string]string{"REDIS_SENTINEL_ADDRS": st.Sentinel.Addr, "REDIS_SENTINEL_MASTER": st.MasterName}
			return env, func() { st.Master.Kill(); st.Replica.Kill() }
		}},
	}
	for _, tp := range topologies {
		t.Run(tp.name, func(t *testing.T) {
			t.Parallel()
			env, kill := tp.start(t)
			twilioRedisDown(t, newTwilioFixture(t, twOptions{redis: env}), kill)
		})
	}
}

func twilioRedisDown(t *testing.T, f *twFixture, kill func()) {
	const to, number = "+64212345678", "64212345678"
	sid := deref(f.mustCreate(t, to).Sid)
	code := f.code(t, number)
	kill()

	tests := []struct {
		name string
		call func() error
	}{
		{"create", func() error {
			_, err := f.tw.CreateVerification(twService, (&twverify.CreateVerificationParams{}).SetTo("+64217654321").SetChannel("sms"))
			return err
		}},
		{"the right code by VerificationSid", func() error { _, err := f.check(sid, "", code); return err }},
		{"the right code by To", func() error { _, err := f.check("", to, code); return err }},
		{"fetch", func() error { _, err := f.tw.FetchVerification(twService, sid); return err }},
		{"cancel", func() error {
			_, err := f.tw.UpdateVerification(twService, sid, (&twverify.UpdateVerificationParams{}).SetStatus("canceled"))
			return err
		}},
		{"approve", func() error {
			_, err := f.tw.UpdateVerification(twService, sid, (&twverify.UpdateVerificationParams{}).SetStatus("approved"))
			return err
		}},
	}
	for _, tt := range tests {
		f.wantErr(t, tt.name+" with Redis down", tt.call(), http.StatusServiceUnavailable, 20500)
	}
	if n := len(f.fake.Messages()); n != 1 {
		t.Errorf("%d SMS, want 1: nothing is sent with Redis down", n)
	}
}

// TestTwilioSDKConnexusFails: a failed send answers 502 20500, leaves
// nothing to check and no cooldown.
func TestTwilioSDKConnexusFails(t *testing.T) {
	t.Parallel()
	f := newTwilioFixture(t, twOptions{})
	const to = "+64212345678"
	f.fake.FailNext("sms/otp", http.StatusInternalServerError, 1)
	_, err := f.tw.CreateVerification(twService, (&twverify.CreateVerificationParams{}).SetTo(to).SetChannel("sms"))
	f.wantErr(t, "create while Connexus fails", err, http.StatusBadGateway, 20500)
	_, err = f.check("", to, "123456")
	f.wantErr(t, "check after the failed send", err, http.StatusNotFound, 20404)
	v := f.mustCreate(t, to)
	wantVerification(t, "create again at once", v, twVerification{to: to, status: "pending", sends: []time.Time{f.clock.Now()}})
}
