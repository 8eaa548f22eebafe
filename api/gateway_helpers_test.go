package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/connexusotp"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

const webhookToken = "whk-0123456789abcdef0123456789abcdef"

// gateway is the real Gin engine on a real otp.Service that sends through
// a connexustest fake, with the proxy and webhooks wired as cmd/otpgate
// wires them, served over HTTP so the fake can call the webhooks.
type gateway struct {
	*fixture
	up  *connexustest.Server
	url string // of the engine
}

// newGateway builds a gateway in API-key mode, or in password mode when
// password is true. edit may change the API Config before New.
func newGateway(t testing.TB, password bool, style connexustest.Style, edit ...func(*api.Config)) *gateway {
	t.Helper()
	metrics, err := api.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	// As cmd/otpgate does: the proxy reuses the client's timed transport.
	opts := []connexustest.Option{connexustest.WithStyle(style), connexustest.WithClientOptions(
		connexus.WithHTTPClient(&http.Client{Transport: metrics.InstrumentTransport(nil)}))}
	if password {
		opts = append(opts, connexustest.WithClientOptions(
			connexus.WithPassword(connexustest.DefaultUserID, connexustest.DefaultPassword)))
	}
	cx, up := connexustest.NewClient(t, opts...)
	adapter, err := connexusotp.New(cx)
	if err != nil {
		t.Fatal(err)
	}
	rdb, _ := redistest.Mini(t)
	f := &fixture{t: t, rdb: rdb, clock: otptest.NewClock(time.Now()), logs: &otptest.LogBuffer{}, metrics: metrics}
	svcCfg := otp.DefaultConfig()
	svcCfg.Lookup = otp.LookupOff
	svcCfg.BcryptCost = bcrypt.MinCost
	svc, err := otp.NewService(svcCfg, redisstore.New(rdb), adapter, otp.WithClock(f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{
		Verifier:     svc,
		Idempotency:  redisstore.NewIdempotency(rdb),
		Ready:        svc.Ready,
		ClientKeys:   map[string]string{"shop": clientSecret},
		AdminKeys:    map[string]string{"ops": adminSecret},
		Logger:       slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:      f.metrics,
		Now:          f.clock.Now,
		Connexus:     cx,
		WebhookToken: webhookToken,
		Deliveries:   svc,
		Inbound:      redisstore.NewInbound(rdb),
	}
	for _, e := range edit {
		e(&cfg)
	}
	if f.h, err = api.New(cfg); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(f.h)
	t.Cleanup(ts.Close)
	return &gateway{fixture: f, up: up, url: ts.URL}
}

// admin sends one request with the admin key.
func (g *gateway) admin(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	g.t.Helper()
	return g.do(method, path, body, append([]string{"Authorization", "Bearer " + adminSecret}, headers...)...)
}

// last returns the latest request the fake received on path.
func (g *gateway) last(path string) connexustest.Request {
	g.t.Helper()
	reqs := g.up.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Path == path {
			return reqs[i]
		}
	}
	g.t.Fatalf("the fake received nothing on %s", path)
	return connexustest.Request{}
}

// hookURL is the URL of one of the engine's webhooks, with token.
func (g *gateway) hookURL(kind, token string) string {
	return g.url + "/v1/webhooks/connexus/" + kind + "?token=" + token
}

// registerHooks points the fake's webhooks at the engine through the proxy,
// as the README tells operators to.
func (g *gateway) registerHooks() {
	g.t.Helper()
	for _, kind := range []string{"status", "in"} {
		hook := "status"
		if kind == "in" {
			hook = "inbound"
		}
		body, _ := json.Marshal(map[string]string{"url": g.hookURL(hook, webhookToken)})
		if rec := g.admin("POST", "/v1/connexus/sms/"+kind, string(body)); rec.Code != http.StatusOK {
			g.t.Fatalf("register sms/%s: %d %s", kind, rec.Code, rec.Body)
		}
	}
}

// post sends a raw webhook payload over HTTP, as Connexus would.
func (g *gateway) post(t *testing.T, url, payload string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "POST", url, strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
