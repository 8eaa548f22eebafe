package connexustest_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/connexustest"
)

func TestNewClientWiresAndCloses(t *testing.T) {
	var s *connexustest.Server
	t.Run("test", func(t *testing.T) {
		var c *connexus.Client
		c, s = connexustest.NewClient(t)
		if _, err := c.Balance(context.Background()); err != nil {
			t.Fatalf("balance: %v", err)
		}
		if got := s.TokensIssued(); got != 1 {
			t.Fatalf("tokens issued = %d, want 1: the client is not in API-key mode", got)
		}
	})
	resp, err := http.Get(s.URL + "/sms/balance")
	if err == nil {
		resp.Body.Close()
		t.Fatal("the fake still answers after its test ended")
	}
}

func TestNewClientAppliesClientOptions(t *testing.T) {
	c, s := connexustest.NewClient(t, connexustest.WithClientOptions(
		connexus.WithPassword(connexustest.DefaultUserID, connexustest.DefaultPassword)))
	if _, err := c.Balance(context.Background()); err != nil {
		t.Fatalf("balance: %v", err)
	}
	if got := s.TokensIssued(); got != 0 {
		t.Fatalf("tokens issued = %d, want 0: connexus.WithPassword was not applied", got)
	}
}
