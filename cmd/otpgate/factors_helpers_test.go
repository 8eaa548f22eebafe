package main

// Helpers of the end-to-end tests of authenticator apps (CONTRACT §11):
// the whole program with factors on, on a real Redis that persists (as
// start-up demands outside dev mode) and an injected clock, and codes
// computed here from the secret the enrolment answered. The codes follow
// RFC 6238 by hand, so that the service's TOTP library is checked, not
// trusted.

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"image/png"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// The contract's defaults of factors, which the tests run with unless
// they say otherwise, and the issuer they set.
const (
	defaultFactorAttempts = 5
	attemptWindow         = 15 * time.Minute
	testIssuer            = "Acme e2e"
)

var (
	factorIDPattern   = regexp.MustCompile(`^fac_[0-9a-f]{32}$`)
	recoveryPattern   = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)
	base32NoPadding   = base32.StdEncoding.WithPadding(base32.NoPadding)
	factorJSONMembers = []string{"id", "identity", "type", "label", "status", "digits", "period", "algorithm", "created_at", "verified_at", "last_used_at"}
)

// encryptionKey is one entry of OTPGATE_ENCRYPTION_KEYS: kid and 32 fresh
// random bytes.
func encryptionKey(kid string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return kid + ":" + base64.StdEncoding.EncodeToString(b)
}

// durableRedis is a real Redis of the test's own with a save point, so
// that otpgate agrees to keep factors on it.
func durableRedis(t *testing.T) *redis.Client {
	t.Helper()
	rdb := redistest.Real(t)
	redistest.Durable(t, rdb)
	return rdb
}

// factorEnv is productionEnv on redisEnv with factors on under one fresh
// key, kid "k1", and testIssuer.
func factorEnv(t *testing.T, redisEnv map[string]string) map[string]string {
	t.Helper()
	fake := connexustest.NewServer()
	t.Cleanup(fake.Close)
	env := productionEnv(fake.URL, redisEnv)
	env["OTPGATE_ENCRYPTION_KEYS"] = encryptionKey("k1")
	env["TOTP_ISSUER"] = testIssuer
	return env
}

// factorFixture is one program with factors on, on a durable Redis of its
// own, read by a clock the test moves.
type factorFixture struct {
	*instance
	clock *otptest.Clock
	rdb   *redis.Client
	env   map[string]string
}

// newFactorFixture runs it with env on top of factorEnv.
func newFactorFixture(t *testing.T, env map[string]string) *factorFixture {
	t.Helper()
	rdb := durableRedis(t)
	f := &factorFixture{clock: newClock(), rdb: rdb, env: factorEnv(t, map[string]string{"REDIS_URL": redisURL(rdb)})}
	maps.Copy(f.env, env)
	f.instance = startClocked(t, maps.Clone(f.env), f.clock)
	return f
}

// identityPath is the path of identity's routes, and rest under it.
func identityPath(identity string, rest ...string) string {
	return "/v1/identities/" + identity + strings.Join(rest, "")
}

// enrolled is a factor as its enrolment answered it.
type enrolled struct {
	identity, id string
	b32          string // the secret as answered
	secret       []byte
	alg          string
	digits       int
	period       int
	body         map[string]any
}

// enrol enrols a factor of identity with body and wants the 201 of
// CONTRACT §11, secret, URI and QR included, uncacheable.
func (in *instance) enrol(t *testing.T, identity string, body map[string]any) enrolled {
	t.Helper()
	r := in.send(t, "POST", identityPath(identity, "/factors"), topologyKey, nil, body)
	if r.status != http.StatusCreated {
		t.Fatalf("enrol %s %v: %d %v", identity, body, r.status, r.body)
	}
	e := enrolled{identity: identity, body: r.body}
	e.id, _ = r.body["id"].(string)
	e.b32, _ = r.body["secret"].(string)
	e.alg, _ = r.body["algorithm"].(string)
	digits, _ := r.body["digits"].(float64)
	period, _ := r.body["period"].(float64)
	e.digits, e.period = int(digits), int(period)
	var err error
	if e.secret, err = base32NoPadding.DecodeString(e.b32); err != nil || len(e.secret) < 20 {
		t.Fatalf("enrol: secret %q is not base32 of at least 160 bits (%v)", e.b32, err)
	}
	if !factorIDPattern.MatchString(e.id) || r.body["identity"] != identity || r.body["type"] != "totp" || r.body["status"] != "unverified" {
		t.Errorf("enrol answered %v", r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("enrolment answer with its secret: Cache-Control %q, want no-store", cc)
	}
	wantURI(t, e, r.body["label"])
	wantQR(t, r.body["qr_png"])
	return e
}

// wantURI wants the otpauth URI of e: otpauth://totp/<issuer>:<label> with
// the secret and every parameter of the factor.
func wantURI(t *testing.T, e enrolled, label any) {
	t.Helper()
	raw, _ := e.body["uri"].(string)
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		t.Errorf("uri %q is not otpauth://totp/ (%v)", raw, err)
		return
	}
	if want := "/" + testIssuer + ":" + fmt.Sprint(label); u.Path != want {
		t.Errorf("uri %q: path %q, want %q", raw, u.Path, want)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"secret": e.b32, "issuer": testIssuer, "algorithm": e.alg,
		"digits": strconv.Itoa(e.digits), "period": strconv.Itoa(e.period),
	} {
		if got := q.Get(k); got != want {
			t.Errorf("uri %q: %s=%q, want %q", raw, k, got, want)
		}
	}
}

// wantQR wants a data URL of a PNG.
func wantQR(t *testing.T, v any) {
	t.Helper()
	s, _ := v.(string)
	b64, ok := strings.CutPrefix(s, "data:image/png;base64,")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil {
		t.Errorf("qr_png %.60q… is not a data:image/png;base64 URL (%v)", s, err)
		return
	}
	if img, err := png.Decode(bytes.NewReader(raw)); err != nil || img.Bounds().Dx() < 100 {
		t.Errorf("qr_png does not hold a PNG of a readable size: %v", err)
	}
}

// step is the time step of at, as the factor counts them.
func (e enrolled) step(at time.Time) int64 { return at.Unix() / int64(e.period) }

// code is the factor's code at time at.
func (e enrolled) code(at time.Time) string { return e.codeAt(e.step(at)) }

// codeAt is the factor's code of time step step (RFC 4226 §5.3 on the
// step, RFC 6238).
func (e enrolled) codeAt(step int64) string {
	var h func() hash.Hash
	switch e.alg {
	case "SHA1":
		h = sha1.New
	case "SHA256":
		h = sha256.New
	case "SHA512":
		h = sha512.New
	default:
		panic("unknown algorithm " + e.alg)
	}
	mac := hmac.New(h, e.secret)
	_ = binary.Write(mac, binary.BigEndian, step)
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	n := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	mod := uint32(1)
	for range e.digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", e.digits, n%mod)
}

// wrongCodeAt is a code of the factor's length that none of the steps
// around step accepts.
func (e enrolled) wrongCodeAt(step int64) string {
	taken := []string{e.codeAt(step - 2), e.codeAt(step - 1), e.codeAt(step), e.codeAt(step + 1), e.codeAt(step + 2)}
	for i := 0; ; i++ {
		c := fmt.Sprintf("%0*d", e.digits, i)
		if !slices.Contains(taken, c) {
			return c
		}
	}
}

// verifyCode posts code to e's verify route.
func (in *instance) verifyCode(t *testing.T, e enrolled, code string) reply {
	t.Helper()
	return in.send(t, "POST", identityPath(e.identity, "/factors/", e.id, "/verify"), topologyKey, nil, map[string]any{"code": code})
}

// mustVerify verifies e with its code at now and returns the recovery
// codes the answer held.
func (in *instance) mustVerify(t *testing.T, e enrolled, now time.Time) []string {
	t.Helper()
	r := in.verifyCode(t, e, e.code(now))
	if r.status != http.StatusOK || r.body["valid"] != true || r.body["status"] != "verified" || r.body["id"] != e.id {
		t.Fatalf("verify %s with its code: %d %v", e.id, r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("verify answer: Cache-Control %q, want no-store", cc)
	}
	var codes []string
	if list, ok := r.body["recovery_codes"].([]any); ok {
		for _, c := range list {
			s, _ := c.(string)
			codes = append(codes, s)
		}
	}
	return codes
}

// challenge posts body to identity's challenges.
func (in *instance) challenge(t *testing.T, identity string, body map[string]any) reply {
	t.Helper()
	return in.send(t, "POST", identityPath(identity, "/challenges"), topologyKey, nil, body)
}

// wantAccepted wants a challenge's 200 valid:true naming factor id.
func wantAccepted(t *testing.T, what string, r reply, id string) {
	t.Helper()
	if r.status != http.StatusOK || r.body["valid"] != true || r.body["factor_id"] != id {
		t.Errorf("%s: %d %v, want 200 valid:true factor_id %s", what, r.status, r.body, id)
	}
}

// wantRefused wants the 200 of a refused code with attemptsLeft.
func wantRefused(t *testing.T, what string, r reply, attemptsLeft int) {
	t.Helper()
	if r.status != http.StatusOK || r.body["valid"] != false || r.body["attempts_left"] != float64(attemptsLeft) || len(r.body) != 2 {
		t.Errorf("%s: %d %v, want 200 exactly {valid:false, attempts_left:%d}", what, r.status, r.body, attemptsLeft)
	}
}

// wantRecovered wants a recovery code's 200 valid:true with left codes left.
func wantRecovered(t *testing.T, what string, r reply, left int) {
	t.Helper()
	if r.status != http.StatusOK || r.body["valid"] != true || r.body["recovery_codes_left"] != float64(left) {
		t.Errorf("%s: %d %v, want 200 valid:true recovery_codes_left %d", what, r.status, r.body, left)
	}
}

// wantLocked wants the 429 max_attempts_reached of a locked identity,
// with a Retry-After within [low, high] seconds.
func wantLocked(t *testing.T, what string, r reply, low, high int) {
	t.Helper()
	wantError(t, what, r, http.StatusTooManyRequests, "max_attempts_reached")
	wantRetryAfter(t, what, r, low, high)
}

// wantRecoveryCodes wants the 10 recovery codes of CONTRACT §11, distinct.
func wantRecoveryCodes(t *testing.T, what string, codes []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range codes {
		if !recoveryPattern.MatchString(c) || seen[c] {
			t.Errorf("%s: recovery code %q is malformed or repeated", what, c)
		}
		seen[c] = true
	}
	if len(codes) != 10 {
		t.Errorf("%s: %d recovery codes, want 10", what, len(codes))
	}
}

// listFactors reads identity's factors and wants each one shaped as the
// contract's factor object: nothing but its members, never a secret.
func (in *instance) listFactors(t *testing.T, identity string) []map[string]any {
	t.Helper()
	r := in.send(t, "GET", identityPath(identity, "/factors"), topologyKey, nil, nil)
	list, ok := r.body["factors"].([]any)
	if r.status != http.StatusOK || !ok || len(r.body) != 1 {
		t.Fatalf("list %s: %d %v", identity, r.status, r.body)
	}
	var out []map[string]any
	for _, v := range list {
		f, _ := v.(map[string]any)
		for k := range f {
			if !slices.Contains(factorJSONMembers, k) {
				t.Errorf("list %s: a factor shows %q: %v", identity, k, f)
			}
		}
		out = append(out, f)
	}
	return out
}

// factorHashKey is the Redis hash that holds everything of identity
// (otp/redisstore/lua/factor_common.lua).
func factorHashKey(identity string) string { return "otp:{f:" + identity + "}" }

// sealedKid is the key id a sealed value names: what precedes its first ':'.
func sealedKid(sealed string) string {
	kid, _, _ := strings.Cut(sealed, ":")
	return kid
}

// toJSON is v as JSON.
func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutDashes is codes, and each of them without its dash.
func withoutDashes(codes []string) []string {
	out := slices.Clone(codes)
	for _, c := range codes {
		out = append(out, strings.ReplaceAll(c, "-", ""))
	}
	return out
}
