package main

// CONTRACT.md §11's /v2/ dialect driven by the unmodified twilio-go SDK:
// an app that enrols authenticator apps with Twilio Verify's TOTP
// entities, factors and challenges moves to otpgate by changing the host.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	twverify "github.com/twilio/twilio-go/rest/verify/v2"

	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

var (
	twFactorSID    = regexp.MustCompile(`^YF[0-9a-f]{32}$`)
	twChallengeSID = regexp.MustCompile(`^YC[0-9a-f]{32}$`)
	twEntitySID    = regexp.MustCompile(`^YE[0-9a-f]{32}$`)
)

// newTwilioFactorsFixture is newTwilioFixture with factors enabled: an
// encryption key, on a real Redis that persists (start-up refuses one that
// does not).
func newTwilioFactorsFixture(t *testing.T) *twFixture {
	t.Helper()
	rdb := redistest.Real(t)
	redistest.Durable(t, rdb)
	key := make([]byte, 32)
	rand.Read(key)
	return newTwilioFixture(t, twOptions{
		redis: map[string]string{"REDIS_URL": redisURL(rdb)},
		env:   map[string]string{"OTPGATE_ENCRYPTION_KEYS": "k1:" + base64.StdEncoding.EncodeToString(key)},
	})
}

// twFactorCode is the code an authenticator app shows at time at for a
// base32 secret (RFC 6238 over RFC 4226), as the app computes it.
func twFactorCode(t *testing.T, secret, alg string, digits, period int, at time.Time) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(secret))
	if err != nil {
		t.Fatalf("binding.secret %q is not base32: %v", secret, err)
	}
	newHash := map[string]func() hash.Hash{"sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New}[alg]
	m := hmac.New(newHash, key)
	binary.Write(m, binary.BigEndian, uint64(at.Unix()/int64(period)))
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	n := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, n%mod)
}

// twWrongCode is a code of the length that no step within two of at
// accepts.
func twWrongCode(t *testing.T, secret, alg string, digits, period int, at time.Time) string {
	t.Helper()
	code := strings.Repeat("0", digits)
	for i := -2; i <= 2; i++ {
		if twFactorCode(t, secret, alg, digits, period, at.Add(time.Duration(i*period)*time.Second)) == code {
			return twWrongCode(t, secret, alg, digits, period, at.Add(5*time.Duration(period)*time.Second))
		}
	}
	return code
}

func TestTwilioSDKFactors(t *testing.T) {
	t.Parallel()
	f := newTwilioFactorsFixture(t)
	const identity = "user-7f3a9c21"

	e, err := f.tw.CreateEntity(twService, (&twverify.CreateEntityParams{}).SetIdentity(identity))
	if err != nil || f.last.Load() != http.StatusCreated || !twEntitySID.MatchString(deref(e.Sid)) || deref(e.Identity) != identity ||
		deref(e.ServiceSid) != twService || deref(e.AccountSid) != twKeyName || e.DateCreated == nil {
		t.Fatalf("create entity: HTTP %d %v %+v", f.last.Load(), err, e)
	}

	nf, err := f.tw.CreateNewFactor(twService, identity, (&twverify.CreateNewFactorParams{}).
		SetFactorType("totp").SetFriendlyName("Alice's phone").SetConfigCodeLength(8).SetConfigAlg("sha256"))
	if err != nil || f.last.Load() != http.StatusCreated {
		t.Fatalf("create factor: HTTP %d %v", f.last.Load(), err)
	}
	sid := deref(nf.Sid)
	binding, _ := deref(nf.Binding).(map[string]any)
	secret, _ := binding["secret"].(string)
	if !twFactorSID.MatchString(sid) || deref(nf.Status) != "unverified" || deref(nf.FactorType) != "totp" || deref(nf.EntitySid) != deref(e.Sid) ||
		deref(nf.FriendlyName) != "Alice's phone" || len(secret) < 32 {
		t.Errorf("new factor: %+v, binding %v", nf, binding)
	}
	wantTwConfig(t, "new factor", nf.Config, "sha256", 1, 8, 30)
	uri, err := url.Parse(fmt.Sprint(binding["uri"]))
	if err != nil || uri.Scheme != "otpauth" || uri.Host != "totp" || uri.Path != "/"+twServiceName+":Alice's phone" ||
		uri.Query().Get("secret") != secret || uri.Query().Get("issuer") != twServiceName {
		t.Errorf("binding.uri %v (%v), want otpauth://totp/%s:Alice's phone with the secret and the service's name as issuer", binding["uri"], err, twServiceName)
	}
	code := func() string { return twFactorCode(t, secret, "sha256", 8, 30, f.clock.Now()) }

	verify := func(code string) *twverify.VerifyV2Factor {
		t.Helper()
		got, err := f.tw.UpdateFactor(twService, identity, sid, (&twverify.UpdateFactorParams{}).SetAuthPayload(code))
		if err != nil || f.last.Load() != http.StatusOK {
			t.Fatalf("verify: HTTP %d %v", f.last.Load(), err)
		}
		return got
	}
	if got := verify(twWrongCode(t, secret, "sha256", 8, 30, f.clock.Now())); deref(got.Status) != "unverified" {
		t.Errorf("a wrong code: status %q, want unverified", deref(got.Status))
	}
	first := code()
	if got := verify(first); deref(got.Status) != "verified" || deref(got.Sid) != sid {
		t.Errorf("the right code: %+v, want %s verified", got, sid)
	}
	_, err = f.tw.UpdateFactor(twService, identity, sid, (&twverify.UpdateFactorParams{}).SetAuthPayload(first))
	f.wantErr(t, "verify a verified factor", err, http.StatusForbidden, 60311)

	challenge := func(what, factorSid, code, status string) {
		t.Helper()
		c, err := f.tw.CreateChallenge(twService, identity, (&twverify.CreateChallengeParams{}).SetFactorSid(factorSid).SetAuthPayload(code))
		if err != nil || f.last.Load() != http.StatusCreated {
			t.Errorf("%s: HTTP %d %v, want 201 %s", what, f.last.Load(), err, status)
			return
		}
		if !twChallengeSID.MatchString(deref(c.Sid)) || deref(c.Status) != status || deref(c.FactorSid) != factorSid ||
			deref(c.EntitySid) != deref(e.Sid) || deref(c.Identity) != identity || deref(c.FactorType) != "totp" ||
			(c.DateResponded != nil) != (status == "approved") || c.Url != nil {
			t.Errorf("%s: %+v, want %s", what, c, status)
		}
	}
	challenge("the verification's code again", sid, first, "pending")
	f.clock.Advance(30 * time.Second)
	next := code()
	challenge("the next step's code", sid, next, "approved")
	challenge("that code replayed", sid, next, "pending")
	approvedAt := f.clock.Now()

	f.clock.Advance(time.Minute)
	got, err := f.tw.FetchFactor(twService, identity, sid)
	if err != nil || deref(got.Status) != "verified" || !deref(got.DateUpdated).Equal(approvedAt) {
		t.Errorf("fetch: %v %+v, want verified, updated at the approval %v", err, got, approvedAt)
	}
	// One namespace: the factor is /v1/'s too.
	if r := f.send(t, "GET", "/v1/identities/"+identity+"/factors", twSecret, nil, nil); r.status != http.StatusOK || !strings.Contains(fmt.Sprint(r.body), "fac_"+sid[2:]) {
		t.Errorf("/v1/ list: %d %v, want fac_%s", r.status, r.body, sid[2:])
	}

	spare, err := f.tw.CreateNewFactor(twService, identity, (&twverify.CreateNewFactorParams{}).SetFactorType("totp").SetFriendlyName("spare"))
	if err != nil {
		t.Fatalf("second factor: %v", err)
	}
	wantTwConfig(t, "default factor", spare.Config, "sha1", 1, 6, 30)
	spareSecret, _ := deref(spare.Binding).(map[string]any)["secret"].(string)
	_, err = f.tw.CreateChallenge(twService, identity, (&twverify.CreateChallengeParams{}).SetFactorSid(deref(spare.Sid)).
		SetAuthPayload(twFactorCode(t, spareSecret, "sha1", 6, 30, f.clock.Now())))
	f.wantErr(t, "challenge an unverified factor", err, http.StatusForbidden, 60318)

	list, err := f.tw.ListFactor(twService, identity, nil)
	if err != nil || len(list) != 2 || deref(list[0].Sid) != sid || deref(list[1].Status) != "unverified" {
		t.Errorf("list: %v %+v, want %s and the spare", err, list, sid)
	}
	if list, err := f.tw.ListFactor(twService, identity, (&twverify.ListFactorParams{}).SetPageSize(1)); err != nil || len(list) != 2 {
		t.Errorf("list one per page: %v, %d factors, want the SDK to follow both pages", err, len(list))
	}

	if err := f.tw.DeleteFactor(twService, identity, deref(spare.Sid)); err != nil || f.last.Load() != http.StatusNoContent {
		t.Errorf("delete factor: HTTP %d %v", f.last.Load(), err)
	}
	_, err = f.tw.FetchFactor(twService, identity, deref(spare.Sid))
	f.wantErr(t, "fetch a deleted factor", err, http.StatusNotFound, 20404)

	if err := f.tw.DeleteEntity(twService, identity); err != nil || f.last.Load() != http.StatusNoContent {
		t.Errorf("delete entity: HTTP %d %v", f.last.Load(), err)
	}
	if list, err := f.tw.ListFactor(twService, identity, nil); err != nil || len(list) != 0 {
		t.Errorf("list after deleting the entity: %v %+v, want none", err, list)
	}
	_, err = f.tw.CreateChallenge(twService, identity, (&twverify.CreateChallengeParams{}).SetFactorSid(sid).SetAuthPayload(code()))
	f.wantErr(t, "challenge a deleted factor", err, http.StatusNotFound, 20404)
	if e, err := f.tw.FetchEntity(twService, identity); err != nil || deref(e.Identity) != identity {
		t.Errorf("fetch entity: %v %+v, want the implicit entity", err, e)
	}
}

// TestTwilioSDKFactorLocks uses up an identity's attempts (the default
// TOTP_MAX_ATTEMPTS, 5) with wrong codes: its challenges and verifications
// are then refused, right codes included.
func TestTwilioSDKFactorLocks(t *testing.T) {
	t.Parallel()
	f := newTwilioFactorsFixture(t)
	const identity = "user-locked-01"
	newFactor := func() (string, string) {
		t.Helper()
		nf, err := f.tw.CreateNewFactor(twService, identity, (&twverify.CreateNewFactorParams{}).SetFactorType("totp").SetFriendlyName("phone"))
		if err != nil {
			t.Fatalf("create factor: %v", err)
		}
		secret, _ := deref(nf.Binding).(map[string]any)["secret"].(string)
		return deref(nf.Sid), secret
	}
	sid, secret := newFactor()
	pending, pendingSecret := newFactor()
	if _, err := f.tw.UpdateFactor(twService, identity, sid, (&twverify.UpdateFactorParams{}).SetAuthPayload(twFactorCode(t, secret, "sha1", 6, 30, f.clock.Now()))); err != nil {
		t.Fatalf("verify: %v", err)
	}
	wrong := twWrongCode(t, secret, "sha1", 6, 30, f.clock.Now())
	for i := range 5 {
		c, err := f.tw.CreateChallenge(twService, identity, (&twverify.CreateChallengeParams{}).SetFactorSid(sid).SetAuthPayload(wrong))
		if err != nil || deref(c.Status) != "pending" {
			t.Fatalf("wrong code %d: %v %+v, want pending", i+1, err, c)
		}
	}
	f.clock.Advance(30 * time.Second)
	_, err := f.tw.CreateChallenge(twService, identity, (&twverify.CreateChallengeParams{}).SetFactorSid(sid).SetAuthPayload(twFactorCode(t, secret, "sha1", 6, 30, f.clock.Now())))
	f.wantErr(t, "a right code while locked", err, http.StatusTooManyRequests, 60308)
	_, err = f.tw.UpdateFactor(twService, identity, pending, (&twverify.UpdateFactorParams{}).SetAuthPayload(twFactorCode(t, pendingSecret, "sha1", 6, 30, f.clock.Now())))
	f.wantErr(t, "a verification while locked", err, http.StatusTooManyRequests, 60310)
}

// wantTwConfig checks a factor's config as the SDK decodes it.
func wantTwConfig(t *testing.T, what string, config *any, alg string, skew, codeLength, timeStep int) {
	t.Helper()
	got, _ := deref(config).(map[string]any)
	if got["alg"] != alg || got["skew"] != float64(skew) || got["code_length"] != float64(codeLength) || got["time_step"] != float64(timeStep) {
		t.Errorf("%s: config %v, want alg %s, skew %d, code_length %d, time_step %d", what, got, alg, skew, codeLength, timeStep)
	}
}
