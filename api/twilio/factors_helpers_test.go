package twilio_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	twverify "github.com/twilio/twilio-go/rest/verify/v2"

	"github.com/otpgate/otpgate/otp/factor"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

const (
	identity = "user-0001"
	entities = "/v2/Services/" + service + "/Entities"
	// maxAttempts is TOTP_MAX_ATTEMPTS of the fixtures.
	maxAttempts = 5
)

// entity is the path of an identity's entity, and of what is under it.
func entity(id string, rest ...string) string {
	return strings.Join(append([]string{entities, id}, rest...), "/")
}

// factorFixture is the API whose dialect serves factors with the real
// factor.Service on its Redis store, TOTP_SKEW 1 unless o.skew says.
func factorFixture(t *testing.T, rdb *redis.Client, o options) *fixture {
	t.Helper()
	secret := make([]byte, 32)
	rand.Read(secret)
	keys, err := factor.NewKeyring([]factor.Key{{ID: "k1", Secret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	if o.skew == 0 {
		o.skew = 1
	}
	var f *fixture
	svc, err := factor.NewService(factor.Config{Issuer: "otpgate", Skew: o.skew, MaxAttempts: maxAttempts},
		redisstore.New(rdb).Factors(), keys, factor.WithClock(func() time.Time { return f.clock.Now() }))
	if err != nil {
		t.Fatal(err)
	}
	o.factors = svc
	f = newFixture(t, rdb, o)
	return f
}

// miniFactors is a factorFixture on a fresh miniredis.
func miniFactors(t *testing.T, o options) *fixture {
	rdb, _ := redistest.Mini(t)
	return factorFixture(t, rdb, o)
}

// stoppable is a miniredis with a client that does not retry, so a test
// that stops Redis meets the failure at once, not go-redis's backoff.
func stoppable(t *testing.T) (*redis.Client, *miniredis.Miniredis) {
	t.Helper()
	_, mr := redistest.Mini(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, mr
}

// enrolled is a factor created through /v2/, with what an authenticator
// app reads of it.
type enrolled struct {
	sid, secret, alg string
	digits, period   int
}

// enrol creates a TOTP factor of id, with kv added to its form.
func (f *fixture) enrol(id string, kv ...string) enrolled {
	f.t.Helper()
	rec := f.do("POST", entity(id, "Factors"), form(append([]string{"FactorType", "totp", "FriendlyName", "phone"}, kv...)...))
	wantStatus(f.t, "create factor", rec, http.StatusCreated)
	nf := strict[twverify.VerifyV2NewFactor](f.t, rec)
	binding, _ := deref(nf.Binding).(map[string]any)
	config, _ := deref(nf.Config).(map[string]any)
	e := enrolled{sid: deref(nf.Sid), alg: fmt.Sprint(config["alg"])}
	e.secret, _ = binding["secret"].(string)
	digits, _ := config["code_length"].(float64)
	period, _ := config["time_step"].(float64)
	e.digits, e.period = int(digits), int(period)
	return e
}

// code is the code the authenticator app shows at time at (RFC 6238 over
// RFC 4226), computed here from the secret as an app does.
func (e enrolled) code(t *testing.T, at time.Time) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.secret)
	if err != nil {
		t.Fatalf("binding.secret %q: %v", e.secret, err)
	}
	newHash := map[string]func() hash.Hash{"sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New}[e.alg]
	if newHash == nil {
		t.Fatalf("config.alg %q", e.alg)
	}
	m := hmac.New(newHash, key)
	binary.Write(m, binary.BigEndian, uint64(at.Unix()/int64(e.period)))
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	n := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range e.digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", e.digits, n%mod)
}

// wrong is a code that no step within two of at accepts.
func (e enrolled) wrong(t *testing.T, at time.Time) string {
	t.Helper()
	for c := 0; ; c++ {
		code := fmt.Sprintf("%0*d", e.digits, c)
		taken := false
		for i := -2; i <= 2; i++ {
			taken = taken || e.code(t, at.Add(time.Duration(i*e.period)*time.Second)) == code
		}
		if !taken {
			return code
		}
	}
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

func deref[T any](p *T) (v T) {
	if p != nil {
		v = *p
	}
	return v
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
