package websms_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/websms"
)

func TestNewClientRefusesBadOptions(t *testing.T) {
	t.Parallel()
	auth := websms.WithAccessToken("tok")
	tests := []struct {
		name string
		opts []websms.Option
	}{
		{"no credentials", nil},
		{"empty token", []websms.Option{websms.WithAccessToken("")}},
		{"token with a newline", []websms.Option{websms.WithAccessToken("tok\r\nX-Evil: 1")}},
		{"token with a space", []websms.Option{websms.WithAccessToken("tok en")}},
		{"basic without password", []websms.Option{websms.WithBasicAuth("user", "")}},
		{"basic without user", []websms.Option{websms.WithBasicAuth("", "pass")}},
		{"basic user with colon", []websms.Option{websms.WithBasicAuth("us:er", "pass")}},
		{"relative base URL", []websms.Option{auth, websms.WithBaseURL("/rest")}},
		{"ftp base URL", []websms.Option{auth, websms.WithBaseURL("ftp://api.websms.com/rest")}},
		{"base URL with userinfo", []websms.Option{auth, websms.WithBaseURL("https://u:" + secretPassword + "@api.websms.com/rest")}},
		{"base URL with query", []websms.Option{auth, websms.WithBaseURL("https://api.websms.com/rest?access_token=x")}},
		{"base URL with empty query", []websms.Option{auth, websms.WithBaseURL("https://api.websms.com/rest?")}},
		{"base URL with fragment", []websms.Option{auth, websms.WithBaseURL("https://api.websms.com/rest#x")}},
		{"base URL that does not parse", []websms.Option{auth, websms.WithBaseURL("https://u:" + secretPassword + "@[::1")}},
		{"nil HTTP client", []websms.Option{auth, websms.WithHTTPClient(nil)}},
		{"blank sender", []websms.Option{auth, websms.WithSender("  ")}},
		{"zero timeout", []websms.Option{auth, websms.WithTimeout(0)}},
		{"negative timeout", []websms.Option{auth, websms.WithTimeout(-time.Second)}},
		{"nil clock", []websms.Option{auth, websms.WithClock(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := websms.NewClient(tt.opts...)
			if err == nil {
				t.Fatalf("NewClient = %v, want an error", c)
			}
			if strings.Contains(err.Error(), secretPassword) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestNewClientAcceptsGoodOptions(t *testing.T) {
	t.Parallel()
	hc := &http.Client{}
	_, err := websms.NewClient(
		websms.WithBaseURL("http://localhost:8080/rest/"),
		websms.WithHTTPClient(hc),
		websms.WithBasicAuth("user", "pass"),
		websms.WithAccessToken("tok"),
		websms.WithSender("Acme"),
		websms.WithTimeout(time.Second),
		websms.WithClock(time.Now),
	)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	if hc.CheckRedirect != nil {
		t.Error("NewClient changed the caller's HTTP client")
	}
}
