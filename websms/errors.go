package websms

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/upstream"
)

// Sentinels that errors of the client match with errors.Is.
var (
	// ErrInvalidRequest: the client refused a request before sending it, so
	// nothing was sent.
	ErrInvalidRequest = errors.New("websms: invalid request")
	// ErrInvalidRecipient: websms answered 4002 INVALID_RECIPIENT.
	ErrInvalidRecipient = errors.New("websms: invalid recipient")
	// ErrThrottled: HTTP 429, or statusCode 4013, 4023 or 4025.
	ErrThrottled = errors.New("websms: throttled")
)

// maxMessageLen bounds the upstream text kept in an Error, so that a huge
// error page does not end up in a log line.
const maxMessageLen = 200

// Error is an answer of websms that is not a success. It never carries
// credentials, the message text or the recipients.
type Error struct {
	HTTPStatus int
	// StatusCode is the websms statusCode of the answer, 0 when the answer
	// was not a websms status object.
	StatusCode int
	// Status is the documented name of StatusCode, e.g. "INVALID_RECIPIENT",
	// or "" when the documentation does not list it.
	Status string
	// Message is the upstream statusMessage (or the HTTP status text when
	// there was none), bounded and with runs of 4 or more digits masked.
	Message string
	// RetryAfter is the wait a throttling answer asked for in Retry-After,
	// zero when it did not say.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "websms: send: HTTP %d", e.HTTPStatus)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ", statusCode %d", e.StatusCode)
	}
	if e.Status != "" {
		b.WriteString(" " + e.Status)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Is reports whether e is the kind of failure target names.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalidRecipient:
		return e.StatusCode == CodeInvalidRecipient
	case ErrThrottled:
		return e.throttled()
	}
	return false
}

func (e *Error) throttled() bool {
	return e.HTTPStatus == http.StatusTooManyRequests || throttling(e.StatusCode)
}

// IsInvalidRecipient reports whether websms refused a recipient (4002).
func IsInvalidRecipient(err error) bool { return errors.Is(err, ErrInvalidRecipient) }

// Throttled reports whether err is a throttling refusal (HTTP 429 or
// statusCode 4013, 4023, 4025), and the wait it asked for: zero when it
// named none. A throttled send certainly sent nothing.
func Throttled(err error) (after time.Duration, ok bool) {
	e, ok := errors.AsType[*Error](err)
	if !ok || !e.throttled() {
		return 0, false
	}
	return e.RetryAfter, true
}

// MaybeDelivered reports whether err, returned by SendText, leaves open that
// websms took the message all the same: the request was written and no
// usable answer came back (a timeout, a reset or EOF, a 2xx without a
// statusCode), or websms answered statusCode 5000 ("it may have sent"), or
// an HTTP 5xx came back without a websms status body. It is false for every
// 4xxx statusCode and 5003, for HTTP 401, 403, 429 and other 4xx, for a
// connection that was never made, for a context that ended before the
// request was written, for a request the client refused, and for nil.
// The client never retries a send, so such an error is final.
func MaybeDelivered(err error) bool {
	_, ok := errors.AsType[*maybeDeliveredError](err)
	return ok
}

// maybeDeliveredError marks a failure after which the message may be out;
// it is what MaybeDelivered looks for.
type maybeDeliveredError struct{ err error }

func (e *maybeDeliveredError) Error() string { return e.err.Error() }

func (e *maybeDeliveredError) Unwrap() error { return e.err }

// transportError is a failure to get a whole answer: no connection, no
// response, or a response whose body broke off.
type transportError struct{ err error }

// Error masks runs of 7 or more digits: net/http may quote what it was
// sent or given in its errors. Shorter runs stay, so ports and addresses
// remain readable.
func (e *transportError) Error() string {
	return "websms: send: " + upstream.MaskDigits(e.err.Error(), 7)
}

func (e *transportError) Unwrap() error { return e.err }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s; nothing was sent", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// upstreamText prepares text websms wrote for an error: bounded, and with
// every run of 4 or more digits masked, since an upstream may echo the
// number or the text it was sent, and errors end up in logs.
func upstreamText(s string) string { return upstream.Text(s, maxMessageLen) }
