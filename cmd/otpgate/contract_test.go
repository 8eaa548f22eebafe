package main

// The end-to-end suite of CONTRACT.md §3: every rule of verifications,
// driven over HTTP against the whole program on its own real Redis, with
// the Connexus fake as upstream. Hashing runs at OTP_BCRYPT_COST=4 (from
// productionEnv) so that the suite stays quick under -race; the cost does
// not change any rule tested here.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/cmd/internal/app"
	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// The contract's defaults, which the suite runs with unless a test says
// otherwise.
const (
	defaultTTL       = 5 * time.Minute
	defaultCooldown  = 30 * time.Second
	defaultRetention = time.Hour
	defaultAttempts  = 5
)

// newClock is the time a program built by startClocked reads; tests move
// it instead of sleeping. Redis key TTLs still follow real time, but the
// store decides expiry and retention by the service's clock, and a moved
// clock only makes keys outlive what it already treats as gone. It starts
// at a whole second, so that the API's RFC 3339 times equal it exactly.
func newClock() *otptest.Clock { return otptest.NewClock(time.Now().Truncate(time.Second)) }

// startClocked builds the program as run does, from env, but with clk as
// the clock of the service and the API (and opts), and serves it with
// app.Serve on a free port.
func startClocked(t *testing.T, env map[string]string, clk *otptest.Clock, opts ...app.Option) *instance {
	t.Helper()
	return launch(t, env, func(ctx context.Context, getenv func(string) string, out io.Writer) error {
		gin.SetMode(gin.ReleaseMode)
		log := slog.New(slog.NewJSONHandler(out, nil))
		cfg, err := config.Load(getenv)
		if err != nil {
			return err
		}
		a, err := app.New(ctx, cfg, log, out, append([]app.Option{app.WithClock(clk.Now)}, opts...)...)
		if err != nil {
			return err
		}
		defer a.Close()
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return err
		}
		log.Info("listening", "addr", ln.Addr().String())
		return app.Serve(ctx, ln, a.Handler, log)
	})
}

// fixture is one program in production configuration on its own real
// Redis, with the fake as Connexus.
type fixture struct {
	*instance
	fake  *connexustest.Server
	clock *otptest.Clock // nil when the program is run itself, on the wall clock
}

type fixtureOptions struct {
	style   connexustest.Style
	env     map[string]string
	clocked bool
}

// newFixture runs the program with productionEnv, topologyKey as its API
// key, and opts. Without clocked it is run itself.
func newFixture(t *testing.T, opts fixtureOptions) *fixture {
	t.Helper()
	fake := connexustest.NewServer(connexustest.WithStyle(opts.style))
	t.Cleanup(fake.Close)
	env := productionEnv(fake.URL, map[string]string{"REDIS_URL": redisURL(redistest.Real(t))})
	maps.Copy(env, opts.env)
	f := &fixture{fake: fake}
	if opts.clocked {
		f.clock = newClock()
		f.instance = startClocked(t, env, f.clock)
	} else {
		f.instance = start(t, env)
	}
	return f
}

// post sends a JSON body with the client key.
func (f *fixture) post(t *testing.T, path string, body any) reply {
	t.Helper()
	return f.send(t, "POST", path, topologyKey, nil, body)
}

func (f *fixture) get(t *testing.T, path string) reply {
	t.Helper()
	return f.send(t, "GET", path, topologyKey, nil, nil)
}

// mustStart starts a verification of to and wants the given status (201
// for a new one, 200 for a resend).
func (f *fixture) mustStart(t *testing.T, to string, want int) map[string]any {
	t.Helper()
	r := f.post(t, "/v1/verifications", map[string]any{"to": to})
	if r.status != want {
		t.Fatalf("start %q: %d %v, want %d", to, r.status, r.body, want)
	}
	return r.body
}

// code is the latest code the fake delivered to number.
func (f *fixture) code(t *testing.T, number string) string {
	t.Helper()
	code, ok := f.fake.LastCode(number)
	if !ok {
		t.Fatalf("the fake delivered no code to %s", number)
	}
	return code
}

// otpRequests are the sms/otp requests the fake received.
func (f *fixture) otpRequests() []connexustest.Request {
	var out []connexustest.Request
	for _, r := range f.fake.Requests() {
		if r.Path == "sms/otp" {
			out = append(out, r)
		}
	}
	return out
}

// metric reads one unlabelled sample from /metrics.
func (f *fixture) metric(t *testing.T, name string) float64 {
	t.Helper()
	v, ok := seriesValue(t, f.scrape(t), name)
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
	return v
}

// scrape returns the /metrics text of the program.
func (in *instance) scrape(t *testing.T) string {
	t.Helper()
	resp, err := in.http.Get(in.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(text)
}

// seriesValue finds the sample of series, written whole (with its labels),
// in a /metrics text.
func seriesValue(t *testing.T, text, series string) (float64, bool) {
	t.Helper()
	for line := range strings.SplitSeq(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return n, true
		}
	}
	return 0, false
}

// wantCheck wants a compared guess's 200 answer.
func wantCheck(t *testing.T, what string, r reply, status string, valid bool, attemptsLeft int) {
	t.Helper()
	if r.status != http.StatusOK || r.body["status"] != status || r.body["valid"] != valid || r.body["attempts_left"] != float64(attemptsLeft) {
		t.Errorf("%s: %d %v, want 200 status %s, valid %v, attempts_left %d", what, r.status, r.body, status, valid, attemptsLeft)
	}
}

// wantError wants the contract's error shape with status and code; a 409
// also names the verification's status at the top level.
func wantError(t *testing.T, what string, r reply, status int, code string, verificationStatus ...string) {
	t.Helper()
	e, _ := r.body["error"].(map[string]any)
	if r.status != status || e["code"] != code {
		t.Errorf("%s: %d %v, want %d %s", what, r.status, r.body, status, code)
		return
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("%s: error without a message: %v", what, r.body)
	}
	if id := r.header.Get("X-Request-Id"); id == "" || e["request_id"] != id {
		t.Errorf("%s: request_id %v, X-Request-Id %q; want the same, set", what, e["request_id"], id)
	}
	if len(verificationStatus) > 0 && r.body["status"] != verificationStatus[0] {
		t.Errorf("%s: top-level status %v, want %s", what, r.body["status"], verificationStatus[0])
	}
}

// wantRetryAfter wants a Retry-After of whole seconds within [low, high],
// and the X-RateLimit-* headers every 429 carries.
func wantRetryAfter(t *testing.T, what string, r reply, low, high int) {
	t.Helper()
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || n < low || n > high {
		t.Errorf("%s: Retry-After %q, want %d to %d seconds", what, r.header.Get("Retry-After"), low, high)
	}
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
		if _, err := strconv.ParseInt(r.header.Get(h), 10, 64); err != nil {
			t.Errorf("%s: %s %q, want a number", what, h, r.header.Get(h))
		}
	}
}

// wantTime wants an RFC 3339 field equal to want.
func wantTime(t *testing.T, what string, v map[string]any, field string, want time.Time) {
	t.Helper()
	s, _ := v[field].(string)
	got, err := time.Parse(time.RFC3339, s)
	if err != nil || !got.Equal(want) {
		t.Errorf("%s: %s %q, want %s", what, field, s, want.UTC().Format(time.RFC3339))
	}
}

// otherCode is a well-formed code that is not code.
func otherCode(code string) string {
	last := (code[len(code)-1]-'0'+1)%10 + '0'
	return code[:len(code)-1] + string(last)
}

var idPattern = regexp.MustCompile(`^ver_[0-9a-f]{32}$`)

func TestContractNormalisesEveryFormat(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	tests := []struct {
		to, want string
		nz       bool
	}{
		{"021 234 5678", "64212345678", true},
		{"0211234567", "64211234567", true},
		{"+64 21 765 4321", "64217654321", true},
		{"6421234567", "6421234567", true},
		{"(021) 555-0101", "64215550101", true},
		{"021.333.4444", "64213334444", true},
		{"+61 412 345 678", "61412345678", false},
	}
	for _, tt := range tests {
		v := f.mustStart(t, tt.to, http.StatusCreated)
		id, _ := v["id"].(string)
		if !idPattern.MatchString(id) || v["to"] != tt.want || v["channel"] != "sms" || v["status"] != "pending" ||
			v["attempts_left"] != float64(defaultAttempts) || v["sends"] != float64(1) {
			t.Errorf("start %q answered %v, want a pending verification of %s", tt.to, v, tt.want)
			continue
		}
		created, err := time.Parse(time.RFC3339, v["created_at"].(string))
		if err != nil {
			t.Errorf("created_at %v: %v", v["created_at"], err)
			continue
		}
		wantTime(t, "start "+tt.to, v, "expires_at", created.Add(defaultTTL))
		wantTime(t, "start "+tt.to, v, "resend_available_at", created.Add(defaultCooldown))
		// Only NZ numbers are looked up.
		if _, looked := v["lookup"]; looked != tt.nz {
			t.Errorf("start %q: lookup %v, want it present: %v", tt.to, v["lookup"], tt.nz)
		}
		if _, ok := f.fake.LastCode(tt.want); !ok {
			t.Errorf("start %q: no code reached %s", tt.to, tt.want)
		}
	}
	if got := len(f.otpRequests()); got != len(tests) {
		t.Errorf("%d sms/otp requests, want %d", got, len(tests))
	}
	// Another way of writing a number is the same number: its cooldown holds.
	r := f.post(t, "/v1/verifications", map[string]any{"to": "+64 (21) 234-5678"})
	wantError(t, "restart in another format", r, http.StatusTooManyRequests, "resend_cooldown")
}

func TestContractRefusesBadStarts(t *testing.T) {
	t.Parallel()
	for _, st := range []struct {
		name  string
		style connexustest.Style
	}{{"detailed", connexustest.StyleDetailed}, {"reference", connexustest.StyleReference}} {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{style: st.style})
			f.fake.SetNumberType("021 111 2222", connexustest.NumberUnknown)
			f.fake.SetNumberType("021 333 4444", connexustest.NumberLandline)
			tests := []struct {
				name   string
				body   map[string]any
				status int
				code   string
			}{
				{"no to", map[string]any{}, 400, "invalid_request"},
				{"empty to", map[string]any{"to": ""}, 400, "invalid_request"},
				{"blank to", map[string]any{"to": "   "}, 400, "invalid_request"},
				{"too short", map[string]any{"to": "021 23"}, 400, "invalid_phone_number"},
				{"not a number", map[string]any{"to": "my phone"}, 400, "invalid_phone_number"},
				{"no such number", map[string]any{"to": "12345"}, 400, "invalid_phone_number"},
				{"UK", map[string]any{"to": "+44 7400 123456"}, 400, "country_not_allowed"},
				{"US", map[string]any{"to": "+1 415 555 2671"}, 400, "country_not_allowed"},
				{"lookup says not valid", map[string]any{"to": "021 111 2222"}, 400, "invalid_phone_number"},
				{"lookup says landline", map[string]any{"to": "021 333 4444"}, 400, "invalid_phone_number"},
				{"NZ landline", map[string]any{"to": "09 123 4567"}, 400, "invalid_phone_number"},
				{"brand too long", map[string]any{"to": "021 234 5678", "brand": strings.Repeat("b", 65)}, 400, "invalid_request"},
			}
			for _, tt := range tests {
				wantError(t, tt.name, f.post(t, "/v1/verifications", tt.body), tt.status, tt.code)
			}
			if n := f.fake.RequestCount("sms/otp"); n != 0 {
				t.Errorf("%d requests reached sms/otp, want none", n)
			}
			// The two numbers only the lookup knows to be wrong were looked up.
			if n := f.fake.RequestCount("number/lookup"); n < 2 {
				t.Errorf("%d lookups, want at least 2", n)
			}
		})
	}
}

func TestContractLimitsClientIPOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{env: map[string]string{
		"RATE_LIMIT_STARTS_PER_IP": "2-H",
		"RATE_LIMIT_CHECKS_PER_IP": "2-H",
	}})
	const user, other = "203.0.113.7", "2001:db8::7"
	startFrom := func(to, ip string) reply {
		body := map[string]any{"to": to}
		if ip != "" {
			body["client_ip"] = ip
		}
		return f.post(t, "/v1/verifications", body)
	}
	for _, to := range []string{"021 100 0001", "021 100 0002"} {
		if r := startFrom(to, user); r.status != http.StatusCreated {
			t.Fatalf("start from %s: %d %v", user, r.status, r.body)
		}
	}
	// ratelimit rounds a window's end up to the next whole second, so
	// Retry-After may exceed the window by one.
	window := int(time.Hour.Seconds()) + 1
	r := startFrom("021 100 0003", user)
	wantError(t, "third start from one end user", r, http.StatusTooManyRequests, "rate_limited")
	wantRetryAfter(t, "third start from one end user", r, 1, window)
	// The number is judged before the rate limits.
	wantError(t, "invalid number from that end user", startFrom("021 23", user), http.StatusBadRequest, "invalid_phone_number")
	if r := startFrom("021 100 0003", other); r.status != http.StatusCreated {
		t.Errorf("start from another end user: %d %v", r.status, r.body)
	}
	// Without client_ip nothing is limited per IP: the TCP peer is the
	// backend, which serves every end user.
	for _, to := range []string{"021 100 0004", "021 100 0005", "021 100 0006"} {
		if r := startFrom(to, ""); r.status != http.StatusCreated {
			t.Errorf("start %s without client_ip: %d %v", to, r.status, r.body)
		}
	}
	wantError(t, "malformed client_ip", startFrom("021 100 0007", "not-an-ip"), http.StatusBadRequest, "invalid_request")

	const to, number = "021 100 0004", "64211000004"
	wrong := otherCode(f.code(t, number))
	checkFrom := func(ip string) reply {
		body := map[string]any{"to": to, "code": wrong}
		if ip != "" {
			body["client_ip"] = ip
		}
		return f.post(t, "/v1/checks", body)
	}
	wantCheck(t, "first check from one end user", checkFrom(user), "pending", false, defaultAttempts-1)
	wantCheck(t, "second check from one end user", checkFrom(user), "pending", false, defaultAttempts-2)
	r = checkFrom(user)
	wantError(t, "third check from one end user", r, http.StatusTooManyRequests, "rate_limited")
	wantRetryAfter(t, "third check from one end user", r, 1, window)
	// The refused check used no attempt.
	wantCheck(t, "check without client_ip", checkFrom(""), "pending", false, defaultAttempts-3)
}

// param reads a field of a request the fake received, wherever the client
// put it.
func param(r connexustest.Request, key string) string {
	if v := r.Form.Get(key); v != "" {
		return v
	}
	if v, ok := r.JSON[key]; ok {
		return fmt.Sprint(v)
	}
	return r.Query.Get(key)
}

func TestContractStoresTheCodeConnexusSent(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		style connexustest.Style
		// honoured: the upstream sends otpgate's msgCode.
		honoured bool
	}{
		{"detailed honours msgCode", connexustest.StyleDetailed, true},
		{"reference makes its own", connexustest.StyleReference, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{style: tt.style})
			r := f.post(t, "/v1/verifications", map[string]any{"to": "021 234 5678", "brand": "Acme"})
			if r.status != http.StatusCreated {
				t.Fatalf("start: %d %v", r.status, r.body)
			}
			id := r.body["id"].(string)
			reqs := f.otpRequests()
			if len(reqs) != 1 {
				t.Fatalf("%d sms/otp requests, want 1", len(reqs))
			}
			proposed, sent := param(reqs[0], "msgCode"), f.code(t, "64212345678")
			if !regexp.MustCompile(`^\d{6}$`).MatchString(proposed) {
				t.Errorf("msgCode %q, want 6 digits", proposed)
			}
			if param(reqs[0], "msgCompany") != "Acme" || param(reqs[0], "company_name") != "Acme" {
				t.Errorf("sms/otp got msgCompany %q, company_name %q; want both Acme", param(reqs[0], "msgCompany"), param(reqs[0], "company_name"))
			}
			if (proposed == sent) != tt.honoured {
				if !tt.honoured {
					t.Skip("the fake made up otpgate's own code (one chance in a million)")
				}
				t.Fatalf("the fake sent %s for msgCode %s", sent, proposed)
			}
			if !tt.honoured {
				wantCheck(t, "the proposed code", f.post(t, "/v1/verifications/"+id+"/check", map[string]any{"code": proposed}), "pending", false, defaultAttempts-1)
			}
			r = f.post(t, "/v1/verifications/"+id+"/check", map[string]any{"code": sent})
			if r.status != http.StatusOK || r.body["status"] != "approved" || r.body["valid"] != true {
				t.Errorf("the code Connexus sent: %d %v, want approved", r.status, r.body)
			}
		})
	}
}

func TestContractResend(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{clocked: true})
	const to, number = "021 234 5678", "64212345678"
	v := f.mustStart(t, to, http.StatusCreated)
	id := v["id"].(string)
	oldCode := f.code(t, number)
	wantCheck(t, "wrong guess", f.post(t, "/v1/verifications/"+id+"/check", map[string]any{"code": otherCode(oldCode)}), "pending", false, 4)

	f.clock.Advance(10 * time.Second)
	r := f.post(t, "/v1/verifications", map[string]any{"to": to})
	wantError(t, "resend inside the cooldown", r, http.StatusTooManyRequests, "resend_cooldown")
	wantRetryAfter(t, "resend inside the cooldown", r, 20, 20)
	if n := len(f.fake.Messages()); n != 1 {
		t.Fatalf("%d SMS after a refused resend, want 1", n)
	}

	f.clock.Advance(20 * time.Second)
	v = f.mustStart(t, to, http.StatusOK)
	if v["id"] != id || v["sends"] != float64(2) || v["attempts_left"] != float64(4) || v["status"] != "pending" {
		t.Fatalf("resend after the cooldown answered %v, want %s pending with sends 2 and attempts_left 4", v, id)
	}
	wantTime(t, "resend", v, "expires_at", f.clock.Now().Add(defaultTTL))
	wantTime(t, "resend", v, "resend_available_at", f.clock.Now().Add(defaultCooldown))
	newCode := f.code(t, number)
	left := 4
	if newCode != oldCode {
		left--
		wantCheck(t, "the replaced code", f.post(t, "/v1/verifications/"+id+"/check", map[string]any{"code": oldCode}), "pending", false, left)
	}
	left--
	wantCheck(t, "the new code", f.post(t, "/v1/checks", map[string]any{"to": to, "code": newCode}), "approved", true, left)
	if r := f.get(t, "/v1/verifications/"+id); r.body["sends"] != float64(2) || r.body["status"] != "approved" {
		t.Errorf("read after approval: %d %v", r.status, r.body)
	}
}

func TestContractMaxSends(t *testing.T) {
	t.Parallel()
	// Below RATE_LIMIT_SENDS_PER_PHONE (5-H), so the refusal is max sends.
	const maxSends = 3
	f := newFixture(t, fixtureOptions{clocked: true, env: map[string]string{"OTP_MAX_SENDS": strconv.Itoa(maxSends)}})
	const to = "021 234 5678"
	id := f.mustStart(t, to, http.StatusCreated)["id"]
	for sends := 2; sends <= maxSends; sends++ {
		f.clock.Advance(defaultCooldown)
		if v := f.mustStart(t, to, http.StatusOK); v["id"] != id || v["sends"] != float64(sends) {
			t.Fatalf("resend %d answered %v", sends, v)
		}
	}
	f.clock.Advance(defaultCooldown)
	r := f.post(t, "/v1/verifications", map[string]any{"to": to})
	wantError(t, "one send too many", r, http.StatusTooManyRequests, "max_sends_reached")
	// No new code until this verification expires, a TTL after its last send.
	wantRetryAfter(t, "one send too many", r, 1, int((defaultTTL - defaultCooldown).Seconds()))
	if n := len(f.fake.Messages()); n != maxSends {
		t.Errorf("%d SMS, want %d", n, maxSends)
	}
}

func TestContractFailedSendLeavesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	const to = "021 234 5678"
	f.fake.FailNext("sms/otp", http.StatusInternalServerError, 1)
	wantError(t, "start while Connexus fails", f.post(t, "/v1/verifications", map[string]any{"to": to}), http.StatusBadGateway, "upstream_error")
	wantError(t, "check after the failed send", f.post(t, "/v1/checks", map[string]any{"to": to, "code": "123456"}), http.StatusNotFound, "verification_not_found")
	// No cooldown: the retry at once is a first send.
	if v := f.mustStart(t, to, http.StatusCreated); v["sends"] != float64(1) {
		t.Errorf("retry answered %v, want sends 1", v)
	}
	if n, m := f.fake.RequestCount("sms/otp"), len(f.fake.Messages()); n != 2 || m != 1 {
		t.Errorf("%d sms/otp requests and %d SMS, want 2 and 1", n, m)
	}
}

func TestContractIdempotencyKey(t *testing.T) {
	t.Parallel()
	const otherKey = "other-client-secret-0123456789"
	f := newFixture(t, fixtureOptions{env: map[string]string{"OTPGATE_API_KEYS": "web:" + topologyKey + ",shop:" + otherKey}})
	idem := map[string]string{"Idempotency-Key": "order-1234"}
	body := map[string]any{"to": "021 234 5678"}
	first := f.send(t, "POST", "/v1/verifications", topologyKey, idem, body)
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %v", first.status, first.body)
	}
	again := f.send(t, "POST", "/v1/verifications", topologyKey, idem, body)
	if again.status != first.status || !reflect.DeepEqual(again.body, first.body) {
		t.Errorf("repeat answered %d %v, want the first answer %d %v", again.status, again.body, first.status, first.body)
	}
	wantError(t, "same key, other body", f.send(t, "POST", "/v1/verifications", topologyKey, idem, map[string]any{"to": "021 765 4321"}),
		http.StatusUnprocessableEntity, "idempotency_conflict")
	// The key is scoped to the API key: under another one it is a new
	// request, refused by the number's cooldown rather than replayed.
	wantError(t, "same key and body, other API key", f.send(t, "POST", "/v1/verifications", otherKey, idem, body),
		http.StatusTooManyRequests, "resend_cooldown")
	if n := len(f.fake.Messages()); n != 1 {
		t.Errorf("%d SMS, want 1", n)
	}
}

func TestContractGet(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{clocked: true})
	started := f.mustStart(t, "021 234 5678", http.StatusCreated)
	id := started["id"].(string)
	r := f.get(t, "/v1/verifications/"+id)
	if r.status != http.StatusOK || !reflect.DeepEqual(r.body, started) {
		t.Errorf("read of a pending verification: %d %v, want what start answered: %v", r.status, r.body, started)
	}
	if l, _ := r.body["lookup"].(map[string]any); l["carrier"] == nil || l["carrier"] == "" {
		t.Errorf("lookup %v, want the carrier the fake named", r.body["lookup"])
	}

	wantCheck(t, "right code", f.post(t, "/v1/verifications/"+id+"/check", map[string]any{"code": f.code(t, "64212345678")}), "approved", true, defaultAttempts-1)
	if r := f.get(t, "/v1/verifications/"+id); r.status != http.StatusOK || r.body["status"] != "approved" || r.body["attempts_left"] != float64(defaultAttempts-1) {
		t.Errorf("read after approval: %d %v", r.status, r.body)
	}

	expiring := f.mustStart(t, "021 765 4321", http.StatusCreated)["id"].(string)
	f.clock.Advance(defaultTTL)
	if r := f.get(t, "/v1/verifications/"+expiring); r.status != http.StatusOK || r.body["status"] != "expired" {
		t.Errorf("read at expires_at: %d %v, want expired", r.status, r.body)
	}

	for _, unknown := range []string{"ver_00000000000000000000000000000000", "ver_xyz", "nope"} {
		wantError(t, "read of "+unknown, f.get(t, "/v1/verifications/"+unknown), http.StatusNotFound, "verification_not_found")
	}
}

func TestContractCheckAnswers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{clocked: true})
	checkByID := func(id, code string) reply {
		return f.post(t, "/v1/verifications/"+id+"/check", map[string]any{"code": code})
	}
	checkByVerificationID := func(id, code string) reply {
		return f.post(t, "/v1/checks", map[string]any{"verification_id": id, "code": code})
	}

	t.Run("wrong guesses until none is left", func(t *testing.T) {
		const to, number = "021 100 0001", "64211000001"
		id := f.mustStart(t, to, http.StatusCreated)["id"].(string)
		wrong := otherCode(f.code(t, number))
		for left := defaultAttempts - 1; left > 0; left-- {
			// Both check forms answer alike.
			var r reply
			if left%2 == 0 {
				r = f.post(t, "/v1/checks", map[string]any{"to": to, "code": wrong})
			} else {
				r = checkByID(id, wrong)
			}
			wantCheck(t, "wrong guess", r, "pending", false, left)
		}
		wantCheck(t, "last wrong guess", checkByVerificationID(id, wrong), "max_attempts_reached", false, 0)
		right := f.code(t, number)
		wantError(t, "right code after the last attempt", checkByID(id, right), http.StatusConflict, "verification_not_pending", "max_attempts_reached")
		wantError(t, "by to after the last attempt", f.post(t, "/v1/checks", map[string]any{"to": to, "code": right}), http.StatusConflict, "verification_not_pending", "max_attempts_reached")
	})

	t.Run("right code, by to in another format", func(t *testing.T) {
		id := f.mustStart(t, "021 100 0002", http.StatusCreated)["id"].(string)
		code := f.code(t, "64211000002")
		r := f.post(t, "/v1/checks", map[string]any{"to": "+64 21 100 0002", "code": code})
		wantCheck(t, "right code", r, "approved", true, defaultAttempts-1)
		if r.body["id"] != id {
			t.Errorf("approved %v, want %s", r.body["id"], id)
		}
		wantError(t, "the spent code", checkByID(id, code), http.StatusConflict, "verification_not_pending", "approved")
		wantError(t, "the spent code by verification_id", checkByVerificationID(id, code), http.StatusConflict, "verification_not_pending", "approved")
	})

	t.Run("refused before a compare", func(t *testing.T) {
		id := f.mustStart(t, "021 100 0003", http.StatusCreated)["id"].(string)
		for _, tt := range []struct {
			name string
			path string
			body map[string]any
		}{
			{"no code", "/v1/verifications/" + id + "/check", map[string]any{}},
			{"letters", "/v1/verifications/" + id + "/check", map[string]any{"code": "12ab56"}},
			{"to and verification_id", "/v1/checks", map[string]any{"to": "021 100 0003", "verification_id": id, "code": "123456"}},
			{"neither to nor verification_id", "/v1/checks", map[string]any{"code": "123456"}},
		} {
			wantError(t, tt.name, f.post(t, tt.path, tt.body), http.StatusBadRequest, "invalid_request")
		}
		if r := f.get(t, "/v1/verifications/"+id); r.body["attempts_left"] != float64(defaultAttempts) {
			t.Errorf("attempts_left %v after refused checks, want %d", r.body["attempts_left"], defaultAttempts)
		}
	})

	t.Run("unknown", func(t *testing.T) {
		unknown := "ver_00000000000000000000000000000000"
		wantError(t, "unknown id", checkByID(unknown, "123456"), http.StatusNotFound, "verification_not_found")
		wantError(t, "unknown verification_id", checkByVerificationID(unknown, "123456"), http.StatusNotFound, "verification_not_found")
		wantError(t, "number never sent to", f.post(t, "/v1/checks", map[string]any{"to": "021 999 9999", "code": "123456"}), http.StatusNotFound, "verification_not_found")
	})

	// The subtests above share the clock; from here on it moves.
	t.Run("expired, then past retention", func(t *testing.T) {
		const to, number = "021 100 0004", "64211000004"
		expiring := f.mustStart(t, to, http.StatusCreated)["id"].(string)
		code := f.code(t, number)
		approved := f.mustStart(t, "021 100 0005", http.StatusCreated)["id"].(string)
		f.clock.Advance(time.Minute)
		wantCheck(t, "approve", checkByID(approved, f.code(t, "64211000005")), "approved", true, defaultAttempts-1)
		finished := f.clock.Now()

		f.clock.Advance(defaultTTL - time.Minute)
		wantError(t, "right code at expires_at", checkByID(expiring, code), http.StatusConflict, "verification_not_pending", "expired")
		wantError(t, "by to at expires_at", f.post(t, "/v1/checks", map[string]any{"to": to, "code": code}), http.StatusConflict, "verification_not_pending", "expired")

		// Retention runs from expires_at for an expired verification, from
		// approval for an approved one, which finished four minutes earlier.
		expiresAt := f.clock.Now()
		f.clock.Advance(defaultRetention - time.Second)
		wantError(t, "expired, a second before its retention ends", checkByID(expiring, code), http.StatusConflict, "verification_not_pending", "expired")
		if r := f.get(t, "/v1/verifications/"+expiring); r.status != http.StatusOK || r.body["status"] != "expired" {
			t.Errorf("read of the expired one within retention: %d %v", r.status, r.body)
		}
		wantError(t, "approved, past its retention", checkByID(approved, "123456"), http.StatusNotFound, "verification_not_found")
		wantError(t, "read of the approved one past retention", f.get(t, "/v1/verifications/"+approved), http.StatusNotFound, "verification_not_found")
		if f.clock.Now().Sub(finished) < defaultRetention {
			t.Fatal("the clock did not pass the approved one's retention")
		}

		f.clock.Advance(time.Second)
		if !f.clock.Now().Equal(expiresAt.Add(defaultRetention)) {
			t.Fatal("the clock is not at the expired one's retention")
		}
		wantError(t, "expired, past its retention", checkByID(expiring, code), http.StatusNotFound, "verification_not_found")
		wantError(t, "by to, past retention", f.post(t, "/v1/checks", map[string]any{"to": to, "code": code}), http.StatusNotFound, "verification_not_found")
		wantError(t, "read past retention", f.get(t, "/v1/verifications/"+expiring), http.StatusNotFound, "verification_not_found")
	})
}

func TestContractCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{clocked: true})
	const to = "021 234 5678"
	started := f.mustStart(t, to, http.StatusCreated)
	id := started["id"].(string)
	r := f.post(t, "/v1/verifications/"+id+"/cancel", nil)
	if r.status != http.StatusOK || r.body["status"] != "canceled" || r.body["id"] != id || r.body["to"] != started["to"] {
		t.Fatalf("cancel: %d %v, want 200 with the verification canceled", r.status, r.body)
	}
	wantError(t, "cancel again", f.post(t, "/v1/verifications/"+id+"/cancel", nil), http.StatusConflict, "verification_not_pending", "canceled")
	code := f.code(t, "64212345678")
	wantError(t, "check after cancel", f.post(t, "/v1/verifications/"+id+"/check", map[string]any{"code": code}), http.StatusConflict, "verification_not_pending", "canceled")
	if r := f.get(t, "/v1/verifications/"+id); r.body["status"] != "canceled" {
		t.Errorf("read after cancel: %d %v", r.status, r.body)
	}
	wantError(t, "cancel unknown", f.post(t, "/v1/verifications/ver_00000000000000000000000000000000/cancel", nil), http.StatusNotFound, "verification_not_found")

	// The cooldown is between sends to the number, pending or not.
	r = f.post(t, "/v1/verifications", map[string]any{"to": to})
	wantError(t, "start again at once", r, http.StatusTooManyRequests, "resend_cooldown")
	wantRetryAfter(t, "start again at once", r, int(defaultCooldown.Seconds()), int(defaultCooldown.Seconds()))
	f.clock.Advance(defaultCooldown)
	next := f.mustStart(t, to, http.StatusCreated)
	if next["id"] == id || next["sends"] != float64(1) {
		t.Errorf("start after the cooldown answered %v, want a new verification", next)
	}
	// By to, the newest verification of the number is meant.
	r = f.post(t, "/v1/checks", map[string]any{"to": to, "code": f.code(t, "64212345678")})
	wantCheck(t, "check by to after a new start", r, "approved", true, defaultAttempts-1)
	if r.body["id"] != next["id"] {
		t.Errorf("check by to approved %v, want the newest verification %v", r.body["id"], next["id"])
	}

	// An expired verification cannot be canceled either.
	expiring := f.mustStart(t, "021 765 4321", http.StatusCreated)["id"].(string)
	f.clock.Advance(defaultTTL)
	wantError(t, "cancel expired", f.post(t, "/v1/verifications/"+expiring+"/cancel", nil), http.StatusConflict, "verification_not_pending", "expired")
}

// parallel runs fn n times at once, released together.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-ready
			fn(i)
		})
	}
	close(ready)
	wg.Wait()
}

// answers collects what parallel requests were answered.
type answers struct {
	mu      sync.Mutex
	replies []reply
	errs    []error
}

func (a *answers) add(r reply, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.errs = append(a.errs, err)
		return
	}
	a.replies = append(a.replies, r)
}

func (a *answers) mustAll(t *testing.T, n int) []reply {
	t.Helper()
	if len(a.errs) > 0 || len(a.replies) != n {
		t.Fatalf("%d answers, errors %v; want %d answers", len(a.replies), a.errs, n)
	}
	return a.replies
}

func TestContractParallelWrongGuessesCompareAtMostMaxAttempts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	id := f.mustStart(t, "021 234 5678", http.StatusCreated)["id"].(string)
	wrong := otherCode(f.code(t, "64212345678"))
	before := f.metric(t, "otpgate_code_comparisons_total")

	const guesses = 50
	var got answers
	parallel(guesses, func(int) {
		got.add(f.request("POST", "/v1/verifications/"+id+"/check", topologyKey, nil, map[string]any{"code": wrong}))
	})
	// Each compared guess owns the attempt it reserved (§3): the answers
	// carry attempts_left 4, 3, 2, 1 and 0 once each, and only the 0 is
	// max_attempts_reached.
	compared := 0
	left := map[float64]int{}
	for _, r := range got.mustAll(t, guesses) {
		switch r.status {
		case http.StatusOK:
			compared++
			n, _ := r.body["attempts_left"].(float64)
			left[n]++
			want := "pending"
			if n == 0 {
				want = "max_attempts_reached"
			}
			wantCheck(t, "compared guess", r, want, false, int(n))
		default:
			wantError(t, "refused guess", r, http.StatusConflict, "verification_not_pending", "max_attempts_reached")
		}
	}
	compares := f.metric(t, "otpgate_code_comparisons_total") - before
	t.Logf("%d parallel wrong guesses: %d compared (%v bcrypt compares), answers by attempts_left %v", guesses, compared, compares, left)
	if compares > defaultAttempts || compared != defaultAttempts || compares != float64(compared) {
		t.Errorf("%v bcrypt compares, %d answers of a compared guess; want exactly OTP_MAX_ATTEMPTS (%d) of both", compares, compared, defaultAttempts)
	}
	for k := range defaultAttempts {
		if left[float64(k)] != 1 {
			t.Errorf("answers by attempts_left = %v, want each of 0..%d once", left, defaultAttempts-1)
			break
		}
	}
	if r := f.get(t, "/v1/verifications/"+id); r.body["status"] != "max_attempts_reached" || r.body["attempts_left"] != float64(0) {
		t.Errorf("read after the guesses: %d %v", r.status, r.body)
	}
}

func TestContractParallelRightGuessesApproveOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	id := f.mustStart(t, "021 234 5678", http.StatusCreated)["id"].(string)
	code := f.code(t, "64212345678")
	comparesBefore := f.metric(t, "otpgate_code_comparisons_total")
	approvalsBefore := f.metric(t, "otpgate_verifications_approved_total")

	const guesses = 20
	var got answers
	parallel(guesses, func(i int) {
		// Both check forms at once.
		if i%2 == 0 {
			got.add(f.request("POST", "/v1/verifications/"+id+"/check", topologyKey, nil, map[string]any{"code": code}))
		} else {
			got.add(f.request("POST", "/v1/checks", topologyKey, nil, map[string]any{"to": "021 234 5678", "code": code}))
		}
	})
	approved := 0
	for _, r := range got.mustAll(t, guesses) {
		if r.status == http.StatusOK {
			approved++
			if r.body["status"] != "approved" || r.body["valid"] != true || r.body["id"] != id {
				t.Errorf("approval answered %v", r.body)
			}
			continue
		}
		// Guesses refused while others held the last attempts saw the
		// verification out of attempts; the contract answers the status seen.
		wantError(t, "right guess that did not approve", r, http.StatusConflict, "verification_not_pending")
		if s := r.body["status"]; s != "approved" && s != "max_attempts_reached" {
			t.Errorf("right guess refused with status %v, want approved or max_attempts_reached", s)
		}
	}
	compares := f.metric(t, "otpgate_code_comparisons_total") - comparesBefore
	approvals := f.metric(t, "otpgate_verifications_approved_total") - approvalsBefore
	t.Logf("%d parallel right guesses: %d approved, %v bcrypt compares", guesses, approved, compares)
	if approved != 1 || approvals != 1 {
		t.Errorf("%d approving answers and %v counted approvals, want exactly 1", approved, approvals)
	}
	if compares < 1 || compares > defaultAttempts {
		t.Errorf("%v bcrypt compares, want 1 to OTP_MAX_ATTEMPTS (%d)", compares, defaultAttempts)
	}
	if r := f.get(t, "/v1/verifications/"+id); r.body["status"] != "approved" {
		t.Errorf("read after the guesses: %d %v", r.status, r.body)
	}
}

func TestContractParallelStartsSendOneSMS(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	// One number, as users and retrying backends write it.
	formats := []string{"021 234 5678", "0212345678", "+64 21 234 5678", "64212345678", "(021) 234-5678"}
	const starts = 30
	var got answers
	parallel(starts, func(i int) {
		got.add(f.request("POST", "/v1/verifications", topologyKey, nil, map[string]any{"to": formats[i%len(formats)]}))
	})
	created := 0
	for _, r := range got.mustAll(t, starts) {
		if r.status == http.StatusCreated {
			created++
			continue
		}
		wantError(t, "parallel start", r, http.StatusTooManyRequests, "resend_cooldown")
		// Whether the first send was still in flight or done, the wait is
		// at most the cooldown.
		wantRetryAfter(t, "parallel start", r, 1, 30)
	}
	if n, m := f.fake.RequestCount("sms/otp"), len(f.fake.Messages()); created != 1 || n != 1 || m != 1 {
		t.Errorf("%d created, %d sms/otp requests, %d SMS; want 1 of each", created, n, m)
	}
}

// TestContractShortRetention runs the program with OTP_RETENTION=3s and a
// 30 s cooldown (§1): approved, canceled and expired verifications vanish
// 3 s after they end, while the cooldown of each number holds for its own
// 30 s from the send.
func TestContractShortRetention(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{clocked: true, env: map[string]string{"OTP_RETENTION": "3s", "OTP_TTL": "10s"}})
	const approvedTo, canceledTo, expiredTo = "021 234 5678", "021 234 5679", "021 234 5670"
	approved := f.mustStart(t, approvedTo, http.StatusCreated)["id"].(string)
	canceled := f.mustStart(t, canceledTo, http.StatusCreated)["id"].(string)
	expired := f.mustStart(t, expiredTo, http.StatusCreated)["id"].(string)
	wantCheck(t, "right code", f.post(t, "/v1/verifications/"+approved+"/check", map[string]any{"code": f.code(t, "64212345678")}), "approved", true, defaultAttempts-1)
	if r := f.post(t, "/v1/verifications/"+canceled+"/cancel", nil); r.status != http.StatusOK {
		t.Fatalf("cancel: %d %v", r.status, r.body)
	}

	f.clock.Advance(3 * time.Second)
	for _, id := range []string{approved, canceled} {
		if r := f.get(t, "/v1/verifications/"+id); r.status != http.StatusNotFound {
			t.Errorf("%s 3 s after it ended: %d %v, want 404", id, r.status, r.body)
		}
	}
	f.clock.Advance(10 * time.Second) // expired at 10 s, gone at 13 s
	if r := f.get(t, "/v1/verifications/"+expired); r.status != http.StatusNotFound {
		t.Errorf("expired verification 3 s after its expiry: %d %v, want 404", r.status, r.body)
	}
	for _, to := range []string{approvedTo, canceledTo, expiredTo} {
		r := f.post(t, "/v1/verifications", map[string]any{"to": to})
		wantError(t, "start 13 s after the send", r, http.StatusTooManyRequests, "resend_cooldown")
		wantRetryAfter(t, "start 13 s after the send", r, 17, 17)
	}
	f.clock.Advance(17 * time.Second)
	for _, to := range []string{approvedTo, canceledTo, expiredTo} {
		f.mustStart(t, to, http.StatusCreated)
	}
	if n := len(f.fake.Messages()); n != 6 {
		t.Errorf("%d SMS, want 6", n)
	}
}
