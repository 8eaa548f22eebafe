package api_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// FuzzWebhook posts payloads twice to either webhook of the real engine on
// a real otp.Service and inbound store (miniredis), whose one verification
// sent the SMS "msg-1". With Redis fine, an answer is 200 or 400 (413 over
// 64 KiB), never a 5xx, and a repeat gets the same answer (CONTRACT.md §5).
// A report the parser reads is filed: on the verification when it names
// its SMS, where a late report never moves a final state back. An inbound
// message the parser reads is listed, once when it can be told from a
// repeat. A payload the parser refuses changes nothing.
func FuzzWebhook(f *testing.F) {
	for _, p := range []string{
		`{"messageId":"msg-1","status":"DELIVRD","statusCode":1,"timestamp":1767225600}`,
		`{"type":"dlr","message_id":"msg-1","status":"undelivered","timestamp":"2026-01-01T00:00:00Z"}`,
		`{"messageId":"msg-1","status":"ENROUTE"}`, `{"messageId":"msg-1","status":"?","statusCode":4}`,
		`{"messageId":"nope","status":"DELIVRD","statusCode":1,"timestamp":1767225600}`,
		`{"type":"dlr","message_id":"msg_1","status":"delivered","timestamp":"2026-01-01T00:00:00Z"}`,
		`{"messageId":1158493,"status":"UNDELIV","statusCode":2}`, `{"messageId":"nope","status":"BLOCKED","statusCode":99}`,
		`messageId=1&status=DELIVRD`, `{"status":"DELIVRD"}`, `{"type":"mo","message":"hi"}`, ``,
		`{"messageId":"MO1","from":"+6421234567","to":"552","body":"yes","timestamp":1767225600,"type":"SMS"}`,
		`{"type":"mo","from":"6421234567","to":"552","message":"yes","timestamp":"2026-01-01T00:00:05Z"}`,
		`{"messageId":"MO2","from":"6421234567","body":"m2"}`, `{"from":"6421234567","body":"no id, no time"}`,
		`{"body":"no sender"}`, `[1]`, `{"type":"dlr","status":"delivered"}`, `{"type":5,"from":"1"}`, `{"type":"mo","type":5,"from":"1"}`,
	} {
		f.Add(false, p)
		f.Add(true, p)
	}
	inRdb, inMini := redistest.Mini(f)
	fx := newFixture(f, nil, quietLogs, func(c *api.Config) {
		c.WebhookToken = webhookToken
		c.Deliveries = c.Verifier.(api.DeliveryRecorder)
		c.Inbound = redisstore.NewInbound(inRdb)
	})
	id := fx.startVerification() // its SMS is "msg-1", from the fake sender
	f.Fuzz(func(t *testing.T, inboundHook bool, payload string) {
		fx.t = t // the fixture reports to the input being run
		inMini.FlushAll()
		hook := "/v1/webhooks/connexus/status?token=" + webhookToken
		if inboundHook {
			hook = "/v1/webhooks/connexus/inbound?token=" + webhookToken
		}
		before := deliveryStatus(t, fx, id)
		first := fx.do("POST", hook, payload, "Authorization", "")
		if again := fx.do("POST", hook, payload, "Authorization", ""); again.Code != first.Code {
			t.Fatalf("the repeat answered %d, the first post %d", again.Code, first.Code)
		}
		if len(payload) > bodyLimit {
			wantError(t, first, http.StatusRequestEntityTooLarge, "request_too_large")
			return
		}

		var ok bool
		if isInbound(inboundHook, payload) {
			ok = checkInbound(t, fx, payload)
		} else {
			ok = checkReport(t, fx, id, before, payload)
		}
		if ok && first.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200 (body %s)", first.Code, first.Body)
		}
		if !ok {
			wantError(t, first, http.StatusBadRequest, "invalid_request")
		}
	})
}

// isInbound says which kind a webhook takes a payload for: its own, or
// the other when the payload's type says so (README.md, Webhooks).
func isInbound(inboundHook bool, payload string) bool {
	var p struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal([]byte(payload), &p) // a "type" read before an error still counts
	switch strings.ToLower(p.Type) {
	case "mo", "sms":
		return true
	case "dlr":
		return false
	}
	return inboundHook
}

// checkReport checks the verification after a delivery report and says
// whether the report was one to accept.
func checkReport(t *testing.T, fx *fixture, id, before, payload string) bool {
	t.Helper()
	after := deliveryStatus(t, fx, id)
	r, err := connexus.ParseDeliveryReport([]byte(payload))
	want := before
	if err == nil && r.MessageID == "msg-1" && (rank(r.Status) >= rank(before) || before == "") {
		want = r.Status
	}
	if after != want {
		t.Fatalf("delivery %q after %q, want %q (report %+v, %v)", after, before, want, r, err)
	}
	return err == nil || errors.Is(err, connexus.ErrUnknownStatus)
}

// rank orders delivery states as reports may move them: the early ones
// only forward, every final one above them.
func rank(status string) int {
	switch status {
	case connexus.StatusQueued:
		return 1
	case connexus.StatusAccepted:
		return 2
	case connexus.StatusSent:
		return 3
	}
	return 4
}

// checkInbound checks the inbound list after a payload was posted twice
// and says whether it was a message to accept.
func checkInbound(t *testing.T, fx *fixture, payload string) bool {
	t.Helper()
	rec := fx.do("GET", "/v1/inbound?limit=200", "", "Authorization", "Bearer "+adminSecret)
	var list struct {
		Messages []map[string]string `json:"messages"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &list) != nil {
		t.Fatalf("GET /v1/inbound = %d %s", rec.Code, rec.Body)
	}
	m, err := connexus.ParseInbound([]byte(payload))
	if err != nil {
		if len(list.Messages) != 0 {
			t.Fatalf("a refused payload was listed: %v", list.Messages)
		}
		return false
	}
	want := 2 // with neither an id nor a time, a repeat cannot be told from a second message
	if m.MessageID != "" || !m.Time.IsZero() {
		want = 1
	}
	if len(list.Messages) != want {
		t.Fatalf("%d messages listed after two posts of %+v, want %d", len(list.Messages), m, want)
	}
	got := list.Messages[0]
	if got["id"] != m.MessageID || got["from"] != strings.TrimPrefix(m.From, "+") ||
		got["to"] != strings.TrimPrefix(m.To, "+") || got["body"] != m.Body {
		t.Fatalf("listed %q for %+v", got, m)
	}
	if _, err := time.Parse(time.RFC3339, got["received_at"]); err != nil {
		t.Fatalf("received_at %q is not RFC 3339", got["received_at"])
	}
	return true
}

// deliveryStatus reads the delivery status of verification id, "" when
// none is known, and checks that its time is RFC 3339.
func deliveryStatus(t *testing.T, fx *fixture, id string) string {
	t.Helper()
	rec := fx.do("GET", "/v1/verifications/"+id, "")
	var v struct {
		Delivery *struct {
			Status    string `json:"status"`
			UpdatedAt string `json:"updated_at"`
		} `json:"delivery"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
		t.Fatalf("GET verification = %d %s", rec.Code, rec.Body)
	}
	if v.Delivery == nil {
		return ""
	}
	if _, err := time.Parse(time.RFC3339, v.Delivery.UpdatedAt); err != nil {
		t.Fatalf("delivery.updated_at %q is not RFC 3339", v.Delivery.UpdatedAt)
	}
	return v.Delivery.Status
}
