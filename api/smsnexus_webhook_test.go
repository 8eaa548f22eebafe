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
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/otpgate/otpgate/otp/smsnexusotp"
	"github.com/otpgate/otpgate/smsnexus"
	"github.com/otpgate/otpgate/smsnexus/smsnexustest"
)

// nexusGateway is the API on a Service that sends through the SMS Nexus
// fake, behind a Failover as cmd/otpgate builds it, so message ids carry
// the sender's name.
func nexusGateway(t *testing.T) (*gateway, *smsnexustest.Server, *smsnexus.Client) {
	t.Helper()
	c, up := smsnexustest.NewClient(t, smsnexustest.AllowInsecureWebhooks())
	adapter, err := smsnexusotp.New(c)
	if err != nil {
		t.Fatal(err)
	}
	failover, err := otp.NewFailover([]otp.NamedSender{{Name: otp.SenderSMSNexus, Sender: adapter}}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rdb, _ := redistest.Mini(t)
	f := &fixture{t: t, rdb: rdb, clock: otptest.NewClock(time.Now()), logs: &otptest.LogBuffer{}}
	if f.metrics, err = api.NewMetrics(nil); err != nil {
		t.Fatal(err)
	}
	svcCfg := otp.DefaultConfig()
	svcCfg.Lookup = otp.LookupOff
	svcCfg.BcryptCost = bcrypt.MinCost
	svc, err := otp.NewService(svcCfg, redisstore.New(rdb), failover, otp.WithClock(f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	if f.h, err = api.New(api.Config{
		Verifier: svc, Idempotency: redisstore.NewIdempotency(rdb), Ready: svc.Ready,
		ClientKeys: map[string]string{"shop": clientSecret}, AdminKeys: map[string]string{"ops": adminSecret},
		Logger:  slog.New(slog.NewJSONHandler(f.logs, nil)),
		Metrics: f.metrics, Now: f.clock.Now,
		WebhookToken: webhookToken, Deliveries: svc, Inbound: redisstore.NewInbound(rdb),
	}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(f.h)
	t.Cleanup(ts.Close)
	return &gateway{fixture: f, url: ts.URL}, up, c
}

func TestSMSNexusDeliveryReports(t *testing.T) {
	g, up, client := nexusGateway(t)
	hook := g.url + "/v1/webhooks/smsnexus?token=" + webhookToken
	if _, err := client.CreateWebhook(context.Background(), hook, []string{smsnexus.EventMessageDelivered, smsnexus.EventMessageFailed}); err != nil {
		t.Fatalf("register the webhook: %v", err)
	}
	id := g.startVerification()
	msgs := up.Messages()
	if len(msgs) != 1 {
		t.Fatalf("the fake sent %d SMS, want 1", len(msgs))
	}
	if err := up.Deliver(context.Background(), msgs[0].ID, smsnexus.StatusFailed); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	var v struct {
		Sender   string `json:"sender"`
		Delivery *struct {
			Status string `json:"status"`
		} `json:"delivery"`
	}
	rec := g.do("GET", "/v1/verifications/"+id, "")
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.Delivery == nil {
		t.Fatalf("GET verification: %s (%v)", rec.Body, err)
	}
	if v.Delivery.Status != "failed" || v.Sender != "smsnexus" {
		t.Errorf("verification = %s, want sender smsnexus and delivery failed", rec.Body)
	}
	if m := g.do("GET", "/metrics", "").Body.String(); !strings.Contains(m, `otpgate_delivery_reports_total{status="failed"} 1`) {
		t.Error("the report was not counted")
	}
}

func TestSMSNexusWebhookAnswers(t *testing.T) {
	g, _, _ := nexusGateway(t)
	hook := g.url + "/v1/webhooks/smsnexus?token="
	for _, tc := range []struct {
		name, token, payload string
		want                 int
	}{
		{"unknown message", webhookToken, `{"event":"message.delivered","data":{"id":999999}}`, http.StatusOK},
		{"not a delivery report", webhookToken, `{"event":"message.received","data":{"id":5,"from":"+6421000000"}}`, http.StatusOK},
		{"no event", webhookToken, `{"hello":"world"}`, http.StatusBadRequest},
		{"not JSON", webhookToken, `<xml/>`, http.StatusBadRequest},
		{"wrong token", "nope", `{"event":"message.delivered","data":{"id":1}}`, http.StatusUnauthorized},
		{"no token", "", `{"event":"message.delivered","data":{"id":1}}`, http.StatusUnauthorized},
	} {
		if got := g.post(t, hook+tc.token, tc.payload); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := g.post(t, hook+webhookToken, `{"event":"message.delivered","data":{"id":1,"pad":"`+strings.Repeat("x", 70<<10)+`"}}`); got != http.StatusRequestEntityTooLarge {
		t.Errorf("a 70 KiB event: %d, want 413", got)
	}
}
