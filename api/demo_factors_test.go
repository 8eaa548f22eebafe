package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
)

// demoIdentity is an identity the demo page may use: its own prefix.
const demoIdentity = "demo-0123456789abcdef"

// newDemoFactorFixture is the demo on the real factor service; base is
// the demo's path of demoIdentity.
func newDemoFactorFixture(t *testing.T, edit ...func(*api.Config)) *factorFixture {
	t.Helper()
	var fx *fixture
	f := newFactorFixture(t, append([]func(*api.Config){withDemo(&fx)}, edit...)...)
	fx = f.fixture
	f.base = "/demo/api/identities/" + demoIdentity
	return f
}

// demoCall sends a call of the page, without a key, through the document.
func (f *factorFixture) demoCall(path, body string) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.documented("POST", f.base+path, body, noAuth...)
}

// TestDemoRunsTheV1IdentityHandlers walks the demo page's authenticator
// panel through its routes without a key and sees /v1/'s answers and rules,
// on the one namespace of identities that /v1/ reads too.
func TestDemoRunsTheV1IdentityHandlers(t *testing.T) {
	limiter := &namesLimiter{}
	f := newDemoFactorFixture(t, func(c *api.Config) { c.KeyLimiter = limiter })

	rec := f.demoCall("/factors", `{"label":"`+demoIdentity+`"}`)
	if rec.Code != http.StatusCreated || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("enrol = %d %s (Cache-Control %q)", rec.Code, rec.Body, rec.Header().Get("Cache-Control"))
	}
	var e enrollment
	mustDecode(t, rec, &e)
	if e.Identity != demoIdentity || e.Status != "unverified" || !strings.HasPrefix(e.QRPNG, "data:image/png;base64,") {
		t.Errorf("enrolled %+v", e.factorBody)
	}

	rec = f.demoCall("/factors/"+e.ID+"/verify", `{"code":"`+f.wrongCode(e)+`"}`)
	if got := rec.Body.String(); rec.Code != http.StatusOK || got != `{"valid":false,"attempts_left":4}` {
		t.Errorf("wrong first code = %d %s", rec.Code, got)
	}
	rec = f.demoCall("/factors/"+e.ID+"/verify", `{"code":"`+f.code(e, 0)+`"}`)
	var v verified
	mustDecode(t, rec, &v)
	if !v.Valid || v.Status != "verified" || len(v.RecoveryCodes) != 10 {
		t.Fatalf("right first code = %d %s", rec.Code, rec.Body)
	}

	for _, tc := range []struct{ name, body, want string }{
		{"the verification's code again", `{"code":"` + f.code(e, 0) + `"}`, `{"valid":false,"attempts_left":3}`},
		{"the next step's code", `{"code":"` + f.code(e, 1) + `"}`, `{"valid":true,"factor_id":"` + e.ID + `"}`},
		{"a recovery code", `{"recovery_code":"` + strings.ToUpper(v.RecoveryCodes[0]) + `"}`, `{"valid":true,"recovery_codes_left":9}`},
	} {
		if rec := f.demoCall("/challenges", tc.body); rec.Code != http.StatusOK || rec.Body.String() != tc.want {
			t.Errorf("%s = %d %s, want 200 %s", tc.name, rec.Code, rec.Body, tc.want)
		}
	}

	// /v1/ sees what the demo did: the same handlers on the same service.
	rec = f.documented("GET", "/v1/identities/"+demoIdentity+"/factors", "")
	if !strings.Contains(rec.Body.String(), `"id":"`+e.ID+`"`) || !strings.Contains(rec.Body.String(), `"status":"verified"`) {
		t.Errorf("/v1/ lists %d %s", rec.Code, rec.Body)
	}
	names := limiter.taken()
	if len(names) != 7 || names[0] != "demo" || names[5] != "demo" || names[6] != "shop" {
		t.Errorf("per-key limit counted %v, want 6 requests of the key demo, then shop's", names)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"route":"/demo/api/identities/:identity/challenges","status":200`) || !strings.Contains(logs, `"key":"demo"`) ||
		!strings.Contains(logs, `"identity":"`+demoIdentity+`"`) {
		t.Errorf("no log line of the demo challenge under the key demo:\n%s", logs)
	}
	for _, secret := range append([]string{e.Secret, f.code(e, 0), f.code(e, 1)}, v.RecoveryCodes...) {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds the secret or a code %q", secret)
		}
	}
}

// TestDemoFactorLock meets the identity's lock through the demo, with the
// Retry-After the page counts down from.
func TestDemoFactorLock(t *testing.T) {
	f := newDemoFactorFixture(t)
	var e enrollment
	mustDecode(t, f.demoCall("/factors", `{"label":"x"}`), &e)
	if rec := f.demoCall("/factors/"+e.ID+"/verify", `{"code":"`+f.code(e, 0)+`"}`); !strings.Contains(rec.Body.String(), `"valid":true`) {
		t.Fatalf("verify = %d %s", rec.Code, rec.Body)
	}
	for range maxFactorAttempts {
		f.demoCall("/challenges", `{"code":"`+f.wrongCode(e)+`"}`)
		f.clock.Advance(time.Second)
	}
	rec := f.demoCall("/challenges", `{"code":"`+f.code(e, 1)+`"}`)
	wantError(t, rec, http.StatusTooManyRequests, "max_attempts_reached")
	if got, want := rec.Header().Get("Retry-After"), "895"; got != want {
		t.Errorf("Retry-After = %q, want %q: the 15 min window less the 5 s it ran", got, want)
	}
}

// TestDemoFactorRoutesKeepToDemoIdentities refuses every identity but the
// demo's own, so the page never touches, or locks, an identity an app under
// development keeps on the same dev server; and passes /v1/'s own errors.
func TestDemoFactorRoutesKeepToDemoIdentities(t *testing.T) {
	f := newDemoFactorFixture(t)
	notDemo := `identity: must start with "demo-" on the demo page`
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, message            string
	}{
		{"another app's identity", "POST", "/demo/api/identities/user-0001/factors", `{"label":"x"}`,
			http.StatusBadRequest, "invalid_request", notDemo},
		{"another app's challenge", "POST", "/demo/api/identities/user-0001/challenges", `{"code":"123456"}`,
			http.StatusBadRequest, "invalid_request", notDemo},
		{"a malformed identity", "POST", "/demo/api/identities/demo-ab%21cd/factors", `{"label":"x"}`,
			http.StatusBadRequest, "invalid_request", "identity: "},
		{"no label", "POST", f.base + "/factors", `{}`, http.StatusBadRequest, "invalid_request", ""},
		{"an unknown field", "POST", f.base + "/challenges", `{"code":"123456","x":1}`, http.StatusBadRequest, "invalid_request", ""},
		{"nothing to challenge", "POST", f.base + "/challenges", `{"code":"123456"}`, http.StatusNotFound, "not_found", ""},
		{"an unknown factor", "POST", f.base + "/factors/fac_00000000000000000000000000000000/verify", `{"code":"123456"}`, http.StatusNotFound, "not_found", ""},
		{"too large", "POST", f.base + "/factors", `{"label":"` + strings.Repeat("x", 70<<10) + `"}`, http.StatusRequestEntityTooLarge, "request_too_large", ""},
		// The page needs three of /v1/'s seven routes, and has no others.
		{"no list", "GET", f.base + "/factors", "", http.StatusMethodNotAllowed, "method_not_allowed", ""},
		{"no delete", "DELETE", f.base, "", http.StatusNotFound, "not_found", ""},
		{"no new recovery codes", "POST", f.base + "/recovery-codes", "", http.StatusNotFound, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := wantError(t, f.do(tc.method, tc.path, tc.body, noAuth...), tc.status, tc.code)
			if !strings.HasPrefix(e.Error.Message, tc.message) {
				t.Errorf("message %q, want it to start with %q", e.Error.Message, tc.message)
			}
		})
	}
}

// TestDemoFactorRoutesNeedFactors leaves the routes out of a demo without
// authenticator apps, where the page says they are not enabled.
func TestDemoFactorRoutesNeedFactors(t *testing.T) {
	f := newDemoFixture(t)
	for _, path := range []string{"/factors", "/factors/fac_00000000000000000000000000000000/verify", "/challenges"} {
		wantError(t, f.do("POST", "/demo/api/identities/"+demoIdentity+path, `{"code":"123456"}`, noAuth...), http.StatusNotFound, "not_found")
	}
}
