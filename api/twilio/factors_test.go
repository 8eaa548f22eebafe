package twilio_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	twverify "github.com/twilio/twilio-go/rest/verify/v2"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/factor"
)

const (
	identity = "user-0001"
	entities = "/v2/Services/" + service + "/Entities"
)

var (
	factorSIDPattern    = regexp.MustCompile(`^YF[0-9a-f]{32}$`)
	challengeSIDPattern = regexp.MustCompile(`^YC[0-9a-f]{32}$`)
)

// entity is the path of an identity's entity, and of what is under it.
func entity(id string, rest ...string) string {
	return strings.Join(append([]string{entities, id}, rest...), "/")
}

// standInFixture is the API with the dialect's factors on a stand-in.
func standInFixture(t *testing.T, o options) (*fixture, *standIn) {
	t.Helper()
	s := newStandIn(nil)
	o.factors = s
	f := mini(t, o)
	s.now = f.clock.Now
	return f, s
}

// strict decodes rec's body into T, one of the SDK's models, refusing any
// field the SDK does not know: each name otpgate writes must be Twilio's.
func strict[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(rec.Body.String()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body %s into %T: %v", rec.Body, v, err)
	}
	return v
}

func wantStatus(t *testing.T, what string, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("%s: %d %s, want %d", what, rec.Code, rec.Body, status)
	}
}

// createFactor enrols a default TOTP factor of id and returns its sid.
func (f *fixture) createFactor(id string, kv ...string) string {
	f.t.Helper()
	rec := f.do("POST", entity(id, "Factors"), form(append([]string{"FactorType", "totp", "FriendlyName", "phone"}, kv...)...))
	wantStatus(f.t, "create factor", rec, http.StatusCreated)
	return deref(strict[twverify.VerifyV2NewFactor](f.t, rec).Sid)
}

func deref[T any](p *T) (v T) {
	if p != nil {
		v = *p
	}
	return v
}

func TestFactorLifecycle(t *testing.T) {
	f, s := standInFixture(t, options{skew: 1})
	created := f.clock.Now()

	rec := f.do("POST", entities, form("Identity", identity))
	wantStatus(t, "create entity", rec, http.StatusCreated)
	e := strict[twverify.VerifyV2Entity](t, rec)
	sum := sha256.Sum256([]byte(identity))
	if deref(e.Sid) != "YE"+hex.EncodeToString(sum[:16]) || deref(e.Identity) != identity || deref(e.AccountSid) != keyName || deref(e.ServiceSid) != service {
		t.Errorf("entity: sid %q identity %q account %q service %q", deref(e.Sid), deref(e.Identity), deref(e.AccountSid), deref(e.ServiceSid))
	}
	if !deref(e.DateCreated).Equal(created) || !strings.HasSuffix(deref(e.Url), entity(identity)) || deref(e.Links)["factors"] != deref(e.Url)+"/Factors" {
		t.Errorf("entity: date_created %v url %q links %v", e.DateCreated, deref(e.Url), deref(e.Links))
	}

	f.clock.Advance(time.Minute)
	rec = f.do("POST", entity(identity, "Factors"), form("FactorType", "totp", "FriendlyName", "Alice's phone", "Metadata", `{"os":"Android"}`))
	wantStatus(t, "create factor", rec, http.StatusCreated)
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("create factor: Cache-Control %q, want no-store (the secret is in it)", cc)
	}
	nf := strict[twverify.VerifyV2NewFactor](t, rec)
	sid := deref(nf.Sid)
	binding, _ := deref(nf.Binding).(map[string]any)
	if !factorSIDPattern.MatchString(sid) || deref(nf.Status) != "unverified" || deref(nf.FactorType) != "totp" || deref(nf.FriendlyName) != "Alice's phone" ||
		deref(nf.EntitySid) != deref(e.Sid) || deref(nf.Identity) != identity || binding["secret"] == "" || !strings.HasPrefix(binding["uri"].(string), "otpauth://totp/Acme Shop:") {
		t.Errorf("new factor = %s", rec.Body)
	}
	wantConfig(t, "new factor", nf.Config, "sha1", 1, 6, 30)
	if got := s.enrolled[0]; got.Issuer != "Acme Shop" || got.Label != "Alice's phone" || got.Digits != 0 || got.Period != 0 || got.Algorithm != "" || got.Skew != nil {
		t.Errorf("enrolled %+v, want the service's name as issuer and defaults elsewhere", got)
	}
	wantNulls(t, "new factor", rec, "metadata", "options")

	f.clock.Advance(time.Minute)
	rec = f.do("POST", entity(identity, "Factors", sid), form("AuthPayload", "000000"))
	wantStatus(t, "verify with a wrong code", rec, http.StatusOK)
	if got := strict[twverify.VerifyV2Factor](t, rec); deref(got.Status) != "unverified" || deref(got.Sid) != sid {
		t.Errorf("wrong code: %s, want the factor still unverified", rec.Body)
	}
	rec = f.do("POST", entity(identity, "Factors", sid), form("AuthPayload", "123456"))
	wantStatus(t, "verify", rec, http.StatusOK)
	verified := strict[twverify.VerifyV2Factor](t, rec)
	if deref(verified.Status) != "verified" || !deref(verified.DateUpdated).Equal(f.clock.Now()) || !deref(verified.DateCreated).Equal(created.Add(time.Minute)) {
		t.Errorf("verified factor: %s", rec.Body)
	}

	var approvedAt time.Time
	for _, tc := range []struct {
		code, status string
	}{
		{"123456", "pending"}, // spent by the verification
		{"234567", "approved"},
		{"234567", "pending"},
	} {
		f.clock.Advance(time.Second)
		rec = f.do("POST", entity(identity, "Challenges"), form("FactorSid", sid, "AuthPayload", tc.code))
		wantStatus(t, "challenge "+tc.code, rec, http.StatusCreated)
		ch := strict[twverify.VerifyV2Challenge](t, rec)
		if !challengeSIDPattern.MatchString(deref(ch.Sid)) || deref(ch.Status) != tc.status || deref(ch.FactorSid) != sid || deref(ch.EntitySid) != deref(e.Sid) ||
			deref(ch.FactorType) != "totp" || !deref(ch.DateCreated).Equal(f.clock.Now()) || (ch.DateResponded != nil) != (tc.status == "approved") {
			t.Errorf("challenge %s: %s, want %s", tc.code, rec.Body, tc.status)
		}
		if tc.status == "approved" {
			approvedAt = f.clock.Now()
		}
	}

	rec = f.do("GET", entity(identity, "Factors", sid), nil)
	wantStatus(t, "fetch factor", rec, http.StatusOK)
	if got := strict[twverify.VerifyV2Factor](t, rec); deref(got.Status) != "verified" || !deref(got.DateUpdated).Equal(approvedAt) {
		t.Errorf("fetch: %s, want verified and updated by the last approval", rec.Body)
	}
	if strings.Contains(rec.Body.String(), "binding") || strings.Contains(rec.Body.String(), "JBSWY3DP") {
		t.Errorf("fetch shows the secret: %s", rec.Body)
	}
	rec = f.do("GET", entity(identity, "Factors"), nil)
	wantStatus(t, "list", rec, http.StatusOK)
	if l := strict[twverify.ListFactorResponse](t, rec); len(l.Factors) != 1 || deref(l.Factors[0].Sid) != sid || l.Meta.Key != "factors" || l.Meta.NextPageUrl != nil {
		t.Errorf("list: %s", rec.Body)
	}
	rec = f.do("GET", entity(identity), nil)
	wantStatus(t, "fetch entity", rec, http.StatusOK)
	if got := strict[twverify.VerifyV2Entity](t, rec); !deref(got.DateCreated).Equal(created.Add(time.Minute)) || !deref(got.DateUpdated).Equal(approvedAt) {
		t.Errorf("entity dates %v %v, want its factor's creation and last use", got.DateCreated, got.DateUpdated)
	}

	wantStatus(t, "delete factor", f.do("DELETE", entity(identity, "Factors", sid), nil), http.StatusNoContent)
	wantError(t, f.do("GET", entity(identity, "Factors", sid), nil), 404, 20404)
	wantStatus(t, "delete entity", f.do("DELETE", entity(identity), nil), http.StatusNoContent)
	if n := len(s.factors[identity]); n != 0 {
		t.Errorf("%d factors left", n)
	}
}

// wantConfig checks a factor's config, decoded by the SDK as any.
func wantConfig(t *testing.T, what string, config *any, alg string, skew, codeLength, timeStep int) {
	t.Helper()
	got, _ := deref(config).(map[string]any)
	want := map[string]any{"alg": alg, "skew": float64(skew), "code_length": float64(codeLength), "time_step": float64(timeStep)}
	if !equalJSON(got, want) {
		t.Errorf("%s: config %v, want %v", what, got, want)
	}
}

// wantNulls wants each key present in rec's object, and null.
func wantNulls(t *testing.T, what string, rec *httptest.ResponseRecorder, keys ...string) {
	t.Helper()
	m := decode(t, rec)
	for _, k := range keys {
		if v, ok := m[k]; !ok || v != nil {
			t.Errorf("%s: %s = %v (present %v), want null", what, k, v, ok)
		}
	}
}

func TestFactorConfig(t *testing.T) {
	f, s := standInFixture(t, options{skew: 2})
	rec := f.do("POST", entity(identity, "Factors"), form("FactorType", "totp", "FriendlyName", "phone",
		"Config.CodeLength", "8", "Config.TimeStep", "60", "Config.Skew", "0", "Config.Alg", "sha256"))
	wantStatus(t, "create", rec, http.StatusCreated)
	wantConfig(t, "own config", strict[twverify.VerifyV2NewFactor](t, rec).Config, "sha256", 0, 8, 60)
	got := s.enrolled[0]
	if got.Digits != 8 || got.Period != 60 || got.Algorithm != factor.SHA256 || got.Skew == nil || *got.Skew != 0 {
		t.Errorf("enrolled %+v", got)
	}
	sid := f.createFactor(identity, "Config.Alg", "SHA512")
	rec = f.do("GET", entity(identity, "Factors", sid), nil)
	wantConfig(t, "TOTP_SKEW's", strict[twverify.VerifyV2Factor](t, rec).Config, "sha512", 2, 6, 30)
}

func TestFactorRefusals(t *testing.T) {
	f, _ := standInFixture(t, options{})
	unverified := f.createFactor(identity)
	verified := f.createFactor(identity)
	wantStatus(t, "verify", f.do("POST", entity(identity, "Factors", verified), form("AuthPayload", "123456")), http.StatusOK)
	for range factor.MaxFactors - 2 {
		f.createFactor(identity)
	}
	const unknown = "YF00000000000000000000000000000000"
	newFactor := func(kv ...string) []string {
		return append([]string{"FactorType", "totp", "FriendlyName", "phone"}, kv...)
	}
	cases := []struct {
		name, method, path string
		form               []string
		status, code       int
		mentions           string
	}{
		{"entity without Identity", "POST", entities, []string{}, 400, 60200, "Identity"},
		{"entity with a short Identity", "POST", entities, []string{"Identity", "short"}, 400, 60200, "Identity"},
		{"fetch of a short identity", "GET", entity("short"), nil, 400, 60200, "Identity"},
		{"list of entities", "GET", entities, nil, 405, 20004, ""},
		{"no FactorType", "POST", entity("user-0002", "Factors"), []string{"FriendlyName", "phone"}, 400, 60200, "FactorType"},
		{"push", "POST", entity("user-0002", "Factors"), []string{"FactorType", "push", "FriendlyName", "phone"}, 400, 60200, "FactorType"},
		{"no FriendlyName", "POST", entity("user-0002", "Factors"), []string{"FactorType", "totp"}, 400, 60200, "FriendlyName"},
		{"CodeLength not a number", "POST", entity("user-0002", "Factors"), newFactor("Config.CodeLength", "six"), 400, 60200, "Config.CodeLength"},
		{"CodeLength 0", "POST", entity("user-0002", "Factors"), newFactor("Config.CodeLength", "0"), 400, 60200, "Config.CodeLength"},
		{"CodeLength 4", "POST", entity("user-0002", "Factors"), newFactor("Config.CodeLength", "4"), 400, 60200, "Config.CodeLength"},
		{"TimeStep 0", "POST", entity("user-0002", "Factors"), newFactor("Config.TimeStep", "0"), 400, 60200, "Config.TimeStep"},
		{"TimeStep 45", "POST", entity("user-0002", "Factors"), newFactor("Config.TimeStep", "45"), 400, 60200, "Config.TimeStep"},
		{"Skew 3", "POST", entity("user-0002", "Factors"), newFactor("Config.Skew", "3"), 400, 60200, "Config.Skew"},
		{"Skew not a number", "POST", entity("user-0002", "Factors"), newFactor("Config.Skew", "one"), 400, 60200, "Config.Skew"},
		{"Alg md5", "POST", entity("user-0002", "Factors"), newFactor("Config.Alg", "md5"), 400, 60200, "Config.Alg"},
		{"a secret of the app's", "POST", entity("user-0002", "Factors"), newFactor("Binding.Secret", "JBSWY3DPEHPK3PXP"), 400, 60200, "Binding.Secret"},
		{"a 6th factor", "POST", entity(identity, "Factors"), newFactor(), 400, 60315, "5"},
		{"unknown factor", "GET", entity(identity, "Factors", unknown), nil, 404, 20404, ""},
		{"malformed factor sid", "GET", entity(identity, "Factors", "fac_00000000000000000000000000000000"), nil, 404, 20404, ""},
		{"another identity's factor", "GET", entity("user-0002", "Factors", verified), nil, 404, 20404, ""},
		{"delete of an unknown factor", "DELETE", entity(identity, "Factors", unknown), nil, 404, 20404, ""},
		{"verify without AuthPayload", "POST", entity(identity, "Factors", unverified), []string{}, 400, 60200, "AuthPayload"},
		{"verify with letters", "POST", entity(identity, "Factors", unverified), []string{"AuthPayload", "12ab56"}, 400, 60200, "AuthPayload"},
		{"rename", "POST", entity(identity, "Factors", unverified), []string{"AuthPayload", "123456", "FriendlyName", "x"}, 400, 60200, "FriendlyName"},
		{"reconfigure", "POST", entity(identity, "Factors", unverified), []string{"AuthPayload", "123456", "Config.Skew", "2"}, 400, 60200, "Config.Skew"},
		{"verify an unknown factor", "POST", entity(identity, "Factors", unknown), []string{"AuthPayload", "123456"}, 404, 20404, ""},
		{"verify a verified factor", "POST", entity(identity, "Factors", verified), []string{"AuthPayload", "234567"}, 403, 60311, "verified"},
		{"challenge without FactorSid", "POST", entity(identity, "Challenges"), []string{"AuthPayload", "123456"}, 400, 60200, "FactorSid"},
		{"challenge with a malformed FactorSid", "POST", entity(identity, "Challenges"), []string{"FactorSid", "fac_1", "AuthPayload", "123456"}, 400, 60200, "FactorSid"},
		{"challenge without AuthPayload", "POST", entity(identity, "Challenges"), []string{"FactorSid", verified}, 400, 60200, "AuthPayload"},
		{"challenge of an unknown factor", "POST", entity(identity, "Challenges"), []string{"FactorSid", unknown, "AuthPayload", "123456"}, 404, 20404, ""},
		{"challenge of an unverified factor", "POST", entity(identity, "Challenges"), []string{"FactorSid", unverified, "AuthPayload", "123456"}, 403, 60318, "unverified"},
		{"fetch of a challenge", "GET", entity(identity, "Challenges", "YC00000000000000000000000000000000"), nil, 404, 20404, ""},
		{"list of challenges", "GET", entity(identity, "Challenges"), nil, 405, 20004, ""},
		{"PageSize 0", "GET", entity(identity, "Factors") + "?PageSize=0", nil, 400, 60200, "PageSize"},
		{"Page -1", "GET", entity(identity, "Factors") + "?Page=-1", nil, 400, 60200, "Page"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body = form(tc.form...)
			if tc.form == nil {
				body = nil
			}
			msg := wantError(t, f.do(tc.method, tc.path, body), tc.status, tc.code)
			if !strings.Contains(msg, tc.mentions) {
				t.Errorf("message %q does not name %s", msg, tc.mentions)
			}
		})
	}
}

func TestFactorLocks(t *testing.T) {
	f, _ := standInFixture(t, options{})
	unverified := f.createFactor(identity)
	verified := f.createFactor(identity)
	wantStatus(t, "verify", f.do("POST", entity(identity, "Factors", verified), form("AuthPayload", "123456")), http.StatusOK)
	for range standInAttempts {
		wantStatus(t, "wrong code", f.do("POST", entity(identity, "Challenges"), form("FactorSid", verified, "AuthPayload", "000000")), http.StatusCreated)
	}
	for _, tc := range []struct {
		what string
		rec  *httptest.ResponseRecorder
		code int
	}{
		{"a factor verification", f.do("POST", entity(identity, "Factors", unverified), form("AuthPayload", "234567")), 60310},
		{"a challenge", f.do("POST", entity(identity, "Challenges"), form("FactorSid", verified, "AuthPayload", "234567")), 60308},
	} {
		wantError(t, tc.rec, http.StatusTooManyRequests, tc.code)
		h := tc.rec.Header()
		reset := strconv.FormatInt(f.clock.Now().Add(factor.AttemptWindow).Unix(), 10)
		if h.Get("Retry-After") != "900" || h.Get("X-RateLimit-Limit") != "3" || h.Get("X-RateLimit-Remaining") != "0" || h.Get("X-RateLimit-Reset") != reset {
			t.Errorf("%s locked: headers %v, want Retry-After 900 and the lock's X-RateLimit-*", tc.what, h)
		}
	}
}

func TestFactorsUnavailable(t *testing.T) {
	f, s := standInFixture(t, options{})
	sid := f.createFactor(identity)
	s.fail = otp.ErrUnavailable
	for _, r := range []struct {
		method, path string
		form         []string
	}{
		{"POST", entities, []string{"Identity", identity}},
		{"GET", entity(identity), nil},
		{"DELETE", entity(identity), nil},
		{"POST", entity(identity, "Factors"), []string{"FactorType", "totp", "FriendlyName", "phone"}},
		{"GET", entity(identity, "Factors"), nil},
		{"GET", entity(identity, "Factors", sid), nil},
		{"POST", entity(identity, "Factors", sid), []string{"AuthPayload", "123456"}},
		{"DELETE", entity(identity, "Factors", sid), nil},
		{"POST", entity(identity, "Challenges"), []string{"FactorSid", sid, "AuthPayload", "123456"}},
	} {
		var body = form(r.form...)
		if r.form == nil {
			body = nil
		}
		t.Run(r.method+" "+r.path, func(t *testing.T) { wantError(t, f.do(r.method, r.path, body), 503, 20500) })
	}
}

func TestFactorPages(t *testing.T) {
	f, _ := standInFixture(t, options{})
	var sids []string
	for range 3 {
		sids = append(sids, f.createFactor(identity))
		f.clock.Advance(time.Second)
	}
	page := func(query string) twverify.ListFactorResponse {
		t.Helper()
		rec := f.do("GET", entity(identity, "Factors")+query, nil)
		wantStatus(t, "list "+query, rec, http.StatusOK)
		return strict[twverify.ListFactorResponse](t, rec)
	}
	first := page("?PageSize=2")
	if len(first.Factors) != 2 || deref(first.Factors[0].Sid) != sids[0] || first.Meta.PageSize != 2 || first.Meta.PreviousPageUrl != nil ||
		!strings.HasSuffix(deref(first.Meta.NextPageUrl), entity(identity, "Factors")+"?Page=1&PageSize=2") {
		t.Errorf("first page: %+v", first)
	}
	second := page("?PageSize=2&Page=1")
	if len(second.Factors) != 1 || deref(second.Factors[0].Sid) != sids[2] || second.Meta.NextPageUrl != nil ||
		deref(second.Meta.PreviousPageUrl) != second.Meta.FirstPageUrl {
		t.Errorf("second page: %+v", second)
	}
	if past := page("?PageSize=2&Page=7"); len(past.Factors) != 0 || past.Meta.NextPageUrl != nil {
		t.Errorf("a page past the end: %+v", past)
	}
	if none := page(""); none.Meta.PageSize != 50 || len(none.Factors) != 3 {
		t.Errorf("default page: %+v", none.Meta)
	}
	rec := f.do("GET", entity("user-0002", "Factors"), nil)
	if !strings.Contains(rec.Body.String(), `"factors":[]`) {
		t.Errorf("an identity without factors: %s, want an empty array", rec.Body)
	}
}

func TestWithoutFactorsEntitiesAreNotFound(t *testing.T) {
	f := mini(t, options{})
	wantError(t, f.do("POST", entities, form("Identity", identity)), 404, 20404)
	wantError(t, f.do("GET", entity(identity, "Factors"), nil), 404, 20404)
	wantError(t, f.do("POST", entity(identity, "Challenges"), form("FactorSid", "YF00000000000000000000000000000000", "AuthPayload", "123456")), 404, 20404)
}
