package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/connexus/connexustest"
)

// TestInboundRepeatsWithoutIDOrTimeAreKept posts the same reply twice with
// nothing that tells a retry from a second message: both are real replies
// as far as anyone can know, so both are listed.
func TestInboundRepeatsWithoutIDOrTimeAreKept(t *testing.T) {
	tests := []struct {
		name, payload string
		want          int
	}{
		{"detailed style, no id or timestamp", `{"from":"+6421234567","to":"552","body":"YES"}`, 2},
		{"reference style, no timestamp", `{"type":"mo","from":"6421234567","to":"552","message":"YES"}`, 2},
		{"same timestamp is a retry", `{"type":"mo","from":"6421234567","to":"552","message":"YES","timestamp":"2026-01-01T00:00:05Z"}`, 1},
		{"same id is a retry", `{"messageId":"MO7","from":"+6421234567","to":"552","body":"YES"}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t, false, connexustest.StyleDetailed)
			hook := g.hookURL("inbound", webhookToken)
			for i := range 2 {
				if got := g.post(t, hook, tt.payload); got != http.StatusOK {
					t.Fatalf("post %d: status %d, want 200", i, got)
				}
			}
			msgs := g.inboundList(t, "?limit=200")
			if len(msgs) != tt.want {
				t.Fatalf("%d messages listed, want %d: %v", len(msgs), tt.want, msgs)
			}
			for _, m := range msgs {
				if m["body"] != "YES" || m["from"] != "6421234567" {
					t.Errorf("message = %v", m)
				}
			}
			metrics := g.do("GET", "/metrics", "").Body.String()
			if want := fmt.Sprintf(`otpgate_inbound_messages_total{outcome="stored"} %d`, tt.want); !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %s", want)
			}
		})
	}
}
