package twilio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/api/twilio"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

const (
	service   = "VA0123456789abcdef0123456789abcdef"
	keyName   = "shop"
	keySecret = "shopsecret0123456789"
	mobile    = "+64211234567"
)

// sender is an otp.Sender that records the codes and brands it sent.
type sender struct {
	mu    sync.Mutex
	sends []otp.SendRequest
	fail  error
}

func (s *sender) SendCode(_ context.Context, req otp.SendRequest) (otp.SendResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return otp.SendResult{}, s.fail
	}
	s.sends = append(s.sends, req)
	return otp.SendResult{MessageID: fmt.Sprint(len(s.sends)), Code: req.Code}, nil
}

func (s *sender) last(t *testing.T) otp.SendRequest {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sends) == 0 {
		t.Fatal("nothing was sent")
	}
	return s.sends[len(s.sends)-1]
}

// fixture is the real API with the /v2/ dialect on a real otp.Service.
type fixture struct {
	t      *testing.T
	h      http.Handler
	rdb    *redis.Client
	sender *sender
	clock  *otptest.Clock
}

type options struct {
	services map[string]string
	edit     func(*otp.Config)
	limits   otp.Limits
	api      func(*api.Config)
	// budgets, when set, keeps the service's send budgets under the
	// default BudgetConfig.
	budgets otp.Budgets
	// factors, when set, serves Entities, Factors and Challenges, with
	// skew as TOTP_SKEW.
	factors api.Factors
	skew    int
}

func newFixture(t *testing.T, rdb *redis.Client, o options) *fixture {
	t.Helper()
	f := &fixture{t: t, rdb: rdb, sender: &sender{}, clock: otptest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))}
	cfg := otp.DefaultConfig()
	cfg.Lookup = otp.LookupOff
	cfg.BcryptCost = bcrypt.MinCost
	if o.edit != nil {
		o.edit(&cfg)
	}
	opts := []otp.Option{otp.WithClock(f.clock.Now), otp.WithLimits(o.limits)}
	if o.budgets != nil {
		opts = append(opts, otp.WithBudgets(o.budgets, otp.DefaultBudgetConfig()))
	}
	svc, err := otp.NewService(cfg, redisstore.New(rdb), f.sender, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if o.services == nil {
		o.services = map[string]string{service: "Acme Shop"}
	}
	v2, err := twilio.New(twilio.Config{Verifier: svc, Services: o.services, Factors: o.factors, FactorSkew: o.skew, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	acfg := api.Config{
		Verifier:    svc,
		Idempotency: redisstore.NewIdempotency(rdb),
		Ready:       svc.Ready,
		ClientKeys:  map[string]string{keyName: keySecret},
		Now:         f.clock.Now,
		Dialects:    []api.Dialect{v2},
	}
	if o.api != nil {
		o.api(&acfg)
	}
	if f.h, err = api.New(acfg); err != nil {
		t.Fatal(err)
	}
	return f
}

// mini is a fixture on a fresh miniredis.
func mini(t *testing.T, o options) *fixture {
	rdb, _ := redistest.Mini(t)
	return newFixture(t, rdb, o)
}

// do sends a form (nil for none) with the fixture's key; extra headers are
// name/value pairs, an empty value deleting the header.
func (f *fixture) do(method, path string, form url.Values, headers ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	var body string
	if form != nil {
		body = form.Encode()
	}
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.SetBasicAuth(keyName, keySecret)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// raw posts body, a form written by hand, with the fixture's key.
func (f *fixture) raw(method, path, body string) *httptest.ResponseRecorder {
	f.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.SetBasicAuth(keyName, keySecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func (f *fixture) create(form url.Values) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.do("POST", "/v2/Services/"+service+"/Verifications", form)
}

func (f *fixture) check(form url.Values) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.do("POST", "/v2/Services/"+service+"/VerificationCheck", form)
}

// mustCreate starts a verification of mobile and returns it.
func (f *fixture) mustCreate() map[string]any {
	f.t.Helper()
	rec := f.create(url.Values{"To": {mobile}, "Channel": {"sms"}})
	if rec.Code != http.StatusCreated {
		f.t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	return decode(f.t, rec)
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return m
}

// wantError checks that rec is Twilio's error shape, exactly, with status
// equal to the HTTP status.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status, code int) string {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d (body %s)", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want JSON", ct)
	}
	var e struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
		Status   int    `json:"status"`
	}
	dec := json.NewDecoder(strings.NewReader(rec.Body.String()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %q: %v", rec.Body, err)
	}
	if e.Code != code || e.Status != status || e.Message == "" ||
		e.MoreInfo != fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code) {
		t.Errorf("error = %+v, want code %d status %d", e, code, status)
	}
	return e.Message
}
