package smsnexustest_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/otpgate/otpgate/smsnexus"
	"github.com/otpgate/otpgate/smsnexus/smsnexustest"
)

func TestNewClientWiresAndCloses(t *testing.T) {
	var s *smsnexustest.Server
	t.Run("test", func(t *testing.T) {
		var c *smsnexus.Client
		c, s = smsnexustest.NewClient(t, smsnexustest.WithNumbers("+6421000000"))
		if _, err := c.Send(context.Background(), &smsnexus.SendRequest{To: "6421234567", Message: "hi"}); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if got := s.Messages()[0].From; got != "+6421000000" {
			t.Errorf("sent from %q, want the fake's number", got)
		}
	})
	resp, err := http.Get(s.URL + "/balance")
	if err == nil {
		resp.Body.Close()
		t.Fatal("the fake still answers after its test ended")
	}
}

func TestNewClientAppliesClientOptions(t *testing.T) {
	c, _ := smsnexustest.NewClient(t, smsnexustest.WithClientOptions(smsnexus.WithToken("not-the-fake's")))
	if _, err := c.Balance(context.Background()); !smsnexus.IsUnauthorized(err) {
		t.Fatalf("Balance = %v, want a 401: WithClientOptions was not applied", err)
	}
}
