package twilio_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	twverify "github.com/twilio/twilio-go/rest/verify/v2"

	"github.com/otpgate/otpgate/otp/factor"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

var (
	factorSIDPattern    = regexp.MustCompile(`^YF[0-9a-f]{32}$`)
	challengeSIDPattern = regexp.MustCompile(`^YC[0-9a-f]{32}$`)
)

func TestFactorLifecycle(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		f := factorFixture(t, rdb, options{})
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
		enrolledAt := f.clock.Now()
		rec = f.do("POST", entity(identity, "Factors"), form("FactorType", "totp", "FriendlyName", "Alice's phone", "Metadata", `{"os":"Android"}`))
		wantStatus(t, "create factor", rec, http.StatusCreated)
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("create factor: Cache-Control %q, want no-store (the secret is in it)", cc)
		}
		nf := strict[twverify.VerifyV2NewFactor](t, rec)
		sid := deref(nf.Sid)
		binding, _ := deref(nf.Binding).(map[string]any)
		fac := enrolled{sid: sid, alg: "sha1", digits: 6, period: 30}
		fac.secret, _ = binding["secret"].(string)
		uri, err := url.Parse(binding["uri"].(string))
		if err != nil || uri.Path != "/Acme Shop:Alice's phone" || uri.Query().Get("issuer") != "Acme Shop" || uri.Query().Get("secret") != fac.secret {
			t.Errorf("binding.uri %v: want the service's friendly name as issuer, and the secret", binding["uri"])
		}
		if !factorSIDPattern.MatchString(sid) || deref(nf.Status) != "unverified" || deref(nf.FactorType) != "totp" || deref(nf.FriendlyName) != "Alice's phone" ||
			deref(nf.EntitySid) != deref(e.Sid) || deref(nf.Identity) != identity || len(fac.secret) < 32 || !deref(nf.DateCreated).Equal(enrolledAt) {
			t.Errorf("new factor = %s", rec.Body)
		}
		wantConfig(t, "new factor", nf.Config, "sha1", 1, 6, 30)
		wantNulls(t, "new factor", rec, "metadata", "options")

		f.clock.Advance(time.Minute)
		rec = f.do("POST", entity(identity, "Factors", sid), form("AuthPayload", fac.wrong(t, f.clock.Now())))
		wantStatus(t, "verify with a wrong code", rec, http.StatusOK)
		if got := strict[twverify.VerifyV2Factor](t, rec); deref(got.Status) != "unverified" || deref(got.Sid) != sid {
			t.Errorf("wrong code: %s, want the factor still unverified", rec.Body)
		}
		first := fac.code(t, f.clock.Now())
		rec = f.do("POST", entity(identity, "Factors", sid), form("AuthPayload", first))
		wantStatus(t, "verify", rec, http.StatusOK)
		verified := strict[twverify.VerifyV2Factor](t, rec)
		if deref(verified.Status) != "verified" || !deref(verified.DateUpdated).Equal(f.clock.Now()) || !deref(verified.DateCreated).Equal(enrolledAt) {
			t.Errorf("verified factor: %s", rec.Body)
		}
		if strings.Contains(rec.Body.String(), "recovery") {
			t.Errorf("verify shows recovery codes on /v2/: %s", rec.Body)
		}

		var approvedAt time.Time
		for _, tc := range []struct {
			what   string
			next   time.Duration
			code   func() string
			status string
		}{
			{"the verification's code", 0, func() string { return first }, "pending"},
			{"the next step's code", 30 * time.Second, func() string { return fac.code(t, f.clock.Now()) }, "approved"},
			{"that code replayed", time.Second, func() string { return fac.code(t, f.clock.Now().Add(-time.Second)) }, "pending"},
		} {
			f.clock.Advance(tc.next)
			rec = f.do("POST", entity(identity, "Challenges"), form("FactorSid", sid, "AuthPayload", tc.code()))
			wantStatus(t, tc.what, rec, http.StatusCreated)
			ch := strict[twverify.VerifyV2Challenge](t, rec)
			if !challengeSIDPattern.MatchString(deref(ch.Sid)) || deref(ch.Status) != tc.status || deref(ch.FactorSid) != sid || deref(ch.EntitySid) != deref(e.Sid) ||
				deref(ch.FactorType) != "totp" || !deref(ch.DateCreated).Equal(f.clock.Now()) || (ch.DateResponded != nil) != (tc.status == "approved") {
				t.Errorf("%s: %s, want %s", tc.what, rec.Body, tc.status)
			}
			// A challenge is kept nowhere, so it has no URL to fetch it from.
			wantNulls(t, tc.what, rec, "url")
			if tc.status == "approved" {
				approvedAt = f.clock.Now()
			}
		}

		f.clock.Advance(time.Minute)
		rec = f.do("GET", entity(identity, "Factors", sid), nil)
		wantStatus(t, "fetch factor", rec, http.StatusOK)
		if got := strict[twverify.VerifyV2Factor](t, rec); deref(got.Status) != "verified" || !deref(got.DateUpdated).Equal(approvedAt) {
			t.Errorf("fetch: %s, want verified and updated by the approval at %v", rec.Body, approvedAt)
		}
		if strings.Contains(rec.Body.String(), "binding") || strings.Contains(rec.Body.String(), fac.secret) {
			t.Errorf("fetch shows the secret: %s", rec.Body)
		}
		rec = f.do("GET", entity(identity, "Factors"), nil)
		wantStatus(t, "list", rec, http.StatusOK)
		if l := strict[twverify.ListFactorResponse](t, rec); len(l.Factors) != 1 || deref(l.Factors[0].Sid) != sid || l.Meta.Key != "factors" || l.Meta.NextPageUrl != nil {
			t.Errorf("list: %s", rec.Body)
		}
		rec = f.do("GET", entity(identity), nil)
		wantStatus(t, "fetch entity", rec, http.StatusOK)
		if got := strict[twverify.VerifyV2Entity](t, rec); !deref(got.DateCreated).Equal(enrolledAt) || !deref(got.DateUpdated).Equal(approvedAt) {
			t.Errorf("entity dates %v %v, want its factor's creation and last use", got.DateCreated, got.DateUpdated)
		}

		wantStatus(t, "delete factor", f.do("DELETE", entity(identity, "Factors", sid), nil), http.StatusNoContent)
		wantError(t, f.do("GET", entity(identity, "Factors", sid), nil), 404, 20404)
		other := f.enrol(identity)
		wantStatus(t, "delete entity", f.do("DELETE", entity(identity), nil), http.StatusNoContent)
		wantError(t, f.do("GET", entity(identity, "Factors", other.sid), nil), 404, 20404)
		// An entity is implicit: one that holds nothing is deleted all the same.
		wantStatus(t, "delete an empty entity", f.do("DELETE", entity(identity), nil), http.StatusNoContent)
	})
}

func TestFactorConfig(t *testing.T) {
	f := miniFactors(t, options{skew: 2})
	rec := f.do("POST", entity(identity, "Factors"), form("FactorType", "TOTP", "FriendlyName", "phone",
		"Config.CodeLength", "8", "Config.TimeStep", "60", "Config.Skew", "0", "Config.Alg", "sha256"))
	wantStatus(t, "create", rec, http.StatusCreated)
	nf := strict[twverify.VerifyV2NewFactor](t, rec)
	wantConfig(t, "own config", nf.Config, "sha256", 0, 8, 60)
	uri := deref(nf.Binding).(map[string]any)["uri"].(string)
	for _, p := range []string{"algorithm=SHA256", "digits=8", "period=60"} {
		if !strings.Contains(uri, p) {
			t.Errorf("binding.uri %s lacks %s", uri, p)
		}
	}
	// Skew 0 is the factor's own: the previous step's code is refused.
	own := enrolled{sid: deref(nf.Sid), secret: deref(nf.Binding).(map[string]any)["secret"].(string), alg: "sha256", digits: 8, period: 60}
	rec = f.do("POST", entity(identity, "Factors", own.sid), form("AuthPayload", own.code(t, f.clock.Now().Add(-time.Minute))))
	if got := strict[twverify.VerifyV2Factor](t, rec); deref(got.Status) != "unverified" {
		t.Errorf("a code one step old with skew 0: %s, want unverified", rec.Body)
	}

	fac := f.enrol(identity, "Config.Alg", "SHA512")
	rec = f.do("GET", entity(identity, "Factors", fac.sid), nil)
	wantConfig(t, "TOTP_SKEW's", strict[twverify.VerifyV2Factor](t, rec).Config, "sha512", 2, 6, 30)
	rec = f.do("POST", entity(identity, "Factors", fac.sid), form("AuthPayload", fac.code(t, f.clock.Now().Add(-time.Minute))))
	if got := strict[twverify.VerifyV2Factor](t, rec); deref(got.Status) != "verified" {
		t.Errorf("a code two steps old with TOTP_SKEW 2: %s, want verified", rec.Body)
	}
}

func TestFactorRefusals(t *testing.T) {
	f := miniFactors(t, options{})
	unverified := f.enrol(identity)
	verified := f.enrol(identity)
	wantStatus(t, "verify", f.do("POST", entity(identity, "Factors", verified.sid), form("AuthPayload", verified.code(t, f.clock.Now()))), http.StatusOK)
	for range factor.MaxFactors - 2 {
		f.enrol(identity)
	}
	const unknown = "YF00000000000000000000000000000000"
	newFactor := func(kv ...string) []string {
		return append([]string{"FactorType", "totp", "FriendlyName", "phone"}, kv...)
	}
	next := verified.code(t, f.clock.Now().Add(30*time.Second))
	cases := []struct {
		name, method, path string
		form               []string
		status, code       int
		mentions           string
	}{
		{"entity without Identity", "POST", entities, []string{}, 400, 60200, "Identity"},
		{"entity with a short Identity", "POST", entities, []string{"Identity", "short"}, 400, 60200, "Identity"},
		{"entity with a space", "POST", entities, []string{"Identity", "user 0001"}, 400, 60200, "Identity"},
		{"fetch of a short identity", "GET", entity("short"), nil, 400, 60200, "Identity"},
		{"factors of a short identity", "GET", entity("short", "Factors"), nil, 400, 60200, "Identity"},
		{"list of entities", "GET", entities, nil, 405, 20004, ""},
		{"no FactorType", "POST", entity("user-0002", "Factors"), []string{"FriendlyName", "phone"}, 400, 60200, "FactorType"},
		{"push", "POST", entity("user-0002", "Factors"), []string{"FactorType", "push", "FriendlyName", "phone"}, 400, 60200, "FactorType"},
		{"no FriendlyName", "POST", entity("user-0002", "Factors"), []string{"FactorType", "totp"}, 400, 60200, "FriendlyName"},
		{"FriendlyName too long", "POST", entity("user-0002", "Factors"), []string{"FactorType", "totp", "FriendlyName", strings.Repeat("é", 33)}, 400, 60200, "FriendlyName"},
		{"CodeLength not a number", "POST", entity("user-0002", "Factors"), newFactor("Config.CodeLength", "six"), 400, 60200, "Config.CodeLength"},
		{"CodeLength 0", "POST", entity("user-0002", "Factors"), newFactor("Config.CodeLength", "0"), 400, 60200, "Config.CodeLength"},
		{"CodeLength 4", "POST", entity("user-0002", "Factors"), newFactor("Config.CodeLength", "4"), 400, 60200, "Config.CodeLength"},
		{"TimeStep 0", "POST", entity("user-0002", "Factors"), newFactor("Config.TimeStep", "0"), 400, 60200, "Config.TimeStep"},
		{"TimeStep 45", "POST", entity("user-0002", "Factors"), newFactor("Config.TimeStep", "45"), 400, 60200, "Config.TimeStep"},
		{"Skew 3", "POST", entity("user-0002", "Factors"), newFactor("Config.Skew", "3"), 400, 60200, "Config.Skew"},
		{"Skew not a number", "POST", entity("user-0002", "Factors"), newFactor("Config.Skew", "one"), 400, 60200, "Config.Skew"},
		{"Alg md5", "POST", entity("user-0002", "Factors"), newFactor("Config.Alg", "md5"), 400, 60200, "Config.Alg"},
		{"Alg empty", "POST", entity("user-0002", "Factors"), newFactor("Config.Alg", ""), 400, 60200, "Config.Alg"},
		{"CodeLength empty", "POST", entity("user-0002", "Factors"), newFactor("Config.CodeLength", ""), 400, 60200, "Config.CodeLength"},
		{"a secret of the app's", "POST", entity("user-0002", "Factors"), newFactor("Binding.Secret", "JBSWY3DPEHPK3PXP"), 400, 60200, "Binding.Secret"},
		{"a 6th factor", "POST", entity(identity, "Factors"), newFactor(), 400, 60315, "5"},
		{"unknown factor", "GET", entity(identity, "Factors", unknown), nil, 404, 20404, ""},
		{"malformed factor sid", "GET", entity(identity, "Factors", "fac_00000000000000000000000000000000"), nil, 404, 20404, ""},
		{"another identity's factor", "GET", entity("user-0002", "Factors", verified.sid), nil, 404, 20404, ""},
		{"delete of an unknown factor", "DELETE", entity(identity, "Factors", unknown), nil, 404, 20404, ""},
		{"verify without AuthPayload", "POST", entity(identity, "Factors", unverified.sid), []string{}, 400, 60200, "AuthPayload"},
		{"verify with letters", "POST", entity(identity, "Factors", unverified.sid), []string{"AuthPayload", "12ab56"}, 400, 60200, "AuthPayload"},
		{"verify with 5 digits", "POST", entity(identity, "Factors", unverified.sid), []string{"AuthPayload", "12345"}, 400, 60200, "AuthPayload"},
		{"rename", "POST", entity(identity, "Factors", unverified.sid), []string{"AuthPayload", "123456", "FriendlyName", "x"}, 400, 60200, "FriendlyName"},
		{"reconfigure", "POST", entity(identity, "Factors", unverified.sid), []string{"AuthPayload", "123456", "Config.Skew", "2"}, 400, 60200, "Config.Skew"},
		{"verify an unknown factor", "POST", entity(identity, "Factors", unknown), []string{"AuthPayload", "123456"}, 404, 20404, ""},
		{"verify a verified factor", "POST", entity(identity, "Factors", verified.sid), []string{"AuthPayload", next}, 403, 60311, "verified"},
		{"challenge without FactorSid", "POST", entity(identity, "Challenges"), []string{"AuthPayload", next}, 400, 60200, "FactorSid"},
		{"challenge with a malformed FactorSid", "POST", entity(identity, "Challenges"), []string{"FactorSid", "fac_1", "AuthPayload", next}, 400, 60200, "FactorSid"},
		{"challenge without AuthPayload", "POST", entity(identity, "Challenges"), []string{"FactorSid", verified.sid}, 400, 60200, "AuthPayload"},
		{"challenge of an unknown factor", "POST", entity(identity, "Challenges"), []string{"FactorSid", unknown, "AuthPayload", next}, 404, 20404, ""},
		{"challenge of an identity without factors", "POST", entity("user-0002", "Challenges"), []string{"FactorSid", verified.sid, "AuthPayload", next}, 404, 20404, ""},
		{"challenge of an unverified factor", "POST", entity(identity, "Challenges"), []string{"FactorSid", unverified.sid, "AuthPayload", next}, 403, 60318, "unverified"},
		{"fetch of a challenge", "GET", entity(identity, "Challenges", "YC00000000000000000000000000000000"), nil, 404, 20404, ""},
		{"list of challenges", "GET", entity(identity, "Challenges"), nil, 405, 20004, ""},
		{"PageSize 0", "GET", entity(identity, "Factors") + "?PageSize=0", nil, 400, 60200, "PageSize"},
		{"PageSize 1001", "GET", entity(identity, "Factors") + "?PageSize=1001", nil, 400, 60200, "PageSize"},
		{"Page -1", "GET", entity(identity, "Factors") + "?Page=-1", nil, 400, 60200, "Page"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := form(tc.form...)
			if tc.form == nil {
				body = nil
			}
			msg := wantError(t, f.do(tc.method, tc.path, body), tc.status, tc.code)
			if !strings.Contains(msg, tc.mentions) {
				t.Errorf("message %q does not name %s", msg, tc.mentions)
			}
		})
	}
	// None of the refusals above counted as a refused code: the identity
	// has all its attempts, so after one fewer wrong codes a right one passes.
	f.clock.Advance(30 * time.Second)
	for range maxAttempts - 1 {
		wantStatus(t, "a wrong code", f.do("POST", entity(identity, "Challenges"), form("FactorSid", verified.sid, "AuthPayload", verified.wrong(t, f.clock.Now()))), http.StatusCreated)
	}
	rec := f.do("POST", entity(identity, "Challenges"), form("FactorSid", verified.sid, "AuthPayload", next))
	wantStatus(t, "the right code", rec, http.StatusCreated)
	if got := strict[twverify.VerifyV2Challenge](t, rec); deref(got.Status) != "approved" {
		t.Errorf("the right code after %d wrong ones: %s, want approved", maxAttempts-1, rec.Body)
	}
}

func TestFactorLocks(t *testing.T) {
	f := miniFactors(t, options{})
	unverified := f.enrol(identity)
	verified := f.enrol(identity)
	wantStatus(t, "verify", f.do("POST", entity(identity, "Factors", verified.sid), form("AuthPayload", verified.code(t, f.clock.Now()))), http.StatusOK)
	windowEnd := f.clock.Now().Add(factor.AttemptWindow)
	for i := range maxAttempts {
		rec := f.do("POST", entity(identity, "Challenges"), form("FactorSid", verified.sid, "AuthPayload", verified.wrong(t, f.clock.Now())))
		wantStatus(t, "wrong code", rec, http.StatusCreated)
		if got := strict[twverify.VerifyV2Challenge](t, rec); deref(got.Status) != "pending" {
			t.Errorf("wrong code %d: %s, want pending", i+1, rec.Body)
		}
	}
	f.clock.Advance(5 * time.Minute)
	for _, tc := range []struct {
		what string
		path string
		code string
		want int
	}{
		{"a factor verification", entity(identity, "Factors", unverified.sid), unverified.code(t, f.clock.Now()), 60310},
		{"a challenge", entity(identity, "Challenges"), verified.code(t, f.clock.Now()), 60308},
	} {
		rec := f.do("POST", tc.path, form("FactorSid", verified.sid, "AuthPayload", tc.code))
		wantError(t, rec, http.StatusTooManyRequests, tc.want)
		h := rec.Header()
		if h.Get("Retry-After") != "600" || h.Get("X-RateLimit-Limit") != strconv.Itoa(maxAttempts) || h.Get("X-RateLimit-Remaining") != "0" ||
			h.Get("X-RateLimit-Reset") != strconv.FormatInt(windowEnd.Unix(), 10) {
			t.Errorf("%s while locked: Retry-After %q, X-RateLimit-* %q %q %q; want 600 and the lock's", tc.what,
				h.Get("Retry-After"), h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"), h.Get("X-RateLimit-Reset"))
		}
	}
	// The window over, the right code of the next step is approved.
	f.clock.Advance(10 * time.Minute)
	rec := f.do("POST", entity(identity, "Challenges"), form("FactorSid", verified.sid, "AuthPayload", verified.code(t, f.clock.Now())))
	wantStatus(t, "after the window", rec, http.StatusCreated)
	if got := strict[twverify.VerifyV2Challenge](t, rec); deref(got.Status) != "approved" {
		t.Errorf("after the window: %s, want approved", rec.Body)
	}
}

func TestFactorsUnavailable(t *testing.T) {
	rdb, mr := stoppable(t)
	f := factorFixture(t, rdb, options{})
	fac := f.enrol(identity)
	mr.Close()
	for _, r := range []struct {
		method, path string
		form         []string
	}{
		{"POST", entities, []string{"Identity", identity}},
		{"GET", entity(identity), nil},
		{"DELETE", entity(identity), nil},
		{"POST", entity(identity, "Factors"), []string{"FactorType", "totp", "FriendlyName", "phone"}},
		{"GET", entity(identity, "Factors"), nil},
		{"GET", entity(identity, "Factors", fac.sid), nil},
		{"POST", entity(identity, "Factors", fac.sid), []string{"AuthPayload", fac.code(t, f.clock.Now())}},
		{"DELETE", entity(identity, "Factors", fac.sid), nil},
		{"POST", entity(identity, "Challenges"), []string{"FactorSid", fac.sid, "AuthPayload", fac.code(t, f.clock.Now())}},
	} {
		body := form(r.form...)
		if r.form == nil {
			body = nil
		}
		t.Run(r.method+" "+r.path, func(t *testing.T) { wantError(t, f.do(r.method, r.path, body), 503, 20500) })
	}
}

func TestFactorPages(t *testing.T) {
	f := miniFactors(t, options{})
	var sids []string
	for range 3 {
		sids = append(sids, f.enrol(identity).sid)
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
	// Page*PageSize overflows int here: still a page past the end.
	f.enrol("alice-0001")
	rec := f.do("GET", entity("alice-0001", "Factors")+"?Page=4611686018427387904&PageSize=2", nil)
	wantStatus(t, "a page whose offset overflows", rec, http.StatusOK)
	if huge := strict[twverify.ListFactorResponse](t, rec); len(huge.Factors) != 0 || huge.Meta.NextPageUrl != nil || huge.Meta.Page != 4611686018427387904 {
		t.Errorf("a page whose offset overflows: %+v", huge)
	}
	if all := page(""); all.Meta.PageSize != 50 || len(all.Factors) != 3 {
		t.Errorf("default page: %+v", all.Meta)
	}
	rec = f.do("GET", entity("user-0002", "Factors"), nil)
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
