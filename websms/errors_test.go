package websms_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/otpgate/otpgate/websms"
)

func TestErrorTextIsMaskedAndBounded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{
			name: "echoed number and code",
			body: `{"statusCode":4002,"statusMessage":"recipient 6421234567 refused for 483920, port 443"}`,
			want: "websms: send: HTTP 200, statusCode 4002 INVALID_RECIPIENT: recipient *** refused for ***, port 443",
		},
		{
			name: "undocumented code",
			body: `{"statusCode":4999,"statusMessage":"  odd  "}`,
			want: "websms: send: HTTP 200, statusCode 4999: odd",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := send(rawClient(t, answer(200, tt.body)))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %q, want %q", err, tt.want)
			}
			assertNoLeak(t, err)
		})
	}
	t.Run("long message", func(t *testing.T) {
		t.Parallel()
		err := send(rawClient(t, answer(200, `{"statusCode":4009,"statusMessage":"`+strings.Repeat("é", 5000)+`"}`)))
		e, ok := errors.AsType[*websms.Error](err)
		if !ok {
			t.Fatalf("SendText = %v, want an *Error", err)
		}
		if n := utf8.RuneCountInString(e.Message); n != 201 || !strings.HasSuffix(e.Message, "…") {
			t.Errorf("message of %d runes %q…, want 200 and an ellipsis", n, e.Message[:20])
		}
	})
}

// TestTransportErrorsShowNoSecrets: a failure before any answer names
// neither the credentials nor the message.
func TestTransportErrorsShowNoSecrets(t *testing.T) {
	t.Parallel()
	for _, opt := range []websms.Option{websms.WithAccessToken(secretToken), websms.WithBasicAuth("user", secretPassword)} {
		c, err := websms.NewClient(websms.WithBaseURL("http://127.0.0.1:1/rest"), opt)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SendText(context.Background(), textTo(secretNumber))
		assertNoLeak(t, err)
		if websms.MaybeDelivered(err) {
			t.Errorf("a refused connection may have sent: %v", err)
		}
	}
}

func TestHelpersOnOtherErrors(t *testing.T) {
	t.Parallel()
	for _, err := range []error{nil, errors.New("other"), context.DeadlineExceeded} {
		if websms.MaybeDelivered(err) || websms.IsInvalidRecipient(err) {
			t.Errorf("%v: classified as a websms answer", err)
		}
		if _, ok := websms.Throttled(err); ok {
			t.Errorf("%v: Throttled", err)
		}
	}
}
