package api_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/factor"
)

// factorBody is the factor object, decoded strictly: a field the contract
// does not have fails the decode.
type factorBody struct {
	ID         string `json:"id"`
	Identity   string `json:"identity"`
	Type       string `json:"type"`
	Label      string `json:"label"`
	Status     string `json:"status"`
	Digits     int    `json:"digits"`
	Period     int    `json:"period"`
	Algorithm  string `json:"algorithm"`
	CreatedAt  string `json:"created_at"`
	VerifiedAt string `json:"verified_at"`
	LastUsedAt string `json:"last_used_at"`
}

// identityRoutes are the routes of CONTRACT §11 with a body each accepts.
var identityRoutes = []struct{ method, path, body string }{
	{"POST", "/factors", `{"label":"Ann's phone"}`},
	{"GET", "/factors", ""},
	{"DELETE", "/factors/" + testFactorID, ""},
	{"POST", "/factors/" + testFactorID + "/verify", `{"code":"123456"}`},
	{"POST", "/challenges", `{"code":"123456"}`},
	{"POST", "/recovery-codes", ""},
	{"DELETE", "", ""},
}

func TestIdentityRoutesNeedFactors(t *testing.T) {
	f := newFixture(t, nil)
	for _, r := range identityRoutes {
		rec := f.do(r.method, "/v1/identities/"+testIdentity+r.path, r.body)
		wantError(t, rec, http.StatusNotFound, "not_found")
	}
}

func TestIdentityRoutesAuth(t *testing.T) {
	stub := answeringFactors()
	f := newFixture(t, nil, withFactors(stub))
	for _, r := range identityRoutes {
		path := "/v1/identities/" + testIdentity + r.path
		wantError(t, f.documented(r.method, path, r.body, "Authorization", ""), http.StatusUnauthorized, "unauthorized")
		for _, key := range []string{clientSecret, adminSecret} {
			if rec := f.documented(r.method, path, r.body, "Authorization", "Bearer "+key); rec.Code >= 300 {
				t.Errorf("%s %s: %d %s", r.method, path, rec.Code, rec.Body)
			}
		}
	}
	if got := len(stub.recorded()); got != 2*len(identityRoutes) {
		t.Errorf("the service was called %d times, want %d: %q", got, 2*len(identityRoutes), stub.recorded())
	}
}

func TestIdentityRoutesPerKeyLimit(t *testing.T) {
	reset := start.Add(42 * time.Second)
	stub := &stubFactors{}
	f := newFixture(t, nil, withFactors(stub), func(c *api.Config) {
		c.KeyLimiter = stubLimiter{q: otp.Quota{Limit: 6000, Remaining: 0, Reset: reset, Reached: true}}
	})
	for _, r := range identityRoutes {
		rec := f.documented(r.method, "/v1/identities/"+testIdentity+r.path, r.body)
		wantError(t, rec, http.StatusTooManyRequests, "rate_limited")
		if got := rec.Header().Get("Retry-After"); got != "42" {
			t.Errorf("%s %s: Retry-After = %q, want 42", r.method, r.path, got)
		}
	}
	if calls := stub.recorded(); len(calls) != 0 {
		t.Errorf("the service was called past the per-key limit: %q", calls)
	}
}

func TestIdentityMalformed(t *testing.T) {
	stub := &stubFactors{}
	f := newFixture(t, nil, withFactors(stub))
	for _, identity := range []string{"short", strings.Repeat("a", 65), "user%200001", "user+0001", "us%C3%A9r-0001", "user:0001"} {
		for _, r := range identityRoutes {
			rec := f.documented(r.method, "/v1/identities/"+identity+r.path, r.body)
			e := wantError(t, rec, http.StatusBadRequest, "invalid_request")
			if !strings.HasPrefix(e.Error.Message, "identity: ") {
				t.Errorf("%s %s: message %q does not name identity", r.method, identity+r.path, e.Error.Message)
			}
		}
	}
	if calls := stub.recorded(); len(calls) != 0 {
		t.Errorf("a malformed identity reached the service: %q", calls)
	}
	// The longest and shortest identities and every allowed character pass.
	for _, identity := range []string{strings.Repeat("Z", 64), "a.b_c-9Z", testIdentity} {
		if rec := f.documented("GET", "/v1/identities/"+identity+"/factors", ""); rec.Code != http.StatusOK {
			t.Errorf("identity %q: %d %s", identity, rec.Code, rec.Body)
		}
	}
}

func TestIdentityBodies(t *testing.T) {
	stub := &stubFactors{}
	f := newFixture(t, nil, withFactors(stub))
	base := "/v1/identities/" + testIdentity
	for _, tt := range []struct {
		name, path, body, contentType, want string
	}{
		{"unknown field", "/factors", `{"label":"x","skew":1}`, "", `unknown field "skew"`},
		{"digits as a string", "/factors", `{"label":"x","digits":"8"}`, "", `"digits"`},
		{"label as a number", "/factors", `{"label":7}`, "", `"label"`},
		{"algorithm as a number", "/factors", `{"label":"x","algorithm":256}`, "", `"algorithm"`},
		{"an array", "/factors", `[{"label":"x"}]`, "", "JSON object"},
		{"null", "/factors", `null`, "", "JSON object"},
		{"two objects", "/factors", `{"label":"x"}{}`, "", "exactly one"},
		{"a form", "/factors", `label=x`, "application/x-www-form-urlencoded", "Content-Type"},
		{"code as a number", "/factors/" + testFactorID + "/verify", `{"code":123456}`, "", `"code"`},
		{"verify with a recovery code", "/factors/" + testFactorID + "/verify", `{"recovery_code":"abcde-12345"}`, "", `unknown field "recovery_code"`},
		{"challenge code as a number", "/challenges", `{"code":123456}`, "", `"code"`},
		{"recovery code as a number", "/challenges", `{"recovery_code":1}`, "", `"recovery_code"`},
		{"challenge unknown field", "/challenges", `{"code":"123456","factor_id":"` + testFactorID + `"}`, "", `unknown field "factor_id"`},
		{"recovery codes with a field", "/recovery-codes", `{"count":10}`, "", `unknown field "count"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.contentType != "" {
				headers = []string{"Content-Type", tt.contentType}
			}
			e := wantError(t, f.documented("POST", base+tt.path, tt.body, headers...), http.StatusBadRequest, "invalid_request")
			if !strings.Contains(e.Error.Message, tt.want) {
				t.Errorf("message %q does not say %q", e.Error.Message, tt.want)
			}
		})
	}
	if calls := stub.recorded(); len(calls) != 0 {
		t.Errorf("a refused body reached the service: %q", calls)
	}

	t.Run("too large", func(t *testing.T) {
		big := `{"label":"` + strings.Repeat("x", 64<<10) + `"}`
		wantError(t, f.documented("POST", base+"/factors", big), http.StatusRequestEntityTooLarge, "request_too_large")
		// Without a Content-Length the limit still holds while reading.
		rec := f.documented("POST", base+"/factors", big, "Content-Length", "")
		wantError(t, rec, http.StatusRequestEntityTooLarge, "request_too_large")
	})
}

func TestEnrollFactor(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n not really a PNG")
	stub := &stubFactors{enrollment: &factor.Enrollment{
		Factor: unverifiedFactor(),
		Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
		URI:    "otpauth://totp/Shop:Ann%27s%20phone?algorithm=SHA256&digits=8&issuer=Shop&period=60&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
		QRPNG:  png,
	}}
	f := newFixture(t, nil, withFactors(stub))
	rec := f.documented("POST", "/v1/identities/"+testIdentity+"/factors",
		`{"label":"Ann's phone","digits":8,"period":60,"algorithm":"SHA256"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d %s, want 201", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store: the answer holds the secret", got)
	}
	if got := stub.enrollReq; got.Label != "Ann's phone" || got.Digits == nil || *got.Digits != 8 || got.Period == nil || *got.Period != 60 ||
		got.Algorithm == nil || *got.Algorithm != factor.SHA256 || got.Skew != nil {
		t.Errorf("the service was asked %+v, want Ann's phone, 8 digits, 60 s, SHA256", got)
	}
	if got := stub.recorded(); !slices.Equal(got, []string{"Enroll " + testIdentity}) {
		t.Errorf("calls = %q", got)
	}
	var body struct {
		factorBody
		Secret string `json:"secret"`
		URI    string `json:"uri"`
		QRPNG  string `json:"qr_png"`
	}
	mustDecode(t, rec, &body)
	wantFactor := factorBody{
		ID: testFactorID, Identity: testIdentity, Type: "totp", Label: "Ann's phone", Status: "unverified",
		Digits: 6, Period: 30, Algorithm: "SHA1", CreatedAt: "2030-01-02T02:04:05Z",
	}
	if body.factorBody != wantFactor {
		t.Errorf("factor = %+v, want %+v", body.factorBody, wantFactor)
	}
	if body.Secret != stub.enrollment.Secret || body.URI != stub.enrollment.URI {
		t.Errorf("secret %q, uri %q; want the service's", body.Secret, body.URI)
	}
	b64, ok := strings.CutPrefix(body.QRPNG, "data:image/png;base64,")
	if !ok {
		t.Fatalf("qr_png = %.40q, want a data URL of a PNG", body.QRPNG)
	}
	if got, err := base64.StdEncoding.DecodeString(b64); err != nil || !bytes.Equal(got, png) {
		t.Errorf("qr_png holds %q (%v), want the service's PNG", got, err)
	}
}

func TestListFactors(t *testing.T) {
	t.Run("unknown identity", func(t *testing.T) {
		f := newFixture(t, nil, withFactors(&stubFactors{}))
		rec := f.documented("GET", "/v1/identities/"+testIdentity+"/factors", "")
		if rec.Code != http.StatusOK || rec.Body.String() != `{"factors":[]}` {
			t.Errorf("%d %s, want 200 {\"factors\":[]}", rec.Code, rec.Body)
		}
	})
	t.Run("factors", func(t *testing.T) {
		stub := &stubFactors{list: []factor.Factor{verifiedFactor(), unverifiedFactor()}}
		f := newFixture(t, nil, withFactors(stub))
		rec := f.documented("GET", "/v1/identities/"+testIdentity+"/factors", "")
		if rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "" {
			t.Errorf("Cache-Control = %q on an answer without a secret", cc)
		}
		var body struct{ Factors []factorBody }
		mustDecode(t, rec, &body)
		if len(body.Factors) != 2 {
			t.Fatalf("factors = %+v, want 2", body.Factors)
		}
		v, u := body.Factors[0], body.Factors[1]
		if v.Status != "verified" || v.VerifiedAt != "2030-01-02T02:05:35Z" || v.LastUsedAt != "2030-01-02T02:05:35Z" {
			t.Errorf("verified factor = %+v", v)
		}
		if u.Status != "unverified" || u.VerifiedAt != "" || u.LastUsedAt != "" {
			t.Errorf("unverified factor = %+v", u)
		}
	})
}

func TestVerifyFactor(t *testing.T) {
	codes := testRecoveryCodes
	path := "/v1/identities/" + testIdentity + "/factors/" + testFactorID + "/verify"
	for _, tt := range []struct {
		name string
		res  factor.VerifyResult
		want string
	}{
		{"right, first factor", factor.VerifyResult{Valid: true, Factor: verifiedFactor(), RecoveryCodes: codes, AttemptsLeft: 5},
			`{"id":"` + testFactorID + `","identity":"` + testIdentity + `","type":"totp","label":"Ann's phone","status":"verified","digits":6,"period":30,"algorithm":"SHA1","created_at":"2030-01-02T02:04:05Z","verified_at":"2030-01-02T02:05:35Z","last_used_at":"2030-01-02T02:05:35Z","valid":true,"recovery_codes":["` + strings.Join(codes, `","`) + `"]}`},
		{"right, codes held already", factor.VerifyResult{Valid: true, Factor: verifiedFactor(), AttemptsLeft: 5},
			`{"id":"` + testFactorID + `","identity":"` + testIdentity + `","type":"totp","label":"Ann's phone","status":"verified","digits":6,"period":30,"algorithm":"SHA1","created_at":"2030-01-02T02:04:05Z","verified_at":"2030-01-02T02:05:35Z","last_used_at":"2030-01-02T02:05:35Z","valid":true}`},
		{"wrong", factor.VerifyResult{AttemptsLeft: 3}, `{"valid":false,"attempts_left":3}`},
		{"wrong, the last attempt", factor.VerifyResult{AttemptsLeft: 0}, `{"valid":false,"attempts_left":0}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stub := &stubFactors{verify: &tt.res}
			f := newFixture(t, nil, withFactors(stub))
			rec := f.documented("POST", path, `{"code":"123456"}`)
			if rec.Code != http.StatusOK || rec.Body.String() != tt.want {
				t.Errorf("%d %s\nwant 200 %s", rec.Code, rec.Body, tt.want)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if stub.code != "123456" || !slices.Equal(stub.recorded(), []string{"Verify " + testIdentity + " " + testFactorID}) {
				t.Errorf("the service was asked %q with code %q", stub.recorded(), stub.code)
			}
		})
	}
}

func TestChallenge(t *testing.T) {
	path := "/v1/identities/" + testIdentity + "/challenges"
	for _, tt := range []struct {
		name, body string
		res        factor.ChallengeResult
		req        factor.ChallengeRequest
		want       string
	}{
		{"a code", `{"code":"123456"}`, factor.ChallengeResult{Valid: true, FactorID: testFactorID, AttemptsLeft: 5},
			factor.ChallengeRequest{Code: "123456"}, `{"valid":true,"factor_id":"` + testFactorID + `"}`},
		{"a recovery code", `{"recovery_code":"ABCDE-12345"}`, factor.ChallengeResult{Valid: true, Recovery: true, RecoveryCodesLeft: 9, AttemptsLeft: 5},
			factor.ChallengeRequest{RecoveryCode: "ABCDE-12345"}, `{"valid":true,"recovery_codes_left":9}`},
		{"the last recovery code", `{"recovery_code":"abcde12345"}`, factor.ChallengeResult{Valid: true, Recovery: true},
			factor.ChallengeRequest{RecoveryCode: "abcde12345"}, `{"valid":true,"recovery_codes_left":0}`},
		{"a wrong code", `{"code":"123456"}`, factor.ChallengeResult{AttemptsLeft: 4},
			factor.ChallengeRequest{Code: "123456"}, `{"valid":false,"attempts_left":4}`},
		{"a wrong recovery code", `{"recovery_code":"abcde-12345"}`, factor.ChallengeResult{Recovery: true, AttemptsLeft: 2},
			factor.ChallengeRequest{RecoveryCode: "abcde-12345"}, `{"valid":false,"attempts_left":2}`},
		// The domain decides on neither or both; the handler passes them on.
		{"both", `{"code":"123456","recovery_code":"abcde-12345"}`, factor.ChallengeResult{AttemptsLeft: 4},
			factor.ChallengeRequest{Code: "123456", RecoveryCode: "abcde-12345"}, `{"valid":false,"attempts_left":4}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stub := &stubFactors{challenge: &tt.res}
			f := newFixture(t, nil, withFactors(stub))
			rec := f.documented("POST", path, tt.body)
			if rec.Code != http.StatusOK || rec.Body.String() != tt.want {
				t.Errorf("%d %s\nwant 200 %s", rec.Code, rec.Body, tt.want)
			}
			if stub.chalReq != tt.req {
				t.Errorf("the service was asked %+v, want %+v", stub.chalReq, tt.req)
			}
		})
	}
}

func TestDeletes(t *testing.T) {
	stub := &stubFactors{}
	f := newFixture(t, nil, withFactors(stub))
	for _, path := range []string{"/factors/" + testFactorID, ""} {
		rec := f.documented("DELETE", "/v1/identities/"+testIdentity+path, "")
		if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
			t.Errorf("DELETE %s: %d %q, want 204 and no body", path, rec.Code, rec.Body)
		}
	}
	want := []string{"DeleteFactor " + testIdentity + " " + testFactorID, "DeleteIdentity " + testIdentity}
	if got := stub.recorded(); !slices.Equal(got, want) {
		t.Errorf("calls = %q, want %q", got, want)
	}
}

func TestRegenerateRecoveryCodes(t *testing.T) {
	codes := testRecoveryCodes
	stub := &stubFactors{codes: codes}
	f := newFixture(t, nil, withFactors(stub))
	for _, body := range []string{"", "{}"} {
		rec := f.documented("POST", "/v1/identities/"+testIdentity+"/recovery-codes", body)
		want := `{"recovery_codes":["` + strings.Join(codes, `","`) + `"]}`
		if rec.Code != http.StatusOK || rec.Body.String() != want {
			t.Errorf("body %q: %d %s, want 200 %s", body, rec.Code, rec.Body, want)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", got)
		}
	}
}

// TestFactorErrors checks each error of the factor domain against its
// row of the error table, on every route that can meet it.
func TestFactorErrors(t *testing.T) {
	reset := start.Add(10 * time.Minute)
	locked := &otp.LimitError{Kind: factor.ErrLocked, Limit: 5, Remaining: 0, Reset: reset}
	verify := "/factors/" + testFactorID + "/verify"
	for _, tt := range []struct {
		name   string
		err    error
		routes []string
		status int
		code   string
	}{
		{"unknown factor", fmt.Errorf("verify: %w", factor.ErrNotFound), []string{verify, "/factors/" + testFactorID, "/challenges", "/recovery-codes", ""}, 404, "not_found"},
		// A factor error that also wraps the verification sentinel is
		// still the factor's.
		{"unknown factor wrapping otp.ErrNotFound", fmt.Errorf("%w: %w", factor.ErrNotFound, otp.ErrNotFound), []string{verify}, 404, "not_found"},
		{"unverified factor", factor.ErrUnverified, []string{"/challenges"}, 404, "not_found"},
		{"too many factors", factor.ErrLimit, []string{"/factors"}, 409, "factor_limit"},
		{"verified already", factor.ErrAlreadyVerified, []string{verify}, 409, "factor_already_verified"},
		{"locked", fmt.Errorf("check: %w", locked), []string{verify, "/challenges"}, 429, "max_attempts_reached"},
		{"a field", &otp.FieldError{Field: "label", Reason: "must be 1 to 64 bytes"}, []string{"/factors"}, 400, "invalid_request"},
		{"redis down", fmt.Errorf("load: %w: dial tcp 10.0.0.1:6379", otp.ErrUnavailable), []string{"/factors", verify, "/challenges"}, 503, "unavailable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stub := &stubFactors{err: tt.err}
			f := newFixture(t, nil, withFactors(stub))
			for _, route := range tt.routes {
				r := routeOf(t, route)
				rec := f.documented(r.method, "/v1/identities/"+testIdentity+r.path, r.body)
				e := wantError(t, rec, tt.status, tt.code)
				switch tt.status {
				case 400:
					if e.Error.Message != "label: must be 1 to 64 bytes" {
						t.Errorf("message %q does not name the field", e.Error.Message)
					}
				case 429:
					for h, want := range map[string]string{"Retry-After": "600", "X-RateLimit-Limit": "5",
						"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": fmt.Sprint(reset.Unix())} {
						if got := rec.Header().Get(h); got != want {
							t.Errorf("%s: %s = %q, want %q", route, h, got, want)
						}
					}
				case 503:
					if strings.Contains(e.Error.Message, "10.0.0.1") {
						t.Errorf("the 503 shows its cause: %q", e.Error.Message)
					}
				}
			}
		})
	}
}

// routeOf finds the route of identityRoutes with path.
func routeOf(t *testing.T, path string) struct{ method, path, body string } {
	t.Helper()
	for _, r := range identityRoutes {
		if r.path == path {
			return r
		}
	}
	t.Fatalf("no route %q", path)
	return identityRoutes[0]
}

// TestFactorLogs checks that the request log names the identity and the
// factor, and holds no secret, URI, code or recovery code.
func TestFactorLogs(t *testing.T) {
	codes := testRecoveryCodes
	stub := &stubFactors{
		enrollment: &factor.Enrollment{Factor: unverifiedFactor(), Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQ",
			URI: "otpauth://totp/Shop:Ann?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQ", QRPNG: []byte("png")},
		verify:    &factor.VerifyResult{Valid: true, Factor: verifiedFactor(), RecoveryCodes: codes},
		challenge: &factor.ChallengeResult{Valid: true, Recovery: true, RecoveryCodesLeft: 9},
		codes:     codes,
	}
	f := newFixture(t, nil, withFactors(stub))
	base := "/v1/identities/" + testIdentity
	f.do("POST", base+"/factors", `{"label":"Ann's phone"}`)
	f.do("POST", base+"/factors/"+testFactorID+"/verify", `{"code":"918273"}`)
	f.do("POST", base+"/challenges", `{"recovery_code":"zyxwv-98765"}`)
	f.do("POST", base+"/challenges", `{"code":"564738"}`)
	f.do("POST", base+"/recovery-codes", "")
	// A path segment that is no factor id stays out of the log.
	f.do("DELETE", base+"/factors/564738", "")

	logs := f.logs.String()
	for _, secret := range append([]string{"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQ", "otpauth", "918273", "zyxwv", "564738", "Ann"}, codes...) {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
	if n := strings.Count(logs, `"identity":"`+testIdentity+`"`); n != 6 {
		t.Errorf("%d log lines name the identity, want 6:\n%s", n, logs)
	}
	if n := strings.Count(logs, `"factor_id":"`+testFactorID+`"`); n != 2 {
		t.Errorf("%d log lines name the factor, want 2 (enrol, verify):\n%s", n, logs)
	}
	if !strings.Contains(logs, `"route":"/v1/identities/:identity/factors/:id/verify"`) {
		t.Errorf("the log does not name the route template:\n%s", logs)
	}
}
