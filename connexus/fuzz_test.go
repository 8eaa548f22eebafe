package connexus_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
)

// deliveryStatuses are the delivery states of CONTRACT.md §3.
var deliveryStatuses = map[string]bool{
	connexus.StatusQueued: true, connexus.StatusAccepted: true, connexus.StatusSent: true,
	connexus.StatusDelivered: true, connexus.StatusUndelivered: true, connexus.StatusFailed: true,
	connexus.StatusExpired: true,
}

// FuzzParseDeliveryReport checks that a report read from either document's
// payload has a message id and a contract status, and that writing it out
// again in either style reads back as the same report.
func FuzzParseDeliveryReport(f *testing.F) {
	for _, p := range []string{
		`{"messageId":"MSG123","status":"DELIVRD","statusCode":1,"timestamp":1234567890,"details":{"smsc":"carrier_name","smscid":"abc123"}}`,
		`{"type":"dlr","message_id":"msg_abc123","status":"delivered","timestamp":"2024-01-15T10:30:05Z"}`,
		`{"messageId":7,"status":"UNDELIV","statusCode":16,"timestamp":"1234567890"}`,
		`{"messageId":"a","status":"ACCEPTD","timestamp":1234567890000}`,
		`{"messageId":"q","status":"QUEUED"}`,
		`{"messageId":"c","status":"?","statusCode":8}`,
		`{`, `{"type":"mo","from":"1","message":"x"}`, `{"status":"DELIVRD"}`, `{"messageId":"x","status":"WHATEVER"}`,
		`{"messageId":"x","status":"DELIVRD","timestamp":"yesterday"}`, `{"messageId":{},"status":"DELIVRD"}`,
		`{"messageId":"nope","status":"BLOCKED","statusCode":99}`, `{"messageId":1158493,"status":"UNDELIV","statusCode":2}`,
		`{"type":"DLR","message_id":"m","status":" delivered ","timestamp":"2024-01-15T10:30:05.123+13:00"}`,
		`{"messageId":"x","status":"DELIVRD","timestamp":-99999999999}`, `{"messageId":"x","status":"DELIVRD","timestamp":99999999999999999}`,
		`{"messageId":"l","status":"DELIVRD","timestamp":253402300799999}`,
	} {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := connexus.ParseDeliveryReport(payload)
		if err != nil {
			if r != (connexus.DeliveryReport{}) {
				t.Fatalf("error %v came with a report %+v", err, r)
			}
			return
		}
		if r.MessageID == "" || !deliveryStatuses[r.Status] {
			t.Fatalf("report %+v has no message id or a status outside the contract", r)
		}
		mustRFC3339(t, r.Time)

		detailed := map[string]any{"messageId": r.MessageID, "status": r.RawStatus, "statusCode": r.StatusCode,
			"details": map[string]string{"smsc": r.SMSC, "smscid": r.SMSCID}}
		reference := map[string]any{"type": "dlr", "message_id": r.MessageID, "status": r.Status}
		if !r.Time.IsZero() {
			detailed["timestamp"] = r.Time.Format(time.RFC3339Nano)
			reference["timestamp"] = r.Time.Format(time.RFC3339Nano)
		}
		again := reparse(t, detailed, connexus.ParseDeliveryReport)
		if !sameReport(again, r) {
			t.Fatalf("report %+v written in the detailed style reads as %+v", r, again)
		}
		again = reparse(t, reference, connexus.ParseDeliveryReport)
		if again.MessageID != r.MessageID || again.Status != r.Status || !again.Time.Equal(r.Time) {
			t.Fatalf("report %+v written in the reference style reads as %+v", r, again)
		}
	})
}

// FuzzParseInbound checks that an inbound message read from either
// document's payload has a sender, and that writing it out again in either
// style reads back as the same message.
func FuzzParseInbound(f *testing.F) {
	for _, p := range []string{
		`{"messageId":"MO456","from":"+6421234567","to":"shortcode","body":"Reply text","timestamp":1234567890,"type":"SMS","encoding":"text/plain","network":"carrier_name"}`,
		`{"type":"mo","from":"6421234567","to":2190,"message":"Hello","timestamp":"2024-01-15T10:30:00Z"}`,
		`[`, `{"type":"dlr","message_id":"x","status":"delivered"}`, `{"body":"x"}`,
		`{"messageId":"MO1","from":"+6421234567","to":"552","body":"yes","timestamp":1767225600,"type":"SMS"}`,
		`{"type":"mo","from":"6421234567","to":"552","message":"yes","timestamp":"2026-01-01T00:00:05Z"}`,
		`{"messageId":"MO1","from":6421234567,"body":"kia ora \u00e9\ud83d\ude00","timestamp":1767225600000}`,
		`{"type":"mo","from":"6421234567","message":"x","timestamp":"-62135596801"}`,
	} {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := connexus.ParseInbound(payload)
		if err != nil {
			if m != (connexus.InboundMessage{}) {
				t.Fatalf("error %v came with a message %+v", err, m)
			}
			return
		}
		if m.From == "" {
			t.Fatalf("message %+v has no sender", m)
		}
		mustRFC3339(t, m.Time)

		detailed := map[string]any{"messageId": m.MessageID, "from": m.From, "to": m.To, "body": m.Body,
			"type": "SMS", "encoding": m.Encoding, "network": m.Network}
		reference := map[string]any{"type": "mo", "from": m.From, "to": m.To, "message": m.Body}
		if !m.Time.IsZero() {
			detailed["timestamp"] = m.Time.Format(time.RFC3339Nano)
			reference["timestamp"] = m.Time.Format(time.RFC3339Nano)
		}
		again := reparse(t, detailed, connexus.ParseInbound)
		if !sameInbound(again, m) {
			t.Fatalf("message %+v written in the detailed style reads as %+v", m, again)
		}
		again = reparse(t, reference, connexus.ParseInbound)
		m.MessageID, m.Encoding, m.Network = "", "", "" // the reference payload has none of them
		if !sameInbound(again, m) {
			t.Fatalf("message %+v written in the reference style reads as %+v", m, again)
		}
	})
}

// mustRFC3339 fails unless t is unknown or can be written in RFC 3339,
// the form otpgate's API gives times in.
func mustRFC3339(t *testing.T, at time.Time) {
	t.Helper()
	if at.IsZero() {
		return
	}
	back, err := time.Parse(time.RFC3339Nano, at.Format(time.RFC3339Nano))
	if err != nil || !back.Equal(at) {
		t.Fatalf("time %v cannot be written in RFC 3339: %v", at, err)
	}
}

func reparse[T any](t *testing.T, payload map[string]any, parse func([]byte) (T, error)) T {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	v, err := parse(b)
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}

func sameReport(a, b connexus.DeliveryReport) bool {
	at, bt := a.Time, b.Time
	a.Time, b.Time = time.Time{}, time.Time{}
	return a == b && at.Equal(bt)
}

func sameInbound(a, b connexus.InboundMessage) bool {
	at, bt := a.Time, b.Time
	a.Time, b.Time = time.Time{}, time.Time{}
	return a == b && at.Equal(bt)
}
