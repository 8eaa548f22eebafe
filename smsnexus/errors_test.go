package smsnexus_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/smsnexus"
)

func TestRetryAfter(t *testing.T) {
	clock := otptest.NewClock(time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC))
	now := clock.Now()
	unix := func(d time.Duration) string { return fmt.Sprint(now.Add(d).Unix()) }
	tests := []struct {
		name    string
		status  int
		headers []string
		want    time.Duration
	}{
		{"Retry-After seconds", 429, []string{"Retry-After", "30"}, 30 * time.Second},
		{"Retry-After date", 429, []string{"Retry-After", now.Add(45 * time.Second).Format(http.TimeFormat)}, 45 * time.Second},
		{"X-RateLimit-Reset against the clock", 429, []string{"X-RateLimit-Reset", unix(20 * time.Second)}, 20 * time.Second},
		{"X-RateLimit-Reset passed", 429, []string{"X-RateLimit-Reset", unix(-time.Minute)}, 0},
		{"X-RateLimit-Reset as seconds to wait", 429, []string{"X-RateLimit-Reset", "15"}, 15 * time.Second},
		{"Retry-After wins", 429, []string{"Retry-After", "5", "X-RateLimit-Reset", unix(50 * time.Second)}, 5 * time.Second},
		{"neither", 429, nil, 0},
		{"garbage", 429, []string{"Retry-After", "soon"}, 0},
		{"negative", 429, []string{"Retry-After", "-5"}, 0},
		{"absurd is capped", 429, []string{"X-RateLimit-Reset", "9223372036854775807"}, time.Hour},
		{"not a 429", 503, []string{"Retry-After", "30"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := rawClient(t, answer(tt.status, `{"success":false,"message":"Too Many Attempts."}`, tt.headers...),
				smsnexus.WithClock(clock.Now))
			_, err := send(c, "6421234567")
			apiErr, ok := errors.AsType[*smsnexus.Error](err)
			if !ok {
				t.Fatalf("Send = %v, want an *Error", err)
			}
			if apiErr.RetryAfter != tt.want {
				t.Errorf("RetryAfter = %v, want %v", apiErr.RetryAfter, tt.want)
			}
		})
	}
}

func TestIsInvalidRecipient(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   bool
	}{
		{"422 naming to", 422, `{"success":false,"message":"Validation failed","errors":{"to":["The to field must be a valid number."]}}`, true},
		{"422 naming to in a string", 422, `{"success":false,"message":"Validation failed","errors":{"to":"invalid"}}`, true},
		{"422 naming to and from", 422, `{"success":false,"errors":{"from":["x"],"to":["y"]}}`, true},
		{"422 without errors", 422, `{"success":false,"message":"Validation failed"}`, true},
		{"422 with empty errors", 422, `{"success":false,"message":"Validation failed","errors":{}}`, true},
		{"422 not JSON", 422, `Unprocessable`, true},
		{"422 naming from", 422, `{"success":false,"message":"Validation failed","errors":{"from":["The from number is not yours."]}}`, false},
		{"422 naming message", 422, `{"success":false,"message":"Validation failed","errors":{"message":["Too long."]}}`, false},
		{"400 naming to", 400, `{"success":false,"errors":{"to":["bad"]}}`, false},
		{"403", 403, `{"success":false,"message":"Forbidden"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := send(rawClient(t, answer(tt.status, tt.body)), "6421234567")
			if got := smsnexus.IsInvalidRecipient(err); got != tt.want {
				t.Errorf("IsInvalidRecipient(%v) = %v, want %v", err, got, tt.want)
			}
			if smsnexus.MaybeDelivered(err) {
				t.Errorf("MaybeDelivered(%v) = true for a %d", err, tt.status)
			}
		})
	}
	t.Run("422 of another endpoint", func(t *testing.T) {
		t.Parallel()
		c := rawClient(t, answer(422, `{"success":false,"message":"Validation failed"}`))
		_, err := c.CreateWebhook(context.Background(), "https://yourapp.com/hook", []string{smsnexus.EventMessageFailed})
		if err == nil || smsnexus.IsInvalidRecipient(err) {
			t.Errorf("CreateWebhook = %v; want an error that is no invalid recipient", err)
		}
	})
}

func TestErrorText(t *testing.T) {
	many := map[string]string{"to": "The number 6421234567 is invalid."}
	for i := range 12 {
		many[fmt.Sprintf("field%02d", i)] = "bad"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `{"success":false,"message":"%s","errors":{`, strings.Repeat("x", 300))
	first := true
	for k, v := range many {
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, "%q:[%q]", k, v)
	}
	b.WriteString("}}")
	_, err := send(rawClient(t, answer(422, b.String())), "6421234567")
	apiErr, ok := errors.AsType[*smsnexus.Error](err)
	if !ok {
		t.Fatalf("Send = %v, want an *Error", err)
	}
	if got := apiErr.Fields["to"]; len(got) != 1 || got[0] != "The number *** is invalid." {
		t.Errorf(`Fields["to"] = %q, want the message with its digits masked`, got)
	}
	if len(apiErr.Fields) != 10 {
		t.Errorf("%d fields kept, want 10", len(apiErr.Fields))
	}
	if n := len([]rune(apiErr.Message)); n != 201 || !strings.HasSuffix(apiErr.Message, "…") {
		t.Errorf("message of %d runes, want 200 and an ellipsis", n)
	}
	if strings.Contains(err.Error(), "6421234567") || !strings.Contains(err.Error(), "HTTP 422") ||
		!strings.Contains(err.Error(), "to: The number *** is invalid.") {
		t.Errorf("error text %q", err)
	}
}

// TestErrorsHoldNoSecrets: whatever SMS Nexus echoes, neither the token
// nor the message text nor the code in it reaches an error's text.
func TestErrorsHoldNoSecrets(t *testing.T) {
	echo := fmt.Sprintf("token %s sent %q", secretToken, secretText)
	body := fmt.Sprintf(`{"success":false,"message":%q,"errors":{"to":[%q],%q:["x"]}}`, echo, echo, secretToken)
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"401", answer(401, body)},
		{"422", answer(422, body)},
		{"429", answer(429, body)},
		{"500 documented", answer(500, body)},
		{"502 page", answer(502, "<html>"+echo+"</html>")},
		{"200 unusable", answer(200, `{"success":true,"data":{"text":`+fmt.Sprintf("%q", echo)+`}}`)},
		{"dropped", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := send(rawClient(t, tt.h), "6421234567")
			if err == nil {
				t.Fatal("Send succeeded")
			}
			for _, secret := range []string{secretToken, secretText, "482913", "6421234567"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q holds %q", err, secret)
				}
			}
		})
	}
}

func TestNewClientOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []smsnexus.Option
		ok   bool
	}{
		{"token only", []smsnexus.Option{smsnexus.WithToken("t0k")}, true},
		{"no token", nil, false},
		{"empty token", []smsnexus.Option{smsnexus.WithToken("")}, false},
		{"token with a newline", []smsnexus.Option{smsnexus.WithToken("abc\nX-Evil: 1")}, false},
		{"from with +", []smsnexus.Option{smsnexus.WithToken("t"), smsnexus.WithFrom("+6421234567")}, true},
		{"from digits", []smsnexus.Option{smsnexus.WithToken("t"), smsnexus.WithFrom("6421234567")}, true},
		{"from local", []smsnexus.Option{smsnexus.WithToken("t"), smsnexus.WithFrom("021234567")}, false},
		{"from alphanumeric", []smsnexus.Option{smsnexus.WithToken("t"), smsnexus.WithFrom("Acme")}, false},
		{"from spaced", []smsnexus.Option{smsnexus.WithToken("t"), smsnexus.WithFrom("+64 21 234 567")}, false},
		{"base URL", []smsnexus.Option{smsnexus.WithToken("t"), smsnexus.WithBaseURL("http://127.0.0.1:9/api")}, true},
		{"base URL relative", []smsnexus.Option{smsnexus.WithToken("t"), smsnexus.WithBaseURL("/api")}, false},
		{"base URL with credentials", []smsnexus.Option{smsnexus.WithToken("t"), smsnexus.WithBaseURL("https://u:p@x/api")}, false},
		{"base URL with a query", []smsnexus.Option{smsnexus.WithToken("t"), smsnexus.WithBaseURL("https://x/api?k=v")}, false},
		{"nil HTTP client", []smsnexus.Option{smsnexus.WithToken("t"), smsnexus.WithHTTPClient(nil)}, false},
		{"zero timeout", []smsnexus.Option{smsnexus.WithToken("t"), smsnexus.WithTimeout(0)}, false},
		{"nil clock", []smsnexus.Option{smsnexus.WithToken("t"), smsnexus.WithClock(nil)}, false},
		{"nil sleeper", []smsnexus.Option{smsnexus.WithToken("t"), smsnexus.WithSleeper(nil)}, false},
		{"backoff max below base", []smsnexus.Option{smsnexus.WithToken("t"), smsnexus.WithBackoff(time.Second, time.Millisecond)}, false},
	}
	for _, tt := range tests {
		c, err := smsnexus.NewClient(tt.opts...)
		if (err == nil) != tt.ok || (c != nil) != tt.ok {
			t.Errorf("%s: NewClient = %v, %v; want ok: %v", tt.name, c, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "X-Evil") {
			t.Errorf("%s: error %q quotes the token", tt.name, err)
		}
	}
}

// TestRedirectsAreNotFollowed: a redirect would carry the token and the
// text to another host.
func TestRedirectsAreNotFollowed(t *testing.T) {
	followed := false
	mux := http.NewServeMux()
	mux.HandleFunc("/elsewhere", func(http.ResponseWriter, *http.Request) { followed = true })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	})
	_, err := send(rawClient(t, mux), "6421234567")
	apiErr, ok := errors.AsType[*smsnexus.Error](err)
	if !ok || apiErr.StatusCode != http.StatusTemporaryRedirect || followed {
		t.Errorf("Send = %v (followed: %v), want the 307 as an error", err, followed)
	}
}
