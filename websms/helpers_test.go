package websms_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/websms"
)

// Values that must never reach an error string.
const (
	secretToken    = "tok_secret-value"
	secretPassword = "pw_secret-value"
	secretNumber   = "6421234567"
	secretText     = "483920 is your Acme code"
)

func textTo(to string) *websms.TextRequest {
	return &websms.TextRequest{Recipients: []string{to}, Text: secretText, ClientMessageID: "VE123"}
}

func send(c *websms.Client) error {
	_, err := c.SendText(context.Background(), textTo(secretNumber))
	return err
}

// rawClient returns a client of h, authenticated with secretToken unless
// opts say otherwise.
func rawClient(t *testing.T, h http.Handler, opts ...websms.Option) *websms.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	opts = append([]websms.Option{
		websms.WithBaseURL(srv.URL + "/rest"),
		websms.WithAccessToken(secretToken),
		websms.WithTimeout(time.Second),
	}, opts...)
	c, err := websms.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// answer replies status with body as JSON.
func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// assertNoLeak fails when err is nil or its text shows a secret.
func assertNoLeak(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("got no error")
	}
	for _, secret := range []string{secretToken, secretPassword, secretNumber, "483920", secretText} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
}
