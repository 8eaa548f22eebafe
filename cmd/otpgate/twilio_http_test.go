package main

// CONTRACT.md §7 over plain HTTP, as Twilio's docs show it (curl -u
// name:secret -d To=… -d Channel=sms): form bodies in, JSON out, and
// Twilio's error shape for every answer that is not 2xx.

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

const (
	verificationsPath = "/v2/Services/" + twService + "/Verifications"
	checkPath         = "/v2/Services/" + twService + "/VerificationCheck"
)

func TestTwilioHTTPAnswers(t *testing.T) {
	t.Parallel()
	f := newTwilioFixture(t, twOptions{})
	const to = "+64212345678"
	// Unknown parameters, the SDK's or anyone's, are ignored.
	r := f.twCall(t, "POST", verificationsPath, twKey, nil, url.Values{
		"To": {to}, "Channel": {"sms"}, "RiskCheck": {"enable"}, "Tags": {"x"}, "Locale": {"en"}, "AppHash": {"abc"}, "Whatever": {"1"},
	})
	if r.status != http.StatusCreated || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("create: %d %q %s, want 201 JSON", r.status, r.header.Get("Content-Type"), r.raw)
	}
	sid, _ := r.body["sid"].(string)
	if !sidPattern.MatchString(sid) || r.body["status"] != "pending" || r.body["valid"] != false || r.body["to"] != to {
		t.Errorf("create: %s", r.raw)
	}
	// Members the SDK reads as null, arrays and UTC dates.
	wantJSON := func(what string, body map[string]any, nulls []string, dates []string) {
		t.Helper()
		for _, k := range nulls {
			if v, ok := body[k]; !ok || v != nil {
				t.Errorf("%s: %s = %v (present %v), want null", what, k, v, ok)
			}
		}
		for _, k := range dates {
			if s, _ := body[k].(string); !strings.HasSuffix(s, "Z") {
				t.Errorf("%s: %s = %v, want RFC 3339 UTC ending in Z", what, k, body[k])
			}
		}
	}
	wantJSON("create", r.body, []string{"amount", "payee", "sna"}, []string{"date_created", "date_updated"})
	attempts, _ := r.body["send_code_attempts"].([]any)
	if len(attempts) != 1 {
		t.Errorf("create: send_code_attempts %v, want one", r.body["send_code_attempts"])
	} else {
		wantJSON("create's send_code_attempts", attempts[0].(map[string]any), nil, []string{"time"})
	}
	if _, ok := r.body["lookup"].(map[string]any); !ok {
		t.Errorf("create: lookup %v, want an object", r.body["lookup"])
	}

	r = f.twCall(t, "POST", checkPath, twKey, nil, url.Values{"To": {to}, "Code": {otherCode(f.code(t, "64212345678"))}})
	if r.status != http.StatusOK || r.body["status"] != "pending" || r.body["valid"] != false || r.body["sid"] != sid {
		t.Errorf("wrong code: %d %s, want 200 pending", r.status, r.raw)
	}
	wantJSON("check", r.body, []string{"amount", "payee"}, []string{"date_created", "date_updated"})
	if codes, ok := r.body["sna_attempts_error_codes"].([]any); !ok || len(codes) != 0 {
		t.Errorf("check: sna_attempts_error_codes %v, want []", r.body["sna_attempts_error_codes"])
	}
	if got := f.twCall(t, "GET", verificationsPath+"/"+sid, twKey, nil, nil); got.status != http.StatusOK || got.body["sid"] != sid {
		t.Errorf("fetch: %d %s", got.status, got.raw)
	}
	// The first answer's send is the only one.
	if n := len(f.fake.Messages()); n != 1 {
		t.Errorf("%d SMS, want 1", n)
	}

	t.Run("400 names the field", func(t *testing.T) {
		form := func(kv ...string) url.Values {
			v := url.Values{"To": {"+64211000031"}, "Channel": {"sms"}}
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == "" {
					v.Del(kv[i])
					continue
				}
				v.Set(kv[i], kv[i+1])
			}
			return v
		}
		tests := []struct {
			name, path string
			form       url.Values
			field      string
		}{
			{"no To", verificationsPath, form("To", ""), "To"},
			{"To 12ab", verificationsPath, form("To", "12ab"), "To"},
			{"To too short", verificationsPath, form("To", "+6421"), "To"},
			{"Channel call", verificationsPath, form("Channel", "call"), "Channel"},
			{"CustomCode 12ab", verificationsPath, form("CustomCode", "12ab"), "CustomCode"},
			{"CustomCode 123", verificationsPath, form("CustomCode", "123"), "CustomCode"},
			{"CustomCode of 9 digits", verificationsPath, form("CustomCode", "123456789"), "CustomCode"},
			{"DeviceIp 999.1.1.1", verificationsPath, form("DeviceIp", "999.1.1.1"), "DeviceIp"},
			{"check without Code", checkPath, url.Values{"VerificationSid": {sid}}, "Code"},
			{"check without To or VerificationSid", checkPath, url.Values{"Code": {"123456"}}, ""},
			{"update to another status", verificationsPath + "/" + sid, url.Values{"Status": {"pending"}}, "Status"},
		}
		for _, tt := range tests {
			wantTwilioError(t, tt.name, f.twCall(t, "POST", tt.path, twKey, nil, tt.form), http.StatusBadRequest, 60200, tt.field)
		}
		if n := len(f.fake.Messages()); n != 1 {
			t.Errorf("%d SMS, want still 1", n)
		}
	})

	t.Run("every other answer", func(t *testing.T) {
		huge := url.Values{"To": {"+64211000032"}, "Channel": {"sms"}, "Tags": {strings.Repeat("x", 65<<10)}}
		bearer := map[string]string{"Authorization": "Bearer " + twSecret}
		tests := []struct {
			name, method, path string
			key                basic
			header             map[string]string
			form               url.Values
			status, code       int
		}{
			{"no Authorization on create", "POST", verificationsPath, basic{}, nil, url.Values{"To": {"+64211000033"}}, 401, 20003},
			{"no Authorization on fetch", "GET", verificationsPath + "/" + sid, basic{}, nil, nil, 401, 20003},
			{"no Authorization on check", "POST", checkPath, basic{}, nil, url.Values{"To": {to}, "Code": {"123456"}}, 401, 20003},
			{"a Bearer secret", "POST", checkPath, basic{}, bearer, url.Values{"To": {to}, "Code": {"123456"}}, 401, 20003},
			{"a wrong secret", "GET", verificationsPath + "/" + sid, basic{twKeyName, "x"}, nil, nil, 401, 20003},
			{"a body over 64 KiB", "POST", verificationsPath, twKey, nil, huge, 413, 20413},
			{"DELETE on VerificationCheck", "DELETE", checkPath, twKey, nil, nil, 405, 20004},
			{"GET on VerificationCheck", "GET", checkPath, twKey, nil, nil, 405, 20004},
			{"PUT on a verification", "PUT", verificationsPath + "/" + sid, twKey, nil, url.Values{"Status": {"canceled"}}, 405, 20004},
			{"an unknown path under the service", "GET", "/v2/Services/" + twService + "/Nonsense", twKey, nil, nil, 404, 20404},
			{"an unknown path under a verification", "GET", verificationsPath + "/" + sid + "/Extra", twKey, nil, nil, 404, 20404},
			{"an unknown /v2/ path", "GET", "/v2/Whatever", twKey, nil, nil, 404, 20404},
			{"a malformed verification sid", "GET", verificationsPath + "/ver_x", twKey, nil, nil, 404, 20404},
		}
		// These go on purpose to routes the OpenAPI document lacks.
		offDocument := map[string]bool{
			"DELETE on VerificationCheck": true, "GET on VerificationCheck": true, "PUT on a verification": true,
			"an unknown path under the service": true, "an unknown path under a verification": true, "an unknown /v2/ path": true,
		}
		for _, tt := range tests {
			in := f.instance
			if offDocument[tt.name] {
				in = in.offDocument()
			}
			r := in.twCall(t, tt.method, tt.path, tt.key, tt.header, tt.form)
			wantTwilioError(t, tt.name, r, tt.status, tt.code, "")
			if r.header.Get("X-Request-Id") == "" {
				t.Errorf("%s: no X-Request-Id", tt.name)
			}
		}
		if n := len(f.fake.Messages()); n != 1 {
			t.Errorf("%d SMS, want still 1", n)
		}
	})

	t.Run("curl -d To=+64… as Twilio's docs write it", func(t *testing.T) {
		// curl -d sends the + unencoded, and a form decodes it as a space.
		r := f.twRaw(t, "POST", verificationsPath, twKey, nil, "To=+64211000035&Channel=sms")
		if r.status != http.StatusCreated || r.body["to"] != "+64211000035" {
			t.Fatalf("create: %d %s, want 201 to +64211000035", r.status, r.raw)
		}
		r = f.twRaw(t, "POST", checkPath, twKey, nil, "To=+64211000035&Code="+f.code(t, "64211000035"))
		if r.status != http.StatusOK || r.body["status"] != "approved" || r.body["to"] != "+64211000035" {
			t.Errorf("check: %d %s, want 200 approved", r.status, r.raw)
		}
	})

	t.Run("a trailing slash is not redirected", func(t *testing.T) {
		for _, tt := range []struct {
			method, path string
			form         url.Values
		}{
			{"POST", verificationsPath + "/", url.Values{"To": {"+64211000034"}, "Channel": {"sms"}}},
			{"GET", verificationsPath + "/" + sid + "/", nil},
			{"POST", checkPath + "/", url.Values{"VerificationSid": {sid}, "Code": {"123456"}}},
		} {
			// A path with a trailing slash is not a route of the OpenAPI document.
			r := f.offDocument().twCall(t, tt.method, tt.path, twKey, nil, tt.form)
			if r.header.Get("Location") != "" {
				t.Errorf("%s %s: redirected to %q", tt.method, tt.path, r.header.Get("Location"))
			}
			wantTwilioError(t, tt.method+" "+tt.path, r, http.StatusNotFound, 20404, "")
		}
	})
}

func TestTwilioHTTPIdempotencyKey(t *testing.T) {
	t.Parallel()
	f := newTwilioFixture(t, twOptions{})
	idem := map[string]string{"Idempotency-Key": "order-1234"}
	form := url.Values{"To": {"+64212345678"}, "Channel": {"sms"}}
	first := f.twCall(t, "POST", verificationsPath, twKey, idem, form)
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.status, first.raw)
	}
	again := f.twCall(t, "POST", verificationsPath, twKey, idem, form)
	if again.status != first.status || !reflect.DeepEqual(again.body, first.body) {
		t.Errorf("repeat: %d %s, want the first answer %d %s", again.status, again.raw, first.status, first.raw)
	}
	other := f.twCall(t, "POST", verificationsPath, twKey, idem, url.Values{"To": {"+64217654321"}, "Channel": {"sms"}})
	wantTwilioError(t, "the same key with another body", other, http.StatusUnprocessableEntity, 0, "")
	// Without the key the repeat is a resend within the cooldown.
	wantTwilioError(t, "the repeat without the key", f.twCall(t, "POST", verificationsPath, twKey, nil, form), http.StatusTooManyRequests, 60203, "")
	if n := len(f.fake.Messages()); n != 1 {
		t.Errorf("%d SMS, want 1", n)
	}
}

// TestTwilioServicesUnset: without OTPGATE_TWILIO_SERVICES (outside dev
// mode) the dialect is off, and every /v2/ path is Twilio's 404.
func TestTwilioServicesUnset(t *testing.T) {
	t.Parallel()
	f := newTwilioFixture(t, twOptions{env: map[string]string{"OTPGATE_TWILIO_SERVICES": ""}})
	for _, tt := range []struct {
		method, path string
		key          basic
		form         url.Values
	}{
		{"POST", verificationsPath, twKey, url.Values{"To": {"+64212345678"}, "Channel": {"sms"}}},
		{"POST", verificationsPath, basic{}, url.Values{"To": {"+64212345678"}, "Channel": {"sms"}}},
		{"GET", verificationsPath + "/" + unknownVE, twKey, nil},
		{"POST", verificationsPath + "/" + unknownVE, twKey, url.Values{"Status": {"canceled"}}},
		{"POST", checkPath, twKey, url.Values{"To": {"+64212345678"}, "Code": {"123456"}}},
		{"GET", "/v2/", twKey, nil},
		{"GET", "/v2/Services", basic{}, nil},
	} {
		in := f.instance
		if !strings.HasPrefix(tt.path, "/v2/Services/") {
			// Not a route of the OpenAPI document, on purpose.
			in = in.offDocument()
		}
		r := in.twCall(t, tt.method, tt.path, tt.key, nil, tt.form)
		wantTwilioError(t, tt.method+" "+tt.path, r, http.StatusNotFound, 20404, "")
	}
	if n := f.fake.RequestCount("sms/otp"); n != 0 {
		t.Errorf("%d sms/otp requests, want none", n)
	}
	// /v1 is served as before.
	if r := f.post(t, "/v1/verifications", map[string]any{"to": "021 234 5678"}); r.status != http.StatusCreated {
		t.Errorf("/v1 start: %d %v", r.status, r.body)
	}
}
