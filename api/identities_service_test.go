package api_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp/factor"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// maxFactorAttempts is TOTP_MAX_ATTEMPTS of the real service the tests run.
const maxFactorAttempts = 5

// factorFixture is the API on the real factor.Service and its Redis store
// (miniredis), on the fixture's clock.
type factorFixture struct {
	*fixture
	redis *miniredis.Miniredis
	base  string // /v1/identities/<identity>
}

// newFactorFixture builds one; edit configures the API further.
func newFactorFixture(t *testing.T, edit ...func(*api.Config)) *factorFixture {
	t.Helper()
	rdb, mr := redistest.Mini(t)
	keys, err := factor.NewKeyring([]factor.Key{{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, rdb, append([]func(*api.Config){func(c *api.Config) {
		svc, err := factor.NewService(factor.Config{Issuer: "Shop", Skew: 1, MaxAttempts: maxFactorAttempts},
			redisstore.New(rdb).Factors(), keys, factor.WithClock(c.Now))
		if err != nil {
			t.Fatal(err)
		}
		c.Factors = svc
	}}, edit...)...)
	return &factorFixture{fixture: f, redis: mr, base: "/v1/identities/" + testIdentity}
}

// enrollment is the answer to an enrolment, decoded strictly.
type enrollment struct {
	factorBody
	Secret string `json:"secret"`
	URI    string `json:"uri"`
	QRPNG  string `json:"qr_png"`
}

// verified is the answer to a right first code, decoded strictly.
type verified struct {
	factorBody
	Valid         bool     `json:"valid"`
	RecoveryCodes []string `json:"recovery_codes"`
}

// outcome is any answer of challenges or a refused verify, decoded
// strictly.
type outcome struct {
	Valid             bool   `json:"valid"`
	FactorID          string `json:"factor_id"`
	RecoveryCodesLeft *int   `json:"recovery_codes_left"`
	AttemptsLeft      *int   `json:"attempts_left"`
}

func (f *factorFixture) enroll(body string) enrollment {
	f.t.Helper()
	rec := f.documented("POST", f.base+"/factors", body)
	if rec.Code != http.StatusCreated {
		f.t.Fatalf("enrol: %d %s", rec.Code, rec.Body)
	}
	var e enrollment
	mustDecode(f.t, rec, &e)
	return e
}

// code is the factor's code at the fixture's now, offset by steps.
func (f *factorFixture) code(e enrollment, steps int) string {
	f.t.Helper()
	return totpCode(f.t, e.Secret, f.clock.Now().Add(time.Duration(steps*e.Period)*time.Second), e.Digits, e.Period, e.Algorithm)
}

// wrongCode is a code of the factor's length that no step within the
// skew accepts now, so a refusal never depends on luck.
func (f *factorFixture) wrongCode(e enrollment) string {
	f.t.Helper()
	right := map[string]bool{}
	for step := -2; step <= 2; step++ {
		right[f.code(e, step)] = true
	}
	for n := 0; ; n++ {
		if c := fmt.Sprintf("%0*d", e.Digits, n); !right[c] {
			return c
		}
	}
}

// enrollVerified enrols a factor and verifies it, returning the enrolment
// and the identity's first recovery codes.
func (f *factorFixture) enrollVerified() (enrollment, []string) {
	f.t.Helper()
	e := f.enroll(`{"label":"Ann's phone"}`)
	rec := f.documented("POST", f.base+"/factors/"+e.ID+"/verify", `{"code":"`+f.code(e, 0)+`"}`)
	var v verified
	mustDecode(f.t, rec, &v)
	if !v.Valid {
		f.t.Fatalf("verify with the right code: %s", rec.Body)
	}
	return e, v.RecoveryCodes
}

func (f *factorFixture) challenge(body string) (outcome, int) {
	f.t.Helper()
	rec := f.documented("POST", f.base+"/challenges", body)
	var o outcome
	if rec.Code == http.StatusOK {
		mustDecode(f.t, rec, &o)
	}
	return o, rec.Code
}

// totpCode is RFC 6238's code of a base32 secret at t, written here from
// the RFC rather than taken from the library the service uses.
func totpCode(t testing.TB, secret string, at time.Time, digits, period int, alg string) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatalf("secret %q is not unpadded base32: %v", secret, err)
	}
	h := map[string]func() hash.Hash{"SHA1": sha1.New, "SHA256": sha256.New, "SHA512": sha512.New}[alg]
	if h == nil {
		t.Fatalf("algorithm %q", alg)
	}
	m := hmac.New(h, key)
	_ = binary.Write(m, binary.BigEndian, uint64(at.Unix()/int64(period)))
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0xf
	bin := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

var recoveryCodePattern = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)

// TestFactorLifecycle walks one identity through CONTRACT §11 on the real
// service: enrol, a wrong and a right first code, challenges by code and
// by recovery code, replays, new recovery codes, deletes.
func TestFactorLifecycle(t *testing.T) {
	f := newFactorFixture(t)
	e := f.enroll(`{"label":"Ann's phone","digits":8,"period":60,"algorithm":"SHA256"}`)

	if e.Status != "unverified" || e.Digits != 8 || e.Period != 60 || e.Algorithm != "SHA256" || e.Label != "Ann's phone" ||
		e.Identity != testIdentity || e.Type != "totp" || e.CreatedAt != "2030-01-02T02:04:05Z" {
		t.Errorf("enrolled %+v", e.factorBody)
	}
	if len(e.Secret) < 32 {
		t.Errorf("secret %d characters, want at least 160 bits", len(e.Secret))
	}
	u, err := url.Parse(e.URI)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Shop:Ann's phone" {
		t.Errorf("uri %q (%v)", e.URI, err)
	} else {
		q := u.Query()
		for k, want := range map[string]string{"secret": e.Secret, "issuer": "Shop", "algorithm": "SHA256", "digits": "8", "period": "60"} {
			if got := q.Get(k); got != want {
				t.Errorf("uri %s = %q, want %q", k, got, want)
			}
		}
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(e.QRPNG, "data:image/png;base64,"))
	if err != nil {
		t.Fatalf("qr_png: %v", err)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(raw)); err != nil || cfg.Width < 21 || cfg.Width != cfg.Height {
		t.Errorf("qr_png is no square PNG: %+v %v", cfg, err)
	}

	// The list never shows the secret.
	list := f.documented("GET", f.base+"/factors", "")
	if list.Code != http.StatusOK || !strings.Contains(list.Body.String(), e.ID) || strings.Contains(list.Body.String(), e.Secret) {
		t.Errorf("list: %d %s", list.Code, list.Body)
	}

	verifyPath := f.base + "/factors/" + e.ID + "/verify"
	wrong := f.documented("POST", verifyPath, `{"code":"`+f.wrongCode(e)+`"}`)
	if wrong.Code != http.StatusOK || wrong.Body.String() != `{"valid":false,"attempts_left":4}` {
		t.Errorf("wrong first code: %d %s", wrong.Code, wrong.Body)
	}
	code := f.code(e, 0)
	right := f.documented("POST", verifyPath, `{"code":"`+code+`"}`)
	var v verified
	mustDecode(t, right, &v)
	if !v.Valid || v.Status != "verified" || v.VerifiedAt != "2030-01-02T02:04:05Z" || v.LastUsedAt != v.VerifiedAt {
		t.Errorf("right first code: %s", right.Body)
	}
	if right.Header().Get("Cache-Control") != "no-store" {
		t.Error("the answer with the recovery codes may be cached")
	}
	if len(v.RecoveryCodes) != factor.RecoveryCodeCount {
		t.Fatalf("%d recovery codes, want 10", len(v.RecoveryCodes))
	}
	for _, c := range v.RecoveryCodes {
		if !recoveryCodePattern.MatchString(c) {
			t.Errorf("recovery code %q", c)
		}
	}
	wantError(t, f.documented("POST", verifyPath, `{"code":"`+code+`"}`), http.StatusConflict, "factor_already_verified")

	// The code that verified the factor is spent: RFC 6238 §5.2.
	if o, status := f.challenge(`{"code":"` + code + `"}`); status != http.StatusOK || o.Valid || *o.AttemptsLeft != 3 {
		t.Errorf("replayed code: %d %+v", status, o)
	}
	f.clock.Advance(60 * time.Second)
	if o, status := f.challenge(`{"code":"` + f.code(e, 0) + `"}`); status != http.StatusOK || !o.Valid || o.FactorID != e.ID {
		t.Errorf("next code: %d %+v", status, o)
	}

	// A recovery code in another case and without its dash is spent once.
	typed := strings.ToUpper(strings.ReplaceAll(v.RecoveryCodes[0], "-", ""))
	if o, status := f.challenge(`{"recovery_code":"` + typed + `"}`); status != http.StatusOK || !o.Valid || o.RecoveryCodesLeft == nil || *o.RecoveryCodesLeft != 9 {
		t.Errorf("recovery code: %d %+v", status, o)
	}
	if o, _ := f.challenge(`{"recovery_code":"` + v.RecoveryCodes[0] + `"}`); o.Valid || *o.AttemptsLeft != 2 {
		t.Errorf("spent recovery code: %+v", o)
	}

	// New codes replace the old ones.
	regen := f.documented("POST", f.base+"/recovery-codes", "")
	var fresh struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	mustDecode(t, regen, &fresh)
	if regen.Header().Get("Cache-Control") != "no-store" || len(fresh.RecoveryCodes) != 10 {
		t.Errorf("recovery codes: %s", regen.Body)
	}
	if o, _ := f.challenge(`{"recovery_code":"` + v.RecoveryCodes[1] + `"}`); o.Valid {
		t.Error("an old recovery code still works")
	}
	if o, _ := f.challenge(`{"recovery_code":"` + fresh.RecoveryCodes[1] + `"}`); !o.Valid {
		t.Error("a new recovery code does not work")
	}

	// Deleting the last verified factor takes the recovery codes along.
	if rec := f.documented("DELETE", f.base+"/factors/"+e.ID, ""); rec.Code != http.StatusNoContent {
		t.Errorf("delete factor: %d %s", rec.Code, rec.Body)
	}
	wantError(t, f.documented("DELETE", f.base+"/factors/"+e.ID, ""), http.StatusNotFound, "not_found")
	if rec := f.documented("GET", f.base+"/factors", ""); rec.Body.String() != `{"factors":[]}` {
		t.Errorf("list after delete: %s", rec.Body)
	}
	wantError(t, f.documented("POST", f.base+"/challenges", `{"recovery_code":"`+fresh.RecoveryCodes[2]+`"}`), http.StatusNotFound, "not_found")
	wantError(t, f.documented("DELETE", f.base, ""), http.StatusNotFound, "not_found")

	logs := f.logs.String()
	for _, secret := range append(append([]string{e.Secret, `"` + code + `"`}, v.RecoveryCodes...), fresh.RecoveryCodes...) {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}

func TestDeleteIdentity(t *testing.T) {
	f := newFactorFixture(t)
	f.enrollVerified()
	f.enroll(`{"label":"backup"}`)
	if rec := f.documented("DELETE", f.base, ""); rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("delete identity: %d %s", rec.Code, rec.Body)
	}
	if rec := f.documented("GET", f.base+"/factors", ""); rec.Body.String() != `{"factors":[]}` {
		t.Errorf("list after delete: %s", rec.Body)
	}
	wantError(t, f.documented("POST", f.base+"/recovery-codes", ""), http.StatusNotFound, "not_found")
	wantError(t, f.documented("DELETE", f.base, ""), http.StatusNotFound, "not_found")
}

// TestFactorFieldErrors checks that every 400 of the service names its
// field.
func TestFactorFieldErrors(t *testing.T) {
	f := newFactorFixture(t)
	e := f.enroll(`{"label":"Ann's phone"}`)
	verify := "/factors/" + e.ID + "/verify"
	for _, tt := range []struct{ name, path, body, field string }{
		{"no label", "/factors", `{}`, "label"},
		{"no body", "/factors", ``, "label"},
		{"label over 64 bytes", "/factors", `{"label":"` + strings.Repeat("é", 33) + `"}`, "label"},
		{"digits 9", "/factors", `{"label":"x","digits":9}`, "digits"},
		{"digits 5", "/factors", `{"label":"x","digits":5}`, "digits"},
		{"period 45", "/factors", `{"label":"x","period":45}`, "period"},
		{"algorithm MD5", "/factors", `{"label":"x","algorithm":"MD5"}`, "algorithm"},
		{"algorithm in lowercase", "/factors", `{"label":"x","algorithm":"sha256"}`, "algorithm"},
		// An explicit zero or empty value is not "the default": only an
		// absent one is.
		{"digits 0", "/factors", `{"label":"x","digits":0}`, "digits"},
		{"period 0", "/factors", `{"label":"x","period":0}`, "period"},
		{"algorithm empty", "/factors", `{"label":"x","algorithm":""}`, "algorithm"},
		{"verify without a code", verify, `{}`, "code"},
		{"verify with no body", verify, ``, "code"},
		{"challenge with no body", "/challenges", ``, "code"},
		{"verify with letters", verify, `{"code":"12ab56"}`, "code"},
		{"verify with 9 digits", verify, `{"code":"123456789"}`, "code"},
		{"challenge with neither", "/challenges", `{}`, "code"},
		{"challenge with both", "/challenges", `{"code":"123456","recovery_code":"abcde-12345"}`, "recovery_code"},
		{"challenge with a short code", "/challenges", `{"code":"12345"}`, "code"},
		{"recovery code too short", "/challenges", `{"recovery_code":"abcde-1234"}`, "recovery_code"},
		{"recovery code with a u", "/challenges", `{"recovery_code":"abcde-1234u"}`, "recovery_code"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.documented("POST", f.base+tt.path, tt.body)
			e := wantError(t, rec, http.StatusBadRequest, "invalid_request")
			if strings.HasSuffix(tt.path, "/verify") && rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("a refused verify answers Cache-Control %q, want no-store as every verify answer", rec.Header().Get("Cache-Control"))
			}
			if !strings.HasPrefix(e.Error.Message, tt.field+": ") {
				t.Errorf("message %q does not name %s", e.Error.Message, tt.field)
			}
		})
	}
	// None of them counted as a refused code.
	wrong := f.documented("POST", f.base+verify, `{"code":"`+f.wrongCode(e)+`"}`)
	if wrong.Body.String() != `{"valid":false,"attempts_left":4}` {
		t.Errorf("after the 400s, a wrong code answers %s; the 400s counted as attempts", wrong.Body)
	}
}

func TestFactorLimit(t *testing.T) {
	f := newFactorFixture(t)
	for i := range factor.MaxFactors {
		f.enroll(fmt.Sprintf(`{"label":"phone %d"}`, i))
	}
	wantError(t, f.documented("POST", f.base+"/factors", `{"label":"one too many"}`), http.StatusConflict, "factor_limit")
	// Another identity has its own five.
	if rec := f.documented("POST", "/v1/identities/other-identity/factors", `{"label":"x"}`); rec.Code != http.StatusCreated {
		t.Errorf("another identity: %d %s", rec.Code, rec.Body)
	}
	// An unverified factor expires after an hour, and frees its place.
	f.clock.Advance(factor.UnverifiedTTL + time.Second)
	if rec := f.documented("GET", f.base+"/factors", ""); rec.Body.String() != `{"factors":[]}` {
		t.Errorf("expired factors are listed: %s", rec.Body)
	}
	f.enroll(`{"label":"after an hour"}`)
}

// TestFactorLock uses up an identity's attempts: then verify and
// challenges answer 429 with Retry-After and the budget's headers, right
// codes included, until the window ends.
func TestFactorLock(t *testing.T) {
	f := newFactorFixture(t)
	e, codes := f.enrollVerified()
	pending := f.enroll(`{"label":"new phone"}`)
	f.clock.Advance(30 * time.Second)
	for left := maxFactorAttempts - 1; left >= 0; left-- {
		o, status := f.challenge(`{"code":"` + f.wrongCode(e) + `"}`)
		if status != http.StatusOK || o.Valid || *o.AttemptsLeft != left {
			t.Fatalf("wrong code: %d %+v, want %d attempts left", status, o, left)
		}
		f.clock.Advance(time.Second)
	}
	windowEnd := start.Add(30*time.Second + factor.AttemptWindow)
	for _, r := range []struct{ name, path, body string }{
		{"a right code", "/challenges", `{"code":"` + f.code(e, 0) + `"}`},
		{"a recovery code", "/challenges", `{"recovery_code":"` + codes[0] + `"}`},
		{"a right first code", "/factors/" + pending.ID + "/verify", `{"code":"` + f.code(pending, 0) + `"}`},
		// The lock comes before the answers that depend on the factor.
		{"the verify of a verified factor", "/factors/" + e.ID + "/verify", `{"code":"` + f.code(e, 0) + `"}`},
		{"the verify of an unknown factor", "/factors/fac_00000000000000000000000000000000/verify", `{"code":"123456"}`},
	} {
		rec := f.documented("POST", f.base+r.path, r.body)
		wantError(t, rec, http.StatusTooManyRequests, "max_attempts_reached")
		wantRetry := strconv.Itoa(int(windowEnd.Sub(f.clock.Now()).Seconds()))
		for h, want := range map[string]string{"Retry-After": wantRetry, "X-RateLimit-Limit": "5",
			"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": fmt.Sprint(windowEnd.Unix())} {
			if got := rec.Header().Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", r.name, h, got, want)
			}
		}
	}
	// Another identity is not locked.
	if rec := f.documented("POST", "/v1/identities/other-identity/challenges", `{"code":"000000"}`); rec.Code != http.StatusNotFound {
		t.Errorf("another identity: %d %s, want its own 404", rec.Code, rec.Body)
	}
	f.clock.Advance(windowEnd.Sub(f.clock.Now()))
	if o, status := f.challenge(`{"code":"` + f.code(e, 0) + `"}`); status != http.StatusOK || !o.Valid {
		t.Errorf("after the window: %d %+v", status, o)
	}
}

func TestFactorNotFound(t *testing.T) {
	f := newFactorFixture(t)
	unknown := "fac_00000000000000000000000000000000"
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/factors/" + unknown + "/verify", `{"code":"123456"}`},
		{"POST", "/factors/not-a-factor-id/verify", `{"code":"123456"}`},
		{"DELETE", "/factors/" + unknown, ""},
		{"POST", "/challenges", `{"code":"123456"}`},
		{"POST", "/challenges", `{"recovery_code":"abcde-12345"}`},
		{"POST", "/recovery-codes", ""},
		{"DELETE", "", ""},
	} {
		e := wantError(t, f.documented(r.method, f.base+r.path, r.body), http.StatusNotFound, "not_found")
		if e.Error.Message != "The identity or factor does not exist." {
			t.Errorf("%s %s: message %q", r.method, r.path, e.Error.Message)
		}
	}
	// An identity holding only an unverified factor has nothing to challenge.
	f.enroll(`{"label":"x"}`)
	wantError(t, f.documented("POST", f.base+"/challenges", `{"code":"123456"}`), http.StatusNotFound, "not_found")
	wantError(t, f.documented("POST", f.base+"/recovery-codes", ""), http.StatusNotFound, "not_found")
}

func TestFactorStoreDown(t *testing.T) {
	f := newFactorFixture(t)
	f.redis.Close()
	// A write and a read: each waits out the client's retries.
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/factors", `{"label":"x"}`},
		{"GET", "/factors", ""},
	} {
		e := wantError(t, f.documented(r.method, f.base+r.path, r.body), http.StatusServiceUnavailable, "unavailable")
		if e.Error.Message != "The service is temporarily unavailable." {
			t.Errorf("%s %s: message %q", r.method, r.path, e.Error.Message)
		}
	}
}
