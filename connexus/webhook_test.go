package connexus_test

import (
	"errors"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
)

func TestParseDeliveryReport(t *testing.T) {
	unix := time.Unix(1234567890, 0).UTC()
	tests := []struct {
		name    string
		payload string
		want    connexus.DeliveryReport
	}{
		{"detailed", `{"messageId":"MSG123","status":"DELIVRD","statusCode":1,"timestamp":1234567890,"details":{"smsc":"carrier_name","smscid":"abc123"}}`,
			connexus.DeliveryReport{MessageID: "MSG123", Status: "delivered", RawStatus: "DELIVRD", StatusCode: 1, Time: unix, SMSC: "carrier_name", SMSCID: "abc123"}},
		{"reference", `{"type":"dlr","message_id":"msg_abc123","status":"delivered","timestamp":"2024-01-15T10:30:05Z"}`,
			connexus.DeliveryReport{MessageID: "msg_abc123", Status: "delivered", RawStatus: "delivered", Time: time.Date(2024, 1, 15, 10, 30, 5, 0, time.UTC)}},
		{"undeliv", `{"messageId":7,"status":"UNDELIV","statusCode":16,"timestamp":"1234567890"}`,
			connexus.DeliveryReport{MessageID: "7", Status: "undelivered", RawStatus: "UNDELIV", StatusCode: 16, Time: unix}},
		{"acceptd", `{"messageId":"a","status":"ACCEPTD","timestamp":1234567890000}`,
			connexus.DeliveryReport{MessageID: "a", Status: "accepted", RawStatus: "ACCEPTD", Time: unix}},
		{"queued", `{"messageId":"q","status":"QUEUED"}`, connexus.DeliveryReport{MessageID: "q", Status: "queued", RawStatus: "QUEUED"}},
		{"last millisecond of RFC 3339", `{"messageId":"l","status":"DELIVRD","timestamp":253402300799999}`,
			connexus.DeliveryReport{MessageID: "l", Status: "delivered", RawStatus: "DELIVRD", Time: time.UnixMilli(253402300799999).UTC()}},
		{"code only", `{"messageId":"c","status":"?","statusCode":8}`, connexus.DeliveryReport{MessageID: "c", Status: "accepted", RawStatus: "?", StatusCode: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := connexus.ParseDeliveryReport([]byte(tt.payload))
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	for name, payload := range map[string]string{
		"not json":       `{`,
		"inbound":        `{"type":"mo","from":"1","message":"x"}`,
		"no id":          `{"status":"DELIVRD"}`,
		"unknown status": `{"messageId":"x","status":"WHATEVER"}`,
		"bad timestamp":  `{"messageId":"x","status":"DELIVRD","timestamp":"yesterday"}`,
		// Times otpgate could not write in RFC 3339 (found writing FuzzParseDeliveryReport).
		"year -1199":   `{"messageId":"x","status":"DELIVRD","timestamp":-99999999999}`,
		"year 3170843": `{"messageId":"x","status":"DELIVRD","timestamp":99999999999999999}`,
		"year 10000":   `{"messageId":"x","status":"DELIVRD","timestamp":"253402300800000"}`,
		"bad id":       `{"messageId":{},"status":"DELIVRD"}`,
	} {
		if _, err := connexus.ParseDeliveryReport([]byte(payload)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	if _, err := connexus.ParseDeliveryReport([]byte(`{"messageId":"x","status":"NOPE"}`)); !errors.Is(err, connexus.ErrUnknownStatus) {
		t.Errorf("unknown status: %v", err)
	}
}

func TestParseInbound(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    connexus.InboundMessage
	}{
		{"detailed", `{"messageId":"MO456","from":"+6421234567","to":"shortcode","body":"Reply text","timestamp":1234567890,"type":"SMS","encoding":"text/plain","network":"carrier_name"}`,
			connexus.InboundMessage{MessageID: "MO456", From: "+6421234567", To: "shortcode", Body: "Reply text", Time: time.Unix(1234567890, 0).UTC(), Encoding: "text/plain", Network: "carrier_name"}},
		{"reference", `{"type":"mo","from":"6421234567","to":2190,"message":"Hello","timestamp":"2024-01-15T10:30:00Z"}`,
			connexus.InboundMessage{From: "6421234567", To: "2190", Body: "Hello", Time: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := connexus.ParseInbound([]byte(tt.payload))
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	for name, payload := range map[string]string{
		"not json":  `[`,
		"dlr":       `{"type":"dlr","message_id":"x","status":"delivered"}`,
		"no sender": `{"body":"x"}`,
	} {
		if _, err := connexus.ParseInbound([]byte(payload)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestNormalizeStatus(t *testing.T) {
	for in, want := range map[string]string{"DELIVRD": "delivered", "UNDELIV": "undelivered", "ACCEPTD": "accepted",
		"QUEUED": "queued", "ENROUTE": "sent", "EXPIRED": "expired", "REJECTD": "failed", " delivered ": "delivered", "failed": "failed"} {
		if got, ok := connexus.NormalizeStatus(in); !ok || got != want {
			t.Errorf("NormalizeStatus(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := connexus.NormalizeStatus("UNKNOWN"); ok {
		t.Error("UNKNOWN normalised")
	}
}
