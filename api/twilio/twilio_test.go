package twilio_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

var (
	verificationSID = regexp.MustCompile(`^VE[0-9a-f]{32}$`)
	attemptSID      = regexp.MustCompile(`^VL[0-9a-f]{32}$`)
)

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func TestEveryRefusalHasTwilioShape(t *testing.T) {
	f := mini(t, options{})
	base := "/v2/Services/" + service
	big := form("To", mobile, "Channel", "sms", "Pad", strings.Repeat("x", 65<<10))
	cases := []struct {
		name         string
		method, path string
		form         url.Values
		headers      []string
		status, code int
		mentions     string
	}{
		{"no credentials", "POST", base + "/Verifications", form("To", mobile, "Channel", "sms"), []string{"Authorization", ""}, 401, 20003, ""},
		{"bearer instead of basic", "POST", base + "/Verifications", nil, []string{"Authorization", "Bearer " + keySecret}, 401, 20003, ""},
		{"right secret, wrong name", "GET", base + "/Verifications/VE00000000000000000000000000000000", nil, []string{"Authorization", "Basic b3RoZXI6c2hvcHNlY3JldDAxMjM0NTY3ODk="}, 401, 20003, ""},
		{"unknown service", "POST", "/v2/Services/VAffffffffffffffffffffffffffffffff/Verifications", form("To", mobile, "Channel", "sms"), nil, 404, 20404, ""},
		{"unknown path", "GET", "/v2/Nothing", nil, nil, 404, 20404, ""},
		{"the prefix alone", "GET", "/v2", nil, nil, 404, 20404, ""},
		{"trailing slash", "POST", base + "/Verifications/", form("To", mobile), nil, 404, 20404, ""},
		{"method", "DELETE", base + "/VerificationCheck", nil, nil, 405, 20004, ""},
		{"too large", "POST", base + "/Verifications", big, nil, 413, 20413, ""},
		{"no To", "POST", base + "/Verifications", form("Channel", "sms"), nil, 400, 60200, "To"},
		{"To not E.164", "POST", base + "/Verifications", form("To", "021 123 4567", "Channel", "sms"), nil, 400, 60200, "To"},
		{"To not a number", "POST", base + "/Verifications", form("To", "+64 12", "Channel", "sms"), nil, 400, 60200, "To"},
		{"no Channel", "POST", base + "/Verifications", form("To", mobile), nil, 400, 60200, "Channel"},
		{"call", "POST", base + "/Verifications", form("To", mobile, "Channel", "call"), nil, 400, 60200, "Channel"},
		{"CustomCode with letters", "POST", base + "/Verifications", form("To", mobile, "Channel", "sms", "CustomCode", "12ab"), nil, 400, 60200, "CustomCode"},
		{"CustomCode too short", "POST", base + "/Verifications", form("To", mobile, "Channel", "sms", "CustomCode", "123"), nil, 400, 60200, "CustomCode"},
		{"friendly name too long", "POST", base + "/Verifications", form("To", mobile, "Channel", "sms", "CustomFriendlyName", strings.Repeat("n", 65)), nil, 400, 60200, "CustomFriendlyName"},
		{"DeviceIp", "POST", base + "/Verifications", form("To", mobile, "Channel", "sms", "DeviceIp", "999.1.1.1"), nil, 400, 60200, "DeviceIp"},
		{"country", "POST", base + "/Verifications", form("To", "+14155552671", "Channel", "sms"), nil, 403, 60605, ""},
		{"unknown verification", "GET", base + "/Verifications/VE00000000000000000000000000000000", nil, nil, 404, 20404, ""},
		{"malformed sid", "GET", base + "/Verifications/ver_00000000000000000000000000000000", nil, nil, 404, 20404, ""},
		{"no Status", "POST", base + "/Verifications/VE00000000000000000000000000000000", form(), nil, 400, 60200, "Status"},
		{"bad Status", "POST", base + "/Verifications/VE00000000000000000000000000000000", form("Status", "pending"), nil, 400, 60200, "Status"},
		{"no Code", "POST", base + "/VerificationCheck", form("To", mobile), nil, 400, 60200, "Code"},
		{"Code with letters", "POST", base + "/VerificationCheck", form("To", mobile, "Code", "12345a"), nil, 400, 60200, "Code"},
		{"neither To nor sid", "POST", base + "/VerificationCheck", form("Code", "123456"), nil, 400, 60200, "VerificationSid"},
		{"both To and sid", "POST", base + "/VerificationCheck", form("Code", "123456", "To", mobile, "VerificationSid", "VE00000000000000000000000000000000"), nil, 400, 60200, "VerificationSid"},
		{"check unknown sid", "POST", base + "/VerificationCheck", form("Code", "123456", "VerificationSid", "VE00000000000000000000000000000000"), nil, 404, 20404, ""},
		{"check unknown number", "POST", base + "/VerificationCheck", form("Code", "123456", "To", "+64219876543"), nil, 404, 20404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(tc.method, tc.path, tc.form, tc.headers...)
			msg := wantError(t, rec, tc.status, tc.code)
			if !strings.Contains(msg, tc.mentions) {
				t.Errorf("message %q does not name %s", msg, tc.mentions)
			}
			if loc := rec.Header().Get("Location"); loc != "" {
				t.Errorf("Location = %q: /v2/ never redirects", loc)
			}
			if tc.status == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate = %q, want Basic", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
	if n := len(f.sender.sends); n != 0 {
		t.Errorf("%d codes sent by refused requests", n)
	}
}

func TestWithoutServicesEveryPathIsNotFound(t *testing.T) {
	f := mini(t, options{services: map[string]string{}})
	for _, path := range []string{"/v2/Services/" + service + "/Verifications", "/v2/Services/" + service + "/VerificationCheck"} {
		wantError(t, f.do("POST", path, form("To", mobile, "Channel", "sms")), 404, 20404)
		wantError(t, f.do("POST", path, form("To", mobile, "Channel", "sms"), "Authorization", ""), 404, 20404)
		// Not 405: no method of a path that is not served is allowed or not.
		wantError(t, f.do("GET", path, nil), 404, 20404)
		wantError(t, f.do("DELETE", path+"/VE00000000000000000000000000000000", nil), 404, 20404)
	}
	// /v1/ keeps its own shape.
	if rec := f.do("GET", "/v1/nothing", nil, "Authorization", "Bearer "+keySecret); !strings.Contains(rec.Body.String(), `"error"`) {
		t.Errorf("/v1/ error = %s, want the /v1/ shape", rec.Body)
	}
}

func TestVerificationResource(t *testing.T) {
	f := mini(t, options{})
	rec := f.create(form("To", mobile, "Channel", "sms", "Locale", "fr", "RiskCheck", "enable", "Tags", "x"))
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	v := decode(t, rec)
	sid, _ := v["sid"].(string)
	if !verificationSID.MatchString(sid) {
		t.Fatalf("sid = %q", sid)
	}
	created := f.clock.Now().UTC().Format(time.RFC3339)
	want := map[string]any{
		"service_sid": service, "account_sid": keyName, "to": mobile, "channel": "sms",
		"status": "pending", "valid": false, "lookup": map[string]any{}, "amount": nil, "payee": nil,
		"sna": nil, "date_created": created, "date_updated": created,
		"url": "http://example.com/v2/Services/" + service + "/Verifications/" + sid,
	}
	for k, w := range want {
		got, present := v[k]
		if !present || !equalJSON(got, w) {
			t.Errorf("%s = %#v (present %v), want %#v", k, got, present, w)
		}
	}
	attempts, _ := v["send_code_attempts"].([]any)
	if len(attempts) != 1 {
		t.Fatalf("send_code_attempts = %v, want one", v["send_code_attempts"])
	}
	a := attempts[0].(map[string]any)
	if a["time"] != created || a["channel"] != "sms" || !attemptSID.MatchString(a["attempt_sid"].(string)) {
		t.Errorf("attempt = %v", a)
	}
	if got := f.sender.last(t).Brand; got != "Acme Shop" {
		t.Errorf("brand = %q, want the service's friendly name", got)
	}

	// A fetch answers the same resource.
	got := decode(t, f.do("GET", "/v2/Services/"+service+"/Verifications/"+sid, nil))
	if got["sid"] != sid || got["status"] != "pending" || got["to"] != mobile {
		t.Errorf("fetch = %v", got)
	}
}

func equalJSON(got, want any) bool {
	if m, ok := want.(map[string]any); ok {
		g, ok := got.(map[string]any)
		return ok && len(g) == len(m)
	}
	return got == want
}

// TestUnencodedPlus takes a number sent as `curl -d To=+6421…` writes it:
// the + arrives as a space.
func TestUnencodedPlus(t *testing.T) {
	f := mini(t, options{})
	rec := f.do("POST", "/v2/Services/"+service+"/Verifications", nil, "Content-Type", "application/x-www-form-urlencoded")
	wantError(t, rec, 400, 60200)
	req := "To=+64211234567&Channel=sms"
	rec = f.raw("POST", "/v2/Services/"+service+"/Verifications", req)
	if rec.Code != http.StatusCreated || decode(t, rec)["to"] != mobile {
		t.Fatalf("create with an unencoded +: %d %s", rec.Code, rec.Body)
	}
	rec = f.raw("POST", "/v2/Services/"+service+"/VerificationCheck", "To=+64211234567&Code="+f.sender.last(t).Code)
	if v := decode(t, rec); v["status"] != "approved" {
		t.Errorf("check with an unencoded +: %d %s", rec.Code, rec.Body)
	}
}

func TestCustomCodeAndFriendlyName(t *testing.T) {
	f := mini(t, options{})
	rec := f.create(form("To", mobile, "Channel", "SMS", "CustomCode", "90210", "CustomFriendlyName", "Acme Login"))
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	sent := f.sender.last(t)
	if sent.Code != "90210" || sent.Brand != "Acme Login" {
		t.Errorf("sent code %q brand %q, want the custom ones", sent.Code, sent.Brand)
	}
	if strings.Contains(rec.Body.String(), "90210") {
		t.Error("the answer holds the code")
	}
	res := decode(t, f.check(form("To", mobile, "Code", "90210")))
	if res["status"] != "approved" || res["valid"] != true {
		t.Errorf("check of the custom code = %v", res)
	}
}

func TestCheckOutcomes(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		f := newFixture(t, rdb, options{edit: func(c *otp.Config) { c.MaxAttempts = 3 }})
		sid := f.mustCreate()["sid"].(string)
		code := f.sender.last(t).Code
		wrong := otherCode(code)

		res := decode(t, f.check(form("VerificationSid", sid, "Code", wrong)))
		if res["status"] != "pending" || res["valid"] != false || res["sid"] != sid || res["to"] != mobile {
			t.Errorf("wrong code = %v", res)
		}
		if codes, ok := res["sna_attempts_error_codes"].([]any); !ok || len(codes) != 0 {
			t.Errorf("sna_attempts_error_codes = %#v, want []", res["sna_attempts_error_codes"])
		}
		res = decode(t, f.check(form("To", mobile, "Code", code)))
		if res["status"] != "approved" || res["valid"] != true || res["sid"] != sid {
			t.Errorf("right code = %v", res)
		}
		// Twilio: an approved verification is gone for checks.
		wantError(t, f.check(form("VerificationSid", sid, "Code", code)), 404, 20404)
		// otpgate still shows it to a fetch, where Twilio answers 404.
		v := decode(t, f.do("GET", "/v2/Services/"+service+"/Verifications/"+sid, nil))
		if v["status"] != "approved" || v["valid"] != true {
			t.Errorf("fetch after approval = %v", v)
		}
	})
}

func otherCode(code string) string {
	if code[0] == '1' {
		return "2" + code[1:]
	}
	return "1" + code[1:]
}

func TestMaxAttempts(t *testing.T) {
	f := mini(t, options{edit: func(c *otp.Config) { c.MaxAttempts = 2 }})
	sid := f.mustCreate()["sid"].(string)
	wrong := otherCode(f.sender.last(t).Code)
	for i := range 2 {
		res := decode(t, f.check(form("VerificationSid", sid, "Code", wrong)))
		if res["status"] != "pending" || res["valid"] != false {
			t.Errorf("wrong guess %d = %v, want pending as Twilio answers", i+1, res)
		}
	}
	wantError(t, f.check(form("VerificationSid", sid, "Code", f.sender.last(t).Code)), 429, 60202)
	if v := decode(t, f.do("GET", "/v2/Services/"+service+"/Verifications/"+sid, nil)); v["status"] != "max_attempts_reached" {
		t.Errorf("fetch = %v, want max_attempts_reached", v["status"])
	}
}

func TestCancelAndApprove(t *testing.T) {
	f := mini(t, options{})
	path := "/v2/Services/" + service + "/Verifications/"
	sid := f.mustCreate()["sid"].(string)
	rec := f.do("POST", path+sid, form("Status", "canceled"))
	if v := decode(t, rec); rec.Code != 200 || v["status"] != "canceled" || v["valid"] != false {
		t.Fatalf("cancel = %d %v", rec.Code, v)
	}
	wantError(t, f.do("POST", path+sid, form("Status", "canceled")), 404, 20404)
	wantError(t, f.check(form("VerificationSid", sid, "Code", f.sender.last(t).Code)), 404, 20404)

	f.clock.Advance(time.Minute)
	sid = f.mustCreate()["sid"].(string)
	rec = f.do("POST", path+sid, form("Status", "approved"))
	if v := decode(t, rec); rec.Code != 200 || v["status"] != "approved" || v["valid"] != true {
		t.Fatalf("approve = %d %v", rec.Code, v)
	}
	if v := decode(t, rec); v["date_updated"] != f.clock.Now().UTC().Format(time.RFC3339) {
		t.Errorf("date_updated = %v, want the approval's time", v["date_updated"])
	}
	wantError(t, f.do("POST", path+sid, form("Status", "canceled")), 404, 20404)
}

func TestResendAnswers201WithTheSameSid(t *testing.T) {
	f := mini(t, options{})
	sid := f.mustCreate()["sid"].(string)
	rec := f.create(form("To", mobile, "Channel", "sms"))
	wantError(t, rec, 429, 60203)
	if rec.Header().Get("Retry-After") != "30" {
		t.Errorf("Retry-After = %q, want 30", rec.Header().Get("Retry-After"))
	}
	f.clock.Advance(31 * time.Second)
	v := f.mustCreate()
	if v["sid"] != sid {
		t.Errorf("resend sid = %v, want %s", v["sid"], sid)
	}
	if a, _ := v["send_code_attempts"].([]any); len(a) != 2 {
		t.Errorf("send_code_attempts = %v, want two", v["send_code_attempts"])
	}
}

func TestIdempotencyKeyReplays(t *testing.T) {
	f := mini(t, options{})
	create := func(to string) *http.Response {
		rec := f.do("POST", "/v2/Services/"+service+"/Verifications", form("To", to, "Channel", "sms"), "Idempotency-Key", "k1")
		return rec.Result()
	}
	first, again := create(mobile), create(mobile)
	if first.StatusCode != 201 || again.StatusCode != 201 || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("statuses %d, %d replayed %q", first.StatusCode, again.StatusCode, again.Header.Get("Idempotent-Replayed"))
	}
	if n := len(f.sender.sends); n != 1 {
		t.Errorf("%d sends, want 1", n)
	}
	rec := f.do("POST", "/v2/Services/"+service+"/Verifications", form("To", "+64219876543", "Channel", "sms"), "Idempotency-Key", "k1")
	wantError(t, rec, 422, 20422)

	// Another CustomCode under one key is another request, though the
	// code itself is kept nowhere in Redis.
	f.clock.Advance(time.Minute)
	withCode := func(code string) *httptest.ResponseRecorder {
		return f.do("POST", "/v2/Services/"+service+"/Verifications", form("To", mobile, "Channel", "sms", "CustomCode", code), "Idempotency-Key", "k2")
	}
	if rec := withCode("80235719"); rec.Code != 201 {
		t.Fatalf("create with a custom code: %d %s", rec.Code, rec.Body)
	}
	wantError(t, withCode("80235720"), 422, 20422)
	keys, err := f.rdb.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if v, _ := f.rdb.Dump(context.Background(), k).Result(); strings.Contains(v, "80235719") || strings.Contains(k, "80235719") {
			t.Errorf("Redis key %s holds the custom code", k)
		}
	}
}

func TestCodesInTheQueryAreNotRead(t *testing.T) {
	f := mini(t, options{})
	f.mustCreate()
	code := f.sender.last(t).Code
	path := "/v2/Services/" + service + "/VerificationCheck?" + url.Values{"To": {mobile}, "Code": {code}}.Encode()
	wantError(t, f.do("POST", path, url.Values{}), 400, 60200)
}

// limiter is an otp.Limiter whose quota is always spent.
type limiter struct{}

func (limiter) Take(context.Context, string) (otp.Quota, error) {
	return otp.Quota{Limit: 1, Reset: time.Date(2030, 1, 2, 3, 5, 0, 0, time.UTC), Reached: true}, nil
}

func (l limiter) Peek(ctx context.Context, key string) (otp.Quota, error) { return l.Take(ctx, key) }

func TestRateLimitCodes(t *testing.T) {
	perKey := mini(t, options{api: func(c *api.Config) { c.KeyLimiter = limiter{} }})
	rec := perKey.check(form("To", mobile, "Code", "123456"))
	wantError(t, rec, 429, 20429)
	if rec.Header().Get("Retry-After") != "55" || rec.Header().Get("X-RateLimit-Limit") != "1" {
		t.Errorf("headers = %v", rec.Header())
	}

	perIP := mini(t, options{limits: otp.Limits{StartsPerIP: limiter{}, ChecksPerIP: limiter{}}})
	wantError(t, perIP.create(form("To", mobile, "Channel", "sms", "DeviceIp", "198.51.100.7")), 429, 60203)
	wantError(t, perIP.check(form("To", mobile, "Code", "123456", "DeviceIp", "198.51.100.7")), 429, 20429)
}

// refusing is an otp.Budgets that refuses every start with what refuse
// makes of the request.
type refusing func(otp.BudgetRequest) error

func (f refusing) Reserve(_ context.Context, r otp.BudgetRequest) ([]otp.Warning, error) {
	return nil, f(r)
}

func (refusing) Release(context.Context, otp.BudgetRequest) error      { return nil }
func (refusing) Bind(context.Context, string, string, time.Time) error { return nil }
func (refusing) Approve(context.Context, string, time.Time) error      { return nil }

// TestBudgetCodes: a start the send budgets refuse is a send limit (60203),
// one the fraud guard refuses is 60410; both keep Retry-After and send
// nothing.
func TestBudgetCodes(t *testing.T) {
	tests := []struct {
		name       string
		refuse     refusing
		code       int
		retryAfter string
	}{
		{"prefix cap", func(r otp.BudgetRequest) error {
			return &otp.LimitError{Kind: otp.ErrRateLimited, Limit: 30, Reset: r.Now.Add(time.Minute)}
		}, 60203, "60"},
		// The fixture's clock reads 03:04:05 UTC: 20:55:55 to the next UTC
		// midnight, when a daily budget frees up.
		{"daily budget", func(r otp.BudgetRequest) error {
			return &otp.LimitError{Kind: otp.ErrSendBudget, Limit: 500, Reset: r.Now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)}
		}, 60203, strconv.Itoa(20*3600 + 55*60 + 55)},
		{"fraud guard", func(r otp.BudgetRequest) error {
			return &otp.LimitError{Kind: otp.ErrFraudGuard, Limit: 5, Reset: r.Now.Add(time.Hour), Warnings: []otp.Warning{otp.WarnPrefixHourly}}
		}, 60410, "3600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mini(t, options{budgets: tt.refuse})
			rec := f.create(form("To", mobile, "Channel", "sms"))
			wantError(t, rec, 429, tt.code)
			if got := rec.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if rec.Header().Get("X-RateLimit-Limit") == "" {
				t.Error("no X-RateLimit-Limit")
			}
			if len(f.sender.sends) != 0 {
				t.Errorf("%d SMS sent, want none", len(f.sender.sends))
			}
		})
	}
}

func TestFailures(t *testing.T) {
	t.Run("upstream", func(t *testing.T) {
		f := mini(t, options{})
		f.sender.fail = otp.ErrUpstream
		wantError(t, f.create(form("To", mobile, "Channel", "sms")), 502, 20500)
	})
	t.Run("redis down", func(t *testing.T) {
		srv := redistest.StartServer(t)
		// No retries: the test wants the failure, not go-redis's backoff.
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
		t.Cleanup(func() { _ = rdb.Close() })
		f := newFixture(t, rdb, options{})
		sid := f.mustCreate()["sid"].(string)
		code := f.sender.last(t).Code
		srv.Kill()
		wantError(t, f.check(form("VerificationSid", sid, "Code", code)), 503, 20500)
		wantError(t, f.do("POST", "/v2/Services/"+service+"/Verifications/"+sid, form("Status", "approved")), 503, 20500)
		wantError(t, f.create(form("To", "+64219876543", "Channel", "sms")), 503, 20500)
		if n := len(f.sender.sends); n != 1 {
			t.Errorf("%d codes sent, want only the first", n)
		}
	})
}
