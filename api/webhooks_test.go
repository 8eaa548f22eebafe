package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// TestDeliveryReportShowsOnTheVerification starts a verification through
// the fake, has the fake report its SMS undelivered in each document's
// style, and reads the delivery back.
func TestDeliveryReportShowsOnTheVerification(t *testing.T) {
	for _, style := range []connexustest.Style{connexustest.StyleDetailed, connexustest.StyleReference} {
		t.Run(fmt.Sprint("style ", style), func(t *testing.T) {
			g := newGateway(t, false, style)
			g.registerHooks()
			id := g.startVerification()
			msgs := g.up.Messages()
			msgID := msgs[len(msgs)-1].MessageID

			for _, status := range []string{"DELIVRD", "UNDELIV", "UNDELIV"} { // the last is a repeat
				if err := g.up.Deliver(msgID, status); err != nil {
					t.Fatalf("Deliver %s: %v", status, err)
				}
			}
			var v struct {
				Delivery *struct {
					Status    string `json:"status"`
					UpdatedAt string `json:"updated_at"`
				} `json:"delivery"`
			}
			rec := g.do("GET", "/v1/verifications/"+id, "")
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.Delivery == nil {
				t.Fatalf("GET verification: %s (%v)", rec.Body, err)
			}
			if v.Delivery.Status != "undelivered" || v.Delivery.UpdatedAt == "" {
				t.Errorf("delivery = %+v, want undelivered with a time", *v.Delivery)
			}
			metrics := g.do("GET", "/metrics", "").Body.String()
			for _, series := range []string{
				`otpgate_delivery_reports_total{status="delivered"} 1`,
				`otpgate_delivery_reports_total{status="undelivered"} 2`,
			} {
				if !strings.Contains(metrics, series) {
					t.Errorf("metrics lack %s", series)
				}
			}
		})
	}
}

func TestDeliveryWebhookAnswers(t *testing.T) {
	g := newGateway(t, false, connexustest.StyleDetailed)
	hook := g.hookURL("status", webhookToken)
	cases := []struct {
		name, payload string
		status        int
	}{
		{"unknown id, detailed", `{"messageId":"nope","status":"DELIVRD","statusCode":1,"timestamp":1767225600}`, 200},
		{"unknown id, reference", `{"type":"dlr","message_id":"msg_1","status":"delivered","timestamp":"2026-01-01T00:00:00Z"}`, 200},
		{"numeric id", `{"messageId":1158493,"status":"UNDELIV","statusCode":2}`, 200},
		{"unknown status", `{"messageId":"nope","status":"BLOCKED","statusCode":99}`, 200},
		{"not JSON", `messageId=1&status=DELIVRD`, 400},
		{"no message id", `{"status":"DELIVRD"}`, 400},
		{"inbound payload without sender", `{"type":"mo","message":"hi"}`, 400},
		{"empty", ``, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := g.post(t, hook, tc.payload); got != tc.status {
				t.Errorf("status = %d, want %d", got, tc.status)
			}
		})
	}
	if m := g.do("GET", "/metrics", "").Body.String(); !strings.Contains(m, `otpgate_delivery_reports_total{status="unknown"} 1`) {
		t.Error("the unknown status is not counted")
	}
}

func TestWebhookToken(t *testing.T) {
	const payload = `{"messageId":"nope","status":"DELIVRD","statusCode":1}`
	g := newGateway(t, false, connexustest.StyleDetailed)
	open := newGateway(t, false, connexustest.StyleDetailed, func(c *api.Config) { c.WebhookToken = "" })
	cases := []struct {
		name string
		g    *gateway
		url  string
		want int
	}{
		{"right token", g, g.hookURL("status", webhookToken), 200},
		{"no token", g, g.url + "/v1/webhooks/connexus/status", 401},
		{"empty token", g, g.hookURL("status", ""), 401},
		{"wrong token", g, g.hookURL("status", "whk-wrong"), 401},
		{"token prefix", g, g.hookURL("status", webhookToken[:len(webhookToken)-1]), 401},
		{"token plus", g, g.hookURL("status", webhookToken+"x"), 401},
		{"inbound, wrong token", g, g.hookURL("inbound", "whk-wrong"), 401},
		{"none configured, empty token", open, open.hookURL("status", ""), 401},
		{"none configured, any token", open, open.hookURL("inbound", webhookToken), 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.g.post(t, tc.url, payload); got != tc.want {
				t.Errorf("status = %d, want %d", got, tc.want)
			}
		})
	}
	t.Run("a bearer key is no webhook token", func(t *testing.T) {
		rec := g.admin("POST", "/v1/webhooks/connexus/status", payload)
		wantError(t, rec, http.StatusUnauthorized, "unauthorized")
	})
	if strings.Contains(g.logs.String(), webhookToken) {
		t.Error("the webhook token is in the logs")
	}
}

// nopDeliveries is a DeliveryRecorder that knows no message.
type nopDeliveries struct{}

func (nopDeliveries) RecordDelivery(context.Context, string, string, otp.Delivery) (bool, error) {
	return false, nil
}

func TestNewRefusesAWebhookTokenWithoutStores(t *testing.T) {
	rdb, _ := redistest.Mini(t)
	cfg := func(d api.DeliveryRecorder, in api.InboundStore) api.Config {
		return api.Config{Verifier: &stubVerifier{}, Idempotency: redisstore.NewIdempotency(rdb),
			Ready: func(context.Context) error { return nil }, WebhookToken: webhookToken, Deliveries: d, Inbound: in}
	}
	cases := map[string]api.Config{
		"no Deliveries": cfg(nil, redisstore.NewInbound(rdb)),
		"no Inbound":    cfg(nopDeliveries{}, nil),
	}
	for name, c := range cases {
		if _, err := api.New(c); err == nil {
			t.Errorf("%s: New accepted a WebhookToken", name)
		}
	}
	if _, err := api.New(cfg(nopDeliveries{}, redisstore.NewInbound(rdb))); err != nil {
		t.Errorf("New with both stores: %v", err)
	}
}

// inboundList reads GET /v1/inbound as the admin.
func (g *gateway) inboundList(t *testing.T, query string) []map[string]string {
	t.Helper()
	rec := g.admin("GET", "/v1/inbound"+query, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/inbound%s = %d %s", query, rec.Code, rec.Body)
	}
	var out struct {
		Messages []map[string]string `json:"messages"`
	}
	mustDecode(t, rec, &out)
	return out.Messages
}

func bodies(msgs []map[string]string) []string {
	var b []string
	for _, m := range msgs {
		b = append(b, m["body"])
	}
	return b
}

func TestInboundWebhookAndList(t *testing.T) {
	for _, style := range []connexustest.Style{connexustest.StyleDetailed, connexustest.StyleReference} {
		t.Run(fmt.Sprint("style ", style), func(t *testing.T) {
			g := newGateway(t, false, style)
			// Register through configure this time, as the README's second recipe does.
			form := "mo_webhook_url=" + url.QueryEscape(g.hookURL("inbound", webhookToken))
			if rec := g.admin("POST", "/v1/connexus/configure", form, "Content-Type", "application/x-www-form-urlencoded"); rec.Code != 200 {
				t.Fatalf("configure: %d %s", rec.Code, rec.Body)
			}
			for i := range 5 {
				if err := g.up.Inbound("+6421234567", fmt.Sprintf("reply %d", i)); err != nil {
					t.Fatalf("Inbound %d: %v", i, err)
				}
			}
			msgs := g.inboundList(t, "")
			if got, want := bodies(msgs), []string{"reply 4", "reply 3", "reply 2", "reply 1", "reply 0"}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("bodies = %q, want newest first %q", got, want)
			}
			m := msgs[0]
			if m["from"] != "6421234567" || m["to"] != connexustest.DefaultSender || m["received_at"] == "" {
				t.Errorf("message = %v", m)
			}
			if style == connexustest.StyleDetailed && m["id"] == "" {
				t.Error("the upstream message id is missing")
			}
			if got := bodies(g.inboundList(t, "?limit=2")); fmt.Sprint(got) != fmt.Sprint([]string{"reply 4", "reply 3"}) {
				t.Errorf("limit=2 bodies = %q", got)
			}
			logs := g.logs.String()
			if strings.Contains(logs, "6421234567") || strings.Contains(logs, "reply") {
				t.Error("the logs hold a full number or a message text")
			}
			if !strings.Contains(logs, otp.MaskPhone("6421234567")) {
				t.Error("inbound messages are not logged with the masked number")
			}
			if m := g.do("GET", "/metrics", "").Body.String(); !strings.Contains(m, `otpgate_inbound_messages_total{outcome="stored"} 5`) {
				t.Error("inbound messages are not counted")
			}
		})
	}
}

func TestInboundDuplicatesAreStoredOnce(t *testing.T) {
	g := newGateway(t, false, connexustest.StyleDetailed)
	hook := g.hookURL("inbound", webhookToken)
	payloads := []string{
		`{"messageId":"MO1","from":"+6421234567","to":"552","body":"yes","timestamp":1767225600,"type":"SMS"}`,
		`{"messageId":"MO1","from":"+6421234567","to":"552","body":"yes","timestamp":1767225600,"type":"SMS"}`,
		`{"type":"mo","from":"6421234567","to":"552","message":"yes","timestamp":"2026-01-01T00:00:05Z"}`,
		`{"type":"mo","from":"6421234567","to":"552","message":"yes","timestamp":"2026-01-01T00:00:05Z"}`,
		`{"type":"mo","from":"6421234567","to":"552","message":"yes","timestamp":"2026-01-01T00:00:09Z"}`,
	}
	for i, p := range payloads {
		if got := g.post(t, hook, p); got != http.StatusOK {
			t.Fatalf("payload %d: status %d", i, got)
		}
	}
	if got := g.inboundList(t, "?limit=200"); len(got) != 3 {
		t.Errorf("%d messages listed, want 3 (two were repeats): %v", len(got), got)
	}
	if m := g.do("GET", "/metrics", "").Body.String(); !strings.Contains(m, `otpgate_inbound_messages_total{outcome="duplicate"} 2`) {
		t.Error("repeats are not counted")
	}
	for _, bad := range []string{`{"body":"no sender"}`, `[1]`, `{"type":"dlr","status":"delivered"}`} {
		if got := g.post(t, hook, bad); got != http.StatusBadRequest {
			t.Errorf("payload %s: status %d, want 400", bad, got)
		}
	}
}

func TestInboundListLimits(t *testing.T) {
	g := newGateway(t, false, connexustest.StyleDetailed)
	for i := range 60 {
		g.post(t, g.hookURL("inbound", webhookToken), fmt.Sprintf(`{"messageId":"MO%d","from":"6421234567","body":"m%d"}`, i, i))
	}
	if got := g.inboundList(t, ""); len(got) != 50 || got[0]["body"] != "m59" {
		t.Errorf("default list: %d messages, newest %q; want 50, m59", len(got), got[0]["body"])
	}
	if got := g.inboundList(t, "?limit=200"); len(got) != 60 {
		t.Errorf("limit=200: %d messages, want all 60", len(got))
	}
	for _, q := range []string{"?limit=0", "?limit=201", "?limit=-1", "?limit=abc", "?limit=", "?limit=1.5"} {
		wantError(t, g.admin("GET", "/v1/inbound"+q, ""), http.StatusBadRequest, "invalid_request")
	}
	wantError(t, g.do("GET", "/v1/inbound", ""), http.StatusForbidden, "forbidden")
	wantError(t, g.do("GET", "/v1/inbound", "", "Authorization", ""), http.StatusUnauthorized, "unauthorized")
}

func TestWebhooksWhenRedisIsDown(t *testing.T) {
	g := newGateway(t, false, connexustest.StyleDetailed)
	g.rdb.Close()
	for _, tc := range []struct{ kind, payload string }{
		{"status", `{"messageId":"1","status":"DELIVRD","statusCode":1}`},
		{"inbound", `{"messageId":"MO1","from":"6421234567","body":"x"}`},
	} {
		// 503, not 200: Connexus must deliver it again later.
		if got := g.post(t, g.hookURL(tc.kind, webhookToken), tc.payload); got != http.StatusServiceUnavailable {
			t.Errorf("%s webhook with Redis down: %d, want 503", tc.kind, got)
		}
	}
	wantError(t, g.admin("GET", "/v1/inbound", ""), http.StatusServiceUnavailable, "unavailable")
}

// TestOneURLForBothKinds configures one webhook URL for both kinds, as the
// developer reference's Members Area does: each endpoint serves the other
// kind when the payload's type says so.
func TestOneURLForBothKinds(t *testing.T) {
	for _, kind := range []string{"status", "inbound"} {
		t.Run(kind, func(t *testing.T) {
			g := newGateway(t, false, connexustest.StyleReference)
			hook := g.hookURL(kind, webhookToken)
			body, _ := json.Marshal(map[string]string{"mo_webhook_url": hook, "dlr_webhook_url": hook})
			if rec := g.admin("POST", "/v1/connexus/configure", string(body)); rec.Code != http.StatusOK {
				t.Fatalf("configure: %d %s", rec.Code, rec.Body)
			}
			id := g.startVerification()
			msgs := g.up.Messages()
			if err := g.up.Deliver(msgs[len(msgs)-1].MessageID, "failed"); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			if err := g.up.Inbound("6421234567", "STOP"); err != nil {
				t.Fatalf("Inbound: %v", err)
			}
			rec := g.do("GET", "/v1/verifications/"+id, "")
			if !strings.Contains(rec.Body.String(), `"delivery":{"status":"failed"`) {
				t.Errorf("verification = %s, want delivery failed", rec.Body)
			}
			if got := bodies(g.inboundList(t, "")); fmt.Sprint(got) != "[STOP]" {
				t.Errorf("inbound bodies = %q, want [STOP]", got)
			}
		})
	}
}
