package main

// The plumbing of the Twilio Verify v2 suite (CONTRACT.md §7): the
// unmodified twilio-go SDK pointed at the program under test, plain form
// posts as Twilio's curl examples send them, and the checks of Twilio's
// answer shapes. The SDK is a test-only dependency: only _test.go files
// import it.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twilio/twilio-go"
	twclient "github.com/twilio/twilio-go/client"
	twverify "github.com/twilio/twilio-go/rest/verify/v2"

	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// The Twilio side of the suite's configuration. Twilio SDKs accept only
// alphanumeric credentials, so the key used through them is one.
const (
	twKeyName      = "twapp"
	twSecret       = "twsecret0123456789abcdef0123"
	twService      = "VA0123456789abcdef0123456789abcdef"
	twServiceName  = "Acme Verify"
	twService2     = "VAfedcba9876543210fedcba9876543210"
	twService2Name = "Other Shop"
	unknownVE      = "VE00000000000000000000000000000000"
	twilioHost     = "verify.twilio.com"
)

var sidPattern = regexp.MustCompile(`^VE[0-9a-f]{32}$`)

// twilioEnv adds two Twilio services and the alphanumeric key (beside the
// /v1 suite's own key) to env.
func twilioEnv(env map[string]string) map[string]string {
	env = maps.Clone(env)
	env["OTPGATE_API_KEYS"] = "web:" + topologyKey + "," + twKeyName + ":" + twSecret
	env["OTPGATE_TWILIO_SERVICES"] = twService + ":" + twServiceName + "," + twService2 + ":" + twService2Name
	return env
}

// twFixture is a fixture serving the Twilio dialect, with the SDK's Verify
// v2 API pointed at it.
type twFixture struct {
	*fixture
	tw   *twverify.ApiService
	last *atomic.Int64 // the HTTP status of tw's latest answer
}

type twOptions struct {
	redis map[string]string // the Redis configuration; a fresh real Redis when nil
	env   map[string]string // added last
}

// newTwilioFixture runs the program on the Connexus fake with twilioEnv,
// on an injected clock.
func newTwilioFixture(t *testing.T, o twOptions) *twFixture {
	t.Helper()
	fake := connexustest.NewServer()
	t.Cleanup(fake.Close)
	redisEnv := o.redis
	if redisEnv == nil {
		redisEnv = map[string]string{"REDIS_URL": redisURL(redistest.Real(t))}
	}
	env := twilioEnv(productionEnv(fake.URL, redisEnv))
	maps.Copy(env, o.env)
	f := &fixture{fake: fake, clock: newClock()}
	f.instance = startClocked(t, env, f.clock)
	last := new(atomic.Int64)
	return &twFixture{fixture: f, tw: twilioAPI(f.instance, twKeyName, twSecret, last), last: last}
}

// toHost sends every request for Twilio's Verify host to a test server,
// over plain HTTP, and refuses any other host but the test server's own
// (a list's next_page_url names it, as otpgate's URLs name the host they
// were asked at), so the SDK never reaches the Internet. It keeps the
// HTTP status of the latest answer, which the SDK does not tell.
type toHost struct {
	host string
	last *atomic.Int64
	next http.RoundTripper
}

func (h toHost) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != twilioHost && r.URL.Host != h.host {
		return nil, fmt.Errorf("the SDK asked for %s, not %s", r.URL, twilioHost)
	}
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = "http", h.host, h.host
	resp, err := h.next.RoundTrip(r)
	if err == nil {
		h.last.Store(int64(resp.StatusCode))
	}
	return resp, err
}

// twilioAPI is the unmodified SDK's Verify v2 API, authenticating as
// name:secret, with an HTTP client that sends its requests to in and
// stores the HTTP status of each answer in last.
func twilioAPI(in *instance, name, secret string, last *atomic.Int64) *twverify.ApiService {
	c := twilio.NewRestClientWithParams(twilio.ClientParams{Username: name, Password: secret})
	// TWILIO_EDGE and TWILIO_REGION, read from the environment, would move
	// the host to verify.<edge>.<region>.twilio.com.
	c.SetEdge("")
	c.SetRegion("")
	c.RequestHandler.Client.(*twclient.Client).HTTPClient = &http.Client{
		Transport:     toHost{host: strings.TrimPrefix(in.base, "http://"), last: last, next: in.http.Transport},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	return c.VerifyV2
}

// wantErr wants err to be the SDK's decoding of Twilio's error shape with
// status and code, answered with that HTTP status.
func (f *twFixture) wantErr(t *testing.T, what string, err error, status, code int) {
	t.Helper()
	var te *twclient.TwilioRestError
	if !errors.As(err, &te) {
		t.Errorf("%s: error %v, want a TwilioRestError %d %d", what, err, status, code)
		return
	}
	if got := f.last.Load(); got != int64(status) {
		t.Errorf("%s: HTTP %d (%v), want %d", what, got, err, status)
	}
	if te.Status != status || te.Code != code {
		t.Errorf("%s: %d %d (%s), want %d %d", what, te.Status, te.Code, te.Message, status, code)
	}
	if te.Message == "" || te.MoreInfo != moreInfo(code) {
		t.Errorf("%s: message %q, more_info %q; want a message and %s", what, te.Message, te.MoreInfo, moreInfo(code))
	}
}

func moreInfo(code int) string { return fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code) }

// check runs a VerificationCheck by VerificationSid (sid) or by To.
func (f *twFixture) check(sid, to, code string) (*twverify.VerifyV2VerificationCheck, error) {
	p := &twverify.CreateVerificationCheckParams{}
	p.SetCode(code)
	if sid != "" {
		p.SetVerificationSid(sid)
	} else {
		p.SetTo(to)
	}
	return f.tw.CreateVerificationCheck(twService, p)
}

// mustCreate starts a verification of to (E.164) on twService and wants
// 201, the answer to a first send and to a resend alike.
func (f *twFixture) mustCreate(t *testing.T, to string, params ...func(*twverify.CreateVerificationParams)) *twverify.VerifyV2Verification {
	t.Helper()
	p := &twverify.CreateVerificationParams{}
	p.SetTo(to).SetChannel("sms")
	for _, set := range params {
		set(p)
	}
	v, err := f.tw.CreateVerification(twService, p)
	if err != nil {
		t.Fatalf("create %s: %v", to, err)
	}
	if got := f.last.Load(); got != http.StatusCreated {
		t.Errorf("create %s: HTTP %d, want 201", to, got)
	}
	return v
}

func deref[T any](p *T) (v T) {
	if p != nil {
		v = *p
	}
	return v
}

// orNil is what p points to, or nil, for messages.
func orNil[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// twVerification is what a test expects of a Verification.
type twVerification struct {
	to      string // E.164, with +
	status  string
	sends   []time.Time // the time of each send; unchecked when nil
	updated time.Time   // date_updated; unchecked when zero
}

// wantVerification checks every field §7 names.
func wantVerification(t *testing.T, what string, v *twverify.VerifyV2Verification, want twVerification) {
	t.Helper()
	if v == nil {
		t.Fatalf("%s: no verification", what)
	}
	sid := deref(v.Sid)
	if !sidPattern.MatchString(sid) || deref(v.ServiceSid) != twService || deref(v.AccountSid) != twKeyName {
		t.Errorf("%s: sid %q, service_sid %q, account_sid %q; want VE+32 hex, %s, %s", what, sid, deref(v.ServiceSid), deref(v.AccountSid), twService, twKeyName)
	}
	if deref(v.To) != want.to || deref(v.Channel) != "sms" || deref(v.Status) != want.status || v.Valid == nil || *v.Valid != (want.status == "approved") {
		t.Errorf("%s: to %q, channel %q, status %q, valid %v; want %s, sms, %s", what, deref(v.To), deref(v.Channel), deref(v.Status), orNil(v.Valid), want.to, want.status)
	}
	if v.Amount != nil || v.Payee != nil {
		t.Errorf("%s: amount %v, payee %v; want null", what, deref(v.Amount), deref(v.Payee))
	}
	if _, ok := deref(v.Lookup).(map[string]any); !ok {
		t.Errorf("%s: lookup %v, want an object", what, deref(v.Lookup))
	}
	if v.DateCreated == nil || v.DateUpdated == nil || v.DateUpdated.Before(*v.DateCreated) {
		t.Errorf("%s: date_created %v, date_updated %v", what, orNil(v.DateCreated), orNil(v.DateUpdated))
	} else if !want.updated.IsZero() && !v.DateUpdated.Equal(want.updated) {
		t.Errorf("%s: date_updated %v, want %v", what, v.DateUpdated, want.updated)
	}
	if u := deref(v.Url); !strings.HasSuffix(u, "/v2/Services/"+twService+"/Verifications/"+sid) {
		t.Errorf("%s: url %q, want it to end in /v2/Services/%s/Verifications/%s", what, u, twService, sid)
	}
	attempts := deref(v.SendCodeAttempts)
	if v.SendCodeAttempts == nil || want.sends != nil && len(attempts) != len(want.sends) {
		t.Errorf("%s: send_code_attempts %v, want %d", what, attempts, len(want.sends))
		return
	}
	for i, a := range attempts {
		m, _ := a.(map[string]any)
		when, _ := m["time"].(string)
		at, err := time.Parse(time.RFC3339, when)
		if attempt, _ := m["attempt_sid"].(string); err != nil || m["channel"] != "sms" || attempt == "" {
			t.Errorf("%s: send_code_attempts[%d] = %v, want time, channel sms, attempt_sid", what, i, a)
			continue
		}
		if want.sends != nil && !at.Equal(want.sends[i]) {
			t.Errorf("%s: send_code_attempts[%d].time %v, want %v", what, i, at, want.sends[i])
		}
	}
	if want.sends != nil && !v.DateCreated.Equal(want.sends[0]) {
		t.Errorf("%s: date_created %v, want the first send's time %v", what, v.DateCreated, want.sends[0])
	}
}

// wantCheckAnswer checks a VerificationCheck.
func wantCheckAnswer(t *testing.T, what string, c *twverify.VerifyV2VerificationCheck, err error, sid, to, status string) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v, want %s", what, err, status)
		return
	}
	if deref(c.Sid) != sid || deref(c.ServiceSid) != twService || deref(c.AccountSid) != twKeyName || deref(c.To) != to || deref(c.Channel) != "sms" {
		t.Errorf("%s: sid %q, service_sid %q, account_sid %q, to %q, channel %q; want %s, %s, %s, %s, sms",
			what, deref(c.Sid), deref(c.ServiceSid), deref(c.AccountSid), deref(c.To), deref(c.Channel), sid, twService, twKeyName, to)
	}
	if deref(c.Status) != status || c.Valid == nil || *c.Valid != (status == "approved") {
		t.Errorf("%s: status %q, valid %v; want %s", what, deref(c.Status), orNil(c.Valid), status)
	}
	if c.DateCreated == nil || c.DateUpdated == nil || c.SnaAttemptsErrorCodes == nil || len(*c.SnaAttemptsErrorCodes) != 0 || c.Amount != nil || c.Payee != nil {
		t.Errorf("%s: date_created %v, date_updated %v, sna_attempts_error_codes %v, amount %v, payee %v; want dates, [], null, null",
			what, orNil(c.DateCreated), orNil(c.DateUpdated), orNil(c.SnaAttemptsErrorCodes), orNil(c.Amount), orNil(c.Payee))
	}
}

// basic is a Basic credential; the zero value sends no Authorization.
type basic struct{ name, secret string }

var twKey = basic{twKeyName, twSecret}

// twReply is one answer to a plain request; body is set when the answer
// is a JSON object.
type twReply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// twCall sends a request as Twilio's SDKs do: Basic auth, and a form body
// when form is not nil.
func (in *instance) twCall(t *testing.T, method, path string, key basic, header map[string]string, form url.Values) twReply {
	t.Helper()
	if form == nil {
		return in.twRaw(t, method, path, key, header, "")
	}
	return in.twRaw(t, method, path, key, header, form.Encode())
}

// twRaw sends body as it is, as a form unless it is empty, the way curl -d
// sends what it is given.
func (in *instance) twRaw(t *testing.T, method, path string, key basic, header map[string]string, body string) twReply {
	t.Helper()
	req, err := in.newRequest(method, path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if key != (basic{}) {
		req.SetBasicAuth(key.name, key.secret)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// in.http follows no redirect: /v2/ never redirects, and a test must
	// see it if it does.
	resp, err := in.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	r := twReply{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// wantTwilioError wants exactly Twilio's error shape, {"code", "message",
// "more_info", "status"}, as JSON, with status equal to the HTTP status.
// A code of 0 accepts any code; a field wants the message to name it.
func wantTwilioError(t *testing.T, what string, r twReply, status, code int, field string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: HTTP %d %s, want %d", what, r.status, r.raw, status)
		return
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	keys := slices.Sorted(maps.Keys(r.body))
	if !slices.Equal(keys, []string{"code", "message", "more_info", "status"}) {
		t.Errorf("%s: body %s, want exactly code, message, more_info, status", what, r.raw)
		return
	}
	got, _ := r.body["code"].(float64)
	if got <= 0 || got != float64(int(got)) || code != 0 && int(got) != code {
		t.Errorf("%s: code %v, want %d", what, r.body["code"], code)
	}
	if r.body["status"] != float64(status) || r.body["more_info"] != moreInfo(int(got)) {
		t.Errorf("%s: status %v, more_info %v; want %d, %s", what, r.body["status"], r.body["more_info"], status, moreInfo(int(got)))
	}
	msg, _ := r.body["message"].(string)
	if msg == "" || !strings.Contains(msg, field) {
		t.Errorf("%s: message %q, want one naming %q", what, msg, field)
	}
}
