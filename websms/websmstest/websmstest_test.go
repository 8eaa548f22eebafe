package websmstest_test

import (
	"context"
	"testing"

	"github.com/otpgate/otpgate/websms"
	"github.com/otpgate/otpgate/websms/websmstest"
)

func TestNewClientIsWiredAndClosedAtCleanup(t *testing.T) {
	var fake *websmstest.Server
	var c *websms.Client
	req := &websms.TextRequest{Recipients: []string{"6421234567"}, Text: "hi"}
	t.Run("inner", func(t *testing.T) {
		c, fake = websmstest.NewClient(t, websmstest.WithClientOptions(websms.WithSender("Acme")))
		if _, err := c.SendText(context.Background(), req); err != nil {
			t.Fatalf("SendText: %v", err)
		}
		if m := fake.Messages(); len(m) != 1 || m[0].From != "Acme" {
			t.Fatalf("fake sent %+v, want one message from Acme", m)
		}
	})
	// Whether the send fails is not asserted: the closed fake's port is
	// free, and a fake of a test running in parallel may have been given it.
	_, _ = c.SendText(context.Background(), req)
	if n := fake.RequestCount(); n != 1 {
		t.Errorf("the fake received %d requests, want 1: it still listens after its test ended", n)
	}
}
