package main

// The end-to-end suite of CONTRACT.md §3: every rule of verifications,
// driven over HTTP against the whole program on its own real Redis, with
// the Connexus fake as upstream. Hashing runs at OTP_BCRYPT_COST=4 (from
// productionEnv) so that the suite stays quick under -race; the cost does
// not change any rule tested here.

import (
	"context"
	"encoding/json"
	"errors"
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

	"github.com/otpgate/otpgate/client"
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

// post sends a JSON body with the client key, for what the Go client
// never sends: malformed bodies, the verification_id form of /v1/checks.
func (f *fixture) post(t *testing.T, path string, body any) reply {
	t.Helper()
	return f.send(t, "POST", path, topologyKey, nil, body)
}

// get reads path with the client key, as raw JSON: for comparing the wire
// object with what else carries it (events).
func (f *fixture) get(t *testing.T, path string) reply {
	t.Helper()
	return f.send(t, "GET", path, topologyKey, nil, nil)
}

// started is what the Go client made of a start.
type started struct {
	*client.Verification
	resp *client.Response
	err  error
}

// start starts a verification through the Go client, with the client key
// topologyKey, as do the helpers below.
func (in *instance) start(t *testing.T, p *client.StartParams) started {
	t.Helper()
	v, resp, err := in.client(t, topologyKey).Start(t.Context(), p)
	return started{v, resp, err}
}

// mustStart starts a verification of to and wants the given status (201
// for a new one, 200 for a resend).
func (in *instance) mustStart(t *testing.T, to string, want int) *client.Verification {
	t.Helper()
	s := in.start(t, &client.StartParams{To: to})
	if s.err != nil || s.resp.StatusCode != want {
		t.Fatalf("start %q: %v, want %d", to, s.err, want)
	}
	return s.Verification
}

// startErr starts a verification of to and returns the refusal.
func (in *instance) startErr(t *testing.T, to string) error {
	t.Helper()
	return in.start(t, &client.StartParams{To: to}).err
}

// checked is what the Go client made of a check.
type checked struct {
	*client.CheckResult
	err error
}

// check guesses code for verification id.
func (in *instance) check(t *testing.T, id, code string) checked {
	t.Helper()
	res, _, err := in.client(t, topologyKey).Check(t.Context(), id, &client.CheckParams{Code: code})
	return checked{res, err}
}

// checkTo guesses code for the newest verification of to.
func (in *instance) checkTo(t *testing.T, to, code string) checked {
	t.Helper()
	res, _, err := in.client(t, topologyKey).CheckByTo(t.Context(), to, &client.CheckParams{Code: code})
	return checked{res, err}
}

// read reads verification id.
func (in *instance) read(t *testing.T, id string) (*client.Verification, error) {
	t.Helper()
	v, _, err := in.client(t, topologyKey).Get(t.Context(), id)
	return v, err
}

// cancel cancels verification id.
func (in *instance) cancel(t *testing.T, id string) (*client.Verification, error) {
	t.Helper()
	v, _, err := in.client(t, topologyKey).Cancel(t.Context(), id)
	return v, err
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

// errOf is the error of a call answering a verification.
func errOf(_ *client.Verification, err error) error { return err }

// wantCheckReply is wantCheck for a raw answer.
func wantCheckReply(t *testing.T, what string, r reply, status string, valid bool, attemptsLeft int) {
	t.Helper()
	if r.status != http.StatusOK || r.body["status"] != status || r.body["valid"] != valid || r.body["attempts_left"] != float64(attemptsLeft) {
		t.Errorf("%s: %d %v, want 200 status %s, valid %v, attempts_left %d", what, r.status, r.body, status, valid, attemptsLeft)
	}
}

// wantCheck wants a compared guess's 200 answer.
func wantCheck(t *testing.T, what string, c checked, status string, valid bool, attemptsLeft int) {
	t.Helper()
	if c.err != nil || c.Status != status || c.Valid != valid || c.AttemptsLeft != attemptsLeft {
		t.Errorf("%s: %+v %v, want 200 status %s, valid %v, attempts_left %d", what, c.CheckResult, c.err, status, valid, attemptsLeft)
	}
}

// wantErr is wantError for an error the Go client returned.
func wantErr(t *testing.T, what string, err error, status int, code string, verificationStatus ...string) {
	t.Helper()
	wantError(t, what, errorReply(t, what, err), status, code, verificationStatus...)
}

// errorReply is the answer behind the *client.Error err, as it came over
// the wire, after checking that the client read it right: its code,
// message, request id, top-level status and Retry-After.
func errorReply(t *testing.T, what string, err error) reply {
	t.Helper()
	e, ok := errors.AsType[*client.Error](err)
	if !ok {
		t.Errorf("%s: %v, want an error answer", what, err)
		return reply{}
	}
	stored, _ := errorBodies.Load(e.Response)
	raw, _ := stored.([]byte)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Errorf("%s: body is not JSON: %s", what, raw)
	}
	r := reply{status: e.Response.StatusCode, header: e.Response.Header, body: body}
	wire, _ := body["error"].(map[string]any)
	status, _ := body["status"].(string)
	if e.Status != r.status || e.Code != wire["code"] || e.Message != wire["message"] || e.RequestID != wire["request_id"] || e.VerificationStatus != status {
		t.Errorf("%s: the client read %+v from %d %s", what, e, r.status, raw)
	}
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err == nil && e.RetryAfter != time.Duration(secs)*time.Second {
		t.Errorf("%s: RetryAfter %v from Retry-After %d", what, e.RetryAfter, secs)
	}
	return r
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

// wantTime wants a time the client read equal to want.
func wantTime(t *testing.T, what, field string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s: %s %s, want %s", what, field, got.Format(time.RFC3339), want.UTC().Format(time.RFC3339))
	}
}

// otherCode is a well-formed code that is not code.
func otherCode(code string) string {
	last := (code[len(code)-1]-'0'+1)%10 + '0'
	return code[:len(code)-1] + string(last)
}

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
		if !idPattern.MatchString(v.ID) || v.To != tt.want || v.Channel != "sms" || v.Status != client.StatusPending ||
			v.AttemptsLeft != defaultAttempts || v.Sends != 1 {
			t.Errorf("start %q answered %+v, want a pending verification of %s", tt.to, v, tt.want)
			continue
		}
		if v.CreatedAt.IsZero() {
			t.Errorf("start %q: no created_at", tt.to)
			continue
		}
		wantTime(t, "start "+tt.to, "expires_at", v.ExpiresAt, v.CreatedAt.Add(defaultTTL))
		wantTime(t, "start "+tt.to, "resend_available_at", v.ResendAvailableAt, v.CreatedAt.Add(defaultCooldown))
		// Only NZ numbers are looked up.
		if looked := v.Lookup != nil; looked != tt.nz {
			t.Errorf("start %q: lookup %+v, want it present: %v", tt.to, v.Lookup, tt.nz)
		}
		if _, ok := f.fake.LastCode(tt.want); !ok {
			t.Errorf("start %q: no code reached %s", tt.to, tt.want)
		}
	}
	if got := len(f.otpRequests()); got != len(tests) {
		t.Errorf("%d sms/otp requests, want %d", got, len(tests))
	}
	// Another way of writing a number is the same number: its cooldown holds.
	wantErr(t, "restart in another format", f.startErr(t, "+64 (21) 234-5678"), http.StatusTooManyRequests, "resend_cooldown")
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
	// An empty ip sends no client_ip.
	startFrom := func(to, ip string) error {
		return f.start(t, &client.StartParams{To: to, ClientIP: ip}).err
	}
	for _, to := range []string{"021 100 0001", "021 100 0002"} {
		if err := startFrom(to, user); err != nil {
			t.Fatalf("start from %s: %v", user, err)
		}
	}
	// ratelimit rounds a window's end up to the next whole second, so
	// Retry-After may exceed the window by one.
	window := int(time.Hour.Seconds()) + 1
	err := startFrom("021 100 0003", user)
	wantErr(t, "third start from one end user", err, http.StatusTooManyRequests, "rate_limited")
	wantRetryAfter(t, "third start from one end user", errorReply(t, "third start", err), 1, window)
	// The number is judged before the rate limits.
	wantErr(t, "invalid number from that end user", startFrom("021 23", user), http.StatusBadRequest, "invalid_phone_number")
	if err := startFrom("021 100 0003", other); err != nil {
		t.Errorf("start from another end user: %v", err)
	}
	// Without client_ip nothing is limited per IP: the TCP peer is the
	// backend, which serves every end user.
	for _, to := range []string{"021 100 0004", "021 100 0005", "021 100 0006"} {
		if err := startFrom(to, ""); err != nil {
			t.Errorf("start %s without client_ip: %v", to, err)
		}
	}
	wantErr(t, "malformed client_ip", startFrom("021 100 0007", "not-an-ip"), http.StatusBadRequest, "invalid_request")

	const to, number = "021 100 0004", "64211000004"
	wrong := otherCode(f.code(t, number))
	checkFrom := func(ip string) checked {
		res, _, err := f.client(t, topologyKey).CheckByTo(t.Context(), to, &client.CheckParams{Code: wrong, ClientIP: ip})
		return checked{res, err}
	}
	wantCheck(t, "first check from one end user", checkFrom(user), "pending", false, defaultAttempts-1)
	wantCheck(t, "second check from one end user", checkFrom(user), "pending", false, defaultAttempts-2)
	err = checkFrom(user).err
	wantErr(t, "third check from one end user", err, http.StatusTooManyRequests, "rate_limited")
	wantRetryAfter(t, "third check from one end user", errorReply(t, "third check", err), 1, window)
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
			s := f.start(t, &client.StartParams{To: "021 234 5678", Brand: "Acme"})
			if s.err != nil || s.resp.StatusCode != http.StatusCreated {
				t.Fatalf("start: %v", s.err)
			}
			id := s.ID
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
				wantCheck(t, "the proposed code", f.check(t, id, proposed), "pending", false, defaultAttempts-1)
			}
			if c := f.check(t, id, sent); c.err != nil || c.Status != client.StatusApproved || !c.Valid {
				t.Errorf("the code Connexus sent: %+v %v, want approved", c.CheckResult, c.err)
			}
		})
	}
}

func TestContractResend(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{clocked: true})
	const to, number = "021 234 5678", "64212345678"
	v := f.mustStart(t, to, http.StatusCreated)
	id := v.ID
	oldCode := f.code(t, number)
	wantCheck(t, "wrong guess", f.check(t, id, otherCode(oldCode)), "pending", false, 4)

	f.clock.Advance(10 * time.Second)
	err := f.startErr(t, to)
	wantErr(t, "resend inside the cooldown", err, http.StatusTooManyRequests, "resend_cooldown")
	wantRetryAfter(t, "resend inside the cooldown", errorReply(t, "resend inside the cooldown", err), 20, 20)
	if n := len(f.fake.Messages()); n != 1 {
		t.Fatalf("%d SMS after a refused resend, want 1", n)
	}

	f.clock.Advance(20 * time.Second)
	v = f.mustStart(t, to, http.StatusOK)
	if v.ID != id || v.Sends != 2 || v.AttemptsLeft != 4 || v.Status != client.StatusPending {
		t.Fatalf("resend after the cooldown answered %+v, want %s pending with sends 2 and attempts_left 4", v, id)
	}
	wantTime(t, "resend", "expires_at", v.ExpiresAt, f.clock.Now().Add(defaultTTL))
	wantTime(t, "resend", "resend_available_at", v.ResendAvailableAt, f.clock.Now().Add(defaultCooldown))
	newCode := f.code(t, number)
	left := 4
	if newCode != oldCode {
		left--
		wantCheck(t, "the replaced code", f.check(t, id, oldCode), "pending", false, left)
	}
	left--
	wantCheck(t, "the new code", f.checkTo(t, to, newCode), "approved", true, left)
	if v, err := f.read(t, id); err != nil || v.Sends != 2 || v.Status != client.StatusApproved {
		t.Errorf("read after approval: %+v %v", v, err)
	}
}

func TestContractMaxSends(t *testing.T) {
	t.Parallel()
	// Below RATE_LIMIT_SENDS_PER_PHONE (5-H), so the refusal is max sends.
	const maxSends = 3
	f := newFixture(t, fixtureOptions{clocked: true, env: map[string]string{"OTP_MAX_SENDS": strconv.Itoa(maxSends)}})
	const to = "021 234 5678"
	id := f.mustStart(t, to, http.StatusCreated).ID
	for sends := 2; sends <= maxSends; sends++ {
		f.clock.Advance(defaultCooldown)
		if v := f.mustStart(t, to, http.StatusOK); v.ID != id || v.Sends != sends {
			t.Fatalf("resend %d answered %+v", sends, v)
		}
	}
	f.clock.Advance(defaultCooldown)
	r := errorReply(t, "one send too many", f.startErr(t, to))
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
	wantErr(t, "start while Connexus fails", f.startErr(t, to), http.StatusBadGateway, "upstream_error")
	wantErr(t, "check after the failed send", f.checkTo(t, to, "123456").err, http.StatusNotFound, "verification_not_found")
	// No cooldown: the retry at once is a first send.
	if v := f.mustStart(t, to, http.StatusCreated); v.Sends != 1 {
		t.Errorf("retry answered %+v, want sends 1", v)
	}
	if n, m := f.fake.RequestCount("sms/otp"), len(f.fake.Messages()); n != 2 || m != 1 {
		t.Errorf("%d sms/otp requests and %d SMS, want 2 and 1", n, m)
	}
}

func TestContractIdempotencyKey(t *testing.T) {
	t.Parallel()
	const otherKey = "other-client-secret-0123456789"
	f := newFixture(t, fixtureOptions{env: map[string]string{"OTPGATE_API_KEYS": "web:" + topologyKey + ",shop:" + otherKey}})
	params := &client.StartParams{To: "021 234 5678", IdempotencyKey: "order-1234"}
	first := f.start(t, params)
	if first.err != nil || first.resp.StatusCode != http.StatusCreated {
		t.Fatalf("first: %v", first.err)
	}
	again := f.start(t, params)
	if again.err != nil || again.resp.StatusCode != first.resp.StatusCode || !reflect.DeepEqual(again.Verification, first.Verification) {
		t.Errorf("repeat answered %+v %v, want the first answer %+v", again.Verification, again.err, first.Verification)
	}
	wantErr(t, "same key, other body", f.start(t, &client.StartParams{To: "021 765 4321", IdempotencyKey: "order-1234"}).err,
		http.StatusUnprocessableEntity, "idempotency_conflict")
	// The key is scoped to the API key: under another one it is a new
	// request, refused by the number's cooldown rather than replayed.
	_, _, err := f.client(t, otherKey).Start(t.Context(), params)
	wantErr(t, "same key and body, other API key", err, http.StatusTooManyRequests, "resend_cooldown")
	if n := len(f.fake.Messages()); n != 1 {
		t.Errorf("%d SMS, want 1", n)
	}
}

func TestContractGet(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{clocked: true})
	started := f.mustStart(t, "021 234 5678", http.StatusCreated)
	id := started.ID
	v, err := f.read(t, id)
	if err != nil || !reflect.DeepEqual(v, started) {
		t.Errorf("read of a pending verification: %+v %v, want what start answered: %+v", v, err, started)
	}
	if v == nil || v.Lookup == nil || v.Lookup.Carrier == "" {
		t.Errorf("lookup of %+v, want the carrier the fake named", v)
	}

	wantCheck(t, "right code", f.check(t, id, f.code(t, "64212345678")), "approved", true, defaultAttempts-1)
	if v, err := f.read(t, id); err != nil || v.Status != client.StatusApproved || v.AttemptsLeft != defaultAttempts-1 {
		t.Errorf("read after approval: %+v %v", v, err)
	}

	expiring := f.mustStart(t, "021 765 4321", http.StatusCreated).ID
	f.clock.Advance(defaultTTL)
	if v, err := f.read(t, expiring); err != nil || v.Status != client.StatusExpired {
		t.Errorf("read at expires_at: %+v %v, want expired", v, err)
	}

	for _, unknown := range []string{"ver_00000000000000000000000000000000", "ver_xyz", "nope"} {
		_, err := f.read(t, unknown)
		wantErr(t, "read of "+unknown, err, http.StatusNotFound, "verification_not_found")
	}
}

func TestContractCheckAnswers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{clocked: true})
	checkByID := func(id, code string) checked { return f.check(t, id, code) }
	checkByVerificationID := func(id, code string) reply {
		return f.post(t, "/v1/checks", map[string]any{"verification_id": id, "code": code})
	}

	t.Run("wrong guesses until none is left", func(t *testing.T) {
		const to, number = "021 100 0001", "64211000001"
		id := f.mustStart(t, to, http.StatusCreated).ID
		wrong := otherCode(f.code(t, number))
		for left := defaultAttempts - 1; left > 0; left-- {
			// Both check forms answer alike.
			var r checked
			if left%2 == 0 {
				r = f.checkTo(t, to, wrong)
			} else {
				r = checkByID(id, wrong)
			}
			wantCheck(t, "wrong guess", r, "pending", false, left)
		}
		wantCheckReply(t, "last wrong guess", checkByVerificationID(id, wrong), "max_attempts_reached", false, 0)
		right := f.code(t, number)
		wantErr(t, "right code after the last attempt", checkByID(id, right).err, http.StatusConflict, "verification_not_pending", "max_attempts_reached")
		wantErr(t, "by to after the last attempt", f.checkTo(t, to, right).err, http.StatusConflict, "verification_not_pending", "max_attempts_reached")
	})

	t.Run("right code, by to in another format", func(t *testing.T) {
		id := f.mustStart(t, "021 100 0002", http.StatusCreated).ID
		code := f.code(t, "64211000002")
		r := f.checkTo(t, "+64 21 100 0002", code)
		wantCheck(t, "right code", r, "approved", true, defaultAttempts-1)
		if r.err == nil && r.ID != id {
			t.Errorf("approved %v, want %s", r.ID, id)
		}
		wantErr(t, "the spent code", checkByID(id, code).err, http.StatusConflict, "verification_not_pending", "approved")
		wantError(t, "the spent code by verification_id", checkByVerificationID(id, code), http.StatusConflict, "verification_not_pending", "approved")
	})

	t.Run("refused before a compare", func(t *testing.T) {
		id := f.mustStart(t, "021 100 0003", http.StatusCreated).ID
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
		if v, err := f.read(t, id); err != nil || v.AttemptsLeft != defaultAttempts {
			t.Errorf("read after refused checks: %+v %v, want attempts_left %d", v, err, defaultAttempts)
		}
	})

	t.Run("unknown", func(t *testing.T) {
		unknown := "ver_00000000000000000000000000000000"
		wantErr(t, "unknown id", checkByID(unknown, "123456").err, http.StatusNotFound, "verification_not_found")
		wantError(t, "unknown verification_id", checkByVerificationID(unknown, "123456"), http.StatusNotFound, "verification_not_found")
		wantErr(t, "number never sent to", f.checkTo(t, "021 999 9999", "123456").err, http.StatusNotFound, "verification_not_found")
	})

	// The subtests above share the clock; from here on it moves.
	t.Run("expired, then past retention", func(t *testing.T) {
		const to, number = "021 100 0004", "64211000004"
		expiring := f.mustStart(t, to, http.StatusCreated).ID
		code := f.code(t, number)
		approved := f.mustStart(t, "021 100 0005", http.StatusCreated).ID
		f.clock.Advance(time.Minute)
		wantCheck(t, "approve", checkByID(approved, f.code(t, "64211000005")), "approved", true, defaultAttempts-1)
		finished := f.clock.Now()

		f.clock.Advance(defaultTTL - time.Minute)
		wantErr(t, "right code at expires_at", checkByID(expiring, code).err, http.StatusConflict, "verification_not_pending", "expired")
		wantErr(t, "by to at expires_at", f.checkTo(t, to, code).err, http.StatusConflict, "verification_not_pending", "expired")

		// Retention runs from expires_at for an expired verification, from
		// approval for an approved one, which finished four minutes earlier.
		expiresAt := f.clock.Now()
		f.clock.Advance(defaultRetention - time.Second)
		wantErr(t, "expired, a second before its retention ends", checkByID(expiring, code).err, http.StatusConflict, "verification_not_pending", "expired")
		if v, err := f.read(t, expiring); err != nil || v.Status != client.StatusExpired {
			t.Errorf("read of the expired one within retention: %+v %v", v, err)
		}
		wantErr(t, "approved, past its retention", checkByID(approved, "123456").err, http.StatusNotFound, "verification_not_found")
		wantErr(t, "read of the approved one past retention", errOf(f.read(t, approved)), http.StatusNotFound, "verification_not_found")
		if f.clock.Now().Sub(finished) < defaultRetention {
			t.Fatal("the clock did not pass the approved one's retention")
		}

		f.clock.Advance(time.Second)
		if !f.clock.Now().Equal(expiresAt.Add(defaultRetention)) {
			t.Fatal("the clock is not at the expired one's retention")
		}
		wantErr(t, "expired, past its retention", checkByID(expiring, code).err, http.StatusNotFound, "verification_not_found")
		wantErr(t, "by to, past retention", f.checkTo(t, to, code).err, http.StatusNotFound, "verification_not_found")
		wantErr(t, "read past retention", errOf(f.read(t, expiring)), http.StatusNotFound, "verification_not_found")
	})
}

func TestContractCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{clocked: true})
	const to = "021 234 5678"
	started := f.mustStart(t, to, http.StatusCreated)
	id := started.ID
	if v, err := f.cancel(t, id); err != nil || v.Status != client.StatusCanceled || v.ID != id || v.To != started.To {
		t.Fatalf("cancel: %+v %v, want 200 with the verification canceled", v, err)
	}
	wantErr(t, "cancel again", errOf(f.cancel(t, id)), http.StatusConflict, "verification_not_pending", "canceled")
	code := f.code(t, "64212345678")
	wantErr(t, "check after cancel", f.check(t, id, code).err, http.StatusConflict, "verification_not_pending", "canceled")
	if v, err := f.read(t, id); err != nil || v.Status != client.StatusCanceled {
		t.Errorf("read after cancel: %+v %v", v, err)
	}
	wantErr(t, "cancel unknown", errOf(f.cancel(t, "ver_00000000000000000000000000000000")), http.StatusNotFound, "verification_not_found")

	// The cooldown is between sends to the number, pending or not.
	err := f.startErr(t, to)
	wantErr(t, "start again at once", err, http.StatusTooManyRequests, "resend_cooldown")
	wantRetryAfter(t, "start again at once", errorReply(t, "start again at once", err), int(defaultCooldown.Seconds()), int(defaultCooldown.Seconds()))
	f.clock.Advance(defaultCooldown)
	next := f.mustStart(t, to, http.StatusCreated)
	if next.ID == id || next.Sends != 1 {
		t.Errorf("start after the cooldown answered %+v, want a new verification", next)
	}
	// By to, the newest verification of the number is meant.
	r := f.checkTo(t, to, f.code(t, "64212345678"))
	wantCheck(t, "check by to after a new start", r, "approved", true, defaultAttempts-1)
	if r.err == nil && r.ID != next.ID {
		t.Errorf("check by to approved %v, want the newest verification %v", r.ID, next.ID)
	}

	// An expired verification cannot be canceled either.
	expiring := f.mustStart(t, "021 765 4321", http.StatusCreated).ID
	f.clock.Advance(defaultTTL)
	wantErr(t, "cancel expired", errOf(f.cancel(t, expiring)), http.StatusConflict, "verification_not_pending", "expired")
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

func TestContractParallelWrongGuessesCompareAtMostMaxAttempts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	id := f.mustStart(t, "021 234 5678", http.StatusCreated).ID
	wrong := otherCode(f.code(t, "64212345678"))
	before := f.metric(t, "otpgate_code_comparisons_total")

	const guesses = 50
	c := f.client(t, topologyKey)
	got := make([]checked, guesses)
	parallel(guesses, func(i int) {
		res, _, err := c.Check(t.Context(), id, &client.CheckParams{Code: wrong})
		got[i] = checked{res, err}
	})
	// Each compared guess owns the attempt it reserved (§3): the answers
	// carry attempts_left 4, 3, 2, 1 and 0 once each, and only the 0 is
	// max_attempts_reached.
	compared := 0
	left := map[int]int{}
	for _, r := range got {
		switch {
		case r.err == nil:
			compared++
			n := r.AttemptsLeft
			left[n]++
			want := "pending"
			if n == 0 {
				want = "max_attempts_reached"
			}
			wantCheck(t, "compared guess", r, want, false, n)
		default:
			wantErr(t, "refused guess", r.err, http.StatusConflict, "verification_not_pending", "max_attempts_reached")
		}
	}
	compares := f.metric(t, "otpgate_code_comparisons_total") - before
	t.Logf("%d parallel wrong guesses: %d compared (%v bcrypt compares), answers by attempts_left %v", guesses, compared, compares, left)
	if compares > defaultAttempts || compared != defaultAttempts || compares != float64(compared) {
		t.Errorf("%v bcrypt compares, %d answers of a compared guess; want exactly OTP_MAX_ATTEMPTS (%d) of both", compares, compared, defaultAttempts)
	}
	for k := range defaultAttempts {
		if left[k] != 1 {
			t.Errorf("answers by attempts_left = %v, want each of 0..%d once", left, defaultAttempts-1)
			break
		}
	}
	if v, err := f.read(t, id); err != nil || v.Status != client.StatusMaxAttemptsReached || v.AttemptsLeft != 0 {
		t.Errorf("read after the guesses: %+v %v", v, err)
	}
}

func TestContractParallelRightGuessesApproveOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	id := f.mustStart(t, "021 234 5678", http.StatusCreated).ID
	code := f.code(t, "64212345678")
	comparesBefore := f.metric(t, "otpgate_code_comparisons_total")
	approvalsBefore := f.metric(t, "otpgate_verifications_approved_total")

	const guesses = 20
	c := f.client(t, topologyKey)
	got := make([]checked, guesses)
	parallel(guesses, func(i int) {
		// Both check forms at once.
		var res *client.CheckResult
		var err error
		if i%2 == 0 {
			res, _, err = c.Check(t.Context(), id, &client.CheckParams{Code: code})
		} else {
			res, _, err = c.CheckByTo(t.Context(), "021 234 5678", &client.CheckParams{Code: code})
		}
		got[i] = checked{res, err}
	})
	approved := 0
	for _, r := range got {
		if r.err == nil {
			approved++
			if r.Status != client.StatusApproved || !r.Valid || r.ID != id {
				t.Errorf("approval answered %+v", r.CheckResult)
			}
			continue
		}
		// Guesses refused while others held the last attempts saw the
		// verification out of attempts; the contract answers the status seen.
		wantErr(t, "right guess that did not approve", r.err, http.StatusConflict, "verification_not_pending")
		if e, _ := errors.AsType[*client.Error](r.err); e == nil || e.VerificationStatus != client.StatusApproved && e.VerificationStatus != client.StatusMaxAttemptsReached {
			t.Errorf("right guess refused with %v, want status approved or max_attempts_reached", r.err)
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
	if v, err := f.read(t, id); err != nil || v.Status != client.StatusApproved {
		t.Errorf("read after the guesses: %+v %v", v, err)
	}
}

func TestContractParallelStartsSendOneSMS(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	// One number, as users and retrying backends write it.
	formats := []string{"021 234 5678", "0212345678", "+64 21 234 5678", "64212345678", "(021) 234-5678"}
	const starts = 30
	c := f.client(t, topologyKey)
	got := make([]started, starts)
	parallel(starts, func(i int) {
		v, resp, err := c.Start(t.Context(), &client.StartParams{To: formats[i%len(formats)]})
		got[i] = started{v, resp, err}
	})
	created := 0
	for _, r := range got {
		if r.err == nil && r.resp.StatusCode == http.StatusCreated {
			created++
			continue
		}
		wantErr(t, "parallel start", r.err, http.StatusTooManyRequests, "resend_cooldown")
		// Whether the first send was still in flight or done, the wait is
		// at most the cooldown.
		wantRetryAfter(t, "parallel start", errorReply(t, "parallel start", r.err), 1, 30)
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
	approved := f.mustStart(t, approvedTo, http.StatusCreated).ID
	canceled := f.mustStart(t, canceledTo, http.StatusCreated).ID
	expired := f.mustStart(t, expiredTo, http.StatusCreated).ID
	wantCheck(t, "right code", f.check(t, approved, f.code(t, "64212345678")), "approved", true, defaultAttempts-1)
	if _, err := f.cancel(t, canceled); err != nil {
		t.Fatalf("cancel: %v", err)
	}

	f.clock.Advance(3 * time.Second)
	for _, id := range []string{approved, canceled} {
		if v, err := f.read(t, id); !client.IsNotFound(err) {
			t.Errorf("%s 3 s after it ended: %+v %v, want 404", id, v, err)
		}
	}
	f.clock.Advance(10 * time.Second) // expired at 10 s, gone at 13 s
	if v, err := f.read(t, expired); !client.IsNotFound(err) {
		t.Errorf("expired verification 3 s after its expiry: %+v %v, want 404", v, err)
	}
	for _, to := range []string{approvedTo, canceledTo, expiredTo} {
		err := f.startErr(t, to)
		wantErr(t, "start 13 s after the send", err, http.StatusTooManyRequests, "resend_cooldown")
		wantRetryAfter(t, "start 13 s after the send", errorReply(t, "start 13 s after the send", err), 17, 17)
	}
	f.clock.Advance(17 * time.Second)
	for _, to := range []string{approvedTo, canceledTo, expiredTo} {
		f.mustStart(t, to, http.StatusCreated)
	}
	if n := len(f.fake.Messages()); n != 6 {
		t.Errorf("%d SMS, want 6", n)
	}
}
